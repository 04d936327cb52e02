package firewall

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func TestInitReplacesIncompatibleTable(t *testing.T) {
	requireRoot(t)
	for _, old := range []string{
		"set bridges { type ipv4_addr; elements = { 10.0.0.1 } }",
		"map dnat4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags interval; }",
		"chain forward { type filter hook forward priority mangle; }",
	} {
		ns := newNetNS(t, "incompat")
		fw := newTestFirewall(t, ns)
		ns.run(t, "nft", "add", "table", "inet", fw.table.Name)
		ns.run(t, "nft", "add", strings.Fields(old)[0], "inet", fw.table.Name, strings.SplitN(old, " ", 2)[1])
		if err := fw.Init(context.Background()); err != nil {
			t.Fatalf("over %q: %v", old, err)
		}
		checkGolden(t, "init", listTable(t, ns, fw))
	}
}

func TestWithoutTable(t *testing.T) {
	requireRoot(t)
	ns := newNetNS(t, "notable")
	fw := newTestFirewall(t, ns)
	ctx := context.Background()
	m := []PortMapping{{Proto: "tcp", HostPort: 80, ContainerIP: addr("10.0.0.2"), ContainerPort: 80}}
	if err := fw.DelPorts(ctx, m); err != nil {
		t.Errorf("DelPorts: %v", err)
	}
	if err := fw.DelNetwork(ctx, "x"); err != nil {
		t.Errorf("DelNetwork: %v", err)
	}
	if err := fw.Remove(ctx); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if err := fw.AddPorts(ctx, m); err == nil {
		t.Error("AddPorts succeeded without a table")
	}
	err := fw.AddNetwork(ctx, Network{ID: "x", Bridge: "br0"})
	if err == nil || !strings.Contains(err.Error(), "call Init first") {
		t.Errorf("AddNetwork: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	requireRoot(t)
	ns := newNetNS(t, "ctx")
	fw := newTestFirewall(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fw.Init(ctx); err == nil {
		t.Fatal("Init ran with a canceled context")
	}
	if out := ns.run(t, "nft", "list", "tables"); out != "" {
		t.Errorf("canceled Init changed the ruleset: %s", out)
	}
}

// TestNetworkTakeover: a network that reuses the bridge and subnet of one
// the daemon forgot to delete takes its elements over.
func TestNetworkTakeover(t *testing.T) {
	requireRoot(t)
	ns := newNetNS(t, "takeover")
	fw := newTestFirewall(t, ns)
	ctx := context.Background()
	old := Network{ID: "old", Bridge: "br0", Masquerade: true, Subnets: []netip.Prefix{prefix("10.0.0.0/24"), prefix("fd00::/64")}}
	cur := old
	cur.ID = "new"
	for _, err := range []error{fw.Init(ctx), fw.AddNetwork(ctx, old), fw.AddNetwork(ctx, cur), fw.DelNetwork(ctx, old.ID)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := listTable(t, ns, fw)
	if strings.Contains(got, `"old"`) || strings.Count(got, `comment "new"`) != 7 {
		t.Errorf("elements not taken over:\n%s", got)
	}
	if err := fw.DelNetwork(ctx, cur.ID); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "init", listTable(t, ns, fw))
}

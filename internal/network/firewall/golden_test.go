package firewall

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	addr   = netip.MustParseAddr
	prefix = netip.MustParsePrefix
)

func goldenNetworks() []Network {
	return []Network{
		{ID: "0123456789ab", Bridge: "br-normal", ICC: true, Masquerade: true,
			Subnets: []netip.Prefix{prefix("172.20.0.0/16"), prefix("fd00:20::/64")}},
		{ID: "internal0001", Bridge: "br-internal", ICC: true, Internal: true, Masquerade: true,
			Subnets: []netip.Prefix{prefix("172.21.0.0/16")}},
		{ID: "noicc0000001", Bridge: "br-noicc", ICC: false, Masquerade: true,
			Subnets: []netip.Prefix{prefix("172.22.0.0/24"), prefix("172.22.1.0/24")}},
	}
}

func goldenPorts() []PortMapping {
	return []PortMapping{
		{Proto: "tcp", HostPort: 8080, HostPortEnd: 8080, ContainerIP: addr("172.20.0.2"), ContainerPort: 80, Bridge: "br-normal"},
		{Proto: "tcp", HostPort: 20000, HostPortEnd: 20999, ContainerIP: addr("172.20.0.3"), ContainerPort: 20000, Bridge: "br-normal"},
		{Proto: "tcp", HostIP: addr("127.0.0.1"), HostPort: 8081, HostPortEnd: 8081, ContainerIP: addr("172.20.0.2"), ContainerPort: 80, Bridge: "br-normal"},
		{Proto: "udp", HostIP: addr("0.0.0.0"), HostPort: 5353, ContainerIP: addr("172.20.0.4"), ContainerPort: 53, Bridge: "br-normal"},
		{Proto: "tcp", HostIP: addr("192.0.2.10"), HostPort: 9000, HostPortEnd: 9009, ContainerIP: addr("172.22.0.2"), ContainerPort: 80, Bridge: "br-noicc"},
		{Proto: "sctp", HostPort: 3868, HostPortEnd: 3868, ContainerIP: addr("172.22.0.3"), ContainerPort: 3868, Bridge: "br-noicc"},
		{Proto: "tcp", HostPort: 8080, HostPortEnd: 8080, ContainerIP: addr("fd00:20::2"), ContainerPort: 80, Bridge: "br-normal"},
		{Proto: "tcp", HostIP: addr("2001:db8::1"), HostPort: 8443, HostPortEnd: 8443, ContainerIP: addr("fd00:20::2"), ContainerPort: 443, Bridge: "br-normal"},
		{Proto: "udp", HostIP: addr("::"), HostPort: 30000, HostPortEnd: 30099, ContainerIP: addr("fd00:20::3"), ContainerPort: 30000, Bridge: "br-normal"},
	}
}

// TestGoldenRuleset walks a table through its life cycle and compares the
// kernel's view of it, as nft prints it, with testdata/*.golden.
func TestGoldenRuleset(t *testing.T) {
	requireRoot(t)
	ns := newNetNS(t, "golden")
	fw := newTestFirewall(t, ns)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(fw.Init(ctx))
	checkGolden(t, "init", listTable(t, ns, fw))
	must(fw.Init(ctx))
	checkGolden(t, "init", listTable(t, ns, fw))

	nets := goldenNetworks()
	for _, n := range nets {
		must(fw.AddNetwork(ctx, n))
	}
	checkGolden(t, "networks", listTable(t, ns, fw))
	for _, n := range nets {
		must(fw.AddNetwork(ctx, n))
	}
	checkGolden(t, "networks", listTable(t, ns, fw))

	// Changing a network replaces its elements; changing it back restores them.
	changed := nets[0]
	changed.ICC, changed.Masquerade, changed.Bridge = false, false, "br-renamed"
	changed.Subnets = []netip.Prefix{prefix("172.30.0.0/16")}
	must(fw.AddNetwork(ctx, changed))
	checkGolden(t, "network_changed", listTable(t, ns, fw))
	must(fw.AddNetwork(ctx, nets[0]))
	checkGolden(t, "networks", listTable(t, ns, fw))

	ports := goldenPorts()
	must(fw.AddPorts(ctx, ports))
	checkGolden(t, "ports", listTable(t, ns, fw))
	must(fw.AddPorts(ctx, ports))
	checkGolden(t, "ports", listTable(t, ns, fw))

	checkRoundTrip(t, ns, fw)

	// Init on a populated table keeps every element.
	must(fw.Init(ctx))
	checkGolden(t, "ports", listTable(t, ns, fw))

	missing := PortMapping{Proto: "udp", HostPort: 1, ContainerIP: addr("172.20.0.9"), ContainerPort: 1}
	must(fw.DelPorts(ctx, []PortMapping{ports[0], ports[3], ports[7], missing}))
	checkGolden(t, "delports", listTable(t, ns, fw))
	must(fw.DelPorts(ctx, []PortMapping{ports[0], missing}))
	checkGolden(t, "delports", listTable(t, ns, fw))

	must(fw.DelNetwork(ctx, nets[1].ID))
	checkGolden(t, "delnetwork", listTable(t, ns, fw))
	must(fw.DelNetwork(ctx, nets[1].ID))
	must(fw.DelNetwork(ctx, "neverexisted"))
	checkGolden(t, "delnetwork", listTable(t, ns, fw))

	must(fw.DelPorts(ctx, ports))
	for _, n := range nets {
		must(fw.DelNetwork(ctx, n.ID))
	}
	checkGolden(t, "init", listTable(t, ns, fw))

	must(fw.Remove(ctx))
	must(fw.Remove(ctx))
	if out := ns.run(t, "nft", "list", "tables"); out != "" {
		t.Errorf("tables left after Remove: %s", out)
	}
}

// checkRoundTrip loads the listing back with nft under another name: the
// ruleset survives `nft list ruleset > file; nft -f file`, and nft encodes
// it to something it prints the same way as what berth programmed.
func checkRoundTrip(t *testing.T, ns *testNS, fw *Firewall) {
	t.Helper()
	copyName := fw.table.Name + "_copy"
	listing := ns.run(t, "nft", "list", "table", "inet", fw.table.Name)
	script := strings.Replace(listing, "table inet "+fw.table.Name+" {", "table inet "+copyName+" {", 1)
	path := filepath.Join(t.TempDir(), "copy.nft")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.run(t, "nft", "-f", path)
	defer ns.run(t, "nft", "delete", "table", "inet", copyName)
	copied := ns.run(t, "nft", "list", "table", "inet", copyName)
	copied = strings.Replace(copied, "table inet "+copyName+" {", "table inet berth_test {", 1)
	if got, want := sortElements(copied), listTable(t, ns, fw); got != want {
		t.Errorf("nft's own encoding of the listing differs (-berth +nft):\n%s", lineDiff(want, got))
	}
}

package firewall

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// TestPacketsIsolation covers ICC off, internal networks and isolation
// between networks, with two bridges on one host.
func TestPacketsIsolation(t *testing.T) {
	requireRoot(t)
	h, k := newNetNS(t, "host"), newNetNS(t, "cli")
	a1, a2, b1, brA, brB := isolationTopology(t, h, k)
	fw := newTestFirewall(t, h)
	ctx := context.Background()
	netA := Network{ID: "neta", Bridge: brA, ICC: false, Masquerade: true, Subnets: []netip.Prefix{prefix("192.0.2.0/26")}}
	netB := Network{ID: "netb", Bridge: brB, ICC: true, Internal: true, Subnets: []netip.Prefix{prefix("192.0.2.64/26")}}
	for _, err := range []error{fw.Init(ctx), fw.AddNetwork(ctx, netA), fw.AddNetwork(ctx, netB), fw.AddPorts(ctx, []PortMapping{
		{Proto: "tcp", HostPort: 8080, ContainerIP: addr("192.0.2.3"), ContainerPort: 80, Bridge: brA},
		{Proto: "tcp", HostPort: 8090, ContainerIP: addr("192.0.2.66"), ContainerPort: 80, Bridge: brB},
	})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []*testNS{a1, a2, b1} {
		serveRemoteAddr(t, ns, ":80")
	}
	serveRemoteAddr(t, k, clientAddr+":9000")
	t.Run("icc off blocks container to container", func(t *testing.T) {
		expectUnreachable(t, a1, "192.0.2.3:80")
	})
	t.Run("icc off still allows published ports", func(t *testing.T) {
		expectPeer(t, a1, hostLinkAddr+":8080", "192.0.2.1")
		expectPeer(t, k, hostLinkAddr+":8080", clientAddr)
	})
	t.Run("icc on", func(t *testing.T) {
		on := netA
		on.ICC = true
		if err := fw.AddNetwork(ctx, on); err != nil {
			t.Fatal(err)
		}
		expectPeer(t, a1, "192.0.2.3:80", "192.0.2.2")
		if err := fw.AddNetwork(ctx, netA); err != nil {
			t.Fatal(err)
		}
		expectUnreachable(t, a1, "192.0.2.3:80")
	})
	t.Run("networks are isolated", func(t *testing.T) {
		expectUnreachable(t, a1, "192.0.2.66:80")
		expectUnreachable(t, b1, "192.0.2.2:80")
	})
	t.Run("internal network has no way out or in", func(t *testing.T) {
		expectUnreachable(t, b1, clientAddr+":9000")
		expectUnreachable(t, k, "192.0.2.66:80")
		expectUnreachable(t, k, hostLinkAddr+":8090")
	})
	t.Run("internal network reaches its gateway", func(t *testing.T) {
		serveRemoteAddr(t, h, "192.0.2.65:53")
		expectPeer(t, b1, "192.0.2.65:53", "192.0.2.66")
	})
	t.Run("masquerading network reaches out", func(t *testing.T) {
		expectPeer(t, a2, clientAddr+":9000", hostLinkAddr)
	})
	t.Run("deleted network is no longer isolated", func(t *testing.T) {
		if err := fw.DelNetwork(ctx, netB.ID); err != nil {
			t.Fatal(err)
		}
		expectPeer(t, b1, clientAddr+":9000", "192.0.2.66")
	})
}

// isolationTopology builds two bridges on h: brA with containers a1 and
// a2, brB with b1, and a client k linked to h.
func isolationTopology(t *testing.T, h, k *testNS) (a1, a2, b1 *testNS, brA, brB string) {
	t.Helper()
	brA, brB = "bra"+randHex(3), "brb"+randHex(3)
	addBridge(t, h, brA, "192.0.2.1/26")
	addBridge(t, h, brB, "192.0.2.65/26")
	a1 = addContainer(t, h, brA, "192.0.2.2/26", "192.0.2.1")
	a2 = addContainer(t, h, brA, "192.0.2.3/26", "192.0.2.1")
	b1 = addContainer(t, h, brB, "192.0.2.66/26", "192.0.2.65")
	run(t, "ip", "link", "add", "hk0", "netns", h.name, "type", "veth", "peer", "name", "eth0", "netns", k.name)
	h.run(t, "ip", "addr", "add", hostLinkAddr+"/24", "dev", "hk0")
	h.run(t, "ip", "link", "set", "hk0", "up")
	k.run(t, "ip", "addr", "add", clientAddr+"/24", "dev", "eth0")
	k.run(t, "ip", "link", "set", "eth0", "up")
	k.run(t, "ip", "route", "add", "192.0.2.0/24", "via", hostLinkAddr)
	if err := inNS(t, h, func() error {
		// ICC off is enforced on bridged traffic only through br_netfilter.
		return errors.Join(EnableForwarding(false), EnableBridgeNetfilter(false))
	}); err != nil {
		t.Skipf("br_netfilter unavailable: %v", err)
	}
	return a1, a2, b1, brA, brB
}

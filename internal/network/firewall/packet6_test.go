package firewall

import (
	"context"
	"net/netip"
	"testing"
)

func TestPacketsIPv6(t *testing.T) {
	requireRoot(t)
	h, k := newNetNS(t, "host6"), newNetNS(t, "cli6")
	br := "br6" + randHex(3)
	h.run(t, "ip", "link", "add", br, "type", "bridge")
	h.run(t, "ip", "addr", "add", "fd00:b::1/64", "dev", br, "nodad")
	h.run(t, "ip", "link", "set", br, "up")
	c := addContainer(t, h, br, "fd00:b::2/64", "fd00:b::1")
	run(t, "ip", "link", "add", "hk0", "netns", h.name, "type", "veth", "peer", "name", "eth0", "netns", k.name)
	h.run(t, "ip", "addr", "add", "2001:db8:1::1/64", "dev", "hk0", "nodad")
	h.run(t, "ip", "link", "set", "hk0", "up")
	k.run(t, "ip", "addr", "add", "2001:db8:1::2/64", "dev", "eth0", "nodad")
	k.run(t, "ip", "link", "set", "eth0", "up")
	if err := inNS(t, h, func() error { return EnableForwarding(true) }); err != nil {
		t.Fatal(err)
	}

	fw := newTestFirewall(t, h)
	ctx := context.Background()
	ctr := addr("fd00:b::2")
	for _, err := range []error{
		fw.Init(ctx),
		fw.AddNetwork(ctx, Network{ID: "v6", Bridge: br, ICC: true, Masquerade: true, Subnets: []netip.Prefix{prefix("fd00:b::/64")}}),
		fw.AddPorts(ctx, []PortMapping{
			{Proto: "tcp", HostPort: 8080, ContainerIP: ctr, ContainerPort: 80},
			{Proto: "tcp", HostIP: addr("2001:db8:1::1"), HostPort: 8081, ContainerIP: ctr, ContainerPort: 80},
			{Proto: "tcp", HostIP: addr("::"), HostPort: 30000, HostPortEnd: 30009, ContainerIP: ctr, ContainerPort: 30000},
			{Proto: "tcp", HostPort: 9100, HostPortEnd: 9199, ContainerIP: ctr, ContainerPort: 80},
		}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	serveRemoteAddr(t, c, ":80")
	serveRemoteAddr(t, c, ":30005")
	serveRemoteAddr(t, k, "[2001:db8:1::2]:9000")

	t.Run("published ports", func(t *testing.T) {
		expectPeer(t, k, "[2001:db8:1::1]:8080", "2001:db8:1::2")
		expectPeer(t, k, "[2001:db8:1::1]:8081", "2001:db8:1::2")
		expectPeer(t, k, "[2001:db8:1::1]:30005", "2001:db8:1::2")
		expectPeer(t, k, "[2001:db8:1::1]:9150", "2001:db8:1::2")
	})
	t.Run("hairpin", func(t *testing.T) {
		expectPeer(t, c, "[2001:db8:1::1]:8080", "fd00:b::1")
	})
	t.Run("masquerade", func(t *testing.T) {
		expectPeer(t, c, "[2001:db8:1::2]:9000", "2001:db8:1::1")
	})
	t.Run("unpublished container address", func(t *testing.T) {
		k.run(t, "ip", "route", "add", "fd00:b::/64", "via", "2001:db8:1::1")
		expectUnreachable(t, k, "[fd00:b::2]:80")
	})
}

//go:build linux

package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/network/netns"
)

// Addresses come from documentation ranges and only ever exist inside the
// throwaway namespaces the tests create.
var (
	gw4     = netip.MustParsePrefix("192.0.2.1/24")
	gw6     = netip.MustParsePrefix("2001:db8:b::1/64")
	ctrAddr = netip.MustParsePrefix("192.0.2.2/24")
	ctrV6   = netip.MustParsePrefix("2001:db8:b::2/64")
)

// testNS is a throwaway namespace with a handle into it.
type testNS struct {
	path string
	h    *netlink.Handle
}

// newTestNS creates a namespace with a unique path and removes it when the
// test ends, pass or fail; everything created inside goes with it.
func newTestNS(tb testing.TB) testNS {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces")
	}
	path := filepath.Join(tb.TempDir(), "ns")
	if err := netns.Create(path); err != nil {
		tb.Fatalf("netns.Create(%q) = %v, want nil", path, err)
	}
	h, err := netns.NewHandle(path)
	if err != nil {
		_ = netns.Delete(path)
		tb.Fatalf("netns.NewHandle(%q) = %v, want nil", path, err)
	}
	tb.Cleanup(func() {
		h.Close()
		if err := netns.Delete(path); err != nil {
			tb.Errorf("netns.Delete(%q) = %v, want nil", path, err)
		}
	})
	return testNS{path: path, h: h}
}

func newTestDriver(tb testing.TB, ns testNS) *Driver {
	tb.Helper()
	var w io.Writer = io.Discard
	if t, ok := tb.(*testing.T); ok {
		w = t.Output()
	}
	return New(ns.h, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// addForeign creates a veth pair name/name+"p", standing for a link berth
// did not create (the dummy module may be missing).
func addForeign(t *testing.T, ns testNS, name string) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = name
	if err := ns.h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name + "p", PeerTxQLen: -1}); err != nil {
		t.Fatalf("add veth %q: %v", name, err)
	}
}

func linkNames(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	links, err := netns.LinkList(h)
	if err != nil {
		t.Fatalf("LinkList() = %v, want nil", err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

func addrSet(t *testing.T, h *netlink.Handle, name string) []netip.Prefix {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("LinkByName(%q) = %v, want nil", name, err)
	}
	addrs, err := netns.AddrList(h, link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("AddrList(%q) = %v, want nil", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if p, ok := ipNetToPrefix(a.IPNet); ok && !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

func TestEnsureBridge(t *testing.T) {
	ns := newTestNS(t)
	d := newTestDriver(t, ns)
	ctx := context.Background()
	cfg := BridgeConfig{Name: "br-test", Gateways: []netip.Prefix{gw4, gw6}, MTU: 1450}
	for i := range 2 { // the second call must change nothing
		if err := d.EnsureBridge(ctx, cfg); err != nil {
			t.Fatalf("EnsureBridge(%q) #%d = %v, want nil", cfg.Name, i, err)
		}
	}
	link, err := ns.h.LinkByName(cfg.Name)
	if err != nil {
		t.Fatalf("LinkByName(%q) = %v, want nil", cfg.Name, err)
	}
	attrs := link.Attrs()
	if link.Type() != "bridge" || attrs.Flags&net.FlagUp == 0 || attrs.MTU != 1450 {
		t.Errorf("bridge = type %q flags %v mtu %d, want bridge up 1450", link.Type(), attrs.Flags, attrs.MTU)
	}
	if attrs.HardwareAddr[0]&0x03 != 0x02 {
		t.Errorf("bridge mac = %v, want locally administered unicast", attrs.HardwareAddr)
	}
	want := []netip.Prefix{gw4, gw6}
	if got := addrSet(t, ns.h, cfg.Name); !slices.Equal(got, want) {
		t.Errorf("bridge addresses = %v, want %v", got, want)
	}
	// Without ports the bridge has no carrier, so the kernel has made no
	// link-local address yet; EnsureBridge adds one, usable at once.
	lls, err := netns.AddrList(ns.h, link, netlink.FAMILY_V6)
	if err != nil {
		t.Fatal(err)
	}
	var ll []string
	for _, a := range lls {
		if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
			ll = append(ll, a.IPNet.String())
		}
	}
	if len(ll) != 1 {
		t.Errorf("bridge link-local addresses (not tentative) = %v, want one", ll)
	}

	// A new gateway is added next to the existing ones.
	extra := netip.MustParsePrefix("198.51.100.1/24")
	cfg.Gateways = append(cfg.Gateways, extra)
	if err := d.EnsureBridge(ctx, cfg); err != nil {
		t.Fatalf("EnsureBridge(%q) with extra gateway = %v, want nil", cfg.Name, err)
	}
	want = []netip.Prefix{gw4, extra, gw6}
	if got := addrSet(t, ns.h, cfg.Name); !slices.Equal(got, want) {
		t.Errorf("bridge addresses = %v, want %v", got, want)
	}

	// DelAddrs removes what it is given and ignores what is not there.
	for i := range 2 {
		if err := d.DelAddrs(ctx, cfg.Name, []netip.Prefix{extra, gw6}); err != nil {
			t.Fatalf("DelAddrs(%q) #%d = %v, want nil", cfg.Name, i, err)
		}
	}
	if got := addrSet(t, ns.h, cfg.Name); !slices.Equal(got, []netip.Prefix{gw4}) {
		t.Errorf("bridge addresses after DelAddrs = %v, want [%v]", got, gw4)
	}
	if err := d.DelAddrs(ctx, "no-such-br", []netip.Prefix{gw4}); err != nil {
		t.Errorf("DelAddrs on a missing bridge = %v, want nil", err)
	}

	if err := d.DeleteBridge(ctx, cfg.Name); err != nil {
		t.Fatalf("DeleteBridge(%q) = %v, want nil", cfg.Name, err)
	}
	if got := linkNames(t, ns.h); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("links after DeleteBridge = %v, want [lo]", got)
	}
	if err := d.DeleteBridge(ctx, cfg.Name); err != nil {
		t.Errorf("DeleteBridge(%q) again = %v, want nil", cfg.Name, err)
	}
}

func TestEnsureBridgeErrors(t *testing.T) {
	ns := newTestNS(t)
	d := newTestDriver(t, ns)
	addForeign(t, ns, "notabridge")
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		cfg  BridgeConfig
	}{
		{"wrong kind", ctx, BridgeConfig{Name: "notabridge", Gateways: []netip.Prefix{gw4}}},
		{"bad gateway rolls back", ctx, BridgeConfig{Name: "br-bad", Gateways: []netip.Prefix{gw4, {}}}},
		{"name too long", ctx, BridgeConfig{Name: "br-0123456789abc"}},
		{"canceled", canceled, BridgeConfig{Name: "br-canceled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := d.EnsureBridge(tt.ctx, tt.cfg); err == nil {
				t.Errorf("EnsureBridge(%q) = nil, want error", tt.cfg.Name)
			}
			if got, want := linkNames(t, ns.h), []string{"lo", "notabridge", "notabridgep"}; !slices.Equal(got, want) {
				t.Errorf("links after EnsureBridge(%q) = %v, want %v", tt.cfg.Name, got, want)
			}
		})
	}
	if got := addrSet(t, ns.h, "notabridge"); len(got) != 0 {
		t.Errorf("foreign link addresses = %v, want none", got)
	}
	if err := d.DeleteBridge(ctx, "notabridge"); err == nil {
		t.Errorf("DeleteBridge(%q) = nil, want error for a veth", "notabridge")
	}
}

// setupEndpoint makes a bridge in a host namespace and returns the driver,
// the host and a container namespace, and a config for the container.
func setupEndpoint(tb testing.TB) (*Driver, testNS, testNS, EndpointConfig) {
	tb.Helper()
	host, ctr := newTestNS(tb), newTestNS(tb)
	d := newTestDriver(tb, host)
	err := d.EnsureBridge(context.Background(), BridgeConfig{Name: "br-test", Gateways: []netip.Prefix{gw4, gw6}})
	if err != nil {
		tb.Fatalf("EnsureBridge() = %v, want nil", err)
	}
	cfg := EndpointConfig{
		Bridge:       "br-test",
		HostIfName:   "vtest0",
		HostIfAlias:  "box1 (a1b2c3d4e5f6) on br-test",
		NetNSPath:    ctr.path,
		IfName:       "eth0",
		Addresses:    []netip.Prefix{ctrAddr, ctrV6},
		Gateway4:     gw4.Addr(),
		Gateway6:     gw6.Addr(),
		DefaultRoute: true,
		MAC:          MACFromIP(ctrAddr.Addr()),
	}
	return d, host, ctr, cfg
}

func TestAddEndpoint(t *testing.T) {
	d, host, ctr, cfg := setupEndpoint(t)
	ctx := context.Background()
	start := time.Now()
	if err := d.AddEndpoint(ctx, cfg); err != nil {
		t.Fatalf("AddEndpoint() = %v, want nil", err)
	}
	t.Logf("AddEndpoint took %v", time.Since(start))

	hostEnd, err := host.h.LinkByName(cfg.HostIfName)
	if err != nil {
		t.Fatalf("host end: %v", err)
	}
	br, _ := host.h.LinkByName(cfg.Bridge)
	if a := hostEnd.Attrs(); a.Alias != cfg.HostIfAlias || a.MasterIndex != br.Attrs().Index || a.Flags&net.FlagUp == 0 {
		t.Errorf("host end = alias %q master %d flags %v, want %q, %d, up", a.Alias, a.MasterIndex, a.Flags, cfg.HostIfAlias, br.Attrs().Index)
	}
	inside, err := ctr.h.LinkByName(cfg.IfName)
	if err != nil {
		t.Fatalf("container end: %v", err)
	}
	if a := inside.Attrs(); a.HardwareAddr.String() != "02:42:c0:00:02:02" || a.Flags&net.FlagUp == 0 || a.MTU != defaultMTU {
		t.Errorf("container end = mac %v flags %v mtu %d, want 02:42:c0:00:02:02 up %d", a.HardwareAddr, a.Flags, a.MTU, defaultMTU)
	}
	if got, want := addrSet(t, ctr.h, cfg.IfName), []netip.Prefix{ctrAddr, ctrV6}; !slices.Equal(got, want) {
		t.Errorf("container addresses = %v, want %v", got, want)
	}
	checkDefaultRoutes(t, ctr.h, cfg.Gateway4, cfg.Gateway6)
	if got, want := linkNames(t, ctr.h), []string{"eth0", "lo"}; !slices.Equal(got, want) {
		t.Errorf("container links = %v, want %v", got, want)
	}

	ends, err := d.HostEnds(ctx, "vtest")
	if err != nil || !slices.Equal(ends, []string{cfg.HostIfName}) {
		t.Errorf("HostEnds(%q) = %v, %v, want [%s]", "vtest", ends, err, cfg.HostIfName)
	}
	if err := d.AddEndpoint(ctx, cfg); err == nil {
		t.Errorf("AddEndpoint() twice = nil, want error")
	}

	if err := d.DelEndpoint(ctx, cfg.HostIfName); err != nil {
		t.Fatalf("DelEndpoint(%q) = %v, want nil", cfg.HostIfName, err)
	}
	if got := linkNames(t, ctr.h); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("container links after DelEndpoint = %v, want [lo]", got)
	}
	if got := linkNames(t, host.h); !slices.Equal(got, []string{"br-test", "lo"}) {
		t.Errorf("host links after DelEndpoint = %v, want [br-test lo]", got)
	}
	if err := d.DelEndpoint(ctx, cfg.HostIfName); err != nil {
		t.Errorf("DelEndpoint(%q) again = %v, want nil", cfg.HostIfName, err)
	}
	if err := d.DelEndpoint(ctx, cfg.Bridge); err == nil {
		t.Errorf("DelEndpoint(%q) = nil, want error for a bridge", cfg.Bridge)
	}
}

func checkDefaultRoutes(t *testing.T, h *netlink.Handle, gws ...netip.Addr) {
	t.Helper()
	routes, err := netns.RouteList(h, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("RouteList() = %v, want nil", err)
	}
	for _, gw := range gws {
		found := false
		for _, r := range routes {
			isDefault := r.Dst == nil || r.Dst.IP.IsUnspecified()
			if a, ok := netip.AddrFromSlice(r.Gw); ok && a.Unmap() == gw && isDefault {
				found = true
			}
		}
		if !found {
			t.Errorf("default route via %v missing from %v", gw, routes)
		}
	}
}

func TestEndpointReachable(t *testing.T) {
	d, host, ctr, cfg := setupEndpoint(t)
	if err := d.AddEndpoint(context.Background(), cfg); err != nil {
		t.Fatalf("AddEndpoint() = %v, want nil", err)
	}
	tests := []struct {
		name     string
		from, to testNS
		addr     netip.Addr
	}{
		{"host to container v4", host, ctr, ctrAddr.Addr()},
		{"host to container v6", host, ctr, ctrV6.Addr()},
		{"container to gateway v4", ctr, host, gw4.Addr()},
		{"container to gateway v6", ctr, host, gw6.Addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkTCP(t, tt.from.path, tt.to.path, tt.addr)
		})
	}
}

// checkTCP listens on addr inside the namespace at to and connects from the
// namespace at from. A socket keeps the namespace it was created in, so
// only creation needs to happen inside netns.Do.
func checkTCP(t *testing.T, from, to string, addr netip.Addr) {
	t.Helper()
	var ln net.Listener
	err := netns.Do(to, func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen on %v: %v", addr, err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	var conn net.Conn
	err = netns.Do(from, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("connect to %v: %v", ln.Addr(), err)
	}
	conn.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("accept on %v: %v", ln.Addr(), err)
	}
}

// TestFirstConnectNotDelayed guards against the first frames after
// AddEndpoint being dropped while the kernel has not yet attached the
// bridge's queue, which shows as a one-second ARP retry.
func TestFirstConnectNotDelayed(t *testing.T) {
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			d, host, ctr, cfg := setupEndpoint(t)
			if err := d.AddEndpoint(context.Background(), cfg); err != nil {
				t.Fatalf("AddEndpoint() = %v, want nil", err)
			}
			start := time.Now()
			checkTCP(t, host.path, ctr.path, ctrAddr.Addr())
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("first connect to %v took %v, want well under the 1s ARP retry", ctrAddr.Addr(), took)
			}
		})
	}
}

func TestAddEndpointRollback(t *testing.T) {
	d, host, ctr, base := setupEndpoint(t)
	addForeign(t, host, "vtaken")
	tests := []struct {
		name   string
		modify func(*EndpointConfig)
	}{
		{"missing namespace", func(c *EndpointConfig) { c.NetNSPath = filepath.Join(t.TempDir(), "nope") }},
		{"unreachable gateway", func(c *EndpointConfig) { c.Gateway4 = netip.MustParseAddr("198.51.100.1") }},
		{"address family mismatch gateway", func(c *EndpointConfig) {
			c.Addresses = []netip.Prefix{ctrAddr}
			c.Gateway6 = netip.MustParseAddr("2001:db8:ffff::1")
		}},
		{"missing bridge", func(c *EndpointConfig) { c.Bridge = "br-none" }},
		{"host name taken", func(c *EndpointConfig) { c.HostIfName = "vtaken" }},
		{"host name too long", func(c *EndpointConfig) { c.HostIfName = "v0123456789abcde" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.modify(&cfg)
			if err := d.AddEndpoint(context.Background(), cfg); err == nil {
				t.Fatalf("AddEndpoint(%s) = nil, want error", tt.name)
			}
			if got, want := linkNames(t, host.h), []string{"br-test", "lo", "vtaken", "vtakenp"}; !slices.Equal(got, want) {
				t.Errorf("host links after failed AddEndpoint = %v, want %v", got, want)
			}
			if got := linkNames(t, ctr.h); !slices.Equal(got, []string{"lo"}) {
				t.Errorf("container links after failed AddEndpoint = %v, want [lo]", got)
			}
		})
	}
}

func TestHostPrefixes(t *testing.T) {
	ns := newTestNS(t)
	d := newTestDriver(t, ns)
	ctx := context.Background()
	if err := d.EnsureBridge(ctx, BridgeConfig{Name: "br-test", Gateways: []netip.Prefix{gw4, gw6}}); err != nil {
		t.Fatalf("EnsureBridge() = %v, want nil", err)
	}
	gw, err := ns.h.LinkByName("br-test")
	if err != nil {
		t.Fatal(err)
	}
	_, dst, _ := net.ParseCIDR("203.0.113.0/25")
	routes := []*netlink.Route{
		{LinkIndex: gw.Attrs().Index, Dst: dst, Gw: net.ParseIP("192.0.2.254")},
		{LinkIndex: gw.Attrs().Index, Gw: net.ParseIP("192.0.2.254")},
	}
	for _, r := range routes {
		if err := ns.h.RouteAdd(r); err != nil {
			t.Fatalf("RouteAdd(%v) = %v, want nil", r, err)
		}
	}
	got, err := d.HostPrefixes(ctx)
	if err != nil {
		t.Fatalf("HostPrefixes() = %v, want nil", err)
	}
	for _, want := range []string{"192.0.2.0/24", "2001:db8:b::/64", "203.0.113.0/25", "0.0.0.0/0", "127.0.0.0/8", "::1/128"} {
		if !slices.Contains(got, netip.MustParsePrefix(want)) {
			t.Errorf("HostPrefixes() = %v, want it to contain %s", got, want)
		}
	}
	seen := make(map[netip.Prefix]bool)
	for _, p := range got {
		if seen[p] {
			t.Errorf("HostPrefixes() = %v, want no duplicate %v", got, p)
		}
		seen[p] = true
	}
}

func TestMACFromIP(t *testing.T) {
	tests := []struct {
		ip   string
		want string
	}{
		{"172.17.0.2", "02:42:ac:11:00:02"},
		{"10.255.1.200", "02:42:0a:ff:01:c8"},
		{"::ffff:172.17.0.3", "02:42:ac:11:00:03"},
		{"2001:db8::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := MACFromIP(netip.MustParseAddr(tt.ip)).String(); got != tt.want {
				t.Errorf("MACFromIP(%q) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

func BenchmarkAddDelEndpoint(b *testing.B) {
	d, _, _, cfg := setupEndpoint(b)
	ctx := context.Background()
	var add, del time.Duration
	for b.Loop() {
		start := time.Now()
		if err := d.AddEndpoint(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := d.DelEndpoint(ctx, cfg.HostIfName); err != nil {
			b.Fatal(err)
		}
		add += mid.Sub(start)
		del += time.Since(mid)
	}
	b.ReportMetric(float64(add.Nanoseconds())/float64(b.N), "add-ns/op")
	b.ReportMetric(float64(del.Nanoseconds())/float64(b.N), "del-ns/op")
}

// Guard against a test accidentally reaching the real host namespace.
func TestDriverNeverUsesHostNamespace(t *testing.T) {
	ns := newTestNS(t)
	d := newTestDriver(t, ns)
	names, err := d.HostEnds(context.Background(), "")
	if err != nil {
		t.Fatalf("HostEnds(\"\") = %v, want nil", err)
	}
	if !slices.Equal(names, []string{"lo"}) {
		t.Errorf("HostEnds(\"\") = %v, want [lo] in a fresh namespace", names)
	}
}

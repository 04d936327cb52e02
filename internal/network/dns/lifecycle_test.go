package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// unreachable reports whether nothing answers DNS at server.
func unreachable(t *testing.T, server netip.AddrPort) bool {
	t.Helper()
	c := &mdns.Client{Net: "udp", Timeout: 300 * time.Millisecond}
	_, _, err := c.Exchange(new(mdns.Msg).SetQuestion("x.", mdns.TypeA), server.String())
	return err != nil
}

func TestAddNetworkReconciles(t *testing.T) {
	t.Parallel()
	gw1, gw2 := ip("127.0.50.1"), ip("127.0.50.2")
	s, port := newTestServer(t, Options{}, gw1, gw2)
	// Endpoints may arrive before the network's listeners.
	s.SetEndpoint("n", Endpoint{ContainerID: "app", Name: "app", IPv4: ip("127.0.50.10")})
	srv1, srv2 := netip.AddrPortFrom(gw1, uint16(port)), netip.AddrPortFrom(gw2, uint16(port))

	steps := []struct {
		name     string
		listen   []netip.Addr
		internal bool
		up, down []netip.AddrPort
		rcode    int // for a non-local name
	}{
		{"first add", []netip.Addr{gw1}, false, []netip.AddrPort{srv1}, []netip.AddrPort{srv2}, mdns.RcodeServerFailure},
		{"same again", []netip.Addr{gw1, gw1}, false, []netip.AddrPort{srv1}, []netip.AddrPort{srv2}, mdns.RcodeServerFailure},
		{"second address, now internal", []netip.Addr{gw1, gw2}, true, []netip.AddrPort{srv1, srv2}, nil, mdns.RcodeNameError},
		{"first address dropped", []netip.Addr{gw2}, true, []netip.AddrPort{srv2}, []netip.AddrPort{srv1}, mdns.RcodeNameError},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := s.AddNetwork(context.Background(), "n", st.listen, st.internal); err != nil {
				t.Fatal(err)
			}
			for _, srv := range st.up {
				if got := addrsOf(ask(t, ip("127.0.0.1"), srv, "app.", mdns.TypeA)); !slices.Equal(got, []string{"127.0.50.10"}) {
					t.Errorf("%s: app resolves to %v", srv, got)
				}
				if r := ask(t, ip("127.0.0.1"), srv, "example.com.", mdns.TypeA); r.Rcode != st.rcode {
					t.Errorf("%s: non-local rcode %s", srv, mdns.RcodeToString[r.Rcode])
				}
			}
			for _, srv := range st.down {
				if !unreachable(t, srv) {
					t.Errorf("%s still answers", srv)
				}
			}
		})
	}

	if err := s.DelNetwork("n"); err != nil {
		t.Fatal(err)
	}
	if !unreachable(t, srv2) {
		t.Error("deleted network still answers")
	}
	if err := s.DelNetwork("n"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	// Re-adding starts from scratch: the old endpoint is gone.
	addNetwork(t, s, "n", true, gw1)
	if r := ask(t, ip("127.0.0.1"), srv1, "app.", mdns.TypeA); r.Rcode != mdns.RcodeNameError {
		t.Errorf("endpoint survived network deletion: %v", addrsOf(r))
	}
}

func TestAddNetworkErrors(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.51.1")
	s, port := newTestServer(t, Options{}, gw)
	// Something else holds the port on this address.
	taken := ip("127.0.51.2")
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(taken, uint16(port))))
	if err != nil {
		t.Skipf("cannot occupy port: %v", err)
	}
	t.Cleanup(func() { _ = pc.Close() })

	tests := []struct {
		name   string
		id     string
		listen []netip.Addr
		is     error
	}{
		{"empty id", "", []netip.Addr{gw}, nil},
		{"invalid address", "n", []netip.Addr{{}}, nil},
		{"unspecified address", "n", []netip.Addr{netip.IPv4Unspecified()}, nil},
		{"port taken", "n", []netip.Addr{gw, taken}, syscall.EADDRINUSE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AddNetwork(context.Background(), tc.id, tc.listen, false)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("got %v, want error %v", err, tc.is)
			}
		})
	}
	// A failed add leaves nothing behind, not even the first address.
	if !unreachable(t, netip.AddrPortFrom(gw, uint16(port))) {
		t.Error("listener of failed add still answers")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNetwork(context.Background(), "n", []netip.Addr{gw}, false); !errors.Is(err, net.ErrClosed) {
		t.Errorf("add after close: %v", err)
	}
}

func TestListenFreebind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		addr netip.Addr
	}{
		{"ipv4 not on any interface", ip("198.51.100.53")},
		{"ipv6 not on any interface", ip("2001:db8:53::1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{Port: 20053})
			t.Cleanup(func() { _ = s.Close() })
			err := s.AddNetwork(context.Background(), "n", []netip.Addr{tc.addr}, false)
			if errors.Is(err, syscall.EAFNOSUPPORT) {
				t.Skipf("address family unavailable: %v", err)
			}
			if err != nil {
				t.Fatalf("bind to an absent address: %v", err)
			}
		})
	}
}

func TestListenIPv6(t *testing.T) {
	t.Parallel()
	lo := ip("::1")
	if !portFree([]netip.Addr{lo}, 0) {
		t.Skip("no IPv6 loopback")
	}
	s, port := newTestServer(t, Options{}, lo)
	addNetwork(t, s, "n", true, lo)
	s.SetEndpoint("n", Endpoint{ContainerID: "c", Name: "c", IPv6: ip("fd00::c")})
	r := ask(t, lo, netip.AddrPortFrom(lo, uint16(port)), "c.", mdns.TypeAAAA)
	if got := addrsOf(r); !slices.Equal(got, []string{"fd00::c"}) {
		t.Errorf("answers %v", got)
	}
}

// TestConcurrentChurn queries while endpoints come and go; run with -race.
func TestConcurrentChurn(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.52.1")
	s, port := newTestServer(t, Options{}, gw)
	addNetwork(t, s, "n", true, gw)
	server := netip.AddrPortFrom(gw, uint16(port))

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			id := fmt.Sprintf("c%d", i%20)
			s.SetEndpoint("n", Endpoint{ContainerID: id, Name: id, Aliases: []string{"svc"},
				IPv4: netip.AddrFrom4([4]byte{127, 0, 52, byte(10 + i%20)})})
			if i%3 == 0 {
				s.DelEndpoint("n", fmt.Sprintf("c%d", (i+7)%20))
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
			for ctx.Err() == nil {
				r, _, err := c.Exchange(new(mdns.Msg).SetQuestion("svc.", mdns.TypeA), server.String())
				if err != nil || (r.Rcode != mdns.RcodeSuccess && r.Rcode != mdns.RcodeNameError) {
					t.Errorf("query during churn: %v %v", err, r)
					return
				}
			}
		})
	}
	wg.Wait()
}

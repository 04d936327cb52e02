package dns

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// Tests listen on distinct 127.x.y.z addresses (all of 127/8 is local), so
// clients can bind source addresses that identify them as endpoints.

// freePort returns a port on which UDP and TCP are both free on all addrs.
func freePort(t testing.TB, addrs ...netip.Addr) int {
	t.Helper()
	for range 50 {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrs[0], 0)))
		if err != nil {
			t.Fatalf("probe port: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		_ = pc.Close()
		if portFree(addrs, port) {
			return int(port)
		}
	}
	t.Fatal("no free port found")
	return 0
}

func portFree(addrs []netip.Addr, port uint16) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, port)
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return false
		}
		closers = append(closers, pc.Close)
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err != nil {
			return false
		}
		closers = append(closers, ln.Close)
	}
	return true
}

// newTestServer starts a Server on a port free on all addrs.
func newTestServer(t testing.TB, opts Options, addrs ...netip.Addr) (*Server, int) {
	t.Helper()
	opts.Port = freePort(t, addrs...)
	s := New(opts)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s, opts.Port
}

func addNetwork(t testing.TB, s *Server, id string, internal bool, addrs ...netip.Addr) {
	t.Helper()
	if err := s.AddNetwork(context.Background(), id, addrs, internal); err != nil {
		t.Fatalf("add network %s: %v", id, err)
	}
}

func ap(addr string, port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port))
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// exchange sends m from source address from to server over network
// ("udp" or "tcp") and returns the reply.
func exchange(t testing.TB, network string, from netip.Addr, server netip.AddrPort, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.UDPAddr{IP: from.AsSlice()}}
	if network == "tcp" {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	c := &mdns.Client{Net: network, Dialer: d, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, server.String())
	if err != nil {
		t.Fatalf("query %s %s from %s: %v", m.Question[0].Name, mdns.TypeToString[m.Question[0].Qtype], from, err)
	}
	if r.Id != m.Id {
		t.Fatalf("reply id %d, want %d", r.Id, m.Id)
	}
	return r
}

func ask(t testing.TB, from netip.Addr, server netip.AddrPort, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg).SetQuestion(name, qtype)
	return exchange(t, "udp", from, server, m)
}

// addrsOf lists the A/AAAA addresses of an answer section.
func addrsOf(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.AAAA:
			out = append(out, rr.AAAA.String())
		case *mdns.PTR:
			out = append(out, rr.Ptr)
		}
	}
	return out
}

// fakeUpstream is a DNS server answering every A query with 192.0.2.1 and
// counting the queries it sees per transport.
type fakeUpstream struct {
	addr    netip.AddrPort
	udp     atomic.Int32
	tcp     atomic.Int32
	handler func(w mdns.ResponseWriter, r *mdns.Msg) // optional override
}

func startUpstream(t testing.TB, addr netip.Addr, handler func(mdns.ResponseWriter, *mdns.Msg)) *fakeUpstream {
	t.Helper()
	port := freePort(t, addr)
	u := &fakeUpstream{addr: netip.AddrPortFrom(addr, uint16(port)), handler: handler}
	pc, err := net.ListenPacket("udp", u.addr.String())
	if err != nil {
		t.Fatalf("upstream udp: %v", err)
	}
	ln, err := net.Listen("tcp", u.addr.String())
	if err != nil {
		t.Fatalf("upstream tcp: %v", err)
	}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func (u *fakeUpstream) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if w.RemoteAddr().Network() == "tcp" {
		u.tcp.Add(1)
	} else {
		u.udp.Add(1)
	}
	if u.handler != nil {
		u.handler(w, r)
		return
	}
	m := new(mdns.Msg).SetReply(r)
	m.RecursionAvailable = true
	if r.Question[0].Qtype == mdns.TypeA {
		m.Answer = append(m.Answer, &mdns.A{
			Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
			A:   net.IPv4(192, 0, 2, 1),
		})
	}
	_ = w.WriteMsg(m)
}

// blackhole returns a UDP address that swallows queries without answering.
func blackhole(t testing.TB, addr netip.Addr) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatalf("blackhole: %v", err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// closedPort returns a UDP address where nothing listens, so queries are
// met with ICMP port unreachable.
func closedPort(t testing.TB, addr netip.Addr) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatalf("closed port: %v", err)
	}
	a := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = pc.Close()
	return a
}

package dns

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

func TestForwardTransports(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.40.1")
	up := startUpstream(t, ip("127.0.40.100"), nil)
	s, port := newTestServer(t, Options{Upstreams: []netip.AddrPort{up.addr}}, gw)
	addNetwork(t, s, "n", false, gw)
	server := ap("127.0.40.1", port)

	tests := []struct {
		network          string
		wantUDP, wantTCP int32
	}{
		{"udp", 1, 0},
		{"tcp", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.network, func(t *testing.T) {
			m := new(mdns.Msg).SetQuestion("Example.COM.", mdns.TypeA)
			r := exchange(t, tc.network, ip("127.0.0.1"), server, m)
			if r.Rcode != mdns.RcodeSuccess || !slices.Equal(addrsOf(r), []string{"192.0.2.1"}) {
				t.Fatalf("rcode %s answers %v", mdns.RcodeToString[r.Rcode], addrsOf(r))
			}
			if r.Authoritative {
				t.Error("forwarded answer claims authority")
			}
			if u, c := up.udp.Load(), up.tcp.Load(); u != tc.wantUDP || c != tc.wantTCP {
				t.Errorf("upstream saw udp %d tcp %d, want %d %d", u, c, tc.wantUDP, tc.wantTCP)
			}
		})
	}
}

// sixtyRecords answers with 60 A records, ignoring the client's size limit.
func sixtyRecords(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg).SetReply(r)
	for i := range 60 {
		m.Answer = append(m.Answer, &mdns.A{
			Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
			A:   net.IPv4(198, 51, 100, byte(i)),
		})
	}
	_ = w.WriteMsg(m)
}

// truncatingUDP behaves like a normal server: TC with no records over UDP,
// everything over TCP.
func truncatingUDP(w mdns.ResponseWriter, r *mdns.Msg) {
	if w.RemoteAddr().Network() == "tcp" {
		sixtyRecords(w, r)
		return
	}
	m := new(mdns.Msg).SetReply(r)
	m.Truncated = true
	_ = w.WriteMsg(m)
}

func TestForwardTruncatedRetriesOverTCP(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.41.1")
	truncating := startUpstream(t, ip("127.0.41.100"), truncatingUDP)
	oversized := startUpstream(t, ip("127.0.41.101"), sixtyRecords)
	s, port := newTestServer(t, Options{}, gw)
	addNetwork(t, s, "n", false, gw)

	tests := []struct {
		name     string
		upstream *fakeUpstream
		network  string
		edns     uint16
		minRRs   int
		wantTC   bool
	}{
		{"udp without edns gets what fits", truncating, "udp", 0, 20, true},
		{"udp with edns gets more", truncating, "udp", 1232, 60, false},
		{"tcp gets all", truncating, "tcp", 0, 60, false},
		{"oversized udp reply is refetched", oversized, "udp", 0, 20, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.SetUpstreams([]netip.AddrPort{tc.upstream.addr})
			tcpBefore := tc.upstream.tcp.Load()
			m := new(mdns.Msg).SetQuestion("big.example.", mdns.TypeA)
			if tc.edns > 0 {
				m.SetEdns0(tc.edns, false)
			}
			r := exchange(t, tc.network, ip("127.0.0.1"), ap("127.0.41.1", port), m)
			if len(r.Answer) < tc.minRRs || r.Truncated != tc.wantTC {
				t.Errorf("%d answers tc %v, want at least %d tc %v", len(r.Answer), r.Truncated, tc.minRRs, tc.wantTC)
			}
			if tc.upstream.tcp.Load() == tcpBefore {
				t.Error("upstream never asked over TCP")
			}
		})
	}
}

func servfail(w mdns.ResponseWriter, r *mdns.Msg) {
	_ = w.WriteMsg(new(mdns.Msg).SetRcode(r, mdns.RcodeServerFailure))
}

func TestForwardFailover(t *testing.T) {
	t.Parallel()
	good := startUpstream(t, ip("127.0.42.100"), nil)
	bad := startUpstream(t, ip("127.0.42.101"), servfail)
	hole := blackhole(t, ip("127.0.42.102"))
	hole2 := blackhole(t, ip("127.0.42.103"))
	refused := closedPort(t, ip("127.0.42.104"))

	tests := []struct {
		name      string
		upstreams []netip.AddrPort
		want      int
	}{
		{"black hole then good", []netip.AddrPort{hole, good.addr}, mdns.RcodeSuccess},
		{"port unreachable then good", []netip.AddrPort{refused, good.addr}, mdns.RcodeSuccess},
		{"servfail then good", []netip.AddrPort{bad.addr, good.addr}, mdns.RcodeSuccess},
		{"all black holes", []netip.AddrPort{hole, hole2}, mdns.RcodeServerFailure},
		{"all failing", []netip.AddrPort{refused, bad.addr}, mdns.RcodeServerFailure},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw := netip.AddrFrom4([4]byte{127, 0, 43, byte(i + 1)})
			s, port := newTestServer(t, Options{Upstreams: tc.upstreams}, gw)
			addNetwork(t, s, "n", false, gw)

			start := time.Now()
			r := ask(t, ip("127.0.0.1"), netip.AddrPortFrom(gw, uint16(port)), "example.com.", mdns.TypeA)
			elapsed := time.Since(start)
			t.Logf("answered %s in %v", mdns.RcodeToString[r.Rcode], elapsed)
			if r.Rcode != tc.want {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.want])
			}
			// Sanity bound only: the stagger makes success take ~200ms.
			limit := 1500 * time.Millisecond
			if tc.want != mdns.RcodeSuccess {
				limit = defaultForwardTimeout + time.Second
			}
			if elapsed > limit {
				t.Errorf("took %v, want under %v", elapsed, limit)
			}
		})
	}
}

func TestForwardPolicy(t *testing.T) {
	t.Parallel()
	gwE, gwI := ip("127.0.44.1"), ip("127.0.45.1")
	up := startUpstream(t, ip("127.0.44.100"), nil)
	s, port := newTestServer(t, Options{Upstreams: []netip.AddrPort{up.addr}}, gwE, gwI)
	addNetwork(t, s, "ext", false, gwE)
	addNetwork(t, s, "int", true, gwI)
	onlyInt, both := ip("127.0.45.2"), ip("127.0.45.3")
	s.SetEndpoint("int", Endpoint{ContainerID: "i", Name: "i", IPv4: onlyInt})
	s.SetEndpoint("int", Endpoint{ContainerID: "b", Name: "b", IPv4: both})
	s.SetEndpoint("ext", Endpoint{ContainerID: "b", Name: "b", IPv4: ip("127.0.44.3")})

	tests := []struct {
		name   string
		from   netip.Addr
		server netip.Addr
		want   int
	}{
		{"internal-only container", onlyInt, gwI, mdns.RcodeNameError},
		{"internal-only container via external gateway", onlyInt, gwE, mdns.RcodeNameError},
		{"container with external access via internal gateway", both, gwI, mdns.RcodeSuccess},
		{"unknown source on internal network", ip("127.0.45.200"), gwI, mdns.RcodeNameError},
		{"unknown source on external network", ip("127.0.44.200"), gwE, mdns.RcodeSuccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.udp.Load()
			r := ask(t, tc.from, netip.AddrPortFrom(tc.server, uint16(port)), "example.com.", mdns.TypeA)
			if r.Rcode != tc.want {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.want])
			}
			forwarded := up.udp.Load() > before
			if forwarded != (tc.want == mdns.RcodeSuccess) {
				t.Errorf("forwarded %v", forwarded)
			}
		})
	}
}

func TestSetUpstreams(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.46.1")
	first := startUpstream(t, ip("127.0.46.100"), nil)
	second := startUpstream(t, ip("127.0.46.101"), nil)
	s, port := newTestServer(t, Options{Upstreams: []netip.AddrPort{first.addr}}, gw)
	addNetwork(t, s, "n", false, gw)
	server := ap("127.0.46.1", port)

	steps := []struct {
		name      string
		upstreams []netip.AddrPort
		want      int
		via       *fakeUpstream
	}{
		{"initial", []netip.AddrPort{first.addr}, mdns.RcodeSuccess, first},
		{"replaced", []netip.AddrPort{second.addr}, mdns.RcodeSuccess, second},
		{"cleared", nil, mdns.RcodeServerFailure, nil},
		// The server itself as upstream would loop; it is skipped.
		{"self", []netip.AddrPort{server}, mdns.RcodeServerFailure, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s.SetUpstreams(st.upstreams)
			f, c := first.udp.Load(), second.udp.Load()
			r := ask(t, ip("127.0.0.1"), server, "example.com.", mdns.TypeA)
			if r.Rcode != st.want {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[st.want])
			}
			if gotFirst, gotSecond := first.udp.Load() > f, second.udp.Load() > c; gotFirst != (st.via == first) || gotSecond != (st.via == second) {
				t.Errorf("first used %v, second used %v", gotFirst, gotSecond)
			}
		})
	}
}

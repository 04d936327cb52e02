package dns

import (
	"fmt"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

const (
	webID = "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef"
	dbID  = "fedcba987654fedcba987654fedcba987654fedcba987654fedcba9876543210"
)

func TestLocalAnswers(t *testing.T) {
	t.Parallel()
	gw, client := ip("127.0.10.1"), ip("127.0.10.4")
	s, port := newTestServer(t, Options{}, gw)
	addNetwork(t, s, "n1", false, gw)
	s.SetEndpoint("n1", Endpoint{ContainerID: webID, Name: "/web", Aliases: []string{"www", "Svc."},
		IPv4: ip("127.0.10.2"), IPv6: ip("fd00::2")})
	s.SetEndpoint("n1", Endpoint{ContainerID: dbID, Name: "db", Aliases: []string{"svc"}, IPv4: ip("127.0.10.3")})
	s.SetEndpoint("n1", Endpoint{ContainerID: "client", Name: "client", IPv4: client})
	server := ap("127.0.10.1", port)

	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  []string // sorted
	}{
		{"A by name", "web.", mdns.TypeA, []string{"127.0.10.2"}},
		{"A mixed case", "WeB.", mdns.TypeA, []string{"127.0.10.2"}},
		{"AAAA", "web.", mdns.TypeAAAA, []string{"fd00::2"}},
		{"ANY gives both", "web.", mdns.TypeANY, []string{"127.0.10.2", "fd00::2"}},
		{"alias", "www.", mdns.TypeA, []string{"127.0.10.2"}},
		{"shared alias", "SVC.", mdns.TypeA, []string{"127.0.10.2", "127.0.10.3"}},
		{"short id", "0123456789AB.", mdns.TypeA, []string{"127.0.10.2"}},
		{"NODATA AAAA", "db.", mdns.TypeAAAA, nil},
		{"NODATA MX", "web.", mdns.TypeMX, nil},
		{"PTR v4", "2.10.0.127.in-addr.arpa.", mdns.TypePTR, []string{"web."}},
		{"PTR v6", mustReverse(t, "fd00::2"), mdns.TypePTR, []string{"web."}},
		{"reverse name other type", "3.10.0.127.in-addr.arpa.", mdns.TypeA, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, network := range []string{"udp", "tcp"} {
				m := new(mdns.Msg).SetQuestion(tc.qname, tc.qtype)
				r := exchange(t, network, client, server, m)
				if r.Rcode != mdns.RcodeSuccess || !r.Authoritative {
					t.Fatalf("%s: rcode %s aa %v, want NOERROR aa", network, mdns.RcodeToString[r.Rcode], r.Authoritative)
				}
				if r.Question[0].Name != tc.qname {
					t.Errorf("%s: question %q, want the client's spelling %q", network, r.Question[0].Name, tc.qname)
				}
				got := addrsOf(r)
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s: answers %v, want %v", network, got, tc.want)
				}
				for _, rr := range r.Answer {
					if rr.Header().Ttl != localTTL || rr.Header().Name != tc.qname {
						t.Errorf("%s: record header %v", network, rr.Header())
					}
				}
			}
		})
	}
}

func mustReverse(t *testing.T, addr string) string {
	t.Helper()
	r, err := mdns.ReverseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNonLocalWithoutUpstreams(t *testing.T) {
	t.Parallel()
	gwExt, gwInt := ip("127.0.11.1"), ip("127.0.12.1")
	s, port := newTestServer(t, Options{}, gwExt, gwInt)
	addNetwork(t, s, "ext", false, gwExt)
	addNetwork(t, s, "int", true, gwInt)

	tests := []struct {
		name   string
		server string
		want   int
	}{
		{"external network has nowhere to forward", "127.0.11.1", mdns.RcodeServerFailure},
		{"internal network never forwards", "127.0.12.1", mdns.RcodeNameError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ask(t, ip("127.0.0.1"), ap(tc.server, port), "example.com.", mdns.TypeA)
			if r.Rcode != tc.want {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.want])
			}
		})
	}
}

func TestIsolationBySource(t *testing.T) {
	t.Parallel()
	gwA, gwB := ip("127.0.20.1"), ip("127.0.21.1")
	s, port := newTestServer(t, Options{}, gwA, gwB)
	addNetwork(t, s, "a", true, gwA)
	addNetwork(t, s, "b", true, gwB)
	a1, b1 := ip("127.0.20.2"), ip("127.0.21.2")
	cA, cB := ip("127.0.20.3"), ip("127.0.21.3")
	s.SetEndpoint("a", Endpoint{ContainerID: "a1", Name: "a1", IPv4: a1})
	s.SetEndpoint("b", Endpoint{ContainerID: "b1", Name: "b1", IPv4: b1})
	s.SetEndpoint("a", Endpoint{ContainerID: "c", Name: "c", Aliases: []string{"both"}, IPv4: cA})
	s.SetEndpoint("b", Endpoint{ContainerID: "c", Name: "c", Aliases: []string{"both"}, IPv4: cB})
	s.SetEndpoint("b", Endpoint{ContainerID: "b2", Name: "b2", Aliases: []string{"bonly"}, IPv4: ip("127.0.21.4")})
	srvA, srvB := ap("127.0.20.1", port), ap("127.0.21.1", port)
	stranger := ip("127.0.22.9")

	tests := []struct {
		name   string
		from   string
		server string
		qname  string
		qtype  uint16
		want   []string // nil: NXDOMAIN
	}{
		{"same network", "127.0.20.2", "a", "c.", mdns.TypeA, []string{"127.0.20.3"}},
		{"other network hidden", "127.0.20.2", "a", "b1.", mdns.TypeA, nil},
		{"other network hidden via its gateway", "127.0.20.2", "b", "b1.", mdns.TypeA, nil},
		{"other network PTR hidden", "127.0.20.2", "a", "2.21.0.127.in-addr.arpa.", mdns.TypePTR, nil},
		{"two networks see both", "127.0.20.3", "a", "b1.", mdns.TypeA, []string{"127.0.21.2"}},
		{"two networks PTR", "127.0.20.3", "a", "2.21.0.127.in-addr.arpa.", mdns.TypePTR, []string{"b1."}},
		{"asked network wins", "127.0.20.3", "a", "both.", mdns.TypeA, []string{"127.0.20.3"}},
		{"asked network wins on b", "127.0.21.3", "b", "both.", mdns.TypeA, []string{"127.0.21.3"}},
		{"alias on the other network", "127.0.20.3", "a", "bonly.", mdns.TypeA, []string{"127.0.21.4"}},
		{"stranger sees listening network", stranger.String(), "a", "a1.", mdns.TypeA, []string{"127.0.20.2"}},
		{"stranger sees only listening network", stranger.String(), "a", "b1.", mdns.TypeA, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := srvA
			if tc.server == "b" {
				server = srvB
			}
			r := ask(t, ip(tc.from), server, tc.qname, tc.qtype)
			wantRcode := mdns.RcodeSuccess
			if tc.want == nil {
				wantRcode = mdns.RcodeNameError
			}
			if r.Rcode != wantRcode {
				t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[wantRcode])
			}
			if got := addrsOf(r); !slices.Equal(got, tc.want) {
				t.Errorf("answers %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEndpointChangesApplyAtOnce(t *testing.T) {
	t.Parallel()
	gw, client := ip("127.0.30.1"), ip("127.0.30.9")
	s, port := newTestServer(t, Options{}, gw)
	addNetwork(t, s, "n", true, gw)
	s.SetEndpoint("n", Endpoint{ContainerID: "client", Name: "client", IPv4: client})
	server := ap("127.0.30.1", port)

	steps := []struct {
		name   string
		change func()
		qname  string
		want   []string
	}{
		{"connect", func() {
			s.SetEndpoint("n", Endpoint{ContainerID: "app", Name: "app", Aliases: []string{"api"}, IPv4: ip("127.0.30.2")})
		}, "api.", []string{"127.0.30.2"}},
		{"replace address and aliases", func() {
			s.SetEndpoint("n", Endpoint{ContainerID: "app", Name: "app", Aliases: []string{"rpc"}, IPv4: ip("127.0.30.3")})
		}, "app.", []string{"127.0.30.3"}},
		{"old alias gone", func() {}, "api.", nil},
		{"new alias", func() {}, "rpc.", []string{"127.0.30.3"}},
		{"old PTR gone", func() {}, "2.30.0.127.in-addr.arpa.", nil},
		{"disconnect", func() { s.DelEndpoint("n", "app") }, "app.", nil},
		{"disconnect twice", func() { s.DelEndpoint("n", "app") }, "rpc.", nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			r := ask(t, client, server, st.qname, mdns.TypeA)
			if got := addrsOf(r); !slices.Equal(got, st.want) {
				t.Errorf("answers %v (rcode %s), want %v", got, mdns.RcodeToString[r.Rcode], st.want)
			}
		})
	}
}

func TestLargeAnswerTruncation(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.31.1")
	s, port := newTestServer(t, Options{}, gw)
	addNetwork(t, s, "n", true, gw)
	const replicas = 100
	addr := ip("127.0.31.2")
	for i := range replicas {
		name := fmt.Sprintf("c%03d", i)
		s.SetEndpoint("n", Endpoint{ContainerID: name, Name: name, Aliases: []string{"svc"}, IPv4: addr})
		addr = addr.Next()
	}
	server := ap("127.0.31.1", port)

	tests := []struct {
		name    string
		network string
		edns    uint16
		wantTC  bool
		minRRs  int
		maxLen  int
	}{
		{"plain udp", "udp", 0, true, 20, 512},
		{"edns udp", "udp", 1232, true, 60, 1232},
		{"tcp", "tcp", 0, false, replicas, 65535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(mdns.Msg).SetQuestion("svc.", mdns.TypeA)
			if tc.edns > 0 {
				m.SetEdns0(tc.edns, false)
			}
			r := exchange(t, tc.network, ip("127.0.0.1"), server, m)
			if r.Truncated != tc.wantTC || len(r.Answer) < tc.minRRs {
				t.Errorf("tc %v with %d answers, want tc %v and at least %d", r.Truncated, len(r.Answer), tc.wantTC, tc.minRRs)
			}
			r.Compress = true // as sent: every answer points at the question name
			if r.Len() > tc.maxLen {
				t.Errorf("reply is %d bytes, limit %d", r.Len(), tc.maxLen)
			}
			if (tc.edns > 0) != (r.IsEdns0() != nil) {
				t.Errorf("OPT in reply: %v, in query: %v", r.IsEdns0() != nil, tc.edns > 0)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	gw := ip("127.0.32.1")
	s, port := newTestServer(t, Options{}, gw)
	addNetwork(t, s, "n", true, gw)
	s.SetEndpoint("n", Endpoint{ContainerID: "r1", Name: "r1", Aliases: []string{"svc"}, IPv4: ip("127.0.32.2")})
	s.SetEndpoint("n", Endpoint{ContainerID: "r2", Name: "r2", Aliases: []string{"svc"}, IPv4: ip("127.0.32.3")})
	first := map[string]int{}
	for range 64 {
		r := ask(t, ip("127.0.0.1"), ap("127.0.32.1", port), "svc.", mdns.TypeA)
		if len(r.Answer) != 2 {
			t.Fatalf("got %d answers, want 2", len(r.Answer))
		}
		first[addrsOf(r)[0]]++
	}
	if len(first) != 2 {
		t.Errorf("first answer never rotates: %v", first)
	}
}

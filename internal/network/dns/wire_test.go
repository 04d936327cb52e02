package dns

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestParseReverse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string // "" when not an address
	}{
		{"4.3.2.1.in-addr.arpa", "1.2.3.4"},
		{"255.0.0.10.in-addr.arpa", "10.0.0.255"},
		{"256.0.0.10.in-addr.arpa", ""},
		{"0.0.10.in-addr.arpa", ""},
		{"1.0.0.0.10.in-addr.arpa", ""},
		{"1..0.10.in-addr.arpa", ""},
		{"0001.0.0.10.in-addr.arpa", ""},
		{"a.0.0.10.in-addr.arpa", ""},
		{"in-addr.arpa", ""},
		{"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "fd00::2"},
		{"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa", "4321:0:1:2:3:4:567:89ab"},
		{"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.ip6.arpa", ""},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", ""},
		{"20.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", ""},
		{"example.com", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := parseReverse([]byte(tc.name))
			if tc.want == "" {
				if ok {
					t.Errorf("parsed as %v", a)
				}
				return
			}
			if !ok || a != netip.MustParseAddr(tc.want) {
				t.Errorf("got %v %v, want %s", a, ok, tc.want)
			}
		})
	}
}

func TestEncodeName(t *testing.T) {
	t.Parallel()
	long := string(bytes.Repeat([]byte("a"), 64))
	tests := []struct {
		name string
		want []byte // nil: not encodable
	}{
		{"web", []byte("\x03web\x00")},
		{"my.app", []byte("\x02my\x03app\x00")},
		{"", nil},
		{"a..b", nil},
		{long, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := encodeName(tc.name)
			if ok != (tc.want != nil) || !bytes.Equal(got, tc.want) {
				t.Errorf("got %q %v, want %q", got, ok, tc.want)
			}
		})
	}
}

func packQuery(t testing.TB, m *mdns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	valid := packQuery(t, new(mdns.Msg).SetQuestion("Web.Example.", mdns.TypeAAAA))
	withEDNS := packQuery(t, new(mdns.Msg).SetQuestion("web.", mdns.TypeA).SetEdns0(1400, true))
	patch := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	twoOPT := append(bytes.Clone(withEDNS), withEDNS[len(withEDNS)-11:]...)
	binary.BigEndian.PutUint16(twoOPT[10:], 2)

	tests := []struct {
		name     string
		msg      []byte
		drop     bool
		rcode    int
		wantName string
	}{
		{"valid", valid, false, 0, "web.example"},
		{"edns", withEDNS, false, 0, "web"},
		{"short", valid[:11], true, 0, ""},
		{"response", patch(valid, 2, 0x80), true, 0, ""},
		{"notify opcode", patch(valid, 2, 0x20), false, rcodeNotImp, ""},
		{"no question", patch(valid, 4, 0, 0), false, rcodeFormErr, ""},
		{"two questions", patch(valid, 4, 0, 2), false, rcodeFormErr, ""},
		{"compressed question", patch(valid, 12, 0xc0, 12), false, rcodeFormErr, ""},
		{"label too long", patch(valid, 12, 64), false, rcodeFormErr, ""},
		{"cut question", valid[:len(valid)-2], false, rcodeFormErr, ""},
		{"missing additional", patch(valid, 10, 0, 1), false, rcodeFormErr, ""},
		{"two OPT records", twoOPT, false, rcodeFormErr, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf [maxNameLen]byte
			q, rcode, drop := parseQuery(tc.msg, &buf)
			if drop != tc.drop || rcode != tc.rcode {
				t.Fatalf("drop %v rcode %d, want %v %d", drop, rcode, tc.drop, tc.rcode)
			}
			if tc.wantName != "" && string(q.name) != tc.wantName {
				t.Errorf("name %q, want %q", q.name, tc.wantName)
			}
		})
	}

	var buf [maxNameLen]byte
	q, _, _ := parseQuery(withEDNS, &buf)
	if !q.edns || q.udpSize != 1400 || !q.do || q.udpLimit() != 1400 {
		t.Errorf("edns %v size %d do %v limit %d", q.edns, q.udpSize, q.do, q.udpLimit())
	}
}

// testNet returns a server whose network "n" has one endpoint, for calling
// respond without sockets.
func testNet(t testing.TB) (*Server, *netState) {
	t.Helper()
	s := New(Options{})
	t.Cleanup(func() { _ = s.Close() })
	s.SetEndpoint("n", Endpoint{ContainerID: webID, Name: "web", Aliases: []string{"svc"},
		IPv4: netip.MustParseAddr("10.0.0.2"), IPv6: netip.MustParseAddr("fd00::2")})
	return s, s.nets["n"]
}

func TestRespondEDNS(t *testing.T) {
	t.Parallel()
	s, n := testNet(t)
	tests := []struct {
		name    string
		version uint8
		rcode   int
		answers int
	}{
		{"version 0", 0, mdns.RcodeSuccess, 1},
		{"unknown version", 1, mdns.RcodeBadVers, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(mdns.Msg).SetQuestion("web.", mdns.TypeA).SetEdns0(1232, true)
			m.IsEdns0().SetVersion(tc.version)
			sc := &scratch{}
			v, _ := s.respond(n, netip.MustParseAddr("10.0.0.2"), packQuery(t, m), sc, false)
			if v != verdictReply {
				t.Fatalf("verdict %d", v)
			}
			r := new(mdns.Msg)
			if err := r.Unpack(sc.out); err != nil {
				t.Fatal(err)
			}
			opt := r.IsEdns0()
			if r.Rcode != tc.rcode || len(r.Answer) != tc.answers || opt == nil || !opt.Do() || opt.Version() != 0 {
				t.Errorf("reply %v", r)
			}
		})
	}
}

func FuzzRespond(f *testing.F) {
	f.Add(packQuery(f, new(mdns.Msg).SetQuestion("web.", mdns.TypeA)), false)
	f.Add(packQuery(f, new(mdns.Msg).SetQuestion("svc.", mdns.TypeANY).SetEdns0(4096, true)), true)
	f.Add(packQuery(f, new(mdns.Msg).SetQuestion("2.0.0.10.in-addr.arpa.", mdns.TypePTR)), false)
	f.Add([]byte("\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03a.b\x00\x00\x01\x00\x01"), false)
	s, n := testNet(f)
	f.Fuzz(func(t *testing.T, msg []byte, viaTCP bool) {
		sc := &scratch{}
		v, _ := s.respond(n, netip.MustParseAddr("10.0.0.2"), msg, sc, viaTCP)
		if v != verdictReply {
			return
		}
		if binary.BigEndian.Uint16(sc.out) != binary.BigEndian.Uint16(msg) {
			t.Fatal("reply ID differs from query ID")
		}
		if err := new(mdns.Msg).Unpack(sc.out); err != nil {
			t.Fatalf("unparseable reply %x to %x: %v", sc.out, msg, err)
		}
	})
}

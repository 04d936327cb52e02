package firewall

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
)

func hexBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

type encodeCase struct {
	name          string
	m             PortMapping
	set           string
	key, end, val []byte
}

func encodeCases() []encodeCase {
	v6any := make([]byte, 16)
	v6all := bytes.Repeat([]byte{0xff}, 16)
	tcp, udp := []byte{6, 0, 0, 0}, []byte{17, 0, 0, 0}
	return []encodeCase{
		{
			name: "v4 any address single port",
			m:    PortMapping{Proto: "tcp", HostPort: 8080, HostPortEnd: 8080, ContainerIP: addr("172.20.0.2"), ContainerPort: 80},
			set:  "dnat4_any",
			key:  hexBytes(tcp, []byte{0x1f, 0x90, 0, 0}),
			val:  hexBytes([]byte{172, 20, 0, 2}, []byte{0, 80, 0, 0}),
		},
		{
			name: "v4 loopback, end defaults to start",
			m:    PortMapping{Proto: "udp", HostIP: addr("127.0.0.1"), HostPort: 53, ContainerIP: addr("::ffff:172.20.0.2"), ContainerPort: 5353},
			set:  "dnat4",
			key:  hexBytes([]byte{127, 0, 0, 1}, udp, []byte{0, 53, 0, 0}),
			val:  hexBytes([]byte{172, 20, 0, 2}, []byte{0x14, 0xe9, 0, 0}),
		},
		{
			name: "v4 range to same ports keeps the port",
			m:    PortMapping{Proto: "tcp", HostPort: 20000, HostPortEnd: 20999, ContainerIP: addr("172.20.0.3"), ContainerPort: 20000},
			set:  "dnat4_keepport",
			key:  hexBytes([]byte{0, 0, 0, 0}, tcp, []byte{0x4e, 0x20, 0, 0}),
			end:  hexBytes([]byte{255, 255, 255, 255}, tcp, []byte{0x52, 0x07, 0, 0}),
			val:  []byte{172, 20, 0, 3},
		},
		{
			name: "v4 range to one port",
			m:    PortMapping{Proto: "tcp", HostIP: addr("0.0.0.0"), HostPort: 9000, HostPortEnd: 9009, ContainerIP: addr("10.0.0.2"), ContainerPort: 80},
			set:  "dnat4_range",
			key:  hexBytes([]byte{0, 0, 0, 0}, tcp, []byte{0x23, 0x28, 0, 0}),
			end:  hexBytes([]byte{255, 255, 255, 255}, tcp, []byte{0x23, 0x31, 0, 0}),
			val:  hexBytes([]byte{10, 0, 0, 2}, []byte{0, 80, 0, 0}),
		},
		{
			name: "v6 any address",
			m:    PortMapping{Proto: "tcp", HostPort: 443, ContainerIP: addr("fd00::2"), ContainerPort: 8443},
			set:  "dnat6_any",
			key:  hexBytes(tcp, []byte{0x01, 0xbb, 0, 0}),
			val:  hexBytes(addr("fd00::2").AsSlice(), []byte{0x20, 0xfb, 0, 0}),
		},
		{
			name: "v6 unspecified host, range keeps the port",
			m:    PortMapping{Proto: "udp", HostIP: addr("::"), HostPort: 30000, HostPortEnd: 30099, ContainerIP: addr("fd00::3"), ContainerPort: 30000},
			set:  "dnat6_keepport",
			key:  hexBytes(v6any, udp, []byte{0x75, 0x30, 0, 0}),
			end:  hexBytes(v6all, udp, []byte{0x75, 0x93, 0, 0}),
			val:  addr("fd00::3").AsSlice(),
		},
		{
			name: "v6 specific host address",
			m:    PortMapping{Proto: "sctp", HostIP: addr("2001:db8::1"), HostPort: 3868, ContainerIP: addr("fd00::4"), ContainerPort: 3868},
			set:  "dnat6",
			key:  hexBytes(addr("2001:db8::1").AsSlice(), []byte{132, 0, 0, 0}, []byte{0x0f, 0x1c, 0, 0}),
			val:  hexBytes(addr("fd00::4").AsSlice(), []byte{0x0f, 0x1c, 0, 0}),
		},
	}
}

func TestEncodePortMapping(t *testing.T) {
	for _, tc := range encodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			pe, err := tc.m.encode()
			if err != nil {
				t.Fatal(err)
			}
			if pe.set != tc.set {
				t.Errorf("map %s, want %s", pe.set, tc.set)
			}
			for _, f := range []struct {
				what      string
				got, want []byte
			}{{"key", pe.elem.Key, tc.key}, {"key end", pe.elem.KeyEnd, tc.end}, {"value", pe.elem.Val, tc.val}} {
				if !bytes.Equal(f.got, f.want) {
					t.Errorf("%s % x, want % x", f.what, f.got, f.want)
				}
			}
		})
	}
}

func TestEncodePortMappingErrors(t *testing.T) {
	ok := PortMapping{Proto: "tcp", HostPort: 80, ContainerIP: addr("10.0.0.2"), ContainerPort: 80}
	for _, tc := range []struct {
		name string
		edit func(*PortMapping)
		want string
	}{
		{"protocol", func(m *PortMapping) { m.Proto = "icmp" }, "unsupported protocol"},
		{"host port", func(m *PortMapping) { m.HostPort = 0 }, "host port is zero"},
		{"reversed", func(m *PortMapping) { m.HostPortEnd = 79 }, "reversed"},
		{"container port", func(m *PortMapping) { m.ContainerPort = 0 }, "container port is zero"},
		{"container ip", func(m *PortMapping) { m.ContainerIP = netip.Addr{} }, "container address is missing"},
		{"family", func(m *PortMapping) { m.HostIP = addr("2001:db8::1") }, "differ in family"},
		{"unspecified family", func(m *PortMapping) { m.HostIP = addr("::") }, "differ in family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.edit(&m)
			_, err := encodeAll([]PortMapping{m})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNetworkElements(t *testing.T) {
	n := Network{ID: "abc", Bridge: "br0", ICC: false, Masquerade: true,
		Subnets: []netip.Prefix{prefix("10.1.2.3/24"), prefix("fd00:1::/64")}}
	want := n.elements()
	if got := len(want[setNoICC]); got != 1 {
		t.Errorf("no_icc elements %d, want 1", got)
	}
	if got := len(want[setInternal]); got != 0 {
		t.Errorf("internal elements %d, want 0", got)
	}
	m4 := want[setMasq4]
	if len(m4) != 1 || !bytes.Equal(m4[0].key, []byte{10, 1, 2, 0}) || !bytes.Equal(m4[0].end, []byte{10, 1, 3, 0}) {
		t.Errorf("masq4 %+v, want 10.1.2.0-10.1.3.0", m4)
	}
	s6 := want[setSubnets6]
	first, last := prefixFirstLast(prefix("fd00:1::/64"))
	if len(s6) != 1 || !bytes.Equal(s6[0].key, append(first, ifname("br0")...)) || !bytes.Equal(s6[0].end, append(last, ifname("br0")...)) {
		t.Errorf("subnets6 %+v", s6)
	}
	n.Internal = true
	if got := n.elements(); len(got[setMasq4]) != 0 || len(got[setMasq6]) != 0 || len(got[setInternal]) != 1 {
		t.Errorf("internal network: %+v", got)
	}

	for _, bad := range []Network{
		{ID: "", Bridge: "br0"},
		{ID: "x", Bridge: ""},
		{ID: "x", Bridge: "a/b"},
		{ID: "x", Bridge: "0123456789abcdef"},
		{ID: "x", Bridge: "br0", Subnets: []netip.Prefix{{}}},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestPrefixBounds(t *testing.T) {
	for _, tc := range []struct {
		p          string
		start, end string
	}{
		{"10.0.0.0/8", "10.0.0.0", "11.0.0.0"},
		{"192.168.1.77/24", "192.168.1.0", "192.168.2.0"},
		{"255.255.255.0/24", "255.255.255.0", ""},
		{"fd00::/64", "fd00::", "fd00:0:0:1::"},
		{"ffff::/16", "ffff::", ""},
	} {
		start, end := prefixBounds(prefix(tc.p))
		if got := netip.AddrFrom16([16]byte(pad16(start))).Unmap().String(); got != tc.start {
			t.Errorf("%s start %s, want %s", tc.p, got, tc.start)
		}
		gotEnd := ""
		if end != nil {
			gotEnd = netip.AddrFrom16([16]byte(pad16(end))).Unmap().String()
		}
		if gotEnd != tc.end {
			t.Errorf("%s end %q, want %q", tc.p, gotEnd, tc.end)
		}
	}
}

func pad16(b []byte) []byte {
	if len(b) == 4 {
		a := netip.AddrFrom4([4]byte(b)).As16()
		return a[:]
	}
	return b
}

func TestPairIntervals(t *testing.T) {
	raw := []nftables.SetElement{
		{Key: []byte{10, 2, 0, 0}, IntervalEnd: true},
		{Key: []byte{10, 1, 0, 0}, Comment: "a"},
		{Key: []byte{10, 2, 0, 0}, Comment: "b"},
		{Key: []byte{10, 3, 0, 0}, IntervalEnd: true},
		{Key: []byte{255, 0, 0, 0}, Comment: "c"},
	}
	got := pairIntervals(raw)
	want := []elem{
		{key: []byte{10, 1, 0, 0}, end: []byte{10, 2, 0, 0}, kind: intervalElem, comment: "a"},
		{key: []byte{10, 2, 0, 0}, end: []byte{10, 3, 0, 0}, kind: intervalElem, comment: "b"},
		{key: []byte{255, 0, 0, 0}, kind: intervalElem, comment: "c"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].ident() != want[i].ident() || got[i].comment != want[i].comment || got[i].kind != want[i].kind {
			t.Errorf("element %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDiffElems(t *testing.T) {
	e := func(k, c string) elem { return elem{key: []byte(k), comment: c} }
	have := []elem{e("keep", "me"), e("stale", "me"), e("taken", "other"), e("foreign", "other")}
	want := []elem{e("keep", "me"), e("taken", "me"), e("new", "me")}
	del, add := diffElems(have, want, "me")
	keys := func(es []elem) string {
		var s []string
		for _, x := range es {
			s = append(s, string(x.key))
		}
		return strings.Join(s, ",")
	}
	if got := keys(del); got != "stale,taken" {
		t.Errorf("delete %s, want stale,taken", got)
	}
	if got := keys(add); got != "taken,new" {
		t.Errorf("add %s, want taken,new", got)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for _, name := range []string{"", "has space", "semi;colon", strings.Repeat("x", 65)} {
		if _, err := New(Options{Table: name}); err == nil {
			t.Errorf("table name %q accepted", name)
		}
	}
	if _, err := New(Options{Table: "berth", NetNS: -1}); err == nil {
		t.Error("negative netns fd accepted")
	}
	if _, err := New(Options{Table: "berth"}); err != nil {
		t.Error(err)
	}
}

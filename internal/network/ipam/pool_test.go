package ipam

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

var (
	mustPrefix = netip.MustParsePrefix
	mustAddr   = netip.MustParseAddr
)

func TestNewPoolErrors(t *testing.T) {
	tests := []struct {
		name    string
		subnet  netip.Prefix
		ipRange netip.Prefix
		gateway netip.Addr
		aux     map[string]netip.Addr
		want    string
	}{
		{"zero subnet", netip.Prefix{}, netip.Prefix{}, netip.Addr{}, nil, "invalid subnet invalid Prefix"},
		{"host bits", mustPrefix("172.18.0.1/16"), netip.Prefix{}, netip.Addr{}, nil,
			"invalid subnet 172.18.0.1/16: it should be 172.18.0.0/16"},
		{"gateway outside", mustPrefix("172.18.0.0/16"), netip.Prefix{}, mustAddr("172.19.0.1"), nil,
			"gateway 172.19.0.1 is not in subnet 172.18.0.0/16"},
		{"gateway other family", mustPrefix("172.18.0.0/16"), netip.Prefix{}, mustAddr("fd00::1"), nil,
			"gateway fd00::1 is not in subnet 172.18.0.0/16"},
		{"range outside", mustPrefix("172.18.0.0/16"), mustPrefix("172.19.0.0/24"), netip.Addr{}, nil,
			"ip-range 172.19.0.0/24 is not in subnet 172.18.0.0/16"},
		{"range larger", mustPrefix("172.18.0.0/16"), mustPrefix("172.16.0.0/12"), netip.Addr{}, nil,
			"ip-range 172.16.0.0/12 is not in subnet 172.18.0.0/16"},
		{"range host bits", mustPrefix("172.18.0.0/16"), mustPrefix("172.18.1.5/24"), netip.Addr{}, nil,
			"invalid ip-range 172.18.1.5/24: it should be 172.18.1.0/24"},
		{"aux outside", mustPrefix("172.18.0.0/16"), netip.Prefix{}, netip.Addr{},
			map[string]netip.Addr{"host": mustAddr("10.0.0.1")},
			"auxiliary address host=10.0.0.1 is not in subnet 172.18.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPool(tt.subnet, tt.ipRange, tt.gateway, tt.aux)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("NewPool(%q, %q, %q) = %v, want %v", tt.subnet, tt.ipRange, tt.gateway, err, tt.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewPool(%q) error %T, want *ConfigError matching ErrInvalidConfig", tt.subnet, err)
			}
		})
	}
}

func TestNewPoolGateway(t *testing.T) {
	tests := []struct {
		subnet  string
		ipRange string
		gateway string
		want    string
	}{
		{"172.18.0.0/16", "", "", "172.18.0.1"},
		{"172.18.0.0/16", "172.18.5.0/24", "", "172.18.0.1"},
		{"172.18.0.0/16", "", "172.18.255.254", "172.18.255.254"},
		{"10.0.0.0/31", "", "", "10.0.0.0"},
		{"fd00:1::/64", "", "", "fd00:1::1"},
	}
	for _, tt := range tests {
		t.Run(tt.subnet+" "+tt.ipRange+" "+tt.gateway, func(t *testing.T) {
			p := newPool(t, tt.subnet, tt.ipRange, tt.gateway)
			if got := p.Gateway(); got != mustAddr(tt.want) {
				t.Errorf("Gateway(%q) = %v, want %v", tt.subnet, got, tt.want)
			}
			if got := p.Subnet(); got != mustPrefix(tt.subnet) {
				t.Errorf("Subnet(%q) = %v, want %v", tt.subnet, got, tt.subnet)
			}
			if !p.InUse(p.Gateway()) {
				t.Errorf("InUse(%v) = false, want true", p.Gateway())
			}
		})
	}
}

// newPool builds a pool from strings; empty means unset.
func newPool(t *testing.T, subnet, ipRange, gateway string) *Pool {
	t.Helper()
	var r netip.Prefix
	if ipRange != "" {
		r = mustPrefix(ipRange)
	}
	var gw netip.Addr
	if gateway != "" {
		gw = mustAddr(gateway)
	}
	p, err := NewPool(mustPrefix(subnet), r, gw, nil)
	if err != nil {
		t.Fatalf("NewPool(%q, %q, %q) = %v, want nil", subnet, ipRange, gateway, err)
	}
	return p
}

// allocateAll drains p and returns the addresses in order.
func allocateAll(t *testing.T, p *Pool) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for {
		a, err := p.Allocate()
		if errors.Is(err, ErrPoolFull) {
			return out
		}
		if err != nil {
			t.Fatalf("Allocate() = %v, want nil or ErrPoolFull", err)
		}
		out = append(out, a)
	}
}

func TestAllocateAll(t *testing.T) {
	tests := []struct {
		subnet, ipRange string
		aux             map[string]netip.Addr
		want            []string
	}{
		{"192.0.2.0/29", "", nil, []string{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"}},
		{"192.0.2.0/29", "", map[string]netip.Addr{"a": mustAddr("192.0.2.3")},
			[]string{"192.0.2.2", "192.0.2.4", "192.0.2.5", "192.0.2.6"}},
		{"192.0.2.0/24", "192.0.2.252/30", nil, []string{"192.0.2.252", "192.0.2.253", "192.0.2.254"}},
		{"192.0.2.0/24", "192.0.2.0/30", nil, []string{"192.0.2.2", "192.0.2.3"}},
		{"192.0.2.0/31", "", nil, []string{"192.0.2.1"}},
		{"192.0.2.0/32", "", nil, nil},
		{"2001:db8::/126", "", nil, []string{"2001:db8::2", "2001:db8::3"}},
	}
	for _, tt := range tests {
		t.Run(tt.subnet+" "+tt.ipRange, func(t *testing.T) {
			var r netip.Prefix
			if tt.ipRange != "" {
				r = mustPrefix(tt.ipRange)
			}
			p, err := NewPool(mustPrefix(tt.subnet), r, netip.Addr{}, tt.aux)
			if err != nil {
				t.Fatalf("NewPool(%q) = %v, want nil", tt.subnet, err)
			}
			got := allocateAll(t, p)
			if len(got) != len(tt.want) {
				t.Fatalf("Allocate(%q) all = %v, want %v", tt.subnet, got, tt.want)
			}
			for i := range got {
				if got[i] != mustAddr(tt.want[i]) {
					t.Errorf("Allocate(%q) #%d = %v, want %v", tt.subnet, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	p := newPool(t, "192.0.2.0/29", "", "")
	a1, _ := p.Allocate() // .2
	a2, _ := p.Allocate() // .3
	p.Release(a1)
	a3, err := p.Allocate()
	if err != nil || a3 != mustAddr("192.0.2.4") {
		t.Fatalf("Allocate() after Release(%v) = %v, %v, want 192.0.2.4", a1, a3, err)
	}
	// .5 and .6, then wrap around to the .2 released earlier.
	rest := allocateAll(t, p)
	if want := []netip.Addr{mustAddr("192.0.2.5"), mustAddr("192.0.2.6"), a1}; !slices.Equal(rest, want) {
		t.Fatalf("Allocate() until full = %v, want %v", rest, want)
	}
	p.Release(a2)
	if got, err := p.Allocate(); err != nil || got != a2 {
		t.Fatalf("Allocate() after Release(%v) = %v, %v, want %v", a2, got, err, a2)
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrPoolFull) {
		t.Errorf("Allocate() on full pool = %v, want %v", err, ErrPoolFull)
	}
}

func TestReserve(t *testing.T) {
	p := newPool(t, "192.0.2.0/24", "192.0.2.128/25", "")
	tests := []struct {
		addr string
		want error
		msg  string
	}{
		{"192.0.2.10", nil, ""}, // outside ip-range, inside subnet: static address
		{"192.0.2.10", ErrAddressInUse, "address 192.0.2.10 already in use"},
		{"192.0.2.1", ErrAddressInUse, "address 192.0.2.1 already in use"},     // gateway
		{"192.0.2.0", ErrAddressInUse, "address 192.0.2.0 already in use"},     // network
		{"192.0.2.255", ErrAddressInUse, "address 192.0.2.255 already in use"}, // broadcast
		{"192.0.2.200", nil, ""},
		{"198.51.100.1", ErrOutOfRange, "no configured subnet or ip-range contain the IP address 198.51.100.1"},
		{"::ffff:192.0.2.20", ErrOutOfRange, "no configured subnet or ip-range contain the IP address ::ffff:192.0.2.20"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := p.Reserve(mustAddr(tt.addr))
			if !errors.Is(err, tt.want) || (err != nil && err.Error() != tt.msg) {
				t.Errorf("Reserve(%q) = %v, want %v (%q)", tt.addr, err, tt.want, tt.msg)
			}
		})
	}
	p.Release(mustAddr("192.0.2.10"))
	if p.InUse(mustAddr("192.0.2.10")) {
		t.Errorf("InUse(192.0.2.10) after Release = true, want false")
	}
	p.Release(p.Gateway())
	if !p.InUse(p.Gateway()) {
		t.Errorf("InUse(gateway) after Release = false, want true")
	}
	// .200 is in the range and must not be handed out again.
	for _, a := range allocateAll(t, p) {
		if a == mustAddr("192.0.2.200") {
			t.Fatalf("Allocate() = %v, want never the reserved address", a)
		}
	}
}

func TestLargeIPv6(t *testing.T) {
	p := newPool(t, "2001:db8:1::/64", "", "")
	seen := make(map[netip.Addr]bool)
	for range 10000 {
		a, err := p.Allocate()
		if err != nil {
			t.Fatalf("Allocate() = %v, want nil", err)
		}
		if seen[a] || !p.Subnet().Contains(a) || a == p.Gateway() {
			t.Fatalf("Allocate() = %v, want a fresh address of %v other than the gateway", a, p.Subnet())
		}
		seen[a] = true
	}
	if err := p.Reserve(mustAddr("2001:db8:1::ffff:ffff:ffff:fffe")); err != nil {
		t.Errorf("Reserve(high address) = %v, want nil", err)
	}
}

func FuzzPool(f *testing.F) {
	f.Add([]byte{192, 0, 2, 0}, uint8(28), uint8(0), uint8(5), []byte{1, 0, 3, 7})
	f.Add([]byte{10, 1, 0, 0}, uint8(22), uint8(2), uint8(0), []byte{9, 9, 9})
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(120), uint8(1), uint8(3), []byte{})
	f.Fuzz(func(t *testing.T, base []byte, bits, rangeExtra, gwOffset uint8, ops []byte) {
		addr, ok := netip.AddrFromSlice(base)
		if !ok {
			return
		}
		// Keep pools small enough to drain.
		minBits := addr.BitLen() - 10
		subnet, err := addr.Prefix(minBits + int(bits)%11)
		if err != nil {
			return
		}
		var ipRange netip.Prefix
		if rangeExtra%3 != 0 {
			ipRange, _ = addr.Prefix(min(subnet.Bits()+int(rangeExtra%4), addr.BitLen()))
		}
		gw := nthAddr(subnet.Addr(), int(gwOffset))
		if !subnet.Contains(gw) || gwOffset == 0 {
			gw = netip.Addr{}
		}
		p, err := NewPool(subnet, ipRange, gw, nil)
		if err != nil {
			t.Fatalf("NewPool(%q, %q, %q) = %v, want nil", subnet, ipRange, gw, err)
		}
		ops = ops[:min(len(ops), 32)]
		checkPoolOps(t, p, ipRange, ops)
	})
}

// checkPoolOps interleaves releases with allocations and checks that every
// address handed out is in range, never fixed, never handed out twice while
// held, and that the pool reports full exactly when no free address is left.
func checkPoolOps(t *testing.T, p *Pool, ipRange netip.Prefix, ops []byte) {
	t.Helper()
	rng := p.Subnet()
	if ipRange.IsValid() {
		rng = ipRange
	}
	held := make(map[netip.Addr]bool)
	var order []netip.Addr
	for _, op := range append(ops, 0xff) {
		if op%4 == 0 && len(order) > 0 {
			a := order[int(op)%len(order)]
			if held[a] {
				p.Release(a)
				delete(held, a)
			}
			continue
		}
		for _, a := range allocateAll(t, p) {
			switch {
			case held[a]:
				t.Fatalf("Allocate() = %v twice while held", a)
			case !rng.Contains(a):
				t.Fatalf("Allocate() = %v, want inside %v", a, rng)
			case a == p.Gateway():
				t.Fatalf("Allocate() = gateway %v", a)
			case p.Subnet().Addr().Is4() && p.Subnet().Bits() <= 30 && (a == p.Subnet().Addr() || a == lastAddr(p.Subnet())):
				t.Fatalf("Allocate() = network or broadcast address %v", a)
			}
			held[a] = true
			order = append(order, a)
		}
		for a := range addrsOf(rng) {
			if !p.InUse(a) {
				t.Fatalf("InUse(%v) on full pool = false, want true", a)
			}
		}
	}
}

func nthAddr(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

// addrsOf yields every address of a small prefix.
func addrsOf(p netip.Prefix) func(func(netip.Addr) bool) {
	return func(yield func(netip.Addr) bool) {
		for a := p.Addr(); a.IsValid() && p.Contains(a); a = a.Next() {
			if !yield(a) {
				return
			}
		}
	}
}

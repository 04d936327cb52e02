package ipam

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, mustPrefix(s))
	}
	return out
}

func TestDefaultAddressPools(t *testing.T) {
	pools := DefaultAddressPools()
	var got []netip.Prefix
	var used []netip.Prefix
	for {
		p, err := PickSubnet(pools, used)
		if err != nil {
			break
		}
		got = append(got, p)
		used = append(used, p)
	}
	// 15 /16s (172.17-172.31) then 16 /20s of 192.168.0.0/16.
	if len(got) != 31 {
		t.Fatalf("PickSubnet(defaults) gave %d subnets, want 31", len(got))
	}
	checks := map[int]string{0: "172.17.0.0/16", 1: "172.18.0.0/16", 14: "172.31.0.0/16", 15: "192.168.0.0/20", 30: "192.168.240.0/20"}
	for i, want := range checks {
		if got[i] != mustPrefix(want) {
			t.Errorf("PickSubnet(defaults) #%d = %v, want %v", i, got[i], want)
		}
	}
}

func TestPickSubnet(t *testing.T) {
	defaults := DefaultAddressPools()
	tests := []struct {
		name  string
		pools []AddressPool
		used  []netip.Prefix
		want  string
	}{
		{"empty host", defaults, nil, "172.17.0.0/16"},
		{"skip docker0", defaults, prefixes("172.17.0.0/16"), "172.18.0.0/16"},
		{"skip host address inside", defaults, prefixes("172.17.0.0/16", "172.18.3.4/24"), "172.19.0.0/16"},
		{"skip wide route", defaults, prefixes("172.16.0.0/12"), "192.168.0.0/20"},
		{"skip lan", defaults, prefixes("172.16.0.0/12", "192.168.0.0/24", "192.168.16.0/20"), "192.168.32.0/20"},
		{"other family ignored", defaults, prefixes("fd00::/8"), "172.17.0.0/16"},
		{"custom /24", []AddressPool{{mustPrefix("10.10.0.0/16"), 24}}, prefixes("10.10.0.0/23", "10.10.2.128/25"), "10.10.3.0/24"},
		{"v6 jumps", []AddressPool{{mustPrefix("fd00::/16"), 64}}, prefixes("fd00::/17"), "fd00:8000::/64"},
		{"pool order kept", []AddressPool{{mustPrefix("10.2.0.0/16"), 24}, {mustPrefix("10.1.0.0/16"), 24}}, nil, "10.2.0.0/24"},
		{"unsorted and nested", []AddressPool{{mustPrefix("10.0.0.0/16"), 24}},
			prefixes("10.0.3.0/24", "10.0.0.0/22", "10.0.1.0/24", "10.0.0.5/32", "10.0.4.0/25"), "10.0.5.0/24"},
		{"adjacent merged", []AddressPool{{mustPrefix("10.0.0.0/16"), 23}},
			prefixes("10.0.1.0/24", "10.0.2.0/24", "10.0.6.0/23"), "10.0.4.0/23"},
		{"blocker crossing a candidate boundary", []AddressPool{{mustPrefix("10.0.0.0/8"), 16}},
			prefixes("10.0.255.0/24", "10.1.0.0/25"), "10.2.0.0/16"},
		{"duplicates", []AddressPool{{mustPrefix("10.0.0.0/16"), 24}},
			prefixes("10.0.0.0/24", "10.0.0.0/24", "10.0.1.0/24", "10.0.1.0/24"), "10.0.2.0/24"},
		{"end of the address space", []AddressPool{{mustPrefix("255.255.0.0/16"), 24}},
			prefixes("255.255.0.0/24", "255.255.255.0/24"), "255.255.1.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PickSubnet(tt.pools, tt.used)
			if err != nil || got != mustPrefix(tt.want) {
				t.Errorf("PickSubnet(%v) = %v, %v, want %v", tt.used, got, err, tt.want)
			}
		})
	}
}

// TestPickSubnetMatchesBruteForce compares PickSubnet with a check of every
// candidate against every used prefix, on random used sets.
func TestPickSubnetMatchesBruteForce(t *testing.T) {
	pools := []AddressPool{{mustPrefix("10.0.0.0/20"), 24}, {mustPrefix("10.0.64.0/18"), 22}}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var used []netip.Prefix
		for range rng.IntN(12) {
			bits := 16 + rng.IntN(17)
			a := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(128)), byte(rng.IntN(256))})
			used = append(used, netip.PrefixFrom(a, bits).Masked())
		}
		want, wantOK := bruteForcePick(pools, used)
		got, err := PickSubnet(pools, used)
		if (err == nil) != wantOK || (wantOK && got != want) {
			t.Fatalf("case %d: PickSubnet(%v) = %v, %v, want %v (found %v)", i, used, got, err, want, wantOK)
		}
	}
}

func bruteForcePick(pools []AddressPool, used []netip.Prefix) (netip.Prefix, bool) {
	for _, pool := range pools {
		for c := netip.PrefixFrom(pool.Base.Addr(), pool.Size); pool.Base.Contains(c.Addr()); {
			free := true
			for _, u := range used {
				free = free && !Overlaps(c, u)
			}
			if free {
				return c, true
			}
			next := lastAddr(c).Next()
			if !next.IsValid() {
				break
			}
			c = netip.PrefixFrom(next, pool.Size)
		}
	}
	return netip.Prefix{}, false
}

// BenchmarkPickSubnet picks the 101st subnet with 100 networks and their
// host routes in use.
func BenchmarkPickSubnet(b *testing.B) {
	pools := []AddressPool{{mustPrefix("10.0.0.0/8"), 24}}
	var used []netip.Prefix
	for i := range 100 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		used = append(used, p, p)
	}
	for b.Loop() {
		if _, err := PickSubnet(pools, used); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPickSubnetExhausted(t *testing.T) {
	tests := []struct {
		pools []AddressPool
		used  []netip.Prefix
		want  string
	}{
		{DefaultAddressPools(), prefixes("0.0.0.0/0"),
			"could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"},
		{nil, nil,
			"could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"},
		{[]AddressPool{{mustPrefix("fd00::/64"), 64}}, prefixes("fd00::1/128"),
			"could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"},
		{[]AddressPool{{mustPrefix("255.255.255.0/24"), 26}}, prefixes("255.255.255.192/26"),
			"could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tt.used = append(tt.used, prefixes("255.255.255.0/26", "255.255.255.64/26", "255.255.255.128/26")...)
			got, err := PickSubnet(tt.pools, tt.used)
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNoAvailablePool) {
				t.Errorf("PickSubnet(%v) = %v, %v, want %v", tt.used, got, err, tt.want)
			}
		})
	}
}

func TestParseAddressPool(t *testing.T) {
	tests := []struct {
		in      string
		want    AddressPool
		wantErr string
	}{
		{"base=10.10.0.0/16,size=24", AddressPool{mustPrefix("10.10.0.0/16"), 24}, ""},
		{"size=24,base=10.10.0.0/16", AddressPool{mustPrefix("10.10.0.0/16"), 24}, ""},
		{"base=fd00::/48,size=64", AddressPool{mustPrefix("fd00::/48"), 64}, ""},
		{"base=10.10.0.0/16", AddressPool{}, `address pool "base=10.10.0.0/16": both base and size are required`},
		{"base=10.10.0.0/16,size=8", AddressPool{}, `address pool "base=10.10.0.0/16,size=8": size 8 must be between 16 and 32`},
		{"base=10.10.0.0/16,size=33", AddressPool{}, `address pool "base=10.10.0.0/16,size=33": size 33 must be between 16 and 32`},
		{"base=10.10.0.1/16,size=24", AddressPool{}, "invalid base 10.10.0.1/16: it should be 10.10.0.0/16"},
		{"base=10.10.0.0,size=24", AddressPool{}, `invalid base "10.10.0.0" in address pool "base=10.10.0.0,size=24"`},
		{"base=10.10.0.0/16,size=x", AddressPool{}, `invalid size "x" in address pool "base=10.10.0.0/16,size=x"`},
		{"base=10.10.0.0/16,size", AddressPool{}, "invalid field 'size' must be a key=value pair"},
		{"base=10.10.0.0/16,color=red", AddressPool{}, "unexpected key 'color' in 'base=10.10.0.0/16,color=red'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddressPool(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrInvalidConfig) {
					t.Errorf("ParseAddressPool(%q) = %v, %v, want error %v", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseAddressPool(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"172.17.0.0/16", "172.17.5.0/24", true},
		{"172.17.5.0/24", "172.17.0.0/16", true},
		{"172.17.0.0/16", "172.18.0.0/16", false},
		{"172.17.0.1/16", "172.17.200.1/24", true},
		{"0.0.0.0/0", "10.0.0.0/8", true},
		{"10.0.0.0/8", "fd00::/8", false},
		{"fd00::/64", "fd00::1/128", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			if got := Overlaps(mustPrefix(tt.a), mustPrefix(tt.b)); got != tt.want {
				t.Errorf("Overlaps(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestFilterHostPrefixes(t *testing.T) {
	in := prefixes("0.0.0.0/0", "::/0", "10.1.2.3/24", "127.0.0.0/8", "::1/128", "169.254.0.0/16",
		"fe80::1/64", "224.0.0.0/4", "ff00::/8", "192.168.1.0/24", "2001:db8::5/64")
	want := prefixes("10.1.2.0/24", "192.168.1.0/24", "2001:db8::/64")
	if got := FilterHostPrefixes(in); !slices.Equal(got, want) {
		t.Errorf("FilterHostPrefixes(%v) = %v, want %v", in, got, want)
	}
}

package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// AddressPool is a range from which network subnets of one size are cut,
// as dockerd's --default-address-pool.
type AddressPool struct {
	Base netip.Prefix
	Size int // prefix length of each subnet cut from Base
}

// DefaultAddressPools returns dockerd's default local pools: the /16s from
// 172.17.0.0 to 172.31.0.0, then 192.168.0.0/16 cut into /20s.
func DefaultAddressPools() []AddressPool {
	return []AddressPool{
		{Base: netip.MustParsePrefix("172.17.0.0/16"), Size: 16},
		{Base: netip.MustParsePrefix("172.18.0.0/16"), Size: 16},
		{Base: netip.MustParsePrefix("172.19.0.0/16"), Size: 16},
		{Base: netip.MustParsePrefix("172.20.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("172.24.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("172.28.0.0/14"), Size: 16},
		{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20},
	}
}

// ParseAddressPool parses dockerd's --default-address-pool value, for
// example "base=10.10.0.0/16,size=24".
func ParseAddressPool(s string) (AddressPool, error) {
	var ap AddressPool
	var haveBase, haveSize bool
	for field := range strings.SplitSeq(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return AddressPool{}, configErrorf("invalid field '%s' must be a key=value pair", field)
		}
		switch strings.ToLower(key) {
		case "base":
			p, err := netip.ParsePrefix(val)
			if err != nil {
				return AddressPool{}, configErrorf("invalid base %q in address pool %q", val, s)
			}
			if err := checkCanonical("base", p); err != nil {
				return AddressPool{}, err
			}
			ap.Base, haveBase = p, true
		case "size":
			n, err := strconv.Atoi(val)
			if err != nil {
				return AddressPool{}, configErrorf("invalid size %q in address pool %q", val, s)
			}
			ap.Size, haveSize = n, true
		default:
			return AddressPool{}, configErrorf("unexpected key '%s' in '%s'", key, s)
		}
	}
	if !haveBase || !haveSize {
		return AddressPool{}, configErrorf("address pool %q: both base and size are required", s)
	}
	if ap.Size < ap.Base.Bits() || ap.Size > ap.Base.Addr().BitLen() {
		return AddressPool{}, configErrorf("address pool %q: size %d must be between %d and %d",
			s, ap.Size, ap.Base.Bits(), ap.Base.Addr().BitLen())
	}
	return ap, nil
}

// ErrNoAvailablePool is matched by the error PickSubnet returns when every
// candidate subnet overlaps one in use.
var ErrNoAvailablePool = errors.New("no available address pool")

type noPoolError struct{ family int }

func (e noPoolError) Error() string {
	return fmt.Sprintf("could not find an available, non-overlapping IPv%d address pool among the defaults to assign to the network", e.family)
}

func (e noPoolError) Is(target error) bool { return target == ErrNoAvailablePool }

// PickSubnet returns the first subnet, taking pools in order and each pool
// from its lowest address, that overlaps none of used. used holds the
// subnets of existing networks and the host's routes and addresses; the
// caller drops default routes and the like first (FilterHostPrefixes),
// since 0.0.0.0/0 overlaps everything.
//
// The used prefixes are sorted and merged into disjoint ranges once, so a
// pick costs O(n log n) in their number: the 100th network is picked about
// as fast as the first.
func PickSubnet(pools []AddressPool, used []netip.Prefix) (netip.Prefix, error) {
	var blocked [2][]addrRange // by family: IPv4, IPv6
	for _, u := range used {
		if !u.IsValid() {
			continue
		}
		r := addrRange{u.Masked().Addr(), lastAddr(u)}
		if r.first.Is4() {
			blocked[0] = append(blocked[0], r)
		} else {
			blocked[1] = append(blocked[1], r)
		}
	}
	blocked[0], blocked[1] = mergeRanges(blocked[0]), mergeRanges(blocked[1])
	for _, pool := range pools {
		fam := 0
		if pool.Base.Addr().Is6() {
			fam = 1
		}
		if p, ok := pickFrom(pool, blocked[fam]); ok {
			return p, nil
		}
	}
	family := 4
	if len(pools) > 0 && pools[0].Base.Addr().Is6() {
		family = 6
	}
	return netip.Prefix{}, noPoolError{family: family}
}

// addrRange is the inclusive range of addresses from first to last.
type addrRange struct{ first, last netip.Addr }

// mergeRanges sorts rs and merges overlapping and adjacent ranges, so the
// result is ordered and disjoint.
func mergeRanges(rs []addrRange) []addrRange {
	slices.SortFunc(rs, func(a, b addrRange) int { return a.first.Compare(b.first) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			prev := &out[n-1]
			if next := prev.last.Next(); !next.IsValid() || r.first.Compare(next) <= 0 {
				if prev.last.Less(r.last) {
					prev.last = r.last
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// pickFrom walks the candidates of one pool. When a candidate is blocked it
// jumps past the end of the blocking range, so the walk takes at most
// len(blocked)+1 steps however many candidates the pool has (an IPv6 pool
// can have billions); each step finds its blocker by binary search.
func pickFrom(pool AddressPool, blocked []addrRange) (netip.Prefix, bool) {
	base := pool.Base.Masked()
	if !base.IsValid() || pool.Size < base.Bits() || pool.Size > base.Addr().BitLen() {
		return netip.Prefix{}, false
	}
	c := netip.PrefixFrom(base.Addr(), pool.Size)
	for {
		first, last := c.Addr(), lastAddr(c)
		// The first range that does not end before the candidate starts.
		i, _ := slices.BinarySearchFunc(blocked, first, func(r addrRange, a netip.Addr) int {
			return r.last.Compare(a)
		})
		if i == len(blocked) || last.Less(blocked[i].first) {
			return c, true
		}
		end := last
		if end.Less(blocked[i].last) {
			end = blocked[i].last
		}
		next := end.Next()
		if !next.IsValid() || !base.Contains(next) {
			return netip.Prefix{}, false
		}
		c = netip.PrefixFrom(next, pool.Size).Masked()
	}
}

// Overlaps reports whether a and b share any address. Prefixes of
// different families never overlap; host bits are ignored.
func Overlaps(a, b netip.Prefix) bool {
	if !a.IsValid() || !b.IsValid() {
		return false
	}
	return a.Masked().Overlaps(b.Masked())
}

// FilterHostPrefixes returns the host prefixes that should block a subnet:
// it drops default (/0) routes, loopback, link-local and multicast prefixes,
// which overlap candidates without meaning a clash. The rest are masked.
func FilterHostPrefixes(prefixes []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() || p.Bits() == 0 {
			continue
		}
		a := p.Masked().Addr()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

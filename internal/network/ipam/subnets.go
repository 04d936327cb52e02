package ipam

import (
	"errors"
	"fmt"
	"net/netip"
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
func PickSubnet(pools []AddressPool, used []netip.Prefix) (netip.Prefix, error) {
	for _, pool := range pools {
		if p, ok := pickFrom(pool, used); ok {
			return p, nil
		}
	}
	family := 4
	if len(pools) > 0 && pools[0].Base.Addr().Is6() {
		family = 6
	}
	return netip.Prefix{}, noPoolError{family: family}
}

// pickFrom walks the candidates of one pool. When a candidate is blocked it
// jumps past the end of the blocking prefix, so the walk takes at most
// len(used)+1 steps however many candidates the pool has (an IPv6 pool
// can have billions).
func pickFrom(pool AddressPool, used []netip.Prefix) (netip.Prefix, bool) {
	base := pool.Base.Masked()
	if !base.IsValid() || pool.Size < base.Bits() || pool.Size > base.Addr().BitLen() {
		return netip.Prefix{}, false
	}
	c := netip.PrefixFrom(base.Addr(), pool.Size)
	for {
		blocker, blocked := firstOverlap(c, used)
		if !blocked {
			return c, true
		}
		end := lastAddr(c)
		if be := lastAddr(blocker); end.Less(be) {
			end = be
		}
		next := end.Next()
		if !next.IsValid() || !base.Contains(next) {
			return netip.Prefix{}, false
		}
		c = netip.PrefixFrom(next, pool.Size).Masked()
	}
}

func firstOverlap(c netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if Overlaps(c, u) {
			return u.Masked(), true
		}
	}
	return netip.Prefix{}, false
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

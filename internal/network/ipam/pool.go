// Package ipam allocates addresses inside one subnet and picks subnets for
// new networks. It is pure: no kernel access, no I/O, nothing persisted.
// The daemon rebuilds each Pool at start by reserving the addresses of the
// endpoints it has recorded, so an address can never stay reserved for a
// container that no longer exists.
package ipam

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
)

var (
	// ErrPoolFull means no address in the allocation range is free.
	ErrPoolFull = errors.New("no available addresses on this pool")
	// ErrAddressInUse means the requested address is already taken.
	ErrAddressInUse = errors.New("address already in use")
	// ErrOutOfRange means the requested address is outside the subnet.
	ErrOutOfRange = errors.New("address out of range")
	// ErrInvalidConfig is matched by every error NewPool and
	// ParseAddressPool return for bad input.
	ErrInvalidConfig = errors.New("invalid address pool configuration")
)

// ConfigError reports invalid user input. It matches ErrInvalidConfig and
// carries the InvalidParameter marker the daemon uses to answer HTTP 400.
type ConfigError struct{ msg string }

func (e *ConfigError) Error() string     { return e.msg }
func (e *ConfigError) Unwrap() error     { return ErrInvalidConfig }
func (e *ConfigError) InvalidParameter() {}

func configErrorf(format string, a ...any) error {
	return &ConfigError{msg: fmt.Sprintf(format, a...)}
}

// addrError gives a sentinel a message naming the address.
type addrError struct {
	msg  string
	kind error
}

func (e *addrError) Error() string { return e.msg }
func (e *addrError) Unwrap() error { return e.kind }

// Pool hands out addresses of one subnet. It is safe for concurrent use.
//
// Only taken addresses are stored, in a map, so memory is proportional to
// the number of endpoints whatever the subnet size (an IPv6 /64 included).
type Pool struct {
	subnet  netip.Prefix
	rng     netip.Prefix // where Allocate looks; the subnet unless ip-range given
	first   netip.Addr   // first and last address of rng
	last    netip.Addr
	gateway netip.Addr
	fixed   map[netip.Addr]struct{} // network, broadcast, gateway, aux: never handed out nor released

	mu       sync.Mutex
	used     map[netip.Addr]struct{} // reserved or allocated, anywhere in the subnet
	usedRng  uint64                  // how many of used lie inside rng
	capacity uint64                  // allocatable addresses in rng, saturated at MaxUint64
	cursor   netip.Addr              // last address handed out, for round-robin
}

// NewPool validates the configuration and returns an empty pool.
//
// subnet must be canonical (no host bits). ipRange, if valid, must lie inside
// subnet and limits where Allocate looks; Reserve accepts any address of the
// subnet so static addresses may sit outside the dynamic range. A zero
// gateway means the first usable address of the subnet, as in Docker. The
// IPv4 network and broadcast addresses and the first address of an IPv6
// subnet (the subnet-router anycast address) are never handed out, nor are
// the gateway and aux addresses.
func NewPool(subnet, ipRange netip.Prefix, gateway netip.Addr, aux map[string]netip.Addr) (*Pool, error) {
	if err := checkCanonical("subnet", subnet); err != nil {
		return nil, err
	}
	rng := subnet
	if ipRange != (netip.Prefix{}) {
		if err := checkCanonical("ip-range", ipRange); err != nil {
			return nil, err
		}
		if !contains(subnet, ipRange) {
			return nil, configErrorf("ip-range %s is not in subnet %s", ipRange, subnet)
		}
		rng = ipRange
	}
	p := &Pool{
		subnet: subnet,
		rng:    rng,
		first:  rng.Addr(),
		last:   lastAddr(rng),
		fixed:  make(map[netip.Addr]struct{}),
		used:   make(map[netip.Addr]struct{}),
	}
	for _, a := range p.networkAndBroadcast() {
		p.fixed[a] = struct{}{}
	}
	if gateway.IsValid() {
		if !subnet.Contains(gateway) {
			return nil, configErrorf("gateway %s is not in subnet %s", gateway, subnet)
		}
		p.gateway = gateway
	} else {
		p.gateway = p.firstUsable()
	}
	p.fixed[p.gateway] = struct{}{}
	for name, a := range aux {
		if !subnet.Contains(a) {
			return nil, configErrorf("auxiliary address %s=%s is not in subnet %s", name, a, subnet)
		}
		p.fixed[a] = struct{}{}
	}
	p.capacity = p.rangeSize()
	if p.capacity != math.MaxUint64 {
		for a := range p.fixed {
			if rng.Contains(a) {
				p.capacity--
			}
		}
	}
	p.cursor = p.last
	return p, nil
}

// checkCanonical rejects invalid and non-canonical prefixes with Docker's
// wording, so "172.18.0.1/16" is refused rather than silently masked.
func checkCanonical(what string, p netip.Prefix) error {
	if !p.IsValid() || p.Addr().Is4In6() {
		return configErrorf("invalid %s %s", what, p)
	}
	if m := p.Masked(); m != p {
		return configErrorf("invalid %s %s: it should be %s", what, p, m)
	}
	return nil
}

// contains reports whether inner lies entirely inside outer.
func contains(outer, inner netip.Prefix) bool {
	return inner.Bits() >= outer.Bits() && outer.Contains(inner.Addr())
}

// networkAndBroadcast returns the subnet addresses never handed out. IPv4
// /31 and /32 have none (RFC 3021); IPv6 has no broadcast.
func (p *Pool) networkAndBroadcast() []netip.Addr {
	hostBits := p.subnet.Addr().BitLen() - p.subnet.Bits()
	switch {
	case p.subnet.Addr().Is4() && hostBits >= 2:
		return []netip.Addr{p.subnet.Addr(), lastAddr(p.subnet)}
	case p.subnet.Addr().Is6() && hostBits >= 2:
		return []netip.Addr{p.subnet.Addr()}
	}
	return nil
}

// firstUsable is the default gateway: the first address that is neither
// network nor broadcast.
func (p *Pool) firstUsable() netip.Addr {
	a := p.subnet.Addr()
	if _, reserved := p.fixed[a]; reserved {
		return a.Next()
	}
	return a
}

// rangeSize is the number of addresses in rng, saturated at MaxUint64.
func (p *Pool) rangeSize() uint64 {
	hostBits := p.rng.Addr().BitLen() - p.rng.Bits()
	if hostBits >= 64 {
		return math.MaxUint64
	}
	return 1 << hostBits
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Subnet returns the pool's subnet.
func (p *Pool) Subnet() netip.Prefix { return p.subnet }

// Gateway returns the gateway address, given or defaulted.
func (p *Pool) Gateway() netip.Addr { return p.gateway }

// Allocate returns a free address of the allocation range. It continues
// round-robin after the last address handed out, as Docker does, so an
// address just released is not given to the next container at once.
func (p *Pool) Allocate() (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.usedRng >= p.capacity {
		return netip.Addr{}, fmt.Errorf("subnet %s: %w", p.rng, ErrPoolFull)
	}
	// The capacity check guarantees a free address, so the scan ends.
	a := p.cursor
	for {
		if a == p.last {
			a = p.first
		} else {
			a = a.Next()
		}
		if !p.inUse(a) {
			break
		}
	}
	p.used[a] = struct{}{}
	p.usedRng++
	p.cursor = a
	return a, nil
}

// Reserve takes a specific address: a static --ip, or one recorded for an
// existing endpoint while rebuilding state. It need not be in the ip-range.
func (p *Pool) Reserve(a netip.Addr) error {
	if !p.subnet.Contains(a) {
		return &addrError{
			msg:  fmt.Sprintf("no configured subnet or ip-range contain the IP address %s", a),
			kind: ErrOutOfRange,
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse(a) {
		return &addrError{msg: fmt.Sprintf("address %s already in use", a), kind: ErrAddressInUse}
	}
	p.used[a] = struct{}{}
	if p.rng.Contains(a) {
		p.usedRng++
	}
	return nil
}

// Release frees an address taken by Allocate or Reserve. Releasing a free,
// foreign, gateway or aux address does nothing.
func (p *Pool) Release(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.used[a]; !ok {
		return
	}
	delete(p.used, a)
	if p.rng.Contains(a) {
		p.usedRng--
	}
}

// InUse reports whether a is taken or can never be handed out (network,
// broadcast, gateway, aux).
func (p *Pool) InUse(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse(a)
}

func (p *Pool) inUse(a netip.Addr) bool {
	if _, ok := p.fixed[a]; ok {
		return true
	}
	_, ok := p.used[a]
	return ok
}

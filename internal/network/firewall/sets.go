package firewall

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
)

// Named sets and maps of berth's table. Elements of the per-network sets
// carry the network ID as their comment, so DelNetwork(id) can find them
// after a daemon restart without any state outside the kernel.
const (
	setBridges    = "bridges"     // ifname: every berth bridge
	setSameBridge = "same_bridge" // ifname . ifname: "br . br" for every bridge
	setInternal   = "internal"    // ifname: bridges of internal networks
	setNoICC      = "no_icc"      // ifname: bridges without inter-container traffic
	setMasq4      = "masq4"       // ipv4 prefixes to masquerade
	setMasq6      = "masq6"       // ipv6 prefixes to masquerade
	setSubnets4   = "subnets4"    // ipv4 prefix . bridge, for every network
	setSubnets6   = "subnets6"    // ipv6 prefix . bridge, for every network

	// DNAT maps, see dnatMaps.
)

type setSpec struct {
	name     string
	key      []nftables.SetDatatype
	data     []nftables.SetDatatype // nil for a plain set
	interval bool
}

func setSpecs() []setSpec {
	ifn := nftables.TypeIFName
	v4, v6 := nftables.TypeIPAddr, nftables.TypeIP6Addr
	proto, port := nftables.TypeInetProto, nftables.TypeInetService
	specs := []setSpec{
		{name: setBridges, key: types(ifn)},
		{name: setSameBridge, key: types(ifn, ifn)},
		{name: setInternal, key: types(ifn)},
		{name: setNoICC, key: types(ifn)},
		{name: setMasq4, key: types(v4), interval: true},
		{name: setMasq6, key: types(v6), interval: true},
		{name: setSubnets4, key: types(v4, ifn), interval: true},
		{name: setSubnets6, key: types(v6, ifn), interval: true},
	}
	for _, m := range dnatMaps() {
		addr := v4
		if !m.v4 {
			addr = v6
		}
		sp := setSpec{name: m.name, key: types(addr, proto, port), data: types(addr, port), interval: m.ranges}
		if m.anyHost {
			sp.key = types(proto, port)
		}
		if m.keepPort {
			sp.data = types(addr)
		}
		specs = append(specs, sp)
	}
	return specs
}

func types(t ...nftables.SetDatatype) []nftables.SetDatatype { return t }

func concat(t []nftables.SetDatatype) (nftables.SetDatatype, error) {
	if len(t) == 1 {
		return t[0], nil
	}
	return nftables.ConcatSetType(t...)
}

// set returns a fresh handle for a named set of berth's table. Handles are
// not shared because the library assigns batch IDs to them.
func (f *Firewall) set(name string) (*nftables.Set, error) {
	for _, sp := range setSpecs() {
		if sp.name == name {
			return f.newSet(sp)
		}
	}
	return nil, fmt.Errorf("unknown set %q", name)
}

func (f *Firewall) newSet(sp setSpec) (*nftables.Set, error) {
	key, err := concat(sp.key)
	if err != nil {
		return nil, fmt.Errorf("set %s key type: %w", sp.name, err)
	}
	s := &nftables.Set{
		Table:         f.table,
		Name:          sp.name,
		KeyType:       key,
		Interval:      sp.interval,
		Concatenation: len(sp.key) > 1,
	}
	if len(sp.key) == 1 && sp.key[0].Name == nftables.TypeIFName.Name {
		// nft prints strings in host byte order; without this hint the
		// listing shows every interface name as "".
		s.KeyByteOrder = binaryutil.NativeEndian
	}
	if sp.data != nil {
		data, err := concat(sp.data)
		if err != nil {
			return nil, fmt.Errorf("set %s data type: %w", sp.name, err)
		}
		s.IsMap, s.DataType = true, data
	}
	return s, nil
}

// anonSet queues a constant anonymous set for use by the next rule.
func anonSet(c *nftables.Conn, t *nftables.Table, key nftables.SetDatatype, keys ...[]byte) (*nftables.Set, error) {
	s := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: key}
	elems := make([]nftables.SetElement, len(keys))
	for i, k := range keys {
		elems[i] = nftables.SetElement{Key: k}
	}
	if err := c.AddSet(s, elems); err != nil {
		return nil, fmt.Errorf("anonymous set: %w", err)
	}
	return s, nil
}

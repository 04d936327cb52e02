package firewall

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// PortMapping publishes host ports of one protocol on a container.
//
// Host ranges become a single map element whatever their size:
//   - HostPort == HostPortEnd: HostPort goes to ContainerPort;
//   - a range with ContainerPort == HostPort: each host port goes to the
//     same port of the container (-p 20000-20999:20000-20999);
//   - a range with ContainerPort != HostPort: every host port in the range
//     goes to ContainerPort.
//
// A range shifted to a different container range (8000-8009:9000-9009)
// cannot be one element, because nftables has no port-offset DNAT; publish
// it as one mapping per port.
type PortMapping struct {
	Proto         string     // "tcp", "udp", "sctp"
	HostIP        netip.Addr // zero or unspecified: every local address of ContainerIP's family
	HostPort      uint16
	HostPortEnd   uint16 // == HostPort (or 0) for a single port; range inclusive
	ContainerIP   netip.Addr
	ContainerPort uint16
	Bridge        string // bridge of the container's network (informational)
}

func (m PortMapping) String() string {
	host := "*"
	if m.HostIP.IsValid() {
		host = m.HostIP.String()
	}
	ports := fmt.Sprint(m.HostPort)
	if m.HostPortEnd > m.HostPort {
		ports = fmt.Sprintf("%d-%d", m.HostPort, m.HostPortEnd)
	}
	return fmt.Sprintf("%s/%s:%s->%s", m.Proto, host, ports,
		netip.AddrPortFrom(m.ContainerIP, m.ContainerPort))
}

// portElem is a mapping encoded for one of the DNAT maps.
type portElem struct {
	set  string
	elem nftables.SetElement
}

func protoNumber(p string) (byte, error) {
	switch p {
	case "tcp":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "sctp":
		return unix.IPPROTO_SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", p)
}

// encode validates m and builds its map element. Key fields are padded to
// 4 bytes as the kernel lays out concatenations; intervals are inclusive.
func (m PortMapping) encode() (portElem, error) {
	proto, err := protoNumber(m.Proto)
	if err != nil {
		return portElem{}, err
	}
	end := m.HostPortEnd
	if end == 0 {
		end = m.HostPort
	}
	switch {
	case m.HostPort == 0:
		return portElem{}, errors.New("host port is zero")
	case end < m.HostPort:
		return portElem{}, fmt.Errorf("host port range %d-%d is reversed", m.HostPort, end)
	case m.ContainerPort == 0:
		return portElem{}, errors.New("container port is zero")
	case !m.ContainerIP.IsValid():
		return portElem{}, errors.New("container address is missing")
	}
	cip := m.ContainerIP.Unmap()
	lo, hi, err := hostRange(m.HostIP, cip)
	if err != nil {
		return portElem{}, err
	}
	ranged := end > m.HostPort
	anyHost := !bytes.Equal(lo, hi)
	dm := pickMap(cip.Is4(), anyHost, ranged, ranged && m.ContainerPort == m.HostPort)
	val := cip.AsSlice()
	if !dm.keepPort {
		val = append(val, port4(m.ContainerPort)...)
	}
	e := nftables.SetElement{Key: concatKey(lo, proto, m.HostPort), Val: val}
	switch {
	case dm.ranges:
		e.KeyEnd = concatKey(hi, proto, end)
	case dm.anyHost:
		e.Key = concatKey(nil, proto, m.HostPort)
	}
	return portElem{set: dm.name, elem: e}, nil
}

// hostRange gives the host address interval a mapping listens on.
func hostRange(host, container netip.Addr) (lo, hi []byte, err error) {
	host = host.Unmap()
	if !host.IsValid() || host.IsUnspecified() {
		if host.IsValid() && host.Is4() != container.Is4() {
			return nil, nil, fmt.Errorf("host address %s and container address %s differ in family", host, container)
		}
		n := container.BitLen() / 8
		lo, hi = make([]byte, n), make([]byte, n)
		for i := range hi {
			hi[i] = 0xff
		}
		return lo, hi, nil
	}
	if host.Is4() != container.Is4() {
		return nil, nil, fmt.Errorf("host address %s and container address %s differ in family", host, container)
	}
	return host.AsSlice(), host.AsSlice(), nil
}

// dnatMap describes one DNAT map. Single ports live in hash maps, so
// adding one costs the same however many exist; only ranges, one element
// each, go to interval maps (whose kernel updates grow with their size).
type dnatMap struct {
	name     string
	v4       bool
	anyHost  bool // keyed on protocol . port only; matched for any local address
	ranges   bool // interval map of host ranges; "any address" is 0.0.0.0/0 or ::/0
	keepPort bool // value is the container address only, the port is kept
}

// dnatMaps lists the maps in the order the ports chain consults them.
func dnatMaps() []dnatMap {
	var out []dnatMap
	for _, v4 := range []bool{true, false} {
		f := "6"
		if v4 {
			f = "4"
		}
		out = append(out,
			dnatMap{name: "dnat" + f, v4: v4},
			dnatMap{name: "dnat" + f + "_any", v4: v4, anyHost: true},
			dnatMap{name: "dnat" + f + "_range", v4: v4, ranges: true},
			dnatMap{name: "dnat" + f + "_keepport", v4: v4, ranges: true, keepPort: true},
		)
	}
	return out
}

func pickMap(v4, anyHost, ranged, keep bool) dnatMap {
	for _, m := range dnatMaps() {
		if m.v4 == v4 && m.ranges == ranged && m.keepPort == keep && (ranged || m.anyHost == anyHost) {
			return m
		}
	}
	panic("firewall: no DNAT map for mapping shape")
}

func port4(p uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, p)
	return b
}

func concatKey(addr []byte, proto byte, port uint16) []byte {
	k := append([]byte{}, addr...)
	k = append(k, proto, 0, 0, 0)
	return append(k, port4(port)...)
}

// encodeAll groups the elements of ms by map.
func encodeAll(ms []PortMapping) (map[string][]nftables.SetElement, error) {
	out := make(map[string][]nftables.SetElement)
	for _, m := range ms {
		pe, err := m.encode()
		if err != nil {
			return nil, fmt.Errorf("port mapping %s: %w", m, err)
		}
		out[pe.set] = append(out[pe.set], pe.elem)
	}
	return out, nil
}

// AddPorts publishes all mappings in one transaction. Re-adding an existing
// mapping is a no-op; a mapping that overlaps a different one fails the
// whole call. The cost does not depend on how many mappings exist.
func (f *Firewall) AddPorts(ctx context.Context, ms []PortMapping) error {
	return f.changePorts(ctx, ms, false)
}

// DelPorts removes mappings in one transaction; missing ones are ignored.
func (f *Firewall) DelPorts(ctx context.Context, ms []PortMapping) error {
	return f.changePorts(ctx, ms, true)
}

func (f *Firewall) changePorts(ctx context.Context, ms []PortMapping, del bool) error {
	what := "add ports"
	if del {
		what = "delete ports"
	}
	byMap, err := encodeAll(ms)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(byMap) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for name, elems := range byMap {
		s, err := f.set(name)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		// Deleting a missing element fails the transaction, so deletes are
		// preceded by an add of the same element: a no-op when it exists,
		// and an element the delete then removes again when it does not.
		if err := queueElems(c, s, elems, false); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if del {
			if err := queueElems(c, s, elems, true); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	err = f.commit(ctx, c, what)
	if err != nil && del && errors.Is(err, unix.ENOENT) {
		// Without the table there is nothing to delete.
		if ok, terr := f.tableExists(c); terr == nil && !ok {
			return nil
		}
	}
	if err == nil {
		f.log.Debug(what, "mappings", len(ms))
	}
	return err
}

// SyncPorts makes the DNAT maps hold exactly the mappings ms, in one
// transaction: missing elements are added, and every other element is
// removed, such as one left by a crash between installing a mapping and
// recording it, which would otherwise send a host port to whatever
// container gets that address next. The daemon calls it at start-up with
// the mappings of the containers that still run.
func (f *Firewall) SyncPorts(ctx context.Context, ms []PortMapping) error {
	want, err := encodeAll(ms)
	if err != nil {
		return fmt.Errorf("sync ports: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("sync ports: %w", err)
	}
	var added, removed int
	for _, dm := range dnatMaps() {
		s, err := f.set(dm.name)
		if err != nil {
			return fmt.Errorf("sync ports: %w", err)
		}
		have, err := c.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("sync ports: list map %s: %w", dm.name, err)
		}
		del, add := diffPortElems(have, want[dm.name])
		if err := queueElems(c, s, del, true); err != nil {
			return fmt.Errorf("sync ports: %w", err)
		}
		if err := queueElems(c, s, add, false); err != nil {
			return fmt.Errorf("sync ports: %w", err)
		}
		added, removed = added+len(add), removed+len(del)
	}
	if added+removed == 0 {
		return ctx.Err()
	}
	if err := f.commit(ctx, c, "sync ports"); err != nil {
		return err
	}
	if removed > 0 {
		f.log.Info("removed stale port mappings", "count", removed)
	}
	f.log.Debug("sync ports", "added", added, "removed", removed)
	return nil
}

// diffPortElems returns the elements of have that want lacks (to delete,
// by key) and those of want that have lacks (to add). An element whose key
// is wanted with another value is deleted and added again.
func diffPortElems(have, want []nftables.SetElement) (del, add []nftables.SetElement) {
	ident := func(e nftables.SetElement) string {
		return string(e.Key) + "\x00" + string(e.KeyEnd) + "\x00" + string(e.Val)
	}
	wanted := make(map[string]bool, len(want))
	for _, e := range want {
		wanted[ident(e)] = true
	}
	kept := make(map[string]bool, len(have))
	for _, e := range have {
		if e.IntervalEnd {
			continue
		}
		if id := ident(e); wanted[id] {
			kept[id] = true
			continue
		}
		del = append(del, nftables.SetElement{Key: e.Key, KeyEnd: e.KeyEnd})
	}
	for _, e := range want {
		if !kept[ident(e)] {
			add = append(add, e)
			kept[ident(e)] = true
		}
	}
	return del, add
}

// portRules DNAT through the maps: one rule per map, never one per port.
//
//	meta l4proto { tcp, udp, sctp } dnat ip to ip daddr . meta l4proto . th dport map @dnat4
func (f *Firewall) portRules(c *nftables.Conn, add ruleAdder, s map[string]*nftables.Set) error {
	for _, m := range dnatMaps() {
		// nft refuses to parse a port mapping without a transport protocol
		// match, so the rule carries one to keep `nft -f` round trips working.
		protos, err := anonSet(c, f.table, nftables.TypeInetProto,
			[]byte{unix.IPPROTO_TCP}, []byte{unix.IPPROTO_UDP}, []byte{unix.IPPROTO_SCTP})
		if err != nil {
			return fmt.Errorf("port rules: %w", err)
		}
		add(chainPorts, rule(
			one(meta(expr.MetaKeyL4PROTO, reg1), lookup(reg1, protos, false)),
			dnatLookup(s[m.name], m),
		))
	}
	return nil
}

// dnatLookup builds the map key the way nft lays out concatenations:
// each field starts on a 4-byte register, so an IPv6 address fills
// register 1 and the protocol and port follow in register 2.
func dnatLookup(s *nftables.Set, m dnatMap) []expr.Any {
	family, addrOff, addrLen := uint32(unix.NFPROTO_IPV4), uint32(16), uint32(4)
	protoReg, portReg, dataPortReg := uint32(reg1w1), uint32(reg1w2), uint32(reg1w1)
	if !m.v4 {
		family, addrOff, addrLen = unix.NFPROTO_IPV6, 24, 16
		protoReg, portReg, dataPortReg = reg2, reg2w1, reg2
	}
	key := []expr.Any{ipField(addrOff, addrLen, reg1), meta(expr.MetaKeyL4PROTO, protoReg), thDport(portReg)}
	if m.anyHost {
		key = []expr.Any{meta(expr.MetaKeyL4PROTO, reg1), thDport(reg1w1)}
	}
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: family, RegAddrMin: reg1}
	if !m.keepPort {
		nat.RegProtoMin = dataPortReg
	}
	return rule(nfproto(byte(family)), key, one(
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: s.Name, SetID: s.ID},
		nat,
	))
}

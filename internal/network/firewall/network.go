package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Network is a berth bridge network as the firewall sees it.
type Network struct {
	ID         string         // short id, <= 12 chars; tags the network's elements
	Bridge     string         // bridge device name
	Subnets    []netip.Prefix // v4 and/or v6 subnets of the bridge
	Internal   bool           // no traffic to or from outside the bridge, no masquerade
	ICC        bool           // inter-container traffic on the bridge allowed
	Masquerade bool           // masquerade Subnets leaving through another interface
}

// networkSets are the sets a network has elements in.
func networkSets() []string {
	return []string{setBridges, setSameBridge, setInternal, setNoICC, setMasq4, setMasq6, setSubnets4, setSubnets6}
}

func (n Network) validate() error {
	if n.ID == "" || len(n.ID) > 64 || strings.ContainsRune(n.ID, 0) {
		return fmt.Errorf("invalid network id %q", n.ID)
	}
	if err := validIfname(n.Bridge); err != nil {
		return err
	}
	for _, p := range n.Subnets {
		if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return fmt.Errorf("invalid subnet %s", p)
		}
	}
	return nil
}

// validIfname applies the kernel's rules for device names; the name also
// ends up in /proc/sys paths and iptables arguments.
func validIfname(name string) error {
	if name == "" || len(name) >= 16 || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n\x00") {
		return fmt.Errorf("invalid interface name %q", name)
	}
	return nil
}

// elements returns the elements n needs, by set.
func (n Network) elements() map[string][]elem {
	br := ifname(n.Bridge)
	tag := func(key []byte) elem { return elem{key: key, comment: n.ID} }
	want := map[string][]elem{
		setBridges:    {tag(br)},
		setSameBridge: {tag(append(append([]byte{}, br...), br...))},
	}
	if n.Internal {
		want[setInternal] = []elem{tag(br)}
	}
	if !n.ICC {
		want[setNoICC] = []elem{tag(br)}
	}
	masq := n.Masquerade && !n.Internal
	for _, p := range n.Subnets {
		masqSet, subnetSet := setMasq4, setSubnets4
		if !p.Addr().Is4() {
			masqSet, subnetSet = setMasq6, setSubnets6
		}
		if masq {
			start, end := prefixBounds(p)
			want[masqSet] = append(want[masqSet], elem{key: start, end: end, kind: intervalElem, comment: n.ID})
		}
		first, last := prefixFirstLast(p)
		want[subnetSet] = append(want[subnetSet], elem{
			key: append(first, br...), end: append(last, br...), kind: concatElem, comment: n.ID,
		})
	}
	return want
}

// AddNetwork adds n's bridge and subnets to the sets, replacing whatever an
// earlier AddNetwork with the same ID put there. Repeating it is a no-op.
func (f *Firewall) AddNetwork(ctx context.Context, n Network) error {
	if err := n.validate(); err != nil {
		return fmt.Errorf("add network %s: %w", n.ID, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncNetwork(ctx, n.ID, n.elements(), "add network "+n.ID)
}

// DelNetwork removes the elements of network id; a missing network (or
// table) is not an error. Port mappings are removed by DelPorts.
func (f *Firewall) DelNetwork(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("delete network: empty id")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncNetwork(ctx, id, nil, "delete network "+id)
}

// syncNetwork makes the elements tagged id equal want, in one transaction.
func (f *Firewall) syncNetwork(ctx context.Context, id string, want map[string][]elem, what string) error {
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ok, err := f.tableExists(c)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !ok {
		if want == nil {
			return nil
		}
		return fmt.Errorf("%s: table inet %s does not exist, call Init first", what, f.table.Name)
	}
	changed := false
	next := map[string][]elem{}
	for _, name := range networkSets() {
		s, err := f.set(name)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		have, cached := f.netElems[name]
		if !cached {
			if have, err = readElems(c, s); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		del, add := diffElems(have, want[name], id)
		next[name] = applyDiff(have, del, add)
		if len(del) > 0 {
			changed = true
			if err := queueElems(c, s, kernelElems(del), true); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if len(add) > 0 {
			changed = true
			if err := queueElems(c, s, kernelElems(add), false); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	if !changed {
		f.netElems = next
		return ctx.Err()
	}
	if err := f.commit(ctx, c, what); err != nil {
		f.netElems = nil
		return err
	}
	f.netElems = next
	f.log.Debug(what)
	return nil
}

// applyDiff returns have without del and with add.
func applyDiff(have, del, add []elem) []elem {
	gone := make(map[string]bool, len(del))
	for _, d := range del {
		gone[d.ident()+"\x00"+d.comment] = true
	}
	out := make([]elem, 0, len(have)+len(add))
	for _, h := range have {
		if !gone[h.ident()+"\x00"+h.comment] {
			out = append(out, h)
		}
	}
	return append(out, add...)
}

// diffElems returns what to delete and add so that the elements tagged id
// become want. An element of want held under another tag is taken over:
// deleted and re-added in the same transaction.
func diffElems(have, want []elem, id string) (del, add []elem) {
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w.ident()] = true
	}
	mine := make(map[string]bool)
	for _, h := range have {
		switch {
		case h.comment == id && wanted[h.ident()]:
			mine[h.ident()] = true
		case h.comment == id || wanted[h.ident()]:
			del = append(del, h)
		}
	}
	for _, w := range want {
		if !mine[w.ident()] {
			add = append(add, w)
		}
	}
	return del, add
}

// prefixBounds returns the first address of p and the first address after
// it (nil when p reaches the end of the address space), the form interval
// sets store.
func prefixBounds(p netip.Prefix) (start, end []byte) {
	first, last := prefixFirstLast(p)
	next, _ := netip.AddrFromSlice(last)
	if next = next.Next(); !next.IsValid() {
		return first, nil
	}
	return first, next.AsSlice()
}

// prefixFirstLast returns the first and last address of p.
func prefixFirstLast(p netip.Prefix) (first, last []byte) {
	p = p.Masked()
	last = p.Addr().AsSlice()
	for bit := p.Bits(); bit < len(last)*8; bit++ {
		last[bit/8] |= 0x80 >> (bit % 8)
	}
	return p.Addr().AsSlice(), last
}

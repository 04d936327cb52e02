package dns

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
)

// Endpoint is a container's presence on one network.
type Endpoint struct {
	ContainerID string // full ID; its 12-character short ID also resolves
	Name        string // container name without the leading "/"
	// Aliases are further names, such as --network-alias values and compose
	// service names. Several containers may share one; a query then gets
	// the addresses of all of them, in rotating order.
	Aliases    []string
	IPv4, IPv6 netip.Addr
}

// shortIDLen is the length of the short container ID that also resolves.
// The full 64-character ID cannot: DNS labels are at most 63 bytes.
const shortIDLen = 12

// record is an Endpoint as indexed on one network. It is immutable once
// indexed; replacing an endpoint swaps the whole record.
type record struct {
	net         *netState
	containerID string
	ipv4, ipv6  netip.Addr
	keys        []string // lower-case names without trailing dot
	ptr         []byte   // wire-format PTR target; nil if Name cannot be one
}

// netState is one network's index. Its fields are guarded by Server.mu.
type netState struct {
	id        string
	added     bool // AddNetwork succeeded; false for networks known only from endpoints
	adding    bool // AddNetwork is binding sockets; keeps the state from being dropped
	internal  bool
	listeners []*listener
	eps       map[string]*record   // container ID -> record
	names     map[string][]*record // key -> records, in registration order
	addrs     map[netip.Addr]*record
}

func newNetState(id string) *netState {
	return &netState{
		id:    id,
		eps:   make(map[string]*record),
		names: make(map[string][]*record),
		addrs: make(map[netip.Addr]*record),
	}
}

// canForward reports whether members of this network may reach external
// names through the resolver.
func (n *netState) canForward() bool { return n.added && !n.internal }

func newRecord(n *netState, ep Endpoint) *record {
	r := &record{net: n, containerID: ep.ContainerID}
	if a := ep.IPv4.Unmap(); a.Is4() && !a.IsUnspecified() {
		r.ipv4 = a
	}
	if a := ep.IPv6; a.Is6() && !a.Is4In6() && !a.IsUnspecified() {
		r.ipv6 = a.WithZone("")
	}
	name := normalizeName(ep.Name)
	r.ptr, _ = encodeName(name)
	keys := []string{name}
	if len(ep.ContainerID) >= shortIDLen {
		keys = append(keys, strings.ToLower(ep.ContainerID[:shortIDLen]))
	}
	for _, a := range ep.Aliases {
		keys = append(keys, normalizeName(a))
	}
	for _, k := range keys {
		if k != "" && !slices.Contains(r.keys, k) {
			r.keys = append(r.keys, k)
		}
	}
	return r
}

func normalizeName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "/"), "."))
}

// SetEndpoint adds or replaces the container's record on network id. It
// takes effect for the next query. A network not yet added is created
// without listeners, so that its names resolve for containers that are also
// on networks that have them.
func (s *Server) SetEndpoint(id string, ep Endpoint) {
	if id == "" || ep.ContainerID == "" {
		s.log.Warn("dns: ignoring endpoint without network or container ID",
			"network", id, "container", ep.ContainerID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nets[id]
	if n == nil {
		n = newNetState(id)
		s.nets[id] = n
	}
	if old := n.eps[ep.ContainerID]; old != nil {
		s.unindexLocked(old)
	}
	s.indexLocked(newRecord(n, ep))
}

// DelEndpoint removes the container's record from network id.
func (s *Server) DelEndpoint(id, containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nets[id]
	if n == nil {
		return
	}
	if r := n.eps[containerID]; r != nil {
		s.unindexLocked(r)
	}
	if !n.added && !n.adding && len(n.eps) == 0 {
		delete(s.nets, id)
	}
}

func (s *Server) indexLocked(r *record) {
	n := r.net
	n.eps[r.containerID] = r
	for _, k := range r.keys {
		n.names[k] = append(n.names[k], r)
	}
	for _, a := range [2]netip.Addr{r.ipv4, r.ipv6} {
		if a.IsValid() {
			n.addrs[a] = r
			s.byAddr[a] = append(s.byAddr[a], r)
		}
	}
	nets := s.memberOf[r.containerID]
	if i, found := slices.BinarySearchFunc(nets, n.id, cmpNetID); !found {
		s.memberOf[r.containerID] = slices.Insert(nets, i, n)
	}
}

func (s *Server) unindexLocked(r *record) {
	n := r.net
	delete(n.eps, r.containerID)
	for _, k := range r.keys {
		if rs := deleteRecord(n.names[k], r); len(rs) > 0 {
			n.names[k] = rs
		} else {
			delete(n.names, k)
		}
	}
	for _, a := range [2]netip.Addr{r.ipv4, r.ipv6} {
		if !a.IsValid() {
			continue
		}
		if n.addrs[a] == r {
			delete(n.addrs, a)
		}
		if rs := deleteRecord(s.byAddr[a], r); len(rs) > 0 {
			s.byAddr[a] = rs
		} else {
			delete(s.byAddr, a)
		}
	}
	nets := slices.DeleteFunc(s.memberOf[r.containerID], func(m *netState) bool { return m == n })
	if len(nets) > 0 {
		s.memberOf[r.containerID] = nets
	} else {
		delete(s.memberOf, r.containerID)
	}
}

func cmpNetID(n *netState, id string) int { return strings.Compare(n.id, id) }

// deleteRecord removes r in place; readers hold the read lock, so they never
// see the slice mid-change.
func deleteRecord(rs []*record, r *record) []*record {
	if i := slices.Index(rs, r); i >= 0 {
		return slices.Delete(rs, i, i+1)
	}
	return rs
}

// scope is the set of networks whose names a query may see.
type scope struct {
	primary *netState   // searched first; nil if none
	members []*netState // the asker's networks, by ID
	forward bool        // external names may be forwarded
}

// scopeLocked identifies the asker by source address. A container sees its
// own networks, preferring the one it asked on. An address that belongs to
// no container (the host, say) sees the listening network. An address that
// several containers claim on different networks sees no names, since the
// asker cannot be told apart.
func (s *Server) scopeLocked(l *netState, src netip.Addr) scope {
	cid := ""
	if r := l.addrs[src]; r != nil {
		cid = r.containerID
	} else if rs := s.byAddr[src]; len(rs) > 0 {
		cid = rs[0].containerID
		for _, r := range rs[1:] {
			if r.containerID != cid {
				return scope{forward: l.canForward()}
			}
		}
	} else {
		return scope{primary: l, forward: l.canForward()}
	}
	sc := scope{members: s.memberOf[cid]}
	for _, n := range sc.members {
		if n == l {
			sc.primary = l
		}
		sc.forward = sc.forward || n.canForward()
	}
	return sc
}

// lookupName returns the records for key from the first network in scope
// that has the name, so that A and AAAA answers come from the same network.
func (sc *scope) lookupName(key []byte) ([]*record, bool) {
	if sc.primary != nil {
		if rs, ok := sc.primary.names[string(key)]; ok {
			return rs, true
		}
	}
	for _, n := range sc.members {
		if n == sc.primary {
			continue
		}
		if rs, ok := n.names[string(key)]; ok {
			return rs, true
		}
	}
	return nil, false
}

func (sc *scope) lookupAddr(a netip.Addr) *record {
	if sc.primary != nil {
		if r := sc.primary.addrs[a]; r != nil {
			return r
		}
	}
	for _, n := range sc.members {
		if n == sc.primary {
			continue
		}
		if r := n.addrs[a]; r != nil {
			return r
		}
	}
	return nil
}

// answerLocal encodes the answer when q is for a local name or address.
// It reports false when q must be forwarded or refused instead.
func (sc *scope) answerLocal(r *reply, q *query) bool {
	if q.odd || (q.qclass != classIN && q.qclass != classANY) {
		return false
	}
	wantA := q.qtype == typeA || q.qtype == typeANY
	want6 := q.qtype == typeAAAA || q.qtype == typeANY
	if rs, ok := sc.lookupName(q.name); ok {
		start := 0
		if len(rs) > 1 {
			start = rand.IntN(len(rs))
		}
		for i := range rs {
			rec := rs[(start+i)%len(rs)]
			if wantA && rec.ipv4.IsValid() {
				r.addAddr(rec.ipv4)
			}
			if want6 && rec.ipv6.IsValid() {
				r.addAddr(rec.ipv6)
			}
		}
		return true
	}
	a, ok := parseReverse(q.name)
	if !ok {
		return false
	}
	rec := sc.lookupAddr(a)
	if rec == nil {
		return false
	}
	if (q.qtype == typePTR || q.qtype == typeANY) && rec.ptr != nil {
		r.addPTR(rec.ptr)
	}
	return true
}

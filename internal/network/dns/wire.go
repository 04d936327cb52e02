package dns

import (
	"encoding/binary"
	"net/netip"
)

// Wire-format constants (RFC 1035, RFC 3596, RFC 6891). The local answer path
// reads and writes DNS messages directly so that a query for a container name
// costs no heap allocation.
const (
	headerLen  = 12
	maxNameLen = 255
	maxLabel   = 63

	typeA    uint16 = 1
	typePTR  uint16 = 12
	typeAAAA uint16 = 28
	typeOPT  uint16 = 41
	typeANY  uint16 = 255

	classIN  uint16 = 1
	classANY uint16 = 255

	rcodeSuccess  = 0
	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNXDomain = 3
	rcodeNotImp   = 4
	rcodeBadVers  = 16

	flagQR uint16 = 1 << 15
	flagAA uint16 = 1 << 10
	flagTC uint16 = 1 << 9
	flagRD uint16 = 1 << 8
	flagRA uint16 = 1 << 7
	flagCD uint16 = 1 << 4
	// opcodeMask selects the opcode bits that a reply echoes.
	opcodeMask uint16 = 0xf << 11

	// localTTL matches Docker's embedded resolver.
	localTTL = 600
	// ednsSize is the UDP payload size this server advertises; 1232 avoids
	// IP fragmentation on any sane path (DNS flag day 2020).
	ednsSize = 1232
	// maxUDPReply caps replies to clients that advertise very large buffers.
	maxUDPReply = 4096
	// optLen is the size of the OPT record appended to EDNS replies.
	optLen = 11
	// ptrToQuestion is a compression pointer to the question name at offset 12.
	ptrToQuestion uint16 = 0xc000 | headerLen
)

// query is a parsed client query. question aliases the request buffer and
// name aliases a caller-provided scratch buffer.
type query struct {
	id       uint16
	flags    uint16
	question []byte // raw question section: name, type, class
	name     []byte // lower-cased, dot-separated, no trailing dot
	qtype    uint16
	qclass   uint16
	odd      bool // a label contains '.', so the name cannot be a local one
	edns     bool
	ednsVer  uint8
	do       bool
	udpSize  uint16
}

// udpLimit is the largest UDP reply the client accepts.
func (q *query) udpLimit() int {
	if !q.edns || q.udpSize <= 512 {
		return 512
	}
	return min(int(q.udpSize), maxUDPReply)
}

// parseQuery decodes a query. drop reports packets that must get no reply
// (truncated headers and responses, which could otherwise cause loops);
// a non-zero rcode reports a query to be refused with that code.
func parseQuery(msg []byte, nameBuf *[maxNameLen]byte) (q query, rcode int, drop bool) {
	if len(msg) < headerLen {
		return q, 0, true
	}
	q.id = binary.BigEndian.Uint16(msg)
	q.flags = binary.BigEndian.Uint16(msg[2:])
	if q.flags&flagQR != 0 {
		return q, 0, true
	}
	if q.flags&opcodeMask != 0 {
		return q, rcodeNotImp, false
	}
	if binary.BigEndian.Uint16(msg[4:]) != 1 {
		return q, rcodeFormErr, false
	}
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	ar := int(binary.BigEndian.Uint16(msg[10:]))

	name, off, odd, ok := readQName(msg, headerLen, nameBuf)
	if !ok || off+4 > len(msg) {
		return q, rcodeFormErr, false
	}
	q.name, q.odd = name, odd
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	q.qclass = binary.BigEndian.Uint16(msg[off+2:])
	off += 4
	q.question = msg[headerLen:off]

	for range an + ns {
		if off, ok = skipRR(msg, off); !ok {
			return q, rcodeFormErr, false
		}
	}
	for range ar {
		if off, ok = q.readAdditional(msg, off); !ok {
			return q, rcodeFormErr, false
		}
	}
	return q, 0, false
}

// readAdditional skips one additional record, recording it if it is the OPT
// pseudo-record.
func (q *query) readAdditional(msg []byte, off int) (int, bool) {
	root := off < len(msg) && msg[off] == 0
	end, ok := skipName(msg, off)
	if !ok || end+10 > len(msg) {
		return 0, false
	}
	if binary.BigEndian.Uint16(msg[end:]) == typeOPT {
		if !root || q.edns {
			return 0, false
		}
		ttl := binary.BigEndian.Uint32(msg[end+4:])
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(msg[end+2:])
		q.ednsVer = uint8(ttl >> 16)
		q.do = ttl&0x8000 != 0
	}
	next := end + 10 + int(binary.BigEndian.Uint16(msg[end+8:]))
	return next, next <= len(msg)
}

// readQName reads the question name, which can never be compressed (a pointer
// at offset 12 could only point into the header). It returns the name
// lower-cased in presentation form without the trailing dot.
func readQName(msg []byte, off int, buf *[maxNameLen]byte) (name []byte, end int, odd, ok bool) {
	n, wire := 0, 0
	for {
		if off >= len(msg) {
			return nil, 0, false, false
		}
		l := int(msg[off])
		off++
		wire += l + 1
		if l == 0 {
			return buf[:n], off, odd, wire <= maxNameLen
		}
		if l > maxLabel || off+l > len(msg) || wire > maxNameLen {
			return nil, 0, false, false
		}
		if n > 0 {
			buf[n] = '.'
			n++
		}
		for _, c := range msg[off : off+l] {
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			case c == '.':
				odd = true
			}
			buf[n] = c
			n++
		}
		off += l
	}
}

// skipName returns the offset just past a possibly compressed name.
func skipName(msg []byte, off int) (int, bool) {
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(msg)
		case l > maxLabel:
			return 0, false
		}
		off += l + 1
	}
}

// skipRR returns the offset just past one resource record.
func skipRR(msg []byte, off int) (int, bool) {
	end, ok := skipName(msg, off)
	if !ok || end+10 > len(msg) {
		return 0, false
	}
	next := end + 10 + int(binary.BigEndian.Uint16(msg[end+8:]))
	return next, next <= len(msg)
}

// reply builds a response in place. Answers that would push the message past
// limit are dropped and the TC bit is set, as RFC 2181 section 9 asks.
type reply struct {
	buf   []byte
	limit int
	edns  bool
	count int
	tc    bool
}

// startReply writes the header and echoes the question (keeping the client's
// letter case, which some resolvers check as anti-spoofing entropy).
func startReply(buf []byte, q *query, limit int, flags uint16) reply {
	f := flagQR | flags | q.flags&(opcodeMask|flagRD|flagCD)
	qd := uint16(0)
	if q.question != nil {
		qd = 1
	}
	buf = binary.BigEndian.AppendUint16(buf[:0], q.id)
	buf = binary.BigEndian.AppendUint16(buf, f)
	buf = binary.BigEndian.AppendUint16(buf, qd)
	buf = append(buf, 0, 0, 0, 0, 0, 0)
	buf = append(buf, q.question...)
	return reply{buf: buf, limit: limit, edns: q.edns}
}

// room reports whether n more bytes fit, setting TC when they do not.
func (r *reply) room(n int) bool {
	reserve := 0
	if r.edns {
		reserve = optLen
	}
	if r.tc || len(r.buf)+n+reserve > r.limit {
		r.tc = true
		return false
	}
	return true
}

func (r *reply) addAddr(a netip.Addr) {
	t, size := typeA, 4
	if a.Is6() {
		t, size = typeAAAA, 16
	}
	if !r.room(12 + size) {
		return
	}
	r.buf = r.rrHeader(t, size)
	r.buf = append(r.buf, a.AsSlice()...)
	r.count++
}

func (r *reply) addPTR(target []byte) {
	if !r.room(12 + len(target)) {
		return
	}
	r.buf = r.rrHeader(typePTR, len(target))
	r.buf = append(r.buf, target...)
	r.count++
}

func (r *reply) rrHeader(t uint16, rdlen int) []byte {
	b := binary.BigEndian.AppendUint16(r.buf, ptrToQuestion)
	b = binary.BigEndian.AppendUint16(b, t)
	b = binary.BigEndian.AppendUint16(b, classIN)
	b = binary.BigEndian.AppendUint32(b, localTTL)
	return binary.BigEndian.AppendUint16(b, uint16(rdlen))
}

// finish patches the counts and rcode and appends the OPT record; rcodes
// above 15 need EDNS, whose OPT record carries the upper bits.
func (r *reply) finish(rcode int, do bool) []byte {
	b := r.buf
	flags := binary.BigEndian.Uint16(b[2:]) | uint16(rcode&0xf)
	if r.tc {
		flags |= flagTC
	}
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[6:], uint16(r.count))
	if !r.edns {
		return b
	}
	binary.BigEndian.PutUint16(b[10:], 1)
	ttl := uint32(rcode>>4) << 24
	if do {
		ttl |= 0x8000
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, typeOPT)
	b = binary.BigEndian.AppendUint16(b, ednsSize)
	b = binary.BigEndian.AppendUint32(b, ttl)
	return binary.BigEndian.AppendUint16(b, 0)
}

// errorReply answers q with rcode and no records.
func errorReply(buf []byte, q *query, rcode int, flags uint16) []byte {
	r := startReply(buf, q, maxUDPReply, flags)
	if rcode > 0xf && !r.edns {
		rcode = rcodeServFail
	}
	return r.finish(rcode, q.do)
}

// encodeName converts a dotted name to wire format. It fails for names that
// cannot be queried, such as ones with empty or over-long labels.
func encodeName(name string) ([]byte, bool) {
	if name == "" || len(name)+2 > maxNameLen {
		return nil, false
	}
	out := make([]byte, 0, len(name)+2)
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			continue
		}
		l := i - start
		if l == 0 || l > maxLabel {
			return nil, false
		}
		out = append(out, byte(l))
		out = append(out, name[start:i]...)
		start = i + 1
	}
	return append(out, 0), true
}

// parseReverse maps a lower-cased in-addr.arpa or ip6.arpa name to the
// address it names. Partial names (reverse zones) do not map to an address.
func parseReverse(name []byte) (netip.Addr, bool) {
	const v4Suffix, v6Suffix = ".in-addr.arpa", ".ip6.arpa"
	switch {
	case hasSuffix(name, v4Suffix):
		return parseReverse4(name[:len(name)-len(v4Suffix)])
	case hasSuffix(name, v6Suffix):
		return parseReverse6(name[:len(name)-len(v6Suffix)])
	}
	return netip.Addr{}, false
}

func hasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
}

func parseReverse4(s []byte) (netip.Addr, bool) {
	var a [4]byte
	i := 3
	v, digits := 0, 0
	for j := 0; j <= len(s); j++ {
		if j < len(s) && s[j] != '.' {
			c := s[j]
			if c < '0' || c > '9' || digits == 3 {
				return netip.Addr{}, false
			}
			v, digits = v*10+int(c-'0'), digits+1
			continue
		}
		if digits == 0 || v > 255 || i < 0 {
			return netip.Addr{}, false
		}
		a[i] = byte(v)
		i, v, digits = i-1, 0, 0
	}
	if i != -1 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(a), true
}

func parseReverse6(s []byte) (netip.Addr, bool) {
	// 32 nibbles, least significant first, separated by dots.
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var a [16]byte
	for k := range 32 {
		c := s[2*k]
		if k < 31 && s[2*k+1] != '.' {
			return netip.Addr{}, false
		}
		var n byte
		switch {
		case '0' <= c && c <= '9':
			n = c - '0'
		case 'a' <= c && c <= 'f':
			n = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		pos := 31 - k // nibble index from the most significant end
		if pos%2 == 0 {
			a[pos/2] |= n << 4
		} else {
			a[pos/2] |= n
		}
	}
	return netip.AddrFrom16(a), true
}

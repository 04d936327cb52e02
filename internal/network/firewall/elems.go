package firewall

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// elemKind is how a set stores its elements.
type elemKind int

const (
	plainElem    elemKind = iota // a key
	intervalElem                 // single-field interval: start and end elements
	concatElem                   // concatenated interval: key and inclusive key end
)

// elem is one logical element of a set. A single-field interval set stores
// a prefix as a start element and an end element holding the first address
// after it (end is nil when the prefix reaches the top of the address
// space); a concatenated interval set stores one element with an inclusive
// end.
type elem struct {
	key     []byte
	end     []byte
	kind    elemKind
	comment string
}

func (e elem) ident() string { return string(e.key) + "\x00" + string(e.end) }

func kernelElems(es []elem) []nftables.SetElement {
	var out []nftables.SetElement
	for _, e := range es {
		switch e.kind {
		case plainElem:
			out = append(out, nftables.SetElement{Key: e.key, Comment: e.comment})
		case concatElem:
			out = append(out, nftables.SetElement{Key: e.key, KeyEnd: e.end, Comment: e.comment})
		case intervalElem:
			out = append(out, nftables.SetElement{Key: e.key, Comment: e.comment})
			if e.end != nil {
				out = append(out, nftables.SetElement{Key: e.end, IntervalEnd: true})
			}
		}
	}
	return out
}

// readElems lists the elements of s, joining interval start and end
// elements back into one elem.
func readElems(c *nftables.Conn, s *nftables.Set) ([]elem, error) {
	raw, err := c.GetSetElements(s)
	if err != nil {
		return nil, fmt.Errorf("list set %s: %w", s.Name, err)
	}
	if s.Interval && !s.Concatenation {
		return pairIntervals(raw), nil
	}
	out := make([]elem, len(raw))
	for i, r := range raw {
		out[i] = elem{key: r.Key, comment: r.Comment}
		if s.Interval {
			out[i].kind, out[i].end = concatElem, r.KeyEnd
		}
	}
	return out, nil
}

// pairIntervals matches each start element with the end element that
// follows it in key order. Ends sort before starts of the same key, since
// adjacent prefixes share that boundary.
func pairIntervals(raw []nftables.SetElement) []elem {
	raw = slices.Clone(raw)
	slices.SortStableFunc(raw, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		switch {
		case a.IntervalEnd == b.IntervalEnd:
			return 0
		case a.IntervalEnd:
			return -1
		}
		return 1
	})
	var out []elem
	for i, r := range raw {
		if r.IntervalEnd {
			continue
		}
		e := elem{key: r.Key, kind: intervalElem, comment: r.Comment}
		if i+1 < len(raw) && raw[i+1].IntervalEnd {
			e.end = raw[i+1].Key
		}
		out = append(out, e)
	}
	return out
}

// elemsPerMessage keeps each element list well under the 64 KiB a netlink
// attribute can hold (an IPv6 DNAT element takes about 130 bytes).
const elemsPerMessage = 256

// queueElems queues adds (or deletes) of es in as many messages as needed;
// they still commit as one transaction.
func queueElems(c *nftables.Conn, s *nftables.Set, es []nftables.SetElement, del bool) error {
	for chunk := range slices.Chunk(es, elemsPerMessage) {
		var err error
		if del {
			err = c.SetDeleteElements(s, chunk)
		} else {
			err = c.SetAddElements(s, chunk)
		}
		if err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
	}
	return nil
}

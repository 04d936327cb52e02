package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// forward resolves req at the upstreams and returns the reply for the
// client: the first good upstream answer with the client's ID restored, or
// SERVFAIL when there is none within the forwarding budget.
func (s *Server) forward(ctx context.Context, req []byte, q *query, viaTCP bool) []byte {
	var resp []byte
	if ups := s.upstreamList(); len(ups) > 0 {
		ctx, cancel := context.WithTimeout(ctx, s.fwdTimeout)
		resp = s.race(ctx, ups, req, q, viaTCP)
		cancel()
	}
	if resp == nil {
		return errorReply(nil, q, rcodeServFail, flagRA)
	}
	binary.BigEndian.PutUint16(resp, q.id)
	if !viaTCP && len(resp) > q.udpLimit() {
		resp = truncateReply(resp, q)
	}
	return resp
}

type result struct {
	up   netip.AddrPort
	resp []byte
	err  error
}

// race asks the upstreams in a staggered way: the first at once, each
// further one after another stagger interval or as soon as an attempt
// fails, whichever comes first. A failed attempt is retried on the next
// upstream in turn, up to two rounds. The first good answer wins, so a dead
// upstream costs one stagger interval rather than a full timeout.
func (s *Server) race(ctx context.Context, ups []netip.AddrPort, req []byte, q *query, viaTCP bool) []byte {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // attempts stop promptly once cancelled
	defer cancel()

	maxAttempts := 2 * len(ups)
	results := make(chan result, maxAttempts)
	launched, pending := 0, 0
	launch := func() {
		up := ups[launched%len(ups)]
		launched++
		pending++
		wg.Go(func() {
			resp, err := s.attempt(ctx, up, req, q, viaTCP)
			results <- result{up: up, resp: resp, err: err}
		})
	}
	launch()
	stagger := time.NewTicker(s.upStagger)
	defer stagger.Stop()
	for pending > 0 {
		select {
		case <-ctx.Done():
			s.log.Debug("dns: forwarding timed out", "attempts", launched)
			return nil
		case <-stagger.C:
			if launched < len(ups) {
				launch()
			}
		case r := <-results:
			pending--
			if r.err == nil {
				return r.resp
			}
			s.log.Debug("dns: upstream attempt failed", "upstream", r.up, "err", r.err)
			if launched < maxAttempts {
				launch()
			}
		}
	}
	return nil
}

// attempt sends one query to one upstream under a fresh random ID, so the
// client's ID choice does not weaken spoofing protection on the host side.
// A truncated UDP answer is fetched again over TCP, so that clients without
// TCP fallback still get as many records as fit.
func (s *Server) attempt(ctx context.Context, up netip.AddrPort, req []byte, q *query, viaTCP bool) ([]byte, error) {
	msg := bytes.Clone(req)
	binary.BigEndian.PutUint16(msg, uint16(rand.Uint32()))
	actx, cancel := context.WithTimeout(ctx, s.upTimeout)
	defer cancel()

	var resp []byte
	var err error
	if viaTCP {
		resp, err = exchangeTCP(actx, up, msg)
	} else {
		size := 512
		if q.edns {
			size = max(size, int(q.udpSize))
		}
		var oversize bool
		resp, oversize, err = exchangeUDP(actx, up, msg, q.question, size)
		if err == nil && (oversize || binary.BigEndian.Uint16(resp[2:])&flagTC != 0) {
			tctx, tcancel := context.WithTimeout(ctx, s.upTimeout)
			defer tcancel()
			resp, err = exchangeTCP(tctx, up, msg)
		}
	}
	if err != nil {
		return nil, err
	}
	if !matchReply(resp, msg, q.question) {
		return nil, fmt.Errorf("reply from %s does not match the query", up)
	}
	switch rc := int(binary.BigEndian.Uint16(resp[2:]) & 0xf); rc {
	case rcodeFormErr, rcodeServFail, rcodeNotImp, 5: // 5 is REFUSED
		// Another upstream may do better.
		return nil, fmt.Errorf("upstream %s answered rcode %d", up, rc)
	}
	return resp, nil
}

// matchReply reports whether resp answers msg: same ID, a response, and the
// same question (names compared without regard to case). Error replies may
// omit the question.
func matchReply(resp, msg, question []byte) bool {
	if len(resp) < headerLen || resp[0] != msg[0] || resp[1] != msg[1] {
		return false
	}
	flags := binary.BigEndian.Uint16(resp[2:])
	if flags&flagQR == 0 {
		return false
	}
	switch binary.BigEndian.Uint16(resp[4:]) {
	case 0:
		return flags&0xf != rcodeSuccess
	case 1:
	default:
		return false
	}
	end := headerLen + len(question)
	if len(resp) < end {
		return false
	}
	got := resp[headerLen:end]
	n := len(question) - 4
	return bytes.EqualFold(got[:n], question[:n]) && bytes.Equal(got[n:], question[n:])
}

// exchangeUDP returns the first matching reply. oversize reports a reply
// larger than size, the most the client takes, which arrives cut short.
func exchangeUDP(ctx context.Context, up netip.AddrPort, msg, question []byte, size int) (resp []byte, oversize bool, err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", up.String())
	if err != nil {
		return nil, false, fmt.Errorf("dial udp %s: %w", up, err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write(msg); err != nil {
		return nil, false, fmt.Errorf("send udp %s: %w", up, err)
	}
	buf := make([]byte, size+1)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, false, fmt.Errorf("receive udp %s: %w", up, err)
		}
		// Stray or spoofed datagrams are skipped, not fatal.
		if matchReply(buf[:n], msg, question) {
			return buf[:n], n > size, nil
		}
	}
}

func exchangeTCP(ctx context.Context, up netip.AddrPort, msg []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", up.String())
	if err != nil {
		return nil, fmt.Errorf("dial tcp %s: %w", up, err)
	}
	defer c.Close()
	defer context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := c.Write(append(out, msg...)); err != nil {
		return nil, fmt.Errorf("send tcp %s: %w", up, err)
	}
	var prefix [2]byte
	if _, err := io.ReadFull(c, prefix[:]); err != nil {
		return nil, fmt.Errorf("receive tcp %s: %w", up, err)
	}
	resp := make([]byte, binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, fmt.Errorf("receive tcp %s: %w", up, err)
	}
	return resp, nil
}

// truncateReply fits an upstream answer into the client's UDP limit,
// keeping whole records and setting TC when some had to go.
func truncateReply(resp []byte, q *query) []byte {
	var m mdns.Msg
	if err := m.Unpack(resp); err == nil {
		m.Truncate(q.udpLimit())
		if out, err := m.Pack(); err == nil && len(out) <= q.udpLimit() {
			return out
		}
	}
	r := startReply(nil, q, q.udpLimit(), flagRA)
	r.tc = true
	return r.finish(rcodeSuccess, q.do)
}

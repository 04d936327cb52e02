package dns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"
)

const (
	// udpReaders lets one goroutine build a reply while another waits in
	// recvfrom.
	udpReaders = 2
	// udpReadSize comfortably holds any stub query; longer ones are cut and
	// then refused as malformed.
	udpReadSize = 4096
	maxTCPConns = 256
	// tcpIdleTimeout closes idle connections (RFC 7766 section 6.2.3).
	tcpIdleTimeout  = 10 * time.Second
	tcpWriteTimeout = 5 * time.Second
	acceptBackoff   = 10 * time.Millisecond
)

type verdict uint8

const (
	verdictDrop verdict = iota
	verdictReply
	verdictForward
)

// scratch holds one serving goroutine's buffers, reused across queries.
type scratch struct {
	name [maxNameLen]byte
	in   []byte
	out  []byte
}

// respond decides how to treat req from src on network n. For verdictReply
// the reply is in sc.out.
func (s *Server) respond(n *netState, src netip.Addr, req []byte, sc *scratch, viaTCP bool) (verdict, query) {
	q, rcode, drop := parseQuery(req, &sc.name)
	switch {
	case drop:
		return verdictDrop, q
	case rcode != rcodeSuccess:
		sc.out = errorReply(sc.out, &q, rcode, 0)
		return verdictReply, q
	case q.edns && q.ednsVer != 0:
		sc.out = errorReply(sc.out, &q, rcodeBadVers, 0)
		return verdictReply, q
	}
	limit := q.udpLimit()
	if viaTCP {
		limit = 0xffff
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	sp := s.scopeLocked(n, src)
	flags := flagAA
	if sp.forward {
		flags |= flagRA
	}
	r := startReply(sc.out, &q, limit, flags)
	switch {
	case sp.answerLocal(&r, &q):
		sc.out = r.finish(rcodeSuccess, q.do)
	case sp.forward:
		return verdictForward, q
	default:
		// Nothing leaves an internal network. NXDOMAIN is final for both
		// glibc and musl, where SERVFAIL or REFUSED make them retry or wait
		// for another server.
		sc.out = r.finish(rcodeNXDomain, q.do)
	}
	return verdictReply, q
}

func (l *listener) serveUDP() {
	defer l.wg.Done()
	sc := &scratch{in: make([]byte, udpReadSize), out: make([]byte, 0, maxUDPReply)}
	for {
		n, src, err := l.udp.ReadFromUDPAddrPort(sc.in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.s.log.Debug("dns: udp read", "listen", l.addr, "err", err)
			continue
		}
		if src.Port() == 0 {
			continue
		}
		req := sc.in[:n]
		switch v, q := l.s.respond(l.net, src.Addr().Unmap(), req, sc, false); v {
		case verdictReply:
			l.writeUDP(sc.out, src)
		case verdictForward:
			l.forwardUDP(sc, req, q, src)
		}
	}
}

func (l *listener) writeUDP(b []byte, dst netip.AddrPort) {
	if _, err := l.udp.WriteToUDPAddrPort(b, dst); err != nil {
		l.s.log.Debug("dns: udp write", "listen", l.addr, "client", dst, "err", err)
	}
}

// forwardUDP resolves q upstream in the background so the reader goes on
// serving local names meanwhile.
func (l *listener) forwardUDP(sc *scratch, req []byte, q query, src netip.AddrPort) {
	if !l.s.takeForwardSlot() {
		l.writeUDP(errorReply(sc.out, &q, rcodeServFail, flagRA), src)
		return
	}
	own := bytes.Clone(req)
	q.question = own[headerLen : headerLen+len(q.question)]
	q.name = nil
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.s.releaseForwardSlot()
		l.writeUDP(l.s.forward(l.ctx, own, &q, false), src)
	}()
}

func (s *Server) takeForwardSlot() bool {
	select {
	case s.fwdSlots <- struct{}{}:
		return true
	default:
		s.log.Debug("dns: too many queries in flight upstream")
		return false
	}
}

func (s *Server) releaseForwardSlot() { <-s.fwdSlots }

func (l *listener) serveTCP() {
	defer l.wg.Done()
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, most likely: back off rather than spin.
			l.s.log.Debug("dns: tcp accept", "listen", l.addr, "err", err)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(acceptBackoff):
			}
			continue
		}
		if !l.track(c) {
			_ = c.Close()
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.untrack(c)
			l.serveConn(c)
		}()
	}
}

// serveConn answers length-prefixed queries on c in order until the client
// goes idle or closes.
func (l *listener) serveConn(c *net.TCPConn) {
	src := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	sc := &scratch{}
	var prefix [2]byte
	var wbuf []byte
	for {
		if err := c.SetReadDeadline(time.Now().Add(tcpIdleTimeout)); err != nil {
			return
		}
		if _, err := io.ReadFull(c, prefix[:]); err != nil {
			return
		}
		size := int(binary.BigEndian.Uint16(prefix[:]))
		if cap(sc.in) < size {
			sc.in = make([]byte, size)
		}
		req := sc.in[:size]
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		var resp []byte
		switch v, q := l.s.respond(l.net, src, req, sc, true); v {
		case verdictDrop:
			continue
		case verdictReply:
			resp = sc.out
		case verdictForward:
			resp = l.forwardTCP(sc, req, q)
		}
		wbuf = binary.BigEndian.AppendUint16(wbuf[:0], uint16(len(resp)))
		wbuf = append(wbuf, resp...)
		if err := c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
			return
		}
		if _, err := c.Write(wbuf); err != nil {
			return
		}
	}
}

func (l *listener) forwardTCP(sc *scratch, req []byte, q query) []byte {
	if !l.s.takeForwardSlot() {
		return errorReply(sc.out, &q, rcodeServFail, flagRA)
	}
	defer l.s.releaseForwardSlot()
	return l.s.forward(l.ctx, req, &q, true)
}

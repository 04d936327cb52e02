package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
)

// AddNetwork starts UDP and TCP listeners on each listen address (the
// network's gateway addresses) at the server's port. Members of internal
// networks get no forwarding (non-local names are NXDOMAIN) unless they are
// also on a non-internal network. Calling it again for the same id
// reconciles the listeners with listen and updates internal; endpoints are
// kept.
func (s *Server) AddNetwork(ctx context.Context, id string, listen []netip.Addr, internal bool) error {
	if id == "" {
		return errors.New("dns: add network: empty network id")
	}
	want, err := s.listenAddrs(listen)
	if err != nil {
		return fmt.Errorf("dns: add network %s: %w", id, err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return fmt.Errorf("dns: add network %s: %w", id, net.ErrClosed)
	}

	s.mu.Lock()
	n := s.nets[id]
	if n == nil {
		n = newNetState(id)
		s.nets[id] = n
	}
	n.adding = true
	have := slices.Clone(n.listeners)
	s.mu.Unlock()

	var keep, stop, started []*listener
	for _, l := range have {
		if slices.Contains(want, l.addr) {
			keep = append(keep, l)
		} else {
			stop = append(stop, l)
		}
	}
	for _, ap := range want {
		if slices.ContainsFunc(keep, func(l *listener) bool { return l.addr == ap }) {
			continue
		}
		l, err := s.listen(ctx, n, ap)
		if err != nil {
			s.abortAdd(n, started)
			return fmt.Errorf("dns: add network %s: %w", id, err)
		}
		started = append(started, l)
	}

	s.mu.Lock()
	n.adding, n.added, n.internal = false, true, internal
	n.listeners = append(keep, started...)
	for _, l := range started {
		s.listening[l.addr]++
	}
	s.forgetListenersLocked(stop)
	s.mu.Unlock()

	for _, l := range started {
		l.start()
	}
	var errs []error
	for _, l := range stop {
		errs = append(errs, l.close())
	}
	s.log.Info("dns: network added", "network", id, "listen", want, "internal", internal)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: add network %s: close old listeners: %w", id, err)
	}
	return nil
}

// abortAdd undoes a failed AddNetwork.
func (s *Server) abortAdd(n *netState, started []*listener) {
	for _, l := range started {
		_ = l.close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n.adding = false
	if !n.added && len(n.eps) == 0 && s.nets[n.id] == n {
		delete(s.nets, n.id)
	}
}

func (s *Server) forgetListenersLocked(ls []*listener) {
	for _, l := range ls {
		if s.listening[l.addr]--; s.listening[l.addr] <= 0 {
			delete(s.listening, l.addr)
		}
	}
}

func (s *Server) listenAddrs(listen []netip.Addr) ([]netip.AddrPort, error) {
	if s.port > 65535 {
		return nil, fmt.Errorf("invalid port %d", s.port)
	}
	var out []netip.AddrPort
	for _, a := range listen {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("invalid listen address %q", a)
		}
		ap := netip.AddrPortFrom(a, uint16(s.port))
		if !slices.Contains(out, ap) {
			out = append(out, ap)
		}
	}
	return out, nil
}

// DelNetwork stops the network's listeners and forgets its endpoints.
// Deleting an unknown network is not an error.
func (s *Server) DelNetwork(id string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()

	s.mu.Lock()
	n := s.nets[id]
	if n == nil {
		s.mu.Unlock()
		return nil
	}
	delete(s.nets, id)
	for _, r := range n.eps {
		s.unindexLocked(r)
	}
	ls := n.listeners
	n.listeners = nil
	s.forgetListenersLocked(ls)
	s.mu.Unlock()

	var errs []error
	for _, l := range ls {
		errs = append(errs, l.close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: delete network %s: %w", id, err)
	}
	return nil
}

// listener serves one network address over UDP and TCP.
type listener struct {
	s      *Server
	net    *netState
	addr   netip.AddrPort
	udp    *net.UDPConn
	tcp    *net.TCPListener
	ctx    context.Context // cancelled on close; bounds forwarding
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connMu sync.Mutex
	conns  map[*net.TCPConn]struct{}
	closed bool
}

func (s *Server) listen(ctx context.Context, n *netState, ap netip.AddrPort) (*listener, error) {
	udpNet, tcpNet := "udp4", "tcp4"
	if ap.Addr().Is6() {
		udpNet, tcpNet = "udp6", "tcp6"
	}
	// The gateway address may not be configured yet when the network is
	// being created; FREEBIND lets the bind succeed regardless.
	lc := net.ListenConfig{Control: func(network, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setFreebind(int(fd), network) }); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, udpNet, ap.String())
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", ap, err)
	}
	ln, err := lc.Listen(ctx, tcpNet, ap.String())
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("listen tcp %s: %w", ap, err)
	}
	lctx, cancel := context.WithCancel(s.ctx)
	return &listener{
		s:      s,
		net:    n,
		addr:   ap,
		udp:    pc.(*net.UDPConn),
		tcp:    ln.(*net.TCPListener),
		ctx:    lctx,
		cancel: cancel,
		conns:  make(map[*net.TCPConn]struct{}),
	}, nil
}

func (l *listener) start() {
	l.wg.Add(udpReaders + 1)
	for range udpReaders {
		go l.serveUDP()
	}
	go l.serveTCP()
}

// close stops the listener and waits for its queries, which the cancelled
// context cuts short.
func (l *listener) close() error {
	l.cancel()
	errs := []error{l.udp.Close(), l.tcp.Close()}
	l.connMu.Lock()
	l.closed = true
	for c := range l.conns {
		_ = c.Close()
	}
	l.connMu.Unlock()
	l.wg.Wait()
	for i, err := range errs {
		if errors.Is(err, net.ErrClosed) {
			errs[i] = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close listener %s: %w", l.addr, err)
	}
	return nil
}

func (l *listener) track(c *net.TCPConn) bool {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.closed || len(l.conns) >= maxTCPConns {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) untrack(c *net.TCPConn) {
	l.connMu.Lock()
	delete(l.conns, c)
	l.connMu.Unlock()
	_ = c.Close()
}

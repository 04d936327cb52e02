// Package dns is the embedded resolver for user-defined networks.
//
// One Server serves every network. For each network it listens on the
// network's gateway addresses (UDP and TCP), so containers can use
// "nameserver <gateway>" without any per-container socket. Each query is
// answered for whoever sent it: the source address identifies the asking
// container, and only the names on that container's networks resolve.
// Other names are forwarded to the host's resolvers, except for containers
// that are only on internal networks.
package dns

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

const (
	defaultPort            = 53
	defaultUpstreamTimeout = time.Second
	defaultUpstreamStagger = 200 * time.Millisecond
	defaultForwardTimeout  = 2 * time.Second
	// maxForwards bounds in-flight forwarded queries so that a container
	// flooding queries for a dead upstream cannot exhaust the daemon's file
	// descriptors; queries over the limit get SERVFAIL at once.
	maxForwards = 1024
)

// Options configures a Server. Zero values select the defaults.
type Options struct {
	// Upstreams are the host's resolvers that non-local names go to.
	Upstreams []netip.AddrPort
	Logger    *slog.Logger
	// Port is the port listened on at every network address (default 53).
	Port int
	// UpstreamTimeout bounds one attempt at one upstream (default 1s).
	UpstreamTimeout time.Duration
	// UpstreamStagger is how long an attempt runs alone before the next
	// upstream is also asked (default 200ms).
	UpstreamStagger time.Duration
	// ForwardTimeout bounds the whole forwarding of one query, after which
	// the client gets SERVFAIL (default 2s).
	ForwardTimeout time.Duration
}

// Server is the embedded resolver. It is safe for concurrent use.
type Server struct {
	log        *slog.Logger
	port       int
	upTimeout  time.Duration
	upStagger  time.Duration
	fwdTimeout time.Duration
	fwdSlots   chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc

	// opMu serializes listener changes, which do socket work that must not
	// happen under mu, the lock on the query path.
	opMu   sync.Mutex
	closed bool

	mu        sync.RWMutex
	nets      map[string]*netState
	memberOf  map[string][]*netState // container ID -> its networks, by ID
	byAddr    map[netip.Addr][]*record
	upstreams []netip.AddrPort
	listening map[netip.AddrPort]int // own sockets, never forwarded to
}

// New returns a Server with no networks.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		log:        log,
		port:       cmp0(opts.Port, defaultPort),
		upTimeout:  cmp0(opts.UpstreamTimeout, defaultUpstreamTimeout),
		upStagger:  cmp0(opts.UpstreamStagger, defaultUpstreamStagger),
		fwdTimeout: cmp0(opts.ForwardTimeout, defaultForwardTimeout),
		fwdSlots:   make(chan struct{}, maxForwards),
		ctx:        ctx,
		cancel:     cancel,
		nets:       make(map[string]*netState),
		memberOf:   make(map[string][]*netState),
		byAddr:     make(map[netip.Addr][]*record),
		listening:  make(map[netip.AddrPort]int),
	}
	s.SetUpstreams(opts.Upstreams)
	return s
}

// cmp0 returns v, or def when v is zero or negative.
func cmp0[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// SetUpstreams replaces the forwarders, e.g. when the host's resolv.conf
// changes. Queries already being forwarded finish with the old set.
func (s *Server) SetUpstreams(ups []netip.AddrPort) {
	clean := make([]netip.AddrPort, 0, len(ups))
	for _, u := range ups {
		u = netip.AddrPortFrom(u.Addr().Unmap(), u.Port())
		if !u.IsValid() || u.Port() == 0 || slices.Contains(clean, u) {
			s.log.Warn("dns: ignoring invalid or duplicate upstream", "upstream", u)
			continue
		}
		clean = append(clean, u)
	}
	s.mu.Lock()
	s.upstreams = clean
	s.mu.Unlock()
}

// upstreamList returns the forwarders, leaving out this server's own
// sockets so that a misconfiguration cannot make a query loop.
func (s *Server) upstreamList() []netip.AddrPort {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]netip.AddrPort, 0, len(s.upstreams))
	for _, u := range s.upstreams {
		if s.listening[u] == 0 {
			out = append(out, u)
		}
	}
	return out
}

// Close stops all listeners and waits for in-flight queries to finish.
func (s *Server) Close() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cancel()

	s.mu.Lock()
	var ls []*listener
	for _, n := range s.nets {
		ls = append(ls, n.listeners...)
		n.listeners = nil
	}
	clear(s.listening)
	s.mu.Unlock()

	var errs []error
	for _, l := range ls {
		errs = append(errs, l.close())
	}
	return errors.Join(errs...)
}

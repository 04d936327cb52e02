//go:build linux

package portmap

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrAllocated is matched by errors for host ports berth already holds for
// another container.
var ErrAllocated = errors.New("port is already allocated")

// AllocatedError reports a host port held by berth, in Docker's words.
type AllocatedError struct {
	HostIP        netip.Addr // zero means all addresses
	Port, PortEnd uint16
}

func (e *AllocatedError) Error() string {
	return "Bind for " + hostPort(e.HostIP, e.Port, e.PortEnd) + " failed: port is already allocated"
}

// Is makes errors.Is(err, ErrAllocated) true.
func (e *AllocatedError) Is(target error) bool { return target == ErrAllocated }

// InUseError reports a host port bound by a program other than berth. It
// unwraps to unix.EADDRINUSE.
type InUseError struct {
	Proto         string
	HostIP        netip.Addr
	Port, PortEnd uint16
}

func (e *InUseError) Error() string {
	return "cannot publish " + hostPort(e.HostIP, e.Port, e.PortEnd) + "/" + e.Proto +
		": address already in use by another program"
}

func (e *InUseError) Unwrap() error { return unix.EADDRINUSE }

// hostPort formats an address and port (range) for messages; the zero
// address shows as 0.0.0.0 as in Docker.
func hostPort(ip netip.Addr, port, end uint16) string {
	host := "0.0.0.0"
	if ip.IsValid() {
		host = ip.String()
		if ip.Is6() {
			host = "[" + host + "]"
		}
	}
	return host + ":" + portRange(port, end)
}

// Reserver holds host ports with bound sockets, so that no other program
// can take a published port while berth uses it, and picks free ports from
// the kernel's ephemeral range. It is safe for concurrent use.
//
// Sockets are made with raw system calls, outside Go's netpoller: a held
// port costs one file descriptor and nothing else. TCP sockets are bound
// but never listen, and SO_REUSEADDR stays off so that even programs that
// set it cannot bind the port.
type Reserver struct {
	lo, hi uint16 // ephemeral port range, inclusive

	mu   sync.Mutex
	held map[portKey][]netip.Addr
}

type portKey struct {
	proto string
	port  uint16
}

// ephemeralRangeFile is the kernel's range for automatic ports; berth
// picks from the same range as Docker does.
const ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// NewReserver reads the ephemeral port range and returns an empty
// reserver. Without /proc it falls back to the kernel default.
func NewReserver() (*Reserver, error) {
	lo, hi := uint16(32768), uint16(60999)
	data, err := os.ReadFile(ephemeralRangeFile)
	switch {
	case err == nil:
		if lo, hi, err = parseRange(string(data)); err != nil {
			return nil, fmt.Errorf("%s: %w", ephemeralRangeFile, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read ephemeral port range: %w", err)
	}
	return &Reserver{lo: lo, hi: hi, held: make(map[portKey][]netip.Addr)}, nil
}

func parseRange(s string) (lo, hi uint16, err error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("invalid port range %q", s)
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, fmt.Errorf("invalid port range %q", s)
	}
	return uint16(l), uint16(h), nil
}

// Reserve binds a socket for every host port of b and returns b with the
// host ports filled in, and a function that releases them (safe to call
// more than once). HostPort 0 picks a free block of random ports; a host
// range with a single container port picks one free port of the range.
// Nothing stays held when Reserve fails.
func (r *Reserver) Reserve(b Binding) (Binding, func() error, error) {
	n, err := normalize(&b)
	if err != nil {
		return Binding{}, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var start uint16
	var fds []int
	switch hostN := int(b.HostPortEnd) - int(b.HostPort) + 1; {
	case b.HostPort == 0:
		start, fds, err = r.reserveRandom(b, n)
	case hostN == n:
		start = b.HostPort
		fds, err = r.reserveBlock(b, start, n)
	default:
		start, fds, err = r.reserveOneOf(b)
	}
	if err != nil {
		return Binding{}, nil, err
	}
	b.HostPort, b.HostPortEnd = start, start+uint16(n-1)
	return b, r.releaser(b, fds), nil
}

// normalize validates b, fills in omitted range ends and returns the
// number of ports.
func normalize(b *Binding) (int, error) {
	switch b.Proto {
	case "tcp", "udp", "sctp":
	default:
		return 0, fmt.Errorf("invalid proto: %s", b.Proto)
	}
	if b.ContainerPortEnd == 0 {
		b.ContainerPortEnd = b.ContainerPort
	}
	if b.HostPortEnd == 0 {
		b.HostPortEnd = b.HostPort
	}
	if b.ContainerPort == 0 || b.ContainerPortEnd < b.ContainerPort {
		return 0, fmt.Errorf("invalid containerPort: %s", portRange(b.ContainerPort, b.ContainerPortEnd))
	}
	if b.HostPortEnd < b.HostPort {
		return 0, fmt.Errorf("invalid hostPort: %s", portRange(b.HostPort, b.HostPortEnd))
	}
	n := int(b.ContainerPortEnd) - int(b.ContainerPort) + 1
	if hostN := int(b.HostPortEnd) - int(b.HostPort) + 1; b.HostPort != 0 && hostN != n && n != 1 {
		return 0, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s",
			portRange(b.ContainerPort, b.ContainerPortEnd), portRange(b.HostPort, b.HostPortEnd))
	}
	b.HostIP = b.HostIP.Unmap()
	return n, nil
}

// reserveBlock binds ports start..start+n-1, all or none.
func (r *Reserver) reserveBlock(b Binding, start uint16, n int) ([]int, error) {
	fds := make([]int, 0, n)
	for i := range n {
		port := start + uint16(i)
		fd, err := r.bindOne(b.Proto, b.HostIP, port)
		if err != nil {
			if uerr := r.unbind(b, start, fds); uerr != nil {
				return nil, errors.Join(err, uerr)
			}
			return nil, err
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// reserveRandom finds a free block of n ports in the ephemeral range,
// starting at a random place. A failed port moves the search past it, so
// the whole range is tried at most once.
func (r *Reserver) reserveRandom(b Binding, n int) (uint16, []int, error) {
	size := int(r.hi) - int(r.lo) + 1
	if n > size {
		return 0, nil, fmt.Errorf("cannot publish %d ports: ephemeral range %d-%d is smaller", n, r.lo, r.hi)
	}
	slots := size - n + 1 // possible block starts
	first := rand.IntN(slots)
	for tried := 0; tried < slots; {
		start := r.lo + uint16((first+tried)%slots)
		fds, err := r.reserveBlock(b, start, n)
		if err == nil {
			return start, fds, nil
		}
		if !isConflict(err) {
			return 0, nil, err
		}
		tried += failedOffset(err, start) + 1
	}
	return 0, nil, fmt.Errorf("cannot publish %s/%s: no free port in %d-%d",
		hostPort(b.HostIP, 0, 0), b.Proto, r.lo, r.hi)
}

// failedOffset returns how far into a block the port that failed lies.
func failedOffset(err error, start uint16) int {
	var ae *AllocatedError
	var ie *InUseError
	switch {
	case errors.As(err, &ae):
		return int(ae.Port - start)
	case errors.As(err, &ie):
		return int(ie.Port - start)
	}
	return 0
}

func isConflict(err error) bool {
	var ie *InUseError
	return errors.Is(err, ErrAllocated) || errors.As(err, &ie)
}

// reserveOneOf binds the first free port of the host range b gives.
func (r *Reserver) reserveOneOf(b Binding) (uint16, []int, error) {
	otherProgram := false
	for p := int(b.HostPort); p <= int(b.HostPortEnd); p++ {
		fd, err := r.bindOne(b.Proto, b.HostIP, uint16(p))
		if err == nil {
			return uint16(p), []int{fd}, nil
		}
		if !isConflict(err) {
			return 0, nil, err
		}
		otherProgram = otherProgram || !errors.Is(err, ErrAllocated)
	}
	if otherProgram {
		return 0, nil, &InUseError{Proto: b.Proto, HostIP: b.HostIP, Port: b.HostPort, PortEnd: b.HostPortEnd}
	}
	return 0, nil, &AllocatedError{HostIP: b.HostIP, Port: b.HostPort, PortEnd: b.HostPortEnd}
}

// bindOne checks berth's own table, then binds; the port is marked held
// on success.
func (r *Reserver) bindOne(proto string, ip netip.Addr, port uint16) (int, error) {
	key := portKey{proto, port}
	for _, h := range r.held[key] {
		if overlap(h, ip) {
			return -1, &AllocatedError{HostIP: ip, Port: port, PortEnd: port}
		}
	}
	fd, err := bindSocket(proto, ip, port)
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return -1, &InUseError{Proto: proto, HostIP: ip, Port: port, PortEnd: port}
		}
		return -1, fmt.Errorf("cannot publish %s/%s: %w", hostPort(ip, port, port), proto, err)
	}
	r.held[key] = append(r.held[key], ip)
	return fd, nil
}

// unbind closes fds, held for ports start.., and forgets them.
func (r *Reserver) unbind(b Binding, start uint16, fds []int) error {
	var errs []error
	for i, fd := range fds {
		key := portKey{b.Proto, start + uint16(i)}
		ips := r.held[key]
		if j := indexOf(ips, b.HostIP); j >= 0 {
			ips = append(ips[:j], ips[j+1:]...)
		}
		if len(ips) == 0 {
			delete(r.held, key)
		} else {
			r.held[key] = ips
		}
		if err := unix.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("release %s/%s: %w", hostPort(b.HostIP, key.port, key.port), b.Proto, err))
		}
	}
	return errors.Join(errs...)
}

func indexOf(ips []netip.Addr, ip netip.Addr) int {
	for i, a := range ips {
		if a == ip {
			return i
		}
	}
	return -1
}

func (r *Reserver) releaser(b Binding, fds []int) func() error {
	released := false
	return func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if released {
			return nil
		}
		released = true
		return r.unbind(b, b.HostPort, fds)
	}
}

// overlap reports whether two host addresses share a port: the zero
// address covers everything, an unspecified address its whole family.
func overlap(a, b netip.Addr) bool {
	switch {
	case !a.IsValid() || !b.IsValid():
		return true
	case a.Is4() != b.Is4():
		return false
	case a.IsUnspecified() || b.IsUnspecified():
		return true
	}
	return a == b
}

// bindSocket binds one socket. The zero address gets a dual-stack IPv6
// socket, which holds the port for IPv4 and IPv6 at once, or an IPv4
// socket where IPv6 is unavailable.
func bindSocket(proto string, ip netip.Addr, port uint16) (int, error) {
	if !ip.IsValid() {
		fd, err := bindFamily(proto, netip.IPv6Unspecified(), port, false)
		if errors.Is(err, unix.EAFNOSUPPORT) {
			return bindFamily(proto, netip.IPv4Unspecified(), port, false)
		}
		return fd, err
	}
	return bindFamily(proto, ip, port, true)
}

func bindFamily(proto string, ip netip.Addr, port uint16, v6only bool) (int, error) {
	typ, protocol := unix.SOCK_STREAM, unix.IPPROTO_TCP
	switch proto {
	case "udp":
		typ, protocol = unix.SOCK_DGRAM, unix.IPPROTO_UDP
	case "sctp":
		protocol = unix.IPPROTO_SCTP
	}
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	if ip.Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET6 {
		// Set explicitly: the default follows the bindv6only sysctl.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(v6only)); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RaiseNoFileLimit sets the soft open-file limit to the hard limit: every
// held port is a descriptor, and one published range can hold thousands.
func RaiseNoFileLimit() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("get open file limit: %w", err)
	}
	if lim.Cur == lim.Max {
		return nil
	}
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise open file limit to %d: %w", lim.Max, err)
	}
	return nil
}

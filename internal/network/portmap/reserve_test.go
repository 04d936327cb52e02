//go:build linux

package portmap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func newReserver(t testing.TB) *Reserver {
	t.Helper()
	r, err := NewReserver()
	if err != nil {
		t.Fatalf("NewReserver() = %v, want nil", err)
	}
	return r
}

// reserve calls Reserve and releases the ports when the test ends.
func reserve(t *testing.T, r *Reserver, b Binding) Binding {
	t.Helper()
	got, release, err := r.Reserve(b)
	if err != nil {
		t.Fatalf("Reserve(%v) = %v, want nil", b, err)
	}
	t.Cleanup(func() {
		if err := release(); err != nil {
			t.Errorf("release(%v) = %v, want nil", got, err)
		}
	})
	return got
}

// freePort returns a port in the ephemeral range that was free a moment
// ago: the kernel picks it from the same range berth uses.
func freePort(t *testing.T, proto string) uint16 {
	t.Helper()
	fd, err := bindSocket(proto, loopback, 0)
	if err != nil {
		t.Fatalf("bind probe socket: %v", err)
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return uint16(sa.(*unix.SockaddrInet4).Port)
}

func TestNewReserverRange(t *testing.T) {
	r := newReserver(t)
	if r.lo == 0 || r.hi < r.lo {
		t.Errorf("NewReserver() range = %d-%d, want a valid range", r.lo, r.hi)
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		lo, hi  uint16
		wantErr bool
	}{
		{"32768\t60999\n", 32768, 60999, false},
		{"1024 1024", 1024, 1024, false},
		{"60999 32768", 0, 0, true},
		{"0 100", 0, 0, true},
		{"32768", 0, 0, true},
		{"a b", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			lo, hi, err := parseRange(tt.in)
			if lo != tt.lo || hi != tt.hi || (err != nil) != tt.wantErr {
				t.Errorf("parseRange(%q) = %d, %d, %v, want %d, %d, error %v", tt.in, lo, hi, err, tt.lo, tt.hi, tt.wantErr)
			}
		})
	}
}

func TestReserveConflicts(t *testing.T) {
	r := newReserver(t)
	port := freePort(t, "tcp")
	reserve(t, r, Binding{Proto: "tcp", HostPort: port, ContainerPort: 6379})
	tests := []struct {
		name string
		b    Binding
		want string
	}{
		{"same port all addresses", Binding{Proto: "tcp", HostPort: port, ContainerPort: 80},
			fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", port)},
		{"same port loopback", Binding{Proto: "tcp", HostIP: loopback, HostPort: port, ContainerPort: 80},
			fmt.Sprintf("Bind for 127.0.0.1:%d failed: port is already allocated", port)},
		{"same port v6 loopback", Binding{Proto: "tcp", HostIP: netip.IPv6Loopback(), HostPort: port, ContainerPort: 80},
			fmt.Sprintf("Bind for [::1]:%d failed: port is already allocated", port)},
		{"inside a range", Binding{Proto: "tcp", HostPort: port - 1, HostPortEnd: port + 1, ContainerPort: 80, ContainerPortEnd: 82},
			fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := r.Reserve(tt.b)
			if !errors.Is(err, ErrAllocated) || err.Error() != tt.want {
				t.Errorf("Reserve(%v) = %v, want %q", tt.b, err, tt.want)
			}
		})
	}
	// Another protocol on the same number is a different port.
	reserve(t, r, Binding{Proto: "udp", HostPort: port, ContainerPort: 6379})
}

func TestAllocatedErrorMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&AllocatedError{Port: 6379, PortEnd: 6379}, "Bind for 0.0.0.0:6379 failed: port is already allocated"},
		{&AllocatedError{HostIP: netip.MustParseAddr("::1"), Port: 80, PortEnd: 81}, "Bind for [::1]:80-81 failed: port is already allocated"},
		{&InUseError{Proto: "tcp", Port: 6379, PortEnd: 6379}, "cannot publish 0.0.0.0:6379/tcp: address already in use by another program"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReserveHeldByOtherProgram(t *testing.T) {
	r := newReserver(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	tests := []Binding{
		{Proto: "tcp", HostIP: loopback, HostPort: port, ContainerPort: 80},
		{Proto: "tcp", HostPort: port, ContainerPort: 80},
		{Proto: "tcp", HostPort: port - 2, HostPortEnd: port, ContainerPort: 80, ContainerPortEnd: 82},
	}
	for _, b := range tests {
		t.Run(b.String(), func(t *testing.T) {
			_, _, err := r.Reserve(b)
			want := fmt.Sprintf("cannot publish %s:%d/tcp: address already in use by another program", displayIP(b.HostIP), port)
			if err == nil || err.Error() != want || !errors.Is(err, unix.EADDRINUSE) {
				t.Fatalf("Reserve(%v) = %v, want %q", b, err, want)
			}
			// All or nothing: the other ports of a range must be free again.
			for p := b.HostPort; p < port; p++ {
				reserveAndRelease(t, r, Binding{Proto: "tcp", HostPort: p, ContainerPort: 80})
			}
		})
	}
}

func displayIP(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.String()
}

func reserveAndRelease(t *testing.T, r *Reserver, b Binding) {
	t.Helper()
	_, release, err := r.Reserve(b)
	if err != nil {
		t.Fatalf("Reserve(%v) = %v, want nil", b, err)
	}
	if err := release(); err != nil {
		t.Fatalf("release() = %v, want nil", err)
	}
}

func TestReserveBlocksOtherPrograms(t *testing.T) {
	r := newReserver(t)
	tests := []struct {
		b       Binding
		network string
		addr    string
	}{
		{Binding{Proto: "tcp", ContainerPort: 80}, "tcp4", "127.0.0.1"},
		{Binding{Proto: "tcp", ContainerPort: 80}, "tcp6", "[::1]"},
		{Binding{Proto: "udp", ContainerPort: 53}, "udp4", "0.0.0.0"},
		{Binding{Proto: "tcp", HostIP: loopback, ContainerPort: 80}, "tcp4", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.b.String()+" "+tt.network, func(t *testing.T) {
			got := reserve(t, r, tt.b)
			addr := fmt.Sprintf("%s:%d", tt.addr, got.HostPort)
			var err error
			if strings.HasPrefix(tt.network, "udp") {
				var c net.PacketConn
				if c, err = net.ListenPacket(tt.network, addr); err == nil {
					c.Close()
				}
			} else {
				var l net.Listener
				// net.Listen sets SO_REUSEADDR; the bound socket must win anyway.
				if l, err = net.Listen(tt.network, addr); err == nil {
					l.Close()
				}
			}
			if !errors.Is(err, unix.EADDRINUSE) {
				t.Errorf("listen %s %s while reserved = %v, want %v", tt.network, addr, err, unix.EADDRINUSE)
			}
		})
	}
}

func TestReserveRandomDistinct(t *testing.T) {
	r := newReserver(t)
	seen := make(map[uint16]bool)
	for range 100 {
		b := reserve(t, r, Binding{Proto: "tcp", ContainerPort: 80})
		if seen[b.HostPort] || b.HostPort < r.lo || b.HostPort > r.hi || b.HostPortEnd != b.HostPort {
			t.Fatalf("Reserve() = %v, want a fresh port in %d-%d", b, r.lo, r.hi)
		}
		seen[b.HostPort] = true
	}
}

func TestReserveRandomRange(t *testing.T) {
	r := newReserver(t)
	b := reserve(t, r, Binding{Proto: "udp", ContainerPort: 5000, ContainerPortEnd: 5009})
	if b.HostPortEnd-b.HostPort != 9 || b.HostPort < r.lo || b.HostPortEnd > r.hi {
		t.Fatalf("Reserve(10 ports) = %v, want 10 ports in %d-%d", b, r.lo, r.hi)
	}
	for p := b.HostPort; p <= b.HostPortEnd; p++ {
		_, _, err := r.Reserve(Binding{Proto: "udp", HostPort: p, ContainerPort: 1})
		if !errors.Is(err, ErrAllocated) {
			t.Errorf("Reserve(udp %d) = %v, want %v", p, err, ErrAllocated)
		}
	}
}

func TestReserveOneOfRange(t *testing.T) {
	r := newReserver(t)
	port := freePort(t, "tcp")
	first := reserve(t, r, Binding{Proto: "tcp", HostPort: port, HostPortEnd: port + 1, ContainerPort: 80})
	second := reserve(t, r, Binding{Proto: "tcp", HostPort: port, HostPortEnd: port + 1, ContainerPort: 81})
	if first.HostPort == second.HostPort || first.HostPortEnd != first.HostPort {
		t.Fatalf("Reserve() twice from %d-%d = %v and %v, want two single distinct ports", port, port+1, first, second)
	}
	_, _, err := r.Reserve(Binding{Proto: "tcp", HostPort: port, HostPortEnd: port + 1, ContainerPort: 82})
	want := fmt.Sprintf("Bind for 0.0.0.0:%d-%d failed: port is already allocated", port, port+1)
	if err == nil || err.Error() != want {
		t.Errorf("Reserve() from a full range = %v, want %q", err, want)
	}
}

func TestReleaseFreesPorts(t *testing.T) {
	r := newReserver(t)
	port := freePort(t, "tcp")
	b := Binding{Proto: "tcp", HostIP: loopback, HostPort: port, ContainerPort: 80}
	_, release, err := r.Reserve(b)
	if err != nil {
		t.Fatalf("Reserve(%v) = %v, want nil", b, err)
	}
	for i := range 2 {
		if err := release(); err != nil {
			t.Fatalf("release() #%d = %v, want nil", i, err)
		}
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("listen after release = %v, want nil", err)
	}
	ln.Close()
	reserveAndRelease(t, r, b)
}

func TestReserveInvalid(t *testing.T) {
	r := newReserver(t)
	tests := []struct {
		b    Binding
		want string
	}{
		{Binding{Proto: "icmp", ContainerPort: 80}, "invalid proto: icmp"},
		{Binding{Proto: "tcp"}, "invalid containerPort: 0"},
		{Binding{Proto: "tcp", HostPort: 8000, HostPortEnd: 8001, ContainerPort: 80, ContainerPortEnd: 82},
			"invalid ranges specified for container and host Ports: 80-82 and 8000-8001"},
		{Binding{Proto: "tcp", HostIP: netip.MustParseAddr("192.0.2.1"), HostPort: 8000, ContainerPort: 80},
			"cannot publish 192.0.2.1:8000/tcp: cannot assign requested address"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, _, err := r.Reserve(tt.b)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Reserve(%+v) = %v, want %q", tt.b, err, tt.want)
			}
		})
	}
}

func TestRaiseNoFileLimit(t *testing.T) {
	if err := RaiseNoFileLimit(); err != nil {
		t.Fatalf("RaiseNoFileLimit() = %v, want nil", err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != lim.Max {
		t.Errorf("RLIMIT_NOFILE = %d/%d, want soft = hard", lim.Cur, lim.Max)
	}
}

func BenchmarkReserveRange1000(b *testing.B) {
	if err := RaiseNoFileLimit(); err != nil {
		b.Fatal(err)
	}
	r := newReserver(b)
	bind := Binding{Proto: "tcp", ContainerPort: 10000, ContainerPortEnd: 10999}
	for b.Loop() {
		_, release, err := r.Reserve(bind)
		if err != nil {
			b.Fatal(err)
		}
		if err := release(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveOne(b *testing.B) {
	r := newReserver(b)
	bind := Binding{Proto: "tcp", ContainerPort: 80}
	for b.Loop() {
		_, release, err := r.Reserve(bind)
		if err != nil {
			b.Fatal(err)
		}
		if err := release(); err != nil {
			b.Fatal(err)
		}
	}
}

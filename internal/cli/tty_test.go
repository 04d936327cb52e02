package cli

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// lockedBuffer collects a pty's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func openPty(t *testing.T) (ptmx, tty *os.File, out *lockedBuffer) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty available: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	out = &lockedBuffer{}
	go func() { _, _ = io.Copy(out, ptmx) }()
	return ptmx, tty, out
}

func runOnTTY(t *testing.T, host string, tty *os.File, args ...string) int {
	t.Helper()
	root := NewRootCommand(tty, tty, tty)
	root.SetArgs(append([]string{"-H", host}, args...))
	done := make(chan int, 1)
	go func() { done <- Execute(root) }()
	select {
	case code := <-done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("berth %v did not finish", args)
	}
	return -1
}

func TestRunInteractiveTTYRestoresTerminal(t *testing.T) {
	ptmx, tty, out := openPty(t)
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	d := newFakeDaemon(t)
	handleRunLifecycle(d, 0, nil)
	d.handle("POST /containers/c0ffee/resize", noContent)
	d.handle("POST /containers/c0ffee/attach", hijackHandler(t, func(rw *bufio.ReadWriter, _ func()) {
		line := make([]byte, 3)
		_, _ = io.ReadFull(rw, line)
		_, _ = rw.WriteString("echo:" + string(line) + "\r\n")
		_ = rw.Flush()
	}))
	go func() { _, _ = ptmx.Write([]byte("abc")) }()

	if code := runOnTTY(t, d.host, tty, "run", "-it", "alpine", "sh"); code != 0 {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "echo:abc") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "echo:abc") {
		t.Errorf("output %q", out.String())
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag {
		t.Errorf("terminal mode not restored: lflag %x -> %x", before.Lflag, after.Lflag)
	}
}

func TestRunDetachKeys(t *testing.T) {
	ptmx, tty, _ := openPty(t)
	d := newFakeDaemon(t)
	handleRunLifecycle(d, 0, nil)
	d.handle("POST /containers/c0ffee/resize", noContent)
	d.handle("POST /containers/c0ffee/attach", hijackHandler(t, func(rw *bufio.ReadWriter, _ func()) {
		_, _ = io.Copy(io.Discard, rw)
	}))
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = ptmx.Write([]byte{16, 17})
	}()
	if code := runOnTTY(t, d.host, tty, "run", "-it", "alpine", "sh"); code != 0 {
		t.Fatalf("exit %d after detach", code)
	}
}

func TestRunInteractiveTTYNeedsTerminal(t *testing.T) {
	d := newFakeDaemon(t)
	_, errOut, code := runCLI(t, d.host, "", "run", "-it", "alpine")
	if code != 125 || !strings.Contains(errOut, "the input device is not a TTY") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

package interactive

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
	"github.com/creack/pty"
)

// session is the docker CLI running on a pty, as on a user's terminal.
type session struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	pty  *os.File

	mu   sync.Mutex
	out  []byte
	mark int // expect looks from here on

	done chan struct{}
	code int
}

// startSession runs `docker args...` against h on a new pty of rows x cols.
func startSession(t *testing.T, h *harness.Host, rows, cols uint16, args ...string) *session {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+h.Sock, "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		t.Fatalf("start docker %s on a pty: %v", strings.Join(args, " "), err)
	}
	s := &session{t: t, name: "docker " + strings.Join(args, " "), cmd: cmd, pty: f, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			s.mu.Lock()
			s.out = append(s.out, buf[:n]...)
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		s.code = cmd.ProcessState.ExitCode()
		if err != nil && s.code < 0 {
			s.code = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			<-s.done
		}
		f.Close()
	})
	return s
}

// output returns everything the terminal showed so far.
func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.out)
}

// expect waits until the terminal shows text matching re after the last
// match, and returns the match.
func (s *session) expect(re string, timeout time.Duration) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		loc := rx.FindIndex(s.out[s.mark:])
		var m string
		if loc != nil {
			m = string(s.out[s.mark+loc[0] : s.mark+loc[1]])
			s.mark += loc[1]
		}
		s.mu.Unlock()
		if loc != nil {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: terminal did not show %q within %s; it showed:\n%q", s.name, re, timeout, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send types text on the terminal.
func (s *session) send(text string) {
	s.t.Helper()
	if _, err := s.pty.Write([]byte(text)); err != nil {
		s.t.Fatalf("%s: type %q: %v", s.name, text, err)
	}
}

// resize changes the terminal's size; the kernel signals SIGWINCH to the CLI.
func (s *session) resize(rows, cols uint16) {
	s.t.Helper()
	if err := pty.Setsize(s.pty, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		s.t.Fatalf("resize: %v", err)
	}
}

// wait returns the CLI's exit code, failing if it runs past timeout.
func (s *session) wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		s.t.Fatalf("%s still running after %s; terminal showed:\n%q", s.name, timeout, s.output())
		return 0
	}
}

// exited reports whether the CLI has ended.
func (s *session) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// inspect reads one field of a container with a Go template.
func inspect(h *harness.Host, name, format string) string {
	return strings.TrimSpace(h.Docker("inspect", "-f", format, name).Stdout)
}

// waitState waits until the container's status is want.
func waitState(t *testing.T, h *harness.Host, name, want string, timeout time.Duration) {
	t.Helper()
	harness.WaitFor(t, fmt.Sprintf("%s to be %s", name, want), timeout, func() bool {
		return inspect(h, name, "{{.State.Status}}") == want
	})
}

// rawAttach opens POST /containers/{name}/attach?query as a hijacked
// connection, as API clients other than the docker CLI do.
func rawAttach(t *testing.T, h *harness.Host, name, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", h.Sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /containers/%s/attach?%s HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", name, query)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("attach %s: %v %v", name, resp, err)
	}
	return c, br
}

package interactive

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestDaemonKillKeepsContainers kills the daemon with SIGKILL while three
// containers run (one on a TTY); one of them ends while no daemon runs. The
// next daemon finds the two others running and reachable, learns the third's
// true exit code, and no log line is lost.
func TestDaemonKillKeepsContainers(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--name", "plain", "busybox", "sh", "-c",
		"i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done")
	h.Must("run", "-d", "-t", "--name", "tty", "busybox", "sh", "-c",
		"i=0; while true; do echo tty $i; i=$((i+1)); sleep 0.1; done")
	h.Must("run", "-d", "--name", "ender", "busybox", "sh", "-c", "echo started; sleep 2; echo bye; exit 7")
	h.Must("run", "-dit", "--name", "shell", "busybox", "sh")
	time.Sleep(500 * time.Millisecond)
	before := countLines(h.Must("logs", "plain"))

	h.StopDaemon(syscall.SIGKILL)
	time.Sleep(3 * time.Second) // ender exits meanwhile
	h.StartDaemon()

	out := h.Must("ps", "-a", "--format", "{{.Names}} {{.State}}")
	for _, want := range []string{"plain running", "tty running", "ender exited", "shell running"} {
		if !strings.Contains(out, want) {
			t.Fatalf("after daemon SIGKILL and restart, ps -a lacks %q:\n%s", want, out)
		}
	}
	if got := inspect(h, "ender", "{{.State.ExitCode}}"); got != "7" {
		t.Fatalf("ender's exit code after the daemon restart = %s, want 7", got)
	}
	if r := h.Docker("wait", "ender"); strings.TrimSpace(r.Stdout) != "7" {
		t.Fatalf("docker wait ender: %v", r)
	}
	if r := h.Docker("logs", "ender"); r.Stdout != "started\nbye\n" {
		t.Fatalf("docker logs ender: %v", r)
	}
	for _, name := range []string{"plain", "tty"} {
		if r := h.Docker("exec", name, "echo", "alive"); r.Code != 0 || r.Stdout != "alive\n" {
			t.Fatalf("docker exec %s after the daemon restart: %v", name, r)
		}
	}

	// No line lost: the numbers run on without a gap through the outage.
	checkSequence(t, "plain", "line", "\n", h.Must("logs", "plain"), before+20)
	checkSequence(t, "tty", "tty", "\r\n", h.Docker("logs", "tty").Stdout, 20)

	// logs -f and attach reach the running containers again.
	if line := firstLine(t, h, 10*time.Second, "logs", "-f", "--tail", "0", "plain"); !strings.HasPrefix(line, "line ") {
		t.Fatalf("docker logs -f plain after the restart: first line %q", line)
	}
	if line := firstLine(t, h, 10*time.Second, "attach", "--no-stdin", "--sig-proxy=false", "tty"); !strings.HasPrefix(line, "tty ") {
		t.Fatalf("docker attach tty after the restart: first line %q", line)
	}
	s := startSession(t, h, 24, 80, "attach", "shell")
	time.Sleep(500 * time.Millisecond)
	s.send("echo $((6*7))\r")
	s.expect(`\r\n42\r\n`, 5*time.Second)
	s.send("exit 9\r")
	if code := s.wait(10 * time.Second); code != 9 {
		t.Fatalf("docker attach shell; exit 9: exit %d; terminal:\n%q", code, s.output())
	}

	// stop works on a container started by the previous daemon.
	start := time.Now()
	h.Must("stop", "-t", "1", "plain")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("docker stop -t 1 plain took %s", took)
	}
	if st := inspect(h, "plain", "{{.State.Status}}"); st != "exited" {
		t.Fatalf("plain after stop: %s", st)
	}
	checkSequence(t, "plain", "line", "\n", h.Must("logs", "plain"), before+20)
}

func countLines(s string) int { return len(strings.Split(strings.TrimSpace(s), "\n")) }

// checkSequence asserts that log holds "<prefix> 0", "<prefix> 1", ... with
// no gap, and at least min of them.
func checkSequence(t *testing.T, name, prefix, sep, log string, min int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(log, sep), sep)
	for i, l := range lines {
		if want := fmt.Sprintf("%s %d", prefix, i); l != want {
			t.Fatalf("docker logs %s: line %d = %q, want %q (a line was lost)", name, i, l, want)
		}
	}
	if len(lines) < min {
		t.Fatalf("docker logs %s: %d lines, want at least %d", name, len(lines), min)
	}
}

// firstLine runs docker args and returns the first line it prints, then ends it.
func firstLine(t *testing.T, h *harness.Host, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+h.Sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("docker %s: no line within %s: %v", strings.Join(args, " "), timeout, err)
	}
	return strings.TrimRight(line, "\r\n")
}

package interactive

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestRestartPolicies covers --restart always, on-failure:N and
// unless-stopped, through process deaths, manual stops and daemon restarts,
// and `docker restart`.
func TestRestartPolicies(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--restart", "always", "--name", "always", "busybox", "sleep", "600")
	h.Must("run", "-d", "--restart", "on-failure:2", "--name", "flaky", "busybox", "sh", "-c", "sleep 0.2; exit 3")
	h.Must("run", "-d", "--restart", "unless-stopped", "--name", "unless", "busybox", "sleep", "600")
	h.Must("run", "-d", "--restart", "no", "--name", "never", "busybox", "sh", "-c", "exit 1")

	// always: the process dies (not through the API), the container comes back.
	pid1 := inspect(h, "always", "{{.State.Pid}}")
	pid, _ := strconv.Atoi(pid1)
	syscall.Kill(pid, syscall.SIGKILL)
	harness.WaitFor(t, "always to run again after its process was killed", 10*time.Second, func() bool {
		return inspect(h, "always", "{{.State.Status}} {{.RestartCount}}") == "running 1"
	})
	if pid2 := inspect(h, "always", "{{.State.Pid}}"); pid2 == pid1 {
		t.Fatalf("always runs with the same pid %s after its process was killed", pid2)
	}
	pid, _ = strconv.Atoi(inspect(h, "always", "{{.State.Pid}}"))
	syscall.Kill(pid, syscall.SIGKILL)
	harness.WaitFor(t, "always to run again after a second kill", 10*time.Second, func() bool {
		return inspect(h, "always", "{{.State.Status}} {{.RestartCount}}") == "running 2"
	})
	// docker kill is a manual stop, as in Docker: no restart until started again.
	h.Must("kill", "always")
	time.Sleep(time.Second)
	if got := inspect(h, "always", "{{.State.Status}} {{.RestartCount}}"); got != "exited 2" {
		t.Fatalf("always after docker kill: %s, want exited 2 (Docker's kill cancels the restart policy)", got)
	}
	h.Must("start", "always")

	// on-failure:2 gives up after two retries.
	harness.WaitFor(t, "flaky to give up", 15*time.Second, func() bool {
		return inspect(h, "flaky", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}") == "exited 2 3"
	})
	time.Sleep(1500 * time.Millisecond)
	if got := inspect(h, "flaky", "{{.State.Status}} {{.RestartCount}}"); got != "exited 2" {
		t.Fatalf("flaky (on-failure:2) after giving up: %s, want exited 2", got)
	}
	if got := inspect(h, "never", "{{.State.Status}} {{.RestartCount}}"); got != "exited 0" {
		t.Fatalf("never (--restart no): %s, want exited 0", got)
	}

	// unless-stopped, stopped by hand, stays stopped across a daemon restart;
	// always comes back even from a manual stop, as in Docker.
	h.Must("stop", "-t", "0", "unless")
	h.Must("stop", "-t", "0", "always")
	h.StopDaemon(syscall.SIGTERM)
	h.StartDaemon()
	waitState(t, h, "always", "running", 10*time.Second)
	time.Sleep(time.Second)
	if st := inspect(h, "unless", "{{.State.Status}}"); st != "exited" {
		t.Fatalf("unless-stopped container after a manual stop and a daemon restart: %s, want exited", st)
	}

	// always, when its process dies while no daemon runs, is restarted by the next one.
	pid, _ = strconv.Atoi(inspect(h, "always", "{{.State.Pid}}"))
	h.StopDaemon(syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(300 * time.Millisecond)
	h.StartDaemon()
	harness.WaitFor(t, "always to run again after a daemon restart", 10*time.Second, func() bool {
		p := inspect(h, "always", "{{.State.Pid}}")
		return inspect(h, "always", "{{.State.Status}}") == "running" && p != strconv.Itoa(pid) && p != "0"
	})
	if r := h.Docker("exec", "always", "true"); r.Code != 0 {
		t.Fatalf("exec into the restarted always: %v", r)
	}

	// docker restart: a new process, the same container.
	h.Must("start", "unless")
	before := inspect(h, "unless", "{{.State.Pid}} {{.State.StartedAt}}")
	h.Must("restart", "-t", "1", "unless")
	after := inspect(h, "unless", "{{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}")
	if !strings.HasPrefix(after, "running ") || strings.TrimPrefix(after, "running ") == before {
		t.Fatalf("docker restart unless: before %q, after %q", before, after)
	}
	h.Must("restart", "-t", "0", "never") // restart of an exited container starts it
	waitState(t, h, "never", "exited", 5*time.Second)
	if got := inspect(h, "never", "{{.State.StartedAt}}"); got == "0001-01-01T00:00:00Z" {
		t.Fatalf("docker restart of an exited container did not start it")
	}
}

package interactive

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestLogsFollow follows a container that prints a line a second and
// stops when it exits; then reads the finished log with --tail, --since and -t.
func TestLogsFollow(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
		"for i in 1 2 3 4; do echo tick $i; sleep 1; done; echo done >&2")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", "-f", "ticker")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+h.Sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Lines arrive as they are printed, not at the end.
	var got []string
	var firstAt, lastAt time.Duration
	buf := make([]byte, 4096)
	var pending string
	for {
		n, err := out.Read(buf)
		pending += string(buf[:n])
		for {
			line, rest, ok := strings.Cut(pending, "\n")
			if !ok {
				break
			}
			pending = rest
			if len(got) == 0 {
				firstAt = time.Since(start)
			}
			lastAt = time.Since(start)
			got = append(got, line)
		}
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker logs -f ticker: %v; stderr %q", err, stderr.String())
	}
	want := []string{"tick 1", "tick 2", "tick 3", "tick 4"}
	if strings.Join(got, "|") != strings.Join(want, "|") || stderr.String() != "done\n" {
		t.Fatalf("docker logs -f ticker: stdout %q stderr %q; want %q and %q", got, stderr.String(), want, "done\n")
	}
	if lastAt-firstAt < 2*time.Second {
		t.Fatalf("docker logs -f delivered all lines within %s: it did not follow", lastAt-firstAt)
	}
	waitState(t, h, "ticker", "exited", 5*time.Second)

	// A stopped container's log, with --tail, -t and --since.
	// --tail counts the lines of both streams.
	if r := h.Docker("logs", "--tail", "3", "ticker"); r.Stdout != "tick 3\ntick 4\n" || r.Stderr != "done\n" {
		t.Fatalf("docker logs --tail 3: %v", r)
	}
	r := h.Docker("logs", "-t", "ticker")
	stamp := regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) tick (\d)$`)
	var stamps []time.Time
	for i, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		m := stamp.FindStringSubmatch(l)
		if m == nil || m[2] != strconv.Itoa(i+1) {
			t.Fatalf("docker logs -t line %d = %q, want an RFC 3339 time then %q", i, l, "tick "+strconv.Itoa(i+1))
		}
		ts, _ := time.Parse(time.RFC3339Nano, m[1])
		stamps = append(stamps, ts)
	}
	if len(stamps) != 4 {
		t.Fatalf("docker logs -t: %v", r)
	}
	since := stamps[2].Add(-100 * time.Millisecond).Format(time.RFC3339Nano)
	if r := h.Docker("logs", "--since", since, "ticker"); r.Stdout != "tick 3\ntick 4\n" || r.Stderr != "done\n" {
		t.Fatalf("docker logs --since %s: %v", since, r)
	}
	until := stamps[1].Add(100 * time.Millisecond).Format(time.RFC3339Nano)
	if r := h.Docker("logs", "--until", until, "ticker"); r.Stdout != "tick 1\ntick 2\n" || r.Stderr != "" {
		t.Fatalf("docker logs --until %s: %v", until, r)
	}
	if r := h.Docker("logs", "--since", "1h", "--tail", "2", "ticker"); r.Stdout != "tick 4\n" {
		t.Fatalf("docker logs --since 1h --tail 1: %v", r)
	}

	// A TTY container's log is raw: one stream, the terminal's line endings.
	h.Must("run", "-t", "--name", "ttylog", "busybox", "sh", "-c", "echo on-tty; echo also >&2")
	if r := h.Docker("logs", "ttylog"); r.Stdout != "on-tty\r\nalso\r\n" {
		t.Fatalf("docker logs of a TTY container: %v", r)
	}
	// logs -f of a container that already ended returns at once.
	done := make(chan harness.Result, 1)
	go func() { done <- h.Docker("logs", "-f", "ttylog") }()
	select {
	case r := <-done:
		if r.Code != 0 {
			t.Fatalf("docker logs -f of an exited container: %v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("docker logs -f of an exited container did not return")
	}
}

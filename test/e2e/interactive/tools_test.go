package interactive

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestEvents reads a container's life from `docker events` with filters
// and a time window.
func TestEvents(t *testing.T) {
	h := harness.NewHost(t)
	since := time.Now().Add(-time.Second)
	h.Must("run", "-d", "--name", "ev", "busybox", "sleep", "600")
	h.Must("run", "-d", "--name", "other", "busybox", "sleep", "600")
	h.Must("stop", "-t", "1", "ev")
	h.Must("rm", "ev")
	time.Sleep(100 * time.Millisecond)
	until := time.Now().Add(time.Second)

	window := []string{"--since", fmt.Sprint(since.Unix()), "--until", fmt.Sprint(until.Unix())}
	args := append([]string{"events", "--filter", "container=ev", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"}, window...)
	r := h.Docker(args...)
	if r.Code != 0 {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), r)
	}
	var actions []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "container" || f[2] != "ev" {
			t.Fatalf("docker events --filter container=ev printed %q", l)
		}
		actions = append(actions, f[1])
	}
	if !inOrder(actions, "create", "start", "die", "stop", "destroy") {
		t.Fatalf("docker events --filter container=ev: actions %q, want create, start, die, stop, destroy in order", actions)
	}
	// Filter by event, and by a container that still exists.
	r = h.Docker(append([]string{"events", "--filter", "event=die", "--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}"}, window...)...)
	if strings.TrimSpace(r.Stdout) != "ev 137" && strings.TrimSpace(r.Stdout) != "ev 143" {
		t.Fatalf("docker events --filter event=die: %v", r)
	}
	r = h.Docker(append([]string{"events", "--filter", "container=other", "--format", "{{.Action}}"}, window...)...)
	if got := strings.Fields(r.Stdout); !inOrder(got, "create", "start") || len(got) != 2 {
		t.Fatalf("docker events --filter container=other: %q", got)
	}
	// --until in the future: events come live and the command ends on time.
	start := time.Now()
	done := make(chan harness.Result, 1)
	go func() {
		done <- h.Docker("events", "--filter", "container=other", "--format", "{{.Action}}",
			"--until", fmt.Sprint(time.Now().Add(3*time.Second).Unix()))
	}()
	time.Sleep(500 * time.Millisecond)
	h.Must("kill", "other")
	r = <-done
	if got := strings.Fields(r.Stdout); !inOrder(got, "kill", "die") {
		t.Fatalf("live docker events: %q (%v)", got, r)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("docker events --until (3 s ahead) ran %s", took)
	}
}

// inOrder reports whether want appear in got in this order (others may be between).
func inOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestTopStatsCp covers docker top, docker stats --no-stream and docker cp
// in both directions, for a running and a stopped container.
func TestTopStatsCp(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--name", "box1", "busybox", "sh", "-c", "sleep 600 & while :; do :; done")

	top := h.Must("top", "box1")
	if !strings.Contains(top, "PID") || !strings.Contains(top, "sleep 600") || !strings.Contains(top, "while") {
		t.Fatalf("docker top box1:\n%s", top)
	}
	pid := inspect(h, "box1", "{{.State.Pid}}")
	if !regexp.MustCompile(`(?m)^root\s+` + pid + `\s`).MatchString(top) {
		t.Fatalf("docker top box1 does not list pid %s as root:\n%s", pid, top)
	}
	if out := h.Must("top", "box1", "-o", "pid,comm"); !strings.Contains(out, "COMMAND") || !strings.Contains(out, "sleep") {
		t.Fatalf("docker top box1 -o pid,comm:\n%s", out)
	}

	out := h.Must("stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}", "box1")
	f := strings.Split(out, "|")
	if len(f) != 4 || f[0] != "box1" {
		t.Fatalf("docker stats --no-stream: %q", out)
	}
	var cpu float64
	fmt.Sscanf(f[1], "%f%%", &cpu)
	if cpu < 5 {
		t.Fatalf("docker stats: CPU %s for a busy loop, want more than 5%%", f[1])
	}
	if !regexp.MustCompile(`^[1-9][0-9.]*[KM]iB / [0-9.]+[MG]iB$`).MatchString(f[2]) {
		t.Fatalf("docker stats: memory %q, want usage / host memory", f[2])
	}
	if f[3] != "2" && f[3] != "3" {
		t.Fatalf("docker stats: PIDs %q, want 2", f[3])
	}

	// docker cp, host -> container and back.
	dir := t.TempDir()
	src := filepath.Join(dir, "in")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o640)
	os.WriteFile(filepath.Join(src, "sub", "b.txt"), []byte("beta\n"), 0o600)
	os.Symlink("a.txt", filepath.Join(src, "link"))
	h.Must("cp", filepath.Join(src, "a.txt"), "box1:/tmp/")
	h.Must("cp", filepath.Join(src, "a.txt"), "box1:/tmp/renamed.txt")
	h.Must("cp", src, "box1:/tmp/tree")
	got := h.Must("exec", "box1", "sh", "-c",
		"cat /tmp/a.txt /tmp/renamed.txt /tmp/tree/a.txt /tmp/tree/sub/b.txt; readlink /tmp/tree/link; stat -c '%a %u' /tmp/tree/a.txt")
	if want := "alpha\nalpha\nalpha\nbeta\na.txt\n640 0"; got != want {
		t.Fatalf("files copied into box1: %q, want %q", got, want)
	}
	h.Must("exec", "box1", "sh", "-c", "mkdir -p /data/d && echo gamma > /data/d/c.txt && ln -s /etc/passwd /data/pw")
	h.Must("cp", "box1:/data/d/c.txt", dir)
	h.Must("cp", "box1:/data", filepath.Join(dir, "out"))
	h.Must("cp", "box1:/data/d/.", filepath.Join(dir, "contents"))
	for p, want := range map[string]string{"c.txt": "gamma\n", "out/d/c.txt": "gamma\n", "contents/c.txt": "gamma\n"} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Fatalf("docker cp from box1: %s = %q, %v; want %q", p, b, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "out", "pw")); err != nil || l != "/etc/passwd" {
		t.Fatalf("docker cp of a symlink: %q %v", l, err)
	}
	if r := h.Docker("cp", "box1:/etc/hostname", "-"); !strings.Contains(r.Stdout, inspect(h, "box1", "{{.Config.Hostname}}")) {
		t.Fatalf("docker cp box1:/etc/hostname - (the container's own hostname file): %v", r)
	}
	if r := h.Docker("cp", "box1:/no/such", dir); r.Code == 0 || !strings.Contains(r.Stderr, "Could not find the file /no/such in container box1") {
		t.Fatalf("docker cp of a missing path: %v", r)
	}

	// A stopped container's files can be copied both ways too.
	h.Must("stop", "-t", "0", "box1")
	h.Must("cp", filepath.Join(src, "sub", "b.txt"), "box1:/tmp/while-stopped")
	h.Must("cp", "box1:/tmp/renamed.txt", filepath.Join(dir, "from-stopped"))
	if b, _ := os.ReadFile(filepath.Join(dir, "from-stopped")); string(b) != "alpha\n" {
		t.Fatalf("docker cp from a stopped container: %q", b)
	}
	h.Must("start", "box1")
	if got := h.Must("exec", "box1", "cat", "/tmp/while-stopped"); got != "beta" {
		t.Fatalf("file copied into the stopped box1: %q", got)
	}
}

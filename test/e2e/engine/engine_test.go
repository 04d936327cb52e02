package engine

import (
	"encoding/json"
	"github.com/berth-project/berth/test/e2e/harness"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunForeground(t *testing.T) {
	h := harness.NewHost(t)
	if r := h.Docker("run", "--rm", "busybox", "echo", "hi"); r.Code != 0 || r.Stdout != "hi\n" {
		t.Fatalf("docker run --rm busybox echo hi: %v; want stdout %q", r, "hi\n")
	}
	if r := h.Docker("run", "busybox", "sh", "-c", "exit 3"); r.Code != 3 {
		t.Fatalf("docker run busybox sh -c 'exit 3' exit code = %d, want 3 (%v)", r.Code, r)
	}
	if r := h.Docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2"); r.Stdout != "out\n" || r.Stderr != "err\n" {
		t.Fatalf("stdout/stderr split: %v", r)
	}
	if r := h.Berth("run", "--rm", "busybox", "echo", "via berth"); r.Code != 0 || r.Stdout != "via berth\n" {
		t.Fatalf("berth run --rm busybox echo: %v", r)
	}
	if r := h.DockerIn("piped\n", "run", "--rm", "-i", "busybox", "cat"); r.Stdout != "piped\n" {
		t.Fatalf("docker run -i busybox cat: %v", r)
	}
}

func TestDetachedLifecycle(t *testing.T) {
	h := harness.NewHost(t)
	id := h.Must("run", "-d", "--rm", "--name", "box1", "busybox", "/bin/sh", "-c", "while true; do sleep 360; done")
	if len(id) != 64 {
		t.Fatalf("docker run -d printed %q, want a 64-character id", id)
	}
	if ps := h.Must("ps"); !strings.Contains(ps, "box1") || !strings.Contains(ps, id[:12]) {
		t.Fatalf("docker ps does not list box1:\n%s", ps)
	}
	var info []struct {
		ID    string `json:"Id"`
		Name  string
		State struct {
			Running bool
			Pid     int
		}
	}
	if err := json.Unmarshal([]byte(h.Must("container", "inspect", "box1")), &info); err != nil || len(info) != 1 {
		t.Fatalf("inspect box1: %v", err)
	}
	if !info[0].State.Running || info[0].State.Pid <= 0 || info[0].Name != "/box1" || info[0].ID != id {
		t.Fatalf("inspect box1 = %+v, want running with a pid", info[0])
	}
	start := time.Now()
	h.Must("stop", "-t", "2", "box1")
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("docker stop -t 2 took %s", took)
	}
	harness.WaitFor(t, "--rm to remove box1", 5*time.Second, func() bool {
		return !strings.Contains(h.Docker("ps", "-a").Stdout, "box1")
	})
}

func TestLogsAndErrors(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "--name", "talker", "busybox", "sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three")
	if r := h.Docker("logs", "talker"); r.Stdout != "one\nthree\n" || r.Stderr != "two\n" {
		t.Fatalf("docker logs talker: %v", r)
	}
	if r := h.Docker("logs", "--tail", "1", "talker"); r.Stdout != "three\n" {
		t.Fatalf("docker logs --tail 1: %v", r)
	}
	if r := h.Docker("run", "--name", "talker", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "is already in use") {
		t.Fatalf("duplicate name: %v", r)
	}
	h.Must("run", "-d", "--name", "runner", "busybox", "sleep", "300")
	if r := h.Docker("rm", "runner"); r.Code == 0 || !strings.Contains(r.Stderr, "stop the container before removing or force remove") {
		t.Fatalf("rm of a running container: %v", r)
	}
	h.Must("rm", "-f", "runner")
	if r := h.Docker("inspect", "nosuch"); r.Code == 0 || !strings.Contains(r.Stderr, "No such") {
		t.Fatalf("inspect nosuch: %v", r)
	}
	start := time.Now()
	r := h.Docker("run", "--rm", "nosuchimage")
	if r.Code == 0 || !strings.Contains(r.Stderr, "nosuchimage") {
		t.Fatalf("run of a missing image: %v", r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("run of a missing image hung for %s", took)
	}
	if r := h.Docker("run", "--rm", "busybox", "/no/such/binary"); r.Code == 0 {
		t.Fatalf("run of a missing binary succeeded: %v", r)
	}
}

func TestImages(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("tag", "busybox:latest", "mybox:v1")
	if out := h.Must("images"); !strings.Contains(out, "mybox") || !strings.Contains(out, "v1") {
		t.Fatalf("docker images after tag:\n%s", out)
	}
	tarPath := filepath.Join(t.TempDir(), "box.tar")
	h.Must("save", "-o", tarPath, "mybox:v1")
	h.Must("rmi", "mybox:v1")
	if out := h.Must("images"); strings.Contains(out, "mybox") {
		t.Fatalf("mybox still listed after rmi:\n%s", out)
	}
	if out := h.Must("load", "-i", tarPath); !strings.Contains(out, "Loaded image: mybox:v1") {
		t.Fatalf("docker load printed %q", out)
	}
	if r := h.Docker("run", "--rm", "mybox:v1", "echo", "loaded"); r.Stdout != "loaded\n" {
		t.Fatalf("run of a loaded image: %v", r)
	}
	data, err := os.ReadFile(harness.Env.RootfsTar)
	if err != nil {
		t.Fatal(err)
	}
	h.DockerIn(string(data), "import", "--change", `CMD ["echo","from-cmd"]`, "--change", "ENV GREETING=hello", "-", "imported:1")
	if r := h.Docker("run", "--rm", "imported:1"); r.Stdout != "from-cmd\n" {
		t.Fatalf("run of an imported image with CMD: %v", r)
	}
	if r := h.Docker("run", "--rm", "imported:1", "sh", "-c", "echo $GREETING"); r.Stdout != "hello\n" {
		t.Fatalf("image ENV not honoured: %v", r)
	}
}

// TestDaemonKillKeepsRecords kills the daemon with SIGKILL while containers
// run and one is being created; no record may be lost, duplicated or broken.
func TestDaemonKillKeepsRecords(t *testing.T) {
	h := harness.NewHost(t)
	for _, n := range []string{"k1", "k2"} {
		h.Must("run", "-d", "--name", n, "busybox", "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")
	}
	h.Must("create", "--name", "k3", "busybox", "true")
	go h.Docker("run", "-d", "--name", "inflight", "busybox", "sleep", "300")
	time.Sleep(30 * time.Millisecond)
	h.StopDaemon(syscall.SIGKILL)
	time.Sleep(600 * time.Millisecond)
	h.StartDaemon()
	out := h.Must("ps", "-a", "--format", "{{.Names}} {{.State}}")
	for _, want := range []string{"k1 running", "k2 running", "k3 created"} {
		if !strings.Contains(out, want) {
			t.Fatalf("after daemon SIGKILL, ps -a lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "k1 "); n != 1 {
		t.Fatalf("k1 listed %d times:\n%s", n, out)
	}
	logs := h.Must("logs", "k1")
	lines := strings.Split(logs, "\n")
	for i, l := range lines {
		if l != "line "+itoa(i) {
			t.Fatalf("log line %d = %q, want %q (a line was lost)", i, l, "line "+itoa(i))
		}
	}
	if r := h.Docker("exec", "k2", "echo", "alive"); r.Stdout != "alive\n" {
		t.Fatalf("exec after daemon restart: %v", r)
	}
	h.Must("stop", "-t", "1", "k1")
	if st := h.Must("inspect", "-f", "{{.State.Status}}", "k1"); st != "exited" {
		t.Fatalf("k1 after stop: %s", st)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

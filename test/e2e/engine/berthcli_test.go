package engine

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestBerthCLI runs the seed's commands through berth's own CLI.
func TestBerthCLI(t *testing.T) {
	h := harness.NewHost(t)
	must := func(args ...string) string {
		t.Helper()
		r := h.Berth(args...)
		if r.Code != 0 {
			t.Fatalf("berth %s: %v", strings.Join(args, " "), r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	id := must("run", "-d", "--rm", "--name", "box1", "busybox", "/bin/sh", "-c", "echo started; while true; do sleep 360; done")
	if len(id) != 64 {
		t.Fatalf("berth run -d printed %q", id)
	}
	if ps := must("ps"); !strings.Contains(ps, "box1") || !strings.HasPrefix(ps, "CONTAINER ID") {
		t.Fatalf("berth ps:\n%s", ps)
	}
	if pid := must("container", "inspect", "-f", "{{.State.Pid}}", "box1"); pid == "0" || pid == "" {
		t.Fatalf("berth container inspect -f {{.State.Pid}} = %q", pid)
	}
	harness.WaitFor(t, "box1's first line", 5e9, func() bool { return h.Berth("logs", "box1").Stdout == "started\n" })
	if out := must("exec", "box1", "cat", "/etc/hostname"); out != id[:12] {
		t.Fatalf("berth exec box1 cat /etc/hostname = %q, want %q", out, id[:12])
	}
	must("stop", "-t", "1", "box1")
	harness.WaitFor(t, "--rm to remove box1", 5e9, func() bool { return !strings.Contains(must("ps", "-a"), "box1") })

	if imgs := must("images"); !strings.Contains(imgs, "busybox") || !strings.Contains(imgs, "latest") {
		t.Fatalf("berth images:\n%s", imgs)
	}
	tarPath := filepath.Join(h.Dir(), "busybox.tar")
	must("save", "-o", tarPath, "busybox:latest")
	must("tag", "busybox:latest", "copy:1")
	must("rmi", "copy:1")
	if out := must("load", "-i", tarPath); !strings.Contains(out, "busybox:latest") {
		t.Fatalf("berth load printed %q", out)
	}
	if out := must("import", harness.Env.RootfsTar, "imported:cli"); !strings.HasPrefix(out, "sha256:") {
		t.Fatalf("berth import printed %q", out)
	}
	must("run", "-d", "--name", "victim", "imported:cli", "sleep", "300")
	if r := h.Berth("rm", "victim"); r.Code == 0 {
		t.Fatalf("berth rm of a running container succeeded: %v", r)
	}
	must("rm", "-f", "victim")
	if r := h.Berth("run", "--rm", "busybox", "sh", "-c", "exit 4"); r.Code != 4 {
		t.Fatalf("berth run exit code = %d, want 4 (%v)", r.Code, r)
	}
}

package engine

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestListWaitPrune covers ps filters, wait, kill, restart and prune.
func TestListWaitPrune(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--name", "up1", "--label", "tier=web", "busybox", "sleep", "300")
	if r := h.Docker("run", "--name", "done7", "--label", "tier=batch", "busybox", "sh", "-c", "exit 7"); r.Code != 7 {
		t.Fatalf("run exit 7: %v", r)
	}
	h.Must("create", "--name", "fresh", "busybox", "true")

	for _, tc := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"ps", "--format", "{{.Names}}"}, []string{"up1"}, []string{"done7", "fresh"}},
		{[]string{"ps", "-a", "--format", "{{.Names}}"}, []string{"up1", "done7", "fresh"}, nil},
		{[]string{"ps", "-a", "-f", "name=done", "--format", "{{.Names}}"}, []string{"done7"}, []string{"up1"}},
		{[]string{"ps", "-a", "-f", "status=exited", "--format", "{{.Names}} {{.Status}}"}, []string{"done7 Exited (7)"}, []string{"up1", "fresh"}},
		{[]string{"ps", "-a", "-f", "status=created", "--format", "{{.Names}}"}, []string{"fresh"}, []string{"up1"}},
		{[]string{"ps", "-a", "-f", "label=tier=web", "--format", "{{.Names}}"}, []string{"up1"}, []string{"done7"}},
	} {
		out := h.Must(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("docker %s = %q, want %q", strings.Join(tc.args, " "), out, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("docker %s = %q, must not list %q", strings.Join(tc.args, " "), out, n)
			}
		}
	}

	if out := h.Must("wait", "done7"); out != "7" {
		t.Fatalf("docker wait done7 = %q, want 7", out)
	}
	h.Must("kill", "up1")
	if out := h.Must("wait", "up1"); out != "137" {
		t.Fatalf("docker wait after kill = %q, want 137", out)
	}
	h.Must("start", "up1")
	if st := h.Must("inspect", "-f", "{{.State.Running}}", "up1"); st != "true" {
		t.Fatalf("up1 after start: running=%s", st)
	}
	if r := h.Docker("start", "up1"); r.Code != 0 {
		t.Fatalf("docker start of a running container must succeed quietly (304): %v", r)
	}
	pruned := h.Must("container", "prune", "-f")
	if !strings.Contains(pruned, "Total reclaimed space") {
		t.Fatalf("container prune printed %q", pruned)
	}
	out := h.Must("ps", "-a", "--format", "{{.Names}}")
	if out != "up1" {
		t.Fatalf("after prune ps -a = %q, want only the running up1", out)
	}
}

// TestImagePrune removes unused images with -a and keeps the ones in use.
func TestImagePrune(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("tag", "busybox:latest", "spare:1")
	h.DockerIn(harness.ReadFile(t, harness.Env.RootfsTar), "import", "--change", "LABEL x=y", "-", "other:1")
	h.Must("run", "-d", "--name", "user", "busybox", "sleep", "300")
	out := h.Must("image", "prune", "-a", "-f")
	if !strings.Contains(out, "other:1") {
		t.Fatalf("image prune -a -f = %q, want other:1 removed", out)
	}
	imgs := h.Must("images", "--format", "{{.Repository}}:{{.Tag}}")
	if strings.Contains(imgs, "other") || !strings.Contains(imgs, "busybox:latest") {
		t.Fatalf("images after prune:\n%s", imgs)
	}
}

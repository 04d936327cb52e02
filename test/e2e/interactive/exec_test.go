package interactive

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-project/berth/test/e2e/harness"
)

// TestExecNonInteractive covers `docker exec` without a terminal: exit
// codes, output streams, -e, -w, -u, stdin, and the errors users meet.
func TestExecNonInteractive(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--name", "box1", "busybox", "sleep", "600")

	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{args: []string{"box1", "false"}, code: 1},
		{args: []string{"box1", "sh", "-c", "exit 42"}, code: 42},
		{args: []string{"box1", "echo", "hello"}, stdout: "hello\n"},
		{args: []string{"box1", "sh", "-c", "echo out; echo err >&2"}, stdout: "out\n", stderrPart: "err\n"},
		{args: []string{"-e", "FOO=bar", "-e", "PATH=/bin", "box1", "sh", "-c", "echo $FOO:$PATH"}, stdout: "bar:/bin\n"},
		{args: []string{"-w", "/tmp", "box1", "pwd"}, stdout: "/tmp\n"},
		{args: []string{"-u", "nobody", "box1", "id", "-u"}, stdout: "65534\n"},
		{args: []string{"-u", "1234:5678", "box1", "sh", "-c", "id -u; id -g"}, stdout: "1234\n5678\n"},
		{args: []string{"box1", "ip", "-o", "link", "show", "lo"}, stdout: ": lo: "},
		{args: []string{"box1", "/no/such/binary"}, code: 127, stderrPart: "no such file or directory"},
	} {
		args := append([]string{"exec"}, tc.args...)
		r := h.Docker(args...)
		if r.Code != tc.code {
			t.Errorf("docker %s: exit %d, want %d (%v)", strings.Join(args, " "), r.Code, tc.code, r)
			continue
		}
		if tc.stdout != "" && !strings.Contains(r.Stdout, tc.stdout) {
			t.Errorf("docker %s: stdout %q, want %q", strings.Join(args, " "), r.Stdout, tc.stdout)
		}
		if tc.stderrPart != "" && !strings.Contains(r.Stderr, tc.stderrPart) {
			t.Errorf("docker %s: stderr %q, want it to contain %q", strings.Join(args, " "), r.Stderr, tc.stderrPart)
		}
	}
	if r := h.DockerIn("from stdin\n", "exec", "-i", "box1", "cat"); r.Code != 0 || r.Stdout != "from stdin\n" {
		t.Errorf("docker exec -i box1 cat: %v", r)
	}
	if r := h.Docker("exec", "-d", "box1", "sh", "-c", "echo detached > /tmp/d"); r.Code != 0 {
		t.Errorf("docker exec -d: %v", r)
	}
	harness.WaitFor(t, "exec -d to write /tmp/d", 5e9, func() bool {
		return h.Docker("exec", "box1", "cat", "/tmp/d").Stdout == "detached\n"
	})

	// The exec's record, as docker inspect-minded clients read it.
	code, body := h.API("POST", "/containers/box1/exec", map[string]any{"Cmd": []string{"sh", "-c", "exit 3"}})
	if code != http.StatusCreated {
		t.Fatalf("POST /containers/box1/exec: %d %s", code, body)
	}

	// Exec into a stopped container is Docker's 409 with Docker's words.
	h.Must("stop", "-t", "0", "box1")
	r := h.Docker("exec", "box1", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "is not running") {
		t.Fatalf("docker exec into a stopped container: %v", r)
	}
	id := h.Must("inspect", "-f", "{{.Id}}", "box1")
	code, body = h.API("POST", "/containers/box1/exec", map[string]any{"Cmd": []string{"true"}})
	if want := "container " + id + " is not running"; code != http.StatusConflict || !strings.Contains(body, want) {
		t.Fatalf("POST /containers/box1/exec on a stopped container: %d %s; want 409 %q", code, body, want)
	}
	if r := h.Docker("exec", "nosuch", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "No such container: nosuch") {
		t.Fatalf("docker exec nosuch: %v", r)
	}
}

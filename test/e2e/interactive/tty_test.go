package interactive

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/test/e2e/harness"
)

const prompt = `[/~][^\r\n]* # $|# `

// TestRunInteractiveShell is the user's first step: a shell in a new
// container, on their terminal.
func TestRunInteractiveShell(t *testing.T) {
	h := harness.NewHost(t)
	s := startSession(t, h, 24, 80, "run", "-it", "--name", "shell1", "busybox", "sh")
	s.expect(`# `, 15*time.Second)
	s.send("echo $((6*7))\r")
	s.expect(`\r\n42\r\n`, 5*time.Second)

	// Ctrl-C is the terminal's: it must interrupt the foreground process.
	s.send("sleep 100\r")
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	s.send("\x03")
	s.send("echo after-$((1+1))\r")
	s.expect(`\r\nafter-2\r\n`, 5*time.Second)
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("Ctrl-C took %s to interrupt sleep", took)
	}

	// The window size follows the terminal's.
	s.send("stty size\r")
	s.expect(`\r\n24 80\r\n`, 5*time.Second)
	s.resize(41, 123)
	time.Sleep(300 * time.Millisecond)
	s.send("stty size\r")
	s.expect(`\r\n41 123\r\n`, 5*time.Second)

	// Line editing happens on the container's pty: a backspace erases.
	s.send("echo abx\x7fc\r")
	s.expect(`\r\nabc\r\n`, 5*time.Second)

	s.send("exit 5\r")
	if code := s.wait(10 * time.Second); code != 5 {
		t.Fatalf("docker run -it ... sh; exit 5: CLI exit code %d, want 5; terminal:\n%q", code, s.output())
	}
	if got := inspect(h, "shell1", "{{.State.ExitCode}}"); got != "5" {
		t.Fatalf("inspect shell1 ExitCode = %s, want 5", got)
	}

	// --rm with a command that cannot start: Docker's 127, at once, and no container left.
	bad := startSession(t, h, 24, 80, "run", "--rm", "-it", "--name", "bad", "busybox", "/no/such/binary")
	bad.expect(`no such file or directory`, 10*time.Second)
	if code := bad.wait(10 * time.Second); code != 127 {
		t.Fatalf("docker run --rm -it busybox /no/such/binary: exit %d, want 127; terminal:\n%q", code, bad.output())
	}
	if out := h.Must("ps", "-a", "--filter", "name=bad", "-q"); out != "" {
		t.Fatalf("--rm left the container that failed to start: %s", out)
	}
}

// TestExecTTY runs `docker exec -it` into a running container, with the
// terminal's size and after a resize.
func TestExecTTY(t *testing.T) {
	h := harness.NewHost(t)
	h.Must("run", "-d", "--name", "box1", "busybox", "sleep", "600")

	s := startSession(t, h, 33, 101, "exec", "-it", "box1", "sh", "-c", "stty size")
	s.expect(`33 101\r\n`, 10*time.Second)
	if code := s.wait(10 * time.Second); code != 0 {
		t.Fatalf("docker exec -it box1 sh -c 'stty size': exit %d; terminal:\n%q", code, s.output())
	}

	sh := startSession(t, h, 24, 80, "exec", "-it", "box1", "sh")
	sh.expect(`# `, 10*time.Second)
	sh.resize(50, 132)
	time.Sleep(300 * time.Millisecond)
	sh.send("stty size\r")
	sh.expect(`\r\n50 132\r\n`, 5*time.Second)
	sh.send("sleep 100\r")
	time.Sleep(300 * time.Millisecond)
	sh.send("\x03")
	sh.send("echo $((6*7))\r")
	sh.expect(`\r\n42\r\n`, 5*time.Second)
	sh.send("exit 4\r")
	if code := sh.wait(10 * time.Second); code != 4 {
		t.Fatalf("docker exec -it box1 sh; exit 4: exit %d; terminal:\n%q", code, sh.output())
	}
	// A missing binary on a terminal: the runtime's words and Docker's 127.
	nf := startSession(t, h, 24, 80, "exec", "-it", "box1", "/no/such/binary")
	nf.expect(`no such file or directory`, 10*time.Second)
	if code := nf.wait(10 * time.Second); code != 127 {
		t.Fatalf("docker exec -it box1 /no/such/binary: exit %d, want 127; terminal:\n%q", code, nf.output())
	}
	// exec -d -t runs in the background on a terminal of its own.
	h.Must("exec", "-d", "-t", "box1", "sh", "-c", "tty > /tmp/tty-of-d")
	harness.WaitFor(t, "exec -d -t to write /tmp/tty-of-d", 5*time.Second, func() bool {
		return strings.HasPrefix(h.Docker("exec", "box1", "cat", "/tmp/tty-of-d").Stdout, "/dev/pts/")
	})
	if st := inspect(h, "box1", "{{.State.Status}}"); st != "running" {
		t.Fatalf("box1 after exec sessions: %s, want running", st)
	}
}

// TestDetachAndAttach leaves a `docker run -it` session with ctrl-p ctrl-q
// and comes back to it with `docker attach`.
func TestDetachAndAttach(t *testing.T) {
	h := harness.NewHost(t)
	s := startSession(t, h, 24, 80, "run", "-it", "--name", "det", "busybox", "sh")
	s.expect(`# `, 15*time.Second)
	s.send("echo first-$((2+3))\r")
	s.expect(`first-5\r\n`, 5*time.Second)
	s.send("\x10\x11")
	if code := s.wait(10 * time.Second); code != 0 {
		t.Fatalf("detach with ctrl-p ctrl-q: CLI exit %d; terminal:\n%q", code, s.output())
	}
	if st := inspect(h, "det", "{{.State.Status}}"); st != "running" {
		t.Fatalf("det after detach: %s, want running", st)
	}

	a := startSession(t, h, 30, 90, "attach", "det")
	time.Sleep(500 * time.Millisecond)
	a.send("echo again-$((3+4))\r")
	a.expect(`again-7\r\n`, 5*time.Second)
	a.send("stty size\r")
	a.expect(`\r\n30 90\r\n`, 5*time.Second)
	// docker attach reports a detach as Docker's CLI does: "read escape
	// sequence" and exit status 1 (docker/cli's attach returns the EscapeError).
	a.send("\x10\x11")
	a.expect(`read escape sequence`, 5*time.Second)
	if code := a.wait(10 * time.Second); code != 1 {
		t.Fatalf("detach from docker attach: exit %d, want 1; terminal:\n%q", code, a.output())
	}
	if st := inspect(h, "det", "{{.State.Status}}"); st != "running" {
		t.Fatalf("det after detaching from docker attach: %s, want running", st)
	}
	b := startSession(t, h, 24, 80, "attach", "--detach-keys", "ctrl-x,x", "det")
	time.Sleep(500 * time.Millisecond)
	b.send("echo third\r")
	b.expect(`third\r\n`, 5*time.Second)
	b.send("\x18x")
	if code := b.wait(10 * time.Second); code != 1 {
		t.Fatalf("detach with ctrl-x,x: exit %d; terminal:\n%q", code, b.output())
	}
	// Clients other than the docker CLI rely on the daemon to see detach keys.
	conn, br := rawAttach(t, h, "det", "stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-x,x")
	conn.Write([]byte("echo raw-$((5*5))\r"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var seen strings.Builder
	for !strings.Contains(seen.String(), "raw-25") {
		line, err := br.ReadString('\n')
		seen.WriteString(line)
		if err != nil {
			t.Fatalf("raw attach: %v; read %q", err, seen.String())
		}
	}
	conn.Write([]byte("\x18x"))
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("raw attach after the detach keys: %v (want the stream to end)", err)
	}
	if st := inspect(h, "det", "{{.State.Status}}"); st != "running" {
		t.Fatalf("det after a server-side detach: %s, want running", st)
	}

	c := startSession(t, h, 24, 80, "attach", "det")
	time.Sleep(500 * time.Millisecond)
	c.send("exit 3\r")
	if code := c.wait(10 * time.Second); code != 3 {
		t.Fatalf("docker attach det; exit 3: exit %d; terminal:\n%q", code, c.output())
	}
	if st := inspect(h, "det", "{{.State.Status}} {{.State.ExitCode}}"); st != "exited 3" {
		t.Fatalf("det after exit 3: %s", st)
	}
}

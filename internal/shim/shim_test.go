package shim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/logfile"
)

// fakeRuntime stands in for runc: `run` starts $FAKE_CMD in the background
// with the runtime's stdio and writes its pid, as `runc run -d` does.
const fakeRuntime = `#!/bin/sh
cmd=""; pidfile=""
while [ $# -gt 0 ]; do
	case "$1" in
	run|delete) cmd=$1 ;;
	--pid-file) pidfile=$2; shift ;;
	esac
	shift
done
[ "$cmd" = run ] || exit 0
exec 3<&0
# The pause keeps this script from reaping a container that ends at once:
# runc never waits for the container, so the shim must be the one to reap it.
sh -c "sleep 0.1; $FAKE_CMD" <&3 3<&- &
echo $! > "$pidfile"
`

// startFake runs a shim server in this process for a fake container that runs script.
func startFake(t *testing.T, script string, cfg Config) (*server, string) {
	t.Helper()
	if err := os.MkdirAll(SocketDir, 0o700); err != nil {
		t.Skipf("cannot create %s: %v", SocketDir, err)
	}
	dir := t.TempDir()
	rt := filepath.Join(dir, "fake-runc")
	if err := os.WriteFile(rt, []byte(fakeRuntime), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_CMD", script)
	cfg.ID, cfg.Bundle, cfg.Runtime, cfg.RuntimeRoot = "c1", dir, rt, dir
	cfg.LogPath = filepath.Join(dir, "c1-json.log")
	data, _ := json.Marshal(cfg)
	os.WriteFile(configPath(dir), data, 0o600)
	s, err := start(dir)
	if err != nil {
		t.Fatalf("start shim: %v", err)
	}
	t.Cleanup(func() { os.Remove(socketPath(dir)) })
	// The shim reaps any child of this process (wait4(-1)), so a test ends
	// only after its shim has: otherwise it could reap the next test's child.
	done := make(chan struct{})
	go func() { s.run(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("shim did not finish")
		}
	})
	return s, dir
}

func waitExit(t *testing.T, dir string) Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ex, err := Wait(ctx, dir)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return ex
}

func readLog(t *testing.T, path string) []logfile.Entry {
	t.Helper()
	var out []logfile.Entry
	if _, err := logfile.Read(path, 0, func(e logfile.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShimRecordsOutputAndExit(t *testing.T) {
	s, dir := startFake(t, "echo out; echo err >&2; exit 3", Config{})
	if s.pid <= 0 {
		t.Fatalf("shim pid of the container = %d", s.pid)
	}
	ex := waitExit(t, dir)
	if ex.Code != 3 || ex.FinishedAt.IsZero() {
		t.Fatalf("Wait() = %+v, want code 3 and a finish time", ex)
	}
	if rec, ok := ReadExit(dir); !ok || rec.Code != 3 {
		t.Fatalf("ReadExit() = %+v, %v; want code 3", rec, ok)
	}
	got := map[string]string{}
	for _, e := range readLog(t, s.cfg.LogPath) {
		got[e.Stream] += e.Log
	}
	if got["stdout"] != "out\n" || got["stderr"] != "err\n" {
		t.Fatalf("log = %q, want stdout %q and stderr %q", got, "out\n", "err\n")
	}
	// A waiter that comes after the exit gets the record from the file.
	if ex := waitExit(t, dir); ex.Code != 3 {
		t.Fatalf("late Wait() = %+v, want code 3", ex)
	}
}

func TestShimStdinOnce(t *testing.T) {
	s, dir := startFake(t, "cat; echo done", Config{OpenStdin: true, StdinOnce: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Stdin(ctx, dir)
	if err != nil {
		t.Fatalf("Stdin: %v", err)
	}
	c.Write([]byte("piped\n"))
	c.(interface{ CloseWrite() error }).CloseWrite()
	if ex := waitExit(t, dir); ex.Code != 0 {
		t.Fatalf("exit = %+v, want 0 once stdin closed", ex)
	}
	c.Close()
	var out strings.Builder
	for _, e := range readLog(t, s.cfg.LogPath) {
		out.WriteString(e.Log)
	}
	if out.String() != "piped\ndone\n" {
		t.Fatalf("log = %q, want %q", out.String(), "piped\ndone\n")
	}
}

func TestShimSignalExit(t *testing.T) {
	_, dir := startFake(t, "kill -9 $$", Config{})
	if ex := waitExit(t, dir); ex.Code != 137 || ex.Signal != "SIGKILL" {
		t.Fatalf("exit = %+v, want 137 SIGKILL", ex)
	}
}

func TestRuntimeCommandEnv(t *testing.T) {
	t.Setenv("GOMAXPROCS", "1")
	t.Setenv("GOGC", "50")
	t.Setenv("KEEP_ME", "yes")
	cmd := runtimeCommand("runc", "state")
	env := strings.Join(cmd.Env, "\n")
	if strings.Contains(env, "GOMAXPROCS=") || strings.Contains(env, "GOGC=") || !strings.Contains(env, "KEEP_ME=yes") {
		t.Fatalf("runtime env = %q, want the shim's Go settings dropped and the rest kept", cmd.Env)
	}
}

func TestShortSocket(t *testing.T) {
	a, b := ShortSocket("/a/very/long/state/dir/"+strings.Repeat("x", 200), "shim"), ShortSocket("/d", "console")
	if len(a) >= 108 || !strings.HasPrefix(a, SocketDir+"/") {
		t.Fatalf("ShortSocket(long dir) = %q, want a path under %s shorter than 108 bytes", a, SocketDir)
	}
	if a == b || ShortSocket("/d", "shim") == b {
		t.Fatalf("ShortSocket names collide: %q %q", a, b)
	}
	if ShortSocket("/d", "console") != b {
		t.Fatal("ShortSocket is not stable")
	}
}

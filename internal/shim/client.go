package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLost means the shim is gone and left no exit record.
var ErrLost = errors.New("container's shim is gone without an exit record")

// Launch writes cfg into dir, starts the shim binary for it in a session of
// its own (so that it outlives the daemon) and returns the container's pid
// once the runtime has started it.
func Launch(ctx context.Context, binary, dir string, cfg Config) (int, error) {
	for _, p := range []string{exitPath(dir), socketPath(dir), consolePath(dir), pidPath(dir), runtimeLog(dir)} {
		os.Remove(p)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(configPath(dir), data, 0o600); err != nil {
		return 0, fmt.Errorf("write shim config: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.Command(binary, dir)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = dir
	// One P and a tight GC keep the shim, one per container, small (the
	// shim does not pass these on to the runtime).
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=50")
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, fmt.Errorf("start shim: %w", err)
	}
	w.Close()
	go cmd.Wait() // reap the shim if it ends while this daemon runs

	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		cmd.Process.Kill()
		return 0, ctx.Err()
	case res := <-ch:
		if res.err != nil {
			return 0, fmt.Errorf("shim ended before starting the container: %w", res.err)
		}
		status, rest, _ := strings.Cut(strings.TrimSpace(res.line), " ")
		if status != "ok" {
			return 0, errors.New(rest)
		}
		return strconv.Atoi(rest)
	}
}

func dial(ctx context.Context, dir string, req Request) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath(dir))
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(req)
	if _, err := c.Write(append(data, '\n')); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Wait blocks until the container exits and returns its exit record. When
// the shim cannot be reached it falls back to the recorded exit, and returns
// ErrLost if there is none.
func Wait(ctx context.Context, dir string) (Exit, error) {
	c, err := dial(ctx, dir, Request{Op: "wait"})
	if err == nil {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		line, rerr := bufio.NewReader(c).ReadBytes('\n')
		stop()
		c.Close()
		var ex Exit
		if rerr == nil && json.Unmarshal(line, &ex) == nil {
			return ex, nil
		}
		if ctx.Err() != nil {
			return Exit{}, ctx.Err()
		}
	}
	if ex, ok := ReadExit(dir); ok {
		return ex, nil
	}
	return Exit{}, ErrLost
}

// ReadExit returns the exit record in dir, if the container has exited.
func ReadExit(dir string) (Exit, bool) {
	data, err := os.ReadFile(exitPath(dir))
	if err != nil {
		return Exit{}, false
	}
	var ex Exit
	if json.Unmarshal(data, &ex) != nil {
		return Exit{}, false
	}
	return ex, true
}

// Stdin opens a stream to the container's stdin.
func Stdin(ctx context.Context, dir string) (net.Conn, error) {
	return dial(ctx, dir, Request{Op: "stdin"})
}

// Resize sets the container's terminal size.
func Resize(ctx context.Context, dir string, height, width uint16) error {
	c, err := dial(ctx, dir, Request{Op: "resize", Height: height, Width: width})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

// Alive reports whether a shim answers on dir's socket.
func Alive(ctx context.Context, dir string) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socketPath(dir))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Pending reports whether a shim was launched for dir and has recorded no
// exit yet: it may still be starting.
func Pending(dir string) bool {
	if _, err := os.Stat(configPath(dir)); err != nil {
		return false
	}
	_, exited := ReadExit(dir)
	return !exited
}

// Package shim is berth's per-container supervisor. The shim is a small
// process of its own (cmd/berth-shim) that starts the container with the
// OCI runtime, owns its stdio or pty, writes its log, reaps it and records
// its exit status, so containers outlive a daemon restart or crash. This file
// holds what the daemon and the shim share: the state directory layout and
// the control protocol.
package shim

import (
	"path/filepath"
	"time"
)

// Config is written by the daemon to <state dir>/shim.json before the shim starts.
type Config struct {
	ID          string
	Bundle      string
	Runtime     string // path of the OCI runtime binary
	RuntimeRoot string // --root of the runtime
	LogPath     string // container log (logfile format)
	Tty         bool
	OpenStdin   bool
	StdinOnce   bool
}

// Exit is the recorded end of a container's main process.
type Exit struct {
	Code       int
	Signal     string `json:",omitempty"`
	OOMKilled  bool   `json:",omitempty"`
	FinishedAt time.Time
}

// Request is the first line a client sends on the control socket.
type Request struct {
	Op     string // "wait", "stdin", "resize"
	Height uint16 `json:",omitempty"`
	Width  uint16 `json:",omitempty"`
}

// Files of a shim's state directory.
func configPath(dir string) string  { return filepath.Join(dir, "shim.json") }
func socketPath(dir string) string  { return filepath.Join(dir, "shim.sock") }
func consolePath(dir string) string { return filepath.Join(dir, "console.sock") }
func pidPath(dir string) string     { return filepath.Join(dir, "container.pid") }
func exitPath(dir string) string    { return filepath.Join(dir, "exit.json") }
func shimPidPath(dir string) string { return filepath.Join(dir, "shim.pid") }
func runtimeLog(dir string) string  { return filepath.Join(dir, "runtime.log") }

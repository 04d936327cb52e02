// Package shim is berth's per-container supervisor. The shim is a small
// process of its own (cmd/berth-shim) that starts the container with the
// OCI runtime, owns its stdio or pty, writes its log, reaps it and records
// its exit status, so containers outlive a daemon restart or crash. This file
// holds what the daemon and the shim share: the state directory layout and
// the control protocol.
package shim

import (
	"crypto/sha256"
	"encoding/hex"
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
func socketPath(dir string) string  { return ShortSocket(dir, "shim") }
func consolePath(dir string) string { return ShortSocket(dir, "console") }
func pidPath(dir string) string     { return filepath.Join(dir, "container.pid") }
func exitPath(dir string) string    { return filepath.Join(dir, "exit.json") }
func shimPidPath(dir string) string { return filepath.Join(dir, "shim.pid") }
func runtimeLog(dir string) string  { return filepath.Join(dir, "runtime.log") }

// SocketDir holds the shims' sockets. A unix socket path is limited to 108
// bytes, which a state directory below a long exec root can exceed, so
// sockets live here under a name derived from their directory.
const SocketDir = "/run/berth/s"

// ShortSocket returns a short socket path unique to (dir, name).
func ShortSocket(dir, name string) string {
	sum := sha256.Sum256([]byte(dir + "\x00" + name))
	return filepath.Join(SocketDir, hex.EncodeToString(sum[:12])+".sock")
}

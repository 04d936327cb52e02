package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
	"github.com/creack/pty"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// execProc is one `docker exec` process.
type execProc struct {
	ID          string
	ContainerID string
	Config      mobycontainer.ExecCreateRequest

	mu       sync.Mutex
	running  bool
	exitCode *int
	finished time.Time
	pid      int
	console  *os.File
}

// ExecCreate registers an exec in a running container.
func (d *Daemon) ExecCreate(ref string, cfg mobycontainer.ExecCreateRequest) (string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	rec, _, _, _ := c.snapshot()
	if rec.State.Status != container.Running {
		return "", errdefs.Conflictf("container %s is not running", rec.ID)
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.Invalidf("no exec command specified")
	}
	e := &execProc{ID: newID(), ContainerID: rec.ID, Config: cfg}
	d.mu.Lock()
	d.pruneExecsLocked()
	d.execs[e.ID] = e
	d.mu.Unlock()
	d.emitContainer(c, events.Action(string(events.ActionExecCreate)+": "+strings.Join(cfg.Cmd, " ")), map[string]string{"execID": e.ID})
	return e.ID, nil
}

// execKeep is how long an ended exec stays inspectable (Docker keeps them
// until the container goes; berth also lets them age out, so a daemon
// serving health-check-like execs does not grow without bound).
const execKeep = 5 * time.Minute

func (d *Daemon) pruneExecsLocked() {
	for id, e := range d.execs {
		e.mu.Lock()
		old := e.exitCode != nil && time.Since(e.finished) > execKeep
		e.mu.Unlock()
		if _, ok := d.containers[e.ContainerID]; old || !ok {
			delete(d.execs, id)
		}
	}
}

func (d *Daemon) getExec(id string) (*execProc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.execs[id]
	if !ok {
		return nil, errdefs.NotFoundf("No such exec instance: %s", id)
	}
	return e, nil
}

// ExecInspect reports an exec's state.
func (d *Daemon) ExecInspect(id string) (mobycontainer.ExecInspectResponse, error) {
	e, err := d.getExec(id)
	if err != nil {
		return mobycontainer.ExecInspectResponse{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	code := 0
	if e.exitCode != nil {
		code = *e.exitCode
	}
	r := mobycontainer.ExecInspectResponse{
		ID: e.ID, ContainerID: e.ContainerID, Running: e.running, Pid: e.pid,
		OpenStdin: e.Config.AttachStdin, OpenStdout: e.Config.AttachStdout, OpenStderr: e.Config.AttachStderr,
	}
	if e.exitCode != nil {
		r.ExitCode = &code
	}
	r.ProcessConfig = &mobycontainer.ExecProcessConfig{Tty: e.Config.Tty, Entrypoint: e.Config.Cmd[0], Arguments: e.Config.Cmd[1:], User: e.Config.User}
	return r, nil
}

// ExecIsTTY reports whether an exec has a terminal.
func (d *Daemon) ExecIsTTY(id string) (bool, error) {
	e, err := d.getExec(id)
	if err != nil {
		return false, err
	}
	return e.Config.Tty, nil
}

// ExecStart runs the exec to completion, wiring its stdio to the caller.
func (d *Daemon) ExecStart(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) error {
	e, err := d.getExec(id)
	if err != nil {
		return err
	}
	c, err := d.lookup(e.ContainerID)
	if err != nil {
		return err
	}
	rec, _, _, _ := c.snapshot()
	if rec.State.Status != container.Running {
		return errdefs.Conflictf("container %s is not running", rec.ID)
	}
	e.mu.Lock()
	if e.running || e.exitCode != nil {
		e.mu.Unlock()
		return errdefs.Conflictf("exec %s has already been started", id)
	}
	e.running = true
	e.mu.Unlock()
	cmdline := strings.Join(e.Config.Cmd, " ")
	d.emitContainer(c, events.Action(string(events.ActionExecStart)+": "+cmdline), map[string]string{"execID": e.ID})
	code, err := d.runExec(ctx, e, rec, stdin, stdout, stderr)
	e.mu.Lock()
	e.running, e.exitCode, e.finished = false, &code, time.Now()
	e.mu.Unlock()
	d.emitContainer(c, events.ActionExecDie, map[string]string{"execID": e.ID, "exitCode": strconv.Itoa(code)})
	return err
}

func (d *Daemon) execProcess(e *execProc, rec container.Record) (*specs.Process, error) {
	data, err := os.ReadFile(filepath.Join(d.execDir(rec.ID), "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, err
	}
	p := *spec.Process
	p.Args, p.Terminal = e.Config.Cmd, e.Config.Tty
	p.Env = mergeEnv(p.Env, e.Config.Env)
	if e.Config.WorkingDir != "" {
		p.Cwd = e.Config.WorkingDir
	}
	if e.Config.User != "" {
		uid, gid, err := container.ResolveUser(spec.Root.Path, e.Config.User)
		if err != nil {
			return nil, errdefs.AsInvalid(err)
		}
		p.User = specs.User{UID: uid, GID: gid}
	}
	if e.Config.Tty && !hasEnv(p.Env, "TERM") {
		p.Env = append(p.Env, "TERM=xterm")
	}
	p.ConsoleSize = nil
	e.mu.Lock()
	cs := e.Config.ConsoleSize
	e.mu.Unlock()
	if e.Config.Tty && cs != nil && cs[0] > 0 && cs[1] > 0 {
		// The runtime sizes the pty before the process runs.
		p.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	return &p, nil
}

func (d *Daemon) runExec(ctx context.Context, e *execProc, rec container.Record, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	proc, err := d.execProcess(e, rec)
	if err != nil {
		return 126, err
	}
	dir, err := os.MkdirTemp(d.execDir(rec.ID), "exec-")
	if err != nil {
		return 126, err
	}
	defer os.RemoveAll(dir)
	if err := writeJSON(filepath.Join(dir, "process.json"), proc); err != nil {
		return 126, err
	}
	logPath := filepath.Join(dir, "runtime.log")
	args := []string{"--root", d.runtimeRoot(), "--log", logPath, "--log-format", "json",
		"exec", "--process", filepath.Join(dir, "process.json"), "--pid-file", filepath.Join(dir, "pid")}
	if e.Config.Tty {
		return d.runExecTTY(ctx, e, dir, args, rec.ID, stdin, stdout)
	}
	cmd := exec.Command(d.cfg.Runtime, append(args, rec.ID)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if e.Config.AttachStdin && stdin != nil {
		w, err := cmd.StdinPipe()
		if err != nil {
			return 126, err
		}
		go func() { io.Copy(w, stdin); w.Close() }()
	}
	code, err := exitCode(cmd.Run())
	if msg, failed := runtimeFailure(logPath); failed {
		// runc printed its message on the exec's stderr already.
		return startFailureCode(errors.New(msg)), nil
	}
	return code, err
}

// runtimeFailure returns the runtime's error, if it failed to start the
// process (rather than the process exiting non-zero).
func runtimeFailure(logPath string) (string, bool) {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return "", false
	}
	var msg string
	for _, line := range strings.Split(string(data), "\n") {
		var entry struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "error" {
			msg = entry.Msg
		}
	}
	return msg, msg != ""
}

func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(unix.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 126, err
}

// runExecTTY runs the exec on a pty. runc hands out a pty master only when it
// detaches (`exec -d --console-socket`), so the exec process is re-parented
// to this daemon, which is a child subreaper for that reason, and reaped here.
func (d *Daemon) runExecTTY(ctx context.Context, e *execProc, dir string, args []string, id string, stdin io.Reader, stdout io.Writer) (int, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 126, fmt.Errorf("become subreaper: %w", err)
	}
	sock := shim.ShortSocket(dir, "exec-console")
	os.MkdirAll(shim.SocketDir, 0o700)
	os.Remove(sock)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return 126, err
	}
	defer l.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(d.cfg.Runtime, append(args, "--detach", "--console-socket", sock, id)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg, failed := runtimeFailure(args[3])
		if !failed {
			msg = strings.TrimSpace(stderr.String() + " " + err.Error())
		}
		err = fmt.Errorf("OCI runtime exec failed: %s", msg)
		return startFailureCode(err), err
	}
	// runc has exited, so the console it sent is queued on the listener.
	l.SetDeadline(time.Now().Add(5 * time.Second))
	master, err := acceptConsole(l)
	if err != nil {
		return 126, fmt.Errorf("exec console: %w", err)
	}
	defer master.Close()
	pid, err := readPidFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 126, err
	}
	e.mu.Lock()
	e.console, e.pid = master, pid
	if cs := e.Config.ConsoleSize; cs != nil && cs[0] > 0 {
		pty.Setsize(master, &pty.Winsize{Rows: uint16(cs[0]), Cols: uint16(cs[1])})
	}
	e.mu.Unlock()
	if stdin != nil {
		go io.Copy(master, stdin)
	}
	if stdout == nil {
		stdout = io.Discard // exec -d
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if _, err := io.Copy(writerOnly{stdout}, master); err != nil && !errors.Is(err, unix.EIO) {
			// The client is gone: hang up the terminal (the process gets
			// SIGHUP, as when a terminal window closes) rather than leave
			// it blocked on a full pty.
			master.Close()
		}
	}()
	code := reapPid(pid)
	// Output written just before the exit is still in the pty; background
	// processes that keep it open cannot hold the exit back for long.
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	e.mu.Lock()
	e.console = nil
	e.mu.Unlock()
	return code, nil
}

// writerOnly hides ReadFrom so that io.Copy reports which side failed.
type writerOnly struct{ io.Writer }

// reapPid waits for a child (or re-parented orphan) and returns its exit code.
func reapPid(pid int) int {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 255
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

func readPidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read exec pid: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

func acceptConsole(l *net.UnixListener) (*os.File, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, fmt.Errorf("no control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, fmt.Errorf("no fd")
	}
	return os.NewFile(uintptr(fds[0]), "exec-console"), nil
}

// ExecResize sets an exec's terminal size.
func (d *Daemon) ExecResize(id string, height, width uint16) error {
	e, err := d.getExec(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.console == nil {
		// Not started yet: the size applies when the console comes.
		e.Config.ConsoleSize = &[2]uint{uint(height), uint(width)}
		return nil
	}
	return pty.Setsize(e.console, &pty.Winsize{Rows: height, Cols: width})
}

package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/logfile"
	"golang.org/x/sys/unix"
)

// server is the running shim.
type server struct {
	dir   string
	cfg   Config
	log   *logfile.Writer
	pid   int
	stdin io.WriteCloser // pipe to the container's stdin, or the pty master
	pty   *os.File

	copies sync.WaitGroup // output copiers; the exit is recorded after they drain

	mu      sync.Mutex
	exit    *Exit
	waiters []net.Conn
}

// Main runs a shim for the state directory dir. ready is the pipe on which
// the daemon waits for "ok <pid>" or "error <message>".
func Main(dir string, ready *os.File) int {
	s, err := start(dir)
	if err != nil {
		fmt.Fprintf(ready, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		ready.Close()
		return 1
	}
	fmt.Fprintf(ready, "ok %d\n", s.pid)
	ready.Close()
	s.run()
	return 0
}

func start(dir string) (*server, error) {
	data, err := os.ReadFile(configPath(dir))
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	if err := json.Unmarshal(data, &s.cfg); err != nil {
		return nil, fmt.Errorf("decode shim config: %w", err)
	}
	// The container's process is re-parented to us when the runtime exits.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become subreaper: %w", err)
	}
	os.WriteFile(shimPidPath(dir), []byte(strconv.Itoa(os.Getpid())), 0o644)
	if s.log, err = logfile.Create(s.cfg.LogPath); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(SocketDir, 0o700); err != nil {
		return nil, err
	}
	os.Remove(socketPath(dir))
	l, err := net.Listen("unix", socketPath(dir))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	go s.serve(l)
	if s.cfg.Tty {
		err = s.startTTY()
	} else {
		err = s.startPipes()
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

func (s *server) runtimeCmd(extra ...string) *exec.Cmd {
	args := []string{"--root", s.cfg.RuntimeRoot, "--log", runtimeLog(s.dir), "--log-format", "json",
		"run", "-d", "--pid-file", pidPath(s.dir), "--bundle", s.cfg.Bundle}
	args = append(args, extra...)
	args = append(args, s.cfg.ID)
	return runtimeCommand(s.cfg.Runtime, args...)
}

// runtimeCommand runs the OCI runtime without the Go runtime settings
// that Launch gives the shim itself.
func runtimeCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") && !strings.HasPrefix(kv, "GOGC=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

func (s *server) startPipes() error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := s.runtimeCmd()
	cmd.Stdout, cmd.Stderr = outW, errW
	var inR *os.File
	if s.cfg.OpenStdin {
		var inW *os.File
		if inR, inW, err = os.Pipe(); err != nil {
			return err
		}
		cmd.Stdin, s.stdin = inR, inW
	}
	s.goCopyOut("stdout", outR)
	s.goCopyOut("stderr", errR)
	runErr := cmd.Run()
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
	}
	if runErr != nil {
		return s.runtimeError(runErr)
	}
	return s.readPid()
}

func (s *server) startTTY() error {
	os.Remove(consolePath(s.dir))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: consolePath(s.dir), Net: "unix"})
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer l.Close()
	master := make(chan *os.File, 1)
	go func() {
		defer close(master)
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		if f, err := recvFd(c); err == nil {
			master <- f
		}
	}()
	cmd := s.runtimeCmd("--console-socket", consolePath(s.dir))
	if err := cmd.Run(); err != nil {
		return s.runtimeError(err)
	}
	select {
	case m, ok := <-master:
		if !ok {
			return errors.New("runtime sent no console")
		}
		s.pty, s.stdin = m, m
	case <-time.After(5 * time.Second):
		return errors.New("timed out waiting for the console")
	}
	s.goCopyOut("stdout", s.pty)
	return s.readPid()
}

func recvFd(c *net.UnixConn) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, fmt.Errorf("console: no control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, fmt.Errorf("console: no fd: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// runtimeError returns the runtime's own message, which names the real cause
// (e.g. an executable not found), rather than "exit status 1".
func (s *server) runtimeError(runErr error) error {
	data, _ := os.ReadFile(runtimeLog(s.dir))
	var msg string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Level == "error" {
			msg = e.Msg
		}
	}
	if msg == "" {
		return fmt.Errorf("runtime: %w", runErr)
	}
	return errors.New(msg)
}

func (s *server) readPid() error {
	data, err := os.ReadFile(pidPath(s.dir))
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	s.pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
	return err
}

func (s *server) goCopyOut(stream string, r *os.File) {
	s.copies.Add(1)
	go func() {
		defer s.copies.Done()
		defer r.Close()
		io.Copy(s.log.StreamWriter(stream), bufio.NewReaderSize(r, 32<<10))
	}()
}

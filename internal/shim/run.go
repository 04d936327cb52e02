package shim

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// run reaps children until the container's process exits, then records the
// exit, tells every waiter and cleans the runtime's state.
func (s *server) run() {
	var ex Exit
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			ex = Exit{Code: 255}
			break
		}
		if wpid != s.pid {
			continue // an orphan re-parented to us
		}
		switch {
		case ws.Exited():
			ex.Code = ws.ExitStatus()
		case ws.Signaled():
			ex.Code = 128 + int(ws.Signal())
			ex.Signal = unix.SignalName(ws.Signal())
		}
		break
	}
	ex.FinishedAt = time.Now().UTC()
	s.drainOutput()
	s.log.Close()
	writeExit(s.dir, ex)

	s.mu.Lock()
	s.exit = &ex
	waiters := s.waiters
	s.waiters = nil
	s.mu.Unlock()
	line, _ := json.Marshal(ex)
	for _, c := range waiters {
		c.Write(append(line, '\n'))
		c.Close()
	}
	runtimeCommand(s.cfg.Runtime, "--root", s.cfg.RuntimeRoot, "delete", "--force", s.cfg.ID).Run()
	os.Remove(socketPath(s.dir))
}

// drainOutput waits for the output copiers; background processes that keep
// the pipe open cannot hold the exit record back for long.
func (s *server) drainOutput() {
	done := make(chan struct{})
	go func() { s.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

func writeExit(dir string, ex Exit) {
	data, _ := json.Marshal(ex)
	tmp := exitPath(dir) + ".tmp"
	if f, err := os.Create(tmp); err == nil {
		f.Write(data)
		f.Sync()
		f.Close()
		os.Rename(tmp, exitPath(dir))
	}
}

func (s *server) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

func (s *server) handle(c net.Conn) {
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		c.Close()
		return
	}
	var req Request
	if json.Unmarshal(line, &req) != nil {
		c.Close()
		return
	}
	switch req.Op {
	case "wait":
		s.mu.Lock()
		if s.exit != nil {
			data, _ := json.Marshal(s.exit)
			s.mu.Unlock()
			c.Write(append(data, '\n'))
			c.Close()
			return
		}
		s.waiters = append(s.waiters, c)
		s.mu.Unlock()
	case "stdin":
		defer c.Close()
		if s.stdin == nil {
			return
		}
		io.Copy(s.stdin, r)
		if s.cfg.StdinOnce && !s.cfg.Tty {
			s.stdin.Close()
		}
	case "resize":
		defer c.Close()
		if s.pty != nil {
			pty.Setsize(s.pty, &pty.Winsize{Rows: req.Height, Cols: req.Width})
		}
		c.Write([]byte("ok\n"))
	default:
		c.Close()
	}
}

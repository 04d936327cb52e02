package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/moby/term"
)

// defaultDetachKeys is docker's ctrl-p ctrl-q.
const defaultDetachKeys = "\x10\x11"

// streamConfig says how a hijacked connection maps onto local streams.
type streamConfig struct {
	in     io.Reader // nil when stdin is not attached
	out    io.Writer
	errOut io.Writer
	tty    bool
}

// errDetached reports that the user typed the detach sequence.
var errDetached = errors.New("detached")

// streamHijacked pumps data between resp and the local streams until the
// output side ends. With a TTY the output is raw, otherwise it carries the
// stdout/stderr multiplexing header.
func streamHijacked(ctx context.Context, resp client.HijackedResponse, c streamConfig) error {
	restore := setRawInput(c)
	defer restore()

	outDone := make(chan error, 1)
	go func() {
		var err error
		if c.tty {
			_, err = io.Copy(c.out, resp.Reader)
		} else {
			_, err = stdcopy.StdCopy(c.out, c.errOut, resp.Reader)
		}
		outDone <- err
	}()

	inDone := make(chan error, 1)
	if c.in != nil {
		in := c.in
		if c.tty {
			in = term.NewEscapeProxy(in, []byte(defaultDetachKeys))
		}
		go func() {
			_, err := io.Copy(resp.Conn, in)
			_ = resp.CloseWrite()
			inDone <- err
		}()
	}

	for {
		select {
		case err := <-outDone:
			return err
		case err := <-inDone:
			if errors.As(err, new(term.EscapeError)) {
				return errDetached
			}
			// Input is finished; the output decides when we are done.
			inDone = nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setRawInput puts a terminal stdin into raw mode for TTY sessions and
// returns the function that restores it.
func setRawInput(c streamConfig) func() {
	if !c.tty || c.in == nil {
		return func() {}
	}
	fd, isTerm := term.GetFdInfo(c.in)
	if !isTerm {
		return func() {}
	}
	state, err := term.SetRawTerminal(fd)
	if err != nil {
		return func() {}
	}
	return func() { _ = term.RestoreTerminal(fd, state) }
}

func terminalFd(v any) (uintptr, bool) {
	if v == nil {
		return 0, false
	}
	return term.GetFdInfo(v)
}

// terminalSize returns the size of out when it is a terminal.
func terminalSize(out io.Writer) (h, w uint, ok bool) {
	fd, isTerm := terminalFd(out)
	if !isTerm {
		return 0, 0, false
	}
	ws, err := term.GetWinsize(fd)
	if err != nil || ws.Height == 0 || ws.Width == 0 {
		return 0, 0, false
	}
	return uint(ws.Height), uint(ws.Width), true
}

// monitorSize resizes the remote TTY now and on every SIGWINCH until the
// returned stop function is called.
func monitorSize(ctx context.Context, out io.Writer, resize func(ctx context.Context, h, w uint) error) func() {
	if _, isTerm := terminalFd(out); !isTerm {
		return func() {}
	}
	apply := func() {
		if h, w, ok := terminalSize(out); ok {
			_ = resize(ctx, h, w)
		}
	}
	apply()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				apply()
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// proxySignals forwards the signals a user sends to the client to the
// container, like docker's --sig-proxy.
func proxySignals(ctx context.Context, api *client.Client, id string) func() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP,
		syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				num, ok := s.(syscall.Signal)
				if !ok {
					continue
				}
				_, _ = api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: strconv.Itoa(int(num))})
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

package daemon

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/logfile"
	"github.com/berth-project/berth/internal/shim"
	"github.com/moby/term"
)

// LogsOptions are the query of GET /containers/{id}/logs.
type LogsOptions struct {
	Follow         bool
	Stdout, Stderr bool
	Tail           string // "all" or a number
	Since, Until   time.Time
}

// OutputFunc receives container output: stream is "stdout" or "stderr".
type OutputFunc func(stream string, data []byte, at time.Time) error

// IsTTY reports whether the container has a terminal (its output is then not multiplexed).
func (d *Daemon) IsTTY(ref string) (bool, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return false, err
	}
	rec, _, _, _ := c.snapshot()
	return rec.Config.Tty, nil
}

// Logs writes the container's recorded output, and follows it if asked.
func (d *Daemon) Logs(ctx context.Context, ref string, opts LogsOptions, out OutputFunc) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	rec, _, exits, _ := c.snapshot()
	path := d.logPath(rec.ID)
	keep := func(e logfile.Entry) bool {
		if (e.Stream == "stdout" && !opts.Stdout) || (e.Stream == "stderr" && !opts.Stderr) {
			return false
		}
		return (opts.Since.IsZero() || !e.Time.Before(opts.Since)) && (opts.Until.IsZero() || e.Time.Before(opts.Until))
	}
	var entries []logfile.Entry
	offset, err := logfile.Read(path, 0, func(e logfile.Entry) error {
		if keep(e) {
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(opts.Tail); err == nil && n >= 0 && n < len(entries) {
		entries = entries[len(entries)-n:]
	}
	for _, e := range entries {
		if err := out(e.Stream, []byte(e.Log), e.Time); err != nil {
			return err
		}
	}
	if !opts.Follow || rec.State.Status != container.Running {
		return nil
	}
	done := d.exitSignal(ctx, c, exits)
	return logfile.Follow(ctx, path, offset, done, func(e logfile.Entry) error {
		if !keep(e) {
			return nil
		}
		return out(e.Stream, []byte(e.Log), e.Time)
	})
}

// exitSignal returns a channel closed once the container exits after `exits`.
func (d *Daemon) exitSignal(ctx context.Context, c *ctr, exits int) chan struct{} {
	done := make(chan struct{})
	go func() {
		d.waitExit(ctx, c, nil, exits, 0)
		close(done)
	}()
	return done
}

// AttachOptions are the query of POST /containers/{id}/attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	Logs, Stream          bool
	DetachKeys            string // e.g. "ctrl-p,ctrl-q" (the default)
}

// Attach streams the container's output from now on (and its past output
// with Logs) until it exits, and feeds stdin to it when asked.
func (d *Daemon) Attach(ctx context.Context, ref string, opts AttachOptions, stdin io.Reader, out OutputFunc) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	rec, _, exits, _ := c.snapshot()
	if rec.State.Status == container.Removing || rec.State.Status == container.Dead {
		return errdefs.Conflictf("cannot attach to container %s: it is being removed", rec.Name)
	}
	path := d.logPath(rec.ID)
	var offset int64
	if !opts.Logs {
		offset = logfile.Size(path)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Stdin && stdin != nil && rec.Config.OpenStdin {
		if rec.Config.Tty {
			// Detach keys on a terminal end the attach, as in Docker (the
			// docker CLI catches them itself; other clients rely on this).
			keys := []byte{16, 17}
			if opts.DetachKeys != "" {
				if keys, err = term.ToBytes(opts.DetachKeys); err != nil {
					return errdefs.Invalidf("Invalid detach keys (%s) provided", opts.DetachKeys)
				}
			}
			stdin = term.NewEscapeProxy(stdin, keys)
		}
		go d.feedStdin(ctx, c, exits, stdin, cancel)
	}
	if !opts.Stream {
		_, err := logfile.Read(path, offset, func(e logfile.Entry) error { return out(e.Stream, []byte(e.Log), e.Time) })
		return err
	}
	done := d.exitSignal(ctx, c, exits)
	return logfile.Follow(ctx, path, offset, done, func(e logfile.Entry) error {
		if (e.Stream == "stdout" && !opts.Stdout) || (e.Stream == "stderr" && !opts.Stderr) {
			return nil
		}
		return out(e.Stream, []byte(e.Log), e.Time)
	})
}

// feedStdin waits for the container to run, then copies stdin into it.
func (d *Daemon) feedStdin(ctx context.Context, c *ctr, exits int, stdin io.Reader, detach func()) {
	for {
		rec, ch, n, removed := c.snapshot()
		if removed || n > exits {
			return
		}
		if rec.State.Status == container.Running {
			conn, err := shim.Stdin(ctx, d.execDir(rec.ID))
			if err != nil {
				d.log.Debug("attach stdin", "container", rec.Name, "err", err)
				return
			}
			_, err = io.Copy(conn, stdin)
			if errors.As(err, new(term.EscapeError)) {
				detach()
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			// Keep the stream open until the shim has taken everything.
			io.Copy(io.Discard, conn)
			conn.Close()
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// Resize sets the terminal size of a container with a TTY.
func (d *Daemon) Resize(ctx context.Context, ref string, height, width uint16) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	rec, _, _, _ := c.snapshot()
	if rec.State.Status != container.Running {
		return errdefs.Conflictf("cannot resize container %s: container %s is not running", ref, rec.ID)
	}
	if !rec.Config.Tty {
		return nil
	}
	return shim.Resize(ctx, d.execDir(rec.ID), height, width)
}

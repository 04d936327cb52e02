package daemon

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/events"
)

// Stop sends the stop signal, waits up to timeout (nil: the container's
// StopTimeout or 10 s), then kills.
func (d *Daemon) Stop(ctx context.Context, ref string, signal string, timeout *int) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.rec.State.Status == container.Restarting {
		c.rec.State.Status = container.Exited
		c.rec.State.ManualStop = true
		d.save(c)
		c.notify()
		c.mu.Unlock()
		return nil
	}
	if c.rec.State.Status != container.Running {
		c.mu.Unlock()
		return errdefs.NotModifiedf("container %s is not running", c.rec.Name)
	}
	c.rec.State.ManualStop = true
	d.save(c)
	c.mu.Unlock()

	if err := d.stopProcess(ctx, c, signal, timeout); err != nil {
		return err
	}
	d.emitContainer(c, events.ActionStop, nil)
	return nil
}

func (d *Daemon) stopProcess(ctx context.Context, c *ctr, signal string, timeout *int) error {
	rec, changed, exits, _ := c.snapshot()
	if signal == "" {
		signal = rec.Config.StopSignal
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	wait := 10
	if rec.Config.StopTimeout != nil {
		wait = *rec.Config.StopTimeout
	}
	if timeout != nil {
		wait = *timeout
	}
	if wait != 0 {
		if err := d.signal(ctx, rec.ID, signal); err != nil {
			d.log.Debug("stop signal", "container", rec.Name, "err", err)
		} else {
			d.emitKill(c, signal)
		}
		if wait < 0 {
			return d.waitExit(ctx, c, changed, exits, 0)
		}
		if d.waitExit(ctx, c, changed, exits, time.Duration(wait)*time.Second) == nil {
			return nil
		}
	}
	if err := d.signal(ctx, rec.ID, "SIGKILL"); err != nil {
		d.log.Debug("kill", "container", rec.Name, "err", err)
	} else {
		d.emitKill(c, "SIGKILL")
	}
	return d.waitExit(ctx, c, nil, exits, 0)
}

// waitExit waits until the container has exited more than `exits` times.
func (d *Daemon) waitExit(ctx context.Context, c *ctr, changed chan struct{}, exits int, timeout time.Duration) error {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		_, ch, n, removed := c.snapshot()
		if n > exits || removed {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("timed out")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Kill sends a signal to the container's main process.
func (d *Daemon) Kill(ctx context.Context, ref, signal string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	rec, _, _, _ := c.snapshot()
	if rec.State.Status != container.Running {
		return errdefs.Conflictf("cannot kill container: %s: container %s is not running", ref, rec.ID)
	}
	if signal == "" {
		signal = "SIGKILL"
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return errdefs.Invalidf("invalid signal: %s", signal)
	}
	if killStops(rec.Config.StopSignal, sig) {
		// As in Docker, a kill is a manual stop: no restart policy brings
		// the container back (until it is started or the daemon restarts).
		c.mu.Lock()
		if c.rec.State.Status == container.Running {
			c.rec.State.ManualStop = true
			d.save(c)
		}
		c.mu.Unlock()
	}
	if err := d.signal(ctx, rec.ID, signal); err != nil {
		return err
	}
	d.emitKill(c, signal)
	return nil
}

// emitKill records a signal sent, numbered as Docker numbers it.
func (d *Daemon) emitKill(c *ctr, signal string) {
	if sig, err := parseSignal(signal); err == nil {
		d.emitContainer(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	}
}

// killStops reports whether `docker kill -s sig` counts as a manual stop:
// Docker's rule is SIGKILL, the container's stop signal, or any signal when
// the container sets none.
func killStops(stopSignal string, sig syscall.Signal) bool {
	if stopSignal == "" || sig == syscall.SIGKILL {
		return true
	}
	ss, err := parseSignal(stopSignal)
	return err == nil && ss == sig
}

// Restart stops (if running) and starts a container.
func (d *Daemon) Restart(ctx context.Context, ref string, timeout *int) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	if err := d.Stop(ctx, c.rec.ID, "", timeout); err != nil && !errdefs.Is(err, errdefs.NotModified) {
		return err
	}
	if err := d.Start(ctx, c.rec.ID); err != nil {
		return err
	}
	d.emitContainer(c, events.ActionRestart, nil)
	return nil
}

func (d *Daemon) signal(ctx context.Context, id, signal string) error {
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, d.cfg.Runtime, "--root", d.runtimeRoot(), "kill", id, fmt.Sprint(int(sig))).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runtime kill: %s: %w", strings.TrimSpace(string(out)), err)
	}
	return nil
}

var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT, "WINCH": syscall.SIGWINCH, "ALRM": syscall.SIGALRM, "PIPE": syscall.SIGPIPE,
}

func parseSignal(s string) (syscall.Signal, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	if sig, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: %s", s)
}

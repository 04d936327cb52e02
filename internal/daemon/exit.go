package daemon

import (
	"context"
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/shim"
	"github.com/moby/moby/api/types/events"
)

// handleExit runs when a container's main process has ended: it releases the
// container's network and rootfs, records the exit, and applies --rm or the
// restart policy.
func (d *Daemon) handleExit(c *ctr, ex shim.Exit) {
	c.mu.Lock()
	if c.rec.State.Status != container.Running {
		c.mu.Unlock()
		return
	}
	d.releaseResources(c)
	st := &c.rec.State
	st.Status, st.Pid, st.ExitCode, st.FinishedAt = container.Exited, 0, ex.Code, ex.FinishedAt
	st.OOMKilled = ex.OOMKilled
	c.exits++
	restart := d.shouldRestart(c)
	if restart {
		st.Status = container.Restarting
	}
	d.save(c)
	c.notify()
	d.emitContainer(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(ex.Code)})
	autoRemove := c.rec.HostConfig.AutoRemove && !restart
	c.mu.Unlock()

	switch {
	case autoRemove:
		if err := d.Remove(d.ctx, c.rec.ID, RemoveOptions{Force: true}); err != nil {
			d.log.Warn("auto-remove", "container", c.rec.Name, "err", err)
		}
	case restart:
		go d.restartLater(c)
	}
}

// releaseResources undoes the start path; callers hold c.mu.
func (d *Daemon) releaseResources(c *ctr) {
	if err := d.detachNetworks(context.Background(), c); err != nil {
		d.log.Warn("release network", "container", c.rec.Name, "err", err)
	}
	if err := d.images.Unmount(c.rec.ID); err != nil {
		d.log.Warn("unmount rootfs", "container", c.rec.Name, "err", err)
	}
}

func (d *Daemon) shouldRestart(c *ctr) bool {
	if c.rec.State.ManualStop || d.ctx.Err() != nil {
		return false
	}
	p := c.rec.HostConfig.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return c.rec.State.ExitCode != 0 &&
			(p.MaximumRetryCount == 0 || c.rec.State.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// restartLater restarts a container after a back-off that grows with the
// number of restarts, like Docker's (100 ms doubling, at most a minute).
func (d *Daemon) restartLater(c *ctr) {
	c.mu.Lock()
	n := c.rec.State.RestartCount
	c.mu.Unlock()
	delay := 100 * time.Millisecond << min(n, 10)
	delay = min(delay, time.Minute)
	select {
	case <-d.ctx.Done():
		return
	case <-time.After(delay):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed || c.rec.State.Status != container.Restarting {
		return
	}
	c.rec.State.RestartCount++
	if err := d.startLocked(d.ctx, c); err != nil {
		d.log.Warn("restart", "container", c.rec.Name, "err", err)
		c.rec.State.Status = container.Exited
		d.save(c)
		c.notify()
		return
	}
	d.emitContainer(c, events.ActionRestart, nil)
}

package daemon

import (
	"context"
	"fmt"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/events"
)

// RemoveOptions are the flags of DELETE /containers/{id}.
type RemoveOptions struct {
	Force bool
}

// Remove deletes a container; a running one only with Force (it is killed first).
func (d *Daemon) Remove(ctx context.Context, ref string, opts RemoveOptions) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	switch c.rec.State.Status {
	case container.Removing:
		c.mu.Unlock()
		return errdefs.Conflictf("removal of container %s is already in progress", c.rec.Name)
	case container.Running, container.Restarting:
		if !opts.Force {
			c.mu.Unlock()
			return errdefs.Conflictf("cannot remove container \"/%s\": container is %s: stop the container before removing or force remove", c.rec.Name, c.rec.State.Status)
		}
		c.rec.State.ManualStop = true
		if c.rec.State.Status == container.Restarting {
			c.rec.State.Status = container.Exited
			break
		}
		c.mu.Unlock()
		zero := 0
		if err := d.stopProcess(ctx, c, "SIGKILL", &zero); err != nil {
			return fmt.Errorf("cannot remove container %s: could not kill: %w", c.rec.Name, err)
		}
		c.mu.Lock()
	}
	if c.removed {
		c.mu.Unlock()
		return nil
	}
	c.rec.State.Status = container.Removing
	d.releaseResources(c)
	if err := d.images.RemoveRootfs(c.rec.ID); err != nil {
		d.log.Warn("remove rootfs", "container", c.rec.Name, "err", err)
	}
	d.forget(c)
	c.removed = true
	c.rec.State.Status = container.Dead
	c.notify()
	c.mu.Unlock()
	d.emitContainer(c, events.ActionDestroy, nil)
	return nil
}

// Prune removes every stopped container and returns their ids.
func (d *Daemon) Prune(ctx context.Context, labels map[string]string) ([]string, error) {
	var ids []string
	for _, c := range d.all() {
		rec, _, _, _ := c.snapshot()
		if rec.State.Status == container.Running || rec.State.Status == container.Restarting || !hasLabels(rec.Config.Labels, labels) {
			continue
		}
		if err := d.Remove(ctx, rec.ID, RemoveOptions{}); err == nil {
			ids = append(ids, rec.ID)
		}
	}
	return ids, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/shim"
)

// restore reconnects to running containers' shims, records the exits that
// happened while no daemon ran, removes leftovers of interrupted creates and
// removals, and applies restart policies.
func (d *Daemon) restore(ctx context.Context) {
	live := map[string]bool{}
	for _, c := range d.all() {
		c.mu.Lock()
		st := c.rec.State.Status
		c.mu.Unlock()
		switch st {
		case container.Running:
			live[c.rec.ID] = true
			go d.monitor(c, d.execDir(c.rec.ID))
		case container.Restarting:
			c.mu.Lock()
			c.rec.State.Status = container.Exited
			d.save(c)
			c.mu.Unlock()
		case container.Created, container.Exited:
			d.killStrayShim(ctx, c)
		case container.Removing, container.Dead:
			d.images.RemoveRootfs(c.rec.ID)
			d.forget(c)
		}
	}
	d.removeOrphans(live)
	for _, c := range d.all() {
		rec, _, _, _ := c.snapshot()
		if rec.State.Status == container.Exited && restartOnBoot(rec) {
			go func() {
				if err := d.Start(d.ctx, rec.ID); err != nil {
					d.log.Warn("restart on daemon start", "container", rec.Name, "err", err)
				}
			}()
		}
	}
}

// restartOnBoot applies Docker's rules to a container found exited when
// the daemon starts: always restarts even after a manual stop,
// unless-stopped and on-failure only when nobody stopped them.
func restartOnBoot(rec container.Record) bool {
	p := rec.HostConfig.RestartPolicy
	switch p.Name {
	case "always":
		return true
	case "unless-stopped":
		return !rec.State.ManualStop
	case "on-failure":
		return !rec.State.ManualStop && rec.State.ExitCode != 0 &&
			(p.MaximumRetryCount == 0 || rec.State.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// removeOrphans deletes container directories and namespaces that no record
// owns (a create or removal cut short by a crash).
func (d *Daemon) removeOrphans(live map[string]bool) {
	known := map[string]bool{}
	for _, c := range d.all() {
		known[c.rec.ID] = true
	}
	for _, base := range []string{filepath.Join(d.cfg.DataRoot, "containers"), filepath.Join(d.cfg.ExecRoot, "containers")} {
		entries, _ := os.ReadDir(base)
		for _, e := range entries {
			if !known[e.Name()] {
				d.log.Info("removing leftover of an interrupted create", "id", e.Name())
				d.images.RemoveRootfs(e.Name())
				os.RemoveAll(filepath.Join(base, e.Name()))
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(d.cfg.ExecRoot, "netns"))
	for _, e := range entries {
		if !live[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			d.net.DeleteSandbox(filepath.Join(d.cfg.ExecRoot, "netns", e.Name()))
		}
	}
}

// killStrayShim ends a container whose start was cut short by a crash after
// its shim had started it but before the record said so: the client never
// got its answer, the network it held was not recorded, so it must not run.
func (d *Daemon) killStrayShim(ctx context.Context, c *ctr) {
	dir := d.execDir(c.rec.ID)
	if !shim.Pending(dir) {
		return
	}
	// A shim launched just before the crash may not listen yet.
	for i := 0; i < 20 && !shim.Alive(ctx, dir); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !shim.Alive(ctx, dir) {
		return
	}
	d.log.Info("stopping a container whose start was interrupted", "container", c.rec.Name)
	// The shim may still be inside `runc run`, before the runtime knows the
	// container: kill until the shim reports an exit.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := d.signal(ctx, c.rec.ID, "SIGKILL"); err != nil {
			d.log.Debug("kill interrupted start", "container", c.rec.Name, "err", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := shim.Wait(wctx, dir)
		cancel()
		if err == nil || !shim.Alive(ctx, dir) {
			return
		}
	}
	d.log.Warn("an interrupted start could not be stopped", "container", c.rec.Name)
}

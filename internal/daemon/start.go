package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// undoStack collects the undo steps of a multi-step operation; on failure
// they run in reverse order.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }
func (u undoStack) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// Start starts a created or exited container.
func (d *Daemon) Start(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.rec.State.Status {
	case container.Running:
		return errdefs.NotModifiedf("container %s is already running", c.rec.Name)
	case container.Removing, container.Dead:
		return errdefs.Conflictf("cannot start container %s: container is marked for removal", c.rec.Name)
	}
	c.rec.State.ManualStop = false
	err = d.startLocked(ctx, c)
	if err != nil && c.rec.HostConfig.AutoRemove {
		// As in Docker, --rm also removes a container that failed to
		// start (`docker run --rm` waits for that); once c.mu is free.
		go d.Remove(d.ctx, c.rec.ID, RemoveOptions{Force: true})
	}
	return err
}

// startLocked runs the start path: rootfs, network namespace and networks,
// /etc files, OCI bundle, shim. Each step registers its undo.
func (d *Daemon) startLocked(ctx context.Context, c *ctr) (err error) {
	var undo undoStack
	defer func() {
		if err != nil {
			undo.run()
			// A failed start is an exit, as in Docker: waiters learn of it.
			c.rec.State.Error = err.Error()
			c.rec.State.ExitCode = startFailureCode(err)
			c.exits++
			d.save(c)
			c.notify()
		}
	}()
	id := c.rec.ID
	t0 := time.Now()
	rootfs, err := d.images.Mount(ctx, c.rec.ImageID, id)
	if err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	undo.push(func() { d.images.Unmount(id) })

	t1 := time.Now()
	nsPath, err := d.attachNetworks(ctx, c, &undo)
	if err != nil {
		return err
	}
	t2 := time.Now()
	if err := d.writeEtcFiles(c); err != nil {
		return err
	}
	spec, err := d.buildSpec(c, rootfs, nsPath)
	if err != nil {
		return err
	}
	dir := d.execDir(id)
	if err := writeJSON(filepath.Join(dir, "config.json"), spec); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	t3 := time.Now()
	pid, err := shim.Launch(ctx, d.cfg.ShimPath, dir, shim.Config{
		ID: id, Bundle: dir, Runtime: d.cfg.Runtime, RuntimeRoot: d.runtimeRoot(),
		LogPath: d.logPath(id), Tty: c.rec.Config.Tty, OpenStdin: c.rec.Config.OpenStdin,
		StdinOnce: c.rec.Config.StdinOnce,
	})
	if err != nil {
		return errdefs.AsInvalid(fmt.Errorf("failed to create task for container: %w", err))
	}
	t4 := time.Now()
	d.log.Debug("container started", "container", c.rec.Name, "rootfs", t1.Sub(t0), "network", t2.Sub(t1),
		"bundle", t3.Sub(t2), "runtime", t4.Sub(t3), "total", t4.Sub(t0))
	c.rec.State = container.State{
		Status: container.Running, Pid: pid, StartedAt: time.Now().UTC(),
		RestartCount: c.rec.State.RestartCount,
	}
	if err := d.save(c); err != nil {
		d.log.Error("persist running state", "container", c.rec.Name, "err", err)
	}
	c.notify()
	d.emitContainer(c, events.ActionStart, nil)
	go d.monitor(c, dir)
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func (d *Daemon) buildSpec(c *ctr, rootfs, nsPath string) (any, error) {
	uid, gid, err := container.ResolveUser(rootfs, c.rec.Config.User)
	if err != nil {
		return nil, errdefs.AsInvalid(err)
	}
	env := c.rec.Config.Env
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	env = append([]string{"HOSTNAME=" + c.rec.Config.Hostname}, env...)
	if c.rec.Config.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	hc := c.rec.HostConfig
	dd := d.dataDir(c.rec.ID)
	in := container.SpecInput{
		ID: c.rec.ID, Rootfs: rootfs, Args: append([]string{c.rec.Path}, c.rec.Args...),
		Env: env, Cwd: c.rec.Config.WorkingDir, UID: uid, GID: gid, Hostname: c.rec.Config.Hostname,
		Tty: c.rec.Config.Tty, NetNSPath: nsPath,
		HostsPath: filepath.Join(dd, "hosts"), ResolvPath: filepath.Join(dd, "resolv.conf"),
		HostnamePath: filepath.Join(dd, "hostname"), CgroupParent: d.cfg.CgroupParent,
		Privileged: hc.Privileged, CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, Sysctls: hc.Sysctls,
		ReadonlyRoot: hc.ReadonlyRootfs,
	}
	spec, err := container.Spec(in)
	if err != nil {
		return nil, errdefs.AsInvalid(err)
	}
	if sz := hc.ConsoleSize; in.Tty && sz[0] > 0 && sz[1] > 0 {
		// The runtime sizes the pty before the process runs.
		spec.Process.ConsoleSize = &specs.Box{Height: sz[0], Width: sz[1]}
	}
	return spec, nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return true
		}
	}
	return false
}

// monitor waits for the container's exit through its shim and runs the exit path.
func (d *Daemon) monitor(c *ctr, dir string) {
	ex, err := shim.Wait(d.ctx, dir)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the daemon is stopping; the next one reconnects
		}
		d.log.Warn("container lost its shim", "container", c.rec.Name, "err", err)
		ex = shim.Exit{Code: 255, FinishedAt: time.Now().UTC()}
	}
	d.handleExit(c, ex)
}

// startFailureCode is the exit code Docker reports for a start that failed.
func startFailureCode(err error) int {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no such file or directory"), strings.Contains(msg, "not found"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// Package daemon is berth's engine: it wires the image store, the container
// runtime (through per-container shims) and the network manager, and owns
// each container's lifecycle from create to removal.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/image"
	"github.com/berth-project/berth/internal/network"
	"github.com/berth-project/berth/internal/store"
)

// Config is the daemon's configuration, from dockerd-named flags.
type Config struct {
	DataRoot     string
	ExecRoot     string
	Runtime      string // OCI runtime binary
	ShimPath     string
	CgroupParent string
	Network      network.Config
	Logger       *slog.Logger
}

// Daemon is the engine.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	images *image.Store
	net    *network.Manager
	events *eventBus

	mu         sync.Mutex
	containers map[string]*ctr // by full id
	names      map[string]string
	execs      map[string]*execProc

	ctx    context.Context // lives as long as the daemon; monitors use it
	cancel context.CancelFunc
}

// New opens the stores, restores containers and networks, and reconciles what
// the kernel holds with what is recorded.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot, filepath.Join(cfg.DataRoot, "containers"),
		filepath.Join(cfg.ExecRoot, "containers"), filepath.Join(cfg.ExecRoot, "runtime")} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	st, err := store.Open(filepath.Join(cfg.DataRoot, "berth.db"))
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, fmt.Errorf("data root %s is in use by another berth daemon: %w", cfg.DataRoot, err)
		}
		return nil, err
	}
	imgs, err := image.New(filepath.Join(cfg.DataRoot, "image"), cfg.Logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	dctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{
		cfg: cfg, log: cfg.Logger, store: st, images: imgs, events: newEventBus(),
		containers: map[string]*ctr{}, names: map[string]string{}, execs: map[string]*execProc{},
		ctx: dctx, cancel: cancel,
	}
	if err := d.loadContainers(); err != nil {
		imgs.Close()
		st.Close()
		return nil, err
	}
	cfg.Network.NetNSDir = filepath.Join(cfg.ExecRoot, "netns")
	if d.net, err = network.New(ctx, cfg.Network, st, d.liveEndpoints()); err != nil {
		imgs.Close()
		st.Close()
		return nil, fmt.Errorf("network: %w", err)
	}
	d.restore(ctx)
	return d, nil
}

// Close stops the daemon's own work. Running containers keep running: their
// shims own them, and the next daemon reconnects.
func (d *Daemon) Close() error {
	d.cancel()
	var errs []error
	if d.net != nil {
		errs = append(errs, d.net.Close())
	}
	errs = append(errs, d.images.Close(), d.store.Close())
	return errors.Join(errs...)
}

func (d *Daemon) loadContainers() error {
	return d.store.Each(store.Containers, func(key string, data []byte) error {
		var rec container.Record
		if err := json.Unmarshal(data, &rec); err != nil {
			d.log.Error("skipping unreadable container record", "id", key, "err", err)
			return nil
		}
		c := newCtr(rec)
		d.containers[rec.ID] = c
		d.names[rec.Name] = rec.ID
		return nil
	})
}

// liveEndpoints lists the endpoints of containers that exist and run; the
// network manager rebuilds its address allocations from them, so no address
// stays reserved for a container that is gone.
func (d *Daemon) liveEndpoints() []network.LiveEndpoint {
	var out []network.LiveEndpoint
	for _, c := range d.containers {
		if c.rec.State.Status != container.Running {
			continue
		}
		for _, ep := range c.rec.Endpoints {
			out = append(out, network.LiveEndpoint{ContainerID: c.rec.ID, Name: c.rec.Name, Endpoint: ep, Ports: c.rec.Ports})
		}
	}
	return out
}

func (d *Daemon) dataDir(id string) string { return filepath.Join(d.cfg.DataRoot, "containers", id) }
func (d *Daemon) execDir(id string) string { return filepath.Join(d.cfg.ExecRoot, "containers", id) }
func (d *Daemon) runtimeRoot() string      { return filepath.Join(d.cfg.ExecRoot, "runtime") }
func (d *Daemon) logPath(id string) string {
	return filepath.Join(d.dataDir(id), id+"-json.log")
}

// Images returns the image store (for the API's image routes).
func (d *Daemon) Images() *image.Store { return d.images }

func (d *Daemon) save(c *ctr) error {
	return d.store.Put(store.Containers, c.rec.ID, &c.rec)
}

package daemon

import (
	"strings"
	"sync"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
)

// ctr is a container in memory. mu serialises lifecycle operations on it;
// changed is closed and replaced whenever its state changes, so waiters can
// block without holding mu.
type ctr struct {
	mu      sync.Mutex
	rec     container.Record
	changed chan struct{}
	exits   int  // number of exits seen since the daemon started
	removed bool // the record is gone
}

func newCtr(rec container.Record) *ctr {
	return &ctr{rec: rec, changed: make(chan struct{})}
}

// notify wakes every waiter; callers hold c.mu.
func (c *ctr) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// snapshot returns a copy of the record and the channel to wait on for the next change.
func (c *ctr) snapshot() (container.Record, chan struct{}, int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec, c.changed, c.exits, c.removed
}

// lookup finds a container by full id, name, or unique id prefix.
func (d *Daemon) lookup(ref string) (*ctr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookupLocked(ref)
}

func (d *Daemon) lookupLocked(ref string) (*ctr, error) {
	name := strings.TrimPrefix(ref, "/")
	if c, ok := d.containers[name]; ok {
		return c, nil
	}
	if id, ok := d.names[name]; ok {
		return d.containers[id], nil
	}
	if ref != "" {
		var found *ctr
		for id, c := range d.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, errdefs.Invalidf("multiple IDs found with provided prefix: %s", ref)
				}
				found = c
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, errdefs.NotFoundf("No such container: %s", ref)
}

// all returns every container.
func (d *Daemon) all() []*ctr {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*ctr, 0, len(d.containers))
	for _, c := range d.containers {
		out = append(out, c)
	}
	return out
}

package firewall

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Init creates berth's table, its sets, maps and chains, in one transaction.
//
// On an existing table Init keeps every network and port element and only
// rebuilds the chains, so containers keep their connectivity across a
// daemon restart and calling Init twice leaves the same ruleset. The daemon
// should still re-add its networks and ports (both are idempotent); call
// Remove first for an empty table. If the existing table cannot be updated
// in place (a set of another type left by a different berth version), Init
// replaces it atomically with an empty one and logs a warning.
func (f *Firewall) Init(ctx context.Context) error {
	f.mu.Lock()
	f.netElems = nil
	defer f.mu.Unlock()
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	existed, err := f.tableExists(c)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	err = f.build(ctx, false)
	if err == nil || !existed || !incompatible(err) {
		return err
	}
	f.log.Warn("existing nftables table cannot be updated in place, recreating it empty", "err", err)
	if err2 := f.build(ctx, true); err2 != nil {
		return errors.Join(err, err2)
	}
	return nil
}

// build queues the whole table and commits it; recreate drops the existing
// table (with its elements) in the same transaction.
func (f *Firewall) build(ctx context.Context, recreate bool) error {
	c, err := f.conn()
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	c.AddTable(f.table)
	if recreate {
		c.DelTable(f.table)
		c.AddTable(f.table)
	}
	sets := make(map[string]*nftables.Set)
	for _, sp := range setSpecs() {
		s, err := f.newSet(sp)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := c.AddSet(s, nil); err != nil {
			return fmt.Errorf("init: set %s: %w", sp.name, err)
		}
		sets[sp.name] = s
	}
	f.queueChains(c)
	if err := f.queueRules(c, sets); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return f.commit(ctx, c, fmt.Sprintf("init table inet %s", f.table.Name))
}

// Remove deletes berth's table and the DOCKER-USER rules berth added. A
// missing table is not an error.
func (f *Firewall) Remove(ctx context.Context) error {
	f.mu.Lock()
	f.netElems = nil
	defer f.mu.Unlock()
	dockerErr := f.purgeDockerUser(ctx)
	c, err := f.conn()
	if err != nil {
		return errors.Join(dockerErr, fmt.Errorf("remove: %w", err))
	}
	// Adding first makes the delete succeed whether or not the table exists.
	c.AddTable(f.table)
	c.DelTable(f.table)
	err = f.commit(ctx, c, fmt.Sprintf("remove table inet %s", f.table.Name))
	return errors.Join(dockerErr, err)
}

// incompatible reports whether the kernel refused a definition because an
// object of the same name exists with another type, hook or flags, as
// opposed to a transient failure that must not cost the table its elements.
func incompatible(err error) bool {
	for _, errno := range []error{unix.EEXIST, unix.EBUSY, unix.EINVAL, unix.EOPNOTSUPP} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

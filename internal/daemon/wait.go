package daemon

import (
	"context"

	"github.com/berth-project/berth/internal/container"
	"github.com/berth-project/berth/internal/errdefs"
)

// Waiter is a registered wait: Result blocks until the condition holds.
type Waiter struct {
	Result func(ctx context.Context) (int, error)
}

// Wait registers a wait for condition ("not-running", "next-exit",
// "removed"). Registration happens before Wait returns, so an API handler
// can send its response header and be sure no exit is missed.
func (d *Daemon) Wait(ref, condition string) (Waiter, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return Waiter{}, err
	}
	_, _, exits, _ := c.snapshot()
	switch condition {
	case "", "not-running", "next-exit", "removed":
	default:
		return Waiter{}, errdefs.Invalidf("invalid condition: %q", condition)
	}
	return Waiter{Result: func(ctx context.Context) (int, error) {
		for {
			rec, ch, n, removed := c.snapshot()
			switch condition {
			case "next-exit":
				if n > exits || removed {
					return rec.State.ExitCode, nil
				}
			case "removed":
				if removed {
					return rec.State.ExitCode, nil
				}
			default:
				if rec.State.Status != container.Running && rec.State.Status != container.Restarting {
					return rec.State.ExitCode, nil
				}
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}}, nil
}

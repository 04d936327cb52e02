package network

import (
	"context"
	"sync"
)

// bridgeDeletes tracks bridges being deleted in the background. The kernel
// takes tens of milliseconds to unregister a device (it waits for RCU), so
// `network rm` returns once the network is gone from the firewall, the
// resolver and the address plan, and the device follows; a create of the
// same device name waits for it, and Close waits for all.
type bridgeDeletes struct {
	mu      sync.Mutex
	pending map[string]chan struct{}
	wg      sync.WaitGroup
}

// start runs del in the background under name.
func (b *bridgeDeletes) start(name string, del func()) {
	done := make(chan struct{})
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[string]chan struct{}{}
	}
	b.pending[name] = done
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		del()
		b.mu.Lock()
		if b.pending[name] == done {
			delete(b.pending, name)
		}
		b.mu.Unlock()
		close(done)
	}()
}

// wait blocks until no deletion of name is pending.
func (b *bridgeDeletes) wait(ctx context.Context, name string) error {
	b.mu.Lock()
	done := b.pending[name]
	b.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitAll blocks until every pending deletion is done.
func (b *bridgeDeletes) waitAll() { b.wg.Wait() }

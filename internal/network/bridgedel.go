package network

import (
	"context"
	"sync"
)

// bridgeDeletes tracks networks being torn down in the background. The
// kernel takes tens of milliseconds to delete set elements and to
// unregister a device (each waits for RCU), so `network rm` returns once the
// network is gone from the resolver and the address plan, and the rest
// follows; a create waits for pending teardowns (it may reuse the subnet or
// the device name), and Close waits for all.
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

// wait blocks until no teardown is pending.
func (b *bridgeDeletes) wait(ctx context.Context) error {
	b.mu.Lock()
	var pending []chan struct{}
	for _, done := range b.pending {
		pending = append(pending, done)
	}
	b.mu.Unlock()
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// waitAll blocks until every pending deletion is done.
func (b *bridgeDeletes) waitAll() { b.wg.Wait() }

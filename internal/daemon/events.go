package daemon

import (
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
)

// eventBus fans events out to subscribers; slow subscribers lose events
// rather than stall the engine.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan events.Message]struct{}
	past []events.Message // recent history for --since
}

func newEventBus() *eventBus { return &eventBus{subs: map[chan events.Message]struct{}{}} }

func (b *eventBus) publish(m events.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.past = append(b.past, m)
	if len(b.past) > 1024 {
		b.past = b.past[len(b.past)-1024:]
	}
	for ch := range b.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Subscribe returns past events and a channel of new ones; cancel ends it.
func (b *eventBus) subscribe() ([]events.Message, chan events.Message, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan events.Message, 256)
	b.subs[ch] = struct{}{}
	past := append([]events.Message(nil), b.past...)
	return past, ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Events returns the event history and a live channel.
func (d *Daemon) Events() ([]events.Message, <-chan events.Message, func()) {
	return d.events.subscribe()
}

func (d *Daemon) emit(typ events.Type, action events.Action, id string, attrs map[string]string) {
	now := time.Now()
	d.events.publish(events.Message{
		Type: typ, Action: action,
		Actor:    events.Actor{ID: id, Attributes: attrs},
		Scope:    "local",
		Time:     now.Unix(),
		TimeNano: now.UnixNano(),
	})
}

func (d *Daemon) emitContainer(c *ctr, action events.Action, extra map[string]string) {
	attrs := map[string]string{"name": c.rec.Name, "image": c.rec.Image}
	for k, v := range c.rec.Config.Labels {
		attrs[k] = v
	}
	for k, v := range extra {
		attrs[k] = v
	}
	d.emit(events.ContainerEventType, action, c.rec.ID, attrs)
}

package docker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// hub is the runtime's one subscription to the engine's event stream,
// fanned out to the calls that wait for containers. It subscribes when
// the first waiter arrives and unsubscribes a while after the last one
// leaves.
//
// Waiters never depend on the stream alone: they inspect their containers
// after subscribing, and again whenever the hub tells them to resync (the
// stream broke, or they fell behind). Each (re)subscription asks the
// engine to replay its recent events (since), so nothing between an
// inspection and the stream is lost; replayed events older than what an
// inspection showed are ignored by the waiter.
type hub struct {
	cli     *client.Client
	filters client.Filters

	mu       sync.Mutex
	subs     map[*subscription]struct{}
	cancel   context.CancelFunc // of the running stream; nil when idle
	done     chan struct{}      // closed when the running stream goroutine ends
	linger   *time.Timer
	lastNano int64         // time of the newest event delivered
	offset   time.Duration // the engine's clock minus this host's, once known
	closed   bool

	// cache keeps inspections while the stream runs.
	cache inspectCache
}

// lingerTime is how long the stream stays open without waiters, so calls
// in quick succession share one subscription.
const lingerTime = 30 * time.Second

// replayMargin is how far back a new subscription asks the engine to
// replay events, to cover the moments before the stream was established
// and clock differences.
const replayMargin = 2 * time.Second

func newHub(cli *client.Client, lb labeler) *hub {
	f := lb.filters(roleContainer, "", "").
		Add("type", "container").
		Add("event", string(events.ActionStart), string(events.ActionDie), string(events.ActionOOM),
			string(events.ActionHealthStatus), string(events.ActionDestroy))
	return &hub{cli: cli, filters: f, subs: map[*subscription]struct{}{}}
}

// subscription receives the events of the runtime's containers.
type subscription struct {
	h *hub
	// c carries the events, oldest first.
	c chan events.Message
	// resync is signalled when events may have been lost: the receiver
	// inspects its containers again.
	resync chan struct{}
}

// errClosed is returned by calls that wait after Close.
var errClosed = errors.New("docker runtime: closed")

// subscribe registers a waiter and makes sure the stream runs. After
// close, the subscription is signalled at once, for the waiter to find
// errClosed.
func (h *hub) subscribe() *subscription {
	s := &subscription{h: h, c: make(chan events.Message, 1024), resync: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	if h.closed {
		s.signal()
	}
	if h.cancel == nil && !h.closed {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		go h.run(ctx, h.done)
	}
	return s
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// close unregisters the subscription.
func (s *subscription) close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	if len(h.subs) == 0 && h.cancel != nil && h.linger == nil {
		h.linger = time.AfterFunc(lingerTime, h.stopIdle)
	}
}

func (h *hub) stopIdle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.linger = nil
	if len(h.subs) == 0 && h.cancel != nil {
		h.cache.stop()
		h.cancel()
		h.cancel = nil
	}
}

// close stops the stream for good and waits for its goroutine.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	cancel, done := h.cancel, h.done
	h.cancel = nil
	h.mu.Unlock()
	h.cache.stop()
	if cancel != nil {
		cancel()
		<-done
	}
}

// run reads the stream until ctx ends, reconnecting with backoff.
func (h *hub) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	// Replay from before the engine's clock is read, which may take a
	// while on a loaded host: the subscription that started the stream,
	// and the inspections made from then on, were made before that.
	begun := time.Now()
	h.engineNow(ctx)
	since := begun.Add(h.clockOffset() - replayMargin)
	backoff := 50 * time.Millisecond
	for {
		ev := h.cli.Events(ctx, client.EventsListOptions{Since: timestamp(since), Filters: h.filters})
		connected := time.Now()
		h.connected(ctx)
		var err error
	read:
		for {
			select {
			case m := <-ev.Messages:
				backoff = 50 * time.Millisecond
				h.deliver(m)
			case err = <-ev.Err:
				break read
			}
		}
		if ctx.Err() != nil {
			return
		}
		_ = err // the waiters learn about it by inspecting again
		h.resyncAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		// Replay from the newest event seen, or from shortly before the
		// stream broke if it was quiet, in the engine's time.
		now := h.engineNow(ctx)
		since = latest(time.Unix(0, h.last()), connected.Add(h.clockOffset()), now.Add(-10*time.Second)).Add(-replayMargin)
	}
}

// connected keeps inspections in the cache from now on: the engine has
// answered the events request, so every event after since reaches the
// cache, the replayed ones first. Until then, and after the stream
// breaks, an inspection could miss an event that nothing would deliver in
// time to drop it.
func (h *hub) connected(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ctx.Err() == nil && !h.closed {
		h.cache.start()
	}
}

// engineNow returns the engine's clock, which the since of a subscription
// is read against: an engine whose clock is behind this host's would
// otherwise hold back every event until it caught up. When the engine
// does not answer, the last known difference between the clocks stands
// in.
func (h *hub) engineNow(ctx context.Context) time.Time {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	res, err := h.cli.Info(ctx, client.InfoOptions{})
	var t time.Time
	if err == nil {
		t, err = time.Parse(time.RFC3339Nano, res.Info.SystemTime)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		// The engine read its clock somewhere during the call: take
		// the middle.
		h.offset = t.Sub(start.Add(time.Since(start) / 2))
	}
	return time.Now().Add(h.offset)
}

func (h *hub) clockOffset() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.offset
}

func (h *hub) last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastNano
}

func (h *hub) deliver(m events.Message) {
	h.cache.event(m)
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.TimeNano > h.lastNano {
		h.lastNano = m.TimeNano
	}
	for s := range h.subs {
		select {
		case s.c <- m:
		default:
			s.signal()
		}
	}
}

func (h *hub) resyncAll() {
	h.cache.stop() // until the stream is back
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.signal()
	}
}

func (s *subscription) signal() {
	select {
	case s.resync <- struct{}{}:
	default:
	}
}

// timestamp formats t the way the engine's since parameter takes it.
func timestamp(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// eventTime returns the time of an event.
func eventTime(m events.Message) time.Time {
	if m.TimeNano != 0 {
		return time.Unix(0, m.TimeNano)
	}
	return time.Unix(m.Time, 0)
}

func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

package store

import (
	"context"
	"fmt"
	"sync"
)

// releasedKey is the notification key of a released lease. Deployment
// names are DNS labels, so no deployment has it.
const releasedKey = ":released"

// hub wakes the watches of a key when it changes. A watch's channel holds
// one signal: changes made while its owner is busy are coalesced into
// one wake-up, and the owner reads what changed from the store.
type hub struct {
	mu     sync.Mutex
	closed bool
	keys   map[string]map[*Watch]struct{}
}

func newHub() *hub { return &hub{keys: map[string]map[*Watch]struct{}{}} }

func (h *hub) add(key string) *Watch {
	w := &Watch{h: h, key: key, c: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(w.c)
		w.done = true
		return w
	}
	if h.keys[key] == nil {
		h.keys[key] = map[*Watch]struct{}{}
	}
	h.keys[key][w] = struct{}{}
	return w
}

func (h *hub) remove(w *Watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	delete(h.keys[w.key], w)
	if len(h.keys[w.key]) == 0 {
		delete(h.keys, w.key)
	}
}

// signal wakes the watches of key; an empty key wakes every watch.
func (h *hub) signal(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	wake := func(ws map[*Watch]struct{}) {
		for w := range ws {
			select {
			case w.c <- struct{}{}:
			default:
			}
		}
	}
	if key == "" {
		for _, ws := range h.keys {
			wake(ws)
		}
		return
	}
	wake(h.keys[key])
}

// close ends every watch: their channels are closed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, ws := range h.keys {
		for w := range ws {
			w.done = true
			close(w.c)
		}
	}
	h.keys = nil
}

// Watch wakes its owner when what it watches changes.
type Watch struct {
	h    *hub
	key  string
	c    chan struct{}
	done bool // guarded by h.mu
}

// Changed receives a value after each change committed since the last
// receive (several changes may give one value), and is closed when the
// store closes. A change committed before the watch was made may also
// give a value.
func (w *Watch) Changed() <-chan struct{} { return w.c }

// Close stops the watch. It may be called more than once.
func (w *Watch) Close() { w.h.remove(w) }

// watch returns a watch of key, first starting the driver's listener if
// it is a Notifier.
func (s *Store) watch(key string) *Watch {
	s.listenOnce.Do(s.startListener)
	return s.hub.add(key)
}

// startListener relays the driver's notifications to the hub.
func (s *Store) startListener() {
	n, ok := s.d.(Notifier)
	if !ok || s.closed.Load() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.listenCancel, s.listenDone = cancel, make(chan struct{})
	go func() {
		defer close(s.listenDone)
		_ = n.Listen(ctx, s.hub.signal)
	}()
}

// SubscribeReleases returns a watch that wakes whenever a lease is
// released, in this process or, when the driver is a Notifier, in any
// process sharing the database: a replica uses it to take over at once
// the operations another one handed over on its way out.
func (s *Store) SubscribeReleases() *Watch { return s.watch(releasedKey) }

// SubscribeDeployment returns a watch that wakes whenever the record or
// the event log of a deployment changes.
func (s *Store) SubscribeDeployment(deployment string) *Watch { return s.watch(deployment) }

// EventSubscription follows a deployment's event log from a sequence
// number. It is not safe for concurrent use.
type EventSubscription struct {
	*Watch
	s    *Store
	name string
	q    EventQuery
}

// SubscribeEvents follows the events of a deployment with Seq >
// q.AfterSeq (only those of q.OperationID when set), in batches of at
// most q.Limit (zero: all there are). Each event is delivered once, in
// order. Appends wake the subscription at once: in this process, and in
// every process sharing the database when the driver is a Notifier; in
// between, the subscription reads nothing. Close it when done.
func (s *Store) SubscribeEvents(ctx context.Context, deployment string, q EventQuery) (*EventSubscription, error) {
	if err := checkDeploymentName("deployment", deployment); err != nil {
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	if err := checkEventQuery(q); err != nil {
		return nil, fmt.Errorf("subscribe to events of %q: %w", deployment, err)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return &EventSubscription{Watch: s.watch(deployment), s: s, name: deployment, q: q}, nil
}

// AfterSeq returns the Seq of the last event delivered (or the starting
// point).
func (es *EventSubscription) AfterSeq() int64 { return es.q.AfterSeq }

// Fetch returns the events appended since the last ones delivered, without
// waiting: an empty batch when there are none.
func (es *EventSubscription) Fetch(ctx context.Context) ([]Event, error) {
	evs, err := es.s.ListEvents(ctx, es.name, es.q)
	if err != nil {
		return nil, err
	}
	if n := len(evs); n > 0 {
		es.q.AfterSeq = evs[n-1].Seq
	}
	return evs, nil
}

// Next waits until there are events after the last ones delivered and
// returns them. It fails with the context's error when ctx is done, and
// with ErrClosed when the store closes.
func (es *EventSubscription) Next(ctx context.Context) ([]Event, error) {
	for {
		evs, err := es.Fetch(ctx)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case _, ok := <-es.Changed():
			if !ok {
				return nil, ErrClosed
			}
		}
	}
}

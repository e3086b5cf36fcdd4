package deploy

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/stackwave/stackwave/store"
)

// recorder keeps the deployment record of one operation and writes it to
// the store from one goroutine, coalescing changes: however many stacks
// change state at once, the store sees one write of the latest record, and
// events are appended in batches, in order. The operation holds the
// deployment's lease, so the recorder is the record's only writer.
type recorder struct {
	st   *store.Store
	name string
	// trace is the context whose span the writes' spans are children of,
	// with tel the executor's telemetry (both set by start).
	trace context.Context
	tel   *telemetry

	mu     sync.Mutex
	d      *store.Deployment
	dirty  bool
	events []store.Event
	err    error // last write error, cleared by a successful write

	// stackIdx indexes d.Stacks by name.
	stackIdx map[string]int

	kick chan struct{}
	quit chan struct{}
	done chan struct{}

	// log, when set, receives the failures of writes.
	log logFunc

	// release, set by end, is the lease owner whose lease the write of
	// the final record releases in its transaction; released is set
	// once it did. Under mu.
	release  string
	released bool
}

// maxEventBatch bounds the events of one write, so that no write holds
// the store for long: a large launch's events go in several.
const maxEventBatch = 1000

// minWriteInterval is how long the recorder lets changes gather before
// it writes them: changes made meanwhile are coalesced into the next
// write. The final state of an operation is always written, at once.
const minWriteInterval = 5 * time.Millisecond

// busyWriteInterval spaces the writes of a record that keeps changing:
// each write replaces the whole record (a wide tier's hundred stacks
// changed it 170 times in three seconds, a fifth of the command's CPU,
// on the cores the engine needs), so while changes keep coming the next
// write starts no sooner than this after the last one began, or ten
// times the last write's duration when that is longer: the recorder
// spends at most a tenth of its time writing. A change after a quiet
// spell is still written minWriteInterval later.
const busyWriteInterval = 50 * time.Millisecond

func newRecorder(st *store.Store, d *store.Deployment) *recorder {
	r := &recorder{st: st, name: d.Name, d: d, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	r.reindex()
	return r
}

func (r *recorder) reindex() {
	r.stackIdx = make(map[string]int, len(r.d.Stacks))
	for i := range r.d.Stacks {
		r.stackIdx[r.d.Stacks[i].Name] = i
	}
}

// setStack changes or adds the state of a stack.
func (r *recorder) setStack(name string, fn func(s *store.StackState)) {
	r.mu.Lock()
	i, ok := r.stackIdx[name]
	if !ok {
		r.d.Stacks = append(r.d.Stacks, store.StackState{Name: name})
		i = len(r.d.Stacks) - 1
		r.stackIdx[name] = i
	}
	fn(&r.d.Stacks[i])
	r.dirty = true
	r.mu.Unlock()
	r.poke()
}

// dropStack removes a stack's state.
func (r *recorder) dropStack(name string) {
	r.mu.Lock()
	if _, ok := r.stackIdx[name]; ok {
		r.d.Stacks = slices.DeleteFunc(r.d.Stacks, func(s store.StackState) bool { return s.Name == name })
		r.reindex()
		r.dirty = true
	}
	r.mu.Unlock()
	r.poke()
}

// start starts the background writer; the spans of its store writes are
// children of the span in parent.
func (r *recorder) start(parent context.Context, tel *telemetry) {
	r.trace, r.tel = context.WithoutCancel(parent), tel
	go r.loop()
}

func (r *recorder) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// update changes the record in memory; the change reaches the store soon.
func (r *recorder) update(fn func(d *store.Deployment)) {
	r.mu.Lock()
	fn(r.d)
	r.reindex()
	r.dirty = true
	r.mu.Unlock()
	r.poke()
}

// event queues an event for the store's log.
func (r *recorder) event(e store.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.poke()
}

// end changes the record for the last time and queues e, the
// operation's last event, at once: no write takes one without the other,
// so the event and the final record reach the store in the same
// transaction, which also releases owner's lease.
func (r *recorder) end(fn func(d *store.Deployment), e store.Event, owner string) {
	r.mu.Lock()
	fn(r.d)
	r.reindex()
	r.dirty = true
	r.events = append(r.events, e)
	r.release = owner
	r.mu.Unlock()
	r.poke()
}

// releasing reports whether the next write of the record releases the
// lease, or did.
func (r *recorder) releasing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.release != ""
}

// leaseReleased reports whether the final record's write released the
// lease.
func (r *recorder) leaseReleased() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.released
}

// snapshot returns a deep copy of the record.
func (r *recorder) snapshot() *store.Deployment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneDeployment(r.d)
}

// stackState returns a copy of a stack's recorded state, or nil.
func (r *recorder) stackState(name string) *store.StackState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.stackIdx[name]; ok {
		c := r.d.Stacks[i]
		return &c
	}
	return nil
}

func (r *recorder) loop() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(r.trace)
	defer cancel()
	go func() {
		<-r.quit
		cancel()
	}()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var next time.Time // the earliest start of the next write
	for {
		select {
		case <-r.quit:
			return
		case <-r.kick:
		case <-retry.C:
		}
		// Let more changes gather, then write them at once.
		select {
		case <-r.quit:
			return
		case <-time.After(max(minWriteInterval, time.Until(next))):
		}
		began := time.Now()
		err := r.write(ctx)
		next = began.Add(max(busyWriteInterval, 10*time.Since(began)))
		if err != nil && ctx.Err() == nil {
			retry.Reset(retryWrite)
			if errors.Is(err, store.ErrConflict) {
				// Written since by someone else; written again at once.
				r.logf(slog.LevelDebug, "deployment record changed in the store; writing it again", "error", err)
			} else {
				r.logf(slog.LevelWarn, "store write of the deployment record failed; retrying", "error", err, "retry_in", retryWrite)
			}
		}
	}
}

// write sends pending events and the record, if changed, to the store.
// The record goes in the transaction of the last batch of events queued
// before it: a reader that sees the operation ended in the record finds
// all its events, and a reader that sees its last event finds the record
// that ended it. Only a backlog larger than maxEventBatch is written in
// several transactions, the record with the last.
func (r *recorder) write(ctx context.Context) error {
	r.mu.Lock()
	events := r.events
	r.events = nil
	more := len(events) > maxEventBatch
	if more {
		events, r.events = events[:maxEventBatch:maxEventBatch], events[maxEventBatch:]
		defer r.poke() // the rest goes next
	}
	var snap *store.Deployment
	var release string
	if r.dirty && !more {
		snap = cloneDeployment(r.d)
		r.dirty = false
		if !r.released {
			release = r.release
		}
	}
	r.mu.Unlock()

	var updated *store.Deployment
	var err error
	switch {
	case snap != nil && release != "":
		// The final record: it releases the lease.
		updated, err = r.updateDeployment(ctx, snap, events, store.ReleasingLease(release))
		if err == nil {
			r.mu.Lock()
			r.released = true
			r.mu.Unlock()
		}
	case snap != nil:
		updated, err = r.updateDeployment(ctx, snap, events)
	case len(events) > 0:
		err = r.appendEvents(ctx, events)
	default:
		return nil
	}
	if err != nil {
		// Nothing was written: the events go first again, and the
		// record with them.
		r.mu.Lock()
		r.events = append(events, r.events...)
		r.dirty = r.dirty || snap != nil
		if !errors.Is(err, store.ErrConflict) || snap == nil {
			r.err = err
		}
		r.mu.Unlock()
		if errors.Is(err, store.ErrConflict) && snap != nil {
			// Someone wrote the record since: we hold the lease, so
			// our state of the operation wins; take the new revision
			// and retry.
			if fresh, gerr := r.st.GetDeployment(ctx, r.name); gerr == nil {
				r.mu.Lock()
				r.d.Revision = fresh.Revision
				r.mu.Unlock()
			}
			r.poke()
		}
		return err
	}
	if updated == nil {
		return nil
	}
	r.mu.Lock()
	r.d.Revision = updated.Revision
	r.d.CreatedAt, r.d.UpdatedAt = updated.CreatedAt, updated.UpdatedAt
	r.err = nil
	r.mu.Unlock()
	return nil
}

// stop ends the background writer and, if flush is set, writes what is
// pending, retrying until ctx is done or idle passes without a write
// going through (a store that takes the lease's renewals but refuses the
// record must not hold the operation forever).
func (r *recorder) stop(ctx context.Context, flush bool, idle time.Duration) error {
	close(r.quit)
	<-r.done
	if !flush {
		return nil
	}
	progress := time.Now()
	for {
		err := r.write(ctx)
		if err == nil {
			progress = time.Now()
		} else if time.Since(progress) > idle {
			r.logf(slog.LevelError, "store write of the operation's outcome failed; giving up", "error", err, "idle", idle)
			return err
		}
		r.mu.Lock()
		pending := r.dirty || len(r.events) > 0
		r.mu.Unlock()
		if err == nil && !pending {
			return nil
		}
		if err == nil {
			continue // the next batch of events, at once
		}
		if err != nil && !errors.Is(err, store.ErrConflict) && !isTransient(err) {
			r.logf(slog.LevelError, "store write of the operation's outcome failed", "error", err)
			return err
		}
		if !errors.Is(err, store.ErrConflict) {
			r.logf(slog.LevelWarn, "store write of the operation's outcome failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// retryWrite is how long the recorder waits before it writes again after
// a failure.
const retryWrite = 100 * time.Millisecond

func (r *recorder) logf(level slog.Level, msg string, args ...any) {
	if r.log != nil {
		r.log(level, msg, args...)
	}
}

// isTransient reports whether a store error may go away on retry.
func isTransient(err error) bool {
	return !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrClosed) &&
		!errors.Is(err, store.ErrLeaseHeld)
}

func cloneDeployment(d *store.Deployment) *store.Deployment {
	c := d.Clone()
	c.Parameters = maps.Clone(d.Parameters)
	return c
}

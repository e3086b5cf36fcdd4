package runtimetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackwave/stackwave/runtime"
)

// holdCalls and holdTime: the first holdCalls calls of a watch's notify
// take holdTime, as a consumer that is slow now and then does, so that a
// runtime calling notify from more than one goroutine is caught calling
// it while a call is still running.
const (
	holdCalls = 8
	holdTime  = 50 * time.Millisecond
)

// testWatch checks runtime.Watcher, for runtimes that implement it: Watch
// calls notify("") once its stream is established, after which a change
// made through the runtime (a Remove, an Apply) and one made behind its
// back (Harness.Tamper removing a service, when the harness has it) are
// each notified with the deployment's name; notify is never called
// concurrently; and once ctx is done Watch returns ctx's error, after
// which notify is never called again, while a second watch of the same
// runtime goes on seeing changes. Names of other deployments are allowed:
// notifications are hints.
func testWatch(e *env) {
	t := e.t
	w := capability[runtime.Watcher](e, runtime.CapWatcher)
	app := e.spec("app", 0, e.service("app", "web", Behavior{}))
	extra := e.spec("extra", 1, e.service("extra", "web", Behavior{}))
	e.launch(app)
	e.launch(extra)

	first := e.watch(w, "first Watch")
	first.await(0, "", "once its stream is established")

	mark := first.mark()
	e.remove(e.rt, extra.Ref(), runtime.RemoveOptions{})
	first.await(mark, e.dep, "after Remove of stack extra through the runtime")

	if e.h.Tamper == nil {
		t.Log("Harness.Tamper is nil: no change behind the runtime's back to watch for")
	} else {
		mark = first.mark()
		if e.h.Tamper(t, app.Ref(), "web", Change{Kind: ChangeRemove}) {
			first.await(mark, e.dep, "after service web of stack app was removed behind the runtime's back")
		} else {
			t.Log("Harness.Tamper cannot remove a service behind the runtime's back")
		}
	}
	first.stop()

	// The first watch has returned; a second one sees the next change,
	// the first must not.
	second := e.watch(w, "second Watch")
	second.await(0, "", "once its stream is established")
	mark = second.mark()
	e.apply(e.rt, extra)
	second.await(mark, e.dep, "after Apply of stack extra through the runtime")
	second.stop()
	first.checkQuiet("while a second Watch saw a change")
}

// watch starts w.Watch on a context of its own, recording what it
// notifies; cleanup ends it if the test did not.
func (e *env) watch(w runtime.Watcher, name string) *watchRecorder {
	ctx, cancel := context.WithCancel(e.t.Context())
	r := &watchRecorder{e: e, name: name, cancel: cancel, exited: make(chan struct{}), wake: make(chan struct{}, 1)}
	e.mu.Lock()
	e.watches = append(e.watches, r)
	e.mu.Unlock()
	go func() {
		err := w.Watch(ctx, r.notify)
		r.mu.Lock()
		r.err, r.ended = err, true
		r.mu.Unlock()
		close(r.exited)
	}()
	e.t.Cleanup(func() {
		cancel()
		timer := time.NewTimer(e.h.Timeout)
		defer timer.Stop()
		select {
		case <-r.exited:
		case <-timer.C:
			e.t.Errorf("%s did not return within %v of its context's cancellation", r.name, e.h.Timeout)
		}
	})
	return r
}

// watchRecorder records the notifications of one Watch call.
type watchRecorder struct {
	e      *env
	name   string
	cancel context.CancelFunc
	exited chan struct{} // closed when Watch returned
	wake   chan struct{} // signalled after each notification

	inflight atomic.Int32

	mu         sync.Mutex
	names      []string
	calls      int
	concurrent int // calls made while another ran
	err        error
	ended      bool // Watch returned, with err
	late       int  // calls made after Watch returned
}

func (r *watchRecorder) notify(dep string) {
	if r.inflight.Add(1) > 1 {
		r.mu.Lock()
		r.concurrent++
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.calls++
	hold := r.calls <= holdCalls
	if r.ended {
		r.late++
	} else {
		r.names = append(r.names, dep)
	}
	r.mu.Unlock()
	if hold {
		// Not a synchronisation: the call stays open for a moment, for
		// a concurrent one to overlap it.
		time.Sleep(holdTime)
	}
	r.inflight.Add(-1)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// mark returns the position of the next notification.
func (r *watchRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.names)
}

// await waits, at most the harness's Timeout, for a notification of dep
// at or after position from, failing the test when none comes.
func (r *watchRecorder) await(from int, dep, when string) {
	t := r.e.t
	t.Helper()
	timer := time.NewTimer(r.e.h.Timeout)
	defer timer.Stop()
	what := "the deployment's name " + dep
	if dep == "" {
		what = `"" (changes may have been missed)`
	}
	for {
		r.mu.Lock()
		found := slices.Contains(r.names[min(from, len(r.names)):], dep)
		names := slices.Clone(r.names[min(from, len(r.names)):])
		r.mu.Unlock()
		if found {
			return
		}
		select {
		case <-r.wake:
		case <-r.exited:
			t.Fatalf("%s returned %v before it notified %s %s", r.name, r.result(), what, when)
		case <-timer.C:
			t.Fatalf("%s did not notify %s %s within %v; it notified %q", r.name, what, when, r.e.h.Timeout, names)
		}
	}
}

// stop cancels the watch's context and checks that Watch returns ctx's
// error within the harness's Timeout.
func (r *watchRecorder) stop() {
	t := r.e.t
	t.Helper()
	r.cancel()
	timer := time.NewTimer(r.e.h.Timeout)
	defer timer.Stop()
	select {
	case <-r.exited:
		if err := r.result(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s returned %v once its context was cancelled, want an error matching context.Canceled", r.name, err)
		}
	case <-timer.C:
		t.Fatalf("%s did not return within %v of its context's cancellation", r.name, r.e.h.Timeout)
	}
}

// result returns what Watch returned, once it has.
func (r *watchRecorder) result() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// checkQuiet fails the test if notify was called after Watch returned or
// while another call ran.
func (r *watchRecorder) checkQuiet(when string) {
	t := r.e.t
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.late > 0 {
		t.Errorf("%s called notify %d time(s) after it returned (%s); the contract forbids it", r.name, r.late, when)
		r.late = 0
	}
	if r.concurrent > 0 {
		t.Errorf("%s called notify %d time(s) while another call of it ran; the contract says one goroutine at a time", r.name, r.concurrent)
		r.concurrent = 0
	}
}

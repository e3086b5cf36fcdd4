// Package deploytest helps embedders test code that drives a
// deploy.Executor: a Recorder of events that plugs into
// deploy.Options.OnEvent or deploy.Request.OnEvent, waits for an event
// without sleeping, and asserts on the order of what happened.
//
// Run the executor on the in-memory back-ends (store/memory,
// runtime/sim), inside a testing/synctest bubble when the test is about
// time (see the deploy package's documentation).
package deploytest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/stack"
)

// Recorder keeps the events it is given, in order. Its zero value is
// ready to use; it is safe for concurrent use.
//
//	rec := new(deploytest.Recorder)
//	ex := deploy.New(rt, st, &deploy.Options{OnEvent: rec.Record})
type Recorder struct {
	mu      sync.Mutex
	events  []deploy.Event
	changed chan struct{} // closed at the next Record, when someone waits
}

// Record appends an event. It is the callback to give OnEvent.
func (r *Recorder) Record(e deploy.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
}

// Events returns a copy of the events recorded so far, in order.
func (r *Recorder) Events() []deploy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]deploy.Event(nil), r.events...)
}

// Reset forgets the events recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

// Wait returns the first recorded event that match accepts, waiting for
// it to be recorded, or an error once ctx is done. It never polls.
func (r *Recorder) Wait(ctx context.Context, match Match) (deploy.Event, error) {
	seen := 0
	for {
		r.mu.Lock()
		for ; seen < len(r.events); seen++ {
			if match(r.events[seen]) {
				e := r.events[seen]
				r.mu.Unlock()
				return e, nil
			}
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return deploy.Event{}, fmt.Errorf("deploytest: no matching event among the %d recorded: %w", seen, context.Cause(ctx))
		}
	}
}

// Match says whether an event is one looked for.
type Match func(deploy.Event) bool

// Type matches events of type t.
func Type(t deploy.EventType) Match { return func(e deploy.Event) bool { return e.Type == t } }

// Stack matches events of type t about the stack called name (and about
// none of its services).
func Stack(t deploy.EventType, name string) Match {
	return func(e deploy.Event) bool { return e.Type == t && e.Stack == name && e.Service == "" }
}

// Service matches events of type t about one service of a stack.
func Service(t deploy.EventType, stackName, service string) Match {
	return func(e deploy.Event) bool { return e.Type == t && e.Stack == stackName && e.Service == service }
}

// Deployment matches every event of the deployment called name.
func Deployment(name string) Match { return func(e deploy.Event) bool { return e.Deployment == name } }

// All matches events that every one of ms matches.
func All(ms ...Match) Match {
	return func(e deploy.Event) bool {
		for _, m := range ms {
			if !m(e) {
				return false
			}
		}
		return true
	}
}

// Filter returns the events that match accepts.
func Filter(events []deploy.Event, match Match) []deploy.Event {
	var out []deploy.Event
	for _, e := range events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// RequireSequence fails the test at once unless events hold, in this
// order, an event for each of matches (other events may come between).
// Call it from the test's goroutine.
func RequireSequence(t testing.TB, events []deploy.Event, matches ...Match) {
	t.Helper()
	i := 0
	for k, m := range matches {
		for i < len(events) && !m(events[i]) {
			i++
		}
		if i == len(events) {
			t.Fatalf("deploytest: match %d of %d found no event after those before it; events:\n%s", k+1, len(matches), format(events))
			return
		}
		i++
	}
}

// RequireTierOrder fails the test at once unless every stack of deps
// that events show applied started (stack-applying) after every stack
// it depends on was ready (stack-ready): its depends_on stacks, or else
// every stack of the previous tier. Stacks the events do not show
// applied, as those an update left unchanged, are not checked; a stack
// applied before one it depends on was ready is an error. Call it from
// the test's goroutine.
func RequireTierOrder(t testing.TB, events []deploy.Event, deps stack.Deps) {
	t.Helper()
	plan, err := deploy.NewPlan(deps)
	if err != nil {
		t.Fatalf("deploytest: %v", err)
		return
	}
	applying, ready := map[string]int{}, map[string]int{}
	for i, e := range events {
		if e.Service != "" {
			continue
		}
		switch e.Type {
		case deploy.EventStackApplying:
			if _, ok := applying[e.Stack]; !ok {
				applying[e.Stack] = i
			}
		case deploy.EventStackReady:
			if _, ok := ready[e.Stack]; !ok {
				ready[e.Stack] = i
			}
		}
	}
	var problems []string
	for _, name := range plan.Order() {
		a, ok := applying[name]
		if !ok {
			continue
		}
		for _, dep := range plan.DependsOn(name) {
			r, ok := ready[dep]
			_, applied := applying[dep]
			switch {
			case ok && r > a:
				problems = append(problems, fmt.Sprintf("%s applying (event %d) before %s ready (event %d)", name, a, dep, r))
			case !ok && applied:
				problems = append(problems, fmt.Sprintf("%s applying (event %d) though %s, applied, never got ready", name, a, dep))
			}
		}
	}
	if len(problems) > 0 {
		t.Fatalf("deploytest: tier order broken:\n  %s\nevents:\n%s", strings.Join(problems, "\n  "), format(events))
	}
}

func format(events []deploy.Event) string {
	var b strings.Builder
	for i, e := range events {
		fmt.Fprintf(&b, "  %3d %s\n", i, e)
	}
	return b.String()
}

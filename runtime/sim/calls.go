package sim

import (
	"time"

	"github.com/stackwave/stackwave/runtime"
)

// Call is one call made to the runtime.
type Call struct {
	// Op is "apply", "wait", "remove", "remove-deployment", "observe",
	// "init", "stop", "start", "restart" or "volumes".
	Op         string
	Deployment string
	// Stack is empty for calls about a whole deployment.
	Stack string
	// StackHash is runtime.StackHash of the spec the call was given, for
	// the calls that take one.
	StackHash string
	// Index is the init script's index, for "init".
	Index int
	// Time is when the call began.
	Time time.Time
	// Err is what the call returned; nil while it runs.
	Err error
}

// Calls returns every call recorded since the runtime was made or
// ResetCalls was last called, in the order they began.
func (r *Runtime) Calls() []Call {
	r.callMu.Lock()
	defer r.callMu.Unlock()
	out := make([]Call, 0, r.ncalls)
	for _, chunk := range r.calls {
		out = append(out, chunk...)
	}
	return out
}

// ResetCalls forgets the calls recorded so far.
func (r *Runtime) ResetCalls() {
	r.callMu.Lock()
	r.calls, r.ncalls = nil, 0
	r.callGen++
	r.callMu.Unlock()
}

// callChunk is how many calls one chunk of the record holds; chunks keep
// a long record from being copied as it grows.
const callChunk = 1024

// callRef identifies a recorded call so that its result can be filled in.
type callRef struct {
	gen, index int
}

// begin records the start of a call and returns it with its time.
func (r *Runtime) begin(op string, ref runtime.StackRef, spec *runtime.StackSpec, index int) (callRef, time.Time) {
	c := Call{Op: op, Deployment: ref.Deployment, Stack: ref.Stack, Index: index, Time: time.Now()}
	if spec != nil {
		c.StackHash = runtime.StackHash(spec)
	}
	r.callMu.Lock()
	defer r.callMu.Unlock()
	if n := len(r.calls); n == 0 || len(r.calls[n-1]) == callChunk {
		r.calls = append(r.calls, make([]Call, 0, callChunk))
	}
	last := &r.calls[len(r.calls)-1]
	*last = append(*last, c)
	r.ncalls++
	return callRef{gen: r.callGen, index: r.ncalls - 1}, c.Time
}

// end records what a call returned.
func (r *Runtime) end(c callRef, err error) {
	if err == nil {
		return
	}
	r.callMu.Lock()
	if c.gen == r.callGen {
		r.calls[c.index/callChunk][c.index%callChunk].Err = err
	}
	r.callMu.Unlock()
}

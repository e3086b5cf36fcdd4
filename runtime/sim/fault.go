package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/stackwave/stackwave/runtime"
)

// FaultKind says what a Fault does.
type FaultKind int

// Fault kinds. Each counts its own kind of matching call for Fault.Nth.
const (
	// FailApply makes Apply fail for the matching services, which are
	// left as they were; the other services of the stack are applied,
	// and services dropped from the spec are not removed. It counts
	// Apply calls whose spec holds a matching service.
	FailApply FaultKind = iota + 1
	// NeverReady makes the instances a call starts run without ever
	// becoming ready. It counts Apply, Start and Restart calls that start
	// instances of a matching service; an Apply that changes nothing
	// starts none.
	NeverReady
	// CrashAfterReady makes the instances a call starts exit with
	// ExitCode After they became ready. It counts like NeverReady.
	CrashAfterReady
	// ExitOnStart makes the instances a call starts exit with ExitCode
	// After they started (at once by default), before they become ready
	// unless their ready latency is shorter. It counts like NeverReady.
	ExitOnStart
	// FailRemove makes Remove fail for the matching services, which are
	// left in place; the stack's other services are removed. It counts
	// Remove calls of stacks that hold a matching service.
	FailRemove
	// FailInit makes RunInit fail with ExitCode (1 when zero) for scripts
	// that run in a matching service. It counts those RunInit calls.
	FailInit
	// FailWait makes Wait return Err at once. It counts Wait calls whose
	// spec holds a matching service.
	FailWait
)

var faultNames = [...]string{
	FailApply:       "FailApply",
	NeverReady:      "NeverReady",
	CrashAfterReady: "CrashAfterReady",
	ExitOnStart:     "ExitOnStart",
	FailRemove:      "FailRemove",
	FailInit:        "FailInit",
	FailWait:        "FailWait",
}

func (k FaultKind) String() string {
	if k > 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// startKind reports whether k acts on the instances a call starts.
func (k FaultKind) startKind() bool {
	return k == NeverReady || k == CrashAfterReady || k == ExitOnStart
}

// Fault is a rule that makes the runtime misbehave on matching calls.
// Empty Deployment, Stack and Service match any.
type Fault struct {
	Kind                       FaultKind
	Deployment, Stack, Service string
	// Nth makes the fault act on the Nth matching call only (1-based);
	// zero means every matching call.
	Nth int
	// After delays ExitOnStart and CrashAfterReady.
	After time.Duration
	// ExitCode is the exit code of ExitOnStart, CrashAfterReady and
	// FailInit.
	ExitCode int
	// Err is what FailApply, FailRemove, FailWait and FailInit return,
	// wrapped with the call's context. When nil it is an error matching
	// runtime.ErrUnavailable (runtime.ErrFailed for FailInit). For
	// NeverReady it is why the instances are not ready, when set: Wait
	// reports it as the service's waiting reason and in its timeout, as
	// an engine names what a container waits for.
	Err error
}

func (f *Fault) matches(ref runtime.StackRef) bool {
	return (f.Deployment == "" || f.Deployment == ref.Deployment) && (f.Stack == "" || f.Stack == ref.Stack)
}

func (f *Fault) matchesService(name string) bool { return f.Service == "" || f.Service == name }

type faultRule struct {
	Fault
	calls int // matching calls so far
}

// fires counts a matching call and reports whether the rule acts on it.
func (f *faultRule) fires() bool {
	f.calls++
	return f.Nth == 0 || f.calls == f.Nth
}

// Inject adds a fault rule. Rules act in the order they were added; one
// call may trigger several. Inject panics on an unknown Kind.
func (r *Runtime) Inject(f Fault) {
	if f.Kind <= 0 || int(f.Kind) >= len(faultNames) {
		panic(fmt.Sprintf("sim: Inject: unknown fault kind %d", int(f.Kind)))
	}
	r.faultMu.Lock()
	r.faults = append(r.faults, &faultRule{Fault: f})
	r.nfaults.Store(int32(len(r.faults)))
	r.faultMu.Unlock()
}

// ClearFaults removes every fault rule. Instances already started under
// a rule keep its effect (one that never becomes ready stays so until it
// is replaced or restarted).
func (r *Runtime) ClearFaults() {
	r.faultMu.Lock()
	r.faults = nil
	r.nfaults.Store(0)
	r.faultMu.Unlock()
}

// fail returns the first rule of kind that fires on a call for ref, given
// which services the call involves, or nil. Every matching rule counts
// the call.
func (r *Runtime) fail(kind FaultKind, ref runtime.StackRef, has func(service string) bool) *Fault {
	if r.nfaults.Load() == 0 {
		return nil
	}
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	var hit *Fault
	for _, f := range r.faults {
		if f.Kind != kind || !f.matches(ref) || f.Service != "" && !has(f.Service) {
			continue
		}
		if f.fires() && hit == nil {
			hit = &f.Fault
		}
	}
	return hit
}

// effect is what start faults do to the instances of one service that a
// call starts.
type effect struct {
	neverReady bool
	notReady   string // why, for neverReady: the fault's Err
	exit       bool   // exit exitAfter after start
	crash      bool   // exit crashAfter after ready
	exitAfter  time.Duration
	crashAfter time.Duration
	exitCode   int
	crashCode  int
}

// startEffects evaluates the start faults for a call that starts
// instances of the services of ws marked as starting, and stores in each
// its effect.
func (r *Runtime) startEffects(ref runtime.StackRef, ws []work) {
	if r.nfaults.Load() == 0 {
		return
	}
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	for _, f := range r.faults {
		if !f.Kind.startKind() || !f.matches(ref) {
			continue
		}
		matched := false
		for i := range ws {
			if ws[i].starts() && f.matchesService(ws[i].name) {
				matched = true
				break
			}
		}
		if !matched || !f.fires() {
			continue
		}
		for i := range ws {
			if !ws[i].starts() || !f.matchesService(ws[i].name) {
				continue
			}
			e := &ws[i].fx
			switch f.Kind {
			case NeverReady:
				e.neverReady = true
				if f.Err != nil {
					e.notReady = f.Err.Error()
				}
			case ExitOnStart:
				if !e.exit || f.After < e.exitAfter {
					e.exit, e.exitAfter, e.exitCode = true, f.After, f.ExitCode
				}
			case CrashAfterReady:
				if !e.crash || f.After < e.crashAfter {
					e.crash, e.crashAfter, e.crashCode = true, f.After, f.ExitCode
				}
			}
		}
	}
}

// injected returns the error a Fail* fault makes a call return.
func injected(f *Fault, what string) error {
	if f.Err != nil {
		return f.Err
	}
	return runtime.WrapError(runtime.ErrUnavailable, errors.New("injected fault: "+what))
}

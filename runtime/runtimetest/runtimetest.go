// Package runtimetest is the conformance suite of runtime.Runtime.
//
// Every back-end (runtime/sim, runtime/docker, runtime/kube) proves that it
// keeps the runtime contract by passing Run from its own tests. What
// differs between back-ends, such as how to make a service that exits or
// never becomes ready, is written once per back-end in a Harness:
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, &runtimetest.Harness{
//			NewRuntime: func(t *testing.T) runtime.Runtime { return newRuntime(t) },
//			Deployment: func(t *testing.T) string { return "rt-" + randomSuffix() },
//			Service: func(t *testing.T, ref runtime.StackRef, name string, b runtimetest.Behavior) stack.Service {
//				return testImageService(name, b) // env settings of the test image
//			},
//			InitScript: func(t *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript {
//				return stack.InitScript{ServiceName: service, Command: []string{"/testapp", "exit", strconv.Itoa(exitCode)}}
//			},
//			Capabilities: runtime.CapLifecycle | runtime.CapVolumeLister | runtime.CapLogReader,
//			Timeout:      time.Minute,
//			Parallel:     true,
//		})
//	}
//
// A harness declares the optional interfaces its runtime implements
// (Harness.Capabilities). Every test fails when the runtime's value
// implements another set (runtime.CapabilitiesOf), whether it lacks a
// declared capability (a wrapper that drops it, as a plain struct
// embedding runtime.Runtime does) or has one not declared; the tests of
// a capability are skipped, saying so, only when it is not declared. A
// wrapper made with runtime.Wrap passes with the wrapped runtime's
// declaration.
//
// The suite checks apply, readiness and observation; idempotence by
// config hash; moving a stack to another tier (Observe reports the new
// tier); replacing, scaling and dropping services without touching
// the others; failing fast when a service exits; timing out a service
// that never becomes ready; removal, with volumes kept unless data is
// deleted (for runtimes that implement runtime.VolumeLister); that a new
// runtime on the same back-end sees what another created; progress
// events; isolation of deployments; init scripts; stop, start and
// restart (for runtimes that implement runtime.Lifecycle); cancellation;
// the host names of runtime.Addresser (distinct DNS names per service);
// that runtime.ErrorMapper passes errors it does not know on unchanged;
// logs (for runtimes that implement runtime.LogReader): tags, order,
// not-found and malformed selections, Tail, Since, Follow and what ends
// it;
// the watch (for runtimes that implement runtime.Watcher): "" once its
// stream is established, then the deployment's name after a change made
// through the runtime and one made behind its back, never two calls of
// notify at once, none after Watch returned, which it does with ctx's
// error;
// that failures map onto runtime's sentinels through runtime.MapError;
// and drift: that what Observe reports, judged by runtime.Compare, shows a
// service missing, stopped, running another image, scaled or applied
// with another configuration, and extra services, the same way on every
// runtime, and that Apply of the spec repairs each (with Harness.Tamper
// making the changes by hand).
//
// The suite removes every stack it created, deleting data, when each test
// ends.
package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Harness adapts the suite to one back-end.
type Harness struct {
	// NewRuntime returns the runtime under test. It is called once or
	// more per test: a second runtime on the same back-end must observe
	// what the first created, as after a restart of the control plane.
	NewRuntime func(t *testing.T) runtime.Runtime

	// Deployment returns a fresh deployment name, unique per test run
	// and a DNS-1123 label, and may register cleanup with t.Cleanup. The
	// suite's own cleanup, removing every stack it created, runs first.
	Deployment func(t *testing.T) string

	// Service returns a spec of a service named name that behaves as b
	// says on this back-end: for Docker the test image with its env
	// settings, for the simulated runtime a plain service plus fault
	// rules for ref and name, for Kubernetes whatever makes its pods
	// behave so. It sets UnitType (the default catalog's "1U1G" does)
	// and, when the service needs one to be judged ready, a readiness
	// probe. The suite may then add access points, volumes, instances or
	// env entries, which must not change the behaviour. It is called
	// once per stack and service name.
	Service func(t *testing.T, ref runtime.StackRef, name string, b Behavior) stack.Service

	// InitScript returns an init script that runs in the named service
	// of the stack and exits with exitCode.
	InitScript func(t *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript

	// Capabilities declares the optional interfaces of package runtime
	// that the values NewRuntime returns implement. The suite fails when
	// a value implements another set, and runs the tests of each
	// declared capability; those of a capability not declared are
	// skipped.
	Capabilities runtime.Capabilities

	// Timeout bounds each wait of the suite; a runtime that fails to
	// detect a failure takes that long to fail the test. Slow back-ends
	// raise it. Zero means 30 seconds.
	Timeout time.Duration

	// Parallel runs the suite's tests in parallel, each on its own
	// deployments.
	Parallel bool

	// Quick runs only the tests that cover each capability and one of
	// each kind of call (Capabilities, ApplyWaitObserve, TierMove,
	// ExitAtStart, Remove, Volumes, NewRuntimeObserves, InitScripts,
	// Lifecycle, LogsContent, RemoveDeployment, Watch), for a second run of a runtime that passes
	// the whole suite: over runtime.Wrap, say.
	Quick bool

	// NoExitCode says the back-end cannot report the exit code of a
	// failed service or init script, so the suite does not check it.
	NoExitCode bool

	// NoLogs says the back-end cannot report the last log lines of a
	// failed service, so the suite does not check them.
	NoLogs bool

	// NoLogOutput says why the back-end's instances have no output to
	// read (kwok's pods run no containers), for a runtime.LogReader whose
	// Logs then fails with runtime.ErrNotSupported: the log tests check
	// that it does, and check the content of logs no further.
	NoLogOutput string

	// OneLogStream says the back-end records stdout and stderr as one
	// log (Kubernetes), so lines carry no runtime.Output.
	OneLogStream bool

	// Tamper changes a service of a stack behind the runtime's back,
	// through the back-end's own API, as someone with access to the
	// engine would (docker rm -f, docker stop, kubectl set image,
	// kubectl scale), and reports whether the back-end has such a
	// change at all (Kubernetes has no stopped pods). It returns once
	// the back-end shows the change (the pods beyond a scale are gone).
	// For ChangeImage it picks another image that can run. The drift tests that need a
	// hand-made change are skipped, saying why, when it is nil or
	// reports false; every other drift test runs on every runtime. The
	// Watch test uses ChangeRemove, when it can, for a change
	// runtime.Watcher must report.
	Tamper func(t *testing.T, ref runtime.StackRef, service string, c Change) bool
}

// Change is a change Harness.Tamper makes behind the runtime's back.
type Change struct {
	Kind ChangeKind
	// Instances is the instance count of ChangeScale.
	Instances int
}

// ChangeKind is the kind of a Change.
type ChangeKind int

// Change kinds.
const (
	// ChangeRemove deletes every instance (and object) of the service.
	ChangeRemove ChangeKind = iota + 1
	// ChangeStop stops every instance of the service, not through
	// runtime.Lifecycle.
	ChangeStop
	// ChangeImage makes the service run another image, its labels or
	// annotations (and so its configuration hash) unchanged.
	ChangeImage
	// ChangeScale sets the service's number of instances.
	ChangeScale
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeRemove:
		return "remove"
	case ChangeStop:
		return "stop"
	case ChangeImage:
		return "image"
	case ChangeScale:
		return "scale"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Behavior is how a service of the suite behaves once started.
type Behavior struct {
	// ReadyAfter is how long after it starts the service becomes ready.
	ReadyAfter time.Duration
	// NeverReady: the service runs but never becomes ready.
	NeverReady bool
	// Exit: the service exits ExitAfter after it starts, with ExitCode.
	Exit      bool
	ExitAfter time.Duration
	ExitCode  int
	// Ports are TCP ports the service listens on; the suite exposes
	// them through access points.
	Ports []int
	// LogLines: each instance writes lines ending in "log line i/N", for
	// i from 1 to N = LogLines, to stdout when it starts (after any
	// prefix of the back-end's own, such as a time stamp).
	LogLines int
	// Stderr: each instance writes a line ending in this text to stderr
	// when it starts.
	Stderr string
}

// Run runs the conformance suite against the runtime h describes.
func Run(t *testing.T, h *Harness) {
	t.Helper()
	hh := *h
	if hh.NewRuntime == nil || hh.Deployment == nil || hh.Service == nil || hh.InitScript == nil {
		t.Fatal("runtimetest: Harness.NewRuntime, Deployment, Service and InitScript must all be set")
	}
	if hh.Timeout <= 0 {
		hh.Timeout = 30 * time.Second
	}
	for _, name := range quickTests {
		if !slices.ContainsFunc(tests, func(tc test) bool { return tc.name == name }) {
			t.Fatalf("runtimetest: quickTests names %s, which is no test", name)
		}
	}
	for _, tc := range tests {
		if hh.Quick && !slices.Contains(quickTests, tc.name) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if hh.Parallel {
				t.Parallel()
			}
			tc.fn(newEnv(t, &hh))
		})
	}
}

// quickTests are the tests Harness.Quick runs: every call of Runtime and
// of each capability, mapped errors and a second runtime's view. Its doc
// lists them.
var quickTests = []string{
	"Capabilities", "ApplyWaitObserve", "TierMove", "ExitAtStart", "Remove", "Volumes",
	"NewRuntimeObserves", "InitScripts", "Lifecycle", "LogsContent", "RemoveDeployment", "Watch",
}

type test struct {
	name string
	fn   func(e *env)
}

var tests = []test{
	{"Capabilities", testCapabilities},
	{"ApplyWaitObserve", testApplyWaitObserve},
	{"ObserveOrder", testObserveOrder},
	{"Idempotent", testIdempotent},
	{"ReplaceChanged", testReplaceChanged},
	{"TierMove", testTierMove},
	{"Scale", testScale},
	{"DropService", testDropService},
	{"ExitAtStart", func(e *env) { testExit(e, 0) }},
	{"ExitWhileWaiting", func(e *env) { testExit(e, 300*time.Millisecond) }},
	{"NeverReady", testNeverReady},
	{"ProbeTimeout", testProbeTimeout},
	{"Remove", testRemove},
	{"RemoveDeployment", testRemoveDeployment},
	{"Volumes", testVolumes},
	{"NewRuntimeObserves", testNewRuntime},
	{"Events", testEvents},
	{"Isolation", testIsolation},
	{"InitScripts", testInitScripts},
	{"Lifecycle", testLifecycle},
	{"Cancel", testCancel},
	{"LogsContent", testLogsContent},
	{"LogsNotFound", testLogsNotFound},
	{"LogsTail", testLogsTail},
	{"LogsSince", testLogsSince},
	{"LogsFollow", testLogsFollow},
	{"LogsFollowEnds", testLogsFollowEnds},
	{"Watch", testWatch},
	{"DriftInSync", testDriftInSync},
	{"DriftFromSpec", testDriftFromSpec},
	{"DriftRemovedStack", testDriftRemovedStack},
	{"DriftStoppedOnPurpose", testDriftStoppedOnPurpose},
	{"DriftByHand/remove", func(e *env) { testDriftByHand(e, ChangeRemove, runtime.DriftMissing) }},
	{"DriftByHand/stop", func(e *env) { testDriftByHand(e, ChangeStop, runtime.DriftStopped) }},
	{"DriftByHand/image", func(e *env) { testDriftByHand(e, ChangeImage, runtime.DriftImage) }},
	{"DriftByHand/scale", func(e *env) { testDriftByHand(e, ChangeScale, runtime.DriftReplicas) }},
}

// env is one test's runtime and deployment, with helpers that fail the
// test on error. Its methods must be called from the test's goroutine.
type env struct {
	t   *testing.T
	h   *Harness
	rt  runtime.Runtime
	dep string

	mu      sync.Mutex
	stacks  map[runtime.StackRef]bool // created by the test, for cleanup
	reports []*recorder
	watches []*watchRecorder
}

func newEnv(t *testing.T, h *Harness) *env {
	e := &env{t: t, h: h, stacks: map[runtime.StackRef]bool{}}
	e.dep = h.Deployment(t)
	e.rt = h.NewRuntime(t)
	e.checkCapabilities(e.rt)
	t.Cleanup(e.cleanup)
	return e
}

// checkCapabilities fails the test when rt does not implement exactly
// the capabilities the harness declares.
func (e *env) checkCapabilities(rt runtime.Runtime) {
	e.t.Helper()
	if rt == nil {
		e.t.Fatal("Harness.NewRuntime returned nil")
	}
	got, declared := runtime.CapabilitiesOf(rt), e.h.Capabilities
	if missing := declared &^ got; missing != 0 {
		e.t.Fatalf("runtime %s (%T) lacks declared capabilities %v: it implements %v, Harness.Capabilities declares %v (does a wrapper drop them? runtime.Wrap keeps them)",
			rt.Name(), rt, missing, got, declared)
	}
	if extra := got &^ declared; extra != 0 {
		e.t.Fatalf("runtime %s (%T) implements %v, not declared in Harness.Capabilities (%v): declare them so that a wrapper dropping them is caught",
			rt.Name(), rt, extra, declared)
	}
}

// capability returns the runtime as a T, the interface of capability c,
// skipping the test when the harness does not declare c.
func capability[T any](e *env, c runtime.Capabilities) T {
	e.t.Helper()
	if !e.h.Capabilities.Has(c) {
		e.t.Skipf("Harness.Capabilities does not declare %v", c)
	}
	v, ok := e.rt.(T)
	if !ok {
		e.t.Fatalf("runtime %s (%T) declares %v but does not implement it", e.rt.Name(), e.rt, c)
	}
	return v
}

// cleanup removes every stack the test created, with its data, and
// checks that no runtime reported after its call returned.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), e.h.Timeout)
	defer cancel()
	e.mu.Lock()
	refs := make([]runtime.StackRef, 0, len(e.stacks))
	for ref := range e.stacks {
		refs = append(refs, ref)
	}
	reports, watches := e.reports, e.watches
	e.mu.Unlock()
	slices.SortFunc(refs, func(a, b runtime.StackRef) int { return strings.Compare(a.String(), b.String()) })
	for _, ref := range refs {
		if err := e.rt.Remove(ctx, ref, runtime.RemoveOptions{DeleteData: true}); err != nil {
			e.t.Errorf("cleanup: remove %s: %v", ref, err)
		}
	}
	for _, r := range reports {
		if n := r.lateCount(); n > 0 {
			e.t.Errorf("%s reported %d event(s) after it returned; the contract forbids it", r.call, n)
		}
	}
	for _, w := range watches {
		w.checkQuiet("by the end of the test")
	}
}

func (e *env) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.t.Context(), 2*e.h.Timeout)
}

func (e *env) ref(stackName string) runtime.StackRef {
	return runtime.StackRef{Deployment: e.dep, Stack: stackName}
}

// service asks the harness for a service of the stack.
func (e *env) service(stackName, name string, b Behavior) stack.Service {
	e.t.Helper()
	svc := e.h.Service(e.t, e.ref(stackName), name, b)
	if svc.Name != name {
		e.t.Fatalf("Harness.Service returned a service named %q, want %q", svc.Name, name)
	}
	return svc
}

// spec returns a stack spec of the test's deployment.
func (e *env) spec(stackName string, tier int, services ...stack.Service) *runtime.StackSpec {
	return &runtime.StackSpec{
		Deployment:   e.dep,
		ProductName:  "runtimetest",
		ProductID:    "prod-runtimetest",
		VersionID:    "v1",
		Tier:         tier,
		Stack:        stack.Stack{Name: stackName, Services: services},
		ReadyTimeout: e.h.Timeout,
	}
}

func (e *env) track(ref runtime.StackRef) {
	e.mu.Lock()
	e.stacks[ref] = true
	e.mu.Unlock()
}

func (e *env) recorder(call string) *recorder {
	r := &recorder{call: call}
	e.mu.Lock()
	e.reports = append(e.reports, r)
	e.mu.Unlock()
	return r
}

// apply applies spec on rt and returns the events it reported.
func (e *env) apply(rt runtime.Runtime, spec *runtime.StackSpec) []runtime.Event {
	e.t.Helper()
	e.track(spec.Ref())
	rec := e.recorder("Apply " + spec.Ref().String())
	ctx, cancel := e.ctx()
	defer cancel()
	err := rt.Apply(ctx, spec, rec.report)
	events := rec.close()
	if err != nil {
		e.t.Fatalf("Apply %s: %v", spec.Ref(), err)
	}
	return events
}

// wait waits for spec on rt and returns the events it reported.
func (e *env) wait(rt runtime.Runtime, spec *runtime.StackSpec) []runtime.Event {
	e.t.Helper()
	events, err := e.tryWait(rt, spec)
	if err != nil {
		e.t.Fatalf("Wait %s: %v", spec.Ref(), err)
	}
	return events
}

func (e *env) tryWait(rt runtime.Runtime, spec *runtime.StackSpec) ([]runtime.Event, error) {
	rec := e.recorder("Wait " + spec.Ref().String())
	ctx, cancel := e.ctx()
	defer cancel()
	err := rt.Wait(ctx, spec, rec.report)
	return rec.close(), err
}

// launch applies and waits for spec on the test's runtime.
func (e *env) launch(spec *runtime.StackSpec) {
	e.t.Helper()
	e.apply(e.rt, spec)
	e.wait(e.rt, spec)
}

func (e *env) remove(rt runtime.Runtime, ref runtime.StackRef, opts runtime.RemoveOptions) {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	if err := rt.Remove(ctx, ref, opts); err != nil {
		e.t.Fatalf("Remove %s: %v", ref, err)
	}
}

func (e *env) observe(rt runtime.Runtime, deployment string) *runtime.DeploymentState {
	e.t.Helper()
	ctx, cancel := e.ctx()
	defer cancel()
	s, err := rt.Observe(ctx, deployment)
	if err != nil {
		e.t.Fatalf("Observe %s: %v", deployment, err)
	}
	if s == nil {
		e.t.Fatalf("Observe %s returned no state and no error", deployment)
	}
	return s
}

// observeStack returns the observed state of one stack of the test's
// deployment, failing the test when it is missing.
func (e *env) observeStack(stackName string) *runtime.StackState {
	e.t.Helper()
	st := e.observe(e.rt, e.dep).Stack(stackName)
	if st == nil {
		e.t.Fatalf("Observe %s: stack %s is missing", e.dep, stackName)
	}
	return st
}

func (e *env) observeService(stackName, service string) *runtime.ServiceState {
	e.t.Helper()
	svc := e.observeStack(stackName).Service(service)
	if svc == nil {
		e.t.Fatalf("Observe %s: stack %s has no service %s", e.dep, stackName, service)
	}
	return svc
}

// serviceError checks that err maps onto sentinel and is a
// *runtime.ServiceError naming the stack and service, and returns it.
func (e *env) serviceError(err error, sentinel error, stackName, service string) *runtime.ServiceError {
	e.t.Helper()
	if err == nil {
		e.t.Fatalf("got no error, want one matching %v", sentinel)
	}
	if mapped := runtime.MapError(e.rt, err); !errors.Is(mapped, sentinel) {
		e.t.Errorf("MapError(%v) does not match %v", err, sentinel)
	}
	var se *runtime.ServiceError
	if !errors.As(err, &se) {
		e.t.Fatalf("error %v is not a *runtime.ServiceError", err)
	}
	if se.Stack != stackName || se.Service != service {
		e.t.Errorf("ServiceError names stack %q service %q, want %q %q", se.Stack, se.Service, stackName, service)
	}
	if se.Deployment != "" && se.Deployment != e.dep {
		e.t.Errorf("ServiceError names deployment %q, want %q", se.Deployment, e.dep)
	}
	return se
}

// recorder collects the events of one call.
type recorder struct {
	call   string
	mu     sync.Mutex
	events []runtime.Event
	done   bool
	late   int
}

func (r *recorder) report(ev runtime.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		r.late++
		return
	}
	r.events = append(r.events, ev)
}

func (r *recorder) close() []runtime.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	return r.events
}

func (r *recorder) lateCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

// eventsOf returns the types of the events about one service.
func eventsOf(events []runtime.Event, service string) []runtime.EventType {
	var out []runtime.EventType
	for _, ev := range events {
		if ev.Service == service {
			out = append(out, ev.Type)
		}
	}
	return out
}

func formatEvents(events []runtime.Event) string {
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "\n\t%s %s/%s %s", ev.Type, ev.Stack, ev.Service, ev.Message)
	}
	if b.Len() == 0 {
		return " (none)"
	}
	return b.String()
}

// instancesByID indexes a service's instances.
func instancesByID(svc *runtime.ServiceState) map[string]runtime.InstanceState {
	m := make(map[string]runtime.InstanceState, len(svc.Instances))
	for _, in := range svc.Instances {
		m[in.ID] = in
	}
	return m
}

// sameInstances reports how svc's instances differ from before's: it
// returns a description, or "" when both have the same instances with the
// same IDs and start times.
func sameInstances(before, after *runtime.ServiceState) string {
	if len(before.Instances) != len(after.Instances) {
		return fmt.Sprintf("%d instances became %d", len(before.Instances), len(after.Instances))
	}
	prev := instancesByID(before)
	for _, in := range after.Instances {
		p, ok := prev[in.ID]
		if !ok {
			return fmt.Sprintf("instance %s (%s) is new", in.Name, in.ID)
		}
		if !p.StartedAt.Equal(in.StartedAt) {
			return fmt.Sprintf("instance %s (%s) restarted at %v (was %v)", in.Name, in.ID, in.StartedAt, p.StartedAt)
		}
	}
	return ""
}

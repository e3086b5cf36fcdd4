// Package sim is a runtime.Runtime that simulates containers in memory.
//
// Embedders unit-test their control planes with it. It keeps what a real
// back-end keeps, with the same semantics: instances named
// <deployment>-<stack>-<service>-<n> like Docker containers, each service
// labelled with its runtime.ServiceHash, endpoints for access points
// (addresses 127.0.0.1:<port> from a counter, domain hosts
// <service>.<stack>.<deployment>.<base domain>), volumes that Remove keeps
// unless asked to delete data. Apply and readiness take the time a latency
// model says; fault rules (Inject) make calls fail, services exit or never
// become ready; every call is recorded (Calls). Logs gives the lines
// Options.Output configures per service and the exits faults cause.
//
// Nothing runs in the background: an instance's state follows from when it
// started, becomes ready and exits, so a Runtime holds no goroutine and
// needs no Close, and a Wait sleeps until the next of those instants or
// until Crash, Stop or Remove changes the stack. Latencies are slept
// honouring the context.
//
// Wait fails with a *runtime.ServiceError: Reason "Exited" with the exit
// code and two log lines, matching runtime.ErrFailed, as soon as an
// instance exits (or "Stopped" for a stopped stack); Reason "Timeout",
// matching runtime.ErrNotReady, once a probe timeout, the spec's
// ReadyTimeout or the context's deadline passes first.
//
// An Apply whose configuration is unchanged starts the instances that are
// not running (exited or stopped) and touches nothing else, as
// "docker compose up" does. The services of a stack are applied
// concurrently: each one is committed when its own apply latency has
// passed, so a stack's apply takes as long as its slowest changed service,
// and a cancelled Apply keeps the services it had finished.
//
// Watch (runtime.Watcher) reports the changes calls make, those Crash
// and Tamper make behind the runtime's back, and the exits fault rules
// schedule (ExitOnStart, CrashAfterReady) at the instant they happen.
//
// A Runtime is safe for concurrent use. Each stack has its own lock, so
// calls for different stacks, as an executor launching a wide tier
// makes, do not wait for each other.
//
// # Fake time
//
// Latencies, probe periods and timeouts are measured with package time
// and nothing else, so a Runtime made inside a testing/synctest bubble
// runs on the bubble's fake clock: a 10-minute ready latency or a
// 5-minute ReadyTimeout passes at once, and Wait returns at exactly the
// instant the model says. With deploy.Executor and store/memory in the
// same bubble, whole operations run that way (see package deploy).
package sim

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.Lifecycle    = (*Runtime)(nil)
	_ runtime.VolumeLister = (*Runtime)(nil)
	_ runtime.Watcher      = (*Runtime)(nil)
)

// Options tune a Runtime. The zero value, like a nil *Options, means no
// latency and the base domain "stackwave.local".
type Options struct {
	// ApplyLatency is how long creating, replacing, scaling or starting
	// a service takes; ReadyLatency how long its instances then take to
	// become ready.
	ApplyLatency, ReadyLatency time.Duration
	// Latency, when set, overrides them per service.
	Latency func(deployment, stack, service string) (apply, ready time.Duration)
	// BaseDomain ends the host names of domain access points.
	BaseDomain string
	// Output, when set, gives the lines each instance of a service
	// writes to stdout and to stderr when it starts, for Logs.
	Output func(deployment, stack, service string) (stdout, stderr []string)
}

// Runtime is the simulated runtime. Make one with New.
type Runtime struct {
	opts Options

	mu   sync.RWMutex
	deps map[string]*deployment

	faultMu sync.Mutex
	faults  []*faultRule
	nfaults atomic.Int32 // len(faults), so calls skip the lock when there are none

	callMu  sync.Mutex
	calls   [][]Call // in chunks of callChunk
	ncalls  int
	callGen int

	watchMu  sync.Mutex
	watchers map[int]func(string)
	watchN   int

	ids   atomic.Uint64
	ports atomic.Uint32
	gen   atomic.Uint64 // numbers Apply calls
}

// New returns an empty simulated runtime.
func New(opts *Options) *Runtime {
	r := &Runtime{deps: make(map[string]*deployment)}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.BaseDomain == "" {
		r.opts.BaseDomain = "stackwave.local"
	}
	return r
}

// Name returns "sim".
func (r *Runtime) Name() string { return "sim" }

// action is what a call does to one service.
type action uint8

const (
	keep    action = iota // leave as it is
	create                // create the service
	replace               // replace every instance: the configuration changed
	scale                 // add or remove instances; start those not running
	start                 // start the instances that are not running
	restart               // restart every instance
)

// work is one service's share of an Apply, Start or Restart.
type work struct {
	name string
	svc  *stack.Service // the spec's service; nil for Start and Restart
	hash string
	act  action
	// adds is set when a scale adds instances or starts stopped ones.
	adds   bool
	failed bool // a FailApply fault hit the service
	apply  time.Duration
	ready  time.Duration
	fx     effect
}

// starts reports whether the work starts instances.
func (w *work) starts() bool {
	if w.failed {
		return false
	}
	switch w.act {
	case create, replace, start, restart:
		return true
	case scale:
		return w.adds
	}
	return false
}

// Apply makes the stack's services match spec; see the package
// documentation for the simulated behaviour.
func (r *Runtime) Apply(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) (err error) {
	ref := spec.Ref()
	c, now := r.begin("apply", ref, spec, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply %s: %w", ref, err)
	}
	if err := validate(spec); err != nil {
		return fmt.Errorf("apply %s: %w", ref, err)
	}
	services := spec.Stack.Services
	var buf [8]work
	ws := buf[:0]
	for i := range services {
		ws = append(ws, work{name: services[i].Name, svc: &services[i], hash: runtime.ServiceHash(spec, &services[i])})
	}
	var failErr error
	if f := r.fail(FailApply, ref, func(name string) bool { return spec.Stack.Service(name) != nil }); f != nil {
		what := "the engine refused to create the stack's services"
		if f.Service != "" {
			what = "the engine refused to create service " + f.Service
		}
		failErr = fmt.Errorf("apply %s: %w", ref, injected(f, what))
		for i := range ws {
			ws[i].failed = f.matchesService(ws[i].name)
		}
	}

	d := r.deployment(ref.Deployment, true)
	st := d.lock(ref.Stack)
	for i := range ws {
		w := &ws[i]
		var cur *service
		if st != nil {
			cur = st.find(w.name)
		}
		switch {
		case cur == nil:
			w.act = create
		case cur.hash != w.hash || cur.image != w.svc.Image:
			// An image changed by hand (Tamper) is replaced like a
			// changed configuration, as the real back-ends do.
			w.act = replace
		case cur.desired != w.svc.Replicas():
			w.act = scale
			w.adds = w.svc.Replicas() > cur.desired || cur.notRunning(now) > 0
		case cur.notRunning(now) > 0:
			w.act = start
		}
	}
	if st != nil {
		st.mu.Unlock()
	}
	return r.run(ctx, "apply", d, spec, ws, report, failErr, now)
}

// run carries out ws: each service's change is committed once its apply
// latency has passed, those with equal latencies together.
// begun is when the call began.
func (r *Runtime) run(ctx context.Context, op string, d *deployment, spec *runtime.StackSpec, ws []work, report runtime.Reporter, failErr error, begun time.Time) error {
	ref := spec.Ref()
	var obuf [8]int
	order := obuf[:0]
	for i := range ws {
		w := &ws[i]
		if w.failed {
			continue
		}
		if w.act != keep {
			w.apply, w.ready = r.latency(ref, w.name)
		}
		order = append(order, i)
	}
	r.startEffects(ref, ws)
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ws[a].apply, ws[b].apply) })

	// Every instance this call creates comes from one allocation.
	total := 0
	for i := range ws {
		if !ws[i].failed && (ws[i].act == create || ws[i].act == replace) {
			total += ws[i].svc.Replicas()
		}
	}
	var pool []instance
	if total > 0 {
		pool = make([]instance, total)
	}

	gen := r.gen.Add(1)
	now := begun
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var ebuf [8]runtime.Event
	events := ebuf[:0]
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && ws[order[j]].apply == ws[order[i]].apply {
			j++
		}
		if lat := ws[order[i]].apply; lat > 0 {
			if err := sleepUntil(ctx, &timer, begun.Add(lat)); err != nil {
				return fmt.Errorf("%s %s: %w", op, ref, err)
			}
			now = time.Now()
		}
		events = r.commit(d, op, spec, ws, order[i:j], gen, &pool, now, report != nil, events[:0])
		for _, e := range events {
			report.Emit(e)
		}
		i = j
	}
	if failErr != nil || op != "apply" {
		return failErr
	}
	events = r.dropUnapplied(d, ref, gen, now, report != nil, events[:0])
	for _, e := range events {
		report.Emit(e)
	}
	return nil
}

// commit applies the works ws[idx] at once.
func (r *Runtime) commit(d *deployment, op string, spec *runtime.StackSpec, ws []work, idx []int, gen uint64, pool *[]instance, now time.Time, withEvents bool, events []runtime.Event) []runtime.Event {
	ref := spec.Ref()
	var st *stackState
	if op == "apply" {
		st = d.lockOrCreate(ref.Stack, len(ws))
	} else if st = d.lock(ref.Stack); st == nil {
		return events // removed meanwhile
	}
	defer st.mu.Unlock()
	if op == "apply" {
		st.tier, st.productID, st.versionID = spec.Tier, spec.ProductID, spec.VersionID
	}
	changed := false
	for _, k := range idx {
		w := &ws[k]
		if w.starts() {
			st.stopped = false
		}
		changed = changed || w.act != keep
		e := r.commitOne(d, st, ref, spec, w, now, gen, pool)
		if withEvents {
			e.Stack, e.Service, e.Time = ref.Stack, w.name, now
			events = append(events, e)
		}
	}
	st.notify()
	if changed {
		r.changed(ref.Deployment)
	}
	r.alarmExits(ref.Deployment, st, idx, ws, now)
	return events
}

// alarmExits makes the watchers hear of the exits that fault rules
// (ExitOnStart, CrashAfterReady) scheduled for the instances just
// started: an exit follows from time alone, and an engine would tell its
// watchers as the container dies. One timer per instant; it fires into
// nothing when no one watches. Called with st locked.
func (r *Runtime) alarmExits(deployment string, st *stackState, idx []int, ws []work, now time.Time) {
	var at []time.Time
	for _, k := range idx {
		svc := st.find(ws[k].name)
		if svc == nil {
			continue
		}
		for i := range svc.instances {
			in := &svc.instances[i]
			if in.startedAt.Equal(now) && in.exitAt.After(now) && !slices.ContainsFunc(at, in.exitAt.Equal) {
				at = append(at, in.exitAt)
			}
		}
	}
	for _, t := range at {
		time.AfterFunc(t.Sub(now), func() { r.changed(deployment) })
	}
}

func (r *Runtime) commitOne(d *deployment, st *stackState, ref runtime.StackRef, spec *runtime.StackSpec, w *work, now time.Time, gen uint64, pool *[]instance) runtime.Event {
	cur := st.find(w.name)
	act := w.act
	if cur == nil {
		// Only Crash and Stop may change the stack while a call for it
		// runs, and they remove nothing; still, never commit to a
		// service that is gone.
		if w.svc == nil {
			return runtime.Event{Type: runtime.EventServiceRemoved, Message: "removed"}
		}
		act = create
	}
	switch act {
	case create:
		n := w.svc.Replicas()
		svc := service{name: w.name, hash: w.hash, image: w.svc.Image, desired: n, instances: take(pool, n), applied: gen}
		for k := range svc.instances {
			r.newInstance(&svc.instances[k], ref, w, k+1, now)
		}
		svc.endpoints = r.endpoints(w.svc)
		r.ensureVolumes(d, ref, spec, w.svc, svc.instances)
		st.insert(svc)
		msg := "created 1 instance"
		if n != 1 {
			msg = "created " + strconv.Itoa(n) + " instances"
		}
		return runtime.Event{Type: runtime.EventServiceCreated, Message: msg}
	case replace:
		n := w.svc.Replicas()
		cur.hash, cur.image, cur.desired, cur.applied = w.hash, w.svc.Image, n, gen
		cur.instances = take(pool, n)
		for k := range cur.instances {
			r.newInstance(&cur.instances[k], ref, w, k+1, now)
		}
		cur.endpoints = r.endpoints(w.svc)
		r.ensureVolumes(d, ref, spec, w.svc, cur.instances)
		msg := "replaced 1 instance: configuration changed"
		if n != 1 {
			msg = "replaced " + strconv.Itoa(n) + " instances: configuration changed"
		}
		return runtime.Event{Type: runtime.EventServiceReplaced, Message: msg}
	case scale:
		from, to := len(cur.instances), w.svc.Replicas()
		if to < from {
			clear(cur.instances[to:])
			cur.instances = cur.instances[:to]
		}
		for k := range cur.instances {
			if in := &cur.instances[k]; !in.running(now) {
				startInstance(in, w, now)
			}
		}
		for n := from + 1; n <= to; n++ {
			cur.instances = append(cur.instances, instance{})
			r.newInstance(&cur.instances[len(cur.instances)-1], ref, w, n, now)
		}
		if to > from {
			r.ensureVolumes(d, ref, spec, w.svc, cur.instances[from:])
		}
		cur.desired, cur.applied = to, gen
		return runtime.Event{Type: runtime.EventServiceScaled, Message: "scaled from " + strconv.Itoa(from) + " to " + instances(to)}
	case start, restart:
		n := 0
		for k := range cur.instances {
			if in := &cur.instances[k]; act == restart || !in.running(now) {
				startInstance(in, w, now)
				n++
			}
		}
		cur.applied = gen
		if act == restart {
			return runtime.Event{Type: runtime.EventServiceUnchanged, Message: "restarted " + instances(n)}
		}
		return runtime.Event{Type: runtime.EventServiceUnchanged, Message: "configuration unchanged; started " + instances(n) + " that had stopped or exited"}
	}
	cur.applied = gen
	return runtime.Event{Type: runtime.EventServiceUnchanged, Message: "unchanged"}
}

// dropUnapplied removes the services of the stack that the Apply
// numbered gen did not keep.
func (r *Runtime) dropUnapplied(d *deployment, ref runtime.StackRef, gen uint64, now time.Time, withEvents bool, events []runtime.Event) []runtime.Event {
	st := d.lock(ref.Stack)
	if st == nil {
		return events
	}
	defer st.mu.Unlock()
	kept := st.services[:0]
	for _, s := range st.services {
		if s.applied == gen {
			kept = append(kept, s)
			continue
		}
		if withEvents {
			events = append(events, runtime.Event{
				Type: runtime.EventServiceRemoved, Stack: ref.Stack, Service: s.name, Time: now,
				Message: "removed " + instances(len(s.instances)) + ": no longer in the spec",
			})
		}
	}
	if len(kept) < len(st.services) {
		clear(st.services[len(kept):])
		st.services = kept
		st.notify()
		r.changed(ref.Deployment)
	}
	return events
}

func (r *Runtime) newInstance(in *instance, ref runtime.StackRef, w *work, n int, now time.Time) {
	id := r.newID()
	both := ref.Deployment + "-" + ref.Stack + "-" + w.name + "-" + strconv.Itoa(n) + string(id[:])
	in.name, in.id = both[:len(both)-len(id)], both[len(both)-len(id):]
	startInstance(in, w, now)
}

// take returns the next n instances of the pool.
func take(pool *[]instance, n int) []instance {
	if len(*pool) < n {
		return make([]instance, n)
	}
	out := (*pool)[:n:n]
	*pool = (*pool)[n:]
	return out
}

// startInstance (re)starts in now, shaped by the work's latency and
// faults.
func startInstance(in *instance, w *work, now time.Time) {
	in.startedAt = now
	in.readyAt = now.Add(w.ready)
	in.neverReady, in.notReady = w.fx.neverReady, w.fx.notReady
	in.stopped = false
	in.exitAt, in.exitCode = time.Time{}, 0
	if w.fx.exit {
		in.exitAt, in.exitCode = now.Add(w.fx.exitAfter), w.fx.exitCode
	}
	if w.fx.crash && !in.neverReady {
		if at := in.readyAt.Add(w.fx.crashAfter); in.exitAt.IsZero() || at.Before(in.exitAt) {
			in.exitAt, in.exitCode = at, w.fx.crashCode
		}
	}
}

// endpoints assigns the published ports of the service's access points.
func (r *Runtime) endpoints(svc *stack.Service) []endpoint {
	n := 0
	for i := range svc.AccessPoints {
		n += len(svc.AccessPoints[i].BackendPorts)
	}
	if n == 0 {
		return nil
	}
	eps := make([]endpoint, 0, n)
	for i := range svc.AccessPoints {
		ap := &svc.AccessPoints[i]
		for j, port := range ap.BackendPorts {
			ep := endpoint{typ: ap.Type, proto: ap.Protocol(), backend: port}
			if ap.Type == stack.AccessDomain || ap.Type == stack.AccessPublicIP {
				if j < len(ap.HostPorts) {
					ep.host = ap.HostPorts[j]
				}
				if ep.host == 0 {
					ep.host = 30000 + int((r.ports.Add(1)-1)%30000)
				}
			}
			eps = append(eps, ep)
		}
	}
	return eps
}

// ensureVolumes creates the volumes of instances that do not exist yet;
// those kept from before are mounted again.
func (r *Runtime) ensureVolumes(d *deployment, ref runtime.StackRef, spec *runtime.StackSpec, svc *stack.Service, instances []instance) {
	if len(svc.VolumeArgs) == 0 {
		return
	}
	d.volMu.Lock()
	defer d.volMu.Unlock()
	if d.volumes == nil {
		d.volumes = make(map[string]*volume)
	}
	for k := range instances {
		for i := range svc.VolumeArgs {
			va := &svc.VolumeArgs[i]
			name := instances[k].name + "-vol" + strconv.Itoa(i+1)
			v := d.volumes[name]
			if v == nil {
				v = &volume{}
				d.volumes[name] = v
			}
			size, _ := spec.Volume(va) // validated by Apply
			v.VolumeState = runtime.VolumeState{
				Name: name, Stack: ref.Stack, Service: svc.Name, MountPath: va.MountPath,
				Class: size.Class, SizeBytes: size.SizeBytes,
			}
		}
	}
}

// waiting is what Wait remembers of one service between wake-ups.
type waiting struct {
	ready, told bool
}

// Wait blocks until every instance of the stack's services is ready, or
// fails at once when one exits, is stopped or runs out of time.
//
// Outcomes follow the simulated clock, not the order in which the Go
// scheduler wakes Wait up: a service ready at 10ms with a 20ms timeout
// is ready even if Wait only looks again at 30ms.
func (r *Runtime) Wait(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) (err error) {
	ref := spec.Ref()
	c, begun := r.begin("wait", ref, spec, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait %s: %w", ref, err)
	}
	if f := r.fail(FailWait, ref, func(name string) bool { return spec.Stack.Service(name) != nil }); f != nil {
		return fmt.Errorf("wait %s: %w", ref, injected(f, "lost the engine's event stream"))
	}
	d := r.deployment(ref.Deployment, false)
	if d == nil {
		return fmt.Errorf("wait %s: stack %w", ref, runtime.ErrNotFound)
	}
	var (
		wbuf  [8]waiting
		ebuf  [8]runtime.Event
		timer *time.Timer
	)
	j := judge{spec: spec, begun: begun, withEvents: report != nil}
	j.deadline, _ = ctx.Deadline()
	ws := wbuf[:0]
	for range spec.Stack.Services {
		ws = append(ws, waiting{})
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for now := begun; ; now = time.Now() {
		st := d.lock(ref.Stack)
		if st == nil {
			return fmt.Errorf("wait %s: stack %w", ref, runtime.ErrNotFound)
		}
		events := j.judge(st, now, ws, ebuf[:0])
		var wake <-chan struct{}
		if j.fail == nil && j.pending {
			wake = st.wake()
		}
		st.mu.Unlock()

		for _, e := range events {
			report.Emit(e)
		}
		if j.fail != nil {
			report.Emit(failEvent(j.fail))
			return j.fail
		}
		if !j.pending {
			return nil
		}
		var tick <-chan time.Time
		if !j.next.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(j.next))
			} else {
				timer.Reset(time.Until(j.next))
			}
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("wait %s: %w", ref, ctx.Err())
			}
			// Look once more: past the deadline the judge decides.
		case <-tick:
		case <-wake:
		}
	}
}

// judge decides a Wait from the times the instances hold. The Wait
// succeeds at the instant every service is ready, unless a failure (an
// exit, a stop, a timeout) comes first; times before the Wait began
// count as its beginning.
type judge struct {
	spec       *runtime.StackSpec
	begun      time.Time
	deadline   time.Time // the context's; zero when none
	withEvents bool

	// After judge: fail is the failure that decides the Wait, or nil;
	// pending says the Wait is undecided, and next when the stack's
	// state changes by itself next (zero: never).
	fail    *runtime.ServiceError
	failAt  time.Time
	pending bool
	next    time.Time
}

// judge looks at the stack at time now, with ws what earlier looks saw of
// each service of the spec, and returns events with what to report
// appended. The caller holds the stack's lock. (The buffers are passed
// rather than kept in j so that they can stay on the caller's stack.)
func (j *judge) judge(st *stackState, now time.Time, ws []waiting, events []runtime.Event) []runtime.Event {
	j.fail, j.failAt, j.pending, j.next = nil, time.Time{}, false, time.Time{}
	ref := j.spec.Ref()
	never := false         // some service will not become ready by itself
	var allReady time.Time // when the last service is ready
	var late *runtime.ServiceError
	for i := range j.spec.Stack.Services {
		s := &j.spec.Stack.Services[i]
		svc := st.find(s.Name)
		if svc == nil {
			j.failed(time.Time{}, serviceError(ref, s.Name, "", "NotCreated", runtime.ErrNotFound))
			never = true
			continue
		}
		ready, blocked := j.begun, false // when the service is ready; whether it never is
		var notReady *instance
		for k := range svc.instances {
			in := &svc.instances[k]
			if in.stopped {
				j.failed(now, serviceError(ref, s.Name, in.name, "Stopped", runtime.ErrFailed))
				blocked = true
				continue
			}
			exits := !in.exitAt.IsZero()
			if exits {
				if at := j.clamp(in.exitAt); !now.Before(at) {
					e := serviceError(ref, s.Name, in.name, "Exited", runtime.ErrFailed)
					e.ExitCode = in.exitCode
					e.Logs = []string{in.name + ": starting " + svc.image.Ref(), in.name + ": exit code " + strconv.Itoa(in.exitCode)}
					j.failed(at, e)
				} else {
					j.wakeAt(at)
				}
			}
			switch readyAt := j.clamp(in.readyAt); {
			case in.neverReady || exits && !in.exitAt.After(in.readyAt):
				blocked = true
			case readyAt.After(now):
				j.wakeAt(readyAt)
				fallthrough
			default:
				ready = later(ready, readyAt)
			}
			if notReady == nil && (blocked || ready.After(now)) {
				notReady = in
			}
		}
		if blocked {
			never = true
		} else {
			allReady = later(allReady, ready)
		}
		isReady := !blocked && !ready.After(now)
		if notReady != nil {
			e := serviceError(ref, s.Name, notReady.name, "Timeout", runtime.ErrNotReady)
			e.Logs = []string{notReady.name + ": starting " + svc.image.Ref(), notReady.name + ": readiness probe has not passed" + because(notReady)}
			if timeout := readyTimeout(j.spec, s); timeout > 0 {
				if deadline := j.begun.Add(timeout); blocked || ready.After(deadline) {
					if !now.Before(deadline) {
						j.failed(deadline, e)
					} else {
						j.wakeAt(deadline)
					}
				}
			}
			if late == nil && !j.deadline.IsZero() && (blocked || ready.After(j.deadline)) {
				late = e
			}
		}

		w := &ws[i]
		switch {
		case isReady && !w.ready:
			w.ready = true
			if j.withEvents {
				events = append(events, runtime.Event{Type: runtime.EventServiceReady, Stack: ref.Stack, Service: s.Name, Time: now, Message: "ready"})
			}
		case !isReady && !w.told && !w.ready:
			w.told = true
			if j.withEvents {
				events = append(events, runtime.Event{Type: runtime.EventServiceWaiting, Stack: ref.Stack, Service: s.Name, Time: now,
					Message: "waiting for " + instances(len(svc.instances)) + " to be ready" + because(notReady)})
			}
		}
	}
	if late != nil && !now.Before(j.deadline) {
		late.Err = runtime.WrapError(runtime.ErrNotReady, context.DeadlineExceeded)
		j.failed(j.deadline, late)
	}
	switch {
	case j.fail != nil && (never || !j.failAt.After(allReady)):
		// failed before every service was ready
	case !never && !allReady.After(now):
		j.fail = nil // ready before any failure
	default:
		j.fail, j.pending = nil, true
	}
	return events
}

// because returns ": " and why in is not ready, when a fault says; ""
// otherwise.
func because(in *instance) string {
	if in == nil || in.notReady == "" {
		return ""
	}
	return ": " + in.notReady
}

// clamp returns t, or when the Wait began if t is earlier.
func (j *judge) clamp(t time.Time) time.Time { return later(j.begun, t) }

// failed keeps e if it happened before the failure found so far.
func (j *judge) failed(at time.Time, e *runtime.ServiceError) {
	if j.fail == nil || at.Before(j.failAt) {
		j.fail, j.failAt = e, at
	}
}

func (j *judge) wakeAt(t time.Time) {
	if j.next.IsZero() || t.Before(j.next) {
		j.next = t
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func failEvent(e *runtime.ServiceError) runtime.Event {
	return runtime.Event{Type: runtime.EventServiceFailed, Stack: e.Stack, Service: e.Service, Instance: e.Instance, Message: failMessage(e)}
}

func serviceError(ref runtime.StackRef, service, instance, reason string, err error) *runtime.ServiceError {
	return &runtime.ServiceError{Deployment: ref.Deployment, Stack: ref.Stack, Service: service, Instance: instance, Reason: reason, Err: err}
}

func failMessage(e *runtime.ServiceError) string {
	switch e.Reason {
	case "Exited":
		return "exited with code " + strconv.Itoa(e.ExitCode)
	case "Timeout":
		return "not ready in time"
	case "Stopped":
		return "stopped"
	case "NotCreated":
		return "not created"
	}
	return e.Reason
}

// readyTimeout returns how long Wait gives a service: its probe's
// timeout, else the spec's.
func readyTimeout(spec *runtime.StackSpec, s *stack.Service) time.Duration {
	if s.Readiness != nil && s.Readiness.Timeout > 0 {
		return s.Readiness.Timeout.Std()
	}
	return spec.ReadyTimeout
}

// Remove deletes the stack's services; its volumes stay unless
// opts.DeleteData is set.
func (r *Runtime) Remove(ctx context.Context, ref runtime.StackRef, opts runtime.RemoveOptions) (err error) {
	c, _ := r.begin("remove", ref, nil, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	d := r.deployment(ref.Deployment, false)
	if d == nil {
		return nil
	}
	if err := r.removeStack(d, ref); err != nil {
		return err
	}
	if opts.DeleteData {
		d.volMu.Lock()
		for name, v := range d.volumes {
			if v.Stack == ref.Stack {
				delete(d.volumes, name)
			}
		}
		d.volMu.Unlock()
	}
	return nil
}

func (r *Runtime) removeStack(d *deployment, ref runtime.StackRef) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stacks[ref.Stack]
	if st != nil {
		st.mu.Lock()
		defer st.mu.Unlock()
	}
	if f := r.fail(FailRemove, ref, func(name string) bool { return st != nil && st.find(name) != nil }); f != nil {
		what := "the engine refused to remove the stack"
		if f.Service != "" {
			what = "the engine refused to remove service " + f.Service
		}
		if st != nil && f.Service != "" {
			kept := st.services[:0]
			for _, s := range st.services {
				if s.name == f.Service {
					kept = append(kept, s)
				}
			}
			clear(st.services[len(kept):])
			st.services = kept
			st.notify()
			r.changed(ref.Deployment)
		}
		return fmt.Errorf("remove %s: %w", ref, injected(f, what))
	}
	if st != nil {
		delete(d.stacks, ref.Stack)
		st.removed = true
		st.notify()
		r.changed(ref.Deployment)
	}
	return nil
}

// RelabelsTier reports true: an Apply that moves a stack to another tier
// records the new tier and replaces nothing, as Kubernetes does
// (runtime.TierRelabeler).
func (r *Runtime) RelabelsTier() bool { return true }

// Observe reports the deployment's stacks by tier then name, services by
// name and instances by number.
func (r *Runtime) Observe(ctx context.Context, deployment string) (_ *runtime.DeploymentState, err error) {
	c, _ := r.begin("observe", runtime.StackRef{Deployment: deployment}, nil, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observe %s: %w", deployment, err)
	}
	out := &runtime.DeploymentState{Deployment: deployment, Stacks: []runtime.StackState{}}
	d := r.deployment(deployment, false)
	if d == nil {
		return out, nil
	}
	d.mu.RLock()
	stacks := make([]*stackState, 0, len(d.stacks))
	for _, st := range d.stacks {
		stacks = append(stacks, st)
	}
	d.mu.RUnlock()
	now := time.Now()
	out.Stacks = make([]runtime.StackState, 0, len(stacks))
	for _, st := range stacks {
		st.mu.Lock()
		if !st.removed {
			out.Stacks = append(out.Stacks, st.state(now, deployment, r.opts.BaseDomain))
		}
		st.mu.Unlock()
	}
	slices.SortFunc(out.Stacks, func(a, b runtime.StackState) int {
		return cmp.Or(cmp.Compare(a.Tier, b.Tier), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// Volumes lists the deployment's volumes, kept ones included, sorted by
// stack, service and name.
func (r *Runtime) Volumes(ctx context.Context, deployment string) (_ []runtime.VolumeState, err error) {
	c, _ := r.begin("volumes", runtime.StackRef{Deployment: deployment}, nil, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("volumes %s: %w", deployment, err)
	}
	d := r.deployment(deployment, false)
	if d == nil {
		return nil, nil
	}
	d.volMu.Lock()
	out := make([]runtime.VolumeState, 0, len(d.volumes))
	for _, v := range d.volumes {
		out = append(out, v.VolumeState)
	}
	d.volMu.Unlock()
	slices.SortFunc(out, func(a, b runtime.VolumeState) int {
		return cmp.Or(cmp.Compare(a.Stack, b.Stack), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// RunInit runs the init script in the first running instance of its
// service. Scripts succeed unless a FailInit fault says otherwise.
func (r *Runtime) RunInit(ctx context.Context, spec *runtime.StackSpec, index int, report runtime.Reporter) (err error) {
	ref := spec.Ref()
	c, _ := r.begin("init", ref, spec, index)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("init %s: %w", ref, err)
	}
	if index < 0 || index >= len(spec.Stack.InitScripts) {
		return fmt.Errorf("init %s: no init script %d: %w", ref, index, runtime.ErrInvalid)
	}
	script := &spec.Stack.InitScripts[index]
	instance, err := r.runningInstance(ref, script.ServiceName)
	if err != nil {
		return fmt.Errorf("init %s: script %d: %w", ref, index, err)
	}
	what := "init script " + strconv.Itoa(index)
	if len(script.Command) > 0 {
		what += " (" + script.Command[0] + ")"
	}
	if f := r.fail(FailInit, ref, func(name string) bool { return name == script.ServiceName }); f != nil {
		code := f.ExitCode
		if code == 0 {
			code = 1
		}
		e := serviceError(ref, script.ServiceName, instance, "InitScriptFailed", runtime.ErrFailed)
		if f.Err != nil {
			e.Err = f.Err
		}
		e.ExitCode = code
		e.Logs = []string{instance + ": running " + what, instance + ": exit code " + strconv.Itoa(code)}
		report.Emit(runtime.Event{Type: runtime.EventInitScript, Stack: ref.Stack, Service: script.ServiceName, Instance: instance,
			Message: what + " failed with exit code " + strconv.Itoa(code)})
		return e
	}
	report.Emit(runtime.Event{Type: runtime.EventInitScript, Stack: ref.Stack, Service: script.ServiceName, Instance: instance,
		Message: what + " succeeded"})
	return nil
}

// runningInstance returns the name of the first running instance of a
// service.
func (r *Runtime) runningInstance(ref runtime.StackRef, service string) (string, error) {
	d := r.deployment(ref.Deployment, false)
	if d == nil {
		return "", fmt.Errorf("stack %w", runtime.ErrNotFound)
	}
	now := time.Now()
	st := d.lock(ref.Stack)
	if st == nil {
		return "", fmt.Errorf("stack %w", runtime.ErrNotFound)
	}
	defer st.mu.Unlock()
	svc := st.find(service)
	if svc == nil {
		return "", fmt.Errorf("service %s: %w", service, runtime.ErrNotFound)
	}
	for k := range svc.instances {
		if svc.instances[k].running(now) {
			return svc.instances[k].name, nil
		}
	}
	return "", serviceError(ref, service, "", "NotRunning", runtime.ErrFailed)
}

// Stop stops every instance of the stack, keeping them.
func (r *Runtime) Stop(ctx context.Context, ref runtime.StackRef) (err error) {
	c, _ := r.begin("stop", ref, nil, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stop %s: %w", ref, err)
	}
	d := r.deployment(ref.Deployment, false)
	if d == nil {
		return fmt.Errorf("stop %s: stack %w", ref, runtime.ErrNotFound)
	}
	st := d.lock(ref.Stack)
	if st == nil {
		return fmt.Errorf("stop %s: stack %w", ref, runtime.ErrNotFound)
	}
	defer st.mu.Unlock()
	for i := range st.services {
		for k := range st.services[i].instances {
			st.services[i].instances[k].stopped = true
		}
	}
	st.stopped = true
	st.notify()
	r.changed(ref.Deployment)
	return nil
}

// Start starts the instances of the stack that are not running, keeping
// their IDs.
func (r *Runtime) Start(ctx context.Context, spec *runtime.StackSpec) error {
	return r.lifecycle(ctx, "start", spec)
}

// Restart restarts every instance of the stack, keeping their IDs.
func (r *Runtime) Restart(ctx context.Context, spec *runtime.StackSpec) error {
	return r.lifecycle(ctx, "restart", spec)
}

func (r *Runtime) lifecycle(ctx context.Context, op string, spec *runtime.StackSpec) (err error) {
	ref := spec.Ref()
	c, now := r.begin(op, ref, spec, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, ref, err)
	}
	d := r.deployment(ref.Deployment, false)
	if d == nil {
		return fmt.Errorf("%s %s: stack %w", op, ref, runtime.ErrNotFound)
	}
	st := d.lock(ref.Stack)
	if st == nil {
		return fmt.Errorf("%s %s: stack %w", op, ref, runtime.ErrNotFound)
	}
	ws := make([]work, len(st.services))
	for i := range st.services {
		s := &st.services[i]
		ws[i].name = s.name
		switch {
		case op == "restart":
			ws[i].act = restart
		case s.notRunning(now) > 0:
			ws[i].act = start
		}
	}
	st.mu.Unlock()
	return r.run(ctx, op, d, spec, ws, nil, nil, now)
}

// Watch calls notify with a deployment's name whenever its stacks
// change: through the runtime (Apply, Remove, RemoveDeployment, Stop,
// Start, Restart) or behind its back (Crash, Tamper). It calls
// notify("") first, once it is registered for changes, and again when
// notify fell so far behind that changes were dropped. It implements
// runtime.Watcher.
func (r *Runtime) Watch(ctx context.Context, notify func(deployment string)) error {
	ch := make(chan string, 64)
	missed := make(chan struct{}, 1)
	r.watchMu.Lock()
	if r.watchers == nil {
		r.watchers = map[int]func(string){}
	}
	id := r.watchN
	r.watchN++
	r.watchers[id] = func(dep string) {
		select {
		case ch <- dep:
		default:
			// The queue is full: this change is dropped, so the
			// watcher is told to look at everything.
			select {
			case missed <- struct{}{}:
			default:
			}
		}
	}
	r.watchMu.Unlock()
	defer func() {
		r.watchMu.Lock()
		delete(r.watchers, id)
		r.watchMu.Unlock()
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	// Registered: every change from now on reaches ch. What changed
	// before may have been missed.
	notify("")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-missed:
			if ctx.Err() == nil {
				notify("")
			}
		case dep := <-ch:
			if ctx.Err() == nil {
				notify(dep)
			}
		}
	}
}

// changed tells the watchers that a deployment changed.
func (r *Runtime) changed(deployment string) {
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	for _, w := range r.watchers {
		w(deployment)
	}
}

// Crash makes every running instance of a service exit now with
// exitCode, as if it had crashed; an empty service crashes every service
// of the stack. A Wait on the stack fails at once.
func (r *Runtime) Crash(deployment, stack, service string, exitCode int) {
	d := r.deployment(deployment, false)
	if d == nil {
		return
	}
	now := time.Now()
	st := d.lock(stack)
	if st == nil {
		return
	}
	defer st.mu.Unlock()
	for i := range st.services {
		s := &st.services[i]
		if service != "" && s.name != service {
			continue
		}
		for k := range s.instances {
			if in := &s.instances[k]; in.running(now) {
				in.exitAt, in.exitCode = now, exitCode
			}
		}
	}
	st.notify()
	r.changed(deployment)
}

func (r *Runtime) deployment(name string, create bool) *deployment {
	r.mu.RLock()
	d := r.deps[name]
	r.mu.RUnlock()
	if d != nil || !create {
		return d
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d = r.deps[name]; d == nil {
		d = &deployment{stacks: make(map[string]*stackState)}
		r.deps[name] = d
	}
	return d
}

func (r *Runtime) latency(ref runtime.StackRef, service string) (apply, ready time.Duration) {
	if r.opts.Latency != nil {
		return r.opts.Latency(ref.Deployment, ref.Stack, service)
	}
	return r.opts.ApplyLatency, r.opts.ReadyLatency
}

// newID returns a container-like ID, unique in the runtime and the same
// from run to run.
func (r *Runtime) newID() [16]byte {
	x := r.ids.Add(1) // splitmix64: a bijection, so IDs never collide
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	var b [8]byte
	var h [16]byte
	binary.BigEndian.PutUint64(b[:], x)
	hex.Encode(h[:], b[:])
	return h
}

// validate checks what the simulation needs of a spec: names and the
// unit and volume types the catalog sizes.
func validate(spec *runtime.StackSpec) error {
	if spec.Deployment == "" || spec.Stack.Name == "" {
		return runtime.WrapError(runtime.ErrInvalid, errors.New("deployment and stack names must not be empty"))
	}
	if len(spec.Stack.Services) == 0 {
		return runtime.WrapError(runtime.ErrInvalid, errors.New("the stack has no services"))
	}
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		if svc.Name == "" {
			return runtime.WrapError(runtime.ErrInvalid, fmt.Errorf("service %d has no name", i))
		}
		if _, err := spec.Unit(svc); err != nil {
			return runtime.WrapError(runtime.ErrInvalid, fmt.Errorf("service %s: %w", svc.Name, err))
		}
		for j := range svc.VolumeArgs {
			if _, err := spec.Volume(&svc.VolumeArgs[j]); err != nil {
				return runtime.WrapError(runtime.ErrInvalid, fmt.Errorf("service %s: volume %s: %w", svc.Name, svc.VolumeArgs[j].MountPath, err))
			}
		}
	}
	return nil
}

// sleepUntil sleeps until t or until ctx ends, reusing *timer. What a
// deadline cuts off follows the simulated clock: work due before the
// context's deadline completes even when the sleeper wakes up late.
func sleepUntil(ctx context.Context, timer **time.Timer, t time.Time) error {
	if deadline, ok := ctx.Deadline(); ok && !deadline.After(t) {
		<-ctx.Done()
		return ctx.Err()
	}
	if d := time.Until(t); d > 0 {
		if *timer == nil {
			*timer = time.NewTimer(d)
		} else {
			(*timer).Reset(d)
		}
		select {
		case <-ctx.Done():
		case <-(*timer).C:
		}
	}
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// instances returns "1 instance" or "<n> instances".
func instances(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return strconv.Itoa(n) + " instances"
}

package deploy

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// instrumentationName names the tracer and the meter of the engine.
const instrumentationName = "github.com/stackwave/stackwave/deploy"

// Span and metric attribute keys.
const (
	attrDeployment = attribute.Key("stackwave.deployment")
	attrProduct    = attribute.Key("stackwave.product")
	attrProductID  = attribute.Key("stackwave.product.id")
	attrVersion    = attribute.Key("stackwave.version")
	attrVersionID  = attribute.Key("stackwave.version.id")
	attrPolicy     = attribute.Key("stackwave.policy")
	attrOpID       = attribute.Key("stackwave.operation.id")
	attrOpType     = attribute.Key("stackwave.operation.type")
	attrOutcome    = attribute.Key("stackwave.outcome")
	attrResumed    = attribute.Key("stackwave.operation.resumed")
	attrTier       = attribute.Key("stackwave.tier")
	attrStack      = attribute.Key("stackwave.stack")
	attrService    = attribute.Key("stackwave.service")
	attrCall       = attribute.Key("stackwave.call")
	attrRuntime    = attribute.Key("stackwave.runtime")
	// attrInterrupted marks a runtime call the operation stopped.
	attrInterrupted = attribute.Key("stackwave.interrupted")
)

// Outcomes of an operation (the stackwave.outcome attribute of
// stackwave.operation.duration) and of a reconciler's repair.
const (
	outcomeSucceeded  = "succeeded"
	outcomeFailedName = "failed"
	outcomeRolledBack = "rolled_back"
	outcomeHandedOver = "handed_over"
	outcomeRepaired   = "repaired"
)

// rtCall names a runtime call the executor makes.
type rtCall uint8

const (
	callApply rtCall = iota
	callWait
	callRemove
	callRemoveDeployment
	callRunInit
	callStop
	callStart
	callRestart
	callObserve
	numCalls
)

var callNames = [numCalls]string{"apply", "wait", "remove", "remove_deployment", "run_init", "stop", "start", "restart", "observe"}

// storeCall names a store call the executor makes.
type storeCall uint8

const (
	storeAcquireLease storeCall = iota
	storeRenewLease
	storeReleaseLease
	storeCreateDeployment
	storeUpdateDeployment
	storeAppendEvents
	numStoreCalls
)

var storeCallNames = [numStoreCalls]string{"acquire_lease", "renew_lease", "release_lease", "create_deployment", "update_deployment", "append_events"}

// opTypes lists the operation types, indexing precomputed attribute sets.
var opTypes = []store.OpType{store.OpLaunch, store.OpUpdate, store.OpTerminate, store.OpRestart, store.OpStop, store.OpStart, store.OpScale}

var outcomes = []string{outcomeSucceeded, outcomeFailedName, outcomeRolledBack, outcomeHandedOver}

// telemetry holds an executor's tracer and instruments, and the
// attribute sets and span names it uses, computed once so that the hot
// paths (a span and a histogram record per runtime call) allocate no more
// than the providers themselves do.
type telemetry struct {
	tracer trace.Tracer
	rtName string
	// callSpans is set unless Options.OmitCallSpans.
	callSpans bool

	opDuration   metric.Float64Histogram
	stackReady   metric.Float64Histogram
	callDuration metric.Float64Histogram
	callErrors   metric.Int64Counter
	inFlight     metric.Int64UpDownCounter
	repairs      metric.Int64Counter

	// Per runtime call: span name and metric options.
	callSpan   [numCalls]string
	callRecord [numCalls][]metric.RecordOption
	callAdd    [numCalls][]metric.AddOption
	callStart  [numCalls][]trace.SpanStartOption
	storeSpan  [numStoreCalls]string
	storeStart []trace.SpanStartOption

	opSpan      map[store.OpType]string
	opAdd       map[store.OpType][]metric.AddOption
	opRecord    map[store.OpType]map[string][]metric.RecordOption
	readyRecord map[store.OpType][]metric.RecordOption
	repairAdd   map[string][]metric.AddOption

	tierMu   sync.Mutex
	tierName []string
}

// newTelemetry sets up the engine's tracer and instruments on the
// providers given, otel's global ones when nil. The global providers do
// nothing until the program installs real ones.
func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, rt runtime.Runtime, callSpans bool) *telemetry {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	t := &telemetry{tracer: tp.Tracer(instrumentationName), callSpans: callSpans}
	m := mp.Meter(instrumentationName)
	// Errors from a meter only come from invalid names or units, which
	// are constants here; the instrument returned is usable regardless.
	handle := func(err error) {
		if err != nil {
			otel.Handle(err)
		}
	}
	var err error
	buckets := metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
	t.opDuration, err = m.Float64Histogram("stackwave.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of an executor operation, from its request to its recorded outcome."), buckets)
	handle(err)
	t.stackReady, err = m.Float64Histogram("stackwave.stack.ready.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from the start of a stack's apply (or lifecycle call) to all its services ready."), buckets)
	handle(err)
	t.callDuration, err = m.Float64Histogram("stackwave.runtime.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of a runtime call made by the executor."), buckets)
	handle(err)
	t.callErrors, err = m.Int64Counter("stackwave.runtime.call.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Runtime calls made by the executor that failed."))
	handle(err)
	t.inFlight, err = m.Int64UpDownCounter("stackwave.operations.active", metric.WithUnit("{operation}"),
		metric.WithDescription("Operations the executor is running."))
	handle(err)
	t.repairs, err = m.Int64Counter("stackwave.reconcile.repairs", metric.WithUnit("{repair}"),
		metric.WithDescription("Repairs of drifted deployments by the reconciler, by outcome."))
	handle(err)

	rtName := ""
	if rt != nil {
		rtName = rt.Name()
	}
	t.rtName = rtName
	for c := range numCalls {
		t.callSpan[c] = "stackwave.runtime." + callNames[c]
		set := attribute.NewSet(attrCall.String(callNames[c]), attrRuntime.String(rtName))
		t.callRecord[c] = []metric.RecordOption{metric.WithAttributeSet(set)}
		t.callAdd[c] = []metric.AddOption{metric.WithAttributeSet(set)}
		t.callStart[c] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	}
	for c := range numStoreCalls {
		t.storeSpan[c] = "stackwave.store." + storeCallNames[c]
	}
	t.storeStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	t.opSpan = map[store.OpType]string{}
	t.opAdd = map[store.OpType][]metric.AddOption{}
	t.opRecord = map[store.OpType]map[string][]metric.RecordOption{}
	t.readyRecord = map[store.OpType][]metric.RecordOption{}
	for _, typ := range opTypes {
		t.opSpan[typ] = "stackwave." + string(typ)
		ts := attrOpType.String(string(typ))
		t.opAdd[typ] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(ts))}
		t.readyRecord[typ] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(ts))}
		t.opRecord[typ] = map[string][]metric.RecordOption{}
		for _, oc := range outcomes {
			t.opRecord[typ][oc] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(ts, attrOutcome.String(oc)))}
		}
	}
	t.repairAdd = map[string][]metric.AddOption{}
	for _, oc := range []string{outcomeRepaired, outcomeFailedName} {
		t.repairAdd[oc] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrOutcome.String(oc)))}
	}
	return t
}

// lazyTelemetry is the executor's telemetry, set up on first use (after
// New has settled the options; a zero Executor gets the global
// providers).
type lazyTelemetry struct {
	once sync.Once
	t    *telemetry
}

// telemetry returns the executor's telemetry.
func (e *Executor) telemetry() *telemetry {
	e.tel.once.Do(func() {
		e.tel.t = newTelemetry(e.opts.TracerProvider, e.opts.MeterProvider, e.rt, !e.opts.OmitCallSpans)
	})
	return e.tel.t
}

// tierSpanName returns "stackwave.tier.N" without formatting it again.
func (t *telemetry) tierSpanName(tier int) string {
	t.tierMu.Lock()
	defer t.tierMu.Unlock()
	for len(t.tierName) <= tier {
		t.tierName = append(t.tierName, "stackwave.tier."+itoa(len(t.tierName)))
	}
	return t.tierName[tier]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// opSpan is the span of one operation, from its request to its outcome.
type opSpan struct {
	t     *telemetry
	span  trace.Span
	typ   store.OpType
	start time.Time
	ran   bool
}

// startOperation starts the span of an operation as a child of the
// caller's span in ctx.
func (e *Executor) startOperation(ctx context.Context, typ store.OpType, req Request) (context.Context, *opSpan) {
	t := e.telemetry()
	name, ok := t.opSpan[typ]
	if !ok {
		name = "stackwave.operation"
	}
	// Spans are internal when no kind is given: a start option costs
	// the SDK a copy of its configuration per span.
	ctx, span := t.tracer.Start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(attrDeployment.String(req.Deployment), attrOpType.String(string(typ)))
	}
	return ctx, &opSpan{t: t, span: span, typ: typ, start: time.Now()}
}

// endIfFailed ends the span of an operation that failed before it
// started (bad request, busy deployment): *err is what the caller gets.
func (s *opSpan) endIfFailed(err *error) {
	if *err == nil {
		return
	}
	s.span.RecordError(*err)
	s.span.SetStatus(codes.Error, (*err).Error())
	s.span.End()
}

// traced starts the run of a prepared operation: its span gets the
// attributes the preparation learned and becomes the parent of
// everything the operation does, on whatever context it runs (a
// submitted operation runs on the executor's own).
func (o *operation) traced(parent context.Context) context.Context {
	s := o.span
	if s == nil {
		s = &opSpan{t: o.e.telemetry(), span: trace.SpanFromContext(parent), typ: o.typ, start: time.Now()}
		o.span = s
	}
	s.ran = true
	o.tracing = s.span.IsRecording()
	if o.tracing {
		attrs := []attribute.KeyValue{attrOpID.String(o.id), attrPolicy.String(string(o.policy)), attrProduct.String(o.productName), attrRuntime.String(s.t.rtName)}
		if v := o.to; v != nil || o.from != nil {
			if v == nil {
				v = o.from
			}
			attrs = append(attrs, attrProductID.String(v.ProductID), attrVersion.String(v.Name), attrVersionID.String(v.ID))
		}
		if o.resumed {
			attrs = append(attrs, attrResumed.Bool(true))
		}
		s.span.SetAttributes(attrs...)
	}
	s.t.inFlight.Add(parent, 1, s.t.opAdd[o.typ]...)
	return trace.ContextWithSpan(parent, s.span)
}

// endRun ends the span of an operation that ran and records its duration
// and outcome; *err is what the caller gets, redacted like the record.
func (o *operation) endRun(err *error) {
	s := o.span
	if s == nil || !s.ran {
		return
	}
	ctx := context.Background()
	s.t.inFlight.Add(ctx, -1, s.t.opAdd[o.typ]...)
	oc := outcomeSucceeded
	var oe *OperationError
	switch {
	case *err == nil:
	case errors.Is(*err, ErrHandedOver):
		oc = outcomeHandedOver
	case errors.As(*err, &oe) && oe.RolledBack:
		oc = outcomeRolledBack
	default:
		oc = outcomeFailedName
	}
	if rec, ok := s.t.opRecord[o.typ][oc]; ok {
		s.t.opDuration.Record(ctx, time.Since(s.start).Seconds(), rec...)
	}
	if s.span.IsRecording() {
		s.span.SetAttributes(attrOutcome.String(oc))
		if *err != nil && oc != outcomeHandedOver {
			rerr := o.redact.Error(*err)
			s.span.RecordError(rerr)
			s.span.SetStatus(codes.Error, rerr.Error())
		}
	}
	s.span.End()
}

// noSpan is the span of what is not traced.
var noSpan = trace.SpanFromContext(context.Background())

// recording reports whether the span in ctx records: the spans of
// runtime and store calls are only made under one that does.
func recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

// child starts a span under the one in ctx (the operation's, a tier's or
// a stack's) for a phase of the operation. An operation whose span does
// not record (no tracer provider, or not sampled) gets no spans below it.
func (o *operation) child(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !o.tracing {
		return ctx, noSpan
	}
	ctx, span := o.e.telemetry().tracer.Start(ctx, name)
	if len(attrs) > 0 {
		// A span that does not record ignores them; asking it first
		// would take its lock once more.
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// tierSpan starts the span of one tier of a walk or a removal.
func (o *operation) tierSpan(ctx context.Context, tier int) (context.Context, trace.Span) {
	return o.child(ctx, o.e.telemetry().tierSpanName(tier), attrTier.Int(tier))
}

// stackSpan is the span of one stack in an operation.
type stackSpan struct {
	o     *operation
	span  trace.Span
	name  string
	start time.Time
}

// stackSpan starts the span of a stack under the one in ctx; stopCtx,
// when not nil, is given the span too.
func (o *operation) stackSpan(ctx, stopCtx context.Context, name string, tier int) (context.Context, context.Context, stackSpan) {
	ss := stackSpan{o: o, span: noSpan, name: name, start: time.Now()}
	if !o.tracing {
		return ctx, stopCtx, ss
	}
	ctx, ss.span = o.child(ctx, "stackwave.stack", attrStack.String(name))
	if stopCtx != nil {
		stopCtx = trace.ContextWithSpan(stopCtx, ss.span)
	}
	return ctx, stopCtx, ss
}

// stackSpanFailed notes the failure of a stack for its span: err is the
// error the operation records (redacted). The span of the stack is open
// (stackFailed runs within it) and takes the note when it ends.
func (o *operation) stackSpanFailed(name string, err error) {
	if !o.tracing {
		return
	}
	o.mu.Lock()
	if o.spanErrs == nil {
		o.spanErrs = map[string]error{}
	}
	o.spanErrs[name] = err
	o.mu.Unlock()
}

// end ends a stack's span and, when the stack became ready, adds to
// stackwave.stack.ready.duration.
func (s stackSpan) end() {
	if s.o.rec.stateOf(s.name) == StateReady {
		t := s.o.e.telemetry()
		t.stackReady.Record(context.Background(), time.Since(s.start).Seconds(), t.readyRecord[s.o.typ]...)
	}
	if !s.o.tracing {
		return
	}
	s.o.mu.Lock()
	err, failed := s.o.spanErrs[s.name]
	if failed {
		delete(s.o.spanErrs, s.name)
	}
	s.o.mu.Unlock()
	if failed {
		s.span.RecordError(err)
		s.span.SetStatus(codes.Error, err.Error())
	}
	s.span.End()
}

// stateOf returns the recorded state of a stack, "" when not recorded.
func (r *recorder) stateOf(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.stackIdx[name]; ok {
		return r.d.Stacks[i].State
	}
	return ""
}

// rtCall runs one runtime call in a span of its own and records its
// latency and, when it fails, an error; the span carries the error as
// the operation would record it (redacted).
func (o *operation) rtCall(ctx context.Context, c rtCall, service string, fn func(context.Context) error) error {
	return o.e.telemetry().runtimeCall(ctx, o.tracing, c, service, o.redact, o.e.rt, fn)
}

// runtimeCall runs a runtime call, in a span of its own when traced and
// call spans are not omitted.
func (t *telemetry) runtimeCall(ctx context.Context, traced bool, c rtCall, service string, red *redact.Redactor, rt runtime.Runtime, fn func(context.Context) error) error {
	sctx, span := ctx, noSpan
	if traced && t.callSpans {
		sctx, span = t.tracer.Start(ctx, t.callSpan[c], t.callStart[c]...)
	}
	if service != "" && span.IsRecording() {
		span.SetAttributes(attrService.String(service))
	}
	start := time.Now()
	err := fn(sctx)
	t.callDuration.Record(ctx, time.Since(start).Seconds(), t.callRecord[c]...)
	if err != nil && ctx.Err() != nil {
		// Stopped by the operation (a failure elsewhere, a timeout, a
		// cancelled caller), not failed.
		if span.IsRecording() {
			span.SetAttributes(attrInterrupted.Bool(true))
		}
	} else if err != nil {
		t.callErrors.Add(ctx, 1, t.callAdd[c]...)
		if span.IsRecording() {
			var rerr error = errCallFailed{callNames[c]}
			if red != nil {
				rerr = red.Error(runtime.MapError(rt, err))
			}
			var se *runtime.ServiceError
			if service == "" && errors.As(err, &se) && se.Service != "" {
				span.SetAttributes(attrService.String(se.Service))
			}
			span.RecordError(rerr)
			span.SetStatus(codes.Error, rerr.Error())
		}
	}
	span.End()
	return err
}

// wait waits for a stack's readiness in a span of its own.
func (o *operation) wait(ctx context.Context, spec *runtime.StackSpec, rep runtime.Reporter) error {
	return o.rtCall(ctx, callWait, "", func(ctx context.Context) error { return o.e.rt.Wait(ctx, spec, rep) })
}

// storeCall runs one store call of the executor in a span of its own.
func storeCallSpan[T any](ctx context.Context, t *telemetry, c storeCall, fn func(context.Context) (T, error)) (T, error) {
	if t == nil || !t.callSpans || !recording(ctx) {
		return fn(ctx)
	}
	sctx, span := t.tracer.Start(ctx, t.storeSpan[c], t.storeStart...)
	v, err := fn(sctx)
	if err != nil && span.IsRecording() {
		// Store errors name records and revisions, never parameter
		// values.
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return v, err
}

// storeDo is storeCallSpan for a call that returns only an error.
func storeDo(ctx context.Context, t *telemetry, c storeCall, fn func(context.Context) error) error {
	_, err := storeCallSpan(ctx, t, c, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// acquireLease takes the executor's lease on a deployment (c is
// storeAcquireLease).
func (e *Executor) acquireLease(ctx context.Context, c storeCall, name string) (*store.Lease, error) {
	return storeCallSpan(ctx, e.telemetry(), c, func(ctx context.Context) (*store.Lease, error) {
		return e.st.AcquireLease(ctx, name, e.opts.Owner, e.opts.LeaseTTL)
	})
}

// renewLease renews the executor's lease on a deployment, never taking
// one that is not there.
func (o *operation) renewLease(ctx context.Context, name string) (*store.Lease, error) {
	e := o.e
	return storeCallSpan(ctx, e.telemetry(), storeRenewLease, func(ctx context.Context) (*store.Lease, error) {
		return e.st.RenewLease(ctx, name, e.opts.Owner, e.opts.LeaseTTL)
	})
}

func (e *Executor) releaseLease(ctx context.Context, name string) error {
	return storeDo(ctx, e.telemetry(), storeReleaseLease, func(ctx context.Context) error {
		return e.st.ReleaseLease(ctx, name, e.opts.Owner)
	})
}

func (e *Executor) createDeployment(ctx context.Context, d *store.Deployment) (*store.Deployment, error) {
	return storeCallSpan(ctx, e.telemetry(), storeCreateDeployment, func(ctx context.Context) (*store.Deployment, error) {
		return e.st.CreateDeployment(ctx, d)
	})
}

func (e *Executor) updateDeployment(ctx context.Context, d *store.Deployment) (*store.Deployment, error) {
	return storeCallSpan(ctx, e.telemetry(), storeUpdateDeployment, func(ctx context.Context) (*store.Deployment, error) {
		return e.st.UpdateDeployment(ctx, d)
	})
}

func (r *recorder) appendEvents(ctx context.Context, events []store.Event) error {
	return storeDo(ctx, r.tel, storeAppendEvents, func(ctx context.Context) error {
		return r.st.AppendEvents(ctx, r.name, events...)
	})
}

// updateDeployment writes the record and, in the same transaction,
// events (and what opts say).
func (r *recorder) updateDeployment(ctx context.Context, d *store.Deployment, events []store.Event, opts ...store.UpdateOption) (*store.Deployment, error) {
	return storeCallSpan(ctx, r.tel, storeUpdateDeployment, func(ctx context.Context) (*store.Deployment, error) {
		return r.st.UpdateDeployment(ctx, d, append(opts, store.WithEvents(events...))...)
	})
}

// countRepair counts a reconciler's repair by outcome.
func (e *Executor) countRepair(ctx context.Context, err error) {
	t := e.telemetry()
	oc := outcomeRepaired
	if err != nil {
		oc = outcomeFailedName
	}
	t.repairs.Add(ctx, 1, t.repairAdd[oc]...)
}

// tierSpans holds the spans of the tiers of one walk: a tier's span
// starts with its first stack that runs and ends when its last stack is
// done. Its methods are called from the walk's goroutine only.
type tierSpans struct {
	o            *operation
	ctx, stopCtx context.Context
	spans        []trace.Span
	tctx, tstop  []context.Context
}

func (o *operation) tierSpans(ctx, stopCtx context.Context, tiers int) *tierSpans {
	if !o.tracing {
		return &tierSpans{o: o, ctx: ctx, stopCtx: stopCtx}
	}
	return &tierSpans{o: o, ctx: ctx, stopCtx: stopCtx, spans: make([]trace.Span, tiers),
		tctx: make([]context.Context, tiers), tstop: make([]context.Context, tiers)}
}

// enter returns the contexts a stack of tier t runs on, starting the
// tier's span with its first stack.
func (ts *tierSpans) enter(t int) (ctx, stopCtx context.Context) {
	if !ts.o.tracing {
		return ts.ctx, ts.stopCtx
	}
	if ts.spans[t] == nil {
		ts.tctx[t], ts.spans[t] = ts.o.tierSpan(ts.ctx, t)
		ts.tstop[t] = trace.ContextWithSpan(ts.stopCtx, ts.spans[t])
	}
	return ts.tctx[t], ts.tstop[t]
}

// left notes how many stacks of tier t are left; at none its span ends.
func (ts *tierSpans) left(t, n int) {
	if ts.o.tracing && n == 0 && ts.spans[t] != nil {
		ts.spans[t].End()
	}
}

// endAll ends the spans of tiers the walk left unfinished.
func (ts *tierSpans) endAll() {
	for _, s := range ts.spans {
		if s != nil {
			s.End() // a second End is a no-op
		}
	}
}

// removalTierSpan starts the span of one tier of a removal.
func (o *operation) removalTierSpan(ctx context.Context, tier []removal) (context.Context, trace.Span) {
	if len(tier) == 0 {
		return ctx, noSpan
	}
	return o.tierSpan(ctx, tier[0].tier)
}

// observe observes the operation's deployment in a span of its own.
func (o *operation) observe(ctx context.Context) (st *runtime.DeploymentState, err error) {
	err = o.rtCall(ctx, callObserve, "", func(ctx context.Context) error {
		st, err = o.e.rt.Observe(ctx, o.name)
		return err
	})
	return st, err
}

// observeSpan observes a deployment in a span of its own. The callers
// redact what the error says; the span only says that it failed.
func (e *Executor) observeSpan(ctx context.Context, name string) (st *runtime.DeploymentState, err error) {
	err = e.telemetry().runtimeCall(ctx, recording(ctx), callObserve, "", nil, e.rt, func(ctx context.Context) error {
		st, err = e.rt.Observe(ctx, name)
		return err
	})
	return st, err
}

// errCallFailed stands for the error of a runtime call that has no
// redactor at hand: the span says which call failed, not what it said.
type errCallFailed struct{ call string }

func (e errCallFailed) Error() string { return "runtime " + e.call + " failed" }

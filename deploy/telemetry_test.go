package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// otelSink is a tracer provider recording every span in memory and a
// meter provider read on demand.
type otelSink struct {
	t      *testing.T
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newOtelSink(t *testing.T) *otelSink {
	s := &otelSink{t: t, spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = s.mp.Shutdown(context.Background())
	})
	return s
}

func (s *otelSink) options() *deploy.Options {
	return &deploy.Options{TracerProvider: s.tp, MeterProvider: s.mp}
}

func (s *otelSink) ended() []sdktrace.ReadOnlySpan { return s.spans.Ended() }

func (s *otelSink) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

func (s *otelSink) one(name string) sdktrace.ReadOnlySpan {
	s.t.Helper()
	got := s.named(name)
	if len(got) != 1 {
		s.t.Fatalf("%d spans named %s, want 1 (spans: %v)", len(got), name, spanNames(s.ended()))
	}
	return got[0]
}

// children returns the ended spans whose parent is p.
func (s *otelSink) children(p sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.ended() {
		if sp.Parent().SpanID() == p.SpanContext().SpanID() && (name == "" || sp.Name() == name) {
			out = append(out, sp)
		}
	}
	return out
}

// stack returns the stack span of a stack under p.
func (s *otelSink) stack(p sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	s.t.Helper()
	for _, sp := range s.children(p, "stackwave.stack") {
		if attr(sp, "stackwave.stack") == name {
			return sp
		}
	}
	s.t.Fatalf("no span of stack %s under %s", name, p.Name())
	return nil
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func (s *otelSink) metrics() metricdata.ResourceMetrics {
	s.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		s.t.Fatal(err)
	}
	return rm
}

func findMetric(rm metricdata.ResourceMetrics, name string) *metricdata.Metrics {
	for _, sm := range rm.ScopeMetrics {
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name {
				return &sm.Metrics[i]
			}
		}
	}
	return nil
}

func setString(set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

// histCounts returns a histogram's counts by attribute set.
func histCounts(t *testing.T, rm metricdata.ResourceMetrics, name string) map[string]uint64 {
	t.Helper()
	m := findMetric(rm, name)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is a %T, want a float64 histogram", name, m.Data)
	}
	out := map[string]uint64{}
	for _, dp := range h.DataPoints {
		out[setString(dp.Attributes)] += dp.Count
	}
	return out
}

// sums returns a counter's values by attribute set.
func sums(t *testing.T, rm metricdata.ResourceMetrics, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m := findMetric(rm, name)
	if m == nil {
		return out
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
	}
	for _, dp := range s.DataPoints {
		out[setString(dp.Attributes)] += dp.Value
	}
	return out
}

func TestTelemetryLaunchSpanTree(t *testing.T) {
	sink := newOtelSink(t)
	e := newEnv(t, nil, sink.options())
	deps := threeTiers()
	deps[0][0].InitScripts = []stack.InitScript{{ServiceName: "mysql", Command: []string{"init-db"}}}
	vid := e.version("v1", deps)

	ctx, caller := sink.tp.Tracer("test").Start(context.Background(), "caller")
	res, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid})
	caller.End()
	if err != nil {
		t.Fatal(err)
	}

	op := sink.one("stackwave.launch")
	if op.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("operation span's parent is %v, want the caller's span", op.Parent().SpanID())
	}
	for k, want := range map[string]string{
		"stackwave.deployment": "shop", "stackwave.operation.id": res.Operation.ID, "stackwave.operation.type": "launch",
		"stackwave.policy": "fail-fast", "stackwave.product": "shop-" + t.Name(), "stackwave.version": "v1",
		"stackwave.version.id": vid, "stackwave.outcome": "succeeded", "stackwave.runtime": "sim",
	} {
		if got := attr(op, k); got != want {
			t.Errorf("operation span: %s = %q, want %q", k, got, want)
		}
	}
	if op.Status().Code == codes.Error {
		t.Errorf("operation span status %v", op.Status())
	}
	for _, sp := range sink.ended() {
		if sp.SpanContext().TraceID() != caller.SpanContext().TraceID() {
			t.Errorf("span %s is in another trace", sp.Name())
		}
	}

	// Tiers under the operation, stacks under their tier, runtime calls
	// under their stack.
	for ti, tier := range deps {
		tiers := sink.children(op, fmt.Sprintf("stackwave.tier.%d", ti))
		if len(tiers) != 1 {
			t.Fatalf("%d spans of tier %d under the operation", len(tiers), ti)
		}
		if got := len(sink.children(tiers[0], "stackwave.stack")); got != len(tier) {
			t.Errorf("tier %d: %d stack spans, want %d", ti, got, len(tier))
		}
		for _, s := range tier {
			ss := sink.stack(tiers[0], s.Name)
			if ss.Status().Code == codes.Error {
				t.Errorf("stack %s span status %v", s.Name, ss.Status())
			}
			calls := spanNames(sink.children(ss, ""))
			want := []string{"stackwave.runtime.apply", "stackwave.runtime.wait"}
			if s.Name == "db" {
				want = append(want, "stackwave.runtime.run_init")
				slices.Sort(want)
			}
			if !slices.Equal(calls, want) {
				t.Errorf("stack %s: child spans %v, want %v", s.Name, calls, want)
			}
			if s.Name == "db" {
				if init := sink.children(ss, "stackwave.runtime.run_init"); attr(init[0], "stackwave.service") != "mysql" {
					t.Errorf("init span attributes %v", init[0].Attributes())
				}
			}
			for _, c := range sink.children(ss, "") {
				if c.SpanKind() != trace.SpanKindClient || c.Status().Code == codes.Error {
					t.Errorf("%s span of %s: kind %v, status %v", c.Name(), s.Name, c.SpanKind(), c.Status())
				}
			}
		}
	}
	// The store calls: the lease and the first record under the
	// operation, the record writes too (events go with them; alone, in
	// append_events spans, only when the record has not changed), the
	// last of which releases the lease.
	storeCalls := spanNames(sink.children(op, ""))
	if slices.Contains(storeCalls, "stackwave.store.release_lease") {
		t.Errorf("a release_lease span under an operation whose final record released the lease: %v", storeCalls)
	}
	for _, want := range []string{"stackwave.store.acquire_lease", "stackwave.store.create_deployment",
		"stackwave.store.update_deployment"} {
		if !slices.Contains(storeCalls, want) {
			t.Errorf("no %s span under the operation; it has %v", want, storeCalls)
		}
	}
	if n := len(sink.spans.Started()) - len(sink.ended()); n != 0 {
		t.Errorf("%d spans not ended", n)
	}

	rm := sink.metrics()
	if got := histCounts(t, rm, "stackwave.operation.duration"); !equalMap(got, map[string]uint64{"stackwave.operation.type=launch,stackwave.outcome=succeeded": 1}) {
		t.Errorf("operation durations %v", got)
	}
	if got := histCounts(t, rm, "stackwave.stack.ready.duration"); !equalMap(got, map[string]uint64{"stackwave.operation.type=launch": 4}) {
		t.Errorf("stack ready durations %v", got)
	}
	if got := histCounts(t, rm, "stackwave.runtime.call.duration"); !equalMap(got, map[string]uint64{
		"stackwave.call=apply,stackwave.runtime=sim": 4, "stackwave.call=wait,stackwave.runtime=sim": 4,
		"stackwave.call=run_init,stackwave.runtime=sim": 1,
	}) {
		t.Errorf("runtime call durations %v", got)
	}
	if got := sums(t, rm, "stackwave.runtime.call.errors"); len(got) != 0 {
		t.Errorf("runtime call errors %v", got)
	}
	if got := sums(t, rm, "stackwave.operations.active"); !equalMap(got, map[string]int64{"stackwave.operation.type=launch": 0}) {
		t.Errorf("operations in flight %v, want launch=0 once done", got)
	}
	for _, m := range []string{"stackwave.operation.duration", "stackwave.stack.ready.duration", "stackwave.runtime.call.duration"} {
		if u := findMetric(rm, m).Unit; u != "s" {
			t.Errorf("%s unit %q", m, u)
		}
	}
}

func equalMap[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// launchRolledBack launches three tiers whose "api" stack fails to apply
// with an error quoting a secret env value, under the Rollback policy,
// and fails t unless the launch was rolled back. It returns the tiers.
func launchRolledBack(t *testing.T, e *env) stack.Deps {
	t.Helper()
	deps := threeTiers()
	deps[1][0].Services[0].Envs = []string{"API_TOKEN=hunter2-secret"}
	vid := e.version("v1", deps)
	e.rt.Inject(sim.Fault{Kind: sim.FailApply, Stack: "api", Err: errors.New("engine refused env API_TOKEN=hunter2-secret")})
	_, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid, Policy: deploy.Rollback})
	var oe *deploy.OperationError
	if !errors.As(err, &oe) || !oe.RolledBack {
		t.Fatalf("err = %v, want a rolled back OperationError", err)
	}
	return deps
}

// TestTelemetryRollbackRecordsRedactedErrors: a stack whose apply fails
// under the Rollback policy marks its call, its stack and the operation
// failed with the message the record carries, secrets redacted, and the
// rollback's removals appear under a span of their own.
func TestTelemetryRollbackRecordsRedactedErrors(t *testing.T) {
	sink := newOtelSink(t)
	e := newEnv(t, nil, sink.options())
	launchRolledBack(t, e)

	op := sink.one("stackwave.launch")
	if op.Status().Code != codes.Error || attr(op, "stackwave.outcome") != "rolled_back" {
		t.Errorf("operation span: status %v, outcome %q", op.Status(), attr(op, "stackwave.outcome"))
	}
	if !strings.Contains(op.Status().Description, "<redacted>") || !hasException(op) {
		t.Errorf("operation span: status %q, events %v; want the redacted error recorded", op.Status().Description, op.Events())
	}
	tier1 := sink.children(op, "stackwave.tier.1")
	if len(tier1) != 1 {
		t.Fatalf("%d spans of tier 1", len(tier1))
	}
	api := sink.stack(tier1[0], "api")
	if api.Status().Code != codes.Error || !hasException(api) || !strings.Contains(api.Status().Description, "apply") {
		t.Errorf("api stack span: status %v, events %v", api.Status(), api.Events())
	}
	apply := sink.children(api, "stackwave.runtime.apply")
	if len(apply) != 1 || apply[0].Status().Code != codes.Error || !hasException(apply[0]) {
		t.Fatalf("api apply span %v", apply)
	}
	rb := sink.children(op, "stackwave.rollback")
	if len(rb) != 1 {
		t.Fatalf("%d rollback spans under the operation", len(rb))
	}
	var removed []string
	for _, tier := range sink.children(rb[0], "") {
		for _, ss := range sink.children(tier, "stackwave.stack") {
			if len(sink.children(ss, "stackwave.runtime.remove")) == 1 {
				removed = append(removed, attr(ss, "stackwave.stack"))
			}
		}
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"api", "db", "worker"}) {
		t.Errorf("rollback removed %v under its span, want api, db, worker", removed)
	}

	// No secret anywhere in what was exported.
	for _, sp := range sink.ended() {
		if s := fmt.Sprint(sp.Attributes(), sp.Events(), sp.Status()); strings.Contains(s, "hunter2") {
			t.Errorf("span %s shows the secret: %s", sp.Name(), s)
		}
	}

	rm := sink.metrics()
	if got := histCounts(t, rm, "stackwave.operation.duration"); !equalMap(got, map[string]uint64{"stackwave.operation.type=launch,stackwave.outcome=rolled_back": 1}) {
		t.Errorf("operation durations %v", got)
	}
	if got := sums(t, rm, "stackwave.runtime.call.errors"); !equalMap(got, map[string]int64{"stackwave.call=apply,stackwave.runtime=sim": 1}) {
		t.Errorf("runtime call errors %v", got)
	}
}

// TestTelemetryOmitCallSpans: with Options.OmitCallSpans an operation is
// traced down to its stacks, with no span per runtime or store call; a
// failed stack still carries its error, and the calls are still counted.
func TestTelemetryOmitCallSpans(t *testing.T) {
	sink := newOtelSink(t)
	opts := sink.options()
	opts.OmitCallSpans = true
	e := newEnv(t, nil, opts)
	deps := launchRolledBack(t, e)

	for _, sp := range sink.ended() {
		if n := sp.Name(); strings.HasPrefix(n, "stackwave.runtime.") || strings.HasPrefix(n, "stackwave.store.") {
			t.Errorf("span %s made with OmitCallSpans", n)
		}
	}
	op := sink.one("stackwave.launch")
	if op.Status().Code != codes.Error || attr(op, "stackwave.outcome") != "rolled_back" {
		t.Errorf("operation span: status %v, outcome %q", op.Status(), attr(op, "stackwave.outcome"))
	}
	for ti, tier := range deps[:2] { // tier 2 does not start: tier 1 failed
		tiers := sink.children(op, fmt.Sprintf("stackwave.tier.%d", ti))
		if len(tiers) != 1 {
			t.Fatalf("%d spans of tier %d under the operation", len(tiers), ti)
		}
		for _, s := range tier {
			ss := sink.stack(tiers[0], s.Name)
			if got := sink.children(ss, ""); len(got) != 0 {
				t.Errorf("stack %s: spans %v under it", s.Name, spanNames(got))
			}
			failed := ss.Status().Code == codes.Error
			if want := s.Name == "api"; failed != want || hasException(ss) != want {
				t.Errorf("stack %s: status %v, events %v", s.Name, ss.Status(), ss.Events())
			}
			if failed && (!strings.Contains(ss.Status().Description, "apply") || strings.Contains(ss.Status().Description, "hunter2")) {
				t.Errorf("stack %s: status %q, want the apply's failure, redacted", s.Name, ss.Status().Description)
			}
		}
	}
	if rb := sink.children(op, "stackwave.rollback"); len(rb) != 1 {
		t.Errorf("%d rollback spans under the operation", len(rb))
	}
	rm := sink.metrics()
	if got := sums(t, rm, "stackwave.runtime.call.errors"); !equalMap(got, map[string]int64{"stackwave.call=apply,stackwave.runtime=sim": 1}) {
		t.Errorf("runtime call errors %v", got)
	}
	if got := histCounts(t, rm, "stackwave.runtime.call.duration")["stackwave.call=wait,stackwave.runtime=sim"]; got != 2 {
		t.Errorf("%d wait durations, want 2 (db, worker)", got)
	}
}

func hasException(sp sdktrace.ReadOnlySpan) bool {
	for _, ev := range sp.Events() {
		if ev.Name == "exception" {
			return true
		}
	}
	return false
}

// TestTelemetryRejectedAndSubmitted: a request refused before it starts
// ends its span with the error and counts no operation; a submitted
// operation stays under the submitter's span.
func TestTelemetryRejectedAndSubmitted(t *testing.T) {
	sink := newOtelSink(t)
	e := newEnv(t, nil, sink.options())
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Update(context.Background(), deploy.Request{Deployment: "nothere", VersionID: vid}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing deployment: %v", err)
	}
	up := sink.one("stackwave.update")
	if up.Status().Code != codes.Error || !hasException(up) {
		t.Errorf("rejected update span: status %v", up.Status())
	}
	if m := findMetric(sink.metrics(), "stackwave.operation.duration"); m != nil && len(m.Data.(metricdata.Histogram[float64]).DataPoints) != 0 {
		t.Errorf("a rejected request counted as an operation: %v", m.Data)
	}

	ctx, caller := sink.tp.Tracer("test").Start(context.Background(), "submitter")
	h, err := e.ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: vid})
	caller.End()
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := h.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	op := sink.one("stackwave.launch")
	if op.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("submitted operation's span is not under the submitter's")
	}
	if got := len(sink.children(op, "stackwave.tier.0")); got != 1 {
		t.Errorf("submitted operation: %d tier 0 spans under its span", got)
	}
}

// TestTelemetryReconcileRepairs: the reconciler counts its repairs.
func TestTelemetryReconcileRepairs(t *testing.T) {
	sink := newOtelSink(t)
	e := newEnv(t, nil, sink.options())
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	r := deploy.NewReconciler(e.ex, nil)
	e.rt.Tamper("shop", "worker", "job", sim.Change{Kind: sim.RemoveChange})
	if repaired, err := r.Reconcile(ctx, "shop"); err != nil || !repaired {
		t.Fatalf("reconcile: %v, %v", repaired, err)
	}
	rm := sink.metrics()
	if got := sums(t, rm, "stackwave.reconcile.repairs"); !equalMap(got, map[string]int64{"stackwave.outcome=repaired": 1}) {
		t.Errorf("repairs %v", got)
	}
	if got := histCounts(t, rm, "stackwave.operation.duration"); got["stackwave.operation.type=update,stackwave.outcome=succeeded"] != 1 {
		t.Errorf("operation durations %v, want the repair's update", got)
	}
	up := sink.one("stackwave.update")
	if ss := sink.named("stackwave.stack"); len(ss) == 0 || attr(ss[len(ss)-1], "stackwave.stack") != "worker" {
		t.Errorf("repair: stack spans %v", ss)
	}
	_ = up
}

// TestTelemetryDayTwo: a restart, a scale and a terminate each have their
// span with the stack and its runtime calls below it.
func TestTelemetryDayTwo(t *testing.T) {
	sink := newOtelSink(t)
	e := newEnv(t, nil, sink.options())
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Restart(ctx, deploy.Request{Deployment: "shop", Stack: "api"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Scale(ctx, deploy.Request{Deployment: "shop", Stack: "worker", Service: "job", Instances: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "shop"}); err != nil {
		t.Fatal(err)
	}
	for op, want := range map[string][]string{
		"stackwave.restart": {"stackwave.runtime.restart", "stackwave.runtime.wait"},
		"stackwave.scale":   {"stackwave.runtime.apply", "stackwave.runtime.wait"},
	} {
		sp := sink.one(op)
		stacks := sink.children(sp, "stackwave.stack")
		if len(stacks) != 1 {
			t.Fatalf("%s: %d stack spans", op, len(stacks))
		}
		if got := spanNames(sink.children(stacks[0], "")); !slices.Equal(got, want) {
			t.Errorf("%s: calls %v, want %v", op, got, want)
		}
	}
	// The simulated runtime removes a whole deployment in one call
	// (runtime.DeploymentRemover): one span under the operation's.
	term := sink.one("stackwave.terminate")
	if n := len(sink.children(term, "stackwave.runtime.remove_deployment")); n != 1 {
		t.Errorf("terminate: %d remove_deployment spans under the operation, want 1: %v", n, spanNames(sink.children(term, "")))
	}

	// A runtime without it removes stack by stack, under tier spans.
	ex := deploy.New(struct{ runtime.Runtime }{e.rt}, e.st, sink.options())
	defer ex.Close()
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "shop2", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Terminate(ctx, deploy.Request{Deployment: "shop2"}); err != nil {
		t.Fatal(err)
	}
	var removed []string
	for _, sp := range sink.named("stackwave.terminate") {
		if attr(sp, "stackwave.deployment") != "shop2" {
			continue
		}
		for _, tier := range sink.children(sp, "") {
			for _, ss := range sink.children(tier, "stackwave.stack") {
				if len(sink.children(ss, "stackwave.runtime.remove")) == 1 {
					removed = append(removed, attr(ss, "stackwave.stack"))
				}
			}
		}
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"api", "db", "web", "worker"}) {
		t.Errorf("stack by stack, terminate removed %v under tier spans", removed)
	}
	got := histCounts(t, sink.metrics(), "stackwave.operation.duration")
	for typ, n := range map[string]uint64{"launch": 2, "restart": 1, "scale": 1, "terminate": 2} {
		if got["stackwave.operation.type="+typ+",stackwave.outcome=succeeded"] != n {
			t.Errorf("operation durations %v: want %d %s", got, n, typ)
		}
	}
}

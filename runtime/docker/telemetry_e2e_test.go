package docker_test

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

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// TestTelemetryOnDocker launches on the engine a product whose second
// tier holds a service that prints a secret and exits, under the
// Rollback policy, and reads the executor's spans and metrics: the
// operation's span under the caller's, tiers, stacks and runtime calls
// below it, the failure recorded on the failing stack and call with the
// secret redacted, the rollback's removals, and the metrics by call and
// outcome.
func TestTelemetryOnDocker(t *testing.T) {
	t.Parallel()
	const secret = "sw-otel-s3cret-4711"
	bad := web(t, "bad", 8081, "TESTAPP_EXIT_AFTER=500ms", "TESTAPP_EXIT_CODE=3",
		"APP_TOKEN="+secret, "TESTAPP_STDERR=starting with token "+secret)
	// Never ready: the wait ends when the service exits.
	bad.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "exit", "1"}, Timeout: stack.Duration(time.Minute)}

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})

	rt := newRuntime(t, &docker.Options{PullPolicy: docker.PullNever})
	cat := newCatalog(t, "otel", twoTiers(t, bad))
	ex := deploy.New(rt, cat.st, &deploy.Options{ReadyTimeout: 2 * time.Minute, TracerProvider: tp, MeterProvider: mp})
	t.Cleanup(func() { ex.Close() })

	ctx, caller := tp.Tracer("test").Start(ctxT(t, 10*time.Minute), "caller")
	_, err := ex.Launch(ctx, deploy.Request{Deployment: "otel", VersionID: cat.versions[0].ID, Policy: deploy.Rollback})
	caller.End()
	var oe *deploy.OperationError
	if !errors.As(err, &oe) || !oe.RolledBack || !errors.Is(err, runtime.ErrFailed) {
		t.Fatalf("launch: %v; want a rolled back failure", err)
	}

	ended := spans.Ended()
	if n := len(spans.Started()) - len(ended); n != 0 {
		t.Errorf("%d spans not ended", n)
	}
	attr := func(s sdktrace.ReadOnlySpan, k string) string {
		for _, kv := range s.Attributes() {
			if string(kv.Key) == k {
				return kv.Value.Emit()
			}
		}
		return ""
	}
	under := func(p sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
		var out []sdktrace.ReadOnlySpan
		for _, s := range ended {
			if s.Parent().SpanID() == p.SpanContext().SpanID() && (name == "" || s.Name() == name) {
				out = append(out, s)
			}
		}
		return out
	}
	var op sdktrace.ReadOnlySpan
	for _, s := range ended {
		if s.Name() == "stackwave.launch" {
			op = s
		}
		if str := fmt.Sprint(s.Name(), s.Attributes(), s.Events(), s.Status()); strings.Contains(str, secret) {
			t.Errorf("span shows the secret: %s", str)
		}
	}
	if op == nil || op.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Fatalf("no launch span under the caller's")
	}
	if op.Status().Code != codes.Error || attr(op, "stackwave.outcome") != "rolled_back" || attr(op, "stackwave.runtime") != "docker" {
		t.Errorf("launch span: status %v, attributes %v", op.Status(), op.Attributes())
	}
	tier0, tier1 := under(op, "stackwave.tier.0"), under(op, "stackwave.tier.1")
	if len(tier0) != 1 || len(tier1) != 1 {
		t.Fatalf("tier spans under the launch: %d, %d", len(tier0), len(tier1))
	}
	stackOf := func(tier sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
		for _, s := range under(tier, "stackwave.stack") {
			if attr(s, "stackwave.stack") == name {
				return s
			}
		}
		t.Fatalf("no span of stack %s", name)
		return nil
	}
	base, app := stackOf(tier0[0], "base"), stackOf(tier1[0], "app")
	if base.Status().Code == codes.Error {
		t.Errorf("base failed: %v", base.Status())
	}
	for _, c := range []string{"stackwave.runtime.apply", "stackwave.runtime.wait"} {
		if len(under(base, c)) != 1 || len(under(app, c)) != 1 {
			t.Errorf("%s spans: base %d, app %d; want one each", c, len(under(base, c)), len(under(app, c)))
		}
	}
	if app.Status().Code != codes.Error || !strings.Contains(app.Status().Description, "bad") {
		t.Errorf("app stack span: status %v", app.Status())
	}
	wait := under(app, "stackwave.runtime.wait")
	if len(wait) == 1 && (wait[0].Status().Code != codes.Error || attr(wait[0], "stackwave.service") != "bad") {
		t.Errorf("app wait span: status %v, attributes %v", wait[0].Status(), wait[0].Attributes())
	}
	rb := under(op, "stackwave.rollback")
	if len(rb) != 1 {
		t.Fatalf("%d rollback spans", len(rb))
	}
	var removed []string
	for _, tier := range under(rb[0], "") {
		for _, s := range under(tier, "stackwave.stack") {
			if len(under(s, "stackwave.runtime.remove")) == 1 {
				removed = append(removed, attr(s, "stackwave.stack"))
			}
		}
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []string{"app", "base"}) {
		t.Errorf("removed under the rollback: %v", removed)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					got[m.Name+attrString(dp.Attributes.ToSlice())] = fmt.Sprint(dp.Count)
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					got[m.Name+attrString(dp.Attributes.ToSlice())] = fmt.Sprint(dp.Value)
				}
			}
		}
	}
	for k, want := range map[string]string{
		"stackwave.operation.duration{stackwave.operation.type=launch,stackwave.outcome=rolled_back}": "1",
		"stackwave.stack.ready.duration{stackwave.operation.type=launch}":                             "1",
		"stackwave.runtime.call.duration{stackwave.call=apply,stackwave.runtime=docker}":              "2",
		"stackwave.runtime.call.duration{stackwave.call=wait,stackwave.runtime=docker}":               "2",
		"stackwave.runtime.call.duration{stackwave.call=remove,stackwave.runtime=docker}":             "2",
		"stackwave.runtime.call.errors{stackwave.call=wait,stackwave.runtime=docker}":                 "1",
		"stackwave.operations.active{stackwave.operation.type=launch}":                                "0",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %s", k, got[k], want)
		}
	}
	if t.Failed() {
		t.Logf("metrics: %v", got)
	}
}

func attrString(kvs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

//go:build unix

package deploy_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store/memory"
)

// discardExporter takes batches of spans and drops them: what a
// collector costs is outside the engine.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkLaunchOverheadTelemetry is BenchmarkLaunchOverhead (1,000
// stacks x 5 services in 10 tiers, zero latency) with telemetry off
// (otel's global no-op providers) and on (the SDK's tracer provider with
// a batcher into a discarding exporter, every span sampled, and the
// SDK's meter provider with a manual reader), with only one of the two,
// with both but no operation sampled, and with both but no span per
// runtime or store call (Options.OmitCallSpans).
func BenchmarkLaunchOverheadTelemetry(b *testing.B) {
	for _, tc := range []telemetryCase{
		{name: "off"}, {name: "traces", traces: true}, {name: "metrics", metrics: true}, {name: "on", traces: true, metrics: true},
		// Operations not sampled: metrics and the operation's span only.
		{name: "on-unsampled", traces: true, metrics: true, sampler: sdktrace.NeverSample()},
		// Options.OmitCallSpans: spans down to the stacks only.
		{name: "on-nocalls", traces: true, metrics: true, omitCalls: true},
	} {
		b.Run("otel="+tc.name, func(b *testing.B) {
			ex, vid := telemetryBenchEnv(b, tc, discardExporter{}, 100)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu, sys := cpuTime(), sysTime()
			for i := 0; i < b.N; i++ {
				if _, err := ex.Launch(ctx, deploy.Request{Deployment: fmt.Sprintf("d%d", i), VersionID: vid}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/launch")
			// On a shared machine the wall clock mostly measures the
			// other work; the process's CPU time (every goroutine, the
			// garbage collector and the span batcher included) does not.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/launch")
			// Of which in the kernel: mostly threads woken and put to
			// sleep as goroutines hand work to each other.
			b.ReportMetric(float64((sysTime()-sys).Microseconds())/1000/float64(b.N), "sys-ms/launch")
		})
	}
}

// telemetryCase is a case of BenchmarkLaunchOverheadTelemetry.
type telemetryCase struct {
	name            string
	traces, metrics bool
	sampler         sdktrace.Sampler // nil: every operation
	omitCalls       bool
}

// telemetryCases are the cases TestLaunchTelemetryWork can run.
var telemetryCases = map[string]telemetryCase{
	"off": {name: "off"}, "traces": {name: "traces", traces: true}, "metrics": {name: "metrics", metrics: true},
	"on": {name: "on", traces: true, metrics: true}, "on-nocalls": {name: "on-nocalls", traces: true, metrics: true, omitCalls: true},
}

// telemetryBenchEnv is the executor of BenchmarkLaunchOverheadTelemetry
// over a fresh memory store and simulated runtime, with telemetry as tc
// says (exp takes the spans), and a product of 10 tiers of perTier
// stacks of 5 services.
func telemetryBenchEnv(tb testing.TB, tc telemetryCase, exp sdktrace.SpanExporter, perTier int) (*deploy.Executor, string) {
	tb.Helper()
	opts := &deploy.Options{Concurrency: 8, OmitCallSpans: tc.omitCalls}
	if tc.traces {
		sampler := tc.sampler
		if sampler == nil {
			sampler = sdktrace.AlwaysSample()
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.ParentBased(sampler)))
		tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts.TracerProvider = tp
	}
	if tc.metrics {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		opts.MeterProvider = mp
	}
	st := memory.New(nil)
	ctx := context.Background()
	p, err := st.CreateProduct(ctx, &product.Product{Name: "bench", ProviderName: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: wideDeps(10, perTier, 5)})
	if err != nil {
		tb.Fatal(err)
	}
	ex := deploy.New(sim.New(nil), st, opts)
	tb.Cleanup(func() { ex.Close() })
	return ex, v.ID
}

// countingExporter counts the spans it is given by name and drops them.
type countingExporter struct {
	mu    sync.Mutex
	spans map[string]int
}

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		e.spans[s.Name()]++
	}
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error { return nil }

// TestLaunchTelemetryWork launches the product of
// BenchmarkLaunchOverheadTelemetry with the telemetry of each of its
// cases, inside a synctest bubble, and checks that every launch made the
// spans it should. It is the fixed amount of work that an instruction
// count measures (see BENCHMARKS.md, "engine telemetry"): in a bubble,
// time moves only when every goroutine waits, so the recorder's batching
// of store writes (every 5 ms of the clock) and the span batcher's timer
// do the same work however fast the machine, or valgrind, runs the
// launches. By default each case launches 10 tiers of 3 stacks once;
// STACKWAVE_TELEMETRY_WORK="CASE N" (for example "on 11") launches the
// benchmark's 1,000 stacks N times in case CASE only.
func TestLaunchTelemetryWork(t *testing.T) {
	cases, launches, perTier := []string{"off", "traces", "metrics", "on", "on-nocalls"}, 1, 3
	if w := os.Getenv("STACKWAVE_TELEMETRY_WORK"); w != "" {
		var c string
		if _, err := fmt.Sscanf(w, "%s %d", &c, &launches); err != nil || launches < 1 {
			t.Fatalf("STACKWAVE_TELEMETRY_WORK=%q: want a case and a number of launches, as in \"on 11\"", w)
		}
		cases, perTier = []string{c}, 100
	}
	for _, c := range cases {
		tc, ok := telemetryCases[c]
		if !ok {
			t.Fatalf("case %q: want off, traces, metrics, on or on-nocalls", c)
		}
		t.Run("otel="+c, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				exp := &countingExporter{spans: map[string]int{}}
				if tc.traces {
					// Spans reach the exporter when the provider shuts
					// down, in a cleanup registered after this one.
					t.Cleanup(func() {
						stacks, calls, creates := 10*perTier*launches, 10*perTier*launches, launches
						if tc.omitCalls {
							calls, creates = 0, 0
						}
						for name, want := range map[string]int{
							"stackwave.launch": launches, "stackwave.tier.0": launches, "stackwave.tier.9": launches,
							"stackwave.stack": stacks, "stackwave.runtime.apply": calls, "stackwave.runtime.wait": calls,
							"stackwave.store.create_deployment": creates,
						} {
							if got := exp.spans[name]; got != want {
								t.Errorf("%d spans %s, want %d (all: %v)", got, name, want, exp.spans)
							}
						}
					})
				}
				ex, vid := telemetryBenchEnv(t, tc, exp, perTier)
				for i := range launches {
					if _, err := ex.Launch(context.Background(), deploy.Request{Deployment: fmt.Sprintf("d%d", i), VersionID: vid}); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sysTime returns the CPU time the process has used in the kernel.
func sysTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Stime.Nano())
}

// BenchmarkStackSpansSDK is the tracing SDK's own cost for one stack of a
// launch, without the engine: the spans the executor makes per stack (the
// stack's, with its name, and its apply and wait calls below it), started
// and ended on the SDK set up as in BenchmarkLaunchOverheadTelemetry. Times
// 1,000 it is the floor of what tracing adds to a launch of that benchmark.
func BenchmarkStackSpansSDK(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr := tp.Tracer("bench")
	ctx, op := tr.Start(context.Background(), "stackwave.launch")
	defer op.End()
	ctx, tier := tr.Start(ctx, "stackwave.tier.0")
	defer tier.End()
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	internal := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	client := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		sctx, ss := tr.Start(ctx, "stackwave.stack", internal...)
		ss.SetAttributes(attribute.String("stackwave.stack", "web"))
		sstop := trace.ContextWithSpan(stopCtx, ss)
		_, apply := tr.Start(sctx, "stackwave.runtime.apply", client...)
		apply.End()
		_, wait := tr.Start(sstop, "stackwave.runtime.wait", client...)
		wait.End()
		ss.End()
	}
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/stack")
}

//go:build unix

package deploy_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
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
// and with both but no operation sampled.
func BenchmarkLaunchOverheadTelemetry(b *testing.B) {
	for _, tc := range []struct {
		name            string
		traces, metrics bool
		sampler         sdktrace.Sampler
	}{
		{"off", false, false, nil}, {"traces", true, false, nil}, {"metrics", false, true, nil}, {"on", true, true, nil},
		// Operations not sampled: metrics and the operation's span only.
		{"on-unsampled", true, true, sdktrace.NeverSample()},
	} {
		b.Run("otel="+tc.name, func(b *testing.B) {
			opts := &deploy.Options{Concurrency: 8}
			if tc.traces {
				sampler := sdktrace.ParentBased(sdktrace.AlwaysSample())
				if tc.sampler != nil {
					sampler = sdktrace.ParentBased(tc.sampler)
				}
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}), sdktrace.WithSampler(sampler))
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				opts.TracerProvider = tp
			}
			if tc.metrics {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
				opts.MeterProvider = mp
			}
			st := memory.New(nil)
			ctx := context.Background()
			p, err := st.CreateProduct(ctx, &product.Product{Name: "bench", ProviderName: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: wideDeps(10, 100, 5)})
			if err != nil {
				b.Fatal(err)
			}
			ex := deploy.New(sim.New(nil), st, opts)
			b.Cleanup(func() { ex.Close() })
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := ex.Launch(ctx, deploy.Request{Deployment: fmt.Sprintf("d%d", i), VersionID: v.ID}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/launch")
			// On a shared machine the wall clock mostly measures the
			// other work; the process's CPU time (every goroutine, the
			// garbage collector and the span batcher included) does not.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/launch")
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

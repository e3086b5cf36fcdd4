package api

import (
	"context"
	"net/http/httptest"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/stackwave/stackwave/store/memory"
)

// BenchmarkRequestTelemetry measures what the trace and metrics
// middleware adds to a small request (GET /api/products on an empty
// catalog): without it (bare), with otel's default no-op providers
// (noop), and with SDK providers recording every span and metric
// (sdk).
func BenchmarkRequestTelemetry(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	for _, bc := range []struct {
		name string
		opts Options
		bare bool
	}{
		{"bare", Options{}, true},
		{"noop", Options{}, false},
		{"sdk", Options{TracerProvider: tp, MeterProvider: mp}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := New(memory.New(nil), nil, &bc.opts)
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", "/api/products", nil)
				r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
				w := httptest.NewRecorder()
				if bc.bare {
					r.Pattern = "GET /api/products"
					s.serve(w, r)
				} else {
					s.ServeHTTP(w, r)
				}
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}

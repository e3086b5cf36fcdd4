// Command observe shows the executor's OpenTelemetry traces and metrics:
// a product launched on the simulated runtime, its spans printed as a
// tree and its metrics as a table. The program installs the SDK's
// providers as otel's global ones, which the executor uses when
// deploy.Options names none; a real control plane installs exporters
// (OTLP, Prometheus) in their place, or passes providers in
// deploy.Options.TracerProvider and MeterProvider.
//
//	go run ./examples/observe
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// Spans go to memory and metrics are read on demand; swap in
	// otlptracehttp and a periodic reader with an OTLP or Prometheus
	// exporter to send them on.
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = tp.Shutdown(ctx); _ = mp.Shutdown(ctx) }()
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)

	st := memory.New(nil)
	ex := deploy.New(sim.New(nil), st, nil) // nil options: otel's global providers
	defer ex.Close()
	p, err := st.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "example"})
	if err != nil {
		return err
	}
	svc := func(name string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "shop/" + name, Tag: "1.0"}}
	}
	deps := stack.Deps{
		{{Name: "db", Services: []stack.Service{svc("postgres")},
			InitScripts: []stack.InitScript{{ServiceName: "postgres", Command: []string{"migrate"}}}}},
		{{Name: "api", Services: []stack.Service{svc("server")}}, {Name: "worker", Services: []stack.Service{svc("jobs")}}},
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "1.0", Active: true, StackDeps: deps})
	if err != nil {
		return err
	}

	// The caller's span is the parent of the operation's.
	ctx, span := tp.Tracer("example").Start(ctx, "deploy shop")
	_, err = ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v.ID})
	span.End()
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "spans:")
	printTree(out, spans.GetSpans())
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Fprintln(out, "metrics:")
	printMetrics(out, rm)
	return nil
}

// printTree prints spans as a tree, children sorted by name, with the
// stack a span is about; store calls, whose number depends on timing
// (record writes are coalesced), appear once per name. Events go in the
// record writes (update_deployment); the append_events calls of events
// alone, made only when the record had not changed meanwhile, depend on
// timing too and are left out.
func printTree(out io.Writer, spans tracetest.SpanStubs) {
	label := func(s tracetest.SpanStub) string {
		l := s.Name
		for _, kv := range s.Attributes {
			if kv.Key == "stackwave.stack" || kv.Key == "stackwave.deployment" {
				l += " " + string(kv.Key) + "=" + kv.Value.Emit()
			}
		}
		return l
	}
	var walk func(parent tracetest.SpanStub, depth int)
	walk = func(parent tracetest.SpanStub, depth int) {
		var kids []string
		byLabel := map[string]tracetest.SpanStub{}
		for _, s := range spans {
			if s.Parent.SpanID() == parent.SpanContext.SpanID() && s.Parent.IsValid() && s.Name != "stackwave.store.append_events" {
				l := label(s)
				if _, dup := byLabel[l]; !dup {
					kids = append(kids, l)
				}
				byLabel[l] = s
			}
		}
		slices.Sort(kids)
		for _, l := range kids {
			fmt.Fprintf(out, "%s%s\n", strings.Repeat("  ", depth+1), l)
			walk(byLabel[l], depth+1)
		}
	}
	for _, s := range spans {
		if !s.Parent.IsValid() {
			fmt.Fprintf(out, "  %s\n", label(s))
			walk(s, 1)
		}
	}
}

// printMetrics prints the executor's metrics: name, unit and the number
// of measurements (histograms) or the value (sums) per attribute set.
func printMetrics(out io.Writer, rm metricdata.ResourceMetrics) {
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s [%s] %s count=%d", m.Name, m.Unit, attrs(dp.Attributes.ToSlice()), dp.Count))
				}
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s [%s] %s value=%d", m.Name, m.Unit, attrs(dp.Attributes.ToSlice()), dp.Value))
				}
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Fprintf(out, "  %s\n", l)
	}
}

func attrs(kvs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

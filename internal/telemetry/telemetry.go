// Package telemetry builds the OpenTelemetry providers of stackwave
// serve: a meter provider whose metrics are served in the Prometheus text
// format, and, when the standard OTEL_EXPORTER_OTLP_* variables name an
// endpoint, OTLP over HTTP exporters of traces and metrics. With none of
// them set nothing leaves the process: traces are not recorded and
// metrics are only served.
//
// The variables read here are those of the OpenTelemetry specification:
// OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER
// ("otlp", the default, or "none"), OTEL_EXPORTER_OTLP_ENDPOINT and
// OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT, and
// OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL
// (only "http/protobuf"); the exporters read the others themselves
// (headers, timeout, compression, certificates), as does the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES). Metrics go out every
// OTEL_METRIC_EXPORT_INTERVAL milliseconds (60000 by default).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the service.name of the resource unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const ServiceName = "stackwave"

// Options configure New. The settings of export are read from the
// process's environment, by New and by the exporters alike.
type Options struct {
	// Version is the service.version of the resource; empty leaves it
	// out.
	Version string
}

// Providers are the providers of a process, and what serves and stops
// them. Give TracerProvider, MeterProvider and Propagator to the
// components that trace and measure (api.Options, deploy.Options), and
// call Shutdown last: it flushes what is still to be exported.
type Providers struct {
	// TracerProvider records spans and exports them over OTLP; a no-op
	// provider when no OTLP endpoint is set for traces.
	TracerProvider trace.TracerProvider
	// MeterProvider records metrics for Metrics and, when an OTLP
	// endpoint is set for metrics, exports them.
	MeterProvider metric.MeterProvider
	// Propagator reads and writes W3C Trace Context and Baggage.
	Propagator propagation.TextMapPropagator
	// Metrics serves the Prometheus text exposition of MeterProvider's
	// metrics and of the Go runtime's and the process's.
	Metrics http.Handler
	// Exporting names what goes out over OTLP ("traces", "metrics"),
	// with the endpoint it goes to; empty when nothing does.
	Exporting []string

	shutdown []func(context.Context) error
}

// New returns the providers the environment asks for. It fails on
// settings it does not support (an exporter other than otlp or none, a
// protocol other than http/protobuf) rather than export nothing silently.
func New(ctx context.Context, o *Options) (*Providers, error) {
	if o == nil {
		o = &Options{}
	}
	getenv := os.Getenv
	res, err := newResource(ctx, o.Version)
	if err != nil {
		return nil, err
	}
	p := &Providers{
		TracerProvider: noop.NewTracerProvider(),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	traces, err := otlpWanted(getenv, "TRACES")
	if err != nil {
		return nil, err
	}
	metrics, err := otlpWanted(getenv, "METRICS")
	if err != nil {
		return nil, err
	}

	if traces != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		p.TracerProvider = tp
		p.shutdown = append(p.shutdown, tp.Shutdown)
		p.Exporting = append(p.Exporting, "traces to "+traces)
	}

	reg := prom.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExp, err := prometheus.New(prometheus.WithRegisterer(reg))
	if err != nil {
		_ = p.Shutdown(ctx)
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	readers := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExp)}
	if metrics != "" {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			_ = p.Shutdown(ctx)
			return nil, fmt.Errorf("OTLP metric exporter: %w", err)
		}
		readers = append(readers, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		p.Exporting = append(p.Exporting, "metrics to "+metrics)
	}
	mp := sdkmetric.NewMeterProvider(readers...)
	p.MeterProvider = mp
	// The meter provider shuts down first: its last export may be traced.
	p.shutdown = append([]func(context.Context) error{mp.Shutdown}, p.shutdown...)
	p.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return p, nil
}

// Shutdown exports what is still buffered and stops the providers, within
// ctx's deadline. It returns their errors joined.
func (p *Providers) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range p.shutdown {
		errs = append(errs, f(ctx))
	}
	p.shutdown = nil
	return errors.Join(errs...)
}

// otlpWanted returns where the environment asks signal ("TRACES" or
// "METRICS") to be exported over OTLP, or "" when it does not.
func otlpWanted(getenv func(string) string, signal string) (string, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return "", nil
	}
	name := "OTEL_" + signal + "_EXPORTER"
	switch v := strings.TrimSpace(getenv(name)); v {
	case "", "otlp":
	case "none":
		return "", nil
	default:
		if signal == "METRICS" && v == "prometheus" {
			return "", nil // served on /metrics in any case
		}
		return "", fmt.Errorf("%s=%s: want otlp or none", name, v)
	}
	endpoint := getenv("OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT")
	if endpoint == "" {
		endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint == "" {
		return "", nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			if v != "http/protobuf" {
				return "", fmt.Errorf("%s=%s: stackwave exports OTLP over http/protobuf only", name, v)
			}
			break
		}
	}
	return endpoint, nil
}

// newResource describes the process: service.name stackwave (unless the
// environment names it), its version, the SDK, and the environment's
// resource attributes.
func newResource(ctx context.Context, version string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", ServiceName)}
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	return res, nil
}

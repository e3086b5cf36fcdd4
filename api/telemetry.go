package api

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// MaxRequestIDLength bounds the X-Request-Id a client sends that a
// Server with Options.ReuseRequestID takes as the request's ID.
const MaxRequestIDLength = 128

// ValidRequestID reports whether id may be taken as a request ID when a
// client sends it: 1 to MaxRequestIDLength characters, each an ASCII
// letter, digit, '-', '_', '.', ':' or '@'. Such an ID cannot break a log
// line or a header, whatever the log's format.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '-', b == '_', b == '.', b == ':', b == '@':
		default:
			return false
		}
	}
	return true
}

// requestID returns the ID of r: the client's X-Request-Id when the
// server reuses valid ones, a fresh one otherwise.
func (s *Server) requestID(r *http.Request) string {
	if s.opts.ReuseRequestID {
		if vs := r.Header.Values("X-Request-Id"); len(vs) == 1 && ValidRequestID(vs[0]) {
			return vs[0]
		}
	}
	return s.opts.RequestID()
}

// defaultPropagator reads and writes trace context through otel's global
// propagator once a program has set one, and as W3C Trace Context and
// Baggage (traceparent, tracestate, baggage) until then: the global one
// is a no-op by default, which would drop the caller's trace.
type defaultPropagator struct{}

var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

func (defaultPropagator) current() propagation.TextMapPropagator {
	if p := otel.GetTextMapPropagator(); len(p.Fields()) > 0 {
		return p
	}
	return w3c
}

func (d defaultPropagator) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	d.current().Inject(ctx, carrier)
}

func (d defaultPropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return d.current().Extract(ctx, carrier)
}

func (d defaultPropagator) Fields() []string { return d.current().Fields() }

// propagator returns p, or the default one when p is nil.
func propagator(p propagation.TextMapPropagator) propagation.TextMapPropagator {
	if p == nil {
		return defaultPropagator{}
	}
	return p
}

// traced returns next behind otel's HTTP server instrumentation: the
// trace context of the request is extracted, a server span named by the
// route's pattern ("GET /api/products/{product}", never the raw path) is
// started as its child, and the HTTP server metrics are recorded by
// route. ServeHTTP sets the request's Pattern before calling it.
func (s *Server) traced(next http.Handler) http.Handler {
	opts := []otelhttp.Option{
		otelhttp.WithPropagators(propagator(s.opts.Propagator)),
		otelhttp.WithServerName("stackwave"),
	}
	if s.opts.TracerProvider != nil {
		opts = append(opts, otelhttp.WithTracerProvider(s.opts.TracerProvider))
	}
	if s.opts.MeterProvider != nil {
		opts = append(opts, otelhttp.WithMeterProvider(s.opts.MeterProvider))
	}
	return otelhttp.NewMiddleware("stackwave.api", opts...)(next)
}

// Log attribute keys of a request's trace.
const (
	logTraceID = "trace_id"
	logSpanID  = "span_id"
)

// log writes a record about the call through the server's logger, with
// the request's context (so that a handler may read the span from it),
// its request ID and, when the request is traced, its trace and span IDs.
func (c *call) log(level slog.Level, msg string, args ...any) {
	ctx := c.r.Context()
	l := c.s.log
	if !l.Enabled(ctx, level) {
		return
	}
	head := []any{"request_id", c.id}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		head = append(head, logTraceID, sc.TraceID().String(), logSpanID, sc.SpanID().String())
	}
	args = append(head, args...)
	switch level {
	case slog.LevelError:
		l.ErrorContext(ctx, msg, args...)
	case slog.LevelWarn:
		l.WarnContext(ctx, msg, args...)
	case slog.LevelDebug:
		l.DebugContext(ctx, msg, args...)
	default:
		l.InfoContext(ctx, msg, args...)
	}
}

func (c *call) info(msg string, args ...any)     { c.log(slog.LevelInfo, msg, args...) }
func (c *call) logError(msg string, args ...any) { c.log(slog.LevelError, msg, args...) }

// annotate adds what the API knows of the request to its server span.
func (c *call) annotate(attrs ...attribute.KeyValue) {
	trace.SpanFromContext(c.r.Context()).SetAttributes(attrs...)
}

// Attributes the API sets on a request's server span.
const (
	attrRequestID   = attribute.Key("stackwave.request_id")
	attrDeployment  = attribute.Key("stackwave.deployment")
	attrOperationID = attribute.Key("stackwave.operation_id")
)

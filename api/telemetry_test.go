package api_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/runtime"
)

const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan   = "00f067aa0ba902b7"
	callerParent = "00-" + callerTrace + "-" + callerSpan + "-01"
)

// tracedHarness is a harness whose server records its spans in memory.
func tracedHarness(t *testing.T, o api.Options) (*harness, *tracetest.InMemoryExporter) {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o.TracerProvider = tp
	return newHarness(t, &harnessOptions{api: o}), spans
}

// spanOf returns the one ended span whose request ID attribute is id.
func spanOf(t *testing.T, spans *tracetest.InMemoryExporter, id string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans.GetSpans() {
		for _, a := range s.Attributes {
			if a.Key == "stackwave.request_id" && a.Value.AsString() == id {
				found = append(found, s)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans of request %s in %d spans", len(found), id, len(spans.GetSpans()))
	}
	return found[0]
}

func attr(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestServerSpanContinuesTheCallersTrace: a request carrying W3C trace
// context gets a server span in the caller's trace, child of the
// caller's span, named by its route and not by its path; the request log
// line carries the trace and span IDs.
func TestServerSpanContinuesTheCallersTrace(t *testing.T) {
	h, spans := tracedHarness(t, api.Options{})
	h.create(smallDoc("web"))
	res := h.do("GET", "/api/products/web", "", "Traceparent", callerParent, "Tracestate", "vendor=1")
	if res.status != 200 {
		t.Fatal(res)
	}
	id := res.header.Get("X-Request-Id")
	s := spanOf(t, spans, id)
	if s.Name != "GET /api/products/{product}" {
		t.Errorf("span name %q, want the route's pattern", s.Name)
	}
	if s.SpanKind != trace.SpanKindServer {
		t.Errorf("span kind %v", s.SpanKind)
	}
	if s.SpanContext.TraceID().String() != callerTrace || s.Parent.SpanID().String() != callerSpan || !s.Parent.IsRemote() {
		t.Errorf("span %s parent %s, want a child of the caller's %s-%s", s.SpanContext.TraceID(), s.Parent.SpanID(), callerTrace, callerSpan)
	}
	if s.SpanContext.TraceState().Get("vendor") != "1" {
		t.Errorf("tracestate %q, want the caller's", s.SpanContext.TraceState())
	}
	if v, ok := attr(s, "http.route"); !ok || v.AsString() != "/api/products/{product}" {
		t.Errorf("http.route %v", v.AsString())
	}
	if v, _ := attr(s, "http.response.status_code"); v.AsInt64() != 200 {
		t.Errorf("status attribute %v", v.AsInt64())
	}
	line := logLine(t, h.log.String(), "msg=request request_id="+id+" ")
	for _, want := range []string{"trace_id=" + callerTrace, "span_id=" + s.SpanContext.SpanID().String()} {
		if !strings.Contains(line, want) {
			t.Errorf("the request log lacks %s:\n%s", want, line)
		}
	}

	// A request without trace context starts a trace; one that matches
	// no route is named by its method alone, never by its path.
	res = h.do("GET", "/api/nothing/secret-name", "")
	s = spanOf(t, spans, res.header.Get("X-Request-Id"))
	if s.Name != "GET" || s.Parent.IsValid() || strings.Contains(s.Name, "secret") {
		t.Errorf("unrouted request: span %q parent %v", s.Name, s.Parent)
	}
}

// TestLaunchSpanNamesTheOperation: a launch's server span says which
// deployment and operation it submitted.
func TestLaunchSpanNamesTheOperation(t *testing.T) {
	h, spans := tracedHarness(t, api.Options{})
	_, vid := h.create(smallDoc("web"))
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "shop", "product_version_id": "`+vid+`"}`, &sub, "Traceparent", callerParent)
	s := spanOf(t, spans, sub.RequestID)
	if s.Name != "POST /api/deployments" {
		t.Errorf("span %q", s.Name)
	}
	if v, _ := attr(s, "stackwave.deployment"); v.AsString() != "shop" {
		t.Errorf("deployment attribute %q", v.AsString())
	}
	if v, _ := attr(s, "stackwave.operation_id"); v.AsString() != sub.OperationID {
		t.Errorf("operation attribute %q, want %s", v.AsString(), sub.OperationID)
	}
	h.waitOp("shop", sub.OperationID)
}

// TestPropagatorOption: Options.Propagator decides which headers carry
// the caller's trace.
func TestPropagatorOption(t *testing.T) {
	h, spans := tracedHarness(t, api.Options{Propagator: propagation.Baggage{}})
	res := h.do("GET", "/api/products", "", "Traceparent", callerParent)
	if s := spanOf(t, spans, res.header.Get("X-Request-Id")); s.Parent.IsValid() {
		t.Errorf("a propagator without trace context continued the caller's trace: %v", s.Parent)
	}
}

// TestRequestMetricsByRoute: the HTTP server metrics are recorded by
// route, never by path.
func TestRequestMetricsByRoute(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h := newHarness(t, &harnessOptions{api: api.Options{MeterProvider: mp}})
	h.create(smallDoc("web"))
	h.do("GET", "/api/products/web", "")
	h.do("GET", "/api/products/nope", "")
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.server.request.duration" {
				continue
			}
			hist, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				t.Fatalf("%s: %T", m.Name, m.Data)
			}
			for _, dp := range hist.DataPoints {
				route, _ := dp.Attributes.Value("http.route")
				status, _ := dp.Attributes.Value("http.response.status_code")
				counts[route.AsString()+" "+status.Emit()] += dp.Count
			}
		}
	}
	want := map[string]uint64{"/api/products 200": 1, "/api/products/{product} 200": 1, "/api/products/{product} 404": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d requests, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
}

// TestReuseRequestID: with ReuseRequestID a client's X-Request-Id names
// the request, in the response and the log, when it is short and safe;
// anything else gets a fresh ID.
func TestReuseRequestID(t *testing.T) {
	h := newHarness(t, &harnessOptions{api: api.Options{ReuseRequestID: true}})
	res := h.do("GET", "/api/products", "", "X-Request-Id", "proxy-1.2:3_a@b")
	if got := res.header.Get("X-Request-Id"); got != "proxy-1.2:3_a@b" {
		t.Errorf("X-Request-Id %q, want the client's", got)
	}
	logLine(t, h.log.String(), "msg=request request_id=proxy-1.2:3_a@b ")
	e := wantError(t, h.do("GET", "/api/products/nope", "", "X-Request-Id", "mine-404"), 404, api.MsgNotFound)
	if e.RequestID != "mine-404" {
		t.Errorf("body request_id %q", e.RequestID)
	}
	for _, bad := range []string{"", strings.Repeat("a", api.MaxRequestIDLength+1), "a b", "a\"b", "a\nmsg=forged", "é", "a/b"} {
		res := h.do("GET", "/api/products", "", "X-Request-Id", bad)
		if got := res.header.Get("X-Request-Id"); got == bad || !strings.HasPrefix(got, "req-") {
			t.Errorf("X-Request-Id %q answered %q, want a fresh ID", bad, got)
		}
	}
	if !api.ValidRequestID(strings.Repeat("a", api.MaxRequestIDLength)) {
		t.Error("an ID of MaxRequestIDLength is refused")
	}
	// Two IDs: neither is taken.
	req := httptest.NewRequest("GET", "/api/products", nil)
	req.Header.Add("X-Request-Id", "one")
	req.Header.Add("X-Request-Id", "two")
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); !strings.HasPrefix(got, "req-") {
		t.Errorf("two X-Request-Id headers answered %q", got)
	}

	// Without the option the client's ID is not taken.
	h = newHarness(t, nil)
	if got := h.do("GET", "/api/products", "", "X-Request-Id", "proxy-1").header.Get("X-Request-Id"); got == "proxy-1" {
		t.Errorf("the client's ID was taken without ReuseRequestID")
	}
}

// contextRecorder is a slog handler that keeps each record with the
// context it was logged with.
type contextRecorder struct {
	mu      *sync.Mutex
	records *[]ctxRecord
}

type ctxRecord struct {
	ctx   context.Context
	msg   string
	attrs map[string]string
}

func (h contextRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h contextRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h contextRecorder) WithGroup(string) slog.Handler            { return h }
func (h contextRecorder) Handle(ctx context.Context, r slog.Record) error {
	rec := ctxRecord{ctx: ctx, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, rec)
	return nil
}

// TestLogsCarryTheRequestContext: every record the API logs about a
// request is logged with the request's context, which holds its span,
// and carries its request and trace IDs.
func TestLogsCarryTheRequestContext(t *testing.T) {
	var mu sync.Mutex
	var records []ctxRecord
	toks, err := auth.ParseTokens(strings.NewReader(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := tracedHarness(t, api.Options{
		Logger:        slog.New(contextRecorder{&mu, &records}),
		Authenticator: toks, Authorizer: mustPolicy(t, policyFile),
	})
	const alice = "Bearer alice-0123456789abcdef"
	_, vid := h.create(smallDoc("web"), "Authorization", alice, "Traceparent", callerParent)
	h.do("DELETE", "/api/products/web", "", "Authorization", "Bearer eve-0123456789abcdef", "Traceparent", callerParent)
	h.do("POST", "/api/products", "{", "Authorization", alice, "Traceparent", callerParent)
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "shop", "product_version_id": "`+vid+`"}`, &sub, "Authorization", alice, "Traceparent", callerParent)
	h.waitOp("shop", sub.OperationID)

	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, r := range records {
		seen[r.msg] = true
		sc := trace.SpanContextFromContext(r.ctx)
		if !sc.IsValid() || sc.TraceID().String() != callerTrace {
			t.Errorf("%q logged without the request's span in its context", r.msg)
		}
		if r.attrs["request_id"] == "" || r.attrs["trace_id"] != callerTrace || r.attrs["span_id"] != sc.SpanID().String() {
			t.Errorf("%q: attributes %v, want request_id, trace_id %s and span_id %s", r.msg, r.attrs, callerTrace, sc.SpanID())
		}
	}
	for _, msg := range []string{"request", "audit", "request refused", "operation submitted"} {
		if !seen[msg] {
			t.Errorf("no %q record among %d", msg, len(records))
		}
	}
}

// wordyRules is a custom authorizer that says why in its own words.
type wordyRules struct{ refuser bool }

func (wordyRules) Authorize(_ context.Context, p *auth.Principal, action, res string) error {
	if p.Name == "alice" {
		return nil
	}
	if p.Name == "dave" && action == api.ActionCreateProduct && res != "swn:product/zed" {
		return nil
	}
	return &auth.DeniedError{Principal: p.Name, Action: action, Resource: res, Reason: "ticket TCK-9 is not approved"}
}

// refusingRules is wordyRules that also words the API's refusals.
type refusingRules struct{ wordyRules }

func (refusingRules) Refuse(_ context.Context, p *auth.Principal, action, res string) error {
	return &auth.DeniedError{Principal: p.Name, Action: action, Resource: res, Reason: "ticket TCK-9 is not approved"}
}

// TestCustomDenialInItsOwnWords: a custom authorizer's refusal reaches
// the caller in its words, never in the built-in policy's ("statement");
// a name taken by a hidden product is refused as the authorizer would
// refuse it when it is an auth.Refuser, and the built-in policy keeps its
// words.
func TestCustomDenialInItsOwnWords(t *testing.T) {
	const (
		dave = "Bearer dave-0123456789abcdef"
		doc  = `{"product_name": "{N}", "stack_deps": [[{"stack_name": "web", "services": [{"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}}]}]]}`
	)
	for _, tc := range []struct {
		name    string
		az      auth.Authorizer
		refused string // what the refusal of zed says
		taken   string // what the refusal of the taken name keep says
	}{
		{"custom", wordyRules{}, "dave may not perform stackwave:CreateProduct on swn:product/zed: ticket TCK-9 is not approved",
			"dave may not perform stackwave:CreateProduct on swn:product/keep"},
		{"refuser", refusingRules{}, "dave may not perform stackwave:CreateProduct on swn:product/zed: ticket TCK-9 is not approved",
			"dave may not perform stackwave:CreateProduct on swn:product/keep: ticket TCK-9 is not approved"},
		{"policy", mustPolicy(t, `{"Statement": [{"Effect": "Allow", "Principal": "dave", "Action": "stackwave:CreateProduct", "Resource": ["swn:product/?", "swn:product/keep"]}]}`),
			"dave may not perform stackwave:CreateProduct on swn:product/zed: no statement allows it",
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newDenyHarness(t, tc.az) // product "keep"
			res := h.do("POST", "/api/products", strings.ReplaceAll(doc, "{N}", "zed"), "Authorization", dave)
			e := wantError(t, res, 403, api.MsgForbidden)
			if len(e.Details) != 1 || e.Details[0].Type != api.TypeDenied || e.Details[0].Detail != tc.refused {
				t.Errorf("refusal: %s\nwant the detail %q", res, tc.refused)
			}
			if tc.taken == "" {
				return
			}
			res = h.do("POST", "/api/products", strings.ReplaceAll(doc, "{N}", "keep"), "Authorization", dave)
			e = wantError(t, res, 403, api.MsgForbidden)
			if len(e.Details) != 1 || e.Details[0].Detail != tc.taken || strings.Contains(string(res.body), "statement") {
				t.Errorf("taken name: %s\nwant the detail %q", res, tc.taken)
			}
		})
	}
}

// TestClientTransportAndCredentials: a Client sends through the
// http.Client it is given, authenticates with its Authenticate function
// instead of a bearer token, and passes the trace context of ctx on.
func TestClientTransportAndCredentials(t *testing.T) {
	h := newHarness(t, nil)
	var mu sync.Mutex
	var seen []http.Header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		h.srv.ServeHTTP(w, r)
	}))
	defer ts.Close()
	var sent int
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		sent++
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := api.NewClient(ts.URL, hc)
	c.Authenticate = func(r *http.Request) error {
		r.Header.Set("X-Signature", "sig:"+r.Method+" "+r.URL.Path)
		return nil
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: mustTraceID(t, callerTrace), SpanID: mustSpanID(t, callerSpan), TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	if _, err := c.CreateProduct(ctx, []byte(smallDoc("web"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logs(ctx, "nope", runtime.LogQuery{}); !api.IsStatus(err, 404) {
		t.Fatalf("logs of a missing deployment: %v", err)
	}
	if sent != 2 {
		t.Errorf("%d requests through the given http.Client, want 2", sent)
	}
	mu.Lock()
	for i, hd := range seen {
		if hd.Get("X-Signature") == "" || hd.Get("Authorization") != "" {
			t.Errorf("request %d: credentials %q, Authorization %q", i, hd.Get("X-Signature"), hd.Get("Authorization"))
		}
		if hd.Get("Traceparent") != callerParent {
			t.Errorf("request %d: traceparent %q, want %q", i, hd.Get("Traceparent"), callerParent)
		}
	}
	mu.Unlock()

	// An error of Authenticate stops the request.
	c.Authenticate = func(*http.Request) error { return errors.New("no key") }
	if _, err := c.GetProduct(ctx, "web"); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("got %v", err)
	}
	if sent != 2 {
		t.Errorf("a request was sent after Authenticate failed")
	}
	// The fields of the existing literal form still work.
	old := &api.Client{URL: ts.URL, Token: "t0k"}
	if _, err := old.GetProduct(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen[len(seen)-1].Get("Authorization"); got != "Bearer t0k" {
		t.Errorf("Authorization %q", got)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func mustTraceID(t *testing.T, s string) trace.TraceID {
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSpanID(t *testing.T, s string) trace.SpanID {
	id, err := trace.SpanIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// logLine returns the log line holding want, failing the test if none.
func logLine(t *testing.T, log, want string) string {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, want) {
			return line
		}
	}
	t.Fatalf("no log line holds %q:\n%s", want, log)
	return ""
}

// TestMetricsRoute: GET /metrics serves Options.Metrics to callers
// allowed stackwave:ReadMetrics, and refuses the others as any route
// does.
func TestMetricsRoute(t *testing.T) {
	toks, err := auth.ParseTokens(strings.NewReader(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	pol := mustPolicy(t, `{"Statement": [
  {"Effect": "Allow", "Principal": "bob", "Action": "stackwave:ReadMetrics", "Resource": "swn:metrics"},
  {"Effect": "Allow", "Principal": "alice", "Action": "stackwave:Get*", "Resource": "*"}]}`)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("up 1\n"))
	})
	h := newHarness(t, &harnessOptions{api: api.Options{Authenticator: toks, Authorizer: pol, Metrics: metrics}})
	if res := h.do("GET", "/metrics", "", "Authorization", "Bearer bob-0123456789abcdef"); res.status != 200 || string(res.body) != "up 1\n" {
		t.Errorf("bob: %s", res)
	}
	e := wantError(t, h.do("GET", "/metrics", "", "Authorization", "Bearer alice-0123456789abcdef"), 403, api.MsgForbidden)
	if len(e.Details) != 1 || !strings.Contains(e.Details[0].Detail, "alice may not perform stackwave:ReadMetrics on swn:metrics") {
		t.Errorf("alice: %+v", e)
	}
	wantError(t, h.do("GET", "/metrics", ""), 401, api.MsgUnauthorized)
	if !strings.Contains(h.log.String(), "action=stackwave:ReadMetrics resource=swn:metrics outcome=denied") {
		t.Errorf("no audit of the refusal:\n%s", h.log.String())
	}

	// Without Options.Metrics there is no such route.
	h = newHarness(t, nil)
	wantError(t, h.do("GET", "/metrics", ""), 404, api.MsgNotFound)
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	collmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// These tests run `stackwave serve` as a real process on the memory
// store and runtime, and check what it tells about itself: Prometheus
// metrics on /metrics, and traces and metrics over OTLP when the
// standard variables ask for them.

// startMemoryServe starts `stackwave serve --runtime memory --store
// memory:` on a free loopback port with the extra environment and
// arguments, and returns once it says where it listens.
func startMemoryServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startServeIn(t, "", append(os.Environ(), env...), append([]string{"--runtime", "memory", "--store", "memory:"}, args...)...)
}

// stop ends serve as an operator does, with SIGTERM, and waits for it to
// exit (a generous deadline, only as a last guard).
func (p *process) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(2 * time.Minute):
		p.t.Fatalf("serve did not stop:\n%s", p.output())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("serve exited %d:\n%s", code, p.output())
	}
}

// request sends a request and returns its status and body.
func (p *process) request(method, path, token, body string, headers ...string) (int, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", method, path, err, p.output())
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

const obsDoc = `{"product_name": "obs-web", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}}]}]]}`

// TestServeMetricsEndToEnd: serve answers /metrics in the Prometheus
// format with the requests it served, by route and never by path, to a
// principal allowed stackwave:ReadMetrics, and refuses it to others.
func TestServeMetricsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(tokens, []byte("admin-0123456789abcdef admin\nscraper-0123456789abcdef scraper\nreader-0123456789abcdef reader\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, []byte(`{"Statement": [
  {"Effect": "Allow", "Principal": "admin", "Action": "stackwave:*", "Resource": "*"},
  {"Effect": "Allow", "Principal": "scraper", "Action": "stackwave:ReadMetrics", "Resource": "swn:metrics"},
  {"Effect": "Allow", "Principal": "reader", "Action": ["stackwave:Get*", "stackwave:List*"], "Resource": "*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startMemoryServe(t, nil, "--tokens", tokens, "--policy", policy)
	const admin, scraper, reader = "admin-0123456789abcdef", "scraper-0123456789abcdef", "reader-0123456789abcdef"
	code, body := p.request("POST", "/api/products", admin, obsDoc)
	if code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	// A launch, followed to its end, puts the executor's own metrics on
	// the same endpoint.
	var created struct {
		VersionID string `json:"product_version_id"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	code, body = p.request("POST", "/api/deployments", admin, `{"name": "obs", "product_version_id": "`+created.VersionID+`"}`)
	if code != 200 {
		t.Fatalf("launch: %d %s", code, body)
	}
	var launched struct {
		OperationID string `json:"operation_id"`
	}
	if err := json.Unmarshal([]byte(body), &launched); err != nil {
		t.Fatal(err)
	}
	waitEventAs(t, p.url, admin, "obs", launched.OperationID, operationEnds)
	for range 2 {
		if code, body := p.request("GET", "/api/products/obs-web", reader, ""); code != 200 {
			t.Fatalf("get: %d %s", code, body)
		}
	}
	if code, _ := p.request("GET", "/api/products/obs-missing", reader, ""); code != 404 {
		t.Fatalf("get a missing product: %d", code)
	}

	code, metrics := p.request("GET", "/metrics", scraper, "")
	if code != 200 {
		t.Fatalf("scrape: %d %s", code, metrics)
	}
	for _, want := range []string{
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/api/products/{product}"`,
		`http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="404",http_route="/api/products/{product}"`,
		`http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="200",http_route="/api/products"`,
		`http_server_request_duration_seconds_bucket{`,
		`target_info{`, `service_name="stackwave"`,
		`go_goroutines `,
		`stackwave_operation_duration_seconds_count{`, `stackwave_operation_type="launch"`,
		`stackwave_stack_ready_duration_seconds_count{`,
		`stackwave_runtime_call_duration_seconds_count{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if line := metricLine(metrics, `http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/api/products/{product}"`); !strings.HasSuffix(line, "} 2") {
		t.Errorf("GET /api/products/{product} 200 counted as %q, want 2", line)
	}
	for _, leak := range []string{"obs-web", "obs-missing"} {
		if strings.Contains(metrics, leak) {
			t.Errorf("/metrics names %q: it must count routes, not paths", leak)
		}
	}

	if code, body := p.request("GET", "/metrics", reader, ""); code != 403 || !strings.Contains(body, "reader may not perform stackwave:ReadMetrics on swn:metrics") {
		t.Errorf("a principal without ReadMetrics: %d %s", code, body)
	}
	if code, _ := p.request("GET", "/metrics", "", ""); code != 401 {
		t.Errorf("no credentials: %d", code)
	}
	p.stop()
	if !strings.Contains(p.output(), "action=stackwave:ReadMetrics resource=swn:metrics outcome=denied") {
		t.Errorf("the refusal is not audited:\n%s", p.output())
	}
}

// metricLine returns the exposition line that starts with prefix.
func metricLine(metrics, prefix string) string {
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

// collector is an OTLP/HTTP receiver: it keeps the bodies posted to
// /v1/traces and /v1/metrics.
type collector struct {
	mu     sync.Mutex
	traces []*colltrace.ExportTraceServiceRequest
	mets   []*collmetrics.ExportMetricsServiceRequest
	errs   []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs = append(c.errs, err.Error())
		return
	}
	switch r.URL.Path {
	case "/v1/traces":
		m := new(colltrace.ExportTraceServiceRequest)
		if err := proto.Unmarshal(b, m); err != nil {
			c.errs = append(c.errs, "traces: "+err.Error())
		}
		c.traces = append(c.traces, m)
	case "/v1/metrics":
		m := new(collmetrics.ExportMetricsServiceRequest)
		if err := proto.Unmarshal(b, m); err != nil {
			c.errs = append(c.errs, "metrics: "+err.Error())
		}
		c.mets = append(c.mets, m)
	default:
		c.errs = append(c.errs, "unexpected path "+r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// TestServeExportsOverOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, serve
// exports the server span of a request, in the caller's trace, and its
// metrics over OTLP/HTTP, at the latest when it shuts down; /metrics
// stays open on loopback without a policy, as every route is.
func TestServeExportsOverOTLP(t *testing.T) {
	col := &collector{}
	ts := httptest.NewServer(col)
	defer ts.Close()
	p := startMemoryServe(t, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + ts.URL, "OTEL_SERVICE_NAME=stackwave-e2e"})
	if !strings.Contains(p.output(), "exporting traces to "+ts.URL) || !strings.Contains(p.output(), "exporting metrics to "+ts.URL) {
		t.Errorf("serve does not say what it exports:\n%s", p.output())
	}
	const trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if code, body := p.request("GET", "/api/products", "", "", "Traceparent", "00-"+trace+"-"+parent+"-01"); code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := p.request("GET", "/metrics", "", ""); code != 200 {
		t.Errorf("/metrics on loopback without a policy: %d", code)
	}
	p.stop() // flushes the exporters

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.errs) > 0 {
		t.Errorf("collector: %v", col.errs)
	}
	found := false
	for _, req := range col.traces {
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.GetAttributes() {
				if a.Key == "service.name" {
					service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					if s.Name == "GET /api/products" {
						found = true
						if got := hexOf(s.TraceId); got != trace || hexOf(s.ParentSpanId) != parent {
							t.Errorf("span in trace %s under %s, want the caller's %s under %s", got, hexOf(s.ParentSpanId), trace, parent)
						}
						if service != "stackwave-e2e" {
							t.Errorf("service.name %q, want OTEL_SERVICE_NAME's", service)
						}
					}
				}
			}
		}
	}
	if !found {
		t.Errorf("no span GET /api/products among %d trace exports:\n%s", len(col.traces), p.output())
	}
	names := map[string]bool{}
	for _, req := range col.mets {
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					names[m.Name] = true
				}
			}
		}
	}
	if !names["http.server.request.duration"] {
		t.Errorf("metrics exported: %v, want http.server.request.duration", names)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestServeRefusesUnsupportedExport: an OTEL setting serve cannot honour
// stops it at start, naming the variable, rather than exporting nothing.
func TestServeRefusesUnsupportedExport(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	code, _, stderr := cli(t, "", "serve", "--runtime", "memory", "--store", "memory:", "--addr", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(stderr, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clearEnv unsets the variables New reads, for the test.
func clearEnv(t *testing.T) {
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
}

// TestNothingExportedByDefault: without OTLP variables nothing is
// exported, spans are not recorded, and metrics are served.
func TestNothingExportedByDefault(t *testing.T) {
	clearEnv(t)
	p, err := New(context.Background(), &Options{Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	if len(p.Exporting) != 0 {
		t.Errorf("exporting %v", p.Exporting)
	}
	if _, ok := p.TracerProvider.(noop.TracerProvider); !ok {
		t.Errorf("tracer provider %T, want a no-op one", p.TracerProvider)
	}
	c, _ := p.MeterProvider.Meter("test").Int64Counter("stackwave.test.things", nil...)
	c.Add(context.Background(), 3)
	rec := httptest.NewRecorder()
	p.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{"stackwave_test_things_total", `service_name="stackwave"`, `service_version="v1.2.3"`, "go_goroutines", "process_"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// TestExportSettings: the endpoint variables turn export on per signal,
// "none" and OTEL_SDK_DISABLED turn it off, and what is not supported is
// refused, naming the variable.
func TestExportSettings(t *testing.T) {
	// A receiver that takes every export: shutting down exports what the
	// meter provider holds.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer ts.Close()
	for _, tc := range []struct {
		env     map[string]string
		want    string // Exporting, joined
		wantErr string
	}{
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{URL}"},
			want: "traces to {URL}, metrics to {URL}"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "{URL}/v1/traces"},
			want: "traces to {URL}/v1/traces"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{URL}", "OTEL_METRICS_EXPORTER": "none"},
			want: "traces to {URL}"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{URL}", "OTEL_SDK_DISABLED": "true"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "{URL}", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			want: "traces to {URL}, metrics to {URL}"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: stackwave exports OTLP over http/protobuf only"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			wantErr: "OTEL_TRACES_EXPORTER=zipkin: want otlp or none"},
	} {
		clearEnv(t)
		for k, v := range tc.env {
			t.Setenv(k, strings.ReplaceAll(v, "{URL}", ts.URL))
		}
		tc.want = strings.ReplaceAll(tc.want, "{URL}", ts.URL)
		p, err := New(context.Background(), nil)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%v: got %v, want %s", tc.env, err, tc.wantErr)
			}
			if p != nil {
				_ = p.Shutdown(context.Background())
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if got := strings.Join(p.Exporting, ", "); got != tc.want {
			t.Errorf("%v: exporting %q, want %q", tc.env, got, tc.want)
		}
		// Nothing was recorded: shutting down exports nothing, and
		// stops the exporters' goroutines (goleak checks).
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("%v: shutdown: %v", tc.env, err)
		}
	}
}

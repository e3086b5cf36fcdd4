package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// seedDoc is the seed product: the document control planes send today.
func seedDoc(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../examples/kodo-double.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seedLaunch is the body that launches the seed product as "kodo".
func seedLaunch(versionID string) string {
	return `{"name": "kodo", "product_version_id": "` + versionID + `",
  "config_templates": {"/authproxy_in/qboxauthproxy.conf": "listen 9085\n"}}`
}

// smallDoc is a one-stack product named name.
func smallDoc(name string) string {
	return `{"product_name": "` + name + `", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"},
   "envs": ["API_KEY=sup3r-s3cret"], "access_point": {"type": "domain", "backend_ports": [80]}}]}]]}`
}

// harness is an API server over the memory store and the simulated
// runtime, with request IDs req-1, req-2... and a log kept for checks.
type harness struct {
	t   testing.TB
	st  *store.Store
	rt  *sim.Runtime
	ex  *deploy.Executor
	srv *api.Server

	ids atomic.Int64
	log *syncBuffer
}

type harnessOptions struct {
	api   api.Options
	sim   *sim.Options
	store *store.Store // nil: a new memory store
	noExe bool         // serve the catalog alone
	// wrap, when set, wraps the simulated runtime the executor uses.
	wrap func(*sim.Runtime) runtime.Runtime
}

func newHarness(t testing.TB, o *harnessOptions) *harness {
	t.Helper()
	if o == nil {
		o = &harnessOptions{}
	}
	h := &harness{t: t, st: o.store, rt: sim.New(o.sim), log: &syncBuffer{}}
	if h.st == nil {
		h.st = memory.New(nil)
	}
	if !o.noExe {
		var rt runtime.Runtime = h.rt
		if o.wrap != nil {
			rt = o.wrap(h.rt)
		}
		h.ex = deploy.New(rt, h.st, &deploy.Options{LeaseTTL: 3 * time.Second})
		t.Cleanup(func() { h.ex.Close() })
	}
	opts := o.api
	if opts.RequestID == nil {
		opts.RequestID = func() string { return fmt.Sprintf("req-%d", h.ids.Add(1)) }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.EventPollInterval == 0 {
		opts.EventPollInterval = 10 * time.Millisecond
	}
	h.srv = api.New(h.st, h.ex, &opts)
	return h
}

// response is a recorded response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// decode decodes the JSON body into v, failing the test if it cannot.
func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do serves one request in process. headers are name, value pairs.
func (h *harness) do(method, path, body string, headers ...string) *response {
	h.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	res := &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	h.checkCommon(res)
	return res
}

// checkCommon checks what every response carries: an X-Request-Id header
// and, in a JSON body, the same request_id.
func (h *harness) checkCommon(res *response) {
	h.t.Helper()
	id := res.header.Get("X-Request-Id")
	if id == "" {
		h.t.Errorf("no X-Request-Id: %s", res)
	}
	if ct := res.header.Get("Content-Type"); ct == "application/json" {
		var v struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(res.body, &v); err != nil || v.RequestID != id {
			h.t.Errorf("body request_id %q, header %q: %s", v.RequestID, id, res.body)
		}
	}
}

// must serves a request that must succeed with 200.
func (h *harness) must(method, path, body string, out any, headers ...string) {
	h.t.Helper()
	res := h.do(method, path, body, headers...)
	if res.status != http.StatusOK {
		h.t.Fatalf("%s %s: %s", method, path, res)
	}
	if out != nil {
		res.decode(h.t, out)
	}
}

// create registers a product and returns its product and version IDs.
func (h *harness) create(doc string, headers ...string) (productID, versionID string) {
	h.t.Helper()
	var out api.CreateProductResponse
	h.must("POST", "/api/products", doc, &out, headers...)
	return out.ProductID, out.VersionID
}

// waitOp waits until an operation's record is final and returns it.
// The next request may follow at once: an executor does not refuse an
// operation as busy once the previous one's end is observable.
func (h *harness) waitOp(name, opID string) *store.Operation {
	h.t.Helper()
	ctx := context.Background()
	var op *store.Operation
	if !waitfor.True(waitfor.Generous, 5*time.Millisecond, func() bool {
		d, err := h.st.GetDeployment(ctx, name)
		if err != nil {
			return false
		}
		op = d.Operation(opID)
		return op != nil && op.Status != store.OpInProgress && d.Status != store.StatusUnderChange
	}) {
		h.t.Fatalf("operation %s of %s did not end", opID, name)
	}
	return op
}

// errorBody is an error response as clients read it.
type errorBody struct {
	Message   string       `json:"message"`
	Code      string       `json:"code"`
	Details   []api.Detail `json:"details"`
	RequestID string       `json:"request_id"`
}

// wantError checks an error response's status, message and code, and
// returns its body.
func wantError(t testing.TB, res *response, status int, message string) errorBody {
	t.Helper()
	var e errorBody
	if res.status != status {
		t.Fatalf("status %d, want %d: %s", res.status, status, res.body)
	}
	res.decode(t, &e)
	if e.Message != message || e.Code != fmt.Sprint(status) {
		t.Errorf("message %q code %q, want %q %q", e.Message, e.Code, message, fmt.Sprint(status))
	}
	return e
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newMemoryStore() *store.Store { return memory.New(nil) }

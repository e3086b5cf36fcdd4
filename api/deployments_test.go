package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

const webV2 = `{"version_name": "v2", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.28"},
   "envs": ["API_KEY=sup3r-s3cret"], "access_point": {"type": "domain", "backend_ports": [80]}}]}]]}`

// submit starts an operation, waits for it and checks it succeeded.
func (h *harness) submit(method, path, body string) api.Submitted {
	h.t.Helper()
	var sub api.Submitted
	h.must(method, path, body, &sub)
	if !strings.HasPrefix(sub.OperationID, "op-") || sub.Deployment == "" {
		h.t.Fatalf("%s %s: %+v", method, path, sub)
	}
	if op := h.waitOp(sub.Deployment, sub.OperationID); op.Status != store.OpSucceeded {
		h.t.Fatalf("%s %s: operation %+v", method, path, op)
	}
	return sub
}

func TestDeploymentLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	pid, v1 := h.create(smallDoc("web"))
	var v api.VersionResponse
	h.must("POST", "/api/products/web/versions", webV2, &v)
	v2 := v.VersionID

	// A preview of a deployment that does not exist is a launch.
	var pv api.PreviewResponse
	h.must("POST", "/api/deployments/web-1/preview", `{"product_version_id": "`+v1+`"}`, &pv)
	if pv.Text != "1 stacks: 1 to add, 0 to modify, 0 to remove, 0 unchanged\n  + web (tier 0)\n" || pv.Changes.ToVersionID != v1 {
		t.Errorf("launch preview %+v", pv)
	}

	// A variable no config template uses is refused, naming it, and
	// nothing is recorded.
	res := h.do("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+v1+`", "vars": {"greeting": "hi"}}`)
	wantError(t, res, 400, api.MsgInvalidRequest)
	if !strings.Contains(string(res.body), `\"greeting\" are used by no config template`) {
		t.Errorf("unused variable: %s", res.body)
	}
	launch := h.submit("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+v1+`", "policy": "rollback"}`)
	var got api.DeploymentResponse
	h.must("GET", "/api/deployments/web-1", "", &got)
	d := got.Deployment
	if d.Status != store.StatusAvailable || d.Health != "running" || d.ProductID != pid || d.VersionID != v1 ||
		d.LastOperation == nil || d.LastOperation.ID != launch.OperationID || d.LastOperation.Policy != "rollback" {
		t.Errorf("status %+v", d)
	}
	if len(d.Stacks) != 1 || len(d.Stacks[0].Services) != 1 || len(d.Stacks[0].Services[0].Endpoints) == 0 {
		t.Fatalf("stacks %+v", d.Stacks)
	}

	res = h.do("GET", "/api/deployments?product_id="+pid, "")
	var list api.DeploymentList
	res.decode(t, &list)
	if len(list.Deployments) != 1 || list.Deployments[0].Name != "web-1" || list.Deployments[0].LastOperation.ID != launch.OperationID {
		t.Errorf("list %s", res.body)
	}
	if strings.Contains(string(res.body), "greeting") {
		t.Errorf("the listing shows parameters: %s", res.body)
	}
	wantError(t, h.do("GET", "/api/deployments?status=Happy", ""), 400, api.MsgInvalidRequest)

	h.must("POST", "/api/deployments/web-1/preview", `{"product_version_id": "`+v2+`"}`, &pv)
	if pv.Text != "1 stacks: 0 to add, 1 to modify, 0 to remove, 0 unchanged\n  ~ web (tier 0, replace): nginx: image.tag\n" ||
		pv.Changes.FromVersionID != v1 || pv.Changes.ToVersionID != v2 {
		t.Errorf("update preview %q", pv.Text)
	}

	h.submit("POST", "/api/deployments/web-1/update", `{"product_version_id": "`+v2+`"}`)
	h.submit("POST", "/api/deployments/web-1/stacks/web/services/nginx/scale", `{"instances": 3}`)
	h.must("GET", "/api/deployments/web-1", "", &got)
	if got.Deployment.VersionID != v2 || got.Deployment.Stacks[0].Services[0].Desired != 3 || got.Deployment.Stacks[0].Services[0].Ready != 3 {
		t.Errorf("after update and scale %+v", got.Deployment.Stacks)
	}
	h.submit("POST", "/api/deployments/web-1/stacks/web/restart", "")
	h.submit("POST", "/api/deployments/web-1/stacks/web/stop", `{}`)
	h.must("GET", "/api/deployments/web-1", "", &got)
	if got.Deployment.Stacks[0].Health != "stopped" || got.Deployment.Stacks[0].Services[0].Running != 0 {
		t.Errorf("stopped %+v", got.Deployment.Stacks[0])
	}
	start := h.submit("POST", "/api/deployments/web-1/stacks/web/start", `{"policy": "continue"}`)

	var ops api.OperationList
	h.must("GET", "/api/deployments/web-1/operations", "", &ops)
	var types []string
	for _, op := range ops.Operations {
		types = append(types, string(op.Type))
	}
	if strings.Join(types, " ") != "launch update scale restart stop start" {
		t.Errorf("operations %s", types)
	}
	var op api.OperationResponse
	h.must("GET", "/api/deployments/web-1/operations/"+start.OperationID, "", &op)
	if op.Operation.Type != store.OpStart || op.Operation.Status != store.OpSucceeded || op.Operation.Stack != "web" {
		t.Errorf("operation %+v", op.Operation)
	}
	wantError(t, h.do("GET", "/api/deployments/web-1/operations/op-nope", ""), 404, api.MsgNotFound)

	e := wantError(t, h.do("DELETE", "/api/deployments/web-1", ""), 409, api.MsgConflict)
	if e.Details[0].Detail != "deployment web-1 is Available: terminate it first" {
		t.Errorf("delete before terminate: %+v", e.Details)
	}
	h.submit("POST", "/api/deployments/web-1/terminate", `{"delete_data": true}`)
	h.must("GET", "/api/deployments/web-1", "", &got)
	if got.Deployment.Status != store.StatusTerminated || got.Deployment.Health != "missing" {
		t.Errorf("terminated %+v", got.Deployment)
	}
	h.must("DELETE", "/api/deployments/web-1", "", nil)
	wantError(t, h.do("GET", "/api/deployments/web-1", ""), 404, api.MsgNotFound)
}

func TestDeploymentErrors(t *testing.T) {
	h := newHarness(t, &harnessOptions{sim: &sim.Options{ReadyLatency: 300 * time.Millisecond}})
	_, v1 := h.create(smallDoc("web"))
	launch := `{"name": "web-1", "product_version_id": "` + v1 + `"}`
	tests := []struct {
		method, path, body string
		status             int
		message            string
		field, typ         string
	}{
		{"POST", "/api/deployments", `{"name": "Web_1", "product_version_id": "` + v1 + `"}`, 400, api.MsgInvalidRequest, "name", "Invalid"},
		{"POST", "/api/deployments", `{"product_version_id": "` + v1 + `"}`, 400, api.MsgInvalidRequest, "name", "Required"},
		{"POST", "/api/deployments", `{"name": "web-1"}`, 400, api.MsgInvalidRequest, "product_version_id", "Required"},
		{"POST", "/api/deployments", `{"name": "web-1", "product_version_id": "pv-nope"}`, 404, api.MsgNotFound, "", "NotFound"},
		{"POST", "/api/deployments", `{"name": "web-1", "product_version_id": "` + v1 + `", "policy": "yolo"}`, 400, api.MsgInvalidRequest, "policy", "NotSupported"},
		{"POST", "/api/deployments", `{"name": "web-1", "version": "` + v1 + `"}`, 400, api.MsgInvalidBody, "version", "Invalid"},
		{"POST", "/api/deployments", `{"name": 7}`, 400, api.MsgInvalidBody, "name", "Invalid"},
		{"POST", "/api/deployments/nope/update", `{"product_version_id": "` + v1 + `"}`, 404, api.MsgNotFound, "", "NotFound"},
		{"POST", "/api/deployments/nope/terminate", ``, 404, api.MsgNotFound, "", "NotFound"},
		{"GET", "/api/deployments/nope", ``, 404, api.MsgNotFound, "", "NotFound"},
		{"GET", "/api/deployments/No_Such", ``, 404, api.MsgNotFound, "", "NotFound"},
		{"DELETE", "/api/deployments/nope", ``, 404, api.MsgNotFound, "", "NotFound"},
		{"GET", "/api/deployments/nope/operations", ``, 404, api.MsgNotFound, "", "NotFound"},
		{"POST", "/api/deployments/nope/preview", `{}`, 400, api.MsgInvalidRequest, "product_version_id", "Required"},
	}
	for _, tc := range tests {
		res := h.do(tc.method, tc.path, tc.body)
		if res.status != tc.status {
			t.Errorf("%s %s %s: %s", tc.method, tc.path, tc.body, res)
			continue
		}
		e := wantError(t, res, tc.status, tc.message)
		if len(e.Details) == 0 || e.Details[0].Field != tc.field || e.Details[0].Type != tc.typ {
			t.Errorf("%s %s %s: details %+v", tc.method, tc.path, tc.body, e.Details)
		}
	}

	// While the launch runs, the deployment is busy.
	var sub api.Submitted
	h.must("POST", "/api/deployments", launch, &sub)
	e := wantError(t, h.do("POST", "/api/deployments/web-1/terminate", ""), 409, api.MsgConflict)
	if e.Details[0].Type != "Busy" {
		t.Errorf("busy: %+v", e.Details)
	}
	h.waitOp("web-1", sub.OperationID)
	e = wantError(t, h.do("POST", "/api/deployments", launch), 409, api.MsgConflict)
	if e.Details[0].Type != "Duplicate" || !strings.Contains(e.Details[0].Detail, "update it instead") {
		t.Errorf("launched twice: %+v", e.Details)
	}
	for _, tc := range []struct{ path, body, field, typ string }{
		{"/api/deployments/web-1/stacks/web/services/nginx/scale", `{}`, "instances", "Required"},
		{"/api/deployments/web-1/stacks/web/services/nginx/scale", `{"instances": -1}`, "instances", "Invalid"},
		{"/api/deployments/web-1/stacks/web/services/nginx/scale", `{"instances": 0}`, "instances", "Invalid"},
		{"/api/deployments/web-1/stacks/web/services/nope/scale", `{"instances": 2}`, "", "Invalid"},
		{"/api/deployments/web-1/stacks/nope/restart", ``, "", "Invalid"},
		{"/api/deployments/web-1/stacks/web/stop", `{"policy": "later"}`, "policy", "NotSupported"},
	} {
		e := wantError(t, h.do("POST", tc.path, tc.body), 400, api.MsgInvalidRequest)
		if e.Details[0].Field != tc.field || e.Details[0].Type != tc.typ {
			t.Errorf("%s %s: %+v", tc.path, tc.body, e.Details)
		}
		if strings.Contains(e.Details[0].Detail, "invalid request") {
			t.Errorf("%s: detail repeats the sentinel: %q", tc.path, e.Details[0].Detail)
		}
	}
}

// cancelingStore cancels the request's context (as a client that goes
// away does) when the executor takes the deployment's lease (an urgent
// write).
type cancelingStore struct {
	store.Driver
	cancel context.CancelFunc
}

func (s *cancelingStore) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if opts != nil && opts.Urgent && s.cancel != nil {
		s.cancel()
	}
	return s.Driver.Update(ctx, opts, fn)
}

func TestLaunchSurvivesTheClient(t *testing.T) {
	t.Run("gone during the request", func(t *testing.T) {
		cs := &cancelingStore{Driver: memory.NewDriver()}
		h := newHarness(t, &harnessOptions{store: store.New(cs, nil), sim: &sim.Options{ApplyLatency: 50 * time.Millisecond}})
		_, vid := h.create(smallDoc("web"))
		ctx, cancel := context.WithCancel(context.Background())
		cs.cancel = cancel
		req := httptest.NewRequestWithContext(ctx, "POST", "/api/deployments", strings.NewReader(`{"name": "web-1", "product_version_id": "`+vid+`"}`))
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		if ctx.Err() == nil {
			t.Fatal("the request's context was not cancelled")
		}
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		cs.cancel = nil
		d, _ := h.st.GetDeployment(context.Background(), "web-1")
		if op := h.waitOp("web-1", d.LastOperation().ID); op.Status != store.OpSucceeded {
			t.Errorf("operation %+v", op)
		}
	})
	t.Run("gone after the answer", func(t *testing.T) {
		h := newHarness(t, &harnessOptions{sim: &sim.Options{ApplyLatency: 100 * time.Millisecond, ReadyLatency: 100 * time.Millisecond}})
		_, vid := h.create(smallDoc("web"))
		ts := httptest.NewServer(h.srv)
		defer ts.Close()
		hc := &http.Client{Transport: &http.Transport{}}
		ctx, cancel := context.WithCancel(context.Background())
		c := &api.Client{URL: ts.URL, HTTPClient: hc}
		var sub api.Submitted
		if err := c.Do(ctx, "POST", "/api/deployments", api.LaunchRequest{Name: "web-1", VersionID: vid}, &sub); err != nil {
			t.Fatal(err)
		}
		cancel()
		hc.CloseIdleConnections()
		d, _ := h.st.GetDeployment(context.Background(), "web-1")
		if d.Status != store.StatusUnderChange {
			t.Errorf("the launch ended before the client went: %s", d.Status)
		}
		if op := h.waitOp("web-1", sub.OperationID); op.Status != store.OpSucceeded {
			t.Errorf("operation %+v", op)
		}
	})
}

// Runtime errors may quote env values; the API shows them redacted.
func TestNoEnvValuesInAnswers(t *testing.T) {
	h := newHarness(t, nil)
	_, vid := h.create(smallDoc("web"))
	h.rt.Inject(sim.Fault{Kind: sim.FailApply, Err: errors.New("registry refused API_KEY=sup3r-s3cret")})
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+vid+`"}`, &sub)
	if op := h.waitOp("web-1", sub.OperationID); op.Status != store.OpFailed {
		t.Fatalf("operation %+v", op)
	}
	for _, path := range []string{"/api/deployments/web-1", "/api/deployments/web-1/operations", "/api/deployments/web-1/events", "/api/products/web", "/api/versions/" + vid} {
		res := h.do("GET", path, "")
		if res.status != 200 || strings.Contains(string(res.body), "sup3r-s3cret") {
			t.Errorf("%s: %s", path, res)
		}
	}
	if strings.Contains(h.log.String(), "sup3r-s3cret") {
		t.Errorf("the log shows an env value:\n%s", h.log)
	}
}

// The catalog's word: an inactive version is refused with 409 and the
// error body; instances are listed only on request, paged; reconciliation
// is paused per deployment.
func TestInactiveVersionInstancesAndReconcilePause(t *testing.T) {
	h := newHarness(t, nil)
	_, v1 := h.create(smallDoc("web"))
	h.must("PATCH", "/api/versions/"+v1, `{"active": false}`, nil)
	res := h.do("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+v1+`"}`)
	e := wantError(t, res, 409, api.MsgConflict)
	if len(e.Details) != 1 || e.Details[0].Type != api.TypeInactive || e.Details[0].Field != "product_version_id" || !strings.Contains(e.Details[0].Detail, v1) {
		t.Errorf("inactive version: %s", res.body)
	}
	h.must("PATCH", "/api/versions/"+v1, `{"active": true}`, nil)
	h.submit("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+v1+`"}`)

	var got api.DeploymentResponse
	h.must("GET", "/api/deployments/web-1", "", &got)
	if got.Deployment.Instances != nil || len(got.Deployment.Stacks[0].Services[0].Instances) != 0 {
		t.Errorf("instances listed unasked: %+v", got.Deployment.Stacks[0].Services[0])
	}
	h.must("GET", "/api/deployments/web-1?instances=true&instance_limit=1", "", &got)
	if p := got.Deployment.Instances; p == nil || p.Total != 1 || p.Limit != 1 || len(got.Deployment.Stacks[0].Services[0].Instances) != 1 {
		t.Errorf("instances page %+v, service %+v", p, got.Deployment.Stacks[0].Services[0])
	}
	wantError(t, h.do("GET", "/api/deployments/web-1?instances=true&instance_limit=100000", ""), 400, api.MsgInvalidRequest)
	wantError(t, h.do("GET", "/api/deployments/web-1?instances=maybe", ""), 400, api.MsgInvalidRequest)

	h.must("PUT", "/api/deployments/web-1/reconcile", `{"paused": true}`, &got)
	if !got.Deployment.ReconcilePaused {
		t.Errorf("after pause: %+v", got.Deployment)
	}
	var resumed api.DeploymentResponse
	h.must("PUT", "/api/deployments/web-1/reconcile", `{"paused": false}`, &resumed)
	if resumed.Deployment.ReconcilePaused {
		t.Errorf("after resume: %+v", resumed.Deployment)
	}
}

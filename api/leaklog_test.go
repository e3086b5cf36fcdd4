package api_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

// quotingRuntime is a runtime whose Observe, once failing is set, fails
// with an error that quotes the values it was given, as a back-end
// refusing a container's env may.
type quotingRuntime struct {
	runtime.Runtime
	failing atomic.Bool
	quote   string
}

func (r *quotingRuntime) Observe(ctx context.Context, name string) (*runtime.DeploymentState, error) {
	if r.failing.Load() {
		return nil, errors.New(r.quote)
	}
	return r.Runtime.Observe(ctx, name)
}

// TestRuntimeErrorsAreRedactedInLogs: an error of the runtime that quotes
// a deployment's secret values, answered to a preview as a failure,
// reaches neither the response nor the server's log in any form.
func TestRuntimeErrorsAreRedactedInLogs(t *testing.T) {
	const (
		password = `s3cr3t-"qu0ted" välue`
		pin      = "77331"
	)
	quote := fmt.Sprintf("observe: engine refused env %q (DB_PASSWORD=%s; PIN=%s); raw: %s", password, password, pin, password)
	var qr *quotingRuntime
	h := newHarness(t, &harnessOptions{wrap: func(rt *sim.Runtime) runtime.Runtime {
		qr = &quotingRuntime{Runtime: rt, quote: quote}
		return qr
	}})
	ctx := context.Background()
	deps := stack.Deps{{{Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G",
		Image: stack.Image{Name: "nginx", Tag: "1.27"}, Envs: []string{"DB_PASSWORD=" + password, "PIN=" + pin}}}}}}
	if _, err := h.st.CreateProduct(ctx, &product.Product{ID: "prod-keep", Name: "keep", ProviderName: "tests"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.CreateVersion(ctx, &product.Version{ID: "pv-keep", ProductID: "prod-keep", Name: "v1", Active: true, StackDeps: deps}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ex.Launch(ctx, deploy.Request{Deployment: "ci-1", VersionID: "pv-keep"}); err != nil {
		t.Fatal(err)
	}
	qr.failing.Store(true)
	res := h.do("POST", "/api/deployments/ci-1/preview", `{"product_version_id": "pv-keep"}`)
	if res.status < 500 {
		t.Fatalf("preview answered %s, want a failure", res)
	}
	log := h.log.String()
	if !strings.Contains(log, "engine refused env") || !strings.Contains(log, redact.Marker) {
		t.Fatalf("the runtime's error is not in the log, redacted:\n%s", log)
	}
	for _, v := range []string{password, "PIN=" + pin} {
		for _, form := range redact.Forms(v) {
			if strings.Contains(log, form) || strings.Contains(string(res.body), form) {
				t.Errorf("%q shows in the log or response:\n%s\n%s", form, log, res)
			}
		}
	}
}

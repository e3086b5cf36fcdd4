package api_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// denyAll is a custom authorizer that refuses everything, saying why in
// words that must not reach the caller.
type denyAll struct{}

func (denyAll) Authorize(_ context.Context, p *auth.Principal, action, resource string) error {
	return fmt.Errorf("%w: custom rule 7 refuses %s %s on %s", auth.ErrDenied, p.Name, action, resource)
}

// named are the routes that name a resource, with the parts of the path
// and body that name it: {P} product, {V} version, {T} template, {D}
// deployment, {O} operation.
var named = []struct{ method, path, body string }{
	{"GET", "/api/products/{P}", ""},
	{"PATCH", "/api/products/{P}", `{"description": "x"}`},
	{"DELETE", "/api/products/{P}", ""},
	{"POST", "/api/products/{P}/versions", `{"version_name": "v9", "stack_deps": [[{"stack_name": "web", "services": [{"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}}]}]]}`},
	{"GET", "/api/products/{P}/versions", ""},
	{"GET", "/api/versions/{V}", ""},
	{"PATCH", "/api/versions/{V}", `{"description": "x"}`},
	{"DELETE", "/api/versions/{V}", ""},
	{"GET", "/api/templates/{T}", ""},
	{"POST", "/api/deployments", `{"name": "fresh", "product_version_id": "{V}"}`},
	{"GET", "/api/deployments/{D}", ""},
	{"PUT", "/api/deployments/{D}/reconcile", `{"paused": true}`},
	{"DELETE", "/api/deployments/{D}", ""},
	{"POST", "/api/deployments/{D}/preview", `{"product_version_id": "pv-keep"}`},
	{"POST", "/api/deployments/{D}/update", `{"product_version_id": "pv-keep"}`},
	{"POST", "/api/deployments/{D}/terminate", ""},
	{"POST", "/api/deployments/{D}/stacks/web/restart", ""},
	{"POST", "/api/deployments/{D}/stacks/web/stop", ""},
	{"POST", "/api/deployments/{D}/stacks/web/start", ""},
	{"POST", "/api/deployments/{D}/stacks/web/services/nginx/scale", `{"instances": 2}`},
	{"GET", "/api/deployments/{D}/operations", ""},
	{"GET", "/api/deployments/{D}/operations/{O}", ""},
	{"GET", "/api/deployments/{D}/events", ""},
}

// collections are the routes that name no resource: a denial there is a
// 403 that says nothing of any resource's existence.
var collections = []struct{ method, path, body string }{
	{"GET", "/api/products", ""},
	{"POST", "/api/products", `{"product_name": "fresh"}`},
	{"POST", "/api/templates", `{"stack_deps": []}`},
	{"GET", "/api/deployments", ""},
}

func newDenyHarness(t *testing.T, az auth.Authorizer) (h *harness, existing map[string]string) {
	t.Helper()
	toks, err := auth.ParseTokens(strings.NewReader(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	h = newHarness(t, &harnessOptions{api: api.Options{Authenticator: toks, Authorizer: az}})
	ctx := context.Background()
	deps := stack.Deps{{{Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}}}}}}
	if _, err := h.st.CreateProduct(ctx, &product.Product{ID: "prod-keep", Name: "keep", ProviderName: "tests"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.CreateVersion(ctx, &product.Version{ID: "pv-keep", ProductID: "prod-keep", Name: "v1", Active: true, StackDeps: deps}); err != nil {
		t.Fatal(err)
	}
	tpl, err := h.st.CreateTemplate(ctx, &store.Template{StackDeps: deps})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.ex.Launch(ctx, deploy.Request{Deployment: "ci-1", VersionID: "pv-keep"})
	if err != nil {
		t.Fatal(err)
	}
	return h, map[string]string{"{P}": "keep", "{V}": "pv-keep", "{T}": tpl.ID, "{D}": "ci-1", "{O}": res.Operation.ID}
}

var missing = map[string]string{"{P}": "nope", "{V}": "pv-nope", "{T}": "tpl-nope", "{D}": "ci-nope", "{O}": "op-nope"}

func fill(s string, keys map[string]string) string {
	for k, v := range keys {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

var requestID = regexp.MustCompile(`"request_id":"[^"]*"`)

// normal is a body with the names the caller gave, and the request ID,
// made neutral.
func normal(body []byte, keys map[string]string) string {
	s := requestID.ReplaceAllString(string(body), `"request_id":""`)
	olds := slices.SortedFunc(maps.Keys(keys), func(a, b string) int { return len(keys[b]) - len(keys[a]) })
	for _, k := range olds {
		s = strings.ReplaceAll(s, keys[k], k)
	}
	return s
}

// TestDenyIsNotFound: a caller who may not see a resource gets the same
// status and body whether it exists or not, 404 naming it as the caller
// did; the audit log keeps the reason.
func TestDenyIsNotFound(t *testing.T) {
	const eve = "Bearer eve-0123456789abcdef"
	for name, az := range map[string]auth.Authorizer{"policy": mustPolicy(t, policyFile), "custom": denyAll{}} {
		t.Run(name, func(t *testing.T) {
			h, existing := newDenyHarness(t, az)
			for _, rt := range named {
				t.Run(rt.method+" "+rt.path, func(t *testing.T) {
					there := h.do(rt.method, fill(rt.path, existing), fill(rt.body, existing), "Authorization", eve)
					gone := h.do(rt.method, fill(rt.path, missing), fill(rt.body, missing), "Authorization", eve)
					want := 404
					if rt.path == "/api/deployments" {
						// Launch is judged on the new deployment's
						// name first, which needs no existence.
						want = 403
					}
					if there.status != want || gone.status != want {
						t.Fatalf("existing: %s\nmissing: %s\nwant %d for both", there, gone, want)
					}
					if a, b := normal(there.body, existing), normal(gone.body, missing); a != b {
						t.Fatalf("bodies differ:\nexisting: %s\nmissing:  %s", a, b)
					}
					for _, leak := range []string{"prod-keep", "rule 7", "statement", "denied"} {
						if want == 404 && strings.Contains(string(there.body)+string(gone.body), leak) {
							t.Fatalf("a body shows %q:\n%s\n%s", leak, there, gone)
						}
					}
				})
			}
			for _, rt := range collections {
				res := h.do(rt.method, rt.path, rt.body, "Authorization", eve)
				if res.status != 403 {
					t.Errorf("%s %s: %s, want 403", rt.method, rt.path, res)
				}
			}
			// The server's log keeps the real reason of each denial.
			log := h.log.String()
			if !strings.Contains(log, "msg=audit") || !strings.Contains(log, "outcome=denied") {
				t.Fatalf("no audit of denials:\n%s", log)
			}
			want := "no statement allows it"
			if name == "custom" {
				want = "custom rule 7 refuses eve stackwave:GetProduct on swn:product/prod-keep"
			}
			if !strings.Contains(log, want) {
				t.Errorf("the log lacks %q:\n%s", want, log)
			}
		})
	}
}

// A caller who may see a resource but not act on it is told why.
func TestDenyOfVisibleResourceSaysWhy(t *testing.T) {
	h, _ := newDenyHarness(t, mustPolicy(t, policyFile))
	res := h.do("DELETE", "/api/products/keep", "", "Authorization", "Bearer bob-0123456789abcdef")
	if res.status != 403 || !strings.Contains(string(res.body), "bob may not perform stackwave:DeleteProduct") {
		t.Fatalf("%s", res)
	}
}

func mustPolicy(t *testing.T, doc string) *auth.Policy {
	t.Helper()
	p, err := auth.ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

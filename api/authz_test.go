package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/api/auth"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
)

const tokenFile = `# token                 principal  groups
alice-0123456789abcdef    alice      admins
bob-0123456789abcdef      bob        readers
carol-0123456789abcdef    carol      deployers
dave-0123456789abcdef     dave
eve-0123456789abcdef      eve
`

const policyFile = `{"Statement": [
  {"Sid": "Admins", "Effect": "Allow", "Principal": "group:admins", "Action": "stackwave:*", "Resource": "*"},
  {"Sid": "Readers", "Effect": "Allow", "Principal": "group:readers",
   "Action": ["stackwave:Get*", "stackwave:List*"], "Resource": ["swn:product/*", "swn:version/*"]},
  {"Sid": "Deployers", "Effect": "Allow", "Principal": "group:deployers",
   "Action": ["stackwave:LaunchProduct", "stackwave:GetDeployment", "stackwave:StreamEvents", "stackwave:TerminateDeployment"],
   "Resource": ["swn:deployment/ci-*", "swn:product/*"]},
  {"Sid": "Dave", "Effect": "Allow", "Principal": "dave", "Action": "stackwave:*Product", "Resource": "swn:product/*"},
  {"Sid": "KeepProduct", "Effect": "Deny", "Principal": "*", "Action": "stackwave:DeleteProduct", "Resource": "swn:product/prod-keep"},
  {"Sid": "NoKeepInCI", "Effect": "Deny", "Principal": "group:deployers", "Action": "stackwave:LaunchProduct", "Resource": "swn:product/prod-keep"}
]}`

func newAuthHarness(t *testing.T) *harness {
	t.Helper()
	toks, err := auth.ParseTokens(strings.NewReader(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := auth.ParsePolicy([]byte(policyFile))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, &harnessOptions{api: api.Options{Authenticator: toks, Authorizer: pol}})
	ctx := context.Background()
	deps := stack.Deps{{{Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}}}}}}
	for _, name := range []string{"keep", "other", "spare"} {
		if _, err := h.st.CreateProduct(ctx, &product.Product{ID: "prod-" + name, Name: name, ProviderName: "tests"}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.st.CreateVersion(ctx, &product.Version{ID: "pv-" + name, ProductID: "prod-" + name, Name: "v1", Active: true, StackDeps: deps}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.ex.Launch(ctx, deploy.Request{Deployment: "ci-1", VersionID: "pv-other"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// A table of callers, actions and resources with the status each gets.
func TestAuthorization(t *testing.T) {
	const (
		none  = ""
		alice = "Bearer alice-0123456789abcdef"
		bob   = "Bearer bob-0123456789abcdef"
		carol = "Bearer carol-0123456789abcdef"
		dave  = "Bearer dave-0123456789abcdef"
		eve   = "Bearer eve-0123456789abcdef"
	)
	const tpl = `{"stack_deps": [[{"stack_name": "web", "services": [{"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"}}]}]]}`
	tests := []struct {
		name, authz, method, path, body string
		status                          int
	}{
		{"no credentials", none, "GET", "/api/products", "", 401},
		{"unknown token", "Bearer mallory-0123456789abcdef", "GET", "/api/products", "", 401},
		{"not a bearer token", "Basic YWxpY2U6c2VjcmV0", "GET", "/api/products", "", 401},
		{"no credentials, no route", none, "GET", "/api/nothing", "", 404},
		{"no statement", eve, "GET", "/api/products", "", 403},
		{"no statement, missing product: not found", eve, "GET", "/api/products/nope", "", 404},

		{"admin lists", alice, "GET", "/api/products", "", 200},
		{"admin creates", alice, "POST", "/api/products", smallDoc("new"), 200},
		{"admin deletes", alice, "DELETE", "/api/products/spare", "", 200},
		{"explicit Deny beats admin's Allow", alice, "DELETE", "/api/products/keep", "", 403},
		{"explicit Deny by ID too", alice, "DELETE", "/api/products/prod-keep", "", 403},
		{"admin creates a template", alice, "POST", "/api/templates", tpl, 200},
		{"admin restarts a stack", alice, "POST", "/api/deployments/ci-1/stacks/web/restart", "", 200},
		{"admin streams events", alice, "GET", "/api/deployments/ci-1/events", "", 200},
		{"admin reads logs", alice, "GET", "/api/deployments/ci-1/logs", "", 200},

		{"Get* reads a product by name", bob, "GET", "/api/products/keep", "", 200},
		{"Get* reads a product by ID", bob, "GET", "/api/products/prod-keep", "", 200},
		{"product/* covers a missing one", bob, "GET", "/api/products/nope", "", 404},
		{"List* lists", bob, "GET", "/api/products", "", 200},
		{"List* lists versions", bob, "GET", "/api/products/keep/versions", "", 200},
		{"version/* reads a version", bob, "GET", "/api/versions/pv-keep", "", 200},
		{"reader may not delete", bob, "DELETE", "/api/products/spare", "", 403},
		{"reader may not create", bob, "POST", "/api/products", smallDoc("new"), 403},
		{"reader may not update", bob, "PATCH", "/api/products/keep", `{"description": "x"}`, 403},
		{"reader may not create templates", bob, "POST", "/api/templates", tpl, 403},
		{"reader sees no deployments: not found", bob, "GET", "/api/deployments/ci-1", "", 404},
		{"reader sees no events: not found", bob, "GET", "/api/deployments/ci-1/events", "", 404},
		{"reader may not list deployments", bob, "GET", "/api/deployments", "", 403},

		{"deployer launches in ci-*", carol, "POST", "/api/deployments", `{"name": "ci-2", "product_version_id": "pv-other"}`, 200},
		{"deployer outside ci-*", carol, "POST", "/api/deployments", `{"name": "prod-1", "product_version_id": "pv-other"}`, 403},
		{"deployer, denied product it may not see: not found", carol, "POST", "/api/deployments", `{"name": "ci-3", "product_version_id": "pv-keep"}`, 404},
		{"deployer reads a deployment", carol, "GET", "/api/deployments/ci-1", "", 200},
		{"deployer streams events", carol, "GET", "/api/deployments/ci-1/events", "", 200},
		{"reading a deployment does not grant its logs", carol, "GET", "/api/deployments/ci-1/logs", "", 403},
		{"deployer terminates", carol, "POST", "/api/deployments/ci-1/terminate", "", 200},
		{"deployer may not delete records", carol, "DELETE", "/api/deployments/ci-1", "", 403},
		{"deployer may not restart", carol, "POST", "/api/deployments/ci-1/stacks/web/restart", "", 403},
		{"deployer may not update", carol, "POST", "/api/deployments/ci-1/update", `{"product_version_id": "pv-other"}`, 403},
		{"deployer may not read products: not found", carol, "GET", "/api/products/other", "", 404},

		{"*Product matches CreateProduct", dave, "POST", "/api/products", smallDoc("new"), 200},
		{"*Product matches GetProduct", dave, "GET", "/api/products/other", "", 200},
		{"*Product matches DeleteProduct", dave, "DELETE", "/api/products/spare", "", 200},
		{"*Product does not match ListProducts", dave, "GET", "/api/products", "", 403},
		{"*Product does not match CreateVersion", dave, "POST", "/api/products/other/versions", `{}`, 403},
		{"Deny for everyone", dave, "DELETE", "/api/products/keep", "", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newAuthHarness(t)
			var headers []string
			if tc.authz != "" {
				headers = []string{"Authorization", tc.authz}
			}
			res := h.do(tc.method, tc.path, tc.body, headers...)
			if res.status != tc.status {
				t.Fatalf("%s %s: %s, want %d", tc.method, tc.path, res, tc.status)
			}
			switch tc.status {
			case 401:
				e := wantError(t, res, 401, api.MsgUnauthorized)
				if e.Details[0].Type != "Unauthenticated" || !strings.HasPrefix(res.header.Get("WWW-Authenticate"), `Bearer realm="stackwave"`) {
					t.Errorf("details %+v, WWW-Authenticate %q", e.Details, res.header.Get("WWW-Authenticate"))
				}
			case 403:
				e := wantError(t, res, 403, api.MsgForbidden)
				if e.Details[0].Type != "Denied" || !strings.Contains(e.Details[0].Detail, " may not perform stackwave:") {
					t.Errorf("details %+v", e.Details)
				}
			}
		})
	}
}

func TestForbiddenSaysWhy(t *testing.T) {
	h := newAuthHarness(t)
	res := h.do("DELETE", "/api/products/keep", "", "Authorization", "Bearer alice-0123456789abcdef")
	e := wantError(t, res, 403, api.MsgForbidden)
	want := "alice may not perform stackwave:DeleteProduct on swn:product/prod-keep: denied by statement KeepProduct"
	if e.Details[0].Detail != want {
		t.Errorf("detail %q\nwant   %q", e.Details[0].Detail, want)
	}
	res = h.do("GET", "/api/products", "", "Authorization", "Bearer eve-0123456789abcdef")
	e = wantError(t, res, 403, api.MsgForbidden)
	if want := "eve may not perform stackwave:ListProducts on swn:product/*: no statement allows it"; e.Details[0].Detail != want {
		t.Errorf("detail %q", e.Details[0].Detail)
	}
	res = h.do("GET", "/api/products", "", "Authorization", "Bearer 0000000000000000000000")
	e = wantError(t, res, 401, api.MsgUnauthorized)
	if e.Details[0].Detail != "invalid token" || res.header.Get("WWW-Authenticate") != `Bearer realm="stackwave", error="invalid_token"` {
		t.Errorf("detail %+v, %q", e.Details, res.header.Get("WWW-Authenticate"))
	}
	// The log says who did what.
	if !strings.Contains(h.log.String(), "principal=alice") {
		t.Errorf("log:\n%s", h.log)
	}
}

// A policy without an authenticator judges every caller as anonymous.
func TestAnonymousPolicy(t *testing.T) {
	pol, err := auth.ParsePolicy([]byte(`{"Statement": [{"Effect": "Allow", "Principal": "anonymous", "Action": "stackwave:List*", "Resource": "*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, &harnessOptions{api: api.Options{Authorizer: pol}})
	if res := h.do("GET", "/api/products", ""); res.status != 200 {
		t.Errorf("list: %s", res)
	}
	if res := h.do("POST", "/api/products", smallDoc("web")); res.status != 403 {
		t.Errorf("create: %s", res)
	}
}

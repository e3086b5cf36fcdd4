package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/validate"
)

const refusalSecret = "hunter2-s3cr3t"

// refusalDoc has an envs object holding a secret and a single access
// point.
const refusalDoc = `{"product_name": "shop", "stack_deps": [[{"stack_name": "web", "services": [
 {"service_name": "nginx", "unit_type": "1U1G", "image": {"name": "nginx", "tag": "1.27"},
  "envs": {"API_KEY": "` + refusalSecret + `", "PORT": "80"}, "command": ["nginx"],
  "config_paths": ["/etc/nginx/nginx.conf"],
  "access_point": {"type": "domain", "backend_ports": [80]}}]}]]}`

// Every refusal of the issue through POST /api/products: the seed's
// message, the field as written, and no env value in the answer or the
// log.
func TestCreateProductRefusals(t *testing.T) {
	for _, c := range []struct {
		name, old, new string
		msg, field     string
		typ, detail    string
	}{
		{"a name twice", `"product_name": "shop",`, `"product_name": "shop", "product_name": "evil",`,
			api.MsgInvalidProductArgs, "product_name", "Invalid", `duplicate field "product_name"`},
		{"an env twice", `"PORT": "80"}`, `"PORT": "80", "API_KEY": "other"}`,
			api.MsgInvalidProductArgs, "stack_deps[0][0].services[0].envs.API_KEY", "Invalid", `duplicate field "API_KEY"`},
		{"image twice", `"command": ["nginx"],`, `"command": ["nginx"], "image": {"name": "evil", "tag": "1"},`,
			api.MsgInvalidProductArgs, "stack_deps[0][0].services[0].image", "Invalid", `duplicate field "image"`},
		{"PRODUCT_NAME", `"product_name"`, `"PRODUCT_NAME"`, api.MsgInvalidProductArgs, "PRODUCT_NAME", "Invalid", `did you mean "product_name"?`},
		{"Stack_Name", `"stack_name"`, `"Stack_Name"`, api.MsgInvalidProductArgs, "stack_deps[0][0].Stack_Name", "Invalid", "unknown field"},
		{"invalid UTF-8", `"shop"`, "\"sh\xffop\"", api.MsgInvalidProductArgs, "product_name", "Invalid", "invalid UTF-8"},
		{"a port of the single access point a string", `"backend_ports": [80]`, `"backend_ports": ["80"]`,
			api.MsgInvalidProductArgs, "stack_deps[0][0].services[0].access_point.backend_ports[0]", "Invalid", `expected integer, got string "80"`},
		{"an env name of an envs object", `"PORT": "80"`, `"1BAD": "80"`,
			api.MsgInvalidProduct, "stack_deps[0][0].services[0].envs.1BAD", "Invalid", "env names must match"},
		{"a port of the single access point", `"backend_ports": [80]`, `"backend_ports": [0]`,
			api.MsgInvalidProduct, "stack_deps[0][0].services[0].access_point.backend_ports[0]", "Invalid", "must be between 1 and 65535"},
		{"NUL in an env value", `"` + refusalSecret + `"`, `"` + refusalSecret + `\u0000"`,
			api.MsgInvalidProduct, "stack_deps[0][0].services[0].envs.API_KEY", "Invalid", "env values must not contain NUL"},
		{"NUL in a command", `["nginx"]`, `["ngi\u0000nx"]`, api.MsgInvalidProduct, "stack_deps[0][0].services[0].command[0]", "Invalid", "must not contain NUL"},
		{"a line break in a config path", `"/etc/nginx/nginx.conf"`, `"/etc/nginx\n/nginx.conf"`,
			api.MsgInvalidProduct, "stack_deps[0][0].services[0].config_paths[0]", "Invalid", "must not contain control characters"},
		{"a name with a leading space", `"shop"`, `" shop"`, api.MsgInvalidProduct, "product_name", "Invalid", "must not start with a space"},
		{"a name with a zero-width joiner", `"shop"`, `"sh\u200dop"`, api.MsgInvalidProduct, "product_name", "Invalid", "invisible characters such as U+200D"},
		{"a name with a direction isolate", `"shop"`, `"\u2067shop"`, api.MsgInvalidProduct, "product_name", "Invalid", "direction controls (U+2067)"},
		{"a name shaped like an ID", `"shop"`, `"prod-0123456789abcdef"`, api.MsgInvalidProduct, "product_name", "Invalid", "shape of an ID"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil)
			doc := strings.Replace(refusalDoc, c.old, c.new, 1)
			if doc == refusalDoc {
				t.Fatal("replacement did not apply")
			}
			res := h.do("POST", "/api/products", doc)
			e := wantError(t, res, 400, c.msg)
			if len(e.Details) != 1 || e.Details[0].Field != c.field || e.Details[0].Type != c.typ || !strings.Contains(e.Details[0].Detail, c.detail) {
				t.Errorf("details %+v\nwant %s %s: %s", e.Details, c.field, c.typ, c.detail)
			}
			if strings.Contains(string(res.body), refusalSecret) || strings.Contains(h.log.String(), refusalSecret) {
				t.Errorf("an env value is shown:\n%s\n%s", res.body, h.log)
			}
		})
	}
}

// Versions and templates name fields as written too.
func TestSpecRoutesPathsAsWritten(t *testing.T) {
	h := newHarness(t, nil)
	h.create(smallDoc("web"))
	spec := refusalDoc[strings.Index(refusalDoc, `"stack_deps"`):]
	spec = strings.Replace(spec, `"PORT": "80"`, `"1BAD": "80"`, 1)
	spec = strings.Replace(spec, `"backend_ports": [80]`, `"backend_ports": [0]`, 1)
	want := []string{"stack_deps[0][0].services[0].envs.1BAD", "stack_deps[0][0].services[0].access_point.backend_ports[0]"}
	for _, r := range []struct{ path, body string }{
		{"/api/products/web/versions", `{"version_name": "v2", ` + spec},
		{"/api/templates", `{` + spec},
	} {
		e := wantError(t, h.do("POST", r.path, r.body), 400, api.MsgInvalidRequest)
		var got []string
		for _, d := range e.Details {
			got = append(got, d.Field)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: fields %v, want %v", r.path, got, want)
		}
	}
	e := wantError(t, h.do("POST", "/api/templates", `{"stack_deps": [[{"stack_name": "web", "Services": []}]]}`), 400, api.MsgInvalidBody)
	if e.Details[0].Field != "stack_deps[0][0].Services" {
		t.Errorf("details %+v", e.Details)
	}
}

// Each limit is a 400 naming the limit and the path; the answer lists at
// most MaxDetails problems.
func TestLimits(t *testing.T) {
	lim := &validate.Limits{DocumentBytes: 3000, Services: 2, EnvsPerService: 1, InstancesPerService: 3, Instances: 4}
	h := newHarness(t, &harnessOptions{api: api.Options{Limits: lim}})
	three := strings.Replace(smallDoc("three"), `"services": [`, `"services": [
  {"service_name": "a", "unit_type": "1U1G", "image": {"name": "a", "tag": "1"}},
  {"service_name": "b", "unit_type": "1U1G", "image": {"name": "b", "tag": "1"}},`, 1)
	for _, c := range []struct {
		name, path, body string
		msg, field       string
		typ, detail      string
	}{
		{"services", "/api/products", three, api.MsgInvalidProduct, "stack_deps", "TooMany", "(limit max-services), got 3"},
		{"envs", "/api/products", strings.Replace(smallDoc("envs"), `["API_KEY=sup3r-s3cret"]`, `["A=1", "B=2"]`, 1),
			api.MsgInvalidProduct, "stack_deps[0][0].services[0].envs", "TooMany", "(limit max-envs-per-service), got 2"},
		{"instances of a service", "/api/products", strings.Replace(smallDoc("inst"), `"unit_type"`, `"instances": 4, "unit_type"`, 1),
			api.MsgInvalidProduct, "stack_deps[0][0].services[0].instances", "TooMany", "(limit max-instances-per-service), got 4"},
		{"document bytes", "/api/products", strings.Replace(smallDoc("big"), `"big"`, `"big", "description": "`+strings.Repeat("x", 3000)+`"`, 1),
			api.MsgInvalidProduct, "", "TooLong", "(limit max-document-bytes)"},
		{"document bytes of a template", "/api/templates", `{"description": "` + strings.Repeat("x", 3000) + `", "stack_deps": []}`,
			api.MsgInvalidRequest, "", "TooLong", "(limit max-document-bytes)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := wantError(t, h.do("POST", c.path, c.body), 400, c.msg)
			if len(e.Details) != 1 || e.Details[0].Field != c.field || e.Details[0].Type != c.typ || !strings.Contains(e.Details[0].Detail, c.detail) {
				t.Errorf("details %+v", e.Details)
			}
		})
	}

	// Scaling is bounded too: one service, and the deployment as it runs.
	doc := strings.Replace(smallDoc("web"), `"services": [`, `"services": [{"service_name": "b", "unit_type": "1U1G", "image": {"name": "b", "tag": "1"}},`, 1)
	_, vid := h.create(doc)
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "web-1", "product_version_id": "`+vid+`"}`, &sub)
	h.waitOp("web-1", sub.OperationID)
	e := wantError(t, h.do("POST", "/api/deployments/web-1/stacks/web/services/nginx/scale", `{"instances": 4}`), 400, api.MsgInvalidRequest)
	if e.Details[0].Field != "instances" || !strings.Contains(e.Details[0].Detail, "limit max-instances-per-service") {
		t.Errorf("one service: %+v", e.Details)
	}
	h.must("POST", "/api/deployments/web-1/stacks/web/services/nginx/scale", `{"instances": 3}`, &sub)
	h.waitOp("web-1", sub.OperationID)
	e = wantError(t, h.do("POST", "/api/deployments/web-1/stacks/web/services/b/scale", `{"instances": 2}`), 400, api.MsgInvalidRequest)
	if e.Details[0].Field != "instances" || !strings.Contains(e.Details[0].Detail, "would run 5 instances; at most 4 (limit max-instances)") {
		t.Errorf("the deployment: %+v", e.Details)
	}

	// Deployment parameters: no NUL, no value shown.
	e = wantError(t, h.do("POST", "/api/deployments", `{"name": "web-2", "product_version_id": "`+vid+`", "vars": {"PASSWORD": "`+refusalSecret+`\u0000"}}`), 400, api.MsgInvalidRequest)
	if e.Details[0].Field != "vars.PASSWORD" || strings.Contains(fmt.Sprint(e), refusalSecret) {
		t.Errorf("vars: %+v", e.Details)
	}

	// A document with very many problems gets a bounded answer.
	many := `{"product_name": "", "stack_deps": [[` + strings.Repeat(`{"stack_name": "X", "services": []},`, 200) + `{"stack_name": "y", "services": []}]]}`
	h2 := newHarness(t, nil)
	e = wantError(t, h2.do("POST", "/api/products", many), 400, api.MsgInvalidProduct)
	if len(e.Details) != api.MaxDetails+1 || !strings.HasSuffix(e.Details[api.MaxDetails].Detail, "more problems are not listed") {
		t.Errorf("%d details, the last %+v", len(e.Details), e.Details[len(e.Details)-1])
	}
}

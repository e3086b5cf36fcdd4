package api_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store/memory"
)

// secretEnvs are secret values of every awkward kind: short,
// multi-line, unicode, and needing escapes in Go, JSON and shells.
var secretEnvs = map[string]string{
	"DB_PIN":          "77331",
	"TLS_PRIVATE_KEY": "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34Gkx\nsecond-line-of-key\n-----END KEY-----",
	"ADMIN_PASSWORD":  "pässwörd-ünïcødé-密码",
	"API_TOKEN":       "tab\there \"quoted\" back\\slash 'single' $dollar `tick` bell\x07",
}

// printed returns v the ways back-ends print values: raw, quoted,
// escaped, encoded, line by line.
func printed(v string) []string {
	b, _ := json.Marshal(v)
	out := []string{
		"env " + v,
		fmt.Sprintf("invalid value %q", v),
		fmt.Sprintf("invalid value %+q", v),
		"json " + string(b),
		"sh -c 'echo " + strings.ReplaceAll(v, "'", `'\''`) + "'",
		"GET /?v=" + url.QueryEscape(v),
		"GET /" + url.PathEscape(v),
	}
	for _, prefix := range []string{"", "x", "xy"} {
		out = append(out, "b64 "+base64.StdEncoding.EncodeToString([]byte(prefix+v+"!")))
	}
	for line := range strings.Lines(v) {
		out = append(out, "line "+strings.TrimSpace(line))
	}
	return out
}

// forms are what must never show of v anywhere.
func forms(v string) []string {
	b, _ := json.Marshal(v)
	out := []string{v, strings.Trim(strconv.Quote(v), `"`), strings.Trim(strconv.QuoteToASCII(v), `"`),
		strings.Trim(string(b), `"`), url.QueryEscape(v), base64.StdEncoding.EncodeToString([]byte(v))[:8]}
	for line := range strings.Lines(v) {
		if line = strings.TrimSpace(line); len(line) >= 6 {
			out = append(out, line, strings.Trim(strconv.Quote(line), `"`))
		}
	}
	return out
}

// echoRuntime is a back-end that prints every env value of a stack it
// applies, in all the forms of printed, in its events and its error.
type echoRuntime struct {
	*sim.Runtime
}

func (r *echoRuntime) Apply(ctx context.Context, spec *runtime.StackSpec, rep runtime.Reporter) error {
	var lines []string
	for _, svc := range spec.Stack.Services {
		for _, kv := range svc.Envs {
			k, v, _ := strings.Cut(kv, "=")
			for _, p := range printed(v) {
				rep.Emit(runtime.Event{Type: runtime.EventServiceWaiting, Service: svc.Name, Message: p})
			}
			lines = append(lines, k+"="+v, fmt.Sprintf("%s=%q", k, v))
		}
	}
	if len(lines) > 0 {
		return fmt.Errorf("%w: container printed its env and exited: %s", runtime.ErrFailed, strings.Join(lines, "\n"))
	}
	return r.Runtime.Apply(ctx, spec, rep)
}

// TestSecretsNeverLeave launches a product whose back-end prints its
// secrets every way, and reads every answer of the API, the event stream
// and the server's log: none shows any form of them.
func TestSecretsNeverLeave(t *testing.T) {
	h := &harness{t: t, st: memory.New(nil), rt: sim.New(nil), log: &syncBuffer{}}
	h.ex = deploy.New(&echoRuntime{h.rt}, h.st, &deploy.Options{LeaseTTL: 3 * time.Second})
	t.Cleanup(func() { h.ex.Close() })
	h.srv = api.New(h.st, h.ex, &api.Options{
		RequestID: func() string { return fmt.Sprintf("req-%d", h.ids.Add(1)) },
		Logger:    slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	var envs []string
	for k, v := range secretEnvs {
		envs = append(envs, k+"="+v)
	}
	doc, _ := json.Marshal(map[string]any{"product_name": "vault", "stack_deps": [][]map[string]any{{{
		"stack_name": "db", "services": []map[string]any{{
			"service_name": "pg", "unit_type": "1U1G", "image": map[string]string{"name": "postgres", "tag": "16"},
			"envs": envs}}}}}})
	var bodies []string
	do := func(method, path, body string) *response {
		res := h.do(method, path, body)
		bodies = append(bodies, method+" "+path+": "+string(res.body))
		return res
	}
	var created api.CreateProductResponse
	res := do("POST", "/api/products", string(doc))
	res.decode(t, &created)
	var sub api.Submitted
	do("POST", "/api/deployments", `{"name": "vault-1", "product_version_id": "`+created.VersionID+`"}`).decode(t, &sub)
	op := h.waitOp("vault-1", sub.OperationID)
	if !strings.Contains(op.Message, "<redacted>") && !strings.Contains(op.Message, "withheld") {
		t.Errorf("the operation message hides nothing: %s", op.Message)
	}
	// The events, through a real HTTP stream.
	ts := httptest.NewServer(h.srv)
	defer ts.Close()
	sres, err := http.Get(ts.URL + "/api/deployments/vault-1/events?operation_id=" + sub.OperationID)
	if err != nil {
		t.Fatal(err)
	}
	var stream strings.Builder
	sc := bufio.NewScanner(sres.Body)
	for sc.Scan() {
		stream.WriteString(sc.Text() + "\n")
	}
	sres.Body.Close()
	if !strings.Contains(stream.String(), "service-waiting") {
		t.Fatalf("the stream lacks the back-end's events:\n%s", stream.String())
	}
	bodies = append(bodies, "events: "+stream.String())
	for _, p := range []string{"/api/deployments/vault-1", "/api/deployments", "/api/deployments/vault-1/operations",
		"/api/deployments/vault-1/operations/" + sub.OperationID, "/api/products/vault", "/api/versions/" + created.VersionID} {
		do("GET", p, "")
	}
	// The executor's own answer.
	_, err = h.ex.Update(context.Background(), deploy.Request{Deployment: "vault-1", VersionID: created.VersionID})
	if err != nil {
		bodies = append(bodies, "update error: "+err.Error())
	}
	bodies = append(bodies, "log: "+h.log.String())
	for k, v := range secretEnvs {
		for _, f := range forms(v) {
			for _, b := range bodies {
				if strings.Contains(b, f) {
					t.Errorf("%s shows in a form %q:\n%s", k, f, b)
				}
			}
		}
	}
}

// TestAuditOnce: each mutating request is audited once, reads are not,
// and audit lines carry no values.
func TestAuditOnce(t *testing.T) {
	h := newHarness(t, nil)
	create := h.do("POST", "/api/products", smallDoc("web"))
	get := h.do("GET", "/api/products/web", "")
	bad := h.do("DELETE", "/api/products/nope", "")
	audits := func(id string) []string {
		var out []string
		for line := range strings.Lines(h.log.String()) {
			if strings.Contains(line, "msg=audit") && strings.Contains(line, "request_id="+id+" ") {
				out = append(out, line)
			}
		}
		return out
	}
	if a := audits(create.header.Get("X-Request-Id")); len(a) != 1 ||
		!strings.Contains(a[0], "principal=anonymous action=stackwave:CreateProduct resource=swn:product/* outcome=succeeded status=200") {
		t.Errorf("create: %q", a)
	}
	if a := audits(get.header.Get("X-Request-Id")); len(a) != 0 {
		t.Errorf("a read is audited: %q", a)
	}
	if a := audits(bad.header.Get("X-Request-Id")); len(a) != 1 || !strings.Contains(a[0], "outcome=failed status=404") {
		t.Errorf("failed delete: %q", a)
	}
	var created api.CreateProductResponse
	create.decode(t, &created)
	launch := h.do("POST", "/api/deployments", `{"name": "w1", "product_version_id": "`+created.VersionID+`"}`)
	if a := audits(launch.header.Get("X-Request-Id")); len(a) != 1 ||
		!strings.Contains(a[0], "action=stackwave:LaunchProduct resource=swn:deployment/w1 outcome=succeeded") {
		t.Errorf("launch: %q", a)
	}
	if strings.Contains(h.log.String(), "sup3r-s3cret") {
		t.Errorf("the log shows an env value:\n%s", h.log)
	}
}

// TestStoredVarsNotReadThroughTemplates: a caller who may update a
// deployment but not read its variables cannot make a template fail on
// a stored value and read it in the error.
func TestStoredVarsNotReadThroughTemplates(t *testing.T) {
	h := newHarness(t, nil)
	_, vid := h.create(seedDoc(t))
	var sub api.Submitted
	h.must("POST", "/api/deployments", `{"name": "kodo", "product_version_id": "`+vid+`",
  "vars": {"db_password": "hunter2-stored", "pin": "4242"},
  "config_templates": {"/authproxy_in/qboxauthproxy.conf": "listen 9085 {{.Vars.db_password}} {{.Vars.pin}}\n"}}`, &sub)
	h.waitOp("kodo", sub.OperationID)
	for name, tpl := range map[string]string{
		"own function": `{{addr .Vars.db_password .Vars.pin}}`,
		"builtin":      `{{index .Vars.db_password 99}}{{.Vars.pin}}`,
		"call":         `{{call .Vars.db_password}}{{.Vars.pin}}`,
		"field":        `{{.Vars.db_password.Nope}}{{.Vars.pin}}`,
		"slice":        `{{slice .Vars.db_password 1 99}}{{.Vars.pin}}`,
		"comparison":   `{{if lt .Vars.db_password 3}}{{end}}{{.Vars.pin}}`,
	} {
		res := h.do("POST", "/api/deployments/kodo/update", `{"product_version_id": "`+vid+`",
  "config_templates": {"/authproxy_in/qboxauthproxy.conf": `+strconv.Quote(tpl)+`}}`)
		if res.status != 400 {
			t.Errorf("%s: %s, want 400", name, res)
		}
		if testing.Verbose() {
			t.Logf("%s: %s", name, res.body)
		}
		for _, v := range []string{"hunter2", "unter2-st", "4242"} {
			if strings.Contains(string(res.body), v) {
				t.Errorf("%s: the answer shows a stored value: %s", name, res)
			}
		}
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const inputSecret = "hunter2-s3cr3t"

// inputDoc is a product whose envs are an object holding a secret and
// whose access point is written as the single shorthand.
const inputDoc = `{"product_name": "shop",
 "stack_deps": [[
  {"stack_name": "web", "services": [
   {"service_name": "nginx", "unit_type": "1U1G",
    "image": {"name": "nginx", "tag": "1.27"},
    "envs": {"API_KEY": "` + inputSecret + `", "PORT": "80"},
    "command": ["nginx", "-g", "daemon off;"],
    "config_paths": ["/etc/nginx/nginx.conf"],
    "access_point": {"type": "domain", "backend_ports": [80]}}]}]]}
`

// Every refusal of the issue through `stackwave validate`: the exit code
// (2 for a document that cannot be decoded, 1 for one that breaks the
// rules or a limit), the field as written, and never an env value.
func TestValidateRefusals(t *testing.T) {
	manyServices := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"product_name": "big", "stack_deps": [[{"stack_name": "s", "services": [`)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"service_name": "v%d", "unit_type": "1U1G", "image": {"name": "x", "tag": "1"}}`, i)
		}
		b.WriteString("]}]]}")
		return b.String()
	}
	for _, c := range []struct {
		name, old, new string
		doc            string // instead of a replacement
		code           int
		want           string
	}{
		{name: "a name twice", old: `"product_name": "shop",`, new: `"product_name": "shop", "product_name": "evil",`, code: 2,
			want: `line 1, column 26: product_name: duplicate field "product_name"`},
		{name: "an env twice", old: `"PORT": "80"}`, new: `"PORT": "80", "API_KEY": "x"}`, code: 2,
			want: `stack_deps[0][0].services[0].envs.API_KEY: duplicate field "API_KEY"`},
		{name: "a name in another case", old: `"stack_name"`, new: `"Stack_Name"`, code: 2,
			want: `line 3, column 4: stack_deps[0][0].Stack_Name: unknown field "Stack_Name"; names are case-sensitive: did you mean "stack_name"?`},
		{name: "IMAGE", old: `"image"`, new: `"IMAGE"`, code: 2, want: `stack_deps[0][0].services[0].IMAGE: unknown field "IMAGE"`},
		{name: "invalid UTF-8", old: `"shop"`, new: "\"sh\xffop\"", code: 2, want: "line 1, column 21: product_name: invalid UTF-8 in a string"},
		{name: "a YAML name twice", doc: "product_name: shop\nproduct_name: evil\n", code: 2, want: `line 2, column 1: product_name: duplicate field "product_name"`},
		{name: "a YAML 1.1 boolean", doc: "product_name: shop\nactive: yes\n", code: 2, want: `line 2, column 9: active: expected boolean, got string "yes"`},
		{name: "an env name of an envs object", old: `"PORT": "80"`, new: `"1BAD": "80"`, code: 2,
			want: `stack_deps[0][0].services[0].envs.1BAD: Invalid value: "1BAD=<redacted>": env names must match`},
		{name: "a port of the single access point", old: `"backend_ports": [80]`, new: `"backend_ports": [0]`, code: 2,
			want: "stack_deps[0][0].services[0].access_point.backend_ports[0]: Invalid value: 0"},
		{name: "NUL in an env value", old: `"API_KEY": "` + inputSecret + `"`, new: `"API_KEY": "` + inputSecret + `\u0000"`, code: 2,
			want: `stack_deps[0][0].services[0].envs.API_KEY: Invalid value: "API_KEY=<redacted>": env values must not contain NUL`},
		{name: "NUL in a command", old: `"daemon off;"`, new: `"daemon\u0000off;"`, code: 2, want: "stack_deps[0][0].services[0].command[2]: Invalid value"},
		{name: "a control character in a config path", old: `"/etc/nginx/nginx.conf"`, new: `"/etc/nginx/nginx\u0007.conf"`, code: 2,
			want: "stack_deps[0][0].services[0].config_paths[0]: Invalid value"},
		{name: "a name with a trailing space", old: `"shop"`, new: `"shop "`, code: 2, want: `product_name: Invalid value: "shop ": must not end with a space`},
		{name: "a name with a zero-width space", old: `"shop"`, new: `"sh\u200bop"`, code: 2, want: `product_name: Invalid value: "sh\u200bop": must not contain invisible characters such as U+200B`},
		{name: "a name with a direction override", old: `"shop"`, new: `"shop\u202e"`, code: 2, want: `product_name: Invalid value: "shop\u202e": must not contain direction controls (U+202E)`},
		{name: "a name shaped like an ID", old: `"shop"`, new: `"prod-0123456789abcdef"`, code: 2, want: "product_name: Invalid value: \"prod-0123456789abcdef\": must not have the shape of an ID"},
		{name: "too many services", doc: manyServices(5001), code: 2,
			want: "stack_deps: Too many: must have at most 5000 services in a product (limit max-services), got 5001"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := c.doc
			if doc == "" {
				doc = strings.Replace(inputDoc, c.old, c.new, 1)
				if doc == inputDoc {
					t.Fatal("replacement did not apply")
				}
			}
			ext := ".json"
			if !strings.HasPrefix(doc, "{") {
				ext = ".yaml"
			}
			file := writeFile(t, "doc"+ext, doc)
			code, out, errOut := cli(t, "", "validate", "-f", file)
			if code != c.code || out != "" || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d\nstderr %s\nwant %d and %q", code, errOut, c.code, c.want)
			}
			if strings.Contains(errOut, inputSecret) {
				t.Errorf("an env value is printed: %s", errOut)
			}
		})
	}
	if code, out, errOut := cli(t, inputDoc, "validate", "-f", "-"); code != 0 {
		t.Errorf("the document itself: exit %d %s %s", code, out, errOut)
	}
	big := writeFile(t, "big.json", `{"product_name": "big", "description": "`+strings.Repeat("x", 4<<20)+`"}`)
	if code, _, errOut := cli(t, "", "validate", "-f", big); code != 2 || !strings.Contains(errOut, "limit max-document-bytes") {
		t.Errorf("a large document: exit %d %s", code, errOut)
	}
}

// serve takes the limits and the access keys by flags.
func TestServeLimitsAndAccessKeys(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, []byte("LTAI5tStackwaveCI01 3q9zPp0cXv1T8mWb5yKd7LrA2sHn ci\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "", "serve", "--runtime", "memory", "--store", "memory:", "--access-keys", keys)
	if code != 2 || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("a key file others may read: exit %d %s", code, errOut)
	}
	code, _, errOut = cli(t, "", "serve", "--runtime", "memory", "--store", "memory:", "--max-instances-per-service", "1001")
	if code != 2 || !strings.Contains(errOut, "max-instances-per-service 1001: must be at most 1000") {
		t.Errorf("an instance limit the rules refuse: exit %d %s", code, errOut)
	}
	if err := os.Chmod(keys, 0o600); err != nil {
		t.Fatal(err)
	}
	s := serve(t, "--runtime", "memory", "--store", "memory:", "--access-keys", keys, "--max-services", "1", "--max-document-bytes", "2000")
	post := func(body string) (int, map[string]any) {
		t.Helper()
		res, err := http.Post(s.url+"/api/products", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, out
	}
	two := strings.Replace(inputDoc, `"services": [`, `"services": [{"service_name": "b", "unit_type": "1U1G", "image": {"name": "b", "tag": "1"}},`, 1)
	status, out := post(two)
	if details, _ := out["details"].([]any); status != 400 || len(details) != 1 || !strings.Contains(fmt.Sprint(details[0]), "limit max-services") {
		t.Errorf("two services: %d %v", status, out)
	}
	status, out = post(strings.Replace(inputDoc, `"shop"`, `"`+strings.Repeat("s", 2000)+`"`, 1))
	if status != 400 || !strings.Contains(fmt.Sprint(out["details"]), "limit max-document-bytes") {
		t.Errorf("a large document: %d %v", status, out)
	}
	if status, out = post(inputDoc); status != 200 {
		t.Errorf("within the limits: %d %v", status, out)
	}
	// The compatible API answers, with the cloud API's errors.
	res, err := http.Post(s.url+"/?Action=CreateProduct&Version=2021-09-01&AccessKeyId=LTAI5tStackwaveCI01&Signature=x", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct{ RequestId, Code, Message string }
	if json.NewDecoder(res.Body).Decode(&e); res.StatusCode != 400 || e.Code != "MissingParameter" || e.RequestId == "" {
		t.Errorf("compatible API: %d %+v", res.StatusCode, e)
	}
}

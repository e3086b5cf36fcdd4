package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	broken := writeFile(t, "broken.json", strings.Replace(seed(t), `"tag": "latest"`, `"tag": ""`, 1))
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"status", "nope", "--runtime", "memory"}, 3, "not found"},
		{[]string{"destroy", "nope", "--runtime", "memory", "--progress", "none"}, 3, "not found"},
		{[]string{"status", "nope", "--runtime", "memory", "-o", "bogus"}, 2, `invalid argument "bogus" for "-o, --output" flag: want text, json or yaml`},
		{[]string{"plan", "-f", seedFile, "-o", "xml"}, 2, "want text, json or yaml"},
		{[]string{"validate", "-f", broken}, 2, "1 problems"},
		{[]string{"apply", "-f", seedFile, "--name", "k", "--runtime", "memory", "--store", "sqlite:x.db"}, 2, "--allow-ephemeral-runtime"},
		{[]string{"restart", "shop", "kodo-1", "--detach", "--runtime", "memory"}, 2, "--detach needs --server"},
		{[]string{"apply", "-f", seedFile, "--name", "k", "--detach", "--runtime", "memory"}, 2, "--detach needs --server"},
		{[]string{"status", "x", "--server", "http://127.0.0.1:1", "--store", "memory:"}, 2, "the server's to choose"},
		{[]string{"status", "x", "--server", "ftp://127.0.0.1:1"}, 2, "want an http:// or https:// URL"},
		{[]string{"restart", "x", "a", "--server", "http://127.0.0.1:1", "--runtime", "memory"}, 2, "the server's to choose"},
		{[]string{"scale", "x", "a/b", "2", "--server", "ftp://127.0.0.1:1"}, 2, "want an http:// or https:// URL"},
		{[]string{"plan", "-f", seedFile, "--name", "x", "--server", "http://127.0.0.1:1", "--store", "memory:"}, 2, "the server's to choose"},
		{[]string{"products", "list", "--server", "http://127.0.0.1:1", "--store", "memory:"}, 2, "the server's to choose"},
		{[]string{"logs", "x", "--server", "http://127.0.0.1:1"}, 5, "connection refused"},
		{[]string{"plan", "-f", seedFile, "--name", "x", "--server", "http://127.0.0.1:1"}, 5, "connection refused"},
		// Nothing listens on port 1: the server cannot be reached.
		{[]string{"status", "x", "--server", "http://127.0.0.1:1"}, 5, "connection refused"},
		{[]string{"restart", "x", "a", "--server", "http://127.0.0.1:1", "--progress", "none"}, 5, "connection refused"},
		{[]string{"deployments", "list", "--server", "http://127.0.0.1:1"}, 5, "connection refused"},
		{[]string{"products", "list", "--server", "http://127.0.0.1:1"}, 5, "connection refused"},
	} {
		code, _, errOut := cli(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.err) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.err)
		}
	}
}

func TestValidateOutput(t *testing.T) {
	code, out, errOut := cli(t, "", "validate", "-f", seedFile, "-o", "json")
	var r struct {
		Valid                   bool
		Product                 string
		Tiers, Stacks, Services int
		Problems                []problem
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || errOut != "" ||
		!r.Valid || r.Product != "kodo-double" || r.Tiers != 2 || r.Stacks != 3 || r.Services != 3 {
		t.Errorf("valid: exit %d, %v, %+v\n%s%s", code, err, r, out, errOut)
	}
	doc := strings.Replace(seed(t), `"tag": "latest"`, `"tag": ""`, 1)
	code, out, _ = cli(t, doc, "validate", "-f", "-", "-o", "json")
	r.Problems = nil
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 2 || r.Valid || len(r.Problems) != 1 ||
		r.Problems[0].Field != "stack_deps[0][0].services[0].image.tag" || r.Problems[0].Type != "Required value" {
		t.Errorf("broken: exit %d, %v, %+v", code, err, r)
	}
	code, out, _ = cli(t, "{\"product_name\": 3}", "validate", "-f", "-", "-o", "yaml")
	if code != 2 || !strings.Contains(out, "valid: false") || !strings.Contains(out, "field: product_name") || !strings.Contains(out, "line: 1") {
		t.Errorf("undecodable: exit %d\n%s", code, out)
	}
}

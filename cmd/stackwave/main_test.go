package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the command in process.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

const seedFile = "../../examples/kodo-double.json"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func seed(t *testing.T) string {
	b, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateOK(t *testing.T) {
	code, out, errOut := cli(t, "", "validate", "-f", seedFile)
	if code != 0 || out != "product kodo-double is valid: 2 tiers, 3 stacks, 3 services\n" || errOut != "" {
		t.Errorf("exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

func TestValidateStdin(t *testing.T) {
	code, out, _ := cli(t, seed(t), "validate", "-f", "-")
	if code != 0 || !strings.HasPrefix(out, "product kodo-double is valid") {
		t.Errorf("exit %d: %q", code, out)
	}
	yaml := "product_name: web\nstack_deps:\n- - stack_name: a\n    services:\n    - {service_name: s, unit_type: 1U1G, image: {name: nginx, tag: '1.27'}}\n"
	code, out, _ = cli(t, yaml, "validate", "-f", "-")
	if code != 0 || out != "product web is valid: 1 tiers, 1 stacks, 1 services\n" {
		t.Errorf("YAML: exit %d: %q", code, out)
	}
}

func TestValidateRulesBroken(t *testing.T) {
	doc := strings.Replace(seed(t), `"tag": "latest"`, `"tag": ""`, 1)
	doc = strings.Replace(doc, `"stack_name": "kodo-2"`, `"stack_name": "Kodo_2"`, 1)
	doc = strings.Replace(doc, `"MYSQL_ALLOW_EMPTY_PASSWORD=1"`, `"MYSQL_ALLOW_EMPTY_PASSWORD=1", "MYSQL_ALLOW_EMPTY_PASSWORD=s3cr3t"`, 1)
	file := writeFile(t, "broken.json", doc)
	code, out, errOut := cli(t, "", "validate", "-f", file)
	if code != 2 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	want := []string{
		"stack_deps[0][0].services[0].image.tag: ",
		"stack_deps[0][0].services[0].envs[1]: ",
		"stack_deps[1][1].stack_name: ",
		"stackwave: " + file + ": 3 problems",
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr:\n%s", errOut)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d %q, want it to start with %q", i, lines[i], w)
		}
	}
	if strings.Contains(errOut, "s3cr3t") {
		t.Error("an env value is printed")
	}
}

func TestValidateUndecodable(t *testing.T) {
	doc := strings.Replace(seed(t), `"tag": "latest"`, `"tag": "latest", "tagg": "x"`, 1)
	file := writeFile(t, "typo.json", doc)
	code, out, errOut := cli(t, "", "validate", "-f", file)
	want := file + ": invalid product args: line 5, column 53: stack_deps[0][0].services[0].image.tagg: unknown field \"tagg\"\n"
	if code != 2 || out != "" || errOut != want {
		t.Errorf("exit %d\nstderr %q\nwant   %q", code, errOut, want)
	}
	code, _, errOut = cli(t, "{\n  \"product_name\": \"x\",,\n}", "validate", "-f", "-")
	if code != 2 || !strings.Contains(errOut, "line 2, column") || !strings.Contains(errOut, "malformed JSON") {
		t.Errorf("exit %d: %q", code, errOut)
	}
	code, _, errOut = cli(t, "product_name: x\nstack_deps: 3\n", "validate", "-f", "-")
	if code != 2 || !strings.Contains(errOut, "stack_deps: expected array") {
		t.Errorf("exit %d: %q", code, errOut)
	}
	code, _, errOut = cli(t, "", "validate", "-f", "-")
	if code != 2 || !strings.Contains(errOut, "empty document") {
		t.Errorf("exit %d: %q", code, errOut)
	}
}

func TestPlanText(t *testing.T) {
	code, out, errOut := cli(t, "", "plan", "-f", seedFile)
	want := `product kodo-double: 2 tiers, 3 stacks, 3 services
start:
  tier 0: mysql-cluster
  tier 1: kodo-1, kodo-2
teardown:
  tier 1: kodo-1, kodo-2
  tier 0: mysql-cluster
`
	if code != 0 || out != want || errOut != "" {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	code, out2, _ := cli(t, "", "plan", "-o", "text", "-f", seedFile)
	if code != 0 || out2 != out {
		t.Errorf("-o text differs: %q", out2)
	}
}

func TestPlanJSON(t *testing.T) {
	code, out, errOut := cli(t, "", "plan", "-f", seedFile, "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Tiers    [][]string `json:"tiers"`
		Teardown [][]string `json:"teardown"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tiers) != 2 || strings.Join(got.Tiers[1], ",") != "kodo-1,kodo-2" || strings.Join(got.Teardown[1], ",") != "mysql-cluster" {
		t.Errorf("got %+v", got)
	}
	_, again, _ := cli(t, "", "plan", "-f", seedFile, "-o", "json")
	if again != out {
		t.Error("the same input gave other bytes")
	}
}

func TestPlanRefusesBrokenDocument(t *testing.T) {
	doc := strings.Replace(seed(t), `{"stack_name": "kodo-2",`, `{"stack_name": "kodo-2", "depends_on": ["kodo-1"],`, 1)
	code, out, errOut := cli(t, doc, "plan", "-f", "-")
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "stack_deps[1][1].depends_on[0]: Invalid value: \"kodo-1\"") {
		t.Errorf("exit %d: %q %q", code, out, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "stackwave ") {
		t.Errorf("exit %d: %q", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout for exit 0, else in stderr
	}{
		{nil, 2, "Usage:\n  stackwave [flags]\n  stackwave [command]"},
		{[]string{"deploy"}, 2, `unknown command "deploy" for "stackwave"`},
		{[]string{"help"}, 0, "Available Commands:"},
		{[]string{"-h"}, 0, "Available Commands:"},
		{[]string{"help", "status"}, 0, "Usage:\n  stackwave status NAME [flags]\n\nExamples:\n  stackwave status shop\n"},
		{[]string{"status", "--help"}, 0, "--instances "},
		{[]string{"--version"}, 0, "stackwave "},
		{[]string{"validate"}, 2, "-f FILE is required"},
		{[]string{"validate", "-x"}, 2, "unknown shorthand flag: 'x' in -x"},
		{[]string{"validate", "--bogus"}, 2, "unknown flag: --bogus\nRun 'stackwave validate --help' for usage."},
		{[]string{"validate", "-f"}, 2, "flag needs an argument"},
		{[]string{"validate", "-f", seedFile, "extra.json"}, 2, `unexpected argument "extra.json"`},
		{[]string{"validate", "-h"}, 0, "Usage:\n  stackwave validate -f FILE [flags]"},
		{[]string{"validate", "-f", "does-not-exist.json"}, 2, "does-not-exist.json"},
		{[]string{"plan", "--outptu", "json"}, 2, "unknown flag: --outptu"},
		{[]string{"status"}, 2, "status: want a deployment NAME"},
		{[]string{"status", "a", "b"}, 2, `status: unexpected argument "b"`},
		{[]string{"products"}, 2, "Available Commands:"},
		{[]string{"products", "bogus"}, 2, `unknown command "bogus" for "stackwave products"`},
		{[]string{"version", "now"}, 2, `unexpected argument "now"`},
		{[]string{"completion", "fish"}, 0, "complete -c stackwave"},
		{[]string{"completion", "zsh"}, 0, "#compdef stackwave"},
		{[]string{"completion", "powershell"}, 0, "Register-ArgumentCompleter"},
		{[]string{"completion", "bash"}, 0, "__start_stackwave"},
	} {
		code, out, errOut := cli(t, "", c.args...)
		where := errOut
		if c.code == 0 {
			where = out
		}
		if code != c.code || !strings.Contains(where, c.out) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d and %q", c.args, code, out, errOut, c.code, c.out)
		}
		if c.code != 0 && out != "" {
			t.Errorf("%q: stdout %q", c.args, out)
		}
	}
}

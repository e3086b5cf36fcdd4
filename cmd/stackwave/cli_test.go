package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/runtime/sim"
)

func TestQuickstartHintCarriesItsFlags(t *testing.T) {
	for _, c := range []struct {
		b    backendFlags
		want string
	}{
		{backendFlags{runtime: runtimeAuto}, "status: stackwave status q; remove it: stackwave destroy q --delete-data"},
		{backendFlags{runtime: runtimeKube, store: "sqlite:/tmp/x.db"},
			"status: stackwave status q --store sqlite:/tmp/x.db --runtime kube; remove it: stackwave destroy q --delete-data --store sqlite:/tmp/x.db --runtime kube"},
	} {
		if got := quickstartHint("q", &c.b); got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.b, got, c.want)
		}
	}
}

func TestParseFault(t *testing.T) {
	for spec, want := range map[string]fault{
		"kodo-1/authproxy-in=exit:3": {rule: sim.Fault{Kind: sim.ExitOnStart, Stack: "kodo-1", Service: "authproxy-in", ExitCode: 3}},
		"mysql-cluster=never-ready":  {rule: sim.Fault{Kind: sim.NeverReady, Stack: "mysql-cluster"}},
		"*=apply-error:0.2":          {rule: sim.Fault{Kind: sim.FailApply}, chance: 0.2},
		"*/authproxy-in=crash":       {rule: sim.Fault{Kind: sim.CrashAfterReady, Service: "authproxy-in", ExitCode: 1}},
		"a=init-error:7":             {rule: sim.Fault{Kind: sim.FailInit, Stack: "a", ExitCode: 7}},
		"a=remove-error":             {rule: sim.Fault{Kind: sim.FailRemove, Stack: "a"}},
		"a=wait-error":               {rule: sim.Fault{Kind: sim.FailWait, Stack: "a"}},
	} {
		got, err := parseFault(spec)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for spec, msg := range map[string]string{
		"kodo-1":              "want TARGET=KIND",
		"a=explode":           `unknown fault "explode"`,
		"a=exit:0":            "want 1 to 255",
		"a=apply-error:1.5":   "above 0, at most 1",
		"a=never-ready:":      "want a text after never-ready:",
		`a=never-ready:"x`:    "one double-quoted string",
		`a=never-ready:"  "`:  "want a text after never-ready:",
		"a/b/c=exit":          "want *, STACK or STACK/SERVICE",
		"=exit":               "want TARGET=KIND",
		"a=apply-error:zero":  "above 0, at most 1",
		"a=exit:-1":           "want 1 to 255",
		"a=init-error:300":    "want 1 to 255",
		"a=wait-error:always": "takes no argument",
	} {
		if _, err := parseFault(spec); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", spec, err, msg)
		}
	}
	// never-ready takes a reason, as it is or double-quoted; colons and
	// equal signs are part of it.
	for spec, why := range map[string]string{
		"mysql-cluster=never-ready:no primary: 0/3 votes": "no primary: 0/3 votes",
		`a/b=never-ready:"PVC data-0 unbound (a=b)"`:      "PVC data-0 unbound (a=b)",
		"a=never-ready:3": "3",
	} {
		got, err := parseFault(spec)
		if err != nil || got.rule.Kind != sim.NeverReady || got.rule.Err == nil || got.rule.Err.Error() != why {
			t.Errorf("%s: %+v, %v; want never-ready because %q", spec, got, err, why)
		}
	}
}

func TestFaultFlags(t *testing.T) {
	tpl := writeFile(t, "proxy.conf", seedTemplate)
	base := []string{"apply", "-f", seedWithDB(t), "--name", "k", "--config", "/authproxy_in/qboxauthproxy.conf=" + tpl, "--progress", "plain"}
	// A fault makes the launch fail, and rollback undoes it.
	code, out, errOut := cli(t, "", append(base, "--runtime", "memory", "--fault", "kodo-2/authproxy-in=exit:3", "--policy", "rollback")...)
	if code != 1 || !strings.Contains(out, "service-failed kodo-2/authproxy-in: exited with code 3") ||
		!strings.Contains(out, "rollback-started") || !strings.Contains(errOut, "failed and was rolled back") {
		t.Errorf("exit:3: exit %d\n%s%s", code, out, errOut)
	}
	// Every stack's apply failing with probability 1.
	code, out, errOut = cli(t, "", append(base, "--runtime", "memory", "--fault", "*=apply-error:1")...)
	if code != 1 || !strings.Contains(out, "injected fault (apply-error:1)") {
		t.Errorf("apply-error:1: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		append(base, "--runtime", "docker", "--fault", "a=exit"),
		append(base, "--fault", "a=exit"),
		append(base, "--runtime", "memory", "--fault", "a=boom"),
		{"quickstart", "--fault", "a=exit"},
		{"serve", "--runtime", "docker", "--store", "memory:", "--fault", "a=exit"},
		{"apply", "-f", seedFile, "--name", "k", "--runtime", "memory", "--concurrency", "-1"},
		{"serve", "--runtime", "memory", "--store", "memory:", "--concurrency", "-1"},
	} {
		if code, _, errOut := cli(t, "", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

func TestCatalogCommands(t *testing.T) {
	s := serve(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "sw.db"), "--runtime", "memory")
	if code, out, errOut := s.client(t, nil, "products", "create", "-f", seedFile); code != 0 {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := s.client(t, nil, "versions", "list", "kodo-double")
	if code != 0 || !strings.Contains(out, "ID") || !strings.Contains(out, "true") || !strings.Contains(out, "2 tiers, 3 stacks, 3 services") {
		t.Fatalf("versions list: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if code, out, errOut := s.client(t, nil, "versions", "deactivate", id); code != 0 || !strings.Contains(out, "false") {
		t.Errorf("deactivate: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := s.client(t, nil, "versions", "guidance", id, "Deprecated", "-o", "json"); code != 0 || !strings.Contains(out, `"guidance": "Deprecated"`) || !strings.Contains(out, `"active": false`) {
		t.Errorf("guidance: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := s.client(t, nil, "versions", "activate", id); code != 0 || !strings.Contains(out, "Deprecated  true") {
		t.Errorf("activate: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"versions", "guidance", id, "Best"}, 2},
		{[]string{"versions", "get", "pv-0000000000000000"}, 3},
		{[]string{"versions", "list", "nope"}, 3},
		{[]string{"versions", "get", id, "-o", "yaml"}, 0},
		{[]string{"templates", "get", "tpl-0000000000000000"}, 3},
		{[]string{"versions"}, 2},
	} {
		if code, out, errOut := s.client(t, nil, c.args...); code != c.code {
			t.Errorf("%q: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
		}
	}
	tpl := writeFile(t, "tpl.yaml", "description: web\nstack_deps:\n- - stack_name: a\n    services:\n    - {service_name: s, unit_type: 1U1G, image: {name: nginx, tag: '1.27'}}\n")
	code, out, errOut = s.client(t, nil, "templates", "create", "-f", tpl)
	if code != 0 || !strings.HasPrefix(out, "created template ") {
		t.Fatalf("templates create: exit %d\n%s%s", code, out, errOut)
	}
	tid := strings.TrimSuffix(strings.Fields(out)[2], ":")
	if code, out, errOut := s.client(t, nil, "templates", "get", tid); code != 0 || !strings.Contains(out, "1 tiers, 1 stacks, 1 services") {
		t.Errorf("templates get: exit %d\n%s%s", code, out, errOut)
	}
}

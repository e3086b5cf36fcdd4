package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/stack"
)

func renderDeps() stack.Deps {
	return stack.Deps{
		{{Name: "db", Services: []stack.Service{{Name: "mysql", AccessPoints: []stack.AccessPoint{{Type: "internal_ip", BackendPorts: []int{3306}}}}}}},
		{{Name: "web", Services: []stack.Service{{Name: "api", ConfigPaths: []string{"/etc/api.conf"}}}}},
	}
}

func TestRenderFiles(t *testing.T) {
	tpl := map[string]string{"/etc/api.conf": `db={{addr "db" "mysql"}} host={{host "db" "mysql"}} region={{.Vars.region}} me={{.Stack}}/{{.Service}} in {{.Deployment}} of {{.Product}}`}
	out, err := renderFiles("prod1", "shop", renderDeps(), tpl, map[string]string{"region": "eu"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out["web"]["api"]["/etc/api.conf"])
	want := "db=mysql.db:3306 host=mysql.db region=eu me=web/api in prod1 of shop"
	if got != want {
		t.Fatalf("rendered %q, want %q", got, want)
	}
}

func TestRenderFilesLookupOrder(t *testing.T) {
	tpl := map[string]string{
		"/etc/api.conf":           "generic",
		"api:/etc/api.conf":       "by service",
		"web/api:/etc/api.conf":   "by stack and service",
		"other/api:/etc/api.conf": "wrong stack",
		"worker:/etc/api.conf":    "wrong service",
	}
	out, err := renderFiles("d", "p", renderDeps(), tpl, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out["web"]["api"]["/etc/api.conf"]); got != "by stack and service" {
		t.Fatalf("got %q", got)
	}
	delete(tpl, "web/api:/etc/api.conf")
	out, _ = renderFiles("d", "p", renderDeps(), tpl, nil, nil)
	if got := string(out["web"]["api"]["/etc/api.conf"]); got != "by service" {
		t.Fatalf("got %q", got)
	}
}

func TestRenderFilesErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		tpl  map[string]string
		vars map[string]string
		want string
	}{
		"missing template": {nil, nil, `no template: give ConfigTemplates one of "web/api:/etc/api.conf"`},
		"missing variable": {map[string]string{"/etc/api.conf": "{{.Vars.nope}}"}, nil, `map has no entry for key "nope"`},
		"unknown service":  {map[string]string{"/etc/api.conf": `{{addr "db" "nope"}}`}, nil, "no service db/nope"},
		"no ports":         {map[string]string{"/etc/api.conf": `{{port "web" "api"}}`}, nil, "has no access point ports"},
		"parse error":      {map[string]string{"/etc/api.conf": `{{`}, nil, "unclosed action"},
		// Failures on a variable's value name the template, line and
		// function, never the value.
		"value in own function": {map[string]string{"/etc/api.conf": "x\n{{addr .Vars.pw \"api\"}}"}, map[string]string{"pw": "hunter2"}, `template "/etc/api.conf" line 2 column 2 at <addr .Vars.pw "api">: error calling addr: no service <redacted>/api`},
		"value in builtin":      {map[string]string{"/etc/api.conf": `{{index .Vars.pw 99}}`}, map[string]string{"pw": "hunter2"}, `line 1 column 2 at <index .Vars.pw 99>: error calling index`},
		"short value":           {map[string]string{"/etc/api.conf": `{{port .Vars.db "x"}}`}, map[string]string{"db": "w"}, `error calling port: no service <redacted>/x`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderFiles("d", "p", renderDeps(), tc.tpl, tc.vars, nil)
			var re *RenderError
			if !errors.As(err, &re) || re.Stack != "web" || re.Service != "api" || re.Path != "/etc/api.conf" {
				t.Fatalf("err = %v, want a RenderError for web/api /etc/api.conf", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			for _, v := range tc.vars {
				if strings.Contains(strings.ReplaceAll(err.Error(), "<redacted>", ""), v) && len(v) > 1 {
					t.Fatalf("err = %v shows the value %q", err, v)
				}
			}
		})
	}
}

func TestRenderFilesUsesTheRuntimesHostNames(t *testing.T) {
	tpl := map[string]string{"/etc/api.conf": `{{addr "db" "mysql"}} {{(index .Services "db/mysql").Host}}`}
	host := func(stackName, service string) string { return stackName + "-" + service + ".svc" }
	out, err := renderFiles("d", "p", renderDeps(), tpl, nil, host)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out["web"]["api"]["/etc/api.conf"]); got != "db-mysql.svc:3306 db-mysql.svc" {
		t.Fatalf("got %q", got)
	}
}

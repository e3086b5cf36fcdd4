package product_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/validate"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seedJSON(t testing.TB) string { return string(readFile(t, "../examples/kodo-double.json")) }

// want is the seed document as values: what every form of it decodes to.
func want() *product.Document {
	authproxy := func(stackName string) stack.Stack {
		return stack.Stack{Name: stackName, Services: []stack.Service{{
			Name: "authproxy-in", UnitType: "1U1G",
			AccessPoints: []stack.AccessPoint{{Type: "domain", BackendPorts: []int{9085}}},
			Image:        stack.Image{Name: "authproxy-in." + stackName, Tag: "latest"},
			ConfigPaths:  []string{"/authproxy_in/qboxauthproxy.conf"},
		}}}
	}
	return &product.Document{Name: "kodo-double", StackDeps: stack.Deps{
		{{Name: "mysql-cluster", Services: []stack.Service{{
			Name: "mysql-1", UnitType: "1U1G",
			Image:      stack.Image{Name: "mysql", Tag: "latest"},
			Envs:       []string{"MYSQL_ALLOW_EMPTY_PASSWORD=1"},
			Command:    []string{"mysqld", "--server-id=1"},
			VolumeArgs: []stack.VolumeArg{{MountPath: "/var/lib/mysql", UnitType: "SSD1_10G"}},
		}}}},
		{authproxy("kodo-1"), authproxy("kodo-2")},
	}}
}

// The seed and the forms of it that real documents take all decode to
// the same product, which validates cleanly and hashes the same.
func TestSeedForms(t *testing.T) {
	seed := seedJSON(t)
	yaml := string(readFile(t, "testdata/kodo-double.yaml"))
	forms := []struct{ name, doc string }{
		{"seed JSON", seed},
		{"seed YAML", yaml},
		{"envs as an object", strings.Replace(seed, `["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `{"MYSQL_ALLOW_EMPTY_PASSWORD": "1"}`, 1)},
		{"envs value a number", strings.Replace(seed, `["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `{"MYSQL_ALLOW_EMPTY_PASSWORD": 1}`, 1)},
		{"envs as a YAML mapping", strings.Replace(yaml, `[MYSQL_ALLOW_EMPTY_PASSWORD=1]`, `{MYSQL_ALLOW_EMPTY_PASSWORD: 1}`, 1)},
		{"access_points lists", strings.ReplaceAll(seed, `"access_point": {"type": "domain", "backend_ports": [9085]}`,
			`"access_points": [{"type": "domain", "backend_ports": [9085]}]`)},
		{"fields in another order", strings.Replace(seed, `"service_name": "mysql-1", "unit_type": "1U1G",`, `"unit_type": "1U1G", "service_name": "mysql-1",`, 1)},
		{"compact", regexp.MustCompile(`\s+`).ReplaceAllString(seed, "")},
		{"CRLF", strings.ReplaceAll(seed, "\n", "\r\n")},
		{"leading blank lines", "\n\n  \t" + seed},
		{"byte order mark", "\ufeff" + seed},
		{"YAML with a byte order mark", "\ufeff" + yaml},
		{"YAML document marker", "---\n" + yaml},
		{"YAML end marker and an empty document", yaml + "...\n---\n"},
		{"YAML in flow style", "product_name: kodo-double\nstack_deps: " + seed[strings.Index(seed, "["):strings.LastIndex(seed, "]")+1]},
	}
	wantDoc := want()
	wantHash := product.Hash(wantDoc.StackDeps)
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			doc, err := product.Decode([]byte(f.doc))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantDoc, doc, ignoreShorthands); diff != "" {
				t.Errorf("decoded document (-want +got):\n%s", diff)
			}
			// The shorthands are remembered, for paths as written.
			if f.name != "access_points lists" {
				wantSh := product.Shorthands{{Tier: 1, Stack: 0, Service: 0, AccessPoint: true}, {Tier: 1, Stack: 1, Service: 0, AccessPoint: true}}
				if strings.Contains(f.name, "envs") {
					wantSh = append(product.Shorthands{{EnvsObject: true}}, wantSh...)
				}
				if diff := cmp.Diff(wantSh, doc.Shorthands); diff != "" {
					t.Errorf("shorthands (-want +got):\n%s", diff)
				}
			}
			if err := validate.Document(doc, nil); err != nil {
				t.Errorf("seed does not validate: %v", err)
			}
			if h := product.Hash(doc.StackDeps); h != wantHash {
				t.Errorf("hash %s, want %s", h, wantHash)
			}
		})
	}
}

var ignoreShorthands = cmpopts.IgnoreFields(product.Document{}, "Shorthands")

func TestHash(t *testing.T) {
	h := product.Hash(want().StackDeps)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("hash %q is not sha256:<hex>", h)
	}
	// The canonical form is part of the catalog's contract: stored
	// versions are found by this hash.
	const golden = "sha256:df0275b61975bca3142df6767c78ffeca9e62f4df5ebc389bfdb67a3fc781630"
	if h != golden {
		t.Errorf("seed hash is %s, was %s: the canonical form changed", h, golden)
	}
	d := want().StackDeps
	d[0][0].Services[0].Image.Tag = "8.0"
	if product.Hash(d) == h {
		t.Error("a changed spec hashes the same")
	}
	a := want().StackDeps
	a[0][0].Services[0].Envs = []string{"A=1", "B=2"}
	b := want().StackDeps
	b[0][0].Services[0].Envs = []string{"B=2", "A=1"}
	if product.Hash(a) == product.Hash(b) {
		t.Error("env order is part of the spec: the list form keeps it")
	}
}

func TestEnvsObjectSortedByName(t *testing.T) {
	doc := strings.Replace(seedJSON(t), `["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `{"Z": "last", "A": true, "M": 1.50, "E": ""}`, 1)
	d, err := product.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := d.StackDeps[0][0].Services[0].Envs
	if diff := cmp.Diff([]string{"A=true", "E=", "M=1.50", "Z=last"}, got); diff != "" {
		t.Errorf("envs (-want +got):\n%s", diff)
	}
}

func TestAccessPointAndList(t *testing.T) {
	doc := strings.Replace(seedJSON(t), `"access_point": {"type": "domain", "backend_ports": [9085]}`,
		`"access_points": [{"type": "internal_ip", "backend_ports": [9090], "proto": "udp", "host_ports": [0]}], "access_point": {"type": "domain", "backend_ports": [9085]}`, 1)
	d, err := product.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []stack.AccessPoint{
		{Type: "domain", BackendPorts: []int{9085}},
		{Type: "internal_ip", BackendPorts: []int{9090}, Proto: "udp", HostPorts: []int{0}},
	}
	if diff := cmp.Diff(want, d.StackDeps[1][0].Services[0].AccessPoints); diff != "" {
		t.Errorf("the single access point comes first (-want +got):\n%s", diff)
	}
}

func TestOptionalFields(t *testing.T) {
	doc := `{"product_name": "p", "provider_name": "Qiniu", "description": "d", "product_type": "storage",
 "visibility": "public", "tags": {"team": "kodo"}, "version_name": "v1", "version_description": "first",
 "guidance": "Latest", "active": false,
 "stack_deps": [[{"stack_name": "a", "depends_on": [], "init_scripts": [{"service_name": "s", "command": ["init"]}],
   "services": [{"service_name": "s", "unit_type": "1U1G", "image": {"name": "x", "tag": "1", "digest": "sha256:00"}, "instances": 3,
     "readiness_probe": {"type": "http", "port": 80, "path": "/", "expected_codes": [200], "command": ["c"], "period": "1.5s", "timeout": 30}}]}]]}`
	d, err := product.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	active := false
	want := &product.Document{
		Name: "p", ProviderName: "Qiniu", Description: "d", ProductType: "storage", Visibility: product.Public,
		Tags: map[string]string{"team": "kodo"}, VersionName: "v1", VersionDescription: "first",
		Guidance: product.GuidanceLatest, Active: &active,
		StackDeps: stack.Deps{{{Name: "a", DependsOn: []string{},
			InitScripts: []stack.InitScript{{ServiceName: "s", Command: []string{"init"}}},
			Services: []stack.Service{{Name: "s", UnitType: "1U1G", Image: stack.Image{Name: "x", Tag: "1", Digest: "sha256:00"}, Instances: 3,
				Readiness: &stack.Probe{Type: "http", Port: 80, Path: "/", ExpectedCodes: []int{200}, Command: []string{"c"},
					Period: stack.Duration(1500e6), Timeout: stack.Duration(30e9)}}}}}},
	}
	if diff := cmp.Diff(want, d, ignoreShorthands); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d.StackDeps[0][0].Services[0].Replicas() != 3 {
		t.Error("Replicas")
	}
}

// decodeError decodes doc, which must fail, and checks the error's shape.
func decodeError(t *testing.T, doc string) *product.DecodeError {
	t.Helper()
	d, err := product.Decode([]byte(doc))
	if err == nil {
		t.Fatalf("decoded %+v, want an error", d)
	}
	checkDecodeError(t, err)
	var de *product.DecodeError
	errors.As(err, &de)
	return de
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, product.ErrInvalidArgs) {
		t.Errorf("%v does not match ErrInvalidArgs", err)
	}
	if errors.Is(err, validate.ErrInvalid) {
		t.Errorf("%v matches validate.ErrInvalid", err)
	}
	var ve *validate.Error
	if errors.As(err, &ve) {
		t.Errorf("%v is a *validate.Error", err)
	}
	var de *product.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%v (%T) is not a *DecodeError", err, err)
	}
	if !strings.HasPrefix(err.Error(), "invalid product args: ") {
		t.Errorf("message %q", err)
	}
}

// at returns the 1-based line and column of the first occurrence of
// marker in doc.
func at(t *testing.T, doc, marker string) (line, col int) {
	t.Helper()
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("marker %q not in document", marker)
	}
	line = strings.Count(doc[:i], "\n") + 1
	return line, i - (strings.LastIndex(doc[:i], "\n") + 1) + 1
}

// Unknown fields anywhere are refused, naming their full path and, for
// JSON, where they are.
func TestUnknownFields(t *testing.T) {
	seed := seedJSON(t)
	for _, c := range []struct {
		name, old, new, marker, field string
	}{
		{"top level", `"product_name": "kodo-double",`, `"product_name": "kodo-double", "prodcut_type": "x",`, `"prodcut_type"`, "prodcut_type"},
		{"stack", `{"stack_name": "kodo-2",`, `{"stack_name": "kodo-2", "dependson": ["mysql-cluster"],`, `"dependson"`, "stack_deps[1][1].dependson"},
		{"service", `"service_name": "mysql-1",`, `"service_name": "mysql-1", "imagee": {},`, `"imagee"`, "stack_deps[0][0].services[0].imagee"},
		{"image", `{"name": "mysql", "tag": "latest"}`, `{"name": "mysql", "tag": "latest", "pull": "always"}`, `"pull"`, "stack_deps[0][0].services[0].image.pull"},
		{"single access point", `"access_point": {"type": "domain", "backend_ports": [9085]}`, `"access_point": {"type": "domain", "backend_port": [9085]}`, `"backend_port"`, "stack_deps[1][0].services[0].access_point.backend_port"},
		{"access point list", `"access_point": {"type": "domain", "backend_ports": [9085]}`, `"access_points": [{"type": "domain", "backend_ports": [9085], "front_port": 80}]`, `"front_port"`, "stack_deps[1][0].services[0].access_points[0].front_port"},
		{"volume arg", `"unit_type": "SSD1_10G"}`, `"unit_type": "SSD1_10G", "size": "10G"}`, `"size"`, "stack_deps[0][0].services[0].volume_args[0].size"},
		{"probe", `"service_name": "mysql-1",`, `"service_name": "mysql-1", "readiness_probe": {"type": "tcp", "port": 3306, "interval": "1s"},`, `"interval"`, "stack_deps[0][0].services[0].readiness_probe.interval"},
		{"init script", `{"stack_name": "kodo-2",`, `{"stack_name": "kodo-2", "init_scripts": [{"service_name": "authproxy-in", "cmd": ["x"]}],`, `"cmd"`, "stack_deps[1][1].init_scripts[0].cmd"},
		{"key with a dot", `"product_name": "kodo-double",`, `"product_name": "kodo-double", "a.b": 1,`, `"a.b"`, `["a.b"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(seed, c.old, c.new, 1)
			if doc == seed {
				t.Fatal("replacement did not apply")
			}
			de := decodeError(t, doc)
			line, col := at(t, doc, c.marker)
			if de.Field != c.field || de.Line != line || de.Column != col || !strings.Contains(de.Msg, "unknown field") {
				t.Errorf("got field %q at %d:%d (%s), want %q at %d:%d", de.Field, de.Line, de.Column, de.Msg, c.field, line, col)
			}
			if !strings.Contains(de.Error(), c.field) {
				t.Errorf("message %q does not name %s", de.Error(), c.field)
			}
		})
	}
}

func TestUnknownFieldYAML(t *testing.T) {
	yaml := strings.Replace(string(readFile(t, "testdata/kodo-double.yaml")), "unit_type: SSD1_10G", "unit_type: SSD1_10G\n              size: 10G", 1)
	de := decodeError(t, yaml)
	if de.Field != "stack_deps[0][0].services[0].volume_args[0].size" || !strings.Contains(de.Msg, `unknown field "size"`) {
		t.Errorf("got %v", de)
	}
	// The line and column are the YAML's, not those of the JSON it
	// was converted to.
	if line, col := at(t, yaml, "size: 10G"); de.Line != line || de.Column != col {
		t.Errorf("at %d:%d, want %d:%d", de.Line, de.Column, line, col)
	}
}

func TestWrongTypes(t *testing.T) {
	seed := seedJSON(t)
	for _, c := range []struct {
		name, old, new, field, msg string
	}{
		{"name a number", `"product_name": "kodo-double"`, `"product_name": 7`, "product_name", "expected string, got number 7"},
		{"stack_deps an object", `"stack_deps": [`, `"stack_deps": {"x": 1}, "y": [`, "stack_deps", "expected array, got object"},
		{"tier an object", `"stack_deps": [`, `"stack_deps": [{"stack_name": "x"}, `, "stack_deps[0]", "expected array, got object"},
		{"services an object", `{"stack_name": "kodo-2", "services": [`, `{"stack_name": "kodo-2", "services": {}, "x": [`, "stack_deps[1][1].services", "expected array, got object"},
		{"image a string", `"image": {"name": "mysql", "tag": "latest"}`, `"image": "mysql:latest"`, "stack_deps[0][0].services[0].image", `expected object, got string "mysql:latest"`},
		{"tag a number", `"tag": "latest"}`, `"tag": 8.0}`, "stack_deps[0][0].services[0].image.tag", "expected string, got number 8.0"},
		{"port a string", `"backend_ports": [9085]`, `"backend_ports": ["9085"]`, "stack_deps[1][0].services[0].access_point.backend_ports[0]", `expected integer, got string "9085"`},
		{"port a fraction", `"backend_ports": [9085]`, `"backend_ports": [90.5]`, "stack_deps[1][0].services[0].access_point.backend_ports[0]", "expected integer, got number 90.5"},
		{"port too large for int", `"backend_ports": [9085]`, `"backend_ports": [99999999999999999999]`, "stack_deps[1][0].services[0].access_point.backend_ports[0]", "expected integer, got number 99999999999999999999"},
		{"command a string", `"command": ["mysqld", "--server-id=1"]`, `"command": "mysqld --server-id=1"`, "stack_deps[0][0].services[0].command", `expected array, got string "mysqld --server-id=1"`},
		{"command entry a number", `"command": ["mysqld", "--server-id=1"]`, `"command": ["mysqld", 1]`, "stack_deps[0][0].services[0].command[1]", "expected string, got number 1"},
		{"envs a string", `"envs": ["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `"envs": "A=1"`, "stack_deps[0][0].services[0].envs", "expected an array"},
		{"env entry an object", `"envs": ["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `"envs": [{"A": "1"}]`, "stack_deps[0][0].services[0].envs[0]", "expected string, got object"},
		{"env value an array", `"envs": ["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `"envs": {"A": ["1"]}`, "stack_deps[0][0].services[0].envs.A", "expected a string, number or boolean, got array"},
		{"env value null", `"envs": ["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `"envs": {"A": null}`, "stack_deps[0][0].services[0].envs.A", "expected a string, number or boolean, got null"},
		{"env name with =", `"envs": ["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `"envs": {"A=B": "c"}`, `stack_deps[0][0].services[0].envs["A=B"]`, "must not contain '='"},
		{"instances a string", `"unit_type": "SSD1_10G"}]`, `"unit_type": "SSD1_10G"}], "instances": "2"`, "stack_deps[0][0].services[0].instances", `expected integer, got string "2"`},
		{"active a string", `"product_name": "kodo-double"`, `"product_name": "kodo-double", "active": "yes"`, "active", `expected boolean, got string "yes"`},
		{"tags a list", `"product_name": "kodo-double"`, `"product_name": "kodo-double", "tags": ["a"]`, "tags", "expected object, got array"},
		{"tag value a number", `"product_name": "kodo-double"`, `"product_name": "kodo-double", "tags": {"a": 1}`, "tags.a", "expected string, got number 1"},
		{"depends_on a string", `{"stack_name": "kodo-2",`, `{"stack_name": "kodo-2", "depends_on": "mysql-cluster",`, "stack_deps[1][1].depends_on", `expected array, got string "mysql-cluster"`},
		{"duration a bad string", `"service_name": "mysql-1",`, `"service_name": "mysql-1", "readiness_probe": {"type": "tcp", "port": 1, "period": "soon"},`, "stack_deps[0][0].services[0].readiness_probe.period", `invalid duration "soon"`},
		{"duration overflowing", `"service_name": "mysql-1",`, `"service_name": "mysql-1", "readiness_probe": {"type": "tcp", "port": 1, "timeout": 1e300},`, "stack_deps[0][0].services[0].readiness_probe.timeout", "out of range"},
		{"duration an object", `"service_name": "mysql-1",`, `"service_name": "mysql-1", "readiness_probe": {"type": "tcp", "port": 1, "timeout": {}},`, "stack_deps[0][0].services[0].readiness_probe.timeout", "invalid duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(seed, c.old, c.new, 1)
			if doc == seed {
				t.Fatal("replacement did not apply")
			}
			de := decodeError(t, doc)
			if de.Field != c.field || !strings.Contains(de.Msg, c.msg) || de.Line == 0 {
				t.Errorf("got %q at %d:%d: %s\nwant %q: %s", de.Field, de.Line, de.Column, de.Msg, c.field, c.msg)
			}
		})
	}
}

// Decode errors never show env values either.
func TestDecodeErrorHidesEnvValues(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	for _, envs := range []string{
		`{"PASSWORD": "` + secret + `", "X": {"v": "` + secret + `"}}`,
		`{"PASSWORD": "` + secret + `", "BAD=` + `": "` + secret + `"}`,
		`["PASSWORD=` + secret + `", 7]`,
		`["PASSWORD=` + secret + `"], "envs": 1`,
	} {
		doc := strings.Replace(seedJSON(t), `["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, envs, 1)
		_, err := product.Decode([]byte(doc))
		if err == nil {
			t.Fatalf("%s: want an error", envs)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows an env value: %v", err)
		}
	}
}

func TestMalformed(t *testing.T) {
	seed := seedJSON(t)
	for _, c := range []struct {
		name, doc, msg string
		line           int
	}{
		{"empty", "", "empty document", 0},
		{"blank", " \n\t\r\n", "empty document", 0},
		{"YAML null", "null", "empty document", 0},
		{"YAML comment only", "# nothing\n", "empty document", 0},
		{"truncated", seed[:len(seed)/2], "malformed JSON: unexpected end of input", 0},
		{"missing comma", strings.Replace(seed, `"unit_type": "1U1G",`, `"unit_type": "1U1G"`, 1), "malformed JSON: invalid character", 5},
		{"trailing comma", strings.Replace(seed, `"tag": "latest"}`, `"tag": "latest",}`, 1), "malformed JSON", 0},
		{"single quotes", `{'product_name': 'x'}`, "malformed JSON", 1},
		{"trailing data", seed + `{"product_name": "again"}`, "unexpected data after the top-level value", 19},
		{"trailing garbage", seed + "x", "unexpected data after the top-level value", 19},
		{"two YAML documents", "product_name: a\n---\nproduct_name: b\n", "more than one document", 0},
		{"YAML bad indentation", "product_name: a\n  stack_deps: [\n", "malformed YAML", 0},
		{"YAML duplicate key", "product_name: a\nproduct_name: b\n", `duplicate field "product_name"`, 2},
		{"YAML tab", "product_name:\ta\n\tstack_deps: []", "malformed YAML", 0},
		{"a list", `[{"product_name": "x"}]`, "expected object, got array", 1},
		{"a string", `"kodo"`, "expected object", 0},
		{"YAML scalar", "kodo", "expected object", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			de := decodeError(t, c.doc)
			if !strings.Contains(de.Msg, c.msg) {
				t.Errorf("message %q, want %q", de.Msg, c.msg)
			}
			if c.line > 0 && de.Line != c.line {
				t.Errorf("line %d, want %d (%v)", de.Line, c.line, de)
			}
		})
	}
}

func TestDecodeDeps(t *testing.T) {
	seed := seedJSON(t)
	deps := seed[strings.Index(seed, "[") : strings.LastIndex(seed, "]")+1]
	for _, in := range []string{deps, "- - stack_name: mysql-cluster\n    services: []\n"} {
		d, err := product.DecodeDeps([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(d) == 0 || d[0][0].Name != "mysql-cluster" {
			t.Errorf("got %+v", d)
		}
	}
	if diff := cmp.Diff(want().StackDeps, mustDeps(t, deps)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, err := product.DecodeDeps([]byte(`[[{"stack_name": "a", "service": []}]]`))
	checkDecodeError(t, err)
	var de *product.DecodeError
	if errors.As(err, &de); de.Field != "[0][0].service" {
		t.Errorf("field %q", de.Field)
	}
	_, err = product.DecodeDeps(nil)
	checkDecodeError(t, err)
}

func mustDeps(t *testing.T, s string) stack.Deps {
	d, err := product.DecodeDeps([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Callers embed a document in their own request types.
func TestDecodeJSONEmbedded(t *testing.T) {
	type request struct {
		product.Document
		DryRun bool `json:"dry_run"`
	}
	var r request
	if err := product.DecodeJSON([]byte(`{"product_name": "p", "dry_run": true, "stack_deps": [[{"stack_name": "a", "services": []}]]}`), &r); err != nil {
		t.Fatal(err)
	}
	if !r.DryRun || r.Name != "p" || r.StackDeps[0][0].Name != "a" {
		t.Errorf("got %+v", r)
	}
	doc := `{"product_name": "p",
  "stack_deps": [[{"stack_name": "a", "services": [{"service_name": "s", "imag": 1}]}]]}`
	err := product.DecodeJSON([]byte(doc), &r)
	checkDecodeError(t, err)
	var de *product.DecodeError
	line, col := at(t, doc, `"imag"`)
	if errors.As(err, &de); de.Field != "stack_deps[0][0].services[0].imag" || de.Line != line || de.Column != col {
		t.Errorf("got %q at %d:%d", de.Field, de.Line, de.Column)
	}
}

func TestDecodeErrorText(t *testing.T) {
	for _, c := range []struct {
		e    product.DecodeError
		want string
	}{
		{product.DecodeError{Msg: "empty document"}, "invalid product args: empty document"},
		{product.DecodeError{Field: "a.b", Msg: "m"}, "invalid product args: a.b: m"},
		{product.DecodeError{Field: "a", Line: 3, Column: 9, Msg: "m"}, "invalid product args: line 3, column 9: a: m"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range []struct {
		prefix string
		f      func() string
	}{{"prod-", product.NewProductID}, {"pv-", product.NewVersionID}, {"tpl-", product.NewTemplateID}} {
		re := regexp.MustCompile("^" + c.prefix + "[0-9a-v]{16}$")
		for range 100 {
			id := c.f()
			if !re.MatchString(id) {
				t.Fatalf("ID %q does not match %s", id, re)
			}
			if seen[id] {
				t.Fatalf("ID %q repeated", id)
			}
			seen[id] = true
		}
	}
}

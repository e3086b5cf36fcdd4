package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/validate"
)

// FuzzPipeline feeds documents through decode, validate, plan and both
// renderings. Nothing may panic; errors must be of the documented kind;
// a document that validates must plan; renderings must be deterministic.
// Its seed corpus (below and testdata/fuzz) runs with every go test.
func FuzzPipeline(f *testing.F) {
	seed, err := os.ReadFile("../examples/kodo-double.json")
	if err != nil {
		f.Fatal(err)
	}
	s := string(seed)
	for _, doc := range []string{
		s,
		string(sample.Document(4, 2, 2)),
		strings.Replace(s, `{"stack_name": "kodo-2",`, `{"stack_name": "kodo-2", "depends_on": ["mysql-cluster", "kodo-1", "nope", "kodo-2"],`, 1),
		strings.Replace(s, `"stack_name": "kodo-2"`, `"stack_name": "kodo-1"`, 1),
		strings.Replace(s, `["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, `{"A": 1, "B": "x", "A=": true}`, 1),
		strings.Replace(s, `"access_point": {`, `"access_points": [{"type": "public_ip", "backend_ports": [53, 53], "proto": "udp", "host_ports": [0, -1, 70000]}], "access_point": {`, 1),
		strings.Replace(s, `"service_name": "mysql-1",`, `"service_name": "mysql-1", "instances": -3, "readiness_probe": {"type": "http", "port": 0, "path": "x", "expected_codes": [1], "period": -1, "timeout": "1h"},`, 1),
		strings.Replace(s, `{"stack_name": "kodo-2",`, `{"stack_name": "kodo-2", "init_scripts": [{"service_name": "x", "command": [""]}],`, 1),
		`{"product_name": "p", "stack_deps": [[], [{"stack_name": "a", "services": []}]]}`,
		`{"product_name": "p", "template_url": "stackwave://templates/tpl-1", "stack_deps": [[{"stack_name": "a", "services": [{"service_name": "s"}]}]]}`,
		`{"product_name": "p", "tags": {"a.b": "\n"}, "visibility": "x", "guidance": "y", "active": true}`,
		"product_name: p\nstack_deps:\n- - stack_name: a\n    services:\n    - {service_name: s, unit_type: 1U1G, image: {name: x, tag: '1'}}\n",
		"product_name: p\n---\nproduct_name: q\n",
		"\ufeff" + s,
		s + "x",
		"",
		"null",
		"{",
		"[[]]",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := product.Decode(data)
		if err != nil {
			var de *product.DecodeError
			if !errors.As(err, &de) || !errors.Is(err, product.ErrInvalidArgs) || errors.Is(err, validate.ErrInvalid) {
				t.Fatalf("decode error of the wrong kind: %T %v", err, err)
			}
			return
		}
		verr := validate.Document(doc, nil)
		if verr != nil {
			var ve *validate.Error
			if !errors.As(verr, &ve) || len(ve.Errors) == 0 || errors.Is(verr, product.ErrInvalidArgs) {
				t.Fatalf("validation error of the wrong kind: %T %v", verr, verr)
			}
			for _, fe := range ve.Errors {
				if fe.Field == "" || strings.ContainsAny(fe.Error(), "\n\r") {
					t.Fatalf("problem without a one-line path: %q", fe.Error())
				}
			}
		}
		_ = product.Hash(doc.StackDeps)
		plan, perr := deploy.NewPlan(doc.StackDeps)
		if perr != nil {
			if verr == nil {
				t.Fatalf("a valid document does not plan: %v", perr)
			}
			return
		}
		render := func() (string, []byte) {
			var b bytes.Buffer
			if err := plan.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			js, err := json.Marshal(plan)
			if err != nil {
				t.Fatal(err)
			}
			return b.String(), js
		}
		text1, js1 := render()
		text2, js2 := render()
		if text1 != text2 || !bytes.Equal(js1, js2) {
			t.Fatal("renderings differ for the same plan")
		}
		var shape struct {
			Tiers    [][]string `json:"tiers"`
			Teardown [][]string `json:"teardown"`
		}
		if err := json.Unmarshal(js1, &shape); err != nil || shape.Tiers == nil || shape.Teardown == nil || len(shape.Tiers) != len(shape.Teardown) {
			t.Fatalf("plan JSON %s: %v", js1, err)
		}
		path, total := plan.CriticalPath(func(string) time.Duration { return time.Second })
		if plan.Len() > 0 && (len(path) == 0 || total < time.Second) {
			t.Fatalf("critical path %v %v", path, total)
		}
		if verr == nil {
			// A valid plan starts every stack after what it waits for.
			pos := map[string]int{}
			for i, name := range plan.Order() {
				pos[name] = i
			}
			for _, name := range plan.Order() {
				for _, dep := range plan.DependsOn(name) {
					if pos[dep] >= pos[name] {
						t.Fatalf("%s starts before %s", name, dep)
					}
				}
			}
		}
	})
}

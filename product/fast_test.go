package product

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/stack"
)

// fastSeeds are documents that take the fast decoder or make it give up
// in every way it can.
func fastSeeds(tb testing.TB) []string {
	seed, err := os.ReadFile("../examples/kodo-double.json")
	if err != nil {
		tb.Fatal(err)
	}
	s := string(seed)
	env := func(new string) string {
		return strings.Replace(s, `["MYSQL_ALLOW_EMPTY_PASSWORD=1"]`, new, 1)
	}
	probe := func(p string) string {
		return strings.Replace(s, `"service_name": "mysql-1",`, `"service_name": "mysql-1", "readiness_probe": `+p+`,`, 1)
	}
	return []string{
		s,
		string(sample.Document(3, 2, 2)),
		env(`{"B": "2", "A": 1.5e3, "C": true, "D": false, "E": ""}`),
		env(`{"A": "1", "A": "2"}`),
		env(`{"A=B": "1"}`),
		env(`{"A": null}`),
		env(`{"A": 1e400}`),
		env(`{"\u0041": "\u00e9\n"}`),
		env(`["A=\"quoted\"", "B=caf\u00e9", "C=café", "D=\ud800"]`),
		env(`[]`),
		env(`{}`),
		env(`null`),
		probe(`{"type": "http", "port": 80, "path": "/", "expected_codes": [200, 204], "period": "1.5s", "timeout": 30}`),
		probe(`{"type": "exec", "command": ["true"], "period": 1e300}`),
		probe(`{"type": "tcp", "port": 1, "timeout": -0.5}`),
		probe(`{"type": "tcp", "port": 1, "timeout": "soon"}`),
		probe(`null`),
		strings.Replace(s, `"product_name": "kodo-double"`, `"product_name": "kodo-double", "tags": {"a": "1", "b.c": ""}, "active": true, "visibility": "public", "guidance": "Latest", "template_url": "", "provider_name": "p", "description": "d", "product_type": "t", "version_name": "v", "version_description": "vd"`, 1),
		strings.Replace(s, `"product_name": "kodo-double"`, `"product_name": "kodo-double", "tags": {"a": "1", "a": "2"}`, 1),
		strings.Replace(s, `"product_name": "kodo-double"`, `"Product_Name": "kodo-double"`, 1),
		strings.Replace(s, `"product_name": "kodo-double"`, `"product_name": "a", "product_name": "b"`, 1),
		strings.Replace(s, `"stack_name": "kodo-2",`, `"stack_name": "kodo-2", "depends_on": [], "init_scripts": [{"service_name": "authproxy-in", "command": []}],`, 1),
		strings.Replace(s, `"stack_name": "kodo-2",`, `"stack_name": "kodo-2", "services": [],`, 1),
		strings.Replace(s, `"backend_ports": [9085]`, `"backend_ports": [9085, -0, 1.0, 1e2]`, 1),
		strings.Replace(s, `"backend_ports": [9085]`, `"backend_ports": [99999999999999999999]`, 1),
		strings.Replace(s, `"backend_ports": [9085]`, `"backend_ports": [9085], "host_ports": [0], "proto": "tcp"`, 1),
		strings.Replace(s, `"access_point": {`, `"access_points": [{"type": "public_ip", "backend_ports": []}], "access_point": {`, 1),
		strings.Replace(s, `"instances"`, `"instances"`, 1) + " ",
		s + "{}",
		`{"product_name": "x", "stack_deps": []}`,
		`{"product_name": "x", "stack_deps": [[]]}`,
		`{"product_name": "x", "stack_deps": null}`,
		`{}`,
		`[[{"stack_name": "a", "services": [{"service_name": "s", "instances": 3}]}]]`,
		`[]`,
		`{"product_name": "\u00e9\xff"}`,
		`{"product_name": "a` + "\t" + `b"}`,
	}
}

// Whenever the fast decoder succeeds, the reference decoder succeeds too
// with exactly the same value (nil and empty slices told apart).
func checkFastAgrees(t *testing.T, data []byte) {
	var fastDoc Document
	if fastDecode(data, &fastDoc) {
		var ref Document
		if err := DecodeJSON(data, &ref); err != nil {
			t.Fatalf("fast decoder accepted what the reference refuses (%v):\n%s", err, data)
		}
		if diff := cmp.Diff(&ref, &fastDoc); diff != "" {
			t.Fatalf("fast and reference decoders disagree (-reference +fast):\n%s\ninput:\n%s", diff, data)
		}
	}
	var fastDeps stack.Deps
	if fastDecode(data, &fastDeps) {
		var ref stack.Deps
		if err := DecodeJSON(data, &ref); err != nil {
			t.Fatalf("fast decoder accepted stack_deps the reference refuses (%v):\n%s", err, data)
		}
		if diff := cmp.Diff(ref, fastDeps); diff != "" {
			t.Fatalf("fast and reference decoders disagree on stack_deps (-reference +fast):\n%s\ninput:\n%s", diff, data)
		}
	}
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(checkFastAgrees)
}

// The fast decoder must take common documents, or the benchmarks would
// measure the reference decoder.
func TestFastDecoderTakesCommonDocuments(t *testing.T) {
	seeds := fastSeeds(t)
	for i, s := range seeds[:3] {
		var doc Document
		if !fastDecode([]byte(s), &doc) {
			t.Errorf("seed %d: the fast decoder gave up", i)
		}
	}
	large := sample.Document(20, 10, 5) // strings span several chunks
	if !fastDecode(large, new(Document)) {
		t.Error("the fast decoder gave up on the sample product")
	}
	checkFastAgrees(t, large)
	// What it gives up on still decodes, through the reference.
	for _, s := range []string{seeds[3], seeds[len(seeds)-2]} {
		if fastDecode([]byte(s), new(Document)) {
			t.Errorf("the fast decoder took %s", s)
		}
	}
	if _, err := Decode([]byte(seeds[3])); err != nil {
		t.Errorf("a repeated env name decodes through the reference: %v", err)
	}
}

// BenchmarkDecodeReference measures the strict reflective decoder that
// the fast decoder falls back to, for comparison with BenchmarkDecode.
func BenchmarkDecodeReference(b *testing.B) {
	data := sample.Large()
	b.SetBytes(int64(len(data)))
	sample.PerService(b, sample.LargeStacks*sample.LargeServices, func() {
		var doc Document
		if err := DecodeJSON(data, &doc); err != nil {
			b.Fatal(err)
		}
	})
}

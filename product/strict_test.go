package product_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stackwave/stackwave/product"
)

// A small product in JSON and the same in YAML, each with a marker the
// cases replace.
const (
	smallJSON = `{"product_name": "shop",
 "stack_deps": [[
  {"stack_name": "web", "services": [
   {"service_name": "nginx", "unit_type": "1U1G",
    "image": {"name": "nginx", "tag": "1.27"},
    "envs": {"API_KEY": "hunter2-s3cr3t", "PORT": 80},
    "access_point": {"type": "domain", "backend_ports": [80]}}]}]]}
`
	smallYAML = `product_name: shop
stack_deps:
  - - stack_name: web
      services:
        - service_name: nginx
          unit_type: 1U1G
          image: {name: nginx, tag: "1.27"}
          envs:
            API_KEY: hunter2-s3cr3t
            PORT: 80
          access_point:
            type: domain
            backend_ports: [80]
`
	secret = "hunter2-s3cr3t"
)

// Every way a document can mean two things, or nothing an engine runs, is
// refused, in JSON and in YAML alike, naming the field as written and the
// line and column; no error shows an env value.
func TestRefusals(t *testing.T) {
	type form struct{ old, new, marker string }
	for _, c := range []struct {
		name       string
		json, yaml form
		field, msg string
	}{
		{name: "product_name twice",
			json:  form{`"product_name": "shop",`, `"product_name": "shop", "product_name": "evil",`, `"product_name": "evil"`},
			yaml:  form{"product_name: shop\n", "product_name: shop\nproduct_name: evil\n", "product_name: evil"},
			field: "product_name", msg: `duplicate field "product_name"`},
		{name: "image twice",
			json:  form{`"image": {"name": "nginx", "tag": "1.27"},`, `"image": {"name": "nginx", "tag": "1.27"}, "image": {"name": "evil", "tag": "1"},`, `"image": {"name": "evil"`},
			yaml:  form{`image: {name: nginx, tag: "1.27"}`, "image: {name: nginx, tag: \"1.27\"}\n          image: {name: evil, tag: \"1\"}", "image: {name: evil"},
			field: "stack_deps[0][0].services[0].image", msg: `duplicate field "image"`},
		{name: "tag twice",
			json:  form{`"tag": "1.27"}`, `"tag": "1.27", "tag": "latest"}`, `"tag": "latest"`},
			yaml:  form{`tag: "1.27"}`, `tag: "1.27", tag: latest}`, "tag: latest"},
			field: "stack_deps[0][0].services[0].image.tag", msg: `duplicate field "tag"`},
		{name: "env name twice",
			json:  form{`"PORT": 80}`, `"PORT": 80, "API_KEY": "other"}`, `"API_KEY": "other"`},
			yaml:  form{"PORT: 80\n", "PORT: 80\n            API_KEY: other\n", "API_KEY: other"},
			field: "stack_deps[0][0].services[0].envs.API_KEY", msg: `duplicate field "API_KEY"`},
		{name: "access_point twice",
			json:  form{`"access_point": {`, `"access_point": {"type": "public_ip", "backend_ports": [81]}, "access_point": {`, `"access_point": {"type": "domain"`},
			yaml:  form{"          access_point:\n", "          access_point: {type: public_ip, backend_ports: [81]}\n          access_point:\n", "access_point:\n"},
			field: "stack_deps[0][0].services[0].access_point", msg: `duplicate field "access_point"`},
		{name: "PRODUCT_NAME",
			json:  form{`"product_name": "shop"`, `"PRODUCT_NAME": "shop"`, `"PRODUCT_NAME"`},
			yaml:  form{"product_name: shop", "PRODUCT_NAME: shop", "PRODUCT_NAME"},
			field: "PRODUCT_NAME", msg: `unknown field "PRODUCT_NAME"; names are case-sensitive: did you mean "product_name"?`},
		{name: "Stack_Name",
			json:  form{`"stack_name": "web"`, `"Stack_Name": "web"`, `"Stack_Name"`},
			yaml:  form{"stack_name: web", "Stack_Name: web", "Stack_Name"},
			field: "stack_deps[0][0].Stack_Name", msg: `did you mean "stack_name"?`},
		{name: "IMAGE",
			json:  form{`"image": {`, `"IMAGE": {`, `"IMAGE"`},
			yaml:  form{"image: {", "IMAGE: {", "IMAGE"},
			field: "stack_deps[0][0].services[0].IMAGE", msg: `did you mean "image"?`},
		{name: "Backend_Ports in the single access point",
			json:  form{`"backend_ports": [80]`, `"Backend_Ports": [80]`, `"Backend_Ports"`},
			yaml:  form{"backend_ports: [80]", "Backend_Ports: [80]", "Backend_Ports"},
			field: "stack_deps[0][0].services[0].access_point.Backend_Ports", msg: `did you mean "backend_ports"?`},
		{name: "a port of the single access point a string",
			json:  form{`"backend_ports": [80]`, `"backend_ports": ["80"]`, `"80"`},
			yaml:  form{"backend_ports: [80]", `backend_ports: ["80"]`, `"80"`},
			field: "stack_deps[0][0].services[0].access_point.backend_ports[0]", msg: `expected integer, got string "80"`},
		{name: "env value an array",
			json:  form{`"PORT": 80`, `"PORT": [80]`, `[80]`},
			yaml:  form{"PORT: 80", "PORT: [80]", "[80]"},
			field: "stack_deps[0][0].services[0].envs.PORT", msg: "expected a string, number or boolean, got array"},
		{name: "env value null",
			json:  form{`"PORT": 80`, `"PORT": null`, `null`},
			yaml:  form{"PORT: 80", "PORT: ~", "~"},
			field: "stack_deps[0][0].services[0].envs.PORT", msg: "expected a string, number or boolean, got null"},
		{name: "env name with =",
			json:  form{`"PORT": 80`, `"PORT=81": 80`, `"PORT=81"`},
			yaml:  form{"PORT: 80", "PORT=81: 80", "PORT=81"},
			field: `stack_deps[0][0].services[0].envs["PORT=81"]`, msg: "env names must not contain '='"},
		{name: "YAML 1.1 boolean",
			json:  form{`"product_name": "shop"`, `"product_name": "shop", "active": "yes"`, `"yes"`},
			yaml:  form{"product_name: shop", "product_name: shop\nactive: yes", "yes"},
			field: "active", msg: `expected boolean, got string "yes"`},
		{name: "a number for a string",
			json:  form{`"product_name": "shop"`, `"product_name": "shop", "version_name": 1.10`, `1.10`},
			yaml:  form{"product_name: shop", "product_name: shop\nversion_name: 1.10", "1.10"},
			field: "version_name", msg: "expected string, got number 1.10"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, f := range []struct {
				lang, base string
				form
			}{{"JSON", smallJSON, c.json}, {"YAML", smallYAML, c.yaml}} {
				doc := strings.Replace(f.base, f.old, f.new, 1)
				if doc == f.base {
					t.Fatalf("%s: replacement did not apply", f.lang)
				}
				de := decodeError(t, doc)
				line, col := at(t, doc, f.marker)
				if de.Field != c.field || !strings.Contains(de.Msg, c.msg) || de.Line != line || de.Column != col {
					t.Errorf("%s: got %q at %d:%d: %s\nwant %q at %d:%d: %s", f.lang, de.Field, de.Line, de.Column, de.Msg, c.field, line, col, c.msg)
				}
				if strings.Contains(de.Error(), secret) {
					t.Errorf("%s: the error shows an env value: %v", f.lang, de)
				}
			}
		})
	}
}

// Invalid UTF-8 is refused, not turned into U+FFFD.
func TestInvalidUTF8(t *testing.T) {
	for _, c := range []struct{ name, doc, field string }{
		{"in a value", strings.Replace(smallJSON, `"shop"`, "\"sh\xffop\"", 1), "product_name"},
		{"in a name", strings.Replace(smallJSON, `"PORT"`, "\"P\xc3RT\"", 1), "stack_deps[0][0].services[0].envs"},
		{"in an env entry", strings.Replace(smallJSON, `{"API_KEY": "hunter2-s3cr3t", "PORT": 80}`, "[\"A=\xed\xa0\x80\"]", 1), "stack_deps[0][0].services[0].envs[0]"},
		{"a lone surrogate escape", strings.Replace(smallJSON, `"shop"`, `"shop\udc00"`, 1), "product_name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			de := decodeError(t, c.doc)
			if de.Field != c.field || de.Line == 0 || !strings.Contains(de.Msg, "UTF-8") && !strings.Contains(de.Msg, "surrogate") {
				t.Errorf("got %q at %d:%d: %s", de.Field, de.Line, de.Column, de.Msg)
			}
		})
	}
	de := decodeError(t, strings.Replace(smallYAML, "shop", "sh\xffop", 1))
	if de.Line != 1 || de.Column != 17 || !strings.Contains(de.Msg, "invalid UTF-8") {
		t.Errorf("YAML: %v", de)
	}
}

// YAML is read as YAML 1.2: only true and false are booleans, numbers
// stay as written, and the number forms JSON cannot write (which YAML
// 1.1 readers read otherwise) are refused rather than converted.
func TestYAML12(t *testing.T) {
	doc := strings.Replace(smallYAML, "product_name: shop", "product_name: no\nversion_name: \"1.10\"\ndescription: 2024-01-01", 1)
	doc = strings.Replace(doc, "PORT: 80", "PORT: 80\n            A: yes\n            B: 1.50\n            C: true\n            D: off\n            E: -0\n            F: 1e3", 1)
	d, err := product.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "no" || d.VersionName != "1.10" || d.Description != "2024-01-01" {
		t.Errorf("scalars: %q %q %q", d.Name, d.VersionName, d.Description)
	}
	want := []string{"A=yes", "API_KEY=" + secret, "B=1.50", "C=true", "D=off", "E=-0", "F=1e3", "PORT=80"}
	if diff := cmp.Diff(want, d.StackDeps[0][0].Services[0].Envs); diff != "" {
		t.Errorf("envs (-want +got):\n%s", diff)
	}
	for _, n := range []string{"0755", "0o17", "0x1F", "+1", ".5", "1.", ".inf", ".NaN"} {
		doc := strings.Replace(smallYAML, "PORT: 80", "PORT: "+n, 1)
		de := decodeError(t, doc)
		line, col := at(t, doc, n+"\n")
		if de.Line != line || de.Column != col || !strings.Contains(de.Msg, "not one JSON can write") {
			t.Errorf("%s: %v", n, de)
		}
		// Quoted, it is the string as written.
		d, err := product.Decode([]byte(strings.Replace(smallYAML, "PORT: 80", `PORT: "`+n+`"`, 1)))
		if err != nil || d.StackDeps[0][0].Services[0].Envs[1] != "PORT="+n {
			t.Errorf("%s quoted: %v %v", n, err, d)
		}
	}
	de := decodeError(t, strings.Replace(smallYAML, "product_name: shop", "product_name: 12", 1))
	if !strings.Contains(de.Msg, "write it in quotes") {
		t.Errorf("a number for a string: %v", de)
	}
	for _, c := range []struct{ doc, msg string }{
		{strings.Replace(smallYAML, "product_name: shop", "product_name: !!binary c2hvcA==", 1), "unsupported YAML tag !!binary"},
		{strings.Replace(smallYAML, "product_name: shop", "product_name: !!int shop", 1), `"shop" is not a YAML 1.2 int`},
		{strings.Replace(smallYAML, "          unit_type: 1U1G\n", "          <<: {unit_type: 1U1G}\n", 1), "merge keys (<<) are not YAML 1.2"},
		{strings.Replace(smallYAML, "product_name: shop", "? [a, b]\n: shop", 1), "a mapping key must be a scalar"},
	} {
		if de := decodeError(t, c.doc); !strings.Contains(de.Msg, c.msg) || de.Line == 0 {
			t.Errorf("got %v, want %q", de, c.msg)
		}
	}
	// Tags that say what the plain scalar is anyway are fine.
	if _, err := product.Decode([]byte(strings.Replace(smallYAML, "product_name: shop", "product_name: !!str 12\nactive: !!bool true", 1))); err != nil {
		t.Error(err)
	}
}

// Anchors and aliases are expanded, within bounds.
func TestYAMLAliases(t *testing.T) {
	doc := strings.Replace(smallYAML, "          envs:\n", "          envs: &common\n", 1) +
		"  - - stack_name: api\n      services:\n        - service_name: api\n          unit_type: 1U1G\n          image: {name: api, tag: \"1\"}\n          envs: *common\n"
	d, err := product.Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d.StackDeps[0][0].Services[0].Envs, d.StackDeps[1][0].Services[0].Envs); diff != "" {
		t.Errorf("the alias expands to its anchor (-anchor +alias):\n%s", diff)
	}
	if got := d.Shorthands.Of(1, 0, 0); !got.EnvsObject {
		t.Errorf("shorthand of the alias: %+v", got)
	}
	// A billion laughs stops at the bound.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		p := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(p+", ", 9) + p + "]\n")
	}
	b.WriteString("product_name: *a8\n")
	if de := decodeError(t, b.String()); !strings.Contains(de.Msg, "aliases expand it beyond") {
		t.Errorf("billion laughs: %v", de)
	}
}

// The same document in JSON and in YAML decodes to the same product, or
// fails on the same field.
func FuzzJSONYAMLAgree(f *testing.F) {
	f.Add([]byte(smallJSON))
	f.Add([]byte(seedJSON(f)))
	f.Add([]byte(`{"product_name": "a", "product_name": "b"}`))
	f.Add([]byte(`{"product_name": "a", "Active": true}`))
	f.Add([]byte(`{"product_name": "a", "tags": {"x": "1", "x": "2"}}`))
	f.Add([]byte(`{"product_name": "a", "version_name": 1.5, "stack_deps": [[{"stack_name": "s", "services": [{"service_name": "x", "instances": -0, "envs": {"A": 1e3, "B": true}}]}]]}`))
	f.Add([]byte("{\"product_name\": \"a\xff\"}"))
	f.Add([]byte(`{"product_name": "\u00e9\n\t\"", "description": "\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0] != '{' || !jsontext.Value(data).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
			t.Skip("JSON objects only")
		}
		fromJSON, jerr := product.Decode(data)
		fromYAML, yerr := product.DecodeYAML(data)
		switch {
		case jerr == nil && yerr == nil:
			if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
				t.Fatalf("JSON and YAML readings differ (-JSON +YAML):\n%s\ninput:\n%s", diff, data)
			}
		case jerr == nil:
			// JSON that YAML cannot parse (YAML refuses some
			// characters JSON allows in strings) must fail in the YAML
			// parser, not in the decoder.
			if !strings.Contains(yerr.Error(), "malformed YAML") {
				t.Fatalf("JSON accepted, YAML refused with %v:\n%s", yerr, data)
			}
		case yerr == nil:
			t.Fatalf("YAML accepted, JSON refused with %v:\n%s", jerr, data)
		default:
			je, ye := asDecodeError(jerr), asDecodeError(yerr)
			if je != nil && ye != nil && ye.Field != "" && je.Field != ye.Field {
				t.Fatalf("JSON fails at %q (%v), YAML at %q (%v):\n%s", je.Field, jerr, ye.Field, yerr, data)
			}
		}
	})
}

var envField = regexp.MustCompile(`\.envs($|[.\[])`)

func asDecodeError(err error) *product.DecodeError {
	de, _ := err.(*product.DecodeError)
	return de
}

// The reference decoder, on anything: no panic; an error is a
// *DecodeError matching ErrInvalidArgs, located inside the input and
// never showing an env value; a document read is read again the same from
// its canonical JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{smallJSON, smallYAML, seedJSON(f), "product_name: a\nproduct_name: b\n",
		`{"product_name": "a", "stack_deps": [[{"stack_name": "s", "services": [{"service_name": "x", "envs": {"K": "` + secret + `", "K": 1}}]}]]}`,
		"- - stack_name: a\n    services: []\n", "a: &x [*x]\n", "{\"product_name\": \"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := product.Decode(data)
		if err != nil {
			de := asDecodeError(err)
			if de == nil || !errors.Is(err, product.ErrInvalidArgs) {
				t.Fatalf("%v (%T) is not a *DecodeError", err, err)
			}
			if de.Line < 0 || de.Line > bytes.Count(data, []byte("\n"))+1 || de.Column < 0 || de.Column > len(data)+1 {
				t.Fatalf("located at %d:%d, outside the input: %v", de.Line, de.Column, err)
			}
			if envField.MatchString(de.Field) && strings.Contains(de.Msg, secret) {
				t.Fatalf("an error about envs shows an env value: %v", err)
			}
			return
		}
		canonical, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := product.Decode(canonical)
		if err != nil {
			t.Fatalf("the canonical form does not decode (%v):\n%s", err, canonical)
		}
		if diff := cmp.Diff(doc, again, ignoreShorthands, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("read again differently (-first +again):\n%s", diff)
		}
	})
}

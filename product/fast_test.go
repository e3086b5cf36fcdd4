package product

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
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
	top := func(new string) string {
		return strings.Replace(s, `"product_name": "kodo-double"`, new, 1)
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
		env(`["A=\"quoted\"", "B=caf\u00e9", "C=café", "D=\ud83d\ude00"]`),
		env(`["A=\"quoted\"", "D=\ud800"]`),
		env(`[]`),
		env(`{}`),
		env(`null`),
		env(`{"A": "1", "a": "2"}`),
		env(`{"A": "` + "\xff" + `"}`),
		env(`{"` + "\xc3" + `": "1"}`),
		env(`["A=` + "\xed\xa0\x80" + `"]`),
		probe(`{"type": "http", "port": 80, "path": "/", "expected_codes": [200, 204], "period": "1.5s", "timeout": 30}`),
		probe(`{"type": "exec", "command": ["true"], "period": 1e300}`),
		probe(`{"type": "tcp", "port": 1, "timeout": -0.5}`),
		probe(`{"type": "tcp", "port": 1, "timeout": "soon"}`),
		probe(`{"type": "tcp", "port": 1, "Port": 2}`),
		probe(`null`),
		top(`"product_name": "kodo-double", "tags": {"a": "1", "b.c": ""}, "active": true, "visibility": "public", "guidance": "Latest", "template_url": "", "provider_name": "p", "description": "d", "product_type": "t", "version_name": "v", "version_description": "vd"`),
		top(`"product_name": "kodo-double", "tags": {"a": "1", "a": "2"}`),
		top(`"product_name": "kodo-double", "tags": {"a": "1", "A": "2"}`),
		top(`"Product_Name": "kodo-double"`),
		top(`"PRODUCT_NAME": "kodo-double"`),
		top(`"product_name": "a", "product_name": "b"`),
		top(`"product_name": "kodo` + "\xff" + `"`),
		top(`"product_name": "kodo\ud800"`),
		top(`"product_name": "kodo\udc00\ud800"`),
		top(`"product_name": "kodo\ud83d\ude00"`),
		strings.Replace(s, `"stack_name": "kodo-2",`, `"stack_name": "kodo-2", "depends_on": [], "init_scripts": [{"service_name": "authproxy-in", "command": []}],`, 1),
		strings.Replace(s, `"stack_name": "kodo-2",`, `"stack_name": "kodo-2", "services": [],`, 1),
		strings.Replace(s, `"stack_name": "kodo-2",`, `"Stack_Name": "kodo-2",`, 1),
		strings.Replace(s, `"backend_ports": [9085]`, `"backend_ports": [9085, -0, 1.0, 1e2]`, 1),
		strings.Replace(s, `"backend_ports": [9085]`, `"backend_ports": [99999999999999999999]`, 1),
		strings.Replace(s, `"backend_ports": [9085]`, `"backend_ports": [9085], "host_ports": [0], "proto": "tcp"`, 1),
		strings.Replace(s, `"access_point": {`, `"access_points": [{"type": "public_ip", "backend_ports": []}], "access_point": {`, 1),
		strings.Replace(s, `"access_point": {`, `"access_point": {"type": "x"}, "access_point": {`, 1),
		strings.Replace(s, `"image": {"name": "mysql", "tag": "latest"}`, `"IMAGE": {"name": "mysql", "tag": "latest"}`, 1),
		strings.Replace(s, `"image": {"name": "mysql", "tag": "latest"}`, `"image": {"name": "mysql", "tag": "latest"}, "image": {"name": "evil", "tag": "1"}`, 1),
		s + " ",
		s + "{}",
		`{"product_name": "x", "stack_deps": []}`,
		`{"product_name": "x", "stack_deps": [[]]}`,
		`{"product_name": "x", "stack_deps": null}`,
		`{}`,
		`[[{"stack_name": "a", "services": [{"service_name": "s", "instances": 3}]}]]`,
		`[[{"stack_name": "a", "services": [{"service_name": "s", "envs": {"B": "1", "A": "2"}}, {"service_name": "t", "access_point": {"type": "domain"}}]}]]`,
		`[]`,
		`{"product_name": "\u00e9\xff"}`,
		`{"product_name": "a` + "\t" + `b"}`,
	}
}

// checkFastAgrees fails when the fast decoder accepts data and the
// reference decoder refuses it or reads another value (nil and empty
// slices told apart, shorthands included).
func checkFastAgrees(t *testing.T, data []byte) (fastOK bool) {
	t.Helper()
	var fastDoc Document
	if sh, ok := fastDecode(data, &fastDoc); ok {
		fastOK = true
		fastDoc.Shorthands = sh
		var ref Document
		if err := DecodeJSON(data, &ref); err != nil {
			t.Fatalf("fast decoder accepted what the reference refuses (%v):\n%s", err, data)
		}
		if diff := cmp.Diff(&ref, &fastDoc); diff != "" {
			t.Fatalf("fast and reference decoders disagree (-reference +fast):\n%s\ninput:\n%.2000s", diff, data)
		}
	}
	var fastDeps stack.Deps
	if sh, ok := fastDecode(data, &fastDeps); ok {
		fastOK = true
		var ref stack.Deps
		refSh, err := DecodeJSONShorthands(data, &ref)
		if err != nil {
			t.Fatalf("fast decoder accepted stack_deps the reference refuses (%v):\n%s", err, data)
		}
		if diff := cmp.Diff(ref, fastDeps); diff != "" {
			t.Fatalf("fast and reference decoders disagree on stack_deps (-reference +fast):\n%s\ninput:\n%.2000s", diff, data)
		}
		if diff := cmp.Diff(refSh, sh); diff != "" {
			t.Fatalf("fast and reference decoders disagree on shorthands (-reference +fast):\n%s\ninput:\n%.2000s", diff, data)
		}
	}
	return fastOK
}

func FuzzFastDecode(f *testing.F) {
	for _, s := range fastSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastAgrees(t, data) })
}

// member is where an object member is written: its name from nameStart
// (the opening quote) to nameEnd, its value up to end. inMap marks the
// entries of envs and tags objects, whose names are data.
type member struct {
	nameStart, nameEnd, end int64
	inMap                   bool
}

// members lists the members of every object of a JSON document.
func members(tb testing.TB, data []byte) []member {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	var out []member
	var walk func(isMap bool) error
	walk = func(isMap bool) error {
		switch dec.PeekKind() {
		case '{':
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			for dec.PeekKind() != '}' {
				start := nextOffset(dec)
				name, err := dec.ReadToken()
				if err != nil {
					return err
				}
				m := member{nameStart: start, nameEnd: dec.InputOffset(), inMap: isMap}
				if err := walk(name.String() == "envs" || name.String() == "tags"); err != nil {
					return err
				}
				m.end = dec.InputOffset()
				out = append(out, m)
			}
			_, err := dec.ReadToken()
			return err
		case '[':
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			for dec.PeekKind() != ']' {
				if err := walk(false); err != nil {
					return err
				}
			}
			_, err := dec.ReadToken()
			return err
		}
		return dec.SkipValue()
	}
	if err := walk(false); err != nil {
		tb.Fatal(err)
	}
	return out
}

// FuzzFastStrictness breaks a document the ways the reference decoder
// refuses: a member given twice, a name in another case, invalid UTF-8 in
// a name or a value. The reference must refuse each, and so must the fast
// decoder, which would otherwise read something the reference never
// would.
func FuzzFastStrictness(f *testing.F) {
	docs := [][]byte{[]byte(fastSeeds(f)[0]), sample.Document(2, 3, 2), []byte(fastSeeds(f)[22])}
	for op := range 4 {
		for at := range 40 {
			f.Add(uint8(op), uint16(at*7), uint8(0), byte(0xff))
		}
	}
	f.Add(uint8(3), uint16(5), uint8(2), byte(0xc3))
	f.Fuzz(func(t *testing.T, op uint8, at uint16, which uint8, b byte) {
		data := docs[int(which)%len(docs)]
		ms := members(t, data)
		m := ms[int(at)%len(ms)]
		var broken []byte
		switch op % 4 {
		case 0: // the member twice
			broken = append(broken, data[:m.end]...)
			broken = append(broken, ',')
			broken = append(broken, data[m.nameStart:m.end]...)
			broken = append(broken, data[m.end:]...)
		case 1: // the name in upper case
			if m.inMap {
				t.Skip("env and tag names are data, in any case")
			}
			name := data[m.nameStart:m.nameEnd]
			upper := bytes.ToUpper(name)
			if bytes.Equal(upper, name) {
				upper = bytes.ToLower(name)
			}
			if bytes.Equal(upper, name) {
				t.Skip("a name without letters")
			}
			broken = append(append(append(broken, data[:m.nameStart]...), upper...), data[m.nameEnd:]...)
		case 2, 3: // a byte that cannot start UTF-8, in the name or just inside the value
			if b < 0x80 {
				b |= 0x80
			}
			if b >= 0xc2 && b <= 0xf4 {
				b = 0xff // a valid lead byte followed by '"' is invalid too, but keep it plain
			}
			pos := m.nameStart + 1 // inside the name's quotes
			if op%4 == 3 {
				v := bytes.IndexByte(data[m.nameEnd:m.end], '"')
				if v < 0 {
					t.Skip("the value holds no string")
				}
				pos = m.nameEnd + int64(v) + 1
			}
			broken = append(append(append(broken, data[:pos]...), b), data[pos:]...)
		}
		var ref Document
		if err := DecodeJSON(broken, &ref); err == nil {
			t.Fatalf("the reference decoder accepted:\n%s", broken)
		}
		if checkFastAgrees(t, broken) {
			t.Fatalf("the fast decoder accepted:\n%s", broken)
		}
	})
}

// The fast decoder must take common documents, or the benchmarks would
// measure the reference decoder.
func TestFastDecoderTakesCommonDocuments(t *testing.T) {
	seeds := fastSeeds(t)
	for i, s := range seeds[:3] {
		var doc Document
		if _, ok := fastDecode([]byte(s), &doc); !ok {
			t.Errorf("seed %d: the fast decoder gave up", i)
		}
	}
	large := sample.Document(20, 10, 5) // strings span several chunks
	if _, ok := fastDecode(large, new(Document)); !ok {
		t.Error("the fast decoder gave up on the sample product")
	}
	checkFastAgrees(t, large)
	// What it gives up on still decodes, through the reference.
	for _, s := range []string{seeds[3], seeds[len(seeds)-2]} {
		if _, ok := fastDecode([]byte(s), new(Document)); ok {
			t.Errorf("the fast decoder took %s", s)
		}
	}
	if _, err := Decode([]byte(seeds[3])); err == nil || !strings.Contains(err.Error(), "envs.A: duplicate field") {
		t.Errorf("a repeated env name: %v", err)
	}
	if _, err := Decode([]byte(seeds[8])); err != nil {
		t.Errorf("escapes decode through the reference: %v", err)
	}
	// A lone surrogate is not a character: the reference refuses it.
	if _, err := Decode([]byte(seeds[9])); err == nil || !strings.Contains(err.Error(), "envs[1]") {
		t.Errorf("a lone surrogate: %v", err)
	}
	for i, s := range seeds {
		t.Run("", func(t *testing.T) {
			t.Logf("seed %d", i)
			checkFastAgrees(t, []byte(s))
		})
	}
}

// Every field of the model, found by reflection, is read by the fast
// decoder: a field added to the model and not to the fast decoder fails
// here, naming the field, rather than silently sending every document to
// the slower reference.
func TestFastDecoderKnowsEveryField(t *testing.T) {
	base := func() *Document {
		return &Document{Name: "p", StackDeps: stack.Deps{{{Name: "s", Services: []stack.Service{{Name: "v"}}}}}}
	}
	var paths []string
	var visit func(path []int, typ reflect.Type, name string)
	visit = func(path []int, typ reflect.Type, name string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				t.Fatalf("%s.%s has no json name", typ, f.Name)
			}
			fieldPath := append(append([]int(nil), path...), i)
			fieldName := name + "." + tag
			paths = append(paths, fieldName)
			doc := base()
			fill(t, locate(reflect.ValueOf(doc).Elem(), fieldPath), f.Type)
			emptyLists(reflect.ValueOf(doc).Elem())
			data, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			var got Document
			if _, ok := fastDecode(data, &got); !ok {
				t.Errorf("the fast decoder does not read %s:\n%s", fieldName, data)
			} else {
				checkFastAgrees(t, data)
			}
			if elem := structOf(f.Type); elem != nil {
				visit(fieldPath, elem, fieldName)
			}
		}
	}
	visit(nil, reflect.TypeFor[Document](), "")
	if len(paths) < 40 {
		t.Errorf("only %d fields found: %v", len(paths), paths)
	}
}

// structOf returns the struct type a field holds (through pointers and
// slices), or nil.
func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// locate follows field indexes from a Document, entering the first
// element of slices (and making it) and pointers.
func locate(v reflect.Value, path []int) reflect.Value {
	for _, i := range path {
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice {
			if v.Kind() == reflect.Pointer {
				if v.IsNil() {
					v.Set(reflect.New(v.Type().Elem()))
				}
				v = v.Elem()
				continue
			}
			if v.Len() == 0 {
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			}
			v = v.Index(0)
		}
		v = v.Field(i)
	}
	return v
}

// emptyLists replaces the nil slices of fields marshalled without
// omitempty with empty ones, which marshal as [] rather than null.
func emptyLists(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			emptyLists(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			emptyLists(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Slice && fv.IsNil() && !strings.Contains(f.Tag.Get("json"), "omitempty") {
				fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			}
			emptyLists(fv)
		}
	}
}

// fill sets v to a value that is not zero and marshals to the field's
// own form.
func fill(t *testing.T, v reflect.Value, typ reflect.Type) {
	switch {
	case typ == reflect.TypeFor[stack.Duration]():
		v.Set(reflect.ValueOf(stack.Duration(1500 * time.Millisecond)))
		return
	case typ == reflect.TypeFor[stack.Deps]() || typ == reflect.TypeFor[[]stack.Service]():
		return // already there in the base document
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(typ.Elem()))
		fill(t, v.Elem(), typ.Elem())
	case reflect.Slice:
		s := reflect.MakeSlice(typ, 1, 1)
		fill(t, s.Index(0), typ.Elem())
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(typ)
		e := reflect.New(typ.Elem()).Elem()
		fill(t, e, typ.Elem())
		m.SetMapIndex(reflect.ValueOf("k"), e)
		v.Set(m)
	case reflect.Struct:
		// A struct's own fields are filled one by one by the walk.
	default:
		t.Fatalf("no sample value for %s", typ)
	}
}

// BenchmarkDecodeReference measures the reference decoder that the fast
// decoder falls back to, for comparison with BenchmarkDecode.
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

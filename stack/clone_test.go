package stack_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stackwave/stackwave/stack"
)

// fill sets every field reachable from v to a non-zero value: lists get
// two elements, pointers a value, so that a field added to the model
// later is filled too.
func fill(t *testing.T, v reflect.Value, depth int) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+depth)))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(depth + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(depth + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(depth) + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				t.Fatalf("%s has an unexported field %s: extend the walk", v.Type(), v.Type().Field(i).Name)
			}
			fill(t, v.Field(i), depth+1)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), depth+1)
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), depth+1)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, depth+1)
		fill(t, e, depth+1)
		v.SetMapIndex(k, e)
	default:
		t.Fatalf("fill: kind %s of %s: extend the walk", v.Kind(), v.Type())
	}
}

// mutate changes every leaf reachable from v in place, through the
// lists and pointers v holds: what the clone shares with the original
// changes in both.
func mutate(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 100)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 100)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 100)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Struct:
		for i := range v.NumField() {
			mutate(t, v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			mutate(t, v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			mutate(t, v.Elem())
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			mutate(t, e)
			v.SetMapIndex(k, e)
		}
	default:
		t.Fatalf("mutate: kind %s of %s: extend the walk", v.Kind(), v.Type())
	}
}

// TestDepsCloneIsDeep fills every field of a Deps by reflection, so a
// field added later is covered, mutates every leaf of the clone and
// finds the original unchanged.
func TestDepsCloneIsDeep(t *testing.T) {
	build := func() stack.Deps {
		var d stack.Deps
		fill(t, reflect.ValueOf(&d).Elem(), 0)
		return d
	}
	orig, want := build(), build()
	clone := orig.Clone()
	if diff := cmp.Diff(orig, clone); diff != "" {
		t.Fatalf("clone differs from the original (-orig +clone):\n%s", diff)
	}
	mutate(t, reflect.ValueOf(&clone).Elem())
	if diff := cmp.Diff(want, orig); diff != "" {
		t.Fatalf("changing the clone changed the original (-want +got):\n%s", diff)
	}
	if cmp.Equal(orig, clone) {
		t.Fatal("the mutation changed nothing: the walk is broken")
	}
}

// TestDepsCloneKeepsNilAndEmpty: nil lists stay nil, empty ones empty,
// so that the clone marshals as the original does.
func TestDepsCloneKeepsNilAndEmpty(t *testing.T) {
	for _, d := range []stack.Deps{nil, {}, {{}}, {{{Name: "a"}}}, {{{Name: "a", Services: []stack.Service{}, DependsOn: []string{}}}},
		{{{Name: "a", Services: []stack.Service{{Name: "s", Envs: []string{}, Readiness: &stack.Probe{}}}}}}} {
		c := d.Clone()
		a, _ := json.Marshal(d)
		b, _ := json.Marshal(c)
		if string(a) != string(b) || (d == nil) != (c == nil) {
			t.Errorf("clone of %s marshals as %s", a, b)
		}
		if diff := cmp.Diff(d, c); diff != "" {
			t.Errorf("clone differs:\n%s", diff)
		}
	}
}

// FuzzDepsClone: the clone of any decodable spec marshals as the
// original.
func FuzzDepsClone(f *testing.F) {
	f.Add(`[[{"stack_name":"db","services":[{"service_name":"m","unit_type":"1U1G","image":{"name":"mysql"},"envs":["A=1"],"readiness_probe":{"type":"http","expected_codes":[200]}}]}]]`)
	f.Add(`[[],[{"stack_name":"x","depends_on":["db"],"init_scripts":[{"service_name":"m","command":["a"]}]}]]`)
	f.Fuzz(func(t *testing.T, s string) {
		var d stack.Deps
		if json.Unmarshal([]byte(s), &d) != nil {
			return
		}
		c := d.Clone()
		if diff := cmp.Diff(d, c); diff != "" {
			t.Fatalf("clone differs:\n%s", diff)
		}
	})
}

func TestDepsServiceLookup(t *testing.T) {
	d := stack.Deps{
		{{Name: "db", Services: []stack.Service{{Name: "mysql"}}}},
		{{Name: "api", Services: []stack.Service{{Name: "server"}, {Name: "sidecar"}}}},
	}
	if s, tier := d.Stack("api"); s == nil || tier != 1 {
		t.Fatalf("Stack(api) = %v, %d", s, tier)
	}
	if s, tier := d.Stack("none"); s != nil || tier != -1 {
		t.Fatalf("Stack(none) = %v, %d", s, tier)
	}
	if svc := d.Service("api", "sidecar"); svc == nil || svc.Name != "sidecar" {
		t.Fatalf("Service(api, sidecar) = %v", svc)
	}
	for _, c := range [][2]string{{"api", "mysql"}, {"none", "server"}, {"", ""}} {
		if svc := d.Service(c[0], c[1]); svc != nil {
			t.Errorf("Service(%s, %s) = %v, want nil", c[0], c[1], svc)
		}
	}
	var nilDeps stack.Deps
	if nilDeps.Service("a", "b") != nil {
		t.Error("nil deps have a service")
	}
}

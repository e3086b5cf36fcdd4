package runtime_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// variant sets one leaf of a zero value of some type.
type variant struct {
	path string
	set  func(reflect.Value)
}

// variants returns, for every field reachable from t, a way to make it
// differ from its zero value: leaves get a non-zero value, lists get one
// element (zero, then each leaf of it set), pointers get a value. A field
// added to the model without being hashed makes the tests below fail.
func variants(t reflect.Type, path string) []variant {
	switch t.Kind() {
	case reflect.String:
		return []variant{{path, func(v reflect.Value) { v.SetString("x") }}}
	case reflect.Int, reflect.Int64:
		return []variant{{path, func(v reflect.Value) { v.SetInt(7) }}}
	case reflect.Bool:
		return []variant{{path, func(v reflect.Value) { v.SetBool(true) }}}
	case reflect.Struct:
		var out []variant
		for i := range t.NumField() {
			for _, inner := range variants(t.Field(i).Type, path+"."+t.Field(i).Name) {
				out = append(out, variant{inner.path, func(v reflect.Value) { inner.set(v.Field(i)) }})
			}
		}
		return out
	case reflect.Slice, reflect.Pointer:
		wrap := func(p string, inner func(reflect.Value)) variant {
			return variant{p, func(v reflect.Value) {
				if t.Kind() == reflect.Pointer {
					p := reflect.New(t.Elem())
					inner(p.Elem())
					v.Set(p)
					return
				}
				s := reflect.MakeSlice(t, 1, 1)
				inner(s.Index(0))
				v.Set(s)
			}}
		}
		out := []variant{wrap(path+"[zero]", func(reflect.Value) {})}
		for _, inner := range variants(t.Elem(), path+"[0]") {
			out = append(out, wrap(inner.path, inner.set))
		}
		return out
	}
	panic("variants: unhandled kind " + t.Kind().String() + " at " + path)
}

func TestServiceHashCoversEveryField(t *testing.T) {
	seen := map[string]string{}
	base := runtime.ServiceHash(&runtime.StackSpec{}, &stack.Service{})
	seen[base] = "zero service"
	for _, v := range variants(reflect.TypeFor[stack.Service](), "service") {
		var svc stack.Service
		v.set(reflect.ValueOf(&svc).Elem())
		h := runtime.ServiceHash(&runtime.StackSpec{}, &svc)
		if strings.HasPrefix(v.path, "service.Instances") {
			if h != base {
				t.Errorf("%s changes the service hash; scaling must not replace instances", v.path)
			}
			continue
		}
		if prev, dup := seen[h]; dup {
			t.Errorf("%s hashes like %s", v.path, prev)
		}
		seen[h] = v.path
	}
}

func TestStackHashCoversEveryField(t *testing.T) {
	seen := map[string]string{}
	for _, v := range variants(reflect.TypeFor[stack.Stack](), "stack") {
		if strings.HasPrefix(v.path, "stack.Name") || strings.HasPrefix(v.path, "stack.DependsOn") {
			continue // where a stack sits is not its configuration
		}
		if v.path == "stack.Services[0].Instances" {
			continue // 7 instances: checked below, since 0 and 1 are alike
		}
		var s stack.Stack
		v.set(reflect.ValueOf(&s).Elem())
		h := runtime.StackHash(&runtime.StackSpec{Stack: s})
		if prev, dup := seen[h]; dup {
			t.Errorf("%s hashes like %s", v.path, prev)
		}
		seen[h] = v.path
	}
	one := runtime.StackHash(&runtime.StackSpec{Stack: stack.Stack{Services: []stack.Service{{Name: "a"}}}})
	explicitOne := runtime.StackHash(&runtime.StackSpec{Stack: stack.Stack{Services: []stack.Service{{Name: "a", Instances: 1}}}})
	three := runtime.StackHash(&runtime.StackSpec{Stack: stack.Stack{Services: []stack.Service{{Name: "a", Instances: 3}}}})
	if one != explicitOne {
		t.Error("instances 0 and 1 hash differently; both mean one instance")
	}
	if one == three {
		t.Error("the instance count does not change the stack hash")
	}
}

func TestServiceHashFiles(t *testing.T) {
	svc := &stack.Service{Name: "web"}
	hash := func(files map[string][]byte) string {
		return runtime.ServiceHash(&runtime.StackSpec{Files: map[string]map[string][]byte{"web": files}}, svc)
	}
	a := hash(map[string][]byte{"/a": []byte("1"), "/b": []byte("2")})
	for i := range 10 { // map order must not matter
		if h := hash(map[string][]byte{"/b": []byte("2"), "/a": []byte("1")}); h != a {
			t.Fatalf("run %d: same files hash differently", i)
		}
	}
	distinct := map[string]bool{a: true}
	for _, files := range []map[string][]byte{
		nil,
		{"/a": []byte("1")},
		{"/a": []byte("12")},
		{"/a": []byte("1"), "/b": []byte("3")},
		{"/a": []byte("1"), "/c": []byte("2")},
		{"/a": nil},
	} {
		h := hash(files)
		if distinct[h] {
			t.Errorf("files %q hash like another set", files)
		}
		distinct[h] = true
	}
	other := runtime.ServiceHash(&runtime.StackSpec{Files: map[string]map[string][]byte{"db": {"/a": []byte("1")}}}, svc)
	if other != hash(nil) {
		t.Error("another service's files change this service's hash")
	}
}

func TestHashFormat(t *testing.T) {
	h := runtime.ServiceHash(&runtime.StackSpec{}, &stack.Service{Name: "web"})
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+32 {
		t.Errorf("hash %q: want sha256: and 32 hex digits", h)
	}
}

func BenchmarkServiceHash(b *testing.B) {
	spec := &runtime.StackSpec{Deployment: "d", Stack: stack.Stack{Name: "s", Services: []stack.Service{benchService}}}
	for b.Loop() {
		runtime.ServiceHash(spec, &spec.Stack.Services[0])
	}
}

func BenchmarkStackHash(b *testing.B) {
	spec := &runtime.StackSpec{Deployment: "d", Stack: stack.Stack{Name: "s", Services: []stack.Service{benchService, benchService, benchService, benchService, benchService}}}
	for b.Loop() {
		runtime.StackHash(spec)
	}
}

var benchService = stack.Service{
	Name: "svc", UnitType: "1U1G",
	Image:        stack.Image{Name: "nginx", Tag: "1.25"},
	Envs:         []string{"A=1", "B=2"},
	AccessPoints: []stack.AccessPoint{{Type: stack.AccessDomain, BackendPorts: []int{80}}},
}

package runtime

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/capgen"
	"github.com/stackwave/stackwave/stack"
)

// nonCapabilities are the exported interfaces of this package that are
// not optional capabilities of a Runtime.
var nonCapabilities = []string{"Runtime", "LogStream"}

func capabilityNames() []string {
	names := make([]string, len(capabilityTypes))
	for i, t := range capabilityTypes {
		names[i] = t.Name()
	}
	return names
}

// TestEveryInterfaceIsACapability fails when an exported interface is
// added to the package without being made a capability (constant,
// capabilityTypes, the go:generate line of wrap.go) or listed in
// nonCapabilities: Wrap would otherwise drop it silently.
func TestEveryInterfaceIsACapability(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var declared []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() {
					declared = append(declared, ts.Name.Name)
				}
			}
		}
	}
	slices.Sort(declared)
	want := slices.Concat(capabilityNames(), nonCapabilities)
	slices.Sort(want)
	if !slices.Equal(declared, want) {
		t.Errorf("exported interfaces %v, but capabilities and non-capabilities are %v: "+
			"make a new optional interface a capability (a Cap constant, capabilityTypes, the go:generate line in wrap.go, go generate)", declared, want)
	}
	if AllCapabilities != 1<<len(capabilityTypes)-1 {
		t.Errorf("AllCapabilities is %b, want %d bits", AllCapabilities, len(capabilityTypes))
	}
	if len(composers) != 1<<len(capabilityTypes) {
		t.Errorf("the combination table has %d entries, want %d: run go generate", len(composers), 1<<len(capabilityTypes))
	}
}

// TestWrapGenUpToDate checks that wrap_gen.go and its go:generate line
// are what capgen makes of capabilityTypes.
func TestWrapGenUpToDate(t *testing.T) {
	src, err := os.ReadFile("wrap.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate .* -o wrap_gen.go (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("wrap.go has no go:generate line writing wrap_gen.go")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, capabilityNames()) {
		t.Errorf("the go:generate line lists %v, want capabilityTypes' %v", got, capabilityNames())
	}
	want, err := capgen.Generate(capgen.Config{Package: "runtime", Base: "Runtime", Wrapper: "*wrapped", Unwrapper: "unwrapper", Var: "composers", Capabilities: capabilityNames()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("wrap_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("wrap_gen.go is out of date: run go generate ./runtime")
	}
}

// implemented tells by plain type assertions, independently of
// capabilityTypes, which capabilities v has.
func implemented(v any) Capabilities {
	var c Capabilities
	if _, ok := v.(Lifecycle); ok {
		c |= CapLifecycle
	}
	if _, ok := v.(VolumeLister); ok {
		c |= CapVolumeLister
	}
	if _, ok := v.(DeploymentRemover); ok {
		c |= CapDeploymentRemover
	}
	if _, ok := v.(ConcurrencyHinter); ok {
		c |= CapConcurrencyHinter
	}
	if _, ok := v.(Addresser); ok {
		c |= CapAddresser
	}
	if _, ok := v.(ErrorMapper); ok {
		c |= CapErrorMapper
	}
	if _, ok := v.(TierRelabeler); ok {
		c |= CapTierRelabeler
	}
	if _, ok := v.(Watcher); ok {
		c |= CapWatcher
	}
	if _, ok := v.(LogReader); ok {
		c |= CapLogReader
	}
	return c
}

// full implements Runtime and every capability, recording the calls it
// gets.
type full struct{ calls []string }

type ctxKey struct{}

var errFull = errors.New("full: failed")

func (f *full) rec(ctx context.Context, call string) error {
	if v, _ := ctx.Value(ctxKey{}).(string); v != "" {
		call += "+" + v
	}
	f.calls = append(f.calls, call)
	return errFull
}

func (f *full) Name() string { return "full" }
func (f *full) Apply(ctx context.Context, s *StackSpec, r Reporter) error {
	return f.rec(ctx, "Apply")
}
func (f *full) Wait(ctx context.Context, s *StackSpec, r Reporter) error { return f.rec(ctx, "Wait") }
func (f *full) Remove(ctx context.Context, ref StackRef, o RemoveOptions) error {
	return f.rec(ctx, "Remove")
}
func (f *full) Observe(ctx context.Context, d string) (*DeploymentState, error) {
	return &DeploymentState{Deployment: d}, f.rec(ctx, "Observe")
}
func (f *full) RunInit(ctx context.Context, s *StackSpec, i int, r Reporter) error {
	return f.rec(ctx, "RunInit")
}
func (f *full) Stop(ctx context.Context, ref StackRef) error    { return f.rec(ctx, "Stop") }
func (f *full) Start(ctx context.Context, s *StackSpec) error   { return f.rec(ctx, "Start") }
func (f *full) Restart(ctx context.Context, s *StackSpec) error { return f.rec(ctx, "Restart") }
func (f *full) Volumes(ctx context.Context, d string) ([]VolumeState, error) {
	return []VolumeState{{Name: "v"}}, f.rec(ctx, "Volumes")
}
func (f *full) RemoveDeployment(ctx context.Context, d string, tiers [][]string, o RemoveOptions) error {
	return f.rec(ctx, "RemoveDeployment")
}
func (f *full) Concurrency() int { f.calls = append(f.calls, "Concurrency"); return 7 }
func (f *full) ServiceHost(d, s, svc string) string {
	f.calls = append(f.calls, "ServiceHost")
	return svc + ".host"
}
func (f *full) MapError(err error) error { f.calls = append(f.calls, "MapError"); return err }
func (f *full) RelabelsTier() bool       { f.calls = append(f.calls, "RelabelsTier"); return true }
func (f *full) Watch(ctx context.Context, notify func(string)) error {
	return f.rec(ctx, "Watch")
}
func (f *full) Logs(ctx context.Context, d string, q LogQuery) (LogStream, error) {
	return nil, f.rec(ctx, "Logs")
}

// TestWrapKeepsCapabilitiesExactly builds, for every set of
// capabilities, a runtime with exactly those, and checks that Wrap keeps
// exactly them and passes every call of each on, between the hooks.
func TestWrapKeepsCapabilitiesExactly(t *testing.T) {
	if got := implemented(&full{}); got != AllCapabilities {
		t.Fatalf("the test's full runtime has %v, want every capability: extend full and implemented", got)
	}
	ctx := context.Background()
	spec := &StackSpec{Deployment: "d", Stack: stack.Stack{Name: "s"}}
	for set := range Capabilities(len(composers)) {
		inner := &full{}
		rt := composers[set](&wrapped{rt: inner}) // exactly set, by the table
		if got := implemented(rt); got != set {
			t.Fatalf("table entry %d implements %v, want %v", set, got, set)
		}
		if got := CapabilitiesOf(rt); got != set {
			t.Fatalf("CapabilitiesOf(entry %d) = %v, want %v", set, got, set)
		}
		var before, after []string
		w := Wrap(rt, Hooks{
			Before: func(ctx context.Context, c Call) context.Context {
				before = append(before, c.Method)
				return context.WithValue(ctx, ctxKey{}, "hooked")
			},
			After: func(ctx context.Context, c Call, took time.Duration, err error) {
				if v, _ := ctx.Value(ctxKey{}).(string); v != "hooked" || !errors.Is(err, errFull) || took < 0 {
					t.Errorf("After %s: ctx value %q, err %v, took %v", c.Method, v, err, took)
				}
				after = append(after, c.Method)
			},
		})
		if got := implemented(w); got != set {
			t.Fatalf("Wrap of a runtime with %v implements %v", set, got)
		}
		if got := CapabilitiesOf(w); got != set {
			t.Fatalf("CapabilitiesOf(Wrap of %v) = %v", set, got)
		}
		if u, ok := w.(interface{ Unwrap() Runtime }); !ok || u.Unwrap() != rt {
			t.Fatalf("Wrap of %v does not unwrap to the runtime it wraps", set)
		}

		want := []string{"Apply", "Wait", "Remove", "Observe", "RunInit"}
		w.Apply(ctx, spec, nil)
		w.Wait(ctx, spec, nil)
		w.Remove(ctx, spec.Ref(), RemoveOptions{})
		w.Observe(ctx, "d")
		w.RunInit(ctx, spec, 0, nil)
		if lc, ok := w.(Lifecycle); ok {
			lc.Stop(ctx, spec.Ref())
			lc.Start(ctx, spec)
			lc.Restart(ctx, spec)
			want = append(want, "Stop", "Start", "Restart")
		}
		if vl, ok := w.(VolumeLister); ok {
			if vs, _ := vl.Volumes(ctx, "d"); len(vs) != 1 {
				t.Errorf("Volumes through the wrapper: %v", vs)
			}
			want = append(want, "Volumes")
		}
		if dr, ok := w.(DeploymentRemover); ok {
			dr.RemoveDeployment(ctx, "d", nil, RemoveOptions{})
			want = append(want, "RemoveDeployment")
		}
		if wa, ok := w.(Watcher); ok {
			wa.Watch(ctx, func(string) {})
			want = append(want, "Watch")
		}
		if lr, ok := w.(LogReader); ok {
			lr.Logs(ctx, "d", LogQuery{})
			want = append(want, "Logs")
		}
		if !slices.Equal(before, want) || !slices.Equal(after, want) {
			t.Fatalf("set %v: hooks saw %v before and %v after, want %v", set, before, after, want)
		}
		var hooked []string
		for _, c := range want {
			hooked = append(hooked, c+"+hooked")
		}
		if Concurrency(w, 1) != map[bool]int{true: 7, false: 1}[set.Has(CapConcurrencyHinter)] {
			t.Errorf("set %v: Concurrency through the wrapper %d", set, Concurrency(w, 1))
		}
		if h := ServiceHost(w, "d", "s", "web"); (h == "web.host") != set.Has(CapAddresser) {
			t.Errorf("set %v: ServiceHost through the wrapper %q", set, h)
		}
		if RelabelsTier(w) != set.Has(CapTierRelabeler) {
			t.Errorf("set %v: RelabelsTier through the wrapper", set)
		}
		if !slices.Equal(inner.calls[:len(hooked)], hooked) {
			t.Fatalf("set %v: the wrapped runtime got %v, want %v (each with the hook's context)", set, inner.calls, hooked)
		}
	}
}

func TestWrapNil(t *testing.T) {
	if Wrap(nil, Hooks{}) != nil {
		t.Error("Wrap(nil) is not nil")
	}
	if c := CapabilitiesOf(nil); c != 0 || c.String() != "none" {
		t.Errorf("CapabilitiesOf(nil) = %v", c)
	}
	// Hooks may be nil, and Before may return nil to keep the context.
	inner := &full{}
	w := Wrap(inner, Hooks{Before: func(context.Context, Call) context.Context { return nil }})
	if err := w.Apply(context.Background(), &StackSpec{}, nil); !errors.Is(err, errFull) {
		t.Errorf("Apply through a wrapper with nil hooks: %v", err)
	}
	if err := Wrap(inner, Hooks{}).Apply(context.Background(), nil, nil); !errors.Is(err, errFull) {
		t.Errorf("Apply of a nil spec through a wrapper: %v", err)
	}
}

func TestCapabilitiesString(t *testing.T) {
	for c, want := range map[Capabilities]string{
		0:                           "none",
		CapLifecycle:                "Lifecycle",
		CapLifecycle | CapLogReader: "Lifecycle|LogReader",
		AllCapabilities:             "Lifecycle|VolumeLister|DeploymentRemover|ConcurrencyHinter|Addresser|ErrorMapper|TierRelabeler|Watcher|LogReader",
		CapAddresser | 1<<31:        "Addresser|Capabilities(1<<31)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%b: %q, want %q", uint32(c), got, want)
		}
	}
	if !(CapLifecycle | CapAddresser).Has(CapAddresser) || CapLifecycle.Has(CapLifecycle|CapAddresser) {
		t.Error("Has is wrong")
	}
}

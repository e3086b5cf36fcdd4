package store

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
)

// nonCapabilities are the exported interfaces of this package that are
// not optional capabilities of a Driver. TxNotifier and Clock are a
// Tx's: WrapDriver hands fn the driver's own Tx, so they stay.
var nonCapabilities = []string{"Driver", "Reader", "Tx", "TxNotifier"}

func driverCapabilityNames() []string {
	names := make([]string, len(driverCapabilityTypes))
	for i, t := range driverCapabilityTypes {
		names[i] = t.Name()
	}
	return names
}

// TestEveryInterfaceIsADriverCapability fails when an exported interface
// is added to the package without being made a capability (constant,
// driverCapabilityTypes, the go:generate line of wrap.go) or listed in
// nonCapabilities: WrapDriver would otherwise drop it silently.
func TestEveryInterfaceIsADriverCapability(t *testing.T) {
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
	want := slices.Concat(driverCapabilityNames(), nonCapabilities)
	slices.Sort(want)
	if !slices.Equal(declared, want) {
		t.Errorf("exported interfaces %v, but capabilities and non-capabilities are %v: "+
			"make a new optional interface of Driver a capability (a Cap constant, driverCapabilityTypes, the go:generate line in wrap.go, go generate)", declared, want)
	}
	if AllDriverCapabilities != 1<<len(driverCapabilityTypes)-1 || len(driverComposers) != 1<<len(driverCapabilityTypes) {
		t.Errorf("AllDriverCapabilities %b or the table's %d entries do not match %d capabilities: run go generate", AllDriverCapabilities, len(driverComposers), len(driverCapabilityTypes))
	}
}

// TestWrapGenUpToDate checks that wrap_gen.go and its go:generate line
// are what capgen makes of driverCapabilityTypes.
func TestWrapGenUpToDate(t *testing.T) {
	src, err := os.ReadFile("wrap.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate .* -o wrap_gen.go (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("wrap.go has no go:generate line writing wrap_gen.go")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, driverCapabilityNames()) {
		t.Errorf("the go:generate line lists %v, want %v", got, driverCapabilityNames())
	}
	want, err := capgen.Generate(capgen.Config{Package: "store", Base: "Driver", Wrapper: "*wrappedDriver", Unwrapper: "driverUnwrapper", Var: "driverComposers", Capabilities: driverCapabilityNames()})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile("wrap_gen.go"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("wrap_gen.go is out of date (%v): run go generate ./store", err)
	}
}

// fullDriver implements Clock and Notifier; its Driver methods are
// those of a nil Driver, never called here (storetest runs a wrapped
// driver through all of them).
type fullDriver struct {
	Driver
	calls []string
}

var errFull = errors.New("fullDriver: failed")

func (f *fullDriver) Now(ctx context.Context) (time.Time, error) {
	f.calls = append(f.calls, "Now")
	return time.Unix(42, 0), errFull
}

func (f *fullDriver) Listen(ctx context.Context, fn func(string)) error {
	f.calls = append(f.calls, "Listen")
	return errFull
}

func implementedByDriver(v any) DriverCapabilities {
	var c DriverCapabilities
	if _, ok := v.(Clock); ok {
		c |= CapClock
	}
	if _, ok := v.(Notifier); ok {
		c |= CapNotifier
	}
	return c
}

// TestWrapDriverKeepsCapabilitiesExactly builds, for every set of
// capabilities, a driver with exactly those, and checks that WrapDriver
// keeps exactly them and hooks their calls.
func TestWrapDriverKeepsCapabilitiesExactly(t *testing.T) {
	if got := implementedByDriver(&fullDriver{}); got != AllDriverCapabilities {
		t.Fatalf("the test's full driver has %v, want every capability: extend fullDriver and implementedByDriver", got)
	}
	ctx := context.Background()
	for set := range DriverCapabilities(len(driverComposers)) {
		inner := &fullDriver{}
		d := driverComposers[set](&wrappedDriver{d: inner})
		if got := implementedByDriver(d); got != set || CapabilitiesOf(d) != set {
			t.Fatalf("table entry %d implements %v (CapabilitiesOf %v)", set, got, CapabilitiesOf(d))
		}
		var hooked []string
		w := WrapDriver(d, DriverHooks{After: func(_ context.Context, c DriverCall, _ time.Duration, err error) {
			if !errors.Is(err, errFull) {
				t.Errorf("After %s: err %v", c.Method, err)
			}
			hooked = append(hooked, c.Method)
		}})
		if got := implementedByDriver(w); got != set || CapabilitiesOf(w) != set {
			t.Fatalf("WrapDriver of a driver with %v implements %v", set, got)
		}
		if u, ok := w.(interface{ Unwrap() Driver }); !ok || u.Unwrap() != d {
			t.Fatalf("WrapDriver of %v does not unwrap to the driver it wraps", set)
		}
		var want []string
		if c, ok := w.(Clock); ok {
			if now, err := c.Now(ctx); !now.Equal(time.Unix(42, 0)) || !errors.Is(err, errFull) {
				t.Errorf("Now through the wrapper: %v, %v", now, err)
			}
			want = append(want, "Now")
		}
		if n, ok := w.(Notifier); ok {
			n.Listen(ctx, func(string) {})
			want = append(want, "Listen")
		}
		if !slices.Equal(inner.calls, want) || !slices.Equal(hooked, want) {
			t.Errorf("set %v: the driver got %v and the hooks saw %v, want %v", set, inner.calls, hooked, want)
		}
	}
	if WrapDriver(nil, DriverHooks{}) != nil || CapabilitiesOf(nil) != 0 {
		t.Error("WrapDriver(nil) or CapabilitiesOf(nil) is not nil")
	}
	if s := (CapClock | CapNotifier).String(); s != "Clock|Notifier" {
		t.Errorf("String: %q", s)
	}
}

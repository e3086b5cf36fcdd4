package store

import (
	"context"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"time"

	"github.com/stackwave/stackwave/product"
)

//go:generate go run ../internal/capgen/cmd/capgen -package store -base Driver -wrapper *wrappedDriver -unwrapper driverUnwrapper -var driverComposers -o wrap_gen.go Clock Notifier

// DriverCapabilities is a set of the optional interfaces a Driver
// implements beside Driver itself.
type DriverCapabilities uint32

// The capabilities of a Driver, one bit per optional interface.
const (
	CapClock DriverCapabilities = 1 << iota
	CapNotifier

	// AllDriverCapabilities holds every capability above.
	AllDriverCapabilities = CapNotifier<<1 - 1
)

// driverCapabilityTypes lists the interface of each capability, bit i at
// index i; WrapDriver's combination table is generated from the same
// list.
var driverCapabilityTypes = [...]reflect.Type{
	reflect.TypeFor[Clock](),
	reflect.TypeFor[Notifier](),
}

// CapabilitiesOf returns the optional interfaces d implements; none for a
// nil d.
func CapabilitiesOf(d Driver) DriverCapabilities {
	if d == nil {
		return 0
	}
	typ := reflect.TypeOf(d)
	var c DriverCapabilities
	for i, iface := range driverCapabilityTypes {
		if typ.Implements(iface) {
			c |= 1 << i
		}
	}
	return c
}

// Has reports whether c holds every capability of d.
func (c DriverCapabilities) Has(d DriverCapabilities) bool { return c&d == d }

// String lists the interfaces of c, as "Clock|Notifier", or "none".
func (c DriverCapabilities) String() string {
	if c == 0 {
		return "none"
	}
	var names []string
	for rest := c; rest != 0; rest &= rest - 1 {
		i := bits.TrailingZeros32(uint32(rest))
		if i < len(driverCapabilityTypes) {
			names = append(names, driverCapabilityTypes[i].Name())
		} else {
			names = append(names, fmt.Sprintf("DriverCapabilities(1<<%d)", i))
		}
	}
	return strings.Join(names, "|")
}

// DriverHooks observe the calls of a driver that WrapDriver returns.
// Either may be nil.
type DriverHooks struct {
	// Before is called before each call, with the caller's context. It
	// returns the context the call runs with: ctx itself, or one derived
	// from it; nil means ctx.
	Before func(ctx context.Context, c DriverCall) context.Context
	// After is called once the call returned, with the context it ran
	// with, how long it took and the error it returns to the caller. It
	// cannot change the result.
	After func(ctx context.Context, c DriverCall, took time.Duration, err error)
}

// DriverCall describes one call of a wrapped driver.
type DriverCall struct {
	// Method is the Driver method called ("Product", "ListEvents",
	// "Update", "Now", "Listen", ...).
	Method string
	// Key is the ID or name the call is about (a product's ID for
	// Product and ListVersions, a deployment's name for Deployment,
	// Lease and ListEvents); empty for the others.
	Key string
}

// WrapDriver returns a driver that calls d, with h's hooks around every
// call that takes a context. The result implements exactly the optional
// interfaces d implements (CapabilitiesOf(WrapDriver(d, h)) ==
// CapabilitiesOf(d)), so a Store over it judges leases by d's clock and
// hears other processes' changes exactly when it would over d. Update is
// one call: fn gets d's own Tx, unwrapped, with its own optional
// interfaces (Clock, TxNotifier). Close is passed on without hooks.
// Arguments and results are passed on unchanged. The result has an Unwrap
// method returning d.
//
// WrapDriver returns nil when d is nil.
func WrapDriver(d Driver, h DriverHooks) Driver {
	if d == nil {
		return nil
	}
	return driverComposers[CapabilitiesOf(d)](&wrappedDriver{d: d, h: h})
}

// driverUnwrapper is embedded in what WrapDriver returns.
type driverUnwrapper interface {
	// Unwrap returns the wrapped driver.
	Unwrap() Driver
}

// wrappedDriver implements Driver and every capability on top of d;
// WrapDriver hides the capabilities d lacks behind a combination type of
// wrap_gen.go, so its methods of those are never called.
type wrappedDriver struct {
	d Driver
	h DriverHooks
}

func (w *wrappedDriver) Unwrap() Driver { return w.d }

func (w *wrappedDriver) call(ctx context.Context, c DriverCall, fn func(ctx context.Context) error) error {
	if w.h.Before != nil {
		if hc := w.h.Before(ctx, c); hc != nil {
			ctx = hc
		}
	}
	start := time.Now()
	err := fn(ctx)
	if w.h.After != nil {
		w.h.After(ctx, c, time.Since(start), err)
	}
	return err
}

// get hooks a read of one record.
func get[T any](w *wrappedDriver, ctx context.Context, method, key string, fn func(ctx context.Context) (T, error)) (v T, err error) {
	err = w.call(ctx, DriverCall{Method: method, Key: key}, func(ctx context.Context) error {
		v, err = fn(ctx)
		return err
	})
	return v, err
}

func (w *wrappedDriver) Product(ctx context.Context, id string) (*product.Product, error) {
	return get(w, ctx, "Product", id, func(ctx context.Context) (*product.Product, error) { return w.d.Product(ctx, id) })
}

func (w *wrappedDriver) ProductByName(ctx context.Context, name string) (*product.Product, error) {
	return get(w, ctx, "ProductByName", name, func(ctx context.Context) (*product.Product, error) { return w.d.ProductByName(ctx, name) })
}

func (w *wrappedDriver) Version(ctx context.Context, id string) (*product.Version, error) {
	return get(w, ctx, "Version", id, func(ctx context.Context) (*product.Version, error) { return w.d.Version(ctx, id) })
}

func (w *wrappedDriver) Template(ctx context.Context, id string) (*Template, error) {
	return get(w, ctx, "Template", id, func(ctx context.Context) (*Template, error) { return w.d.Template(ctx, id) })
}

func (w *wrappedDriver) Deployment(ctx context.Context, name string) (*Deployment, error) {
	return get(w, ctx, "Deployment", name, func(ctx context.Context) (*Deployment, error) { return w.d.Deployment(ctx, name) })
}

func (w *wrappedDriver) Lease(ctx context.Context, deployment string) (*Lease, error) {
	return get(w, ctx, "Lease", deployment, func(ctx context.Context) (*Lease, error) { return w.d.Lease(ctx, deployment) })
}

func (w *wrappedDriver) ListProducts(ctx context.Context, q ProductList) (items []*product.Product, total int, err error) {
	err = w.call(ctx, DriverCall{Method: "ListProducts"}, func(ctx context.Context) error {
		items, total, err = w.d.ListProducts(ctx, q)
		return err
	})
	return items, total, err
}

func (w *wrappedDriver) ListVersions(ctx context.Context, productID, contentHash string) ([]*product.Version, error) {
	return get(w, ctx, "ListVersions", productID, func(ctx context.Context) ([]*product.Version, error) {
		return w.d.ListVersions(ctx, productID, contentHash)
	})
}

func (w *wrappedDriver) ListTemplates(ctx context.Context) ([]*Template, error) {
	return get(w, ctx, "ListTemplates", "", func(ctx context.Context) ([]*Template, error) { return w.d.ListTemplates(ctx) })
}

func (w *wrappedDriver) ListDeployments(ctx context.Context, q DeploymentQuery) ([]*Deployment, error) {
	return get(w, ctx, "ListDeployments", "", func(ctx context.Context) ([]*Deployment, error) { return w.d.ListDeployments(ctx, q) })
}

func (w *wrappedDriver) ListEvents(ctx context.Context, deployment string, q EventQuery) ([]Event, error) {
	return get(w, ctx, "ListEvents", deployment, func(ctx context.Context) ([]Event, error) { return w.d.ListEvents(ctx, deployment, q) })
}

func (w *wrappedDriver) Update(ctx context.Context, opts *TxOptions, fn func(Tx) error) error {
	return w.call(ctx, DriverCall{Method: "Update"}, func(ctx context.Context) error { return w.d.Update(ctx, opts, fn) })
}

func (w *wrappedDriver) Close() error { return w.d.Close() }

func (w *wrappedDriver) Now(ctx context.Context) (time.Time, error) {
	return get(w, ctx, "Now", "", func(ctx context.Context) (time.Time, error) { return w.d.(Clock).Now(ctx) })
}

func (w *wrappedDriver) Listen(ctx context.Context, fn func(key string)) error {
	return w.call(ctx, DriverCall{Method: "Listen"}, func(ctx context.Context) error { return w.d.(Notifier).Listen(ctx, fn) })
}

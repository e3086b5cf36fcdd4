package runtime

import (
	"context"
	"time"
)

//go:generate go run ../internal/capgen/cmd/capgen -package runtime -base Runtime -wrapper *wrapped -unwrapper unwrapper -var composers -o wrap_gen.go Lifecycle VolumeLister DeploymentRemover ConcurrencyHinter Addresser ErrorMapper TierRelabeler Watcher LogReader

// Hooks observe the calls of a runtime that Wrap returns. Either may be
// nil.
type Hooks struct {
	// Before is called before each call, with the caller's context. It
	// returns the context the call runs with: ctx itself, or one derived
	// from it (carrying a span or a logger); nil means ctx.
	Before func(ctx context.Context, c Call) context.Context
	// After is called once the call returned, with the context it ran
	// with, how long it took and the error it returns to the caller. It
	// cannot change the result.
	After func(ctx context.Context, c Call, took time.Duration, err error)
}

// Call describes one call of a wrapped runtime.
type Call struct {
	// Method is the method called: "Apply", "Wait", "Remove", "Observe",
	// "RunInit", "Stop", "Start", "Restart", "Volumes",
	// "RemoveDeployment", "Watch" or "Logs".
	Method string
	// Deployment is the deployment the call is about; empty for Watch.
	Deployment string
	// Stack is the stack the call is about; empty for calls on a whole
	// deployment (Observe, Volumes, RemoveDeployment, Logs of every
	// stack) and for Watch.
	Stack string
}

// Wrap returns a runtime that calls rt, with h's hooks around every call
// that takes a context. The result implements exactly the optional
// interfaces rt implements (CapabilitiesOf(Wrap(rt, h)) ==
// CapabilitiesOf(rt)): a type assertion to one that rt lacks fails, as it
// would on rt, so callers fall back as they would without the wrapper.
// Calls that take no context (Name, Concurrency, ServiceHost, MapError,
// RelabelsTier) are passed on without hooks. Arguments and results are
// passed on unchanged; a LogStream that Logs returns is rt's own, its
// reads not hooked. The result has an Unwrap method returning rt.
//
// Wrap returns nil when rt is nil.
func Wrap(rt Runtime, h Hooks) Runtime {
	if rt == nil {
		return nil
	}
	return composers[CapabilitiesOf(rt)](&wrapped{rt: rt, h: h})
}

// unwrapper is embedded in what Wrap returns.
type unwrapper interface {
	// Unwrap returns the wrapped runtime.
	Unwrap() Runtime
}

// wrapped implements Runtime and every capability on top of rt; Wrap
// hides the capabilities rt lacks behind a combination type of
// wrap_gen.go, so its methods of those are never called.
type wrapped struct {
	rt Runtime
	h  Hooks
}

func (w *wrapped) Unwrap() Runtime { return w.rt }

// call runs fn between the hooks.
func (w *wrapped) call(ctx context.Context, c Call, fn func(ctx context.Context) error) error {
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

func specCall(method string, spec *StackSpec) Call {
	if spec == nil {
		return Call{Method: method}
	}
	return Call{Method: method, Deployment: spec.Deployment, Stack: spec.Stack.Name}
}

func (w *wrapped) Name() string { return w.rt.Name() }

func (w *wrapped) Apply(ctx context.Context, spec *StackSpec, report Reporter) error {
	return w.call(ctx, specCall("Apply", spec), func(ctx context.Context) error { return w.rt.Apply(ctx, spec, report) })
}

func (w *wrapped) Wait(ctx context.Context, spec *StackSpec, report Reporter) error {
	return w.call(ctx, specCall("Wait", spec), func(ctx context.Context) error { return w.rt.Wait(ctx, spec, report) })
}

func (w *wrapped) Remove(ctx context.Context, ref StackRef, opts RemoveOptions) error {
	c := Call{Method: "Remove", Deployment: ref.Deployment, Stack: ref.Stack}
	return w.call(ctx, c, func(ctx context.Context) error { return w.rt.Remove(ctx, ref, opts) })
}

func (w *wrapped) Observe(ctx context.Context, deployment string) (ds *DeploymentState, err error) {
	err = w.call(ctx, Call{Method: "Observe", Deployment: deployment}, func(ctx context.Context) error {
		ds, err = w.rt.Observe(ctx, deployment)
		return err
	})
	return ds, err
}

func (w *wrapped) RunInit(ctx context.Context, spec *StackSpec, index int, report Reporter) error {
	return w.call(ctx, specCall("RunInit", spec), func(ctx context.Context) error { return w.rt.RunInit(ctx, spec, index, report) })
}

func (w *wrapped) Stop(ctx context.Context, ref StackRef) error {
	c := Call{Method: "Stop", Deployment: ref.Deployment, Stack: ref.Stack}
	return w.call(ctx, c, func(ctx context.Context) error { return w.rt.(Lifecycle).Stop(ctx, ref) })
}

func (w *wrapped) Start(ctx context.Context, spec *StackSpec) error {
	return w.call(ctx, specCall("Start", spec), func(ctx context.Context) error { return w.rt.(Lifecycle).Start(ctx, spec) })
}

func (w *wrapped) Restart(ctx context.Context, spec *StackSpec) error {
	return w.call(ctx, specCall("Restart", spec), func(ctx context.Context) error { return w.rt.(Lifecycle).Restart(ctx, spec) })
}

func (w *wrapped) Volumes(ctx context.Context, deployment string) (vs []VolumeState, err error) {
	err = w.call(ctx, Call{Method: "Volumes", Deployment: deployment}, func(ctx context.Context) error {
		vs, err = w.rt.(VolumeLister).Volumes(ctx, deployment)
		return err
	})
	return vs, err
}

func (w *wrapped) RemoveDeployment(ctx context.Context, deployment string, tiers [][]string, opts RemoveOptions) error {
	return w.call(ctx, Call{Method: "RemoveDeployment", Deployment: deployment}, func(ctx context.Context) error {
		return w.rt.(DeploymentRemover).RemoveDeployment(ctx, deployment, tiers, opts)
	})
}

func (w *wrapped) Concurrency() int { return w.rt.(ConcurrencyHinter).Concurrency() }

func (w *wrapped) ServiceHost(deployment, stack, service string) string {
	return w.rt.(Addresser).ServiceHost(deployment, stack, service)
}

func (w *wrapped) MapError(err error) error { return w.rt.(ErrorMapper).MapError(err) }

func (w *wrapped) RelabelsTier() bool { return w.rt.(TierRelabeler).RelabelsTier() }

func (w *wrapped) Watch(ctx context.Context, notify func(deployment string)) error {
	return w.call(ctx, Call{Method: "Watch"}, func(ctx context.Context) error { return w.rt.(Watcher).Watch(ctx, notify) })
}

func (w *wrapped) Logs(ctx context.Context, deployment string, q LogQuery) (s LogStream, err error) {
	err = w.call(ctx, Call{Method: "Logs", Deployment: deployment, Stack: q.Stack}, func(ctx context.Context) error {
		s, err = w.rt.(LogReader).Logs(ctx, deployment, q)
		return err
	})
	return s, err
}

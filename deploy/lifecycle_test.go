package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// executorCalls calls every exported method of an Executor that can
// fail, naming each; the request is a valid launch of vid.
func executorCalls(ex *deploy.Executor, vid string) map[string]func() error {
	ctx := context.Background()
	req := deploy.Request{Deployment: "shop", VersionID: vid}
	one := deploy.Request{Deployment: "shop", Stack: "db", Service: "mysql", Instances: 1}
	res := func(_ *deploy.Result, err error) error { return err }
	return map[string]func() error{
		"Launch":    func() error { return res(ex.Launch(ctx, req)) },
		"Update":    func() error { return res(ex.Update(ctx, req)) },
		"Terminate": func() error { return res(ex.Terminate(ctx, req)) },
		"Restart":   func() error { return res(ex.Restart(ctx, one)) },
		"Stop":      func() error { return res(ex.Stop(ctx, one)) },
		"Start":     func() error { return res(ex.Start(ctx, one)) },
		"Scale":     func() error { return res(ex.Scale(ctx, one)) },
		"Run":       func() error { return res(ex.Run(ctx, store.OpLaunch, req)) },
		"Submit": func() error {
			_, err := ex.Submit(ctx, store.OpLaunch, req)
			return err
		},
		"Resume": func() error { return res(ex.Resume(ctx, "shop")) },
		"SubmitResume": func() error {
			_, err := ex.SubmitResume(ctx, "shop")
			return err
		},
		"ResumeAll": func() error {
			_, err := ex.ResumeAll(ctx)
			return err
		},
		"Preview": func() error {
			_, err := ex.Preview(ctx, "shop", vid)
			return err
		},
		"PreviewSpec": func() error {
			_, err := ex.PreviewSpec(ctx, "shop", threeTiers())
			return err
		},
		"PreviewChanges": func() error {
			_, err := ex.PreviewChanges(ctx, req, nil)
			return err
		},
		"Status": func() error {
			_, err := ex.Status(ctx, "shop")
			return err
		},
		"SetReconcilePaused": func() error { return ex.SetReconcilePaused(ctx, "shop", true) },
		"Reconciler.Pass": func() error {
			_, err := deploy.NewReconciler(ex, nil).Pass(ctx)
			return err
		},
		"Reconciler.Reconcile": func() error {
			_, err := deploy.NewReconciler(ex, nil).Reconcile(ctx, "shop")
			return err
		},
		"Reconciler.Run": func() error { return deploy.NewReconciler(ex, nil).Run(ctx) },
		"Close":          func() error { return ex.Close() },
	}
}

// TestUnusableExecutors calls every method on executors that cannot
// work: each returns an error, none panics, nothing is recorded.
func TestUnusableExecutors(t *testing.T) {
	e := newEnv(t, nil, nil)
	vid := e.version("v1", threeTiers())
	closed := deploy.New(sim.New(nil), e.st, nil)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ex   *deploy.Executor
		want error // matched with errors.Is when set
	}{
		{"closed", closed, deploy.ErrClosed},
		{"zero", &deploy.Executor{}, nil},
		{"nil", nil, nil},
		{"no store", deploy.New(sim.New(nil), nil, nil), nil},
	} {
		for method, call := range executorCalls(c.ex, vid) {
			if method == "Close" && (c.name == "closed" || c.name == "no store") {
				continue // closing again, or what New made, is no error
			}
			err := call()
			if err == nil {
				t.Errorf("%s executor: %s succeeded", c.name, method)
				continue
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("%s executor: %s: %v, want %v", c.name, method, err, c.want)
			}
		}
		if c.ex.Owner() == "" && c.name == "closed" {
			t.Error("closed executor lost its owner")
		}
		_ = c.ex.Runtime()
		_ = c.ex.Store()
	}
	if _, err := e.st.GetDeployment(context.Background(), "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unusable executor recorded a deployment: %v", err)
	}
}

// TestPreviewOnlyExecutor: an executor without a runtime previews and
// refuses everything that needs a runtime with ErrNoRuntime.
func TestPreviewOnlyExecutor(t *testing.T) {
	e := newEnv(t, nil, nil)
	vid := e.version("v1", threeTiers())
	ex := deploy.New(nil, e.st, nil)
	defer ex.Close()
	calls := executorCalls(ex, vid)
	for _, ok := range []string{"Preview", "PreviewSpec", "PreviewChanges"} {
		if err := calls[ok](); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, method := range []string{"Launch", "Update", "Terminate", "Restart", "Stop", "Start", "Scale", "Run", "Submit",
		"Resume", "SubmitResume", "ResumeAll", "Status", "Reconciler.Pass", "Reconciler.Reconcile", "Reconciler.Run"} {
		if err := calls[method](); !errors.Is(err, deploy.ErrNoRuntime) {
			t.Errorf("%s: %v, want ErrNoRuntime", method, err)
		}
	}
}

// TestNilValues calls the methods of nil and zero values of the
// package's types: none panics.
func TestNilValues(t *testing.T) {
	ctx := context.Background()
	var cs *deploy.ChangeSet
	if !cs.Empty() || cs.Stack("x") != nil || cs.String() == "" {
		t.Errorf("nil change set: empty %v, string %q", cs.Empty(), cs.String())
	}
	if b, err := cs.MarshalJSON(); err != nil || !bytes.Contains(b, []byte(`"stacks":[]`)) {
		t.Errorf("nil change set JSON: %s, %v", b, err)
	}
	var sc *deploy.StackChange
	if sc.Moved() {
		t.Error("nil stack change moved")
	}
	for _, p := range []*deploy.Plan{nil, {}} {
		if p.Len() != 0 || p.Deps() != nil || p.Tiers() != nil || len(p.Teardown()) != 0 || len(p.Order()) != 0 ||
			p.Tier("x") != -1 || p.DependsOn("x") != nil || p.Explicit("x") || p.String() == "" {
			t.Errorf("empty plan %#v answers as not empty", p)
		}
		if s, ok := p.Stack("x"); s != nil || ok {
			t.Error("empty plan has a stack")
		}
		if path, d := p.CriticalPath(func(string) time.Duration { return time.Second }); path != nil || d != 0 {
			t.Error("empty plan has a critical path")
		}
		if _, err := p.MarshalJSON(); err != nil {
			t.Error(err)
		}
	}
	for _, err := range []error{(*deploy.StackError)(nil), (*deploy.OperationError)(nil), (*deploy.PlanError)(nil),
		(*deploy.RenderError)(nil), (*deploy.UnusedError)(nil), &deploy.OperationError{}, &deploy.StackError{}} {
		_ = err.Error()
		_ = errors.Unwrap(err)
		_ = errors.Is(err, deploy.ErrBusy)
	}
	for _, h := range []*deploy.Handle{nil, {}} {
		select {
		case <-h.Done():
		default:
			t.Error("Done of a handle Submit did not make never closes")
		}
		if _, err := h.Wait(ctx); err == nil {
			t.Error("Wait on a handle Submit did not make succeeded")
		}
	}
	for _, r := range []*deploy.Reconciler{nil, {}} {
		r.Trigger("x")
		if err := r.Run(ctx); err == nil {
			t.Error("Run of a reconciler NewReconciler did not make succeeded")
		}
		if _, err := r.Pass(ctx); err == nil {
			t.Error("Pass of a reconciler NewReconciler did not make succeeded")
		}
		if _, err := r.Reconcile(ctx, "x"); err == nil {
			t.Error("Reconcile of a reconciler NewReconciler did not make succeeded")
		}
	}
}

// failingDriver fails every write with store.ErrClosed once failed is
// set.
type failingDriver struct {
	store.Driver
	mu     sync.Mutex
	failed bool
}

func (d *failingDriver) fail() { d.mu.Lock(); d.failed = true; d.mu.Unlock() }

func (d *failingDriver) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	d.mu.Lock()
	failed := d.failed
	d.mu.Unlock()
	if failed {
		return store.ErrClosed
	}
	return d.Driver.Update(ctx, opts, fn)
}

// closeEnv launches threeTiers on an executor whose db stack never gets
// ready, and returns once db waits.
type closeEnv struct {
	mem     *store.Store
	drv     *failingDriver
	ex      *deploy.Executor
	vid     string
	waiting chan struct{}
}

func newCloseEnv(t *testing.T) *closeEnv {
	t.Helper()
	ctx := context.Background()
	drv := &failingDriver{Driver: memory.NewDriver()}
	c := &closeEnv{mem: store.New(drv, nil), drv: drv, waiting: make(chan struct{})}
	p, err := c.mem.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.mem.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})
	if err != nil {
		t.Fatal(err)
	}
	c.vid = v.ID
	var once sync.Once
	rt := sim.New(&sim.Options{ReadyLatency: 24 * time.Hour})
	c.ex = deploy.New(rt, c.mem, &deploy.Options{Owner: "a", LeaseTTL: time.Hour, OnEvent: func(ev deploy.Event) {
		if ev.Type == deploy.EventStackWaiting {
			once.Do(func() { close(c.waiting) })
		}
	}})
	t.Cleanup(func() { c.ex.Close() })
	return c
}

// TestCloseHandsOverSynchronousOperations: Close stops an operation
// called directly as it does a submitted one: recorded in progress, its
// lease released, the call returning ErrHandedOver; then every call
// fails with ErrClosed and records nothing.
func TestCloseHandsOverSynchronousOperations(t *testing.T) {
	ctx := context.Background()
	c := newCloseEnv(t)
	type outcome struct {
		res *deploy.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: c.vid})
		done <- outcome{res, err}
	}()
	<-c.waiting
	if err := c.ex.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returned: the launch has ended.
	var out outcome
	select {
	case out = <-done:
	default:
		t.Fatal("Close returned before the synchronous launch did")
	}
	if !errors.Is(out.err, deploy.ErrHandedOver) {
		t.Fatalf("launch: %v, want ErrHandedOver", out.err)
	}
	d, err := c.mem.GetDeployment(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if op := d.LastOperation(); d.Status != store.StatusUnderChange || op.Status != store.OpInProgress {
		t.Fatalf("after Close: status %s, operation %s", d.Status, op.Status)
	}
	if _, err := c.mem.GetLease(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lease after Close: %v, want released", err)
	}
	evs, _ := c.mem.ListEvents(ctx, "shop", store.EventQuery{})
	if last := evs[len(evs)-1]; last.Type != string(deploy.EventOperationHandedOver) {
		t.Errorf("last event %s, want %s", last.Type, deploy.EventOperationHandedOver)
	}
	if _, err := c.ex.Launch(ctx, deploy.Request{Deployment: "other", VersionID: c.vid}); !errors.Is(err, deploy.ErrClosed) {
		t.Fatalf("launch after Close: %v, want ErrClosed", err)
	}
	if _, err := c.ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "other", VersionID: c.vid}); !errors.Is(err, deploy.ErrClosed) {
		t.Fatalf("submit after Close: %v, want ErrClosed", err)
	}
	if _, err := c.mem.GetDeployment(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a closed executor recorded a deployment: %v", err)
	}
}

// TestCloseReturnsTheFirstError: a hand-over that cannot be recorded is
// Close's error; closing again returns it again, at once.
func TestCloseReturnsTheFirstError(t *testing.T) {
	ctx := context.Background()
	c := newCloseEnv(t)
	h, err := c.ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: c.vid})
	if err != nil {
		t.Fatal(err)
	}
	<-c.waiting
	c.drv.fail()
	err = c.ex.Close()
	if !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Close: %v, want the store's error", err)
	}
	if _, herr := h.Wait(ctx); !errors.Is(herr, deploy.ErrHandedOver) || !errors.Is(herr, store.ErrClosed) {
		t.Fatalf("handle: %v", herr)
	}
	if again := c.ex.Close(); again == nil || again.Error() != err.Error() {
		t.Fatalf("second Close: %v, want %v", again, err)
	}
}

// TestCloseTwice: concurrent and repeated Close calls are safe.
func TestCloseTwice(t *testing.T) {
	ex := deploy.New(sim.New(nil), memory.New(nil), nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := ex.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
}

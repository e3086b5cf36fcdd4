package deploy_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
)

// mutatingCalls returns the runtime calls that change something.
func mutatingCalls(calls []sim.Call) []sim.Call {
	var out []sim.Call
	for _, c := range calls {
		if c.Op != "observe" && c.Op != "volumes" && c.Op != "wait" {
			out = append(out, c)
		}
	}
	return out
}

func TestReconcilerRepairsDriftAndLeavesTheRestAlone(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	for _, name := range []string{"shop", "paused"} {
		if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: name, VersionID: vid}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.ex.SetReconcilePaused(ctx, "paused", true); err != nil {
		t.Fatal(err)
	}
	r := deploy.NewReconciler(e.ex, nil)

	// Nothing drifted: no write, no change.
	before, _ := e.st.GetDeployment(ctx, "shop")
	e.rt.ResetCalls()
	res, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (deploy.PassResult{Checked: 1, Skipped: 1}) {
		t.Errorf("pass %+v, want 1 checked and the paused one skipped", res)
	}
	if m := mutatingCalls(e.rt.Calls()); len(m) != 0 {
		t.Errorf("a pass with no drift changed the runtime: %v", m)
	}
	if after, _ := e.st.GetDeployment(ctx, "shop"); after.Revision != before.Revision {
		t.Errorf("a pass with no drift wrote the record (revision %d -> %d)", before.Revision, after.Revision)
	}

	// Drift is repaired; the paused deployment keeps its drift.
	e.rt.Tamper("shop", "worker", "job", sim.Change{Kind: sim.RemoveChange})
	e.rt.Tamper("paused", "worker", "job", sim.Change{Kind: sim.RemoveChange})
	n := len(e.eventLog())
	if res, err = r.Pass(ctx); err != nil || res.Repaired != 1 || res.Skipped != 1 {
		t.Fatalf("pass %+v, %v; want 1 repaired, 1 skipped", res, err)
	}
	var repairs []string
	for _, ev := range e.eventLog()[n:] {
		if ev.Type == deploy.EventStackRepair {
			repairs = append(repairs, ev.Deployment+"/"+ev.Stack+": "+ev.Message)
		}
	}
	if !slices.Equal(repairs, []string{"shop/worker: repair: drifted: job: missing"}) {
		t.Errorf("repair events %q", repairs)
	}
	for name, want := range map[string]string{"shop": deploy.SyncInSync, "paused": deploy.SyncDrifted} {
		st, err := e.ex.Status(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Sync != want {
			t.Errorf("%s: sync %s, want %s", name, st.Sync, want)
		}
	}

	// Deployments that are not Available are not touched.
	e.rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Deployment: "shop", Stack: "web"})
	if _, err := e.ex.Restart(ctx, deploy.Request{Deployment: "shop", Stack: "web"}); err == nil {
		t.Fatal("restart of a stack that exits succeeded")
	}
	e.rt.ResetCalls()
	if res, err = r.Pass(ctx); err != nil || res.Checked != 0 {
		t.Errorf("pass %+v, %v; want the Error deployment left alone", res, err)
	}
	if m := mutatingCalls(e.rt.Calls()); len(m) != 0 {
		t.Errorf("a pass changed a deployment in status Error: %v", m)
	}
}

// A repair that fails backs off, doubling per deployment.
func TestReconcilerBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil, nil)
		ctx := context.Background()
		vid := e.version("v1", threeTiers())
		if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
			t.Fatal(err)
		}
		var errs []error
		r := deploy.NewReconciler(e.ex, &deploy.ReconcilerOptions{MinBackoff: time.Second, MaxBackoff: 4 * time.Second,
			OnError: func(_ string, err error) { errs = append(errs, err) }})
		e.rt.Tamper("shop", "db", "mysql", sim.Change{Kind: sim.StopChange})
		for n := 1; n <= 3; n++ {
			e.rt.Inject(sim.Fault{Kind: sim.FailApply, Deployment: "shop", Stack: "db", Nth: n})
		}
		attempts := func() int {
			n := 0
			for _, c := range e.rt.Calls() {
				if c.Op == "apply" && c.Stack == "db" && c.Err != nil {
					n++
				}
			}
			return n
		}
		e.rt.ResetCalls()
		// Failures at 0s, then 1s, 2s, 4s later; passes every 500ms.
		var at []time.Duration
		start := time.Now()
		for time.Since(start) < 10*time.Second {
			before := attempts()
			if _, err := r.Pass(ctx); err != nil {
				t.Fatal(err)
			}
			if attempts() > before {
				at = append(at, time.Since(start).Round(500*time.Millisecond))
			}
			time.Sleep(500 * time.Millisecond)
		}
		if want := []time.Duration{0, time.Second, 3 * time.Second}; !slices.Equal(at[:min(3, len(at))], want) {
			t.Errorf("failed repairs at %v, want %v then a success", at, want)
		}
		if len(errs) != 3 || !errors.Is(errs[0], deploy.ErrBusy) && !errors.As(errs[0], new(*deploy.OperationError)) {
			t.Errorf("errors %v, want 3 operation errors", errs)
		}
		st, err := e.ex.Status(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != store.StatusAvailable || st.Sync != deploy.SyncInSync {
			t.Errorf("after the fault passed: %s %s, want Available in-sync", st.Status, st.Sync)
		}
	})
}

// A repair that fails is tried again when its backoff ends, however
// long the interval: the change that caused it may not be reported again.
func TestReconcilerRetriesWhenTheBackoffEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failed := make(chan error, 4)
		e := runReconciler(t, &deploy.ReconcilerOptions{Interval: time.Hour, MinBackoff: time.Second,
			OnError: func(_ string, err error) { failed <- err }})
		e.rt.Inject(sim.Fault{Kind: sim.FailApply, Deployment: "shop", Stack: "api", Nth: 1})
		start := time.Now()
		e.rt.Tamper("shop", "api", "server", sim.Change{Kind: sim.RemoveChange})
		synctest.Wait()
		select {
		case err := <-failed:
			t.Logf("first repair: %v", err)
		default:
			t.Fatal("the first repair did not fail")
		}
		time.Sleep(time.Second) // fake time: the backoff ends
		synctest.Wait()
		if took := time.Since(start); took != time.Second {
			t.Errorf("repaired after %v of fake time, want the 1s backoff", took)
		}
		requireRunningInSync(t, e, "after the backoff")
	})
}

// A change the runtime reports triggers a look at once, not at the next
// interval.
func TestReconcilerFollowsTheRuntimesWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := runReconciler(t, &deploy.ReconcilerOptions{Interval: time.Hour})
		start := time.Now()
		e.rt.Tamper("shop", "api", "server", sim.Change{Kind: sim.RemoveChange})
		synctest.Wait()
		if took := time.Since(start); took != 0 {
			t.Errorf("the repair waited %v of fake time", took)
		}
		requireRunningInSync(t, e, "after the watch")
	})
}

// A change made after the reconciler's first pass looked and before its
// watch of the runtime began is seen at once, not at the next interval:
// the watch says "" once it began, and Run then looks at everything.
func TestReconcilerMissesNoChangeBeforeItsWatchBegins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		vid := e.version("v1", threeTiers())
		if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
			t.Fatal(err)
		}
		rt := &lateWatch{Runtime: e.rt, begin: make(chan struct{})}
		ex := deploy.New(rt, e.st, nil)
		t.Cleanup(func() { ex.Close() })
		r := deploy.NewReconciler(ex, &deploy.ReconcilerOptions{Interval: time.Hour})
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait() // the first pass is over; the watch has not begun

		start := time.Now()
		e.rt.Tamper("shop", "api", "server", sim.Change{Kind: sim.RemoveChange})
		close(rt.begin)
		synctest.Wait()
		if took := time.Since(start); took != 0 {
			t.Errorf("the repair waited %v of fake time", took)
		}
		requireRunningInSync(t, e, "once the watch began")
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}

// A watch that fails is started again after the backoff, its error
// reported, and what changed meanwhile is seen once it is back.
func TestReconcilerStartsAFailedWatchAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		vid := e.version("v1", threeTiers())
		if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
			t.Fatal(err)
		}
		rt := &failingWatch{Runtime: e.rt, fails: 2}
		ex := deploy.New(rt, e.st, nil)
		t.Cleanup(func() { ex.Close() })
		var mu sync.Mutex
		var reported []string
		r := deploy.NewReconciler(ex, &deploy.ReconcilerOptions{Interval: time.Hour, MinBackoff: time.Second,
			OnError: func(name string, err error) {
				mu.Lock()
				reported = append(reported, name+": "+err.Error())
				mu.Unlock()
			}})
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait() // the first pass is over; the watch failed
		e.rt.Tamper("shop", "api", "server", sim.Change{Kind: sim.RemoveChange})
		synctest.Wait()
		// Failed at once, again after 1s, and runs after 2s more.
		time.Sleep(3 * time.Second) // fake time
		synctest.Wait()
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("repaired after %v of fake time, want 3s: the backoffs of two failed watches", took)
		}
		requireRunningInSync(t, e, "once the watch was back")
		mu.Lock()
		want := []string{": reconcile: watch sim: engine unreachable", ": reconcile: watch sim: engine unreachable"}
		if !slices.Equal(reported, want) {
			t.Errorf("OnError got %q, want %q", reported, want)
		}
		mu.Unlock()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}

// failingWatch is the simulated runtime whose first watches fail.
type failingWatch struct {
	*sim.Runtime
	mu    sync.Mutex
	fails int
}

func (f *failingWatch) Watch(ctx context.Context, notify func(string)) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errors.New("engine unreachable")
	}
	return f.Runtime.Watch(ctx, notify)
}

// lateWatch is the simulated runtime whose watch begins only when begin
// is closed, as one whose engine is slow to answer.
type lateWatch struct {
	*sim.Runtime
	begin chan struct{}
}

func (l *lateWatch) Watch(ctx context.Context, notify func(string)) error {
	select {
	case <-l.begin:
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.Runtime.Watch(ctx, notify)
}

// runReconciler launches "shop" and runs a reconciler of it, inside the
// caller's synctest bubble, until the test ends (Run must then return
// context.Canceled). It returns once the reconciler's first pass is over.
func runReconciler(t *testing.T, opts *deploy.ReconcilerOptions) *env {
	t.Helper()
	e := newEnv(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	r := deploy.NewReconciler(e.ex, opts)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	synctest.Wait() // the first pass is over; Run waits for its interval
	return e
}

// requireRunningInSync checks that "shop" is running and in sync.
func requireRunningInSync(t *testing.T, e *env, when string) {
	t.Helper()
	st, err := e.ex.Status(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if st.Sync != deploy.SyncInSync || st.Health != deploy.HealthRunning {
		t.Errorf("%s: %s %s, want running in-sync", when, st.Health, st.Sync)
	}
}

package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// reconcileParam is the deployment parameter that pauses reconciliation
// ("true"); see Executor.SetReconcilePaused.
const reconcileParam = "reconcile/paused"

// Defaults of ReconcilerOptions.
const (
	DefaultReconcileInterval = 30 * time.Second
	DefaultMinBackoff        = time.Second
	DefaultMaxBackoff        = 5 * time.Minute
)

// ReconcilerOptions configure a Reconciler. The zero value means the
// defaults.
type ReconcilerOptions struct {
	// Interval is the time between passes over every deployment.
	// Default 30s.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a deployment whose
	// repair failed is tried again; the wait doubles with each failure.
	// Defaults 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// OnError, when set, receives the errors of passes and repairs; the
	// deployment's secret values are redacted from them, as from
	// operation messages.
	OnError func(deployment string, err error)
}

// Reconciler keeps deployments as their records say: level-triggered, it
// looks at every deployment each Interval (and at once at a deployment
// the runtime reports changed, for runtimes that implement
// runtime.Watcher) and repairs what drifted (see ChangeSet): it re-creates
// what is missing, restarts what is stopped, re-applies what was edited,
// removes what is left over, in tier order, waiting for readiness, as an
// update of the deployment to its own version, under its lease, with
// events for every repair.
//
// Only deployments recorded Available are reconciled (and those whose
// last repair failed, which are in status Error until one succeeds): one
// under an operation (UnderChange) is left to it, and one whose own
// operation failed (Error, Tainted) waits for its owner's decision. Deployments paused
// with Executor.SetReconcilePaused are left alone. A deployment whose
// repair fails is tried again after a backoff that doubles, per
// deployment: while Run runs, as soon as the backoff ends. When nothing drifted, a pass reads the store and observes
// the runtime, and writes nothing and changes nothing.
//
// A Reconciler is safe for concurrent use.
type Reconciler struct {
	ex   *Executor
	opts ReconcilerOptions

	trigger chan string

	mu      sync.Mutex
	backoff map[string]*backoff
	specs   map[string]*desiredSpecs // by deployment, for its record revision
}

type backoff struct {
	wait time.Duration
	next time.Time
}

// desiredSpecs are the runtime specs of a deployment's recorded version,
// kept while its record does not change.
type desiredSpecs struct {
	revision int64
	targets  []*target
	// redact hides the deployment's secret values in what the runtime
	// answers, before it reaches OnError.
	redact *redact.Redactor
}

// NewReconciler returns a reconciler of ex's deployments.
func NewReconciler(ex *Executor, opts *ReconcilerOptions) *Reconciler {
	r := &Reconciler{ex: ex, trigger: make(chan string, 256), backoff: map[string]*backoff{}, specs: map[string]*desiredSpecs{}}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.Interval <= 0 {
		r.opts.Interval = DefaultReconcileInterval
	}
	if r.opts.MinBackoff <= 0 {
		r.opts.MinBackoff = DefaultMinBackoff
	}
	if r.opts.MaxBackoff < r.opts.MinBackoff {
		r.opts.MaxBackoff = max(DefaultMaxBackoff, r.opts.MinBackoff)
	}
	return r
}

// Trigger asks Run to look at a deployment now ("" for all of them).
// It never blocks; triggers beyond what Run has yet to read are merged
// into a full pass.
func (r *Reconciler) Trigger(deployment string) {
	if r == nil {
		return
	}
	select {
	case r.trigger <- deployment:
	default:
		select {
		case r.trigger <- "":
		default:
		}
	}
}

// Run reconciles until ctx is done: a pass at once, then one every
// Interval, and a look at each deployment Trigger (or the runtime's
// watch) names. The runtime's watch saying that changes may have been
// missed ("": once it began, and whenever its stream broke) starts a
// pass at once, so a change made before the watch began is not left to
// the next Interval. A watch that fails is started again after a backoff
// (MinBackoff, doubling up to MaxBackoff), its error going to OnError.
// It returns ctx's error.
func (r *Reconciler) Run(ctx context.Context) error {
	if err := r.check(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	watchErr := make(chan error, 1)
	if w, ok := r.ex.rt.(runtime.Watcher); ok {
		wg.Go(func() { r.watch(ctx, w, watchErr) })
	}
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		if _, err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			r.report("", err)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
				break wait
			case err := <-watchErr:
				r.report("", err)
			case name := <-r.trigger:
				if name == "" {
					break wait
				}
				if _, err := r.Reconcile(ctx, name); err != nil && ctx.Err() == nil {
					r.report(name, err)
				}
			}
		}
	}
}

// watch runs the runtime's watch until ctx is done, starting it again
// after a backoff when it fails; errors go to Run's loop, which reports
// them (one waits there at most: the next comes a backoff later, once
// the loop took it).
func (r *Reconciler) watch(ctx context.Context, w runtime.Watcher, errs chan<- error) {
	wait := r.opts.MinBackoff
	for {
		began := time.Now()
		err := w.Watch(ctx, r.Trigger)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) >= r.opts.MaxBackoff {
			wait = r.opts.MinBackoff // it had been watching for a while
		}
		if err == nil {
			err = errors.New("the watch ended")
		}
		select {
		case errs <- fmt.Errorf("reconcile: watch %s: %w", r.ex.rt.Name(), err):
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, r.opts.MaxBackoff)
	}
}

// check reports a Reconciler that NewReconciler did not make, or made
// over an executor that cannot run operations.
func (r *Reconciler) check() error {
	if r == nil || r.trigger == nil {
		return errors.New("deploy: Reconciler not made by deploy.NewReconciler")
	}
	if err := r.ex.enter(true); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	r.ex.leave()
	return nil
}

func (r *Reconciler) report(name string, err error) {
	if r.opts.OnError != nil {
		r.opts.OnError(name, err)
	}
}

// PassResult counts what one pass did.
type PassResult struct {
	// Checked deployments were compared with their runtime.
	Checked int
	// Skipped deployments were not looked at: not Available, paused,
	// under an operation, or waiting out a backoff.
	Skipped int
	// Repaired deployments drifted and were repaired; Failed ones
	// drifted and their repair failed (they back off).
	Repaired, Failed int
}

// Pass looks at every deployment once and repairs those that drifted, one
// after the other. Errors of single deployments go to OnError and count
// as Failed; the error is the store's, when it cannot list deployments.
func (r *Reconciler) Pass(ctx context.Context) (PassResult, error) {
	var res PassResult
	if err := r.check(); err != nil {
		return res, err
	}
	deps, err := r.ex.st.ListDeployments(ctx, store.DeploymentQuery{})
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	names := make(map[string]bool, len(deps))
	for _, d := range deps {
		names[d.Name] = true
		out, err := r.reconcile(ctx, d)
		switch out {
		case reconcileChecked:
			res.Checked++
		case reconcileRepaired:
			res.Checked++
			res.Repaired++
		case reconcileFailed:
			res.Checked++
			res.Failed++
		default:
			res.Skipped++
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			r.report(d.Name, err)
		}
	}
	r.mu.Lock()
	for name := range r.specs {
		if !names[name] {
			delete(r.specs, name)
		}
	}
	r.mu.Unlock()
	return res, nil
}

// Reconcile looks at one deployment and repairs it if it drifted. It
// reports whether it repaired it.
func (r *Reconciler) Reconcile(ctx context.Context, name string) (bool, error) {
	if err := r.check(); err != nil {
		return false, err
	}
	d, err := r.ex.st.GetDeployment(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reconcile %s: %w", name, err)
	}
	out, err := r.reconcile(ctx, d)
	return out == reconcileRepaired, err
}

type reconcileOutcome int

const (
	reconcileSkipped reconcileOutcome = iota
	reconcileChecked
	reconcileRepaired
	reconcileFailed
)

func (r *Reconciler) reconcile(ctx context.Context, d *store.Deployment) (reconcileOutcome, error) {
	if !reconcilable(d) || d.Parameters[reconcileParam] == "true" || r.ex.isClaimed(d.Name) {
		return reconcileSkipped, nil
	}
	now := time.Now()
	r.mu.Lock()
	b := r.backoff[d.Name]
	wait := b != nil && now.Before(b.next)
	r.mu.Unlock()
	if wait {
		return reconcileSkipped, nil
	}
	ds, err := r.desired(ctx, d)
	if err != nil {
		return reconcileChecked, err
	}
	specs := ds.targets
	obs, err := r.ex.observe(ctx, d.Name)
	if err != nil {
		return reconcileChecked, fmt.Errorf("reconcile %s: %w", d.Name, ds.redact.Error(err))
	}
	why := drifted(d, specs, obs)
	if why == "" {
		return reconcileChecked, nil
	}
	_, err = r.ex.Run(ctx, store.OpUpdate, Request{Deployment: d.Name, VersionID: d.VersionID})
	if errors.Is(err, ErrBusy) || errors.Is(err, ErrInterrupted) {
		// Someone else is on it.
		return reconcileSkipped, nil
	}
	r.ex.countRepair(ctx, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		b := r.backoff[d.Name]
		if b == nil {
			b = &backoff{wait: r.opts.MinBackoff}
			r.backoff[d.Name] = b
		} else {
			b.wait = min(2*b.wait, r.opts.MaxBackoff)
		}
		b.next = time.Now().Add(b.wait)
		// Look again when the backoff ends, not at the next pass: a
		// trigger that came during the failed repair, or during the
		// backoff, was skipped.
		name := d.Name
		time.AfterFunc(b.wait, func() { r.Trigger(name) })
		return reconcileFailed, fmt.Errorf("reconcile %s (%s): %w", d.Name, ds.redact.String(why), ds.redact.Error(err))
	}
	delete(r.backoff, d.Name)
	return reconcileRepaired, nil
}

// reconcilable reports whether a deployment is the reconciler's to
// repair: it is Available, or in status Error after a repair (an update
// to its own version) failed.
func reconcilable(d *store.Deployment) bool {
	if d.Status == store.StatusAvailable {
		return true
	}
	last := d.LastOperation()
	return d.Status == store.StatusError && last != nil && last.Type == store.OpUpdate && last.FromVersionID == last.ToVersionID
}

// desired returns the runtime specs of a deployment's recorded version,
// rendered once per record revision.
func (r *Reconciler) desired(ctx context.Context, d *store.Deployment) (*desiredSpecs, error) {
	r.mu.Lock()
	ds := r.specs[d.Name]
	r.mu.Unlock()
	if ds != nil && ds.revision == d.Revision {
		return ds, nil
	}
	v, err := r.ex.st.GetVersion(ctx, d.VersionID)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: version %s: %w", d.Name, d.VersionID, err)
	}
	deps := withScale(v.StackDeps, d.Parameters)
	vars, templates := splitParams(d.Parameters)
	productName := r.ex.productName(ctx, d.ProductID)
	fs, err := renderFiles(d.Name, productName, deps, templates, vars, r.ex.host(d.Name))
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: %w", d.Name, err)
	}
	specs := r.ex.stackSpecs(d.Name, productName, deps, fs, v)
	targets := make([]*target, len(specs))
	for i, s := range specs {
		targets[i] = newTarget(s)
	}
	ds = &desiredSpecs{revision: d.Revision, targets: targets,
		redact: redactScope{name: d.Name, productName: productName, versions: []*product.Version{v},
			deps: []stack.Deps{deps}, vars: []map[string]string{vars}, files: []files{fs}, host: r.ex.host(d.Name)}.redactor()}
	r.mu.Lock()
	r.specs[d.Name] = ds
	r.mu.Unlock()
	return ds, nil
}

// drifted says why the runtime or record differs from a deployment's
// specs, or "" when they agree.
func drifted(d *store.Deployment, targets []*target, obs *runtime.DeploymentState) string {
	for _, t := range targets {
		name := t.spec.Stack.Name
		rs, os := d.Stack(name), obs.Stack(name)
		if rs != nil && rs.State == StateReady && rs.ConfigHash == t.stackHash && rs.Tier == t.spec.Tier && runtime.InSyncHashed(t.spec, t.svcHashes, os) {
			continue // the common case, without allocating
		}
		if sd := compareStack(t, rs, true, os, true); sd.repair != "" {
			return name + ": " + sd.repair
		}
	}
	for _, os := range obs.Stacks {
		found := false
		for _, t := range targets {
			if t.spec.Stack.Name == os.Name {
				found = true
				break
			}
		}
		if !found {
			return os.Name + ": left over"
		}
	}
	return ""
}

// SetReconcilePaused pauses (or resumes) the reconciliation of one
// deployment: a Reconciler leaves a paused deployment alone, whatever
// drifts. The setting is kept in the deployment's record and survives
// operations. It fails with ErrBusy while an operation holds the
// deployment.
func (e *Executor) SetReconcilePaused(ctx context.Context, name string, paused bool) error {
	if err := e.enter(false); err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	defer e.leave()
	cl, ok, err := e.claim(ctx, name)
	switch {
	case err != nil:
		return fmt.Errorf("pause %s: waiting for the operation that is ending: %w", name, err)
	case !ok:
		return fmt.Errorf("pause %s: %w: this executor is running an operation on it", name, ErrBusy)
	}
	defer e.unclaim(cl)
	if _, err := e.st.AcquireLease(ctx, name, e.opts.Owner, e.opts.LeaseTTL); err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return fmt.Errorf("pause %s: %w: %w", name, ErrBusy, err)
		}
		return fmt.Errorf("pause %s: lease: %w", name, err)
	}
	released := false
	defer func() {
		if !released {
			_ = e.st.ReleaseLease(context.WithoutCancel(ctx), name, e.opts.Owner)
		}
	}()
	d, err := e.st.GetDeployment(ctx, name)
	if err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	if (d.Parameters[reconcileParam] == "true") == paused {
		return nil
	}
	if d.Parameters == nil {
		d.Parameters = map[string]string{}
	}
	if paused {
		d.Parameters[reconcileParam] = "true"
	} else {
		delete(d.Parameters, reconcileParam)
	}
	// The lease goes with the change: whoever sees it may start an
	// operation at once.
	if _, err := e.st.UpdateDeployment(ctx, d, store.ReleasingLease(e.opts.Owner)); err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	released = true
	return nil
}

// ReconcilePaused reports whether a deployment's reconciliation is
// paused.
func ReconcilePaused(d *store.Deployment) bool { return d.Parameters[reconcileParam] == "true" }

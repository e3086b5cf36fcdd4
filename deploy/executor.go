package deploy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/semaphore"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Policy says what an operation does when a stack fails.
type Policy string

// Failure policies.
const (
	// FailFast stops starting stacks, keeps what runs, and leaves the
	// deployment in status Error. The default.
	FailFast Policy = "fail-fast"
	// Continue goes on with every stack that does not depend on the
	// failed one; its dependents are skipped and reported.
	Continue Policy = "continue"
	// Rollback stops, tears down what the operation created in reverse
	// order and, for an update, restores the previous version; the
	// deployment ends in status Tainted. A rollback that is interrupted
	// or fails itself leaves status Error (OperationError.RolledBack
	// unset): Tainted always means undone. It deletes only the volumes the
	// operation created (the operation's NewVolumeStacks, recorded
	// before anything was created): a stack added back whose volumes an
	// earlier update or termination kept is removed with its data kept,
	// by this executor or by one that resumes the operation.
	Rollback Policy = "rollback"
)

// ParsePolicy parses "fail-fast", "continue" or "rollback" (empty means
// fail-fast).
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case "", FailFast:
		return FailFast, nil
	case Continue, Rollback:
		return Policy(s), nil
	}
	return "", fmt.Errorf("%w: policy %q: want fail-fast, continue or rollback", ErrInvalidRequest, s)
}

// Defaults of Options.
const (
	DefaultConcurrency  = 8
	DefaultLeaseTTL     = 30 * time.Second
	DefaultReadyTimeout = 5 * time.Minute
)

// Options configure an Executor. The zero value means the defaults.
type Options struct {
	// Concurrency bounds the runtime calls (apply, remove, init scripts,
	// lifecycle) in flight at once across every operation of the
	// executor. Waiting for readiness holds no slot. Zero means the
	// runtime's hint (runtime.ConcurrencyHinter), else
	// DefaultConcurrency. While the runtime reports its engine
	// unavailable or overloaded (runtime.ErrUnavailable), fewer calls
	// run: each such failure takes one slot out of use for 2 seconds.
	Concurrency int
	// Owner names this executor in leases and operation records; it must
	// differ between processes. Default: host name, process ID and a
	// random suffix.
	Owner string
	// LeaseTTL is how long a deployment's lease lasts without renewal;
	// the executor renews it every third of that while it works, on the
	// store's lease connections, apart from the operation's record and
	// event writes. If the process dies, another executor may take over
	// after LeaseTTL. An executor that cannot renew in time stops the
	// operation at once, before another may take over. Default 30s.
	LeaseTTL time.Duration
	// ReadyTimeout bounds how long a service may take to become ready
	// when its probe sets no timeout. Default 5m.
	ReadyTimeout time.Duration
	// OnEvent, when set, receives every event from a goroutine of the
	// executor; a slow callback delays delivery, never the engine. The
	// events of one operation come in order, one call at a time; those
	// of operations that run at once (on different deployments) come
	// from a goroutine per operation, so calls may overlap: a callback
	// that keeps state across operations must be safe for concurrent use.
	OnEvent func(Event)
	// Events, when set, receives every event like OnEvent (in order per
	// operation; operations running at once interleave). The operation
	// returns only after its events were delivered, so keep reading.
	Events chan<- Event
	// Catalog sizes unit and volume types; nil means stack.DefaultCatalog().
	Catalog *stack.Catalog
	// Logger receives the executor's own diagnostics, which events do
	// not carry: store writes that failed and are retried, lease
	// renewals in trouble or lost, operations resumed or handed over,
	// runtime calls slowed down after runtime.ErrUnavailable. Records
	// about an operation carry the attributes deployment, operation
	// (its ID) and op (its type), and are logged with the operation's
	// context. Values the redactor hides never appear. nil discards
	// them.
	Logger *slog.Logger
	// TracerProvider and MeterProvider receive the executor's spans and
	// metrics (see Observability in the package documentation); nil
	// means otel's global providers, which do nothing unless the program
	// installs real ones.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// OmitCallSpans leaves out the spans of runtime and store calls:
	// an operation is traced down to its tiers and stacks only, one span
	// per stack instead of three for a launch. A failure is still
	// recorded on the span of its stack and of the operation, and the
	// calls' latencies and errors are still counted in the metrics. For
	// large deployments whose traces should cost less (see BENCHMARKS.md,
	// engine telemetry); by default every call has its span.
	OmitCallSpans bool
}

// Executor runs operations (launch, update, terminate, restart, stop,
// start, scale) on deployments: it plans them, drives the runtime, and
// records every step in the store. An Executor is safe for concurrent use;
// operations on different deployments run in parallel, and a lease in the
// store keeps two operations (from this or any other process) off one
// deployment. Once an operation's end can be seen (its final record, its
// last event, its Handle), the next operation on the deployment may be
// started at once: a request that comes while the operation is still
// writing its outcome and releasing its lease waits for that, instead of
// failing with ErrBusy.
type Executor struct {
	rt   runtime.Runtime
	st   *store.Store
	opts Options
	sem  *semaphore.Weighted
	log  *slog.Logger

	bg       context.Context // parent of submitted operations
	bgCancel context.CancelCauseFunc
	wg       sync.WaitGroup

	// running holds the deployments this executor has an operation in
	// progress on. The lease cannot tell: its owner renews it at will.
	mu      sync.Mutex
	running map[string]*claim
	// closed is set by Close, after which enter admits no call;
	// closeErr is the first error Close met.
	closed   bool
	closeErr error

	// withheld counts the slots of sem that slowDown holds.
	withheld atomic.Int64

	tel lazyTelemetry
}

// New returns an executor running deployments on rt and recording them in
// st. rt may be nil for an executor that only previews (PreviewSpec).
func New(rt runtime.Runtime, st *store.Store, opts *Options) *Executor {
	e := &Executor{rt: rt, st: st, running: map[string]*claim{}}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.Concurrency <= 0 {
		e.opts.Concurrency = DefaultConcurrency
		if rt != nil {
			e.opts.Concurrency = runtime.Concurrency(rt, DefaultConcurrency)
		}
	}
	if e.opts.LeaseTTL <= 0 {
		e.opts.LeaseTTL = DefaultLeaseTTL
	}
	if e.opts.ReadyTimeout <= 0 {
		e.opts.ReadyTimeout = DefaultReadyTimeout
	}
	if e.opts.Owner == "" {
		host, _ := os.Hostname()
		e.opts.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomString(6))
	}
	e.log = e.opts.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.sem = semaphore.NewWeighted(int64(e.opts.Concurrency))
	e.bg, e.bgCancel = context.WithCancelCause(context.Background())
	return e
}

// backOff is how long a slot of the executor's bound stays out of use
// after the runtime reported its engine unavailable or overloaded.
const backOff = 2 * time.Second

// slowDown takes one slot of the executor's bound out of use for backOff
// after a runtime call failed with runtime.ErrUnavailable (the engine
// answered 429, timed out or could not be reached), so that fewer calls
// press on an engine that slows down; each further such failure takes
// one more, and the slots come back by themselves. One slot always
// stays in use.
func (e *Executor) slowDown() {
	if e.withheld.Add(1) >= int64(e.opts.Concurrency) {
		e.withheld.Add(-1)
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.withheld.Add(-1)
		if err := e.sem.Acquire(e.bg, 1); err != nil {
			return
		}
		defer e.sem.Release(1)
		t := time.NewTimer(backOff)
		defer t.Stop()
		select {
		case <-t.C:
		case <-e.bg.Done():
		}
	}()
}

// Owner returns the name this executor uses in leases.
// It is empty for a nil or zero Executor.
func (e *Executor) Owner() string {
	if e == nil {
		return ""
	}
	return e.opts.Owner
}

// Runtime returns the executor's runtime (nil for a nil or zero
// Executor).
func (e *Executor) Runtime() runtime.Runtime {
	if e == nil {
		return nil
	}
	return e.rt
}

// Store returns the executor's store (nil for a nil or zero Executor).
func (e *Executor) Store() *store.Store {
	if e == nil {
		return nil
	}
	return e.st
}

// Request describes an operation.
type Request struct {
	// Deployment names the deployment (a DNS-1123 label).
	Deployment string
	// VersionID is the product version to launch or update to.
	VersionID string
	// Policy is the failure policy; empty means FailFast.
	Policy Policy
	// Vars are the variables of config templates. They are kept in the
	// deployment record (as its parameters) and reused by later
	// operations unless replaced.
	Vars map[string]string
	// ConfigTemplates are the templates of config files (see the package
	// documentation of config files). Kept like Vars.
	ConfigTemplates map[string]string
	// DeleteData makes Terminate delete volumes too.
	DeleteData bool
	// Stack names the stack of a restart, stop, start or scale.
	Stack string
	// Service and Instances are the target of a scale.
	Service   string
	Instances int
	// Timeout bounds the whole operation; zero means no bound.
	Timeout time.Duration
	// OnEvent, when set, receives the events of this operation only,
	// every one of them from its operation-started (or -resumed) on, in
	// order, from a goroutine of the executor, like Options.OnEvent
	// (which receives them too): a slow callback delays delivery, never
	// the engine. Run, or the Handle of Submit, ends only after the last
	// event was delivered. A resumed operation does not keep it.
	OnEvent func(Event)
}

// Result is the outcome of an operation.
type Result struct {
	// Deployment is the record as the operation left it.
	Deployment *store.Deployment
	// Operation is the operation's entry in the record.
	Operation store.Operation
	// Changes is what a launch or update changed, stack by stack.
	Changes *ChangeSet
	// Skipped lists the stacks that were not started because a stack
	// they depend on failed or the operation stopped.
	Skipped []string
}

// Launch creates a deployment of a product version and starts its stacks,
// tier by tier. Launching a name whose deployment runs nothing (it was
// terminated, or its launch was rolled back) launches it again; any other
// existing name is an error matching store.ErrAlreadyExists.
func (e *Executor) Launch(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpLaunch, req)
}

// Update moves a deployment to another version: stacks that changed are
// applied in tier order, stacks that went away are removed in reverse
// tier order after that, and untouched stacks are not restarted.
func (e *Executor) Update(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpUpdate, req)
}

// Terminate removes every stack of a deployment in reverse tier order.
// Volumes are kept unless req.DeleteData is set, which deletes every
// volume of the deployment: of its stacks, of stacks earlier updates
// removed (the record's VolumeStacks) and of any other the runtime
// lists for it. The record stays, with
// status Terminated, until deleted from the store.
func (e *Executor) Terminate(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpTerminate, req)
}

// Restart restarts the services of one stack and waits until they are
// ready again.
func (e *Executor) Restart(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpRestart, req)
}

// Stop stops the services of one stack, keeping their configuration and
// data.
func (e *Executor) Stop(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpStop, req)
}

// Start starts a stopped stack again and waits until it is ready.
func (e *Executor) Start(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpStart, req)
}

// Scale sets the number of instances of one service (req.Stack,
// req.Service, req.Instances). The count is kept across updates.
func (e *Executor) Scale(ctx context.Context, req Request) (*Result, error) {
	return e.Run(ctx, store.OpScale, req)
}

// Run runs an operation of the given type to its end. The error is nil,
// an *OperationError listing every failure, or an error that stopped the
// operation before it started (bad request, busy deployment, missing
// version, a config template that does not render). The operation runs
// on ctx, values and cancellation; Close stops it too, leaving it in
// progress with an error matching ErrHandedOver. After Close, Run fails
// with ErrClosed and records nothing.
func (e *Executor) Run(ctx context.Context, op store.OpType, req Request) (*Result, error) {
	if err := e.enter(true); err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, req.Deployment, err)
	}
	defer e.leave()
	ctx, cancel := e.opContext(ctx)
	defer cancel()
	o, err := e.prepare(ctx, op, req, nil)
	if err != nil {
		return nil, closedErr(ctx, err)
	}
	return o.run(ctx)
}

// Handle follows an operation started with Submit.
type Handle struct {
	// Deployment and OperationID name the operation.
	Deployment  string
	OperationID string
	done        chan struct{}
	res         *Result
	err         error
}

// Done is closed when the operation has ended (at once for a Handle
// that Submit did not make).
func (h *Handle) Done() <-chan struct{} {
	if h.check() != nil {
		return closedChan
	}
	return h.done
}

// Wait waits for the operation to end, or for ctx (which then only stops
// the waiting, not the operation).
func (h *Handle) Wait(ctx context.Context) (*Result, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	select {
	case <-h.done:
		return h.res, h.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Submit prepares an operation like Run and returns as soon as it is
// recorded (with its operation ID), leaving the work to a goroutine of the
// executor. The operation keeps ctx's values (context.WithoutCancel), not
// its cancellation or deadline: it outlives ctx. Close hands such
// operations over.
func (e *Executor) Submit(ctx context.Context, op store.OpType, req Request) (*Handle, error) {
	return e.submit(ctx, fmt.Sprintf("%s %s", op, req.Deployment), func(ctx context.Context) (*operation, error) {
		return e.prepare(ctx, op, req, nil)
	})
}

// submit prepares an operation on ctx and runs it on a goroutine of the
// executor, with ctx's values but not its cancellation.
func (e *Executor) submit(ctx context.Context, what string, prepare func(context.Context) (*operation, error)) (*Handle, error) {
	if err := e.enter(true); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pctx, pcancel := e.opContext(ctx)
	o, err := prepare(pctx)
	if err != nil {
		err = closedErr(pctx, err)
		pcancel()
		e.leave()
		return nil, err
	}
	pcancel()
	h := &Handle{Deployment: o.name, OperationID: o.id, done: make(chan struct{})}
	rctx, rcancel := e.opContext(context.WithoutCancel(ctx))
	go func() {
		defer e.leave()
		defer rcancel()
		defer close(h.done)
		h.res, h.err = o.run(rctx)
	}()
	return h, nil
}

// Resume takes over a deployment whose operation was interrupted (status
// UnderChange) once its lease has expired, and runs that operation again
// to its end under the same operation ID. Every runtime call is
// idempotent, so nothing the interrupted executor created is duplicated.
// It fails with ErrBusy while the lease is held, and ErrNothingToResume
// when there is nothing to do.
func (e *Executor) Resume(ctx context.Context, name string) (*Result, error) {
	if err := e.enter(true); err != nil {
		return nil, fmt.Errorf("resume %s: %w", name, err)
	}
	defer e.leave()
	ctx, cancel := e.opContext(ctx)
	defer cancel()
	o, err := e.prepareResume(ctx, name)
	if err != nil {
		return nil, closedErr(ctx, err)
	}
	return o.run(ctx)
}

// SubmitResume is Resume that returns once the operation is taken over;
// the operation goes on like one started with Submit.
func (e *Executor) SubmitResume(ctx context.Context, name string) (*Handle, error) {
	return e.submit(ctx, "resume "+name, func(ctx context.Context) (*operation, error) {
		return e.prepareResume(ctx, name)
	})
}

// ResumeAll submits the resumption of every interrupted deployment whose
// lease has expired and returns their handles. Deployments still leased
// are left alone; call it again later (a control plane calls it at start
// and then every lease TTL).
func (e *Executor) ResumeAll(ctx context.Context) ([]*Handle, error) {
	if err := e.enter(true); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	defer e.leave()
	deps, err := e.st.ListDeployments(ctx, store.DeploymentQuery{Status: store.StatusUnderChange})
	if err != nil {
		return nil, err
	}
	var hs []*Handle
	for _, d := range deps {
		h, err := e.SubmitResume(ctx, d.Name)
		switch {
		case err == nil:
			hs = append(hs, h)
		case errors.Is(err, ErrBusy):
			e.log.InfoContext(ctx, "not resuming: another executor holds the lease", "deployment", d.Name, "error", err)
		case errors.Is(err, ErrNothingToResume), errors.Is(err, store.ErrNotFound):
			e.log.DebugContext(ctx, "nothing to resume", "deployment", d.Name)
		default:
			return hs, err
		}
	}
	return hs, nil
}

// Preview returns what updating a deployment to versionID would change,
// without changing anything. For a deployment that does not exist (or was
// terminated) it returns what a launch would create.
func (e *Executor) Preview(ctx context.Context, name, versionID string) (*ChangeSet, error) {
	return e.PreviewChanges(ctx, Request{Deployment: name, VersionID: versionID}, nil)
}

// PreviewSpec is Preview for a spec that is not (yet) a stored version.
func (e *Executor) PreviewSpec(ctx context.Context, name string, deps stack.Deps) (*ChangeSet, error) {
	return e.PreviewChanges(ctx, Request{Deployment: name}, deps)
}

// PreviewChanges returns the change set that running req as an update (or
// a launch, for a deployment that runs nothing) would carry out, without
// changing anything: to deps, or to the version req.VersionID when deps
// is nil, with req's config templates and variables (the recorded ones
// when nil). The change set is the executor's own (see ChangeSet): it
// shows config files whose rendering changes, stacks the record shows
// failed or applied with another configuration, and, when the executor
// has a runtime, stacks the runtime observes drifted, each as a repair
// with its reason. Templates or variables that nothing uses are an
// error, as for the operation itself. What the runtime says in an error
// is redacted, as in operation messages.
func (e *Executor) PreviewChanges(ctx context.Context, req Request, deps stack.Deps) (*ChangeSet, error) {
	name := req.Deployment
	if err := e.enter(false); err != nil {
		return nil, fmt.Errorf("preview %s: %w", name, err)
	}
	defer e.leave()
	var to *product.Version
	if deps == nil {
		v, err := e.st.GetVersion(ctx, req.VersionID)
		if err != nil {
			return nil, fmt.Errorf("preview %s: version %s: %w", name, req.VersionID, err)
		}
		to, deps = v, v.StackDeps
	}
	if err := validate.Deps(deps, &validate.Options{Catalog: e.opts.Catalog}); err != nil {
		return nil, fmt.Errorf("preview %s: %w", name, err)
	}
	d, err := e.st.GetDeployment(ctx, name)
	exists := err == nil && !relaunchable(d)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("preview %s: %w", name, err)
	}
	params := map[string]string{}
	if exists {
		maps.Copy(params, d.Parameters)
	}
	if req.Vars != nil {
		replacePrefixed(params, varParam, req.Vars)
	}
	if req.ConfigTemplates != nil {
		replacePrefixed(params, templateParam, req.ConfigTemplates)
	}
	vars, templates := splitParams(params)
	if to == nil {
		to = &product.Version{StackDeps: deps}
		if exists {
			to.ProductID = d.ProductID
		}
	}
	productName := ""
	if to.ProductID != "" {
		productName = e.productName(ctx, to.ProductID)
	}
	toDeps := withScale(deps, params)
	used := &templateUse{}
	toFiles, err := renderFilesUse(name, productName, toDeps, templates, vars, e.host(name), used)
	if err != nil {
		return nil, fmt.Errorf("%w: preview %s: %w", ErrInvalidRequest, name, err)
	}
	if err := used.unused(req.ConfigTemplates, req.Vars); err != nil {
		return nil, fmt.Errorf("%w: preview %s: %w", ErrInvalidRequest, name, err)
	}
	if !exists {
		cs := diffFiles(nil, toDeps, nil, toFiles)
		cs.ToVersionID = to.ID
		return cs, nil
	}
	from, err := e.st.GetVersion(ctx, d.VersionID)
	if err != nil {
		return nil, fmt.Errorf("preview %s: current version %s: %w", name, d.VersionID, err)
	}
	fromVars, fromTemplates := splitParams(d.Parameters)
	fromDeps := withScale(from.StackDeps, d.Parameters)
	fromFiles, _ := renderFiles(name, productName, fromDeps, fromTemplates, fromVars, e.host(name))
	cs := diffFiles(fromDeps, toDeps, fromFiles, toFiles)
	cs.FromVersionID, cs.ToVersionID = from.ID, to.ID
	if runtime.RelabelsTier(e.rt) {
		cs.relabelInPlace()
	}
	var obs *runtime.DeploymentState
	if e.rt != nil {
		if obs, err = e.observe(ctx, name); err != nil {
			// What the runtime says may quote the deployment's values:
			// it passes the redactor, as for the update itself.
			red := redactScope{name: name, productName: productName, versions: []*product.Version{from, to},
				deps: []stack.Deps{fromDeps, toDeps}, vars: []map[string]string{vars, fromVars},
				files: []files{fromFiles, toFiles}, host: e.host(name)}.redactor()
			return nil, fmt.Errorf("preview %s: %w", name, red.Error(err))
		}
	}
	markApplied(cs, d, e.stackSpecs(name, productName, toDeps, toFiles, to), obs, e.rt != nil)
	return cs, nil
}

// Scale overrides are kept in the deployment's parameters under this
// prefix, as "scale/<stack>/<service>" = "<instances>".
const scaleParam = "scale/"

// varParam prefixes template variables in the deployment's parameters:
// the store seals them at rest when it has a keyring.
const varParam = store.VarParamPrefix

// templateParam prefixes config templates in the deployment's parameters.
const templateParam = "template/"

// ScaledSpec returns the spec a deployment runs: deps, its version's, with
// the scale overrides of its parameters (store.Deployment.Parameters)
// applied. deps is not changed; the result may share it.
func ScaledSpec(deps stack.Deps, params map[string]string) stack.Deps { return withScale(deps, params) }

// withScale returns deps with the scale overrides of a deployment's parameters applied
// (a copy when there are any).
func withScale(deps stack.Deps, params map[string]string) stack.Deps {
	var over map[string]int
	for k, v := range params {
		if rest, ok := strings.CutPrefix(k, scaleParam); ok {
			var n int
			if _, err := fmt.Sscanf(v, "%d", &n); err == nil {
				if over == nil {
					over = map[string]int{}
				}
				over[rest] = n
			}
		}
	}
	if over == nil {
		return deps
	}
	out := make(stack.Deps, len(deps))
	for ti, tier := range deps {
		out[ti] = make(stack.Tier, len(tier))
		for si := range tier {
			s := tier[si]
			s.Services = append([]stack.Service(nil), s.Services...)
			for k := range s.Services {
				if n, ok := over[s.Name+"/"+s.Services[k].Name]; ok {
					s.Services[k].Instances = n
				}
			}
			out[ti][si] = s
		}
	}
	return out
}

// splitParams splits a deployment's parameters into template variables
// and config templates.
func splitParams(p map[string]string) (vars, templates map[string]string) {
	vars, templates = map[string]string{}, map[string]string{}
	for k, v := range p {
		if rest, ok := strings.CutPrefix(k, varParam); ok {
			vars[rest] = v
		} else if rest, ok := strings.CutPrefix(k, templateParam); ok {
			templates[rest] = v
		}
	}
	return vars, templates
}

const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return string(b)
}

// newOperationID returns "op-" and 16 random characters.
func newOperationID() string { return "op-" + randomString(16) }

// productName returns the product's name, or its ID if it cannot be read.
func (e *Executor) productName(ctx context.Context, id string) string {
	p, err := e.st.GetProduct(ctx, id)
	if err != nil {
		return id
	}
	return p.Name
}

// loadVersion reads and validates a version's spec.
func (e *Executor) loadVersion(ctx context.Context, id string) (*product.Version, error) {
	v, err := e.st.GetVersion(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("version %s: %w", id, err)
	}
	if err := validate.Deps(v.StackDeps, &validate.Options{Catalog: e.opts.Catalog}); err != nil {
		return nil, fmt.Errorf("version %s: %w", id, err)
	}
	return v, nil
}

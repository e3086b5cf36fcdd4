package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/validate"
)

// Stack states recorded in the deployment record.
//
// The record lists every stack an operation touched, from the moment it
// is about to be applied, and every stack found running when an
// operation is resumed. A stack whose operation failed or was
// interrupted may therefore be listed without existing on the runtime
// (StateFailed or StateInterrupted, with the reason in its message; its
// health in Status is missing); a stack that runs is always listed. The
// next launch or update converges both.
//
// Events are written by the executor that runs the operation. An
// operation has one operation-started and one operation-resumed per
// resume; each executor run that ends it writes one operation-done or
// operation-failed, the last event of the operation, in the store
// transaction that writes the record's outcome (an operation-handed-over
// likewise goes with the record that says so): a reader that sees the
// last event finds the record ended, and one that sees the record ended
// finds every event. An executor that dies loses the events it had not
// written yet (its operation-started among them when it died at once),
// and never leaves an end event without the ended record; the executor
// that resumes goes on from the record.
const (
	StateApplying    = "applying"
	StateWaiting     = "waiting"
	StateInit        = "initializing"
	StateReady       = "ready"
	StateFailed      = "failed"
	StateInterrupted = "interrupted"
	StateRemoving    = "removing"
	StateStopped     = "stopped"
)

// files maps stack -> service -> path -> rendered content.
type files = map[string]map[string]map[string][]byte

// operation is one prepared operation on one deployment.
type operation struct {
	e        *Executor
	typ      store.OpType
	id       string
	name     string
	req      Request
	policy   Policy
	resumed  bool
	relaunch bool // launch of a deployment that runs nothing (terminated, or its launch rolled back)
	// newVols holds the stacks whose volumes this operation creates
	// (the record's NewVolumeStacks): the only data a rollback deletes.
	newVols map[string]bool

	productName      string
	from, to         *product.Version
	fromDeps, toDeps stack.Deps
	fromFiles        files
	toFiles          files
	vars, templates  map[string]string
	// fromVars and fromTemplates are the parameters the record held
	// before an update, with which fromFiles were rendered.
	fromVars, fromTemplates map[string]string
	// oldParams are the parameters the record held before an update; a
	// rollback puts them back with what runs.
	oldParams map[string]string
	// wasReady holds the stacks the record showed ready before an
	// update: their init scripts ran, so a repair does not run them.
	wasReady map[string]bool
	plan     *Plan
	changes  *ChangeSet

	// announced holds the stacks whose removal a one-pass teardown
	// already announced, so a fall-back removal does not announce them
	// twice.
	announced map[string]bool

	rec       *recorder
	span      *opSpan
	tracing   bool             // the operation's span records: its phases get spans
	spanErrs  map[string]error // stack name -> failure for its span; under mu
	ev        *dispatcher
	redact    *redact.Redactor
	leaseLost atomic.Bool
	leaseAt   time.Time // when the lease was last requested
	leaseCtx  context.Context
	claim     *claim // this executor's hold on the deployment

	mu      sync.Mutex
	errs    *multierror.Error
	skipped []string
	touched map[string]bool
	// waitCauses says, stack by stack, what the runtime last said of
	// the waits the operation's context stopped.
	waitCauses []string
}

func (e *Executor) prepareResume(ctx context.Context, name string) (*operation, error) {
	d, err := e.st.GetDeployment(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", name, err)
	}
	op := d.LastOperation()
	if d.Status != store.StatusUnderChange || op == nil || op.Status != store.OpInProgress {
		return nil, fmt.Errorf("resume %s: %w (status %s)", name, ErrNothingToResume, d.Status)
	}
	req := Request{
		Deployment: name, VersionID: op.ToVersionID, Policy: Policy(op.Policy), DeleteData: op.DeleteData,
		Stack: op.Stack, Service: op.Service, Instances: op.Instances,
	}
	return e.prepare(ctx, op.Type, req, op)
}

// prepare checks a request, takes the deployment's lease, loads and
// renders everything the operation needs, and records the operation. When
// it fails nothing has changed.
func (e *Executor) prepare(ctx context.Context, typ store.OpType, req Request, resume *store.Operation) (_ *operation, err error) {
	ctx, span := e.startOperation(ctx, typ, req)
	defer span.endIfFailed(&err)
	if fe := validate.DNSLabel("deployment", req.Deployment); fe != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, fe)
	}
	name := req.Deployment
	policy, err := ParsePolicy(string(req.Policy))
	if err != nil {
		return nil, err
	}
	switch typ {
	case store.OpLaunch, store.OpUpdate:
		if req.VersionID == "" {
			return nil, fmt.Errorf("%w: %s %s: a version ID is required", ErrInvalidRequest, typ, name)
		}
	case store.OpRestart, store.OpStop, store.OpStart, store.OpScale:
		if req.Stack == "" {
			return nil, fmt.Errorf("%w: %s %s: a stack name is required", ErrInvalidRequest, typ, name)
		}
		// A service runs at least one instance (0 instances in a spec
		// means the default, one): stopping its stack runs none.
		if typ == store.OpScale && (req.Service == "" || req.Instances < 1 || req.Instances > validate.MaxInstances) {
			return nil, fmt.Errorf("%w: scale %s: a service and 1 to %d instances are required (stop the stack to run none), got service %q and %d",
				ErrInvalidRequest, name, validate.MaxInstances, req.Service, req.Instances)
		}
	case store.OpTerminate:
	default:
		return nil, fmt.Errorf("%w: unknown operation %q", ErrInvalidRequest, typ)
	}

	// The lease keeps other executors off the deployment; an executor
	// renews its own lease at will, so it keeps itself off by claiming.
	cl, ok, err := e.claim(ctx, name)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s %s: waiting for the operation that is ending: %w", typ, name, err)
	case !ok:
		return nil, fmt.Errorf("%s %s: %w: this executor is running an operation on it", typ, name, ErrBusy)
	}
	defer func() {
		if err != nil {
			e.unclaim(cl)
		}
	}()
	leaseAt := time.Now()
	if _, err := e.acquireLease(ctx, storeAcquireLease, name); err != nil {
		if errors.Is(err, store.ErrLeaseHeld) {
			return nil, fmt.Errorf("%s %s: %w: %w", typ, name, ErrBusy, err)
		}
		return nil, fmt.Errorf("%s %s: lease: %w", typ, name, err)
	}
	defer func() {
		if err != nil {
			_ = e.releaseLease(context.WithoutCancel(ctx), name)
		}
	}()

	d, err := e.st.GetDeployment(ctx, name)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s %s: %w", typ, name, err)
	}
	if resume != nil {
		if !exists {
			return nil, fmt.Errorf("resume %s: deployment %w", name, store.ErrNotFound)
		}
		// The operation may have ended between the read that found it
		// in progress and the lease: resume only what still is.
		last := d.LastOperation()
		if d.Status != store.StatusUnderChange || last == nil || last.ID != resume.ID || last.Status != store.OpInProgress {
			return nil, fmt.Errorf("resume %s: %w (status %s)", name, ErrNothingToResume, d.Status)
		}
		resume = last
	}
	if resume == nil {
		switch {
		case typ == store.OpLaunch && exists && !relaunchable(d):
			return nil, fmt.Errorf("launch %s: deployment %w (status %s); update it instead", name, store.ErrAlreadyExists, d.Status)
		case typ != store.OpLaunch && !exists:
			return nil, fmt.Errorf("%s %s: deployment %w", typ, name, store.ErrNotFound)
		case typ == store.OpTerminate && d.Status == store.StatusTerminated && !req.DeleteData:
			return nil, fmt.Errorf("%w: terminate %s: the deployment is terminated already; ask to delete its data, or launch it again", ErrInvalidRequest, name)
		case typ != store.OpLaunch && typ != store.OpTerminate && d.Status == store.StatusTerminated:
			return nil, fmt.Errorf("%w: %s %s: the deployment is terminated; launch it again", ErrInvalidRequest, typ, name)
		case exists && d.Status == store.StatusUnderChange:
			last := d.LastOperation()
			id := ""
			if last != nil {
				id = last.ID
			}
			return nil, fmt.Errorf("%s %s: %w %s; resume it first", typ, name, ErrInterrupted, id)
		}
	}

	o := &operation{e: e, typ: typ, name: name, req: req, policy: policy, resumed: resume != nil, touched: map[string]bool{}, wasReady: map[string]bool{}, leaseAt: leaseAt, span: span, claim: cl}
	o.relaunch = typ == store.OpLaunch && exists && relaunchable(d)

	switch typ {
	case store.OpLaunch:
		if o.to, err = e.loadVersion(ctx, req.VersionID); err != nil {
			return nil, fmt.Errorf("launch %s: %w", name, err)
		}
	case store.OpUpdate:
		fromID := d.VersionID
		if resume != nil && resume.FromVersionID != "" {
			fromID = resume.FromVersionID
		}
		if o.from, err = e.loadVersion(ctx, fromID); err != nil {
			return nil, fmt.Errorf("update %s: current %w", name, err)
		}
		if o.to, err = e.loadVersion(ctx, req.VersionID); err != nil {
			return nil, fmt.Errorf("update %s: %w", name, err)
		}
		if o.to.ProductID != d.ProductID {
			return nil, fmt.Errorf("%w: update %s: version %s belongs to product %s, the deployment to %s",
				ErrInvalidRequest, name, o.to.ID, o.to.ProductID, d.ProductID)
		}
	default:
		if o.from, err = e.loadVersion(ctx, d.VersionID); err != nil {
			return nil, fmt.Errorf("%s %s: %w", typ, name, err)
		}
	}
	if o.to != nil && resume == nil && !o.to.Active && (typ == store.OpLaunch || o.to.ID != d.VersionID) {
		// A deployment already at an inactive version keeps running it
		// (and may be repaired); none moves to one.
		return nil, fmt.Errorf("%s %s: version %s (%s): %w", typ, name, o.to.Name, o.to.ID, ErrVersionInactive)
	}
	if o.to != nil {
		o.productName = e.productName(ctx, o.to.ProductID)
	} else {
		o.productName = e.productName(ctx, o.from.ProductID)
	}

	// Parameters: what the request gives replaces what the record holds.
	params := map[string]string{}
	var oldParams map[string]string
	if exists {
		oldParams = d.Parameters
		maps.Copy(params, d.Parameters)
		if o.relaunch {
			for k := range params {
				if _, ok := strings.CutPrefix(k, scaleParam); ok {
					delete(params, k)
				}
			}
		}
	}
	if req.Vars != nil {
		replacePrefixed(params, varParam, req.Vars)
	}
	if req.ConfigTemplates != nil {
		replacePrefixed(params, templateParam, req.ConfigTemplates)
	}
	if typ == store.OpScale && resume == nil {
		s, _ := o.from.StackDeps.Stack(req.Stack)
		if s == nil {
			return nil, fmt.Errorf("%w: scale %s: no stack %q in version %s", ErrInvalidRequest, name, req.Stack, o.from.ID)
		}
		if s.Service(req.Service) == nil {
			return nil, fmt.Errorf("%w: scale %s: no service %q in stack %q", ErrInvalidRequest, name, req.Service, req.Stack)
		}
		params[scaleParam+req.Stack+"/"+req.Service] = strconv.Itoa(req.Instances)
	}
	o.vars, o.templates = splitParams(params)

	if o.from != nil {
		o.fromDeps = withScale(o.from.StackDeps, params)
		if typ != store.OpUpdate && typ != store.OpTerminate {
			if s, _ := o.from.StackDeps.Stack(req.Stack); s == nil {
				return nil, fmt.Errorf("%w: %s %s: no stack %q in version %s", ErrInvalidRequest, typ, name, req.Stack, o.from.ID)
			}
			if o.fromFiles, err = renderFiles(name, o.productName, o.fromDeps, o.templates, o.vars, o.host); err != nil {
				return nil, fmt.Errorf("%w: %s %s: %w", ErrInvalidRequest, typ, name, err)
			}
		}
	}
	if typ == store.OpUpdate {
		// What runs was rendered with the parameters the record held;
		// the rollback restores it so. A rendering that fails now (it
		// did not before) compares as no files.
		o.oldParams = maps.Clone(oldParams)
		o.fromVars, o.fromTemplates = splitParams(oldParams)
		o.fromFiles, _ = renderFiles(name, o.productName, o.fromDeps, o.fromTemplates, o.fromVars, o.host)
	}
	if o.to != nil {
		o.toDeps = withScale(o.to.StackDeps, params)
		var used *templateUse
		if resume == nil {
			used = &templateUse{}
		}
		if o.toFiles, err = renderFilesUse(name, o.productName, o.toDeps, o.templates, o.vars, o.host, used); err != nil {
			return nil, fmt.Errorf("%w: %s %s: %w", ErrInvalidRequest, typ, name, err)
		}
		if err := used.unused(req.ConfigTemplates, req.Vars); err != nil {
			return nil, fmt.Errorf("%w: %s %s: %w", ErrInvalidRequest, typ, name, err)
		}
		if o.plan, err = NewPlan(o.toDeps); err != nil {
			return nil, err
		}
		o.changes = diffFiles(o.fromDeps, o.toDeps, o.fromFiles, o.toFiles)
		if runtime.RelabelsTier(e.rt) {
			o.changes.relabelInPlace()
		}
		if o.from != nil {
			o.changes.FromVersionID = o.from.ID
		}
		if typ == store.OpUpdate && resume == nil {
			obs, err := e.observe(ctx, name)
			if err != nil {
				red := o.redactScope().redactor()
				return nil, fmt.Errorf("%s %s: %w", typ, name, red.Error(err))
			}
			markApplied(o.changes, d, e.stackSpecs(name, o.productName, o.toDeps, o.toFiles, o.to), obs, true)
			for _, rs := range d.Stacks {
				o.wasReady[rs.Name] = rs.State == StateReady
			}
		}
		o.changes.ToVersionID = o.to.ID
	} else if o.plan, err = NewPlan(o.fromDeps); err != nil {
		return nil, err
	}
	o.redact = o.redactScope().redactor()

	now := time.Now()
	var opRec store.Operation
	if resume != nil {
		opRec = *resume
		opRec.Owner = e.opts.Owner
	} else {
		opRec = store.Operation{
			ID: newOperationID(), Type: typ, Status: store.OpInProgress, Policy: string(policy),
			Stack: req.Stack, Service: req.Service, Instances: req.Instances, DeleteData: req.DeleteData,
			Owner: e.opts.Owner, StartedAt: now,
		}
		if o.from != nil {
			opRec.FromVersionID = o.from.ID
		}
		if o.to != nil {
			opRec.ToVersionID = o.to.ID
		}
	}
	o.id = opRec.ID
	// The volumes a launch or update may create are recorded before
	// anything is created: in the deployment, for Terminate with
	// DeleteData, and in the operation, for its rollback.
	var held []string
	if exists {
		held = d.VolumeStacks
	}
	if resume == nil && o.to != nil {
		opRec.NewVolumeStacks, held = e.newVolumeStacks(ctx, name, o.fromDeps, o.toDeps, held)
	}
	o.newVols = map[string]bool{}
	for _, s := range opRec.NewVolumeStacks {
		o.newVols[s] = true
	}

	if !exists {
		d = &store.Deployment{
			Name: name, ProductID: o.to.ProductID, VersionID: o.to.ID, TargetVersionID: o.to.ID,
			Runtime: e.rt.Name(), Parameters: params, Status: store.StatusUnderChange,
			VolumeStacks: held, Operations: []store.Operation{opRec},
		}
		if d, err = e.createDeployment(ctx, d); err != nil {
			return nil, fmt.Errorf("%s %s: %w", typ, name, err)
		}
	} else {
		d.Status = store.StatusUnderChange
		d.Parameters = params
		d.Runtime = e.rt.Name()
		d.VolumeStacks = held
		if o.to != nil {
			d.TargetVersionID = o.to.ID
		}
		if o.relaunch {
			d.ProductID, d.VersionID, d.Stacks = o.to.ProductID, o.to.ID, nil
		}
		if resume != nil {
			if cur := d.Operation(opRec.ID); cur != nil {
				*cur = opRec
			}
			// The executor that left the operation may have created
			// stacks it could not record: the record lists what runs.
			if obs, oerr := e.rt.Observe(ctx, name); oerr == nil {
				for _, ost := range obs.Stacks {
					if d.Stack(ost.Name) == nil {
						d.Stacks = append(d.Stacks, store.StackState{
							Name: ost.Name, Tier: ost.Tier, State: StateInterrupted,
							Message: "found on the runtime when the operation was resumed", UpdatedAt: now,
						})
					}
				}
			}
		} else {
			d.Operations = append(d.Operations, opRec)
		}
		if d, err = e.updateDeployment(ctx, d); err != nil {
			return nil, fmt.Errorf("%s %s: %w", typ, name, err)
		}
	}
	o.rec = newRecorder(e.st, d)
	return o, nil
}

// relaunchable reports whether a deployment runs nothing, so that it can
// be launched again: it was terminated, or its launch was rolled back.
func relaunchable(d *store.Deployment) bool {
	if d.Status == store.StatusTerminated {
		return true
	}
	last := d.LastOperation()
	return d.Status == store.StatusTainted && last != nil && last.Type == store.OpLaunch && len(d.Stacks) == 0
}

// newVolumeStacks returns the stacks of to with volumes that had none
// before (neither in held, the record's VolumeStacks, nor in from, nor
// on the runtime), and held with every stack of to that has volumes
// added, both sorted. When the runtime cannot list its volumes, every
// stack counts as having had some: a rollback then keeps their data.
func (e *Executor) newVolumeStacks(ctx context.Context, name string, from, to stack.Deps, held []string) (created, all []string) {
	before := map[string]bool{}
	for _, s := range held {
		before[s] = true
	}
	for _, s := range stacksWithVolumes(from) {
		before[s] = true
	}
	all = slices.Clone(held)
	for _, s := range stacksWithVolumes(to) {
		if !before[s] {
			created = append(created, s)
		}
		if !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	if vl, ok := e.rt.(runtime.VolumeLister); ok && len(created) > 0 {
		// Volumes the record does not know of: a deployment of the
		// same name deleted with its data kept, a record written
		// before stacks' volumes were recorded.
		vols, err := vl.Volumes(ctx, name)
		if err != nil {
			created = nil
		}
		for _, v := range vols {
			before[v.Stack] = true
		}
		created = slices.DeleteFunc(created, func(s string) bool { return before[s] })
	}
	slices.Sort(created)
	slices.Sort(all)
	return created, all
}

// stacksWithVolumes returns the stacks of deps whose services mount
// volumes.
func stacksWithVolumes(deps stack.Deps) []string {
	var out []string
	for _, tier := range deps {
		for i := range tier {
			for j := range tier[i].Services {
				if len(tier[i].Services[j].VolumeArgs) > 0 {
					out = append(out, tier[i].Name)
					break
				}
			}
		}
	}
	return out
}

func replacePrefixed(params map[string]string, prefix string, values map[string]string) {
	for k := range params {
		if _, ok := strings.CutPrefix(k, prefix); ok {
			delete(params, k)
		}
	}
	for k, v := range values {
		params[prefix+k] = v
	}
}

// redactScope is what the redactor of a deployment knows: the values it
// hides and the names it keeps.
type redactScope struct {
	name, productName string
	versions          []*product.Version // nil entries allowed
	deps              []stack.Deps
	vars              []map[string]string
	files             []files
	host              hostFunc // nil: the default
}

// redactor returns the redactor of the scope: it hides the deployment's
// env values, launch variables and rendered config files, and keeps the
// names the deployment publishes where a value that does not look secret
// repeats them (DB_HOST=mysql-cluster).
func (s redactScope) redactor() *redact.Redactor {
	return redact.NewKeeping(s.publicNames(), secrets(s.deps, s.vars, s.files)...)
}

// publicNames returns what the deployment's events and errors name: the
// deployment, its product and versions (names and IDs), and for each
// stack its name, its services' names, host names, images, unit types,
// volumes and config paths.
func (s redactScope) publicNames() []string {
	host := s.host
	if host == nil {
		host = defaultHost
	}
	names := []string{s.name, s.productName}
	for _, v := range s.versions {
		if v != nil {
			names = append(names, v.Name, v.ID, v.ProductID)
		}
	}
	for _, d := range s.deps {
		for _, tier := range d {
			for si := range tier {
				st := &tier[si]
				names = append(names, st.Name)
				for k := range st.Services {
					svc := &st.Services[k]
					names = append(names, svc.Name, host(st.Name, svc.Name), svc.UnitType,
						svc.Image.Ref(), svc.Image.Name)
					for _, va := range svc.VolumeArgs {
						names = append(names, va.MountPath, va.UnitType)
					}
					names = append(names, svc.ConfigPaths...)
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// redactScope returns the scope of the operation's redactor: both
// versions, their values and files.
func (o *operation) redactScope() redactScope {
	return redactScope{name: o.name, productName: o.productName, versions: []*product.Version{o.from, o.to},
		deps: []stack.Deps{o.fromDeps, o.toDeps}, vars: []map[string]string{o.vars, o.fromVars},
		files: []files{o.fromFiles, o.toFiles}, host: o.host}
}

// secrets returns the values the redactor of a deployment hides: env
// values, launch variables and rendered config files.
func secrets(deps []stack.Deps, vars []map[string]string, fs []files) []redact.Secret {
	var out []redact.Secret
	for _, d := range deps {
		for _, tier := range d {
			for si := range tier {
				for k := range tier[si].Services {
					for _, kv := range tier[si].Services[k].Envs {
						if key, v, ok := strings.Cut(kv, "="); ok && v != "" {
							out = append(out, redact.Secret{Key: key, Value: v})
						}
					}
				}
			}
		}
	}
	for _, vs := range vars {
		for k, v := range vs {
			out = append(out, redact.Secret{Key: k, Value: v})
		}
	}
	for _, f := range fs {
		for _, svcs := range f {
			for _, paths := range svcs {
				for p, b := range paths {
					out = append(out, redact.Secret{Key: p, Value: string(b)})
				}
			}
		}
	}
	return out
}

// run executes a prepared operation to its end.
func (o *operation) run(parent context.Context) (_ *Result, err error) {
	defer o.e.unclaim(o.claim)
	parent = o.traced(parent)
	defer o.endRun(&err)
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	if o.req.Timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeoutCause(ctx, o.req.Timeout, fmt.Errorf("operation timed out after %s", o.req.Timeout))
		defer cancelT()
	}
	sinks := []func(Event){o.e.opts.OnEvent, o.req.OnEvent}
	if ch := o.e.opts.Events; ch != nil {
		sinks = append(sinks, func(e Event) { ch <- e })
	}
	o.ev = newDispatcher(o.redact, sinks...)
	o.rec.log = o.logFunc(ctx)
	o.rec.start(parent, o.e.telemetry())
	// leaseCtx lives as long as the lease is held: the outcome is
	// written under it, however long that takes, and not after.
	leaseCtx, leaseLost := context.WithCancelCause(context.WithoutCancel(parent))
	defer leaseLost(nil)
	o.leaseCtx = leaseCtx
	stopLease := o.keepLease(ctx, func(err error) { cancel(err); leaseLost(err) })

	if o.resumed {
		o.log(ctx, slog.LevelInfo, "resuming an interrupted operation", "owner", o.e.opts.Owner)
		o.emit(Event{Type: EventOperationResumed, Message: o.describe() + " resumed by " + o.e.opts.Owner})
	} else {
		o.emit(Event{Type: EventOperationStarted, Message: o.describe() + " started"})
	}

	rolledBack := false
	switch o.typ {
	case store.OpLaunch, store.OpUpdate:
		rolledBack = o.runApply(ctx)
	case store.OpTerminate:
		o.runTerminate(ctx)
	case store.OpRestart, store.OpStop, store.OpStart:
		o.runLifecycle(ctx)
	case store.OpScale:
		o.runScale(ctx)
	}
	if ctx.Err() != nil {
		o.addErr(o.stopCause(ctx))
	}
	// The lease is renewed until the outcome is written.
	return o.finish(parent, rolledBack, stopLease)
}

func (o *operation) describe() string {
	switch o.typ {
	case store.OpLaunch:
		return fmt.Sprintf("launch of %s version %s (%s)", o.productName, o.to.Name, o.to.ID)
	case store.OpUpdate:
		if o.from.ID == o.to.ID {
			return fmt.Sprintf("update of version %s (%s) in place", o.to.Name, o.to.ID)
		}
		return fmt.Sprintf("update from version %s to %s (%s)", o.from.Name, o.to.Name, o.to.ID)
	case store.OpScale:
		return fmt.Sprintf("scale of %s/%s to %d", o.req.Stack, o.req.Service, o.req.Instances)
	case store.OpTerminate:
		return "terminate"
	}
	return fmt.Sprintf("%s of stack %s", o.typ, o.req.Stack)
}

// finish records the outcome, releases the lease and delivers the last
// events.
func (o *operation) finish(parent context.Context, rolledBack bool, stopLease func()) (*Result, error) {
	if errors.Is(context.Cause(parent), ErrHandedOver) && !o.leaseLost.Load() {
		return o.handOver(parent, stopLease)
	}
	// From here the end may be observed: the next operation on the
	// deployment waits for this one to let go rather than fail as busy.
	o.e.finishing(o.claim)
	o.mu.Lock()
	errs := o.errs
	skipped := slices.Clone(o.skipped)
	o.mu.Unlock()
	failed := errs.ErrorOrNil() != nil

	var opErr error
	if failed {
		opErr = &OperationError{Deployment: o.name, OperationID: o.id, Op: o.typ, Errors: errs, RolledBack: rolledBack}
	}
	now := time.Now()
	var final store.Operation
	var last Event
	if failed {
		last = o.stamp(Event{Type: EventOperationFailed, Message: opErr.Error()})
	} else {
		last = o.stamp(Event{Type: EventOperationDone, Message: o.describe() + " succeeded"})
	}
	// The last event and the record that ends the operation are
	// written in one transaction, which releases the lease: whoever
	// reads the one finds the other, and may start the next operation.
	o.rec.end(func(d *store.Deployment) {
		switch {
		case !failed && o.typ == store.OpTerminate:
			d.Status = store.StatusTerminated
		case !failed:
			d.Status = store.StatusAvailable
		case rolledBack:
			d.Status = store.StatusTainted
		default:
			d.Status = store.StatusError
		}
		if o.to != nil && !failed {
			d.VersionID = o.to.ID
		}
		if rolledBack && o.typ == store.OpUpdate {
			// What runs was rendered with the parameters of before.
			paused, hasPause := d.Parameters[reconcileParam]
			d.Parameters = maps.Clone(o.oldParams)
			if hasPause {
				if d.Parameters == nil {
					d.Parameters = map[string]string{}
				}
				d.Parameters[reconcileParam] = paused
			}
		}
		d.TargetVersionID = ""
		if op := d.Operation(o.id); op != nil {
			op.EndedAt = now
			op.Status = store.OpSucceeded
			op.Message = o.describe() + " succeeded"
			if failed {
				op.Status = store.OpFailed
				op.Message = opErr.Error()
			}
			final = *op
		}
	}, last.record(), o.e.opts.Owner)
	// The outcome is recorded even when the caller's context is done, but
	// only while the lease is held (another executor may own the record
	// once it is lost), and not after a lease TTL in which no write went
	// through: the operation then stays in progress, to be resumed.
	wctx := o.leaseCtx
	recErr := o.rec.stop(wctx, !o.leaseLost.Load(), o.e.opts.LeaseTTL)
	// The callbacks get the last event once the store has it (or the
	// write was given up): a callback that reads the record on seeing it
	// finds the operation ended.
	o.ev.emit(last)
	stopLease()
	if !o.leaseLost.Load() && !o.rec.leaseReleased() {
		// The outcome was not written: the lease goes alone, for
		// another executor to resume the operation.
		_ = o.e.releaseLease(wctx, o.name)
	}
	// Let go once the lease is released, before the last events are
	// delivered: a callback that starts the next operation on seeing the
	// end must not wait for its own return.
	o.e.unclaim(o.claim)
	o.ev.close()
	res := &Result{Deployment: o.rec.snapshot(), Operation: final, Changes: o.changes, Skipped: skipped}
	if recErr != nil {
		recErr = fmt.Errorf("%s %s: record outcome: %w", o.typ, o.name, recErr)
		if opErr == nil {
			return res, recErr
		}
		return res, errors.Join(opErr, recErr)
	}
	return res, opErr
}

// handOver records what the operation did, leaves it in progress and
// releases the lease, for another executor to resume.
func (o *operation) handOver(parent context.Context, stopLease func()) (*Result, error) {
	var cur store.Operation
	o.log(parent, slog.LevelInfo, "executor closing; handing the operation over")
	last := o.stamp(Event{Type: EventOperationHandedOver, Message: o.describe() + " handed over by " + o.e.opts.Owner + ", to be resumed"})
	// The event, the record's word of the hand-over and the lease's
	// release are written in one transaction (the next owner reads a
	// whole record), and the event reaches the callbacks after it.
	o.rec.end(func(d *store.Deployment) {
		if op := d.Operation(o.id); op != nil {
			op.Message = "handed over by " + o.e.opts.Owner
			cur = *op
		}
	}, last.record(), o.e.opts.Owner)
	wctx := o.leaseCtx
	err := o.rec.stop(wctx, true, o.e.opts.LeaseTTL)
	o.ev.emit(last)
	stopLease()
	o.ev.close()
	res := &Result{Deployment: o.rec.snapshot(), Operation: cur, Changes: o.changes}
	if err != nil {
		o.e.noteCloseErr(fmt.Errorf("%s %s: hand over: %w", o.typ, o.name, err))
		return res, fmt.Errorf("%s %s: %w (and then: %w)", o.typ, o.name, ErrHandedOver, err)
	}
	return res, fmt.Errorf("%s %s: %w", o.typ, o.name, ErrHandedOver)
}

// keepLease renews the lease every third of its TTL until stopped, on
// its own: renewals are urgent store writes, which do not wait behind
// the operation's records and events. The lease is held until the expiry
// the last renewal set, counted from when that renewal was sent; if no
// renewal succeeds by then, or the lease is found held by another
// owner, the operation is cancelled at once: another executor may take
// over from then on.
//
// A failed renewal is tried again every twentieth of the TTL. While the
// store is down, a streak of failures logs its first at Warn, then at
// most once per TTL with their count (a streak ends within one TTL
// anyway: by a renewal, logged once at Info, or by the lease's loss,
// logged at Error with the count).
func (o *operation) keepLease(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	ttl := o.e.opts.LeaseTTL
	done := make(chan struct{})
	exited := make(chan struct{})
	// Read and written by the renewing goroutine alone.
	var (
		failures               int
		failingSince, loggedAt time.Time
		renewed                = o.leaseAt // when the last successful renewal was sent
	)
	lost := func(err error) {
		o.log(ctx, slog.LevelError, "lease lost; stopping the operation", "error", err, "ttl", ttl, "failed_renewals", failures)
		o.leaseLost.Store(true)
		cancel(fmt.Errorf("%w: %w", ErrLeaseLost, err))
	}
	// Renewals go on after the operation's context ends, while its
	// outcome is written; stop ends them.
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(exited)
		expiry := time.NewTimer(ttl - time.Since(o.leaseAt))
		defer expiry.Stop()
		next := time.NewTimer(ttl / 3)
		defer next.Stop()
		for {
			select {
			case <-done:
				return
			case <-expiry.C:
				if !o.rec.leaseReleased() {
					lost(fmt.Errorf("not renewed within %s", ttl))
				}
				return
			case <-next.C:
			}
			sent := time.Now()
			rctx, rcancel := context.WithTimeout(ctx, ttl/3)
			// A renewal never takes the lease again once the final
			// record's write released it.
			_, err := o.renewLease(rctx, o.name)
			rcancel()
			switch {
			case errors.Is(err, store.ErrNotFound) && o.rec.releasing():
				// Released with the final record, or about to be:
				// stop ends the renewals once the write went through.
				if o.rec.leaseReleased() {
					return
				}
				next.Reset(ttl / 20)
			case err == nil:
				expiry.Reset(ttl - time.Since(sent))
				next.Reset(ttl / 3)
				renewed = sent
				if failures > 0 {
					o.log(ctx, slog.LevelInfo, "lease renewed again", "failed_renewals", failures, "failing_for", sent.Sub(failingSince))
					failures = 0
				}
			case errors.Is(err, store.ErrLeaseHeld):
				lost(err)
				return
			default:
				failures++
				now := time.Now()
				switch {
				case failures == 1:
					failingSince, loggedAt = sent, now
					o.log(ctx, slog.LevelWarn, "lease renewal failed; retrying", "error", err, "expires_in", ttl-now.Sub(renewed))
				case now.Sub(loggedAt) >= ttl:
					loggedAt = now
					o.log(ctx, slog.LevelWarn, "lease renewal still failing; retrying", "error", err,
						"failed_renewals", failures, "expires_in", ttl-now.Sub(renewed))
				}
				next.Reset(ttl / 20) // try again soon
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

func (o *operation) emit(e Event) {
	e = o.stamp(e)
	o.ev.emit(e)
	o.rec.event(e.record())
}

// stamp completes an event of the operation: its deployment, operation,
// time, and its message redacted.
func (o *operation) stamp(e Event) Event {
	e.Deployment, e.OperationID = o.name, o.id
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Message = o.redact.String(e.Message)
	return e
}

func (o *operation) reporter(stackName string) runtime.Reporter {
	return func(re runtime.Event) {
		st := re.Stack
		if st == "" {
			st = stackName
		}
		o.emit(Event{Type: EventType(re.Type), Stack: st, Service: re.Service, Time: re.Time, Message: re.Message})
	}
}

func (o *operation) addErr(err error) {
	err = o.redact.Error(err)
	o.mu.Lock()
	o.errs = multierror.Append(o.errs, err)
	o.mu.Unlock()
}

func (o *operation) failed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.errs.ErrorOrNil() != nil
}

func (o *operation) touch(name string) {
	o.mu.Lock()
	o.touched[name] = true
	o.mu.Unlock()
}

func (o *operation) wasTouched(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.touched[name]
}

// stackFailed records the failure of a stack in a phase.
func (o *operation) stackFailed(name string, tier int, phase string, err error) {
	err = o.redact.Error(runtime.MapError(o.e.rt, err))
	se := &StackError{Stack: name, Phase: phase, Err: err}
	var rse *runtime.ServiceError
	if errors.As(err, &rse) {
		se.Service = rse.Service
		// What errors.As reaches is redacted too: the last log lines
		// of a container that printed its environment.
		rse.Reason = o.redact.String(rse.Reason)
		for i, l := range rse.Logs {
			rse.Logs[i] = o.redact.String(l)
		}
	}
	o.addErr(se)
	o.stackSpanFailed(name, se)
	o.setStack(name, tier, StateFailed, "", se.Error())
	o.emit(Event{Type: EventStackFailed, Stack: name, Service: se.Service, Message: se.Error()})
}

func (o *operation) skip(name string, tier int, why string) {
	o.mu.Lock()
	o.skipped = append(o.skipped, name)
	o.mu.Unlock()
	o.emit(Event{Type: EventStackSkipped, Stack: name, Message: why})
}

// setStack records a stack's state; an empty hash keeps the recorded one.
func (o *operation) setStack(name string, tier int, state, hash, msg string) {
	now := time.Now()
	o.rec.setStack(name, func(s *store.StackState) {
		s.Tier, s.State, s.Message, s.UpdatedAt = tier, state, msg, now
		if hash != "" {
			s.ConfigHash = hash
		}
	})
}

// forgetIfAbsent drops a stack from the record when the runtime holds
// nothing of it (an apply that failed before creating anything), so the
// record lists exactly what exists. The failure stays in the operation's
// errors and events.
func (o *operation) forgetIfAbsent(ctx context.Context, name string) {
	obs, err := o.observe(ctx)
	if err == nil && obs.Stack(name) == nil {
		o.dropStack(name)
	}
}

func (o *operation) dropStack(name string) { o.rec.dropStack(name) }

// call runs one runtime call holding a slot of the shared semaphore.
func (o *operation) call(ctx context.Context, c rtCall, fn func(context.Context) error) error {
	return o.callService(ctx, c, "", fn)
}

// callService is call for a call on one service of the stack.
func (o *operation) callService(ctx context.Context, c rtCall, service string, fn func(context.Context) error) error {
	if err := o.e.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	defer o.e.sem.Release(1)
	err := o.rtCall(ctx, c, service, fn)
	if err != nil && ctx.Err() == nil && errors.Is(runtime.MapError(o.e.rt, err), runtime.ErrUnavailable) {
		o.log(ctx, slog.LevelWarn, "runtime unavailable; one call slot out of use for a while", "error", err, "for", backOff)
		o.e.slowDown()
	}
	return err
}

// host names a service for the other services of the deployment, as the
// runtime resolves it.
func (o *operation) host(stackName, service string) string {
	return runtime.ServiceHost(o.e.rt, o.name, stackName, service)
}

// spec builds the runtime spec of a stack.
func (o *operation) spec(s *stack.Stack, tier int, fs files, v *product.Version) *runtime.StackSpec {
	spec := &runtime.StackSpec{
		Deployment: o.name, ProductName: o.productName, ProductID: v.ProductID, VersionID: v.ID,
		Tier: tier, Stack: *s, Files: fs[s.Name], Catalog: o.e.opts.Catalog, ReadyTimeout: o.e.opts.ReadyTimeout,
	}
	return spec
}

type outcome uint8

const (
	outcomePending outcome = iota
	outcomeOK
	outcomeFailed
	outcomeSkipped
	outcomeInterrupted
)

// walkApply applies the stacks selected by todo in dependency order:
// a stack starts when what it depends on is ready, stacks whose
// dependencies are met run concurrently, each runtime call holds a slot of
// the shared semaphore and waiting for readiness holds none. Stacks not
// selected count as ready at once.
func (o *operation) walkApply(ctx context.Context, p *Plan, fs files, v *product.Version, policy Policy,
	todo func(*StackChange, string) bool, runInit func(string) bool) {
	n := len(p.nodes)
	if n == 0 {
		return
	}
	remaining := make([]int32, n)
	depBad := make([]bool, n)
	outs := make([]outcome, n)
	for i := range p.nodes {
		nd := &p.nodes[i]
		if nd.deps != nil {
			remaining[i] = int32(len(nd.deps))
		} else if nd.tier > 0 {
			remaining[i] = 1
		}
	}
	tierLeft := make([]int, len(p.tiers))
	tierBad := make([]bool, len(p.tiers))
	for t := range p.tiers {
		tierLeft[t] = len(p.tiers[t])
	}
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopping := false
	ts := o.tierSpans(ctx, stopCtx, len(p.tiers))
	defer ts.endAll()

	type result struct {
		i  int
		oc outcome
	}
	results := make(chan result, n)
	var g errgroup.Group
	running := 0
	var work []int
	complete := func(i int, oc outcome) {
		outs[i] = oc
		work = append(work, i)
	}
	start := func(i int) {
		nd := &p.nodes[i]
		switch {
		case depBad[i]:
			o.skip(nd.name, nd.tier, "not started: a stack it depends on failed")
			complete(i, outcomeSkipped)
		case stopping || ctx.Err() != nil:
			o.skip(nd.name, nd.tier, "not started: the operation stopped")
			complete(i, outcomeSkipped)
		case !todo(o.changes.Stack(nd.name), nd.name):
			complete(i, outcomeOK)
		default:
			running++
			tctx, tstop := ts.enter(nd.tier)
			// The stack's span starts here rather than on the stack's
			// goroutine: a new goroutine has a small stack, and the SDK's
			// span start is deep enough to make it grow (a copy) on every
			// stack.
			sctx, sstop, ss := o.stackSpan(tctx, tstop, nd.name, nd.tier)
			g.Go(func() error {
				results <- result{i, o.applyStack(sctx, sstop, ss, nd, fs, v, runInit(nd.name))}
				return nil
			})
		}
	}
	propagate := func() {
		for len(work) > 0 {
			i := work[len(work)-1]
			work = work[:len(work)-1]
			nd := &p.nodes[i]
			bad := outs[i] != outcomeOK
			for _, j := range p.explicitOut[i] {
				if bad {
					depBad[j] = true
				}
				if remaining[j]--; remaining[j] == 0 {
					start(int(j))
				}
			}
			t := nd.tier
			tierBad[t] = tierBad[t] || bad
			ts.left(t, tierLeft[t]-1)
			if tierLeft[t]--; tierLeft[t] == 0 && t+1 < len(p.tiers) && p.implicitIn[t] {
				for j := p.tierStart[t+1]; j < p.tierStart[t+2]; j++ {
					if p.nodes[j].deps != nil {
						continue
					}
					if tierBad[t] {
						depBad[j] = true
					}
					if remaining[j]--; remaining[j] == 0 {
						start(j)
					}
				}
			}
		}
	}
	for i := p.tierStart[0]; i < p.tierStart[1]; i++ {
		start(i)
	}
	propagate()
	for running > 0 {
		r := <-results
		running--
		complete(r.i, r.oc)
		if r.oc == outcomeFailed && policy != Continue && !stopping {
			stopping = true
			stop()
		}
		propagate()
	}
	_ = g.Wait()
}

// applyStack applies one stack, waits until it is ready and runs its init
// scripts.
// ctx and stopCtx carry ss, the stack's span, which it ends.
func (o *operation) applyStack(ctx, stopCtx context.Context, ss stackSpan, nd *node, fs files, v *product.Version, runInit bool) outcome {
	name, tier := nd.name, nd.tier
	defer ss.end()
	spec := o.spec(nd.stack, tier, fs, v)
	hash := runtime.StackHash(spec)
	rep := o.reporter(name)
	o.touch(name)
	o.setStack(name, tier, StateApplying, "", "")
	o.emit(Event{Type: EventStackApplying, Stack: name, Message: fmt.Sprintf("%d services", len(spec.Stack.Services))})
	if err := o.call(ctx, callApply, func(ctx context.Context) error { return o.e.rt.Apply(ctx, spec, rep) }); err != nil {
		if ctx.Err() != nil {
			o.setStack(name, tier, StateInterrupted, "", "apply interrupted: "+context.Cause(ctx).Error())
			return outcomeInterrupted
		}
		o.stackFailed(name, tier, "apply", err)
		o.forgetIfAbsent(ctx, name)
		return outcomeFailed
	}
	o.setStack(name, tier, StateWaiting, hash, "")
	o.emit(Event{Type: EventStackWaiting, Stack: name})
	ww := &waitWatch{}
	if err := o.wait(stopCtx, spec, ww.reporter(rep)); err != nil {
		if stopCtx.Err() != nil {
			msg := "stopped waiting: the operation stopped after a failure"
			if ctx.Err() != nil {
				msg = o.stoppedWaiting(ctx, name, ww, err)
			}
			o.setStack(name, tier, StateInterrupted, "", msg)
			return outcomeInterrupted
		}
		o.stackFailed(name, tier, "wait", err)
		return outcomeFailed
	}
	if runInit && len(spec.Stack.InitScripts) > 0 {
		o.setStack(name, tier, StateInit, "", "")
		for i := range spec.Stack.InitScripts {
			is := &spec.Stack.InitScripts[i]
			o.emit(Event{Type: EventInitScript, Stack: name, Service: is.ServiceName, Message: fmt.Sprintf("running init script %d", i)})
			if err := o.callService(ctx, callRunInit, is.ServiceName, func(ctx context.Context) error { return o.e.rt.RunInit(ctx, spec, i, rep) }); err != nil {
				if ctx.Err() != nil {
					o.setStack(name, tier, StateInterrupted, "", "init interrupted: "+context.Cause(ctx).Error())
					return outcomeInterrupted
				}
				o.stackFailed(name, tier, "init", &StackError{Stack: name, Service: is.ServiceName, Phase: "init script " + strconv.Itoa(i), Err: err})
				return outcomeFailed
			}
		}
	}
	o.setStack(name, tier, StateReady, hash, "")
	o.emit(Event{Type: EventStackReady, Stack: name, Message: fmt.Sprintf("%d services ready", len(spec.Stack.Services))})
	return outcomeOK
}

// removal is one stack to remove.
type removal struct {
	name string
	tier int
}

// removeTiers removes stacks tier by tier in the order given, the stacks
// of one tier concurrently. With a policy other than Continue it stops
// after a tier with a failure.
func (o *operation) removeTiers(ctx context.Context, tiers [][]removal, deleteData func(stack string) bool, policy Policy) {
	for ti, tier := range tiers {
		if ctx.Err() != nil || policy != Continue && o.failed() {
			for _, rest := range tiers[ti:] {
				for _, r := range rest {
					o.skip(r.name, r.tier, "not removed: the operation stopped")
				}
			}
			return
		}
		var g errgroup.Group
		tctx, tspan := o.removalTierSpan(ctx, tier)
		for _, r := range tier {
			g.Go(func() error {
				o.removeStack(tctx, r, deleteData(r.name))
				return nil
			})
		}
		_ = g.Wait()
		tspan.End()
	}
}

func (o *operation) removeStack(ctx context.Context, r removal, deleteData bool) {
	ctx, _, ss := o.stackSpan(ctx, nil, r.name, r.tier)
	defer ss.end()
	if !o.announced[r.name] {
		o.touch(r.name)
		o.setStack(r.name, r.tier, StateRemoving, "", "")
		o.emit(Event{Type: EventStackRemoving, Stack: r.name})
	}
	ref := runtime.StackRef{Deployment: o.name, Stack: r.name}
	err := o.call(ctx, callRemove, func(ctx context.Context) error {
		return o.e.rt.Remove(ctx, ref, runtime.RemoveOptions{DeleteData: deleteData})
	})
	if err != nil {
		if ctx.Err() != nil {
			o.setStack(r.name, r.tier, StateInterrupted, "", "remove interrupted: "+context.Cause(ctx).Error())
			return
		}
		o.stackFailed(r.name, r.tier, "remove", err)
		return
	}
	o.dropStack(r.name)
	msg := "volumes kept"
	if deleteData {
		msg = "volumes deleted"
		o.rec.update(func(d *store.Deployment) {
			d.VolumeStacks = slices.DeleteFunc(slices.Clone(d.VolumeStacks), func(s string) bool { return s == r.name })
		})
	}
	o.emit(Event{Type: EventStackRemoved, Stack: r.name, Message: msg})
}

// keepData keeps the volumes of every stack removed.
func keepData(string) bool { return false }

// removeDeployment removes every stack of the deployment in one call of a
// runtime that can (runtime.DeploymentRemover), without listing what
// exists first: the runtime finds its objects by label. It reports false
// when the stack-by-stack path must run instead: the runtime cannot
// honour the options for this deployment, or the pass failed (the
// stack-by-stack path then removes what is left and names each failure).
func (o *operation) removeDeployment(ctx context.Context) bool {
	dr, ok := o.e.rt.(runtime.DeploymentRemover)
	if !ok {
		return false
	}
	tiers := make([][]string, len(o.fromDeps))
	// The order the runtime removes in: recorded stacks the version does
	// not hold (left by an interrupted operation; the runtime removes
	// every stack it finds) first, then the last tier first.
	waves := [][]removal{o.strays(ctx, o.fromDeps, nil, false)}
	for ti := len(o.fromDeps) - 1; ti >= 0; ti-- {
		var wave []removal
		for i := range o.fromDeps[ti] {
			tiers[ti] = append(tiers[ti], o.fromDeps[ti][i].Name)
			wave = append(wave, removal{o.fromDeps[ti][i].Name, ti})
		}
		waves = append(waves, wave)
	}
	opts := runtime.RemoveOptions{DeleteData: o.req.DeleteData}
	o.announced = map[string]bool{}
	announce := func(wave []removal) {
		for _, r := range wave {
			o.announced[r.name] = true
			o.emit(Event{Type: EventStackRemoving, Stack: r.name})
		}
	}
	for _, wave := range waves {
		for _, r := range wave {
			o.touch(r.name)
			o.setStack(r.name, r.tier, StateRemoving, "", "")
		}
	}
	// Every stack is removing from now on, but the events say what the
	// runtime does in turn: a tier's removal begins once the later tiers
	// are gone. The first wave that has stacks begins now; the others are
	// told in order when the call returns.
	first := 0
	for first < len(waves)-1 && len(waves[first]) == 0 {
		first++
	}
	announce(waves[first])
	err := o.call(ctx, callRemoveDeployment, func(ctx context.Context) error { return dr.RemoveDeployment(ctx, o.name, tiers, opts) })
	switch {
	case err != nil && ctx.Err() != nil:
		for _, wave := range waves {
			for _, r := range wave {
				o.setStack(r.name, r.tier, StateInterrupted, "", "remove interrupted: "+context.Cause(ctx).Error())
			}
		}
		return true
	case err != nil:
		return false
	}
	msg := "volumes kept"
	if opts.DeleteData {
		msg = "volumes deleted"
	}
	for i, wave := range waves {
		if i > first {
			announce(wave)
		}
		for _, r := range wave {
			o.dropStack(r.name)
			o.emit(Event{Type: EventStackRemoved, Stack: r.name, Message: msg})
		}
	}
	if opts.DeleteData {
		// The runtime deleted every volume labelled with the deployment,
		// of the version's stacks and of any other.
		o.rec.update(func(d *store.Deployment) { d.VolumeStacks = nil })
	}
	return true
}

// byTierDesc groups removals by tier, last tier first.
func byTierDesc(rs []removal) [][]removal {
	slices.SortStableFunc(rs, func(a, b removal) int { return b.tier - a.tier })
	var out [][]removal
	for i, r := range rs {
		if i == 0 || r.tier != rs[i-1].tier {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], r)
	}
	return out
}

// runApply runs a launch or update. It reports whether it rolled back.
func (o *operation) runApply(ctx context.Context) bool {
	todo := func(sc *StackChange, _ string) bool {
		if o.resumed || sc == nil {
			return true
		}
		return sc.Action == ActionAdd || sc.Action == ActionModify || sc.Action == ActionRepair
	}
	runInit := func(name string) bool {
		sc := o.changes.Stack(name)
		if o.resumed {
			st := o.rec.stackState(name)
			return st == nil || st.State != StateReady
		}
		return sc == nil || sc.Action == ActionAdd || sc.Action == ActionRepair && !o.wasReady[name] ||
			slices.Contains(sc.Fields, "init_scripts")
	}
	if !o.resumed {
		for _, sc := range o.changes.Stacks {
			if sc.Action == ActionRepair || sc.Action == ActionRemove && sc.Reason != "" {
				o.emit(Event{Type: EventStackRepair, Stack: sc.Stack, Message: string(sc.Action) + ": " + sc.Reason})
			}
		}
	}
	o.walkApply(ctx, o.plan, o.toFiles, o.to, o.policy, todo, runInit)

	if !o.failed() && ctx.Err() == nil {
		var rs []removal
		for _, sc := range o.changes.Stacks {
			if sc.Action == ActionRemove {
				rs = append(rs, removal{sc.Stack, sc.Tier})
			}
		}
		if o.resumed || o.relaunch {
			rs = append(rs, o.strays(ctx, o.toDeps, rs, true)...)
		}
		o.removeTiers(ctx, byTierDesc(rs), keepData, o.policy)
	}
	if o.failed() && o.policy == Rollback && ctx.Err() == nil {
		// Rolled back means undone: a rollback that was itself
		// interrupted or failed leaves the deployment in Error, what
		// runs kept as it is.
		n := o.errCount()
		o.rollback(ctx)
		return ctx.Err() == nil && o.errCount() == n
	}
	return false
}

func (o *operation) errCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.errs == nil {
		return 0
	}
	return len(o.errs.Errors)
}

// strays returns the stacks that exist for the deployment (recorded, or
// observed when observe is set) but are not in deps and not already
// listed.
func (o *operation) strays(ctx context.Context, deps stack.Deps, listed []removal, observe bool) []removal {
	seen := map[string]bool{}
	for _, tier := range deps {
		for i := range tier {
			seen[tier[i].Name] = true
		}
	}
	for _, r := range listed {
		seen[r.name] = true
	}
	var out []removal
	add := func(name string, tier int) {
		if !seen[name] {
			seen[name] = true
			out = append(out, removal{name, tier})
		}
	}
	for _, s := range o.rec.snapshot().Stacks {
		add(s.Name, s.Tier)
	}
	if !observe {
		return out
	}
	if st, err := o.observe(ctx); err == nil {
		for _, s := range st.Stacks {
			add(s.Name, s.Tier)
		}
	}
	return out
}

// rollback undoes what a failed launch or update changed: stacks it added
// are removed (last tier first), stacks it modified or removed are applied
// again with the previous version.
func (o *operation) rollback(ctx context.Context) {
	ctx, span := o.child(ctx, "stackwave.rollback")
	defer span.End()
	o.emit(Event{Type: EventRollbackStarted, Message: "undoing the changes of " + o.describe()})
	var adds []removal
	restore := map[string]bool{}
	for _, sc := range o.changes.Stacks {
		if !o.wasTouched(sc.Stack) && !o.resumed {
			continue
		}
		switch sc.Action {
		case ActionAdd:
			adds = append(adds, removal{sc.Stack, sc.Tier})
		case ActionModify, ActionRemove:
			restore[sc.Stack] = true
		}
	}
	// Only the volumes this operation created go: those of a stack
	// added now that held data before (kept by an earlier removal or
	// termination) stay.
	o.removeTiers(ctx, byTierDesc(adds), func(s string) bool { return o.newVols[s] }, Continue)
	if len(restore) == 0 || o.from == nil {
		return
	}
	fromFiles, err := renderFiles(o.name, o.productName, o.fromDeps, o.fromTemplates, o.fromVars, o.host)
	if err != nil {
		o.addErr(fmt.Errorf("rollback: %w", err))
		return
	}
	plan, err := NewPlan(o.fromDeps)
	if err != nil {
		o.addErr(fmt.Errorf("rollback: %w", err))
		return
	}
	saved := o.changes
	o.changes = Diff(o.toDeps, o.fromDeps)
	o.walkApply(ctx, plan, fromFiles, o.from, Continue,
		func(_ *StackChange, name string) bool { return restore[name] },
		func(string) bool { return false })
	o.changes = saved
}

// runTerminate removes every stack, last tier first; stacks that exist
// but are not in the version (left over by an interrupted operation) go
// first.
func (o *operation) runTerminate(ctx context.Context) {
	if o.removeDeployment(ctx) {
		return
	}
	var rs []removal
	for ti, tier := range o.fromDeps {
		for i := range tier {
			rs = append(rs, removal{tier[i].Name, ti})
		}
	}
	strays := o.strays(ctx, o.fromDeps, nil, true)
	if o.req.DeleteData {
		// The volumes earlier removals kept go too: of stacks an update
		// removed, of a terminated deployment's stacks, of any other
		// the record or the runtime knows.
		strays = append(strays, o.volumeStacks(ctx, o.fromDeps, strays)...)
	}
	tiers := byTierDesc(rs)
	if len(strays) > 0 {
		tiers = append([][]removal{strays}, tiers...)
	}
	o.removeTiers(ctx, tiers, func(string) bool { return o.req.DeleteData }, o.policy)
}

// volumeStacks returns the stacks that may hold volumes, by the record
// and by the runtime when it lists volumes, but are not in deps nor
// listed.
func (o *operation) volumeStacks(ctx context.Context, deps stack.Deps, listed []removal) []removal {
	var vols []runtime.VolumeState
	for _, s := range o.rec.snapshot().VolumeStacks {
		vols = append(vols, runtime.VolumeState{Stack: s})
	}
	if vl, ok := o.e.rt.(runtime.VolumeLister); ok {
		got, err := vl.Volumes(ctx, o.name)
		if err != nil {
			o.addErr(fmt.Errorf("list volumes: %w", runtime.MapError(o.e.rt, err)))
		}
		vols = append(vols, got...)
	}
	seen := map[string]bool{}
	for _, tier := range deps {
		for i := range tier {
			seen[tier[i].Name] = true
		}
	}
	for _, r := range listed {
		seen[r.name] = true
	}
	var out []removal
	for _, v := range vols {
		if !seen[v.Stack] {
			seen[v.Stack] = true
			out = append(out, removal{v.Stack, 0})
		}
	}
	return out
}

// runLifecycle stops, starts or restarts one stack.
func (o *operation) runLifecycle(ctx context.Context) {
	s, tier := o.fromDeps.Stack(o.req.Stack)
	lc, ok := o.e.rt.(runtime.Lifecycle)
	if !ok {
		o.addErr(&StackError{Stack: s.Name, Phase: string(o.typ), Err: fmt.Errorf("%w: runtime %s cannot %s a stack", runtime.ErrNotSupported, o.e.rt.Name(), o.typ)})
		return
	}
	spec := o.spec(s, tier, o.fromFiles, o.from)
	ctx, _, ss := o.stackSpan(ctx, nil, s.Name, tier)
	defer ss.end()
	var err error
	o.touch(s.Name)
	switch o.typ {
	case store.OpStop:
		err = o.call(ctx, callStop, func(ctx context.Context) error { return lc.Stop(ctx, spec.Ref()) })
		if err == nil {
			o.setStack(s.Name, tier, StateStopped, "", "stopped on request")
			o.emit(Event{Type: EventStackStopped, Stack: s.Name})
			return
		}
	case store.OpStart:
		err = o.call(ctx, callStart, func(ctx context.Context) error { return lc.Start(ctx, spec) })
	case store.OpRestart:
		err = o.call(ctx, callRestart, func(ctx context.Context) error { return lc.Restart(ctx, spec) })
	}
	if err != nil {
		o.stackFailed(s.Name, tier, string(o.typ), err)
		return
	}
	o.waitReady(ctx, spec, tier)
}

// runScale applies the stack with the new instance count.
func (o *operation) runScale(ctx context.Context) {
	s, tier := o.fromDeps.Stack(o.req.Stack)
	spec := o.spec(s, tier, o.fromFiles, o.from)
	ctx, _, ss := o.stackSpan(ctx, nil, s.Name, tier)
	defer ss.end()
	o.touch(s.Name)
	o.setStack(s.Name, tier, StateApplying, "", "")
	o.emit(Event{Type: EventStackApplying, Stack: s.Name, Message: fmt.Sprintf("scaling %s to %d", o.req.Service, o.req.Instances)})
	if err := o.call(ctx, callApply, func(ctx context.Context) error { return o.e.rt.Apply(ctx, spec, o.reporter(s.Name)) }); err != nil {
		o.stackFailed(s.Name, tier, "apply", err)
		return
	}
	o.waitReady(ctx, spec, tier)
}

func (o *operation) waitReady(ctx context.Context, spec *runtime.StackSpec, tier int) {
	name := spec.Stack.Name
	hash := runtime.StackHash(spec)
	o.setStack(name, tier, StateWaiting, hash, "")
	o.emit(Event{Type: EventStackWaiting, Stack: name})
	ww := &waitWatch{}
	if err := o.wait(ctx, spec, ww.reporter(o.reporter(name))); err != nil {
		if ctx.Err() != nil {
			o.setStack(name, tier, StateInterrupted, "", o.stoppedWaiting(ctx, name, ww, err))
			return
		}
		o.stackFailed(name, tier, "wait", err)
		return
	}
	o.setStack(name, tier, StateReady, hash, "")
	o.emit(Event{Type: EventStackReady, Stack: name, Message: fmt.Sprintf("%d services ready", len(spec.Stack.Services))})
}

package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// Health of a service, stack or deployment: whether what is desired runs.
const (
	// HealthRunning: every desired instance runs and is ready.
	HealthRunning = "running"
	// HealthDegraded: some desired instances do not run or are not
	// ready.
	HealthDegraded = "degraded"
	// HealthMissing: nothing desired runs.
	HealthMissing = "missing"
	// HealthStopped: the stack was stopped on request.
	HealthStopped = "stopped"
)

// Sync of a service, stack or deployment: whether what runs is what the
// recorded version asks for.
const (
	// SyncInSync: what runs is the recorded version, as it was applied.
	SyncInSync = "in-sync"
	// SyncDrifted: the runtime differs from what was applied (changed
	// behind stackwave's back: removed, stopped, another image, scaled,
	// edited; or something extra runs).
	SyncDrifted = "drifted"
	// SyncOutOfDate: the record itself says the deployment is not at its
	// version: an operation failed, was interrupted, or left a stack
	// applied with another configuration.
	SyncOutOfDate = "out-of-date"
)

// Verdicts Status reports instead of Available when the deployment is
// recorded Available but the runtime disagrees.
const (
	// StatusDegraded: recorded Available, but something desired does not
	// run or is not ready.
	StatusDegraded store.Status = "Degraded"
	// StatusDrifted: recorded Available and running, but not as applied.
	StatusDrifted store.Status = "Drifted"
)

// Status is a deployment as recorded and as observed on its runtime, with
// health (does what is desired run?) kept apart from sync (is what runs
// what the version asks for?).
type Status struct {
	Name string `json:"name"`
	// Status is the verdict: the recorded status, except that a
	// deployment recorded Available is Degraded while something desired
	// does not run or is not ready, and Drifted while what runs differs
	// from what was applied. It is never Available unless everything
	// desired runs, ready and in sync.
	Status store.Status `json:"status"`
	// Recorded is the status the record holds (Available, UnderChange,
	// Error, Tainted, Terminated).
	Recorded  store.Status `json:"recorded_status"`
	ProductID string       `json:"product_id"`
	VersionID string       `json:"product_version_id"`
	// TargetVersionID is set while an operation moves the deployment.
	TargetVersionID string `json:"target_version_id,omitempty"`
	// ReconcilePaused is set when a Reconciler leaves the deployment
	// alone (Executor.SetReconcilePaused).
	ReconcilePaused bool `json:"reconcile_paused,omitempty"`
	// Health is HealthRunning, HealthDegraded or HealthMissing, or
	// HealthStopped when every stack was stopped on request; a stopped
	// stack beside running ones makes it HealthDegraded, and the verdict
	// Degraded: what is stopped serves nothing. Empty when the runtime
	// could not be asked.
	Health string `json:"health"`
	// Sync is SyncInSync, SyncDrifted or SyncOutOfDate; empty when the
	// runtime could not be asked.
	Sync          string           `json:"sync"`
	Stacks        []StackStatus    `json:"stacks"`
	LastOperation *store.Operation `json:"last_operation,omitempty"`
	// ObserveError is set when the runtime could not be asked; Health,
	// Sync and the observed fields are then empty.
	ObserveError string `json:"observe_error,omitempty"`
	// Instances says which page of instances the services list, when
	// WithInstances asked for them.
	Instances *InstancePage `json:"instances,omitempty"`
}

// InstancePage is a page of a deployment's instances, counted across its
// stacks (in tier order) and services (by name).
type InstancePage struct {
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// Total is the number of instances the runtime observes.
	Total int `json:"total"`
	// Next is the offset of the next page, or 0 when this is the last.
	Next int `json:"next,omitempty"`
}

// StackStatus is one stack's recorded state, observed health and sync.
type StackStatus struct {
	Name    string `json:"stack_name"`
	Tier    int    `json:"tier"`
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
	Health  string `json:"health"`
	Sync    string `json:"sync"`
	// Reason says why the stack is not in sync.
	Reason   string          `json:"reason,omitempty"`
	Services []ServiceStatus `json:"services"`
}

// ServiceStatus is one service's observed health, sync and endpoints.
type ServiceStatus struct {
	Name   string `json:"service_name"`
	Health string `json:"health"`
	// Sync is runtime.SyncInSync, SyncDrifted or SyncExtra (running but
	// not in the version).
	Sync string `json:"sync"`
	// Drift lists what differs (runtime.DriftMissing, DriftStopped,
	// DriftImage, DriftReplicas, DriftTier, DriftHash) and DriftDetail
	// says it in words.
	Drift       []string           `json:"drift,omitempty"`
	DriftDetail string             `json:"drift_detail,omitempty"`
	Image       string             `json:"image,omitempty"`
	Desired     int                `json:"desired"`
	Running     int                `json:"running"`
	Ready       int                `json:"ready"`
	Endpoints   []runtime.Endpoint `json:"endpoints,omitempty"`
	// Instances are listed only when WithInstances asks, one page of
	// them across the deployment.
	Instances []runtime.InstanceState `json:"instances,omitempty"`
}

// StatusOption tunes Status.
type StatusOption func(*statusOptions)

type statusOptions struct {
	instances     bool
	offset, limit int
}

// Default and largest page of instances of WithInstances.
const (
	DefaultInstanceLimit = 100
	MaxInstanceLimit     = 1000
)

// WithInstances makes Status list instances, limit of them (at most
// MaxInstanceLimit; 0 means DefaultInstanceLimit) from offset, counted
// across the deployment's stacks and services. Without it, services list
// no instances, so a status stays small whatever the deployment's size.
func WithInstances(offset, limit int) StatusOption {
	return func(o *statusOptions) {
		o.instances = true
		o.offset, o.limit = max(offset, 0), limit
		if o.limit <= 0 {
			o.limit = DefaultInstanceLimit
		}
		o.limit = min(o.limit, MaxInstanceLimit)
	}
}

// Status returns the deployment's record compared with what its runtime
// observes. Each desired service gets a health (running when every
// desired instance runs and is ready, missing when none runs, degraded
// otherwise) and a sync (runtime.Compare against the version's spec as
// the executor would apply it, files rendered); services and stacks that
// run but are not desired are listed as extra. Stacks are listed in tier
// order, then leftovers. The verdict (Status.Status) is never Available
// while something desired does not run or is not in sync.
func (e *Executor) Status(ctx context.Context, name string, opts ...StatusOption) (*Status, error) {
	if err := e.enter(true); err != nil {
		return nil, fmt.Errorf("status %s: %w", name, err)
	}
	defer e.leave()
	var so statusOptions
	for _, o := range opts {
		o(&so)
	}
	// The runtime is asked at once, while the record, its version and
	// the redactor are read and built: on a cluster the observation is
	// most of the time a status takes.
	type observed struct {
		state *runtime.DeploymentState
		err   error
	}
	octx, cancelObserve := context.WithCancel(ctx)
	observation := make(chan observed, 1)
	go func() {
		s, err := e.rt.Observe(octx, name)
		observation <- observed{s, err}
	}()
	waited := false
	defer func() {
		cancelObserve()
		if !waited {
			<-observation
		}
	}()
	d, err := e.st.GetDeployment(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", name, err)
	}
	st := &Status{
		Name: d.Name, Status: d.Status, Recorded: d.Status, ProductID: d.ProductID, VersionID: d.VersionID,
		TargetVersionID: d.TargetVersionID, LastOperation: d.LastOperation(), ReconcilePaused: ReconcilePaused(d),
	}
	var specs []*runtime.StackSpec
	var red *redact.Redactor
	specErr := ""
	if d.Status != store.StatusTerminated {
		v, err := e.st.GetVersion(ctx, d.VersionID)
		switch {
		case err == nil:
			deps := withScale(v.StackDeps, d.Parameters)
			vars, templates := splitParams(d.Parameters)
			productName := e.productName(ctx, d.ProductID)
			fs, rerr := renderFiles(name, productName, deps, templates, vars, e.host(name))
			if rerr != nil {
				specErr = rerr.Error()
			}
			specs = e.stackSpecs(name, productName, deps, fs, v)
			red = redactScope{name: name, productName: productName, versions: []*product.Version{v},
				deps: []stack.Deps{deps}, vars: []map[string]string{vars}, files: []files{fs}, host: e.host(name)}.redactor()
		case errors.Is(err, store.ErrNotFound):
			specErr = "version " + d.VersionID + " not found"
		default:
			return nil, fmt.Errorf("status %s: %w", name, err)
		}
	}
	for _, spec := range specs {
		ss := StackStatus{Name: spec.Stack.Name, Tier: spec.Tier}
		for k := range spec.Stack.Services {
			svc := &spec.Stack.Services[k]
			ss.Services = append(ss.Services, ServiceStatus{Name: svc.Name, Desired: svc.Replicas(), Image: svc.Image.Ref()})
		}
		st.Stacks = append(st.Stacks, ss)
	}
	// Stacks recorded but not in the spec (being removed) are listed too.
	for _, rs := range d.Stacks {
		if findStack(st.Stacks, rs.Name) == nil {
			st.Stacks = append(st.Stacks, StackStatus{Name: rs.Name, Tier: rs.Tier})
		}
	}
	for i := range st.Stacks {
		if rs := d.Stack(st.Stacks[i].Name); rs != nil {
			st.Stacks[i].State, st.Stacks[i].Message = rs.State, rs.Message
		}
	}
	o := <-observation
	waited = true
	obs, err := o.state, o.err
	if err != nil {
		st.ObserveError = red.String(runtime.MapError(e.rt, err).Error())
		if st.Status == store.StatusAvailable {
			st.Status = StatusDegraded
		}
		return st, nil
	}
	// Observed stacks not in the record or spec are leftovers: show them.
	for _, os := range obs.Stacks {
		if findStack(st.Stacks, os.Name) == nil {
			st.Stacks = append(st.Stacks, StackStatus{Name: os.Name, Tier: os.Tier})
		}
	}
	page := &InstancePage{Offset: so.offset, Limit: so.limit}
	var healths []string
	drifted, outOfDate := false, specErr != ""
	for i := range st.Stacks {
		ss := &st.Stacks[i]
		os := obs.Stack(ss.Name)
		var spec *runtime.StackSpec
		for _, s := range specs {
			if s.Stack.Name == ss.Name {
				spec = s
			}
		}
		if spec == nil {
			// Not desired: whatever of it runs is extra.
			ss.Health, ss.Sync = HealthMissing, SyncInSync
			if os != nil {
				ss.Health, ss.Sync, ss.Reason = HealthRunning, runtime.SyncExtra, "not in version "+d.VersionID
				drifted = true
				for k := range os.Services {
					osvc := &os.Services[k]
					svc := ServiceStatus{Name: osvc.Name, Sync: runtime.SyncExtra, Image: osvc.Image}
					fillObserved(&svc, osvc, so, page)
					svc.Health = serviceHealth(&svc)
					ss.Services = append(ss.Services, svc)
				}
			}
			continue
		}
		sd := compareStack(newTarget(spec), d.Stack(ss.Name), true, os, true)
		ss.Sync = SyncInSync
		switch {
		case sd.outOfDate:
			ss.Sync, ss.Reason = SyncOutOfDate, sd.repair
			outOfDate = true
		case sd.repair != "":
			ss.Sync, ss.Reason = SyncDrifted, sd.repair
			drifted = true
		}
		stopped := ss.State == StateStopped
		var svcHealth []string
		for _, drift := range sd.services {
			svc := findService(ss.Services, drift.Service)
			if svc == nil {
				ss.Services = append(ss.Services, ServiceStatus{Name: drift.Service})
				svc = &ss.Services[len(ss.Services)-1]
			}
			svc.Sync, svc.Drift, svc.DriftDetail = drift.Sync, drift.Reasons, drift.Detail
			if drift.Sync == runtime.SyncExtra && !stopped {
				ss.Sync, drifted = SyncDrifted, true
			}
			if os != nil {
				if osvc := os.Service(drift.Service); osvc != nil {
					fillObserved(svc, osvc, so, page)
					if osvc.Image != "" {
						svc.Image = osvc.Image
					}
				}
			}
			svc.Health = serviceHealth(svc)
			if stopped {
				// Stopped on request: nothing of it is meant to run, and
				// nothing serves.
				svc.Health = HealthStopped
			}
			if drift.Sync != runtime.SyncExtra {
				svcHealth = append(svcHealth, svc.Health)
			}
		}
		ss.Health = rollUpHealth(svcHealth)
		if stopped {
			ss.Health = HealthStopped
		}
		healths = append(healths, ss.Health)
	}
	if so.instances {
		if next := page.Offset + page.Limit; next < page.Total {
			page.Next = next
		}
		st.Instances = page
	}
	st.Health = rollUpHealth(healths)
	if len(healths) == 0 {
		st.Health = HealthMissing
	}
	switch {
	case drifted:
		st.Sync = SyncDrifted
	case outOfDate:
		st.Sync = SyncOutOfDate
	default:
		st.Sync = SyncInSync
	}
	if st.Status == store.StatusAvailable {
		switch {
		case st.Health != HealthRunning:
			st.Status = StatusDegraded
		case st.Sync != SyncInSync:
			st.Status = StatusDrifted
		}
	}
	if d.Status == store.StatusTerminated && drifted {
		st.Status = StatusDrifted
	}
	// What a back-end observed passes the redactor, as operation
	// messages do.
	for i := range st.Stacks {
		ss := &st.Stacks[i]
		ss.Reason = red.String(ss.Reason)
		for k := range ss.Services {
			ss.Services[k].DriftDetail = red.String(ss.Services[k].DriftDetail)
		}
	}
	return st, nil
}

// fillObserved copies what the runtime observes of a service, and its
// instances when they fall in the page asked for.
func fillObserved(svc *ServiceStatus, osvc *runtime.ServiceState, so statusOptions, page *InstancePage) {
	svc.Running, svc.Ready = osvc.Running(), osvc.Ready()
	svc.Endpoints = osvc.Endpoints
	if svc.Desired == 0 {
		svc.Desired = len(osvc.Instances)
	}
	if so.instances {
		lo, hi := page.Offset-page.Total, page.Offset+page.Limit-page.Total
		lo, hi = max(lo, 0), min(hi, len(osvc.Instances))
		if lo < hi {
			svc.Instances = osvc.Instances[lo:hi]
		}
		page.Total += len(osvc.Instances)
	}
}

// serviceHealth is running when every desired instance runs and is
// ready, missing when none runs, degraded otherwise.
func serviceHealth(svc *ServiceStatus) string {
	switch {
	case svc.Running == 0:
		return HealthMissing
	case svc.Ready >= svc.Desired && svc.Running >= svc.Desired:
		return HealthRunning
	}
	return HealthDegraded
}

// rollUpHealth is running when all are running, stopped when all are
// stopped, missing when all are missing, degraded otherwise: a stopped
// part does not serve, so what holds it is not fully available.
func rollUpHealth(hs []string) string {
	running, stopped, missing := 0, 0, 0
	for _, h := range hs {
		switch h {
		case HealthRunning:
			running++
		case HealthStopped:
			stopped++
		case HealthMissing:
			missing++
		}
	}
	switch {
	case running == len(hs):
		return HealthRunning
	case stopped == len(hs):
		return HealthStopped
	case missing == len(hs):
		return HealthMissing
	}
	return HealthDegraded
}

func findStack(s []StackStatus, name string) *StackStatus {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

func findService(s []ServiceStatus, name string) *ServiceStatus {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

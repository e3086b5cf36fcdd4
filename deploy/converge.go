package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// Convergence.
//
// What stackwave reports must be what runs. Three sources are compared:
// the version a deployment is recorded at (its spec, scaled and with its
// config files rendered: the runtime specs the executor would apply), the
// record of what was last applied (each stack's state and configuration
// hash), and what the runtime observes (runtime.Compare, service by
// service). The change set of an update, Preview, Status and the
// Reconciler all use the functions of this file, so they agree.

// stackSpecs returns the runtime spec of every stack of deps, in start
// order.
func (e *Executor) stackSpecs(name, productName string, deps stack.Deps, fs files, v *product.Version) []*runtime.StackSpec {
	_, n, _ := deps.Counts()
	out := make([]*runtime.StackSpec, 0, n)
	for ti, tier := range deps {
		for si := range tier {
			out = append(out, &runtime.StackSpec{
				Deployment: name, ProductName: productName, ProductID: v.ProductID, VersionID: v.ID,
				Tier: ti, Stack: tier[si], Files: fs[tier[si].Name], Catalog: e.opts.Catalog, ReadyTimeout: e.opts.ReadyTimeout,
			})
		}
	}
	return out
}

// host names a service for the other services of a deployment, as the
// executor's runtime resolves it (the default when it has none).
func (e *Executor) host(name string) hostFunc {
	if e.rt == nil {
		return nil
	}
	return func(stackName, service string) string { return runtime.ServiceHost(e.rt, name, stackName, service) }
}

// target is the runtime spec of one stack with its hashes, computed once.
type target struct {
	spec      *runtime.StackSpec
	stackHash string
	svcHashes []string
}

func newTarget(spec *runtime.StackSpec) *target {
	t := &target{spec: spec, stackHash: runtime.StackHash(spec), svcHashes: make([]string, len(spec.Stack.Services))}
	for i := range spec.Stack.Services {
		t.svcHashes[i] = runtime.ServiceHash(spec, &spec.Stack.Services[i])
	}
	return t
}

// stackDrift is one stack's comparison of target, record and runtime.
type stackDrift struct {
	// repair says why the stack must be applied again; empty when it
	// need not be.
	repair string
	// services is runtime.Compare's result; nil when the runtime was not
	// observed.
	services []runtime.ServiceDrift
	// outOfDate is set when the record explains the difference (the
	// stack failed, was interrupted, or was last applied with another
	// configuration); otherwise a difference is drift.
	outOfDate bool
}

// compareStack compares one stack's target spec with the record (rs, nil
// when the record has no such stack) and the runtime's observation (os,
// nil when nothing of it exists; observed false when the runtime was
// not asked).
func compareStack(t *target, rs *store.StackState, observed bool, os *runtime.StackState, checkHash bool) stackDrift {
	spec := t.spec
	var sd stackDrift
	switch {
	case rs == nil:
		sd.repair, sd.outOfDate = "not running", true
	case rs.State == StateStopped:
		// Stopped on request: it stays stopped, and its services are
		// not expected to run.
		if observed {
			sd.services = runtime.CompareHashed(spec, t.svcHashes, os)
		}
		return sd
	case rs.State != StateReady:
		sd.repair, sd.outOfDate = "state "+rs.State, true
	case checkHash && rs.ConfigHash != "" && rs.ConfigHash != t.stackHash:
		sd.repair, sd.outOfDate = "last applied with another configuration", true
	case rs.Tier != spec.Tier:
		sd.repair, sd.outOfDate = fmt.Sprintf("last applied in tier %d", rs.Tier), true
	}
	if !observed {
		return sd
	}
	sd.services = runtime.CompareHashed(spec, t.svcHashes, os)
	if sd.repair == "" && !runtime.InSync(sd.services) {
		var parts []string
		for i := range sd.services {
			if d := &sd.services[i]; d.Drifted() {
				parts = append(parts, d.String())
			}
		}
		sd.repair = "drifted: " + strings.Join(parts, "; ")
	}
	return sd
}

// markApplied turns the stacks of cs that the versions leave unchanged
// into repairs when the record or the runtime shows them otherwise than
// the target (see compareStack), and adds the removal of every stack that
// exists, recorded or observed, but is in neither version. obs may be nil
// when the runtime was not asked; checkHash is false when target's files
// were not rendered as the runtime resolves host names (no runtime).
func markApplied(cs *ChangeSet, d *store.Deployment, target []*runtime.StackSpec, obs *runtime.DeploymentState, checkHash bool) {
	specs := make(map[string]*runtime.StackSpec, len(target))
	for _, s := range target {
		specs[s.Stack.Name] = s
	}
	for i := range cs.Stacks {
		sc := &cs.Stacks[i]
		spec := specs[sc.Stack]
		if sc.Action != ActionNone || spec == nil {
			continue
		}
		var os *runtime.StackState
		if obs != nil {
			os = obs.Stack(sc.Stack)
		}
		sd := compareStack(newTarget(spec), d.Stack(sc.Stack), obs != nil, os, checkHash)
		if sd.repair == "" {
			continue
		}
		sc.Action, sc.Reason = ActionRepair, sd.repair
		for _, sv := range sd.services {
			if sv.Drifted() {
				sc.Drift = append(sc.Drift, sv)
			}
		}
	}
	seen := make(map[string]bool, len(cs.Stacks))
	for i := range cs.Stacks {
		seen[cs.Stacks[i].Stack] = true
	}
	var extra []StackChange
	for _, rs := range d.Stacks {
		if !seen[rs.Name] {
			seen[rs.Name] = true
			extra = append(extra, StackChange{Stack: rs.Name, Tier: rs.Tier, Action: ActionRemove, Reason: "left over: in neither version"})
		}
	}
	if obs != nil {
		for _, os := range obs.Stacks {
			if !seen[os.Name] {
				seen[os.Name] = true
				extra = append(extra, StackChange{Stack: os.Name, Tier: os.Tier, Action: ActionRemove, Reason: "left over: found on the runtime"})
			}
		}
	}
	if len(extra) > 0 {
		// Removals come last, last tier first.
		cs.Stacks = append(cs.Stacks, extra...)
		first := slices.IndexFunc(cs.Stacks, func(s StackChange) bool { return s.Action == ActionRemove })
		slices.SortStableFunc(cs.Stacks[first:], func(a, b StackChange) int {
			return cmp.Compare(b.Tier, a.Tier)
		})
	}
	cs.reindex()
}

// observe asks the runtime for a deployment's state, with the error
// mapped onto runtime's sentinels.
func (e *Executor) observe(ctx context.Context, name string) (*runtime.DeploymentState, error) {
	obs, err := e.observeSpan(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", name, runtime.MapError(e.rt, err))
	}
	return obs, nil
}

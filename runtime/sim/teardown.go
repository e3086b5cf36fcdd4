package sim

import (
	"context"
	"fmt"
	"slices"

	"github.com/stackwave/stackwave/runtime"
)

// RemoveDeployment removes every stack of the deployment in one call,
// with the semantics of Remove on each: the stacks not named in tiers
// first, then the named ones from the last tier to the first; then, when
// opts.DeleteData is set, every volume of the deployment, kept ones
// included. Without it the volumes stay, as Remove keeps them. Removing
// a deployment that does not exist is not an error. It is recorded as
// one call with the Op "remove-deployment".
//
// While a FailRemove rule could match a stack of the deployment, it
// returns an error matching runtime.ErrNotSupported having changed
// nothing, so that callers fall back to a Remove per stack, which the
// rule counts and fails as it says. It implements
// runtime.DeploymentRemover.
func (r *Runtime) RemoveDeployment(ctx context.Context, deployment string, tiers [][]string, opts runtime.RemoveOptions) (err error) {
	c, _ := r.begin("remove-deployment", runtime.StackRef{Deployment: deployment}, nil, 0)
	defer func() { r.end(c, err) }()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove deployment %s: %w", deployment, err)
	}
	if r.failsRemove(deployment) {
		return fmt.Errorf("remove deployment %s in one pass: a FailRemove rule matches it: %w", deployment, runtime.ErrNotSupported)
	}
	d := r.deployment(deployment, false)
	if d == nil {
		return nil
	}
	for _, name := range removalOrder(d, tiers) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("remove deployment %s: %w", deployment, err)
		}
		if err := r.removeStack(d, runtime.StackRef{Deployment: deployment, Stack: name}); err != nil {
			return fmt.Errorf("remove deployment %s: %w", deployment, err)
		}
	}
	if opts.DeleteData {
		d.volMu.Lock()
		clear(d.volumes)
		d.volMu.Unlock()
	}
	return nil
}

// failsRemove reports whether a FailRemove rule could match a stack of
// the deployment, without counting a call.
func (r *Runtime) failsRemove(deployment string) bool {
	if r.nfaults.Load() == 0 {
		return false
	}
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	for _, f := range r.faults {
		if f.Kind == FailRemove && (f.Deployment == "" || f.Deployment == deployment) {
			return true
		}
	}
	return false
}

// removalOrder lists the stacks of d in the order a teardown removes
// them: those not named in tiers, by name, then the named ones that
// exist, last tier first.
func removalOrder(d *deployment, tiers [][]string) []string {
	named := map[string]bool{}
	for _, t := range tiers {
		for _, s := range t {
			named[s] = true
		}
	}
	d.mu.RLock()
	exists := make(map[string]bool, len(d.stacks))
	var out []string
	for name := range d.stacks {
		exists[name] = true
		if !named[name] {
			out = append(out, name)
		}
	}
	d.mu.RUnlock()
	slices.Sort(out)
	for i := len(tiers) - 1; i >= 0; i-- {
		for _, s := range tiers[i] {
			if exists[s] {
				out = append(out, s)
				exists[s] = false // named twice: removed once
			}
		}
	}
	return out
}

var _ runtime.DeploymentRemover = (*Runtime)(nil)

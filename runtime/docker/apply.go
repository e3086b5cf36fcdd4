package docker

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Apply makes the stack's containers match spec. Services whose
// runtime.ServiceHash and tier label are unchanged are left alone (a
// stopped one is started); a changed service, or one of a stack that
// moved to another tier, is replaced; instances are added or removed
// to match the instance count; services no longer in the spec are removed
// (their volumes stay). Images are checked first, so a missing image fails
// Apply before anything changes.
//
// A changed service without volumes or fixed host ports is replaced start
// first: the new containers start beside the old ones (which are renamed
// "<name>.old-<id>"), and the old ones are removed only once the new ones
// are ready; if they do not become ready, they are removed and the old
// ones keep running. Unlike the rest of Apply, such a replacement waits
// for readiness (as Wait does, bounded by the probe's timeout or
// spec.ReadyTimeout), since only readiness tells when the old ones may go.
// A service with volumes or fixed host ports is stopped, then started
// again.
func (r *Runtime) Apply(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	_, err := r.apply(ctx, spec, report)
	return err
}

// svcPlan is what Apply does to one service.
type svcPlan struct {
	svc        *stack.Service
	hash       string
	have       map[int]ctr
	create     []int // missing instances
	replace    []int // instances with another configuration
	start      []int // unchanged instances that do not run
	remove     []ctr // instances beyond the count
	unchanged  []ctr // running instances Apply leaves alone
	startFirst bool
}

func (p *svcPlan) needsImage() bool { return len(p.create)+len(p.replace) > 0 }

// apply does Apply and returns the running containers it left alone.
func (r *Runtime) apply(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) (untouched []ctr, err error) {
	ref := spec.Ref()
	report = serialize(report)
	if err := r.validate(spec); err != nil {
		return nil, err
	}
	l := r.depLock(spec.Deployment)
	l.RLock()
	defer l.RUnlock()

	cur, err := r.listContainers(ctx, spec.Deployment, spec.Stack.Name)
	if err != nil {
		return nil, fmt.Errorf("apply stack %s: %w", ref, err)
	}
	if cur, err = r.tidy(ctx, spec, cur); err != nil {
		return nil, fmt.Errorf("apply stack %s: %w", ref, err)
	}

	// What goes: services that left the spec.
	var gone []ctr
	have := map[string]map[int]ctr{}
	for _, c := range cur {
		if spec.Stack.Service(c.svc) == nil || c.n == 0 {
			gone = append(gone, c)
			continue
		}
		if have[c.svc] == nil {
			have[c.svc] = map[int]ctr{}
		}
		have[c.svc][c.n] = c
	}

	plans := make([]*svcPlan, len(spec.Stack.Services))
	var needImages []string
	needNet := false
	for i := range spec.Stack.Services {
		p := r.plan(spec, &spec.Stack.Services[i], have[spec.Stack.Services[i].Name])
		plans[i] = p
		if p.needsImage() {
			needImages = append(needImages, p.svc.Name)
		}
		needNet = needNet || p.needsImage() || len(p.start) > 0
		untouched = append(untouched, p.unchanged...)
	}
	if err := r.ensureImages(ctx, spec, needImages); err != nil {
		return nil, err
	}
	var net netRef
	if needNet {
		if net, err = r.ensureNetwork(ctx, spec.Deployment); err != nil {
			return nil, fmt.Errorf("apply stack %s: %w", ref, err)
		}
	}

	var g errgroup.Group
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, c := range gone {
		g.Go(func() error {
			if err := r.stopRemove(ctx, c.id, r.opts.GracePeriod); err != nil {
				fail(fmt.Errorf("service %s: %w", c.svc, err))
				return nil
			}
			report.Emit(runtime.Event{Type: runtime.EventServiceRemoved, Stack: spec.Stack.Name, Service: c.svc, Instance: c.name,
				Message: "no longer in the spec; volumes kept"})
			return nil
		})
	}
	for _, p := range plans {
		g.Go(func() error {
			if err := r.applyService(ctx, spec, p, net, report); err != nil {
				fail(err)
			}
			return nil
		})
	}
	_ = g.Wait()
	if err := joinSorted(errs); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("apply stack %s: %w: %w", ref, ctx.Err(), err)
		}
		return nil, err
	}
	if err := r.clearStopped(ctx, spec.Deployment, spec.Stack.Name); err != nil {
		return nil, fmt.Errorf("apply stack %s: %w", ref, err)
	}
	return untouched, nil
}

// plan decides what happens to one service.
func (r *Runtime) plan(spec *runtime.StackSpec, svc *stack.Service, have map[int]ctr) *svcPlan {
	p := &svcPlan{svc: svc, hash: runtime.ServiceHash(spec, svc), have: have, startFirst: len(svc.VolumeArgs) == 0}
	for _, ap := range svc.AccessPoints {
		for _, hp := range ap.HostPorts {
			if hp > 0 {
				p.startFirst = false
			}
		}
	}
	want, tier := svc.Replicas(), strconv.Itoa(spec.Tier)
	for n := 1; n <= want; n++ {
		c, ok := have[n]
		switch {
		case !ok:
			p.create = append(p.create, n)
		case c.hash != p.hash || c.state == container.StateCreated || otherImage(c.image, svc.Image.Ref()) || r.lb.get(c.labels, keyTier) != tier:
			// A container that never started may lack its files:
			// make it again. One running another image was made
			// behind the runtime's back (its labels copied): the
			// spec's image replaces it. One labelled with another
			// tier belongs to a stack that moved: labels cannot
			// change, so it is replaced.
			p.replace = append(p.replace, n)
		case c.state == container.StateRunning || c.state == container.StatePaused || c.state == container.StateRestarting:
			p.unchanged = append(p.unchanged, c)
		default:
			p.start = append(p.start, n)
		}
	}
	for n, c := range have {
		if n > want {
			p.remove = append(p.remove, c)
		}
	}
	slices.SortFunc(p.remove, func(a, b ctr) int { return a.n - b.n })
	return p
}

// otherImage reports whether a container listed with image have runs
// another image than want. A listing names an image by its ID once the
// reference moved to a newer build; that is no change of the spec.
func otherImage(have, want string) bool {
	return have != "" && have != want && !strings.HasPrefix(have, "sha256:")
}

// applyService carries out a service's plan.
func (r *Runtime) applyService(ctx context.Context, spec *runtime.StackSpec, p *svcPlan, net netRef, report runtime.Reporter) error {
	svc := p.svc
	wrap := func(err error) error {
		var se *runtime.ServiceError
		if errors.As(err, &se) {
			return err
		}
		return fmt.Errorf("stack %s service %s: %w", spec.Stack.Name, svc.Name, err)
	}
	emit := func(t runtime.EventType, msg string) {
		report.Emit(runtime.Event{Type: t, Stack: spec.Stack.Name, Service: svc.Name, Message: msg})
	}
	var g errgroup.Group
	for _, c := range p.remove {
		g.Go(func() error { return r.stopRemove(ctx, c.id, r.opts.GracePeriod) })
	}
	for _, n := range p.create {
		g.Go(func() error {
			_, err := r.createInstance(ctx, spec, svc, n, p.hash, net)
			return err
		})
	}
	for _, n := range p.start {
		g.Go(func() error { return r.startContainer(ctx, p.have[n]) })
	}
	if err := g.Wait(); err != nil {
		return wrap(err)
	}
	if len(p.replace) > 0 {
		var err error
		if p.startFirst {
			err = r.replaceStartFirst(ctx, spec, p, net)
		} else {
			err = r.replaceStopFirst(ctx, spec, p, net)
		}
		if err != nil {
			return wrap(err)
		}
	}

	before, after := len(p.have), svc.Replicas()
	switch {
	case before == 0:
		emit(runtime.EventServiceCreated, fmt.Sprintf("%d instances", after))
		return nil
	case len(p.replace) > 0:
		how := "stopped, then started again"
		if p.startFirst {
			how = "new containers ready before the old ones were removed"
		}
		emit(runtime.EventServiceReplaced, fmt.Sprintf("%d instances replaced: %s", len(p.replace), how))
	}
	if len(p.create) > 0 || len(p.remove) > 0 {
		emit(runtime.EventServiceScaled, fmt.Sprintf("%d to %d instances", before, after))
	}
	if len(p.replace) == 0 && len(p.create) == 0 && len(p.remove) == 0 {
		msg := "configuration unchanged"
		if len(p.start) > 0 {
			msg += fmt.Sprintf("; started %d stopped instances", len(p.start))
		}
		emit(runtime.EventServiceUnchanged, msg)
	}
	return nil
}

func (r *Runtime) startContainer(ctx context.Context, c ctr) error {
	release, err := r.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if _, err := r.cli.ContainerStart(ctx, c.id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", c.name, err)
	}
	return nil
}

// replaceStopFirst stops and removes the old instances, then creates the
// new ones on the same volumes.
func (r *Runtime) replaceStopFirst(ctx context.Context, spec *runtime.StackSpec, p *svcPlan, net netRef) error {
	var g errgroup.Group
	for _, n := range p.replace {
		g.Go(func() error {
			if err := r.stopRemove(ctx, p.have[n].id, r.opts.GracePeriod); err != nil {
				return err
			}
			_, err := r.createInstance(ctx, spec, p.svc, n, p.hash, net)
			return err
		})
	}
	return g.Wait()
}

// replaceStartFirst starts the new instances beside the old ones and
// removes the old ones once the new ones are ready. On failure the new
// ones are removed and the old ones take their names back.
func (r *Runtime) replaceStartFirst(ctx context.Context, spec *runtime.StackSpec, p *svcPlan, net netRef) (err error) {
	sub := r.hub.subscribe()
	defer sub.close()
	type pair struct {
		n     int
		old   ctr
		newID string
	}
	pairs := make([]*pair, len(p.replace))
	for i, n := range p.replace {
		pairs[i] = &pair{n: n, old: p.have[n]}
	}
	var g errgroup.Group
	for _, pr := range pairs {
		g.Go(func() error {
			if pr.old.state == container.StateCreated {
				// Never started: nothing serves, nothing to keep.
				if err := r.stopRemove(ctx, pr.old.id, 0); err != nil {
					return err
				}
				pr.old.id = ""
			} else if _, err := r.cli.ContainerRename(ctx, pr.old.id, client.ContainerRenameOptions{NewName: retiredName(pr.old.name, pr.old.id)}); err != nil {
				return fmt.Errorf("rename container %s: %w", pr.old.name, err)
			}
			id, err := r.createInstance(ctx, spec, p.svc, pr.n, p.hash, net)
			pr.newID = id
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		w := &watched{svc: p.svc, timeout: readyTimeout(spec, p.svc)}
		for _, pr := range pairs {
			w.insts = append(w.insts, &inst{svc: p.svc.Name, n: pr.n, id: pr.newID, name: r.containerName(spec.Deployment, spec.Stack.Name, p.svc.Name, pr.n),
				mode: r.readinessMode(p.svc.Readiness), probe: p.svc.Readiness})
		}
		err = r.watch(ctx, sub, spec, []*watched{w}, nil)
	}
	if err != nil {
		// Put the old instances back.
		bctx, cancel := contextWithoutCancel(ctx)
		defer cancel()
		for _, pr := range pairs {
			if pr.newID != "" {
				r.discard(bctx, pr.newID)
			}
			if pr.old.id != "" {
				_, _ = r.cli.ContainerRename(bctx, pr.old.id, client.ContainerRenameOptions{NewName: pr.old.name})
			}
		}
		return fmt.Errorf("replace (the old containers keep running): %w", err)
	}
	g = errgroup.Group{}
	for _, pr := range pairs {
		if pr.old.id != "" {
			g.Go(func() error { return r.stopRemove(ctx, pr.old.id, r.opts.GracePeriod) })
		}
	}
	return g.Wait()
}

// retiredName is the name of an instance being replaced.
func retiredName(name, id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return name + ".old-" + id
}

// tidy settles what an interrupted replacement left: where an instance
// has its canonical container, the retired ones go; where only retired
// ones are left, the newest takes the canonical name back.
func (r *Runtime) tidy(ctx context.Context, spec *runtime.StackSpec, cur []ctr) ([]ctr, error) {
	type key struct {
		svc string
		n   int
	}
	canonical := map[key]bool{}
	for _, c := range cur {
		if c.canonical {
			canonical[key{c.svc, c.n}] = true
		}
	}
	var out []ctr
	retired := map[key][]ctr{}
	for _, c := range cur {
		if c.canonical || c.n == 0 {
			out = append(out, c)
			continue
		}
		retired[key{c.svc, c.n}] = append(retired[key{c.svc, c.n}], c)
	}
	for k, cs := range retired {
		if !canonical[k] {
			// cs is sorted oldest first: the newest comes back.
			c := cs[len(cs)-1]
			cs = cs[:len(cs)-1]
			name := r.containerName(spec.Deployment, spec.Stack.Name, k.svc, k.n)
			if _, err := r.cli.ContainerRename(ctx, c.id, client.ContainerRenameOptions{NewName: name}); err != nil {
				return nil, fmt.Errorf("rename container %s back to %s: %w", c.name, name, err)
			}
			c.name, c.canonical = name, true
			out = append(out, c)
		}
		for _, c := range cs {
			if err := r.stopRemove(ctx, c.id, r.opts.GracePeriod); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// validate checks what the Docker runtime needs of a spec, reporting every
// problem.
func (r *Runtime) validate(spec *runtime.StackSpec) error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if !validName(spec.Deployment) {
		add("deployment %q: not usable in container names", spec.Deployment)
	}
	if !validName(spec.Stack.Name) {
		add("stack %q: not usable in container names", spec.Stack.Name)
	}
	seen := map[string]bool{}
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		at := "service " + strconv.Quote(svc.Name)
		if !validName(svc.Name) || strings.Contains(svc.Name, ".") {
			add("%s: not usable in container names", at)
		}
		if seen[svc.Name] {
			add("%s: appears twice", at)
		}
		seen[svc.Name] = true
		if svc.Image.Name == "" {
			add("%s: no image", at)
		}
		if _, err := spec.Unit(svc); err != nil {
			add("%s: %v", at, err)
		}
		for _, va := range svc.VolumeArgs {
			if _, err := spec.Volume(&va); err != nil {
				add("%s volume %s (%s): %v", at, va.MountPath, va.UnitType, err)
			}
			if !path.IsAbs(va.MountPath) {
				add("%s volume %q: the mount path must be absolute", at, va.MountPath)
			}
		}
		for _, ap := range svc.AccessPoints {
			for i, bp := range ap.BackendPorts {
				if bp < 1 || bp > 65535 {
					add("%s: backend port %d out of range", at, bp)
				}
				if i < len(ap.HostPorts) && ap.HostPorts[i] > 0 && svc.Replicas() > 1 {
					add("%s: host port %d is fixed, so the service cannot run %d instances", at, ap.HostPorts[i], svc.Replicas())
				}
			}
		}
		for p := range spec.Files[svc.Name] {
			if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
				add("%s: config file path %q must be absolute and clean", at, p)
			}
		}
		if pr := svc.Readiness; pr != nil {
			switch pr.Type {
			case stack.ProbeTCP, stack.ProbeHTTP:
				if pr.Port < 1 || pr.Port > 65535 {
					add("%s: %s probe port %d out of range", at, pr.Type, pr.Port)
				}
			case stack.ProbeExec:
				if len(pr.Command) == 0 {
					add("%s: exec probe without a command", at)
				}
			case "", stack.ProbeRunning:
			default:
				add("%s: unknown probe type %q", at, pr.Type)
			}
		}
	}
	for _, is := range spec.Stack.InitScripts {
		if !seen[is.ServiceName] {
			add("init script: no service %q", is.ServiceName)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: stack %s: %s", runtime.ErrInvalid, spec.Ref(), strings.Join(errs, "; "))
	}
	return nil
}

// clearStopped removes the marker Stop leaves.
func (r *Runtime) clearStopped(ctx context.Context, dep, stk string) error {
	_, err := r.cli.VolumeRemove(ctx, r.markerName(dep, stk), client.VolumeRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove the stopped marker: %w", err)
	}
	return nil
}

// serialize makes a reporter safe to call from the goroutines of one
// call: the caller's reporter sees one event at a time.
func serialize(report runtime.Reporter) runtime.Reporter {
	if report == nil {
		return nil
	}
	var mu sync.Mutex
	return func(e runtime.Event) {
		mu.Lock()
		defer mu.Unlock()
		report(e)
	}
}

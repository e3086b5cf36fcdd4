package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/runtime"
)

// Remove stops the stack's containers (SIGTERM, then SIGKILL after the
// grace period), removes them, removes the stack's volumes when
// opts.DeleteData is set, and removes the deployment's network once no
// container of the deployment is left. Removing a stack that does not
// exist is not an error.
func (r *Runtime) Remove(ctx context.Context, ref runtime.StackRef, opts runtime.RemoveOptions) error {
	grace := cmp.Or(opts.GracePeriod, r.opts.GracePeriod)
	cs, err := r.listContainers(ctx, ref.Deployment, ref.Stack)
	if err != nil {
		return fmt.Errorf("remove stack %s: %w", ref, err)
	}
	var g errgroup.Group
	for _, c := range cs {
		g.Go(func() error { return r.stopRemove(ctx, c.id, grace) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("remove stack %s: %w", ref, err)
	}
	if opts.DeleteData {
		if err := r.removeVolumes(ctx, ref); err != nil {
			return fmt.Errorf("remove stack %s: %w", ref, err)
		}
	}
	if err := r.clearStopped(ctx, ref.Deployment, ref.Stack); err != nil {
		return fmt.Errorf("remove stack %s: %w", ref, err)
	}
	if err := r.removeNetworkIfUnused(ctx, ref.Deployment, nil); err != nil {
		return fmt.Errorf("remove stack %s: %w", ref, err)
	}
	return nil
}

// removeVolumes removes the data volumes of a stack.
func (r *Runtime) removeVolumes(ctx context.Context, ref runtime.StackRef) error {
	res, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: r.lb.filters(roleData, ref.Deployment, ref.Stack)})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	names := make([]string, 0, len(res.Items))
	for _, v := range res.Items {
		names = append(names, v.Name)
	}
	return r.removeVolumeNames(ctx, names)
}

// volumeInUseFor bounds how long removeVolumeNames retries a volume the
// engine still calls in use after its containers were removed: a moment
// on a quiet engine, seconds on a loaded one.
const volumeInUseFor = 30 * time.Second

// removeVolumeNames removes volumes concurrently. A volume is in use for
// a moment after its container is removed, so "in use" is retried, from
// 50 ms apart up to 1 s apart, for up to volumeInUseFor or until ctx
// ends.
func (r *Runtime) removeVolumeNames(ctx context.Context, names []string) error {
	errs := make([]error, len(names))
	var g errgroup.Group
	g.SetLimit(r.opts.Parallelism)
	for i, name := range names {
		g.Go(func() error {
			deadline := time.Now().Add(volumeInUseFor)
			pause := 50 * time.Millisecond
			for {
				_, err := r.cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
				if err == nil || cerrdefs.IsNotFound(err) {
					return nil
				}
				if !cerrdefs.IsConflict(err) || time.Now().After(deadline) || ctx.Err() != nil {
					errs[i] = fmt.Errorf("remove volume %s: %w", name, err)
					return nil
				}
				t := time.NewTimer(pause)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				pause = min(2*pause, time.Second)
			}
		})
	}
	_ = g.Wait()
	return joinSorted(slices.DeleteFunc(errs, func(err error) bool { return err == nil }))
}

// RemoveDeployment removes a whole deployment in one pass: one list of
// its containers by label (no inspection), the containers of stacks not
// named in tiers first, then tier by tier from the last, the containers
// of one tier concurrently (each stopped with the grace period, within
// the runtime's bound until its endpoint has left the network, then
// removed at once). The rest follows the containers as closely as it
// can: a stack's stopped mark, and its volumes when opts.DeleteData is
// set, go as soon as the stack's last container is removed (they are
// listed while the containers stop), and the network as soon as the last
// container has left it (the engine's disconnect event, or the stop's
// return), side by side with the last removals. It implements
// runtime.DeploymentRemover.
func (r *Runtime) RemoveDeployment(ctx context.Context, dep string, tiers [][]string, opts runtime.RemoveOptions) error {
	grace := cmp.Or(opts.GracePeriod, r.opts.GracePeriod)
	cs, err := r.listContainers(ctx, dep, "")
	if err != nil {
		return fmt.Errorf("remove deployment %s: %w", dep, err)
	}
	// The volumes to remove, by stack, are listed while the containers go.
	vols := map[string][]string{}
	var listed errgroup.Group
	listed.Go(func() error {
		for _, role := range []string{roleStopped, roleData} {
			if role == roleData && !opts.DeleteData {
				continue
			}
			res, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: r.lb.filters(role, dep, "")})
			if err != nil {
				return fmt.Errorf("list volumes: %w", err)
			}
			for _, v := range res.Items {
				stk := r.lb.get(v.Labels, keyStack)
				vols[stk] = append(vols[stk], v.Name)
			}
		}
		return nil
	})
	t := newTeardown(ctx, r, dep, cs, &listed, vols)
	if slices.ContainsFunc(cs, func(c ctr) bool { return !notRunning(c.state) }) {
		t.endpoints = r.watchEndpoints(ctx, dep)
		defer t.endpoints.stop()
	}
	tierOf := map[string]int{}
	for i, t := range tiers {
		for _, s := range t {
			tierOf[s] = i + 1
		}
	}
	// waves[0] holds the stacks not named; waves[i+1] those of tiers[i].
	waves := make([][]ctr, len(tiers)+1)
	for _, c := range cs {
		waves[tierOf[c.stack]] = append(waves[tierOf[c.stack]], c)
	}
	// Stacks not named, then the last tier first.
	slices.Reverse(waves[1:])
	for _, wave := range waves {
		var g errgroup.Group
		g.SetLimit(r.teardownParallelism())
		for _, c := range wave {
			g.Go(func() error { return t.remove(ctx, c, grace) })
		}
		if err := g.Wait(); err != nil {
			_ = listed.Wait()
			_ = t.rest.Wait()
			return fmt.Errorf("remove deployment %s: %w", dep, err)
		}
	}
	if err := listed.Wait(); err != nil {
		_ = t.rest.Wait()
		return fmt.Errorf("remove deployment %s: %w", dep, err)
	}
	// The volumes of stacks that had no container left.
	for stk, names := range vols {
		if t.left[stk] == 0 && !t.volumesGone[stk] {
			t.rest.Go(func() error { return r.removeVolumeNames(ctx, names) })
		}
	}
	if err := t.rest.Wait(); err != nil {
		return fmt.Errorf("remove deployment %s: %w", dep, err)
	}
	return nil
}

// teardown follows one RemoveDeployment: which containers are still on
// the network and which remain per stack, to start the removal of the
// network and of a stack's volumes as soon as nothing needs them.
type teardown struct {
	r         *Runtime
	dep       string
	endpoints *endpointWatch // nil when no container runs
	listed    *errgroup.Group
	vols      map[string][]string // read once listed has returned
	ours      map[string]bool     // the IDs of the containers the pass removes

	mu          sync.Mutex
	running     int            // containers whose endpoint has not yet left the network
	left        map[string]int // per stack, containers not yet removed
	volumesGone map[string]bool

	rest errgroup.Group // volume and network removals
}

func newTeardown(ctx context.Context, r *Runtime, dep string, cs []ctr, listed *errgroup.Group, vols map[string][]string) *teardown {
	t := &teardown{r: r, dep: dep, listed: listed, vols: vols, ours: map[string]bool{},
		running: len(cs), left: map[string]int{}, volumesGone: map[string]bool{}}
	for _, c := range cs {
		t.ours[c.id] = true
		t.left[c.stack]++
	}
	if len(cs) == 0 {
		t.rest.Go(func() error { return t.removeNetwork(ctx) })
	}
	return t
}

// remove removes one container, then whatever that was the last user of.
func (t *teardown) remove(ctx context.Context, c ctr, grace time.Duration) error {
	err := t.r.removeContainer(ctx, c, grace, t.endpoints, func() {
		t.mu.Lock()
		t.running--
		last := t.running == 0
		t.mu.Unlock()
		if last {
			t.rest.Go(func() error { return t.removeNetwork(ctx) })
		}
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.left[c.stack]--
	gone := t.left[c.stack] == 0
	if gone {
		t.volumesGone[c.stack] = true
	}
	t.mu.Unlock()
	if gone {
		t.rest.Go(func() error {
			if err := t.listed.Wait(); err != nil {
				return nil // reported by RemoveDeployment
			}
			return t.r.removeVolumeNames(ctx, t.vols[c.stack])
		})
	}
	return nil
}

// removeNetwork removes the deployment's network unless a container
// other than those of the pass uses it.
func (t *teardown) removeNetwork(ctx context.Context) error {
	return t.r.removeNetworkIfUnused(ctx, t.dep, t.ours)
}

// teardownParallelism bounds the containers one teardown handles at
// once: four times Parallelism (32 by default). Their stops still take
// slots of Parallelism, their removals do not (see removeContainer).
func (r *Runtime) teardownParallelism() int { return 4 * r.opts.Parallelism }

// removeContainer removes one listed container: one that runs is stopped
// with the grace period first; one that does not is removed at once.
// left, when not nil, is called once the container's endpoint has left
// the network: when endpoints (when not nil) sees it leave, or when the
// stop returns, whichever comes first.
//
// The stop takes a slot of Parallelism until then: each takes the
// container's endpoint off the deployment network, and Engine 20.10
// loses count of a network's endpoints when many leave it at once
// (moby/moby#42119; 20 at once did within a few teardowns here), after
// which the network cannot be removed until the engine restarts. What
// follows the endpoint's release (the engine unmounting the container's
// files, the stop's answer, the removal) does not wait for a slot.
func (r *Runtime) removeContainer(ctx context.Context, c ctr, grace time.Duration, endpoints *endpointWatch, left func()) error {
	if left == nil {
		left = func() {}
	}
	if notRunning(c.state) {
		left()
	} else {
		release, err := r.acquire(ctx)
		if err != nil {
			return err
		}
		var gone <-chan struct{} // nil, never ready, without a watch
		if endpoints != nil {
			gone = endpoints.arm(c.id)
		}
		secs := gracePeriod(grace)
		done := make(chan error, 1)
		go func() {
			_, err := r.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &secs})
			done <- err
		}()
		select {
		case <-gone:
			release()
			left()
			err = <-done
		case err = <-done:
			release()
			if err == nil || cerrdefs.IsNotFound(err) {
				left()
			}
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: %w", c.name, err)
		}
	}
	_, err := r.cli.ContainerRemove(ctx, c.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !isRemovalInProgress(err) {
		return fmt.Errorf("remove container %s: %w", c.name, err)
	}
	return nil
}

// notRunning tells whether a container in the state has no process to stop.
func notRunning(s container.ContainerState) bool {
	return s == container.StateCreated || s == container.StateExited || s == container.StateDead
}

// joinSorted joins errors in the order of their messages, so the same
// failures read the same.
func joinSorted(errs []error) error {
	slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Volumes lists the data volumes of a deployment, those of running stacks
// and those Remove kept, sorted by stack, service and name. Class and
// size come from the volume's labels.
func (r *Runtime) Volumes(ctx context.Context, deployment string) ([]runtime.VolumeState, error) {
	res, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: r.lb.filters(roleData, deployment, "")})
	if err != nil {
		return nil, fmt.Errorf("volumes of %s: list volumes: %w", deployment, err)
	}
	out := make([]runtime.VolumeState, 0, len(res.Items))
	for _, v := range res.Items {
		size, _ := strconv.ParseInt(r.lb.get(v.Labels, keyVolumeSize), 10, 64)
		out = append(out, runtime.VolumeState{
			Name: v.Name, Stack: r.lb.get(v.Labels, keyStack), Service: r.lb.get(v.Labels, keyService),
			MountPath: r.lb.get(v.Labels, keyMountPath), Class: r.lb.get(v.Labels, keyVolumeClass), SizeBytes: size,
		})
	}
	slices.SortFunc(out, func(a, b runtime.VolumeState) int {
		return cmp.Or(strings.Compare(a.Stack, b.Stack), strings.Compare(a.Service, b.Service), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

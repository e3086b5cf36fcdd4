package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
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
	if err := r.removeNetworkIfUnused(ctx, ref.Deployment); err != nil {
		return fmt.Errorf("remove stack %s: %w", ref, err)
	}
	return nil
}

// removeVolumes removes the data volumes of a stack. A volume is in use
// for a moment after its container is removed, so "in use" is retried
// briefly.
func (r *Runtime) removeVolumes(ctx context.Context, ref runtime.StackRef) error {
	res, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: r.lb.filters(roleData, ref.Deployment, ref.Stack)})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	var errs []error
	for _, v := range res.Items {
		for attempt := 0; ; attempt++ {
			_, err := r.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{})
			if err == nil || cerrdefs.IsNotFound(err) {
				break
			}
			if !cerrdefs.IsConflict(err) || attempt == 20 || ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return joinSorted(errs)
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

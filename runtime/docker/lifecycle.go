package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/runtime"
)

// Stop stops the stack's containers gracefully and keeps them, with their
// configuration and data. Observe reports the stack as Stopped until
// Start, Restart or Apply runs it again; the mark is a small labelled
// volume, since container labels cannot change.
func (r *Runtime) Stop(ctx context.Context, ref runtime.StackRef) error {
	cs, err := r.listContainers(ctx, ref.Deployment, ref.Stack)
	if err != nil {
		return fmt.Errorf("stop stack %s: %w", ref, err)
	}
	if len(cs) == 0 {
		return fmt.Errorf("stop stack %s: %w: no containers", ref, runtime.ErrNotFound)
	}
	labels := r.lb.base(roleStopped, ref.Deployment)
	labels[r.lb.key(keyStack)] = ref.Stack
	if _, err := r.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: r.markerName(ref.Deployment, ref.Stack), Labels: labels}); err != nil {
		return fmt.Errorf("stop stack %s: mark it stopped: %w", ref, err)
	}
	secs := gracePeriod(r.opts.GracePeriod)
	var g errgroup.Group
	for _, c := range cs {
		g.Go(func() error {
			release, err := r.acquire(ctx)
			if err != nil {
				return err
			}
			defer release()
			if _, err := r.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
				return fmt.Errorf("stop container %s: %w", c.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("stop stack %s: %w", ref, err)
	}
	return nil
}

// Start starts a stopped stack again. It is Apply: unchanged containers
// are started as they are, anything that differs from spec is converged.
func (r *Runtime) Start(ctx context.Context, spec *runtime.StackSpec) error {
	_, err := r.apply(ctx, spec, nil)
	return err
}

// Restart restarts every container of the stack in place (stop with the
// grace period, start), after converging anything that differs from spec
// as Apply does. Wait tells when it is ready again.
func (r *Runtime) Restart(ctx context.Context, spec *runtime.StackSpec) error {
	untouched, err := r.apply(ctx, spec, nil)
	if err != nil {
		return err
	}
	secs := gracePeriod(r.opts.GracePeriod)
	var g errgroup.Group
	for _, c := range untouched {
		if c.state == container.StatePaused {
			continue
		}
		g.Go(func() error {
			release, err := r.acquire(ctx)
			if err != nil {
				return err
			}
			defer release()
			if _, err := r.cli.ContainerRestart(ctx, c.id, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
				return fmt.Errorf("restart container %s: %w", c.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("restart stack %s: %w", spec.Ref(), err)
	}
	return nil
}

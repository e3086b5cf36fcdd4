package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
)

// pull is one image pull in flight, shared by the calls that need it.
type pull struct {
	done chan struct{}
	err  error
}

// ensureImage makes sure the engine has image ref, following the pull
// policy. The error, when the image cannot be had, names the image and
// matches runtime.ErrImage.
func (r *Runtime) ensureImage(ctx context.Context, ref string) error {
	if r.opts.PullPolicy != PullAlways {
		_, err := r.cli.ImageInspect(ctx, ref)
		if err == nil {
			return nil
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("inspect image %s: %w", ref, err)
		}
		if r.opts.PullPolicy == PullNever {
			return runtime.WrapError(runtime.ErrImage, fmt.Errorf("image %s is not on the engine and the pull policy is Never", ref))
		}
	}
	if err := r.pull(ctx, ref); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pull image %s: %w", ref, ctx.Err())
		}
		return runtime.WrapError(runtime.ErrImage, fmt.Errorf("image %s is not on the engine and cannot be pulled: %w", ref, err))
	}
	return nil
}

// pull pulls ref once for all the calls that ask at the same time.
func (r *Runtime) pull(ctx context.Context, ref string) error {
	r.mu.Lock()
	p, inFlight := r.pulls[ref]
	if !inFlight {
		p = &pull{done: make(chan struct{})}
		r.pulls[ref] = p
	}
	r.mu.Unlock()
	if inFlight {
		select {
		case <-p.done:
			return p.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer func() {
		r.mu.Lock()
		delete(r.pulls, ref)
		r.mu.Unlock()
		close(p.done)
	}()
	pctx, cancel := context.WithTimeout(ctx, r.opts.PullTimeout)
	defer cancel()
	resp, err := r.cli.ImagePull(pctx, ref, client.ImagePullOptions{})
	if err != nil {
		p.err = err
		return err
	}
	defer resp.Close()
	p.err = resp.Wait(pctx)
	return p.err
}

// ensureImages checks the images of the services that need new containers,
// all before anything changes, and returns one error per service whose
// image is missing.
func (r *Runtime) ensureImages(ctx context.Context, spec *runtime.StackSpec, services []string) error {
	refs := map[string][]string{} // image -> services
	for _, name := range services {
		svc := spec.Stack.Service(name)
		refs[svc.Image.Ref()] = append(refs[svc.Image.Ref()], name)
	}
	type result struct {
		ref string
		err error
	}
	results := make(chan result, len(refs))
	for ref := range refs {
		go func() { results <- result{ref, r.ensureImage(ctx, ref)} }()
	}
	var errs []error
	for range refs {
		res := <-results
		if res.err == nil {
			continue
		}
		names := refs[res.ref]
		slices.Sort(names)
		for _, name := range names {
			reason := "ImagePullFailed"
			switch {
			case r.opts.PullPolicy == PullNever:
				reason = "ImageNotPresent"
			case !errors.Is(res.err, runtime.ErrImage):
				reason = ""
			}
			if reason == "" {
				errs = append(errs, fmt.Errorf("service %s: %w", name, res.err))
				continue
			}
			errs = append(errs, &runtime.ServiceError{Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: name, Reason: reason, Err: res.err})
		}
	}
	return joinSorted(errs)
}

package kube

import (
	"context"
	"fmt"
	"sync"

	"github.com/stackwave/stackwave/runtime"
)

var _ runtime.Watcher = (*Runtime)(nil)

// Watch reports the deployments whose objects change, from the runtime's
// informers (the watches it keeps on the API server for Apply and Wait):
// a Deployment deleted, scaled or edited with kubectl, a pod that dies or
// is deleted. Notifications of one deployment are merged while the
// previous one is being handled. It reports "" once it is registered with
// the informers, which have listed every object by then: every change from
// then on is reported. The informers list again by themselves when their
// watch breaks and report what changed meanwhile, so nothing is missed
// afterwards.
func (r *Runtime) Watch(ctx context.Context, notify func(deployment string)) error {
	if err := r.cache.synced(ctx); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	var mu sync.Mutex
	pending := map[string]bool{}
	wake := make(chan struct{}, 1)
	fn := func(dep string) {
		if dep == "" {
			return
		}
		mu.Lock()
		pending[dep] = true
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	c := r.cache
	c.mu.Lock()
	if c.watchers == nil {
		c.watchers = map[*func(string)]struct{}{}
	}
	c.watchers[&fn] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.watchers, &fn)
		c.mu.Unlock()
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	notify("")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
		mu.Lock()
		deps := pending
		pending = map[string]bool{}
		mu.Unlock()
		for dep := range deps {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			notify(dep)
		}
	}
}

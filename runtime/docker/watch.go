package docker

import (
	"context"

	"github.com/stackwave/stackwave/runtime"
)

var _ runtime.Watcher = (*Runtime)(nil)

// Watch reports the deployments whose containers start, die (docker stop,
// docker kill, a crash), run out of memory or are removed (docker rm -f),
// from the engine's event stream. When the stream breaks it reports ""
// once it is back, since events may have been lost.
func (r *Runtime) Watch(ctx context.Context, notify func(deployment string)) error {
	sub := r.hub.subscribe()
	defer sub.close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-sub.c:
			if dep := r.lb.get(m.Actor.Attributes, keyDeployment); dep != "" {
				notify(dep)
			}
		case <-sub.resync:
			if r.hub.isClosed() {
				return errClosed
			}
			notify("")
		}
	}
}

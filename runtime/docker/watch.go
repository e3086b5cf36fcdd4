package docker

import (
	"context"

	"github.com/stackwave/stackwave/runtime"
)

var _ runtime.Watcher = (*Runtime)(nil)

// Watch reports the deployments whose containers start, die (docker stop,
// docker kill, a crash), run out of memory or are removed (docker rm -f),
// from the engine's event stream. It reports "" once it is subscribed
// (the stream replays the engine's events from shortly before the
// subscription, so every change from then on is reported), and again
// whenever events may have been lost: the stream broke, or this watch fell
// behind.
func (r *Runtime) Watch(ctx context.Context, notify func(deployment string)) error {
	sub := r.hub.subscribe()
	defer sub.close()
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.hub.isClosed() {
		return errClosed
	}
	notify("")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-sub.c:
			if dep := r.lb.get(m.Actor.Attributes, keyDeployment); dep != "" && ctx.Err() == nil {
				notify(dep)
			}
		case <-sub.resync:
			if r.hub.isClosed() {
				return errClosed
			}
			if ctx.Err() == nil {
				notify("")
			}
		}
	}
}

package docker

import (
	"context"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// endpointWatch follows the engine's disconnect events of a deployment's
// network during a teardown, to tell when a stopping container's endpoint
// has left the network. The engine releases the endpoint as soon as the
// container's process has exited, before it unmounts the container's
// files and before the stop call returns, so a stop need only hold its
// slot of the runtime's bound (which is there for the endpoint count of
// Engine 20.10, moby/moby#42119) until then. Without the event (the
// stream is slow or broken) the stop's return says it, later.
type endpointWatch struct {
	offset time.Duration // the engine's clock minus this host's
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	armed map[string]*leaving // by container ID
}

// leaving is one container whose stop was sent.
type leaving struct {
	since time.Time     // when the stop was sent, by the engine's clock
	left  chan struct{} // closed at the container's disconnect event
}

// watchEndpoints starts following the disconnect events of the
// deployment's network. stop must be called when the teardown ends.
func (r *Runtime) watchEndpoints(ctx context.Context, dep string) *endpointWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &endpointWatch{offset: r.hub.clockOffset(), cancel: cancel, done: make(chan struct{}), armed: map[string]*leaving{}}
	f := make(client.Filters).Add("type", string(events.NetworkEventType)).
		Add("event", string(events.ActionDisconnect)).Add("network", r.networkName(dep))
	// The stream starts a moment before now, so that no event is lost
	// while it is set up; events older than a container's stop are
	// ignored.
	ev := r.cli.Events(ctx, client.EventsListOptions{Since: timestamp(time.Now().Add(w.offset - time.Second)), Filters: f})
	go func() {
		defer close(w.done)
		for {
			select {
			case m := <-ev.Messages:
				w.disconnected(m.Actor.Attributes["container"], eventTime(m))
			case <-ev.Err:
				return
			}
		}
	}()
	return w
}

// arm is called just before a container's stop is sent: the returned
// channel is closed when its endpoint leaves the network.
func (w *endpointWatch) arm(id string) <-chan struct{} {
	l := &leaving{since: time.Now().Add(w.offset - clockTolerance), left: make(chan struct{})}
	w.mu.Lock()
	w.armed[id] = l
	w.mu.Unlock()
	return l.left
}

// clockTolerance allows for the error in the estimate of the engine's
// clock.
const clockTolerance = 10 * time.Millisecond

func (w *endpointWatch) disconnected(id string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l, ok := w.armed[id]
	if !ok || at.Before(l.since) {
		return
	}
	close(l.left)
	delete(w.armed, id)
}

// stop ends the stream and waits for its goroutine.
func (w *endpointWatch) stop() {
	w.cancel()
	<-w.done
}

package docker

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/stackwave/stackwave/internal/waitfor"
)

func inspected(id string, status container.ContainerState, health container.HealthStatus, started time.Time) container.InspectResponse {
	return container.InspectResponse{ID: id, State: &container.State{
		Status: status, Running: status == container.StateRunning, StartedAt: started.Format(time.RFC3339Nano),
		Health: &container.Health{Status: health},
	}}
}

func event(id string, action events.Action, at time.Time) events.Message {
	return events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id}, TimeNano: at.UnixNano()}
}

func TestInspectCache(t *testing.T) {
	started := time.Now().Add(-time.Minute)
	var c inspectCache
	running := container.StateRunning

	// Nothing is kept while the stream does not run.
	c.put(c.token(), inspected("a", running, container.Starting, started))
	if _, ok := c.get("a", running); ok {
		t.Fatal("an inspection was kept with no event stream")
	}

	c.start()
	c.put(c.token(), inspected("a", running, container.Starting, started))
	if res, ok := c.get("a", running); !ok || res.State.Health.Status != container.Starting {
		t.Fatalf("get after put: %v %+v", ok, res.State)
	}
	if _, ok := c.get("a", container.StateExited); ok {
		t.Error("an entry was returned for a container the list shows in another state")
	}

	// A health event sets the health, without changing what was handed
	// out.
	before, _ := c.get("a", running)
	c.event(event("a", events.ActionHealthStatus+": healthy", time.Now()))
	if res, ok := c.get("a", running); !ok || res.State.Health.Status != container.Healthy {
		t.Fatalf("after health_status: healthy: %v %+v", ok, res.State.Health)
	}
	if before.State.Health.Status != container.Starting {
		t.Error("the health event changed an inspection already handed out")
	}

	// Any other event drops the entry.
	c.event(event("a", events.ActionDie, time.Now()))
	if _, ok := c.get("a", running); ok {
		t.Error("the entry stayed after a die event")
	}

	// An inspection begun before an event of its container is not kept.
	tok := c.token()
	c.event(event("b", events.ActionDie, time.Now()))
	c.put(tok, inspected("b", running, container.Starting, started))
	if _, ok := c.get("b", running); ok {
		t.Error("an inspection older than the container's last event was kept")
	}
	// The start of the run an inspection shows does not drop it, begun
	// before or after it; an exit or a health change does.
	tok = c.token()
	c.event(event("s", events.ActionStart, time.Now()))
	c.put(tok, inspected("s", running, container.Starting, started))
	if _, ok := c.get("s", running); !ok {
		t.Error("the start of the run an inspection shows kept it out")
	}
	c.event(event("s", events.ActionStart, time.Now()))
	if _, ok := c.get("s", running); !ok {
		t.Error("the start of the run an inspection shows dropped it")
	}
	tok = c.token()
	c.event(event("e", events.ActionStart, time.Now()))
	c.put(tok, inspected("e", container.StateExited, container.Starting, started))
	if _, ok := c.get("e", container.StateExited); ok {
		t.Error("an inspection of an exited container older than its start was kept")
	}
	tok = c.token()
	c.event(event("h", events.ActionHealthStatus+": healthy", time.Now()))
	c.put(tok, inspected("h", running, container.Starting, started))
	if _, ok := c.get("h", running); ok {
		t.Error("an inspection older than a health event was kept")
	}

	// An event of another container does not matter.
	tok = c.token()
	c.event(event("x", events.ActionStart, time.Now()))
	c.put(tok, inspected("b", running, container.Starting, started))
	if _, ok := c.get("b", running); !ok {
		t.Error("an event of another container kept an inspection out")
	}

	// A break of the stream drops everything, and inspections begun
	// before it; until the stream is back (the hub starts the cache
	// again), nothing is kept: an event meanwhile comes only with the
	// replay.
	tok = c.token()
	c.stop()
	if _, ok := c.get("b", running); ok {
		t.Error("an entry stayed after the stream broke")
	}
	c.put(c.token(), inspected("c", running, container.Healthy, started))
	if _, ok := c.get("c", running); ok {
		t.Error("an inspection made while the stream was broken was kept")
	}
	c.start()
	c.put(tok, inspected("c", running, container.Healthy, started))
	if _, ok := c.get("c", running); ok {
		t.Error("an inspection begun before the break was kept")
	}

	c.put(c.token(), inspected("d", running, container.Healthy, started))
	c.stop()
	if _, ok := c.get("d", running); ok {
		t.Error("an entry stayed after the stream stopped")
	}
}

// TestInspectCacheWaitsForTheStream checks that the hub's cache keeps no
// inspection until the engine has answered the events request: an event
// between such an inspection and the stream's start would reach the
// cache only with the replay, after readers had taken the stale entry.
func TestInspectCacheWaitsForTheStream(t *testing.T) {
	asked := make(chan struct{}, 4)
	release := make(chan struct{})
	r := fakeEngineRuntime(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/info"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"NCPU":2,"SystemTime":%q}`, time.Now().Format(time.RFC3339Nano))
		case strings.HasSuffix(r.URL.Path, "/events"):
			asked <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	sub := r.hub.subscribe()
	defer sub.close()
	select {
	case <-asked:
	case <-time.After(waitfor.Generous):
		t.Fatal("the hub never asked for events")
	}
	running := container.StateRunning
	kept := func() bool {
		r.hub.cache.put(r.hub.cache.token(), inspected("a", running, container.Healthy, time.Now()))
		_, ok := r.hub.cache.get("a", running)
		return ok
	}
	if kept() {
		t.Error("an inspection was kept while the engine had not answered the events request")
	}
	close(release)
	if !waitfor.True(waitfor.Generous, 10*time.Millisecond, kept) {
		t.Error("no inspection was kept once the stream ran")
	}
}

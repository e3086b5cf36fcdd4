package docker

import (
	"strings"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// inspectCache keeps the inspections of the runtime's containers while
// the engine's event stream runs (from the moment the engine answered the
// events request until the stream breaks or stops), so that Observe right after a launch
// (a final report, a status) inspects only what changed since Wait last
// looked. An entry stands only while no event could have changed it:
// any event of the container drops it, except a health_status event,
// which sets the health it reports, and the start of the run it shows;
// a break or stop of the stream drops them all. Observe also checks an entry against the state the
// container list shows.
type inspectCache struct {
	mu      sync.Mutex
	live    bool             // the stream runs: entries are kept only then
	session uint64           // changes whenever the stream starts, breaks or stops
	seq     uint64           // counts events
	touched map[string]touch // container ID: its last events
	entries map[string]*container.InspectResponse
}

// touch is when a container's last events came, by seq: its last start
// event, and its last other event.
type touch struct{ start, other uint64 }

// inspectToken is taken before an inspection and given with its result.
type inspectToken struct{ session, seq uint64 }

// start marks the stream running, with no entry.
func (c *inspectCache) start() { c.reset(true) }

// stop drops every entry and keeps none until the stream runs again.
func (c *inspectCache) stop() { c.reset(false) }

func (c *inspectCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.clear()
}

func (c *inspectCache) clear() {
	c.session++
	c.touched, c.entries = nil, nil
}

// token returns the token of an inspection about to be made.
func (c *inspectCache) token() inspectToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	return inspectToken{c.session, c.seq}
}

// put keeps an inspection made after t was taken, unless the stream
// stopped or broke since, or an event of the container came since, other
// than its start when the inspection shows it running: a container
// starts again only after a die event, so that start is the run shown.
func (c *inspectCache) put(t inspectToken, res container.InspectResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || t.session != c.session || res.State == nil {
		return
	}
	if tc := c.touched[res.ID]; tc.other > t.seq || tc.start > t.seq && !res.State.Running {
		return
	}
	if c.entries == nil {
		c.entries = map[string]*container.InspectResponse{}
	}
	c.entries[res.ID] = &res
}

// get returns the kept inspection of a container whose listed state is
// state.
func (c *inspectCache) get(id string, state container.ContainerState) (container.InspectResponse, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.entries[id]
	if !c.live || res == nil || res.State.Status != state {
		return container.InspectResponse{}, false
	}
	return *res, true
}

// event records an event of the stream.
func (c *inspectCache) event(m events.Message) {
	id := m.Actor.ID
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if c.touched == nil {
		c.touched = map[string]touch{}
	}
	tc := c.touched[id]
	if m.Action == events.ActionStart {
		tc.start = c.seq
	} else {
		tc.other = c.seq
	}
	c.touched[id] = tc
	res := c.entries[id]
	if res == nil {
		return
	}
	if m.Action == events.ActionStart && res.State.Running {
		return // the run shown: a new one comes after a die event
	}
	status, ok := strings.CutPrefix(string(m.Action), string(events.ActionHealthStatus)+": ")
	if !ok || eventTime(m).Before(parseTime(res.State.StartedAt)) {
		delete(c.entries, id)
		return
	}
	// A new health: copy what changes, the entry may have been handed
	// out.
	st := *res.State
	h := container.Health{}
	if st.Health != nil {
		h = *st.Health
	}
	h.Status = container.HealthStatus(status)
	st.Health = &h
	cp := *res
	cp.State = &st
	c.entries[id] = &cp
}

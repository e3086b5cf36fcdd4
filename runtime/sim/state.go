package sim

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// deployment holds what exists of one deployment. Each stack has its own
// lock, so calls for different stacks never wait for each other beyond
// a map lookup. Locks are taken in the order deployment, stack, volumes.
type deployment struct {
	mu     sync.RWMutex // guards stacks
	stacks map[string]*stackState

	volMu   sync.Mutex // guards volumes
	volumes map[string]*volume
}

// lock returns the named stack locked, or nil when it does not exist.
func (d *deployment) lock(name string) *stackState {
	d.mu.RLock()
	st := d.stacks[name]
	d.mu.RUnlock()
	if st == nil {
		return nil
	}
	st.mu.Lock()
	if st.removed {
		st.mu.Unlock()
		return nil
	}
	return st
}

// lockOrCreate returns the named stack locked, creating it with room for
// n services when it does not exist.
func (d *deployment) lockOrCreate(name string, n int) *stackState {
	for {
		d.mu.RLock()
		st := d.stacks[name]
		d.mu.RUnlock()
		if st == nil {
			d.mu.Lock()
			if st = d.stacks[name]; st == nil {
				st = &stackState{name: name, services: make([]service, 0, n)}
				d.stacks[name] = st
			}
			d.mu.Unlock()
		}
		st.mu.Lock()
		if !st.removed {
			return st
		}
		st.mu.Unlock() // removed since the lookup; look again
	}
}

type stackState struct {
	mu                   sync.Mutex // guards the fields below
	name                 string
	tier                 int
	productID, versionID string
	services             []service // sorted by name
	stopped              bool
	// removed is set when the stack is removed, for Wait calls that
	// still hold it.
	removed bool
	// changed is closed, and reset to nil, whenever something changes
	// the stack outside the calls that wait on it; nil until a waiter
	// asks for it.
	changed chan struct{}
}

type service struct {
	name, hash string
	image      stack.Image
	desired    int
	instances  []instance // sorted by number
	endpoints  []endpoint
	// applied is the generation of the last Apply that kept the service;
	// services an Apply did not keep are dropped at its end.
	applied uint64
}

// instance is one simulated container; a service's instances are
// numbered from 1 by their place in its list. Its state at a time t
// follows from the times it holds, so nothing runs in the background.
type instance struct {
	name, id   string
	startedAt  time.Time
	readyAt    time.Time
	neverReady bool
	notReady   string    // why it is never ready; may be empty
	exitAt     time.Time // zero: no exit scheduled
	exitCode   int
	stopped    bool
}

// endpoint is an access point's port; its addresses are spelt out when
// observed.
type endpoint struct {
	typ, proto    string
	backend, host int // host: the port published on 127.0.0.1, or 0
}

type volume struct {
	runtime.VolumeState
}

func (st *stackState) find(name string) *service {
	i, ok := slices.BinarySearchFunc(st.services, name, func(s service, name string) int { return cmp.Compare(s.name, name) })
	if !ok {
		return nil
	}
	return &st.services[i]
}

// insert adds svc in name order and returns where it now lives.
func (st *stackState) insert(svc service) *service {
	i, _ := slices.BinarySearchFunc(st.services, svc.name, func(s service, name string) int { return cmp.Compare(s.name, name) })
	st.services = slices.Insert(st.services, i, svc)
	return &st.services[i]
}

// notify wakes the calls waiting on the stack.
func (st *stackState) notify() {
	if st.changed != nil {
		close(st.changed)
		st.changed = nil
	}
}

// wake returns a channel closed at the stack's next change.
func (st *stackState) wake() <-chan struct{} {
	if st.changed == nil {
		st.changed = make(chan struct{})
	}
	return st.changed
}

func (in *instance) exited(now time.Time) bool {
	return !in.exitAt.IsZero() && !now.Before(in.exitAt)
}

func (in *instance) running(now time.Time) bool {
	return !in.stopped && !in.exited(now)
}

func (in *instance) ready(now time.Time) bool {
	return in.running(now) && !in.neverReady && !now.Before(in.readyAt)
}

func (in *instance) state(now time.Time) runtime.InstanceState {
	s := runtime.InstanceState{
		Name:      in.name,
		ID:        in.id,
		Running:   in.running(now),
		Ready:     in.ready(now),
		StartedAt: in.startedAt,
	}
	switch {
	case in.stopped:
		s.Reason = "Stopped"
	case in.exited(now):
		s.Reason, s.ExitCode = "Exited", in.exitCode
	case !s.Ready:
		s.Reason = "NotReady"
	}
	return s
}

// notRunning counts the instances that are not running.
func (s *service) notRunning(now time.Time) int {
	n := 0
	for i := range s.instances {
		if !s.instances[i].running(now) {
			n++
		}
	}
	return n
}

func (s *service) state(now time.Time, ref runtime.StackRef, baseDomain string) runtime.ServiceState {
	out := runtime.ServiceState{
		Name:      s.name,
		Hash:      s.hash,
		Image:     s.image.Ref(),
		Desired:   s.desired,
		Instances: make([]runtime.InstanceState, len(s.instances)),
	}
	for i := range s.instances {
		out.Instances[i] = s.instances[i].state(now)
	}
	if len(s.endpoints) > 0 {
		out.Endpoints = make([]runtime.Endpoint, len(s.endpoints))
	}
	for i, ep := range s.endpoints {
		e := runtime.Endpoint{
			Type:        ep.typ,
			Proto:       ep.proto,
			BackendPort: ep.backend,
			Internal:    s.name + "." + ref.Stack + ":" + strconv.Itoa(ep.backend),
		}
		if ep.host != 0 {
			e.Address = "127.0.0.1:" + strconv.Itoa(ep.host)
		}
		if ep.typ == stack.AccessDomain {
			e.Host = s.name + "." + ref.Stack + "." + ref.Deployment + "." + baseDomain
		}
		out.Endpoints[i] = e
	}
	return out
}

func (st *stackState) state(now time.Time, deployment, baseDomain string) runtime.StackState {
	out := runtime.StackState{
		Name:      st.name,
		Tier:      st.tier,
		ProductID: st.productID,
		VersionID: st.versionID,
		Services:  make([]runtime.ServiceState, len(st.services)),
		Stopped:   st.stopped,
	}
	ref := runtime.StackRef{Deployment: deployment, Stack: st.name}
	for i := range st.services {
		out.Services[i] = st.services[i].state(now, ref, baseDomain)
	}
	return out
}

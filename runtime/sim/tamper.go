package sim

import (
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Change is a change made to a service behind the runtime's back, as
// someone with access to the engine would make it: docker rm -f, docker
// stop, kubectl set image, kubectl scale.
type Change struct {
	// Kind says what the change does.
	Kind ChangeKind
	// Image is the new image of an ImageChange.
	Image stack.Image
	// Instances is the new instance count of a ScaleChange.
	Instances int
}

// ChangeKind is the kind of a Change.
type ChangeKind int

// Change kinds.
const (
	// RemoveChange deletes every instance of the service (docker rm -f,
	// kubectl delete deployment). A stack left with no service is gone.
	RemoveChange ChangeKind = iota + 1
	// StopChange stops every instance of the service (docker stop); the
	// stack is not marked stopped, as runtime.Lifecycle's Stop marks it.
	StopChange
	// ImageChange replaces the instances with ones running another
	// image, keeping the configuration hash label (kubectl set image).
	ImageChange
	// ScaleChange sets the number of instances (kubectl scale).
	ScaleChange
)

// Tamper changes a service of a stack behind the runtime's back, for
// tests of drift detection and repair. It reports false when the service
// does not exist. A Wait on the stack sees the change at once.
func (r *Runtime) Tamper(deployment, stackName, service string, c Change) bool {
	d := r.deployment(deployment, false)
	if d == nil {
		return false
	}
	now := time.Now()
	// Locks in the package's order: deployment, then stack.
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stacks[stackName]
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	svc := st.find(service)
	if svc == nil {
		return false
	}
	ref := runtime.StackRef{Deployment: deployment, Stack: stackName}
	w := &work{name: service}
	switch c.Kind {
	case RemoveChange:
		for i := range st.services {
			if st.services[i].name == service {
				st.services = append(st.services[:i], st.services[i+1:]...)
				break
			}
		}
		if len(st.services) == 0 {
			delete(d.stacks, stackName)
			st.removed = true
		}
	case StopChange:
		for k := range svc.instances {
			svc.instances[k].stopped = true
		}
	case ImageChange:
		svc.image = c.Image
		for k := range svc.instances {
			r.newInstance(&svc.instances[k], ref, w, k+1, now)
		}
	case ScaleChange:
		n := max(c.Instances, 0)
		if n < len(svc.instances) {
			svc.instances = svc.instances[:n]
		}
		for k := len(svc.instances); k < n; k++ {
			svc.instances = append(svc.instances, instance{})
			r.newInstance(&svc.instances[k], ref, w, k+1, now)
		}
		svc.desired = n
	default:
		return false
	}
	st.notify()
	r.changed(deployment)
	return true
}

// Package runtime defines the back-end interface through which stackwave
// runs stacks: Docker (runtime/docker), Kubernetes (runtime/kube) and the
// in-memory simulation embedders use in unit tests (runtime/sim). Every
// back-end passes the conformance suite in runtime/runtimetest.
//
// The deploy package drives a Runtime one stack at a time: Apply makes the
// stack's services match a spec, Wait blocks until they are ready, Remove
// deletes them, and Observe rebuilds the whole picture of a deployment from
// what the back-end itself holds (labels, objects), so a control plane that
// restarts loses nothing.
//
// Optional capabilities are interfaces a runtime may implement as well:
// Lifecycle (stop, start, restart in place), VolumeLister,
// DeploymentRemover, ConcurrencyHinter, Addresser, ErrorMapper,
// TierRelabeler, Watcher and LogReader (what services write to stdout and
// stderr, read or followed; see logs.go). CapabilitiesOf tells which a
// value implements. Wrap puts hooks around a runtime's calls (logging,
// metrics, tracing) and keeps exactly the capabilities of the runtime it
// wraps, which a struct embedding Runtime would hide; runtimetest fails a
// runtime whose capabilities differ from those its harness declares.
package runtime

import (
	"context"
	"time"

	"github.com/stackwave/stackwave/stack"
)

// Runtime runs the stacks of deployments.
//
// Contract (runtime/runtimetest checks every rule of it, and of the
// optional interfaces below):
//
//   - Methods may be called concurrently, for different stacks of one
//     deployment and for different deployments. Calls for one stack are
//     never concurrent.
//   - Apply is idempotent: applying a spec whose ServiceHash values are
//     unchanged touches nothing (same instances, same IDs, same start
//     times) and reports only EventServiceUnchanged for each service. A
//     service whose hash changed is replaced, every instance of it new
//     (EventServiceReplaced), and the other services untouched; a
//     service that is no longer in the spec is removed
//     (EventServiceRemoved) without touching the others; a changed
//     instance count adds or removes instances without replacing the
//     others (EventServiceScaled): scaling up keeps the running ones,
//     scaling down keeps the first. A new service reports
//     EventServiceCreated. A stack applied again with another Tier
//     moves there (see TierRelabeler). Apply repairs what was changed
//     behind the runtime's back: missing instances are created, stopped
//     ones started, and those running another image than the spec's
//     replaced, whatever their labels say, and reports what it did for
//     the service. Apply returns once the services exist and are
//     started; it does not wait for readiness.
//   - Wait returns nil once every instance of every service is ready by
//     its probe, reporting EventServiceReady for each service (and
//     EventServiceWaiting while it waits), or an error as soon as one
//     fails (exits, is killed, crash-loops, cannot pull its image)
//     without waiting out a timeout, reporting EventServiceFailed. A
//     failure is a *ServiceError matching ErrFailed (ErrImage for an
//     image that cannot be pulled); a service still not ready when its
//     probe's timeout, or else spec.ReadyTimeout, counted from the call,
//     runs out is a *ServiceError matching ErrNotReady, not earlier.
//     A ServiceError names the stack and service (and the deployment,
//     if at all, as the spec's), gives a Reason, and, where the back-end
//     knows them, the exit code and the last log lines. Waiting for a
//     stack that does not exist fails with an error matching
//     ErrNotFound.
//   - Methods that take a Reporter report progress through it. It may be
//     nil and must not block for long; a runtime calls it from one
//     goroutine at a time and never after the method returned. Every
//     event names its stack (and service, when about one) and has a
//     time.
//   - Remove deletes a stack's services and everything the runtime
//     created for them, leaving the deployment's other stacks alone;
//     volumes survive unless opts.DeleteData is set, and an Apply of the
//     stack again mounts the kept ones. Removing a stack that does not
//     exist is not an error, and with opts.DeleteData it still deletes
//     the volumes an earlier Remove kept.
//   - Observe reports what exists for a deployment, from the back-end's
//     own state alone, so that a new Runtime on the same back-end (a
//     restarted control plane) observes exactly what another applied
//     and carries on from it: the deployment's name; stacks by tier
//     then name, each with its tier, ProductID and VersionID; services
//     by name, each with the hash it was applied with (ServiceHash),
//     the image it runs and the instances asked for (Desired); each
//     instance with a name and an ID unique on the back-end (across
//     deployments too), its start time, and whether it runs and is
//     ready (an exited instance does not run; a stack that Stop stopped
//     runs none). Compare then judges drift the same way for every
//     runtime. A stack is Stopped only when Lifecycle's Stop stopped it.
//     A deployment with nothing is reported with no stacks, not as an
//     error.
//   - Observe reports an Endpoint of each access point's backend ports,
//     with its Type and BackendPort: for AccessDomain, Host is
//     "<service>.<stack>.<deployment>." followed by the runtime's base
//     domain (lower case, as DNS names are); AccessPublicIP and
//     AccessDomain ports carry the published Address ("host:port") when
//     the runtime publishes them; every endpoint carries its
//     in-deployment Internal address when the runtime knows it.
//   - Deployments are isolated: what a call does to one deployment
//     leaves every other alone, and they share no instance name or ID.
//   - RunInit reports EventInitScript for the script's service.
//   - A cancelled context makes a method return promptly with an error
//     wrapping ctx.Err(), an Apply given an already cancelled one as
//     well; what was created so far stays and a later Apply converges
//     it.
//   - Errors may be the back-end's native errors. Callers turn them into
//     the sentinels of this package with MapError, which must match the
//     sentinels named above.
type Runtime interface {
	// Name identifies the back-end ("docker", "kube", "sim").
	Name() string
	Apply(ctx context.Context, spec *StackSpec, report Reporter) error
	Wait(ctx context.Context, spec *StackSpec, report Reporter) error
	Remove(ctx context.Context, ref StackRef, opts RemoveOptions) error
	Observe(ctx context.Context, deployment string) (*DeploymentState, error)
	// RunInit runs the init script with the given index of a ready
	// stack once to completion; a non-zero exit is a *ServiceError
	// matching ErrFailed with the exit code and the script's output as
	// Logs. Running the same script of the same stack spec again after
	// it succeeded may run it again; the caller records which scripts
	// ran.
	RunInit(ctx context.Context, spec *StackSpec, index int, report Reporter) error
}

// Lifecycle is implemented by runtimes that can stop, start and restart
// a stack in place, keeping its configuration and data. After Stop,
// Observe reports the stack Stopped, with no instance running and every
// service's hash kept, and Compare judges it in sync; after Start or
// Restart every instance runs anew (a new instance, or the same one with
// a later start time) and Wait waits for it as after Apply.
type Lifecycle interface {
	Stop(ctx context.Context, ref StackRef) error
	Start(ctx context.Context, spec *StackSpec) error
	Restart(ctx context.Context, spec *StackSpec) error
}

// VolumeLister is implemented by runtimes that keep volumes, so callers
// can see the data that Remove without DeleteData leaves behind.
type VolumeLister interface {
	// Volumes lists the volumes of a deployment's stacks, present and
	// removed alike, sorted by stack, service and name.
	Volumes(ctx context.Context, deployment string) ([]VolumeState, error)
}

// DeploymentRemover is implemented by runtimes that can remove a whole
// deployment in one pass, cheaper than a Remove per stack: objects are
// found by their labels (no inspection of each), removed concurrently,
// and volumes go in the same pass when opts.DeleteData is set.
type DeploymentRemover interface {
	// RemoveDeployment removes every stack of the deployment, those
	// named in tiers and any other the runtime finds, with the same
	// guarantees as Remove on each. The stacks of tiers[i] are removed
	// before those of tiers[i-1] begin, as a teardown removes the last
	// tier first; stacks not named go first. It returns ErrNotSupported
	// when the one pass cannot honour opts for this deployment (the
	// caller then removes stack by stack). Removing a deployment that
	// does not exist is not an error.
	RemoveDeployment(ctx context.Context, deployment string, tiers [][]string, opts RemoveOptions) error
}

// ConcurrencyHinter is implemented by runtimes that know how many calls
// suit their engine at once. Callers that bound concurrent Apply, Wait
// and Remove calls (deploy.Executor when its Concurrency option is zero)
// use the hint: many short API calls suit Kubernetes, while container
// starts on a small Docker host saturate its cores with a few.
type ConcurrencyHinter interface {
	// Concurrency returns the number of concurrent stack operations
	// that suits the engine; a value below 1 means no hint.
	Concurrency() int
}

// Concurrency returns rt's hint, or def when rt gives none.
func Concurrency(rt Runtime, def int) int {
	if h, ok := rt.(ConcurrencyHinter); ok {
		if n := h.Concurrency(); n > 0 {
			return n
		}
	}
	return def
}

// Addresser is implemented by runtimes whose services reach each other by
// host names other than "<service>.<stack>" (Kubernetes reaches a service
// through its Service object). Config templates use it for the host and
// addr functions.
type Addresser interface {
	// ServiceHost returns the host name by which the services of a
	// deployment reach the named service: a DNS name (lower-case labels
	// of letters, digits and '-', joined by dots), the same for every
	// call, and another for every other service of the deployment.
	ServiceHost(deployment, stack, service string) string
}

// ServiceHost returns the host name by which the services of a deployment
// reach a service on rt: the runtime's own answer when it implements
// Addresser, else "<service>.<stack>".
func ServiceHost(rt Runtime, deployment, stackName, service string) string {
	if a, ok := rt.(Addresser); ok {
		return a.ServiceHost(deployment, stackName, service)
	}
	return service + "." + stackName
}

// ErrorMapper is implemented by runtimes whose native errors MapError
// should translate.
type ErrorMapper interface {
	// MapError returns err wrapped so that it matches one of this
	// package's sentinels, or err unchanged when it knows none (nil for
	// nil).
	MapError(err error) error
}

// TierRelabeler is implemented by runtimes that move a stack to another
// tier (an Apply of the same stack with another StackSpec.Tier) by
// relabelling what runs, without replacing instances. A runtime that
// does not implement it replaces the stack's instances on such a move
// (Docker: container labels cannot change). Either way, Observe then
// reports the new tier.
type TierRelabeler interface {
	// RelabelsTier reports whether tier moves relabel in place.
	RelabelsTier() bool
}

// RelabelsTier reports whether rt moves stacks to another tier in place.
func RelabelsTier(rt Runtime) bool {
	t, ok := rt.(TierRelabeler)
	return ok && t.RelabelsTier()
}

// Reporter receives progress events from a runtime call. It may be nil.
type Reporter func(Event)

// Emit calls r if it is not nil.
func (r Reporter) Emit(e Event) {
	if r != nil {
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		r(e)
	}
}

// StackRef names one stack of one deployment.
type StackRef struct {
	Deployment string
	Stack      string
}

func (r StackRef) String() string { return r.Deployment + "/" + r.Stack }

// StackSpec is everything a runtime needs to run one stack.
type StackSpec struct {
	// Deployment is the deployment name, a DNS-1123 label.
	Deployment string
	// ProductName, ProductID and VersionID label what the runtime
	// creates, so Observe can report them.
	ProductName string
	ProductID   string
	VersionID   string
	// Tier is the index of the stack's tier in stack_deps.
	Tier int
	// Stack is the stack's spec. Instance counts already include any
	// scaling done after launch.
	Stack stack.Stack
	// Files holds the rendered config files of each service, by service
	// name and absolute path.
	Files map[string]map[string][]byte
	// Catalog sizes unit and volume types; nil means
	// stack.DefaultCatalog().
	Catalog *stack.Catalog
	// ReadyTimeout bounds Wait for services whose probe has no timeout;
	// zero means no bound beyond the context.
	ReadyTimeout time.Duration
}

// Ref returns the StackRef of the spec.
func (s *StackSpec) Ref() StackRef { return StackRef{Deployment: s.Deployment, Stack: s.Stack.Name} }

// Unit returns the compute size of a service.
func (s *StackSpec) Unit(svc *stack.Service) (stack.Unit, error) {
	return s.catalog().Unit(svc.UnitType)
}

// Volume returns the class and size of a volume.
func (s *StackSpec) Volume(v *stack.VolumeArg) (stack.Volume, error) {
	return s.catalog().Volume(v.UnitType)
}

var defaultCatalog = stack.DefaultCatalog()

func (s *StackSpec) catalog() *stack.Catalog {
	if s.Catalog == nil {
		return defaultCatalog
	}
	return s.Catalog
}

// RemoveOptions tune Remove.
type RemoveOptions struct {
	// DeleteData also deletes the stack's volumes.
	DeleteData bool
	// GracePeriod is how long services get to stop before they are
	// killed; zero means the runtime's default.
	GracePeriod time.Duration
}

// EventType is the kind of a runtime event.
type EventType string

// Runtime event types.
const (
	EventServiceCreated   EventType = "service-created"
	EventServiceReplaced  EventType = "service-replaced"
	EventServiceUnchanged EventType = "service-unchanged"
	EventServiceRemoved   EventType = "service-removed"
	EventServiceScaled    EventType = "service-scaled"
	EventServiceWaiting   EventType = "service-waiting"
	EventServiceReady     EventType = "service-ready"
	EventServiceFailed    EventType = "service-failed"
	EventInitScript       EventType = "init-script"
)

// Event is something a runtime did or saw.
type Event struct {
	Type     EventType
	Stack    string
	Service  string
	Instance string
	Time     time.Time
	Message  string
}

// Watcher is implemented by runtimes that can tell, as it happens, that
// something of a deployment changed on the back-end (an instance started,
// died, was stopped or removed), so a reconciler looks at it early
// instead of at its next interval.
//
// Contract (runtime/runtimetest checks every rule of it):
//
//   - Watch calls notify with the name of each deployment whose objects
//     changed, whether through the runtime (Apply, Remove, Stop, a
//     scale) or behind its back (docker rm -f, a pod deleted with
//     kubectl), soon after the back-end shows the change. Notifications
//     are hints: they may repeat, may name a deployment that did not
//     change, and the back-end's state is read with Observe.
//   - An empty name means "changes may have been missed: look at every
//     deployment". Watch calls notify("") once its stream is
//     established, every change made from then on being notified, so a
//     caller that starts Watch and treats "" as a full look misses no
//     change made after its last Observe, even one made before the
//     stream began; and again after each re-establishment of the
//     stream (the engine's stream broke, or notifications were dropped
//     because notify fell behind).
//   - notify is called from one goroutine at a time and must not block
//     for long.
//   - When ctx is done, Watch returns ctx's error (or an error wrapping
//     it) promptly, and notify is never called after Watch returned.
//     It may return earlier with an error of its own when it cannot
//     watch (the runtime was closed, the engine cannot be reached).
type Watcher interface {
	Watch(ctx context.Context, notify func(deployment string)) error
}

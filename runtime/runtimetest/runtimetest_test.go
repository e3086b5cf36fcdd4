package runtimetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

// simHarness adapts the suite to a simulated runtime; newRuntime wraps
// it to break it on purpose.
func simHarness(newRuntime func(rt *sim.Runtime) runtime.Runtime) *runtimetest.Harness {
	var readyAfter, behaviors sync.Map
	rt := sim.New(&sim.Options{Latency: func(d, s, svc string) (time.Duration, time.Duration) {
		ready, _ := readyAfter.Load(d + "/" + s + "/" + svc)
		r, _ := ready.(time.Duration)
		return 0, r
	}, Output: func(d, s, svc string) (stdout, stderr []string) {
		v, _ := behaviors.Load(d + "/" + s + "/" + svc)
		b, _ := v.(runtimetest.Behavior)
		for i := 1; i <= b.LogLines; i++ {
			stdout = append(stdout, fmt.Sprintf("log line %d/%d", i, b.LogLines))
		}
		if b.Stderr != "" {
			stderr = append(stderr, b.Stderr)
		}
		return stdout, stderr
	}})
	var deployments atomic.Int64
	return &runtimetest.Harness{
		NewRuntime: func(*testing.T) runtime.Runtime { return newRuntime(rt) },
		Deployment: func(*testing.T) string { return "d" + strconv.FormatInt(deployments.Add(1), 10) },
		Service: func(_ *testing.T, ref runtime.StackRef, name string, b runtimetest.Behavior) stack.Service {
			readyAfter.Store(ref.String()+"/"+name, b.ReadyAfter)
			behaviors.Store(ref.String()+"/"+name, b)
			f := sim.Fault{Deployment: ref.Deployment, Stack: ref.Stack, Service: name}
			if b.NeverReady {
				f.Kind = sim.NeverReady
				rt.Inject(f)
			}
			if b.Exit {
				f.Kind, f.After, f.ExitCode = sim.ExitOnStart, b.ExitAfter, b.ExitCode
				rt.Inject(f)
			}
			return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "example/" + name, Tag: "1"}}
		},
		InitScript: func(_ *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript {
			if exitCode != 0 {
				rt.Inject(sim.Fault{Kind: sim.FailInit, Deployment: ref.Deployment, Stack: ref.Stack, Service: service, ExitCode: exitCode})
			}
			return stack.InitScript{ServiceName: service, Command: []string{"setup"}}
		},
		Tamper: func(_ *testing.T, ref runtime.StackRef, service string, c runtimetest.Change) bool {
			return rt.Tamper(ref.Deployment, ref.Stack, service, simChange(c, service))
		},
		Capabilities: simCapabilities,
		Timeout:      2 * time.Second,
		Parallel:     true,
	}
}

// simCapabilities are the optional interfaces a *sim.Runtime implements.
const simCapabilities = runtime.CapLifecycle | runtime.CapVolumeLister | runtime.CapTierRelabeler | runtime.CapWatcher | runtime.CapLogReader

// addressed is the simulated runtime with host names of its own, as
// Kubernetes has.
type addressed struct{ *sim.Runtime }

func (addressed) ServiceHost(deployment, stackName, service string) string {
	return service + "-" + stackName + "." + deployment + ".svc.test"
}

// lossy is a wrapper as an embedder writes one by hand: it forwards the
// interfaces it was written for and drops the others.
func lossy(rt runtime.Runtime, drop runtime.Capabilities) runtime.Runtime {
	lc, _ := rt.(runtime.Lifecycle)
	vl, _ := rt.(runtime.VolumeLister)
	tr, _ := rt.(runtime.TierRelabeler)
	wa, _ := rt.(runtime.Watcher)
	lr, _ := rt.(runtime.LogReader)
	switch drop {
	case runtime.CapLifecycle:
		return struct {
			runtime.Runtime
			runtime.VolumeLister
			runtime.TierRelabeler
			runtime.Watcher
			runtime.LogReader
		}{rt, vl, tr, wa, lr}
	case runtime.CapAddresser:
		return struct {
			runtime.Runtime
			runtime.Lifecycle
			runtime.VolumeLister
			runtime.TierRelabeler
			runtime.Watcher
			runtime.LogReader
		}{rt, lc, vl, tr, wa, lr}
	}
	panic("lossy: cannot drop " + drop.String())
}

// TestWrapPassesSuite runs the suite on runtime.Wrap of the simulated
// runtime with host names of its own, declared as the unwrapped one
// would be: the wrapper keeps every capability, Addresser included.
func TestWrapPassesSuite(t *testing.T) {
	var calls atomic.Int64
	h := simHarness(func(rt *sim.Runtime) runtime.Runtime {
		return runtime.Wrap(addressed{rt}, runtime.Hooks{After: func(context.Context, runtime.Call, time.Duration, error) { calls.Add(1) }})
	})
	h.Capabilities |= runtime.CapAddresser
	t.Cleanup(func() { // after the parallel tests
		if calls.Load() == 0 {
			t.Error("the hooks saw no call")
		}
	})
	runtimetest.Run(t, h)
}

// simChange is the simulated runtime's form of a hand-made change.
func simChange(c runtimetest.Change, service string) sim.Change {
	switch c.Kind {
	case runtimetest.ChangeRemove:
		return sim.Change{Kind: sim.RemoveChange}
	case runtimetest.ChangeStop:
		return sim.Change{Kind: sim.StopChange}
	case runtimetest.ChangeImage:
		return sim.Change{Kind: sim.ImageChange, Image: stack.Image{Name: "example/" + service, Tag: "by-hand"}}
	}
	return sim.Change{Kind: sim.ScaleChange, Instances: c.Instances}
}

// A mutant is the simulated runtime with one bug, and the tests of the
// suite that must catch it.
type mutant struct {
	*sim.Runtime
	bug string

	mu       sync.Mutex
	reporter runtime.Reporter  // of the last Apply, for "late-events"
	applied  map[string]string // stack hash last applied, for "keeps-drift"
}

var mutants = map[string][]string{
	"replaces-unchanged": {"Idempotent", "NewRuntimeObserves"},
	"slow-failure":       {"ExitAtStart", "ExitWhileWaiting"},
	"deletes-data":       {"Volumes"},
	"late-events":        {"Events", "Idempotent"},
	"unsorted":           {"ObserveOrder"},
	"scale-replaces":     {"Scale"},
	"forgets":            {"NewRuntimeObserves"},
	"hides-image":        {"DriftInSync", "DriftByHand/image"},
	"keeps-tier":         {"TierMove"},
	"tier-replaces":      {"TierMove"},
	"keeps-drift":        {"DriftByHand/remove", "DriftByHand/stop", "DriftByHand/image", "DriftByHand/scale"},
	"logs-untagged":      {"LogsContent"},
	"logs-finds-nothing": {"LogsNotFound"},
	"logs-ignores-tail":  {"LogsTail"},
	"logs-ignores-since": {"LogsSince"},
	"logs-never-ends":    {"LogsFollowEnds"},
	// A wrapper that drops a capability its runtime has fails every
	// test, whose runtime lacks what the harness declares, and a
	// harness that leaves one out fails likewise.
	"drops-lifecycle": {"Capabilities", "Lifecycle", "DriftStoppedOnPurpose", "ApplyWaitObserve"},
	"drops-addresser": {"Capabilities", "ApplyWaitObserve"},
	"undeclared":      {"Capabilities", "LogsContent"},
}

// Logs breaks the log bugs' rules.
func (m *mutant) Logs(ctx context.Context, deployment string, q runtime.LogQuery) (runtime.LogStream, error) {
	switch m.bug {
	case "logs-ignores-tail":
		q.Tail = 0
	case "logs-ignores-since":
		q.Since = time.Time{}
	}
	s, err := m.Runtime.Logs(ctx, deployment, q)
	if m.bug == "logs-finds-nothing" && errors.Is(err, runtime.ErrNotFound) {
		return runtime.NewLogStream(ctx, false, nil, nil), nil
	}
	if err != nil {
		return nil, err
	}
	return &badStream{LogStream: s, bug: m.bug, ctx: ctx, follow: q.Follow}, nil
}

// badStream is a LogStream with the stream bugs of a mutant.
type badStream struct {
	runtime.LogStream
	bug    string
	ctx    context.Context
	follow bool
}

func (s *badStream) Next() (runtime.LogLine, error) {
	l, err := s.LogStream.Next()
	switch {
	case s.bug == "logs-untagged" && err == nil:
		l.Stream = runtime.Stdout
	case s.bug == "logs-never-ends" && s.follow && errors.Is(err, io.EOF):
		<-s.ctx.Done()
		return l, s.ctx.Err()
	}
	return l, err
}

func (m *mutant) Apply(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	switch m.bug {
	case "replaces-unchanged":
		if err := m.Runtime.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}); err != nil {
			return err
		}
	case "late-events":
		m.mu.Lock()
		m.reporter = report
		m.mu.Unlock()
	case "keeps-drift":
		// Applies only what the spec changed since the last Apply, as a
		// runtime that trusts its own memory would.
		m.mu.Lock()
		if m.applied == nil {
			m.applied = map[string]string{}
		}
		key, hash := spec.Ref().String(), runtime.StackHash(spec)
		same := m.applied[key] == hash
		m.applied[key] = hash
		m.mu.Unlock()
		if same {
			return nil
		}
	case "keeps-tier":
		// Leaves a stack that moved in the tier it runs in.
		if ds, err := m.Runtime.Observe(ctx, spec.Deployment); err == nil {
			if st := ds.Stack(spec.Stack.Name); st != nil && st.Tier != spec.Tier {
				kept := *spec
				kept.Tier = st.Tier
				spec = &kept
			}
		}
	case "tier-replaces":
		// Says it relabels in place (sim does) but replaces instead.
		if ds, err := m.Runtime.Observe(ctx, spec.Deployment); err == nil {
			if st := ds.Stack(spec.Stack.Name); st != nil && st.Tier != spec.Tier {
				if err := m.Runtime.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}); err != nil {
					return err
				}
			}
		}
	case "scale-replaces":
		if ds, err := m.Runtime.Observe(ctx, spec.Deployment); err == nil && ds.Stack(spec.Stack.Name) != nil {
			for _, svc := range ds.Stack(spec.Stack.Name).Services {
				if want := spec.Stack.Service(svc.Name); want != nil && want.Replicas() != svc.Desired {
					m.Runtime.Remove(ctx, spec.Ref(), runtime.RemoveOptions{})
				}
			}
		}
	}
	return m.Runtime.Apply(ctx, spec, report)
}

func (m *mutant) Wait(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	if m.bug == "late-events" {
		m.mu.Lock()
		m.reporter.Emit(runtime.Event{Type: runtime.EventServiceCreated, Stack: spec.Stack.Name, Message: "late"})
		m.mu.Unlock()
	}
	err := m.Runtime.Wait(ctx, spec, report)
	if m.bug == "slow-failure" && errors.Is(err, runtime.ErrFailed) {
		t := time.NewTimer(spec.ReadyTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return err
}

func (m *mutant) Remove(ctx context.Context, ref runtime.StackRef, opts runtime.RemoveOptions) error {
	if m.bug == "deletes-data" {
		opts.DeleteData = true
	}
	return m.Runtime.Remove(ctx, ref, opts)
}

func (m *mutant) Observe(ctx context.Context, deployment string) (*runtime.DeploymentState, error) {
	ds, err := m.Runtime.Observe(ctx, deployment)
	if m.bug == "unsorted" && err == nil {
		slices.Reverse(ds.Stacks)
	}
	if m.bug == "hides-image" && err == nil {
		for i := range ds.Stacks {
			for k := range ds.Stacks[i].Services {
				ds.Stacks[i].Services[k].Image = ""
			}
		}
	}
	return ds, err
}

// TestMutant runs the suite against the mutant named by
// RUNTIMETEST_MUTANT; TestSuiteCatchesBugs starts it.
func TestMutant(t *testing.T) {
	bug := os.Getenv("RUNTIMETEST_MUTANT")
	if bug == "" {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	h := simHarness(func(rt *sim.Runtime) runtime.Runtime { return &mutant{Runtime: rt, bug: bug} })
	switch bug {
	case "forgets":
		h.NewRuntime = func(*testing.T) runtime.Runtime { return sim.New(nil) }
	case "drops-lifecycle":
		h = simHarness(func(rt *sim.Runtime) runtime.Runtime { return lossy(rt, runtime.CapLifecycle) })
	case "drops-addresser":
		h = simHarness(func(rt *sim.Runtime) runtime.Runtime { return lossy(addressed{rt}, runtime.CapAddresser) })
		h.Capabilities |= runtime.CapAddresser
	case "undeclared":
		h = simHarness(func(rt *sim.Runtime) runtime.Runtime { return rt })
		h.Capabilities &^= runtime.CapLogReader
	}
	runtimetest.Run(t, h)
}

// TestSuiteCatchesBugs checks that the suite fails runtimes that break
// the contract, each in the tests that should notice.
func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv("RUNTIMETEST_MUTANT") != "" {
		t.Skip("inside a mutant run")
	}
	if testing.Short() {
		t.Skip("starts a test process per mutant")
	}
	for bug, tests := range mutants {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "RUNTIMETEST_MUTANT="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a runtime with bug %s:\n%s", bug, out)
			}
			for _, name := range tests {
				if !strings.Contains(string(out), "--- FAIL: TestMutant/"+name+" ") {
					t.Errorf("bug %s: test %s did not fail:\n%s", bug, name, out)
				}
			}
		})
	}
}

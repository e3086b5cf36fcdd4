package sim_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

// capabilities are the optional interfaces the simulated runtime
// declares to the conformance suite.
const capabilities = runtime.CapLifecycle | runtime.CapVolumeLister | runtime.CapTierRelabeler | runtime.CapWatcher | runtime.CapLogReader

func TestConformance(t *testing.T) {
	runtimetest.Run(t, harness(func(_ *testing.T, rt *sim.Runtime) runtime.Runtime { return rt }))
}

// TestConformanceWrapped runs the suite again over runtime.Wrap with
// logging hooks and the same declared capabilities: the wrapper keeps
// every one of them and passes every call on.
func TestConformanceWrapped(t *testing.T) {
	var calls atomic.Int64
	h := harness(func(t *testing.T, rt *sim.Runtime) runtime.Runtime {
		return runtime.Wrap(rt, logHooks(t, &calls))
	})
	h.Quick = true
	t.Cleanup(func() { // after the parallel tests
		if calls.Load() == 0 {
			t.Error("the hooks saw no call")
		}
	})
	runtimetest.Run(t, h)
}

// logHooks log every call of a wrapped runtime to the test that made it,
// and count them.
func logHooks(t *testing.T, calls *atomic.Int64) runtime.Hooks {
	return runtime.Hooks{
		Before: func(ctx context.Context, c runtime.Call) context.Context {
			t.Logf("%s %s/%s", c.Method, c.Deployment, c.Stack)
			return ctx
		},
		After: func(_ context.Context, c runtime.Call, took time.Duration, err error) {
			calls.Add(1)
			t.Logf("%s %s/%s: %v after %v", c.Method, c.Deployment, c.Stack, err, took)
		},
	}
}

// harness adapts the suite to one simulated runtime, shared by every
// test, as wrap returns it.
func harness(wrap func(t *testing.T, rt *sim.Runtime) runtime.Runtime) *runtimetest.Harness {
	var readyAfter sync.Map // "deployment/stack/service" -> time.Duration
	var behaviors sync.Map  // "deployment/stack/service" -> runtimetest.Behavior
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
		NewRuntime: func(t *testing.T) runtime.Runtime { return wrap(t, rt) },
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
			ch := sim.Change{Kind: sim.ScaleChange, Instances: c.Instances}
			switch c.Kind {
			case runtimetest.ChangeRemove:
				ch = sim.Change{Kind: sim.RemoveChange}
			case runtimetest.ChangeStop:
				ch = sim.Change{Kind: sim.StopChange}
			case runtimetest.ChangeImage:
				ch = sim.Change{Kind: sim.ImageChange, Image: stack.Image{Name: "example/" + service, Tag: "by-hand"}}
			}
			return rt.Tamper(ref.Deployment, ref.Stack, service, ch)
		},
		Capabilities: capabilities,
		Timeout:      5 * time.Second,
		Parallel:     true,
	}
}

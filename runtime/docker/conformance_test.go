package docker_test

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/stack"
)

// controlPort is where every conformance service answers /healthz, the
// port its readiness probe asks, beside the ports the suite wants.
const controlPort = 7999

// capabilities are the optional interfaces the Docker runtime declares
// to the conformance suite.
const capabilities = runtime.CapLifecycle | runtime.CapVolumeLister | runtime.CapDeploymentRemover |
	runtime.CapConcurrencyHinter | runtime.CapErrorMapper | runtime.CapWatcher | runtime.CapLogReader

func TestConformance(t *testing.T) {
	runtimetest.Run(t, conformanceHarness(t, func(_ *testing.T, rt *docker.Runtime) runtime.Runtime { return rt }))
}

// TestConformanceWrapped runs the suite's quick tests again over
// runtime.Wrap with logging hooks and the same declared capabilities,
// on the real engine: the wrapper keeps every capability and passes
// every call on.
func TestConformanceWrapped(t *testing.T) {
	var calls atomic.Int64
	h := conformanceHarness(t, func(t *testing.T, rt *docker.Runtime) runtime.Runtime {
		return runtime.Wrap(rt, runtime.Hooks{After: func(_ context.Context, c runtime.Call, took time.Duration, err error) {
			calls.Add(1)
			t.Logf("%s %s/%s: %v after %v", c.Method, c.Deployment, c.Stack, err, took)
		}})
	})
	h.Quick = true
	t.Cleanup(func() { // after the parallel tests
		if calls.Load() == 0 {
			t.Error("the hooks saw no call")
		}
	})
	runtimetest.Run(t, h)
}

// conformanceHarness adapts the suite to Docker runtimes of one
// namespace of their own, as wrap returns them.
func conformanceHarness(t *testing.T, wrap func(t *testing.T, rt *docker.Runtime) runtime.Runtime) *runtimetest.Harness {
	cli := dockertest.Client(t)
	image := img(t)
	// One namespace for the whole run: a second runtime must see what the
	// first one made.
	ns := "swc-" + randomHex(4)
	t.Cleanup(func() { cleanNamespace(t, cli, docker.DefaultLabelPrefix, ns) })
	return &runtimetest.Harness{
		NewRuntime: func(t *testing.T) runtime.Runtime {
			rt, err := docker.New(cli, &docker.Options{Namespace: ns, HostIP: netip.MustParseAddr("127.0.0.1"), GracePeriod: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rt.Close() })
			return wrap(t, rt)
		},
		Deployment: func(t *testing.T) string { return "rt-" + randomHex(4) },
		Service: func(t *testing.T, ref runtime.StackRef, name string, b runtimetest.Behavior) stack.Service {
			env := []string{"TESTAPP_SERVICE=" + name, "TESTAPP_HTTP=" + strconv.Itoa(controlPort)}
			if len(b.Ports) > 0 {
				ports := make([]string, len(b.Ports))
				for i, p := range b.Ports {
					ports[i] = strconv.Itoa(p)
				}
				env = append(env, "TESTAPP_TCP="+strings.Join(ports, ","))
			}
			switch {
			case b.NeverReady:
				env = append(env, "TESTAPP_READY_AFTER=1h")
			case b.ReadyAfter > 0:
				env = append(env, "TESTAPP_READY_AFTER="+b.ReadyAfter.String())
			}
			if b.Exit {
				env = append(env, "TESTAPP_EXIT_AFTER="+b.ExitAfter.String(), "TESTAPP_EXIT_CODE="+strconv.Itoa(b.ExitCode))
			}
			if b.LogLines > 0 {
				env = append(env, "TESTAPP_LOG_LINES="+strconv.Itoa(b.LogLines))
			}
			if b.Stderr != "" {
				env = append(env, "TESTAPP_STDERR="+b.Stderr)
			}
			return stack.Service{
				Name: name, UnitType: "1U1G", Image: image, Envs: env,
				Readiness: &stack.Probe{Type: stack.ProbeExec, Period: stack.Duration(200 * time.Millisecond),
					Command: []string{"/testapp", "probe", "http", fmt.Sprintf("http://127.0.0.1:%d/healthz", controlPort)}},
			}
		},
		InitScript: func(t *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript {
			return stack.InitScript{ServiceName: service, Command: []string{"/testapp", "exit", strconv.Itoa(exitCode), "init script of " + ref.String()}}
		},
		Tamper:       tamper(cli, ns, image),
		Capabilities: capabilities,
		Timeout:      time.Minute,
		Parallel:     true,
	}
}

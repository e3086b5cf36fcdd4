package kube_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/stack"
)

// TestConformance runs the runtime's conformance suite on the test
// control plane. kwok makes plain pods Running and Ready; the pods of
// services that must become ready late, never, or exit are left to the
// fake kubelet, which writes their status as a kubelet would, and so are
// the pods of init-script Jobs, which it finishes with the exit code the
// script asks for. No container runs, so there are no logs to report.
func TestConformance(t *testing.T) {
	runtimetest.Run(t, conformanceHarness(t, func(_ *testing.T, rt runtime.Runtime) runtime.Runtime { return rt }))
}

// capabilities are the optional interfaces the Kubernetes runtime
// declares to the conformance suite: all of them.
const capabilities = runtime.CapLifecycle | runtime.CapVolumeLister | runtime.CapDeploymentRemover |
	runtime.CapConcurrencyHinter | runtime.CapAddresser | runtime.CapErrorMapper | runtime.CapTierRelabeler |
	runtime.CapWatcher | runtime.CapLogReader

// TestConformanceWrapped runs the suite's quick tests again over
// runtime.Wrap with logging hooks and the same declared capabilities, on
// the test control plane: the wrapper keeps every capability, Addresser
// included, and passes every call on.
func TestConformanceWrapped(t *testing.T) {
	var calls atomic.Int64
	h := conformanceHarness(t, func(t *testing.T, rt runtime.Runtime) runtime.Runtime {
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

// conformanceHarness adapts the suite to Kubernetes runtimes on the test
// control plane, as wrap returns them.
func conformanceHarness(t *testing.T, wrap func(t *testing.T, rt runtime.Runtime) runtime.Runtime) *runtimetest.Harness {
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	return &runtimetest.Harness{
		NewRuntime: func(t *testing.T) runtime.Runtime {
			return wrap(t, newRuntime(t, env.Config, &kube.Options{PodTemplate: kl.podTemplate, BaseDomain: "kube.test"}))
		},
		Deployment: func(t *testing.T) string {
			dep := "rt-" + randomHex(4)
			kl.claim(dep)
			return dep
		},
		Service: func(t *testing.T, ref runtime.StackRef, name string, b runtimetest.Behavior) stack.Service {
			kl.set(ref.Deployment, ref.Stack, name, behavior{
				readyAfter: b.ReadyAfter, neverReady: b.NeverReady,
				exit: b.Exit, exitAfter: b.ExitAfter, exitCode: b.ExitCode,
			})
			return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "registry.kube.test/testapp", Tag: "1"}}
		},
		InitScript: func(t *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript {
			return stack.InitScript{ServiceName: service, Command: []string{"/bin/sh", "-c", "exit " + strconv.Itoa(exitCode)}}
		},
		Tamper:       tamper(env.Config),
		Capabilities: capabilities,
		Timeout:      time.Minute,
		Parallel:     true,
		NoLogs:       true,
		// The log tests check what the API server answers for them.
		NoLogOutput: "kwok's pods run no containers and their nodes no kubelet",
	}
}

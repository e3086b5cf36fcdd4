package docker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

func serviceError(t *testing.T, err error) *runtime.ServiceError {
	t.Helper()
	var se *runtime.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("want a *runtime.ServiceError, got %T: %v", err, err)
	}
	return se
}

func TestExitFailsTheStackAtOnce(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	ok := web(t, "api", 8080)
	crash := web(t, "crash", 8081, "TESTAPP_LOG_LINES=30", "TESTAPP_EXIT_AFTER=1s", "TESTAPP_EXIT_CODE=3")
	// It would pass its probe for a second; the timeout is far away.
	crash.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "exit", "1"}, Period: stack.Duration(time.Second), Timeout: stack.Duration(time.Minute)}
	spec := stackSpec("exit", "app", 0, ok, crash)
	must(t, rt.Apply(ctx, spec, nil))
	start := time.Now()
	var failed []runtime.Event
	err := rt.Wait(ctx, spec, func(e runtime.Event) {
		if e.Type == runtime.EventServiceFailed {
			failed = append(failed, e)
		}
	})
	took := time.Since(start)
	if !errors.Is(err, runtime.ErrFailed) {
		t.Fatalf("Wait: %v", err)
	}
	se := serviceError(t, err)
	t.Logf("after %s: %v", took, err)
	if se.Service != "crash" || se.Reason != "Exited" || se.ExitCode != 3 || se.Instance != rt.Options().Namespace+"-exit-app-crash-1" {
		t.Errorf("error %+v", se)
	}
	if len(se.Logs) != 20 || !strings.Contains(se.Logs[len(se.Logs)-1], "exit 3") {
		t.Errorf("want the last 20 log lines ending with the exit, got %d:\n%s", len(se.Logs), strings.Join(se.Logs, "\n"))
	}
	if took > 2*time.Minute { // a hang ends at the context's three minutes
		t.Errorf("Wait took %s to see an exit after 1s", took)
	}
	if len(failed) != 1 || failed[0].Service != "crash" {
		t.Errorf("failed events %v", failed)
	}
	// Observe reports it too.
	st, err := rt.Observe(ctx, "exit")
	must(t, err)
	in := st.Stack("app").Service("crash").Instances[0]
	if in.Running || in.Reason != "Exited" || in.ExitCode != 3 {
		t.Errorf("observed %+v", in)
	}
	if st.Stack("app").Status() != runtime.StatusPartiallyRunning {
		t.Errorf("stack status %s", st.Stack("app").Status())
	}
}

func TestExitBeforeWaitIsSeen(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	svc := stack.Service{Name: "oneshot", UnitType: "1U1G", Image: img(t), Command: []string{"exit", "7", "bad config"}}
	spec := stackSpec("early", "app", 0, svc)
	must(t, rt.Apply(ctx, spec, nil))
	// Gone before anyone waits: the engine says it exited.
	if code := dockertest.Wait(t, rt.Client(), rt.Options().Namespace+"-early-app-oneshot-1", 3*time.Minute); code != 7 {
		t.Fatalf("the container exited with %d, want 7", code)
	}
	err := rt.Wait(ctx, spec, nil)
	se := serviceError(t, err)
	if !errors.Is(err, runtime.ErrFailed) || se.ExitCode != 7 || len(se.Logs) == 0 || !strings.Contains(strings.Join(se.Logs, "\n"), "bad config") {
		t.Errorf("Wait: %v", err)
	}
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	cat := stack.DefaultCatalog()
	cat.Units["tiny"] = stack.Unit{Name: "tiny", CPU: 1, MemoryBytes: 32 << 20}
	// Never ready, so only the kill ends the wait, however long the
	// allocation takes on a busy machine.
	svc := stack.Service{Name: "hog", UnitType: "tiny", Image: img(t), Envs: []string{"TESTAPP_ALLOC_MB=256"},
		Readiness: &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "exit", "1"}, Timeout: stack.Duration(time.Minute)}}
	spec := stackSpec("oom", "app", 0, svc)
	spec.Catalog = cat
	must(t, rt.Apply(ctx, spec, nil))
	err := rt.Wait(ctx, spec, nil)
	se := serviceError(t, err)
	if !errors.Is(err, runtime.ErrFailed) || se.Reason != "OOMKilled" || se.ExitCode != 137 {
		t.Errorf("Wait: %v (%+v)", err, se)
	}
}

func TestNeverReadyTimesOut(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	svc := web(t, "slow", 8080, "TESTAPP_READY_AFTER=1h")
	svc.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8080/healthz"},
		Period: stack.Duration(200 * time.Millisecond), Timeout: stack.Duration(3 * time.Second)}
	spec := stackSpec("slow", "app", 0, svc)
	must(t, rt.Apply(ctx, spec, nil))
	start := time.Now()
	err := rt.Wait(ctx, spec, nil)
	took := time.Since(start)
	se := serviceError(t, err)
	t.Logf("after %s: %v", took, err)
	if !errors.Is(err, runtime.ErrNotReady) || se.Reason != "Timeout" || !strings.Contains(err.Error(), "503") {
		t.Errorf("Wait: %v", err)
	}
	if took < 3*time.Second || took > 2*time.Minute { // not the context's three minutes
		t.Errorf("Wait took %s for a 3s timeout", took)
	}
	// The spec's ReadyTimeout bounds probes without their own.
	svc.Readiness.Timeout = 0
	spec = stackSpec("slow", "app2", 0, svc)
	spec.ReadyTimeout = 2 * time.Second
	must(t, rt.Apply(ctx, spec, nil))
	if err := rt.Wait(ctx, spec, nil); !errors.Is(err, runtime.ErrNotReady) {
		t.Errorf("Wait with ReadyTimeout: %v", err)
	}
	// A replacement that does not get ready fails Apply the same way.
	spec.Stack.Services[0].Envs = append(spec.Stack.Services[0].Envs, "V=2")
	if err := rt.Apply(ctx, spec, nil); !errors.Is(err, runtime.ErrNotReady) {
		t.Errorf("Apply replacing with a never-ready service: %v", err)
	}
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy docker.PullPolicy
		image  stack.Image
		reason string
	}{
		{docker.PullNever, stack.Image{Name: "stackwave-test/missing", Tag: "1"}, "ImageNotPresent"},
		// A registry on a closed loopback port: the pull fails fast.
		{docker.PullIfNotPresent, stack.Image{Name: "127.0.0.1:1/stackwave-test/missing", Tag: "1"}, "ImagePullFailed"},
		{docker.PullAlways, stack.Image{Name: "127.0.0.1:1/stackwave-test/missing", Tag: "2"}, "ImagePullFailed"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			// The deadline counts from here: a parallel subtest may wait
			// long for its turn on a loaded machine.
			ctx := ctxT(t, 3*time.Minute)
			rt := newRuntime(t, &docker.Options{PullPolicy: tc.policy})
			bad := stack.Service{Name: "ghost", UnitType: "1U1G", Image: tc.image}
			spec := stackSpec("img", "app", 0, bad)
			if tc.policy != docker.PullAlways {
				// Always would pull the local test image from a registry.
				spec.Stack.Services = append(spec.Stack.Services, web(t, "api", 8080))
			}
			start := time.Now()
			err := rt.Apply(ctx, spec, nil)
			t.Logf("after %s: %v", time.Since(start), err)
			se := serviceError(t, err)
			if !errors.Is(err, runtime.ErrImage) || se.Service != "ghost" || se.Reason != tc.reason || !strings.Contains(err.Error(), tc.image.Ref()) {
				t.Errorf("Apply: %v (%+v)", err, se)
			}
			if !errors.Is(runtime.MapError(rt, err), runtime.ErrImage) {
				t.Errorf("MapError lost ErrImage")
			}
			// Nothing was created, not even for the good service.
			cs, nets, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
			if len(cs)+len(nets)+len(vols) != 0 {
				t.Errorf("left: %v %v %v", cs, nets, vols)
			}
		})
	}
}

func TestInvalidSpec(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	svc := web(t, "api", 8080)
	svc.UnitType = "3X"
	svc.Instances = 2
	svc.AccessPoints[0].HostPorts = []int{18080}
	svc.VolumeArgs = []stack.VolumeArg{{MountPath: "data", UnitType: "SSD1_15G"}}
	spec := stackSpec("bad", "app", 0, svc)
	err := rt.Apply(context.Background(), spec, nil)
	if !errors.Is(err, runtime.ErrInvalid) {
		t.Fatalf("Apply: %v", err)
	}
	for _, want := range []string{"3X", "host port 18080", "SSD1_15G", "absolute"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestInitScripts(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("init", "app", 0, web(t, "api", 8080))
	spec.Stack.InitScripts = []stack.InitScript{
		{ServiceName: "api", Command: []string{"/testapp", "write", "/tmp/initialized", "yes"}},
		{ServiceName: "api", Command: []string{"/testapp", "exit", "4", "migration failed"}},
	}
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	must(t, rt.RunInit(ctx, spec, 0, nil))
	addr := endpoint(t, rt, "init", "app", "api", 8080)
	if code, body, err := get("http://" + addr + "/file?path=/tmp/initialized"); code != 200 || body != "yes\n" {
		t.Errorf("init script effect: %d %q %v", code, body, err)
	}
	err := rt.RunInit(ctx, spec, 1, nil)
	se := serviceError(t, err)
	if !errors.Is(err, runtime.ErrFailed) || se.ExitCode != 4 || se.Reason != "InitScriptFailed" || !strings.Contains(strings.Join(se.Logs, "\n"), "migration failed") {
		t.Errorf("RunInit: %v", err)
	}
	if err := rt.RunInit(ctx, spec, 2, nil); !errors.Is(err, runtime.ErrInvalid) {
		t.Errorf("RunInit of a missing script: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("life", "app", 0, web(t, "api", 8080), stack.Service{Name: "w", UnitType: "1U1G", Image: img(t)})
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	before := instances(t, rt, "life", "app")

	must(t, rt.Stop(ctx, spec.Ref()))
	st, err := rt.Observe(ctx, "life")
	must(t, err)
	if s := st.Stack("app"); !s.Stopped || s.Status() != runtime.StatusNotRunning {
		t.Errorf("after Stop: stopped=%v status=%s", s.Stopped, s.Status())
	}
	must(t, rt.Start(ctx, spec))
	must(t, rt.Wait(ctx, spec, nil))
	started := instances(t, rt, "life", "app")
	st, err = rt.Observe(ctx, "life")
	must(t, err)
	if s := st.Stack("app"); s.Stopped || s.Status() != runtime.StatusRunning {
		t.Errorf("after Start: stopped=%v status=%s", s.Stopped, s.Status())
	}
	for name, in := range before {
		if started[name].ID != in.ID || !started[name].StartedAt.After(in.StartedAt) {
			t.Errorf("Start: %s %v -> %v", name, in, started[name])
		}
	}
	must(t, rt.Restart(ctx, spec))
	must(t, rt.Wait(ctx, spec, nil))
	restarted := instances(t, rt, "life", "app")
	for name, in := range started {
		if restarted[name].ID != in.ID || !restarted[name].StartedAt.After(in.StartedAt) {
			t.Errorf("Restart: %s %v -> %v", name, in, restarted[name])
		}
	}
	if err := rt.Stop(ctx, runtime.StackRef{Deployment: "life", Stack: "nope"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stop of a missing stack: %v", err)
	}
	// A stopped stack is removed like a running one, marker included.
	must(t, rt.Stop(ctx, spec.Ref()))
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}))
	cs, nets, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs)+len(nets)+len(vols) != 0 {
		t.Errorf("left: %v %v %v", cs, nets, vols)
	}
}

func TestCancelledWaitReturnsPromptly(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	svc := web(t, "api", 8080, "TESTAPP_READY_AFTER=1h")
	svc.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8080/healthz"}}
	spec := stackSpec("cancel", "app", 0, svc)
	must(t, rt.Apply(ctxT(t, time.Minute), spec, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled atomic.Int64 // when cancel ran, in UnixNano
	time.AfterFunc(time.Second, func() { cancelled.Store(time.Now().UnixNano()); cancel() })
	err := rt.Wait(ctx, spec, nil)
	// Promptly: within a minute of the cancellation, however loaded the
	// machine, where the app would be ready in an hour.
	if after := time.Since(time.Unix(0, cancelled.Load())); !errors.Is(err, context.Canceled) || after > time.Minute {
		t.Errorf("Wait %s after the cancellation: %v", after, err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := rt.Apply(ctx, spec, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context: %v", err)
	}
}

func TestWaitBeforeApply(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	spec := stackSpec("none", "app", 0, web(t, "api", 8080))
	err := rt.Wait(ctxT(t, time.Minute), spec, nil)
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Wait: %v", err)
	}
	// Removing what does not exist is fine.
	must(t, rt.Remove(ctxT(t, time.Minute), spec.Ref(), runtime.RemoveOptions{DeleteData: true}))
	st, err := rt.Observe(ctxT(t, time.Minute), "none")
	must(t, err)
	if len(st.Stacks) != 0 {
		t.Errorf("observed %+v", st)
	}
}

func TestProbes(t *testing.T) {
	t.Parallel()
	for _, withBinary := range []bool{true, false} {
		t.Run(fmt.Sprintf("binary=%v", withBinary), func(t *testing.T) {
			t.Parallel()
			var opts docker.Options
			if withBinary {
				opts.ProbeBinary = probeBinary(t)
			}
			rt := newRuntime(t, &opts)
			ctx := ctxT(t, 3*time.Minute)
			tcp := stack.Service{Name: "tcp", UnitType: "1U1G", Image: img(t), Envs: []string{"TESTAPP_TCP=9000", "TESTAPP_READY_AFTER=1s"},
				Readiness: &stack.Probe{Type: stack.ProbeTCP, Port: 9000, Period: stack.Duration(200 * time.Millisecond)}}
			http := web(t, "http", 8080, "TESTAPP_READY_AFTER=1s")
			http.Readiness = &stack.Probe{Type: stack.ProbeHTTP, Port: 8080, Path: "/healthz", ExpectedCodes: []int{200}, Period: stack.Duration(200 * time.Millisecond)}
			spec := stackSpec("probe", "app", 0, tcp, http)
			must(t, rt.Apply(ctx, spec, nil))
			start := time.Now()
			must(t, rt.Wait(ctx, spec, nil))
			if took := time.Since(start); took < 800*time.Millisecond {
				t.Errorf("ready after %s, before the app was", took)
			}
			st, err := rt.Observe(ctx, "probe")
			must(t, err)
			for _, svc := range st.Stack("app").Services {
				if svc.Ready() != 1 {
					t.Errorf("%s not ready in Observe: %+v", svc.Name, svc.Instances)
				}
				res, err := rt.Client().ContainerInspect(ctx, svc.Instances[0].ID, client.ContainerInspectOptions{})
				must(t, err)
				health := res.Container.State.Health
				if withBinary && (health == nil || health.Status != "healthy") {
					t.Errorf("%s: docker health %+v", svc.Name, health)
				}
				if !withBinary && health != nil {
					t.Errorf("%s: a health check without a probe binary: %+v", svc.Name, health)
				}
			}
		})
	}
}

func TestWaitAfterClose(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	svc := web(t, "api", 8080, "TESTAPP_READY_AFTER=1h")
	svc.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8080/healthz"}}
	spec := stackSpec("closed", "app", 0, svc)
	must(t, rt.Apply(ctxT(t, time.Minute), spec, nil))
	rt.Close()
	start := time.Now()
	if err := rt.Wait(ctxT(t, 3*time.Minute), spec, nil); err == nil || time.Since(start) > time.Minute {
		t.Errorf("Wait after Close, after %s: %v", time.Since(start), err)
	}
}

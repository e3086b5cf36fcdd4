package sim_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
)

var ctx = context.Background()

func svc(name string) stack.Service {
	return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "example/" + name, Tag: "1"}}
}

func spec(dep, stackName string, services ...stack.Service) *runtime.StackSpec {
	return &runtime.StackSpec{Deployment: dep, ProductID: "p1", VersionID: "v1", Stack: stack.Stack{Name: stackName, Services: services}}
}

// launch applies and waits for s, failing the test on error.
func launch(t *testing.T, rt *sim.Runtime, s *runtime.StackSpec) {
	t.Helper()
	if err := rt.Apply(ctx, s, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := rt.Wait(ctx, s, nil); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func observeService(t *testing.T, rt *sim.Runtime, dep, stackName, service string) *runtime.ServiceState {
	t.Helper()
	ds, err := rt.Observe(ctx, dep)
	if err != nil {
		t.Fatal(err)
	}
	st := ds.Stack(stackName)
	if st == nil {
		return nil
	}
	return st.Service(service)
}

func serviceError(t *testing.T, err, sentinel error) *runtime.ServiceError {
	t.Helper()
	var se *runtime.ServiceError
	if !errors.Is(err, sentinel) || !errors.As(err, &se) {
		t.Fatalf("error %v: want a *runtime.ServiceError matching %v", err, sentinel)
	}
	return se
}

func TestFailApply(t *testing.T) {
	rt := sim.New(nil)
	launch(t, rt, spec("d", "s", svc("old")))
	rt.Inject(sim.Fault{Kind: sim.FailApply, Stack: "s", Service: "db"})
	err := rt.Apply(ctx, spec("d", "s", svc("web"), svc("db")), nil)
	if !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), "db") {
		t.Fatalf("Apply: %v, want an error matching ErrUnavailable naming db", err)
	}
	if observeService(t, rt, "d", "s", "web") == nil {
		t.Error("web was not applied beside the failing db")
	}
	if observeService(t, rt, "d", "s", "db") != nil {
		t.Error("db was created despite the fault")
	}
	if observeService(t, rt, "d", "s", "old") == nil {
		t.Error("a failed Apply removed the service dropped from the spec")
	}

	boom := errors.New("boom")
	rt.ClearFaults()
	rt.Inject(sim.Fault{Kind: sim.FailApply, Deployment: "d2", Err: boom})
	if err := rt.Apply(ctx, spec("d2", "s", svc("web")), nil); !errors.Is(err, boom) {
		t.Fatalf("Apply: %v, want the fault's error", err)
	}
	if ds, _ := rt.Observe(ctx, "d2"); len(ds.Stacks) != 0 {
		t.Errorf("a stack whose every service failed exists: %+v", ds.Stacks)
	}
}

func TestNth(t *testing.T) {
	rt := sim.New(nil)
	rt.Inject(sim.Fault{Kind: sim.FailApply, Nth: 2})
	s := spec("d", "s", svc("web"))
	for i, wantErr := range []bool{false, true, false} {
		err := rt.Apply(ctx, s, nil)
		if (err != nil) != wantErr {
			t.Errorf("apply %d: %v, want error %v", i+1, err, wantErr)
		}
		if err := rt.Wait(ctx, s, nil); err != nil { // waits do not count for FailApply
			t.Errorf("wait %d: %v", i+1, err)
		}
	}
}

// In a synctest bubble: the timeouts run on its fake clock.
func TestNeverReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := sim.New(nil)
		rt.Inject(sim.Fault{Kind: sim.NeverReady, Service: "web"})
		s := spec("d", "s", svc("web"), svc("db"))
		s.ReadyTimeout = 30 * time.Millisecond
		if err := rt.Apply(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		se := serviceError(t, rt.Wait(ctx, s, nil), runtime.ErrNotReady)
		if took := time.Since(start); took != s.ReadyTimeout {
			t.Errorf("Wait timed out after %v, want ReadyTimeout %v", took, s.ReadyTimeout)
		}
		if se.Service != "web" || se.Reason != "Timeout" || se.Instance != "d-s-web-1" {
			t.Errorf("ServiceError %+v", se)
		}
		if web := observeService(t, rt, "d", "s", "web"); web.Running() != 1 || web.Ready() != 0 {
			t.Errorf("web: %d running %d ready, want 1 and 0", web.Running(), web.Ready())
		}

		// Without a ReadyTimeout the context's deadline ends the wait.
		s.ReadyTimeout = 0
		dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		err := rt.Wait(dctx, s, nil)
		serviceError(t, err, runtime.ErrNotReady)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait past the deadline: %v, want it to wrap context.DeadlineExceeded", err)
		}
	})
}

func TestExitOnStart(t *testing.T) {
	rt := sim.New(nil)
	rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Service: "web", ExitCode: 2, Nth: 1})
	s := spec("d", "s", svc("web"))
	if err := rt.Apply(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	se := serviceError(t, rt.Wait(ctx, s, nil), runtime.ErrFailed)
	if se.Reason != "Exited" || se.ExitCode != 2 || len(se.Logs) == 0 || se.Instance != "d-s-web-1" {
		t.Errorf("ServiceError %+v", se)
	}
	web := observeService(t, rt, "d", "s", "web")
	in := web.Instances[0]
	if in.Running || in.Reason != "Exited" || in.ExitCode != 2 {
		t.Errorf("exited instance observed as %+v", in)
	}

	// Applying the unchanged spec starts the exited instance again, in
	// place; the fault acted on the first start only.
	var events []runtime.Event
	if err := rt.Apply(ctx, s, func(e runtime.Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != runtime.EventServiceUnchanged || !strings.Contains(events[0].Message, "started 1 instance") {
		t.Errorf("re-apply events %+v", events)
	}
	if err := rt.Wait(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	if again := observeService(t, rt, "d", "s", "web").Instances[0]; again.ID != in.ID || !again.Running || !again.StartedAt.After(in.StartedAt) {
		t.Errorf("restarted instance %+v, was %+v", again, in)
	}
}

func TestExitAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// An exit scheduled after the instance became ready does not fail a
		// Wait that has already seen it ready...
		rt := sim.New(&sim.Options{Latency: func(_, _, service string) (time.Duration, time.Duration) {
			if service == "slow" {
				return 0, time.Hour
			}
			return 0, 0
		}})
		rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Stack: "a", After: 20 * time.Millisecond, ExitCode: 4})
		a := spec("d", "a", svc("web"))
		launch(t, rt, a)
		// ...but fails one that is still waiting for another service.
		rt.Inject(sim.Fault{Kind: sim.CrashAfterReady, Stack: "b", Service: "web", After: 20 * time.Millisecond, ExitCode: 139})
		b := spec("d", "b", svc("web"), svc("slow"))
		if err := rt.Apply(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		se := serviceError(t, rt.Wait(ctx, b, nil), runtime.ErrFailed)
		if took := time.Since(start); took != 20*time.Millisecond {
			t.Errorf("Wait noticed the crash after %v, want at once, 20ms after ready", took)
		}
		if se.Service != "web" || se.ExitCode != 139 {
			t.Errorf("ServiceError %+v", se)
		}
		synctest.Wait() // stack a's exit, due at the same instant, is done
		if web := observeService(t, rt, "d", "a", "web"); web.Running() != 0 || web.Instances[0].ExitCode != 4 {
			t.Errorf("stack a's web after its exit: %+v", web.Instances)
		}
	})
}

func TestCrashFailsWaitAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := sim.New(&sim.Options{ReadyLatency: time.Hour})
		s := spec("d", "s", svc("web"), svc("db"))
		if err := rt.Apply(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- rt.Wait(ctx, s, nil) }()
		synctest.Wait() // Wait is waiting
		rt.Crash("d", "s", "db", 137)
		err := <-done
		if took := time.Since(start); took != 0 {
			t.Errorf("Wait returned %v after the crash, want at once", took)
		}
		if se := serviceError(t, err, runtime.ErrFailed); se.Service != "db" || se.ExitCode != 137 {
			t.Errorf("ServiceError %+v", se)
		}
	})
}

func TestFailRemove(t *testing.T) {
	rt := sim.New(nil)
	s := spec("d", "s", svc("web"), svc("db"))
	launch(t, rt, s)
	rt.Inject(sim.Fault{Kind: sim.FailRemove, Service: "db", Nth: 1})
	if err := rt.Remove(ctx, s.Ref(), runtime.RemoveOptions{}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("Remove: %v, want ErrUnavailable", err)
	}
	if observeService(t, rt, "d", "s", "web") != nil || observeService(t, rt, "d", "s", "db") == nil {
		t.Error("a Remove failing for db should remove web and keep db")
	}
	if err := rt.Remove(ctx, s.Ref(), runtime.RemoveOptions{}); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if ds, _ := rt.Observe(ctx, "d"); len(ds.Stacks) != 0 {
		t.Errorf("stacks left: %+v", ds.Stacks)
	}
}

func TestFailInitAndWait(t *testing.T) {
	rt := sim.New(nil)
	s := spec("d", "s", svc("web"))
	s.Stack.InitScripts = []stack.InitScript{{ServiceName: "web", Command: []string{"migrate"}}, {ServiceName: "web", Command: []string{"seed"}}}
	launch(t, rt, s)
	rt.Inject(sim.Fault{Kind: sim.FailInit, Nth: 2})
	if err := rt.RunInit(ctx, s, 0, nil); err != nil {
		t.Fatalf("first script: %v", err)
	}
	se := serviceError(t, rt.RunInit(ctx, s, 1, nil), runtime.ErrFailed)
	if se.ExitCode != 1 || se.Instance != "d-s-web-1" || !strings.Contains(strings.Join(se.Logs, "\n"), "seed") {
		t.Errorf("ServiceError %+v", se)
	}
	if err := rt.RunInit(ctx, s, 2, nil); !errors.Is(err, runtime.ErrInvalid) {
		t.Errorf("RunInit of a missing script: %v, want ErrInvalid", err)
	}

	lost := errors.New("stream reset")
	rt.Inject(sim.Fault{Kind: sim.FailWait, Service: "web", Err: lost})
	if err := rt.Wait(ctx, s, nil); !errors.Is(err, lost) {
		t.Errorf("Wait: %v, want the fault's error", err)
	}
	rt.ClearFaults()
	if err := rt.Wait(ctx, s, nil); err != nil {
		t.Errorf("Wait after ClearFaults: %v", err)
	}
}

func TestCalls(t *testing.T) {
	rt := sim.New(nil)
	s := spec("d", "s", svc("web"))
	s.Stack.InitScripts = []stack.InitScript{{ServiceName: "web"}}
	launch(t, rt, s)
	rt.Observe(ctx, "d")
	rt.RunInit(ctx, s, 0, nil)
	rt.Stop(ctx, s.Ref())
	rt.Start(ctx, s)
	rt.Restart(ctx, s)
	rt.Remove(ctx, s.Ref(), runtime.RemoveOptions{})
	rt.Wait(ctx, s, nil)

	calls := rt.Calls()
	var ops []string
	for _, c := range calls {
		ops = append(ops, c.Op)
		if c.Deployment != "d" || c.Time.IsZero() {
			t.Errorf("call %+v lacks its deployment or time", c)
		}
	}
	want := []string{"apply", "wait", "observe", "init", "stop", "start", "restart", "remove", "wait"}
	if !slices.Equal(ops, want) {
		t.Fatalf("calls %v, want %v", ops, want)
	}
	hash := runtime.StackHash(s)
	for i, c := range calls {
		withSpec := c.Op != "observe" && c.Op != "stop" && c.Op != "remove"
		if withSpec && c.StackHash != hash || !withSpec && c.StackHash != "" {
			t.Errorf("call %d (%s): StackHash %q", i, c.Op, c.StackHash)
		}
		if (c.Err != nil) != (i == len(calls)-1) {
			t.Errorf("call %d (%s): Err %v", i, c.Op, c.Err)
		}
	}
	if !errors.Is(calls[len(calls)-1].Err, runtime.ErrNotFound) {
		t.Errorf("wait after remove recorded %v", calls[len(calls)-1].Err)
	}
	rt.ResetCalls()
	if n := len(rt.Calls()); n != 0 {
		t.Errorf("%d calls after ResetCalls", n)
	}
	rt.Observe(ctx, "d")
	if c := rt.Calls(); len(c) != 1 || c[0].Op != "observe" {
		t.Errorf("calls after reset %+v", c)
	}
}

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lat := map[string]time.Duration{"fast": 20 * time.Millisecond, "slow": 60 * time.Millisecond}
		rt := sim.New(&sim.Options{Latency: func(_, _, service string) (time.Duration, time.Duration) {
			return lat[service], lat[service]
		}})
		s := spec("d", "s", svc("slow"), svc("fast"))
		var created []string
		start := time.Now()
		if err := rt.Apply(ctx, s, func(e runtime.Event) { created = append(created, e.Service) }); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if took != 60*time.Millisecond {
			t.Errorf("Apply took %v; services apply concurrently, so the slowest, 60ms", took)
		}
		if !slices.Equal(created, []string{"fast", "slow"}) {
			t.Errorf("services created in order %v, want fast then slow", created)
		}
		if err := rt.Wait(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 120*time.Millisecond {
			t.Errorf("Apply and Wait took %v; slow is ready 60ms after its 60ms apply", took)
		}

		// Cancelled between the two, Apply keeps what it finished.
		s2 := spec("d", "s2", svc("slow"), svc("fast"))
		cctx, cancel := context.WithTimeout(ctx, 40*time.Millisecond)
		defer cancel()
		if err := rt.Apply(cctx, s2, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled Apply: %v", err)
		}
		if observeService(t, rt, "d", "s2", "fast") == nil || observeService(t, rt, "d", "s2", "slow") != nil {
			t.Error("a cancelled Apply should keep fast, done at 20ms, and not have slow")
		}
	})
}

func TestEndpointsAndNames(t *testing.T) {
	rt := sim.New(&sim.Options{BaseDomain: "example.test"})
	web := svc("web")
	web.Instances = 12
	web.AccessPoints = []stack.AccessPoint{
		{Type: stack.AccessDomain, BackendPorts: []int{8080}},
		{Type: stack.AccessPublicIP, BackendPorts: []int{9000, 9001}, HostPorts: []int{0, 19001}},
		{Type: stack.AccessInternalIP, BackendPorts: []int{7000}, Proto: stack.ProtoUDP},
	}
	launch(t, rt, spec("prod", "shop", web))
	got := observeService(t, rt, "prod", "shop", "web")
	want := []runtime.Endpoint{
		{Type: "domain", Proto: "http", BackendPort: 8080, Address: "127.0.0.1:30000", Host: "web.shop.prod.example.test", Internal: "web.shop:8080"},
		{Type: "public_ip", Proto: "tcp", BackendPort: 9000, Address: "127.0.0.1:30001", Internal: "web.shop:9000"},
		{Type: "public_ip", Proto: "tcp", BackendPort: 9001, Address: "127.0.0.1:19001", Internal: "web.shop:9001"},
		{Type: "internal_ip", Proto: "udp", BackendPort: 7000, Internal: "web.shop:7000"},
	}
	if !slices.Equal(got.Endpoints, want) {
		t.Errorf("endpoints\n got %+v\nwant %+v", got.Endpoints, want)
	}
	for i, in := range got.Instances {
		if want := "prod-shop-web-" + strconv.Itoa(i+1); in.Name != want {
			t.Errorf("instance %d is %s, want %s", i, in.Name, want)
		}
	}
}

func TestInvalid(t *testing.T) {
	rt := sim.New(nil)
	bad := svc("web")
	bad.UnitType = "3U7X"
	vol := svc("db")
	vol.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_15G"}}
	for _, s := range []*runtime.StackSpec{spec("d", "s", bad), spec("d", "s", vol), spec("", "s", svc("web"))} {
		if err := rt.Apply(ctx, s, nil); !errors.Is(err, runtime.ErrInvalid) {
			t.Errorf("Apply %+v: %v, want ErrInvalid", s.Stack.Services, err)
		}
	}
	if err := rt.Stop(ctx, runtime.StackRef{Deployment: "d", Stack: "none"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stop of a missing stack: %v, want ErrNotFound", err)
	}
	if err := rt.Start(ctx, spec("d", "none")); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Start of a missing stack: %v, want ErrNotFound", err)
	}
}

// TestConcurrent drives many deployments and stacks at once, with
// crashes, for the race detector.
func TestConcurrent(t *testing.T) {
	rt := sim.New(&sim.Options{ReadyLatency: time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			dep := "d" + strconv.Itoa(g%4)
			for i := range 20 {
				s := spec(dep, "s"+strconv.Itoa(g)+"-"+strconv.Itoa(i), svc("web"), svc("db"))
				if err := rt.Apply(ctx, s, func(runtime.Event) {}); err != nil {
					errs <- err
					return
				}
				if i%5 == 0 {
					rt.Crash(dep, s.Stack.Name, "db", 1)
				}
				err := rt.Wait(ctx, s, nil)
				if i%5 != 0 && err != nil {
					errs <- err
					return
				}
				if _, err := rt.Observe(ctx, dep); err != nil {
					errs <- err
					return
				}
				if err := rt.Remove(ctx, s.Ref(), runtime.RemoveOptions{DeleteData: i%2 == 0}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for g := range 4 {
		if ds, _ := rt.Observe(ctx, "d"+strconv.Itoa(g)); len(ds.Stacks) != 0 {
			t.Errorf("deployment d%d has stacks left", g)
		}
	}
}

// A watch whose notify falls so far behind that changes are dropped says
// so with "", after the first "" that tells it began.
func TestWatchSaysWhenItDroppedChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := sim.New(nil)
		ctx, cancel := context.WithCancel(context.Background())
		spec := &runtime.StackSpec{Deployment: "shop", Stack: stack.Stack{Name: "app", Services: []stack.Service{
			{Name: "web", UnitType: "1U1G", Image: stack.Image{Name: "web", Tag: "1"}}}}}
		if err := rt.Apply(ctx, spec, nil); err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		var mu sync.Mutex
		var got []string
		done := make(chan error, 1)
		go func() {
			done <- rt.Watch(ctx, func(dep string) {
				mu.Lock()
				first := len(got) == 0
				got = append(got, dep)
				mu.Unlock()
				if first {
					<-release // busy while the changes come
				}
			})
		}()
		synctest.Wait() // the watch began and is busy with its first ""
		for range 200 {
			rt.Crash("shop", "app", "web", 1)
		}
		close(release)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 2 || got[0] != "" || !slices.Contains(got[1:], "") {
			t.Errorf("notified %d times, starting %q; want \"\" first, and again for the changes dropped", len(got), got[:min(len(got), 3)])
		}
		if !slices.Contains(got, "shop") {
			t.Error("no notification names shop")
		}
	})
}

// An exit that a fault rule schedules reaches the watchers at the instant
// it happens, as an engine's event of a dying container would: a
// reconciler that waits on the watch repairs it then, not at its next
// interval.
func TestWatchHearsScheduledExits(t *testing.T) {
	for _, f := range []sim.Fault{
		{Kind: sim.CrashAfterReady, After: time.Hour, ExitCode: 3},
		{Kind: sim.ExitOnStart, After: 90 * time.Minute, ExitCode: 1},
	} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := sim.New(nil)
				rt.Inject(f)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				heard := make(chan time.Time, 16)
				go rt.Watch(ctx, func(dep string) {
					if dep == "shop" {
						heard <- time.Now()
					}
				})
				synctest.Wait()
				spec := &runtime.StackSpec{Deployment: "shop", Stack: stack.Stack{Name: "app", Services: []stack.Service{
					{Name: "web", UnitType: "1U1G", Image: stack.Image{Name: "web", Tag: "1"}}}}}
				if err := rt.Apply(ctx, spec, nil); err != nil {
					t.Fatal(err)
				}
				applied := time.Now()
				<-heard // the Apply
				ds, err := rt.Observe(ctx, "shop")
				if err != nil {
					t.Fatal(err)
				}
				if in := ds.Stacks[0].Services[0].Instances[0]; !in.Running {
					t.Fatalf("instance not running after the apply: %+v", in)
				}
				at := <-heard
				ds, err = rt.Observe(ctx, "shop")
				if err != nil {
					t.Fatal(err)
				}
				in := ds.Stacks[0].Services[0].Instances[0]
				if in.Running || in.ExitCode != f.ExitCode {
					t.Errorf("at the notification %v after the apply, the instance is %+v; want exited with %d", at.Sub(applied), in, f.ExitCode)
				}
				if d := at.Sub(applied); d < f.After {
					t.Errorf("notified %v after the apply, before the exit %v after it", d, f.After)
				}
			})
		})
	}
}

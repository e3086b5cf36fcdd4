package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is an executor over the memory store and the simulated runtime,
// recording every event.
type env struct {
	t   *testing.T
	st  *store.Store
	rt  *sim.Runtime
	ex  *deploy.Executor
	pid string

	mu     sync.Mutex
	events []deploy.Event
}

func newEnv(t *testing.T, simOpts *sim.Options, opts *deploy.Options) *env {
	t.Helper()
	e := &env{t: t, st: memory.New(nil), rt: sim.New(simOpts)}
	o := deploy.Options{}
	if opts != nil {
		o = *opts
	}
	o.OnEvent = func(ev deploy.Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	}
	e.ex = deploy.New(e.rt, e.st, &o)
	t.Cleanup(func() { e.ex.Close() })
	p, err := e.st.CreateProduct(context.Background(), &product.Product{Name: "shop-" + t.Name(), ProviderName: "tests"})
	if err != nil {
		t.Fatal(err)
	}
	e.pid = p.ID
	return e
}

func (e *env) version(name string, deps stack.Deps) string {
	e.t.Helper()
	v, err := e.st.CreateVersion(context.Background(), &product.Version{ProductID: e.pid, Name: name, Active: true, StackDeps: deps})
	if err != nil {
		e.t.Fatal(err)
	}
	return v.ID
}

func (e *env) eventLog() []deploy.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// consistent checks that what the runtime runs is what the record says:
// the same stacks, each recorded hash matching the applied services.
func (e *env) consistent(name string) {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.st.GetDeployment(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	obs, err := e.rt.Observe(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	var recorded, observed []string
	for _, s := range d.Stacks {
		recorded = append(recorded, s.Name)
	}
	for _, s := range obs.Stacks {
		observed = append(observed, s.Name)
	}
	slices.Sort(recorded)
	slices.Sort(observed)
	if !slices.Equal(recorded, observed) {
		e.t.Errorf("record lists stacks %v, runtime runs %v", recorded, observed)
	}
	for _, s := range d.Stacks {
		if s.State == deploy.StateReady && obs.Stack(s.Name) != nil && obs.Stack(s.Name).Status() != runtime.StatusRunning {
			e.t.Errorf("stack %s recorded ready but observed %s", s.Name, obs.Stack(s.Name).Status())
		}
	}
}

func service(name string) stack.Service {
	return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: "1"}}
}

func stk(name string, services ...string) stack.Stack {
	s := stack.Stack{Name: name}
	for _, n := range services {
		s.Services = append(s.Services, service(n))
	}
	return s
}

// threeTiers: db; api, worker; web.
func threeTiers() stack.Deps {
	return stack.Deps{
		{stk("db", "mysql")},
		{stk("api", "server", "sidecar"), stk("worker", "job")},
		{stk("web", "nginx")},
	}
}

func firstIndex(evs []deploy.Event, typ deploy.EventType, stackName string) int {
	for i, ev := range evs {
		if ev.Type == typ && ev.Stack == stackName {
			return i
		}
	}
	return -1
}

func TestLaunchRunsTiersInOrder(t *testing.T) {
	e := newEnv(t, &sim.Options{ApplyLatency: 2 * time.Millisecond, ReadyLatency: 5 * time.Millisecond}, nil)
	vid := e.version("v1", threeTiers())
	res, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.Status != store.StatusAvailable || res.Operation.Status != store.OpSucceeded {
		t.Fatalf("status %s, operation %s", res.Deployment.Status, res.Operation.Status)
	}
	evs := e.eventLog()
	order := [][]string{{"db"}, {"api", "worker"}, {"web"}}
	for t1 := 0; t1+1 < len(order); t1++ {
		for _, before := range order[t1] {
			for _, after := range order[t1+1] {
				r, a := firstIndex(evs, deploy.EventStackReady, before), firstIndex(evs, deploy.EventStackApplying, after)
				if r < 0 || a < 0 || r > a {
					t.Errorf("%s applying (event %d) before %s ready (event %d)", after, a, before, r)
				}
			}
		}
	}
	if evs[0].Type != deploy.EventOperationStarted || evs[len(evs)-1].Type != deploy.EventOperationDone {
		t.Errorf("events start with %s and end with %s", evs[0].Type, evs[len(evs)-1].Type)
	}
	for _, ev := range evs {
		if ev.Deployment != "shop" || ev.OperationID != res.Operation.ID || ev.Time.IsZero() {
			t.Fatalf("event without deployment, operation or time: %+v", ev)
		}
	}
	// The store holds the same log.
	logged, err := e.st.ListEvents(context.Background(), "shop", store.EventQuery{OperationID: res.Operation.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != len(evs) {
		t.Errorf("store logged %d events, callback saw %d", len(logged), len(evs))
	}
	e.consistent("shop")
	st, err := e.ex.Status(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if st.Health != runtime.StatusRunning || len(st.Stacks) != 4 || st.Stacks[0].Name != "db" {
		t.Fatalf("status: %+v", st)
	}
}

func TestLaunchTwiceIsAnError(t *testing.T) {
	e := newEnv(t, nil, nil)
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	_, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second launch: %v, want ErrAlreadyExists", err)
	}
}

func TestDependsOnStartsBeforeTheTierBarrier(t *testing.T) {
	deps := stack.Deps{
		{stk("db", "mysql"), stk("slow", "batch")},
		{stk("api", "server")},
	}
	deps[1][0].DependsOn = []string{"db"}
	slow := 200 * time.Millisecond
	e := newEnv(t, &sim.Options{Latency: func(_, stackName, _ string) (time.Duration, time.Duration) {
		if stackName == "slow" {
			return 0, slow
		}
		return 0, time.Millisecond
	}}, nil)
	vid := e.version("v1", deps)
	if _, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	evs := e.eventLog()
	if a, r := firstIndex(evs, deploy.EventStackReady, "api"), firstIndex(evs, deploy.EventStackReady, "slow"); a > r {
		t.Fatalf("api (depends on db only) became ready after the slow stack of tier 0: events %d, %d", a, r)
	}
}

type failCase struct {
	name   string
	fault  sim.Fault
	policy deploy.Policy
	// wantStatus of the deployment; wantSkipped stacks; wantRunning stacks
	// left in the runtime.
	wantStatus  store.Status
	wantSkipped []string
	wantRunning []string
	wantIs      error
	wantStack   string
}

func TestFailurePolicies(t *testing.T) {
	cases := []failCase{
		{"fail-fast apply", sim.Fault{Kind: sim.FailApply, Stack: "api"}, deploy.FailFast,
			store.StatusError, []string{"web"}, []string{"db", "worker"}, runtime.ErrUnavailable, "api"},
		{"continue apply", sim.Fault{Kind: sim.FailApply, Stack: "api"}, deploy.Continue,
			store.StatusError, []string{"web"}, []string{"db", "worker"}, runtime.ErrUnavailable, "api"},
		{"rollback apply", sim.Fault{Kind: sim.FailApply, Stack: "api"}, deploy.Rollback,
			store.StatusTainted, []string{"web"}, nil, runtime.ErrUnavailable, "api"},
		{"fail-fast exit", sim.Fault{Kind: sim.ExitOnStart, Stack: "db", ExitCode: 3}, deploy.FailFast,
			store.StatusError, []string{"api", "worker", "web"}, []string{"db"}, runtime.ErrFailed, "db"},
		{"rollback exit", sim.Fault{Kind: sim.ExitOnStart, Stack: "db", ExitCode: 3}, deploy.Rollback,
			store.StatusTainted, []string{"api", "worker", "web"}, nil, runtime.ErrFailed, "db"},
		{"continue never ready", sim.Fault{Kind: sim.NeverReady, Stack: "worker"}, deploy.Continue,
			store.StatusError, []string{"web"}, []string{"api", "db", "worker"}, runtime.ErrNotReady, "worker"},
		{"rollback init", sim.Fault{Kind: sim.FailInit, Stack: "db", ExitCode: 2}, deploy.Rollback,
			store.StatusTainted, []string{"api", "worker", "web"}, nil, runtime.ErrFailed, "db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, &sim.Options{ReadyLatency: time.Millisecond}, &deploy.Options{ReadyTimeout: 100 * time.Millisecond})
			deps := threeTiers()
			deps[0][0].InitScripts = []stack.InitScript{{ServiceName: "mysql", Command: []string{"init-db"}}}
			vid := e.version("v1", deps)
			e.rt.Inject(tc.fault)
			res, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid, Policy: tc.policy})
			var oe *deploy.OperationError
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want an OperationError", err)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want it to match %v", err, tc.wantIs)
			}
			var se *deploy.StackError
			if !errors.As(err, &se) || se.Stack != tc.wantStack {
				t.Errorf("err = %v, want a StackError for stack %s", err, tc.wantStack)
			}
			if oe.RolledBack != (tc.policy == deploy.Rollback) {
				t.Errorf("RolledBack = %v", oe.RolledBack)
			}
			if res.Deployment.Status != tc.wantStatus || res.Operation.Status != store.OpFailed {
				t.Errorf("status %s, operation %s; want %s, Failed", res.Deployment.Status, res.Operation.Status, tc.wantStatus)
			}
			skipped := slices.Clone(res.Skipped)
			slices.Sort(skipped)
			want := slices.Clone(tc.wantSkipped)
			slices.Sort(want)
			if !slices.Equal(skipped, want) {
				t.Errorf("skipped %v, want %v", skipped, want)
			}
			obs, _ := e.rt.Observe(context.Background(), "shop")
			var running []string
			for _, s := range obs.Stacks {
				running = append(running, s.Name)
			}
			slices.Sort(running)
			if !slices.Equal(running, tc.wantRunning) {
				t.Errorf("runtime runs %v, want %v", running, tc.wantRunning)
			}
			e.consistent("shop")
			if tc.policy == deploy.Rollback {
				if firstIndex(e.eventLog(), deploy.EventRollbackStarted, "") < 0 {
					t.Errorf("no rollback event")
				}
				if vols, _ := e.rt.Volumes(context.Background(), "shop"); len(vols) != 0 {
					t.Errorf("rollback left volumes: %v", vols)
				}
			}
		})
	}
}

// TestContinueGoesOnWithIndependentBranches: with depends_on, a failure
// skips only the stacks that need the failed one.
func TestContinueGoesOnWithIndependentBranches(t *testing.T) {
	deps := stack.Deps{
		{stk("a", "s"), stk("b", "s")},
		{stk("needs-a", "s"), stk("needs-b", "s")},
		{stk("needs-needs-a", "s")},
	}
	deps[1][0].DependsOn = []string{"a"}
	deps[1][1].DependsOn = []string{"b"}
	deps[2][0].DependsOn = []string{"needs-a"}
	e := newEnv(t, nil, nil)
	vid := e.version("v1", deps)
	e.rt.Inject(sim.Fault{Kind: sim.FailApply, Stack: "a"})
	res, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid, Policy: deploy.Continue})
	if err == nil {
		t.Fatal("launch succeeded")
	}
	slices.Sort(res.Skipped)
	if !slices.Equal(res.Skipped, []string{"needs-a", "needs-needs-a"}) {
		t.Fatalf("skipped %v", res.Skipped)
	}
	if s := res.Deployment.Stack("needs-b"); s == nil || s.State != deploy.StateReady {
		t.Fatalf("independent branch not launched: %+v", s)
	}
}

func TestUpdateTouchesOnlyChangedStacks(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	v1 := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v1}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.rt.Observe(ctx, "shop")

	next := threeTiers()
	next[1][0].Services[0].Image.Tag = "2"           // api: modified
	next[1] = append(next[1][:1], next[1][2:]...)    // worker: removed
	next[2] = append(next[2], stk("cache", "redis")) // cache: added
	next[0][0].Services[0].Instances = 1             // db: same (0 means 1)
	v2 := e.version("v2", next)

	cs, err := e.ex.Preview(ctx, "shop", v2)
	if err != nil {
		t.Fatal(err)
	}
	wantText := `5 stacks: 1 to add, 1 to modify, 1 to remove, 2 unchanged
    db (tier 0)
  ~ api (tier 1, replace): server: image.tag
    web (tier 2)
  + cache (tier 2)
  - worker (tier 1)
`
	if cs.String() != wantText {
		t.Fatalf("preview:\n%s\nwant:\n%s", cs, wantText)
	}
	e.rt.ResetCalls()
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "shop", VersionID: v2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.VersionID != v2 || res.Deployment.Status != store.StatusAvailable {
		t.Fatalf("after update: version %s status %s", res.Deployment.VersionID, res.Deployment.Status)
	}
	var touched []string
	for _, c := range e.rt.Calls() {
		if c.Op == "apply" || c.Op == "remove" {
			touched = append(touched, c.Op+" "+c.Stack)
		}
	}
	if want := []string{"apply api", "apply cache", "remove worker"}; !slices.Equal(touched, want) {
		t.Fatalf("runtime calls %v, want %v", touched, want)
	}
	after, _ := e.rt.Observe(ctx, "shop")
	for _, name := range []string{"db", "web"} {
		b, a := before.Stack(name).Services[0].Instances[0], after.Stack(name).Services[0].Instances[0]
		if a.ID != b.ID || !a.StartedAt.Equal(b.StartedAt) {
			t.Errorf("untouched stack %s was restarted", name)
		}
	}
	e.consistent("shop")
}

func TestUpdateRollbackRestoresPreviousVersion(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	v1 := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v1}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.rt.Observe(ctx, "shop")
	next := threeTiers()
	next[1][0].Services[0].Image.Tag = "2"
	next[2][0].Services[0].Image.Tag = "2"
	next[2] = append(next[2], stk("cache", "redis"))
	v2 := e.version("v2", next)
	e.rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Stack: "web", ExitCode: 1, Nth: 1})
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "shop", VersionID: v2, Policy: deploy.Rollback})
	if err == nil {
		t.Fatal("update succeeded")
	}
	if res.Deployment.Status != store.StatusTainted || res.Deployment.VersionID != v1 {
		t.Fatalf("after rollback: status %s version %s", res.Deployment.Status, res.Deployment.VersionID)
	}
	after, _ := e.rt.Observe(ctx, "shop")
	if after.Stack("cache") != nil {
		t.Errorf("rollback kept the added stack")
	}
	for _, s := range before.Stacks {
		a := after.Stack(s.Name)
		if a == nil {
			t.Errorf("stack %s gone after rollback", s.Name)
			continue
		}
		for i, svc := range s.Services {
			if a.Services[i].Hash != svc.Hash {
				t.Errorf("stack %s service %s runs hash %s after rollback, want %s", s.Name, svc.Name, a.Services[i].Hash, svc.Hash)
			}
		}
	}
	e.consistent("shop")
}

func TestTerminateKeepsVolumesUnlessAsked(t *testing.T) {
	for _, deleteData := range []bool{false, true} {
		t.Run(fmt.Sprint("deleteData=", deleteData), func(t *testing.T) {
			e := newEnv(t, nil, nil)
			ctx := context.Background()
			deps := threeTiers()
			deps[0][0].Services[0].VolumeArgs = []stack.VolumeArg{{MountPath: "/var/lib/mysql", UnitType: "SSD1_10G"}}
			vid := e.version("v1", deps)
			if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
				t.Fatal(err)
			}
			res, err := e.ex.Terminate(ctx, deploy.Request{Deployment: "shop", DeleteData: deleteData})
			if err != nil {
				t.Fatal(err)
			}
			if res.Deployment.Status != store.StatusTerminated || len(res.Deployment.Stacks) != 0 {
				t.Fatalf("after terminate: %s, stacks %v", res.Deployment.Status, res.Deployment.Stacks)
			}
			evs := e.eventLog()
			if firstIndex(evs, deploy.EventStackRemoved, "web") > firstIndex(evs, deploy.EventStackRemoving, "api") {
				t.Errorf("tier 1 removal began before tier 2 was removed")
			}
			obs, _ := e.rt.Observe(ctx, "shop")
			if len(obs.Stacks) != 0 {
				t.Fatalf("runtime still runs %d stacks", len(obs.Stacks))
			}
			vols, _ := e.rt.Volumes(ctx, "shop")
			if deleteData != (len(vols) == 0) {
				t.Fatalf("deleteData=%v, volumes left: %v", deleteData, vols)
			}
			// A terminated deployment can be launched again.
			if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
				t.Fatalf("relaunch: %v", err)
			}
		})
	}
}

func TestDayTwoOperations(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid}); err != nil {
		t.Fatal(err)
	}
	first, _ := e.rt.Observe(ctx, "shop")
	if _, err := e.ex.Scale(ctx, deploy.Request{Deployment: "shop", Stack: "api", Service: "server", Instances: 3}); err != nil {
		t.Fatal(err)
	}
	st, _ := e.ex.Status(ctx, "shop")
	api := st.Stacks[1]
	if api.Name != "api" || api.Services[0].Desired != 3 || api.Services[0].Running != 3 {
		t.Fatalf("after scale: %+v", api.Services[0])
	}
	obs, _ := e.rt.Observe(ctx, "shop")
	if obs.Stack("api").Services[1].Instances[0].ID != first.Stack("api").Services[1].Instances[0].ID {
		t.Errorf("scaling one service replaced another")
	}
	if _, err := e.ex.Stop(ctx, deploy.Request{Deployment: "shop", Stack: "web"}); err != nil {
		t.Fatal(err)
	}
	st, _ = e.ex.Status(ctx, "shop")
	if st.Status != store.StatusAvailable || st.Health != deploy.HealthRunning || st.Sync != deploy.SyncInSync ||
		st.Stacks[3].Health != deploy.HealthStopped || st.Stacks[3].State != deploy.StateStopped {
		t.Fatalf("after stop: health %s, web %+v", st.Health, st.Stacks[3])
	}
	if _, err := e.ex.Start(ctx, deploy.Request{Deployment: "shop", Stack: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ex.Restart(ctx, deploy.Request{Deployment: "shop", Stack: "db"}); err != nil {
		t.Fatal(err)
	}
	st, _ = e.ex.Status(ctx, "shop")
	if st.Health != runtime.StatusRunning {
		t.Fatalf("after start and restart: %s", st.Health)
	}
	d, _ := e.st.GetDeployment(ctx, "shop")
	var ops []string
	for _, op := range d.Operations {
		ops = append(ops, string(op.Type)+":"+string(op.Status))
	}
	want := []string{"launch:Succeeded", "scale:Succeeded", "stop:Succeeded", "start:Succeeded", "restart:Succeeded"}
	if !slices.Equal(ops, want) {
		t.Fatalf("history %v, want %v", ops, want)
	}
	// The scale survives an update.
	next := threeTiers()
	next[2][0].Services[0].Image.Tag = "2"
	if _, err := e.ex.Update(ctx, deploy.Request{Deployment: "shop", VersionID: e.version("v2", next)}); err != nil {
		t.Fatal(err)
	}
	st, _ = e.ex.Status(ctx, "shop")
	if st.Stacks[1].Services[0].Running != 3 {
		t.Fatalf("scale lost by update: %+v", st.Stacks[1].Services[0])
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	for name, tc := range map[string]struct {
		op   store.OpType
		req  deploy.Request
		want error
	}{
		"bad name":        {store.OpLaunch, deploy.Request{Deployment: "Shop_1", VersionID: vid}, deploy.ErrInvalidRequest},
		"no version":      {store.OpLaunch, deploy.Request{Deployment: "shop"}, deploy.ErrInvalidRequest},
		"unknown version": {store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: "pv-nope"}, store.ErrNotFound},
		"bad policy":      {store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: vid, Policy: "yolo"}, deploy.ErrInvalidRequest},
		"update missing":  {store.OpUpdate, deploy.Request{Deployment: "nope", VersionID: vid}, store.ErrNotFound},
		"stop no stack":   {store.OpStop, deploy.Request{Deployment: "nope"}, deploy.ErrInvalidRequest},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.ex.Run(ctx, tc.op, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if len(e.rt.Calls()) != 0 {
		t.Fatalf("bad requests reached the runtime: %v", e.rt.Calls())
	}
}

func TestConfigFilesRenderBeforeAnythingStarts(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	deps := threeTiers()
	deps[0][0].Services[0].AccessPoints = []stack.AccessPoint{{Type: "internal_ip", BackendPorts: []int{3306}}}
	deps[2][0].Services[0].ConfigPaths = []string{"/etc/nginx.conf"}
	vid := e.version("v1", deps)
	_, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid})
	var re *deploy.RenderError
	if !errors.As(err, &re) || !errors.Is(err, deploy.ErrInvalidRequest) {
		t.Fatalf("err = %v, want a RenderError", err)
	}
	if len(e.rt.Calls()) != 0 {
		t.Fatal("a launch with a missing template reached the runtime")
	}
	if _, err := e.st.GetDeployment(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed launch left a record: %v", err)
	}
	res, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid,
		ConfigTemplates: map[string]string{"/etc/nginx.conf": `upstream {{addr "db" "mysql"}} {{.Vars.mode}}`},
		Vars:            map[string]string{"mode": "fast"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.Parameters["var/mode"] != "fast" {
		t.Fatalf("vars not kept: %v", res.Deployment.Parameters)
	}
}

func TestEnvValuesNeverInEventsOrErrors(t *testing.T) {
	e := newEnv(t, nil, nil)
	deps := threeTiers()
	deps[0][0].Services[0].Envs = []string{"MYSQL_ROOT_PASSWORD=hunter2-secret"}
	vid := e.version("v1", deps)
	e.rt.Inject(sim.Fault{Kind: sim.FailApply, Stack: "db", Err: errors.New("engine refused env MYSQL_ROOT_PASSWORD=hunter2-secret")})
	_, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error shows the secret: %v", err)
	}
	if !strings.Contains(err.Error(), "<redacted>") {
		t.Fatalf("error lost its message: %v", err)
	}
	for _, ev := range e.eventLog() {
		if strings.Contains(ev.Message, "hunter2") {
			t.Fatalf("event shows the secret: %v", ev)
		}
	}
	d, _ := e.st.GetDeployment(context.Background(), "shop")
	if strings.Contains(fmt.Sprint(d), "hunter2") {
		t.Fatalf("record shows the secret")
	}
}

// TestEscapedAndShortSecretsNeverLeave: a back-end that quotes a value
// (Docker prints a NUL as \x00) or prints a short one still shows none of
// them, in the error, the events or the record.
func TestEscapedAndShortSecretsNeverLeave(t *testing.T) {
	for name, value := range map[string]string{
		"escaped": "ctl\x07bell\"q\\b\tz",
		"short":   "77331",
		"unicode": "pässwörd",
		"lines":   "first-line-x\nsecond-line-y",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil, nil)
			deps := threeTiers()
			deps[0][0].Services[0].Envs = []string{"DB_PIN=" + value}
			vid := e.version("v1", deps)
			lines := strings.Split(value, "\n")
			e.rt.Inject(sim.Fault{Kind: sim.FailApply, Stack: "db", Err: &runtime.ServiceError{Stack: "db", Service: "mysql",
				Err: fmt.Errorf("refused env %q", "DB_PIN="+value), Logs: append([]string{"DB_PIN=" + value}, lines...)}})
			_, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid})
			leaks := func(where, s string) {
				t.Helper()
				for _, f := range []string{value, strconv.Quote(value), strings.Trim(strconv.Quote(value), `"`)} {
					if strings.Contains(s, f) {
						t.Fatalf("%s shows %q: %s", where, f, s)
					}
				}
				for _, line := range strings.Split(value, "\n") {
					if strings.Contains(s, line) {
						t.Fatalf("%s shows %q: %s", where, line, s)
					}
				}
			}
			if err == nil {
				t.Fatal("the launch succeeded")
			}
			leaks("error", err.Error())
			for _, ev := range e.eventLog() {
				leaks("event", ev.Message)
			}
			d, _ := e.st.GetDeployment(context.Background(), "shop")
			b, _ := json.Marshal(d)
			leaks("record", fmt.Sprint(d)+string(b))
			var se *runtime.ServiceError
			if !errors.As(err, &se) || len(se.Logs) == 0 {
				t.Fatalf("no service error with logs in %v", err)
			}
			leaks("service error", strings.Join(se.Logs, "\n")+se.Reason)
		})
	}
}

// inflight wraps a runtime and counts concurrent calls.
type inflight struct {
	runtime.Runtime
	mu                     sync.Mutex
	applies, waits         int
	maxApplies, maxWaiting int
}

func (r *inflight) Apply(ctx context.Context, spec *runtime.StackSpec, rep runtime.Reporter) error {
	r.mu.Lock()
	r.applies++
	r.maxApplies = max(r.maxApplies, r.applies)
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.applies--; r.mu.Unlock() }()
	return r.Runtime.Apply(ctx, spec, rep)
}

func (r *inflight) Wait(ctx context.Context, spec *runtime.StackSpec, rep runtime.Reporter) error {
	r.mu.Lock()
	r.waits++
	r.maxWaiting = max(r.maxWaiting, r.waits)
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.waits--; r.mu.Unlock() }()
	return r.Runtime.Wait(ctx, spec, rep)
}

func TestConcurrencyBoundsCallsNotWaits(t *testing.T) {
	rt := &inflight{Runtime: sim.New(&sim.Options{ApplyLatency: 5 * time.Millisecond, ReadyLatency: 50 * time.Millisecond})}
	st := memory.New(nil)
	ex := deploy.New(rt, st, &deploy.Options{Concurrency: 2})
	defer ex.Close()
	ctx := context.Background()
	p, _ := st.CreateProduct(ctx, &product.Product{Name: "wide", ProviderName: "tests"})
	var tier stack.Tier
	for i := range 12 {
		tier = append(tier, stk(fmt.Sprintf("s%02d", i), "svc"))
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: stack.Deps{tier}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "wide", VersionID: v.ID}); err != nil {
		t.Fatal(err)
	}
	if rt.maxApplies > 2 {
		t.Errorf("%d applies in flight with Concurrency 2", rt.maxApplies)
	}
	if rt.maxWaiting <= 2 {
		t.Errorf("at most %d stacks waited at once: waits hold semaphore slots", rt.maxWaiting)
	}
}

// TestCancelStopsPromptlyAndRecords cancels a launch while its first
// stack waits for a 10-second readiness: in fake time, the launch ends
// at the instant of the cancellation, recorded.
func TestCancelStopsPromptlyAndRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		waiting := make(chan struct{})
		var once sync.Once
		e := newEnv(t, &sim.Options{ReadyLatency: 10 * time.Second}, nil)
		vid := e.version("v1", threeTiers())
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-waiting
			cancel()
		}()
		begun := time.Now()
		res, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid, OnEvent: func(ev deploy.Event) {
			if ev.Type == deploy.EventStackWaiting {
				once.Do(func() { close(waiting) })
			}
		}})
		if took := time.Since(begun); took >= 10*time.Second {
			t.Fatalf("launch took %s of fake time after cancel: it waited for readiness", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if res.Deployment.Status != store.StatusError {
			t.Fatalf("status %s", res.Deployment.Status)
		}
		d, _ := e.st.GetDeployment(context.Background(), "shop")
		if d.Status != store.StatusError || d.Stack("db").State != deploy.StateInterrupted {
			t.Fatalf("record: %s, db %+v", d.Status, d.Stack("db"))
		}
		if _, err := e.st.GetLease(context.Background(), "shop"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lease not released: %v", err)
		}
	})
}

// deadDriver makes every write fail once dead is set, as if the process
// running the executor had died: nothing more reaches the store.
type deadDriver struct {
	store.Driver
	mu   sync.Mutex
	dead bool
}

func (d *deadDriver) kill() { d.mu.Lock(); d.dead = true; d.mu.Unlock() }
func (d *deadDriver) isDead() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dead
}

var errDead = errors.New("process died")

func (d *deadDriver) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if d.isDead() {
		return errDead
	}
	return d.Driver.Update(ctx, opts, fn)
}

func TestResumeAfterExecutorDied(t *testing.T) {
	synctest.Test(t, testResumeAfterExecutorDied)
}

func testResumeAfterExecutorDied(t *testing.T) {
	ctx := context.Background()
	drv := memory.NewDriver()
	mem := store.New(drv, nil)
	rt := sim.New(&sim.Options{ReadyLatency: 20 * time.Millisecond})
	dead := &deadDriver{Driver: drv}
	p, _ := mem.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	v, _ := mem.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})

	// Executor A dies once the first tier is ready.
	died := make(chan struct{})
	var once sync.Once
	a := deploy.New(rt, store.New(dead, nil), &deploy.Options{Owner: "a", LeaseTTL: 500 * time.Millisecond, OnEvent: func(ev deploy.Event) {
		if ev.Type == deploy.EventStackReady && ev.Stack == "db" {
			once.Do(func() {
				dead.kill()
				close(died)
			})
		}
	}})
	h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	<-died
	b := deploy.New(rt, mem, &deploy.Options{Owner: "b", LeaseTTL: time.Second})
	defer b.Close()
	if _, err := b.Resume(ctx, "shop"); !errors.Is(err, deploy.ErrBusy) {
		t.Fatalf("resume before the lease expired: %v, want ErrBusy", err)
	}
	a.Close() // A gives up once its lease could have expired.
	if _, err := h.Wait(ctx); err == nil {
		t.Fatal("executor A finished despite dying")
	}
	d, _ := mem.GetDeployment(ctx, "shop")
	if d.Status != store.StatusUnderChange || d.LastOperation().Status != store.OpInProgress {
		t.Fatalf("dead executor left %s / %s", d.Status, d.LastOperation().Status)
	}
	opID := d.LastOperation().ID
	if _, err := b.Update(ctx, deploy.Request{Deployment: "shop", VersionID: v.ID}); !errors.Is(err, deploy.ErrBusy) && !errors.Is(err, deploy.ErrInterrupted) {
		t.Fatalf("update of an interrupted deployment: %v", err)
	}
	before, _ := rt.Observe(ctx, "shop")
	dbBefore := before.Stack("db").Services[0].Instances[0].ID
	// A's lease runs out, in the bubble's time.
	if l, err := mem.GetLease(ctx, "shop"); err == nil {
		time.Sleep(time.Until(l.ExpiresAt) + time.Millisecond)
	}
	if l, err := mem.GetLease(ctx, "shop"); err == nil && !l.Expired {
		t.Fatalf("lease %+v still held past its expiry", l)
	}
	rt.ResetCalls()
	res, err := b.Resume(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if res.Operation.ID != opID || res.Deployment.Status != store.StatusAvailable || res.Operation.Owner != "b" {
		t.Fatalf("resumed: op %s (want %s), status %s, owner %s", res.Operation.ID, opID, res.Deployment.Status, res.Operation.Owner)
	}
	obs, _ := rt.Observe(ctx, "shop")
	for _, s := range obs.Stacks {
		for _, svc := range s.Services {
			if len(svc.Instances) != 1 {
				t.Errorf("%s/%s has %d instances after resume", s.Name, svc.Name, len(svc.Instances))
			}
		}
	}
	if got := obs.Stack("db").Services[0].Instances[0].ID; got != dbBefore {
		t.Errorf("resume replaced db's instance %s with %s", dbBefore, got)
	}
	if _, err := b.Resume(ctx, "shop"); !errors.Is(err, deploy.ErrNothingToResume) {
		t.Fatalf("second resume: %v", err)
	}
}

// TestUpdateRepairsFailedStacks: applying the same version again converges
// what a failed operation left behind, without touching what runs.
func TestUpdateRepairsFailedStacks(t *testing.T) {
	e := newEnv(t, nil, nil)
	ctx := context.Background()
	vid := e.version("v1", threeTiers())
	e.rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Stack: "worker", ExitCode: 1, Nth: 1})
	if _, err := e.ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: vid, Policy: deploy.Continue}); err == nil {
		t.Fatal("launch succeeded")
	}
	cs, err := e.ex.Preview(ctx, "shop", vid)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.String(); !strings.Contains(got, "! worker (tier 1): state failed") || !strings.Contains(got, "! web (tier 2): not running") {
		t.Fatalf("preview:\n%s", got)
	}
	e.rt.ResetCalls()
	res, err := e.ex.Update(ctx, deploy.Request{Deployment: "shop", VersionID: vid})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.Status != store.StatusAvailable {
		t.Fatalf("status %s", res.Deployment.Status)
	}
	var applied []string
	for _, c := range e.rt.Calls() {
		if c.Op == "apply" {
			applied = append(applied, c.Stack)
		}
	}
	if !slices.Equal(applied, []string{"worker", "web"}) {
		t.Fatalf("repair applied %v, want [worker web]", applied)
	}
	e.consistent("shop")
}

// TestCloseHandsOver closes an executor in the middle of a launch, as a
// replica does on SIGTERM: the operation stays in progress with its
// lease released, and another executor resumes it at once, without
// waiting for a lease to expire, creating nothing twice.
func TestCloseHandsOver(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(nil)
	rt := sim.New(&sim.Options{ReadyLatency: 20 * time.Millisecond})
	p, _ := mem.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	v, _ := mem.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})
	releases := mem.SubscribeReleases()
	defer releases.Close()

	firstReady := make(chan struct{})
	var once sync.Once
	// A lease far longer than the test: only a handover lets b in.
	a := deploy.New(rt, mem, &deploy.Options{Owner: "a", LeaseTTL: time.Hour, OnEvent: func(ev deploy.Event) {
		if ev.Type == deploy.EventStackReady {
			once.Do(func() { close(firstReady) })
		}
	}})
	h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	<-firstReady
	a.Close()
	if _, err := h.Wait(ctx); !errors.Is(err, deploy.ErrHandedOver) {
		t.Fatalf("the handed-over launch returned %v, want ErrHandedOver", err)
	}
	d, err := mem.GetDeployment(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if op := d.LastOperation(); d.Status != store.StatusUnderChange || op.Status != store.OpInProgress || op.ID != h.OperationID {
		t.Fatalf("after the handover: status %s, operation %+v", d.Status, op)
	}
	if _, err := mem.GetLease(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lease after the handover: %v, want it released", err)
	}
	select {
	case <-releases.Changed():
	default:
		t.Error("the release woke no subscriber")
	}
	evs, _ := mem.ListEvents(ctx, "shop", store.EventQuery{})
	if last := evs[len(evs)-1]; last.Type != string(deploy.EventOperationHandedOver) {
		t.Errorf("last event %+v, want %s", last, deploy.EventOperationHandedOver)
	}

	b := deploy.New(rt, mem, &deploy.Options{Owner: "b", LeaseTTL: time.Hour})
	defer b.Close()
	hs, err := b.ResumeAll(ctx)
	if err != nil || len(hs) != 1 {
		t.Fatalf("ResumeAll right after the handover: %d handles, %v", len(hs), err)
	}
	res, err := hs[0].Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Operation.ID != h.OperationID || res.Deployment.Status != store.StatusAvailable || res.Operation.Owner != "b" {
		t.Fatalf("resumed: op %s (want %s), status %s, owner %s", res.Operation.ID, h.OperationID, res.Deployment.Status, res.Operation.Owner)
	}
	obs, _ := rt.Observe(ctx, "shop")
	for _, s := range obs.Stacks {
		for _, svc := range s.Services {
			if len(svc.Instances) != 1 {
				t.Errorf("%s/%s has %d instances after the handover", s.Name, svc.Name, len(svc.Instances))
			}
		}
	}
}

// TestLeaseLostStopsAtOnce takes an executor's lease away from under it
// (another owner takes it as if it had expired): the operation stops
// with ErrLeaseLost and records nothing more.
func TestLeaseLostStopsAtOnce(t *testing.T) {
	ctx := context.Background()
	drv := memory.NewDriver()
	mem := store.New(drv, nil)
	rt := sim.New(&sim.Options{ReadyLatency: 50 * time.Millisecond})
	p, _ := mem.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	v, _ := mem.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})
	firstReady := make(chan struct{})
	var once sync.Once
	a := deploy.New(rt, mem, &deploy.Options{Owner: "a", LeaseTTL: 300 * time.Millisecond, OnEvent: func(ev deploy.Event) {
		if ev.Type == deploy.EventStackReady {
			once.Do(func() { close(firstReady) })
		}
	}})
	defer a.Close()
	h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	<-firstReady
	// Another owner takes the lease, as if it had expired.
	err = drv.Update(ctx, nil, func(tx store.Tx) error {
		l, err := tx.Lease(ctx, "shop")
		if err != nil {
			return err
		}
		c := *l
		c.Owner, c.ExpiresAt = "b", time.Now().Add(time.Hour)
		return tx.PutLease(ctx, &c, l)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Wait(ctx)
	if !errors.Is(err, deploy.ErrLeaseLost) {
		t.Fatalf("the launch returned %v, want ErrLeaseLost", err)
	}
	if l, _ := mem.GetLease(ctx, "shop"); l == nil || l.Owner != "b" {
		t.Errorf("lease %+v, want b's, untouched", l)
	}
}

// slowWrites lets the first writes of records and events through and
// holds the others until released, as a store busy with a large launch's
// records would; lease writes (urgent) always pass.
type slowWrites struct {
	store.Driver
	pass    atomic.Int32 // writes still let through
	release chan struct{}
}

func (d *slowWrites) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if (opts == nil || !opts.Urgent) && d.pass.Add(-1) < 0 {
		select {
		case <-d.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.Driver.Update(ctx, opts, fn)
}

// TestRenewalNotBlockedByWrites holds the operation's record and event
// writes for several lease TTLs: the lease is renewed all along, so the
// operation is neither cancelled nor taken over from itself.
func TestRenewalNotBlockedByWrites(t *testing.T) {
	synctest.Test(t, testRenewalNotBlockedByWrites)
}

func testRenewalNotBlockedByWrites(t *testing.T) {
	ctx := context.Background()
	drv := memory.NewDriver()
	mem := store.New(drv, nil)
	p, _ := mem.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	v, _ := mem.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})
	slow := &slowWrites{Driver: drv, release: make(chan struct{})}
	slow.pass.Store(1) // the deployment's first record; nothing after it
	const ttl = 300 * time.Millisecond
	a := deploy.New(sim.New(nil), store.New(slow, nil), &deploy.Options{Owner: "a", LeaseTTL: ttl})
	defer a.Close()
	h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	// Five TTLs pass, in lease time: another executor finds the lease
	// held by a throughout.
	b := deploy.New(sim.New(nil), mem, &deploy.Options{Owner: "b", LeaseTTL: ttl})
	defer b.Close()
	for range 50 {
		time.Sleep(ttl / 10) // in the bubble's time: the writes stay held
		l, err := mem.GetLease(ctx, "shop")
		if err != nil || l.Owner != "a" || l.Expired {
			t.Fatalf("lease while writes are held: %+v, %v", l, err)
		}
		if _, err := b.Resume(ctx, "shop"); !errors.Is(err, deploy.ErrBusy) {
			t.Fatalf("another executor could resume: %v", err)
		}
	}
	close(slow.release)
	res, err := h.Wait(ctx)
	if err != nil || res.Deployment.Status != store.StatusAvailable {
		t.Fatalf("launch: %v, %+v", err, res)
	}
	evs, _ := mem.ListEvents(ctx, "shop", store.EventQuery{})
	started := 0
	for _, e := range evs {
		if e.Type == string(deploy.EventOperationStarted) {
			started++
		}
	}
	if started != 1 {
		t.Errorf("%d operation-started events, want 1: the operation was taken over", started)
	}
}

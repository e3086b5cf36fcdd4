package docker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// instances returns the container IDs of a stack by instance name.
func instances(t testing.TB, rt *docker.Runtime, dep, stk string) map[string]runtime.InstanceState {
	t.Helper()
	st, err := rt.Observe(context.Background(), dep)
	must(t, err)
	out := map[string]runtime.InstanceState{}
	if s := st.Stack(stk); s != nil {
		for _, svc := range s.Services {
			for _, in := range svc.Instances {
				out[in.Name] = in
			}
		}
	}
	return out
}

func TestConfigFilesDNSAndEndpoints(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{BaseDomain: "example.test"})
	ctx := ctxT(t, 3*time.Minute)
	api := web(t, "api", 8080, "TESTAPP_PRINT_FILE=/etc/app/conf.d/app.conf,/etc/app/other.conf", "TESTAPP_REQUIRE_FILE=1")
	api.AccessPoints = []stack.AccessPoint{
		{Type: stack.AccessDomain, BackendPorts: []int{8080}},
		{Type: stack.AccessInternalIP, BackendPorts: []int{9000}},
	}
	api.ConfigPaths = []string{"/etc/app/conf.d/app.conf", "/etc/app/other.conf"}
	db := stack.Service{Name: "db", UnitType: "1U1G", Image: img(t), Envs: []string{"TESTAPP_TCP=5432"},
		AccessPoints: []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{5432}}}}
	spec := stackSpec("cfg", "app", 0, api, db)
	spec.Files = map[string]map[string][]byte{"api": {
		"/etc/app/conf.d/app.conf": []byte("listen = 8080\n"),
		"/etc/app/other.conf":      []byte("db = db.app:5432\n"),
	}}
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))

	addr := endpoint(t, rt, "cfg", "app", "api", 8080)
	for path, want := range spec.Files["api"] {
		code, body, err := get("http://" + addr + "/file?path=" + url.QueryEscape(path))
		if err != nil || code != 200 || body != string(want) {
			t.Errorf("file %s: %d %q %v, want %q", path, code, body, err, want)
		}
	}
	// Owner-only files; created directories are traversable.
	cli := rt.Client()
	id := instances(t, rt, "cfg", "app")[rt.Options().Namespace+"-cfg-app-api-1"].ID
	for path, want := range map[string]string{"/etc/app/conf.d/app.conf": "-rw-------", "/etc/app/conf.d": "drwxr-xr-x", "/etc": "drwxr-xr-x"} {
		res, err := cli.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: path})
		must(t, err)
		if got := res.Stat.Mode.String(); got != want {
			t.Errorf("mode of %s = %s, want %s", path, got, want)
		}
	}

	// DNS inside the deployment network, answered by the engine.
	for _, name := range []string{"db.app", "app-db", "api.app"} {
		code, body, err := get("http://" + addr + "/dns?name=" + name)
		if err != nil || code != 200 {
			t.Errorf("resolve %s in the network: %d %s %v", name, code, body, err)
		}
	}

	st, err := rt.Observe(ctx, "cfg")
	must(t, err)
	eps := st.Stack("app").Service("api").Endpoints
	var domain, internal *runtime.Endpoint
	for i := range eps {
		switch eps[i].Type {
		case stack.AccessDomain:
			domain = &eps[i]
		case stack.AccessInternalIP:
			internal = &eps[i]
		}
	}
	if domain == nil || domain.Host != "api.app.cfg.example.test" || !strings.HasPrefix(domain.Address, "127.0.0.1:") || domain.Proto != "http" {
		t.Errorf("domain endpoint %+v", domain)
	}
	if internal == nil || internal.Address != "" || internal.Internal != "api.app:9000" {
		t.Errorf("internal endpoint %+v", internal)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("idem", "app", 0, web(t, "api", 8080), stack.Service{Name: "w", UnitType: "1U1G", Image: img(t)})
	spec.Files = map[string]map[string][]byte{"w": {"/etc/w.conf": []byte("x")}}
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	before := instances(t, rt, "idem", "app")

	var evs []runtime.Event
	must(t, rt.Apply(ctx, spec, func(e runtime.Event) { evs = append(evs, e) }))
	must(t, rt.Wait(ctx, spec, nil))
	after := instances(t, rt, "idem", "app")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("a second Apply changed containers:\nbefore %v\nafter  %v", before, after)
	}
	for _, e := range evs {
		if e.Type != runtime.EventServiceUnchanged {
			t.Errorf("second Apply reported %s %s: %s", e.Type, e.Service, e.Message)
		}
	}
	// A fresh Runtime (a restarted control plane) sees the same and
	// changes nothing either.
	rt2, err := docker.New(rt.Client(), &docker.Options{Namespace: rt.Options().Namespace, HostIP: rt.Options().HostIP})
	must(t, err)
	defer rt2.Close()
	must(t, rt2.Apply(ctx, spec, nil))
	st1, err := rt.Observe(ctx, "idem")
	must(t, err)
	st2, err := rt2.Observe(ctx, "idem")
	must(t, err)
	b1, _ := json.Marshal(st1)
	b2, _ := json.Marshal(st2)
	if string(b1) != string(b2) {
		t.Errorf("a fresh runtime observes differently:\n%s\n%s", b1, b2)
	}
	if fmt.Sprint(instances(t, rt2, "idem", "app")) != fmt.Sprint(before) {
		t.Errorf("a fresh runtime's Apply changed containers")
	}
}

// recordEvents records the engine's container events of a namespace.
type recorder struct {
	mu  sync.Mutex
	evs []events.Message
}

func recordEvents(t testing.TB, cli *client.Client, ns string) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rec := &recorder{}
	ev := cli.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).Add("type", "container").
		Add("label", docker.DefaultLabelPrefix+".namespace="+ns)})
	go func() {
		for {
			select {
			case m := <-ev.Messages:
				rec.mu.Lock()
				rec.evs = append(rec.evs, m)
				rec.mu.Unlock()
			case <-ev.Err:
				return
			}
		}
	}()
	return rec
}

// first returns the time of the first event of a container (by ID) with
// the action, or zero.
func (r *recorder) first(id string, action events.Action) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.evs {
		if m.Actor.ID == id && m.Action == action {
			return time.Unix(0, m.TimeNano)
		}
	}
	return time.Time{}
}

func TestReplaceStartsNewBeforeRemovingOld(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	rec := recordEvents(t, rt.Client(), rt.Options().Namespace)
	api := web(t, "api", 8080)
	api.Instances = 2
	spec := stackSpec("repl", "app", 0, api)
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	before := instances(t, rt, "repl", "app")

	spec.Stack.Services[0].Envs = append(spec.Stack.Services[0].Envs, "VERSION=2", "TESTAPP_READY_AFTER=500ms")
	var evs []runtime.Event
	must(t, rt.Apply(ctx, spec, func(e runtime.Event) { evs = append(evs, e) }))
	must(t, rt.Wait(ctx, spec, nil))
	after := instances(t, rt, "repl", "app")
	if len(after) != 2 {
		t.Fatalf("after replace: %v", after)
	}
	for name, in := range after {
		old, ok := before[name]
		if !ok || old.ID == in.ID {
			t.Fatalf("%s not replaced: before %v after %v", name, old, in)
		}
		healthy := rec.first(in.ID, events.ActionHealthStatusHealthy)
		died := rec.first(old.ID, events.ActionDie)
		if healthy.IsZero() || died.IsZero() || !healthy.Before(died) {
			t.Errorf("%s: new healthy at %v, old died at %v: want the new ready first", name, healthy, died)
		}
	}
	if !slices.ContainsFunc(evs, func(e runtime.Event) bool { return e.Type == runtime.EventServiceReplaced }) {
		t.Errorf("no replaced event in %v", evs)
	}
	cs, _, _ := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs) != 2 {
		t.Errorf("containers after replace: %v", cs)
	}
}

func TestReplaceThatNeverGetsReadyKeepsTheOld(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("keep", "app", 0, web(t, "api", 8080))
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	before := instances(t, rt, "keep", "app")

	bad := *spec
	bad.Stack.Services = slices.Clone(spec.Stack.Services)
	bad.Stack.Services[0].Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "exit", "1", "never"},
		Period: stack.Duration(200 * time.Millisecond), Timeout: stack.Duration(2 * time.Second)}
	err := rt.Apply(ctx, &bad, nil)
	if !isErr(err, runtime.ErrNotReady) {
		t.Fatalf("Apply of a never-ready replacement: %v", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "last health check: exit 1:") || !strings.Contains(err.Error(), "never") {
		t.Errorf("the error does not show the health check output: %v", err)
	}
	if after := instances(t, rt, "keep", "app"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the old container did not stay:\nbefore %v\nafter  %v", before, after)
	}
	cs, _, _ := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs) != 1 {
		t.Errorf("containers: %v", cs)
	}
	must(t, rt.Wait(ctx, spec, nil))
}

func TestReplaceWithVolumeStopsFirstAndKeepsData(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	db := web(t, "db", 8080)
	db.VolumeArgs = []stack.VolumeArg{{MountPath: "/var/lib/data", UnitType: "SSD1_20G"}}
	spec := stackSpec("vol", "data", 0, db)
	spec.Stack.InitScripts = []stack.InitScript{{ServiceName: "db", Command: []string{"/testapp", "write", "/var/lib/data/marker", "kept"}}}
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	must(t, rt.RunInit(ctx, spec, 0, nil))

	_, _, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
	want := rt.Options().Namespace + "-vol-data-db-1-var-lib-data"
	if !slices.Contains(vols, want) {
		t.Fatalf("volumes %v, want %s", vols, want)
	}
	v, err := rt.Client().VolumeInspect(ctx, want, client.VolumeInspectOptions{})
	must(t, err)
	for k, w := range map[string]string{"volume-class": "SSD1", "volume-size": fmt.Sprint(int64(20) << 30), "volume-type": "SSD1_20G", "mount-path": "/var/lib/data"} {
		if got := v.Volume.Labels[docker.DefaultLabelPrefix+"."+k]; got != w {
			t.Errorf("volume label %s = %q, want %q", k, got, w)
		}
	}

	rec := recordEvents(t, rt.Client(), rt.Options().Namespace)
	before := instances(t, rt, "vol", "data")
	spec.Stack.Services[0].Envs = append(spec.Stack.Services[0].Envs, "VERSION=2")
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	after := instances(t, rt, "vol", "data")
	for name, in := range after {
		old := before[name]
		if old.ID == in.ID {
			t.Fatalf("%s not replaced", name)
		}
		died, started := rec.first(old.ID, events.ActionDie), rec.first(in.ID, events.ActionStart)
		if died.IsZero() || started.IsZero() || !died.Before(started) {
			t.Errorf("%s: old died at %v, new started at %v: want stop first", name, died, started)
		}
	}
	addr := endpoint(t, rt, "vol", "data", "db", 8080)
	if code, body, err := get("http://" + addr + "/file?path=/var/lib/data/marker"); err != nil || code != 200 || body != "kept\n" {
		t.Errorf("data after replace: %d %q %v", code, body, err)
	}

	// Remove keeps the volume unless asked.
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}))
	cs, nets, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs) != 0 || len(nets) != 0 || !slices.Equal(vols, []string{want}) {
		t.Errorf("after remove: containers %v networks %v volumes %v", cs, nets, vols)
	}
	// A new launch finds the data again.
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	addr = endpoint(t, rt, "vol", "data", "db", 8080)
	if code, body, err := get("http://" + addr + "/file?path=/var/lib/data/marker"); err != nil || code != 200 || body != "kept\n" {
		t.Errorf("data after relaunch: %d %q %v", code, body, err)
	}
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{DeleteData: true}))
	cs, nets, vols = leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs)+len(nets)+len(vols) != 0 {
		t.Errorf("after remove with data: containers %v networks %v volumes %v", cs, nets, vols)
	}
}

func TestScaleTouchesOnlyTheDifference(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("scale", "app", 0, web(t, "api", 8080))
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	one := instances(t, rt, "scale", "app")

	spec.Stack.Services[0].Instances = 3
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	three := instances(t, rt, "scale", "app")
	if len(three) != 3 {
		t.Fatalf("scaled to 3: %v", three)
	}
	for name, in := range one {
		if three[name].ID != in.ID {
			t.Errorf("scaling up replaced %s", name)
		}
	}
	spec.Stack.Services[0].Instances = 2
	var evs []runtime.Event
	must(t, rt.Apply(ctx, spec, func(e runtime.Event) { evs = append(evs, e) }))
	two := instances(t, rt, "scale", "app")
	if len(two) != 2 {
		t.Fatalf("scaled to 2: %v", two)
	}
	for name, in := range two {
		if three[name].ID != in.ID {
			t.Errorf("scaling down replaced %s", name)
		}
		if strings.HasSuffix(name, "-3") {
			t.Errorf("scaling down kept the highest instance %s", name)
		}
	}
	if len(evs) != 1 || evs[0].Type != runtime.EventServiceScaled {
		t.Errorf("events %v", evs)
	}
	st, err := rt.Observe(ctx, "scale")
	must(t, err)
	if d := st.Stack("app").Service("api").Desired; d != 2 {
		t.Errorf("desired %d", d)
	}
}

func TestRemovedServiceGoes(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("drop", "app", 0, web(t, "api", 8080), stack.Service{Name: "w", UnitType: "1U1G", Image: img(t)})
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	spec.Stack.Services = spec.Stack.Services[:1]
	var evs []runtime.Event
	must(t, rt.Apply(ctx, spec, func(e runtime.Event) { evs = append(evs, e) }))
	st, err := rt.Observe(ctx, "drop")
	must(t, err)
	if s := st.Stack("app"); len(s.Services) != 1 || s.Services[0].Name != "api" {
		t.Errorf("services after dropping w: %+v", s.Services)
	}
	if !slices.ContainsFunc(evs, func(e runtime.Event) bool { return e.Type == runtime.EventServiceRemoved && e.Service == "w" }) {
		t.Errorf("events %v", evs)
	}
}

func TestDeploymentsAndNamespacesAreIsolated(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	other := newRuntime(t, nil) // another namespace, same deployment names
	ctx := ctxT(t, 3*time.Minute)
	a := stackSpec("a", "app", 0, web(t, "api", 8080))
	b := stackSpec("b", "app", 0, web(t, "api", 8080))
	for _, x := range []struct {
		rt   *docker.Runtime
		spec *runtime.StackSpec
	}{{rt, a}, {rt, b}, {other, a}} {
		must(t, x.rt.Apply(ctx, x.spec, nil))
		must(t, x.rt.Wait(ctx, x.spec, nil))
	}
	bBefore := instances(t, rt, "b", "app")
	otherBefore := instances(t, other, "a", "app")
	must(t, rt.Remove(ctx, a.Ref(), runtime.RemoveOptions{DeleteData: true}))
	if got := instances(t, rt, "a", "app"); len(got) != 0 {
		t.Errorf("a still has %v", got)
	}
	if got := instances(t, rt, "b", "app"); fmt.Sprint(got) != fmt.Sprint(bBefore) {
		t.Errorf("removing a changed b: %v -> %v", bBefore, got)
	}
	if got := instances(t, other, "a", "app"); fmt.Sprint(got) != fmt.Sprint(otherBefore) {
		t.Errorf("removing a changed the other namespace's a: %v -> %v", otherBefore, got)
	}
	_, nets, _ := leftovers(t, rt.Client(), rt.Options().Namespace)
	if !slices.Equal(nets, []string{rt.Options().Namespace + "-b-net"}) {
		t.Errorf("networks %v", nets)
	}
}

func TestStacksOfOneDeploymentRunConcurrently(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 5*time.Minute)
	var specs []*runtime.StackSpec
	for i := range 4 {
		specs = append(specs, stackSpec("conc", fmt.Sprintf("s%d", i), 0, web(t, "api", 8080), stack.Service{Name: "w", UnitType: "1U1G", Image: img(t)}))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, spec := range specs {
		wg.Go(func() {
			if err := rt.Apply(ctx, spec, nil); err != nil {
				errs[i] = err
				return
			}
			errs[i] = rt.Wait(ctx, spec, nil)
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	_, nets, _ := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(nets) != 1 {
		t.Errorf("networks after concurrent applies: %v", nets)
	}
	st, err := rt.Observe(ctx, "conc")
	must(t, err)
	if len(st.Stacks) != 4 || st.Status() != runtime.StatusRunning {
		t.Errorf("observed %d stacks, %s", len(st.Stacks), st.Status())
	}
	for i, spec := range specs {
		wg.Go(func() { errs[i] = rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{DeleteData: true}) })
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	cs, nets, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs)+len(nets)+len(vols) != 0 {
		t.Errorf("after removing every stack: containers %v networks %v volumes %v", cs, nets, vols)
	}
}

package docker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// These tests drive the Docker runtime through the deploy executor, as a
// control plane does.

// kodoDouble is the seed product examples/kodo-double.json with the test
// image everywhere: mysql-1 listens on 3306 and gets ready after a
// moment, each authproxy-in answers HTTP on 9085 and needs its rendered
// config file to start.
func kodoDouble(t testing.TB) stack.Deps {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "kodo-double.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := product.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	image := img(t)
	for _, tier := range doc.StackDeps {
		for si := range tier {
			for k := range tier[si].Services {
				svc := &tier[si].Services[k]
				svc.Image = image
				svc.Command = nil // the test image serves by itself
				switch svc.Name {
				case "mysql-1":
					svc.Envs = append(svc.Envs, "TESTAPP_SERVICE=mysql-1", "TESTAPP_TCP=3306", "TESTAPP_READY_AFTER=1s")
					svc.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{3306}}}
					svc.Readiness = &stack.Probe{Type: stack.ProbeTCP, Port: 3306, Period: stack.Duration(200 * time.Millisecond)}
				case "authproxy-in":
					conf := svc.ConfigPaths[0]
					svc.Envs = append(svc.Envs, "TESTAPP_SERVICE="+tier[si].Name, "TESTAPP_HTTP=9085",
						"TESTAPP_PRINT_FILE="+conf, "TESTAPP_REQUIRE_FILE=1")
					svc.Readiness = &stack.Probe{Type: stack.ProbeHTTP, Port: 9085, Path: "/healthz", Period: stack.Duration(200 * time.Millisecond)}
				}
			}
		}
	}
	return doc.StackDeps
}

var kodoTemplates = map[string]string{
	"/authproxy_in/qboxauthproxy.conf": "stack = {{.Stack}}\nmysql = {{addr \"mysql-cluster\" \"mysql-1\"}}\n",
}

// catalog is a store with one product and the given versions.
type catalog struct {
	st       *store.Store
	product  *product.Product
	versions []*product.Version
}

func newCatalog(t testing.TB, name string, versions ...stack.Deps) *catalog {
	t.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProduct(ctx, &product.Product{Name: name, ProviderName: "stackwave tests"})
	must(t, err)
	c := &catalog{st: st, product: p}
	for i, deps := range versions {
		v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v" + string(rune('1'+i)), Active: true, StackDeps: deps})
		must(t, err)
		c.versions = append(c.versions, v)
	}
	return c
}

// opLog collects an executor's events.
type opLog struct {
	mu       sync.Mutex
	evs      []deploy.Event
	watchers map[int]func(deploy.Event)
	nextW    int
}

func (l *opLog) add(e deploy.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	for _, w := range l.watchers {
		w(e)
	}
	l.mu.Unlock()
}

// watch calls fn with every later event until the returned func is
// called; fn must not block.
func (l *opLog) watch(fn func(deploy.Event)) (stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.watchers == nil {
		l.watchers = map[int]func(deploy.Event){}
	}
	id := l.nextW
	l.nextW++
	l.watchers[id] = fn
	return func() {
		l.mu.Lock()
		delete(l.watchers, id)
		l.mu.Unlock()
	}
}

// first returns the first event of a type for a stack.
func (l *opLog) first(typ deploy.EventType, stk string) (deploy.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.evs {
		if e.Type == typ && e.Stack == stk {
			return e, true
		}
	}
	return deploy.Event{}, false
}

func newExecutor(t testing.TB, rt runtime.Runtime, st *store.Store) (*deploy.Executor, *opLog) {
	log := &opLog{}
	ex := deploy.New(rt, st, &deploy.Options{OnEvent: log.add, ReadyTimeout: 2 * time.Minute})
	t.Cleanup(func() { ex.Close() })
	return ex, log
}

func TestKodoDoubleEndToEnd(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{ProbeBinary: probeBinary(t), BaseDomain: "kodo.test"})
	cli := rt.Client()
	ns := rt.Options().Namespace
	rec := recordEvents(t, cli, ns)
	v1 := kodoDouble(t)
	v2 := kodoDouble(t)
	v2[1][1].Services[0].Envs = append(v2[1][1].Services[0].Envs, "KODO_RELEASE=2") // kodo-2 only
	cat := newCatalog(t, "kodo-double", v1, v2)
	ex, log := newExecutor(t, rt, cat.st)
	ctx := ctxT(t, 5*time.Minute)

	_, err := ex.Launch(ctx, deploy.Request{Deployment: "kodo", VersionID: cat.versions[0].ID, ConfigTemplates: kodoTemplates})
	must(t, err)

	// Tier order: both kodo stacks started after mysql-1 was healthy.
	st, err := rt.Observe(ctx, "kodo")
	must(t, err)
	if st.Status() != runtime.StatusRunning || len(st.Stacks) != 3 {
		t.Fatalf("after launch: %s, %d stacks", st.Status(), len(st.Stacks))
	}
	mysql := st.Stack("mysql-cluster").Service("mysql-1").Instances[0]
	healthy := rec.first(mysql.ID, events.ActionHealthStatusHealthy)
	mysqlReady, ok := log.first(deploy.EventStackReady, "mysql-cluster")
	if healthy.IsZero() || !ok {
		t.Fatalf("mysql-1 healthy at %v, stack ready event %v", healthy, ok)
	}
	for _, name := range []string{"kodo-1", "kodo-2"} {
		s := st.Stack(name)
		if s == nil || s.Tier != 1 {
			t.Fatalf("stack %s: %+v", name, s)
		}
		in := s.Service("authproxy-in").Instances[0]
		started := rec.first(in.ID, events.ActionStart)
		if started.IsZero() || !started.After(healthy) || !in.StartedAt.After(healthy) {
			t.Errorf("%s started at %v (event %v), before mysql-1 was healthy at %v", name, in.StartedAt, started, healthy)
		}
		applying, ok := log.first(deploy.EventStackApplying, name)
		if !ok || applying.Time.Before(mysqlReady.Time) {
			t.Errorf("%s applied at %v, before mysql-cluster was ready at %v", name, applying.Time, mysqlReady.Time)
		}
		// Reachable on its published port, with its config in place.
		var addr string
		for _, ep := range s.Service("authproxy-in").Endpoints {
			if ep.Type == stack.AccessDomain && ep.BackendPort == 9085 {
				addr = ep.Address
				if ep.Host != "authproxy-in."+name+".kodo.kodo.test" {
					t.Errorf("%s domain host %q", name, ep.Host)
				}
			}
		}
		code, body, err := get("http://" + addr + "/file?path=/authproxy_in/qboxauthproxy.conf")
		if err != nil || code != 200 || body != "stack = "+name+"\nmysql = mysql-1.mysql-cluster:3306\n" {
			t.Errorf("%s at %s: %d %q %v", name, addr, code, body, err)
		}
	}

	// Upgrade kodo-2 alone.
	before := idsOf(st)
	res, err := ex.Update(ctx, deploy.Request{Deployment: "kodo", VersionID: cat.versions[1].ID})
	must(t, err)
	t.Logf("update: %s", res.Operation.Message)
	st, err = rt.Observe(ctx, "kodo")
	must(t, err)
	after := idsOf(st)
	for name, id := range before {
		changed := after[name] != id
		if strings.Contains(name, "-kodo-2-") != changed {
			t.Errorf("%s: %s -> %s", name, id, after[name])
		}
	}
	if st.Status() != runtime.StatusRunning {
		t.Errorf("after update: %s", st.Status())
	}

	// Terminate: nothing but the kept mysql volume remains.
	_, err = ex.Terminate(ctx, deploy.Request{Deployment: "kodo"})
	must(t, err)
	cs, nets, vols := leftovers(t, cli, ns)
	if len(cs) != 0 || len(nets) != 0 || !slices.Equal(vols, []string{ns + "-kodo-mysql-cluster-mysql-1-1-var-lib-mysql"}) {
		t.Errorf("after terminate: containers %v networks %v volumes %v", cs, nets, vols)
	}
}

// idsOf maps instance names to container IDs.
func idsOf(st *runtime.DeploymentState) map[string]string {
	out := map[string]string{}
	for _, s := range st.Stacks {
		for _, svc := range s.Services {
			for _, in := range svc.Instances {
				out[in.Name] = in.ID
			}
		}
	}
	return out
}

// twoTiers is a product whose second tier holds bad, after a good tier.
func twoTiers(t testing.TB, bad stack.Service) stack.Deps {
	good := web(t, "api", 8080)
	good.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	return stack.Deps{
		{{Name: "base", Services: []stack.Service{good}}},
		{{Name: "app", Services: []stack.Service{web(t, "front", 8080), bad}}},
	}
}

func TestRollbackLeavesNothing(t *testing.T) {
	t.Parallel()
	exits := web(t, "bad", 8081, "TESTAPP_EXIT_AFTER=500ms", "TESTAPP_EXIT_CODE=3")
	exits.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "exit", "1"}, Timeout: stack.Duration(time.Minute)}
	neverReady := web(t, "bad", 8081, "TESTAPP_READY_AFTER=1h")
	neverReady.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8081/healthz"},
		Period: stack.Duration(200 * time.Millisecond), Timeout: stack.Duration(3 * time.Second)}
	missing := stack.Service{Name: "bad", UnitType: "1U1G", Image: stack.Image{Name: "stackwave-test/missing", Tag: "1"}}
	for _, tc := range []struct {
		name   string
		bad    stack.Service
		want   error
		reason string
		cut    bool
	}{
		{"exit", exits, runtime.ErrFailed, "Exited", false},
		{"never-ready", neverReady, runtime.ErrNotReady, "Timeout", false},
		{"missing-image", missing, runtime.ErrImage, "ImageNotPresent", false},
		{"connection-cut", web(t, "bad", 8081), runtime.ErrUnavailable, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rt *docker.Runtime
			var proxy *engineProxy
			if tc.cut {
				rt, proxy = newProxiedRuntime(t)
				proxy.cutOn("/containers/create?name=" + rt.Options().Namespace + "-rb-app-bad-1")
			} else {
				rt = newRuntime(t, &docker.Options{PullPolicy: docker.PullNever})
			}
			cat := newCatalog(t, "rb", twoTiers(t, tc.bad))
			ex, _ := newExecutor(t, rt, cat.st)
			ctx := ctxT(t, 5*time.Minute)
			start := time.Now()
			res, err := ex.Launch(ctx, deploy.Request{Deployment: "rb", VersionID: cat.versions[0].ID, Policy: deploy.Rollback})
			t.Logf("after %s: %v", time.Since(start), err)
			if err == nil {
				t.Fatal("the launch succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error does not match %v", tc.want)
			}
			var se *runtime.ServiceError
			if tc.reason != "" && (!errors.As(err, &se) || se.Reason != tc.reason || se.Service != "bad") {
				t.Errorf("want a ServiceError for bad with reason %s, got %+v", tc.reason, se)
			}
			var oe *deploy.OperationError
			if !errors.As(err, &oe) || !oe.RolledBack || res.Deployment.Status != store.StatusTainted {
				t.Errorf("not rolled back: %v, status %s", oe, res.Deployment.Status)
			}
			cs, nets, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
			if len(cs)+len(nets)+len(vols) != 0 {
				t.Errorf("left after rollback: containers %v networks %v volumes %v", cs, nets, vols)
			}
		})
	}
}

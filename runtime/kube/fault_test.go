package kube_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

func plain(name string) stack.Service {
	return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "registry.kube.test/" + name, Tag: "1"}}
}

// twoTiers is a product whose second tier holds "bad" next to a good
// service, after a first tier whose service keeps data.
func twoTiers() stack.Deps {
	api := plain("api")
	api.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	return stack.Deps{
		{{Name: "base", Services: []stack.Service{api}}},
		{{Name: "app", Services: []stack.Service{plain("front"), plain("bad")}}},
	}
}

// Pod statuses as the kubelet writes them for a container that keeps
// crashing and for an image it cannot pull.
var (
	crashLoop = behavior{waiting: "CrashLoopBackOff", lastExit: 2,
		message: "back-off 40s restarting failed container=bad pod=app-bad"}
	imagePull = behavior{waiting: "ImagePullBackOff",
		message: `Back-off pulling image "registry.kube.test/bad:1": ErrImagePull: failed to resolve reference`}
)

// gone checks that nothing of a deployment is left, the namespace
// included (it may still be terminating, empty).
func gone(t *testing.T, env *kubetest.Env, rt *kube.Runtime, dep string) {
	t.Helper()
	ns := rt.Namespace(dep)
	if left := keys(snapshot(t, env.Clientset, ns)); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	n, err := env.Clientset.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err == nil && n.DeletionTimestamp == nil {
		t.Errorf("namespace %s is still there and not being deleted", ns)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
}

func TestFaultRollbackLeavesNothing(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	rt := newRuntime(t, env.Config, &kube.Options{PodTemplate: kl.podTemplate})
	for _, tc := range []struct {
		name   string
		bad    behavior
		want   error
		reason string
		exit   int
	}{
		{"crash-loop", crashLoop, runtime.ErrFailed, "CrashLoopBackOff", 2},
		{"image-pull", imagePull, runtime.ErrImage, "ImagePullBackOff", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dep := "rb-" + randomHex(3)
			kl.set(dep, "app", "bad", tc.bad)
			cat := newCatalog(t, "rb", twoTiers())
			ex, log := newExecutor(t, rt, cat.st, &deploy.Options{ReadyTimeout: 10 * time.Minute})
			ctx := ctxT(t, 5*time.Minute)
			start := time.Now()
			res, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID, Policy: deploy.Rollback})
			t.Logf("launch failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			if err == nil {
				t.Fatal("the launch succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error does not match %v", tc.want)
			}
			var se *runtime.ServiceError
			if !errors.As(err, &se) || se.Reason != tc.reason || se.Service != "bad" || se.ExitCode != tc.exit ||
				!strings.Contains(se.Error(), tc.bad.message) || !strings.HasPrefix(se.Instance, "app-bad-") {
				t.Errorf("want a ServiceError for bad with reason %s, exit code %d and the pod's message, got %+v", tc.reason, tc.exit, se)
			}
			var oe *deploy.OperationError
			if !errors.As(err, &oe) || !oe.RolledBack || res.Deployment.Status != store.StatusTainted {
				t.Errorf("not rolled back: %v, status %s; events:%s", oe, res.Deployment.Status, log)
			}
			gone(t, env, rt, dep)
		})
	}
}

// TestFaultFixedByUpdate launches a product whose image cannot be pulled,
// which fails at once with a clear error, then updates it to an image
// that can: the deployment converges.
func TestFaultFixedByUpdate(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	rt := newRuntime(t, env.Config, &kube.Options{PodTemplate: kl.podTemplate})
	dep := "fix-" + randomHex(3)
	kl.set(dep, "app", "bad", imagePull)
	v2 := twoTiers()
	v2[1][0].Services[1].Image.Tag = "2"
	cat := newCatalog(t, "fix", twoTiers(), v2)
	ex, log := newExecutor(t, rt, cat.st, &deploy.Options{ReadyTimeout: 10 * time.Minute})
	ctx := ctxT(t, 5*time.Minute)

	_, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID})
	if !errors.Is(err, runtime.ErrImage) || !strings.Contains(err.Error(), `Back-off pulling image "registry.kube.test/bad:1"`) {
		t.Fatalf("launch: %v, want an image error quoting the kubelet; events:%s", err, log)
	}
	kl.set(dep, "app", "bad", behavior{}) // the new image pulls
	res, err := ex.Update(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[1].ID})
	if err != nil || res.Deployment.Status != store.StatusAvailable {
		t.Fatalf("update: %v; events:%s", err, log)
	}
	st, err := rt.Observe(ctx, dep)
	must(t, err)
	if st.Status() != runtime.StatusRunning {
		t.Errorf("after the update: %s", st.Status())
	}
	if bad := st.Stack("app").Service("bad"); len(bad.Instances) != 1 || !bad.Instances[0].Ready {
		t.Errorf("bad: %+v", bad)
	}
	_, err = ex.Terminate(ctx, deploy.Request{Deployment: dep, DeleteData: true})
	must(t, err)
	gone(t, env, rt, dep)
}

// gate holds the requests it matches until released, so a test can stop
// the API server while they are on their way.
type gate struct {
	match    func(*http.Request) bool
	mu       sync.Mutex
	held     chan struct{} // closed when the first request is held
	released chan struct{}
	once     sync.Once
}

func newGate(match func(*http.Request) bool) *gate {
	return &gate{match: match, held: make(chan struct{}), released: make(chan struct{})}
}

func (g *gate) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if g.match(req) {
			g.once.Do(func() { close(g.held) })
			select {
			case <-g.released:
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		}
		return rt.RoundTrip(req)
	})
}

// deadDriver makes the writes of deployment records fail once killed, as
// if the executor's process had lost its store together with the API
// server: what it does after that is never recorded, so the operation
// stays in progress, to be resumed. Lease writes (urgent transactions)
// still work, so the executor ends its operation rather than losing its
// lease first.
type deadDriver struct {
	store.Driver
	mu   sync.Mutex
	dead bool
}

var errDead = errors.New("store unreachable")

func (d *deadDriver) kill() { d.mu.Lock(); d.dead = true; d.mu.Unlock() }
func (d *deadDriver) isDead() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dead
}
func (d *deadDriver) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if d.isDead() && (opts == nil || !opts.Urgent) {
		return errDead
	}
	return d.Driver.Update(ctx, opts, fn)
}

// TestAPIServerOutage stops the API server while the second tier of the
// seed product is being applied. The applies fail with errors that say
// the runtime is unavailable; the executor, which lost its store at the
// same time, cannot record the end of its operation, which stays in
// progress. Once the API server is back, another executor on a new
// runtime resumes the launch and it converges, keeping what the first one
// created.
func TestAPIServerOutage(t *testing.T) {
	t.Parallel()
	env := kubetest.Start(t, nil)
	startProvisioner(t, env)
	// Hold the first write of a tier-1 object until the API server is down.
	g := newGate(func(req *http.Request) bool {
		return req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/kodo-")
	})
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(g.wrap)
	rt := newRuntime(t, cfg, nil)
	dep := "kodo"
	cat := newCatalog(t, "kodo-double", kodoDouble(t))
	dead := &deadDriver{Driver: cat.st.Driver()}
	log := &opLog{}
	a := deploy.New(rt, store.New(dead, nil), &deploy.Options{Owner: "a", LeaseTTL: 2 * time.Second, ReadyTimeout: 2 * time.Minute, OnEvent: log.add})
	defer a.Close()
	ctx := ctxT(t, 5*time.Minute)

	h, err := a.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID, ConfigTemplates: kodoTemplates})
	must(t, err)
	select {
	case <-g.held:
	case <-h.Done():
		t.Fatalf("the launch ended before applying tier 1; events:%s", log)
	}
	before := snapshot(t, env.Clientset, rt.Namespace(dep))
	dead.kill()
	env.StopAPIServer(t)
	close(g.released)

	// Both kodo stacks fail to apply, saying the runtime is unavailable
	// (the connection is refused, or cannot be established).
	failed := func() bool {
		return log.index(deploy.EventStackFailed, "kodo-1") >= 0 && log.index(deploy.EventStackFailed, "kodo-2") >= 0
	}
	wctx, cancel := context.WithTimeout(ctx, waitfor.Generous)
	defer cancel()
	if !log.waitFor(wctx, failed) {
		t.Fatalf("the tier-1 applies did not fail; events:%s", log)
	}
	log.mu.Lock()
	for _, ev := range log.evs {
		if ev.Type == deploy.EventStackFailed && !strings.Contains(ev.Message, "apply: "+runtime.ErrUnavailable.Error()+": ") {
			t.Errorf("stack %s failed with %q, want it to say the runtime is unavailable", ev.Stack, ev.Message)
		}
	}
	log.mu.Unlock()
	if _, err := h.Wait(ctx); err == nil || !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("executor A's launch: %v, want an error matching runtime.ErrUnavailable", err)
	} else {
		t.Logf("executor A: %v", err)
	}
	// While the API server is down, the runtime's other calls say so too.
	spec := &runtime.StackSpec{Deployment: dep, Stack: kodoDouble(t)[1][0], ReadyTimeout: time.Second}
	if err := rt.Wait(ctx, spec, nil); !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) {
		t.Errorf("Wait during the outage: %v, want an error matching runtime.ErrUnavailable", err)
	}
	// A stack the watches still hold, in a configuration they never saw:
	// at its timeout, Wait finds the API server gone.
	mysql := &runtime.StackSpec{Deployment: dep, Stack: kodoDouble(t)[0][0], ReadyTimeout: time.Second}
	mysql.Stack.Services[0].Envs = append(mysql.Stack.Services[0].Envs, "NEVER_APPLIED=1")
	if err := rt.Wait(ctx, mysql, nil); !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) {
		t.Errorf("Wait during the outage: %v, want an error matching runtime.ErrUnavailable", err)
	}
	if _, err := rt.Observe(ctx, dep); !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) {
		t.Errorf("Observe during the outage: %v, want an error matching runtime.ErrUnavailable", err)
	}
	d, err := cat.st.GetDeployment(ctx, dep)
	must(t, err)
	if d.Status != store.StatusUnderChange {
		t.Fatalf("the dead executor left status %s", d.Status)
	}

	env.StartAPIServer(t)
	// The lease expires by the store's clock: nothing announces it.
	if !waitfor.True(waitfor.Generous, 50*time.Millisecond, func() bool {
		l, err := cat.st.GetLease(ctx, dep)
		return err != nil || l.Expired
	}) {
		t.Fatalf("the dead executor's lease never expired")
	}
	rt2 := newRuntime(t, env.Config, nil) // as after a restart of the control plane
	b, blog := newExecutor(t, rt2, cat.st, &deploy.Options{Owner: "b", ReadyTimeout: 2 * time.Minute})
	res, err := b.Resume(ctx, dep)
	if err != nil || res.Deployment.Status != store.StatusAvailable {
		t.Fatalf("resume: %v; events:%s", err, blog)
	}
	st, err := rt2.Observe(ctx, dep)
	must(t, err)
	if st.Status() != runtime.StatusRunning || len(st.Stacks) != 3 {
		t.Fatalf("after resume: %s, %d stacks", st.Status(), len(st.Stacks))
	}
	after := snapshot(t, env.Clientset, rt.Namespace(dep))
	for k, o := range before {
		if o.stack == "mysql-cluster" && (after[k].uid != o.uid || after[k].rv != o.rv) {
			t.Errorf("resume touched %s of mysql-cluster", k)
		}
	}
	kinds := map[string]int{}
	for _, o := range after {
		kinds[o.kind]++
	}
	want := map[string]int{"statefulset": 1, "deployment": 2, "replicaset": 2, "pod": 3, "service": 3, "ingress": 2, "configmap": 2, "pvc": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %ss after resume, want %d: %v", kinds[k], k, n, keys(after))
		}
	}

	_, err = b.Terminate(ctx, deploy.Request{Deployment: dep, DeleteData: true})
	must(t, err)
	gone(t, env, rt2, dep)
}

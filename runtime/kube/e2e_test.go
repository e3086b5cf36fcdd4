package kube_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// These tests drive the runtime through the deploy executor, as a control
// plane does.

// kodoDouble is the seed product examples/kodo-double.json, with an
// internal_ip access point on mysql-1 so the authproxies' config can name
// its address.
func kodoDouble(t testing.TB) stack.Deps {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "kodo-double.json"))
	must(t, err)
	doc, err := product.Decode(b)
	must(t, err)
	mysql := &doc.StackDeps[0][0].Services[0]
	mysql.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{3306}}}
	return doc.StackDeps
}

// kodoTemplates render the authproxies' config file; inside a deployment's
// namespace a service answers at its Service name, "<stack>-<service>".
var kodoTemplates = map[string]string{
	"/authproxy_in/qboxauthproxy.conf": "stack = {{.Stack}}\nmysql = {{(index .Services \"mysql-cluster/mysql-1\").Alias}}:{{port \"mysql-cluster\" \"mysql-1\"}}\n",
}

// catalog is a memory store with one product and the given versions.
type catalog struct {
	st       *store.Store
	versions []*product.Version
}

func newCatalog(t testing.TB, name string, versions ...stack.Deps) *catalog {
	t.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProduct(ctx, &product.Product{Name: name, ProviderName: "stackwave tests"})
	must(t, err)
	c := &catalog{st: st}
	for i, deps := range versions {
		v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v" + string(rune('1'+i)), Active: true, StackDeps: deps})
		must(t, err)
		c.versions = append(c.versions, v)
	}
	return c
}

// opLog collects an executor's events.
type opLog struct {
	mu  sync.Mutex
	evs []deploy.Event
	// changed, when not nil, is closed by the next add.
	changed chan struct{}
}

func (l *opLog) add(e deploy.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	l.mu.Unlock()
}

// waitFor waits until cond holds, looking again after each event logged,
// and reports whether it did before ctx ended.
func (l *opLog) waitFor(ctx context.Context, cond func() bool) bool {
	for {
		l.mu.Lock()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cond()
		}
	}
}

// index returns the position of the first event of a type for a stack,
// or -1.
func (l *opLog) index(typ deploy.EventType, stk string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.evs {
		if e.Type == typ && e.Stack == stk {
			return i
		}
	}
	return -1
}

func (l *opLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.evs {
		b.WriteString("\n\t" + e.String())
	}
	return b.String()
}

func newExecutor(t testing.TB, rt runtime.Runtime, st *store.Store, opts *deploy.Options) (*deploy.Executor, *opLog) {
	log := &opLog{}
	o := deploy.Options{ReadyTimeout: 2 * time.Minute}
	if opts != nil {
		o = *opts
	}
	o.OnEvent = log.add
	ex := deploy.New(rt, st, &o)
	t.Cleanup(func() { ex.Close() })
	return ex, log
}

// object is one object of a namespace as a test compares it.
type object struct {
	kind, name, stack string
	uid, rv           string
	created           time.Time
}

// snapshot lists every object the runtime made in a namespace (and what
// the cluster's controllers made from them), by kind/name.
func snapshot(t testing.TB, cs kubernetes.Interface, ns string) map[string]object {
	t.Helper()
	ctx := context.Background()
	o := metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy}
	out := map[string]object{}
	add := func(kind string, m metav1.ObjectMeta) {
		out[kind+"/"+m.Name] = object{kind: kind, name: m.Name, stack: m.Labels[kube.LabelStack], uid: string(m.UID), rv: m.ResourceVersion, created: m.CreationTimestamp.Time}
	}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, o)
	must(t, err)
	for _, x := range deps.Items {
		add("deployment", x.ObjectMeta)
	}
	sets, err := cs.AppsV1().StatefulSets(ns).List(ctx, o)
	must(t, err)
	for _, x := range sets.Items {
		add("statefulset", x.ObjectMeta)
	}
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, o)
	must(t, err)
	for _, x := range rss.Items {
		add("replicaset", x.ObjectMeta)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, o)
	must(t, err)
	for _, x := range pods.Items {
		add("pod", x.ObjectMeta)
	}
	svcs, err := cs.CoreV1().Services(ns).List(ctx, o)
	must(t, err)
	for _, x := range svcs.Items {
		add("service", x.ObjectMeta)
	}
	ings, err := cs.NetworkingV1().Ingresses(ns).List(ctx, o)
	must(t, err)
	for _, x := range ings.Items {
		add("ingress", x.ObjectMeta)
	}
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, o)
	must(t, err)
	for _, x := range cms.Items {
		add("configmap", x.ObjectMeta)
	}
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, o)
	must(t, err)
	for _, x := range jobs.Items {
		add("job", x.ObjectMeta)
	}
	pvcs, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, o)
	must(t, err)
	for _, x := range pvcs.Items {
		add("pvc", x.ObjectMeta)
	}
	return out
}

func keys(m map[string]object) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// podReadyAt returns when a pod's Ready condition last became true.
func podReadyAt(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func TestKodoDoubleEndToEnd(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	dep := "kodo-" + randomHex(3)
	// mysql-1 becomes ready two seconds after it starts, so that the
	// creation times, in whole seconds, can show the next tier waited.
	kl.set(dep, "mysql-cluster", "mysql-1", behavior{readyAfter: 2 * time.Second})
	rt := newRuntime(t, env.Config, &kube.Options{BaseDomain: "kodo.test", PodTemplate: kl.podTemplate})
	cs := env.Clientset
	ns := rt.Namespace(dep)

	v1 := kodoDouble(t)
	v2 := kodoDouble(t)
	v2[1][1].Services[0].Envs = append(v2[1][1].Services[0].Envs, "KODO_RELEASE=2") // kodo-2 only
	cat := newCatalog(t, "kodo-double", v1, v2)
	ex, log := newExecutor(t, rt, cat.st, nil)
	ctx := ctxT(t, 5*time.Minute)

	_, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID, ConfigTemplates: kodoTemplates})
	if err != nil {
		t.Fatalf("launch: %v; events:%s", err, log)
	}

	st, err := rt.Observe(ctx, dep)
	must(t, err)
	if st.Status() != runtime.StatusRunning || len(st.Stacks) != 3 {
		t.Fatalf("after launch: %s, %d stacks", st.Status(), len(st.Stacks))
	}

	// Tier order, from the executor's events: each kodo stack was applied
	// after mysql-cluster was ready.
	mysqlReady := log.index(deploy.EventStackReady, "mysql-cluster")
	for _, name := range []string{"kodo-1", "kodo-2"} {
		if i := log.index(deploy.EventStackApplying, name); i < 0 || mysqlReady < 0 || i < mysqlReady {
			t.Errorf("%s applied at event %d, mysql-cluster ready at event %d; events:%s", name, i, mysqlReady, log)
		}
	}
	// ... and from the cluster: the kodo Deployments were created after
	// the mysql pod was ready, and the deployment controller scaled them
	// up after that.
	pod, err := cs.CoreV1().Pods(ns).Get(ctx, "mysql-cluster-mysql-1-0", metav1.GetOptions{})
	must(t, err)
	ready := podReadyAt(pod)
	if ready.IsZero() || !ready.After(pod.CreationTimestamp.Time) {
		t.Errorf("mysql pod created %v, ready %v", pod.CreationTimestamp, ready)
	}
	events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	must(t, err)
	for _, name := range []string{"kodo-1", "kodo-2"} {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name+"-authproxy-in", metav1.GetOptions{})
		must(t, err)
		if d.CreationTimestamp.Time.Before(ready) {
			t.Errorf("deployment %s created at %v, before mysql-1 was ready at %v", d.Name, d.CreationTimestamp, ready)
		}
		scaled := false
		for _, ev := range events.Items {
			if ev.InvolvedObject.Kind == "Deployment" && ev.InvolvedObject.Name == d.Name && ev.Reason == "ScalingReplicaSet" {
				scaled = true
				if ev.FirstTimestamp.Time.Before(ready) {
					t.Errorf("%s scaled up at %v, before mysql-1 was ready at %v", d.Name, ev.FirstTimestamp, ready)
				}
			}
		}
		if !scaled {
			t.Errorf("no ScalingReplicaSet event for %s", d.Name)
		}

		s := st.Stack(name)
		if s == nil || s.Tier != 1 {
			t.Fatalf("stack %s: %+v", name, s)
		}
		var host string
		for _, ep := range s.Service("authproxy-in").Endpoints {
			if ep.Type == stack.AccessDomain && ep.BackendPort == 9085 {
				host = ep.Host
			}
		}
		if want := "authproxy-in." + name + "." + dep + ".kodo.test"; host != want {
			t.Errorf("%s domain host %q, want %q", name, host, want)
		}
		cm := mountedConfigMap(t, cs, ns, name+"-authproxy-in")
		if got, want := cm.Data["authproxy_in.qboxauthproxy.conf"], "stack = "+name+"\nmysql = mysql-cluster-mysql-1:3306\n"; got != want {
			t.Errorf("%s config file %q, want %q", name, got, want)
		}
		mounts := d.Spec.Template.Spec.Containers[0].VolumeMounts
		if len(mounts) != 1 || mounts[0].MountPath != "/authproxy_in/qboxauthproxy.conf" || mounts[0].SubPath != "authproxy_in.qboxauthproxy.conf" {
			t.Errorf("%s mounts %+v", name, mounts)
		}
	}
	if mysql := st.Stack("mysql-cluster").Service("mysql-1"); len(mysql.Endpoints) != 1 || mysql.Endpoints[0].Internal != "mysql-cluster-mysql-1:3306" {
		t.Errorf("mysql-1 endpoints %+v", mysql.Endpoints)
	}

	// Upgrade kodo-2 alone: no other stack's object changes.
	before := snapshot(t, cs, ns)
	res, err := ex.Update(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[1].ID})
	if err != nil {
		t.Fatalf("update: %v; events:%s", err, log)
	}
	t.Logf("update: %s", res.Operation.Message)
	after := snapshot(t, cs, ns)
	changed := 0
	for _, k := range keys(before) {
		b, a := before[k], after[k]
		if b.stack == "kodo-2" {
			if a.rv != b.rv {
				changed++
			}
			continue
		}
		if a.uid != b.uid || a.rv != b.rv {
			t.Errorf("%s of stack %s changed (uid %s -> %s, resourceVersion %s -> %s)", k, b.stack, b.uid, a.uid, b.rv, a.rv)
		}
	}
	if changed == 0 {
		t.Error("the update changed nothing of kodo-2")
	}
	st, err = rt.Observe(ctx, dep)
	must(t, err)
	if st.Status() != runtime.StatusRunning {
		t.Errorf("after update: %s", st.Status())
	}

	// Terminate: nothing but the kept mysql volume remains.
	_, err = ex.Terminate(ctx, deploy.Request{Deployment: dep})
	if err != nil {
		t.Fatalf("terminate: %v; events:%s", err, log)
	}
	left := snapshot(t, cs, ns)
	if got := keys(left); !slices.Equal(got, []string{"pvc/var-lib-mysql-mysql-cluster-mysql-1-0"}) {
		t.Errorf("after terminate: %v, want the mysql claim only", got)
	}
	vols, err := rt.Volumes(ctx, dep)
	must(t, err)
	if len(vols) != 1 || vols[0].Stack != "mysql-cluster" || vols[0].MountPath != "/var/lib/mysql" || vols[0].SizeBytes != 10<<30 {
		t.Errorf("volumes after terminate: %+v", vols)
	}
	must(t, rt.Remove(ctx, runtime.StackRef{Deployment: dep, Stack: "mysql-cluster"}, runtime.RemoveOptions{DeleteData: true}))
}

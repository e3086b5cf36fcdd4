package kube_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/stack"
)

// writeCounter counts the requests other than watches a client sends,
// and the writes among them.
type writeCounter struct{ requests, writes atomic.Int64 }

func (c *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Query().Get("watch") != "true" {
			c.requests.Add(1)
			if req.Method != http.MethodGet {
				c.writes.Add(1)
			}
		}
		return rt.RoundTrip(req)
	})
}

// fullStack has one service of each shape: a Deployment with config
// files and every kind of access point, and a StatefulSet with a volume.
func fullStack(dep string) *runtime.StackSpec {
	web := plain("web")
	web.Instances = 2
	web.Envs = []string{"GREETING=$(not expanded)", "MODE=a", "MODE=b"}
	web.Command = []string{"serve", "--port", "8080"}
	web.AccessPoints = []stack.AccessPoint{
		{Type: stack.AccessDomain, BackendPorts: []int{8080}},
		{Type: stack.AccessInternalIP, BackendPorts: []int{9090}},
		{Type: stack.AccessPublicIP, BackendPorts: []int{7000}},
	}
	web.ConfigPaths = []string{"/etc/web/web.conf", "/etc/web/key.bin"}
	web.Readiness = &stack.Probe{Type: stack.ProbeHTTP, Port: 8080, Path: "/healthz"}
	db := plain("db")
	db.VolumeArgs = []stack.VolumeArg{{MountPath: "/var/lib/db", UnitType: "SSD1_20G"}}
	db.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{5432}}}
	db.Readiness = &stack.Probe{Type: stack.ProbeTCP, Port: 5432}
	return &runtime.StackSpec{
		Deployment: dep, ProductName: "full", ProductID: "p1", VersionID: "v1", Tier: 0,
		Stack: stack.Stack{Name: "full", Services: []stack.Service{web, db}},
		Files: map[string]map[string][]byte{"web": {
			"/etc/web/web.conf": []byte("listen = 8080\n"),
			"/etc/web/key.bin":  {0xff, 0x00, 0xfe},
		}},
		ReadyTimeout: 2 * time.Minute,
	}
}

// TestReapplySendsNothing checks that applying and waiting for an
// unchanged stack sends no request at all and changes no object, and that
// a change of version alone rewrites the workloads' labels without
// touching their pods.
func TestReapplySendsNothing(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	startProvisioner(t, env)
	var c writeCounter
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(c.wrap)
	rt := newRuntime(t, cfg, nil)
	ctx := ctxT(t, 3*time.Minute)
	dep := "reapply-" + randomHex(3)
	spec := fullStack(dep)
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	ns := rt.Namespace(dep)
	before := snapshot(t, env.Clientset, ns)

	c.requests.Store(0)
	var events []runtime.Event
	must(t, rt.Apply(ctx, spec, func(e runtime.Event) { events = append(events, e) }))
	must(t, rt.Wait(ctx, spec, nil))
	if n := c.requests.Load(); n != 0 {
		t.Errorf("applying and waiting for an unchanged stack sent %d requests, want none", n)
	}
	for _, e := range events {
		if e.Type != runtime.EventServiceUnchanged {
			t.Errorf("event %s for %s, want only %s", e.Type, e.Service, runtime.EventServiceUnchanged)
		}
	}
	after := snapshot(t, env.Clientset, ns)
	for _, k := range keys(before) {
		if before[k].rv != after[k].rv {
			t.Errorf("%s changed: resourceVersion %s -> %s", k, before[k].rv, after[k].rv)
		}
	}

	// A new version of the same services: metadata only.
	spec.VersionID = "v2"
	c.writes.Store(0)
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	if n := c.writes.Load(); n != 2 {
		t.Errorf("a new version ID took %d writes, want 2 (the two workloads)", n)
	}
	again := snapshot(t, env.Clientset, ns)
	for _, k := range keys(before) {
		if before[k].kind == "pod" && before[k].rv != again[k].rv {
			t.Errorf("a new version ID touched %s", k)
		}
	}
	st, err := rt.Observe(ctx, dep)
	must(t, err)
	if s := st.Stack("full"); s == nil || s.VersionID != "v2" {
		t.Errorf("observed %+v, want version v2", s)
	}

	// What the objects look like.
	d, err := env.Clientset.AppsV1().Deployments(ns).Get(ctx, "full-web", metav1.GetOptions{})
	must(t, err)
	ctr := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(ctr.Args, []string{"serve", "--port", "8080"}) || len(ctr.Env) != 2 ||
		ctr.Env[0].Value != "$$(not expanded)" || ctr.Env[1].Value != "b" {
		t.Errorf("container args %q env %+v", ctr.Args, ctr.Env)
	}
	if q := ctr.Resources.Limits.Cpu(); q.MilliValue() != 1000 || !ctr.Resources.Limits.Memory().Equal(*ctr.Resources.Requests.Memory()) {
		t.Errorf("resources %+v, want requests = limits of 1U1G", ctr.Resources)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != 8080 {
		t.Errorf("readiness probe %+v", p)
	}
	sts, err := env.Clientset.AppsV1().StatefulSets(ns).Get(ctx, "full-db", metav1.GetOptions{})
	must(t, err)
	if vct := sts.Spec.VolumeClaimTemplates; len(vct) != 1 || *vct[0].Spec.StorageClassName != testStorageClass ||
		vct[0].Spec.Resources.Requests.Storage().Value() != 20<<30 {
		t.Errorf("claim templates %+v", vct)
	}
	svc, err := env.Clientset.CoreV1().Services(ns).Get(ctx, "full-web-public", metav1.GetOptions{})
	must(t, err)
	if svc.Spec.Type != "LoadBalancer" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 7000 {
		t.Errorf("public service %+v", svc.Spec)
	}
	cm := mountedConfigMap(t, env.Clientset, ns, "full-web")
	if cm.Data["etc.web.web.conf"] != "listen = 8080\n" || !slices.Equal(cm.BinaryData["etc.web.key.bin"], []byte{0xff, 0x00, 0xfe}) {
		t.Errorf("config map data %q binary %q", cm.Data, cm.BinaryData)
	}
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{DeleteData: true}))
}

// TestConformanceSharedNamespace runs the conformance suite with every
// deployment in one namespace the caller gives, told apart by labels.
func TestConformanceSharedNamespace(t *testing.T) {
	env := kubetest.Shared(t)
	kl := startKubelet(t, env)
	startProvisioner(t, env)
	ns := env.NewNamespace(t)
	t.Cleanup(func() {
		// After every test removed its stacks, the namespace is the
		// caller's still.
		n, err := env.Clientset.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
		if err != nil || n.DeletionTimestamp != nil {
			t.Errorf("the caller's namespace %s: %v, deleted at %v", ns, err, n.DeletionTimestamp)
		}
	})
	runtimetest.Run(t, &runtimetest.Harness{
		NewRuntime: func(t *testing.T) runtime.Runtime {
			return newRuntime(t, env.Config, &kube.Options{Namespace: ns, PodTemplate: kl.podTemplate, PublicServiceType: "NodePort", NodeAddress: "node.kube.test"})
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
			return plain(name)
		},
		InitScript: func(t *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript {
			return stack.InitScript{ServiceName: service, Command: []string{"/bin/sh", "-c", "exit " + strconv.Itoa(exitCode)}}
		},
		Tamper:       tamper(env.Config),
		Capabilities: capabilities,
		Timeout:      time.Minute,
		Parallel:     true,
		NoLogs:       true,
		NoLogOutput:  "kwok's pods run no containers and their nodes no kubelet",
	})
}

// TestCloseStopsWatches checks that Close ends every goroutine the
// runtime started. It runs alone: other tests' goroutines would count.
func TestCloseStopsWatches(t *testing.T) {
	env := kubetest.Shared(t)
	ignore := goleak.IgnoreCurrent()
	rt, err := kube.New(env.Config, nil)
	must(t, err)
	ctx := ctxT(t, time.Minute)
	if _, err := rt.Volumes(ctx, "none"); err != nil {
		t.Fatal(err)
	}
	spec := &runtime.StackSpec{Deployment: "none", Stack: stack.Stack{Name: "none"}}
	if err := rt.Wait(ctx, spec, nil); !errors.Is(runtime.MapError(rt, err), runtime.ErrNotFound) {
		t.Fatalf("Wait for a missing stack: %v", err)
	}
	must(t, rt.Close())
	if err := rt.Wait(ctx, spec, nil); err == nil || !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) {
		t.Errorf("Wait after Close: %v, want an error matching runtime.ErrUnavailable", err)
	}
	// Idle HTTP connections stay with client-go's shared transports.
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreTopFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

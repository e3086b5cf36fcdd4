package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/internal/sample"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
)

// The side-by-side benchmarks of this file run the stackwave command line
// (built from ./cmd/stackwave), kubectl (STACKWAVE_KUBECTL, built from
// k8s.io/kubectl outside this module) and the API server's own floor on
// the same control plane, interleaved within each round so that all arms
// see the same load. Metrics are medians over the rounds; ratios are
// kubectl's median over stackwave's (above 1: stackwave is faster) and
// stackwave's over the floor's.

// stackwaveBin builds the command line into a directory removed when b
// ends.
func stackwaveBin(b *testing.B) (string, error) {
	bin := filepath.Join(b.TempDir(), "stackwave")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/stackwave/stackwave/cmd/stackwave").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/stackwave: %v: %s", err, out)
	}
	return bin, nil
}

// wideObjects are the objects kubectl and the floor apply for the same
// tier: per stack a Deployment of one replica (1 CPU, 1 GiB, as unit
// 1U1G) and a ClusterIP Service on port 8080.
func wideObjects(ns string, n int) ([]*appsv1ac.DeploymentApplyConfiguration, []*corev1ac.ServiceApplyConfiguration) {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	var deps []*appsv1ac.DeploymentApplyConfiguration
	var svcs []*corev1ac.ServiceApplyConfiguration
	for i := range n {
		name := fmt.Sprintf("s%04d-app", i)
		labels := map[string]string{"app": name}
		deps = append(deps, appsv1ac.Deployment(name, ns).WithLabels(labels).WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(1).WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(corev1ac.PodSpec().
				WithTerminationGracePeriodSeconds(10).
				WithContainers(corev1ac.Container().WithName("app").WithImage("registry.kube.test/app:1").
					WithResources(corev1ac.ResourceRequirements().WithRequests(res).WithLimits(res)))))))
		svcs = append(svcs, corev1ac.Service(name, ns).WithLabels(labels).WithSpec(corev1ac.ServiceSpec().
			WithSelector(labels).WithPorts(corev1ac.ServicePort().WithName("p8080").WithPort(8080).
			WithTargetPort(intstr.FromInt32(8080)))))
	}
	return deps, svcs
}

// manifest writes the objects as a multi-document YAML (JSON documents)
// for kubectl apply -f, the namespace first.
func manifest(b *testing.B, dir, ns string, n int) string {
	var sb strings.Builder
	write := func(v any) {
		j, err := json.Marshal(v)
		must(b, err)
		sb.WriteString("---\n")
		sb.Write(j)
		sb.WriteString("\n")
	}
	write(corev1ac.Namespace(ns))
	deps, svcs := wideObjects(ns, n)
	for i := range deps {
		write(deps[i])
		write(svcs[i])
	}
	p := filepath.Join(dir, ns+".yaml")
	must(b, os.WriteFile(p, []byte(sb.String()), 0o644))
	return p
}

// floorLaunch applies the minimal objects (wideObjects: no stackwave
// labels or annotations) with server-side apply, all at once from a
// client without a rate limit, and watches the Deployments until every
// one is Available: what the API server and the controllers allow.
func floorLaunch(ctx context.Context, cfg *rest.Config, ns string, n int) error {
	deps, svcs := wideObjects(ns, n)
	return floorApply(ctx, cfg, "floor", corev1ac.Namespace(ns), deps, svcs)
}

// sameObjects are the objects stackwave's runtime applied for one
// deployment, read back from the API server: for each Namespace,
// Deployment and Service, exactly the fields the runtime's field manager
// owns by apply (what it sent, without anything the server or the
// controllers set).
type sameObjects struct {
	ns   *corev1ac.NamespaceApplyConfiguration
	deps []*appsv1ac.DeploymentApplyConfiguration
	svcs []*corev1ac.ServiceApplyConfiguration
}

// captureObjects reads back what stackwave applied in namespace ns. It
// fails if the runtime wrote a kind the floor does not apply, or fewer
// or more than n Deployments and Services.
func captureObjects(ctx context.Context, cs kubernetes.Interface, ns string, n int) (*sameObjects, error) {
	manager := kube.DefaultFieldManager
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var c sameObjects
	if c.ns, err = corev1ac.ExtractNamespace(nsObj, manager); err != nil {
		return nil, err
	}
	dl, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range dl.Items {
		d, err := appsv1ac.ExtractDeployment(&dl.Items[i], manager)
		if err != nil {
			return nil, err
		}
		c.deps = append(c.deps, d)
	}
	sl, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range sl.Items {
		s, err := corev1ac.ExtractService(&sl.Items[i], manager)
		if err != nil {
			return nil, err
		}
		c.svcs = append(c.svcs, s)
	}
	if len(c.deps) != n || len(c.svcs) != n {
		return nil, fmt.Errorf("captured %d Deployments and %d Services in %s, want %d of each", len(c.deps), len(c.svcs), ns, n)
	}
	for _, d := range c.deps {
		if d.Spec == nil || d.Spec.Template == nil || len(d.Labels) == 0 || len(d.Spec.Template.Labels) == 0 {
			return nil, fmt.Errorf("deployment %s: the runtime's field manager %q owns no template or labels", *d.Name, manager)
		}
	}
	ss, err := cs.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelService})
	if err != nil {
		return nil, err
	}
	ings, err := cs.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	if k := len(ss.Items) + len(cms.Items) + len(ings.Items); k != 0 {
		return nil, fmt.Errorf("%s holds %d StatefulSets, ConfigMaps or Ingresses the floor would not apply", ns, k)
	}
	return &c, nil
}

// floorSameLaunch applies the captured objects under namespace ns as
// stackwave's runtime does (its field manager, forced), by the method of
// floorLaunch.
func floorSameLaunch(ctx context.Context, cfg *rest.Config, c *sameObjects, ns string) error {
	for _, d := range c.deps {
		d.WithNamespace(ns)
	}
	for _, s := range c.svcs {
		s.WithNamespace(ns)
	}
	return floorApply(ctx, cfg, kube.DefaultFieldManager, c.ns.WithName(ns), c.deps, c.svcs)
}

// floorApply applies the namespace, then each Deployment with its
// Service (as many of each), 64 in flight from a client without a rate limit, and watches the
// Deployments until every one is Available.
func floorApply(ctx context.Context, cfg *rest.Config, manager string, nsAC *corev1ac.NamespaceApplyConfiguration, deps []*appsv1ac.DeploymentApplyConfiguration, svcs []*corev1ac.ServiceApplyConfiguration) error {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return err
	}
	ao := metav1.ApplyOptions{FieldManager: manager, Force: true}
	if _, err := cs.CoreV1().Namespaces().Apply(ctx, nsAC, ao); err != nil {
		return err
	}
	ns, n := *nsAC.Name, len(deps)
	var g errgroup.Group
	g.SetLimit(64)
	for i := range deps {
		g.Go(func() error { _, err := cs.AppsV1().Deployments(ns).Apply(ctx, deps[i], ao); return err })
		g.Go(func() error { _, err := cs.CoreV1().Services(ns).Apply(ctx, svcs[i], ao); return err })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// Watched from a list, listed again when the server ends the watch.
	isAvailable := func(d *appsv1.Deployment) bool {
		for _, cond := range d.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue &&
				d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas == 1 {
				return true
			}
		}
		return false
	}
	for {
		l, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		available := map[string]bool{}
		for i := range l.Items {
			if isAvailable(&l.Items[i]) {
				available[l.Items[i].Name] = true
			}
		}
		w, err := cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
		if err != nil {
			return err
		}
		for len(available) < n {
			e, ok := <-w.ResultChan()
			if !ok {
				break
			}
			if d, isDep := e.Object.(*appsv1.Deployment); isDep && e.Type != watch.Deleted && isAvailable(d) {
				available[d.Name] = true
			}
		}
		w.Stop()
		if len(available) == n {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// waitNamespaceGone deletes a namespace (if it still exists) and
// watches until it is gone; untimed clean-up between arms.
func waitNamespaceGone(b *testing.B, env *kubetest.Env, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	err := env.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		b.Fatal(err)
	}
	sel := fields.OneTermEqualSelector("metadata.name", ns).String()
	for {
		l, err := env.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{FieldSelector: sel})
		must(b, err)
		if len(l.Items) == 0 {
			return
		}
		w, err := env.Clientset.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: l.ResourceVersion})
		must(b, err)
		for e := range w.ResultChan() {
			if e.Type == watch.Deleted {
				w.Stop()
				return
			}
		}
		w.Stop()
		must(b, ctx.Err())
	}
}

// baseBin is another build of the command line (STACKWAVE_CLI_BASE, say
// one built from main) that the side-by-side benchmarks run as one more
// arm ("base"), right after stackwave's in every round, so that a change
// is measured before and after under the same load.
func baseBin() string { return os.Getenv("STACKWAVE_CLI_BASE") }

// swFirst runs stackwave's arm and, with a baseline, the baseline's, in
// an order that alternates from round to round, so that neither always
// follows the same arm.
func swFirst(round int, sw, base func()) {
	switch {
	case baseBin() == "":
		sw()
	case round%2 == 1:
		sw()
		base()
	default:
		base()
		sw()
	}
}

func run(ctx context.Context, b *testing.B, env []string, name string, args ...string) time.Duration {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	b.Logf("%v: %s %s", d, filepath.Base(name), strings.Join(args, " "))
	return d
}

// cliArms runs the rounds of a side-by-side CLI benchmark over n stacks:
// each round launches with kubectl (when STACKWAVE_KUBECTL is set),
// stackwave and two floors, then tears down with stackwave destroy and
// kubectl delete namespace --wait (or the floor's namespace delete). The
// floors: "floor" applies the minimal objects of wideObjects (the ones
// kubectl applies), "samefloor" the very objects stackwave's runtime
// applied in the first round, read back by their field manager (every
// label and annotation included) and applied under a fresh namespace
// with that field manager. up/floor and up/samefloor are stackwave's
// median launch over each floor's.
func cliArms(b *testing.B, n int) {
	env := kubetest.Shared(b)
	bin, err := stackwaveBin(b)
	must(b, err)
	kubectl := os.Getenv("STACKWAVE_KUBECTL")
	dir := b.TempDir()
	doc := filepath.Join(dir, "product.json")
	must(b, os.WriteFile(doc, sample.WideTier("wide"+strconv.Itoa(n), n), 0o644))
	db := "sqlite:" + filepath.Join(dir, "sw.db")
	kenv := []string{"KUBECONFIG=" + env.Kubeconfig}
	ctx := ctxT(b, 4*time.Hour)

	times := map[string][]time.Duration{}
	var same *sameObjects
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		tag := randomHex(2) + strconv.Itoa(round)
		if kubectl != "" {
			ns := "kc-" + tag
			m := manifest(b, dir, ns, n)
			up := run(ctx, b, kenv, kubectl, "apply", "-f", m)
			up += run(ctx, b, kenv, kubectl, "wait", "--for=condition=Available", "deployment", "--all", "-n", ns, "--timeout=30m")
			times["kubectl-up"] = append(times["kubectl-up"], up)
			times["kubectl-down"] = append(times["kubectl-down"],
				run(ctx, b, kenv, kubectl, "delete", "namespace", ns, "--wait"))
		}
		arm := func(arm, bin string) {
			name := arm[:2] + "-" + tag
			times[arm+"-up"] = append(times[arm+"-up"],
				run(ctx, b, kenv, bin, "apply", "-f", doc, "--name", name, "--runtime", "kube", "--store", db, "--progress", "none"))
			if arm == "stackwave" && same == nil {
				// Untimed: what this build's runtime sent, for the
				// same-object floor of this and the later rounds.
				same, err = captureObjects(ctx, env.Clientset, "stackwave-"+name, n)
				must(b, err)
				d, t := same.deps[0], same.deps[0].Spec.Template
				b.Logf("same-object floor: %d Deployments and Services as applied to %s; %s: %d labels, %d annotations, its pod template %d and %d",
					n, "stackwave-"+name, *d.Name, len(d.Labels), len(d.Annotations), len(t.Labels), len(t.Annotations))
			}
			times[arm+"-down"] = append(times[arm+"-down"],
				run(ctx, b, kenv, bin, "destroy", name, "--runtime", "kube", "--store", db, "--progress", "none"))
			waitNamespaceGone(b, env, "stackwave-"+name)
		}
		swFirst(round, func() { arm("stackwave", bin) }, func() { arm("base", baseBin()) })

		// The two floors, in an order that alternates from round to
		// round.
		floors := []func(){func() {
			ns := "floor-" + tag
			start := time.Now()
			must(b, floorLaunch(ctx, env.Config, ns, n))
			times["floor-up"] = append(times["floor-up"], time.Since(start))
			b.Logf("%v: floor up (minimal objects)", time.Since(start))
			waitNamespaceGone(b, env, ns)
		}, func() {
			ns := "sfloor-" + tag
			start := time.Now()
			must(b, floorSameLaunch(ctx, env.Config, same, ns))
			times["samefloor-up"] = append(times["samefloor-up"], time.Since(start))
			b.Logf("%v: floor up (stackwave's objects)", time.Since(start))
			waitNamespaceGone(b, env, ns)
		}}
		floors[round%2]()
		floors[1-round%2]()
		b.StartTimer()
	}
	for k, v := range times {
		b.ReportMetric(medianOf(v).Seconds(), "s-"+k)
		b.Logf("%s: %v", k, v)
	}
	sw := medianOf(times["stackwave-up"]).Seconds()
	b.ReportMetric(sw/medianOf(times["floor-up"]).Seconds(), "up/floor")
	b.ReportMetric(sw/medianOf(times["samefloor-up"]).Seconds(), "up/samefloor")
	if baseBin() != "" {
		b.ReportMetric(medianOf(times["base-up"]).Seconds()/sw, "base/up")
	}
	if kubectl != "" {
		b.ReportMetric(medianOf(times["kubectl-up"]).Seconds()/sw, "kubectl/up")
		b.ReportMetric(medianOf(times["kubectl-down"]).Seconds()/medianOf(times["stackwave-down"]).Seconds(), "kubectl/down")
	}
}

// BenchmarkCLIWideTier: 100 one-service stacks with Services, launched
// until Available and torn down, stackwave apply/destroy against kubectl
// apply + wait and kubectl delete namespace --wait.
func BenchmarkCLIWideTier(b *testing.B) { cliArms(b, 100) }

// BenchmarkCLIScale: one tier of 1,000 stacks, the same arms.
func BenchmarkCLIScale(b *testing.B) { cliArms(b, 1000) }

// BenchmarkObserveWideTier times Observe of a launched deployment of 100
// one-service stacks with Services: what the command line's final report
// costs on Kubernetes. "lists": a runtime whose watches have not started
// reads the deployment back with five full lists; "caches": the runtime
// that launched it, whose watches run, checks its caches with five
// metadata lists and reports from them (cached-fraction: how many calls
// the caches answered).
func BenchmarkObserveWideTier(b *testing.B) {
	env := kubetest.Shared(b)
	rt := newRuntime(b, env.Config, nil)
	tier := make(stack.Tier, 100)
	for i := range tier {
		svc := plain("app")
		svc.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{8080}}}
		tier[i] = stack.Stack{Name: fmt.Sprintf("s%03d", i), Services: []stack.Service{svc}}
	}
	cat := newCatalog(b, "observe", stack.Deps{tier})
	ex := deploy.New(rt, cat.st, &deploy.Options{ReadyTimeout: 5 * time.Minute})
	b.Cleanup(func() { ex.Close() })
	ctx := ctxT(b, 30*time.Minute)
	dep := "observe-" + randomHex(2)
	_, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID})
	must(b, err)
	b.Cleanup(func() { waitNamespaceGone(b, env, rt.Namespace(dep)) })
	for _, arm := range []struct {
		name string
		rt   *kube.Runtime
	}{{"lists", newRuntime(b, env.Config, nil)}, {"caches", rt}} {
		b.Run(arm.name, func(b *testing.B) {
			before := kube.CachedObserves(arm.rt)
			for b.Loop() {
				ds, err := arm.rt.Observe(ctx, dep)
				must(b, err)
				if len(ds.Stacks) != len(tier) {
					b.Fatalf("observed %d stacks, want %d", len(ds.Stacks), len(tier))
				}
			}
			b.ReportMetric(float64(kube.CachedObserves(arm.rt)-before)/float64(b.N), "cached-fraction")
		})
	}
}

// seedManifest is what a kubectl user applies for the seed product
// (examples/kodo-double.json): mysql-1 as a StatefulSet with a 10 GiB
// claim and a Service, and per kodo stack a ConfigMap with the rendered
// config file, a Deployment mounting it, a Service and an Ingress.
func seedManifest(b *testing.B, dir, ns string) string {
	var sb strings.Builder
	for _, d := range seedDocs(ns) {
		var v any
		must(b, json.Unmarshal([]byte(d), &v)) // one line per document
		j, err := json.Marshal(v)
		must(b, err)
		sb.WriteString("---\n")
		sb.Write(j)
		sb.WriteString("\n")
	}
	p := filepath.Join(dir, ns+".yaml")
	must(b, os.WriteFile(p, []byte(sb.String()), 0o644))
	return p
}

// seedDocs are the seed's objects as JSON documents: the namespace, then
// mysql-1's StatefulSet and Service (the first tier), then per kodo stack
// a ConfigMap, a Deployment, a Service and an Ingress (the second).
func seedDocs(ns string) []string {
	res := `{"requests":{"cpu":"1","memory":"1Gi"},"limits":{"cpu":"1","memory":"1Gi"}}`
	docs := []string{
		`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + ns + `"}}`,
		`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"mysql-cluster-mysql-1","namespace":"` + ns + `"},
		 "spec":{"replicas":1,"serviceName":"mysql-cluster-mysql-1","selector":{"matchLabels":{"app":"mysql"}},
		  "template":{"metadata":{"labels":{"app":"mysql"}},"spec":{"terminationGracePeriodSeconds":10,"containers":[{"name":"mysql-1",
		   "image":"mysql:latest","command":["mysqld","--server-id=1"],"env":[{"name":"MYSQL_ALLOW_EMPTY_PASSWORD","value":"1"}],
		   "resources":` + res + `,"volumeMounts":[{"name":"data","mountPath":"/var/lib/mysql"}]}]}},
		  "volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"10Gi"}}}}]}}`,
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"mysql-cluster-mysql-1","namespace":"` + ns + `"},
		 "spec":{"selector":{"app":"mysql"},"ports":[{"name":"p3306","port":3306}]}}`,
	}
	for _, k := range []string{"kodo-1", "kodo-2"} {
		name := k + "-authproxy-in"
		docs = append(docs,
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+name+`","namespace":"`+ns+`"},
			 "data":{"qboxauthproxy.conf":"stack = `+k+`\nmysql = mysql-cluster-mysql-1:3306\n"}}`,
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"`+name+`","namespace":"`+ns+`"},
			 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"`+name+`"}},"template":{"metadata":{"labels":{"app":"`+name+`"}},
			  "spec":{"terminationGracePeriodSeconds":10,"containers":[{"name":"authproxy-in","image":"authproxy-in.`+k+`:latest",
			   "resources":`+res+`,"volumeMounts":[{"name":"files","mountPath":"/authproxy_in"}]}],
			  "volumes":[{"name":"files","configMap":{"name":"`+name+`"}}]}}}}`,
			`{"apiVersion":"v1","kind":"Service","metadata":{"name":"`+name+`","namespace":"`+ns+`"},
			 "spec":{"selector":{"app":"`+name+`"},"ports":[{"name":"p9085","port":9085}]}}`,
			`{"apiVersion":"networking.k8s.io/v1","kind":"Ingress","metadata":{"name":"`+name+`","namespace":"`+ns+`"},
			 "spec":{"rules":[{"host":"authproxy-in.`+k+`.kodo.localhost","http":{"paths":[{"path":"/","pathType":"Prefix",
			  "backend":{"service":{"name":"`+name+`","port":{"number":9085}}}}]}}]}}`)
	}
	return docs
}

// seedResources maps the kinds of seedDocs to their resources.
var seedResources = map[string]schema.GroupVersionResource{
	"Namespace":   {Version: "v1", Resource: "namespaces"},
	"StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"Service":     {Version: "v1", Resource: "services"},
	"ConfigMap":   {Version: "v1", Resource: "configmaps"},
	"Deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"Ingress":     {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
}

// floorSeed is the seed's floor: what the API server and the controllers
// allow with the product's order kept (mysql-1's tier ready before the
// kodo tier starts). An unthrottled client applies the namespace, then
// mysql-1's objects at once, watches the StatefulSet until its replica is
// ready, then applies the kodo tier's objects at once and watches until
// both Deployments are Available.
func floorSeed(ctx context.Context, cfg *rest.Config, ns string) error {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	dyn, err := dynamic.NewForConfig(c)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return err
	}
	docs := seedDocs(ns)
	objs := make([]*unstructured.Unstructured, len(docs))
	for i, d := range docs {
		objs[i] = &unstructured.Unstructured{}
		if err := objs[i].UnmarshalJSON([]byte(d)); err != nil {
			return err
		}
	}
	ao := metav1.ApplyOptions{FieldManager: "floor", Force: true}
	apply := func(objs []*unstructured.Unstructured) error {
		var g errgroup.Group
		for _, o := range objs {
			g.Go(func() error {
				res, ok := seedResources[o.GetKind()]
				if !ok {
					return fmt.Errorf("no resource for kind %s", o.GetKind())
				}
				var ri dynamic.ResourceInterface = dyn.Resource(res)
				if o.GetNamespace() != "" {
					ri = dyn.Resource(res).Namespace(o.GetNamespace())
				}
				_, err := ri.Apply(ctx, o.GetName(), o, ao)
				return err
			})
		}
		return g.Wait()
	}
	if err := apply(objs[:1]); err != nil {
		return err
	}
	if err := apply(objs[1:3]); err != nil {
		return err
	}
	mysql := objs[1].GetName()
	setReady := func(o runtime.Object) bool {
		s, ok := o.(*appsv1.StatefulSet)
		return ok && s.Status.ObservedGeneration >= s.Generation && s.Status.ReadyReplicas == 1 &&
			s.Status.UpdatedReplicas == 1 && s.Status.AvailableReplicas == 1
	}
	if err := watchUntil(ctx, cs.AppsV1().StatefulSets(ns), mysql, setReady); err != nil {
		return err
	}
	if err := apply(objs[3:]); err != nil {
		return err
	}
	for _, o := range objs[3:] {
		if o.GetKind() != "Deployment" {
			continue
		}
		if err := watchUntil(ctx, cs.AppsV1().Deployments(ns), o.GetName(), func(o runtime.Object) bool {
			d, ok := o.(*appsv1.Deployment)
			if !ok || d.Status.ObservedGeneration < d.Generation {
				return false
			}
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 1 {
					return true
				}
			}
			return false
		}); err != nil {
			return err
		}
	}
	return nil
}

// watchUntil watches one object by name, from a list, until ok says yes.
func watchUntil[L runtime.Object](ctx context.Context, c interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}, name string, ok func(runtime.Object) bool) error {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	for {
		l, err := c.List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return err
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return err
		}
		for _, o := range items {
			if ok(o) {
				return nil
			}
		}
		lm, err := meta.ListAccessor(l)
		if err != nil {
			return err
		}
		w, err := c.Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: lm.GetResourceVersion()})
		if err != nil {
			return err
		}
		for e := range w.ResultChan() {
			if e.Type != watch.Deleted && e.Type != watch.Error && ok(e.Object) {
				w.Stop()
				return nil
			}
		}
		w.Stop()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// BenchmarkCLISeed: the seed product (examples/kodo-double.json, mysql-1
// given an internal access point for the config template), stackwave
// apply against kubectl apply of the equivalent objects + kubectl wait
// for the Deployments and the StatefulSet. The test storage class is made
// the cluster's default for the duration, with the test provisioner
// binding claims of it, as a cluster with a provisioner would.
func BenchmarkCLISeed(b *testing.B) {
	env := kubetest.Shared(b)
	startProvisioner(b, env)
	ctx := ctxT(b, 2*time.Hour)
	patch := func(v string) {
		p := []byte(`{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":` + v + `}}}`)
		_, err := env.Clientset.StorageV1().StorageClasses().Patch(context.Background(), testStorageClass, types.MergePatchType, p, metav1.PatchOptions{})
		must(b, err)
	}
	patch(`"true"`)
	b.Cleanup(func() { patch("null") })
	bin, err := stackwaveBin(b)
	must(b, err)
	kubectl := os.Getenv("STACKWAVE_KUBECTL")
	dir := b.TempDir()
	seed, err := os.ReadFile(filepath.Join("..", "..", "examples", "kodo-double.json"))
	must(b, err)
	doc := strings.Replace(string(seed), `"command": ["mysqld", "--server-id=1"],`,
		`"command": ["mysqld", "--server-id=1"], "access_point": {"type": "internal_ip", "backend_ports": [3306]},`, 1)
	if doc == string(seed) {
		b.Fatal("the seed's mysql command moved: update this benchmark")
	}
	docPath := filepath.Join(dir, "seed.json")
	must(b, os.WriteFile(docPath, []byte(doc), 0o644))
	tpl := filepath.Join(dir, "proxy.conf")
	must(b, os.WriteFile(tpl, []byte(kodoTemplates["/authproxy_in/qboxauthproxy.conf"]), 0o644))
	db := "sqlite:" + filepath.Join(dir, "sw.db")
	kenv := []string{"KUBECONFIG=" + env.Kubeconfig}
	times := map[string][]time.Duration{}
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		tag := randomHex(2) + strconv.Itoa(round)
		if kubectl != "" {
			ns := "kcseed-" + tag
			m := seedManifest(b, dir, ns)
			up := run(ctx, b, kenv, kubectl, "apply", "-f", m)
			up += run(ctx, b, kenv, kubectl, "wait", "--for=condition=Available", "deployment", "--all", "-n", ns, "--timeout=30m")
			up += run(ctx, b, kenv, kubectl, "rollout", "status", "statefulset/mysql-cluster-mysql-1", "-n", ns, "--timeout=30m")
			times["kubectl-up"] = append(times["kubectl-up"], up)
			waitNamespaceGone(b, env, ns)
		}
		arm := func(arm, bin string) {
			name := arm[:2] + "seed-" + tag
			times[arm+"-up"] = append(times[arm+"-up"],
				run(ctx, b, kenv, bin, "apply", "-f", docPath, "--name", name, "--runtime", "kube", "--store", db,
					"--config", "/authproxy_in/qboxauthproxy.conf="+tpl, "--progress", "none"))
			waitNamespaceGone(b, env, "stackwave-"+name)
		}
		swFirst(round, func() { arm("stackwave", bin) }, func() { arm("base", baseBin()) })

		ns := "floorseed-" + tag
		start := time.Now()
		must(b, floorSeed(ctx, env.Config, ns))
		times["floor-up"] = append(times["floor-up"], time.Since(start))
		b.Logf("%v: floor up", time.Since(start))
		waitNamespaceGone(b, env, ns)
		b.StartTimer()
	}
	for k, v := range times {
		b.ReportMetric(medianOf(v).Seconds(), "s-"+k)
		b.Logf("%s: %v", k, v)
	}
	sw := medianOf(times["stackwave-up"]).Seconds()
	b.ReportMetric(sw/medianOf(times["floor-up"]).Seconds(), "up/floor")
	if baseBin() != "" {
		b.ReportMetric(medianOf(times["base-up"]).Seconds()/sw, "base/up")
	}
	if kubectl != "" {
		b.ReportMetric(medianOf(times["kubectl-up"]).Seconds()/sw, "kubectl/up")
	}
}

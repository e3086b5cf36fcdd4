package kube

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// These tests need no cluster.

func newTestRuntime(t *testing.T, opts *Options) *Runtime {
	t.Helper()
	r, err := New(&rest.Config{Host: "https://127.0.0.1:1"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOptionsDefaults(t *testing.T) {
	r := newTestRuntime(t, nil)
	o := r.Options()
	if o.NamespacePrefix != "stackwave-" || o.BaseDomain != "localhost" || o.PublicServiceType != corev1.ServiceTypeLoadBalancer ||
		o.QPS != DefaultQPS || o.Burst != DefaultBurst || o.FieldManager != "stackwave" || o.GracePeriod != 10*time.Second || o.LogLines != 20 {
		t.Errorf("defaults: %+v", o)
	}
	if r.Name() != "kube" || r.Namespace("shop") != "stackwave-shop" {
		t.Errorf("name %q, namespace %q", r.Name(), r.Namespace("shop"))
	}
	if _, err := New(&rest.Config{}, &Options{PublicServiceType: "ClusterIP"}); err == nil {
		t.Error("a ClusterIP public service type was accepted")
	}
	if _, err := New(nil, nil); err == nil {
		t.Error("a nil rest.Config was accepted")
	}
	if o := newTestRuntime(t, &Options{QPS: -3}).Options(); o.QPS != -1 {
		t.Errorf("negative QPS became %v, want -1 (no limit)", o.QPS)
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 40) + "-" + strings.Repeat("b", 40)
	for _, max := range []int{52, 63} {
		got := fitName(long, max)
		if len(got) > max || got != fitName(long, max) || got == fitName(long+"c", max) {
			t.Errorf("fitName(%d): %q", max, got)
		}
	}
	if got := fitName("short", 63); got != "short" {
		t.Errorf("fitName kept %q", got)
	}
	if got := serviceObjectName("1db-web"); got != "s-1db-web" {
		t.Errorf("service name %q", got)
	}
	shared := newTestRuntime(t, &Options{Namespace: "apps"})
	n := shared.names("shop", "db", "mysql")
	if n.service != "shop-db-mysql" || n.public != "shop-db-mysql-public" || shared.namespace("shop") != "apps" {
		t.Errorf("shared-namespace names %+v", n)
	}
	r := newTestRuntime(t, nil)
	job := r.jobName("shop", strings.Repeat("s", 63), 2, "sha256:0123456789abcdef")
	if len(job) > 63 || !strings.HasSuffix(job, "-0123456789") {
		t.Errorf("job name %q", job)
	}
	if got := claimNames([]stack.VolumeArg{{MountPath: "/var/lib/mysql"}, {MountPath: "/var/lib/mysql/"}, {MountPath: "/"}}); got[0] != "var-lib-mysql" || got[1] != "var-lib-mysql-2" || got[2] != "data" {
		t.Errorf("claim names %v", got)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "$(HOME)": "$$(HOME)", "$$(X)": "$$$$(X)", "a$b": "a$b", "cost: 5$": "cost: 5$", "$$": "$$$",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
	env := envVars([]string{"A=1", "B=$(A)", "A=2", "EMPTY", "C=x=y"})
	var got []string
	for _, e := range env {
		got = append(got, *e.Name+"="+*e.Value)
	}
	if strings.Join(got, " ") != "A=2 B=$$(A) EMPTY= C=x=y" {
		t.Errorf("env %v", got)
	}
}

func TestFileKeys(t *testing.T) {
	got := fileKeys(map[string][]byte{"/etc/app/a.conf": nil, "/etc/app.a/conf": nil, "/x y/z": nil})
	want := []file{{"/etc/app.a/conf", "etc.app.a.conf"}, {"/etc/app/a.conf", "file-1.etc.app.a.conf"}, {"/x y/z", "x.y.z"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("keys %v, want %v", got, want)
	}
}

func TestReadinessProbe(t *testing.T) {
	p, err := readinessProbe(&stack.Probe{Type: stack.ProbeHTTP, Port: 80, ExpectedCodes: []int{200, 204}, Period: stack.Duration(1500 * time.Millisecond)})
	if err != nil || *p.HTTPGet.Path != "/" || p.HTTPGet.Port.IntValue() != 80 || *p.PeriodSeconds != 2 {
		t.Errorf("http probe %+v, %v", p, err)
	}
	if _, err := readinessProbe(&stack.Probe{Type: stack.ProbeHTTP, Port: 80, ExpectedCodes: []int{404}}); err == nil {
		t.Error("expected code 404 accepted")
	}
	if p, _ := readinessProbe(&stack.Probe{Type: stack.ProbeTCP, Port: 5432}); p.TCPSocket.Port.IntValue() != 5432 || *p.PeriodSeconds != 1 {
		t.Errorf("tcp probe %+v", p)
	}
	if p, _ := readinessProbe(&stack.Probe{Type: stack.ProbeExec, Command: []string{"pg_isready"}}); p.Exec.Command[0] != "pg_isready" {
		t.Errorf("exec probe %+v", p)
	}
	if p, err := readinessProbe(&stack.Probe{Type: stack.ProbeRunning}); p != nil || err != nil {
		t.Errorf("running probe %+v %v", p, err)
	}
}

func TestBuildService(t *testing.T) {
	r := newTestRuntime(t, &Options{StorageClasses: map[string]string{"SSD1": "fast"}, PublicServiceType: corev1.ServiceTypeNodePort, IngressClassName: "nginx"})
	svc := stack.Service{Name: "web", UnitType: "2U4G", Image: stack.Image{Name: "nginx", Tag: "1.27"}, Instances: 3,
		AccessPoints: []stack.AccessPoint{
			{Type: stack.AccessDomain, BackendPorts: []int{80, 8080}},
			{Type: stack.AccessPublicIP, BackendPorts: []int{53}, Proto: stack.ProtoUDP, HostPorts: []int{30053}},
			{Type: stack.AccessInternalIP, BackendPorts: []int{80}},
		},
		VolumeArgs: []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_20G"}},
	}
	spec := &runtime.StackSpec{Deployment: "shop", Tier: 2, Stack: stack.Stack{Name: "front", Services: []stack.Service{svc}}}
	o, err := r.buildService(spec, &spec.Stack.Services[0])
	if err != nil {
		t.Fatal(err)
	}
	if o.deployment != nil || o.statefulSet == nil || *o.statefulSet.Name != "front-web" || *o.statefulSet.Spec.Replicas != 3 {
		t.Fatalf("workload: %+v %+v", o.deployment, o.statefulSet)
	}
	c := o.statefulSet.Spec.Template.Spec.Containers[0]
	if c.Resources.Limits.Cpu().MilliValue() != 2000 || c.Resources.Requests.Memory().Value() != 4<<30 {
		t.Errorf("resources %+v", c.Resources)
	}
	if len(c.Ports) != 3 {
		t.Errorf("container ports %+v", c.Ports)
	}
	claim := o.statefulSet.Spec.VolumeClaimTemplates[0]
	if *claim.Name != "data" || *claim.Spec.StorageClassName != "fast" || claim.Spec.Resources.Requests.Storage().Value() != 20<<30 {
		t.Errorf("claim %+v", claim)
	}
	if got := o.statefulSet.Spec.Template.Labels; got[LabelTier] != "" || got[LabelStack] != "front" || got[LabelComponent] != ComponentService {
		t.Errorf("pod labels %v (the tier must stay off pods)", got)
	}
	if o.labels[LabelTier] != "2" || o.annotations[AnnotationConfigHash] != runtime.ServiceHash(spec, &spec.Stack.Services[0]) {
		t.Errorf("labels %v annotations %v", o.labels, o.annotations)
	}
	if len(o.cluster.Spec.Ports) != 2 || *o.public.Spec.Type != corev1.ServiceTypeNodePort ||
		*o.public.Spec.Ports[0].NodePort != 30053 || *o.public.Spec.Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("services %+v %+v", o.cluster.Spec.Ports, o.public.Spec.Ports)
	}
	rules := o.ingress.Spec.Rules
	if *o.ingress.Spec.IngressClassName != "nginx" || len(rules) != 2 ||
		*rules[0].Host != "web.front.shop.localhost" || *rules[1].Host != "web-8080.front.shop.localhost" {
		t.Errorf("ingress %+v", o.ingress.Spec)
	}
	aps := parseAccessPoints(o.annotations[annAccessPoints])
	if len(aps) != 4 || aps[2] != (accessPoint{"public_ip", "udp", 53, 30053}) {
		t.Errorf("access points %+v", aps)
	}

	bad := svc
	bad.UnitType = "3U3G"
	spec.Stack.Services[0] = bad
	if _, err := r.buildService(spec, &spec.Stack.Services[0]); !errors.Is(err, runtime.ErrInvalid) {
		t.Errorf("unknown unit type: %v", err)
	}
}

func TestMapError(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, tc := range []struct {
		err  error
		want error
	}{
		{apierrors.NewNotFound(gr, "x"), runtime.ErrNotFound},
		{apierrors.NewConflict(gr, "x", errors.New("changed")), runtime.ErrConflict},
		{apierrors.NewAlreadyExists(gr, "x"), runtime.ErrConflict},
		{apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "x", nil), runtime.ErrInvalid},
		{apierrors.NewServerTimeout(gr, "create", 1), runtime.ErrUnavailable},
		{apierrors.NewTooManyRequests("slow down", 1), runtime.ErrUnavailable},
		{apierrors.NewServiceUnavailable("down"), runtime.ErrUnavailable},
		{apierrors.NewMethodNotSupported(gr, "patch"), runtime.ErrNotSupported},
		{fmt.Errorf("apply: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), runtime.ErrUnavailable},
		{errClosed, runtime.ErrUnavailable},
	} {
		got := runtime.MapError(&Runtime{}, fmt.Errorf("apply x: %w", tc.err))
		if !errors.Is(got, tc.want) {
			t.Errorf("MapError(%v) = %v, want it to match %v", tc.err, got, tc.want)
		}
	}
	forbidden := apierrors.NewForbidden(gr, "x", errors.New("no"))
	if got := runtime.MapError(&Runtime{}, forbidden); got != error(forbidden) {
		t.Errorf("Forbidden became %v", got)
	}
}

func TestPodFailure(t *testing.T) {
	status := func(s corev1.ContainerState, last corev1.ContainerState) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: s, LastTerminationState: last}}}}
	}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		sentinel error
		reason   string
		exit     int
	}{
		{"running", status(corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, corev1.ContainerState{}), nil, "", 0},
		{"creating", status(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}, corev1.ContainerState{}), nil, "", 0},
		{"crash-loop", status(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}), runtime.ErrFailed, "CrashLoopBackOff", 137},
		{"pull", status(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}, corev1.ContainerState{}), runtime.ErrImage, "ErrImagePull", 0},
		{"exited", status(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}, corev1.ContainerState{}), runtime.ErrFailed, "Exited", 3},
		{"oom", status(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, corev1.ContainerState{}), runtime.ErrFailed, "OOMKilled", 137},
		{"evicted", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}, runtime.ErrFailed, "Evicted", 0},
	} {
		f := podFailure(tc.pod)
		switch {
		case tc.sentinel == nil && f != nil:
			t.Errorf("%s: failure %+v", tc.name, f)
		case tc.sentinel != nil && (f == nil || f.sentinel != tc.sentinel || f.reason != tc.reason || f.exitCode != tc.exit):
			t.Errorf("%s: failure %+v, want %v %s exit %d", tc.name, f, tc.sentinel, tc.reason, tc.exit)
		}
	}
}

// TestJudge checks the readiness verdicts on workload statuses that the
// test control plane does not produce by itself.
func TestJudge(t *testing.T) {
	r := newTestRuntime(t, nil)
	svc := stack.Service{Name: "web", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1"}, Instances: 2}
	spec := &runtime.StackSpec{Deployment: "shop", Stack: stack.Stack{Name: "front", Services: []stack.Service{svc}}}
	hash := runtime.ServiceHash(spec, &svc)
	n := r.names("shop", "front", "web")
	deployment := func(mut func(*appsv1.Deployment)) *stackObjects {
		two := int32(2)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: n.workload, Generation: 3, Annotations: map[string]string{AnnotationConfigHash: hash, annInstances: "2"}},
			Spec:       appsv1.DeploymentSpec{Replicas: &two},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
		}
		mut(d)
		return &stackObjects{deployments: []*appsv1.Deployment{d}}
	}
	for _, tc := range []struct {
		name   string
		objs   *stackObjects
		ready  bool
		reason string
	}{
		{"ready", deployment(func(*appsv1.Deployment) {}), true, ""},
		{"generation not observed", deployment(func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 }), false, ""},
		{"old pods left", deployment(func(d *appsv1.Deployment) { d.Status.Replicas = 3 }), false, ""},
		{"scale-down not done", deployment(func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 3, 3, 3, 3
		}), false, ""},
		{"not available", deployment(func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }), false, ""},
		{"other config", deployment(func(d *appsv1.Deployment) { d.Annotations[AnnotationConfigHash] = "sha256:other" }), false, ""},
		{"stopped", deployment(func(d *appsv1.Deployment) { zero := int32(0); d.Spec.Replicas = &zero }), false, "Stopped"},
		{"deadline", deployment(func(d *appsv1.Deployment) {
			d.Status.AvailableReplicas = 1
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
		}), false, "ProgressDeadlineExceeded"},
		{"missing", &stackObjects{}, false, ""},
	} {
		v := r.judge("stackwave-shop", spec, &svc, n, hash, tc.objs)
		reason := ""
		if v.failure != nil {
			reason = v.failure.reason
		}
		if v.ready != tc.ready || reason != tc.reason || (!v.ready && v.failure == nil && v.waiting == "") {
			t.Errorf("%s: verdict %+v, want ready %v failure %q", tc.name, v, tc.ready, tc.reason)
		}
	}
	// A generation this runtime wrote, newer than the cached object, is
	// waited for.
	r.wrote("deployment", "stackwave-shop", n.workload, 4)
	if v := r.judge("stackwave-shop", spec, &svc, n, hash, deployment(func(*appsv1.Deployment) {})); v.ready {
		t.Error("judged ready on a cached object older than the runtime's write")
	}
	// Missing from the cache: "not created yet" only if the runtime did
	// not just write it.
	if v := r.judge("stackwave-shop", spec, &svc, n, hash, &stackObjects{}); !strings.Contains(v.waiting, "waiting for the watch") {
		t.Errorf("written but not cached: waiting %q, want it to say the watch has yet to see it", v.waiting)
	}
	r.written.Clear()
	if v := r.judge("stackwave-shop", spec, &svc, n, hash, &stackObjects{}); !strings.Contains(v.waiting, "not created yet") {
		t.Errorf("never written: waiting %q, want \"not created yet\"", v.waiting)
	}
}

package kube_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime/kube"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// testStorageClass is the storage class of the tests' volumes: nothing
// provisions it but the provisioner below, which binds every claim to a
// volume of its own.
const testStorageClass = "stackwave-test"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// requestCounter counts the requests a rest.Config's clients send.
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) RoundTrip(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		c.n.Add(1)
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// counted returns a copy of cfg whose requests c counts.
func counted(cfg *rest.Config, c *requestCounter) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(c.RoundTrip)
	return cfg
}

// newRuntime returns a runtime on env that never reads pod logs (the
// simulated nodes have no kubelet to serve them) and binds volumes to the
// test storage class, closed when t ends.
func newRuntime(t testing.TB, cfg *rest.Config, opts *kube.Options) *kube.Runtime {
	t.Helper()
	var o kube.Options
	if opts != nil {
		o = *opts
	}
	o.LogLines = -1
	if o.StorageClasses == nil {
		o.StorageClasses = map[string]string{"SSD1": testStorageClass}
	}
	if o.GracePeriod == 0 {
		o.GracePeriod = time.Second
	}
	rt, err := kube.New(cfg, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// behavior is how the fake kubelet makes the pods of one service behave.
type behavior struct {
	readyAfter time.Duration
	neverReady bool
	exit       bool
	exitAfter  time.Duration
	exitCode   int
	// waiting, with message, leaves the container waiting with that
	// reason (CrashLoopBackOff, ImagePullBackOff); lastExit is the exit
	// code of its last run.
	waiting, message string
	lastExit         int
}

// fakeKubelet plays the kubelet for the pods kwok leaves alone (annotated
// kubetest.ManualStatusAnnotation): it writes their status as a kubelet
// would for a container that becomes ready late, never does, exits, or
// cannot start, and finishes init-script Job pods with the exit code
// their command asks for ("exit N"). It binds such pods to the node
// itself as soon as they appear, rather than wait for the scheduler.
type fakeKubelet struct {
	cs      kubernetes.Interface
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	deps    map[string]bool
	behave  map[string]behavior // deployment/stack/service
	seen    map[types.UID]bool
	lastIP  atomic.Int32
	factory informers.SharedInformerFactory
}

// startKubelet starts a fake kubelet for t's deployments.
func startKubelet(t testing.TB, env *kubetest.Env) *fakeKubelet {
	t.Helper()
	k := &fakeKubelet{
		cs: env.Clientset, stop: make(chan struct{}),
		deps: map[string]bool{}, behave: map[string]behavior{}, seen: map[types.UID]bool{},
	}
	k.factory = informers.NewSharedInformerFactoryWithOptions(env.Clientset, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kube.LabelManagedBy + "=" + kube.ManagedBy }))
	inf := k.factory.Core().V1().Pods().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.consider(obj) },
		UpdateFunc: func(_, obj any) { k.consider(obj) },
	})
	k.factory.Start(k.stop)
	t.Cleanup(func() {
		close(k.stop)
		k.factory.Shutdown()
		k.wg.Wait()
	})
	if !cache.WaitForCacheSync(t.Context().Done(), inf.HasSynced) {
		t.Fatal("fake kubelet: pod informer did not sync")
	}
	return k
}

// claim makes the kubelet handle the manual pods of a deployment.
func (k *fakeKubelet) claim(deployment string) {
	k.mu.Lock()
	k.deps[deployment] = true
	k.mu.Unlock()
}

// set says how the pods of one service behave; a zero behavior leaves
// them to kwok.
func (k *fakeKubelet) set(deployment, stackName, service string, b behavior) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.deps[deployment] = true
	if b == (behavior{}) {
		delete(k.behave, deployment+"/"+stackName+"/"+service)
		return
	}
	k.behave[deployment+"/"+stackName+"/"+service] = b
}

// manual reports whether the pods of a service, or of init script Jobs
// (script >= 0), are the kubelet's.
func (k *fakeKubelet) manual(deployment, stackName, service string, script int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if script >= 0 {
		return k.deps[deployment]
	}
	_, ok := k.behave[deployment+"/"+stackName+"/"+service]
	return ok
}

// podTemplate is the runtime's Options.PodTemplate: it marks the pods
// the kubelet handles so kwok leaves them alone.
func (k *fakeKubelet) podTemplate(info kube.PodInfo, tmpl *corev1ac.PodTemplateSpecApplyConfiguration) {
	if k.manual(info.Spec.Deployment, info.Spec.Stack.Name, info.Service.Name, info.InitScript) {
		tmpl.WithAnnotations(map[string]string{kubetest.ManualStatusAnnotation: kubetest.ManualStatusValue})
	}
}

func (k *fakeKubelet) consider(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Annotations[kubetest.ManualStatusAnnotation] != kubetest.ManualStatusValue || p.DeletionTimestamp != nil {
		return
	}
	dep, stk, svc := p.Labels[kube.LabelDeployment], p.Labels[kube.LabelStack], p.Labels[kube.LabelService]
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.deps[dep] || k.seen[p.UID] {
		return
	}
	b, ok := k.behave[dep+"/"+stk+"/"+svc]
	job := p.Labels[kube.LabelComponent] == kube.ComponentInitScript
	if !ok && !job {
		return
	}
	k.seen[p.UID] = true
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		if p.Spec.NodeName == "" && !k.bind(p) {
			return
		}
		if job {
			k.finishJobPod(p)
			return
		}
		k.run(p, b)
	}()
}

// bind places a pod on the simulated node, as the scheduler would, which
// on a loaded machine can take a second; a pod the scheduler placed first
// is fine too. It reports whether the pod is placed.
func (k *fakeKubelet) bind(p *corev1.Pod) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := k.cs.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: kubetest.NodeNamePrefix + "0"},
	}, metav1.CreateOptions{})
	return err == nil || apierrors.IsConflict(err)
}

// sleep waits d or until the kubelet stops, and reports whether it slept.
func (k *fakeKubelet) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-k.stop:
		return false
	}
}

func (k *fakeKubelet) run(p *corev1.Pod, b behavior) {
	switch {
	case b.waiting != "":
		k.setStatus(p, func(s *corev1.PodStatus, cs *corev1.ContainerStatus) {
			s.Phase = corev1.PodPending
			if b.waiting == "CrashLoopBackOff" {
				s.Phase = corev1.PodRunning
				cs.RestartCount = 3
				cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
					ExitCode: int32(b.lastExit), Reason: "Error", StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: b.waiting, Message: b.message}
		})
	case b.exit:
		if b.exitAfter > 0 {
			k.setStatus(p, running(false))
			if !k.sleep(b.exitAfter) {
				return
			}
		}
		k.setStatus(p, func(s *corev1.PodStatus, cs *corev1.ContainerStatus) {
			s.Phase = corev1.PodRunning
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: int32(b.exitCode), Reason: "Error",
				StartedAt: metav1.Now(), FinishedAt: metav1.Now()}
		})
	case b.neverReady:
		k.setStatus(p, running(false))
	default:
		k.setStatus(p, running(false))
		if !k.sleep(b.readyAfter) {
			return
		}
		k.setStatus(p, running(true))
	}
}

// finishJobPod ends an init-script pod with the exit code of its
// command's "exit N".
func (k *fakeKubelet) finishJobPod(p *corev1.Pod) {
	code := 0
	if cmd := p.Spec.Containers[0].Command; len(cmd) > 0 {
		if f := strings.Fields(cmd[len(cmd)-1]); len(f) == 2 && f[0] == "exit" {
			code, _ = strconv.Atoi(f[1])
		}
	}
	k.setStatus(p, running(false))
	k.setStatus(p, func(s *corev1.PodStatus, cs *corev1.ContainerStatus) {
		s.Phase, cs.State.Terminated = corev1.PodSucceeded, &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}
		if code != 0 {
			s.Phase, cs.State.Terminated = corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "Error"}
		}
		cs.State.Terminated.StartedAt, cs.State.Terminated.FinishedAt = metav1.Now(), metav1.Now()
	})
}

// running sets a running container, ready or not.
func running(ready bool) func(*corev1.PodStatus, *corev1.ContainerStatus) {
	return func(s *corev1.PodStatus, cs *corev1.ContainerStatus) {
		s.Phase = corev1.PodRunning
		cs.Ready = ready
		started := true
		cs.Started = &started
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
	}
}

// setStatus writes a pod's status as the kubelet would: fill sets the
// phase and the (only) container's state; conditions follow from them.
func (k *fakeKubelet) setStatus(p *corev1.Pod, fill func(*corev1.PodStatus, *corev1.ContainerStatus)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-k.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	ip := fmt.Sprintf("10.244.%d.%d", 1+k.lastIP.Load()/250, 1+k.lastIP.Add(1)%250)
	for ctx.Err() == nil {
		cur, err := k.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return // deleted, or the test is over
		}
		now := metav1.Now()
		s := cur.Status
		c := cur.Spec.Containers[0]
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "docker-pullable://" + c.Image, ContainerID: "fake://" + string(cur.UID)}
		fill(&s, &cs)
		s.HostIP, s.HostIPs = "10.0.0.1", []corev1.HostIP{{IP: "10.0.0.1"}}
		if s.PodIP == "" && s.Phase != corev1.PodPending {
			s.PodIP, s.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		}
		if s.StartTime == nil {
			s.StartTime = &now
		}
		s.ContainerStatuses = []corev1.ContainerStatus{cs}
		ready := corev1.ConditionFalse
		if cs.Ready {
			ready = corev1.ConditionTrue
		}
		s.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		}
		cur.Status = s
		_, err = k.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return
		}
		if !apierrors.IsConflict(err) {
			// A pause before trying a failed write again, as a kubelet
			// backs off: it synchronises nothing.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// startProvisioner binds every claim of the test storage class to a
// volume made for it, and deletes such volumes once released: a
// stand-in for a CSI provisioner, which the test control plane lacks.
// The storage class binds at once (volumeBindingMode Immediate), so the
// scheduler places pods only once their claims are bound, as on a real
// cluster.
func startProvisioner(t testing.TB, env *kubetest.Env) {
	t.Helper()
	ctx := context.Background()
	immediate := storagev1.VolumeBindingImmediate
	retain := corev1.PersistentVolumeReclaimRetain
	_, err := env.Clientset.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: testStorageClass},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: &immediate,
		ReclaimPolicy:     &retain,
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("provisioner: storage class: %v", err)
	}
	stop := make(chan struct{})
	f := informers.NewSharedInformerFactory(env.Clientset, 0)
	claims := f.Core().V1().PersistentVolumeClaims().Informer()
	volumes := f.Core().V1().PersistentVolumes().Informer()
	var wg sync.WaitGroup
	provision := func(obj any) {
		c, ok := obj.(*corev1.PersistentVolumeClaim)
		if !ok || c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != testStorageClass ||
			c.Spec.VolumeName != "" || c.DeletionTimestamp != nil {
			return
		}
		wg.Go(func() {
			pv := volumeFor(c, testStorageClass, map[string]string{"stackwave-test": "pv"})
			if _, err := env.Clientset.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Logf("provisioner: %v", err)
			}
		})
	}
	release := func(obj any) {
		v, ok := obj.(*corev1.PersistentVolume)
		if !ok || v.Labels["stackwave-test"] != "pv" || v.Status.Phase != corev1.VolumeReleased {
			return
		}
		wg.Go(func() {
			err := env.Clientset.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Logf("provisioner: %v", err)
			}
		})
	}
	_, _ = claims.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: provision, UpdateFunc: func(_, o any) { provision(o) }})
	_, _ = volumes.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: release, UpdateFunc: func(_, o any) { release(o) }})
	f.Start(stop)
	t.Cleanup(func() {
		close(stop)
		f.Shutdown()
		wg.Wait()
	})
}

// ctxT returns a context that ends when t does or after d.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// volumeFor returns a PersistentVolume of the class, bound in advance to
// claim c and as large as it asks, that the cluster keeps once released.
func volumeFor(c *corev1.PersistentVolumeClaim, class string, labels map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + string(c.UID), Labels: labels},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   c.Spec.AccessModes,
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/nonexistent/" + string(c.UID)}},
		},
	}
}

// staticStorageClass creates a storage class named prefix and a random
// suffix that nothing provisions and whose claims bind at once, deleted
// when t ends, and returns its name.
func staticStorageClass(t testing.TB, env *kubetest.Env, prefix string) string {
	t.Helper()
	name := prefix + randomHex(3)
	immediate := storagev1.VolumeBindingImmediate
	_, err := env.Clientset.StorageV1().StorageClasses().Create(context.Background(), &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "kubernetes.io/no-provisioner", VolumeBindingMode: &immediate,
	}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() {
		_ = env.Clientset.StorageV1().StorageClasses().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

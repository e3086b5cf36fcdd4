package kubetest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/internal/waitfor"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func deployment(name string, replicas int32, podAnnotations map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}},
				},
			},
		},
	}
}

// waitAvailable waits until the Deployment reports want available replicas.
func waitAvailable(t *testing.T, cs kubernetes.Interface, ns, name string, want int32, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var last *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Logf("get deployment: %v", err)
			return false, nil
		}
		last = d
		return d.Status.AvailableReplicas == want, nil
	})
	if err != nil {
		status := "none"
		if last != nil {
			status = fmt.Sprintf("%+v", last.Status)
		}
		t.Fatalf("deployment %s/%s: %d available replicas wanted, last status %s: %v", ns, name, want, status, err)
	}
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	env := kubetest.Shared(t)
	ns := env.NewNamespace(t)
	ctx := t.Context()

	start := time.Now()
	if _, err := env.Clientset.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, env.Clientset, ns, "web", 3, time.Minute)
	t.Logf("3 replicas available %s after create", time.Since(start).Round(time.Millisecond))

	pods, err := env.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" || p.Status.PodIP == "" {
			t.Errorf("pod %s: phase %s node %q ip %q, want Running on a node with an IP", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
		}
	}
}

func TestKubeconfigAndVersion(t *testing.T) {
	env := kubetest.Shared(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version through %s: %v", env.Kubeconfig, err)
	}
	if v.GitVersion != kubetest.KubernetesVersion {
		t.Errorf("server version %s, want %s", v.GitVersion, kubetest.KubernetesVersion)
	}
}

// TestManualStatusPodIsLeftAlone checks that kwok does not touch the status
// of an annotated pod, so a test can simulate CrashLoopBackOff, while it
// still runs unannotated pods and completes deletion of annotated ones.
func TestManualStatusPodIsLeftAlone(t *testing.T) {
	env := kubetest.Shared(t)
	ns := env.NewNamespace(t)
	ctx := t.Context()
	pods := env.Clientset.CoreV1().Pods(ns)

	pod := func(name string, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
		}
	}
	if _, err := pods.Create(ctx, pod("manual", map[string]string{kubetest.ManualStatusAnnotation: kubetest.ManualStatusValue}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, pod("simulated", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Both get scheduled; only the unannotated one is made Running by kwok.
	var manual *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, waitfor.Generous, true, func(ctx context.Context) (bool, error) {
		sim, err := pods.Get(ctx, "simulated", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		manual, err = pods.Get(ctx, "manual", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return sim.Status.Phase == corev1.PodRunning && manual.Spec.NodeName != "", nil
	})
	if err != nil {
		t.Fatalf("pods not scheduled and running: %v", err)
	}
	if manual.Status.Phase != corev1.PodPending || len(manual.Status.ContainerStatuses) != 0 {
		t.Fatalf("kwok changed the annotated pod: phase %s, container statuses %+v", manual.Status.Phase, manual.Status.ContainerStatuses)
	}

	now := metav1.Now()
	manual.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:         "app",
			Image:        "example.invalid/app:1",
			RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: "back-off 1m20s restarting failed container",
			}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: now, FinishedAt: now,
			}},
		}},
	}
	if _, err := pods.UpdateStatus(ctx, manual, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status: %v", err)
	}

	// kwok has worked since the update: a pod created after it runs.
	// Had kwok meant to rewrite the annotated pod's status, the update
	// would have given it the occasion.
	if _, err := pods.Create(ctx, pod("after", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, waitfor.Generous, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, "after", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, err
	})
	if err != nil {
		t.Fatalf("a pod created after the update is not running: %v", err)
	}
	got, err := pods.Get(ctx, "manual", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := got.Status.ContainerStatuses
	if got.Status.Phase != corev1.PodRunning || len(cs) != 1 || cs[0].State.Waiting == nil ||
		cs[0].State.Waiting.Reason != "CrashLoopBackOff" || cs[0].Ready || cs[0].RestartCount != 4 {
		t.Fatalf("status of the annotated pod changed: %+v", got.Status)
	}

	// Deleting it with the default grace period completes, although no
	// kubelet acknowledges it.
	if err := pods.Delete(ctx, "manual", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, waitfor.Generous, true, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "manual", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("annotated pod was not deleted: %v", err)
	}
}

// TestAPIServerRestart stops the API server mid-test and starts it again:
// data survives in etcd and the controllers, scheduler and kwok carry on.
func TestAPIServerRestart(t *testing.T) {
	env := kubetest.Start(t, nil)
	ctx := t.Context()
	cms := env.Clientset.CoreV1().ConfigMaps(metav1.NamespaceDefault)

	if _, err := cms.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "before"},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	stopStart := time.Now()
	env.StopAPIServer(t)
	t.Logf("API server stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := cms.Get(short, "before", metav1.GetOptions{})
	cancel()
	if err == nil {
		t.Fatal("request succeeded with the API server stopped")
	}

	start := time.Now()
	env.StartAPIServer(t)
	t.Logf("API server ready again %s after start", time.Since(start).Round(time.Millisecond))

	cm, err := cms.Get(ctx, "before", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if cm.Data["k"] != "v" {
		t.Errorf("configmap data %v after restart", cm.Data)
	}
	deployments := env.Clientset.AppsV1().Deployments(metav1.NamespaceDefault)
	start = time.Now()
	if _, err := deployments.Create(ctx, deployment("after-restart", 2, nil), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create after restart: %v", err)
	}
	waitAvailable(t, env.Clientset, metav1.NamespaceDefault, "after-restart", 2, time.Minute)
	t.Logf("2 replicas available %s after create (after the restart)", time.Since(start).Round(time.Millisecond))
}

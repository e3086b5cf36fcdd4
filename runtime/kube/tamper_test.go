package kube_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/runtime/runtimetest"
)

// tamper changes a service's workload through the API server, as kubectl
// would: delete the Deployment, set its container's image, scale it.
// Kubernetes has no stopped pods (their controller starts them again), so
// it has no ChangeStop.
func tamper(cfg *rest.Config) func(t *testing.T, ref runtime.StackRef, service string, c runtimetest.Change) bool {
	return func(t *testing.T, ref runtime.StackRef, service string, c runtimetest.Change) bool {
		t.Helper()
		if c.Kind == runtimetest.ChangeStop {
			return false
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sel := fmt.Sprintf("%s=%s,%s=%s,%s=%s,%s=%s", kube.LabelDeployment, ref.Deployment, kube.LabelStack, ref.Stack,
			kube.LabelService, service, kube.LabelComponent, kube.ComponentService)
		list, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatalf("tamper: list deployments: %v", err)
		}
		if len(list.Items) != 1 {
			t.Fatalf("tamper: %d Deployments of %s service %s, want 1", len(list.Items), ref, service)
		}
		d := &list.Items[0]
		api := cs.AppsV1().Deployments(d.Namespace)
		opts := metav1.PatchOptions{FieldManager: "kubectl-by-hand"}
		switch c.Kind {
		case runtimetest.ChangeRemove:
			err = api.Delete(ctx, d.Name, metav1.DeleteOptions{})
		case runtimetest.ChangeImage:
			patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":"registry.kube.test/other:by-hand"}]}}}}`, service)
			_, err = api.Patch(ctx, d.Name, types.StrategicMergePatchType, []byte(patch), opts)
		case runtimetest.ChangeScale:
			patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, c.Instances)
			_, err = api.Patch(ctx, d.Name, types.MergePatchType, []byte(patch), opts)
		}
		if err != nil {
			t.Fatalf("tamper: %s %s: %v", c.Kind, d.Name, err)
		}
		if c.Kind == runtimetest.ChangeScale {
			// The change shows once the ReplicaSet controller deleted
			// the pods beyond the count (Observe leaves out pods being
			// deleted).
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				pods, err := cs.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
				if err != nil {
					t.Fatalf("tamper: list pods: %v", err)
				}
				live := 0
				for i := range pods.Items {
					if pods.Items[i].DeletionTimestamp == nil {
						live++
					}
				}
				if live == c.Instances {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("tamper: %d pods of %s after scaling to %d", live, d.Name, c.Instances)
				case <-tick.C:
				}
			}
		}
		return true
	}
}

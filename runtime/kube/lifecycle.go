package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stackwave/stackwave/runtime"
)

// Stop scales every workload of the stack to zero replicas, keeping its
// configuration, claims and the desired count (in an annotation, so
// Observe still reports it and the stack as Stopped), and waits until the
// pods are gone. Start or Apply scales them back.
func (r *Runtime) Stop(ctx context.Context, ref runtime.StackRef) error {
	if err := r.cache.synced(ctx); err != nil {
		return fmt.Errorf("stop %s: %w", ref, err)
	}
	if err := r.stop(ctx, ref); err != nil {
		return fmt.Errorf("stop %s: %w", ref, ctxErr(ctx, err))
	}
	return nil
}

func (r *Runtime) stop(ctx context.Context, ref runtime.StackRef) error {
	ns := r.namespace(ref.Deployment)
	o := metav1.ListOptions{LabelSelector: stackSelector(ref.Deployment, ref.Stack) + "," + LabelComponent + "=" + ComponentService}
	deps, err := r.list(ctx, "deployment", ns, o)
	if err != nil {
		return err
	}
	sets, err := r.list(ctx, "statefulset", ns, o)
	if err != nil {
		return err
	}
	if len(deps)+len(sets) == 0 {
		return fmt.Errorf("stack %w", runtime.ErrNotFound)
	}
	patch := []byte(`{"metadata":{"annotations":{"` + annStopped + `":"true"}},"spec":{"replicas":0}}`)
	po := metav1.PatchOptions{FieldManager: r.opts.FieldManager}
	for _, d := range deps {
		got, err := r.cs.AppsV1().Deployments(ns).Patch(ctx, d.GetName(), types.MergePatchType, patch, po)
		if err != nil {
			return fmt.Errorf("scale deployment %s to 0: %w", d.GetName(), err)
		}
		r.wrote("deployment", ns, got.Name, got.Generation)
	}
	for _, s := range sets {
		got, err := r.cs.AppsV1().StatefulSets(ns).Patch(ctx, s.GetName(), types.MergePatchType, patch, po)
		if err != nil {
			return fmt.Errorf("scale statefulset %s to 0: %w", s.GetName(), err)
		}
		r.wrote("statefulset", ns, got.Name, got.Generation)
	}
	key := stackKey(ns, ref.Deployment, ref.Stack)
	return r.cache.waitFor(ctx, key, time.Second, func() (bool, error) {
		for _, p := range byKey[corev1.Pod](r.cache.pods, key) {
			if p.Labels[LabelComponent] == ComponentService {
				return false, nil
			}
		}
		return true, nil
	})
}

// Start applies spec, which scales a stopped stack's workloads back to
// their instance counts; it does not wait for readiness.
func (r *Runtime) Start(ctx context.Context, spec *runtime.StackSpec) error {
	if err := r.Apply(ctx, spec, nil); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// Restart applies spec (starting a stopped stack) and then rolls every
// workload of the stack, as `kubectl rollout restart` does, by setting a
// restart time annotation on its pod template: new pods replace the old
// ones one by one, each waiting for the previous to be ready.
func (r *Runtime) Restart(ctx context.Context, spec *runtime.StackSpec) error {
	ref := spec.Ref()
	if err := r.Apply(ctx, spec, nil); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	ns := r.namespace(spec.Deployment)
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`,
		annRestartedAt, time.Now().UTC().Format(time.RFC3339Nano))
	// The annotation is written by an update of its own, not by the
	// applier, so a later Apply, which does not send it, neither removes
	// it nor restarts the pods again.
	po := metav1.PatchOptions{FieldManager: r.opts.FieldManager + "-restart"}
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		n := r.names(spec.Deployment, spec.Stack.Name, svc.Name)
		if len(svc.VolumeArgs) > 0 {
			got, err := r.cs.AppsV1().StatefulSets(ns).Patch(ctx, n.statefulSet, types.MergePatchType, patch, po)
			if err != nil {
				return fmt.Errorf("restart %s: statefulset %s: %w", ref, n.statefulSet, ctxErr(ctx, err))
			}
			r.wrote("statefulset", ns, got.Name, got.Generation)
			continue
		}
		got, err := r.cs.AppsV1().Deployments(ns).Patch(ctx, n.workload, types.MergePatchType, patch, po)
		if err != nil {
			return fmt.Errorf("restart %s: deployment %s: %w", ref, n.workload, ctxErr(ctx, err))
		}
		r.wrote("deployment", ns, got.Name, got.Generation)
	}
	return nil
}

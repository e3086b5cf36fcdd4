package kube

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/stackwave/stackwave/runtime"
)

// RemoveDeployment removes a whole deployment with one request: its own
// namespace is deleted with background propagation, and the call
// watches until the namespace is gone, instead of a foreground chain
// per stack. It does so only when nothing would be lost and the options
// can be honoured: the namespace is the runtime's own (Options.Namespace
// is empty), and either opts.DeleteData is set or the namespace holds no
// PersistentVolumeClaim (kept data lives in claims, which go with the
// namespace); pods keep their own grace period, so opts.GracePeriod must
// be zero. Otherwise it returns an error matching runtime.ErrNotSupported
// having changed nothing, and the caller removes stack by stack, which
// keeps the claims. It implements runtime.DeploymentRemover.
func (r *Runtime) RemoveDeployment(ctx context.Context, deployment string, _ [][]string, opts runtime.RemoveOptions) error {
	if r.opts.Namespace != "" || opts.GracePeriod != 0 {
		return fmt.Errorf("remove deployment %s in one pass: %w", deployment, runtime.ErrNotSupported)
	}
	ns := r.namespace(deployment)
	lock := r.nsLock(ns)
	lock.clean.Lock()
	defer lock.clean.Unlock()
	lock.use.Lock()
	defer lock.use.Unlock()
	got, err := r.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.forgetNamespace(ns)
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove deployment %s: namespace %s: %w", deployment, ns, ctxErr(ctx, err))
	}
	if got.Labels[LabelManagedBy] != ManagedBy || got.Labels[LabelDeployment] != deployment {
		return fmt.Errorf("remove deployment %s in one pass: namespace %s is not the runtime's: %w", deployment, ns, runtime.ErrNotSupported)
	}
	if got.DeletionTimestamp == nil {
		if !opts.DeleteData {
			claims, err := r.list(ctx, "pvc", ns, metav1.ListOptions{Limit: 1})
			if err != nil {
				return fmt.Errorf("remove deployment %s: %w", deployment, ctxErr(ctx, err))
			}
			if len(claims) > 0 {
				return fmt.Errorf("remove deployment %s in one pass: its claims are kept: %w", deployment, runtime.ErrNotSupported)
			}
		}
		r.forgetNamespace(ns)
		bg := metav1.DeletePropagationBackground
		uid := got.UID
		err := r.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove deployment %s: delete namespace %s: %w", deployment, ns, ctxErr(ctx, err))
		}
		r.deletePods(ctx, ns)
	}
	r.forgetNamespace(ns)
	// Objects made anew in the namespace start again at generation 1.
	r.written.Range(func(k, _ any) bool {
		if key, _ := k.(string); strings.Contains(key, "/"+ns+"/") {
			r.written.Delete(k)
		}
		return true
	})
	if err := r.watchNamespaceGone(ctx, ns); err != nil {
		return fmt.Errorf("remove deployment %s: %w", deployment, ctxErr(ctx, err))
	}
	return nil
}

// deletePods asks for the deletion of every pod of a namespace being
// deleted, each with its own grace period. The namespace controller
// starts 5 s after the namespace's deletion and deletes pods first; if
// any are still terminating then, it comes back only after half their
// grace period and a second, which is most of a teardown's time. Asked
// at once, the pods are mostly gone by then, and the controller empties
// the namespace in one pass. A terminating namespace admits no new pods,
// so their controllers cannot replace them. Best effort: without the
// deletecollection right the namespace controller deletes them as
// before.
func (r *Runtime) deletePods(ctx context.Context, ns string) {
	_ = r.cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}

// watchNamespaceGone watches a namespace until it is gone.
func (r *Runtime) watchNamespaceGone(ctx context.Context, ns string) error {
	sel := fields.OneTermEqualSelector("metadata.name", ns).String()
	for {
		l, err := r.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		if len(l.Items) == 0 {
			return nil
		}
		w, err := r.cs.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: l.ResourceVersion})
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		gone := false
	events:
		for {
			select {
			case <-ctx.Done():
				w.Stop()
				return fmt.Errorf("namespace %s is being deleted: %w", ns, ctx.Err())
			case e, ok := <-w.ResultChan():
				if !ok {
					break events // the watch ended: list again
				}
				if e.Type == watch.Deleted {
					gone = true
					break events
				}
			}
		}
		w.Stop()
		if gone {
			return nil
		}
	}
}

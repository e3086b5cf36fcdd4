package kube

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/stackwave/stackwave/runtime"
)

// RemoveDeployment removes a whole deployment in one pass: its own
// namespace is deleted with background propagation, what it holds is
// asked to go at once, kind by kind in parallel (see deleteContents),
// and the call watches until the namespace is gone, instead of a
// foreground chain per stack. It does so only when nothing would be lost and the options
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
		r.deleteContents(ctx, ns)
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

// deleteContents asks for the deletion of what a namespace being
// deleted holds, every kind at once, pods first among equals: each pod
// keeps its own grace period. The namespace controller starts 5 s after
// the namespace's deletion, deletes pods, and if any are still
// terminating comes back only after half their grace period and a
// second; then it deletes every other kind, one after another. Asked at
// once, the pods are mostly gone by then and the rest too, and the
// controller empties the namespace in one short pass. A terminating
// namespace admits no new objects, so controllers cannot replace what
// goes. Best effort: what the runtime may not delete this way, the
// namespace controller deletes as before.
func (r *Runtime) deleteContents(ctx context.Context, ns string) {
	bg := metav1.DeletePropagationBackground
	o := metav1.DeleteOptions{PropagationPolicy: &bg}
	all := metav1.ListOptions{}
	core, apps := r.cs.CoreV1(), r.cs.AppsV1()
	var wg sync.WaitGroup
	for _, del := range []func() error{
		func() error { return core.Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, all) },
		func() error { return apps.Deployments(ns).DeleteCollection(ctx, o, all) },
		func() error { return apps.ReplicaSets(ns).DeleteCollection(ctx, o, all) },
		func() error { return apps.StatefulSets(ns).DeleteCollection(ctx, o, all) },
		func() error { return r.cs.BatchV1().Jobs(ns).DeleteCollection(ctx, o, all) },
		func() error {
			// Services have no deletecollection: one by one, which the
			// namespace controller would do in series.
			l, err := core.Services(ns).List(ctx, all)
			if err != nil {
				return err
			}
			var g errgroup.Group
			g.SetLimit(32)
			for i := range l.Items {
				g.Go(func() error { return core.Services(ns).Delete(ctx, l.Items[i].Name, o) })
			}
			return g.Wait()
		},
		func() error { return r.cs.DiscoveryV1().EndpointSlices(ns).DeleteCollection(ctx, o, all) },
		func() error { return r.cs.NetworkingV1().Ingresses(ns).DeleteCollection(ctx, o, all) },
		func() error { return core.ConfigMaps(ns).DeleteCollection(ctx, o, all) },
		func() error { return core.PersistentVolumeClaims(ns).DeleteCollection(ctx, o, all) },
		func() error { return core.Events(ns).DeleteCollection(ctx, o, all) },
	} {
		wg.Go(func() { _ = del() })
	}
	wg.Wait()
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

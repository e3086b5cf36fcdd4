package kube

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stackwave/stackwave/runtime"
)

// objectRef names one object the runtime deletes.
type objectRef struct {
	kind, ns, name string
}

// deleteObject deletes one object, ignoring one that is already gone.
// Workloads and Jobs are deleted in the foreground: they disappear only
// after their pods have.
func (r *Runtime) deleteObject(ctx context.Context, ref objectRef, grace *int64) error {
	r.written.Delete(ref.kind + "/" + ref.ns + "/" + ref.name)
	bg, fg := metav1.DeletePropagationBackground, metav1.DeletePropagationForeground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg, GracePeriodSeconds: grace}
	var err error
	switch ref.kind {
	case "deployment":
		opts.PropagationPolicy = &fg
		err = r.cs.AppsV1().Deployments(ref.ns).Delete(ctx, ref.name, opts)
	case "statefulset":
		opts.PropagationPolicy = &fg
		err = r.cs.AppsV1().StatefulSets(ref.ns).Delete(ctx, ref.name, opts)
	case "job":
		opts.PropagationPolicy = &fg
		err = r.cs.BatchV1().Jobs(ref.ns).Delete(ctx, ref.name, opts)
	case "service":
		err = r.cs.CoreV1().Services(ref.ns).Delete(ctx, ref.name, opts)
	case "ingress":
		err = r.cs.NetworkingV1().Ingresses(ref.ns).Delete(ctx, ref.name, opts)
	case "configmap":
		err = r.cs.CoreV1().ConfigMaps(ref.ns).Delete(ctx, ref.name, opts)
	case "pod":
		err = r.cs.CoreV1().Pods(ref.ns).Delete(ctx, ref.name, opts)
	case "pvc":
		err = r.cs.CoreV1().PersistentVolumeClaims(ref.ns).Delete(ctx, ref.name, opts)
	default:
		return fmt.Errorf("delete %s %s: unknown kind", ref.kind, ref.name)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s: %w", ref.kind, ref.ns, ref.name, err)
	}
	return nil
}

// deleteAndWait deletes one workload or Job of a stack and waits until
// the cache has seen it go.
func (r *Runtime) deleteAndWait(ctx context.Context, spec *runtime.StackSpec, kind, ns, name string) error {
	if err := r.deleteObject(ctx, objectRef{kind, ns, name}, nil); err != nil {
		return err
	}
	inf := r.cache.statefulSets
	switch kind {
	case "deployment":
		inf = r.cache.deployments
	case "job":
		inf = r.cache.jobs
	}
	key := stackKey(ns, spec.Deployment, spec.Stack.Name)
	return r.cache.waitFor(ctx, key, time.Second, func() (bool, error) {
		_, ok, _ := inf.GetIndexer().GetByKey(ns + "/" + name)
		return !ok, nil
	})
}

// Remove deletes a stack's objects in the foreground and waits until
// they, and their pods, are gone. The stack's PersistentVolumeClaims
// stay unless opts.DeleteData is set; then they are deleted once no pod
// uses them, including claims an earlier Remove kept. A deployment
// namespace left with nothing of the runtime's is deleted (without
// waiting for it to finish terminating).
func (r *Runtime) Remove(ctx context.Context, ref runtime.StackRef, opts runtime.RemoveOptions) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	if err := r.cache.synced(ctx); err != nil {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	if err := r.remove(ctx, ref, opts); err != nil {
		return fmt.Errorf("remove %s: %w", ref, ctxErr(ctx, err))
	}
	return nil
}

func (r *Runtime) remove(ctx context.Context, ref runtime.StackRef, opts runtime.RemoveOptions) error {
	ns := r.namespace(ref.Deployment)
	sel := stackSelector(ref.Deployment, ref.Stack)
	var grace *int64
	if opts.GracePeriod > 0 {
		g := seconds(opts.GracePeriod)
		grace = &g
	}
	// The cache may lag behind objects another runtime made a moment
	// ago, so what to delete is listed from the API server; a second
	// round catches what appeared meanwhile.
	for round := 0; ; round++ {
		refs, err := r.listStack(ctx, ns, sel, false)
		if err != nil {
			return err
		}
		if len(refs) == 0 {
			break
		}
		if round == 3 {
			return fmt.Errorf("objects remain after deleting them: %v", refs)
		}
		// Pods go with their owners, unless a grace period is asked for
		// or a first round left some.
		if err := r.deleteAll(ctx, refs, grace, grace != nil || round > 0); err != nil {
			return err
		}

		if err := r.waitStackGone(ctx, ns, ref, false); err != nil {
			return err
		}
	}
	if opts.DeleteData {
		refs, err := r.listStack(ctx, ns, sel, true)
		if err != nil {
			return err
		}
		var claims []objectRef
		for _, o := range refs {
			if o.kind == "pvc" {
				claims = append(claims, o)
			}
		}
		if err := r.deleteAll(ctx, claims, nil, false); err != nil {
			return err
		}
		if err := r.waitStackGone(ctx, ns, ref, true); err != nil {
			return err
		}
	}
	return r.cleanNamespace(ctx, ref.Deployment)
}

// deleteAll deletes objects a few at a time. Pods among them are deleted
// only with pods set, with the grace period given.
func (r *Runtime) deleteAll(ctx context.Context, refs []objectRef, grace *int64, pods bool) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, ref := range refs {
		if ref.kind == "pod" && !pods {
			continue
		}
		g.Go(func() error {
			if ref.kind == "pod" {
				return r.deleteObject(ctx, ref, grace)
			}
			return r.deleteObject(ctx, ref, nil)
		})
	}
	return g.Wait()
}

// listStack lists the objects of a stack from the API server: workloads,
// Jobs, Services, Ingresses, ConfigMaps, pods not yet being deleted and,
// withClaims, PersistentVolumeClaims.
func (r *Runtime) listStack(ctx context.Context, ns, sel string, withClaims bool) ([]objectRef, error) {
	kinds := []string{"deployment", "statefulset", "job", "service", "ingress", "configmap", "pod"}
	if withClaims {
		kinds = append(kinds, "pvc")
	}
	lists := make([][]metav1.Object, len(kinds))
	var g errgroup.Group
	for i, kind := range kinds {
		g.Go(func() error {
			var err error
			lists[i], err = r.list(ctx, kind, ns, metav1.ListOptions{LabelSelector: sel})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var refs []objectRef
	for i, kind := range kinds {
		for _, o := range lists[i] {
			if kind == "pod" && o.GetDeletionTimestamp() != nil {
				continue
			}
			refs = append(refs, objectRef{kind, ns, o.GetName()})
		}
	}
	return refs, nil
}

// list lists objects of one kind from the API server.
func (r *Runtime) list(ctx context.Context, kind, ns string, o metav1.ListOptions) ([]metav1.Object, error) {
	switch kind {
	case "deployment":
		l, err := r.cs.AppsV1().Deployments(ns).List(ctx, o)
		return objects(l, err, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items })
	case "statefulset":
		l, err := r.cs.AppsV1().StatefulSets(ns).List(ctx, o)
		return objects(l, err, func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items })
	case "job":
		l, err := r.cs.BatchV1().Jobs(ns).List(ctx, o)
		return objects(l, err, func(l *batchv1.JobList) []batchv1.Job { return l.Items })
	case "service":
		l, err := r.cs.CoreV1().Services(ns).List(ctx, o)
		return objects(l, err, func(l *corev1.ServiceList) []corev1.Service { return l.Items })
	case "ingress":
		l, err := r.cs.NetworkingV1().Ingresses(ns).List(ctx, o)
		return objects(l, err, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items })
	case "configmap":
		l, err := r.cs.CoreV1().ConfigMaps(ns).List(ctx, o)
		return objects(l, err, func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items })
	case "pod":
		l, err := r.cs.CoreV1().Pods(ns).List(ctx, o)
		return objects(l, err, func(l *corev1.PodList) []corev1.Pod { return l.Items })
	case "pvc":
		l, err := r.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, o)
		return objects(l, err, func(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim { return l.Items })
	}
	return nil, fmt.Errorf("list %s: unknown kind", kind)
}

// objects returns the items of a list as metav1.Objects.
func objects[L any, T any, PT interface {
	*T
	metav1.Object
}](l *L, err error, items func(*L) []T) ([]metav1.Object, error) {
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	its := items(l)
	out := make([]metav1.Object, len(its))
	for i := range its {
		out[i] = PT(&its[i])
	}
	return out, nil
}

// waitStackGone waits until the cache holds no workload, Job, Service,
// Ingress, ConfigMap or pod of the stack (and no claim, withClaims).
func (r *Runtime) waitStackGone(ctx context.Context, ns string, ref runtime.StackRef, withClaims bool) error {
	key := stackKey(ns, ref.Deployment, ref.Stack)
	return r.cache.waitFor(ctx, key, time.Second, func() (bool, error) {
		if withClaims {
			return len(byKey[corev1.PersistentVolumeClaim](r.cache.claims, key)) == 0, nil
		}
		o := r.cache.stack(key)
		return len(o.deployments)+len(o.statefulSets)+len(o.jobs)+len(o.services)+len(o.ingresses)+len(o.configMaps)+len(o.pods) == 0, nil
	})
}

// cleanNamespace deletes a deployment's own namespace when nothing of
// the runtime's is left in it and no Apply or RunInit of this runtime
// is writing into it. Applies are held off meanwhile; one that comes
// after waits for the namespace to be gone and creates it anew.
func (r *Runtime) cleanNamespace(ctx context.Context, deployment string) error {
	if r.opts.Namespace != "" {
		return nil
	}
	ns := r.namespace(deployment)
	lock := r.nsLock(ns)
	lock.clean.Lock()
	defer lock.clean.Unlock()
	if !lock.use.TryLock() {
		return nil
	}
	defer lock.use.Unlock()
	got, err := r.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.forgetNamespace(ns)
		return nil
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if got.Labels[LabelManagedBy] != ManagedBy || got.Labels[LabelDeployment] != deployment || got.DeletionTimestamp != nil {
		return nil
	}
	kinds := []string{"deployment", "statefulset", "job", "service", "ingress", "configmap", "pod", "pvc"}
	left := make([]int, len(kinds))
	var g errgroup.Group
	for i, kind := range kinds {
		g.Go(func() error {
			l, err := r.list(ctx, kind, ns, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy, Limit: 1})
			left[i] = len(l)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, n := range left {
		if n > 0 {
			return nil
		}
	}
	r.forgetNamespace(ns)
	uid := got.UID
	err = r.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/stackwave/stackwave/runtime"
)

// Apply makes the stack's objects match spec. For each service it
// compares what the cache holds with what spec asks, by config hash,
// replica count and labels, and sends only objects that differ, so
// applying an unchanged spec sends nothing. Services no longer in the
// spec are deleted. It returns once the objects are written, without
// waiting for pods.
func (r *Runtime) Apply(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	ref := spec.Ref()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply %s: %w", ref, err)
	}
	objs := make([]*serviceObjects, len(spec.Stack.Services))
	for i := range spec.Stack.Services {
		o, err := r.buildService(spec, &spec.Stack.Services[i])
		if err != nil {
			return err
		}
		objs[i] = o
	}
	ns := r.namespace(spec.Deployment)
	lock := r.nsLock(ns)
	var err error
	if !r.cache.hasSynced() && !r.cache.isClosed() && !r.namespaceKnown(ns) {
		// The namespace does not depend on the watches: it is created
		// while they list, and a launch's first writes follow the lists
		// at once rather than one round trip later.
		lock.use.RLock()
		defer lock.use.RUnlock()
		nsErr := make(chan error, 1)
		go func() { nsErr <- r.ensureNamespace(ctx, spec.Deployment) }()
		err = r.cache.synced(ctx)
		if nerr := <-nsErr; err == nil {
			err = nerr
		}
	} else {
		if err := r.cache.synced(ctx); err != nil {
			return fmt.Errorf("apply %s: %w", ref, err)
		}
		lock.use.RLock()
		defer lock.use.RUnlock()
	}
	if err == nil {
		err = r.apply(ctx, spec, objs, report)
	}
	if apierrors.IsNotFound(err) && r.opts.Namespace == "" {
		// Server-side apply creates what is missing, so NotFound means
		// the namespace went away behind the runtime's back.
		r.forgetNamespace(ns)
		err = r.apply(ctx, spec, objs, report)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", ref, ctxErr(ctx, err))
	}
	return nil
}

func (r *Runtime) apply(ctx context.Context, spec *runtime.StackSpec, objs []*serviceObjects, report runtime.Reporter) error {
	if err := r.ensureNamespace(ctx, spec.Deployment); err != nil {
		return err
	}
	ns := r.namespace(spec.Deployment)
	cached := r.cache.stack(stackKey(ns, spec.Deployment, spec.Stack.Name))
	rep := &serialReporter{report: report}

	var wg sync.WaitGroup
	errs := make([]error, len(objs))
	for i, o := range objs {
		wg.Go(func() { errs[i] = r.applyService(ctx, spec, o, cached, rep) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, o := range objs {
		keep[o.svc.Name] = true
	}
	return r.dropServices(ctx, spec, cached, keep, rep)
}

// instances says "1 instance" or "n instances".
func instances(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return strconv.Itoa(n) + " instances"
}

// serialReporter lets the goroutines of one call report one at a time.
type serialReporter struct {
	mu     sync.Mutex
	report runtime.Reporter
}

func (s *serialReporter) emit(e runtime.Event) {
	if s == nil || s.report == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.report.Emit(e)
}

func (r *Runtime) applyOptions() metav1.ApplyOptions {
	return metav1.ApplyOptions{FieldManager: r.opts.FieldManager, Force: true}
}

// applyService brings one service's objects up to date and reports what
// it did.
func (r *Runtime) applyService(ctx context.Context, spec *runtime.StackSpec, o *serviceObjects, cached *stackObjects, rep *serialReporter) error {
	ns := r.namespace(spec.Deployment)
	name := o.svc.Name
	ev := runtime.Event{Stack: spec.Stack.Name, Service: name}

	// What exists of the service now.
	var curMeta *metav1.ObjectMeta
	var curReplicas int32
	var curImage string
	var staleDeployment *appsv1.Deployment
	var staleStatefulSet *appsv1.StatefulSet
	for _, d := range cached.deployments {
		if d.Labels[LabelService] != name {
			continue
		}
		if o.deployment != nil && d.Name == o.names.workload && d.DeletionTimestamp == nil {
			curMeta, curReplicas = &d.ObjectMeta, ptrValue(d.Spec.Replicas, 1)
			curImage = templateImage(&d.Spec.Template, name)
		} else if d.DeletionTimestamp == nil {
			staleDeployment = d
		}
	}
	for _, s := range cached.statefulSets {
		if s.Labels[LabelService] != name {
			continue
		}
		if o.statefulSet != nil && s.Name == o.names.statefulSet && s.DeletionTimestamp == nil {
			if s.Annotations[annVolumes] != o.volumes {
				// Claim templates cannot change: recreate the StatefulSet
				// on the same claims where their names stay.
				if err := r.deleteAndWait(ctx, spec, "statefulset", s.Namespace, s.Name); err != nil {
					return err
				}
				continue
			}
			curMeta, curReplicas = &s.ObjectMeta, ptrValue(s.Spec.Replicas, 1)
			curImage = templateImage(&s.Spec.Template, name)
		} else if s.DeletionTimestamp == nil {
			staleStatefulSet = s
		}
	}

	// An image set by hand (kubectl set image) keeps the annotations:
	// the template's image tells.
	imageEdited := curMeta != nil && curImage != "" && curImage != o.svc.Image.Ref()
	switch {
	case curMeta == nil:
		ev.Type, ev.Message = runtime.EventServiceCreated, instances(int(o.replicas))
	case curMeta.Annotations[AnnotationConfigHash] != o.hash:
		ev.Type, ev.Message = runtime.EventServiceReplaced, "configuration changed"
	case imageEdited:
		ev.Type, ev.Message = runtime.EventServiceReplaced, fmt.Sprintf("image %s set outside stackwave; back to %s", curImage, o.svc.Image.Ref())
	case curReplicas != o.replicas:
		ev.Type, ev.Message = runtime.EventServiceScaled, fmt.Sprintf("%d to %d instances", curReplicas, o.replicas)
		if curReplicas == 0 {
			ev.Message = "started with " + instances(int(o.replicas))
		}
	default:
		ev.Type = runtime.EventServiceUnchanged
	}

	if o.configMap != nil {
		// Named by its content and immutable: one that exists is right.
		if findByName(cached.configMaps, o.names.files) == nil {
			if _, err := r.cs.CoreV1().ConfigMaps(ns).Apply(ctx, o.configMap, r.applyOptions()); err != nil {
				return fmt.Errorf("config map %s: %w", o.names.files, err)
			}
		}
	}

	// The workload and the objects that route to it are independent
	// requests: sent together, a stack costs one round trip rather than
	// one per object, which is most of a wide tier's time on a busy API
	// server.
	var group errgroup.Group
	workloadCurrent := curMeta != nil && !imageEdited && curReplicas == o.replicas && upToDate(curMeta, o.hash, o.labels) &&
		maps.Equal(pick(curMeta.Annotations, o.annotations), o.annotations)
	group.Go(func() error {
		if !workloadCurrent {
			if curMeta != nil && curReplicas > o.replicas && o.deployment != nil && curMeta.Annotations[AnnotationConfigHash] == o.hash {
				if err := r.markScaleDownVictims(ctx, cached.pods, name, int(curReplicas-o.replicas)); err != nil {
					return err
				}
			}
			if err := r.applyWorkload(ctx, o, ns); err != nil {
				return err
			}
		}
		if curMeta != nil && curMeta.Annotations[annStopped] != "" && o.replicas > 0 {
			// Started again: the mark of Stop goes.
			return r.unmarkStopped(ctx, o, ns)
		}
		return nil
	})
	for _, s := range []struct {
		want *corev1ac.ServiceApplyConfiguration
		name string
	}{{o.cluster, o.names.service}, {o.public, o.names.public}} {
		if s.want == nil || upToDate(metaOf(findByName(cached.services, s.name)), o.hash, o.labels) {
			continue
		}
		group.Go(func() error {
			if _, err := r.cs.CoreV1().Services(ns).Apply(ctx, s.want, r.applyOptions()); err != nil {
				return fmt.Errorf("service %s: %w", s.name, err)
			}
			return nil
		})
	}
	if o.ingress != nil && !upToDate(metaOf(findByName(cached.ingresses, o.names.ingress)), o.hash, o.labels) {
		group.Go(func() error {
			if _, err := r.cs.NetworkingV1().Ingresses(ns).Apply(ctx, o.ingress, r.applyOptions()); err != nil {
				return fmt.Errorf("ingress %s: %w", o.names.ingress, err)
			}
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return err
	}

	// Objects the service no longer needs: the other kind of workload,
	// Services of access points that went away, an unused ConfigMap.
	var stale []objectRef
	if staleDeployment != nil {
		stale = append(stale, objectRef{"deployment", ns, staleDeployment.Name})
	}
	if staleStatefulSet != nil {
		stale = append(stale, objectRef{"statefulset", ns, staleStatefulSet.Name})
	}
	for _, s := range cached.services {
		if s.Labels[LabelService] == name && s.DeletionTimestamp == nil &&
			!(o.cluster != nil && s.Name == o.names.service) && !(o.public != nil && s.Name == o.names.public) {
			stale = append(stale, objectRef{"service", ns, s.Name})
		}
	}
	for _, in := range cached.ingresses {
		if in.Labels[LabelService] == name && in.DeletionTimestamp == nil && !(o.ingress != nil && in.Name == o.names.ingress) {
			stale = append(stale, objectRef{"ingress", ns, in.Name})
		}
	}
	// ConfigMaps of earlier files go once no pod of the service mounts
	// them (a pod of the old version may still roll out or restart).
	mounted := map[string]bool{}
	for _, p := range cached.pods {
		if p.Labels[LabelService] == name && p.DeletionTimestamp == nil {
			for _, v := range p.Spec.Volumes {
				if v.ConfigMap != nil {
					mounted[v.ConfigMap.Name] = true
				}
			}
		}
	}
	for _, cm := range cached.configMaps {
		if cm.Labels[LabelService] == name && cm.DeletionTimestamp == nil && !mounted[cm.Name] && !(o.configMap != nil && cm.Name == o.names.files) {
			stale = append(stale, objectRef{"configmap", ns, cm.Name})
		}
	}
	for _, ref := range stale {
		if err := r.deleteObject(ctx, ref, nil); err != nil {
			return err
		}
	}
	rep.emit(ev)
	return nil
}

// unmarkStopped removes the annotation Stop set on a service's workload.
func (r *Runtime) unmarkStopped(ctx context.Context, o *serviceObjects, ns string) error {
	patch := []byte(`{"metadata":{"annotations":{"` + annStopped + `":null}}}`)
	po := metav1.PatchOptions{FieldManager: r.opts.FieldManager}
	var err error
	if o.deployment != nil {
		_, err = r.cs.AppsV1().Deployments(ns).Patch(ctx, o.names.workload, types.MergePatchType, patch, po)
	} else {
		_, err = r.cs.AppsV1().StatefulSets(ns).Patch(ctx, o.names.statefulSet, types.MergePatchType, patch, po)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("workload %s: clear the stopped mark: %w", o.names.workload, err)
	}
	return nil
}

func (r *Runtime) applyWorkload(ctx context.Context, o *serviceObjects, ns string) error {
	if o.deployment != nil {
		d, err := r.cs.AppsV1().Deployments(ns).Apply(ctx, o.deployment, r.applyOptions())
		if err != nil {
			return fmt.Errorf("deployment %s: %w", o.names.workload, err)
		}
		r.wrote("deployment", ns, d.Name, d.Generation)
		return nil
	}
	s, err := r.cs.AppsV1().StatefulSets(ns).Apply(ctx, o.statefulSet, r.applyOptions())
	if err != nil {
		return fmt.Errorf("statefulset %s: %w", o.names.statefulSet, err)
	}
	r.wrote("statefulset", ns, s.Name, s.Generation)
	return nil
}

// wrote records the generation of an object the runtime just wrote.
func (r *Runtime) wrote(kind, ns, name string, generation int64) {
	r.written.Store(kind+"/"+ns+"/"+name, generation)
}

// writtenGeneration returns the generation the runtime wrote last for an
// object, or 0.
func (r *Runtime) writtenGeneration(kind, ns, name string) int64 {
	if g, ok := r.written.Load(kind + "/" + ns + "/" + name); ok {
		return g.(int64)
	}
	return 0
}

// markScaleDownVictims gives the n newest pods of a service a lower
// pod-deletion-cost, so that scaling a Deployment down removes them and
// keeps the instances that ran longest, as the runtime contract asks.
// (The ReplicaSet controller would otherwise pick among pods that became
// ready about the same time by UID.)
func (r *Runtime) markScaleDownVictims(ctx context.Context, pods []*corev1.Pod, service string, n int) error {
	var mine []*corev1.Pod
	for _, p := range pods {
		if p.Labels[LabelService] == service && p.Labels[LabelComponent] == ComponentService && p.DeletionTimestamp == nil {
			mine = append(mine, p)
		}
	}
	// Newest first: by creation time, then by when the watch saw them.
	slices.SortFunc(mine, func(a, b *corev1.Pod) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time),
			cmp.Compare(r.cache.podSeen(b), r.cache.podSeen(a)), strings.Compare(b.Name, a.Name))
	})
	patch := []byte(`{"metadata":{"annotations":{"` + annDeletionCost + `":"-1000"}}}`)
	for _, p := range mine[:min(n, len(mine))] {
		_, err := r.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: r.opts.FieldManager})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark pod %s for scale-down: %w", p.Name, err)
		}
	}
	return nil
}

// dropServices deletes the objects of services that are no longer in the
// spec.
func (r *Runtime) dropServices(ctx context.Context, spec *runtime.StackSpec, cached *stackObjects, keep map[string]bool, rep *serialReporter) error {
	ns := r.namespace(spec.Deployment)
	dropped := map[string][]objectRef{}
	add := func(kind string, m *metav1.ObjectMeta) {
		svc := m.Labels[LabelService]
		if svc == "" || keep[svc] || m.DeletionTimestamp != nil || m.Labels[LabelComponent] != ComponentService {
			return
		}
		dropped[svc] = append(dropped[svc], objectRef{kind, ns, m.Name})
	}
	for _, o := range cached.deployments {
		add("deployment", &o.ObjectMeta)
	}
	for _, o := range cached.statefulSets {
		add("statefulset", &o.ObjectMeta)
	}
	for _, o := range cached.services {
		add("service", &o.ObjectMeta)
	}
	for _, o := range cached.ingresses {
		add("ingress", &o.ObjectMeta)
	}
	for _, o := range cached.configMaps {
		add("configmap", &o.ObjectMeta)
	}
	services := slices.Sorted(maps.Keys(dropped))
	for _, svc := range services {
		for _, ref := range dropped[svc] {
			if err := r.deleteObject(ctx, ref, nil); err != nil {
				return err
			}
		}
		rep.emit(runtime.Event{Type: runtime.EventServiceRemoved, Stack: spec.Stack.Name, Service: svc, Message: "no longer in the spec"})
	}
	return nil
}

// upToDate reports whether an object exists, is not being deleted, and
// carries the config hash and labels wanted.
func upToDate(m *metav1.ObjectMeta, hash string, labels map[string]string) bool {
	return m != nil && m.DeletionTimestamp == nil && m.Annotations[AnnotationConfigHash] == hash &&
		maps.Equal(pick(m.Labels, labels), labels)
}

// pick returns the entries of m whose keys are in want.
func pick(m, want map[string]string) map[string]string {
	out := make(map[string]string, len(want))
	for k := range want {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

type named interface {
	*corev1.ConfigMap | *corev1.Service | *networkingv1.Ingress
	GetName() string
}

func findByName[T named](objs []T, name string) T {
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	return zero
}

func metaOf[T named](o T) *metav1.ObjectMeta {
	switch v := any(o).(type) {
	case *corev1.ConfigMap:
		if v != nil {
			return &v.ObjectMeta
		}
	case *corev1.Service:
		if v != nil {
			return &v.ObjectMeta
		}
	case *networkingv1.Ingress:
		if v != nil {
			return &v.ObjectMeta
		}
	}
	return nil
}

func ptrValue(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// ensureNamespace creates the deployment's namespace unless the runtime
// knows it exists. If it is being deleted (by a Remove that emptied
// it), it waits until it is gone and creates it again.
func (r *Runtime) ensureNamespace(ctx context.Context, deployment string) error {
	if r.opts.Namespace != "" {
		return nil
	}
	ns := r.namespace(deployment)
	r.nsMu.Lock()
	ready := r.nsReady[ns]
	r.nsMu.Unlock()
	if ready {
		return nil
	}
	// One Apply creates the namespace; the others of a wide tier wait
	// for it rather than sending the same request.
	for {
		_, err, _ := r.nsFlight.Do(ns, func() (any, error) { return nil, r.createNamespace(ctx, ns, deployment) })
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue // the call that created it was cancelled, not this one
		}
		return err
	}
}

func (r *Runtime) createNamespace(ctx context.Context, ns, deployment string) error {
	r.nsMu.Lock()
	ready := r.nsReady[ns]
	r.nsMu.Unlock()
	if ready {
		return nil
	}
	labels := map[string]string{}
	maps.Copy(labels, r.opts.NamespaceLabels)
	labels[LabelManagedBy] = ManagedBy
	labels[LabelDeployment] = deployment
	for {
		got, err := r.cs.CoreV1().Namespaces().Apply(ctx, corev1ac.Namespace(ns).WithLabels(labels), r.applyOptions())
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		if got.DeletionTimestamp == nil {
			break
		}
		if err := r.waitNamespaceGone(ctx, ns); err != nil {
			return err
		}
	}
	r.nsMu.Lock()
	r.nsReady[ns] = true
	r.nsMu.Unlock()
	return nil
}

// namespaceKnown reports whether the runtime knows a namespace exists
// (always so with Options.Namespace).
func (r *Runtime) namespaceKnown(ns string) bool {
	if r.opts.Namespace != "" {
		return true
	}
	r.nsMu.Lock()
	defer r.nsMu.Unlock()
	return r.nsReady[ns]
}

func (r *Runtime) forgetNamespace(ns string) {
	r.nsMu.Lock()
	delete(r.nsReady, ns)
	r.nsMu.Unlock()
}

// waitNamespaceGone polls until a terminating namespace is gone; the
// runtime does not watch namespaces, and this wait is rare.
func (r *Runtime) waitNamespaceGone(ctx context.Context, ns string) error {
	for {
		_, err := r.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s is being deleted: %w", ns, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ctxErr returns err, wrapping ctx's error when the context ended and err
// does not already say so, so callers can match context.Canceled.
func ctxErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (%w)", ctx.Err(), err)
}

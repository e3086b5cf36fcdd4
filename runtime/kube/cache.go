package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// informerCache holds one shared informer per kind the runtime manages,
// all limited to objects labelled app.kubernetes.io/managed-by=stackwave
// (and to Options.Namespace when set), indexed by stack. Event handlers
// wake the calls that wait for a stack.
type informerCache struct {
	cs        kubernetes.Interface
	namespace string // "" for all
	factory   informers.SharedInformerFactory

	deployments  cache.SharedIndexInformer
	statefulSets cache.SharedIndexInformer
	pods         cache.SharedIndexInformer
	services     cache.SharedIndexInformer
	ingresses    cache.SharedIndexInformer
	configMaps   cache.SharedIndexInformer
	jobs         cache.SharedIndexInformer
	claims       cache.SharedIndexInformer

	// podOrder records, for each pod, the resource version at which the
	// watch first saw it: pods created while the runtime watches are seen
	// in creation order, which creation timestamps (whole seconds) cannot
	// tell apart.
	podOrder sync.Map // types.UID -> int64

	startOnce sync.Once
	stop      chan struct{}
	closed    bool
	mu        sync.Mutex
	waiters   map[string]map[chan struct{}]struct{}
	watchers  map[*func(deployment string)]struct{} // see Runtime.Watch
}

// byStack indexes objects by stackKey.
const byStack = "stack"

func newInformerCache(cs kubernetes.Interface, namespace string) *informerCache {
	opts := []informers.SharedInformerOption{
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = LabelManagedBy + "=" + ManagedBy
		}),
		informers.WithTransform(stripManagedFields),
	}
	if namespace != "" {
		opts = append(opts, informers.WithNamespace(namespace))
	}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, opts...)
	c := &informerCache{
		cs:           cs,
		namespace:    namespace,
		factory:      f,
		deployments:  f.Apps().V1().Deployments().Informer(),
		statefulSets: f.Apps().V1().StatefulSets().Informer(),
		pods:         f.Core().V1().Pods().Informer(),
		services:     f.Core().V1().Services().Informer(),
		ingresses:    f.Networking().V1().Ingresses().Informer(),
		configMaps:   f.Core().V1().ConfigMaps().Informer(),
		jobs:         f.Batch().V1().Jobs().Informer(),
		claims:       f.Core().V1().PersistentVolumeClaims().Informer(),
		stop:         make(chan struct{}),
		waiters:      map[string]map[chan struct{}]struct{}{},
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.notify(obj) },
		UpdateFunc: func(_, obj any) { c.notify(obj) },
		DeleteFunc: func(obj any) { c.notify(obj) },
	}
	for _, inf := range c.all() {
		// Both fail only once the informer has started.
		_ = inf.AddIndexers(cache.Indexers{byStack: indexByStack})
		_, _ = inf.AddEventHandler(handler)
	}
	_, _ = c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				rv, _ := strconv.ParseInt(p.ResourceVersion, 10, 64)
				c.podOrder.LoadOrStore(p.UID, rv)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				c.podOrder.Delete(p.UID)
			}
		},
	})
	return c
}

func (c *informerCache) all() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{c.deployments, c.statefulSets, c.pods, c.services, c.ingresses, c.configMaps, c.jobs, c.claims}
}

// stripManagedFields drops what the runtime never reads from cached
// objects: managed fields are most of an applied object's size.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func indexByStack(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	l := m.GetLabels()
	dep, stk := l[LabelDeployment], l[LabelStack]
	if l[LabelManagedBy] != ManagedBy || dep == "" || stk == "" {
		return nil, nil
	}
	return []string{stackKey(m.GetNamespace(), dep, stk)}, nil
}

// notify wakes the waiters of the stack obj belongs to.
func (c *informerCache) notify(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	keys, _ := indexByStack(obj)
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.watchers) > 0 {
		if m, err := meta.Accessor(obj); err == nil {
			for w := range c.watchers {
				(*w)(m.GetLabels()[LabelDeployment])
			}
		}
	}
	for ch := range c.waiters[keys[0]] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// subscribe returns a channel that receives a value (coalesced) whenever
// an object of the stack changes, and a function to unsubscribe.
func (c *informerCache) subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	if c.waiters[key] == nil {
		c.waiters[key] = map[chan struct{}]struct{}{}
	}
	c.waiters[key][ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.waiters[key], ch)
		if len(c.waiters[key]) == 0 {
			delete(c.waiters, key)
		}
		c.mu.Unlock()
	}
}

// errClosed is returned by calls on a closed Runtime.
var errClosed = errors.New("kube runtime: closed")

// synced starts the informers on first use and waits until every one has
// listed its objects, woken by each informer's sync rather than by a
// clock, so the first calls of a launch start the moment the lists are
// in. While they have not, it asks the API server now and then, so an
// unreachable server fails the call with the connection's error rather
// than a timeout.
func (c *informerCache) synced(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.isClosed() {
		return errClosed
	}
	c.start()
	if c.hasSynced() {
		return nil
	}
	probe := time.NewTimer(time.Second)
	defer probe.Stop()
	for _, inf := range c.all() {
		done := inf.HasSyncedChecker().Done()
		for waiting := true; waiting; {
			select {
			case <-done:
				waiting = false
			case <-ctx.Done():
				return fmt.Errorf("list objects: %w", ctx.Err())
			case <-c.stop:
				return errClosed
			case <-probe.C:
				if err := c.probe(ctx); err != nil {
					return fmt.Errorf("list objects: %w", err)
				}
				probe.Reset(2 * time.Second)
			}
		}
	}
	return nil
}

// isClosed reports whether the runtime was closed.
func (c *informerCache) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// start starts the informers unless they run already.
func (c *informerCache) start() {
	c.startOnce.Do(func() { c.factory.Start(c.stop) })
}

// prepare starts the informers unless the cache is closed.
func (c *informerCache) prepare() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.start()
	}
}

// probe lists one object of each kind whose informer has not synced
// yet and returns the first error: the server is down, or the runtime
// may not list that kind.
func (c *informerCache) probe(ctx context.Context) error {
	ns := c.namespace
	o := metav1.ListOptions{Limit: 1, LabelSelector: LabelManagedBy + "=" + ManagedBy}
	lists := []struct {
		inf  cache.SharedIndexInformer
		list func() error
	}{
		{c.deployments, func() error { _, err := c.cs.AppsV1().Deployments(ns).List(ctx, o); return err }},
		{c.statefulSets, func() error { _, err := c.cs.AppsV1().StatefulSets(ns).List(ctx, o); return err }},
		{c.pods, func() error { _, err := c.cs.CoreV1().Pods(ns).List(ctx, o); return err }},
		{c.services, func() error { _, err := c.cs.CoreV1().Services(ns).List(ctx, o); return err }},
		{c.ingresses, func() error { _, err := c.cs.NetworkingV1().Ingresses(ns).List(ctx, o); return err }},
		{c.configMaps, func() error { _, err := c.cs.CoreV1().ConfigMaps(ns).List(ctx, o); return err }},
		{c.jobs, func() error { _, err := c.cs.BatchV1().Jobs(ns).List(ctx, o); return err }},
		{c.claims, func() error { _, err := c.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, o); return err }},
	}
	for _, l := range lists {
		if !l.inf.HasSynced() {
			if err := l.list(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ready reports whether the informers run and have listed their
// objects, without starting them.
func (c *informerCache) ready() bool {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	return !closed && c.hasSynced()
}

func (c *informerCache) hasSynced() bool {
	for _, inf := range c.all() {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

func (c *informerCache) shutdown() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.factory.Shutdown()
}

// byKey returns the cached objects of one stack in an informer.
func byKey[T any](inf cache.SharedIndexInformer, key string) []*T {
	objs, _ := inf.GetIndexer().ByIndex(byStack, key)
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(*T); ok {
			out = append(out, t)
		}
	}
	return out
}

// get returns one cached object by namespace and name, or nil.
func get[T any](inf cache.SharedIndexInformer, ns, name string) *T {
	o, ok, _ := inf.GetIndexer().GetByKey(ns + "/" + name)
	if !ok {
		return nil
	}
	t, _ := o.(*T)
	return t
}

// stackObjects is what the cache holds of one stack.
type stackObjects struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	pods         []*corev1.Pod
	services     []*corev1.Service
	ingresses    []*networkingv1.Ingress
	configMaps   []*corev1.ConfigMap
	jobs         []*batchv1.Job
	claims       []*corev1.PersistentVolumeClaim
}

func (c *informerCache) stack(key string) *stackObjects {
	return &stackObjects{
		deployments:  byKey[appsv1.Deployment](c.deployments, key),
		statefulSets: byKey[appsv1.StatefulSet](c.statefulSets, key),
		pods:         byKey[corev1.Pod](c.pods, key),
		services:     byKey[corev1.Service](c.services, key),
		ingresses:    byKey[networkingv1.Ingress](c.ingresses, key),
		configMaps:   byKey[corev1.ConfigMap](c.configMaps, key),
		jobs:         byKey[batchv1.Job](c.jobs, key),
		claims:       byKey[corev1.PersistentVolumeClaim](c.claims, key),
	}
}

// waitFor calls cond whenever the stack's cached objects change, and
// also every poll interval, until it returns true, an error, or ctx ends.
func (c *informerCache) waitFor(ctx context.Context, key string, poll time.Duration, cond func() (bool, error)) error {
	ch, cancel := c.subscribe(key)
	defer cancel()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.stop:
			return errClosed
		case <-ch:
		case <-tick.C:
		}
	}
}

// podSeen returns the resource version at which the cache first saw a
// pod, or 0.
func (c *informerCache) podSeen(p *corev1.Pod) int64 {
	if v, ok := c.podOrder.Load(p.UID); ok {
		return v.(int64)
	}
	return 0
}

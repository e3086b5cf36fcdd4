package kube

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Observe reports what exists of a deployment: workloads give the stacks
// and services with their config hash, tier, product and version; their
// pods give the instances; Services and Ingresses the endpoints. Objects
// being deleted are left out.
//
// Once the runtime's watches have listed the cluster (an Apply or Wait
// started them), Observe reads the objects from their caches and checks
// them against the API server with five lists of the objects' metadata
// alone: when every object the server lists is cached at the same
// resourceVersion, and no other, the caches are exactly what the server
// holds, and the report is built from them; otherwise (a change the
// watches have not delivered yet) it is built from five full lists, as
// before the watches start. With a namespace per deployment, a missing
// namespace answers that nothing exists without waiting for the lists.
// Either way the report is what the API server held when Observe was
// called, never an older state.
func (r *Runtime) Observe(ctx context.Context, deployment string) (*runtime.DeploymentState, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("observe %s: %w", deployment, err)
	}
	if r.meta != nil && r.cache.ready() {
		objs, ok, err := r.cachedObjects(ctx, deployment)
		if err != nil {
			return nil, fmt.Errorf("observe %s: %w", deployment, ctxErr(ctx, err))
		}
		if ok {
			r.cachedObserves.Add(1)
			return r.state(deployment, objs), nil
		}
	}
	objs, err := r.listObjects(ctx, deployment)
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", deployment, ctxErr(ctx, err))
	}
	return r.state(deployment, objs), nil
}

// observed are the objects of a deployment that Observe reports from.
type observed struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	pods         []*corev1.Pod
	services     []*corev1.Service
	ingresses    []*networkingv1.Ingress
}

// listObjects lists a deployment's objects from the API server. With a
// namespace per deployment it also asks for the namespace, beside the
// lists: when there is none, nothing of the deployment exists, and that
// answer (the common one before a launch, and after a teardown) does not
// wait for five lists.
func (r *Runtime) listObjects(ctx context.Context, deployment string) (*observed, error) {
	if r.opts.Namespace != "" {
		return r.listAll(ctx, deployment)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		objs *observed
		err  error
	}
	listed := make(chan result, 1)
	go func() {
		objs, err := r.listAll(lctx, deployment)
		listed <- result{objs, err}
	}()
	_, err := r.cs.CoreV1().Namespaces().Get(ctx, r.namespace(deployment), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cancel()
		<-listed
		return &observed{}, nil
	}
	res := <-listed
	return res.objs, res.err
}

// listAll lists a deployment's objects, kind by kind.
func (r *Runtime) listAll(ctx context.Context, deployment string) (*observed, error) {
	ns := r.namespace(deployment)
	o := metav1.ListOptions{LabelSelector: deploymentSelector(deployment)}
	var (
		deps  *appsv1.DeploymentList
		sets  *appsv1.StatefulSetList
		pods  *corev1.PodList
		svcs  *corev1.ServiceList
		ings  *networkingv1.IngressList
		group errgroup.Group
	)
	group.Go(func() (err error) { deps, err = r.cs.AppsV1().Deployments(ns).List(ctx, o); return })
	group.Go(func() (err error) { sets, err = r.cs.AppsV1().StatefulSets(ns).List(ctx, o); return })
	group.Go(func() (err error) { pods, err = r.cs.CoreV1().Pods(ns).List(ctx, o); return })
	group.Go(func() (err error) { svcs, err = r.cs.CoreV1().Services(ns).List(ctx, o); return })
	group.Go(func() (err error) { ings, err = r.cs.NetworkingV1().Ingresses(ns).List(ctx, o); return })
	if err := group.Wait(); err != nil {
		return nil, err
	}
	return &observed{
		deployments:  pointers(deps.Items),
		statefulSets: pointers(sets.Items),
		pods:         pointers(pods.Items),
		services:     pointers(svcs.Items),
		ingresses:    pointers(ings.Items),
	}, nil
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// cachedObjects returns a deployment's objects from the watches' caches
// if they hold exactly what the API server lists now: the same objects
// at the same resourceVersion. ok is false when they do not (yet).
func (r *Runtime) cachedObjects(ctx context.Context, deployment string) (objs *observed, ok bool, err error) {
	ns := r.namespace(deployment)
	o := metav1.ListOptions{LabelSelector: deploymentSelector(deployment)}
	kinds := []struct {
		inf cache.SharedIndexInformer
		gvr schema.GroupVersionResource
	}{
		{r.cache.deployments, appsv1.SchemeGroupVersion.WithResource("deployments")},
		{r.cache.statefulSets, appsv1.SchemeGroupVersion.WithResource("statefulsets")},
		{r.cache.pods, corev1.SchemeGroupVersion.WithResource("pods")},
		{r.cache.services, corev1.SchemeGroupVersion.WithResource("services")},
		{r.cache.ingresses, networkingv1.SchemeGroupVersion.WithResource("ingresses")},
	}
	listed := make([]*metav1.PartialObjectMetadataList, len(kinds))
	var group errgroup.Group
	for i, k := range kinds {
		group.Go(func() (err error) {
			listed[i], err = r.meta.Resource(k.gvr).Namespace(ns).List(ctx, o)
			return err
		})
	}
	if err := group.Wait(); err != nil {
		return nil, false, err
	}
	// Read the caches after the lists: a cache that holds what was
	// listed is at least as new as the list.
	sel, err := labels.Parse(o.LabelSelector)
	if err != nil {
		return nil, false, err
	}
	cached := make([][]any, len(kinds))
	for i, k := range kinds {
		all, err := k.inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
		if err != nil {
			return nil, false, err
		}
		for _, obj := range all {
			if m, err := meta.Accessor(obj); err == nil && sel.Matches(labels.Set(m.GetLabels())) {
				cached[i] = append(cached[i], obj)
			}
		}
		if !sameVersions(listed[i].Items, cached[i]) {
			return nil, false, nil
		}
	}
	return &observed{
		deployments:  typed[appsv1.Deployment](cached[0]),
		statefulSets: typed[appsv1.StatefulSet](cached[1]),
		pods:         typed[corev1.Pod](cached[2]),
		services:     typed[corev1.Service](cached[3]),
		ingresses:    typed[networkingv1.Ingress](cached[4]),
	}, true, nil
}

// sameVersions reports whether cached holds exactly the listed objects,
// each at the listed resourceVersion.
func sameVersions(listed []metav1.PartialObjectMetadata, cached []any) bool {
	if len(listed) != len(cached) {
		return false
	}
	want := make(map[types.UID]string, len(listed))
	for i := range listed {
		want[listed[i].UID] = listed[i].ResourceVersion
	}
	for _, obj := range cached {
		m, err := meta.Accessor(obj)
		if err != nil {
			return false
		}
		if rv, ok := want[m.GetUID()]; !ok || rv != m.GetResourceVersion() {
			return false
		}
	}
	return true
}

func typed[T any](objs []any) []*T {
	out := make([]*T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(*T); ok {
			out = append(out, t)
		}
	}
	return out
}

// state builds a deployment's state from its objects, which it only
// reads (cached objects are shared).
func (r *Runtime) state(deployment string, objs *observed) *runtime.DeploymentState {
	ds := &runtime.DeploymentState{Deployment: deployment, Stacks: []runtime.StackState{}}
	stacks := map[string]*runtime.StackState{}
	stopped := map[string]int{} // stack -> stopped services
	addService := func(m *metav1.ObjectMeta, replicas int32, tmpl *corev1.PodTemplateSpec) {
		if m.DeletionTimestamp != nil || m.Labels[LabelComponent] != ComponentService {
			return
		}
		name := m.Labels[LabelStack]
		st := stacks[name]
		if st == nil {
			tier, _ := strconv.Atoi(m.Labels[LabelTier])
			st = &runtime.StackState{Name: name, Tier: tier, ProductID: m.Annotations[annProductID], VersionID: m.Annotations[annVersionID]}
			stacks[name] = st
		}
		desired, err := strconv.Atoi(m.Annotations[annInstances])
		if err != nil {
			desired = int(replicas)
		}
		if replicas == 0 && desired > 0 && m.Annotations[annStopped] == "true" {
			stopped[name]++
		}
		svc := runtime.ServiceState{
			Name: m.Labels[LabelService], Hash: m.Annotations[AnnotationConfigHash], Image: templateImage(tmpl, m.Labels[LabelService]),
			Desired: desired, Instances: []runtime.InstanceState{},
		}
		svc.Endpoints = r.endpoints(m, objs.services, objs.ingresses)
		st.Services = append(st.Services, svc)
	}
	for _, d := range objs.deployments {
		addService(&d.ObjectMeta, ptrValue(d.Spec.Replicas, 1), &d.Spec.Template)
	}
	for _, s := range objs.statefulSets {
		addService(&s.ObjectMeta, ptrValue(s.Spec.Replicas, 1), &s.Spec.Template)
	}
	for _, p := range objs.pods {
		st := stacks[p.Labels[LabelStack]]
		if st == nil || p.DeletionTimestamp != nil || p.Labels[LabelComponent] != ComponentService {
			continue
		}
		if svc := st.Service(p.Labels[LabelService]); svc != nil {
			svc.Instances = append(svc.Instances, instance(p))
		}
	}
	for _, st := range stacks {
		slices.SortFunc(st.Services, func(a, b runtime.ServiceState) int { return strings.Compare(a.Name, b.Name) })
		for i := range st.Services {
			slices.SortFunc(st.Services[i].Instances, func(a, b runtime.InstanceState) int { return strings.Compare(a.Name, b.Name) })
		}
		st.Stopped = stopped[st.Name] > 0 && stopped[st.Name] == len(st.Services)
		ds.Stacks = append(ds.Stacks, *st)
	}
	slices.SortFunc(ds.Stacks, func(a, b runtime.StackState) int {
		return cmp.Or(cmp.Compare(a.Tier, b.Tier), strings.Compare(a.Name, b.Name))
	})
	return ds
}

// templateImage returns the image of the service's container in a
// workload's pod template: what its pods run, kubectl set image
// included.
func templateImage(t *corev1.PodTemplateSpec, service string) string {
	for i := range t.Spec.Containers {
		if t.Spec.Containers[i].Name == service {
			return t.Spec.Containers[i].Image
		}
	}
	return ""
}

// instance reports one pod.
func instance(p *corev1.Pod) runtime.InstanceState {
	in := runtime.InstanceState{Name: p.Name, ID: string(p.UID)}
	running := p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) > 0
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			if in.StartedAt.IsZero() || cs.State.Running.StartedAt.After(in.StartedAt) {
				in.StartedAt = cs.State.Running.StartedAt.Time
			}
		case cs.State.Terminated != nil:
			running = false
			in.ExitCode = int(cs.State.Terminated.ExitCode)
			in.Reason = exitReason(cs.State.Terminated.Reason)
		case cs.State.Waiting != nil:
			running = false
			in.Reason = cs.State.Waiting.Reason
		}
	}
	if in.StartedAt.IsZero() && p.Status.StartTime != nil {
		in.StartedAt = p.Status.StartTime.Time
	}
	in.Running = running
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			in.Ready = c.Status == corev1.ConditionTrue && running
			if !in.Ready && in.Reason == "" && running {
				in.Reason = "NotReady"
			}
		}
	}
	if in.Reason == "" && !running {
		in.Reason = string(p.Status.Phase)
		if p.Status.Reason != "" {
			in.Reason = p.Status.Reason
		}
	}
	return in
}

// endpoints reports where a service's access points answer: the
// ClusterIP Service's address for internal_ip and domain ports, the
// public Service's load balancer address or node port for public_ip
// ports, and the Ingress host for domain ports. Internal is the
// Service's name and port, which other services of the deployment
// resolve.
func (r *Runtime) endpoints(m *metav1.ObjectMeta, svcs []*corev1.Service, ings []*networkingv1.Ingress) []runtime.Endpoint {
	aps := parseAccessPoints(m.Annotations[annAccessPoints])
	if len(aps) == 0 {
		return nil
	}
	n := r.names(m.Labels[LabelDeployment], m.Labels[LabelStack], m.Labels[LabelService])
	var cluster, public *corev1.Service
	for _, s := range svcs {
		switch s.Name {
		case n.service:
			cluster = s
		case n.public:
			public = s
		}
	}
	var ing *networkingv1.Ingress
	for _, in := range ings {
		if in.Name == n.ingress {
			ing = in
		}
	}
	var out []runtime.Endpoint
	for _, ap := range aps {
		ep := runtime.Endpoint{Type: ap.typ, Proto: ap.proto, BackendPort: ap.port}
		proto := kubeProtocol(ap.proto)
		switch ap.typ {
		case stack.AccessInternalIP, stack.AccessDomain:
			if cluster != nil {
				ep.Address = serviceAddress(cluster, ap.port, proto)
				ep.Internal = net.JoinHostPort(cluster.Name, strconv.Itoa(ap.port))
			}
			if ap.typ == stack.AccessDomain && ing != nil {
				for _, rule := range ing.Spec.Rules {
					if rule.HTTP != nil && len(rule.HTTP.Paths) > 0 && rule.HTTP.Paths[0].Backend.Service != nil &&
						int(rule.HTTP.Paths[0].Backend.Service.Port.Number) == ap.port {
						ep.Host = rule.Host
						if lb := lbAddress(ing.Status.LoadBalancer.Ingress); lb != "" {
							ep.Address = net.JoinHostPort(lb, "80")
						}
						break
					}
				}
			}
		case stack.AccessPublicIP:
			if public == nil {
				break
			}
			for _, sp := range public.Spec.Ports {
				if sp.TargetPort.IntValue() != ap.port || sp.Protocol != proto {
					continue
				}
				var lb string
				for _, in := range public.Status.LoadBalancer.Ingress {
					lb = cmp.Or(in.IP, in.Hostname)
					break
				}
				switch {
				case lb != "":
					ep.Address = net.JoinHostPort(lb, strconv.Itoa(int(sp.Port)))
				case r.opts.NodeAddress != "" && sp.NodePort != 0:
					ep.Address = net.JoinHostPort(r.opts.NodeAddress, strconv.Itoa(int(sp.NodePort)))
				case public.Spec.ClusterIP != "" && public.Spec.ClusterIP != corev1.ClusterIPNone:
					ep.Address = net.JoinHostPort(public.Spec.ClusterIP, strconv.Itoa(int(sp.Port)))
				}
				ep.Internal = net.JoinHostPort(public.Name, strconv.Itoa(int(sp.Port)))
				break
			}
		}
		out = append(out, ep)
	}
	return out
}

func serviceAddress(s *corev1.Service, port int, proto corev1.Protocol) string {
	if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
		return ""
	}
	for _, sp := range s.Spec.Ports {
		if int(sp.Port) == port && sp.Protocol == proto {
			return net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(port))
		}
	}
	return ""
}

func lbAddress(ings []networkingv1.IngressLoadBalancerIngress) string {
	for _, in := range ings {
		if a := cmp.Or(in.IP, in.Hostname); a != "" {
			return a
		}
	}
	return ""
}

// Volumes lists the PersistentVolumeClaims of a deployment's stacks,
// those of removed stacks included, sorted by stack, service and name.
func (r *Runtime) Volumes(ctx context.Context, deployment string) ([]runtime.VolumeState, error) {
	ns := r.namespace(deployment)
	l, err := r.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{LabelSelector: deploymentSelector(deployment)})
	if err != nil {
		return nil, fmt.Errorf("volumes %s: %w", deployment, ctxErr(ctx, err))
	}
	out := []runtime.VolumeState{}
	for i := range l.Items {
		c := &l.Items[i]
		if c.DeletionTimestamp != nil {
			continue
		}
		v := runtime.VolumeState{
			Name: c.Name, Stack: c.Labels[LabelStack], Service: c.Labels[LabelService],
			MountPath: c.Annotations[annMountPath],
		}
		if vol, err := stack.ParseVolume(c.Annotations[annVolumeType]); err == nil {
			v.Class, v.SizeBytes = vol.Class, vol.SizeBytes
		} else if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			v.SizeBytes = q.Value()
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b runtime.VolumeState) int {
		return cmp.Or(strings.Compare(a.Stack, b.Stack), strings.Compare(a.Service, b.Service), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// annDefaultClass marks the cluster's default StorageClass.
const annDefaultClass = "storageclass.kubernetes.io/is-default-class"

// noProvisioner is the provisioner of a StorageClass that provisions
// nothing: its claims bind only to PersistentVolumes made in advance.
const noProvisioner = "kubernetes.io/no-provisioner"

// unschedulable reports whether a pod of the service waits to be
// scheduled.
func unschedulable(pods []*corev1.Pod) bool {
	for _, p := range pods {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				return true
			}
		}
	}
	return false
}

// claims looks at the unbound PersistentVolumeClaims of a service whose
// pods wait to be scheduled, among the stack's claims in the watch's
// cache. It returns a failure when one of them cannot bind by itself (no
// storage class set and no default one, or a class that does not exist,
// and no PersistentVolume it could take), or else why they still wait,
// for the error should the wait time out.
func (r *Runtime) claims(ctx context.Context, ns string, svc *stack.Service, cached []*corev1.PersistentVolumeClaim) (*failure, string) {
	var waiting []string
	for _, c := range cached {
		if c.Labels[LabelService] != svc.Name || c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		why, final := r.claimCause(ctx, c)
		if ev := r.lastEvent(ctx, ns, c.UID); ev != "" {
			why += " (the cluster said: " + ev + ")"
		}
		if final {
			return &failure{sentinel: runtime.ErrFailed, reason: "ClaimCannotBind",
				message: fmt.Sprintf("claim %s cannot bind: %s", c.Name, why)}, ""
		}
		waiting = append(waiting, "claim "+c.Name+" not bound: "+why)
	}
	return nil, strings.Join(waiting, "; ")
}

// claimCause says why a pending claim is not bound, and whether that
// lasts until someone changes the cluster or the runtime's options.
func (r *Runtime) claimCause(ctx context.Context, c *corev1.PersistentVolumeClaim) (why string, final bool) {
	fix := "map its volume class to a StorageClass with a provisioner (Options.StorageClasses)"
	var class string
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	if c.Spec.StorageClassName == nil {
		scs, err := r.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
		if err != nil {
			return "no storage class is set", false
		}
		if slices.ContainsFunc(scs.Items, func(sc storagev1.StorageClass) bool { return sc.Annotations[annDefaultClass] == "true" }) {
			return "waiting for the default storage class to provision a volume", false
		}
		if r.volumeFor(ctx, "") {
			return "no storage class is set; a PersistentVolume without a class is available", false
		}
		return "no storage class is set, the cluster has no default StorageClass, and no PersistentVolume is available for it; " +
			fix + ", mark a StorageClass as the default, or create a PersistentVolume for the claim", true
	}
	if class == "" {
		if r.volumeFor(ctx, "") {
			return "a PersistentVolume without a class is available", false
		}
		return "its storage class is empty (no dynamic provisioning) and no PersistentVolume without a class is available; " +
			fix + " or create a PersistentVolume for the claim", true
	}
	sc, err := r.cs.StorageV1().StorageClasses().Get(ctx, class, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if r.volumeFor(ctx, class) {
			return fmt.Sprintf("storage class %q does not exist; a PersistentVolume of that class is available", class), false
		}
		return fmt.Sprintf("storage class %q does not exist; create it or %s", class, fix), true
	case err != nil:
		return fmt.Sprintf("storage class %q: %v", class, err), false
	case sc.Provisioner == noProvisioner:
		return fmt.Sprintf("storage class %q has no provisioner: the claim binds only to a PersistentVolume made for it", class), false
	}
	return fmt.Sprintf("waiting for provisioner %s of storage class %q", sc.Provisioner, class), false
}

// volumeFor reports whether an Available PersistentVolume of the class
// exists.
func (r *Runtime) volumeFor(ctx context.Context, class string) bool {
	pvs, err := r.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return true // unknown: keep waiting
	}
	return slices.ContainsFunc(pvs.Items, func(pv corev1.PersistentVolume) bool {
		return pv.Status.Phase == corev1.VolumeAvailable && pv.Spec.StorageClassName == class
	})
}

// neverFits returns a failure when a pod waiting to be scheduled requests
// more CPU or memory than any node of the cluster has allocatable in all,
// so that no node could ever run it, or nil (also when the nodes cannot
// be listed).
func (r *Runtime) neverFits(ctx context.Context, pods []*corev1.Pod) *failure {
	var waiting []*corev1.Pod
	for _, p := range pods {
		if unschedulable([]*corev1.Pod{p}) {
			waiting = append(waiting, p)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	nodes, err := r.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		return nil
	}
	for _, p := range waiting {
		var cpu, mem resource.Quantity
		for _, c := range p.Spec.Containers {
			cpu.Add(c.Resources.Requests[corev1.ResourceCPU])
			mem.Add(c.Resources.Requests[corev1.ResourceMemory])
		}
		var maxCPU, maxMem resource.Quantity
		fits := false
		for i := range nodes.Items {
			a := nodes.Items[i].Status.Allocatable
			nc, nm := a[corev1.ResourceCPU], a[corev1.ResourceMemory]
			if cpu.Cmp(nc) <= 0 && mem.Cmp(nm) <= 0 {
				fits = true
				break
			}
			if nc.Cmp(maxCPU) > 0 {
				maxCPU = nc
			}
			if nm.Cmp(maxMem) > 0 {
				maxMem = nm
			}
		}
		if !fits {
			return &failure{sentinel: runtime.ErrFailed, reason: "Unschedulable", pod: p, message: fmt.Sprintf(
				"requests %s CPU and %s memory, more than any of the cluster's %d nodes has allocatable (at most %s CPU, %s memory); "+
					"choose a smaller unit type or add a node that large", cpu.String(), mem.String(), len(nodes.Items), maxCPU.String(), maxMem.String())}
		}
	}
	return nil
}

// lastEvent returns the reason and message of the newest event about an
// object, or "" when it has none or events cannot be read.
func (r *Runtime) lastEvent(ctx context.Context, ns string, uid types.UID) string {
	l, err := r.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(uid)).String(),
	})
	if err != nil || len(l.Items) == 0 {
		return ""
	}
	at := func(e *corev1.Event) time.Time {
		switch {
		case e.Series != nil && !e.Series.LastObservedTime.IsZero():
			return e.Series.LastObservedTime.Time
		case !e.LastTimestamp.IsZero():
			return e.LastTimestamp.Time
		case !e.EventTime.IsZero():
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	newest := &l.Items[0]
	for i := range l.Items[1:] {
		if e := &l.Items[i+1]; !at(e).Before(at(newest)) {
			newest = e
		}
	}
	if newest.Reason == "" || newest.Message == "" {
		return newest.Reason + newest.Message
	}
	return newest.Reason + ": " + newest.Message
}

package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Wait waits until every service of spec is ready, judged from the
// runtime's watches as kstatus judges workloads: the workload carries the
// spec's config hash and replica count, its controller has observed its
// latest generation, and updated, ready and available replicas all equal
// the desired count (with no old pods left). It fails at once when a pod
// of the current configuration fails: a container waiting in
// CrashLoopBackOff, ImagePullBackOff, ErrImagePull or another error state,
// a container that terminated, a pod in phase Failed, or a rollout past
// its progress deadline; the *runtime.ServiceError carries the pod's
// reason, message, exit code and last log lines.
func (r *Runtime) Wait(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	ref := spec.Ref()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait %s: %w", ref, err)
	}
	if err := r.cache.synced(ctx); err != nil {
		return fmt.Errorf("wait %s: %w", ref, err)
	}
	ns := r.namespace(spec.Deployment)
	key := stackKey(ns, spec.Deployment, spec.Stack.Name)
	changed, unsubscribe := r.cache.subscribe(key)
	defer unsubscribe()

	if exists, err := r.stackExists(ctx, ns, key, spec); err != nil {
		return fmt.Errorf("wait %s: %w", ref, ctxErr(ctx, err))
	} else if !exists {
		return fmt.Errorf("wait %s: stack %w", ref, runtime.ErrNotFound)
	}

	start := time.Now()
	type pending struct {
		svc      *stack.Service
		names    names
		hash     string
		deadline time.Time
		// reported is the waiting message last reported, at reportedAt.
		reported   string
		reportedAt time.Time
		// waiting is why the service was not ready when last judged.
		waiting string
		// claimAt is when the service's nodes and claims may be
		// looked at again; claimWhy is why the claims were not bound
		// then; diagnosing is set while a look runs.
		claimAt    time.Time
		claimWhy   string
		diagnosing bool
	}
	// A look at the nodes and claims of a service whose pods cannot be
	// scheduled takes requests: it runs beside the wait, which goes on
	// following the watch (a claim that binds a moment later, as a
	// provisioner's do, does not hold the stack up for the look), and
	// its verdict comes back on diagnosed.
	type diagnosis struct {
		p   *pending
		f   *failure
		why string
	}
	dctx, stopDiagnoses := context.WithCancel(ctx)
	var diagnoses sync.WaitGroup
	defer func() {
		stopDiagnoses()
		diagnoses.Wait()
	}()
	diagnosed := make(chan diagnosis, len(spec.Stack.Services))
	var todo []*pending
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		p := &pending{svc: svc, names: r.names(spec.Deployment, spec.Stack.Name, svc.Name), hash: runtime.ServiceHash(spec, svc)}
		timeout := spec.ReadyTimeout
		if svc.Readiness != nil && svc.Readiness.Timeout > 0 {
			timeout = svc.Readiness.Timeout.Std()
		}
		if timeout > 0 {
			p.deadline = start.Add(timeout)
		}
		todo = append(todo, p)
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		objs := r.cache.stack(key)
		now := time.Now()
		var next time.Time
		left := todo[:0]
		for _, p := range todo {
			v := r.judge(ns, spec, p.svc, p.names, p.hash, objs)
			switch {
			case v.ready:
				report.Emit(runtime.Event{Type: runtime.EventServiceReady, Stack: spec.Stack.Name, Service: p.svc.Name,
					Message: instances(p.svc.Replicas()) + " ready"})
				continue
			case v.failure != nil:
				se := r.serviceError(ctx, spec, p.svc.Name, v.failure)
				report.Emit(runtime.Event{Type: runtime.EventServiceFailed, Stack: spec.Stack.Name, Service: p.svc.Name,
					Instance: se.Instance, Message: se.Err.Error()})
				return se
			}
			if pods := servicePods(objs.pods, p.svc.Name, p.hash); unschedulable(pods) {
				if !p.diagnosing && !now.Before(p.claimAt) {
					p.claimAt, p.diagnosing = now.Add(claimRecheck), true
					claims := objs.claims
					diagnoses.Go(func() {
						f := r.neverFits(dctx, pods)
						var why string
						if f == nil && len(p.svc.VolumeArgs) > 0 {
							f, why = r.claims(dctx, ns, p.svc, claims)
						}
						diagnosed <- diagnosis{p, f, why}
					})
				}
				if !p.diagnosing && (next.IsZero() || p.claimAt.Before(next)) {
					next = p.claimAt
				}
			} else {
				p.claimWhy = ""
			}
			if p.claimWhy != "" {
				v.waiting = joinMessage(v.waiting, p.claimWhy)
			}
			if !p.deadline.IsZero() && !now.Before(p.deadline) {
				// The watches see nothing while the API server is down: say
				// so rather than blame the service.
				if err := r.unreachable(ctx); err != nil {
					return fmt.Errorf("wait %s: service %s not seen ready in %v, and the API server cannot be reached: %w",
						ref, p.svc.Name, p.deadline.Sub(start).Round(time.Millisecond), err)
				}
				se := &runtime.ServiceError{
					Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: p.svc.Name, Reason: "Timeout",
					Err: fmt.Errorf("%w after %v: %s", runtime.ErrNotReady, p.deadline.Sub(start).Round(time.Millisecond), v.waiting),
				}
				report.Emit(runtime.Event{Type: runtime.EventServiceFailed, Stack: spec.Stack.Name, Service: p.svc.Name, Message: se.Err.Error()})
				return se
			}
			p.waiting = v.waiting
			// The first cause at once; a changed one at most every
			// waitingReport, so progress follows what the engine says
			// without an event per status update.
			if p.reported == "" || v.waiting != p.reported && now.Sub(p.reportedAt) >= waitingReport {
				p.reported, p.reportedAt = v.waiting, now
				report.Emit(runtime.Event{Type: runtime.EventServiceWaiting, Stack: spec.Stack.Name, Service: p.svc.Name, Message: v.waiting})
			} else if v.waiting != p.reported {
				at := p.reportedAt.Add(waitingReport)
				if next.IsZero() || at.Before(next) {
					next = at
				}
			}
			if !p.deadline.IsZero() && (next.IsZero() || p.deadline.Before(next)) {
				next = p.deadline
			}
			left = append(left, p)
		}
		todo = left
		if len(todo) == 0 {
			return nil
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			// Say what the engine last said: a --timeout names the
			// cause, not only the clock.
			var why []string
			for _, p := range todo {
				why = append(why, "service "+p.svc.Name+": "+p.waiting)
			}
			return fmt.Errorf("wait %s: %w; still waiting: %s", ref, ctx.Err(), strings.Join(why, "; "))
		case <-r.cache.stop:
			return fmt.Errorf("wait %s: %w", ref, errClosed)
		case <-changed:
		case <-timer.C:
		case d := <-diagnosed:
			d.p.diagnosing = false
			if !slices.Contains(todo, d.p) {
				break // ready meanwhile
			}
			if d.f != nil {
				se := r.serviceError(ctx, spec, d.p.svc.Name, d.f)
				report.Emit(runtime.Event{Type: runtime.EventServiceFailed, Stack: spec.Stack.Name, Service: d.p.svc.Name,
					Message: se.Err.Error()})
				return se
			}
			d.p.claimWhy = d.why
		}
	}
}

// waitingReport is how often at most Wait reports a changed reason for
// a service that is still not ready.
const waitingReport = 2 * time.Second

// claimRecheck is how often Wait looks again at the nodes and claims of
// a service whose pods cannot be scheduled.
const claimRecheck = 2 * time.Second

// unreachable returns an error matching runtime.ErrUnavailable when the
// API server does not answer a version request, or nil.
func (r *Runtime) unreachable(ctx context.Context) error {
	probe, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := r.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(probe).Error()
	switch {
	case err == nil:
		return nil
	case probe.Err() != nil && ctx.Err() == nil:
		return runtime.WrapError(runtime.ErrUnavailable, fmt.Errorf("no answer to a version request in 5s: %w", err))
	case errors.Is(mapError(err), runtime.ErrUnavailable):
		return mapError(err)
	}
	return nil
}

// stackExists reports whether a stack has a workload: one the cache
// holds or this runtime wrote, or else one the API server lists (the
// cache may lag behind another runtime's Apply).
func (r *Runtime) stackExists(ctx context.Context, ns, key string, spec *runtime.StackSpec) (bool, error) {
	objs := r.cache.stack(key)
	if len(objs.deployments)+len(objs.statefulSets) > 0 {
		return true, nil
	}
	for i := range spec.Stack.Services {
		n := r.names(spec.Deployment, spec.Stack.Name, spec.Stack.Services[i].Name)
		if r.writtenGeneration("deployment", ns, n.workload) > 0 || r.writtenGeneration("statefulset", ns, n.statefulSet) > 0 {
			return true, nil
		}
	}
	o := metav1.ListOptions{LabelSelector: stackSelector(spec.Deployment, spec.Stack.Name), Limit: 1}
	for _, kind := range []string{"deployment", "statefulset"} {
		l, err := r.list(ctx, kind, ns, o)
		if err != nil {
			return false, err
		}
		if len(l) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// verdict is the readiness of one service.
type verdict struct {
	ready   bool
	failure *failure
	waiting string // why it is not ready yet
}

// failure is why a service or init script failed.
type failure struct {
	sentinel  error
	reason    string
	message   string
	exitCode  int
	pod       *corev1.Pod
	container string
	previous  bool // the logs are those of the previous run
}

// judge decides whether one service is ready, failed, or still coming up,
// from the cached workload and pods.
func (r *Runtime) judge(ns string, spec *runtime.StackSpec, svc *stack.Service, n names, hash string, objs *stackObjects) verdict {
	want := int32(svc.Replicas())
	var m *metav1.ObjectMeta
	var replicas int32
	kind, name := "deployment", n.workload
	var d *appsv1.Deployment
	var s *appsv1.StatefulSet
	if len(svc.VolumeArgs) > 0 {
		kind, name = "statefulset", n.statefulSet
		for _, x := range objs.statefulSets {
			if x.Name == name {
				s, m, replicas = x, &x.ObjectMeta, ptrValue(x.Spec.Replicas, 1)
			}
		}
	} else {
		for _, x := range objs.deployments {
			if x.Name == name {
				d, m, replicas = x, &x.ObjectMeta, ptrValue(x.Spec.Replicas, 1)
			}
		}
	}
	switch {
	case m == nil && r.writtenGeneration(kind, ns, name) > 0:
		// Applied a moment ago: the watch has yet to deliver it.
		return verdict{waiting: kind + " " + name + " applied, waiting for the watch to see it"}
	case m == nil:
		return verdict{waiting: kind + " " + name + " not created yet"}
	case m.DeletionTimestamp != nil:
		return verdict{waiting: kind + " " + name + " is being deleted"}
	case m.Generation < r.writtenGeneration(kind, ns, name):
		return verdict{waiting: "waiting for the watch to catch up"}
	case m.Annotations[AnnotationConfigHash] != hash:
		return verdict{waiting: kind + " " + name + " runs another configuration than the one waited for"}
	case replicas == 0 && m.Annotations[annInstances] != "0":
		return verdict{failure: &failure{sentinel: runtime.ErrFailed, reason: "Stopped", message: "the stack is stopped"}}
	case replicas != want:
		return verdict{waiting: fmt.Sprintf("%s %s has %d replicas, %d wanted", kind, name, replicas, want)}
	}

	pods := servicePods(objs.pods, svc.Name, hash)
	for _, p := range pods {
		if f := podFailure(p); f != nil {
			return verdict{failure: f}
		}
	}

	var observed int64
	var cur, updated, ready, available int32
	var progress string
	if d != nil {
		st := &d.Status
		observed, cur, updated, ready, available = st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas
		for _, c := range st.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				return verdict{failure: &failure{sentinel: runtime.ErrFailed, reason: c.Reason, message: c.Message}}
			}
		}
	} else {
		st := &s.Status
		observed, cur, updated, ready, available = st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas
		if st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision && updated == want && cur == want {
			progress = "rollout completing"
		}
	}
	switch {
	case observed < m.Generation:
		return verdict{waiting: "controller has not observed the latest generation"}
	case cur != want || updated < want || ready < want || available < want:
		// status.replicas counts every pod not being deleted: those of
		// older configurations, and those a scale-down has yet to
		// delete. As kstatus requires, it must be the count wanted.
		return verdict{waiting: fmt.Sprintf("%d of %d instances ready (%d updated, %d available, %d in all)%s",
			ready, want, updated, available, cur, podsWaiting(pods))}
	case progress != "":
		return verdict{waiting: progress}
	}
	return verdict{ready: true}
}

// servicePods returns the pods of a service's current configuration that
// are not being deleted, sorted by name.
func servicePods(pods []*corev1.Pod, service, hash string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Labels[LabelService] == service && p.Labels[LabelComponent] == ComponentService &&
			p.Annotations[AnnotationConfigHash] == hash && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Waiting reasons of a container that mean its image cannot be had, and
// those that mean it cannot start; the kubelet retries them all with
// back-off, but none heals without a change.
var (
	imageReasons = []string{"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable", "SignatureValidationFailed"}
	startReasons = []string{"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
		"PreCreateHookError", "PreStartHookError", "PostStartHookError"}
)

// podFailure returns why a pod failed, or nil.
func podFailure(p *corev1.Pod) *failure {
	statuses := slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses)
	for i := range statuses {
		cs := &statuses[i]
		isInit := i < len(p.Status.InitContainerStatuses)
		if w := cs.State.Waiting; w != nil {
			switch {
			case slices.Contains(imageReasons, w.Reason):
				return &failure{sentinel: runtime.ErrImage, reason: w.Reason, message: w.Message, pod: p, container: cs.Name}
			case slices.Contains(startReasons, w.Reason):
				f := &failure{sentinel: runtime.ErrFailed, reason: w.Reason, message: w.Message, pod: p, container: cs.Name}
				if t := cs.LastTerminationState.Terminated; t != nil {
					f.exitCode, f.previous = int(t.ExitCode), true
					f.message = joinMessage(f.message, lastRun(t))
				}
				return f
			}
		}
		if t := cs.State.Terminated; t != nil && !(isInit && t.ExitCode == 0) {
			return &failure{sentinel: runtime.ErrFailed, reason: exitReason(t.Reason), message: t.Message,
				exitCode: int(t.ExitCode), pod: p, container: cs.Name}
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		reason := p.Status.Reason
		if reason == "" {
			reason = "Failed"
		}
		return &failure{sentinel: runtime.ErrFailed, reason: reason, message: p.Status.Message, pod: p}
	}
	return nil
}

// exitReason names a container's termination: the kubelet's generic
// "Error" and "Completed" become "Exited", as on the other runtimes;
// "OOMKilled" and the like stay.
func exitReason(reason string) string {
	switch reason {
	case "", "Error", "Completed":
		return "Exited"
	}
	return reason
}

func lastRun(t *corev1.ContainerStateTerminated) string {
	s := "last run: " + exitReason(t.Reason) + " with exit code " + strconv.Itoa(int(t.ExitCode))
	if t.Message != "" {
		s += ": " + t.Message
	}
	return s
}

func joinMessage(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// podsWaiting describes why the first pods that are not ready are not.
func podsWaiting(pods []*corev1.Pod) string {
	var parts []string
	for _, p := range pods {
		if why := podWaiting(p); why != "" {
			parts = append(parts, p.Name+": "+why)
			if len(parts) == 3 {
				break
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func podWaiting(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return joinMessage(c.Reason, c.Message)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			return joinMessage(w.Reason, w.Message)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			return joinMessage("not ready", c.Message)
		}
	}
	if p.Status.Phase == corev1.PodPending || p.Status.Phase == "" {
		return "pending"
	}
	return ""
}

// serviceError turns a failure into the error Wait or RunInit returns,
// with the pod's last log lines.
func (r *Runtime) serviceError(ctx context.Context, spec *runtime.StackSpec, service string, f *failure) *runtime.ServiceError {
	se := &runtime.ServiceError{
		Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: service,
		Reason: f.reason, ExitCode: f.exitCode, Err: f.sentinel,
	}
	msg := f.message
	if f.pod != nil {
		se.Instance = f.pod.Name
		if msg != "" {
			msg = "pod " + f.pod.Name + ": " + msg
		} else {
			msg = "pod " + f.pod.Name
		}
		se.Logs = r.logs(ctx, f)
	}
	if msg != "" {
		se.Err = fmt.Errorf("%w: %s", f.sentinel, msg)
	}
	return se
}

// logs returns the last Options.LogLines lines of a failed container, or
// nothing when they cannot be read.
func (r *Runtime) logs(ctx context.Context, f *failure) []string {
	if r.opts.LogLines <= 0 || f.pod == nil || f.container == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tail := int64(r.opts.LogLines)
	b, err := r.cs.CoreV1().Pods(f.pod.Namespace).GetLogs(f.pod.Name, &corev1.PodLogOptions{
		Container: f.container, TailLines: &tail, Previous: f.previous,
	}).DoRaw(ctx)
	if err != nil || len(b) == 0 {
		return nil
	}
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	return lines
}

package kube

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"

	"github.com/stackwave/stackwave/runtime"
)

// RunInit runs init script index of a ready stack as a Job: the
// service's image, env and config files with the script as the
// container's command, no retries. The Job's name is derived from the
// stack, the script's index and the stack spec's hash, so a call for the
// same spec finds the Job an earlier call (of this or another process)
// made: a Job that succeeded counts as done, a running one is waited for,
// a failed one is deleted and run again. Jobs of earlier specs of the same
// script are deleted once the new one succeeded; Remove deletes the rest.
//
// A script that exits non-zero (or whose pod fails otherwise) gives a
// *runtime.ServiceError matching runtime.ErrFailed with the exit code and
// last log lines; an image that cannot be pulled one matching
// runtime.ErrImage, at once.
func (r *Runtime) RunInit(ctx context.Context, spec *runtime.StackSpec, index int, report runtime.Reporter) error {
	ref := spec.Ref()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("init script %d of %s: %w", index, ref, err)
	}
	if index < 0 || index >= len(spec.Stack.InitScripts) {
		return fmt.Errorf("init script %d of %s: %w: the stack has %d init scripts", index, ref, runtime.ErrInvalid, len(spec.Stack.InitScripts))
	}
	script := &spec.Stack.InitScripts[index]
	svc := spec.Stack.Service(script.ServiceName)
	if svc == nil {
		return specError(spec, script.ServiceName, "init_scripts[%d]: no service %q in the stack", index, script.ServiceName)
	}
	if err := r.cache.synced(ctx); err != nil {
		return fmt.Errorf("init script %d of %s: %w", index, ref, err)
	}
	ns := r.namespace(spec.Deployment)
	name := r.jobName(spec.Deployment, spec.Stack.Name, index, runtime.StackHash(spec))
	job, err := r.buildJob(spec, index, name, ns)
	if err != nil {
		return err
	}
	lock := r.nsLock(ns)
	lock.use.RLock()
	defer lock.use.RUnlock()
	err = r.runJob(ctx, spec, index, svc.Name, job, name, ns, report)
	if err != nil {
		if _, ok := err.(*runtime.ServiceError); ok {
			return err
		}
		return fmt.Errorf("init script %d of %s: %w", index, ref, ctxErr(ctx, err))
	}
	return nil
}

func (r *Runtime) buildJob(spec *runtime.StackSpec, index int, name, ns string) (*batchv1ac.JobApplyConfiguration, error) {
	script := &spec.Stack.InitScripts[index]
	svc := spec.Stack.Service(script.ServiceName)
	hash := runtime.ServiceHash(spec, svc)
	tmpl, err := r.podTemplate(spec, svc, hash, index)
	if err != nil {
		return nil, err
	}
	tmpl.Spec.WithRestartPolicy(corev1.RestartPolicyNever)
	tmpl.Spec.Containers[0].WithCommand(escapeAll(script.Command)...)
	if r.opts.PodTemplate != nil {
		r.opts.PodTemplate(PodInfo{Spec: spec, Service: svc, InitScript: index}, tmpl)
	}
	labels := objectLabels(spec, svc.Name)
	labels[LabelComponent] = ComponentInitScript
	labels[LabelInitScript] = strconv.Itoa(index)
	return batchv1ac.Job(name, ns).
		WithLabels(labels).
		WithAnnotations(map[string]string{annStackHash: runtime.StackHash(spec), AnnotationConfigHash: hash}).
		WithSpec(batchv1ac.JobSpec().WithBackoffLimit(0).WithTemplate(tmpl)), nil
}

func (r *Runtime) runJob(ctx context.Context, spec *runtime.StackSpec, index int, service string,
	job *batchv1ac.JobApplyConfiguration, name, ns string, report runtime.Reporter) error {
	key := stackKey(ns, spec.Deployment, spec.Stack.Name)
	changed, unsubscribe := r.cache.subscribe(key)
	defer unsubscribe()
	ev := runtime.Event{Type: runtime.EventInitScript, Stack: spec.Stack.Name, Service: service}

	if cur := get[batchv1.Job](r.cache.jobs, ns, name); cur != nil && cur.DeletionTimestamp == nil {
		switch jobCondition(cur) {
		case batchv1.JobComplete:
			ev.Message = fmt.Sprintf("init script %d already ran (job %s)", index, name)
			report.Emit(ev)
			return nil
		case batchv1.JobFailed:
			if err := r.deleteAndWait(ctx, spec, "job", ns, name); err != nil {
				return err
			}
		}
	} else if cur != nil {
		if err := r.deleteAndWait(ctx, spec, "job", ns, name); err != nil {
			return err
		}
	}
	got, err := r.cs.BatchV1().Jobs(ns).Apply(ctx, job, r.applyOptions())
	if err != nil {
		return fmt.Errorf("job %s: %w", name, err)
	}
	uid := got.UID
	ev.Message = fmt.Sprintf("running init script %d (job %s)", index, name)
	report.Emit(ev)

	for {
		cur := get[batchv1.Job](r.cache.jobs, ns, name)
		if cur != nil && cur.UID == uid {
			done, f := judgeJob(cur, byKey[corev1.Pod](r.cache.pods, key))
			if f != nil {
				se := r.serviceError(ctx, spec, service, f)
				ev.Message = fmt.Sprintf("init script %d failed: %v", index, se.Err)
				report.Emit(ev)
				return se
			}
			if done {
				ev.Message = fmt.Sprintf("init script %d succeeded", index)
				report.Emit(ev)
				return r.deleteOldJobs(ctx, ns, key, index, name)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.cache.stop:
			return errClosed
		case <-changed:
		}
	}
}

// jobCondition returns JobComplete or JobFailed when the Job has ended,
// else "".
func jobCondition(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// judgeJob reports whether a Job succeeded, or why it failed: its pod's
// failure (exit code, image) when there is one, else the Job's.
func judgeJob(j *batchv1.Job, pods []*corev1.Pod) (bool, *failure) {
	var mine []*corev1.Pod
	for _, p := range pods {
		for _, o := range p.OwnerReferences {
			if o.UID == j.UID {
				mine = append(mine, p)
			}
		}
	}
	slices.SortFunc(mine, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range mine {
		if p.Status.Phase == corev1.PodSucceeded {
			return true, nil
		}
		if f := podFailure(p); f != nil {
			if f.sentinel == runtime.ErrFailed && f.exitCode == 0 && f.reason == "Exited" && p.Status.Phase != corev1.PodFailed {
				continue // exited 0: the pod is about to succeed
			}
			return false, f
		}
	}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, nil
		case batchv1.JobFailed:
			return false, &failure{sentinel: runtime.ErrFailed, reason: c.Reason, message: c.Message}
		}
	}
	return false, nil
}

// deleteOldJobs deletes the Jobs of earlier specs of the same init script.
func (r *Runtime) deleteOldJobs(ctx context.Context, ns, key string, index int, keep string) error {
	for _, j := range byKey[batchv1.Job](r.cache.jobs, key) {
		if j.Name != keep && j.Labels[LabelInitScript] == strconv.Itoa(index) && j.DeletionTimestamp == nil {
			if err := r.deleteObject(ctx, objectRef{"job", ns, j.Name}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stackwave/stackwave/runtime"
)

// Logs reads what the pods of a deployment wrote, as runtime.LogReader
// says: the service's container in every pod of each selected service,
// through the API server's pods/log endpoint (which asks the node's
// kubelet). Kubernetes records stdout and stderr as one log, so lines
// carry no Output (Stream is empty). A pod deleted between the listing
// and the read gives no lines; a pod whose node has no kubelet to ask
// (kwok's simulated nodes run no containers) fails the call with an
// error matching runtime.ErrNotSupported.
func (r *Runtime) Logs(ctx context.Context, deployment string, q runtime.LogQuery) (runtime.LogStream, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	ds, err := r.Observe(ctx, deployment)
	if err != nil {
		return nil, fmt.Errorf("logs of deployment %s: %w", deployment, err)
	}
	targets, err := runtime.LogTargets(ds, q)
	if err != nil {
		return nil, err
	}
	opts := &corev1.PodLogOptions{Follow: q.Follow, Timestamps: true}
	if q.Tail > 0 {
		n := int64(q.Tail)
		opts.TailLines = &n
	}
	if !q.Since.IsZero() {
		// The API counts in whole seconds; the lines of the second
		// before Since are dropped below.
		opts.SinceTime = &metav1.Time{Time: q.Since.Truncate(time.Second)}
	}
	ns := r.namespace(deployment)
	// Every stream is opened before Logs returns, so that a pod whose
	// logs cannot be read fails the call rather than the stream.
	rctx, cancel := context.WithCancel(ctx)
	sources := make([]runtime.LogSource, 0, len(targets))
	for _, tg := range targets {
		o := *opts
		o.Container = tg.Service
		rc, err := r.cs.CoreV1().Pods(ns).GetLogs(tg.Instance.Name, &o).Stream(rctx)
		if err != nil {
			if err = r.logsError(ctx, ns, tg.Instance.Name, err); err == nil {
				continue // the pod is gone
			}
			cancel()
			return nil, fmt.Errorf("logs of pod %s: %w", tg.Instance.Name, err)
		}
		context.AfterFunc(rctx, func() { rc.Close() })
		sources = append(sources, func(sctx context.Context, emit func(runtime.LogLine) error) error {
			defer rc.Close()
			// The stream's Close cancels sctx: the body must close then
			// too, or a followed pod's read blocks until ctx ends.
			defer context.AfterFunc(sctx, func() { rc.Close() })()
			base := runtime.LogLine{Stack: tg.Stack, Service: tg.Service, Instance: tg.Instance.Name}
			err := runtime.ScanLogLines(rc, func(text string) error {
				l := base
				if ts, rest, ok := strings.Cut(text, " "); ok {
					if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
						l.Time, text = t, rest
					}
				}
				if !q.Since.IsZero() && !l.Time.IsZero() && l.Time.Before(q.Since) {
					return nil
				}
				l.Text = text
				if err := emit(l); err != nil {
					return fmt.Errorf("%w: %w", errEmit, err)
				}
				return nil
			})
			switch {
			case err == nil:
				return nil
			case sctx.Err() != nil:
				return fmt.Errorf("logs of pod %s: %w", tg.Instance.Name, sctx.Err())
			case errors.Is(err, errEmit):
				return err
			}
			return fmt.Errorf("logs of pod %s: %w", tg.Instance.Name, mapError(err))
		})
	}
	return runtime.NewLogStream(ctx, q.Follow, sources, cancel), nil
}

// errEmit marks an error of the stream's consumer, returned as it is.
var errEmit = errors.New("log line not taken")

// logsError maps an error of opening a pod's log, or returns nil when the
// pod is gone. The API server asks the node's kubelet for the log; a 404
// for a pod that exists, or an error reaching the kubelet, means the
// back-end cannot give this pod's output at all: kwok's nodes, whose pods
// run nothing, answer 404 ("the server could not find the requested
// resource").
func (r *Runtime) logsError(ctx context.Context, ns, pod string, err error) error {
	if ctx.Err() != nil {
		return ctxErr(ctx, err)
	}
	if apierrors.IsNotFound(err) {
		_, gerr := r.cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return nil
		case gerr != nil:
			return mapError(gerr)
		}
		return runtime.WrapError(runtime.ErrNotSupported, fmt.Errorf("its node's kubelet has no log of it (%w); pods on simulated nodes (kwok) run no containers", err))
	}
	if noKubelet(err) {
		return runtime.WrapError(runtime.ErrNotSupported, fmt.Errorf("its node's kubelet cannot be reached: %w", err))
	}
	return mapError(err)
}

// noKubelet reports whether err is the API server's answer for a node it
// cannot reach the kubelet of: a status from the server (not an error of
// the connection to it) about the kubelet's address or port.
func noKubelet(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	msg := status.Status().Message
	return strings.Contains(msg, ":10250") || strings.Contains(msg, "kubelet") ||
		strings.Contains(msg, "no preferred addresses found")
}

var _ runtime.LogReader = (*Runtime)(nil)

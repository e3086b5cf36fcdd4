package sim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/stackwave/stackwave/runtime"
)

// Logs reads what the simulated instances wrote, as runtime.LogReader
// says. An instance writes, each time it starts, the lines
// Options.Output gives for its service (stdout first, then stderr), and
// when it exits, the line "exited with code N" to stderr, at the time it
// exited; a stopped instance writes nothing more. Only the lines of an
// instance's current run are kept. Following ends once every instance
// followed stopped, exited or was removed.
func (r *Runtime) Logs(ctx context.Context, deployment string, q runtime.LogQuery) (runtime.LogStream, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	ds, err := r.Observe(ctx, deployment)
	if err != nil {
		return nil, err
	}
	targets, err := runtime.LogTargets(ds, q)
	if err != nil {
		return nil, err
	}
	d := r.deployment(deployment, false)
	sources := make([]runtime.LogSource, len(targets))
	for i, tg := range targets {
		sources[i] = func(ctx context.Context, emit func(runtime.LogLine) error) error {
			return r.follow(ctx, d, deployment, tg, q, emit)
		}
	}
	return runtime.NewLogStream(ctx, q.Follow, sources, nil), nil
}

// logRun is what Logs knows of an instance's current run.
type logRun struct {
	started, exitAt time.Time
	exitCode        int
	running         bool
	gone            bool // the instance or its stack was removed
	wake            <-chan struct{}
}

func (r *Runtime) snapshot(d *deployment, tg runtime.LogTarget) logRun {
	st := d.lock(tg.Stack)
	if st == nil {
		return logRun{gone: true}
	}
	defer st.mu.Unlock()
	svc := st.find(tg.Service)
	if svc == nil {
		return logRun{gone: true}
	}
	for k := range svc.instances {
		in := &svc.instances[k]
		if in.name != tg.Instance.Name {
			continue
		}
		run := logRun{started: in.startedAt, running: in.running(time.Now()), wake: st.wake()}
		if !in.stopped && !in.exitAt.IsZero() {
			run.exitAt, run.exitCode = in.exitAt, in.exitCode
		}
		return run
	}
	return logRun{gone: true}
}

// lines returns the lines of a run written up to now.
func (r *Runtime) lines(tg runtime.LogTarget, deployment string, run logRun, now time.Time) []runtime.LogLine {
	base := runtime.LogLine{Stack: tg.Stack, Service: tg.Service, Instance: tg.Instance.Name}
	var out []runtime.LogLine
	add := func(stream runtime.Output, at time.Time, text string) {
		l := base
		l.Stream, l.Time, l.Text = stream, at, text
		out = append(out, l)
	}
	if r.opts.Output != nil {
		stdout, stderr := r.opts.Output(deployment, tg.Stack, tg.Service)
		for _, s := range stdout {
			add(runtime.Stdout, run.started, s)
		}
		for _, s := range stderr {
			add(runtime.Stderr, run.started, s)
		}
	}
	if !run.exitAt.IsZero() && !now.Before(run.exitAt) {
		add(runtime.Stderr, run.exitAt, "exited with code "+strconv.Itoa(run.exitCode))
	}
	return out
}

// follow emits an instance's lines as q says, waiting for more with
// q.Follow.
func (r *Runtime) follow(ctx context.Context, d *deployment, deployment string, tg runtime.LogTarget, q runtime.LogQuery, emit func(runtime.LogLine) error) error {
	if d == nil {
		return nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	sent, first := 0, true
	var started time.Time
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("logs of %s: %w", tg.Instance.Name, err)
		}
		run := r.snapshot(d, tg)
		if run.gone {
			return nil
		}
		if !run.started.Equal(started) { // a new run
			started, sent = run.started, 0
		}
		now := time.Now()
		lines := r.lines(tg, deployment, run, now)
		if first {
			var keep []runtime.LogLine
			for _, l := range lines {
				if q.Since.IsZero() || !l.Time.Before(q.Since) {
					keep = append(keep, l)
				}
			}
			if q.Tail > 0 && len(keep) > q.Tail {
				keep = keep[len(keep)-q.Tail:]
			}
			for _, l := range keep {
				if err := emit(l); err != nil {
					return err
				}
			}
			sent, first = len(lines), false
		}
		for _, l := range lines[min(sent, len(lines)):] {
			if !q.Since.IsZero() && l.Time.Before(q.Since) {
				continue
			}
			if err := emit(l); err != nil {
				return err
			}
		}
		sent = max(sent, len(lines))
		if !q.Follow || !run.running {
			return nil
		}
		var at <-chan time.Time
		if !run.exitAt.IsZero() {
			if timer == nil {
				timer = time.NewTimer(run.exitAt.Sub(now))
			} else {
				timer.Reset(run.exitAt.Sub(now))
			}
			at = timer.C
		}
		select {
		case <-ctx.Done():
		case <-run.wake:
		case <-at:
		}
	}
}

var _ runtime.LogReader = (*Runtime)(nil)

package docker

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Readiness modes, recorded in the readiness label of each container.
const (
	// modeRunning: ready once running for SettleTime (no probe, or
	// "running").
	modeRunning = "running"
	// modeHealth: ready when the Docker health check says healthy (exec
	// probes, and tcp/http probes with a probe binary).
	modeHealth = "health"
	// modeHost: ready when a tcp/http check from this host to the
	// container's address succeeds (tcp/http probes without a probe
	// binary).
	modeHost = "host"
)

// readinessMode returns how readiness of a service with probe p is told.
func (r *Runtime) readinessMode(p *stack.Probe) string {
	if p == nil {
		return modeRunning
	}
	switch p.Type {
	case stack.ProbeExec:
		return modeHealth
	case stack.ProbeTCP, stack.ProbeHTTP:
		if r.opts.ProbeBinary != "" {
			return modeHealth
		}
		return modeHost
	}
	return modeRunning
}

// inst is what the runtime knows of one container while it waits for it
// or observes it.
type inst struct {
	svc   string
	n     int
	id    string
	name  string
	mode  string
	probe *stack.Probe

	running   bool
	created   bool // never started
	exited    bool
	gone      bool // removed
	exitCode  int
	oom       bool
	started   time.Time
	health    container.HealthStatus
	healthLog string // output of the last health check that failed
	ip        netip.Addr
	probeOK   bool // the host probe succeeded since the last start
	probeMsg  string
	probing   context.CancelFunc
}

// read fills in the state from an inspection.
func (in *inst) read(c container.InspectResponse, network string) {
	in.id = c.ID
	in.name = strings.TrimPrefix(c.Name, "/")
	st := c.State
	if st == nil {
		return
	}
	in.running = st.Running && !st.Restarting
	in.created = st.Status == container.StateCreated
	in.exited = st.Status == container.StateExited || st.Status == container.StateDead
	in.exitCode = st.ExitCode
	in.oom = st.OOMKilled
	in.started = parseTime(st.StartedAt)
	in.health, in.healthLog = "", ""
	if h := st.Health; h != nil {
		in.health = h.Status
		if n := len(h.Log); n > 0 && h.Log[n-1].ExitCode != 0 {
			in.healthLog = fmt.Sprintf("exit %d: %s", h.Log[n-1].ExitCode, oneLine(h.Log[n-1].Output, 400))
		}
	}
	if c.NetworkSettings != nil {
		if ep := c.NetworkSettings.Networks[network]; ep != nil {
			in.ip = ep.IPAddress
		}
	}
}

// apply updates the state with an event; it reports whether the container
// (re)started. Events older than the state (replayed ones) are ignored.
func (in *inst) apply(m events.Message) (started bool) {
	t := eventTime(m)
	switch {
	case m.Action == events.ActionStart:
		if t.Before(in.started) {
			return false
		}
		in.running, in.exited, in.created = true, false, false
		in.started = t
		in.health, in.healthLog, in.probeOK = container.Starting, "", false
		return true
	case m.Action == events.ActionDie:
		if !t.After(in.started) {
			return false
		}
		in.running, in.exited = false, true
		if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
			in.exitCode = code
		}
	case m.Action == events.ActionOOM:
		if t.After(in.started) {
			in.oom = true
		}
	case strings.HasPrefix(string(m.Action), string(events.ActionHealthStatus)):
		if !t.Before(in.started) {
			_, status, _ := strings.Cut(string(m.Action), ": ")
			in.health = container.HealthStatus(strings.TrimSpace(status))
		}
	case m.Action == events.ActionDestroy:
		in.gone, in.running = true, false
	}
	return false
}

// failed reports whether the instance has ended.
func (in *inst) failed() bool { return in.gone || in.exited && !in.running }

// ready reports whether the instance is ready at now; when it is not but
// will be by the passing of time alone, at says when.
func (in *inst) ready(now time.Time, settle time.Duration) (ok bool, at time.Time) {
	if !in.running {
		return false, time.Time{}
	}
	switch in.mode {
	case modeHealth:
		return in.health == container.Healthy, time.Time{}
	case modeHost:
		return in.probeOK, time.Time{}
	}
	at = in.started.Add(settle)
	if !now.Before(at) {
		return true, time.Time{}
	}
	return false, at
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1900 {
		return time.Time{}
	}
	return t
}

// watched is one service of a watch.
type watched struct {
	svc      *stack.Service
	insts    []*inst
	timeout  time.Duration
	deadline time.Time
	reported bool
}

// Wait blocks until every instance of every service of the stack is ready
// by its probe. It fails at once when an instance exits, is OOM-killed or
// removed (a *runtime.ServiceError matching runtime.ErrFailed, with the
// exit code and the last 20 log lines), and when a service is not ready
// within its probe's timeout or spec.ReadyTimeout (matching
// runtime.ErrNotReady). Readiness comes from the engine's event stream.
func (r *Runtime) Wait(ctx context.Context, spec *runtime.StackSpec, report runtime.Reporter) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for stack %s: %w", spec.Ref(), err)
	}
	sub := r.hub.subscribe()
	defer sub.close()
	cur, err := r.listContainers(ctx, spec.Deployment, spec.Stack.Name)
	if err != nil {
		return fmt.Errorf("wait for stack %s: %w", spec.Ref(), err)
	}
	byKey := map[string]*ctr{}
	for i := range cur {
		if c := &cur[i]; c.canonical {
			byKey[c.svc+"/"+strconv.Itoa(c.n)] = c
		}
	}
	var ws []*watched
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		hash := runtime.ServiceHash(spec, svc)
		w := &watched{svc: svc, timeout: readyTimeout(spec, svc)}
		for n := 1; n <= svc.Replicas(); n++ {
			c := byKey[svc.Name+"/"+strconv.Itoa(n)]
			name := r.containerName(spec.Deployment, spec.Stack.Name, svc.Name, n)
			switch {
			case c == nil:
				return r.serviceError(spec, svc, name, "NotCreated",
					fmt.Errorf("%w: container %s does not exist; apply the stack first", runtime.ErrNotFound, name))
			case c.hash != hash:
				return r.serviceError(spec, svc, name, "ConfigChanged",
					fmt.Errorf("%w: container %s runs another configuration (%s, want %s); apply the stack first", runtime.ErrConflict, name, c.hash, hash))
			}
			w.insts = append(w.insts, &inst{svc: svc.Name, n: n, id: c.id, name: name, mode: c.mode, probe: svc.Readiness})
		}
		ws = append(ws, w)
	}
	return r.watch(ctx, sub, spec, ws, report)
}

func readyTimeout(spec *runtime.StackSpec, svc *stack.Service) time.Duration {
	if svc.Readiness != nil && svc.Readiness.Timeout > 0 {
		return svc.Readiness.Timeout.Std()
	}
	return spec.ReadyTimeout
}

type probeResult struct {
	id  string
	ok  bool
	msg string
}

// watch follows the instances until all are ready or one fails.
func (r *Runtime) watch(ctx context.Context, sub *subscription, spec *runtime.StackSpec, ws []*watched, report runtime.Reporter) error {
	byID := map[string]*inst{}
	var all []*inst
	start := time.Now()
	for _, w := range ws {
		if w.timeout > 0 {
			w.deadline = start.Add(w.timeout)
		}
		for _, in := range w.insts {
			byID[in.id] = in
			all = append(all, in)
		}
	}
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	results := make(chan probeResult, len(all))
	netName := r.networkName(spec.Deployment)
	probe := func(in *inst) {
		if in.mode != modeHost || !in.running || in.probeOK {
			return
		}
		if in.probing != nil {
			in.probing()
		}
		pctx, cancel := context.WithCancel(probeCtx)
		in.probing = cancel
		go hostProbe(pctx, in.probe, in.ip, in.id, results)
	}
	inspect := func(ins []*inst) error {
		if r.hub.isClosed() {
			return fmt.Errorf("wait for stack %s: %w", spec.Ref(), errClosed)
		}
		if err := r.inspectAll(ctx, ins, netName); err != nil {
			return fmt.Errorf("wait for stack %s: %w", spec.Ref(), err)
		}
		for _, in := range ins {
			probe(in)
		}
		return nil
	}
	if err := inspect(all); err != nil {
		return err
	}
	for _, w := range ws {
		report.Emit(runtime.Event{Type: runtime.EventServiceWaiting, Stack: spec.Stack.Name, Service: w.svc.Name,
			Message: fmt.Sprintf("waiting for %d instances (%s)", len(w.insts), describeProbe(w.svc.Readiness, w.insts[0].mode))})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var next time.Time
		done := true
		for _, w := range ws {
			ready := 0
			for _, in := range w.insts {
				if in.failed() {
					return r.failure(ctx, spec, w.svc, in, report)
				}
				ok, at := in.ready(now, r.opts.SettleTime)
				if ok {
					ready++
				} else if !at.IsZero() && (next.IsZero() || at.Before(next)) {
					next = at
				}
			}
			if ready == len(w.insts) {
				if !w.reported {
					w.reported = true
					report.Emit(runtime.Event{Type: runtime.EventServiceReady, Stack: spec.Stack.Name, Service: w.svc.Name,
						Message: fmt.Sprintf("%d instances ready", ready)})
				}
				continue
			}
			done = false
			if !w.deadline.IsZero() {
				if !now.Before(w.deadline) {
					return r.timeout(ctx, spec, w, ready, report)
				}
				if next.IsZero() || w.deadline.Before(next) {
					next = w.deadline
				}
			}
		}
		if done {
			return nil
		}
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for stack %s: %w", spec.Ref(), ctx.Err())
		case m := <-sub.c:
			if in := byID[m.Actor.ID]; in != nil && in.apply(m) && in.mode == modeHost {
				// A new run may have a new address.
				if err := inspect([]*inst{in}); err != nil {
					return err
				}
			}
		case <-sub.resync:
			if err := inspect(all); err != nil {
				return err
			}
		case pr := <-results:
			if in := byID[pr.id]; in != nil {
				in.probeOK, in.probeMsg = pr.ok, pr.msg
			}
		case <-timer.C:
		}
	}
}

// inspectAll refreshes the state of the instances, a few at a time.
func (r *Runtime) inspectAll(ctx context.Context, ins []*inst, network string) error {
	var g errgroup.Group
	g.SetLimit(8)
	for _, in := range ins {
		g.Go(func() error {
			t := r.hub.cache.token()
			res, err := r.cli.ContainerInspect(ctx, in.id, client.ContainerInspectOptions{})
			if cerrdefs.IsNotFound(err) {
				in.gone, in.running = true, false
				return nil
			}
			if err != nil {
				return fmt.Errorf("inspect %s: %w", in.name, err)
			}
			r.hub.cache.put(t, res.Container)
			in.read(res.Container, network)
			return nil
		})
	}
	return g.Wait()
}

// failure builds the error of an instance that ended.
func (r *Runtime) failure(ctx context.Context, spec *runtime.StackSpec, svc *stack.Service, in *inst, report runtime.Reporter) error {
	reason := "Exited"
	if !in.gone {
		// The engine may learn of an OOM kill (from the cgroup) just
		// after the exit: a SIGKILL's 137 is worth a second look.
		for attempt := 0; attempt < 10; attempt++ {
			res, err := r.cli.ContainerInspect(ctx, in.id, client.ContainerInspectOptions{})
			if err != nil || res.Container.State == nil {
				break
			}
			in.exitCode, in.oom = res.Container.State.ExitCode, in.oom || res.Container.State.OOMKilled
			if in.oom || in.exitCode != 137 {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	switch {
	case in.gone:
		reason = "Removed"
	case in.oom:
		reason = "OOMKilled"
	}
	se := &runtime.ServiceError{
		Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: svc.Name, Instance: in.name,
		Reason: reason, ExitCode: in.exitCode, Err: runtime.ErrFailed,
	}
	if !in.gone {
		se.Logs = r.lastLogs(ctx, in.id, logLines)
	}
	report.Emit(runtime.Event{Type: runtime.EventServiceFailed, Stack: spec.Stack.Name, Service: svc.Name, Instance: in.name, Message: se.Error()})
	return se
}

// timeout builds the error of a service that was not ready in time.
func (r *Runtime) timeout(ctx context.Context, spec *runtime.StackSpec, w *watched, ready int, report runtime.Reporter) error {
	var slow *inst
	for _, in := range w.insts {
		if ok, _ := in.ready(time.Now(), r.opts.SettleTime); !ok {
			slow = in
			break
		}
	}
	if slow != nil && slow.mode == modeHealth {
		// Health check output travels in no event: read the latest.
		_ = r.inspectAll(ctx, []*inst{slow}, r.networkName(spec.Deployment))
	}
	detail := ""
	switch {
	case slow == nil:
	case !slow.running:
		detail = "; not running"
	case slow.healthLog != "":
		detail = "; last health check: " + slow.healthLog
	case slow.probeMsg != "":
		detail = "; last probe: " + slow.probeMsg
	}
	se := &runtime.ServiceError{
		Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: w.svc.Name, Reason: "Timeout",
		Err: fmt.Errorf("%w within %s: %d of %d instances ready (%s)%s", runtime.ErrNotReady, w.timeout, ready, len(w.insts),
			describeProbe(w.svc.Readiness, w.insts[0].mode), detail),
	}
	if slow != nil {
		se.Instance = slow.name
		se.Logs = r.lastLogs(ctx, slow.id, logLines)
	}
	report.Emit(runtime.Event{Type: runtime.EventServiceFailed, Stack: spec.Stack.Name, Service: w.svc.Name, Instance: se.Instance, Message: se.Error()})
	return se
}

func (r *Runtime) serviceError(spec *runtime.StackSpec, svc *stack.Service, instance, reason string, err error) error {
	return &runtime.ServiceError{Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: svc.Name, Instance: instance, Reason: reason, Err: err}
}

// logLines is how many log lines a failure carries.
const logLines = 20

// lastLogs returns up to n last lines of a container's stdout and stderr,
// oldest first. Errors give no lines: logs only explain a failure.
func (r *Runtime) lastLogs(ctx context.Context, id string, n int) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rc, err := r.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return nil
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := stdcopy.StdCopy(&b, &b, rc); err != nil && b.Len() == 0 {
		return nil
	}
	return tailLines(b.String(), n)
}

func tailLines(s string, n int) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], "\r")
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

func describeProbe(p *stack.Probe, mode string) string {
	if p == nil || p.Type == "" || p.Type == stack.ProbeRunning {
		return "running"
	}
	var what string
	switch p.Type {
	case stack.ProbeExec:
		what = "exec " + strings.Join(p.Command, " ")
	case stack.ProbeTCP:
		what = "tcp port " + strconv.Itoa(p.Port)
	case stack.ProbeHTTP:
		what = "http port " + strconv.Itoa(p.Port) + " " + cmp.Or(p.Path, "/")
	default:
		what = p.Type
	}
	if mode == modeHost {
		what += ", probed from the host"
	} else {
		what += ", health check"
	}
	return what
}

var errNoAddress = errors.New("the container has no address on the deployment network")

// oneLine joins the lines of s with " | ", cut to at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ")), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

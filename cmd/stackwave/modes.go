package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// deployments is what the deployment commands act on: the local store
// and runtime (localDeployments) or a stackwave serve (remoteDeployments).
// Both answer with the same types, so a command prints the same and exits
// alike in either mode.
type deployments interface {
	// Status is the deployment's status; inst, when set, lists instances.
	Status(ctx context.Context, name string, inst *instanceFlags) (*deploy.Status, error)
	// List lists the deployments.
	List(ctx context.Context) ([]api.DeploymentSummary, error)
	// Operations is a deployment's history, oldest first.
	Operations(ctx context.Context, name string) ([]store.Operation, error)
	// Run starts op and, unless detach, waits for its end, passing its
	// events to onEvent; it returns the operation's record (its status
	// and message say how it ended), or the error that refused it.
	Run(ctx context.Context, op store.OpType, req deploy.Request, detach bool, onEvent func(deploy.Event)) (*store.Operation, error)
	// Events passes the events of a deployment's operation (its last one
	// when opID is empty) after seq after to fn; with follow it waits for
	// more until the operation ends, calling caughtUp (when not nil) once
	// the stored events are passed and the operation still runs.
	Events(ctx context.Context, name, opID string, after int64, follow bool, fn func(api.Event), caughtUp func()) error
	// Logs reads what the instances of a deployment wrote, as
	// runtime.LogReader says.
	Logs(ctx context.Context, name string, q runtime.LogQuery) (runtime.LogStream, error)
	// Delete removes a terminated deployment's record and history.
	Delete(ctx context.Context, name string) error
	// SetReconcilePaused pauses or resumes the repair of drift.
	SetReconcilePaused(ctx context.Context, name string, paused bool) error
	Close()
}

// errDetachLocal refuses --detach without --server: the operation would
// stop with the command.
var errDetachLocal = errors.New("--detach needs --server: without a server the operation runs in this command and stops with it")

// localDeployments works on the store and runtime of backendFlags.
type localDeployments struct {
	ex      *deploy.Executor
	close   func()
	onEvent func(deploy.Event)
}

func openLocal(ctx context.Context, b *backendFlags) (*localDeployments, error) {
	l := &localDeployments{}
	ex, closeAll, err := openExecutor(ctx, b, func(e deploy.Event) {
		if l.onEvent != nil {
			l.onEvent(e)
		}
	})
	if err != nil {
		return nil, err
	}
	l.ex, l.close = ex, closeAll
	return l, nil
}

func (l *localDeployments) Close() { l.close() }

func (l *localDeployments) Status(ctx context.Context, name string, inst *instanceFlags) (*deploy.Status, error) {
	var opts []deploy.StatusOption
	if inst != nil {
		opts = inst.options()
	}
	return l.ex.Status(ctx, name, opts...)
}

func (l *localDeployments) List(ctx context.Context) ([]api.DeploymentSummary, error) {
	ds, err := l.ex.Store().ListDeployments(ctx, store.DeploymentQuery{})
	if err != nil {
		return nil, err
	}
	out := make([]api.DeploymentSummary, 0, len(ds))
	for _, d := range ds {
		out = append(out, api.DeploymentSummary{
			Name: d.Name, ProductID: d.ProductID, VersionID: d.VersionID, TargetVersionID: d.TargetVersionID,
			Runtime: d.Runtime, Status: d.Status, LastOperation: d.LastOperation(),
			CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Revision: d.Revision,
		})
	}
	return out, nil
}

func (l *localDeployments) Operations(ctx context.Context, name string) ([]store.Operation, error) {
	d, err := l.ex.Store().GetDeployment(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.Operations, nil
}

func (l *localDeployments) Run(ctx context.Context, op store.OpType, req deploy.Request, detach bool, onEvent func(deploy.Event)) (*store.Operation, error) {
	if detach {
		return nil, errDetachLocal
	}
	l.onEvent = onEvent
	defer func() { l.onEvent = nil }()
	res, err := l.ex.Run(ctx, op, req)
	if res == nil || res.Operation.ID == "" {
		if err == nil {
			err = errors.New("no operation")
		}
		return nil, err
	}
	o := res.Operation
	if err != nil && o.Status != store.OpFailed {
		// Interrupted or refused after the record was written.
		return nil, err
	}
	if d, gerr := l.ex.Store().GetDeployment(ctx, req.Deployment); gerr == nil {
		if rec := d.Operation(o.ID); rec != nil {
			o = *rec
		}
	}
	return &o, nil
}

func (l *localDeployments) Events(ctx context.Context, name, opID string, after int64, follow bool, fn func(api.Event), caughtUp func()) error {
	d, err := l.ex.Store().GetDeployment(ctx, name)
	if err != nil {
		return err
	}
	var op *store.Operation
	if opID == "" {
		op = d.LastOperation()
	} else {
		op = d.Operation(opID)
	}
	if op == nil {
		if opID == "" {
			return fmt.Errorf("deployment %s has no operation: %w", name, store.ErrNotFound)
		}
		return fmt.Errorf("operation %s: %w", opID, store.ErrNotFound)
	}
	sub, err := l.ex.Store().SubscribeEvents(ctx, name, store.EventQuery{OperationID: op.ID, AfterSeq: after})
	if err != nil {
		return err
	}
	defer sub.Close()
	running := op.Status == store.OpInProgress
	// recheck: the record may have changed since it was read without an
	// event to tell (an operation that ended without its last event in
	// the log): first because it was read before the subscription, then
	// after each change, once its events are read.
	recheck := follow && running
	live := false // the stored events are passed
	for {
		evs, err := sub.Fetch(ctx)
		if err != nil {
			return err
		}
		for _, e := range evs {
			fn(api.Event{Deployment: name, Event: e})
			if endsOperation(e, op.ID) {
				return nil
			}
		}
		if len(evs) > 0 {
			continue
		}
		if recheck && running {
			recheck = false
			d, err := l.ex.Store().GetDeployment(ctx, name)
			if err != nil {
				return err
			}
			if cur := d.Operation(op.ID); cur == nil || cur.Status != store.OpInProgress {
				// Ended: its events were appended before the record
				// said so; read what is left.
				running = false
				continue
			}
		}
		if !follow || !running {
			return nil
		}
		if !live {
			live = true
			if caughtUp != nil {
				caughtUp()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-sub.Changed():
			if !ok {
				return store.ErrClosed
			}
		}
		recheck = true
	}
}

// caughtUpComment is the comment line of an event stream after the
// stored events of a running operation (see package api).
const caughtUpComment = ": caught-up"

// endsOperation reports whether e is the last event of operation opID.
func endsOperation(e store.Event, opID string) bool {
	return e.OperationID == opID && (e.Type == string(deploy.EventOperationDone) || e.Type == string(deploy.EventOperationFailed))
}

// remoteDeployments calls a stackwave serve through api.Client.
type remoteDeployments struct{ c *api.Client }

func (r *remoteDeployments) Close() {}

func (r *remoteDeployments) Status(ctx context.Context, name string, inst *instanceFlags) (*deploy.Status, error) {
	path := "/api/deployments/" + url.PathEscape(name)
	if inst != nil && inst.list {
		path += fmt.Sprintf("?instances=true&instance_offset=%d&instance_limit=%d", inst.offset, inst.limit)
	}
	var res api.DeploymentResponse
	if err := r.c.Do(ctx, http.MethodGet, path, nil, &res); err != nil {
		return nil, err
	}
	return res.Deployment, nil
}

func (r *remoteDeployments) List(ctx context.Context) ([]api.DeploymentSummary, error) {
	var res api.DeploymentList
	if err := r.c.Do(ctx, http.MethodGet, "/api/deployments", nil, &res); err != nil {
		return nil, err
	}
	return res.Deployments, nil
}

func (r *remoteDeployments) Operations(ctx context.Context, name string) ([]store.Operation, error) {
	var res api.OperationList
	if err := r.c.Do(ctx, http.MethodGet, "/api/deployments/"+url.PathEscape(name)+"/operations", nil, &res); err != nil {
		return nil, err
	}
	return res.Operations, nil
}

func (r *remoteDeployments) Run(ctx context.Context, op store.OpType, req deploy.Request, detach bool, onEvent func(deploy.Event)) (*store.Operation, error) {
	base := "/api/deployments/" + url.PathEscape(req.Deployment)
	var path string
	var body any
	switch op {
	case store.OpRestart, store.OpStop, store.OpStart:
		path, body = base+"/stacks/"+url.PathEscape(req.Stack)+"/"+string(op), api.StackRequest{Policy: policyName(req.Policy)}
	case store.OpScale:
		n := req.Instances
		path, body = base+"/stacks/"+url.PathEscape(req.Stack)+"/services/"+url.PathEscape(req.Service)+"/scale", api.ScaleRequest{Instances: &n}
	case store.OpTerminate:
		path, body = base+"/terminate", api.TerminateRequest{DeleteData: req.DeleteData, Policy: policyName(req.Policy)}
	case store.OpLaunch:
		path, body = "/api/deployments", api.LaunchRequest{Name: req.Deployment, VersionID: req.VersionID, Policy: policyName(req.Policy),
			Vars: req.Vars, ConfigTemplates: req.ConfigTemplates}
	case store.OpUpdate:
		path, body = base+"/update", api.UpdateRequest{VersionID: req.VersionID, Policy: policyName(req.Policy),
			Vars: req.Vars, ConfigTemplates: req.ConfigTemplates}
	default:
		return nil, fmt.Errorf("%s: not an operation of the API", op)
	}
	var sub api.Submitted
	if err := r.c.Do(ctx, http.MethodPost, path, body, &sub); err != nil {
		return nil, err
	}
	if detach {
		return &store.Operation{ID: sub.OperationID, Type: op, Status: store.OpInProgress}, nil
	}
	err := r.Events(ctx, req.Deployment, sub.OperationID, 0, true, func(e api.Event) {
		if onEvent != nil {
			onEvent(deploy.Event{Type: deploy.EventType(e.Type), Deployment: e.Deployment, OperationID: e.OperationID,
				Stack: e.Stack, Service: e.Service, Time: e.Time, Message: e.Message})
		}
	}, nil)
	if err != nil {
		return nil, err
	}
	var res api.OperationResponse
	if err := r.c.Do(ctx, http.MethodGet, base+"/operations/"+url.PathEscape(sub.OperationID), nil, &res); err != nil {
		return nil, err
	}
	return res.Operation, nil
}

func policyName(p deploy.Policy) string {
	if p == deploy.FailFast {
		return ""
	}
	return string(p)
}

// Events reads the server's Server-Sent Events. The server sends the
// stored events, then, while the operation runs, the comment
// ": caught-up" and the events as they come; without follow the command
// stops there.
func (r *remoteDeployments) Events(ctx context.Context, name, opID string, after int64, follow bool, fn func(api.Event), caughtUp func()) error {
	q := url.Values{}
	if opID != "" {
		q.Set("operation_id", opID)
	}
	if after > 0 {
		q.Set("after_seq", strconv.FormatInt(after, 10))
	}
	u := strings.TrimRight(r.c.URL, "/") + "/api/deployments/" + url.PathEscape(name) + "/events"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if r.c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.c.Token)
	}
	hc := r.c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		return nil
	default:
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &api.Error{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &api.Error{Message: http.StatusText(resp.StatusCode), Code: strconv.Itoa(resp.StatusCode)}
		}
		e.Status = resp.StatusCode
		return e
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data strings.Builder
	for {
		if !sc.Scan() {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return sc.Err()
		}
		line := sc.Text()
		if line == strings.TrimSpace(caughtUpComment) {
			if !follow {
				return nil
			}
			if caughtUp != nil {
				caughtUp()
			}
			continue
		}
		if line != "" {
			if v, ok := strings.CutPrefix(line, "data:"); ok {
				data.WriteString(strings.TrimPrefix(v, " "))
			}
			continue
		}
		if data.Len() == 0 {
			continue
		}
		var e api.Event
		if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		data.Reset()
		fn(e)
		if endsOperation(e.Event, e.OperationID) && (opID == "" || e.OperationID == opID) {
			return nil
		}
	}
}

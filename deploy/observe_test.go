package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

type tenantKey struct{}

// valueRuntime is the simulated runtime noting the tenant each Apply's
// context carries, and arming a store failure at its first Apply.
type valueRuntime struct {
	*sim.Runtime
	mu      sync.Mutex
	tenants []any
	onApply func()
}

func (r *valueRuntime) Apply(ctx context.Context, spec *runtime.StackSpec, rep runtime.Reporter) error {
	r.mu.Lock()
	r.tenants = append(r.tenants, ctx.Value(tenantKey{}))
	f := r.onApply
	r.onApply = nil
	r.mu.Unlock()
	if f != nil {
		f()
	}
	return r.Runtime.Apply(ctx, spec, rep)
}

func (r *valueRuntime) seen() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tenants)
}

// TestRequestOnEventAndContextValues: Request.OnEvent receives one
// operation's events, all of them, in order, while another operation
// runs on the same executor; a submitted operation keeps the caller's
// context values and outlives its cancellation.
func TestRequestOnEventAndContextValues(t *testing.T) {
	e := newEnv(t, nil, nil)
	vr := &valueRuntime{Runtime: sim.New(nil)}
	ex := deploy.New(vr, e.st, nil)
	defer ex.Close()
	vid := e.version("v1", threeTiers())

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), tenantKey{}, "acme"))
	var mu sync.Mutex
	var mine, other []deploy.Event
	h, err := ex.Submit(ctx, store.OpLaunch, deploy.Request{Deployment: "shop", VersionID: vid, OnEvent: func(ev deploy.Event) {
		mu.Lock()
		mine = append(mine, ev)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // the submitted operation does not stop with its caller
	if _, err := ex.Launch(context.Background(), deploy.Request{Deployment: "other", VersionID: vid, OnEvent: func(ev deploy.Event) {
		other = append(other, ev)
	}}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait(context.Background())
	if err != nil {
		t.Fatalf("submitted launch: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	logged, err := e.st.ListEvents(context.Background(), "shop", store.EventQuery{OperationID: res.Operation.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != len(logged) || len(mine) == 0 {
		t.Fatalf("Request.OnEvent got %d events, the store logged %d", len(mine), len(logged))
	}
	for i, ev := range mine {
		if ev.Deployment != "shop" || ev.OperationID != res.Operation.ID || string(ev.Type) != logged[i].Type || ev.Stack != logged[i].Stack {
			t.Fatalf("event %d: %+v, logged %+v", i, ev, logged[i])
		}
	}
	if mine[0].Type != deploy.EventOperationStarted || mine[len(mine)-1].Type != deploy.EventOperationDone {
		t.Errorf("events from %s to %s", mine[0].Type, mine[len(mine)-1].Type)
	}
	for _, ev := range other {
		if ev.Deployment != "other" {
			t.Fatalf("the other launch's callback got %+v", ev)
		}
	}
	acme := 0
	for _, v := range vr.seen() {
		if v == "acme" {
			acme++
		}
	}
	if acme != 4 {
		t.Errorf("%d of the submitted launch's 4 applies saw the caller's context values (%v)", acme, vr.seen())
	}
}

// logRecord is one record a recordingHandler kept.
type logRecord struct {
	level  slog.Level
	msg    string
	attrs  map[string]string
	tenant any
}

// recordingHandler keeps every record, with its attributes as text and
// the tenant of its context.
type recordingHandler struct {
	mu      *sync.Mutex
	records *[]logRecord
}

func newRecordingHandler() recordingHandler {
	return recordingHandler{mu: &sync.Mutex{}, records: &[]logRecord{}}
}

func (h recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { panic("not used") }
func (h recordingHandler) WithGroup(string) slog.Handler            { panic("not used") }
func (h recordingHandler) Handle(ctx context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}, tenant: ctx.Value(tenantKey{})}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	h.mu.Unlock()
	return nil
}

func (h recordingHandler) all() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.records)
}

// flakyDriver fails the next writes that are not lease renewals.
type flakyDriver struct {
	store.Driver
	fail atomic.Int32
}

var errStoreDown = errors.New("store unreachable")

func (d *flakyDriver) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if (opts == nil || !opts.Urgent) && d.fail.Add(-1) >= 0 {
		return errStoreDown
	}
	return d.Driver.Update(ctx, opts, fn)
}

// TestLoggerReportsStoreWriteFailures: a record write that fails is
// retried and logged with the operation's attributes and context; the
// operation succeeds once the store answers again.
func TestLoggerReportsStoreWriteFailures(t *testing.T) {
	ctx := context.WithValue(context.Background(), tenantKey{}, "acme")
	drv := &flakyDriver{Driver: memory.NewDriver()}
	st := store.New(drv, nil)
	p, _ := st.CreateProduct(ctx, &product.Product{Name: "shop", ProviderName: "tests"})
	v, _ := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: threeTiers()})
	h := newRecordingHandler()
	vr := &valueRuntime{Runtime: sim.New(nil), onApply: func() { drv.fail.Store(2) }}
	ex := deploy.New(vr, st, &deploy.Options{Logger: slog.New(h)})
	defer ex.Close()
	res, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.Status != store.StatusAvailable {
		t.Fatalf("status %s", res.Deployment.Status)
	}
	var failures []logRecord
	for _, r := range h.all() {
		if strings.Contains(r.msg, "store write") {
			failures = append(failures, r)
		}
	}
	if len(failures) == 0 {
		t.Fatalf("no store write failure logged; records: %+v", h.all())
	}
	for _, r := range failures {
		if r.level != slog.LevelWarn || r.attrs["deployment"] != "shop" || r.attrs["operation"] != res.Operation.ID ||
			r.attrs["op"] != "launch" || !strings.Contains(r.attrs["error"], errStoreDown.Error()) || r.tenant != "acme" {
			t.Errorf("record %+v", r)
		}
	}
}

// TestEventLogValue: an event logs as a group of its fields.
func TestEventLogValue(t *testing.T) {
	h := newRecordingHandler()
	ev := deploy.Event{Type: deploy.EventStackReady, Deployment: "shop", OperationID: "op-1", Stack: "db", Service: "mysql", Message: "ready"}
	slog.New(h).Info("event", "event", ev)
	got := h.all()[0].attrs["event"]
	want := "[type=stack-ready deployment=shop operation=op-1 stack=db service=mysql message=ready]"
	if got != want {
		t.Fatalf("event logs as %s, want %s", got, want)
	}
}

// renewalFails fails the next lease renewals (urgent writes).
type renewalFails struct {
	store.Driver
	fail atomic.Int32
}

func (d *renewalFails) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	if opts != nil && opts.Urgent && d.fail.Add(-1) >= 0 {
		return errStoreDown
	}
	return d.Driver.Update(ctx, opts, fn)
}

// TestLoggerReportsLeaseRenewalTrouble: renewals that fail are retried;
// the streak is logged by its first failure and by the renewal that
// works again, and the operation goes on.
func TestLoggerReportsLeaseRenewalTrouble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		drv := &renewalFails{Driver: memory.NewDriver()}
		st := store.New(drv, nil)
		reg, err := st.Register(ctx, &product.Document{Name: "shop", ProviderName: "tests", StackDeps: threeTiers()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := newRecordingHandler()
		// Each stack takes a minute to get ready: renewals fall due.
		ex := deploy.New(sim.New(&sim.Options{ReadyLatency: time.Minute}), st, &deploy.Options{Logger: slog.New(h)})
		defer ex.Close()
		res, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: reg.Version.ID, OnEvent: func(ev deploy.Event) {
			if ev.Type == deploy.EventOperationStarted {
				drv.fail.Store(2) // the lease is taken: its next two renewals fail
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		n, again := 0, 0
		for _, r := range h.all() {
			switch r.msg {
			case "lease renewal failed; retrying":
				n++
				if r.level != slog.LevelWarn || r.attrs["operation"] != res.Operation.ID || !strings.Contains(r.attrs["error"], errStoreDown.Error()) {
					t.Errorf("record %+v", r)
				}
			case "lease renewed again":
				again++
				if r.level != slog.LevelInfo || r.attrs["operation"] != res.Operation.ID || r.attrs["failed_renewals"] != "2" {
					t.Errorf("record %+v, want Info with failed_renewals 2", r)
				}
			}
		}
		if n != 1 || again != 1 {
			t.Fatalf("%d renewal failures and %d recoveries logged, want 1 of each; records: %+v", n, again, h.all())
		}
	})
}

// TestLogsNeverShowSecrets: what the runtime says in an error that the
// executor logs passes the redactor, as in events; events logged through
// slog show no secret either.
func TestLogsNeverShowSecrets(t *testing.T) {
	h := newRecordingHandler()
	e := newEnv(t, nil, &deploy.Options{Logger: slog.New(h)})
	deps := threeTiers()
	deps[0][0].Services[0].Envs = []string{"MYSQL_ROOT_PASSWORD=hunter2-secret"}
	vid := e.version("v1", deps)
	e.rt.Inject(sim.Fault{Kind: sim.FailApply, Stack: "db",
		Err: fmt.Errorf("%w: engine overloaded by MYSQL_ROOT_PASSWORD=hunter2-secret", runtime.ErrUnavailable)})
	if _, err := e.ex.Launch(context.Background(), deploy.Request{Deployment: "shop", VersionID: vid}); err == nil {
		t.Fatal("launch succeeded")
	}
	logger := slog.New(h)
	for _, ev := range e.eventLog() {
		logger.Info("event", "event", ev)
	}
	slowed := false
	for _, r := range h.all() {
		for k, v := range r.attrs {
			if strings.Contains(v, "hunter2") {
				t.Fatalf("record %q shows the secret in %s: %s", r.msg, k, v)
			}
		}
		if strings.HasPrefix(r.msg, "runtime unavailable") {
			slowed = true
			if !strings.Contains(r.attrs["error"], "<redacted>") {
				t.Errorf("slow-down record lost its error: %+v", r)
			}
		}
	}
	if !slowed {
		t.Fatalf("no slow-down logged; records: %+v", h.all())
	}
}

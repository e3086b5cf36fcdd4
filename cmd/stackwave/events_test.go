package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
	"github.com/stackwave/stackwave/store/sqlite"
)

// markWriter records what a command writes and calls done once it has
// written mark.
type markWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	mark string
	done func()
}

func (w *markWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.mark) {
		w.done()
	}
	return len(p), nil
}

func (w *markWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// webVersion registers the product web, one nginx service, and its
// version v1.
func webVersion(t *testing.T, st *store.Store) (*product.Product, *product.Version) {
	t.Helper()
	ctx := context.Background()
	p, err := st.CreateProduct(ctx, &product.Product{Name: "web", ProviderName: "tests"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v1", Active: true, StackDeps: stack.Deps{{{
		Name: "web", Services: []stack.Service{{Name: "nginx", UnitType: "1U1G", Image: stack.Image{Name: "nginx", Tag: "1.27"}}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	return p, v
}

// runningOperation writes to a SQLite store a deployment whose launch
// runs (its owner holds the lease for an hour) and has two events.
func runningOperation(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "stackwave.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, v := webVersion(t, st)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	op := store.Operation{ID: "op-running00000000", Type: store.OpLaunch, Status: store.OpInProgress, ToVersionID: v.ID,
		Policy: "fail-fast", Owner: "other-replica", StartedAt: start}
	if _, err := st.CreateDeployment(ctx, &store.Deployment{Name: "web-1", ProductID: p.ID, VersionID: v.ID, TargetVersionID: v.ID,
		Runtime: "sim", Status: store.StatusUnderChange, Operations: []store.Operation{op}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLease(ctx, "web-1", "other-replica", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(ctx, "web-1",
		store.Event{OperationID: op.ID, Time: start, Type: "operation-started", Message: "launch started"},
		store.Event{OperationID: op.ID, Time: start, Type: "stack-applying", Stack: "web", Message: "applying"},
	); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestEventsCaughtUpBothModes: events --follow of a running operation
// prints its stored events, then the caught-up mark, the same on the
// local store and against a server; without --follow it prints the
// stored events and returns.
func TestEventsCaughtUpBothModes(t *testing.T) {
	db := runningOperation(t)
	local := []string{"--store", "sqlite:" + db, "--runtime", "memory", "--allow-ephemeral-runtime"}
	s := startServe(t, nil, "--store", "sqlite:"+db, "--runtime", "memory", "--lease-ttl", "1h")
	remote := []string{"--server", s.url}
	for _, tc := range []struct {
		args []string
		mark string
	}{
		{[]string{"events", "web-1", "--follow"}, "-- caught up: following live events --\n"},
		{[]string{"events", "web-1", "--follow", "-o", "json"}, `{"caught_up":true}` + "\n"},
		{[]string{"events", "web-1", "--follow", "--after-seq", "1", "-o", "yaml"}, "- caught_up: true\n"},
	} {
		var outs []string
		for _, mode := range [][]string{local, remote} {
			ctx, cancel := context.WithCancel(context.Background())
			out := &markWriter{mark: tc.mark, done: cancel}
			var errOut bytes.Buffer
			runEnv(append(append([]string{}, tc.args...), mode...), &cliEnv{stdin: strings.NewReader(""), stdout: out, stderr: &errOut, ctx: ctx})
			cancel()
			got := out.String()
			if !strings.HasSuffix(got, tc.mark) || !strings.Contains(got, "stack-applying") {
				t.Errorf("%v %v: want the stored events, then %q:\n%s%s", tc.args, mode, tc.mark, got, errOut.String())
			}
			outs = append(outs, got)
		}
		if outs[0] != outs[1] {
			t.Errorf("%v: local and remote differ:\n--- local\n%s--- remote\n%s", tc.args, outs[0], outs[1])
		}
	}
	// Without --follow: the stored events, no mark, and the command ends.
	var outs []string
	for _, mode := range [][]string{local, remote} {
		code, out, errOut := cli(t, "", append([]string{"events", "web-1"}, mode...)...)
		if code != 0 || strings.Contains(out, "caught up") || strings.Count(out, "\n") != 2 {
			t.Errorf("events %v: exit %d\n%s%s", mode, code, out, errOut)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("without --follow, local and remote differ:\n--- local\n%s--- remote\n%s", outs[0], outs[1])
	}
}

// events --follow on the local store ends once the operation ended, also
// without its last event in the log: when it ended between the first read
// of the record and the subscription, and when it ends while followed.
func TestEventsFollowEndsWithTheOperation(t *testing.T) {
	for _, when := range []string{"before the subscription", "while followed"} {
		t.Run(when, func(t *testing.T) {
			var st *store.Store
			var armed atomic.Bool
			end := func(ctx context.Context) error {
				d, err := st.GetDeployment(ctx, "web-1")
				if err != nil {
					return err
				}
				d.Status = store.StatusError
				d.Operations[0].Status, d.Operations[0].EndedAt = store.OpFailed, time.Now()
				_, err = st.UpdateDeployment(ctx, d)
				return err
			}
			endErr := make(chan error, 1)
			st = store.New(store.WrapDriver(memory.NewDriver(), store.DriverHooks{
				After: func(ctx context.Context, c store.DriverCall, _ time.Duration, err error) {
					// The first read of the record.
					if c.Method == "Deployment" && c.Key == "web-1" && err == nil && armed.CompareAndSwap(true, false) {
						endErr <- end(context.WithoutCancel(ctx))
					}
				},
			}), nil)
			ex := deploy.New(sim.New(nil), st, nil)
			t.Cleanup(func() { ex.Close() })
			p, v := webVersion(t, st)
			ctx, cancel := context.WithTimeout(context.Background(), waitfor.Generous)
			defer cancel()
			if _, err := st.CreateDeployment(ctx, &store.Deployment{Name: "web-1", ProductID: p.ID, VersionID: v.ID,
				Operations: []store.Operation{{ID: "op-1", Type: store.OpLaunch, Status: store.OpInProgress, ToVersionID: v.ID, StartedAt: time.Now()}}}); err != nil {
				t.Fatal(err)
			}
			if err := st.AppendEvents(ctx, "web-1", store.Event{OperationID: "op-1", Time: time.Now(), Type: "operation-started"}); err != nil {
				t.Fatal(err)
			}
			var caughtUp func()
			if when == "before the subscription" {
				armed.Store(true)
			} else {
				caughtUp = func() { endErr <- end(ctx) }
			}
			var got []string
			l := &localDeployments{ex: ex}
			err := l.Events(ctx, "web-1", "", 0, true, func(e api.Event) { got = append(got, e.Type) }, caughtUp)
			if err != nil {
				t.Fatalf("events --follow: %v (want it to end once the operation ended)", err)
			}
			if err := <-endErr; err != nil {
				t.Fatalf("ending the operation: %v", err)
			}
			if !slices.Equal(got, []string{"operation-started"}) {
				t.Errorf("events %q, want the operation's one", got)
			}
		})
	}
}

package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/pgtest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/postgres"
	"github.com/stackwave/stackwave/store/sqlite"
)

// endSpec is a version of two tiers, the first of two stacks, so that an
// operation appends a few events before its last.
func endSpec(tag string) stack.Deps {
	svc := func(name string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: "app", Tag: tag}}
	}
	return stack.Deps{
		{{Name: "db", Services: []stack.Service{svc("pg")}}, {Name: "cache", Services: []stack.Service{svc("redis")}}},
		{{Name: "web", Services: []stack.Service{svc("nginx")}}},
	}
}

// endSeen is what a reader found when it saw an operation's last event.
type endSeen struct {
	op      string
	problem string // empty when the record agreed
}

// checkEnd reads the record after e, the last event of an operation, and
// says how it disagrees with e, if it does.
func checkEnd(ctx context.Context, st *store.Store, name string, e store.Event) string {
	d, err := st.GetDeployment(ctx, name)
	if err != nil {
		return fmt.Sprintf("reading the record after %s: %v", e.Type, err)
	}
	op := d.Operation(e.OperationID)
	want := store.OpSucceeded
	if e.Type == string(deploy.EventOperationFailed) {
		want = store.OpFailed
	}
	switch {
	case op == nil:
		return fmt.Sprintf("%s of %s, but the record has no such operation", e.Type, e.OperationID)
	case op.Status != want || d.Status == store.StatusUnderChange:
		return fmt.Sprintf("%s of %s, but the record read after it says the operation is %s and the deployment %s", e.Type, e.OperationID, op.Status, d.Status)
	}
	// The lease went with them: the next operation may start at once,
	// from any process.
	if l, err := st.GetLease(ctx, name); !errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("%s of %s, but the lease is still there: %+v (%v)", e.Type, e.OperationID, l, err)
	}
	return ""
}

func isEnd(t string) bool {
	return t == string(deploy.EventOperationDone) || t == string(deploy.EventOperationFailed)
}

// A reader that sees an operation's last event, in the store's log or
// from the executor's callback, and then reads the deployment record,
// finds the operation ended with the status the event says, and the
// lease released: the last event, the ended record and the release are
// written in one transaction. Many
// operations, succeeding and failing, on SQLite and on PostgreSQL; on
// PostgreSQL the reader is another Store on the database, woken by the
// server's notifications as another replica would be.
func TestEndEventFindsTheRecordEnded(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (writer, reader *store.Store){
		"sqlite": func(t *testing.T) (*store.Store, *store.Store) {
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "end.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			// SQLite wakes subscribers in the writing process only.
			return st, st
		},
		"postgres": func(t *testing.T) (*store.Store, *store.Store) {
			url := pgtest.NewDatabase(t)
			var sts [2]*store.Store
			for i := range sts {
				st, err := postgres.Open(t.Context(), url, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				sts[i] = st
			}
			return sts[0], sts[1]
		},
	} {
		t.Run(name, func(t *testing.T) { testEndEventFindsTheRecordEnded(t, open) })
	}
}

func testEndEventFindsTheRecordEnded(t *testing.T, open func(t *testing.T) (writer, reader *store.Store)) {
	const (
		name = "seen"
		ops  = 16
	)
	st, reader := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The executor's callback reads the record on seeing the end, too.
	var mu sync.Mutex
	var callbackProblems []string
	rt := sim.New(nil)
	ex := deploy.New(rt, st, &deploy.Options{OnEvent: func(e deploy.Event) {
		if !isEnd(string(e.Type)) {
			return
		}
		if p := checkEnd(ctx, st, name, store.Event{OperationID: e.OperationID, Type: string(e.Type)}); p != "" {
			mu.Lock()
			callbackProblems = append(callbackProblems, "callback: "+p)
			mu.Unlock()
		}
	}})
	defer ex.Close()

	p, err := st.CreateProduct(ctx, &product.Product{Name: "end-seen", ProviderName: "tests"})
	if err != nil {
		t.Fatal(err)
	}
	var versions [2]string
	for i := range versions {
		v, err := st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: fmt.Sprint("v", i), Active: true, StackDeps: endSpec(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		versions[i] = v.ID
	}

	// The reader follows the log from before the launch.
	sub, err := reader.SubscribeEvents(ctx, name, store.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	seen := make(chan endSeen, ops)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			evs, err := sub.Next(ctx)
			if errors.Is(err, store.ErrNotFound) {
				// Not launched yet: the record's creation wakes us.
				select {
				case <-ctx.Done():
					return
				case <-sub.Changed():
				}
				continue
			}
			if err != nil {
				return
			}
			for _, e := range evs {
				if isEnd(e.Type) {
					seen <- endSeen{op: e.OperationID, problem: checkEnd(ctx, reader, name, e)}
				}
			}
		}
	}()
	defer func() { cancel(); <-readerDone }()

	for i := range ops {
		op, req := store.OpUpdate, deploy.Request{Deployment: name, VersionID: versions[i%2]}
		if i == 0 {
			op = store.OpLaunch
		}
		failing := i%4 == 3
		if failing {
			rt.Inject(sim.Fault{Kind: sim.FailApply, Deployment: name, Stack: "web"})
		}
		h, err := ex.Submit(ctx, op, req)
		if err != nil {
			t.Fatalf("operation %d: %v", i, err)
		}
		res, err := h.Wait(ctx)
		rt.ClearFaults()
		if failing != (err != nil) {
			t.Fatalf("operation %d (failing: %t): %v", i, failing, err)
		}
		select {
		case s := <-seen:
			if s.op != res.Operation.ID {
				t.Fatalf("operation %d is %s, the reader saw the end of %s", i, res.Operation.ID, s.op)
			}
			if s.problem != "" {
				t.Errorf("operation %d: %s", i, s.problem)
			}
		case <-time.After(2 * time.Minute): // a last guard only
			t.Fatalf("operation %d (%s) ended; the reader did not see its last event", i, res.Operation.ID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range callbackProblems {
		t.Error(p)
	}
}

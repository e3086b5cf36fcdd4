package deploytest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/deploy/deploytest"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTB records a fatal failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	if f.failed == "" {
		f.failed = fmt.Sprintf(format, args...)
	}
}

func svc(name string) stack.Service {
	return stack.Service{Name: name, UnitType: "1U1G", Image: stack.Image{Name: name, Tag: "1"}}
}

func deps() stack.Deps {
	return stack.Deps{
		{{Name: "db", Services: []stack.Service{svc("mysql")}}, {Name: "cache", Services: []stack.Service{svc("redis")}}},
		{{Name: "api", Services: []stack.Service{svc("server")}}, {Name: "worker", Services: []stack.Service{svc("job")}, DependsOn: []string{"db"}}},
	}
}

func launch(t *testing.T, rec *deploytest.Recorder) {
	t.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	ex := deploy.New(sim.New(nil), st, &deploy.Options{OnEvent: rec.Record})
	defer ex.Close()
	reg, err := st.Register(ctx, &product.Document{Name: "shop", ProviderName: "tests", StackDeps: deps()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: reg.Version.ID}); err != nil {
		t.Fatal(err)
	}
}

func TestAssertionsOnALaunch(t *testing.T) {
	rec := new(deploytest.Recorder)
	launch(t, rec)
	evs := rec.Events()
	deploytest.RequireTierOrder(t, evs, deps())
	deploytest.RequireSequence(t, evs,
		deploytest.Type(deploy.EventOperationStarted),
		deploytest.Stack(deploy.EventStackReady, "db"),
		deploytest.Stack(deploy.EventStackApplying, "worker"),
		deploytest.Type(deploy.EventOperationDone))
	if n := len(deploytest.Filter(evs, deploytest.All(deploytest.Deployment("shop"), deploytest.Type(deploy.EventStackReady)))); n != 4 {
		t.Errorf("%d stack-ready events, want 4", n)
	}

	// The assertions fail when the order is not the one asked for.
	ft := &fakeTB{TB: t}
	deploytest.RequireSequence(ft, evs, deploytest.Type(deploy.EventOperationDone), deploytest.Type(deploy.EventOperationStarted))
	if !strings.Contains(ft.failed, "match 2 of 2") {
		t.Errorf("RequireSequence out of order: %q", ft.failed)
	}
	swapped := append([]deploy.Event(nil), evs...)
	slicesReverse(swapped)
	ft = &fakeTB{TB: t}
	deploytest.RequireTierOrder(ft, swapped, deps())
	if !strings.Contains(ft.failed, "api applying") || !strings.Contains(ft.failed, "worker applying") {
		t.Errorf("RequireTierOrder on reversed events: %q", ft.failed)
	}
}

func slicesReverse(evs []deploy.Event) {
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
}

// TestWait: Wait returns an event recorded before or after it was
// called, and gives up with the context's cause.
func TestWait(t *testing.T) {
	var rec deploytest.Recorder
	rec.Record(deploy.Event{Type: deploy.EventStackReady, Stack: "a"})
	if e, err := rec.Wait(context.Background(), deploytest.Stack(deploy.EventStackReady, "a")); err != nil || e.Stack != "a" {
		t.Fatalf("Wait for a recorded event: %v, %v", e, err)
	}
	got := make(chan deploy.Event)
	go func() {
		e, _ := rec.Wait(context.Background(), deploytest.Stack(deploy.EventStackReady, "b"))
		got <- e
	}()
	rec.Record(deploy.Event{Type: deploy.EventStackApplying, Stack: "b"})
	rec.Record(deploy.Event{Type: deploy.EventStackReady, Stack: "b"})
	if e := <-got; e.Type != deploy.EventStackReady || e.Stack != "b" {
		t.Fatalf("Wait returned %v", e)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := fmt.Errorf("gave up")
	cancel(cause)
	if _, err := rec.Wait(ctx, deploytest.Type(deploy.EventOperationDone)); err == nil || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Wait on a done context: %v", err)
	}
	rec.Reset()
	if len(rec.Events()) != 0 {
		t.Fatal("Reset kept events")
	}
}

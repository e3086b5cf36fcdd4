package docker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

func TestApplyWaitObserveRemove(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 2*time.Minute)
	api := web(t, "api", 8080)
	api.Instances = 2
	worker := stack.Service{Name: "worker", UnitType: "1U1G", Image: img(t), Envs: []string{"TESTAPP_SERVICE=worker"}}
	spec := stackSpec("d1", "app", 0, api, worker)
	var events []runtime.Event
	report := func(e runtime.Event) { events = append(events, e) }

	must(t, rt.Apply(ctx, spec, report))
	must(t, rt.Wait(ctx, spec, report))
	st, err := rt.Observe(ctx, "d1")
	must(t, err)
	b, _ := json.MarshalIndent(st, "", "  ")
	t.Logf("%s", b)
	if st.Status() != runtime.StatusRunning {
		t.Fatalf("status %s", st.Status())
	}
	addr := endpoint(t, rt, "d1", "app", "api", 8080)
	code, body, err := get("http://" + addr + "/")
	if err != nil || code != 200 || !strings.Contains(body, `"service": "api"`) {
		t.Fatalf("GET %s: %d %q %v", addr, code, body, err)
	}
	for _, e := range events {
		t.Logf("event %s %s/%s %s", e.Type, e.Stack, e.Service, e.Message)
	}
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}))
	st, err = rt.Observe(context.Background(), "d1")
	must(t, err)
	if len(st.Stacks) != 0 {
		t.Fatalf("after remove: %+v", st)
	}
}

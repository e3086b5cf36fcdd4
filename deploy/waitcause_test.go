package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// An operation's timeout that stops a wait names what the runtime last
// said of the stack, in the operation's error and in the stack's record,
// not only the clock.
func TestTimeoutNamesTheWaitsCause(t *testing.T) {
	e := newEnv(t, nil, nil)
	e.rt.Inject(sim.Fault{Kind: sim.NeverReady, Stack: "db", Service: "pg"})
	ctx := context.Background()
	v := e.version("v1", stack.Deps{{{
		Name: "db", Services: []stack.Service{{Name: "pg", UnitType: "1U1G", Image: stack.Image{Name: "postgres", Tag: "16"}}},
	}}})
	// The service never becomes ready: however loaded the machine, the
	// timeout is what ends the wait.
	res, err := e.ex.Launch(ctx, deploy.Request{Deployment: "d", VersionID: v, Timeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("launch of a never-ready service succeeded")
	}
	for _, want := range []string{"operation timed out after 300ms", "stack db", "service pg", "readiness probe has not passed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if res.Operation.Status != store.OpFailed || !strings.Contains(res.Operation.Message, "readiness probe has not passed") {
		t.Errorf("recorded operation %s: %q, want the wait's cause", res.Operation.Status, res.Operation.Message)
	}
	d, err := e.st.GetDeployment(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	for _, s := range d.Stacks {
		if s.Name == "db" {
			msg = s.Message
		}
	}
	if !strings.HasPrefix(msg, "stopped waiting: operation timed out after 300ms; ") || !strings.Contains(msg, "service pg") {
		t.Errorf("stack db recorded %q, want the timeout and the wait's cause", msg)
	}
}

package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/redact"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// An operation's timeout that stops a wait names what the runtime last
// said of the stack, redacted, in the operation's error and record and in
// the stack's record, not only the clock.
func TestTimeoutNamesTheWaitsCause(t *testing.T) {
	const password = "hunter2-pg"
	e := newEnv(t, nil, nil)
	e.rt.Inject(sim.Fault{Kind: sim.NeverReady, Stack: "db", Service: "pg",
		Err: errors.New("claim data-pg-0 not bound (pg started with POSTGRES_PASSWORD=" + password + ")")})
	ctx := context.Background()
	v := e.version("v1", stack.Deps{{{
		Name: "db", Services: []stack.Service{{Name: "pg", UnitType: "1U1G", Image: stack.Image{Name: "postgres", Tag: "16"},
			Envs: []string{"POSTGRES_PASSWORD=" + password}}},
	}}})
	// The service never becomes ready: however loaded the machine, the
	// timeout is what ends the wait.
	res, err := e.ex.Launch(ctx, deploy.Request{Deployment: "d", VersionID: v, Timeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("launch of a never-ready service succeeded")
	}
	d, gerr := e.st.GetDeployment(ctx, "d")
	if gerr != nil {
		t.Fatal(gerr)
	}
	var stackMsg string
	for _, s := range d.Stacks {
		if s.Name == "db" {
			stackMsg = s.Message
		}
	}
	if !strings.HasPrefix(stackMsg, "stopped waiting: operation timed out after 300ms; ") {
		t.Errorf("stack db recorded %q, want the timeout first", stackMsg)
	}
	for what, msg := range map[string]string{"error": err.Error(), "recorded operation": res.Operation.Message, "stack db's record": stackMsg} {
		for _, want := range []string{"operation timed out after 300ms", "stack db", "service pg", "claim data-pg-0 not bound", redact.Marker} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s %q does not say %q", what, msg, want)
			}
		}
		if strings.Contains(msg, password) {
			t.Errorf("%s shows the password: %q", what, msg)
		}
	}
	if res.Operation.Status != store.OpFailed {
		t.Errorf("operation %s, want failed", res.Operation.Status)
	}
}

package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// One control plane per test binary, started by the first Shared call.
var shared struct {
	mu      sync.Mutex
	started bool
	env     *Env
	err     error
}

// Shared returns the control plane shared by all tests of the test binary,
// starting it on first use with default Options. Starting takes seconds, so
// a package with many tests should use Shared rather than Start, give each
// test its own namespace (Env.NewNamespace) and stop it from TestMain:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//
// If the control plane cannot be started, or one of its processes has died,
// Shared fails t (and every later caller) with the reason; it never skips.
// Tests that stop the API server should use Start instead.
func Shared(t testing.TB) *Env {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		shared.started = true
		began := time.Now()
		shared.env, shared.err = start("", nil)
		if shared.err == nil {
			t.Logf("kubetest: shared control plane at %s ready in %s (%s), state in %s",
				shared.env.Config.Host, time.Since(began).Round(time.Millisecond), &shared.env.phases, shared.env.Dir)
		}
	}
	if shared.err != nil {
		t.Fatalf("kubetest: start shared control plane: %v", shared.err)
	}
	if msg := shared.env.unexpectedExits(); msg != "" {
		t.Fatalf("kubetest: shared control plane is broken: %s", msg)
	}
	return shared.env
}

// StopShared stops the control plane started by Shared, if any, and removes
// its state directory (kept when STACKWAVE_KUBETEST_KEEP is set). Call it
// from TestMain after m.Run; Main does so.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.env == nil {
		return
	}
	if msg := shared.env.unexpectedExits(); msg != "" {
		fmt.Fprintf(os.Stderr, "kubetest: shared control plane: %s\n", msg)
	}
	if !shared.env.removeDir {
		fmt.Fprintf(os.Stderr, "kubetest: shared control plane state kept in %s\n", shared.env.Dir)
	}
	shared.env.Stop()
	shared.env, shared.started = nil, false
}

// Main runs the tests of m, stops the shared control plane, fails the run
// when a test left a goroutine behind (goleak.Find with opts, which name
// the goroutines a package knowingly keeps, and ClientGoIdle), and exits
// with the tests' status. Use it as the whole of TestMain:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	StopShared()
	if code == 0 {
		if err := goleak.Find(append(ClientGoIdle(), opts...)...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// ClientGoIdle are goleak options for the goroutines of idle HTTP
// connections: client-go keeps its transports in a process-wide cache
// (k8s.io/client-go/transport), so connections to an API server outlive
// every client that used them, and no client can close them.
func ClientGoIdle() []goleak.Option {
	// Anywhere in the stack: blocked in a read, such a goroutine has the
	// network poller on top, as any goroutine reading a socket does.
	return []goleak.Option{
		goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	}
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/sqlite"
)

// syncBuffer collects what a command running in a goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// server is "stackwave serve" running in process.
type server struct {
	url    string
	stderr *syncBuffer
	stop   func() int // ends serve as SIGTERM does; returns its exit code
}

// serve starts "stackwave serve args..." on a free loopback port.
func serve(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	env := &cliEnv{stdin: strings.NewReader(""), stdout: &syncBuffer{}, stderr: s.stderr, ctx: ctx,
		listening: func(url string) { ready <- url }}
	exit := make(chan int, 1)
	go func() { exit <- runServe(append([]string{"--addr", "127.0.0.1:0"}, args...), env) }()
	select {
	case s.url = <-ready:
	case code := <-exit:
		cancel()
		t.Fatalf("serve exited with %d:\n%s", code, s.stderr)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("serve did not start:\n%s", s.stderr)
	}
	stopped := false
	s.stop = func() int {
		stopped = true
		cancel()
		select {
		case code := <-exit:
			return code
		case <-time.After(40 * time.Second):
			t.Fatalf("serve did not stop:\n%s", s.stderr)
			return -1
		}
	}
	t.Cleanup(func() {
		if !stopped {
			s.stop()
		}
	})
	return s
}

// client runs a client command against the server, with env giving the
// environment variables.
func (s *server) client(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &cliEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, env: func(k string) string { return env[k] }}
	if _, ok := env["STACKWAVE_SERVER"]; !ok {
		args = append(args, "--server", s.url)
	}
	code = runEnv(args, e)
	return code, out.String(), errOut.String()
}

func TestServeRefusals(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0", "--runtime", "memory", "--store", "memory:"}, 2, "--addr 0.0.0.0:0 is not a loopback address: without --policy every caller may do everything"},
		{[]string{"--addr", ":8080", "--runtime", "memory", "--store", "memory:"}, 2, "is not a loopback address"},
		{[]string{"--runtime", "docker", "--store", "memory:"}, 5, "docker engine unreachable"},
		{[]string{"--runtime", "kube", "--store", "memory:"}, 5, "kubernetes: no usable kubeconfig"},
		{[]string{"--runtime", "podman", "--store", "memory:"}, 2, `unknown runtime "podman": want docker, kube or memory`},
		{[]string{"--runtime", "memory", "--store", "mongodb://x"}, 2, "unknown scheme"},
		{[]string{"--runtime", "memory", "--store", "memory:", "--tokens", "/nonexistent"}, 2, "tokens:"},
		{[]string{"--runtime", "memory", "--store", "memory:", "--policy", "/nonexistent"}, 2, "policy:"},
		{[]string{"--runtime", "memory", "stray"}, 2, `unexpected argument "stray"`},
		{[]string{"--runtime", "memory", "--lease-ttl", "10ms"}, 2, "--lease-ttl 10ms: want 1s or more"},
	}
	// No engine answers here, whatever runs on this machine.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-kubeconfig"))
	t.Setenv("HOME", t.TempDir())
	for _, tc := range tests {
		code, _, errOut := cli(t, "", append([]string{"serve"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	ctx := context.Background()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "127.0.0.2:1": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.1.2.3:80": false, "nonsense": false,
	} {
		if got := isLoopback(ctx, addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

// The products commands against a real serve process' code, on SQLite and
// the simulated runtime.
func TestServeAndProducts(t *testing.T) {
	db := filepath.Join(t.TempDir(), "stackwave.db")
	s := serve(t, "--store", "sqlite:"+db, "--runtime", "memory")
	if !strings.Contains(s.stderr.String(), "no --policy: every caller may do everything, so the server listens on loopback only") {
		t.Errorf("stderr:\n%s", s.stderr)
	}

	code, out, errOut := s.client(t, nil, "products", "create", "-f", seedFile)
	if code != 0 || !strings.HasPrefix(out, "created product kodo-double: product_id prod-") {
		t.Fatalf("create: exit %d\n%s%s", code, out, errOut)
	}
	// YAML is sent as JSON.
	yaml := writeFile(t, "web.yaml", "product_name: web\nstack_deps:\n- - stack_name: a\n    services:\n    - {service_name: s, unit_type: 1U1G, image: {name: nginx, tag: '1.27'}}\n")
	if code, out, errOut := s.client(t, nil, "products", "create", "-f", yaml, "-o", "json"); code != 0 || !strings.Contains(out, `"product_version_id": "pv-`) {
		t.Errorf("create YAML: exit %d\n%s%s", code, out, errOut)
	}

	// The same document again answers the same records; another one under
	// the name is a duplicate.
	first := out
	if code, out, errOut := s.client(t, nil, "products", "create", "-f", seedFile); code != 0 || out != first {
		t.Errorf("create the same document twice: exit %d\n%s%s\nwant %s", code, out, errOut, first)
	}
	seed, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	other := writeFile(t, "other.json", strings.Replace(string(seed), `"tag": "latest"`, `"tag": "other"`, 1))
	code, out, errOut = s.client(t, nil, "products", "create", "-f", other)
	if code != 2 || out != "" || !strings.Contains(errOut, "stackwave: 400 Invalid ProductName or StackDeps (request req-") ||
		!strings.Contains(errOut, `  product_name: Duplicate: a product named "kodo-double" already exists`) {
		t.Errorf("create another document under the name: exit %d\n%s%s", code, out, errOut)
	}
	broken := writeFile(t, "broken.json", `{"product_name": "x", "stack_deps": [[{"stack_name": "a", "services": [{"service_name": "s", "instances": "two"}]}]]}`)
	if code, _, errOut := s.client(t, nil, "products", "create", "-f", broken); code != 2 || !strings.Contains(errOut, "instances") {
		t.Errorf("create broken: exit %d\n%s", code, errOut)
	}

	code, out, _ = s.client(t, nil, "products", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[1], "kodo-double") ||
		!strings.Contains(lines[2], " web ") || lines[3] != "page 1 of 1, 2 products" {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	code, out, _ = s.client(t, nil, "products", "list", "--page-size", "1", "--page", "2", "-q", "WEB")
	if code != 0 || !strings.Contains(out, "page 2 of 1, 1 products") {
		t.Errorf("list page 2: exit %d\n%s", code, out)
	}

	code, out, _ = s.client(t, nil, "products", "get", "kodo-double")
	if code != 0 || !strings.Contains(out, "product     kodo-double (prod-") || !strings.Contains(out, "v1  Default  active  2 tiers, 3 stacks, 3 services") {
		t.Errorf("get: exit %d\n%s", code, out)
	}
	// Flags after the argument, JSON out.
	code, out, _ = s.client(t, nil, "products", "get", "kodo-double", "-o", "json")
	if code != 0 || !strings.Contains(out, `"MYSQL_ALLOW_EMPTY_PASSWORD=<redacted>"`) {
		t.Errorf("get -o json: exit %d\n%s", code, out)
	}

	code, out, _ = s.client(t, nil, "products", "delete", "kodo-double")
	if code != 0 || !strings.HasPrefix(out, "deleted product kodo-double (prod-") {
		t.Errorf("delete: exit %d\n%s", code, out)
	}
	code, _, errOut = s.client(t, nil, "products", "get", "kodo-double")
	if code != 3 || !strings.Contains(errOut, "stackwave: 404 Not found") || !strings.Contains(errOut, `NotFound: no product "kodo-double"`) {
		t.Errorf("get after delete: exit %d\n%s", code, errOut)
	}

	for _, args := range [][]string{{"products", "get"}, {"products", "get", "a", "b"}, {"products", "list", "x"}, {"products", "frob"}, {"products", "list", "-o", "bogus"}} {
		if code, _, _ := s.client(t, nil, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}

	if code, out, errOut := s.client(t, nil, "products", "list", "-o", "yaml"); code != 0 || !strings.Contains(out, "page_size: ") {
		t.Errorf("list -o yaml: exit %d\n%s%s", code, out, errOut)
	}

	if code := s.stop(); code != 0 {
		t.Errorf("serve exit %d:\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "shutting down") {
		t.Errorf("stderr:\n%s", s.stderr)
	}
}

func TestServeWithPolicy(t *testing.T) {
	tokens := writeFile(t, "tokens", "admin-0123456789abcdef admin admins\nread-0123456789abcdef reader\n")
	policy := writeFile(t, "policy.json", `{"Statement": [
	  {"Effect": "Allow", "Principal": "group:admins", "Action": "stackwave:*", "Resource": "*"},
	  {"Effect": "Allow", "Principal": "reader", "Action": "stackwave:List*", "Resource": "*"}]}`)
	s := serve(t, "--store", "memory:", "--runtime", "memory", "--tokens", tokens, "--policy", policy)
	if strings.Contains(s.stderr.String(), "loopback only") {
		t.Errorf("stderr:\n%s", s.stderr)
	}
	admin := writeFile(t, "admin-token", "admin-0123456789abcdef\n")
	if code, out, errOut := s.client(t, nil, "products", "create", "-f", seedFile, "--token-file", admin); code != 0 {
		t.Fatalf("admin create: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := s.client(t, nil, "products", "list"); code != 1 || !strings.Contains(errOut, "401 Unauthorized") {
		t.Errorf("no token: exit %d\n%s", code, errOut)
	}
	env := map[string]string{"STACKWAVE_TOKEN": "read-0123456789abcdef", "STACKWAVE_SERVER": s.url}
	// The reader may list products but see none: the listing is empty,
	// its total too.
	if code, out, _ := s.client(t, env, "products", "list"); code != 0 || strings.Contains(out, "kodo-double") || !strings.Contains(out, "0 products") {
		t.Errorf("reader list: exit %d\n%s", code, out)
	}
	code, _, errOut := s.client(t, env, "products", "delete", "kodo-double")
	// The reader may not see products: it is told what a missing one
	// gets, and the server's audit log keeps the reason.
	if code != 3 || !strings.Contains(errOut, "404 Not found") || !strings.Contains(errOut, `no product "kodo-double"`) {
		t.Errorf("reader delete: exit %d\n%s", code, errOut)
	}
	if log := s.stderr.String(); !strings.Contains(log, "reader may not perform stackwave:DeleteProduct on swn:product/prod-") || !strings.Contains(log, "outcome=denied") {
		t.Errorf("the audit log lacks the denial:\n%s", log)
	}
}

// serve takes over, at start, an operation that a dead replica left
// behind once its lease has expired.
func TestServeResumesInterruptedOperations(t *testing.T) {
	db := filepath.Join(t.TempDir(), "stackwave.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, v := webVersion(t, st)
	op := store.Operation{ID: "op-interrupted0000", Type: store.OpLaunch, Status: store.OpInProgress, ToVersionID: v.ID,
		Policy: "fail-fast", Owner: "dead-replica", StartedAt: time.Now()}
	if _, err := st.CreateDeployment(ctx, &store.Deployment{Name: "web-1", ProductID: p.ID, VersionID: v.ID, TargetVersionID: v.ID,
		Runtime: "sim", Status: store.StatusUnderChange, Operations: []store.Operation{op}}); err != nil {
		t.Fatal(err)
	}
	// The dead replica's lease runs a while yet: serve finds it held at
	// start and takes over at a later round.
	if _, err := st.AcquireLease(ctx, "web-1", "dead-replica", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s := serve(t, "--store", "sqlite:"+db, "--runtime", "memory", "--lease-ttl", "1s")
	// The operation's events end once the takeover finished it.
	last := waitEvent(t, s.url, "web-1", op.ID, operationEnds)
	// The last event is stored with the record that ends the operation:
	// the record read once after it shows the outcome the event told.
	var res api.OperationResponse
	if err := (&api.Client{URL: s.url}).Do(ctx, http.MethodGet, "/api/deployments/web-1/operations/"+op.ID, nil, &res); err != nil {
		t.Fatal(err)
	}
	if last.Type != string(deploy.EventOperationDone) || res.Operation.Status != store.OpSucceeded {
		t.Fatalf("not resumed: last event %s, then the record %+v\n%s", last.Type, res.Operation, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), `msg="resuming an interrupted operation" deployment=web-1 operation_id=op-interrupted0000`) {
		t.Errorf("stderr:\n%s", s.stderr)
	}
}

package docker_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// engineProxy sits on a unix socket between a client and the engine's
// socket, so a test can cut the connection: every open connection at
// once, on demand or when a request containing a trigger string passes.
type engineProxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	trigger string
	seen    map[string]chan struct{} // closed when a request containing the key passes
	down    bool
	cuts    atomic.Int32
	accepts atomic.Int32
}

func newEngineProxy(t testing.TB) *engineProxy {
	t.Helper()
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		u, err := url.Parse(h)
		if err != nil || u.Scheme != "unix" {
			t.Fatalf("the engine proxy needs a unix DOCKER_HOST, got %q", h)
		}
		target = u.Path
	}
	dir, err := os.MkdirTemp("", "swproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "engine.sock"))
	if err != nil {
		t.Fatal(err)
	}
	p := &engineProxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}, seen: map[string]chan struct{}{}}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go p.serve()
	return p
}

// client returns an engine client that goes through the proxy.
func (p *engineProxy) client() *client.Client {
	cli, err := client.New(client.WithHost("unix://" + p.ln.Addr().String()))
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { cli.Close() })
	return cli
}

func (p *engineProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepts.Add(1)
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *engineProxy) pipe(c net.Conn) {
	e, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[e] = struct{}{}
	p.mu.Unlock()
	go func() {
		io.Copy(c, e)
		c.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hit := p.trigger != "" && bytes.Contains(buf[:n], []byte(p.trigger))
			if hit {
				p.trigger = ""
			}
			for s, ch := range p.seen {
				if bytes.Contains(buf[:n], []byte(s)) {
					close(ch)
					delete(p.seen, s)
				}
			}
			p.mu.Unlock()
			if hit {
				// The request never reaches the engine.
				p.cut()
				break
			}
			if _, err := e.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	e.Close()
	c.Close()
}

// cut closes every open connection.
func (p *engineProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cuts.Add(1)
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// passes returns a channel closed when a request containing s passes
// (after the call).
func (p *engineProxy) passes(s string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	p.seen[s] = ch
	return ch
}

// cutOn cuts every connection when a request containing s passes.
func (p *engineProxy) cutOn(s string) {
	p.mu.Lock()
	p.trigger = s
	p.mu.Unlock()
}

// setDown refuses new connections (and cuts the open ones) or lets them
// through again.
func (p *engineProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

// newProxiedRuntime is newRuntime with its engine client behind a proxy.
func newProxiedRuntime(t *testing.T) (*docker.Runtime, *engineProxy) {
	t.Helper()
	base := newRuntime(t, nil) // for the namespace and its cleanup
	p := newEngineProxy(t)
	o := base.Options()
	rt, err := docker.New(p.client(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, p
}

func TestEngineConnectionCutDuringApply(t *testing.T) {
	t.Parallel()
	rt, p := newProxiedRuntime(t)
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("cut", "app", 0, web(t, "s1", 8080), web(t, "s2", 8080), web(t, "s3", 8080))
	p.cutOn("/containers/create?name=" + rt.Options().Namespace + "-cut-app-s2-1")
	err := rt.Apply(ctx, spec, nil)
	t.Logf("Apply: %v", err)
	if err == nil || !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) {
		t.Fatalf("Apply through a cut connection: %v (mapped: %v)", err, runtime.MapError(rt, err))
	}
	if p.cuts.Load() == 0 {
		t.Fatal("the proxy never cut")
	}
	// The engine is reachable again: Apply converges, Remove cleans up.
	must(t, rt.Apply(ctx, spec, nil))
	must(t, rt.Wait(ctx, spec, nil))
	st, err := rt.Observe(ctx, "cut")
	must(t, err)
	if st.Status() != runtime.StatusRunning || len(st.Stack("app").Services) != 3 {
		t.Errorf("after a second Apply: %s %+v", st.Status(), st)
	}
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{DeleteData: true}))
	cs, nets, vols := leftovers(t, rt.Client(), rt.Options().Namespace)
	if len(cs)+len(nets)+len(vols) != 0 {
		t.Errorf("left: %v %v %v", cs, nets, vols)
	}
}

func TestEventStreamCutDuringWait(t *testing.T) {
	t.Parallel()
	rt, p := newProxiedRuntime(t)
	ctx := ctxT(t, 3*time.Minute)
	svc := web(t, "api", 8080, "TESTAPP_READY_AFTER=3s")
	svc.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8080/healthz"},
		Period: stack.Duration(200 * time.Millisecond)}
	spec := stackSpec("stream", "app", 0, svc)
	must(t, rt.Apply(ctx, spec, nil))
	events := p.passes("/events?")
	done := make(chan error, 1)
	go func() { done <- rt.Wait(ctx, spec, nil) }()
	select {
	case <-events: // Wait follows the engine's events
	case err := <-done:
		t.Fatalf("Wait returned before following the engine's events: %v", err)
	}
	p.cut() // the event stream (and anything else open) breaks
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Wait hangs after the event stream was cut")
	}
}

func TestEngineDownFailsPromptly(t *testing.T) {
	t.Parallel()
	rt, p := newProxiedRuntime(t)
	ctx := ctxT(t, 3*time.Minute)
	svc := web(t, "api", 8080, "TESTAPP_READY_AFTER=1h")
	svc.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "http", "http://127.0.0.1:8080/healthz"}}
	spec := stackSpec("down", "app", 0, svc)
	must(t, rt.Apply(ctx, spec, nil))
	events := p.passes("/events?")
	done := make(chan error, 1)
	go func() { done <- rt.Wait(ctx, spec, nil) }()
	select {
	case <-events: // Wait follows the engine's events
	case err := <-done:
		t.Fatalf("Wait returned before following the engine's events: %v", err)
	}
	p.setDown(true)
	select {
	case err := <-done:
		t.Logf("Wait: %v", err)
		if !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) {
			t.Errorf("Wait with the engine gone: %v", err)
		}
	case <-time.After(2 * time.Minute): // well before the context's end
		t.Fatal("Wait hangs with the engine gone")
	}
	for name, call := range map[string]func() error{
		"Apply":   func() error { return rt.Apply(ctx, spec, nil) },
		"Remove":  func() error { return rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}) },
		"Observe": func() error { _, err := rt.Observe(ctx, "down"); return err },
	} {
		start := time.Now()
		err := call()
		// Promptly: long before the context's three minutes end, however
		// loaded the machine.
		if !errors.Is(runtime.MapError(rt, err), runtime.ErrUnavailable) || time.Since(start) > time.Minute {
			t.Errorf("%s with the engine gone, after %s: %v", name, time.Since(start), err)
		}
	}
	p.setDown(false)
	must(t, rt.Remove(ctx, spec.Ref(), runtime.RemoveOptions{}))
}

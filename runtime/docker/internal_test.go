package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// These tests need no engine: the client points at a socket that does
// not exist.

func offlineRuntime(t *testing.T, opts *Options) *Runtime {
	t.Helper()
	return runtimeWith(t, opts, client.WithHost("unix:///nonexistent/stackwave-test.sock"))
}

// fakeEngineRuntime returns a runtime whose engine is h, served on
// loopback as API version 1.41, the pings answered before h. The
// runtime, its client and the server are closed when t ends, in that
// order.
func fakeEngineRuntime(t *testing.T, h http.Handler) *Runtime {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Write([]byte("OK"))
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return runtimeWith(t, nil, client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithAPIVersion("1.41"))
}

// runtimeWith returns a runtime on a client made with copts, both closed
// when t ends.
func runtimeWith(t *testing.T, opts *Options, copts ...client.Opt) *Runtime {
	t.Helper()
	cli, err := client.New(copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	r, err := New(cli, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestMapError(t *testing.T) {
	r := offlineRuntime(t, nil)
	_, connErr := r.cli.Ping(context.Background(), client.PingOptions{})
	for _, tc := range []struct {
		err  error
		want error
	}{
		{cerrdefs.ErrNotFound.WithMessage("No such container: x"), runtime.ErrNotFound},
		{fmt.Errorf("create: %w", cerrdefs.ErrConflict), runtime.ErrConflict},
		{cerrdefs.ErrAlreadyExists, runtime.ErrConflict},
		{cerrdefs.ErrInvalidArgument, runtime.ErrInvalid},
		{cerrdefs.ErrNotImplemented, runtime.ErrNotSupported},
		{cerrdefs.ErrUnavailable, runtime.ErrUnavailable},
		{connErr, runtime.ErrUnavailable},
		{&url.Error{Op: "Post", URL: "http://docker/containers/create", Err: io.EOF}, runtime.ErrUnavailable},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", cerrdefs.ErrNotFound)), runtime.ErrNotFound},
	} {
		got := runtime.MapError(r, tc.err)
		if !errors.Is(got, tc.want) {
			t.Errorf("MapError(%v) = %v, want it to match %v", tc.err, got, tc.want)
		}
		if !strings.Contains(got.Error(), tc.err.Error()) {
			t.Errorf("MapError(%v) lost the message: %v", tc.err, got)
		}
	}
	for _, err := range []error{context.Canceled, fmt.Errorf("x: %w", context.DeadlineExceeded), errors.New("other")} {
		if got := r.MapError(err); got != err {
			t.Errorf("MapError(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestOptions(t *testing.T) {
	r := offlineRuntime(t, nil)
	o := r.Options()
	if o.LabelPrefix != DefaultLabelPrefix || o.GracePeriod != DefaultGracePeriod || o.PullPolicy != PullIfNotPresent ||
		o.SettleTime != DefaultSettleTime || o.Parallelism != DefaultParallelism || o.AdvertiseHost != "127.0.0.1" ||
		o.HostIP != netip.MustParseAddr("127.0.0.1") ||
		o.BaseDomain != "localhost" || o.RestartPolicy != container.RestartPolicyDisabled {
		t.Errorf("defaults %+v", o)
	}
	if r := offlineRuntime(t, &Options{SettleTime: -1, HostIP: netip.MustParseAddr("127.0.0.1")}); r.opts.SettleTime != 0 || r.opts.AdvertiseHost != "127.0.0.1" {
		t.Errorf("options %+v", r.opts)
	}
	for _, bad := range []*Options{{PullPolicy: "Sometimes"}, {Namespace: "-x"}, {Namespace: "a b"}, {ProbeBinary: "/nonexistent/probe"}} {
		cli, _ := client.New(client.WithHost("unix:///nonexistent.sock"))
		if _, err := New(cli, bad); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
		cli.Close()
	}
	for _, all := range []string{"0.0.0.0", "::"} {
		// An explicit unspecified address opts in to every interface.
		if r := offlineRuntime(t, &Options{HostIP: netip.MustParseAddr(all)}); r.opts.HostIP.String() != all || r.opts.AdvertiseHost != "localhost" {
			t.Errorf("HostIP %s: options %+v", all, r.opts)
		}
	}
	if h := advertiseHost(netip.MustParseAddr("0.0.0.0"), "tcp://10.0.0.5:2376"); h != "10.0.0.5" {
		t.Errorf("advertise host for a tcp engine: %s", h)
	}
}

func TestNames(t *testing.T) {
	r := offlineRuntime(t, &Options{Namespace: "ns"})
	if got := r.containerName("dep", "mysql-cluster", "mysql-1", 2); got != "ns-dep-mysql-cluster-mysql-1-2" {
		t.Errorf("container name %s", got)
	}
	if got := r.networkName("dep"); got != "ns-dep-net" {
		t.Errorf("network name %s", got)
	}
	if got := r.domainHost("dep", "kodo-1", "authproxy-in"); got != "authproxy-in.kodo-1.dep.localhost" {
		t.Errorf("domain host %s", got)
	}
	args := []stack.VolumeArg{{MountPath: "/var/lib/mysql"}, {MountPath: "/a-b"}, {MountPath: "/a/b"}, {MountPath: "/"}, {MountPath: "/data/"}}
	if got, want := volumeSlugs(args), []string{"var-lib-mysql", "a-b-1", "a-b-2", "root", "data"}; !slices.Equal(got, want) {
		t.Errorf("volume slugs %v, want %v", got, want)
	}
	if got := hostname(strings.Repeat("x", 70), 3); len(got) > 63 {
		t.Errorf("hostname %q is too long", got)
	}
}

func TestCreateOptions(t *testing.T) {
	r := offlineRuntime(t, &Options{HostIP: netip.MustParseAddr("127.0.0.1"), ProbeBinary: "internal_test.go"})
	svc := stack.Service{
		Name: "web", UnitType: "2U4G", Image: stack.Image{Name: "nginx", Tag: "1.27"},
		Envs: []string{"A=1", "B=x y"}, Command: []string{"nginx", "-g", "daemon off;"},
		AccessPoints: []stack.AccessPoint{
			{Type: stack.AccessDomain, BackendPorts: []int{80}},
			{Type: stack.AccessPublicIP, BackendPorts: []int{53, 8443}, Proto: stack.ProtoUDP, HostPorts: []int{5353, 0}},
			{Type: stack.AccessInternalIP, BackendPorts: []int{9000}},
		},
		Readiness: &stack.Probe{Type: stack.ProbeHTTP, Port: 80, Path: "healthz", ExpectedCodes: []int{200, 204},
			Period: stack.Duration(500 * time.Millisecond), Timeout: stack.Duration(time.Minute)},
	}
	spec := &runtime.StackSpec{Deployment: "dep", ProductName: "p", ProductID: "prod-1", VersionID: "pv-1", Tier: 2,
		Stack: stack.Stack{Name: "front", Services: []stack.Service{svc}}}
	vols := []volumeMount{{name: "dep-front-web-1-data", path: "/data"}}
	opts, err := r.createOptions(context.Background(), spec, &spec.Stack.Services[0], 1, "sha256:abc", netRef{id: "n1", name: "dep-net"}, vols)
	if err != nil {
		t.Fatal(err)
	}
	cfg, host := opts.Config, opts.HostConfig
	if opts.Name != "dep-front-web-1" || cfg.Image != "nginx:1.27" || !slices.Equal(cfg.Cmd, svc.Command) || !slices.Equal(cfg.Env, svc.Envs) || len(cfg.Entrypoint) != 0 {
		t.Errorf("name %s config %+v", opts.Name, cfg)
	}
	if host.NanoCPUs != 2e9 || host.Memory != 4<<30 || host.MemorySwap != 4<<30 {
		t.Errorf("resources %+v", host.Resources)
	}
	for _, p := range []string{"80/tcp", "53/udp", "8443/udp", "9000/tcp"} {
		if _, ok := cfg.ExposedPorts[network.MustParsePort(p)]; !ok {
			t.Errorf("port %s not exposed: %v", p, cfg.ExposedPorts)
		}
	}
	if b := host.PortBindings[network.MustParsePort("53/udp")]; len(b) != 1 || b[0].HostPort != "5353" || b[0].HostIP.String() != "127.0.0.1" {
		t.Errorf("fixed binding %v", b)
	}
	if b := host.PortBindings[network.MustParsePort("80/tcp")]; len(b) != 1 || b[0].HostPort != "" {
		t.Errorf("engine-assigned binding %v", b)
	}
	if _, ok := host.PortBindings[network.MustParsePort("9000/tcp")]; ok {
		t.Error("an internal_ip port is published")
	}
	if len(host.Mounts) != 1 || host.Mounts[0] != (mount.Mount{Type: mount.TypeVolume, Source: "dep-front-web-1-data", Target: "/data"}) {
		t.Errorf("mounts %+v", host.Mounts)
	}
	hc := cfg.Healthcheck
	wantTest := []string{"CMD", "/.stackwave/probe", "-timeout", "1s", "http", "http://127.0.0.1:80/healthz", "200", "204"}
	if hc == nil || !slices.Equal(hc.Test, wantTest) || hc.Interval != 500*time.Millisecond || hc.StartPeriod != time.Minute || hc.Retries != 3 {
		t.Errorf("health check %+v", hc)
	}
	ep := opts.NetworkingConfig.EndpointsConfig["dep-net"]
	if ep == nil || !slices.Equal(ep.Aliases, []string{"web.front", "front-web"}) || string(host.NetworkMode) != "dep-net" {
		t.Errorf("network %+v mode %s", ep, host.NetworkMode)
	}
	lb := r.lb
	for k, want := range map[string]string{keyDeployment: "dep", keyStack: "front", keyService: "web", keyInstance: "1", keyTier: "2",
		keyConfigHash: "sha256:abc", keyProductID: "prod-1", keyVersionID: "pv-1", keyNamespace: "default", keyReadiness: modeHealth} {
		if got := lb.get(cfg.Labels, k); got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if aps := lb.accessPoints(cfg.Labels); len(aps) != 3 || aps[1].HostPorts[0] != 5353 {
		t.Errorf("access points label %+v", aps)
	}
	if p := lb.probe(cfg.Labels); p == nil || p.Port != 80 {
		t.Errorf("probe label %+v", p)
	}
}

func TestReadinessModes(t *testing.T) {
	with := offlineRuntime(t, &Options{ProbeBinary: "internal_test.go"})
	without := offlineRuntime(t, nil)
	for _, tc := range []struct {
		probe         *stack.Probe
		with, without string
	}{
		{nil, modeRunning, modeRunning},
		{&stack.Probe{Type: stack.ProbeRunning}, modeRunning, modeRunning},
		{&stack.Probe{Type: stack.ProbeExec, Command: []string{"true"}}, modeHealth, modeHealth},
		{&stack.Probe{Type: stack.ProbeTCP, Port: 1}, modeHealth, modeHost},
		{&stack.Probe{Type: stack.ProbeHTTP, Port: 1}, modeHealth, modeHost},
	} {
		if got := with.readinessMode(tc.probe); got != tc.with {
			t.Errorf("%+v with a probe binary: %s, want %s", tc.probe, got, tc.with)
		}
		if got := without.readinessMode(tc.probe); got != tc.without {
			t.Errorf("%+v without a probe binary: %s, want %s", tc.probe, got, tc.without)
		}
	}
}

func TestInstanceEvents(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC)
	ev := func(a events.Action, at time.Time, attrs map[string]string) events.Message {
		return events.Message{Action: a, TimeNano: at.UnixNano(), Actor: events.Actor{ID: "c1", Attributes: attrs}}
	}
	in := &inst{mode: modeHealth, running: true, started: t0, health: container.Starting}
	// Replayed events of an earlier run change nothing.
	in.apply(ev(events.ActionDie, t0.Add(-time.Second), map[string]string{"exitCode": "1"}))
	in.apply(ev(events.ActionHealthStatusHealthy, t0.Add(-time.Second), nil))
	if in.failed() || in.health != container.Starting {
		t.Fatalf("old events changed the state: %+v", in)
	}
	in.apply(ev(events.ActionHealthStatusHealthy, t0.Add(time.Second), nil))
	if ok, _ := in.ready(t0.Add(2*time.Second), time.Second); !ok {
		t.Fatalf("healthy instance not ready: %+v", in)
	}
	in.apply(ev(events.ActionOOM, t0.Add(3*time.Second), nil))
	in.apply(ev(events.ActionDie, t0.Add(3*time.Second), map[string]string{"exitCode": "137"}))
	if !in.failed() || !in.oom || in.exitCode != 137 {
		t.Fatalf("after oom and die: %+v", in)
	}
	if !in.apply(ev(events.ActionStart, t0.Add(4*time.Second), nil)) || in.failed() || in.health != container.Starting {
		t.Fatalf("after a new start: %+v", in)
	}

	run := &inst{mode: modeRunning, running: true, started: t0}
	if ok, at := run.ready(t0.Add(100*time.Millisecond), 500*time.Millisecond); ok || !at.Equal(t0.Add(500*time.Millisecond)) {
		t.Errorf("settling instance: ready %v at %v", ok, at)
	}
	if ok, _ := run.ready(t0.Add(time.Second), 500*time.Millisecond); !ok {
		t.Error("settled instance not ready")
	}
}

func TestTailLines(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "line %d\r\n", i)
	}
	got := tailLines(b.String(), 20)
	if len(got) != 20 || got[0] != "line 11" || got[19] != "line 30" {
		t.Errorf("tail %q", got)
	}
	if got := tailLines("", 20); got != nil {
		t.Errorf("tail of nothing %q", got)
	}
	if got := oneLine("a\n  b\n\nc  ", 100); got != "a | b | | c" {
		t.Errorf("oneLine %q", got)
	}
}

func TestParseUser(t *testing.T) {
	for _, tc := range []struct {
		user     string
		uid, gid int
		byName   bool
	}{{"", 0, 0, false}, {"1000", 1000, 1000, false}, {"1000:50", 1000, 50, false}, {"nobody", 0, 0, true}, {"1000:staff", 0, 0, true}} {
		uid, gid, byName := parseUser(tc.user)
		if uid != tc.uid || gid != tc.gid || byName != tc.byName {
			t.Errorf("parseUser(%q) = %d %d %v", tc.user, uid, gid, byName)
		}
	}
}

func TestValidate(t *testing.T) {
	r := offlineRuntime(t, nil)
	spec := &runtime.StackSpec{Deployment: "dep", Stack: stack.Stack{Name: "s", Services: []stack.Service{
		{Name: "a.b", UnitType: "1U1G", Image: stack.Image{Name: "x"}},
		{Name: "c", UnitType: "1U1G", Image: stack.Image{Name: "x"}, Readiness: &stack.Probe{Type: stack.ProbeTCP}},
		{Name: "c", UnitType: "1U1G"},
	}, InitScripts: []stack.InitScript{{ServiceName: "nope", Command: []string{"x"}}}},
		Files: map[string]map[string][]byte{"c": {"etc/x": nil}}}
	err := r.validate(spec)
	if !errors.Is(err, runtime.ErrInvalid) {
		t.Fatalf("validate: %v", err)
	}
	for _, want := range []string{`"a.b"`, "tcp probe port 0", "appears twice", "no image", `"etc/x"`, `no service "nope"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}

// TestEventsSinceEngineClock checks that the event subscription asks for
// replay in the engine's time, here an engine an hour behind this host:
// in this host's time it would see every event as "before since". The
// engine takes its time to tell its clock, longer than the replay margin:
// the replay still starts before the subscription, so that nothing the
// subscriber did after subscribing (inspections of its containers) can
// miss an event.
func TestEventsSinceEngineClock(t *testing.T) {
	const behind = time.Hour
	slow := replayMargin + time.Second
	// What the fake engine saw, in this host's clock: when the clock
	// request entered its handler, when the clock was read, when the
	// answer left; and when the events request came.
	type infoCall struct{ entered, read, left time.Time }
	type since struct {
		value string
		came  time.Time
	}
	var infoMu sync.Mutex
	var infos []infoCall
	sinces := make(chan since, 4)
	r := fakeEngineRuntime(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/info"):
			// A slow engine: the clock is read in the middle of the
			// call, as the hub assumes.
			var c infoCall
			c.entered = time.Now()
			time.Sleep(slow / 2)
			c.read = time.Now()
			time.Sleep(slow / 2)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"NCPU":2,"SystemTime":%q}`, c.read.Add(-behind).Format(time.RFC3339Nano))
			c.left = time.Now()
			infoMu.Lock()
			infos = append(infos, c)
			infoMu.Unlock()
		case strings.HasSuffix(r.URL.Path, "/events"):
			sinces <- since{r.URL.Query().Get("since"), time.Now()}
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	subscribed := time.Now() // in this host's time
	sub := r.hub.subscribe()
	defer sub.close()
	select {
	case s := <-sinces:
		var sec, nsec int64
		if _, err := fmt.Sscanf(s.value, "%d.%d", &sec, &nsec); err != nil {
			t.Fatalf("since %q: %v", s.value, err)
		}
		// The hub's clock request: the first to enter after the
		// subscription (the runtime may ask the engine's Info for
		// other reasons before).
		var c infoCall
		infoMu.Lock()
		for _, ic := range infos {
			if !ic.entered.Before(subscribed) && !ic.left.After(s.came) {
				c = ic
				break
			}
		}
		infoMu.Unlock()
		if c.entered.IsZero() {
			t.Fatal("the hub asked for events without asking the engine's clock first")
		}
		// In this host's clock the hub asks for since+behind =
		// begun + (read - mid) - replayMargin, where begun is when the
		// subscription started the stream and mid the middle of the
		// hub's clock request. The hub's request left after subscribed
		// and before the handler entered, and its answer came after the
		// handler left and before the events request: the bounds below
		// follow from what the fake engine saw, however slow the
		// machine, and a hub that read the clock at either end of the
		// call, ignored the engine's clock or forgot the margin falls
		// outside them (the handler's two halves are a second longer
		// than the margin).
		got := time.Unix(sec, nsec).Add(behind)
		lo := subscribed.Add(c.read.Sub(c.entered.Add(s.came.Sub(c.entered)/2)) - replayMargin)
		hi := c.read.Add(-c.left.Sub(c.entered)/2 - replayMargin)
		if got.Before(lo.Add(-time.Millisecond)) || got.After(hi.Add(time.Millisecond)) {
			t.Errorf("since is %v after the subscription in the engine's clock, want between %v and %v (the engine read its clock %v after the subscription, the hub's events request came %v after it)",
				got.Sub(subscribed), lo.Sub(subscribed), hi.Sub(subscribed), c.read.Sub(subscribed), s.came.Sub(subscribed))
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the hub never subscribed")
	}
}

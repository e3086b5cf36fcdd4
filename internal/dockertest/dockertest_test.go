package dockertest_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/internal/waitfor"
)

// These tests run the test application image on the real engine; they
// check both the image and the helpers that other packages' tests use.

func inspect(t *testing.T, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	res, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %.12s: %v", id, err)
	}
	return res.Container
}

// tarFile is an archive holding one file under dir/, for CopyToContainer.
func tarFile(t *testing.T, dir, name, content string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Now()})
	tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content)), ModTime: time.Now()})
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestHTTPFromHost(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ref := dockertest.TestApp(t)
	port := network.MustParsePort("8080/tcp")
	id := dockertest.Create(t, cli, client.ContainerCreateOptions{
		Config: &container.Config{
			Image:        ref,
			Env:          []string{"TESTAPP_HTTP=8080", "TESTAPP_SERVICE=web", "TESTAPP_READY_AFTER=300ms", "TESTAPP_PRINT_FILE=/etc/stackwave/app.conf", "TESTAPP_REQUIRE_FILE=1"},
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: &container.HostConfig{
			PortBindings: network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}},
		},
	})
	// The config file is placed before start; testapp exits 2 without it.
	ctx := context.Background()
	if _, err := cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{
		DestinationPath: "/etc",
		Content:         tarFile(t, "stackwave", "app.conf", "greeting = hello\n"),
	}); err != nil {
		t.Fatalf("CopyToContainer: %v", err)
	}
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start: %v", err)
	}

	bindings := inspect(t, cli, id).NetworkSettings.Ports[port]
	if len(bindings) == 0 || bindings[0].HostPort == "" {
		t.Fatalf("no host port published for %s: %+v", port, bindings)
	}
	base := "http://127.0.0.1:" + bindings[0].HostPort

	var code int
	var body string
	var err error
	sawStarting := false
	waitfor.True(waitfor.Generous, 50*time.Millisecond, func() bool {
		code, body, err = httpGet(base + "/healthz")
		if err == nil && code == http.StatusServiceUnavailable {
			sawStarting = true
		}
		return err == nil && code == http.StatusOK
	})
	if code != http.StatusOK || body != "ok\n" {
		out, _ := dockertest.Logs(t, cli, id)
		t.Fatalf("/healthz never became 200: last %d %q %v\nlogs:\n%s", code, body, err, out)
	}
	if !sawStarting {
		t.Log("/healthz was never seen answering 503 before ready (the port may have been published late)")
	}

	code, body, err = httpGet(base + "/")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /: %d %v", code, err)
	}
	var info struct {
		Hostname string `json:"hostname"`
		Service  string `json:"service"`
		Ready    bool   `json:"ready"`
		Uptime   string `json:"uptime"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("GET / is not JSON: %q", body)
	}
	if info.Service != "web" || !info.Ready || info.Uptime == "" || !strings.HasPrefix(id, info.Hostname) {
		t.Fatalf("GET /: %+v (container %s)", info, id)
	}
	if code, body, _ := httpGet(base + "/file?path=/etc/stackwave/app.conf"); code != 200 || body != "greeting = hello\n" {
		t.Fatalf("/file: %d %q", code, body)
	}
	if code, body, _ := httpGet(base + "/env?k=TESTAPP_SERVICE"); code != 200 || body != "web" {
		t.Fatalf("/env: %d %q", code, body)
	}
	if code, body, _ := httpGet(base + "/dns?name=" + info.Hostname); code != 200 || !strings.Contains(body, "addrs") {
		t.Fatalf("/dns of own hostname: %d %q", code, body)
	}
	// The engine copies a container's output to its log on its own
	// time: wait for the lines (the app wrote them before it answered
	// ready), with a deadline only as a last guard.
	var out string
	if !waitfor.True(waitfor.Generous, 100*time.Millisecond, func() bool {
		out, _ = dockertest.Logs(t, cli, id)
		return strings.Contains(out, "greeting = hello") && strings.Contains(out, "testapp[web]: ready")
	}) {
		t.Fatalf("logs lack the printed file or the ready line:\n%s", out)
	}
}

func TestExitCodeAndLogs(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	id := dockertest.Start(t, cli, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: dockertest.TestApp(t),
			Env:   []string{"TESTAPP_EXIT_AFTER=100ms", "TESTAPP_EXIT_CODE=3", "TESTAPP_LOG_LINES=25", "TESTAPP_STDERR=to stderr"},
		},
	})
	if code := dockertest.Wait(t, cli, id, waitfor.Generous); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	if st := inspect(t, cli, id).State; st.ExitCode != 3 || st.Running || st.OOMKilled {
		t.Fatalf("state: %+v", st)
	}
	stdout, stderr := dockertest.Logs(t, cli, id)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 29 {
		t.Fatalf("want at least 29 log lines, got %d:\n%s", len(lines), stdout)
	}
	for _, want := range []string{"log line 25/25", "shutting down with exit code 3", "exit 3"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.HasSuffix(lines[len(lines)-1], "testapp: exit 3") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	if stderr != "to stderr\n" {
		t.Errorf("stderr %q", stderr)
	}

	// The tail option gives the last lines, as errors will quote them.
	rc, err := cli.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, Tail: "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	raw, _ := io.ReadAll(rc)
	if n := strings.Count(string(raw), "testapp:"); n != 2 {
		t.Errorf("Tail 2 gave %d lines: %q", n, raw)
	}
}

func TestHealthCheckWithProbe(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ref := dockertest.TestApp(t)

	// Watch the container's health events from before it starts.
	ctx, cancel := context.WithTimeout(context.Background(), waitfor.Generous)
	defer cancel()
	labels := dockertest.Labels(t)
	evs := cli.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", string(events.ContainerEventType)).
		Add("label", dockertest.LabelTestName+"="+labels[dockertest.LabelTestName])})

	id := dockertest.Start(t, cli, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: ref,
			Env:   []string{"TESTAPP_TCP=9000", "TESTAPP_READY_AFTER=1s"},
			Healthcheck: &container.HealthConfig{
				Test:     []string{"CMD", "/testapp", "probe", "tcp", "127.0.0.1:9000"},
				Interval: 200 * time.Millisecond,
				Timeout:  2 * time.Second,
				Retries:  50,
			},
		},
	})

	var seen []string
	for healthy := false; !healthy; {
		select {
		case m := <-evs.Messages:
			if m.Actor.ID != id {
				continue
			}
			seen = append(seen, string(m.Action))
			healthy = m.Action == events.ActionHealthStatusHealthy
			if m.Action == events.ActionDie {
				out, _ := dockertest.Logs(t, cli, id)
				t.Fatalf("container died; events %q; logs:\n%s", seen, out)
			}
		case err := <-evs.Err:
			st := inspect(t, cli, id).State
			t.Fatalf("no healthy event (events %q, state %+v, health %+v): %v", seen, st, st.Health, err)
		}
	}
	st := inspect(t, cli, id).State
	if st.Health == nil || st.Health.Status != container.Healthy {
		t.Fatalf("event said healthy, inspect says %+v", st.Health)
	}
	last := st.Health.Log[len(st.Health.Log)-1]
	if last.ExitCode != 0 || !strings.Contains(last.Output, "ready: ") {
		t.Fatalf("last health check: %+v", last)
	}

	// The same probe as an exec readiness check, and a failing one.
	if code, out := dockertest.Exec(t, cli, id, "/testapp", "probe", "tcp", "127.0.0.1:9000"); code != 0 {
		t.Fatalf("exec probe: %d %s", code, out)
	}
	if code, out := dockertest.Exec(t, cli, id, "/testapp", "probe", "tcp", "127.0.0.1:9001"); code != 1 || !strings.Contains(out, "not ready") {
		t.Fatalf("exec probe of a closed port: %d %s", code, out)
	}
}

func TestSignals(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ref := dockertest.TestApp(t)
	ctx := context.Background()
	waitLine := func(id, line string) {
		t.Helper()
		if waitfor.True(waitfor.Generous, 50*time.Millisecond, func() bool {
			out, _ := dockertest.Logs(t, cli, id)
			return strings.Contains(out, line)
		}) {
			return
		}
		out, _ := dockertest.Logs(t, cli, id)
		t.Fatalf("%.12s never logged %q:\n%s", id, line, out)
	}

	// SIGTERM: graceful exit 0, well within the grace period.
	graceful := dockertest.Start(t, cli, client.ContainerCreateOptions{Config: &container.Config{Image: ref}})
	waitLine(graceful, "ready")
	timeout := 10
	start := time.Now()
	if _, err := cli.ContainerStop(ctx, graceful, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	// Exit code 0, not the kill's 137: it did not run into its grace
	// period, however long a loaded engine took to stop it.
	if st := inspect(t, cli, graceful).State; st.ExitCode != 0 {
		t.Errorf("graceful stop exit code %d after %s", st.ExitCode, time.Since(start))
	}

	// TESTAPP_IGNORE_TERM: the stop runs into its grace period and kills.
	stubborn := dockertest.Start(t, cli, client.ContainerCreateOptions{Config: &container.Config{Image: ref, Env: []string{"TESTAPP_IGNORE_TERM=1"}}})
	waitLine(stubborn, "ready")
	timeout = 1
	if _, err := cli.ContainerStop(ctx, stubborn, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, cli, stubborn).State; st.ExitCode != 137 {
		t.Errorf("ignored SIGTERM: exit code %d, want 137", st.ExitCode)
	}
	waitLine(stubborn, "received SIGTERM: ignored")

	// TESTAPP_CRASH_ON: a crash with code 139 and a dump on stderr.
	crasher := dockertest.Start(t, cli, client.ContainerCreateOptions{Config: &container.Config{Image: ref, Env: []string{"TESTAPP_CRASH_ON=SIGUSR1"}}})
	waitLine(crasher, "ready")
	if _, err := cli.ContainerKill(ctx, crasher, client.ContainerKillOptions{Signal: "SIGUSR1"}); err != nil {
		t.Fatal(err)
	}
	if code := dockertest.Wait(t, cli, crasher, waitfor.Generous); code != 139 {
		t.Errorf("crash exit code %d, want 139", code)
	}
	if _, stderr := dockertest.Logs(t, cli, crasher); !strings.HasPrefix(stderr, "panic: crash requested by SIGUSR1") {
		t.Errorf("crash stderr: %q", stderr)
	}
}

func TestOOMKill(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	const limit = 32 << 20
	id := dockertest.Start(t, cli, client.ContainerCreateOptions{
		Config:     &container.Config{Image: dockertest.TestApp(t), Env: []string{"TESTAPP_ALLOC_MB=128"}},
		HostConfig: &container.HostConfig{Resources: container.Resources{Memory: limit, MemorySwap: limit}},
	})
	code := dockertest.Wait(t, cli, id, waitfor.Generous)
	// Killed (137) before the end of its allocation, which the app would
	// log; nothing else kills it.
	out, _ := dockertest.Logs(t, cli, id)
	if code != 137 || strings.Contains(out, "allocated 128 MiB") {
		t.Fatalf("want a kill during the allocation: code %d\nlogs:\n%s", code, out)
	}
	// The engine's OOMKilled flag comes from a separate event, which a
	// busy engine may record late or, when the task exits at once,
	// never: the kill above is the test's evidence, the flag is logged.
	if st := inspect(t, cli, id).State; !st.OOMKilled {
		t.Logf("the engine has not recorded OOMKilled (yet): %+v", st)
	}
}

func TestInitStyleCommands(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ref := dockertest.TestApp(t)
	for _, tc := range []struct {
		cmd  []string
		code int
		want string
	}{
		{[]string{"exit", "0"}, 0, "testapp: exit 0"},
		{[]string{"exit", "1", "migration failed"}, 1, "testapp: migration failed"},
		{[]string{"write", "/data/marker", "done"}, 0, "wrote /data/marker"},
	} {
		id := dockertest.Start(t, cli, client.ContainerCreateOptions{
			Config: &container.Config{Image: ref, Cmd: tc.cmd},
		})
		if code := dockertest.Wait(t, cli, id, waitfor.Generous); code != tc.code {
			t.Errorf("%q: exit %d, want %d", tc.cmd, code, tc.code)
		}
		out, _ := dockertest.Logs(t, cli, id)
		if !strings.Contains(out, tc.want) || !strings.Contains(out, fmt.Sprintf("args=%q", tc.cmd[1:])) {
			t.Errorf("%q: output lacks %q or its args:\n%s", tc.cmd, tc.want, out)
		}
	}
}

func TestDNSInUserNetwork(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	ref := dockertest.TestApp(t)
	ctx := context.Background()
	name := fmt.Sprintf("stackwave-test-%d", time.Now().UnixNano())
	nw, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: dockertest.Labels(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the containers' cleanups, so it runs after them.
	t.Cleanup(func() {
		if _, err := cli.NetworkRemove(context.Background(), nw.ID, client.NetworkRemoveOptions{}); err != nil {
			t.Errorf("removing network %s: %v", name, err)
		}
	})
	onNetwork := func(aliases ...string) *network.NetworkingConfig {
		return &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{name: {Aliases: aliases}}}
	}
	dockertest.Start(t, cli, client.ContainerCreateOptions{
		Config:           &container.Config{Image: ref, Env: []string{"TESTAPP_TCP=5432"}},
		HostConfig:       &container.HostConfig{NetworkMode: container.NetworkMode(name)},
		NetworkingConfig: onNetwork("db"),
	})
	port := network.MustParsePort("8080/tcp")
	web := dockertest.Start(t, cli, client.ContainerCreateOptions{
		Config: &container.Config{Image: ref, Env: []string{"TESTAPP_HTTP=8080"}, ExposedPorts: network.PortSet{port: {}}},
		HostConfig: &container.HostConfig{
			NetworkMode:  container.NetworkMode(name),
			PortBindings: network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}},
		},
		NetworkingConfig: onNetwork("web"),
	})
	base := "http://127.0.0.1:" + inspect(t, cli, web).NetworkSettings.Ports[port][0].HostPort
	var code int
	var body string
	waitfor.True(waitfor.Generous, 50*time.Millisecond, func() bool {
		code, body, err = httpGet(base + "/dns?name=db")
		return err == nil && code == http.StatusOK
	})
	if code != http.StatusOK || !strings.Contains(body, `"addrs"`) {
		t.Fatalf("/dns?name=db: %d %q %v", code, body, err)
	}
	// No lookup of a missing name here: the engine's DNS would forward it
	// to the machine's resolver.
}

package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"go.uber.org/goleak"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/internal/waitfor"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// TestMain fails the run when a test leaves a goroutine behind, and
// removes the probe binary built for the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if probeBin.dir != "" {
			os.RemoveAll(probeBin.dir)
		}
		os.Exit(code)
	}))
}

var probeBin struct {
	sync.Mutex
	dir, path string
	err       error
	out       []byte
}

// probeBinary builds cmd/stackwave-probe once per test process.
func probeBinary(t testing.TB) string {
	t.Helper()
	probeBin.Lock()
	defer probeBin.Unlock()
	if probeBin.path == "" && probeBin.err == nil {
		probeBin.dir, probeBin.err = os.MkdirTemp("", "stackwave-probe-")
		if probeBin.err == nil {
			p := filepath.Join(probeBin.dir, "stackwave-probe")
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", p, "github.com/stackwave/stackwave/cmd/stackwave-probe")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
			probeBin.out, probeBin.err = cmd.CombinedOutput()
			probeBin.path = p
		}
	}
	if probeBin.err != nil {
		t.Fatalf("building cmd/stackwave-probe: %v\n%s", probeBin.err, probeBin.out)
	}
	return probeBin.path
}

// testSubnetPool is where the tests' deployment networks get their
// subnets: one /24 each, so parallel tests do not exhaust the engine's
// default address pools (about 30 bridge networks).
var testSubnetPool = netip.MustParsePrefix("172.28.0.0/14")

// newRuntime returns a Runtime in a namespace of its own, publishing on
// 127.0.0.1, whose containers, networks and volumes are removed when the
// test ends.

func newRuntime(t testing.TB, opts *docker.Options) *docker.Runtime {
	t.Helper()
	cli := dockertest.Client(t)
	var o docker.Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = "swt-" + randomHex(4)
	}
	if !o.HostIP.IsValid() {
		o.HostIP = netip.MustParseAddr("127.0.0.1")
	}
	if o.GracePeriod == 0 {
		o.GracePeriod = 2 * time.Second
	}
	if !o.SubnetPool.IsValid() {
		// Test networks stay off the engine's default address pools,
		// which other users of the engine need.
		o.SubnetPool = testSubnetPool
	}
	rt, err := docker.New(cli, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Close()
		cleanNamespace(t, cli, docker.DefaultLabelPrefix, o.Namespace)
	})
	return rt
}

// cleanNamespace removes everything labelled with a runtime namespace.
func cleanNamespace(t testing.TB, cli *client.Client, prefix, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := make(client.Filters).Add("label", prefix+".namespace="+ns)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("cleanup: list containers: %v", err)
		return
	}
	// One at a time, to give Engine 20.10's racy count of a network's
	// endpoints (moby/moby#42119) as little chance as possible.
	for _, c := range cs.Items {
		secs := 1
		_, _ = cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs})
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove container %.12s: %v", c.ID, err)
		}
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err == nil {
		for _, n := range nets.Items {
			// The engine releases a removed container's endpoint in its
			// own time: try again until it has, for up to a minute.
			var err error
			if waitfor.True(time.Minute, 250*time.Millisecond, func() bool {
				_, err = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
				return err == nil || cerrdefs.IsNotFound(err)
			}) {
				continue
			}
			if strings.Contains(err.Error(), "active endpoints") {
				// Not this test's doing: the engine lost count of the
				// network's endpoints (moby/moby#42119).
				t.Logf("cleanup: network %s stays until the engine restarts: %v", n.Name, err)
			} else {
				t.Errorf("cleanup: remove network %s: %v", n.Name, err)
			}
		}
	}
	vols, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err == nil {
		for _, v := range vols.Items {
			if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("cleanup: remove volume %s: %v", v.Name, err)
			}
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// leftovers lists what exists with a namespace label.
func leftovers(t testing.TB, cli *client.Client, ns string) (containers, networks, volumes []string) {
	t.Helper()
	ctx := context.Background()
	f := make(client.Filters).Add("label", docker.DefaultLabelPrefix+".namespace="+ns)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		containers = append(containers, strings.TrimPrefix(c.Names[0], "/"))
	}
	nets, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets.Items {
		networks = append(networks, n.Name)
	}
	vols, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vols.Items {
		volumes = append(volumes, v.Name)
	}
	return containers, networks, volumes
}

// img is the test application image as a stack image.
func img(t testing.TB) stack.Image {
	t.Helper()
	ref := dockertest.TestApp(t)
	name, tag, _ := strings.Cut(ref, ":")
	return stack.Image{Name: name, Tag: tag}
}

// execProbe is a readiness probe running testapp's own tcp check.
func execProbe(port int, period time.Duration) *stack.Probe {
	return &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "probe", "tcp", fmt.Sprintf("127.0.0.1:%d", port)}, Period: stack.Duration(period)}
}

// web is a testapp service answering HTTP on port.
func web(t testing.TB, name string, port int, env ...string) stack.Service {
	return stack.Service{
		Name: name, UnitType: "1U1G", Image: img(t),
		Envs:         append([]string{"TESTAPP_SERVICE=" + name, fmt.Sprintf("TESTAPP_HTTP=%d", port)}, env...),
		AccessPoints: []stack.AccessPoint{{Type: stack.AccessPublicIP, BackendPorts: []int{port}}},
		Readiness:    execProbe(port, 200*time.Millisecond),
	}
}

func stackSpec(dep, name string, tier int, svcs ...stack.Service) *runtime.StackSpec {
	return &runtime.StackSpec{
		Deployment: dep, ProductName: "p", ProductID: "prod-1", VersionID: "ver-1", Tier: tier,
		Stack: stack.Stack{Name: name, Services: svcs}, ReadyTimeout: time.Minute,
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v\n%s", err, debug.Stack())
	}
}

// get fetches a URL from the host.
func get(url string) (int, string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// endpoint returns the published address of a service's backend port.
func endpoint(t testing.TB, rt *docker.Runtime, dep, stk, svc string, port int) string {
	t.Helper()
	st, err := rt.Observe(context.Background(), dep)
	must(t, err)
	s := st.Stack(stk)
	if s == nil || s.Service(svc) == nil {
		t.Fatalf("observe: no service %s/%s in %+v", stk, svc, st)
	}
	for _, e := range s.Service(svc).Endpoints {
		if e.BackendPort == port && e.Address != "" {
			return e.Address
		}
	}
	t.Fatalf("observe: no published address for %s/%s port %d: %+v", stk, svc, port, s.Service(svc).Endpoints)
	return ""
}

func isErr(err, target error) bool { return errors.Is(err, target) }

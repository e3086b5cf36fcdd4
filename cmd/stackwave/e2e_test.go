package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/dockertest"
)

// These tests run `stackwave serve` as a real process on the SQLite store
// and the Docker runtime, and drive it over HTTP like a control plane's
// client would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// stackwaveBinary builds the command once per test binary.
func stackwaveBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stackwave-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "stackwave")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is a `stackwave serve` process (see startServe).
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	logs   *bytes.Buffer
	mu     *sync.Mutex
	exited chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startServer(t *testing.T, db, addr string) *process {
	t.Helper()
	return startServerStore(t, "sqlite:"+db, addr)
}

// startServerStore starts `stackwave serve` on any store and the Docker
// runtime.
func startServerStore(t *testing.T, storeURL, addr string) *process {
	t.Helper()
	return startServe(t, append(os.Environ(), dockerHostIPEnv+"=127.0.0.1"),
		"--addr", addr, "--store", storeURL, "--runtime", "docker", "--lease-ttl", "2s")
}

func (s *process) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func (s *process) call(method, path string, body any, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", method, path, err, s.output())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %s: %s", method, path, res.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// events reads the SSE stream of an operation until it ends and returns
// the event types with their stacks.
func (s *process) events(name, opID string) []string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/deployments/"+name+"/events?operation_id="+opID, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		s.t.Fatalf("events: content type %q", ct)
	}
	var seen []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e struct {
			Type  string `json:"type"`
			Stack string `json:"stack_name"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			s.t.Fatalf("event %q: %v", data, err)
		}
		seen = append(seen, strings.TrimSpace(e.Type+" "+e.Stack))
	}
	return seen
}

type deploymentStatus struct {
	Status string `json:"status"`
	Health string `json:"health"`
	Stacks []struct {
		Name     string `json:"stack_name"`
		State    string `json:"state"`
		Services []struct {
			Name      string `json:"service_name"`
			Endpoints []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"endpoints"`
		} `json:"services"`
	} `json:"stacks"`
	LastOperation struct {
		ID     string `json:"operation_id"`
		Status string `json:"status"`
	} `json:"last_operation"`
}

// status returns the deployment as GET /api/deployments/{name} shows it.
func (s *process) status(name string) deploymentStatus {
	s.t.Helper()
	var res struct {
		Deployment deploymentStatus `json:"deployment"`
	}
	s.call("GET", "/api/deployments/"+name, nil, &res)
	return res.Deployment
}

// launchE2E registers e2eProduct(name, readyAfter) and launches it with
// the demo config; it returns the launch's operation ID.
func (s *process) launchE2E(name, readyAfter string) string {
	s.t.Helper()
	var created struct {
		VersionID string `json:"product_version_id"`
	}
	s.call("POST", "/api/products", e2eProduct(s.t, name, readyAfter), &created)
	var launched struct {
		OperationID string `json:"operation_id"`
	}
	s.call("POST", "/api/deployments", map[string]any{"name": name, "product_version_id": created.VersionID,
		"config_templates": map[string]string{demoConfigPath: quickstartTemplate}}, &launched)
	return launched.OperationID
}

// tier1Applying returns once the server at url applies a kodo stack of
// the launch opID.
func tier1Applying(t *testing.T, url, name, opID string) {
	t.Helper()
	waitEvent(t, url, name, opID, func(e api.Event) bool {
		return strings.HasPrefix(e.Stack, "kodo-") && e.Type == string(deploy.EventStackApplying)
	})
}

// e2eProduct is the seed product with the test image: mysql listens on
// 3306, the authproxies serve HTTP on 9085 after readyAfter and print
// their config file.
func e2eProduct(t *testing.T, name, readyAfter string) map[string]any {
	ref := dockertest.TestApp(t)
	image, tag, _ := strings.Cut(ref, ":")
	doc := strings.NewReplacer("IMAGE_NAME", image, "IMAGE_TAG", tag, "kodo-double-demo", name,
		`"TESTAPP_HTTP=9085"`, `"TESTAPP_HTTP=9085", "TESTAPP_READY_AFTER=`+readyAfter+`"`).Replace(quickstartProduct)
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// containers lists the containers of a deployment by label.
func containers(t *testing.T, cli *client.Client, deployment string) []string {
	t.Helper()
	res, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "org.stackwave.deployment="+deployment)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Items {
		names = append(names, strings.TrimPrefix(c.Names[0], "/"))
	}
	return names
}

func cleanupDeployment(t *testing.T, cli *client.Client, name string) {
	t.Cleanup(func() {
		ctx := context.Background()
		f := make(client.Filters).Add("label", "org.stackwave.deployment="+name)
		if res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f}); err == nil {
			for _, c := range res.Items {
				_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
		if res, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f}); err == nil {
			for _, v := range res.Items {
				_, _ = cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
			}
		}
		if res, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f}); err == nil {
			for _, n := range res.Items {
				_, _ = cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			}
		}
	})
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

func TestServeEndToEndOnDocker(t *testing.T) {
	cli := dockertest.Client(t)
	name := uniqueName("e2e")
	cleanupDeployment(t, cli, name)
	s := startServer(t, filepath.Join(t.TempDir(), "sw.db"), freeAddr(t))

	opID := s.launchE2E(name, "0s")
	evs := s.events(name, opID)
	if len(evs) == 0 || evs[len(evs)-1] != "operation-done" {
		t.Fatalf("events did not end with operation-done: %v\n%s", evs, s.output())
	}
	idx := func(want string) int {
		for i, e := range evs {
			if e == want {
				return i
			}
		}
		t.Fatalf("no event %q in %v", want, evs)
		return -1
	}
	if idx("stack-ready mysql-cluster") > idx("stack-applying kodo-1") || idx("stack-ready mysql-cluster") > idx("stack-applying kodo-2") {
		t.Fatalf("tier 1 started before tier 0 was ready: %v", evs)
	}

	st := s.status(name)
	if st.Status != "Available" || st.Health != "running" || st.LastOperation.Status != "Succeeded" {
		t.Fatalf("status: %+v", st)
	}
	answered := 0
	for _, stk := range st.Stacks {
		for _, svc := range stk.Services {
			for _, ep := range svc.Endpoints {
				if ep.Type != "domain" || ep.Address == "" {
					continue
				}
				res, err := http.Get("http://" + ep.Address + "/file?path=" + demoConfigPath)
				if err != nil {
					t.Fatalf("%s/%s at %s: %v", stk.Name, svc.Name, ep.Address, err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !strings.Contains(string(b), "zone = "+stk.Name) {
					t.Fatalf("%s/%s config file: %s %s", stk.Name, svc.Name, res.Status, b)
				}
				answered++
			}
		}
	}
	if answered != 2 {
		t.Fatalf("%d domain endpoints answered, want 2", answered)
	}

	var terminated struct {
		OperationID string `json:"operation_id"`
	}
	s.call("POST", "/api/deployments/"+name+"/terminate", map[string]any{"delete_data": true}, &terminated)
	if evs := s.events(name, terminated.OperationID); evs[len(evs)-1] != "operation-done" {
		t.Fatalf("terminate events: %v", evs)
	}
	if left := containers(t, cli, name); len(left) != 0 {
		t.Fatalf("containers left after terminate: %v", left)
	}
}

// TestServeKilledMidLaunchResumes kills the server with SIGKILL while a
// launch runs, starts another, and checks that it takes the operation over
// once the lease expires and finishes it with one container per service.
func TestServeKilledMidLaunchResumes(t *testing.T) {
	cli := dockertest.Client(t)
	name := uniqueName("resume")
	cleanupDeployment(t, cli, name)
	db := filepath.Join(t.TempDir(), "sw.db")
	addr := freeAddr(t)
	s := startServer(t, db, addr)

	opID := s.launchE2E(name, "4s")

	// Kill the server once tier 1 is being applied (its services take 4s
	// to become ready).
	tier1Applying(t, s.url, name, opID)
	s.kill()
	before := containers(t, cli, name)

	s2 := startServer(t, db, addr)
	if st := s2.status(name); st.Status != "UnderChange" {
		t.Fatalf("the killed server's launch is %s, want UnderChange: nothing to resume", st.Status)
	}
	waitEvent(t, s2.url, name, opID, operationEnds)
	st := s2.status(name)
	if st.Status != "Available" || st.LastOperation.ID != opID || st.LastOperation.Status != "Succeeded" {
		t.Fatalf("after resume: %+v\n%s", st, s2.output())
	}
	after := containers(t, cli, name)
	if len(after) != 3 {
		t.Fatalf("containers after resume: %v (before the kill: %v), want one per service", after, before)
	}
	seen := map[string]bool{}
	for _, c := range after {
		if seen[c] {
			t.Fatalf("duplicate container %s", c)
		}
		seen[c] = true
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
)

// TestServeShutdownClosesStreams: 200 clients that stop reading hold
// event streams of a launch in progress; a normal request still answers
// at once, and SIGTERM closes every stream and ends the process well
// within its grace period, with no shutdown deadline error.
func TestServeShutdownClosesStreams(t *testing.T) {
	const clients = 200
	cli := dockertest.Client(t)
	dir := t.TempDir()
	s := startServe(t, append(os.Environ(), dockerHostIPEnv+"=127.0.0.1"), "--store", "sqlite:"+filepath.Join(dir, "s.db"),
		"--runtime", "docker", "--max-streams-per-principal", "1000",
		// Clients that never read are not dropped for as long as the test
		// could run: anything the silent streams held would hold a normal
		// request for that long, far past the guards below.
		"--stream-write-timeout", "30m")

	// A launch that stays in progress: its service is never ready.
	cleanupDeployment(t, cli, "busy")
	image, tag, _ := strings.Cut(dockertest.TestApp(t), ":")
	var created struct {
		VersionID string `json:"product_version_id"`
	}
	s.call("POST", "/api/products", map[string]any{"product_name": "busy", "stack_deps": [][]map[string]any{{{
		"stack_name": "app", "services": []map[string]any{{
			"service_name": "idle", "unit_type": "1U1G", "image": map[string]string{"name": image, "tag": tag},
			"command": []string{"sleep", "600"},
			"readiness_probe": map[string]any{"type": "exec", "command": []string{"/testapp", "probe", "tcp", "127.0.0.1:1"},
				"period": "100ms", "timeout": "10m"}}}}}}}, &created)
	var sub struct {
		OperationID string `json:"operation_id"`
	}
	s.call("POST", "/api/deployments", map[string]string{"name": "busy", "product_version_id": created.VersionID}, &sub)

	// The clients: each reads its response head, then nothing more.
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		if _, err := io.WriteString(c, "GET /api/deployments/busy/events?operation_id="+sub.OperationID+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(c, 16)
		status, err := br.ReadString('\n')
		if err != nil || !strings.Contains(status, " 200 ") {
			t.Fatalf("stream %d: %q, %v\n%s", i, status, err, s.output())
		}
		conns[i] = c
	}

	// A normal request during the flood.
	start := time.Now()
	res, err := http.Get(s.url + "/api/deployments/busy")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Deployment struct {
			Status string `json:"status"`
		} `json:"deployment"`
	}
	_ = json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	took := time.Since(start)
	t.Logf("GET /api/deployments/busy with %d streams open: %s (status %s)", clients, took, d.Deployment.Status)
	if res.StatusCode != 200 || d.Deployment.Status != "UnderChange" {
		t.Fatalf("GET: %d, status %q", res.StatusCode, d.Deployment.Status)
	}
	if took > time.Minute { // a generous guard on a loaded machine; the aim is well under 100ms
		t.Errorf("a normal request took %s during the flood", took)
	}

	// SIGTERM.
	start = time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		// Within serve's 30 s grace: streams left open would have run it
		// out, and shutdown would have said so (checked below).
		t.Logf("serve exited %s after SIGTERM (%v)", time.Since(start), s.cmd.ProcessState)
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not exit:\n%s", s.output())
	}
	out := s.output()
	if strings.Contains(out, "shutdown:") || strings.Contains(out, "deadline") {
		t.Errorf("shutdown reported an error:\n%s", out)
	}
	// Every stream was closed by the server: reading it to the end ends.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("stream %d did not end: %v", i, err)
		}
	}
}

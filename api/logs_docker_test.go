package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/api"
	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/store/memory"
)

// TestLogsDocker reads, through the API, what containers of the test
// application print on the real Docker engine: both outputs, from every
// instance, and never the env values stackwave gave them.
func TestLogsDocker(t *testing.T) {
	cli := dockertest.Client(t)
	image := dockertest.TestApp(t)
	b := make([]byte, 4)
	rand.Read(b)
	ns := "swapi-" + hex.EncodeToString(b)
	rt, err := docker.New(cli, &docker.Options{Namespace: ns, HostIP: netip.MustParseAddr("127.0.0.1"), GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	st := memory.New(nil)
	ex := deploy.New(rt, st, nil)
	// Closed after the terminating cleanup below: a closed executor
	// refuses operations.
	t.Cleanup(func() { ex.Close() })
	ts := httptest.NewServer(api.New(st, ex, nil))
	defer ts.Close()
	c := &api.Client{URL: ts.URL}
	ctx := context.Background()

	name, tag, _ := strings.Cut(image, ":")
	doc := `{"product_name": "logs", "stack_deps": [[{"stack_name": "web", "services": [
  {"service_name": "app", "unit_type": "1U1G", "instances": 2, "image": {"name": "` + name + `", "tag": "` + tag + `"},
   "envs": ["TESTAPP_SERVICE=app", "TESTAPP_LOG_LINES=3", "TESTAPP_STDERR=to stderr", "DB_PASSWORD=hunter2-secret"]}]}]]}`
	created, err := c.CreateProduct(ctx, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	const dep = "logs-1"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := ex.Terminate(ctx, deploy.Request{Deployment: dep, DeleteData: true}); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})
	if _, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: created.VersionID}); err != nil {
		t.Fatalf("launch: %v", err)
	}

	// Follow until both instances wrote their lines, then read them all.
	q := runtime.LogQuery{Stack: "web", Service: "app"}
	fq := q
	fq.Follow = true
	s, err := c.Logs(ctx, dep, fq)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	done := func() bool {
		n := 0
		for _, v := range seen {
			if v == 2 {
				n++
			}
		}
		return n == 2
	}
	for !done() {
		l, err := s.Next()
		if err != nil {
			t.Fatalf("following: %v (seen %v)", err, seen)
		}
		if strings.HasSuffix(l.Text, "log line 3/3") || l.Text == "to stderr" {
			seen[l.Instance]++
		}
	}
	s.Close()

	s, err = c.Logs(ctx, dep, q)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var all []runtime.LogLine
	for {
		l, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, l)
	}
	instances, stderr := map[string][]string{}, map[string][]string{}
	var order []string
	for _, l := range all {
		if strings.Contains(l.Text, "hunter2") {
			t.Errorf("a log line shows an env value: %+v", l)
		}
		if l.Time.IsZero() || l.Stack != "web" || l.Service != "app" {
			t.Errorf("line %+v: want web/app with its time", l)
		}
		if len(order) == 0 || order[len(order)-1] != l.Instance {
			order = append(order, l.Instance)
		}
		// The engine reads the two outputs apart: their lines keep
		// their order within each output only.
		switch {
		case l.Stream == runtime.Stderr:
			stderr[l.Instance] = append(stderr[l.Instance], l.Text)
		case strings.Contains(l.Text, "log line "):
			_, after, _ := strings.Cut(l.Text, "testapp[app]: ")
			instances[l.Instance] = append(instances[l.Instance], after)
		}
	}
	for in, got := range stderr {
		if len(got) != 1 || got[0] != "to stderr" {
			t.Errorf("%s wrote %q to stderr, Logs gave %q", in, "to stderr", got)
		}
	}
	if len(order) != 2 {
		t.Errorf("instances in the order %v, want two, one after the other", order)
	}
	for in, got := range instances {
		if want := "log line 1/3,log line 2/3,log line 3/3"; strings.Join(got, ",") != want {
			t.Errorf("%s: %v, want %s", in, got, want)
		}
	}
	if len(instances) != 2 || len(stderr) != 2 {
		t.Errorf("lines of %d instances, want 2", len(instances))
	}
}

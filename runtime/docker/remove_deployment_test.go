package docker_test

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// TestRemoveDeployment: the one-pass teardown removes the stacks it is
// told of and those it is not (a stray stack, a stopped one), keeps the
// data volumes unless DeleteData, and leaves no network; a second call
// on nothing is not an error.
func TestRemoveDeployment(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, 3*time.Minute)
	svc := func(name string) stack.Service {
		return stack.Service{Name: name, UnitType: "1U1G", Image: img(t),
			VolumeArgs: []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}}
	}
	db, app, stray := stackSpec("rd", "db", 0, svc("pg")), stackSpec("rd", "app", 1, svc("api")), stackSpec("rd", "old", 0, svc("x"))
	for _, s := range []*runtime.StackSpec{db, app, stray} {
		must(t, rt.Apply(ctx, s, nil))
	}
	must(t, rt.Stop(ctx, db.Ref()))

	must(t, rt.RemoveDeployment(ctx, "rd", [][]string{{"db"}, {"app"}}, runtime.RemoveOptions{GracePeriod: time.Second}))
	st, err := rt.Observe(ctx, "rd")
	must(t, err)
	if len(st.Stacks) != 0 {
		t.Fatalf("after RemoveDeployment: %+v", st.Stacks)
	}
	vols, err := rt.Volumes(ctx, "rd")
	must(t, err)
	if len(vols) != 3 {
		t.Fatalf("kept volumes: want 3 (one per stack), got %+v", vols)
	}
	f := make(client.Filters).Add("label", docker.DefaultLabelPrefix+".namespace="+rt.Options().Namespace)
	nets, err := rt.Client().NetworkList(ctx, client.NetworkListOptions{Filters: f})
	must(t, err)
	if len(nets.Items) != 0 {
		t.Fatalf("networks left: %d", len(nets.Items))
	}
	all, err := rt.Client().VolumeList(ctx, client.VolumeListOptions{Filters: f})
	must(t, err)
	if len(all.Items) != 3 {
		t.Fatalf("volumes left with data kept: want the 3 data volumes (no stopped mark), got %d", len(all.Items))
	}

	must(t, rt.RemoveDeployment(ctx, "rd", nil, runtime.RemoveOptions{DeleteData: true}))
	all, err = rt.Client().VolumeList(ctx, client.VolumeListOptions{Filters: f})
	must(t, err)
	if len(all.Items) != 0 {
		t.Fatalf("volumes left after DeleteData: %d", len(all.Items))
	}
	must(t, rt.RemoveDeployment(ctx, "rd", nil, runtime.RemoveOptions{DeleteData: true}))
}

// TestRemoveDeploymentKeepsTheGracefulPromise: however early the one-pass
// teardown removes the network and a stack's volumes, every running
// service gets SIGTERM and its grace period (one that ignores SIGTERM is
// killed only after it), a tier's containers are gone before the
// previous tier's are signalled, the network goes only after every
// container stopped, and nothing is left. The engine's own events say
// when each of these happened.
func TestRemoveDeploymentKeepsTheGracefulPromise(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{GracePeriod: 2 * time.Second})
	cli, ns := rt.Client(), rt.Options().Namespace
	ctx := ctxT(t, 4*time.Minute)
	withData := func(s stack.Service) stack.Service {
		s.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
		return s
	}
	db := stackSpec("rg", "db", 0, withData(web(t, "pg", 8080)))
	app := stackSpec("rg", "app", 1, withData(web(t, "api", 8080)), withData(web(t, "stubborn", 8080, "TESTAPP_IGNORE_TERM=1")))
	for _, s := range []*runtime.StackSpec{db, app} {
		must(t, rt.Apply(ctx, s, nil))
		must(t, rt.Wait(ctx, s, nil))
	}
	since := time.Now().Add(-time.Second)
	must(t, rt.RemoveDeployment(ctx, "rg", [][]string{{"db"}, {"app"}}, runtime.RemoveOptions{DeleteData: true}))
	until := time.Now().Add(time.Second)

	// The events of the teardown: the stream ends at until.
	ev := cli.Events(ctx, client.EventsListOptions{Since: strconv.FormatInt(since.Unix(), 10), Until: strconv.FormatInt(until.Unix()+1, 10)})
	type mark struct {
		at   time.Time
		attr map[string]string
	}
	seen := map[string]mark{} // "<name> <action>[ <signal>]" or "network destroy"
	netName := ns + "-rg-net"
read:
	for {
		select {
		case m := <-ev.Messages:
			name := m.Actor.Attributes["name"]
			key := ""
			switch {
			case m.Type == events.ContainerEventType && strings.HasPrefix(name, ns+"-rg-"):
				key = strings.TrimPrefix(name, ns+"-rg-") + " " + string(m.Action)
				if m.Action == events.ActionKill {
					key += " " + m.Actor.Attributes["signal"]
				}
			case m.Type == events.NetworkEventType && name == netName && m.Action == events.ActionDestroy:
				key = "network destroy"
			default:
				continue
			}
			if _, ok := seen[key]; !ok {
				seen[key] = mark{time.Unix(0, m.TimeNano), m.Actor.Attributes}
			}
		case err := <-ev.Err:
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("events: %v", err)
			}
			break read
		}
	}
	at := func(key string) time.Time {
		t.Helper()
		m, ok := seen[key]
		if !ok {
			t.Fatalf("no %q event; saw %v", key, slices.Sorted(maps.Keys(seen)))
		}
		return m.at
	}
	// Graceful services: SIGTERM, then a clean exit, no SIGKILL.
	for _, c := range []string{"db-pg-1", "app-api-1"} {
		at(c + " kill 15")
		if code := seen[c+" die"].attr["exitCode"]; code != "0" {
			t.Errorf("%s exited with %s, want 0 after SIGTERM", c, code)
		}
		if _, ok := seen[c+" kill 9"]; ok {
			t.Errorf("%s was killed although it stopped on SIGTERM", c)
		}
	}
	// The stubborn one: killed only once its grace period had passed.
	term, kill := at("app-stubborn-1 kill 15"), at("app-stubborn-1 kill 9")
	if d := kill.Sub(term); d < 1900*time.Millisecond {
		t.Errorf("SIGKILL %v after SIGTERM, want the grace period of 2s", d)
	}
	// Tier order, and the network after every container stopped.
	for _, c := range []string{"app-api-1", "app-stubborn-1"} {
		if at(c + " destroy").After(at("db-pg-1 kill 15")) {
			t.Errorf("the db tier was signalled before %s of the later tier was removed", c)
		}
		if at(c + " die").After(at("network destroy")) {
			t.Errorf("the network was removed before %s stopped", c)
		}
	}
	if at("db-pg-1 die").After(at("network destroy")) {
		t.Errorf("the network was removed before db-pg-1 stopped")
	}
	cs, nets, vols := leftovers(t, cli, ns)
	if len(cs)+len(nets)+len(vols) != 0 {
		t.Fatalf("left behind: containers %v, networks %v, volumes %v", cs, nets, vols)
	}
}

// TestRemoveDeploymentNamesAFailure: when the engine refuses the removal
// of one container, RemoveDeployment returns once everything it started
// has ended, with an error naming that container; a second call removes
// what is left.
func TestRemoveDeploymentNamesAFailure(t *testing.T) {
	t.Parallel()
	var refuse atomic.Value // a container ID whose removal fails
	refuse.Store("")
	cli, err := client.New(client.FromEnv, client.WithHTTPRequestHook(func(r *http.Request) error {
		if id := refuse.Load().(string); id != "" && r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/containers/"+id) {
			return errors.New("refused by the test")
		}
		return nil
	}))
	must(t, err)
	t.Cleanup(func() { cli.Close() })
	ns := "swt-" + randomHex(4)
	rt, err := docker.New(cli, &docker.Options{Namespace: ns, HostIP: netip.MustParseAddr("127.0.0.1"), GracePeriod: time.Second, SubnetPool: testSubnetPool})
	must(t, err)
	t.Cleanup(func() {
		rt.Close()
		cleanNamespace(t, cli, docker.DefaultLabelPrefix, ns)
	})
	ctx := ctxT(t, 3*time.Minute)
	spec := stackSpec("rf", "app", 0, web(t, "a", 8080), web(t, "b", 8080))
	must(t, rt.Apply(ctx, spec, nil))
	st, err := rt.Observe(ctx, "rf")
	must(t, err)
	refuse.Store(st.Stack("app").Service("b").Instances[0].ID)

	err = rt.RemoveDeployment(ctx, "rf", [][]string{{"app"}}, runtime.RemoveOptions{DeleteData: true})
	if err == nil || !strings.Contains(err.Error(), "remove container "+ns+"-rf-app-b-1") || !strings.Contains(err.Error(), "refused by the test") {
		t.Fatalf("want an error naming the container whose removal failed, got %v", err)
	}
	refuse.Store("")
	must(t, rt.RemoveDeployment(ctx, "rf", nil, runtime.RemoveOptions{DeleteData: true}))
	cs, nets, vols := leftovers(t, cli, ns)
	if len(cs)+len(nets)+len(vols) != 0 {
		t.Fatalf("left behind: containers %v, networks %v, volumes %v", cs, nets, vols)
	}
}

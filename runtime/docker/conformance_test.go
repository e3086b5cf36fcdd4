package docker_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/dockertest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/runtime/runtimetest"
	"github.com/stackwave/stackwave/stack"
)

// controlPort is where every conformance service answers /healthz, the
// port its readiness probe asks, beside the ports the suite wants.
const controlPort = 7999

func TestConformance(t *testing.T) {
	cli := dockertest.Client(t)
	image := img(t)
	// One namespace for the whole run: a second runtime must see what the
	// first one made.
	ns := "swc-" + randomHex(4)
	t.Cleanup(func() { cleanNamespace(t, cli, docker.DefaultLabelPrefix, ns) })
	runtimetest.Run(t, &runtimetest.Harness{
		NewRuntime: func(t *testing.T) runtime.Runtime {
			rt, err := docker.New(cli, &docker.Options{Namespace: ns, HostIP: netip.MustParseAddr("127.0.0.1"), GracePeriod: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rt.Close() })
			return rt
		},
		Deployment: func(t *testing.T) string { return "rt-" + randomHex(4) },
		Service: func(t *testing.T, ref runtime.StackRef, name string, b runtimetest.Behavior) stack.Service {
			env := []string{"TESTAPP_SERVICE=" + name, "TESTAPP_HTTP=" + strconv.Itoa(controlPort)}
			if len(b.Ports) > 0 {
				ports := make([]string, len(b.Ports))
				for i, p := range b.Ports {
					ports[i] = strconv.Itoa(p)
				}
				env = append(env, "TESTAPP_TCP="+strings.Join(ports, ","))
			}
			switch {
			case b.NeverReady:
				env = append(env, "TESTAPP_READY_AFTER=1h")
			case b.ReadyAfter > 0:
				env = append(env, "TESTAPP_READY_AFTER="+b.ReadyAfter.String())
			}
			if b.Exit {
				env = append(env, "TESTAPP_EXIT_AFTER="+b.ExitAfter.String(), "TESTAPP_EXIT_CODE="+strconv.Itoa(b.ExitCode))
			}
			if b.LogLines > 0 {
				env = append(env, "TESTAPP_LOG_LINES="+strconv.Itoa(b.LogLines))
			}
			if b.Stderr != "" {
				env = append(env, "TESTAPP_STDERR="+b.Stderr)
			}
			return stack.Service{
				Name: name, UnitType: "1U1G", Image: image, Envs: env,
				Readiness: &stack.Probe{Type: stack.ProbeExec, Period: stack.Duration(200 * time.Millisecond),
					Command: []string{"/testapp", "probe", "http", fmt.Sprintf("http://127.0.0.1:%d/healthz", controlPort)}},
			}
		},
		InitScript: func(t *testing.T, ref runtime.StackRef, service string, exitCode int) stack.InitScript {
			return stack.InitScript{ServiceName: service, Command: []string{"/testapp", "exit", strconv.Itoa(exitCode), "init script of " + ref.String()}}
		},
		Tamper:   tamper(cli, ns, image),
		Timeout:  time.Minute,
		Parallel: true,
	})
}

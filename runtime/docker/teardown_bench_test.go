package docker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// BenchmarkTeardown20 times the teardown of one tier of 20 one-service
// stacks, each service with a data volume, launched through the deploy
// executor (not timed). s-terminate is the executor's Terminate with
// DeleteData; s-rm-f is the engine's floor for the same objects: one
// list by label, then the containers removed with force (docker rm -f)
// 8 at once (the runtime's default bound), then the volumes and the
// network. With STACKWAVE_COMPOSE naming a docker compose binary, a
// third arm times `compose down -v` of the same 20 services (one volume
// each) brought up by `compose up -d --wait`. Every round runs each arm
// once, and the arm that goes first turns with the rounds, so that no
// arm always follows the same one; the metrics are medians of the
// rounds. Objects are named after the runtime's namespace, swt-dt-….
func BenchmarkTeardown20(b *testing.B) {
	rt := newRuntime(b, &docker.Options{Namespace: "swt-dt-" + randomHex(4)})
	svcs := benchServices(b, 20)
	var tier stack.Tier
	for i := range svcs {
		svcs[i].VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
		tier = append(tier, stack.Stack{Name: fmt.Sprintf("st%02d", i), Services: []stack.Service{svcs[i]}})
	}
	cat := newCatalog(b, "down20", stack.Deps{tier})
	ex, _ := newExecutor(b, rt, cat.st)
	ctx := context.Background()
	var terminate, rmf, down []time.Duration
	arms := []string{"terminate", "rm-f"}
	compose := os.Getenv("STACKWAVE_COMPOSE")
	var file string
	if compose != "" {
		arms = append(arms, "compose")
		file = composeFile(b, svcs)
	}
	for round := 0; b.Loop(); round++ {
		n := len(terminate)
		// Interleaved, so all arms see the same machine load. The floor
		// removes 8 at once, the runtime's bound: all 20 at once make
		// Engine 20.10 lose count of the network's endpoints within a
		// few rounds (moby/moby#42119), and the network then stays until
		// the engine restarts.
		for i := range arms {
			b.StopTimer()
			arm := arms[(round+i)%len(arms)]
			if arm == "compose" {
				run := func(args ...string) {
					out, err := exec.CommandContext(ctx, compose, append([]string{"-f", file, "-p", rt.Options().Namespace + "-peer"}, args...)...).CombinedOutput()
					if err != nil {
						b.Fatalf("compose %v: %v: %s", args, err, out)
					}
				}
				run("up", "-d", "--wait")
				b.StartTimer()
				start := time.Now()
				run("down", "-v")
				down = append(down, time.Since(start))
				continue
			}
			_, err := ex.Launch(ctx, deploy.Request{Deployment: "down20", VersionID: cat.versions[0].ID})
			must(b, err)
			b.StartTimer()
			start := time.Now()
			if arm == "rm-f" {
				must(b, rmForce(ctx, rt.Client(), rt.Options().Namespace, "down20", docker.DefaultParallelism))
				rmf = append(rmf, time.Since(start))
			}
			_, err = ex.Terminate(ctx, deploy.Request{Deployment: "down20", DeleteData: true})
			must(b, err)
			if arm == "terminate" {
				terminate = append(terminate, time.Since(start))
			}
		}
		line := fmt.Sprintf("round %d: terminate %.2f s, rm -f %.2f s", round, terminate[n].Seconds(), rmf[n].Seconds())
		if len(down) > n {
			line += fmt.Sprintf(", compose down %.2f s", down[n].Seconds())
		}
		b.Log(line + ", load " + loadAverage())
	}
	b.ReportMetric(median(terminate).Seconds(), "s-terminate")
	b.ReportMetric(median(rmf).Seconds(), "s-rm-f")
	b.ReportMetric(float64(median(terminate))/float64(median(rmf)), "terminate/rm-f")
	if len(down) > 0 {
		b.ReportMetric(median(down).Seconds(), "s-compose-down")
		b.ReportMetric(float64(median(down))/float64(median(terminate)), "compose/terminate")
	}
}

// loadAverage is the machine's load average (1, 5, 15 minutes), or "?"
// where /proc/loadavg is missing.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// rmForce removes a deployment's containers as docker rm -f does, par at
// once (all at once when par < 1), then its volumes and network.
func rmForce(ctx context.Context, cli *client.Client, ns, dep string, par int) error {
	f := make(client.Filters).Add("label", docker.DefaultLabelPrefix+".namespace="+ns).
		Add("label", docker.DefaultLabelPrefix+".deployment="+dep)
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	var g errgroup.Group
	if par > 0 {
		g.SetLimit(par)
	}
	for _, c := range cs.Items {
		g.Go(func() error {
			_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, v := range vs.Items {
		g.Go(func() error {
			_, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	ns2, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, n := range ns2.Items {
		// An endpoint of a removed container may linger a moment.
		for attempt := 0; ; attempt++ {
			_, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			if err == nil || attempt == 50 || !strings.Contains(err.Error(), "active endpoints") {
				if err != nil {
					return err
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// composeFile writes a compose file of the services: same image, env,
// health check and one volume each.
func composeFile(b *testing.B, svcs []stack.Service) string {
	var sb strings.Builder
	sb.WriteString("services:\n")
	for _, s := range svcs {
		fmt.Fprintf(&sb, "  %s:\n    image: %s\n    environment: [TESTAPP_HTTP=8080]\n", s.Name, s.Image.Name+":"+s.Image.Tag)
		fmt.Fprintf(&sb, "    healthcheck: {test: [CMD, /testapp, probe, tcp, '127.0.0.1:8080'], interval: 1s}\n")
		fmt.Fprintf(&sb, "    volumes: [%s:/data]\n", s.Name)
	}
	sb.WriteString("volumes:\n")
	for _, s := range svcs {
		fmt.Fprintf(&sb, "  %s: {}\n", s.Name)
	}
	file := filepath.Join(b.TempDir(), "compose.yaml")
	must(b, os.WriteFile(file, []byte(sb.String()), 0o600))
	return file
}

package kube_test

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/stack"
)

// BenchmarkTeardownWideTier times the teardown of one tier of 100
// one-service stacks, each a Deployment and a Service, launched through
// the deploy executor (not timed). s-terminate is the executor's
// Terminate with the default options; s-ns-delete is the API's floor for
// the same objects: the namespace deleted and watched until gone. With
// STACKWAVE_KUBECTL naming a kubectl binary, s-kubectl is `kubectl
// delete namespace --wait` instead of the floor. The arms alternate in
// each round; the metrics are medians.
func BenchmarkTeardownWideTier(b *testing.B) {
	env := kubetest.Shared(b)
	rt := newRuntime(b, env.Config, nil)
	tier := make(stack.Tier, 100)
	for i := range tier {
		svc := plain("app")
		svc.AccessPoints = []stack.AccessPoint{{Type: stack.AccessInternalIP, BackendPorts: []int{8080}}}
		tier[i] = stack.Stack{Name: fmt.Sprintf("s%03d", i), Services: []stack.Service{svc}}
	}
	cat := newCatalog(b, "down", stack.Deps{tier})
	ex := deploy.New(rt, cat.st, &deploy.Options{ReadyTimeout: 5 * time.Minute})
	b.Cleanup(func() { ex.Close() })
	ctx := ctxT(b, 60*time.Minute)
	kubectl := os.Getenv("STACKWAVE_KUBECTL")
	peer := "s-ns-delete"
	if kubectl != "" {
		peer = "s-kubectl"
	}
	var ours, theirs []time.Duration
	round := 0
	for b.Loop() {
		for _, usePeer := range []bool{false, true} {
			b.StopTimer()
			round++
			dep := fmt.Sprintf("down-%s-%d", randomHex(2), round)
			_, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID})
			must(b, err)
			b.StartTimer()
			start := time.Now()
			switch {
			case !usePeer:
				_, err := ex.Terminate(ctx, deploy.Request{Deployment: dep})
				must(b, err)
				ours = append(ours, time.Since(start))
			case kubectl != "":
				out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", env.Kubeconfig,
					"delete", "namespace", rt.Namespace(dep), "--wait").CombinedOutput()
				if err != nil {
					b.Fatalf("kubectl: %v: %s", err, out)
				}
				theirs = append(theirs, time.Since(start))
			default:
				deleteNamespace(b, env, rt.Namespace(dep))
				theirs = append(theirs, time.Since(start))
			}
		}
	}
	b.ReportMetric(medianOf(ours).Seconds(), "s-terminate")
	b.ReportMetric(medianOf(theirs).Seconds(), peer)
	b.ReportMetric(float64(medianOf(ours))/float64(medianOf(theirs)), "terminate/peer")
}

func medianOf(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

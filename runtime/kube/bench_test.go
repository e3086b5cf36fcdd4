package kube_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// benchLaunch measures launching deps through the executor, readiness
// included, on the shared control plane, and reports the API requests the
// runtime sent per launch. Each launch gets a new deployment; between
// launches, untimed, its namespace is deleted and waited for.
func benchLaunch(b *testing.B, name string, deps stack.Deps, templates map[string]string, opts *deploy.Options) {
	env := kubetest.Shared(b)
	startProvisioner(b, env)
	var c requestCounter
	rt := newRuntime(b, counted(env.Config, &c), nil)
	cat := newCatalog(b, name, deps)
	o := deploy.Options{ReadyTimeout: 5 * time.Minute}
	if opts != nil {
		o = *opts
	}
	ex := deploy.New(rt, cat.st, &o)
	b.Cleanup(func() { ex.Close() })
	ctx := ctxT(b, 30*time.Minute)
	// Start the runtime's watches before the clock does.
	if err := rt.Wait(ctx, &runtime.StackSpec{Deployment: "warm-up", Stack: stack.Stack{Name: "none"}}, nil); err == nil {
		b.Fatal("waiting for a stack that does not exist succeeded")
	}

	var requests int64
	prefix := name + "-" + randomHex(2)
	b.ResetTimer()
	for i := range b.N {
		dep := fmt.Sprintf("%s-%d", prefix, i)
		c.n.Store(0)
		res, err := ex.Launch(ctx, deploy.Request{Deployment: dep, VersionID: cat.versions[0].ID, ConfigTemplates: templates})
		b.StopTimer()
		if err != nil {
			b.Fatalf("launch %s: %v", dep, err)
		}
		if res.Deployment.Status != store.StatusAvailable {
			b.Fatalf("launch %s: status %s", dep, res.Deployment.Status)
		}
		requests += c.n.Load()
		deleteNamespace(b, env, rt.Namespace(dep))
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// deleteNamespace deletes a namespace and waits until it is gone.
func deleteNamespace(b *testing.B, env *kubetest.Env, ns string) {
	ctx := context.Background()
	if err := env.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	for {
		_, err := env.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkLaunchWideTier launches one tier of 100 stacks of one service
// each.
func BenchmarkLaunchWideTier(b *testing.B) {
	tier := make(stack.Tier, 100)
	for i := range tier {
		tier[i] = stack.Stack{Name: fmt.Sprintf("s%03d", i), Services: []stack.Service{plain("app")}}
	}
	for _, conc := range []int{deploy.DefaultConcurrency, 32, kube.DefaultConcurrency} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			benchLaunch(b, "wide", stack.Deps{tier}, nil, &deploy.Options{Concurrency: conc, ReadyTimeout: 5 * time.Minute})
		})
	}
}

// BenchmarkLaunchKodoDouble launches the seed product: mysql-1 with its
// volume, then both kodo stacks.
func BenchmarkLaunchKodoDouble(b *testing.B) {
	benchLaunch(b, "kodo", kodoDouble(b), kodoTemplates, nil)
}

package kube_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/internal/kubetest"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/kube"
	"github.com/stackwave/stackwave/stack"
)

// TestWaitStoppedNamesCause: a claim of a class without a provisioner may
// still bind (someone may create a volume), so Wait keeps waiting; its
// progress follows what the cluster says (the claim's event) and never
// calls the applied StatefulSet "not created yet"; and when the caller's
// context ends (an operation's --timeout), the error names the last cause
// the cluster gave, not only the clock.
func TestWaitStoppedNamesCause(t *testing.T) {
	t.Parallel()
	env := kubetest.Shared(t)
	ctx := ctxT(t, 5*time.Minute)
	static := staticStorageClass(t, env, "stackwave-nocause-")
	rt := newRuntime(t, env.Config, &kube.Options{StorageClasses: map[string]string{"SSD1": static}})
	db := plain("db")
	db.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	spec := &runtime.StackSpec{Deployment: "cause-" + randomHex(3), ProductName: "p", ProductID: "p1", VersionID: "v1",
		Stack: stack.Stack{Name: "db", Services: []stack.Service{db}}, ReadyTimeout: time.Hour}
	t.Cleanup(func() {
		_ = rt.Remove(context.Background(), spec.Ref(), runtime.RemoveOptions{DeleteData: true})
	})
	must(t, rt.Apply(ctx, spec, nil))

	var mu sync.Mutex
	var messages []string
	claimSaid := make(chan struct{})
	var once sync.Once
	waitCtx, stop := context.WithCancel(ctx)
	defer stop()
	report := runtime.Reporter(func(e runtime.Event) {
		mu.Lock()
		messages = append(messages, e.Message)
		mu.Unlock()
		if e.Type == runtime.EventServiceWaiting && strings.Contains(e.Message, "the cluster said") {
			once.Do(func() { close(claimSaid) })
		}
	})
	errc := make(chan error, 1)
	go func() { errc <- rt.Wait(waitCtx, spec, report) }()
	select {
	case <-claimSaid:
	case err := <-errc:
		t.Fatalf("Wait ended before the claim's cause was reported: %v", err)
	case <-ctx.Done():
		t.Fatal("the claim's cause was never reported")
	}
	stop() // as an operation's --timeout would
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v, want context.Canceled", err)
	}
	t.Logf("Wait: %v", err)
	for _, want := range []string{"still waiting", "claim", "has no provisioner", "the cluster said"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Wait: %v\nwant it to contain %q", err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range messages {
		if strings.Contains(m, "not created yet") {
			t.Errorf("progress said %q of an applied statefulset; all: %q", m, messages)
		}
	}
}

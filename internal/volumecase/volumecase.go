// Package volumecase holds the data-keeping scenarios of the deploy
// executor as functions any runtime's tests run: the simulated runtime's
// in deploy, the Docker engine's in runtime/docker. Each checks the
// volumes the runtime lists (runtime.VolumeLister) after a sequence of
// operations:
//
//   - [TerminateFindsRemovedStacks]: Terminate with DeleteData deletes the
//     volumes of stacks an earlier update removed.
//   - [RollbackKeepsDataOfBefore]: a rollback of an update deletes the
//     volumes of the stacks it created and keeps those of a stack it
//     added back whose volumes an earlier update kept.
//   - [ResumedRollbackKeepsDataOfBefore]: a relaunch killed mid-way and
//     resumed by another executor rolls back without deleting the volumes
//     the terminated deployment kept.
package volumecase

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
	"github.com/stackwave/stackwave/store/memory"
)

// Env is what a runtime's tests give the scenarios.
type Env struct {
	// Runtime must implement runtime.VolumeLister.
	Runtime runtime.Runtime
	// Good returns a service that becomes ready; Bad one that fails
	// (exits) before it is ready. The scenarios' failing stack is
	// always called "c", for runtimes that fail it by name.
	Good, Bad func(name string) stack.Service
	// Options tune the executors (ReadyTimeout, ...); OnEvent, Owner
	// and LeaseTTL are set by the scenarios.
	Options deploy.Options
	// Timeout bounds a whole scenario.
	Timeout time.Duration
}

// withData returns s with a volume on its first service.
func withData(s stack.Service) stack.Service {
	s.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
	return s
}

func (e *Env) stack(name string, bad bool) stack.Stack {
	svc := e.Good("svc")
	if bad {
		svc = e.Bad("svc")
	}
	return stack.Stack{Name: name, Services: []stack.Service{withData(svc)}}
}

type fixture struct {
	t   *testing.T
	env *Env
	drv store.Driver
	st  *store.Store
	pid string
	ctx context.Context
}

func (e *Env) fixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmpOr(e.Timeout, 5*time.Minute))
	t.Cleanup(cancel)
	drv := memory.NewDriver()
	st := store.New(drv, nil)
	t.Cleanup(func() { st.Close() })
	p, err := st.CreateProduct(ctx, &product.Product{Name: "volumes", ProviderName: "tests"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, env: e, drv: drv, st: st, pid: p.ID, ctx: ctx}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (f *fixture) version(name string, deps stack.Deps) string {
	f.t.Helper()
	v, err := f.st.CreateVersion(f.ctx, &product.Version{ProductID: f.pid, Name: name, Active: true, StackDeps: deps})
	if err != nil {
		f.t.Fatal(err)
	}
	return v.ID
}

func (f *fixture) executor(st *store.Store, owner string, ttl time.Duration, on func(deploy.Event)) *deploy.Executor {
	o := f.env.Options
	o.Owner, o.LeaseTTL, o.OnEvent = owner, ttl, on
	ex := deploy.New(f.env.Runtime, st, &o)
	f.t.Cleanup(func() { ex.Close() })
	return ex
}

// volumes returns, by stack, the names of the deployment's volumes.
func (f *fixture) volumes(name string) map[string][]string {
	f.t.Helper()
	vols, err := f.env.Runtime.(runtime.VolumeLister).Volumes(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, v := range vols {
		out[v.Stack] = append(out[v.Stack], v.Name)
	}
	return out
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// TerminateFindsRemovedStacks: launch [[a,b]], both with volumes, update
// to [[a]] (b's volume is kept), terminate with DeleteData: no volume of
// the deployment is left, and the record holds none.
func TerminateFindsRemovedStacks(t *testing.T, env *Env) {
	f := env.fixture(t)
	name := "vol-term"
	v1 := f.version("v1", stack.Deps{{env.stack("a", false), env.stack("b", false)}})
	v2 := f.version("v2", stack.Deps{{env.stack("a", false)}})
	ex := f.executor(f.st, "a", 0, nil)
	_, err := ex.Launch(f.ctx, deploy.Request{Deployment: name, VersionID: v1})
	f.must(err)
	_, err = ex.Update(f.ctx, deploy.Request{Deployment: name, VersionID: v2})
	f.must(err)
	if got := f.volumes(name); len(got["b"]) == 0 {
		t.Fatalf("the update to [[a]] deleted b's volume: %v", got)
	}
	res, err := ex.Terminate(f.ctx, deploy.Request{Deployment: name, DeleteData: true})
	f.must(err)
	if got := f.volumes(name); len(got) != 0 {
		t.Errorf("terminate with DeleteData left volumes %v", got)
	}
	if len(res.Deployment.VolumeStacks) != 0 {
		t.Errorf("record still lists volume stacks %v", res.Deployment.VolumeStacks)
	}
}

// RollbackKeepsDataOfBefore: v1 [[a,b]], v2 [[a]] (b's volume kept), v3
// [[a,b],[c]] with c failing and Rollback: b's volume, which existed
// before the update, stays; c's, which the update created, goes.
func RollbackKeepsDataOfBefore(t *testing.T, env *Env) {
	f := env.fixture(t)
	name := "vol-rb"
	v1 := f.version("v1", stack.Deps{{env.stack("a", false), env.stack("b", false)}})
	v2 := f.version("v2", stack.Deps{{env.stack("a", false)}})
	v3 := f.version("v3", stack.Deps{{env.stack("a", false), env.stack("b", false)}, {env.stack("c", true)}})
	ex := f.executor(f.st, "a", 0, nil)
	_, err := ex.Launch(f.ctx, deploy.Request{Deployment: name, VersionID: v1})
	f.must(err)
	_, err = ex.Update(f.ctx, deploy.Request{Deployment: name, VersionID: v2})
	f.must(err)
	before := f.volumes(name)
	res, err := ex.Update(f.ctx, deploy.Request{Deployment: name, VersionID: v3, Policy: deploy.Rollback})
	var oe *deploy.OperationError
	if err == nil || !errors.As(err, &oe) || !oe.RolledBack {
		t.Fatalf("update to v3: %v, want a rolled back failure", err)
	}
	if op := res.Operation; !slices.Equal(op.NewVolumeStacks, []string{"c"}) {
		t.Errorf("operation recorded new volume stacks %v, want [c]", op.NewVolumeStacks)
	}
	after := f.volumes(name)
	for _, s := range []string{"a", "b"} {
		if !slices.Equal(after[s], before[s]) {
			t.Errorf("stack %s had volumes %v before the update, %v after its rollback", s, before[s], after[s])
		}
	}
	if len(after["c"]) != 0 {
		t.Errorf("the rollback kept c's volumes %v, which the update created", after["c"])
	}
}

// deadDriver makes every write fail once killed, as if the process
// running an executor had died.
type deadDriver struct {
	store.Driver
	mu   sync.Mutex
	dead bool
}

func (d *deadDriver) kill() { d.mu.Lock(); d.dead = true; d.mu.Unlock() }

func (d *deadDriver) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	d.mu.Lock()
	dead := d.dead
	d.mu.Unlock()
	if dead {
		return errors.New("process died")
	}
	return d.Driver.Update(ctx, opts, fn)
}

// ResumedRollbackKeepsDataOfBefore: launch [[a,b]] with volumes,
// terminate keeping data, relaunch [[a,b],[c]] with Rollback; the
// executor dies once a and b are ready, another resumes, c fails, the
// resumed rollback removes every stack and deletes c's volume only: a's
// and b's, kept by the termination, stay.
func ResumedRollbackKeepsDataOfBefore(t *testing.T, env *Env) {
	f := env.fixture(t)
	name := "vol-resume"
	v1 := f.version("v1", stack.Deps{{env.stack("a", false), env.stack("b", false)}})
	v2 := f.version("v2", stack.Deps{{env.stack("a", false), env.stack("b", false)}, {env.stack("c", true)}})
	first := f.executor(f.st, "first", 0, nil)
	_, err := first.Launch(f.ctx, deploy.Request{Deployment: name, VersionID: v1})
	f.must(err)
	_, err = first.Terminate(f.ctx, deploy.Request{Deployment: name})
	f.must(err)
	kept := f.volumes(name)
	if len(kept["a"]) == 0 || len(kept["b"]) == 0 {
		t.Fatalf("terminate without DeleteData kept volumes %v, want a's and b's", kept)
	}

	// Executor A dies (its store writes fail, its work stops) once both
	// stacks of the first tier are ready.
	dead := &deadDriver{Driver: f.drv}
	opCtx, stop := context.WithCancel(f.ctx)
	defer stop()
	died := make(chan struct{})
	var mu sync.Mutex
	ready := map[string]bool{}
	a := f.executor(store.New(dead, nil), "a", 300*time.Millisecond, func(ev deploy.Event) {
		if ev.Type != deploy.EventStackReady {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		ready[ev.Stack] = true
		if ready["a"] && ready["b"] && !ready["died"] {
			ready["died"] = true
			dead.kill()
			stop()
			close(died)
		}
	})
	h, err := a.Submit(opCtx, store.OpLaunch, deploy.Request{Deployment: name, VersionID: v2, Policy: deploy.Rollback})
	f.must(err)
	select {
	case <-died:
	case <-f.ctx.Done():
		t.Fatal("the relaunch never got its first tier ready")
	}
	_, _ = h.Wait(f.ctx)
	a.Close()

	b := f.executor(f.st, "b", time.Minute, nil)
	var res *deploy.Result
	for {
		res, err = b.Resume(f.ctx, name)
		if !errors.Is(err, deploy.ErrBusy) {
			break
		}
		select { // the dead executor's lease runs out
		case <-f.ctx.Done():
			t.Fatal("the dead executor's lease never expired")
		case <-time.After(50 * time.Millisecond):
		}
	}
	var oe *deploy.OperationError
	if err == nil || !errors.As(err, &oe) || !oe.RolledBack {
		t.Fatalf("resumed relaunch: %v, want a rolled back failure", err)
	}
	if op := res.Operation; !slices.Equal(op.NewVolumeStacks, []string{"c"}) {
		t.Errorf("operation recorded new volume stacks %v, want [c]", op.NewVolumeStacks)
	}
	after := f.volumes(name)
	for _, s := range []string{"a", "b"} {
		if !slices.Equal(after[s], kept[s]) {
			t.Errorf("stack %s kept volumes %v at its termination, %v after the resumed rollback", s, kept[s], after[s])
		}
	}
	if len(after["c"]) != 0 {
		t.Errorf("the rollback kept c's volumes %v, which the relaunch created", after["c"])
	}
	d, err := f.st.GetDeployment(f.ctx, name)
	f.must(err)
	if !slices.Equal(d.VolumeStacks, []string{"a", "b"}) {
		t.Errorf("record lists volume stacks %v, want [a b]", d.VolumeStacks)
	}
}

// Package harness drives the deploy executor on the simulated runtime
// through random sequences of operations and faults and checks, after
// every step, that what stackwave records and reports is what runs.
//
// A [Case] is generated from a seed ([Generate]): a few random valid
// versions of one product (tiers, stacks, services with 0 to 3 instances,
// volumes, init scripts, depends_on) and a sequence of steps: launch,
// update to a random version, terminate with or without DeleteData, each
// with a random failure policy, run by one of two executors sharing one
// store, with random sim faults (every kind, some of them firing on a
// later call so that they hit the rollback), the executor killed
// mid-operation (its store writes fail and its work stops, its lease
// expires) or closed (it hands the operation over) and the operation
// resumed by the other one, the other executor trying to resume while
// the operation runs, or the caller's context cancelled mid-operation,
// also during a rollback. [Run] plays a case on a store the caller opens (memory,
// SQLite, PostgreSQL) and returns the first broken invariant; [Shrink]
// drops steps and versions while the case still fails.
//
// # Invariants
//
// Checked after every step, once no operation runs:
//
//   - No lease is held and no operation is InProgress; the deployment is
//     not UnderChange. While an operation runs, the other executor cannot
//     resume the deployment (ErrBusy, or ErrNothingToResume once it
//     ended).
//   - The returned error and the record agree: nil means the operation
//     Succeeded and the deployment is Available (Terminated for a
//     terminate); an error of an operation that was recorded means it
//     Failed and the deployment is Error or Tainted.
//   - Available: the runtime runs exactly the recorded version: the same
//     stacks (none left over, none twice), each in its tier of the
//     version (a stack that moved tier was applied again), each service
//     with its spec's configuration hash, instance count, every instance
//     running and ready; the record lists exactly those stacks with their
//     hashes.
//   - Every stack that runs is listed in the record, whatever its status
//     (a resumed operation adds those its dead executor created).
//   - Terminated: nothing runs; after Terminate with DeleteData no volume
//     of the deployment is left.
//   - A rolled back operation (status Tainted) restores exactly what ran
//     before (stacks, hashes, instance counts) when the deployment was
//     Available before, and runs nothing after a launch; a rollback that
//     is interrupted or fails itself reports Error, not Tainted.
//   - No volume that existed before a step is gone after it, unless the
//     step was a Terminate with DeleteData.
//   - Events: the log's sequence numbers are 1, 2, ... without gaps; an
//     operation has at most one operation-started (none when its executor
//     was killed before writing it), its first event is operation-started
//     or operation-resumed, and a finished operation's last event is
//     operation-done or operation-failed, as its status says; in a launch run by one
//     executor a stack is applied only after every stack it depends on
//     is ready; in a terminate a stack is removed only after the stacks
//     of every later tier were (or failed to be, under Continue).
//   - After a kill, before the operation is resumed: the record and the
//     log agree on whether it ended. An operation in progress has no
//     operation-done or operation-failed event; an ended one has the one
//     its status says. Regression cases kill an executor at the write of
//     the operation's last event (Step.KillAtEnd), inside that
//     transaction and right after it committed.
//
// Goroutine leaks and races are the test binary's to find (goleak,
// -race).
//
// # Runs
//
// The CI runs TestHarness's fixed seeds, bounded by case counts (not by
// time), each case of 1 to 12 steps: 80 cases on the memory store, 50 on
// SQLite and 8 on PostgreSQL (when STACKWAVE_POSTGRES_URL is set), and
// the regression cases on each. Under -race on the 2-core machine at load
// average 20 to 25: memory 22.7 s, SQLite 26.3 s, PostgreSQL 37.3 s (a
// kill there waits for the lease to expire by the server's clock), 91.6
// s for the package (BENCHMARKS.md). A longer run, other seeds:
//
//	STACKWAVE_HARNESS_CASES=2000 STACKWAVE_HARNESS_SEED=1 go test -run TestHarness -timeout 2h ./deploy/internal/harness
//
// A failure prints its seed and the shrunk case as JSON; the case goes to
// testdata/regress as a named regression test.
package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/product"
	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/runtime/sim"
	"github.com/stackwave/stackwave/stack"
	"github.com/stackwave/stackwave/store"
)

// Deployment is the name of the deployment every case drives.
const Deployment = "hx"

// Case is one generated scenario.
type Case struct {
	Seed     uint64       `json:"seed"`
	Versions []stack.Deps `json:"versions"`
	Steps    []Step       `json:"steps"`
}

// Step is one operation with what goes wrong during it.
type Step struct {
	Op         store.OpType  `json:"op"`
	Version    int           `json:"version,omitempty"`
	Policy     deploy.Policy `json:"policy,omitempty"`
	DeleteData bool          `json:"delete_data,omitempty"`
	// Executor (0 or 1) runs the step.
	Executor int `json:"executor,omitempty"`
	// Faults are injected for the step and cleared after it.
	Faults []Fault `json:"faults,omitempty"`
	// Kill, when positive, kills the executor at its Kill-th event; the
	// other executor then resumes the operation.
	Kill int `json:"kill,omitempty"`
	// Cancel, when positive, cancels the caller's context at the
	// Cancel-th event.
	Cancel int `json:"cancel,omitempty"`
	// KillOn and CancelOn, when set, count only the events of this type
	// (Kill and Cancel then default to 1): "rollback-started" kills or
	// cancels at the start of the rollback.
	KillOn   deploy.EventType `json:"kill_on,omitempty"`
	CancelOn deploy.EventType `json:"cancel_on,omitempty"`
	// HandOver makes the kill a Close: the executor hands the operation
	// over (records it, releases the lease) instead of dying.
	HandOver bool `json:"hand_over,omitempty"`
	// KillAtEnd, when set (BeforeCommit or AfterCommit), kills the
	// executor at the store write that carries the operation's last
	// event, operation-done or operation-failed: inside its transaction,
	// so that none of it is written, or right after it committed. The
	// other executor then resumes what is left in progress.
	KillAtEnd string `json:"kill_at_end,omitempty"`
	// Contend makes the other executor try to resume the deployment
	// while the step's operation runs: it must be refused.
	Contend bool `json:"contend,omitempty"`
}

// Fault is a sim.Fault as a case stores it.
type Fault struct {
	Kind    string `json:"kind"`
	Stack   string `json:"stack,omitempty"`
	Service string `json:"service,omitempty"`
	Nth     int    `json:"nth,omitempty"`
}

var faultKinds = map[string]sim.FaultKind{}

func init() {
	for k := sim.FailApply; k <= sim.FailWait; k++ {
		faultKinds[k.String()] = k
	}
}

func (f Fault) sim() sim.Fault {
	return sim.Fault{Kind: faultKinds[f.Kind], Deployment: Deployment, Stack: f.Stack, Service: f.Service, Nth: f.Nth, ExitCode: 3}
}

// String renders the case as JSON, to paste into testdata/regress.
func (c *Case) String() string {
	b, _ := json.MarshalIndent(c, "", "  ")
	return string(b)
}

// Generate returns the case of a seed with at most steps steps.
func Generate(seed uint64, steps int) *Case {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	c := &Case{Seed: seed}
	for range 2 + r.IntN(3) {
		c.Versions = append(c.Versions, genDeps(r))
	}
	n := 1 + r.IntN(steps)
	live := false
	for range n {
		s := Step{Executor: r.IntN(2), Policy: []deploy.Policy{deploy.FailFast, deploy.Continue, deploy.Rollback}[r.IntN(3)]}
		switch {
		case !live:
			s.Op, s.Version = store.OpLaunch, r.IntN(len(c.Versions))
		case r.IntN(5) == 0:
			s.Op, s.DeleteData = store.OpTerminate, r.IntN(2) == 0
		default:
			s.Op, s.Version = store.OpUpdate, r.IntN(len(c.Versions))
		}
		live = s.Op != store.OpTerminate
		if r.IntN(3) == 0 {
			for range 1 + r.IntN(2) {
				s.Faults = append(s.Faults, genFault(r, c.Versions))
			}
		}
		on := []deploy.EventType{"", "", deploy.EventRollbackStarted, deploy.EventStackReady, deploy.EventStackRemoving}
		switch r.IntN(12) {
		case 0:
			s.Kill, s.KillOn = 1+r.IntN(12), on[r.IntN(len(on))]
		case 1:
			s.Cancel, s.CancelOn = 1+r.IntN(12), on[r.IntN(len(on))]
		}
		if s.KillOn != "" {
			s.Kill = 1 + r.IntN(2)
		}
		s.HandOver = s.Kill > 0 && r.IntN(2) == 0
		s.Contend = s.Kill == 0 && r.IntN(4) == 0
		if s.CancelOn != "" {
			s.Cancel = 1 + r.IntN(2)
		}
		c.Steps = append(c.Steps, s)
	}
	return c
}

var stackNames = []string{"db", "cache", "api", "web", "jobs"}

func genDeps(r *rand.Rand) stack.Deps {
	names := slices.Clone(stackNames)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	names = names[:2+r.IntN(3)]
	var deps stack.Deps
	var earlier []string
	for i := 0; i < len(names); {
		k := min(1+r.IntN(2), len(names)-i)
		var tier []stack.Stack
		for _, name := range names[i : i+k] {
			s := stack.Stack{Name: name}
			for j := range 1 + r.IntN(2) {
				svc := stack.Service{
					Name: "svc" + strconv.Itoa(j), UnitType: "1U1G",
					Image:     stack.Image{Name: "app", Tag: strconv.Itoa(1 + r.IntN(2))},
					Instances: r.IntN(4),
				}
				if r.IntN(3) == 0 {
					svc.VolumeArgs = []stack.VolumeArg{{MountPath: "/data", UnitType: "SSD1_10G"}}
				}
				s.Services = append(s.Services, svc)
			}
			if r.IntN(4) == 0 {
				s.InitScripts = []stack.InitScript{{ServiceName: "svc0", Command: []string{"init", strconv.Itoa(r.IntN(2))}}}
			}
			if len(earlier) > 0 && r.IntN(3) == 0 {
				s.DependsOn = []string{earlier[r.IntN(len(earlier))]}
			}
			tier = append(tier, s)
		}
		for _, s := range tier {
			earlier = append(earlier, s.Name)
		}
		deps = append(deps, tier)
		i += k
	}
	return deps
}

func genFault(r *rand.Rand, versions []stack.Deps) Fault {
	kinds := []sim.FaultKind{sim.FailApply, sim.NeverReady, sim.CrashAfterReady, sim.ExitOnStart, sim.FailRemove, sim.FailInit, sim.FailWait}
	k := kinds[r.IntN(len(kinds))]
	if k == sim.NeverReady && r.IntN(2) == 0 { // each costs a ready timeout
		k = sim.ExitOnStart
	}
	f := Fault{Kind: k.String(), Stack: stackNames[r.IntN(len(stackNames))]}
	if r.IntN(3) == 0 {
		f.Service = "svc0"
	}
	// A later matching call: the rollback's, or a repair's.
	f.Nth = r.IntN(3)
	return f
}

// Config says where a case runs.
type Config struct {
	// Open opens the shared store's driver, and Close closes it.
	Open func(ctx context.Context) (store.Driver, error)
	// ServerClock is set when the driver judges leases by its own
	// clock (PostgreSQL): a kill then waits for the lease to expire.
	ServerClock bool
	// LeaseTTL of the executors; ReadyTimeout of services.
	LeaseTTL, ReadyTimeout time.Duration
}

// killable is an executor's view of the shared driver: it fails every
// write once killed, as if its process had died, and can kill at the
// write of an operation's last event. It is the shared driver wrapped by
// store.WrapDriver (over a wrapper of its Update that keeps the driver's
// and the Tx's optional interfaces), so it keeps the driver's optional
// interfaces: over PostgreSQL the executor's store judges leases by the
// server's clock (store.Clock) and hears the other executor's changes
// (store.Notifier), as a real process would. Close passes through to the
// shared driver: nothing closes an executor's store.
type killable struct {
	drv  store.Driver
	dead atomic.Bool

	// atEnd, when set, kills the executor at the write transaction that
	// appends an operation's last event (see Step.KillAtEnd), then calls
	// killed.
	mu     sync.Mutex
	atEnd  string
	killed func()
}

// Where Step.KillAtEnd kills the executor.
const (
	// BeforeCommit: the process dies inside the transaction that ends
	// the operation; nothing of it is written.
	BeforeCommit = "before-commit"
	// AfterCommit: the process dies once that transaction committed,
	// before it released the lease.
	AfterCommit = "after-commit"
)

// killAtEnd arms (or, with an empty at, disarms) the kill at the write
// of an operation's last event.
func (k *killable) killAtEnd(at string, killed func()) {
	k.mu.Lock()
	k.atEnd, k.killed = at, killed
	k.mu.Unlock()
}

// update runs a write transaction of the shared driver d with its Tx
// seen through the kill at the end, if one is armed.
func (k *killable) update(ctx context.Context, d store.Driver, opts *store.TxOptions, fn func(store.Tx) error) error {
	k.mu.Lock()
	at, killed := k.atEnd, k.killed
	k.mu.Unlock()
	if at == "" {
		return d.Update(ctx, opts, fn)
	}
	var ends bool
	err := d.Update(ctx, opts, func(tx store.Tx) error {
		ends = false // a driver may run fn again
		return fn(hookTx(tx, func(evs []store.Event) error {
			for _, e := range evs {
				if t := deploy.EventType(e.Type); t == deploy.EventOperationDone || t == deploy.EventOperationFailed {
					ends = true
				}
			}
			if ends && at == BeforeCommit {
				k.die(killed)
				return errDead
			}
			return nil
		}))
	})
	if err == nil && ends && at == AfterCommit {
		k.die(killed)
	}
	return err
}

// die kills the executor once.
func (k *killable) die(killed func()) {
	k.mu.Lock()
	armed := k.atEnd != ""
	k.atEnd = ""
	k.mu.Unlock()
	k.dead.Store(true)
	if armed && killed != nil {
		killed()
	}
}

// updater is the shared driver with its Update run through a killable;
// withCaps gives it the driver's optional interfaces back.
type updater struct {
	store.Driver
	k *killable
}

func (u *updater) Update(ctx context.Context, opts *store.TxOptions, fn func(store.Tx) error) error {
	return u.k.update(ctx, u.Driver, opts, fn)
}

// withCaps returns u with the optional interfaces of u.Driver.
func withCaps(u *updater) store.Driver {
	c, isClock := u.Driver.(store.Clock)
	n, isNotifier := u.Driver.(store.Notifier)
	switch {
	case isClock && isNotifier:
		return struct {
			*updater
			store.Clock
			store.Notifier
		}{u, c, n}
	case isClock:
		return struct {
			*updater
			store.Clock
		}{u, c}
	case isNotifier:
		return struct {
			*updater
			store.Notifier
		}{u, n}
	}
	return u
}

// appendHook is a Tx whose AppendEvents calls hook first; the append
// fails, and the transaction with it, when hook does.
type appendHook struct {
	store.Tx
	hook func([]store.Event) error
}

func (t *appendHook) AppendEvents(ctx context.Context, deployment string, events []store.Event) error {
	if err := t.hook(events); err != nil {
		return err
	}
	return t.Tx.AppendEvents(ctx, deployment, events)
}

// hookTx returns tx with hook on its appends, and tx's optional
// interfaces.
func hookTx(tx store.Tx, hook func([]store.Event) error) store.Tx {
	h := &appendHook{Tx: tx, hook: hook}
	c, isClock := tx.(store.Clock)
	n, isNotifier := tx.(store.TxNotifier)
	switch {
	case isClock && isNotifier:
		return struct {
			*appendHook
			store.Clock
			store.TxNotifier
		}{h, c, n}
	case isClock:
		return struct {
			*appendHook
			store.Clock
		}{h, c}
	case isNotifier:
		return struct {
			*appendHook
			store.TxNotifier
		}{h, n}
	}
	return h
}

// errDead ends a dead executor's writes at once: it matches
// store.ErrClosed, which nothing retries, as a process that died does not
// retry.
var errDead = fmt.Errorf("%w: the executor's process died", store.ErrClosed)

// deadContext is over, with errDead as its error. Every driver returns a
// done context's error before it touches the database, so a write run on
// it fails at once with errDead. (A context's error is otherwise
// context.Canceled, which the executor would retry until its lease TTL.)
type deadContext struct{ context.Context }

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (deadContext) Done() <-chan struct{} { return closedDone }
func (deadContext) Err() error            { return errDead }

func newKillable(d store.Driver) *killable {
	k := &killable{}
	k.drv = store.WrapDriver(withCaps(&updater{Driver: d, k: k}), store.DriverHooks{
		Before: func(ctx context.Context, c store.DriverCall) context.Context {
			if c.Method == "Update" && k.dead.Load() {
				// A dead process writes nothing.
				return deadContext{ctx}
			}
			return ctx
		},
	})
	return k
}

type executor struct {
	ex    *deploy.Executor
	drv   *killable
	owner string
	// onEvent is called with every event of the executor.
	mu      sync.Mutex
	onEvent func(deploy.Event)
}

type runner struct {
	cfg      Config
	c        *Case
	ctx      context.Context
	drv      store.Driver
	st       *store.Store
	rt       *sim.Runtime
	skew     atomic.Int64 // added to the stores' clock: kills expire leases at once
	exs      [2]*executor
	gen      int
	version  []*product.Version
	launched bool
}

func (r *runner) now() time.Time { return time.Now().Add(time.Duration(r.skew.Load())) }

func (r *runner) newExecutor(i int) {
	r.gen++
	k := newKillable(r.drv)
	x := &executor{drv: k, owner: fmt.Sprintf("ex%d-%d", i, r.gen)}
	x.ex = deploy.New(r.rt, store.New(k.drv, &store.Options{Now: r.now}), &deploy.Options{
		Owner: x.owner, LeaseTTL: r.cfg.LeaseTTL, ReadyTimeout: r.cfg.ReadyTimeout,
		OnEvent: func(ev deploy.Event) {
			x.mu.Lock()
			fn := x.onEvent
			x.mu.Unlock()
			if fn != nil {
				fn(ev)
			}
		},
	})
	r.exs[i] = x
}

// Run plays a case and returns the first broken invariant, naming the
// step.
func Run(ctx context.Context, cfg Config, c *Case) (err error) {
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 2 * time.Second
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	drv, err := cfg.Open(ctx)
	if err != nil {
		return err
	}
	defer drv.Close()
	r := &runner{cfg: cfg, c: c, ctx: ctx, drv: drv, rt: sim.New(&sim.Options{Latency: latency(c.Seed)})}
	r.st = store.New(drv, &store.Options{Now: r.now})
	r.newExecutor(0)
	r.newExecutor(1)
	defer func() {
		for _, x := range r.exs {
			x.ex.Close()
		}
	}()
	p, err := r.st.CreateProduct(ctx, &product.Product{Name: "harness", ProviderName: "tests"})
	if err != nil {
		return err
	}
	for i, deps := range c.Versions {
		v, err := r.st.CreateVersion(ctx, &product.Version{ProductID: p.ID, Name: "v" + strconv.Itoa(i), Active: true, StackDeps: deps})
		if err != nil {
			return fmt.Errorf("version %d: %w", i, err)
		}
		r.version = append(r.version, v)
	}
	for i, s := range c.Steps {
		if err := r.step(s); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, describe(s), err)
		}
	}
	return nil
}

func describe(s Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", s.Op)
	if s.Op != store.OpTerminate {
		fmt.Fprintf(&b, " v%d", s.Version)
	} else if s.DeleteData {
		b.WriteString(" delete-data")
	}
	fmt.Fprintf(&b, " %s by executor %d", s.Policy, s.Executor)
	for _, f := range s.Faults {
		fmt.Fprintf(&b, ", %s on %s/%s nth %d", f.Kind, f.Stack, f.Service, f.Nth)
	}
	if s.Kill > 0 || s.KillOn != "" {
		verb := "killed"
		if s.HandOver {
			verb = "closed"
		}
		fmt.Fprintf(&b, ", %s at event %d %s", verb, max(s.Kill, 1), s.KillOn)
	}
	if s.Cancel > 0 || s.CancelOn != "" {
		fmt.Fprintf(&b, ", cancelled at event %d %s", max(s.Cancel, 1), s.CancelOn)
	}
	if s.Contend {
		b.WriteString(", the other executor contending")
	}
	if s.KillAtEnd != "" {
		fmt.Fprintf(&b, ", killed at the write of its last event, %s", s.KillAtEnd)
	}
	return b.String()
}

// latency gives each service its own apply and ready latencies, so that
// stacks of a tier overlap and finish in varying order.
func latency(seed uint64) func(dep, stk, svc string) (time.Duration, time.Duration) {
	return func(dep, stk, svc string) (time.Duration, time.Duration) {
		h := seed
		for _, c := range stk + "/" + svc {
			h = h*31 + uint64(c)
		}
		return time.Duration(h%3) * time.Millisecond, time.Duration(h/3%4) * time.Millisecond
	}
}

// snapshot is what ran and what the store held before a step.
type snapshot struct {
	d       *store.Deployment
	obs     *runtime.DeploymentState
	volumes map[string]bool
}

func (r *runner) snap() (*snapshot, error) {
	s := &snapshot{volumes: map[string]bool{}}
	d, err := r.st.GetDeployment(r.ctx, Deployment)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	s.d = d
	if s.obs, err = r.rt.Observe(r.ctx, Deployment); err != nil {
		return nil, err
	}
	vols, err := r.rt.Volumes(r.ctx, Deployment)
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		s.volumes[v.Name] = true
	}
	return s, nil
}

func (r *runner) step(s Step) error {
	if s.Op == store.OpUpdate && !r.launched {
		s.Op = store.OpLaunch
	}
	before, err := r.snap()
	if err != nil {
		return err
	}
	for _, f := range s.Faults {
		r.rt.Inject(f.sim())
	}
	defer r.rt.ClearFaults()

	x := r.exs[s.Executor%2]
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	var nKill, nCancel atomic.Int32
	if s.KillOn != "" && s.Kill == 0 {
		s.Kill = 1
	}
	if s.CancelOn != "" && s.Cancel == 0 {
		s.Cancel = 1
	}
	killed := make(chan struct{})
	if s.KillAtEnd != "" {
		x.drv.killAtEnd(s.KillAtEnd, func() {
			cancel()
			close(killed)
		})
	}
	x.mu.Lock()
	x.onEvent = func(ev deploy.Event) {
		if s.CancelOn == "" || ev.Type == s.CancelOn {
			if int(nCancel.Add(1)) == s.Cancel {
				cancel()
			}
		}
		if (s.KillOn == "" || ev.Type == s.KillOn) && int(nKill.Add(1)) == s.Kill {
			if s.HandOver {
				go x.ex.Close() // waits for the operation, which calls us
			} else {
				x.drv.dead.Store(true)
				cancel()
			}
			close(killed)
		}
	}
	x.mu.Unlock()
	req := deploy.Request{Deployment: Deployment, Policy: s.Policy, DeleteData: s.DeleteData}
	if s.Op != store.OpTerminate {
		req.VersionID = r.version[s.Version%len(r.version)].ID
	}
	var res *deploy.Result
	h, err := x.ex.Submit(ctx, s.Op, req)
	var contended error
	if err == nil && s.Contend {
		_, cerr := r.exs[(s.Executor+1)%2].ex.Resume(r.ctx, Deployment)
		if !errors.Is(cerr, deploy.ErrBusy) && !errors.Is(cerr, deploy.ErrNothingToResume) && !errors.Is(cerr, store.ErrNotFound) {
			contended = fmt.Errorf("the other executor resumed the deployment while an operation ran: %v", cerr)
		}
	}
	if err == nil {
		res, err = h.Wait(r.ctx)
	}
	if contended != nil {
		return contended
	}
	x.mu.Lock()
	x.onEvent = nil
	x.mu.Unlock()
	x.drv.killAtEnd("", nil)
	resumed := false
	select {
	case <-killed:
		// The dead executor is gone for good; another resumes what it
		// left in progress once its lease expired.
		x.ex.Close()
		// What it left: the record and the log agree on whether the
		// operation ended, whenever it died.
		if err := r.endAgrees(); err != nil {
			return fmt.Errorf("after the kill: %w", err)
		}
		r.newExecutor(s.Executor % 2)
		if !s.HandOver {
			r.skew.Add(int64(r.cfg.LeaseTTL + time.Second))
		}
		other := r.exs[(s.Executor+1)%2]
		for {
			res, err = other.ex.Resume(r.ctx, Deployment)
			if !errors.Is(err, deploy.ErrBusy) || !r.cfg.ServerClock {
				break
			}
			select {
			case <-r.ctx.Done():
				return r.ctx.Err()
			case <-time.After(r.cfg.LeaseTTL / 4):
			}
		}
		if errors.Is(err, deploy.ErrNothingToResume) {
			// The kill came after the outcome was written. The dead
			// executor's lease runs out by the server's clock, if
			// the driver judges by it.
			for r.cfg.ServerClock {
				l, lerr := r.st.GetLease(r.ctx, Deployment)
				if errors.Is(lerr, store.ErrNotFound) || lerr == nil && l.Expired {
					break
				}
				if lerr != nil {
					return lerr
				}
				select {
				case <-r.ctx.Done():
					return r.ctx.Err()
				case <-time.After(r.cfg.LeaseTTL / 4):
				}
			}
			res, err = nil, nil
			d, gerr := r.st.GetDeployment(r.ctx, Deployment)
			if gerr != nil {
				return gerr
			}
			if op := d.LastOperation(); op != nil && op.Status == store.OpFailed {
				err = errors.New(op.Message)
			}
		}
		resumed = true
	default:
	}
	r.rt.ClearFaults()
	return r.check(s, before, res, err, resumed)
}

// check verifies the invariants after a step.
func (r *runner) check(s Step, before *snapshot, res *deploy.Result, opErr error, resumed bool) error {
	ctx := r.ctx
	d, err := r.st.GetDeployment(ctx, Deployment)
	if errors.Is(err, store.ErrNotFound) {
		if opErr == nil {
			return errors.New("the operation succeeded but there is no deployment record")
		}
		return nil // a launch refused or cancelled before it was recorded
	}
	if err != nil {
		return err
	}
	if l, err := r.st.GetLease(ctx, Deployment); err == nil && !l.Expired {
		return fmt.Errorf("lease held by %s after the step", l.Owner)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	op := d.LastOperation()
	if d.Status == store.StatusUnderChange || op != nil && op.Status == store.OpInProgress {
		return fmt.Errorf("deployment %s, operation %s left in progress (error %v)", d.Status, op.Status, opErr)
	}
	var prevID string
	if before.d != nil && before.d.LastOperation() != nil {
		prevID = before.d.LastOperation().ID
	}
	recorded := op != nil && op.ID != prevID
	if opErr == nil {
		if !recorded || op.Status != store.OpSucceeded {
			return fmt.Errorf("no error, but the last operation is %+v", op)
		}
		want := store.StatusAvailable
		if s.Op == store.OpTerminate {
			want = store.StatusTerminated
		}
		if d.Status != want {
			return fmt.Errorf("no error, but status %s (want %s)", d.Status, want)
		}
	} else if recorded {
		if op.Status != store.OpFailed || d.Status != store.StatusError && d.Status != store.StatusTainted {
			return fmt.Errorf("error %v, but operation %s and status %s", opErr, op.Status, d.Status)
		}
	}
	if d.Status != store.StatusTerminated {
		r.launched = true
	} else {
		r.launched = false
	}
	after, err := r.snap()
	if err != nil {
		return err
	}
	for _, ost := range after.obs.Stacks {
		if d.Stack(ost.Name) == nil {
			return fmt.Errorf("stack %s runs, but the record (%s) does not list it", ost.Name, d.Status)
		}
	}
	switch d.Status {
	case store.StatusAvailable:
		v, err := r.st.GetVersion(ctx, d.VersionID)
		if err != nil {
			return err
		}
		if err := r.runsExactly(d, v, after.obs); err != nil {
			return fmt.Errorf("Available at %s: %w", v.Name, err)
		}
	case store.StatusTerminated:
		if len(after.obs.Stacks) > 0 {
			return fmt.Errorf("Terminated, but %d stacks run", len(after.obs.Stacks))
		}
		if recorded && op.Type == store.OpTerminate && op.DeleteData && len(after.volumes) > 0 {
			return fmt.Errorf("terminated with DeleteData, but volumes %v are left", keys(after.volumes))
		}
	}
	if !(s.Op == store.OpTerminate && s.DeleteData) {
		for v := range before.volumes {
			if !after.volumes[v] {
				return fmt.Errorf("volume %s, which existed before the step, is gone", v)
			}
		}
	}
	evs, err := r.st.ListEvents(ctx, Deployment, store.EventQuery{})
	if err != nil {
		return err
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			return fmt.Errorf("event %d has sequence number %d", i+1, e.Seq)
		}
	}
	if !recorded {
		return nil
	}
	var mine []store.Event
	for _, e := range evs {
		if e.OperationID == op.ID {
			mine = append(mine, e)
		}
	}
	if err := checkEvents(op, mine); err != nil {
		return err
	}
	var deps stack.Deps
	if res != nil && res.Changes != nil || op.Type == store.OpLaunch {
		if v, err := r.st.GetVersion(ctx, op.ToVersionID); err == nil {
			deps = v.StackDeps
		}
	}
	if op.Type == store.OpLaunch && !resumed && opErr == nil {
		if err := tierOrder(deps, mine); err != nil {
			return err
		}
	}
	if op.Type == store.OpTerminate && before.d != nil && !resumed {
		if v, err := r.st.GetVersion(ctx, before.d.VersionID); err == nil {
			if err := teardownOrder(v.StackDeps, mine); err != nil {
				return err
			}
		}
	}
	var oe *deploy.OperationError
	if errors.As(opErr, &oe) && oe.RolledBack {
		switch {
		case op.Type == store.OpLaunch && len(after.obs.Stacks) > 0:
			return fmt.Errorf("launch rolled back, but %d stacks run", len(after.obs.Stacks))
		case op.Type == store.OpUpdate && before.d != nil && before.d.Status == store.StatusAvailable:
			if err := sameRuns(before.obs, after.obs); err != nil {
				return fmt.Errorf("update rolled back: %w", err)
			}
		}
	}
	return nil
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// runsExactly checks the runtime against a version and the record.
func (r *runner) runsExactly(d *store.Deployment, v *product.Version, obs *runtime.DeploymentState) error {
	want := map[string]bool{}
	for ti, tier := range v.StackDeps {
		for si := range tier {
			s := &tier[si]
			want[s.Name] = true
			ost := obs.Stack(s.Name)
			if ost == nil {
				return fmt.Errorf("stack %s does not run", s.Name)
			}
			if ost.Tier != ti {
				return fmt.Errorf("stack %s runs in tier %d, want %d", s.Name, ost.Tier, ti)
			}
			if len(ost.Services) != len(s.Services) {
				return fmt.Errorf("stack %s runs %d services, want %d", s.Name, len(ost.Services), len(s.Services))
			}
			for _, svc := range s.Services {
				ss := ost.Service(svc.Name)
				if ss == nil {
					return fmt.Errorf("service %s/%s does not run", s.Name, svc.Name)
				}
				n := max(svc.Instances, 1)
				if len(ss.Instances) != n || ss.Ready() != n || ss.Running() != n {
					return fmt.Errorf("service %s/%s: %d instances, %d running, %d ready; want %d", s.Name, svc.Name, len(ss.Instances), ss.Running(), ss.Ready(), n)
				}
				if ss.Image != svc.Image.Name+":"+svc.Image.Tag {
					return fmt.Errorf("service %s/%s runs image %s, want %s:%s", s.Name, svc.Name, ss.Image, svc.Image.Name, svc.Image.Tag)
				}
			}
			rs := d.Stack(s.Name)
			if rs == nil || rs.State != deploy.StateReady || rs.ConfigHash == "" {
				return fmt.Errorf("stack %s recorded as %+v, want ready with its hash", s.Name, rs)
			}
		}
	}
	// The configuration hashes, by the executor's own comparison of the
	// version's specs with what runs.
	st, err := r.exs[0].ex.Status(r.ctx, Deployment)
	if err != nil {
		return err
	}
	if st.Sync != deploy.SyncInSync {
		for _, ss := range st.Stacks {
			if ss.Sync != deploy.SyncInSync {
				return fmt.Errorf("stack %s is %s: %s", ss.Name, ss.Sync, ss.Reason)
			}
		}
		return fmt.Errorf("status sync %s", st.Sync)
	}
	for _, s := range obs.Stacks {
		if !want[s.Name] {
			return fmt.Errorf("stack %s runs, but is not in the version", s.Name)
		}
	}
	if len(d.Stacks) != len(want) {
		return fmt.Errorf("record lists %d stacks, the version has %d", len(d.Stacks), len(want))
	}
	return nil
}

// sameRuns compares two observations: the same stacks, services, hashes
// and instance counts.
func sameRuns(a, b *runtime.DeploymentState) error {
	type svc struct {
		hash, image string
		n           int
	}
	flat := func(st *runtime.DeploymentState) map[string]svc {
		out := map[string]svc{}
		for _, s := range st.Stacks {
			for _, v := range s.Services {
				out[s.Name+"/"+v.Name] = svc{v.Hash, v.Image, len(v.Instances)}
			}
		}
		return out
	}
	fa, fb := flat(a), flat(b)
	for k, v := range fa {
		if fb[k] != v {
			return fmt.Errorf("%s ran %+v before, %+v after", k, v, fb[k])
		}
	}
	for k, v := range fb {
		if _, ok := fa[k]; !ok {
			return fmt.Errorf("%s runs %+v after, not before", k, v)
		}
	}
	return nil
}

// endAgrees checks that the record and the log agree on the last
// operation: in progress, it has no operation-done or operation-failed
// event; ended, it has one, as its status says.
func (r *runner) endAgrees() error {
	d, err := r.st.GetDeployment(r.ctx, Deployment)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	op := d.LastOperation()
	if op == nil {
		return nil
	}
	evs, err := r.st.ListEvents(r.ctx, Deployment, store.EventQuery{OperationID: op.ID})
	if err != nil {
		return err
	}
	var end deploy.EventType
	for _, e := range evs {
		if t := deploy.EventType(e.Type); t == deploy.EventOperationDone || t == deploy.EventOperationFailed {
			end = t
		}
	}
	switch {
	case op.Status == store.OpInProgress && end != "":
		return fmt.Errorf("operation %s is in progress in the record (deployment %s), but the log has its %s", op.ID, d.Status, end)
	case op.Status != store.OpInProgress && end == "":
		return fmt.Errorf("operation %s is %s in the record, but the log lacks its last event", op.ID, op.Status)
	case op.Status != store.OpInProgress && (end == deploy.EventOperationDone) != (op.Status == store.OpSucceeded):
		return fmt.Errorf("operation %s is %s in the record, its last event %s", op.ID, op.Status, end)
	}
	return nil
}

func checkEvents(op *store.Operation, evs []store.Event) error {
	started := 0
	for _, e := range evs {
		if deploy.EventType(e.Type) == deploy.EventOperationStarted {
			started++
		}
	}
	// A killed executor loses the events it had not written yet, its
	// operation-started among them.
	if started > 1 {
		return fmt.Errorf("operation %s has %d operation-started events", op.ID, started)
	}
	if len(evs) == 0 {
		return fmt.Errorf("operation %s has no events", op.ID)
	}
	if first := deploy.EventType(evs[0].Type); first != deploy.EventOperationStarted && first != deploy.EventOperationResumed {
		return fmt.Errorf("operation %s begins with %s", op.ID, first)
	}
	last := deploy.EventType(evs[len(evs)-1].Type)
	if last != deploy.EventOperationDone && last != deploy.EventOperationFailed {
		return fmt.Errorf("operation %s ended, its last event is %s", op.ID, last)
	}
	if (last == deploy.EventOperationDone) != (op.Status == store.OpSucceeded) {
		return fmt.Errorf("operation %s is %s, its last event %s", op.ID, op.Status, last)
	}
	return nil
}

// deps returns the stacks a stack waits for: its depends_on, else the
// whole previous tier.
func depsOf(deps stack.Deps, ti int, s *stack.Stack) []string {
	if len(s.DependsOn) > 0 {
		return s.DependsOn
	}
	if ti == 0 {
		return nil
	}
	var out []string
	for _, p := range deps[ti-1] {
		out = append(out, p.Name)
	}
	return out
}

func tierOrder(deps stack.Deps, evs []store.Event) error {
	ready := map[string]bool{}
	for _, e := range evs {
		switch deploy.EventType(e.Type) {
		case deploy.EventStackReady:
			ready[e.Stack] = true
		case deploy.EventStackApplying:
			s, ti := deps.Stack(e.Stack)
			if s == nil {
				continue
			}
			for _, dep := range depsOf(deps, ti, s) {
				if !ready[dep] {
					return fmt.Errorf("stack %s applied before %s, which it depends on, was ready", e.Stack, dep)
				}
			}
		}
	}
	return nil
}

func teardownOrder(deps stack.Deps, evs []store.Event) error {
	removed := map[string]bool{}
	for _, e := range evs {
		switch deploy.EventType(e.Type) {
		case deploy.EventStackRemoved, deploy.EventStackFailed:
			// The Continue policy goes on past a stack it failed to
			// remove.
			removed[e.Stack] = true
		case deploy.EventStackRemoving:
			_, ti := deps.Stack(e.Stack)
			if ti < 0 {
				continue
			}
			for _, later := range deps[min(ti+1, len(deps)):] {
				for _, s := range later {
					if !removed[s.Name] {
						return fmt.Errorf("stack %s removed before %s of a later tier", e.Stack, s.Name)
					}
				}
			}
		}
	}
	return nil
}

// Shrink returns the smallest case it finds, by dropping steps, faults
// and versions, for which fails still reports a failure.
func Shrink(c *Case, fails func(*Case) bool) *Case {
	for changed := true; changed; {
		changed = false
		for i := len(c.Steps) - 1; i >= 0; i-- {
			t := *c
			t.Steps = slices.Delete(slices.Clone(c.Steps), i, i+1)
			if len(t.Steps) > 0 && fails(&t) {
				c, changed = &t, true
			}
		}
		for i := range c.Steps {
			for j := len(c.Steps[i].Faults) - 1; j >= 0; j-- {
				t := *c
				t.Steps = slices.Clone(c.Steps)
				t.Steps[i].Faults = slices.Delete(slices.Clone(c.Steps[i].Faults), j, j+1)
				if fails(&t) {
					c, changed = &t, true
				}
			}
			for _, simpler := range []func(*Step){
				func(s *Step) { s.Kill, s.KillOn = 0, "" }, func(s *Step) { s.Cancel, s.CancelOn = 0, "" }, func(s *Step) { s.Executor = 0 },
			} {
				t := *c
				t.Steps = slices.Clone(c.Steps)
				old := t.Steps[i]
				simpler(&t.Steps[i])
				now := t.Steps[i]
				if (now.Kill != old.Kill || now.KillOn != old.KillOn || now.Cancel != old.Cancel || now.CancelOn != old.CancelOn || now.Executor != old.Executor) && fails(&t) {
					c, changed = &t, true
				}
			}
		}
	}
	return c
}

// Package deploy plans and runs operations on deployments of product
// versions: launch, update, terminate, restart, stop, start, scale and
// resume, with failure policies, rollback, events, status and a
// reconciler.
//
// # Lifecycle
//
// Make an Executor with New and Close it when done. Close hands every
// operation in progress over, whether it was started with Submit or
// called directly: the operation stops, stays recorded in progress with
// its lease released, and ends with an error matching ErrHandedOver, for
// another executor to resume (ResumeAll). After Close every method fails
// with ErrClosed. An executor made with a nil runtime only previews; its
// operations fail with ErrNoRuntime. Nil and zero values of the package's
// types answer with an error or their empty meaning, never a panic.
//
// # Events and logs
//
// Options.OnEvent (or Options.Events) receives the events of every
// operation; Request.OnEvent those of one. Both are called in order from
// a goroutine of the executor, and an operation returns only after its
// last event was delivered. Options.Logger receives what events do not
// tell: store writes retried, lease renewals in trouble, resumes,
// hand-overs, slow-downs; Event is a slog.LogValuer. A submitted
// operation keeps the values of the context given to Submit (trace
// spans, tenant) but not its cancellation; a direct call keeps both.
//
// # Testing with a fake clock
//
// The executor, runtime/sim and store/memory run inside a
// testing/synctest bubble, where time is fake: it moves only when every
// goroutine of the bubble waits, so a 5-minute ready timeout, a lease
// TTL or a simulated latency passes at once and to the nanosecond. This
// is the way to fake time in stackwave; there is no clock option.
//
//	func TestReadyTimeout(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			st := memory.New(nil)
//			rt := sim.New(nil)
//			rt.Inject(sim.Fault{Kind: sim.NeverReady, Stack: "api"})
//			ex := deploy.New(rt, st, nil)
//			defer ex.Close()
//			// register a product, then:
//			begun := time.Now()
//			_, err := ex.Launch(ctx, deploy.Request{Deployment: "shop", VersionID: id})
//			// errors.Is(err, runtime.ErrNotReady), and time.Since(begun)
//			// is deploy.DefaultReadyTimeout plus the latencies.
//		})
//	}
//
// Everything the executor starts ends with the operation or with Close,
// as synctest requires of a bubble. Stores and runtimes that talk to a
// real engine or database (Docker, Kubernetes, SQLite, PostgreSQL) do not
// belong in a bubble. Package deploy/deploytest records events and
// asserts on their order.
package deploy

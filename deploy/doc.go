// Package deploy plans and runs operations on deployments of product
// versions: the planner (NewPlan, a DAG of stacks) and the Executor
// (launch, update, terminate, restart, stop, start, scale, resume) with
// failure policies, rollback, events and status, and the Reconciler that
// repairs drift.
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
// operation; Request.OnEvent those of one. Both are called from a
// goroutine of the operation, with its events in order, and an operation
// returns only after its last event was delivered. Operations on
// different deployments run at once, so Options.OnEvent may be called
// for two of them at the same time (a callback that keeps state across
// operations guards it); nothing orders the events of one operation
// against another's.
//
// The store's event log and the deployment record agree: an operation's
// last event (operation-done, operation-failed, operation-handed-over)
// is written in the transaction that writes the record's outcome and
// releases the lease, so a reader of the store (store.Store.SubscribeEvents,
// the API's event stream, stackwave events) that sees it finds the
// record ended with the same status and the deployment free for the next
// operation, from any process, and a reader that sees the record ended
// finds every event.
// The callbacks get the last event once the store has it: a callback that
// reads the record then finds the outcome too, unless the outcome could
// not be written (the lease lost, the store unreachable for a lease TTL),
// when the operation stays in progress in the store, to be resumed, and
// the operation returns the error. Options.Logger receives what events do not
// tell: store writes retried, lease renewals in trouble (a streak of
// failed renewals once at Warn, again at most once per lease TTL with the
// count, and its end once: the renewal that worked again at Info, or the
// lost lease at Error), resumes, hand-overs, slow-downs; Event is a
// slog.LogValuer. A submitted
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
//
// # Observability
//
// The executor reports through OpenTelemetry
// (go.opentelemetry.io/otel): Options.TracerProvider and
// Options.MeterProvider, or otel's global providers when nil. The global
// providers do nothing until the program installs real ones
// (otel.SetTracerProvider, otel.SetMeterProvider); the executor never
// installs an exporter. examples/observe prints what a launch reports.
//
// Spans. Every operation has one span, named after its type
// ("stackwave.launch", "stackwave.update", "stackwave.terminate",
// "stackwave.restart", "stackwave.stop", "stackwave.start",
// "stackwave.scale"), a child of the span in the caller's context (for
// Submit too: the span starts while Submit runs). A request refused
// before it starts (bad request, busy deployment) ends its span with the
// error. Under the operation's span:
//
//	stackwave.tier.N            a tier of a launch, an update or a removal, from its first stack to its last
//	  stackwave.stack           one stack (attribute stackwave.stack)
//	    stackwave.runtime.apply | wait | run_init | remove | stop | start | restart
//	stackwave.rollback          the undoing of a failed launch or update, with its own tiers and stacks
//	stackwave.runtime.observe | remove_deployment
//	stackwave.store.acquire_lease | renew_lease | release_lease | create_deployment | update_deployment | append_events
//
// An update_deployment span writes the record with the events queued
// since the last write, in one transaction; append_events spans write
// events alone, when the record has not changed or a backlog is too
// large for one write. The last update_deployment of an operation also
// releases the lease; a release_lease span is left only by an operation
// whose outcome could not be written.
//
// The operation's span carries stackwave.deployment, stackwave.operation.id,
// stackwave.operation.type, stackwave.policy, stackwave.product (name),
// stackwave.product.id, stackwave.version (name), stackwave.version.id,
// stackwave.runtime and, at its end, stackwave.outcome (succeeded,
// failed, rolled_back, handed_over); stackwave.operation.resumed marks
// a resumption. A run_init span carries stackwave.service, as does a call
// that failed on one service. Failures are recorded on the span of the
// call, of the stack and of the operation (an exception event and status
// Error) with the message the operation records: redacted, never an env
// value, variable or config file content. A call the operation stopped
// (after a failure elsewhere, a timeout, a cancelled context) is marked
// stackwave.interrupted, not failed. No span is made per event, and none
// below an operation whose own span does not record (no provider, or
// not sampled), so that tracing off costs nothing per stack.
// Options.OmitCallSpans leaves out the runtime and store call spans: a
// launch then makes one span per stack instead of three, and its
// failures are on the spans of their stacks and of the operation.
//
// Metrics (instrumentation scope github.com/stackwave/stackwave/deploy):
//
//	name                              kind            unit         attributes
//	stackwave.operation.duration      histogram       s            stackwave.operation.type, stackwave.outcome
//	stackwave.operations.active       up-down counter {operation}  stackwave.operation.type
//	stackwave.stack.ready.duration    histogram       s            stackwave.operation.type
//	stackwave.runtime.call.duration   histogram       s            stackwave.call, stackwave.runtime
//	stackwave.runtime.call.errors     counter         {error}      stackwave.call, stackwave.runtime
//	stackwave.reconcile.repairs       counter         {repair}     stackwave.outcome (repaired, failed)
//
// stackwave.operation.duration runs from the request to the recorded
// outcome, for operations that started; stackwave.stack.ready.duration
// from the start of a stack's apply (or lifecycle call) until all its
// services are ready; stackwave.call is apply, wait, run_init, remove,
// remove_deployment, stop, start, restart or observe. No metric carries
// a deployment, stack or service name: their number is the users'.
package deploy

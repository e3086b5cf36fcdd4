// Package deploy plans and runs operations on deployments of product
// versions: the planner (NewPlan, a DAG of stacks) and the Executor
// (launch, update, terminate, restart, stop, start, scale, resume) with
// failure policies, rollback, events and status, and the Reconciler that
// repairs drift.
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

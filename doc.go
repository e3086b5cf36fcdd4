// Package stackwave is an SDK to define, catalogue and deploy products: ordered
// tiers of stacks of container services, run on Docker or Kubernetes behind one
// runtime interface.
//
// A product document names a product and lists its stack_deps, the tiers:
//
//	{"product_name": "kodo-double",
//	 "stack_deps": [
//	   [ {"stack_name": "mysql-cluster", "services": [ {"service_name": "mysql-1",
//	       "unit_type": "1U1G", "image": {"name": "mysql", "tag": "latest"}} ]} ],
//	   [ {"stack_name": "kodo-1", "services": [ ... ]},
//	     {"stack_name": "kodo-2", "services": [ ... ]} ] ]}
//
// Tiers start one after another; the stacks of a tier start concurrently; a
// stack's depends_on, when given, replaces the wait for the whole previous tier
// with a wait for just the stacks it names. Teardown runs in reverse.
//
// The packages, in the order a product travels through them:
//
//   - [github.com/stackwave/stackwave/stack]: the deployable model (tiers,
//     stacks, services, access points, volumes, probes) and the unit-type and
//     volume-type catalogs.
//   - [github.com/stackwave/stackwave/product]: the product document and the
//     catalog records (Product, immutable Version with a content hash);
//     product.Decode reads JSON or YAML 1.2 strictly (unknown, repeated or
//     other-case fields and invalid UTF-8 are errors) and normalises the
//     shorthand forms (envs as an object, a single access_point).
//   - [github.com/stackwave/stackwave/validate]: every rule, every problem at
//     once, each with the path the user wrote (envs.PORT,
//     access_point.backend_ports[0]); validate.Limits bound what a server
//     accepts.
//   - [github.com/stackwave/stackwave/store]: where products, versions,
//     templates, deployment records, event logs and leases live. The
//     portable [*store.Store] keeps the rules, registers a product with its
//     first version in one write, pushes event appends to subscribers and
//     seals secrets at rest, over a small [store.Driver]: store/memory,
//     store/sqlite (embedded default) and store/postgres (several
//     replicas), all passing store/storetest.
//   - [github.com/stackwave/stackwave/runtime]: the back-end interface;
//     runtime/docker, runtime/kube and the simulated runtime/sim, all passing
//     runtime/runtimetest.
//   - [github.com/stackwave/stackwave/deploy]: the planner (a DAG of stacks)
//     and the executor (launch, update, terminate, restart, stop, start,
//     scale, resume), with failure policies, rollback, events and status;
//     deploy.Reconciler repairs what drifts.
//
// # Convergence
//
// What stackwave reports is what runs. Every runtime labels (Docker) or
// annotates (Kubernetes) what it creates with runtime.ServiceHash, which
// covers the spec and the rendered config files, and Observe reports the
// image that actually runs; runtime.Compare judges, the same way for every
// runtime, whether each service is in sync or drifted (missing, stopped,
// image, replicas, tier, hash) or extra. An update's change set compares the
// target with the previous version, with what the record says was last
// applied and with what the runtime observes, so it repairs what a failed
// operation or a hand-made change left behind; [deploy.Executor.Status]
// keeps health apart from sync and is never Available while something
// desired does not run.
//   - [github.com/stackwave/stackwave/api]: an HTTP handler over a store and an
//     executor, with authentication and authorization, for control planes.
//   - cmd/stackwave: the command line (quickstart, validate, plan, apply,
//     status, destroy, serve, products).
//
// # Embedding
//
// A control plane embeds stackwave in three steps: register a product
// document in a store, make an executor over the store and a runtime,
// launch. [store.Store.Register] decodes nothing itself: it takes a
// decoded document ([product.Decode]) and writes the product and its
// first version in one transaction, checked by the same rules as
// CreateProduct and CreateVersion; registering the same document again
// returns the records it made (Registration.Created false), and a name
// taken by a product with no version of that content fails with
// store.ErrAlreadyExists.
//
//	st := memory.New(nil)                    // or sqlite.Open, postgres.Open
//	rt := sim.New(nil)                       // or docker.NewFromEnv, kube.New
//	ex := deploy.New(rt, st, &deploy.Options{Logger: slog.Default()})
//	defer ex.Close()                         // hands operations in progress over
//	doc, err := product.Decode(data)         // product.ErrInvalidArgs
//	reg, err := st.Register(ctx, doc, &store.RegisterOptions{ProviderName: "acme"})
//	res, err := ex.Launch(ctx, deploy.Request{
//		Deployment: "kodo", VersionID: reg.Version.ID, Policy: deploy.Rollback,
//		OnEvent: func(e deploy.Event) { log.Print(e) }, // this operation's events
//	})
//
// After Close every executor method fails with deploy.ErrClosed. The
// executor's own diagnostics go to Options.Logger; a submitted
// operation keeps the values of its caller's context. Embedders' tests
// run the same code on store/memory and runtime/sim, record events with
// deploy/deploytest, and fake time with a testing/synctest bubble (see
// package deploy).
//
// # Errors
//
// Errors wrap sentinels that callers match with errors.Is, and typed errors
// that carry structure for errors.As:
//
//   - product.ErrInvalidArgs (a *product.DecodeError): a document that cannot
//     be decoded, naming the field as written and its line and column, in
//     JSON and YAML alike.
//   - validate.ErrInvalid (a *validate.Error listing *validate.FieldError):
//     a decoded document that breaks the rules or, when Options.Limits is
//     set, exceeds a limit (type TooMany, naming the limit).
//   - store.ErrNotFound, ErrAlreadyExists, ErrConflict (stale revision),
//     ErrInUse, ErrLeaseHeld, ErrClosed, ErrInvalid.
//   - runtime.ErrFailed, ErrNotReady, ErrImage, ErrUnavailable...; a
//     *runtime.ServiceError carries the exit code and last log lines.
//   - deploy.ErrBusy, ErrInterrupted, ErrVersionInactive (a launch or
//     update to a version the catalog marks inactive), ErrInvalidRequest
//     (with a *deploy.UnusedError for templates or variables nothing
//     uses)...; a failed operation returns a
//     *deploy.OperationError aggregating one *deploy.StackError per failure,
//     through which errors.Is and errors.As reach each cause.
//
// Secret values never appear in errors, events, stack states, operation
// messages or API answers: every message that leaves an operation passes
// one redactor that knows the deployment's env values, launch variables
// and rendered config files in every form a back-end prints them (raw,
// quoted, escaped, URL- and base64-encoded, line by line). Values of keys
// that look secret (PASSWORD, TOKEN, KEY, PIN...) are hidden whatever
// their length (switches such as ALLOW_EMPTY_PASSWORD=1 excepted), other
// values from 6 bytes on and shorter ones where they are printed as
// KEY=value. A value of a key that does not look secret and that repeats
// a name the deployment publishes (a stack, service, host, image, the
// deployment's or product's name: DB_HOST=mysql-cluster) is hidden only
// as KEY=value, so that messages keep naming what they are about; a
// secret equal to a name hides it. Where values overlap in a text, every
// byte of each is hidden, the run shown as one marker. Text in which a
// value still shows once decoded is withheld whole.
//
// # Testing
//
// Embedders unit-test their control planes without Docker or Kubernetes: the
// in-memory store (store/memory) and the simulated runtime (runtime/sim, with a
// latency model and fault injection) have the same semantics as the real
// back-ends, which prove it by passing the same conformance suites
// (store/storetest, runtime/runtimetest). deploy/deploytest records an
// executor's events and asserts their order; the executor, runtime/sim and
// store/memory run inside a testing/synctest bubble, where time is fake.
// runtime.Wrap and store.WrapDriver put hooks around every call of a
// runtime or store driver and keep exactly its optional interfaces, and
// runtimetest fails a runtime whose capabilities differ from the ones its
// harness declares.
//
// # Observability
//
// The executor reports OpenTelemetry spans (an operation, its tiers,
// stacks, runtime calls and store calls) and metrics (operation duration
// and outcome, operations in flight, time to ready, runtime call latency
// and errors, repairs) through the providers in deploy.Options, or otel's
// global ones; the api package continues a caller's W3C trace context.
// `stackwave serve` serves Prometheus metrics on /metrics and exports over
// OTLP when the standard OTEL_EXPORTER_OTLP_* variables are set.
package stackwave

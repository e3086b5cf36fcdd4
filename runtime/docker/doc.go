// Package docker runs stackwave stacks as containers on one Docker Engine,
// through the engine's API (github.com/moby/moby/client). It implements
// runtime.Runtime, runtime.Lifecycle, runtime.VolumeLister,
// runtime.LogReader and runtime.ErrorMapper, and passes
// runtime/runtimetest.
//
//	rt, err := docker.NewFromEnv(&docker.Options{HostIP: netip.MustParseAddr("127.0.0.1")})
//	...
//	exec := deploy.New(rt, st, nil)
//
// # Objects
//
// Each deployment gets one user-defined bridge network,
// <deployment>-net, created by the first Apply and removed by the Remove
// that leaves the deployment without containers. Instance n (from 1) of a
// service is the container <deployment>-<stack>-<service>-<n>; inside the
// network every service answers by DNS as <service>.<stack> and
// <stack>-<service>. Each volume_args entry is a named volume per
// instance, <deployment>-<stack>-<service>-<n>-<path slug> ("/var/lib/mysql"
// gives "var-lib-mysql"), labelled with its volume type, class and size
// (the local driver does not enforce sizes); volumes survive Remove unless
// RemoveOptions.DeleteData is set, and survive scaling down and services
// leaving the spec; Volumes lists them. Options.Namespace, when set,
// prefixes every name.
//
// Everything the runtime creates carries labels under Options.LabelPrefix
// (default "org.stackwave"): namespace, role, deployment, product,
// product-id, version-id, stack, tier, service, instance, config-hash
// (runtime.ServiceHash), access-points, probe and readiness. They are the
// runtime's only state: Observe, and a Runtime made after the control
// plane restarted, rebuild everything from them. Two deployments, or two
// namespaces, never touch each other's objects.
//
// A service's unit_type becomes its CPU (NanoCPUs, capped at the engine's
// CPU count, which the engine would otherwise refuse) and memory limits
// (swap equal to memory, so none extra); envs and command are passed as
// given, the command as argv replacing the image's CMD and keeping its
// ENTRYPOINT. Config files (StackSpec.Files) are copied into the created
// container before it starts through the engine's archive API, mode 0600
// and owned by the container's user, with missing parent directories
// created 0755; no host path is involved.
//
// Access points of type domain and public_ip publish their backend ports
// on Options.HostIP, 127.0.0.1 unless told otherwise (host ports chosen by
// the engine unless host_ports fixes them): the zero Options keep what a
// deployment publishes off the network, and HostIP 0.0.0.0 or :: opts in
// to every interface. internal_ip ports are only exposed on the network.
// Observe reports each instance's endpoints: the published host:port (with
// Options.AdvertiseHost), the in-network address, and for domain access
// points the host name <service>.<stack>.<deployment>.<base domain>.
//
// # Readiness
//
// Wait follows the engine's event stream (start, die, oom, health_status,
// destroy). The Runtime holds one subscription, filtered by its namespace
// label and fanned out to every call that waits, opened when the first
// waiter comes and closed a while after the last one leaves. Waiters
// inspect their containers once after subscribing and again when the
// stream breaks; each subscription asks the engine to replay its recent
// events (since, read on the engine's clock), so no state change is missed
// and none is polled for.
//
// Probes become Docker health checks, so `docker ps` shows their health:
//
//   - exec: the command as the health check (argv, no shell).
//   - tcp, http: with Options.ProbeBinary set (a static build of
//     cmd/stackwave-probe), the binary is copied into each container at
//     /.stackwave/probe before it starts and runs as the health check
//     against 127.0.0.1:<port>; this works in images with no shell or
//     tools (FROM scratch). Without ProbeBinary, the runtime checks the
//     port itself from this host against the container's address on the
//     deployment network (the host must reach the engine's bridge
//     networks, as with a local Linux engine), and no health shows in
//     `docker ps`.
//   - running or none: ready once every instance has been running for
//     Options.SettleTime (500ms by default), so a process that crashes at
//     start fails its stack rather than passing for ready.
//
// The health check interval is the probe's period (default 1s); failures
// inside the start period (the readiness timeout) do not count. An
// instance counts as ready from its first healthy result: the
// health_status event reaches Wait within milliseconds.
//
// A container that exits, is OOM-killed or is removed while Wait watches
// fails its stack at once: Wait returns a *runtime.ServiceError matching
// runtime.ErrFailed with the reason ("Exited", "OOMKilled", "Removed"),
// the exit code and the last 20 log lines. A service not ready within its
// probe's timeout (or StackSpec.ReadyTimeout) gives one matching
// runtime.ErrNotReady, with reason "Timeout", the last health check output
// and the last log lines.
//
// # Apply and replacement
//
// Apply is idempotent: a service whose config hash is unchanged is not
// touched (a stopped one is started). A changed service is replaced. When
// it has no volumes and no fixed host ports, the new containers start next
// to the old ones (renamed <name>.old-<id>), Apply waits until they are
// ready, then removes the old ones; if they do not become ready the new
// ones are removed and the old ones keep serving. Otherwise the old
// containers are stopped and removed, and the new ones start on the same
// volumes. A changed instance count adds or removes the highest-numbered
// instances only. A later Apply settles what an interrupted replacement
// left behind. When the connection to the engine breaks while a container
// or volume is being created, the engine may still make it: Apply looks
// for it for a few seconds and removes it, so a rollback that follows
// finds nothing left over.
//
// Images are checked before anything changes, following
// Options.PullPolicy (IfNotPresent by default, Always, Never). An image
// that is missing and cannot be pulled fails Apply with a
// *runtime.ServiceError naming the image and matching runtime.ErrImage;
// pulls are bounded by Options.PullTimeout and shared between concurrent
// calls.
//
// Remove stops containers with SIGTERM, kills them after the grace period
// (RemoveOptions.GracePeriod or Options.GracePeriod, 10s by default, in
// whole seconds), removes them and, when the deployment has no container
// left, its network. Engine 20.10 can lose count of a network's endpoints
// when many containers come and go at once (moby/moby#42119); such a
// network cannot be removed until the engine restarts, and Remove says so
// with an error matching runtime.ErrConflict once the stack itself is
// gone. Launching the deployment again reuses the network. Stop marks a stopped stack with a small labelled
// volume (container labels cannot change) so Observe reports it as
// Stopped; Start and Apply remove the mark.
//
// # Concurrency
//
// Calls for different stacks and deployments run concurrently. Container
// operations (create, start, stop, remove) of all calls share one bound,
// Options.Parallelism; waiting holds none of it. A Remove that would take
// the deployment's network away waits for the Applies of that deployment
// in flight in this process. The runtime's Concurrency hint
// (runtime.ConcurrencyHinter), which the executor takes when its own
// Concurrency option is zero, is Options.Parallelism: on a small host,
// stack operations beyond the container bound only queue.
//
// RemoveDeployment (runtime.DeploymentRemover), which the executor's
// Terminate calls, lists the deployment's containers once by label, with
// no inspection, removes the stacks it was not told of first and then
// tier by tier from the last (a tier's containers concurrently: each
// stopped with SIGTERM and the grace period, holding a slot of
// Options.Parallelism until the engine reports its endpoint off the
// deployment network, then removed outside the bound). A stack's stopped
// mark, and its data volumes with DeleteData, go as soon as its last
// container is removed; the network as soon as every container has left
// it, beside the last removals.
//
// # Errors
//
// Methods return the engine's errors wrapped with context, and
// *runtime.ServiceError for what a service did. MapError (used by
// runtime.MapError) turns the engine's errors into the runtime package's
// sentinels: ErrNotFound, ErrConflict, ErrInvalid, ErrNotSupported, and
// ErrUnavailable for an engine that cannot be reached or whose connection
// broke.
package docker

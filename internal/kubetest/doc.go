// Package kubetest runs a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, plus kwok,
// which simulates nodes and their kubelets so that scheduled pods become
// Running and Ready without any container runtime. Deployments roll out,
// ReplicaSets scale, Services get cluster IPs and endpoints, and
// availableReplicas is reported as on a real cluster.
//
// Every process listens on a free port of 127.0.0.1 and keeps its state in a
// temporary directory; nothing else on the machine is touched.
//
// # One control plane per test
//
//	func TestRollout(t *testing.T) {
//		env := kubetest.Start(t, nil) // stopped when t ends
//		_, err := env.Clientset.AppsV1().Deployments("default").Create(...)
//		...
//	}
//
// Start fails the test (t.Fatalf, with the reason and the tail of the
// relevant log) if the control plane cannot be started; it never skips.
// Env.StopAPIServer and Env.StartAPIServer stop and restart only the API
// server, on the same port and etcd data, to test behaviour across an API
// server outage.
//
// # One control plane per test binary
//
// Starting takes a few seconds, so a package with many tests shares one:
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		env := kubetest.Shared(t)   // started by the first caller
//		ns := env.NewNamespace(t)   // isolate the test; deleted when t ends
//		...
//	}
//
// Main runs the tests, then StopShared, then fails the run if a test left a
// goroutine behind (goleak, ignoring client-go's idle connections; see
// ClientGoIdle); a TestMain that does more can call StopShared itself after
// m.Run. If TestMain is missing, the processes still
// die with the test binary (Linux), but the state directory is left behind.
// Tests that stop the API server should use Start, not Shared.
//
// # Pods whose status the test controls
//
// kwok makes every pod Running and Ready. To simulate a failing pod, annotate
// it (or its pod template) with ManualStatusAnnotation=ManualStatusValue
// ("kubetest.stackwave.io/manual-status": "true"): it is still scheduled
// onto a node, but kwok never writes its status, so the test can set one
// with UpdateStatus, e.g. a container waiting with reason CrashLoopBackOff or
// ImagePullBackOff. Deleting such a pod still completes. This is done with
// kwok's Stage API (the pod stages gain a selector excluding the
// annotation), not with kwok's deprecated
// --disregard-status-with-annotation-selector flag, which would also stop
// kwok from finishing the pod's deletion and leave it terminating forever.
//
// # Cluster properties
//
// Clients authenticate as a member of system:masters (Env.Config, the
// Env.Kubeconfig file, Env.Clientset). Env.Config has QPS 1000 and Burst
// 2000; the controller manager and scheduler run with API QPS 500 and burst
// 1000 and 20 concurrent Deployment, ReplicaSet and StatefulSet syncs. The
// Service CIDR is ServiceCIDR (10.96.0.0/16). Simulated nodes are named
// kwok-node-0, kwok-node-1, ... (Options.Nodes) with 1000 CPUs, 4000Gi of
// memory and room for 10000 pods each. The ServiceAccount admission plugin
// is disabled, so pods get no service-account token volumes. There is no
// container runtime: images are never pulled, containers never run, and
// exec, logs and port-forward do not reach a real process.
//
// # Binaries
//
// The five binaries are compiled from Go modules pinned by the tools modules
// in tools/ (Kubernetes KubernetesVersion, etcd EtcdVersion, kwok
// KwokVersion) by build.sh, which needs only the Go toolchain and the Go
// module proxy. They are cached in
//
//	${XDG_CACHE_HOME:-$HOME/.cache}/stackwave/kubetest/<version-key>
//
// where the key names the versions, OS and architecture. If a binary is
// missing, the first Start or Shared in a test binary runs build.sh itself
// (about seven minutes on two cores, printing its progress to stderr), so
// plain "go test" works on a fresh machine; as the build alone comes close
// to go test's default 10-minute timeout, give such a first run a longer one
// (go test -timeout 30m) or build ahead, e.g. in CI:
//
//	internal/kubetest/build.sh
//
// It prints the directory and returns at once when everything is built.
//
// # Environment variables
//
//   - STACKWAVE_KUBETEST_BIN: use this directory for the binaries instead of
//     the cache directory above (build.sh builds into it as well).
//   - STACKWAVE_KUBETEST_KEEP: if non-empty, keep each control plane's state
//     directory (etcd data, credentials, kubeconfig, logs/) after the test.
//   - XDG_CACHE_HOME, HOME: locate the default cache directory.
package kubetest

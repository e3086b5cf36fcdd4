package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ManualStatusAnnotation and ManualStatusValue mark pods whose status kwok
// must leave alone: a pod (or pod template) annotated
//
//	kubetest.stackwave.io/manual-status: "true"
//
// is scheduled onto a kwok node but never made Running or Ready, so a test
// can write its status itself (for example a container waiting with reason
// CrashLoopBackOff or ImagePullBackOff) through UpdateStatus. Deleting such
// a pod still completes as for any other pod.
const (
	ManualStatusAnnotation = "kubetest.stackwave.io/manual-status"
	ManualStatusValue      = "true"
)

// EnvKeep names the environment variable that, when set to a non-empty
// value, keeps each control plane's state directory (etcd data, logs,
// kubeconfig) after the test instead of deleting it.
const EnvKeep = "STACKWAVE_KUBETEST_KEEP"

// Fixed properties of every control plane.
const (
	// ServiceCIDR is the Service cluster IP range. It is large because a
	// small range runs out after a few hundred Services.
	ServiceCIDR = "10.96.0.0/16"
	// NodeNamePrefix prefixes the names of the simulated nodes:
	// kwok-node-0, kwok-node-1, ...
	NodeNamePrefix = "kwok-node-"

	kwokNodeAnnotation  = "kwok.x-k8s.io/node"
	advertiseAddress    = "10.0.0.1" // never dialled; 127.0.0.1 is refused
	kubernetesServiceIP = "10.96.0.1"

	defaultStartTimeout = 3 * time.Minute
	apiRestartTimeout   = time.Minute
	firstWriteRetry     = 15 * time.Second
)

// Options adjusts a control plane. The zero value (or nil) is a usable
// default: one simulated node and a three-minute start timeout.
type Options struct {
	// Nodes is the number of simulated nodes; 0 means 1. Each node is
	// labelled kubernetes.io/hostname=<name>, so it can satisfy pod
	// anti-affinity across hostnames.
	Nodes int
	// StartTimeout bounds how long starting the processes and waiting for
	// them to be ready may take (building binaries is not included); 0
	// means three minutes (generous, for loaded machines).
	StartTimeout time.Duration
	// APIServerFlags, ControllerManagerFlags and SchedulerFlags are appended
	// to the command lines of those components.
	APIServerFlags         []string
	ControllerManagerFlags []string
	SchedulerFlags         []string
}

// Env is a running control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, all listening on
// 127.0.0.1 only.
type Env struct {
	// Config reaches the API server as a system:masters user, with raised
	// QPS and Burst. Copy it (rest.CopyConfig) before changing it.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same server and
	// credentials (client-go's default QPS applies to clients built from it).
	Kubeconfig string
	// Clientset is a client built from Config.
	Clientset *kubernetes.Clientset
	// Dir holds the state of this control plane: etcd data, credentials,
	// kubeconfig and the logs/ of every process.
	Dir string

	mu        sync.Mutex
	phases    phaseClock
	opts      Options
	bins      string
	creds     *credentials
	ports     ports
	removeDir bool
	stopped   bool
	etcd      *process
	apiserver *process
	others    []*process // controller-manager, scheduler, kwok
}

type ports struct {
	etcdClient, etcdPeer, apiserver, kwok int
}

// Start starts a control plane for t and stops it when t ends. It builds
// the binaries first if they are not in BinDir. Any failure fails t with
// the reason and the tail of the relevant log; Start never skips.
//
// State lives in t.TempDir(), or in a directory that is kept when
// STACKWAVE_KUBETEST_KEEP is set.
func Start(t testing.TB, opts *Options) *Env {
	t.Helper()
	dir := ""
	if os.Getenv(EnvKeep) == "" {
		dir = t.TempDir()
	}
	began := time.Now()
	e, err := start(dir, opts)
	if err != nil {
		t.Fatalf("kubetest: start control plane: %v", err)
	}
	t.Logf("kubetest: control plane at %s ready in %s (%s), state in %s",
		e.Config.Host, time.Since(began).Round(time.Millisecond), &e.phases, e.Dir)
	t.Cleanup(func() {
		if msg := e.unexpectedExits(); msg != "" {
			t.Errorf("kubetest: %s", msg)
		}
		if t.Failed() {
			t.Logf("kubetest: process logs are in %s (set %s=1 to keep them)", filepath.Join(e.Dir, "logs"), EnvKeep)
		}
		began := time.Now()
		e.Stop()
		t.Logf("kubetest: control plane stopped in %s", time.Since(began).Round(time.Millisecond))
	})
	return e
}

// start runs a control plane with its state in dir; an empty dir means a
// new temporary directory that is removed by Stop unless EnvKeep is set.
func start(dir string, opts *Options) (*Env, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = defaultStartTimeout
	}
	bins, err := ensureBinaries()
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, opts: o, bins: bins}
	if dir == "" {
		if e.Dir, err = os.MkdirTemp("", "kubetest-"); err != nil {
			return nil, err
		}
		e.removeDir = os.Getenv(EnvKeep) == ""
	}
	if err := e.start(); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.StartTimeout)
	defer cancel()
	e.phases.start()
	for _, d := range []string{"logs", "pki"} {
		if err := os.MkdirAll(filepath.Join(e.Dir, d), 0o755); err != nil {
			return err
		}
	}
	var err error
	if e.creds, err = newCredentials(filepath.Join(e.Dir, "pki")); err != nil {
		return err
	}
	stages, err := kwokStages(filepath.Join(e.bins, fileKwokStages))
	if err != nil {
		return fmt.Errorf("kwok stages: %w", err)
	}
	stagesPath := filepath.Join(e.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stagesPath, stages, 0o644); err != nil {
		return err
	}

	// Free ports are picked by binding to port 0 and releasing them, so
	// another process may take one first; that shows up as "address
	// already in use" and is retried with new ports.
	for attempt := 1; ; attempt++ {
		err = e.startStorageAndAPI(ctx)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
			return err
		}
		e.stopAll()
		_ = os.RemoveAll(filepath.Join(e.Dir, "etcd"))
	}

	kubeconfig := filepath.Join(e.Dir, "kubeconfig")
	if err := e.writeKubeconfig(kubeconfig); err != nil {
		return err
	}
	e.Kubeconfig = kubeconfig
	e.Config = e.restConfig()
	if e.Clientset, err = kubernetes.NewForConfig(e.Config); err != nil {
		return err
	}

	kc := "--kubeconfig=" + kubeconfig
	e.others = []*process{
		e.newProcess(binControllerManager, append([]string{
			kc, "--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
			"--leader-elect=false",
			"--controllers=*,-serviceaccount-token-controller",
			"--service-account-private-key-file=" + e.creds.saKeyFile,
			"--service-cluster-ip-range=" + ServiceCIDR,
			"--secure-port=0",
			"--kube-api-qps=500", "--kube-api-burst=1000",
			"--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20",
			"--concurrent-statefulset-syncs=20", "--concurrent-service-endpoint-syncs=20",
		}, e.opts.ControllerManagerFlags...)),
		e.newProcess(binScheduler, append([]string{
			kc, "--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
			"--leader-elect=false", "--secure-port=0",
			"--kube-api-qps=500", "--kube-api-burst=1000",
		}, e.opts.SchedulerFlags...)),
		e.newProcess(binKwok, []string{
			kc, "--config=" + stagesPath,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
			"--node-ip=" + advertiseAddress,
			"--server-address=127.0.0.1:" + strconv.Itoa(e.ports.kwok),
			"--node-lease-duration-seconds=40",
		}),
	}
	for _, p := range e.others {
		if err := p.start(); err != nil {
			return err
		}
	}
	if err := e.createNodes(ctx); err != nil {
		return err
	}
	e.phases.mark("nodes created")
	return e.waitControllers(ctx)
}

// startStorageAndAPI starts etcd and kube-apiserver on new ports and waits
// until both are ready.
func (e *Env) startStorageAndAPI(ctx context.Context) error {
	p, err := freePorts(4)
	if err != nil {
		return err
	}
	e.ports = ports{etcdClient: p[0], etcdPeer: p[1], apiserver: p[2], kwok: p[3]}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(e.ports.etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(e.ports.etcdPeer)
	e.etcd = e.newProcess(binEtcd, []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=kubetest=" + peerURL,
		// Test data need not survive a machine crash.
		"--unsafe-no-fsync",
		"--log-level=warn",
	})
	if err := e.etcd.start(); err != nil {
		return err
	}
	if err := waitHTTP(ctx, e.etcd, &http.Client{Timeout: 5 * time.Second}, etcdURL+"/health", "", `"health":"true"`); err != nil {
		return err
	}
	e.phases.mark("etcd")
	e.apiserver = e.newProcess(binAPIServer, append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(e.ports.apiserver),
		"--tls-cert-file=" + e.creds.certFile, "--tls-private-key-file=" + e.creds.keyFile,
		"--advertise-address=" + advertiseAddress, "--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + e.creds.saPubFile,
		"--service-account-signing-key-file=" + e.creds.saKeyFile,
		"--token-auth-file=" + e.creds.tokenFile,
		"--authorization-mode=RBAC",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--profiling=false",
		// Stop quickly even while clients hold watches (StopAPIServer):
		// close watches within a second, then bound the HTTP shutdown.
		"--shutdown-watch-termination-grace-period=1s",
		"--shutdown-send-retry-after=true",
	}, e.opts.APIServerFlags...))
	if err := e.startAPIServerProcess(ctx); err != nil {
		return err
	}
	e.phases.mark("kube-apiserver")
	return nil
}

func (e *Env) startAPIServerProcess(ctx context.Context) error {
	if err := e.apiserver.start(); err != nil {
		return err
	}
	return waitHTTP(ctx, e.apiserver, e.httpClient(), e.apiURL()+"/readyz", e.creds.adminToken, "ok")
}

func (e *Env) newProcess(name string, args []string) *process {
	return &process{
		name:    name,
		path:    filepath.Join(e.bins, name),
		args:    args,
		logPath: filepath.Join(e.Dir, "logs", name+".log"),
	}
}

func (e *Env) apiURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(e.ports.apiserver)
}

func (e *Env) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.creds.caPEM)
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
}

func (e *Env) restConfig() *rest.Config {
	return &rest.Config{
		Host:            e.apiURL(),
		BearerToken:     e.creds.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.creds.caPEM},
		QPS:             1000,
		Burst:           2000,
	}
}

func (e *Env) writeKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: e.apiURL(), CertificateAuthorityData: e.creds.caPEM}
	cfg.AuthInfos["kubetest-admin"] = &clientcmdapi.AuthInfo{Token: e.creds.adminToken}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest-admin", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	return clientcmd.WriteToFile(*cfg, path)
}

// waitHTTP polls url until it answers 200 with a body containing want,
// failing early with p's log when p exits.
func waitHTTP(ctx context.Context, p *process, c *http.Client, url, token, want string) error {
	var last string
	for {
		if p.exited() {
			return errors.New(p.failure("exited before it was ready: " + exitText(p.waitErr)))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := c.Do(req); err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		select {
		case <-ctx.Done():
			return errors.New(p.failure(fmt.Sprintf("not ready at %s (%v); last answer: %s", url, ctx.Err(), last)))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createNodes registers the simulated nodes; kwok takes over the nodes that
// carry its annotation. The first writes after /readyz can still fail, so
// they are retried.
func (e *Env) createNodes(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("1000"),
		corev1.ResourceMemory:           resource.MustParse("4000Gi"),
		corev1.ResourcePods:             resource.MustParse("10000"),
		corev1.ResourceEphemeralStorage: resource.MustParse("10Ti"),
	}
	for i := range e.opts.Nodes {
		name := NodeNamePrefix + strconv.Itoa(i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{kwokNodeAnnotation: "fake"},
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     runtime.GOARCH,
					"type":                   "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Capacity:    capacity,
				Allocatable: capacity,
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion:  "kwok-" + KwokVersion,
					OperatingSystem: "linux",
					Architecture:    runtime.GOARCH,
				},
			},
		}
		err := e.retryFirstWrite(ctx, func() error {
			_, err := e.Clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}

func (e *Env) retryFirstWrite(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(firstWriteRetry)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitControllers waits until kwok reports every node Ready, the node
// lifecycle controller has lifted the not-ready taint (so pods schedule at
// once), and the controller manager runs its controllers (it creates the
// default ServiceAccount).
func (e *Env) waitControllers(ctx context.Context) error {
	current := ""
	for {
		for _, p := range append([]*process{e.etcd, e.apiserver}, e.others...) {
			if p.exited() {
				return errors.New(p.failure("exited during start: " + exitText(p.waitErr)))
			}
		}
		stage, detail := e.notReady(ctx)
		if stage != current && current != "" {
			e.phases.mark(current)
		}
		current = stage
		if stage == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			var logs strings.Builder
			for _, p := range e.others {
				fmt.Fprintf(&logs, "\n--- %s (last lines) ---\n%s\n", p.logPath, tailFile(p.logPath, 25))
			}
			return fmt.Errorf("control plane not ready after %s (%s): waiting for %s: %s%s",
				e.opts.StartTimeout, &e.phases, stage, detail, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// notReady names the first start stage that is not complete yet, with
// details, or returns "" when all are.
func (e *Env) notReady(ctx context.Context) (stage, detail string) {
	nodes, err := e.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "nodes listed", err.Error()
	}
	ready, tainted := 0, ""
	for _, n := range nodes.Items {
		if !strings.HasPrefix(n.Name, NodeNamePrefix) {
			continue
		}
		if isNodeReady(&n) {
			ready++
		}
		for _, t := range n.Spec.Taints {
			if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
				tainted = fmt.Sprintf("node %s has taint %s", n.Name, t.Key)
			}
		}
	}
	if ready < e.opts.Nodes {
		return "nodes Ready (kwok)", fmt.Sprintf("%d of %d nodes Ready", ready, e.opts.Nodes)
	}
	if tainted != "" {
		return "taints lifted (node lifecycle controller)", tainted
	}
	if _, err := e.Clientset.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "default ServiceAccount (controller manager)", err.Error()
	}
	return "", ""
}

func isNodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after a grace
// period) and waits for it to exit; etcd and the other components keep
// running. Use StartAPIServer to bring it back on the same address.
//
// Do not call it on the Shared control plane while other tests use it.
func (e *Env) StopAPIServer(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		t.Fatalf("kubetest: StopAPIServer on a stopped control plane")
	}
	e.apiserver.stop(stopGrace)
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the
// same port with the same etcd data and credentials, and waits until it is
// ready; it fails t if it does not become ready within a minute.
func (e *Env) StartAPIServer(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		t.Fatalf("kubetest: StartAPIServer on a stopped control plane")
	}
	if !e.apiserver.exited() {
		t.Fatalf("kubetest: StartAPIServer while kube-apiserver is running (call StopAPIServer first)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiRestartTimeout)
	defer cancel()
	if err := e.startAPIServerProcess(ctx); err != nil {
		t.Fatalf("kubetest: restart kube-apiserver: %v", err)
	}
}

// NewNamespace creates a namespace with a generated name for t and deletes
// it when t ends. Tests sharing a control plane should each work in their
// own namespace.
func (e *Env) NewNamespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ns *corev1.Namespace
	err := e.retryFirstWrite(ctx, func() error {
		var err error
		ns, err = e.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "kubetest-"},
		}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("kubetest: create namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := e.Clientset.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("kubetest: delete namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// Stop stops every process of the control plane by its process id (SIGTERM,
// then SIGKILL after a grace period), waits for them, and removes the state
// directory if kubetest created it. It is safe to call more than once; Start
// calls it when the test ends.
func (e *Env) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	e.stopped = true
	e.stopAll()
	if e.removeDir {
		_ = os.RemoveAll(e.Dir)
	}
}

// stopAll stops the clients of the API server together, then the API
// server, then etcd.
func (e *Env) stopAll() {
	var wg sync.WaitGroup
	for _, p := range e.others {
		wg.Go(func() { p.stop(stopGrace) })
	}
	wg.Wait()
	for _, p := range []*process{e.apiserver, e.etcd} {
		if p != nil {
			p.stop(stopGrace)
		}
	}
}

// unexpectedExits describes processes that exited without being stopped.
func (e *Env) unexpectedExits() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var msgs []string
	for _, p := range append([]*process{e.etcd, e.apiserver}, e.others...) {
		if p == nil {
			continue
		}
		if m := p.unexpectedExit(); m != "" {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "\n")
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// phaseClock records how long each stage of starting took, for the log
// and for errors.
type phaseClock struct {
	last  time.Time
	parts []string
}

func (c *phaseClock) start() { c.last, c.parts = time.Now(), nil }

func (c *phaseClock) mark(stage string) {
	now := time.Now()
	c.parts = append(c.parts, stage+" "+now.Sub(c.last).Round(time.Millisecond).String())
	c.last = now
}

func (c *phaseClock) String() string { return strings.Join(c.parts, ", ") }

package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sync/semaphore"

	"github.com/stackwave/stackwave/runtime"
)

// PullPolicy says when Apply pulls a service's image.
type PullPolicy string

// Pull policies.
const (
	// PullIfNotPresent pulls an image only when the engine lacks it. The
	// default.
	PullIfNotPresent PullPolicy = "IfNotPresent"
	// PullAlways pulls the image before creating each container.
	PullAlways PullPolicy = "Always"
	// PullNever never pulls: an image the engine lacks fails the service
	// with an error matching runtime.ErrImage.
	PullNever PullPolicy = "Never"
)

// Defaults of Options.
const (
	DefaultLabelPrefix = "org.stackwave"
	DefaultBaseDomain  = "localhost"
	DefaultGracePeriod = 10 * time.Second
	DefaultSettleTime  = 500 * time.Millisecond
	DefaultParallelism = 8
	DefaultPullTimeout = 5 * time.Minute
)

// defaultHostIP is the address published ports bind to unless
// Options.HostIP says otherwise: loopback, so that what a deployment
// publishes is not open to the network by default.
var defaultHostIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// Options configure a Runtime. The zero value means the defaults.
type Options struct {
	// Namespace keeps the objects of several control planes sharing one
	// engine apart: it prefixes every container, network and volume name
	// ("<namespace>-") and is recorded in a label, and a Runtime sees only
	// the objects of its own namespace. Empty means no name prefix (the
	// label then says "default").
	Namespace string
	// LabelPrefix starts the key of every label the runtime sets.
	// Default "org.stackwave".
	LabelPrefix string
	// BaseDomain ends the host names of domain access points:
	// <service>.<stack>.<deployment>.<base domain>. Default "localhost".
	BaseDomain string
	// HostIP is the host address published ports bind to. Default
	// 127.0.0.1: published ports are reachable from the engine's host
	// alone. The unspecified addresses 0.0.0.0 and :: bind every
	// interface, which an engine on another host (DOCKER_HOST=tcp://)
	// needs for its ports to be reached from here.
	HostIP netip.Addr
	// AdvertiseHost is the host reported in the Address of published
	// endpoints. Default: HostIP when it is not unspecified, else the
	// engine's host when DOCKER_HOST is tcp://, else "localhost".
	AdvertiseHost string
	// GracePeriod is how long containers get to stop after SIGTERM
	// before they are killed, when RemoveOptions do not say. Docker
	// counts it in whole seconds (rounded up). Default 10s.
	GracePeriod time.Duration
	// PullPolicy says when images are pulled. Default PullIfNotPresent.
	PullPolicy PullPolicy
	// PullTimeout bounds one image pull. Default 5m.
	PullTimeout time.Duration
	// ProbeBinary is the host path of a static Linux executable with the
	// command line of cmd/stackwave-probe. When set, tcp and http
	// readiness probes become Docker health checks that run it: the
	// runtime copies it into each such container as /.stackwave/probe
	// before starting it, so the probes work in images without a shell
	// and `docker ps` shows their health. When empty, tcp and http probes
	// are run by the runtime from this host against the container's
	// address on the deployment network, which needs this host to reach
	// the engine's bridge networks (a local Linux engine).
	ProbeBinary string
	// SettleTime is how long an instance of a service without a health
	// probe must have been running to count as ready, so a process that
	// crashes at once fails its stack instead of passing for ready.
	// Default 500ms; negative means ready as soon as it runs.
	SettleTime time.Duration
	// RestartPolicy is the Docker restart policy of every container.
	// Default "no": a container that exits stays down and fails its
	// stack; Observe reports it.
	RestartPolicy container.RestartPolicyMode
	// SubnetPool, when set, is an IPv4 range from which each deployment
	// network gets its own /24, instead of the engine's default address
	// pools. Those allow about 31 bridge networks per engine, one per
	// deployment here; a /16 pool gives 256. Subnets in use by any
	// network of the engine are skipped.
	SubnetPool netip.Prefix
	// Parallelism bounds the container operations (create, start, stop,
	// remove) in flight at once across all calls of the Runtime. A stop
	// of RemoveDeployment holds its slot until the container's endpoint
	// has left the deployment network, which is what the bound protects
	// on Engine 20.10 (moby/moby#42119); the rest of the stop and the
	// removal do not wait for a slot. Default 8.
	Parallelism int
}

// Runtime runs stacks as containers on one Docker Engine. It implements
// runtime.Runtime, runtime.Lifecycle, runtime.VolumeLister and
// runtime.ErrorMapper, and is safe
// for concurrent use as the runtime.Runtime contract asks.
type Runtime struct {
	cli       *client.Client
	ownClient bool
	opts      Options
	lb        labeler
	hub       *hub
	sem       *semaphore.Weighted

	mu    sync.Mutex
	deps  map[string]*sync.RWMutex // per deployment: Apply holds R, network teardown W
	pulls map[string]*pull
	// netCreate serialises network creation per deployment in this
	// process, so concurrent applies of its stacks make one network.
	netCreate map[string]*sync.Mutex

	// reserved holds subnets this runtime picked and is creating
	// networks with, so concurrent creations pick different ones.
	reserved map[netip.Prefix]bool

	probeOnce sync.Once
	probeTar  []byte
	probeErr  error

	ncpu int // the engine's CPU count, once known
}

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.Lifecycle    = (*Runtime)(nil)
	_ runtime.ErrorMapper  = (*Runtime)(nil)
	_ runtime.VolumeLister = (*Runtime)(nil)
)

// New returns a Runtime that drives the engine behind cli. opts may be
// nil. The caller keeps ownership of cli; call Close to stop the
// runtime's event subscription before closing it.
func New(cli *client.Client, opts *Options) (*Runtime, error) {
	if cli == nil {
		return nil, errors.New("docker runtime: nil client")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.setDefaults(cli); err != nil {
		return nil, err
	}
	r := &Runtime{
		cli:       cli,
		opts:      o,
		lb:        labeler{prefix: o.LabelPrefix, namespace: namespaceValue(o.Namespace)},
		sem:       semaphore.NewWeighted(int64(o.Parallelism)),
		deps:      map[string]*sync.RWMutex{},
		pulls:     map[string]*pull{},
		reserved:  map[netip.Prefix]bool{},
		netCreate: map[string]*sync.Mutex{},
	}
	r.hub = newHub(cli, r.lb)
	return r, nil
}

// NewFromEnv connects to the engine named by the environment (DOCKER_HOST,
// DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY; the local
// socket by default). The Runtime owns the client: Close closes it.
func NewFromEnv(opts *Options) (*Runtime, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	r, err := New(cli, opts)
	if err != nil {
		cli.Close()
		return nil, err
	}
	r.ownClient = true
	return r, nil
}

func (o *Options) setDefaults(cli *client.Client) error {
	if o.SubnetPool.IsValid() && (!o.SubnetPool.Addr().Is4() || o.SubnetPool.Bits() > 24) {
		return fmt.Errorf("docker runtime: SubnetPool %s: want an IPv4 range of /24 or wider", o.SubnetPool)
	}
	o.SubnetPool = o.SubnetPool.Masked()
	if o.LabelPrefix == "" {
		o.LabelPrefix = DefaultLabelPrefix
	}
	if o.BaseDomain == "" {
		o.BaseDomain = DefaultBaseDomain
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.PullPolicy == "" {
		o.PullPolicy = PullIfNotPresent
	}
	switch o.PullPolicy {
	case PullIfNotPresent, PullAlways, PullNever:
	default:
		return fmt.Errorf("docker runtime: pull policy %q: want IfNotPresent, Always or Never", o.PullPolicy)
	}
	if o.PullTimeout <= 0 {
		o.PullTimeout = DefaultPullTimeout
	}
	switch {
	case o.SettleTime == 0:
		o.SettleTime = DefaultSettleTime
	case o.SettleTime < 0:
		o.SettleTime = 0
	}
	if o.RestartPolicy == "" {
		o.RestartPolicy = container.RestartPolicyDisabled
	}
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.Namespace != "" && !validName(o.Namespace) {
		return fmt.Errorf("docker runtime: namespace %q: want letters, digits, '.', '_' or '-', starting with a letter or digit", o.Namespace)
	}
	if o.ProbeBinary != "" {
		if _, err := os.Stat(o.ProbeBinary); err != nil {
			return fmt.Errorf("docker runtime: probe binary: %w", err)
		}
	}
	if !o.HostIP.IsValid() {
		o.HostIP = defaultHostIP
	}
	if o.AdvertiseHost == "" {
		o.AdvertiseHost = advertiseHost(o.HostIP, cli.DaemonHost())
	}
	return nil
}

func advertiseHost(hostIP netip.Addr, daemonHost string) string {
	if hostIP.IsValid() && !hostIP.IsUnspecified() {
		return hostIP.String()
	}
	if u, err := url.Parse(daemonHost); err == nil && (u.Scheme == "tcp" || u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}

// validName reports whether s may be part of a container, network or
// volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
func validName(s string) bool {
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return s != ""
}

func namespaceValue(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// Name returns "docker".
func (r *Runtime) Name() string { return "docker" }

// Client returns the engine client the runtime uses.
func (r *Runtime) Client() *client.Client { return r.cli }

// Options returns the runtime's options with the defaults filled in.
func (r *Runtime) Options() Options { return r.opts }

// Close stops the runtime's event subscription and, for a Runtime made
// by NewFromEnv, closes its client. Calls in flight fail; containers are
// left as they are.
func (r *Runtime) Close() error {
	r.hub.close()
	if r.ownClient {
		return r.cli.Close()
	}
	return nil
}

// depLock returns the lock that keeps a deployment's network from being
// removed while an Apply of one of its stacks uses it.
func (r *Runtime) depLock(deployment string) *sync.RWMutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.deps[deployment]
	if !ok {
		l = &sync.RWMutex{}
		r.deps[deployment] = l
	}
	return l
}

// acquire takes one slot of the runtime's bound on container operations.
func (r *Runtime) acquire(ctx context.Context) (release func(), err error) {
	if err := r.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	return func() { r.sem.Release(1) }, nil
}

// names builds object names.

func (r *Runtime) prefix() string {
	if r.opts.Namespace == "" {
		return ""
	}
	return r.opts.Namespace + "-"
}

// containerName is <deployment>-<stack>-<service>-<n>, n counting from 1.
func (r *Runtime) containerName(dep, stk, svc string, n int) string {
	return fmt.Sprintf("%s%s-%s-%s-%d", r.prefix(), dep, stk, svc, n)
}

func (r *Runtime) networkName(dep string) string { return r.prefix() + dep + "-net" }

func (r *Runtime) markerName(dep, stk string) string {
	return r.prefix() + dep + "-" + stk + ".stopped"
}

// volumeName is <deployment>-<stack>-<service>-<n>-<path slug>.
func (r *Runtime) volumeName(dep, stk, svc string, n int, slug string) string {
	return fmt.Sprintf("%s%s-%s-%s-%d-%s", r.prefix(), dep, stk, svc, n, slug)
}

// domainHost is the host name of a domain access point.
func (r *Runtime) domainHost(dep, stk, svc string) string {
	return svc + "." + stk + "." + dep + "." + strings.TrimPrefix(r.opts.BaseDomain, ".")
}

func gracePeriod(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 0)
}

// Concurrency returns Options.Parallelism: on a Docker host, stack
// operations beyond the bound on container operations only queue. It
// implements runtime.ConcurrencyHinter.
func (r *Runtime) Concurrency() int { return r.opts.Parallelism }

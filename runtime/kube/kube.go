package kube

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Defaults of Options.
const (
	DefaultNamespacePrefix = "stackwave-"
	DefaultBaseDomain      = "localhost"
	DefaultFieldManager    = "stackwave"
	DefaultGracePeriod     = 10 * time.Second
	DefaultLogLines        = 20
	// DefaultQPS and DefaultBurst replace client-go's 5 and 10. Launching
	// a tier takes about two writes per single-service stack (a workload
	// and its Service), so a tier of 1,000 stacks is some 2,000 requests
	// that should leave as fast as the API server takes them, and the
	// informers' initial lists come on top: at 5 QPS that tier would wait
	// 400 s on the client's own limiter, at 100 QPS 17 s. A burst of 1,000
	// and 500 QPS sustained keep the client out of the way of what one
	// API server serves while still stopping a runaway loop; the server
	// protects itself from heavier clients with API Priority and
	// Fairness, and the executor's concurrency bounds what is in flight.
	DefaultQPS   = 500
	DefaultBurst = 1000
)

// Options configure a Runtime. The zero value, like a nil *Options, means
// the defaults.
type Options struct {
	// Namespace, when set, puts every deployment into this one existing
	// namespace, told apart by labels and by object names prefixed with
	// "<deployment>-". The runtime never creates or deletes it and
	// watches only it, so namespaced permissions suffice.
	//
	// When empty (the default), each deployment gets a namespace of its
	// own, NamespacePrefix+deployment, created by the first Apply and
	// deleted by the Remove that leaves nothing of the runtime's in it
	// (kept volumes keep it). Objects are then named "<stack>-<service>",
	// which is also how services of one deployment reach each other.
	Namespace string
	// NamespacePrefix starts the name of each deployment's namespace.
	// Default "stackwave-".
	NamespacePrefix string
	// NamespaceLabels are added to the namespaces the runtime creates
	// (for example a pod-security level).
	NamespaceLabels map[string]string

	// BaseDomain ends the host names of domain access points:
	// <service>.<stack>.<deployment>.<base domain>. Default "localhost".
	BaseDomain string
	// IngressClassName is the ingressClassName of every Ingress; empty
	// leaves it to the cluster's default class.
	IngressClassName string
	// PublicServiceType is the type of the Service of public_ip access
	// points: corev1.ServiceTypeLoadBalancer (the default) or
	// corev1.ServiceTypeNodePort.
	PublicServiceType corev1.ServiceType
	// NodeAddress, when set, is the host reported in the Address of
	// public endpoints whose load balancer has no address (or that use
	// node ports), as NodeAddress:nodePort.
	NodeAddress string
	// StorageClasses maps volume classes (the "SSD1" of "SSD1_10G") to
	// storage classes. A class missing from the map leaves the claim's
	// storageClassName unset, so the cluster's default storage class
	// applies.
	StorageClasses map[string]string

	// QPS and Burst limit the client's request rate. Defaults DefaultQPS
	// and DefaultBurst; a negative QPS turns the client-side limit off.
	// The rest.Config's own QPS, Burst and RateLimiter are ignored.
	QPS   float32
	Burst int
	// FieldManager names the runtime in server-side apply. Default
	// "stackwave". Runtimes that share a cluster should share it.
	FieldManager string

	// PodLabels and PodAnnotations are added to the pod template of every
	// workload and init-script Job.
	PodLabels      map[string]string
	PodAnnotations map[string]string
	// PodTemplate, when set, is called with the pod template of every
	// workload and Job before it is applied, and may change it: node
	// selectors, tolerations, a service account, security contexts,
	// annotations. It must be deterministic. Like everything outside the
	// service's spec, what it changes reaches a running service with the
	// service's next change: Apply skips services whose config hash is
	// unchanged.
	PodTemplate func(PodInfo, *corev1ac.PodTemplateSpecApplyConfiguration)

	// GracePeriod is the pods' terminationGracePeriodSeconds, how long
	// they get to stop after SIGTERM, when RemoveOptions do not say.
	// Kubernetes counts whole seconds (rounded up). Default 10s.
	GracePeriod time.Duration
	// LogLines is how many of its last log lines a failed pod's error
	// carries, read through the API server from the kubelet. Default 20;
	// negative never reads logs.
	LogLines int
}

// PodInfo says what a pod template passed to Options.PodTemplate is for.
type PodInfo struct {
	Spec    *runtime.StackSpec
	Service *stack.Service
	// InitScript is the index of the init script a Job runs, or -1 for
	// the service's own workload.
	InitScript int
}

// Runtime runs stacks on a Kubernetes cluster. It implements
// runtime.Runtime, runtime.Lifecycle, runtime.VolumeLister and
// runtime.ErrorMapper, and is safe for concurrent use as the
// runtime.Runtime contract asks. Close it to stop its watches.
type Runtime struct {
	cs    kubernetes.Interface
	meta  metadata.Interface // nil: Observe always lists in full
	opts  Options
	cache *informerCache

	// cachedObserves counts the Observe calls answered from the caches.
	cachedObserves atomic.Int64

	// written remembers the generation of each workload and Job this
	// runtime wrote last, so Wait never judges a cached object older than
	// that write: "kind/namespace/name" -> int64.
	written sync.Map

	nsMu     sync.Mutex
	nsReady  map[string]bool // namespaces known to exist
	nsLocks  map[string]*nsLock
	nsFlight singleflight.Group
}

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.Lifecycle    = (*Runtime)(nil)
	_ runtime.VolumeLister = (*Runtime)(nil)
	_ runtime.ErrorMapper  = (*Runtime)(nil)
)

// New returns a Runtime that talks to the cluster cfg reaches. opts may be
// nil. New makes no request; the runtime starts its watches with the
// first call that needs them.
func New(cfg *rest.Config, opts *Options) (*Runtime, error) {
	if cfg == nil {
		return nil, errors.New("kube runtime: nil rest.Config")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst, c.RateLimiter = o.QPS, o.Burst, nil
	if c.ContentType == "" && c.AcceptContentTypes == "" {
		// Protobuf, as the cluster's own controllers speak: the API
		// server encodes responses and the informers' watch events
		// several times faster than JSON, and on a busy server that
		// is where much of a wide tier's time goes. Server-side apply
		// still sends its patch as JSON.
		c.ContentType = "application/vnd.kubernetes.protobuf"
		c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	if c.UserAgent == "" {
		c.UserAgent = "stackwave (" + rest.DefaultKubernetesUserAgent() + ")"
	}
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube runtime: %w", err)
	}
	mc, err := metadata.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kube runtime: %w", err)
	}
	r := &Runtime{cs: cs, meta: mc, opts: o, nsReady: map[string]bool{}, nsLocks: map[string]*nsLock{}}
	r.cache = newInformerCache(cs, o.Namespace)
	return r, nil
}

func (o *Options) setDefaults() error {
	if o.NamespacePrefix == "" {
		o.NamespacePrefix = DefaultNamespacePrefix
	}
	if o.BaseDomain == "" {
		o.BaseDomain = DefaultBaseDomain
	}
	switch o.PublicServiceType {
	case "":
		o.PublicServiceType = corev1.ServiceTypeLoadBalancer
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
	default:
		return fmt.Errorf("kube runtime: public service type %q: want LoadBalancer or NodePort", o.PublicServiceType)
	}
	switch {
	case o.QPS == 0:
		o.QPS = DefaultQPS
	case o.QPS < 0:
		o.QPS = -1
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.FieldManager == "" {
		o.FieldManager = DefaultFieldManager
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.LogLines == 0 {
		o.LogLines = DefaultLogLines
	}
	o.NamespaceLabels = maps.Clone(o.NamespaceLabels)
	o.StorageClasses = maps.Clone(o.StorageClasses)
	o.PodLabels = maps.Clone(o.PodLabels)
	o.PodAnnotations = maps.Clone(o.PodAnnotations)
	return nil
}

// Name returns "kube".
func (r *Runtime) Name() string { return "kube" }

// Options returns the options in effect, defaults filled in.
func (r *Runtime) Options() Options { return r.opts }

// Clientset returns the client the runtime uses.
func (r *Runtime) Clientset() kubernetes.Interface { return r.cs }

// Namespace returns the namespace that holds a deployment's objects.
func (r *Runtime) Namespace(deployment string) string { return r.namespace(deployment) }

// Close stops the runtime's watches and waits for them to end. Calls made
// after Close fail.
func (r *Runtime) Close() error {
	r.cache.shutdown()
	return nil
}

// nsLock keeps a deployment's namespace from being deleted while this
// runtime writes into it.
type nsLock struct {
	// use is held shared by Apply and RunInit, exclusively by the
	// namespace's deletion, which skips when it cannot have it at once:
	// a namespace being written into is in use.
	use sync.RWMutex
	// clean lets one Remove at a time decide whether to delete the
	// namespace, so that of two removing the last stacks, the second
	// sees the first's objects gone.
	clean sync.Mutex
}

func (r *Runtime) nsLock(ns string) *nsLock {
	r.nsMu.Lock()
	defer r.nsMu.Unlock()
	l, ok := r.nsLocks[ns]
	if !ok {
		l = &nsLock{}
		r.nsLocks[ns] = l
	}
	return l
}

// DefaultConcurrency is the runtime's Concurrency hint.
const DefaultConcurrency = 64

// Concurrency returns DefaultConcurrency, 64: a stack's Apply and Remove
// are a few short API calls, and the API server serves many at once. An
// Apply holds its slot until its slowest object, the workload, is
// written, so the bound is about the number of workload writes in
// flight: a launch of 100 stacks took 2.6 to 2.7 s with 64 against 2.8
// to 2.9 s with 32 (and no less with 128), the API server's own floor
// for the same objects being 2.5 s (BENCHMARKS.md). It implements
// runtime.ConcurrencyHinter.
func (r *Runtime) Concurrency() int { return DefaultConcurrency }

package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/stackwave/stackwave/stack"
)

// Labels on every object the runtime creates. Selectors use them, so
// `kubectl get all -l stackwave.io/stack=db` shows a stack.
const (
	// LabelManagedBy is app.kubernetes.io/managed-by, always ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelName is app.kubernetes.io/name: the service name.
	LabelName = "app.kubernetes.io/name"
	// LabelComponent is app.kubernetes.io/component: ComponentService
	// or ComponentInitScript.
	LabelComponent = "app.kubernetes.io/component"
	// LabelDeployment, LabelStack and LabelService name the stackwave
	// deployment, stack and service of an object.
	LabelDeployment = "stackwave.io/deployment"
	LabelStack      = "stackwave.io/stack"
	LabelService    = "stackwave.io/service"
	// LabelTier is the stack's tier index (workloads, Services,
	// ConfigMaps and Ingresses; not pods, so moving a stack to another
	// tier restarts nothing).
	LabelTier = "stackwave.io/tier"
	// LabelInitScript is the index of the init script a Job runs.
	LabelInitScript = "stackwave.io/init-script"
)

// Values of the labels above.
const (
	ManagedBy           = "stackwave"
	ComponentService    = "service"
	ComponentInitScript = "init-script"
)

// Annotations. AnnotationConfigHash holds runtime.ServiceHash on
// workloads, their pod templates and every object made for a service;
// Apply compares it to decide what to send.
const (
	AnnotationConfigHash = "stackwave.io/config-hash"
	annInstances         = "stackwave.io/instances"
	// annStopped marks a workload Stop scaled to zero, so that one
	// scaled to zero by hand is told apart (drift, not a stop).
	annStopped      = "stackwave.io/stopped"
	annProduct      = "stackwave.io/product"
	annProductID    = "stackwave.io/product-id"
	annVersionID    = "stackwave.io/version-id"
	annAccessPoints = "stackwave.io/access-points"
	annVolumes      = "stackwave.io/volumes"
	annMountPath    = "stackwave.io/mount-path"
	annVolumeType   = "stackwave.io/volume-type"
	annRestartedAt  = "stackwave.io/restarted-at"
	annStackHash    = "stackwave.io/stack-hash"
	annDeletionCost = "controller.kubernetes.io/pod-deletion-cost"
)

// Name limits: Services and Jobs must be DNS labels of 63 characters;
// a StatefulSet name must leave room for the controller-revision-hash
// label value ("<name>-<10 characters>") within 63.
const (
	maxLabelName       = 63
	maxStatefulSetName = 52
)

// fitName returns name when it has at most max characters, or else a
// prefix of it joined to 8 hex digits of its SHA-256, so distinct long
// names stay distinct and the same name always maps to the same result.
func fitName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := hex.EncodeToString(sum[:4])
	prefix := strings.TrimRight(name[:max-len(suffix)-1], "-.")
	return prefix + "-" + suffix
}

// serviceObjectName makes name usable as a Service name, which must be a
// DNS-1035 label: starting with a letter, at most 63 characters.
func serviceObjectName(name string) string {
	if name != "" && (name[0] < 'a' || name[0] > 'z') {
		name = "s-" + name
	}
	return fitName(name, maxLabelName)
}

// names are the object names of one service of a stack.
type names struct {
	base        string // "<stack>-<service>", prefixed with "<deployment>-" in a shared namespace
	workload    string // Deployment
	statefulSet string
	service     string // ClusterIP Service, the in-deployment address
	public      string // LoadBalancer or NodePort Service
	ingress     string
	files       string // ConfigMap of config files; see filesName
}

// filesName names the immutable ConfigMap of a service's config files
// after their content: "<base>-files-<10 hex digits of its SHA-256>". A
// change of a file is a new ConfigMap, so a pod of the old version that
// restarts mid-rollout keeps its own files.
func (n names) filesName(files map[string][]byte) string {
	h := sha256.New()
	for _, f := range fileKeys(files) {
		fmt.Fprintf(h, "%d:%s%d:", len(f.path), f.path, len(files[f.path]))
		h.Write(files[f.path])
	}
	sum := hex.EncodeToString(h.Sum(nil))[:10]
	return fitName(n.base+"-files", 253-11) + "-" + sum
}

func (r *Runtime) names(deployment, stackName, service string) names {
	base := stackName + "-" + service
	if r.opts.Namespace != "" {
		base = deployment + "-" + base
	}
	return names{
		base:        base,
		workload:    fitName(base, 253),
		statefulSet: fitName(base, maxStatefulSetName),
		service:     serviceObjectName(base),
		public:      serviceObjectName(base + "-public"),
		ingress:     fitName(base, 253),
		files:       fitName(base+"-files", 253),
	}
}

// jobName names the Job of init script index of a stack spec: the stack
// spec's hash makes it deterministic, so an executor that resumes finds
// the Job an earlier one created instead of starting the script twice.
func (r *Runtime) jobName(deployment, stackName string, index int, stackHash string) string {
	base := stackName + "-init-" + strconv.Itoa(index)
	if r.opts.Namespace != "" {
		base = deployment + "-" + base
	}
	h := strings.TrimPrefix(stackHash, "sha256:")
	if len(h) > 10 {
		h = h[:10]
	}
	return fitName(base, maxLabelName-11) + "-" + h
}

// namespace returns the namespace of a deployment.
func (r *Runtime) namespace(deployment string) string {
	if r.opts.Namespace != "" {
		return r.opts.Namespace
	}
	return fitName(r.opts.NamespacePrefix+deployment, maxLabelName)
}

// claimNames returns the volumeClaimTemplate name of each volume: the
// mount path as a DNS label ("/var/lib/mysql" gives "var-lib-mysql"),
// made unique within the service.
func claimNames(vols []stack.VolumeArg) []string {
	out := make([]string, len(vols))
	seen := map[string]bool{}
	for i, v := range vols {
		slug := slugify(v.MountPath)
		if slug == "" {
			slug = "data"
		}
		slug = fitName(slug, 40)
		name := slug
		for n := 2; seen[name]; n++ {
			name = fitName(slug, 36) + "-" + strconv.Itoa(n)
		}
		seen[name] = true
		out[i] = name
	}
	return out
}

// slugify keeps lower-case letters and digits of s and joins the runs
// between them with single dashes.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// stackKey identifies one stack in the cache: namespace, deployment and
// stack name.
func stackKey(ns, deployment, stackName string) string {
	return ns + "/" + deployment + "/" + stackName
}

// selectorLabels select the pods of one service.
func selectorLabels(deployment, stackName, service string) map[string]string {
	return map[string]string{
		LabelManagedBy:  ManagedBy,
		LabelComponent:  ComponentService,
		LabelDeployment: deployment,
		LabelStack:      stackName,
		LabelService:    service,
	}
}

// stackSelector selects everything of one stack.
func stackSelector(deployment, stackName string) string {
	return LabelManagedBy + "=" + ManagedBy + "," + LabelDeployment + "=" + deployment + "," + LabelStack + "=" + stackName
}

// deploymentSelector selects everything of one deployment.
func deploymentSelector(deployment string) string {
	return LabelManagedBy + "=" + ManagedBy + "," + LabelDeployment + "=" + deployment
}

// RelabelsTier reports true: the tier label stays off pod templates, so an
// Apply that moves a stack to another tier relabels its objects and
// restarts nothing (runtime.TierRelabeler).
func (r *Runtime) RelabelsTier() bool { return true }

// ServiceHost implements runtime.Addresser: services reach each other
// through the ClusterIP Service of the service, in the same namespace.
func (r *Runtime) ServiceHost(deployment, stackName, service string) string {
	return r.names(deployment, stackName, service).service
}

package kube

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// serviceObjects are the objects of one service of a stack spec, as
// server-side apply configurations, with what Apply compares to decide
// whether to send them.
type serviceObjects struct {
	svc      *stack.Service
	names    names
	hash     string
	replicas int32
	// meta are the annotations and labels of the workload that are not
	// in the hash; a change of one of them is applied without touching
	// the pods.
	labels      map[string]string
	annotations map[string]string
	volumes     string // annVolumes: a StatefulSet whose claims change is recreated

	deployment  *appsv1ac.DeploymentApplyConfiguration  // or
	statefulSet *appsv1ac.StatefulSetApplyConfiguration // when the service has volumes
	configMap   *corev1ac.ConfigMapApplyConfiguration
	cluster     *corev1ac.ServiceApplyConfiguration // internal_ip and domain ports
	public      *corev1ac.ServiceApplyConfiguration // public_ip ports
	ingress     *networkingv1ac.IngressApplyConfiguration
}

// workloadName is the name of the service's Deployment or StatefulSet.
func (o *serviceObjects) workloadName() string {
	if o.statefulSet != nil {
		return o.names.statefulSet
	}
	return o.names.workload
}

// specError is an ErrInvalid *runtime.ServiceError about a service.
func specError(spec *runtime.StackSpec, svc string, format string, args ...any) error {
	return &runtime.ServiceError{
		Deployment: spec.Deployment, Stack: spec.Stack.Name, Service: svc, Reason: "InvalidSpec",
		Err: fmt.Errorf("%w: %s", runtime.ErrInvalid, fmt.Sprintf(format, args...)),
	}
}

// objectLabels are the labels of every object made for a service.
func objectLabels(spec *runtime.StackSpec, service string) map[string]string {
	return map[string]string{
		LabelManagedBy:  ManagedBy,
		LabelName:       service,
		LabelComponent:  ComponentService,
		LabelDeployment: spec.Deployment,
		LabelStack:      spec.Stack.Name,
		LabelService:    service,
		LabelTier:       strconv.Itoa(spec.Tier),
	}
}

// buildService returns the objects of one service of spec.
func (r *Runtime) buildService(spec *runtime.StackSpec, svc *stack.Service) (*serviceObjects, error) {
	ns := r.namespace(spec.Deployment)
	o := &serviceObjects{
		svc:      svc,
		names:    r.names(spec.Deployment, spec.Stack.Name, svc.Name),
		hash:     runtime.ServiceHash(spec, svc),
		replicas: int32(svc.Replicas()),
	}
	o.labels = objectLabels(spec, svc.Name)
	o.annotations = map[string]string{
		AnnotationConfigHash: o.hash,
		annInstances:         strconv.Itoa(svc.Replicas()),
		annProduct:           spec.ProductName,
		annProductID:         spec.ProductID,
		annVersionID:         spec.VersionID,
		annAccessPoints:      formatAccessPoints(svc.AccessPoints),
	}
	for k, v := range o.annotations {
		if v == "" {
			delete(o.annotations, k)
		}
	}

	tmpl, err := r.podTemplate(spec, svc, o.hash, -1)
	if err != nil {
		return nil, err
	}
	container := &tmpl.Spec.Containers[0]
	container.WithArgs(escapeAll(svc.Command)...)
	if p, err := readinessProbe(svc.Readiness); err != nil {
		return nil, specError(spec, svc.Name, "%v", err)
	} else if p != nil {
		container.WithReadinessProbe(p)
	}
	for _, p := range containerPorts(svc.AccessPoints) {
		container.WithPorts(p)
	}
	if r.opts.PodTemplate != nil {
		r.opts.PodTemplate(PodInfo{Spec: spec, Service: svc, InitScript: -1}, tmpl)
	}

	sel := metav1ac.LabelSelector().WithMatchLabels(selectorLabels(spec.Deployment, spec.Stack.Name, svc.Name))
	if len(svc.VolumeArgs) == 0 {
		o.deployment = appsv1ac.Deployment(o.names.workload, ns).
			WithLabels(o.labels).WithAnnotations(o.annotations).
			WithSpec(appsv1ac.DeploymentSpec().WithReplicas(o.replicas).WithSelector(sel).WithTemplate(tmpl))
	} else {
		claims, desc, err := r.claimTemplates(spec, svc)
		if err != nil {
			return nil, err
		}
		o.volumes = desc
		o.annotations[annVolumes] = desc
		for i, c := range claims {
			container.WithVolumeMounts(corev1ac.VolumeMount().WithName(*c.Name).WithMountPath(svc.VolumeArgs[i].MountPath))
		}
		o.statefulSet = appsv1ac.StatefulSet(o.names.statefulSet, ns).
			WithLabels(o.labels).WithAnnotations(o.annotations).
			WithSpec(appsv1ac.StatefulSetSpec().
				WithReplicas(o.replicas).WithSelector(sel).WithTemplate(tmpl).
				WithPodManagementPolicy(appsv1.ParallelPodManagement).
				WithVolumeClaimTemplates(claims...).
				WithPersistentVolumeClaimRetentionPolicy(appsv1ac.StatefulSetPersistentVolumeClaimRetentionPolicy().
					WithWhenDeleted(appsv1.RetainPersistentVolumeClaimRetentionPolicyType).
					WithWhenScaled(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)))
	}

	if files := spec.Files[svc.Name]; len(files) > 0 {
		o.names.files = o.names.filesName(files)
		o.configMap = r.filesConfigMap(spec, svc, o, ns, files)
	}
	r.accessObjects(spec, svc, o, ns)
	return o, nil
}

// podTemplate returns the pod template of a service's workload
// (script < 0) or of the Job of one of its init scripts: one container
// with the service's image, env, unit-sized resources and config files.
func (r *Runtime) podTemplate(spec *runtime.StackSpec, svc *stack.Service, hash string, script int) (*corev1ac.PodTemplateSpecApplyConfiguration, error) {
	unit, err := spec.Unit(svc)
	if err != nil {
		return nil, specError(spec, svc.Name, "unit_type: %v", err)
	}
	if svc.Image.Name == "" {
		return nil, specError(spec, svc.Name, "image: no name")
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(unit.MilliCPU(), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(unit.MemoryBytes, resource.BinarySI),
	}
	c := corev1ac.Container().
		WithName(svc.Name).
		WithImage(svc.Image.Ref()).
		WithResources(corev1ac.ResourceRequirements().WithRequests(res).WithLimits(res))
	for _, e := range envVars(svc.Envs) {
		c.WithEnv(e)
	}

	labels := map[string]string{}
	for k, v := range r.opts.PodLabels {
		labels[k] = v
	}
	for k, v := range selectorLabels(spec.Deployment, spec.Stack.Name, svc.Name) {
		labels[k] = v
	}
	labels[LabelName] = svc.Name
	annotations := map[string]string{}
	for k, v := range r.opts.PodAnnotations {
		annotations[k] = v
	}
	annotations[AnnotationConfigHash] = hash
	if script >= 0 {
		labels[LabelComponent] = ComponentInitScript
		labels[LabelInitScript] = strconv.Itoa(script)
	}

	ps := corev1ac.PodSpec().
		WithEnableServiceLinks(false).
		WithAutomountServiceAccountToken(false).
		WithTerminationGracePeriodSeconds(seconds(r.opts.GracePeriod))
	if files := spec.Files[svc.Name]; len(files) > 0 {
		ps.WithVolumes(corev1ac.Volume().WithName("stackwave-files").
			WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(r.names(spec.Deployment, spec.Stack.Name, svc.Name).filesName(files))))
		for _, f := range fileKeys(files) {
			c.WithVolumeMounts(corev1ac.VolumeMount().WithName("stackwave-files").WithMountPath(f.path).WithSubPath(f.key).WithReadOnly(true))
		}
	}
	ps.WithContainers(c)
	return corev1ac.PodTemplateSpec().
		WithLabels(labels).
		WithAnnotations(annotations).
		WithSpec(ps), nil
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// claimTemplates returns one claim template per volume of svc and the
// description recorded in annVolumes.
func (r *Runtime) claimTemplates(spec *runtime.StackSpec, svc *stack.Service) ([]*corev1ac.PersistentVolumeClaimApplyConfiguration, string, error) {
	names := claimNames(svc.VolumeArgs)
	var desc []string
	out := make([]*corev1ac.PersistentVolumeClaimApplyConfiguration, len(svc.VolumeArgs))
	for i := range svc.VolumeArgs {
		v := &svc.VolumeArgs[i]
		vol, err := spec.Volume(v)
		if err != nil {
			return nil, "", specError(spec, svc.Name, "volume_args[%d].unit_type: %v", i, err)
		}
		pvc := corev1ac.PersistentVolumeClaimSpec().
			WithAccessModes(corev1.ReadWriteOnce).
			WithResources(corev1ac.VolumeResourceRequirements().WithRequests(corev1.ResourceList{
				corev1.ResourceStorage: *resource.NewQuantity(vol.SizeBytes, resource.BinarySI),
			}))
		class := r.opts.StorageClasses[vol.Class]
		if class != "" {
			pvc.WithStorageClassName(class)
		}
		labels := objectLabels(spec, svc.Name)
		delete(labels, LabelTier)
		out[i] = corev1ac.PersistentVolumeClaim(names[i], "").
			WithLabels(labels).
			WithAnnotations(map[string]string{annMountPath: v.MountPath, annVolumeType: v.UnitType}).
			WithSpec(pvc)
		desc = append(desc, names[i]+"="+v.MountPath+":"+v.UnitType+":"+class)
	}
	return out, strings.Join(desc, ","), nil
}

// file is one config file in the service's ConfigMap.
type file struct {
	path, key string
}

// fileKeys returns the ConfigMap key of each config file, sorted by path:
// the path without its leading slash and with '.' for '/', made unique.
func fileKeys(files map[string][]byte) []file {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	out := make([]file, len(paths))
	seen := map[string]bool{}
	for i, p := range paths {
		var b strings.Builder
		for _, c := range strings.TrimLeft(p, "/") {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
				b.WriteRune(c)
			default:
				b.WriteByte('.')
			}
		}
		key := strings.Trim(b.String(), ".")
		if len(key) > 200 {
			key = key[len(key)-200:]
		}
		if key == "" || seen[key] {
			key = "file-" + strconv.Itoa(i) + "." + key
		}
		seen[key] = true
		out[i] = file{path: p, key: key}
	}
	return out
}

func (r *Runtime) filesConfigMap(spec *runtime.StackSpec, svc *stack.Service, o *serviceObjects, ns string, files map[string][]byte) *corev1ac.ConfigMapApplyConfiguration {
	cm := corev1ac.ConfigMap(o.names.files, ns).
		WithLabels(o.labels).
		WithImmutable(true)
	for _, f := range fileKeys(files) {
		content := files[f.path]
		if utf8.Valid(content) {
			cm.WithData(map[string]string{f.key: string(content)})
		} else {
			cm.WithBinaryData(map[string][]byte{f.key: content})
		}
	}
	return cm
}

// accessObjects adds the Services and the Ingress of svc's access points.
func (r *Runtime) accessObjects(spec *runtime.StackSpec, svc *stack.Service, o *serviceObjects, ns string) {
	type key struct {
		port  int
		proto corev1.Protocol
	}
	seenCluster, seenPublic := map[key]bool{}, map[key]bool{}
	var cluster, public []*corev1ac.ServicePortApplyConfiguration
	var rules []*networkingv1ac.IngressRuleApplyConfiguration
	domainPorts := 0
	for i := range svc.AccessPoints {
		ap := &svc.AccessPoints[i]
		proto := kubeProtocol(ap.Protocol())
		for j, port := range ap.BackendPorts {
			k := key{port, proto}
			switch ap.Type {
			case stack.AccessInternalIP, stack.AccessDomain:
				if !seenCluster[k] {
					seenCluster[k] = true
					cluster = append(cluster, corev1ac.ServicePort().
						WithName(portName(proto, port)).WithProtocol(proto).
						WithPort(int32(port)).WithTargetPort(intstr.FromInt32(int32(port))))
				}
				if ap.Type == stack.AccessDomain {
					host := domainHost(r.opts.BaseDomain, spec.Deployment, spec.Stack.Name, svc.Name, port, domainPorts)
					domainPorts++
					backend := networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().
						WithName(o.names.service).WithPort(networkingv1ac.ServiceBackendPort().WithNumber(int32(port))))
					path := networkingv1ac.HTTPIngressPath().WithPath("/").WithPathType(networkingv1.PathTypePrefix).WithBackend(backend)
					rules = append(rules, networkingv1ac.IngressRule().WithHost(host).
						WithHTTP(networkingv1ac.HTTPIngressRuleValue().WithPaths(path)))
				}
			case stack.AccessPublicIP:
				if seenPublic[k] {
					continue
				}
				seenPublic[k] = true
				hostPort := 0
				if j < len(ap.HostPorts) {
					hostPort = ap.HostPorts[j]
				}
				sp := corev1ac.ServicePort().WithName(portName(proto, port)).WithProtocol(proto).
					WithPort(int32(port)).WithTargetPort(intstr.FromInt32(int32(port)))
				if hostPort != 0 {
					if r.opts.PublicServiceType == corev1.ServiceTypeNodePort {
						sp.WithNodePort(int32(hostPort))
					} else {
						sp.WithPort(int32(hostPort))
					}
				}
				public = append(public, sp)
			}
		}
	}
	sel := selectorLabels(spec.Deployment, spec.Stack.Name, svc.Name)
	ann := map[string]string{AnnotationConfigHash: o.hash}
	if len(cluster) > 0 {
		o.cluster = corev1ac.Service(o.names.service, ns).WithLabels(o.labels).WithAnnotations(ann).
			WithSpec(corev1ac.ServiceSpec().WithType(corev1.ServiceTypeClusterIP).WithSelector(sel).WithPorts(cluster...))
	}
	if len(public) > 0 {
		o.public = corev1ac.Service(o.names.public, ns).WithLabels(o.labels).WithAnnotations(ann).
			WithSpec(corev1ac.ServiceSpec().WithType(r.opts.PublicServiceType).WithSelector(sel).WithPorts(public...))
	}
	if len(rules) > 0 {
		is := networkingv1ac.IngressSpec().WithRules(rules...)
		if r.opts.IngressClassName != "" {
			is.WithIngressClassName(r.opts.IngressClassName)
		}
		o.ingress = networkingv1ac.Ingress(o.names.ingress, ns).WithLabels(o.labels).WithAnnotations(ann).WithSpec(is)
	}
}

// domainHost is the host name of the n-th domain port of a service:
// <service>.<stack>.<deployment>.<base domain> for the first one,
// <service>-<port>.<stack>... for the others, as one host name serves one
// port.
func domainHost(base, deployment, stackName, service string, port, n int) string {
	first := service
	if n > 0 {
		first = service + "-" + strconv.Itoa(port)
	}
	return first + "." + stackName + "." + deployment + "." + base
}

func kubeProtocol(proto string) corev1.Protocol {
	if proto == stack.ProtoUDP {
		return corev1.ProtocolUDP
	}
	return corev1.ProtocolTCP
}

func portName(proto corev1.Protocol, port int) string {
	return strings.ToLower(string(proto)) + "-" + strconv.Itoa(port)
}

func containerPorts(aps []stack.AccessPoint) []*corev1ac.ContainerPortApplyConfiguration {
	type key struct {
		port  int
		proto corev1.Protocol
	}
	seen := map[key]bool{}
	var out []*corev1ac.ContainerPortApplyConfiguration
	for i := range aps {
		proto := kubeProtocol(aps[i].Protocol())
		for _, port := range aps[i].BackendPorts {
			if k := (key{port, proto}); !seen[k] {
				seen[k] = true
				out = append(out, corev1ac.ContainerPort().WithContainerPort(int32(port)).WithProtocol(proto))
			}
		}
	}
	return out
}

// formatAccessPoints records access points in annAccessPoints, so
// Observe can report endpoints by type: "type/proto/port[/hostport]",
// comma-separated.
func formatAccessPoints(aps []stack.AccessPoint) string {
	var parts []string
	for i := range aps {
		ap := &aps[i]
		for j, port := range ap.BackendPorts {
			s := ap.Type + "/" + ap.Protocol() + "/" + strconv.Itoa(port)
			if j < len(ap.HostPorts) && ap.HostPorts[j] != 0 {
				s += "/" + strconv.Itoa(ap.HostPorts[j])
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

// accessPoint is one entry of annAccessPoints.
type accessPoint struct {
	typ, proto     string
	port, hostPort int
}

func parseAccessPoints(s string) []accessPoint {
	var out []accessPoint
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Split(part, "/")
		if len(f) < 3 {
			continue
		}
		ap := accessPoint{typ: f[0], proto: f[1]}
		ap.port, _ = strconv.Atoi(f[2])
		if len(f) > 3 {
			ap.hostPort, _ = strconv.Atoi(f[3])
		}
		out = append(out, ap)
	}
	return out
}

// readinessProbe turns a stackwave probe into a Kubernetes readiness
// probe; the running probe (or none) needs none.
func readinessProbe(p *stack.Probe) (*corev1ac.ProbeApplyConfiguration, error) {
	if p == nil {
		return nil, nil
	}
	period := int32(1)
	if p.Period > 0 {
		period = int32(max(1, seconds(p.Period.Std())))
	}
	probe := corev1ac.Probe().WithPeriodSeconds(period).WithTimeoutSeconds(period).
		WithSuccessThreshold(1).WithFailureThreshold(3)
	switch p.Type {
	case "", stack.ProbeRunning:
		return nil, nil
	case stack.ProbeTCP:
		return probe.WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromInt(p.Port))), nil
	case stack.ProbeHTTP:
		for _, code := range p.ExpectedCodes {
			if code < 200 || code > 399 {
				return nil, fmt.Errorf("readiness_probe.expected_codes: %d: Kubernetes counts only 200 to 399 as ready", code)
			}
		}
		path := p.Path
		if path == "" {
			path = "/"
		}
		return probe.WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromInt(p.Port)).
			WithScheme(corev1.URISchemeHTTP)), nil
	case stack.ProbeExec:
		return probe.WithExec(corev1ac.ExecAction().WithCommand(p.Command...)), nil
	}
	return nil, fmt.Errorf("readiness_probe.type: unknown type %q", p.Type)
}

// envVars turns "KEY=VALUE" entries into env vars: a later entry for a
// key replaces an earlier one in its place (Kubernetes would keep both,
// and server-side apply refuses duplicate keys), and values are escaped
// so that the kubelet passes them as given.
func envVars(envs []string) []*corev1ac.EnvVarApplyConfiguration {
	index := map[string]int{}
	var out []*corev1ac.EnvVarApplyConfiguration
	for _, kv := range envs {
		k, v, _ := strings.Cut(kv, "=")
		e := corev1ac.EnvVar().WithName(k).WithValue(escape(v))
		if i, ok := index[k]; ok {
			out[i] = e
			continue
		}
		index[k] = len(out)
		out = append(out, e)
	}
	return out
}

// escape keeps the kubelet from expanding $(VAR) references in s: it
// doubles each '$' that starts "$(" or "$$", which the kubelet turns back
// into one.
func escape(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '(' || s[i+1] == '$') {
			b.WriteByte('$')
		}
	}
	return b.String()
}

func escapeAll(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = escape(s)
	}
	return out
}

package docker

import (
	"encoding/json"
	"strconv"

	"github.com/moby/moby/client"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

// Label keys, after the prefix and a dot. Together they let Observe and a
// fresh Runtime rebuild everything from the engine.
const (
	keyNamespace    = "namespace"     // the runtime's namespace ("default" when unset)
	keyRole         = "role"          // container, network, data (volume) or stopped (marker volume)
	keyDeployment   = "deployment"    // deployment name
	keyProduct      = "product"       // product name
	keyProductID    = "product-id"    // product ID
	keyVersionID    = "version-id"    // product version ID
	keyStack        = "stack"         // stack name
	keyTier         = "tier"          // tier index
	keyService      = "service"       // service name
	keyInstance     = "instance"      // instance number, from 1
	keyConfigHash   = "config-hash"   // runtime.ServiceHash
	keyAccessPoints = "access-points" // JSON of the service's access points
	keyProbe        = "probe"         // JSON of the service's readiness probe
	keyReadiness    = "readiness"     // how readiness is told: running, health or host
	keyMountPath    = "mount-path"    // volume mount path
	keyVolumeType   = "volume-type"   // volume unit type, e.g. SSD1_10G
	keyVolumeClass  = "volume-class"  // e.g. SSD1
	keyVolumeSize   = "volume-size"   // bytes
)

// Roles.
const (
	roleContainer = "container"
	roleNetwork   = "network"
	roleData      = "data"
	roleStopped   = "stopped"
)

type labeler struct {
	prefix    string
	namespace string
}

func (l labeler) key(k string) string { return l.prefix + "." + k }

// get reads a label by short key.
func (l labeler) get(labels map[string]string, k string) string { return labels[l.key(k)] }

// base returns the labels of everything of a deployment.
func (l labeler) base(role, dep string) map[string]string {
	return map[string]string{
		l.key(keyNamespace):  l.namespace,
		l.key(keyRole):       role,
		l.key(keyDeployment): dep,
	}
}

// filters selects the objects of a role in the namespace, narrowed by
// deployment and stack when they are not empty.
func (l labeler) filters(role, dep, stk string) client.Filters {
	f := make(client.Filters).Add("label", l.key(keyNamespace)+"="+l.namespace)
	if role != "" {
		f.Add("label", l.key(keyRole)+"="+role)
	}
	if dep != "" {
		f.Add("label", l.key(keyDeployment)+"="+dep)
	}
	if stk != "" {
		f.Add("label", l.key(keyStack)+"="+stk)
	}
	return f
}

// containerLabels are the labels of one instance of a service.
func (l labeler) containerLabels(spec *runtime.StackSpec, svc *stack.Service, n int, hash string) map[string]string {
	m := l.base(roleContainer, spec.Deployment)
	m[l.key(keyProduct)] = spec.ProductName
	m[l.key(keyProductID)] = spec.ProductID
	m[l.key(keyVersionID)] = spec.VersionID
	m[l.key(keyStack)] = spec.Stack.Name
	m[l.key(keyTier)] = strconv.Itoa(spec.Tier)
	m[l.key(keyService)] = svc.Name
	m[l.key(keyInstance)] = strconv.Itoa(n)
	m[l.key(keyConfigHash)] = hash
	if len(svc.AccessPoints) > 0 {
		b, _ := json.Marshal(svc.AccessPoints)
		m[l.key(keyAccessPoints)] = string(b)
	}
	if svc.Readiness != nil {
		b, _ := json.Marshal(svc.Readiness)
		m[l.key(keyProbe)] = string(b)
	}
	return m
}

// instance reads the instance number label; 0 when it is missing or bad.
func (l labeler) instance(labels map[string]string) int {
	n, err := strconv.Atoi(l.get(labels, keyInstance))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

func (l labeler) accessPoints(labels map[string]string) []stack.AccessPoint {
	var aps []stack.AccessPoint
	if s := l.get(labels, keyAccessPoints); s != "" {
		_ = json.Unmarshal([]byte(s), &aps) // a bad label reports no endpoints
	}
	return aps
}

func (l labeler) probe(labels map[string]string) *stack.Probe {
	s := l.get(labels, keyProbe)
	if s == "" {
		return nil
	}
	var p stack.Probe
	if json.Unmarshal([]byte(s), &p) != nil {
		return nil
	}
	return &p
}

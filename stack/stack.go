// Package stack holds the deployable model of a product: its tiers
// (stack_deps), the stacks of each tier and the container services of each
// stack, together with the unit-type and volume-type catalogs that size them.
//
// The types here are plain data. They marshal to the canonical JSON form of
// the wire format (snake_case names, envs as "K=V" strings, access points as
// a list); package product decodes every form real documents use and
// normalises it into these types, and package validate checks them.
package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Deps is the stack_deps of a product: an ordered list of tiers. Tiers start
// one after another; the stacks inside one tier start concurrently; teardown
// runs in the reverse order. A stack's DependsOn, when set, replaces the
// implicit dependency on the whole previous tier.
type Deps []Tier

// Tier is one entry of stack_deps: stacks that start concurrently.
type Tier []Stack

// Stack is a group of services started, waited for and removed together.
type Stack struct {
	Name     string    `json:"stack_name"`
	Services []Service `json:"services"`
	// DependsOn names stacks of earlier tiers. When it names any, it
	// replaces the implicit dependency on every stack of the previous
	// tier; an empty list is the same as none.
	DependsOn []string `json:"depends_on,omitempty"`
	// InitScripts run once, in order, after the stack is ready. Each must
	// succeed for the stack to count as ready.
	InitScripts []InitScript `json:"init_scripts,omitempty"`
}

// Service is one container workload of a stack.
type Service struct {
	Name     string `json:"service_name"`
	UnitType string `json:"unit_type"`
	Image    Image  `json:"image"`
	// Envs are "KEY=VALUE" strings in the order given. The wire format also
	// accepts an object, which decodes into keys sorted by name.
	Envs []string `json:"envs,omitempty"`
	// Command is the container's argv; it is never run through a shell.
	Command      []string      `json:"command,omitempty"`
	VolumeArgs   []VolumeArg   `json:"volume_args,omitempty"`
	AccessPoints []AccessPoint `json:"access_points,omitempty"`
	// ConfigPaths are absolute paths of files that are rendered from the
	// caller's templates and placed in the container before it starts.
	ConfigPaths []string `json:"config_paths,omitempty"`
	// Instances is the number of replicas; zero means one.
	Instances int `json:"instances,omitempty"`
	// Readiness says when the service counts as ready; nil means as soon
	// as every instance is running.
	Readiness *Probe `json:"readiness_probe,omitempty"`
}

// Replicas returns the number of instances the service runs (at least one).
// A nil *Service runs one.
func (s *Service) Replicas() int {
	if s == nil || s.Instances <= 0 {
		return 1
	}
	return s.Instances
}

// Env returns the value of the env variable key and whether it is set.
func (s *Service) Env(key string) (string, bool) {
	if s == nil {
		return "", false
	}
	for _, kv := range s.Envs {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Image names a container image by the Docker reference grammar.
type Image struct {
	Name string `json:"name"`
	// Tag may be empty only when Digest is set.
	Tag string `json:"tag,omitempty"`
	// Digest pins the image content, e.g. "sha256:...".
	Digest string `json:"digest,omitempty"`
}

// Ref returns the image reference, "name:tag", "name@digest" or
// "name:tag@digest".
func (i Image) Ref() string {
	var b strings.Builder
	b.Grow(len(i.Name) + len(i.Tag) + len(i.Digest) + 2)
	b.WriteString(i.Name)
	if i.Tag != "" {
		b.WriteByte(':')
		b.WriteString(i.Tag)
	}
	if i.Digest != "" {
		b.WriteByte('@')
		b.WriteString(i.Digest)
	}
	return b.String()
}

// String returns Ref.
func (i Image) String() string { return i.Ref() }

// VolumeArg is a persistent volume mounted into a service.
type VolumeArg struct {
	MountPath string `json:"mount_path"`
	// UnitType is a volume unit type such as "SSD1_10G".
	UnitType string `json:"unit_type"`
}

// Access point types.
const (
	AccessDomain     = "domain"      // HTTP behind a host name, front port 80
	AccessPublicIP   = "public_ip"   // TCP published outside the deployment
	AccessInternalIP = "internal_ip" // TCP inside the deployment only
)

// Protocols of an access point.
const (
	ProtoHTTP = "http"
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
)

// AccessPoint exposes ports of a service.
type AccessPoint struct {
	Type         string `json:"type"`
	BackendPorts []int  `json:"backend_ports"`
	// Proto defaults to http for domain and tcp otherwise.
	Proto string `json:"proto,omitempty"`
	// HostPorts optionally fixes the host port of each backend port (same
	// length as BackendPorts, 0 meaning "assigned by the runtime").
	HostPorts []int `json:"host_ports,omitempty"`
}

// Protocol returns Proto or the default of the access point's type
// (empty for a nil *AccessPoint).
func (a *AccessPoint) Protocol() string {
	if a == nil {
		return ""
	}
	if a.Proto != "" {
		return a.Proto
	}
	if a.Type == AccessDomain {
		return ProtoHTTP
	}
	return ProtoTCP
}

// FrontPort returns the port clients use for a domain access point (80),
// or zero for other types, which expose their backend ports.
func (a *AccessPoint) FrontPort() int {
	if a != nil && a.Type == AccessDomain {
		return 80
	}
	return 0
}

// InitScript is a command run once in a service of the stack after the
// stack is ready.
type InitScript struct {
	ServiceName string   `json:"service_name"`
	Command     []string `json:"command"`
}

// Probe types.
const (
	ProbeRunning = "running" // every instance is running (the default)
	ProbeTCP     = "tcp"     // a TCP connection to Port succeeds
	ProbeHTTP    = "http"    // GET Path on Port answers one of ExpectedCodes
	ProbeExec    = "exec"    // Command run in the container exits 0
)

// Probe tells when a service is ready.
type Probe struct {
	Type string `json:"type"`
	Port int    `json:"port,omitempty"`
	Path string `json:"path,omitempty"`
	// ExpectedCodes are the HTTP statuses that count as ready; empty means
	// 200 to 399.
	ExpectedCodes []int    `json:"expected_codes,omitempty"`
	Command       []string `json:"command,omitempty"`
	// Period is the time between two attempts; zero means one second.
	Period Duration `json:"period,omitempty"`
	// Timeout bounds how long the service may take to become ready; zero
	// means the executor's default.
	Timeout Duration `json:"timeout,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if d == nil {
		return errors.New("stack: UnmarshalJSON on a nil *Duration")
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: want a Go duration such as \"30s\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("invalid duration %s: want a string such as \"30s\" or a number of seconds", b)
	}
	ns := secs * float64(time.Second)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return fmt.Errorf("invalid duration %s: out of range", b)
	}
	*d = Duration(ns)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Counts returns the number of tiers, stacks and services of deps.
func (d Deps) Counts() (tiers, stacks, services int) {
	for _, t := range d {
		stacks += len(t)
		for i := range t {
			services += len(t[i].Services)
		}
	}
	return len(d), stacks, services
}

// Stack returns the stack named name and its tier index, or nil and -1.
// The result points into deps: changing it changes deps.
func (d Deps) Stack(name string) (*Stack, int) {
	for ti, t := range d {
		for si := range t {
			if t[si].Name == name {
				return &t[si], ti
			}
		}
	}
	return nil, -1
}

// Service returns the service named name of the stack, or nil (also for
// a nil *Stack).
func (s *Stack) Service(name string) *Service {
	if s == nil {
		return nil
	}
	for i := range s.Services {
		if s.Services[i].Name == name {
			return &s.Services[i]
		}
	}
	return nil
}

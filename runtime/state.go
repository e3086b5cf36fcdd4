package runtime

import "time"

// Service and stack statuses, rolled up from instances.
const (
	// StatusRunning: every desired instance is running (and ready).
	StatusRunning = "running"
	// StatusPartiallyRunning: some but not all instances are running.
	StatusPartiallyRunning = "partially-running"
	// StatusNotRunning: no instance is running.
	StatusNotRunning = "not-running"
)

// DeploymentState is what a runtime observes of one deployment.
type DeploymentState struct {
	Deployment string       `json:"deployment"`
	Stacks     []StackState `json:"stacks"`
}

// Stack returns the observed state of the named stack, or nil.
func (d *DeploymentState) Stack(name string) *StackState {
	for i := range d.Stacks {
		if d.Stacks[i].Name == name {
			return &d.Stacks[i]
		}
	}
	return nil
}

// Status rolls the stacks' statuses up: running when every stack runs,
// not-running when none does, partially-running otherwise.
func (d *DeploymentState) Status() string {
	statuses := make([]string, len(d.Stacks))
	for i := range d.Stacks {
		statuses[i] = d.Stacks[i].Status()
	}
	return RollUp(statuses...)
}

// StackState is what a runtime observes of one stack.
type StackState struct {
	Name string `json:"stack_name"`
	Tier int    `json:"tier"`
	// ProductID and VersionID are read back from the runtime's labels.
	ProductID string         `json:"product_id,omitempty"`
	VersionID string         `json:"product_version_id,omitempty"`
	Services  []ServiceState `json:"services"`
	// Stopped is set when the stack was stopped on purpose.
	Stopped bool `json:"stopped,omitempty"`
}

// Service returns the observed state of the named service, or nil.
func (s *StackState) Service(name string) *ServiceState {
	for i := range s.Services {
		if s.Services[i].Name == name {
			return &s.Services[i]
		}
	}
	return nil
}

// Status rolls the services' statuses up.
func (s *StackState) Status() string {
	statuses := make([]string, len(s.Services))
	for i := range s.Services {
		statuses[i] = s.Services[i].Status()
	}
	return RollUp(statuses...)
}

// ServiceState is what a runtime observes of one service.
type ServiceState struct {
	Name string `json:"service_name"`
	// Hash is the ServiceHash the service was applied with, as the
	// runtime's labels or annotations hold it.
	Hash string `json:"config_hash"`
	// Image is the image reference the service's objects run, as the
	// back-end holds it (the container's or pod template's image), so a
	// change made behind the runtime's back shows. Empty when unknown.
	Image string `json:"image,omitempty"`
	// Desired is the number of instances asked for.
	Desired   int             `json:"desired"`
	Instances []InstanceState `json:"instances"`
	Endpoints []Endpoint      `json:"endpoints,omitempty"`
}

// Ready returns the number of ready instances.
func (s *ServiceState) Ready() int {
	n := 0
	for i := range s.Instances {
		if s.Instances[i].Ready {
			n++
		}
	}
	return n
}

// Running returns the number of running instances.
func (s *ServiceState) Running() int {
	n := 0
	for i := range s.Instances {
		if s.Instances[i].Running {
			n++
		}
	}
	return n
}

// Status is running when every desired instance runs, not-running when
// none does, partially-running otherwise.
func (s *ServiceState) Status() string {
	running := s.Running()
	desired := s.Desired
	if desired <= 0 {
		desired = len(s.Instances)
	}
	switch {
	case running == 0:
		return StatusNotRunning
	case running >= desired:
		return StatusRunning
	}
	return StatusPartiallyRunning
}

// InstanceState is one container or pod of a service.
type InstanceState struct {
	// Name is the container or pod name.
	Name      string    `json:"name"`
	ID        string    `json:"id,omitempty"`
	Running   bool      `json:"running"`
	Ready     bool      `json:"ready"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// ExitCode is set when the instance exited.
	ExitCode int `json:"exit_code,omitempty"`
	// Reason says why an instance is not running or not ready
	// ("Exited", "OOMKilled", "CrashLoopBackOff", ...).
	Reason string `json:"reason,omitempty"`
}

// Endpoint is where an access point answers.
type Endpoint struct {
	Type        string `json:"type"`
	Proto       string `json:"proto"`
	BackendPort int    `json:"backend_port"`
	// Address is host:port where clients reach the port, when the
	// runtime publishes it.
	Address string `json:"address,omitempty"`
	// Host is the host name of a domain access point.
	Host string `json:"host,omitempty"`
	// Internal is the in-deployment address, e.g. "mysql-1.mysql-cluster:3306".
	Internal string `json:"internal,omitempty"`
}

// RollUp combines statuses: running if all are running (or there are
// none), not-running if none is running or partially running, else
// partially-running.
func RollUp(statuses ...string) string {
	running, notRunning := 0, 0
	for _, s := range statuses {
		switch s {
		case StatusRunning:
			running++
		case StatusNotRunning:
			notRunning++
		}
	}
	switch {
	case running == len(statuses):
		return StatusRunning
	case notRunning == len(statuses):
		return StatusNotRunning
	}
	return StatusPartiallyRunning
}

// VolumeState is one volume a runtime keeps for a service.
type VolumeState struct {
	// Name is the runtime's name for the volume (Docker volume, PVC).
	Name      string `json:"name"`
	Stack     string `json:"stack_name"`
	Service   string `json:"service_name"`
	MountPath string `json:"mount_path"`
	// Class and SizeBytes come from the volume's unit type.
	Class     string `json:"class,omitempty"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
}

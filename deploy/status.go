package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/store"
)

// Status is a deployment as recorded and as observed on its runtime.
type Status struct {
	Name string `json:"name"`
	// Status is the recorded status (Available, UnderChange, Error,
	// Tainted, Terminated).
	Status    store.Status `json:"status"`
	ProductID string       `json:"product_id"`
	VersionID string       `json:"product_version_id"`
	// TargetVersionID is set while an operation moves the deployment.
	TargetVersionID string `json:"target_version_id,omitempty"`
	// Health rolls up what the runtime observes: running,
	// partially-running or not-running.
	Health        string           `json:"health"`
	Stacks        []StackStatus    `json:"stacks"`
	LastOperation *store.Operation `json:"last_operation,omitempty"`
	// ObserveError is set when the runtime could not be asked; Health
	// and the observed fields are then empty.
	ObserveError string `json:"observe_error,omitempty"`
}

// StackStatus is one stack's recorded state and observed health.
type StackStatus struct {
	Name     string          `json:"stack_name"`
	Tier     int             `json:"tier"`
	State    string          `json:"state,omitempty"`
	Message  string          `json:"message,omitempty"`
	Health   string          `json:"health"`
	Services []ServiceStatus `json:"services"`
}

// ServiceStatus is one service's observed health and endpoints.
type ServiceStatus struct {
	Name      string                  `json:"service_name"`
	Health    string                  `json:"health"`
	Desired   int                     `json:"desired"`
	Running   int                     `json:"running"`
	Ready     int                     `json:"ready"`
	Endpoints []runtime.Endpoint      `json:"endpoints,omitempty"`
	Instances []runtime.InstanceState `json:"instances,omitempty"`
}

// Status returns the deployment's record rolled up with what its runtime
// observes: each service running, partially-running or not-running from
// its instances, each stack and the deployment from their services, and
// the endpoints of every access point. Stacks are listed in tier order.
func (e *Executor) Status(ctx context.Context, name string) (*Status, error) {
	d, err := e.st.GetDeployment(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", name, err)
	}
	st := &Status{
		Name: d.Name, Status: d.Status, ProductID: d.ProductID, VersionID: d.VersionID,
		TargetVersionID: d.TargetVersionID, LastOperation: d.LastOperation(),
	}
	var spec []StackStatus
	if v, err := e.st.GetVersion(ctx, d.VersionID); err == nil {
		deps := withScale(v.StackDeps, d.Parameters)
		for ti, tier := range deps {
			for si := range tier {
				s := &tier[si]
				ss := StackStatus{Name: s.Name, Tier: ti}
				for k := range s.Services {
					ss.Services = append(ss.Services, ServiceStatus{Name: s.Services[k].Name, Desired: s.Services[k].Replicas()})
				}
				spec = append(spec, ss)
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("status %s: %w", name, err)
	}
	if d.Status == store.StatusTerminated {
		spec = nil
	}
	// Stacks recorded but not in the spec (being removed) are listed too.
	for _, rs := range d.Stacks {
		if findStack(spec, rs.Name) == nil {
			spec = append(spec, StackStatus{Name: rs.Name, Tier: rs.Tier})
		}
	}
	for i := range spec {
		if rs := d.Stack(spec[i].Name); rs != nil {
			spec[i].State, spec[i].Message = rs.State, rs.Message
		}
	}
	obs, err := e.rt.Observe(ctx, name)
	if err != nil {
		st.ObserveError = runtime.MapError(e.rt, err).Error()
		st.Stacks = spec
		return st, nil
	}
	// Observed stacks not in the record or spec are leftovers: show them.
	for _, os := range obs.Stacks {
		if findStack(spec, os.Name) == nil {
			spec = append(spec, StackStatus{Name: os.Name, Tier: os.Tier})
		}
	}
	healths := make([]string, 0, len(spec))
	for i := range spec {
		ss := &spec[i]
		os := obs.Stack(ss.Name)
		var svcHealth []string
		if os != nil {
			for _, osvc := range os.Services {
				if findService(ss.Services, osvc.Name) == nil {
					ss.Services = append(ss.Services, ServiceStatus{Name: osvc.Name, Desired: osvc.Desired})
				}
			}
		}
		for k := range ss.Services {
			svc := &ss.Services[k]
			svc.Health = runtime.StatusNotRunning
			if os != nil {
				if osvc := os.Service(svc.Name); osvc != nil {
					if osvc.Desired > 0 {
						svc.Desired = osvc.Desired
					}
					svc.Running, svc.Ready = osvc.Running(), osvc.Ready()
					svc.Endpoints, svc.Instances = osvc.Endpoints, osvc.Instances
					svc.Health = osvc.Status()
				}
			}
			svcHealth = append(svcHealth, svc.Health)
		}
		ss.Health = runtime.RollUp(svcHealth...)
		healths = append(healths, ss.Health)
	}
	st.Stacks = spec
	st.Health = runtime.RollUp(healths...)
	if len(spec) == 0 {
		st.Health = runtime.StatusNotRunning
	}
	return st, nil
}

func findStack(s []StackStatus, name string) *StackStatus {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

func findService(s []ServiceStatus, name string) *ServiceStatus {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

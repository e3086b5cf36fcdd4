package runtime

import (
	"fmt"
	"slices"
	"strings"
)

// Sync values: how what a runtime observes of a service compares with
// the spec it was asked to run.
const (
	// SyncInSync: the service runs as the spec says.
	SyncInSync = "in-sync"
	// SyncDrifted: the service differs from the spec (see Drift reasons).
	SyncDrifted = "drifted"
	// SyncExtra: the service runs but is not in the spec.
	SyncExtra = "extra"
)

// Drift reasons, in the order they are reported.
const (
	// DriftMissing: nothing of the service exists.
	DriftMissing = "missing"
	// DriftStopped: some instances exist but do not run (stopped,
	// exited, killed), and the stack was not stopped on purpose.
	DriftStopped = "stopped"
	// DriftImage: the service runs another image than the spec's.
	DriftImage = "image"
	// DriftReplicas: the service has another number of instances than
	// the spec asks for.
	DriftReplicas = "replicas"
	// DriftHash: the service was applied with another configuration
	// (its ServiceHash label or annotation differs).
	DriftHash = "hash"
	// DriftTier: the stack runs labelled with another tier than the
	// spec's (it moved and was not applied again).
	DriftTier = "tier"
)

// ServiceDrift is how one service of a stack compares with its spec.
type ServiceDrift struct {
	Stack   string `json:"stack_name"`
	Service string `json:"service_name"`
	// Sync is SyncInSync, SyncDrifted or SyncExtra.
	Sync string `json:"sync"`
	// Reasons lists what differs, for a drifted service: DriftMissing,
	// DriftStopped, DriftImage, DriftReplicas, DriftTier, DriftHash.
	Reasons []string `json:"reasons,omitempty"`
	// Detail says it in words, e.g. "image example/web:2, want
	// example/web:1". It never holds env values or file contents.
	Detail string `json:"detail,omitempty"`
}

// Drifted reports whether the service needs a repair: it drifted or is
// extra.
func (d *ServiceDrift) Drifted() bool { return d.Sync != SyncInSync }

// String renders the drift on one line: "web: missing",
// "db: image, hash (image example/db:2, want example/db:1)".
func (d *ServiceDrift) String() string {
	switch d.Sync {
	case SyncInSync:
		return d.Service + ": in sync"
	case SyncExtra:
		return d.Service + ": extra"
	}
	s := d.Service + ": " + strings.Join(d.Reasons, ", ")
	if d.Detail != "" {
		s += " (" + d.Detail + ")"
	}
	return s
}

// Compare reports how the observed state of a stack (nil when the runtime
// holds nothing of it) compares with spec, service by service: the
// services of spec in spec order, then the observed services spec does
// not have, by name. Every runtime is judged by this one function, so
// drift means the same everywhere:
//
//   - missing: the service is not observed at all;
//   - stopped: an instance is stopped or exited (Reason "Stopped",
//     "Exited", "OOMKilled", "Created" or "Dead"), unless the stack was
//     stopped on purpose (StackState.Stopped); an instance the back-end
//     is still starting or restarting ("ContainerCreating",
//     "CrashLoopBackOff", "Restarting"...) is a matter of health;
//   - image: the observed image differs from the spec's (when the runtime
//     reports one);
//   - replicas: the number of instances differs from the spec's, unless
//     the stack was stopped on purpose;
//   - tier: the stack is observed in another tier than spec.Tier (it
//     moved to another tier and was not applied since);
//   - hash: the configuration hash differs from ServiceHash(spec, svc).
//
// A service that is running but not yet ready is in sync: readiness is
// health, not drift.
func Compare(spec *StackSpec, observed *StackState) []ServiceDrift {
	return CompareHashed(spec, nil, observed)
}

// CompareHashed is Compare with the ServiceHash of each service of spec
// given in spec order (nil: computed), for callers that compare one spec
// often.
func CompareHashed(spec *StackSpec, hashes []string, observed *StackState) []ServiceDrift {
	out := make([]ServiceDrift, 0, len(spec.Stack.Services))
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		d := ServiceDrift{Stack: spec.Stack.Name, Service: svc.Name, Sync: SyncInSync}
		var osvc *ServiceState
		if observed != nil {
			osvc = observed.Service(svc.Name)
		}
		if osvc == nil {
			d.Sync, d.Reasons = SyncDrifted, []string{DriftMissing}
			out = append(out, d)
			continue
		}
		var details []string
		want := svc.Replicas()
		if !observed.Stopped {
			stopped := 0
			for k := range osvc.Instances {
				if in := &osvc.Instances[k]; !in.Running && stoppedReasons[in.Reason] {
					stopped++
				}
			}
			if stopped > 0 {
				d.Reasons = append(d.Reasons, DriftStopped)
				details = append(details, fmt.Sprintf("%d of %d instances not running", stopped, len(osvc.Instances)))
			}
		}
		if img := svc.Image.Ref(); osvc.Image != "" && osvc.Image != img {
			d.Reasons = append(d.Reasons, DriftImage)
			details = append(details, fmt.Sprintf("image %s, want %s", osvc.Image, img))
		}
		if n := len(osvc.Instances); n != want && !observed.Stopped {
			// A stack stopped on purpose keeps its instances (Docker)
			// or has none (Kubernetes scales to zero): both are right.
			d.Reasons = append(d.Reasons, DriftReplicas)
			details = append(details, fmt.Sprintf("%d instances, want %d", n, want))
		}
		if observed.Tier != spec.Tier {
			d.Reasons = append(d.Reasons, DriftTier)
			details = append(details, fmt.Sprintf("tier %d, want %d", observed.Tier, spec.Tier))
		}
		h := ""
		if i < len(hashes) {
			h = hashes[i]
		} else {
			h = ServiceHash(spec, svc)
		}
		if osvc.Hash != h {
			d.Reasons = append(d.Reasons, DriftHash)
			details = append(details, "configuration applied differs")
		}
		if len(d.Reasons) > 0 {
			d.Sync, d.Detail = SyncDrifted, strings.Join(details, "; ")
		}
		out = append(out, d)
	}
	if observed != nil {
		for i := range observed.Services {
			name := observed.Services[i].Name
			if spec.Stack.Service(name) == nil {
				out = append(out, ServiceDrift{Stack: spec.Stack.Name, Service: name, Sync: SyncExtra})
			}
		}
		slices.SortStableFunc(out[len(spec.Stack.Services):], func(a, b ServiceDrift) int { return strings.Compare(a.Service, b.Service) })
	}
	return out
}

// InSyncHashed reports whether CompareHashed would find every service in
// sync, without building its result: the check a reconciler makes of
// every stack on every pass.
func InSyncHashed(spec *StackSpec, hashes []string, observed *StackState) bool {
	if observed == nil || len(observed.Services) != len(spec.Stack.Services) || observed.Tier != spec.Tier {
		return false
	}
	for i := range spec.Stack.Services {
		svc := &spec.Stack.Services[i]
		osvc := observed.Service(svc.Name)
		if osvc == nil || osvc.Image != "" && osvc.Image != svc.Image.Ref() {
			return false
		}
		if !observed.Stopped {
			if len(osvc.Instances) != svc.Replicas() {
				return false
			}
			for k := range osvc.Instances {
				if in := &osvc.Instances[k]; !in.Running && stoppedReasons[in.Reason] {
					return false
				}
			}
		}
		h := ""
		if i < len(hashes) {
			h = hashes[i]
		} else {
			h = ServiceHash(spec, svc)
		}
		if osvc.Hash != h {
			return false
		}
	}
	return true
}

// InSync reports whether every service of a Compare result is in sync.
func InSync(drift []ServiceDrift) bool {
	for i := range drift {
		if drift[i].Drifted() {
			return false
		}
	}
	return true
}

// stoppedReasons are the InstanceState reasons of an instance that stays
// down until someone starts it.
var stoppedReasons = map[string]bool{"Stopped": true, "Exited": true, "OOMKilled": true, "Created": true, "Dead": true}

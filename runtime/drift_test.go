package runtime_test

import (
	"slices"
	"testing"

	"github.com/stackwave/stackwave/runtime"
	"github.com/stackwave/stackwave/stack"
)

func TestCompare(t *testing.T) {
	spec := &runtime.StackSpec{Deployment: "d", Stack: stack.Stack{Name: "app", Services: []stack.Service{
		{Name: "web", UnitType: "1U1G", Image: stack.Image{Name: "web", Tag: "1"}, Instances: 2},
		{Name: "db", UnitType: "1U1G", Image: stack.Image{Name: "db", Tag: "1"}},
	}}}
	running := func(n int) []runtime.InstanceState {
		out := make([]runtime.InstanceState, n)
		for i := range out {
			out[i] = runtime.InstanceState{Running: true, Ready: true}
		}
		return out
	}
	good := func() *runtime.StackState {
		return &runtime.StackState{Name: "app", Services: []runtime.ServiceState{
			{Name: "db", Hash: runtime.ServiceHash(spec, &spec.Stack.Services[1]), Image: "db:1", Instances: running(1)},
			{Name: "web", Hash: runtime.ServiceHash(spec, &spec.Stack.Services[0]), Image: "web:1", Instances: running(2)},
		}}
	}
	for name, c := range map[string]struct {
		edit func(*runtime.StackState) *runtime.StackState
		want map[string][]string // drifted services and reasons; "extra" for extra
	}{
		"in sync":   {func(s *runtime.StackState) *runtime.StackState { return s }, nil},
		"nothing":   {func(*runtime.StackState) *runtime.StackState { return nil }, map[string][]string{"web": {"missing"}, "db": {"missing"}}},
		"not ready": {func(s *runtime.StackState) *runtime.StackState { s.Services[1].Instances[0].Ready = false; return s }, nil},
		"crash loop": {func(s *runtime.StackState) *runtime.StackState {
			s.Services[1].Instances[0] = runtime.InstanceState{Reason: "CrashLoopBackOff"}
			return s
		}, nil},
		"stopped": {func(s *runtime.StackState) *runtime.StackState {
			s.Services[1].Instances[1] = runtime.InstanceState{Reason: "Exited"}
			return s
		}, map[string][]string{"web": {"stopped"}}},
		"on purpose": {func(s *runtime.StackState) *runtime.StackState {
			s.Stopped = true
			s.Services[1].Instances = nil
			return s
		}, nil},
		"image":       {func(s *runtime.StackState) *runtime.StackState { s.Services[0].Image = "db:evil"; return s }, map[string][]string{"db": {"image"}}},
		"replicas":    {func(s *runtime.StackState) *runtime.StackState { s.Services[1].Instances = running(3); return s }, map[string][]string{"web": {"replicas"}}},
		"hash":        {func(s *runtime.StackState) *runtime.StackState { s.Services[0].Hash = "sha256:old"; return s }, map[string][]string{"db": {"hash"}}},
		"missing one": {func(s *runtime.StackState) *runtime.StackState { s.Services = s.Services[1:]; return s }, map[string][]string{"db": {"missing"}}},
		"extra": {func(s *runtime.StackState) *runtime.StackState {
			s.Services = append(s.Services, runtime.ServiceState{Name: "zz"})
			return s
		}, map[string][]string{"zz": {"extra"}}},
	} {
		t.Run(name, func(t *testing.T) {
			obs := c.edit(good())
			got := runtime.Compare(spec, obs)
			drifted := map[string][]string{}
			for _, d := range got {
				switch d.Sync {
				case runtime.SyncExtra:
					drifted[d.Service] = []string{"extra"}
				case runtime.SyncDrifted:
					drifted[d.Service] = d.Reasons
				}
			}
			if len(drifted) != len(c.want) {
				t.Fatalf("Compare: %v, want %v", got, c.want)
			}
			for s, r := range c.want {
				if !slices.Equal(drifted[s], r) {
					t.Errorf("service %s: %v, want %v", s, drifted[s], r)
				}
			}
			if a, b := runtime.InSync(got), runtime.InSyncHashed(spec, nil, obs); a != b {
				t.Errorf("InSync(Compare) = %v but InSyncHashed = %v", a, b)
			}
		})
	}
}

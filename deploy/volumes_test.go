package deploy_test

import (
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/volumecase"
	"github.com/stackwave/stackwave/runtime/sim"
)

// simVolumes runs the data-keeping scenarios on the simulated runtime,
// where stack c exits on start.
func simVolumes(t *testing.T, run func(*testing.T, *volumecase.Env)) {
	rt := sim.New(&sim.Options{ReadyLatency: 5 * time.Millisecond})
	rt.Inject(sim.Fault{Kind: sim.ExitOnStart, Stack: "c", ExitCode: 3})
	run(t, &volumecase.Env{Runtime: rt, Good: service, Bad: service, Options: deploy.Options{}})
}

func TestTerminateDeletesDataOfRemovedStacks(t *testing.T) {
	simVolumes(t, volumecase.TerminateFindsRemovedStacks)
}

func TestRollbackKeepsDataOfBefore(t *testing.T) {
	simVolumes(t, volumecase.RollbackKeepsDataOfBefore)
}

func TestResumedRollbackKeepsDataOfBefore(t *testing.T) {
	simVolumes(t, volumecase.ResumedRollbackKeepsDataOfBefore)
}

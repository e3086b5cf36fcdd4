package docker_test

import (
	"testing"
	"time"

	"github.com/stackwave/stackwave/deploy"
	"github.com/stackwave/stackwave/internal/volumecase"
	"github.com/stackwave/stackwave/runtime/docker"
	"github.com/stackwave/stackwave/stack"
)

// dockerVolumes runs a data-keeping scenario of the executor on the
// Docker engine: stack c's service exits before it is ready.
func dockerVolumes(t *testing.T, run func(*testing.T, *volumecase.Env)) {
	t.Parallel()
	rt := newRuntime(t, &docker.Options{PullPolicy: docker.PullNever})
	good := func(name string) stack.Service { return web(t, name, 8080) }
	bad := func(name string) stack.Service {
		s := web(t, name, 8080, "TESTAPP_EXIT_AFTER=300ms", "TESTAPP_EXIT_CODE=3")
		s.Readiness = &stack.Probe{Type: stack.ProbeExec, Command: []string{"/testapp", "exit", "1"}, Timeout: stack.Duration(time.Minute)}
		return s
	}
	run(t, &volumecase.Env{Runtime: rt, Good: good, Bad: bad, Options: deploy.Options{ReadyTimeout: 2 * time.Minute}, Timeout: 5 * time.Minute})
}

func TestTerminateDeletesDataOfRemovedStacks(t *testing.T) {
	dockerVolumes(t, volumecase.TerminateFindsRemovedStacks)
}

func TestRollbackKeepsDataOfBefore(t *testing.T) {
	dockerVolumes(t, volumecase.RollbackKeepsDataOfBefore)
}

func TestResumedRollbackKeepsDataOfBefore(t *testing.T) {
	dockerVolumes(t, volumecase.ResumedRollbackKeepsDataOfBefore)
}

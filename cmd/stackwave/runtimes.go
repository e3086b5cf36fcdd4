package main

import (
	"context"
	"errors"

	"github.com/stackwave/stackwave/runtime"
)

// openDocker and openKube are replaced as the runtimes land.
func openDocker(ctx context.Context) (runtime.Runtime, error) {
	return nil, errors.New("runtime docker is not available in this build")
}

func openKube(ctx context.Context, kubeconfig string) (runtime.Runtime, error) {
	return nil, errors.New("runtime kube is not available in this build")
}

package main

import (
	"context"
	"testing"

	"github.com/stackwave/stackwave/internal/kubetest"
)

// The example runs to its end on the test control plane, whose simulated
// nodes run any image.
func TestExample(t *testing.T) {
	env := kubetest.Start(t, nil)
	t.Setenv("KUBECONFIG", env.Kubeconfig)
	if err := run(context.Background(), "nginx:1.27", false); err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"context"
	"testing"

	"github.com/stackwave/stackwave/internal/dockertest"
)

// The example runs to its end on the real engine (and cleans up after
// itself).
func TestExample(t *testing.T) {
	dockertest.Client(t) // fails with the reason when no engine answers
	if err := run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

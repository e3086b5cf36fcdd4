package main

import (
	"io"

	"github.com/stackwave/stackwave/internal/probe"
)

// runProbe is the probe subcommand (see internal/probe): exit 0 when
// healthy, 1 otherwise, usage errors included, so a mistyped probe never
// passes.
func runProbe(args []string, stdout io.Writer) int {
	return probe.Main("probe", args, stdout)
}

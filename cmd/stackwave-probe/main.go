// Command stackwave-probe checks a TCP or HTTP port and exits 0 when it
// answers, 1 otherwise. The Docker runtime copies it into containers whose
// services have tcp or http readiness probes and runs it as their health
// check, so those probes work in images without a shell or any tool
// (FROM scratch) and `docker ps` shows the health.
//
//	stackwave-probe [-timeout 1s] tcp HOST:PORT
//	stackwave-probe [-timeout 1s] http URL [CODE|LO-HI|Nxx ...]
//
// The checks are those of internal/probe: a plain HTTP/1.0 GET (no TLS, no
// proxy, no redirects followed) judged by its status line, 200 to 399 by
// default, as for a Kubernetes probe. Only the standard library's net
// package is linked in, so the binary stays small: it is copied into every
// container that needs it. Usage errors exit 1 too, so a mistyped probe
// never reports healthy.
//
// Build it static for the engine's platform, e.g.
//
//	CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags=-s -o stackwave-probe ./cmd/stackwave-probe
//
// and point runtime/docker's Options.ProbeBinary at the result.
package main

import (
	"io"
	"os"

	"github.com/stackwave/stackwave/internal/probe"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

func run(args []string, stdout io.Writer) int {
	return probe.Main("stackwave-probe", args, stdout)
}

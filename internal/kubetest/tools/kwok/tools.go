//go:build tools

// Package tools pins the kwok node simulator that
// internal/kubetest/build.sh compiles. It is never built as a package.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"

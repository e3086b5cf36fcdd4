//go:build tools

// Package tools pins the etcd server that internal/kubetest/build.sh
// compiles. It is never built as a package.
package tools

import _ "go.etcd.io/etcd/server/v3"

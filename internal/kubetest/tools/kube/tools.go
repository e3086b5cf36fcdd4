//go:build tools

// Package tools pins the Kubernetes control-plane commands that
// internal/kubetest/build.sh compiles. It is never built as a package.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)

// Package kube runs stackwave stacks on a Kubernetes cluster through
// client-go: each service becomes a Deployment, or a StatefulSet when it
// has volumes, with Services, an Ingress and a ConfigMap of its config
// files, all written with server-side apply.
package kube

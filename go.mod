module github.com/stackwave/stackwave

go 1.26.0

require (
	github.com/distribution/reference v0.6.0
	github.com/google/go-cmp v0.7.0
	github.com/opencontainers/go-digest v1.0.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	github.com/kr/pretty v0.3.0 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c // indirect
)

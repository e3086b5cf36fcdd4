#!/usr/bin/env bash
# test.sh runs every stackwave test against the real back-ends. It first
# prepares what the tests need, each step fast when already done:
#
#   - PostgreSQL (scripts/postgres.sh: installed from Debian packages and
#     started on 127.0.0.1 when missing),
#   - the Docker engine (scripts/docker.sh: started when it is not running),
#   - the Docker test image, built from internal/testapp through the Docker
#     API (the engine must be running; nothing is pulled),
#   - the Kubernetes control-plane binaries (internal/kubetest/build.sh:
#     built from Go modules into a cache directory, minutes the first time),
#
# then runs `go test -race` over every package. Extra arguments go to
# go test, e.g. scripts/test.sh -run TestLaunch ./deploy/...
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '==> %s\n' "$*" >&2; }

step "PostgreSQL"
eval "$(scripts/postgres.sh --env)"

step "Docker engine"
# CI sets STACKWAVE_RESTART_HUNG_DOCKER=1: an engine whose network calls
# hang is restarted rather than failing every Docker test.
scripts/docker.sh ${STACKWAVE_RESTART_HUNG_DOCKER:+--restart-hung}

step "Docker test image"
if ! docker_out=$(go run ./internal/imagebuild/cmd/ensure-testapp 2>&1); then
	printf '%s\n' "$docker_out" >&2
	echo "test.sh: the Docker test image could not be built: is the Docker engine running (DOCKER_HOST)?" >&2
	exit 1
fi
printf '    %s\n' "$(printf '%s\n' "$docker_out" | tail -1)" >&2

step "Kubernetes control-plane binaries"
internal/kubetest/build.sh >&2

# Packages default to ./... unless the arguments name some.
pkgs=(./...)
for a in "$@"; do
	case "$a" in
	./*) pkgs=() ;;
	esac
done
step "go test -race -count=1 $* ${pkgs[*]}"
exec go test -race -count=1 -timeout 45m "$@" "${pkgs[@]}"

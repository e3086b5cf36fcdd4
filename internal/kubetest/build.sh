#!/usr/bin/env bash
# build.sh builds the binaries that internal/kubetest runs as a test control
# plane: kube-apiserver, kube-controller-manager, kube-scheduler (Kubernetes),
# etcd and kwok, plus kwok's stage definitions (kwok-stages.yaml).
#
# Versions are pinned by the tools modules under tools/ (go.mod + go.sum), so
# only the Go toolchain and the Go module proxy are needed. Binaries that are
# already present in the cache directory are not rebuilt, so running this
# again is cheap.
#
# Usage:
#   internal/kubetest/build.sh              build what is missing, print the directory
#   internal/kubetest/build.sh --print-dir  only print the directory
#
# Cache directory:
#   $STACKWAVE_KUBETEST_BIN if set, else
#   ${XDG_CACHE_HOME:-$HOME/.cache}/stackwave/kubetest/<version-key>
# The version key must match versionKey() in binaries.go (a test checks it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/tools"

# Build revision: bump when the build flags or the stages layout change, so
# existing caches are not reused.
revision=1

# modversion MODULEDIR PATH prints the version of PATH required by
# tools/MODULEDIR/go.mod.
modversion() {
	local v
	v="$(awk -v m="$2" '
		$1 == "require" && $2 == m { print $3; exit }
		$1 == m && $2 ~ /^v/ { print $2; exit }
	' "$tools/$1/go.mod")"
	if [[ -z "$v" ]]; then
		echo "build.sh: no requirement on $2 in $tools/$1/go.mod" >&2
		exit 1
	fi
	echo "$v"
}

k8s_version="$(modversion kube k8s.io/kubernetes)"
etcd_version="$(modversion etcd go.etcd.io/etcd/server/v3)"
kwok_version="$(modversion kwok sigs.k8s.io/kwok)"

export GOWORK=off
{ read -r goos && read -r goarch; } < <(go env GOOS GOARCH)

key="k8s-${k8s_version}_etcd-${etcd_version}_kwok-${kwok_version}_${goos}-${goarch}_r${revision}"
if [[ -n "${STACKWAVE_KUBETEST_BIN:-}" ]]; then
	dir="$STACKWAVE_KUBETEST_BIN"
else
	dir="${XDG_CACHE_HOME:-$HOME/.cache}/stackwave/kubetest/$key"
fi

if [[ "${1:-}" == "--print-dir" ]]; then
	echo "$dir"
	exit 0
elif [[ $# -gt 0 ]]; then
	echo "usage: $0 [--print-dir]" >&2
	exit 2
fi

mkdir -p "$dir"

# Serialise concurrent builds (several test binaries may start at once on a
# fresh machine); the ones that wait find the binaries already built.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$dir/.build.lock"
	flock 9
fi

missing() {
	local b
	for b in "$@"; do
		[[ -x "$dir/$b" ]] || return 0
	done
	return 1
}

# Binaries are built into a scratch directory next to the cache and renamed
# into place, so a binary in the cache is always complete.
scratch="$dir/.build.$$"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch"

# build MODULEDIR LDFLAGS PACKAGE... builds main packages of a tools module.
build() {
	local mod="$1" ldflags="$2"
	shift 2
	echo "build.sh: building $* ($mod tools module)"
	(cd "$tools/$mod" && go build -trimpath -ldflags "$ldflags" -o "$scratch/" "$@")
	local p
	for p in "$@"; do
		mv -f "$scratch/${p##*/}" "$dir/${p##*/}"
	done
}

start=$SECONDS

if missing kube-apiserver kube-controller-manager kube-scheduler; then
	v=k8s.io/component-base/version
	minor="${k8s_version#v*.}"
	minor="${minor%%.*}"
	build kube "-s -w -X $v.gitVersion=$k8s_version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler
fi

if missing etcd; then
	# The etcd server module's main package is the module root, so go build
	# would name the binary v3; name it explicitly.
	echo "build.sh: building go.etcd.io/etcd/server/v3 (etcd tools module)"
	(cd "$tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$scratch/etcd" go.etcd.io/etcd/server/v3)
	mv -f "$scratch/etcd" "$dir/etcd"
fi

if missing kwok; then
	build kwok "-s -w" sigs.k8s.io/kwok/cmd/kwok
fi

stages="$dir/kwok-stages.yaml"
if [[ ! -s "$stages" ]]; then
	# Node and pod lifecycles as kwok ships them: nodes become Ready and
	# keep a heartbeat, pods become Running/Ready and are deleted when asked.
	src="$(cd "$tools/kwok" && go mod download sigs.k8s.io/kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
	tmp="$scratch/kwok-stages.yaml"
	for d in node/fast node/heartbeat pod/fast; do
		for f in "$src/kustomize/stage/$d"/*.yaml; do
			[[ "${f##*/}" == kustomization.yaml ]] && continue
			printf -- '---\n# %s\n' "${f#"$src/"}" >>"$tmp"
			cat "$f" >>"$tmp"
		done
	done
	mv -f "$tmp" "$stages"
fi

if ((SECONDS - start > 1)); then
	echo "build.sh: built in $((SECONDS - start))s"
fi
echo "$dir"

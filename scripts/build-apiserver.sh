#!/usr/bin/env bash
# Builds the kube-apiserver test harness (tests/apiserver) into
#   ${CARGO_TARGET_DIR:-target}/apiserver/kube-apiserver-harness
# and prints the binary's path on the last line of stdout.
#
# Needs only a Go toolchain (>= 1.25; GOTOOLCHAIN may fetch one) and the Go
# module proxy: modules are downloaded on demand and checked against the
# committed go.sum. The build is skipped when the binary is newer than every
# file in tests/apiserver; set FORCE=1 to rebuild anyway. Go's build cache
# makes a forced rebuild of unchanged sources cheap as well.
#
# Environment: GO (go binary), FORCE=1, TRIMPATH=0 (keep source paths).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="$repo_root/tests/apiserver"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$repo_root/$target_dir" ;;
esac
out_dir="$target_dir/apiserver"
out="$out_dir/kube-apiserver-harness"

source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"
find_go build-apiserver

if [[ "${FORCE:-0}" != "1" && -x "$out" ]]; then
  # find prints the first source file newer than the binary; none = fresh.
  if [[ -z "$(find "$src_dir" -type f -newer "$out" -print -quit)" ]]; then
    echo "build-apiserver: $out is up to date" >&2
    echo "$out"
    exit 0
  fi
fi

cd "$src_dir"
start=$(date +%s)

# /version must report the real Kubernetes release, not the v0.0.0-master
# placeholder compiled into k8s.io/component-base/version. The release is
# whatever go.mod resolves k8s.io/kubernetes to, e.g. v1.35.8.
k8s_version="$("$go_bin" list -m -f '{{.Version}}' k8s.io/kubernetes)"
if [[ ! "$k8s_version" =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+ ]]; then
  echo "build-apiserver: unexpected k8s.io/kubernetes version '$k8s_version'" >&2
  exit 1
fi
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"
pkg="k8s.io/component-base/version"
ldflags="-s -w"
ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean"

build_flags=(-buildvcs=false -ldflags "$ldflags" -o "$out")
if [[ "${TRIMPATH:-1}" == "1" ]]; then
  build_flags+=(-trimpath)
fi

mkdir -p "$out_dir"
echo "build-apiserver: building kube-apiserver $k8s_version harness (a cold build takes several minutes)" >&2
"$go_bin" build "${build_flags[@]}" .
touch "$out" # a no-op relink keeps the old mtime; the freshness check needs a new one

end=$(date +%s)
size=$(du -h "$out" | cut -f1)
echo "build-apiserver: built $out ($size) in $((end - start))s" >&2
echo "$out"

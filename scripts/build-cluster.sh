#!/usr/bin/env bash
# Builds the fuller test cluster (scripts/with-cluster.sh) from Go modules:
#   - the kube-apiserver harness, which also runs kube-controller-manager and kube-scheduler
#     (tests/apiserver, via build-apiserver.sh: one binary, one k8s.io/kubernetes version);
#   - KWOK (tests/kwok)                         -> ${CARGO_TARGET_DIR:-target}/cluster/kwok
#   - the Chaos Mesh controller manager (tests/chaosmesh)
#                                               -> ${CARGO_TARGET_DIR:-target}/cluster/chaos-controller-manager
# Each is skipped when its binary is newer than every file of its module (FORCE=1 rebuilds); Go's
# build cache makes a forced rebuild of unchanged sources cheap too. Needs only Go and the Go
# module proxy. Prints the cluster binaries' directory on the last line of stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"
find_go build-cluster
find_target_dir
out_dir="$target_dir/cluster"
mkdir -p "$out_dir"

bash "$repo_root/scripts/build-apiserver.sh" >/dev/null

# build_tool NAME MODULE_DIR PACKAGE: `go build` of a `tool` of a module under tests/.
build_tool() {
  local name=$1 module_dir=$2 package=$3 out="$out_dir/$1"
  if is_fresh "$out" "$module_dir"; then
    echo "build-cluster: $out is up to date" >&2
    return 0
  fi
  local start
  start=$(date +%s)
  echo "build-cluster: building $name (a cold build takes minutes)" >&2
  (cd "$module_dir" && "$go_bin" build -buildvcs=false -trimpath -ldflags "-s -w" -o "$out" "$package")
  touch "$out" # a no-op relink keeps the old mtime; the freshness check needs a new one
  echo "build-cluster: built $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - start))s" >&2
}

build_tool kwok "$repo_root/tests/kwok" sigs.k8s.io/kwok/cmd/kwok
build_tool chaos-controller-manager "$repo_root/tests/chaosmesh" \
  github.com/chaos-mesh/chaos-mesh/cmd/chaos-controller-manager
echo "$out_dir"

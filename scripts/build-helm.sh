#!/usr/bin/env bash
# Builds helm from its Go module into ${CARGO_TARGET_DIR:-target}/tools/helm and prints the
# binary's path on the last line of stdout. Cached: nothing is rebuilt when that version is
# already there. Needs only Go and the Go module proxy.
#
# Environment: GO (go binary), HELM_VERSION (default below).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${HELM_VERSION:-v3.22.0}"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$repo_root/$target_dir" ;;
esac
tools="$target_dir/tools"
out="$tools/helm"
stamp="$tools/helm.version"

source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"
find_go build-helm

if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "build-helm: $out ($version) is up to date" >&2
  echo "$out"
  exit 0
fi

mkdir -p "$tools"
start=$(date +%s)
echo "build-helm: building helm $version from its Go module (first build takes minutes)" >&2
GOBIN="$tools" CGO_ENABLED=0 "$go_bin" install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$version"
echo "$version" >"$stamp"
echo "build-helm: built $out in $(( $(date +%s) - start ))s" >&2
echo "$out"

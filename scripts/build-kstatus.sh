#!/usr/bin/env bash
# Builds tests/kstatus (kstatus and the chart's Argo CD Lua health checks, for tests/gitops_health.rs)
# into ${CARGO_TARGET_DIR:-target}/tools/kstatus-health and prints the binary's path on the last
# line of stdout. Skipped when the binary is newer than every file in tests/kstatus. Needs only Go
# and the Go module proxy; its Kubernetes modules are the versions tests/apiserver uses, so the Go
# build cache is shared.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src_dir="$repo_root/tests/kstatus"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$repo_root/$target_dir" ;;
esac
out="$target_dir/tools/kstatus-health"

source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"
find_go build-kstatus

if [[ -x "$out" && -z "$(find "$src_dir" -type f -newer "$out" -print -quit)" ]]; then
  echo "build-kstatus: $out is up to date" >&2
  echo "$out"
  exit 0
fi
mkdir -p "$(dirname "$out")"
(cd "$src_dir" && "$go_bin" build -buildvcs=false -trimpath -ldflags "-s -w" -o "$out" .)
touch "$out"
echo "build-kstatus: built $out" >&2
echo "$out"

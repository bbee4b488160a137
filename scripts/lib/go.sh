# Sourced by the scripts that build Go programs (build-apiserver.sh, build-cluster.sh,
# build-kstatus.sh, build-helm.sh): one place that finds the Go toolchain and the target dir.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/go.sh"
#   find_go build-foo          # sets go_bin, or exits naming the caller
#   find_target_dir            # sets repo_root and target_dir (absolute CARGO_TARGET_DIR or target/)
#   is_fresh OUT DIR...        # true when OUT exists and no file under DIR... is newer

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Prefer an explicit GO, then PATH, then the usual install location.
find_go() {
  go_bin="${GO:-}"
  if [[ -n "$go_bin" ]]; then return 0; fi
  if command -v go >/dev/null 2>&1; then
    go_bin="go"
  elif [[ -x /usr/local/go/bin/go ]]; then
    go_bin="/usr/local/go/bin/go"
  else
    echo "$1: no Go toolchain found (set GO or put go on PATH)" >&2
    exit 1
  fi
}

find_target_dir() {
  target_dir="${CARGO_TARGET_DIR:-target}"
  case "$target_dir" in
    /*) ;;
    *) target_dir="$repo_root/$target_dir" ;;
  esac
}

is_fresh() {
  local out=$1
  shift
  [[ "${FORCE:-0}" != "1" && -x "$out" && -z "$(find "$@" -type f -newer "$out" -print -quit)" ]]
}

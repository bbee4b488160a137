#!/usr/bin/env bash
# Runs a command against a real kube-apiserver started for it (the harness from tests/apiserver,
# built first when stale), on 127.0.0.1, and stops the server when the command ends.
#
#   scripts/with-apiserver.sh cargo test --test approval
#
# The command sees SMART_CHAOS_TEST_APISERVER (the server's state directory: kubeconfigs and
# tokens); the integration tests read it and fail loudly without it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target_dir

bash scripts/build-apiserver.sh >/dev/null

state=$(mktemp -d "${TMPDIR:-/tmp}/smart-chaos-apiserver.XXXXXX")
mkfifo "$state/stdin"
"$target_dir/apiserver/kube-apiserver-harness" --state-dir "$state" \
  <"$state/stdin" >"$state/stdout" 2>"$state/stderr" &
server_pid=$!
# Holding the fifo open keeps the server alive; closing it (or our exit) stops it.
exec 3>"$state/stdin"
cleanup() {
  exec 3>&- || true
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  if grep -q '^READY ' "$state/stdout" 2>/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the kube-apiserver harness exited before it was ready:" >&2
    tail -n 50 "$state/stderr" >&2
    exit 1
  fi
  sleep 0.2
done
grep '^READY ' "$state/stdout" >&2 || { echo "kube-apiserver not ready after 120 s" >&2; tail -n 50 "$state/stderr" >&2; exit 1; }
export SMART_CHAOS_TEST_APISERVER=$state
"$@"

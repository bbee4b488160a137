#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against a real
# kube-apiserver (built from the Kubernetes Go modules by tests/apiserver and started here, on
# 127.0.0.1, for the duration of the run).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target_dir

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== building the kube-apiserver harness"
bash scripts/build-apiserver.sh

echo "== starting the kube-apiserver"
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
grep '^READY ' "$state/stdout" || { echo "kube-apiserver not ready after 120 s" >&2; tail -n 50 "$state/stderr" >&2; exit 1; }
export SMART_CHAOS_TEST_APISERVER=$state

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --locked -- --show-output

echo "== test suite finished in $(( $(date +%s) - start )) s"

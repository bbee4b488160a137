#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the integration tests against a real
# kube-apiserver (built from the Kubernetes Go modules by tests/apiserver and started here, on
# 127.0.0.1, for the duration of the run) and a real Prometheus (scripts/with-prometheus.sh), then
# tests/real_runs.rs against the fuller cluster (scripts/with-cluster.sh: controllers, scheduler,
# KWOK nodes and the Chaos Mesh controller manager), where the other tests' hand-set statuses would
# be overwritten by the real controllers.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target_dir
# A clean clone gains nothing from incremental caches, and those of ~45 test targets take 3 GB.
export CARGO_INCREMENTAL=0

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== building the kube-apiserver harness and the fuller cluster's parts"
bash scripts/build-cluster.sh

# Clippy and the tests run against one kube-apiserver and one Prometheus, started here on
# 127.0.0.1. real_runs is `test = false` (Cargo.toml), so `cargo test` leaves it out and clippy
# names it.
scripts/with-apiserver.sh scripts/with-prometheus.sh bash -euo pipefail -c '
echo "== cargo clippy"
cargo clippy --all-targets --test real_runs --locked -- -D warnings

echo "== cargo test"
cargo test --locked -- --show-output
'

# workflow_checks' garbage-collection test needs kube-controller-manager, so it is ignored on the
# plain server above and runs here.
echo "== real runs and garbage collection (fuller cluster)"
scripts/with-cluster.sh bash -euo pipefail -c '
cargo test --locked --test real_runs -- --show-output
cargo test --locked --test workflow_checks -- --ignored --show-output
'

echo "== test suite finished in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Installs what the test suite needs beyond the machine image (Rust stable and Go are on it).
# Idempotent: a second run installs nothing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# buildah builds the operator image from scratch without a daemon (tests/image.rs).
command -v buildah >/dev/null 2>&1 || need+=(buildah)
# kubectl kustomize renders deploy/ as `kubectl apply -k` would (tests/manifests.rs).
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
command -v mkfifo >/dev/null 2>&1 || need+=(coreutils)
# A real Prometheus for the telemetry tests (scripts/with-prometheus.sh), and curl to wait for it.
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo clippy --version >/dev/null 2>&1 && cargo fmt --version >/dev/null 2>&1 || { echo "clippy and rustfmt are required (rustup components)" >&2; exit 1; }
command -v go >/dev/null 2>&1 || { echo "Go is required (tests/apiserver)" >&2; exit 1; }
go version
cargo --version

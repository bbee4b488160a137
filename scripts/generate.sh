#!/usr/bin/env bash
# Regenerates every file that comes from the code: the CRDs and the approval, tenancy and halt policies, in crds/,
# deploy/ and the Helm chart. tests/crds_in_sync.rs and tests/manifests.rs fail when they drift.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -- crds >crds/smart-chaos.yaml
cargo run --quiet -- crds --policy-only >crds/approval-policy.yaml
cargo run --quiet -- crds --tenancy-only >crds/tenancy-policy.yaml
cargo run --quiet -- crds --halt-only >crds/halt-policy.yaml
cp crds/smart-chaos.yaml deploy/crds.yaml
cp crds/approval-policy.yaml deploy/approval-policy.yaml
cp crds/smart-chaos.yaml charts/smart-chaos/crds/smart-chaos.yaml
cp crds/approval-policy.yaml charts/smart-chaos/files/approval-policy.yaml
cp crds/tenancy-policy.yaml deploy/tenancy-policy.yaml
cp crds/tenancy-policy.yaml charts/smart-chaos/files/tenancy-policy.yaml
cp crds/halt-policy.yaml deploy/halt-policy.yaml
cp crds/halt-policy.yaml charts/smart-chaos/files/halt-policy.yaml
echo "generated crds/, deploy/ and charts/smart-chaos/ copies"

# Developer shortcuts; CI runs ./scripts/test.sh.

# Regenerate every file derived from the code (CRDs, admission policy) in crds/, deploy/ and the chart.
generate:
    ./scripts/generate.sh

fmt:
    cargo fmt --all

lint:
    cargo clippy --all-targets -- -D warnings

# Unit tests only (no API server needed).
test:
    cargo test --lib

# The whole suite, with the real kube-apiserver.
test-integration:
    ./scripts/test.sh

# The offline analysis of the bundled demo application.
demo:
    cargo run --release -- analyze -f examples/demo-app --out smart-chaos-report

bench:
    cargo bench --bench servicemap -- 50000

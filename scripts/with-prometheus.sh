#!/usr/bin/env bash
# Runs a command against a real Prometheus (Debian's `prometheus` package) started for it on
# 127.0.0.1 with a free port, and stops the server when the command ends.
#
#   scripts/with-prometheus.sh cargo test --test prometheus_map
#
# The command sees
#   SMART_CHAOS_TEST_PROMETHEUS       the server's URL, http://127.0.0.1:PORT
#   SMART_CHAOS_TEST_PROMETHEUS_DATA  its TSDB directory: tests backfill history there with
#                                     `promtool tsdb create-blocks-from openmetrics FILE DIR`;
#                                     Prometheus loads new blocks within a minute
#   SMART_CHAOS_TEST_PROMETHEUS_TARGETS  a folder of file_sd target files (*.json): a test that
#                                     runs an exporter on 127.0.0.1 writes one and is scraped
#                                     every second
# The Prometheus tests read them and fail loudly without them.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
  || { echo "prometheus and promtool are required (scripts/install-deps.sh installs them)" >&2; exit 1; }

state=$(mktemp -d "${TMPDIR:-/tmp}/smart-chaos-prometheus.XXXXXX")
mkdir -p "$state/data" "$state/targets"
cat >"$state/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: test-exporters
    file_sd_configs:
      - files: ['$state/targets/*.json']
        refresh_interval: 1s
YAML

# A free port: bind port 0 and read back what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1)

prometheus --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/data" \
  --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=30d \
  --log.level=warn >"$state/stdout" 2>"$state/stderr" &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
url="http://127.0.0.1:$port"
for _ in $(seq 1 300); do
  if curl -fsS "$url/-/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "prometheus exited before it was ready:" >&2
    tail -n 30 "$state/stderr" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "$url/-/ready" >/dev/null || { echo "prometheus not ready after 60 s" >&2; tail -n 30 "$state/stderr" >&2; exit 1; }
echo "prometheus ready at $url" >&2
export SMART_CHAOS_TEST_PROMETHEUS=$url
export SMART_CHAOS_TEST_PROMETHEUS_DATA=$state/data
export SMART_CHAOS_TEST_PROMETHEUS_TARGETS=$state/targets
"$@"

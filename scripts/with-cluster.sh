#!/usr/bin/env bash
# Runs a command against the fuller test cluster, all on 127.0.0.1, and stops it when the command
# ends:
#   - the kube-apiserver harness with kube-controller-manager and kube-scheduler (tests/apiserver);
#   - KWOK (tests/kwok): six simulated nodes over three zones (tests/kwok/nodes.yaml) and the pod
#     lifecycle of tests/kwok/stages.yaml (Pending -> Running -> Ready after 1 s, or the pod's
#     `pod-ready.stage.kwok.x-k8s.io/delay` annotation);
#   - the Chaos Mesh controller manager (tests/chaosmesh) with its admission webhooks and the CRDs
#     of ../shared/chaos-mesh/crd.yaml; no chaos-daemon, so only kinds that need none inject.
#
#   scripts/with-cluster.sh cargo test --test real_runs
#
# The command sees SMART_CHAOS_TEST_APISERVER and SMART_CHAOS_TEST_CLUSTER (both the harness's
# state directory: kubeconfigs, tokens, and the components' logs). Needs kubectl and curl
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$target_dir
shared=$PWD/../shared
[ -f "$shared/chaos-mesh/crd.yaml" ] || { echo "with-cluster: $shared/chaos-mesh/crd.yaml is missing" >&2; exit 1; }

bin=$(bash scripts/build-cluster.sh | tail -n 1)
started=$(date +%s.%N)
# Seconds since `started`, to one decimal: the start-up figures printed below.
since_start() { awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

state=$(mktemp -d "${TMPDIR:-/tmp}/smart-chaos-cluster.XXXXXX")
mkfifo "$state/stdin"
"$target_dir/apiserver/kube-apiserver-harness" --state-dir "$state" --control-plane --chaos-mesh-webhooks \
  --ready-timeout 180s <"$state/stdin" >"$state/stdout" 2>"$state/stderr" &
server_pid=$!
# Holding the fifo open keeps the server alive; closing it (or our exit) stops it.
exec 3>"$state/stdin"
pids=()
cleanup() {
  local pid alive
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Chaos Mesh's manager can hang in its graceful shutdown (seen once, for 12 min); a test cluster
  # gives its parts 10 s, then kills them.
  for _ in $(seq 1 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  exec 3>&- || true
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

# fail MESSAGE LOG...: the message and the tails of the logs that tell why.
fail() {
  echo "with-cluster: $1" >&2
  shift
  local log
  for log in "$@"; do
    echo "--- last lines of $log" >&2
    tail -n 30 "$log" >&2 || true
  done
  exit 1
}

for _ in $(seq 1 900); do
  grep -q '^READY ' "$state/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the harness exited before it was ready" "$state/stderr"
  sleep 0.2
done
grep -q '^READY ' "$state/stdout" || fail "the harness was not ready after 180 s" "$state/stderr"
harness_ready=$(since_start)
export KUBECONFIG=$state/admin.kubeconfig

kubectl apply -f tests/kwok/nodes.yaml >/dev/null

# KWOK's options as flags (see tests/kwok/stages.yaml for why not a KwokConfiguration document).
"$bin/kwok" --kubeconfig="$KUBECONFIG" --config=tests/kwok/stages.yaml \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --cidr=10.244.0.0/16 --node-lease-duration-seconds=40 --server-address=127.0.0.1:0 >"$state/kwok.log" 2>&1 &
pids+=($!)
kubectl wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null \
  || fail "the KWOK nodes did not become Ready" "$state/kwok.log"
nodes_ready=$(since_start)

kubectl apply --server-side --force-conflicts -f "$shared/chaos-mesh/crd.yaml" >/dev/null
kubectl create namespace chaos-mesh >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
webhook_port=$(cat "$state/chaos-mesh/webhook-port")
env KUBECONFIG="$KUBECONFIG" NAMESPACE=chaos-mesh ENABLE_LEADER_ELECTION=false \
  WEBHOOK_HOST=127.0.0.1 WEBHOOK_PORT="$webhook_port" CERTS_DIR="$state/chaos-mesh/certs" \
  METRICS_HOST=127.0.0.1 METRICS_PORT=0 \
  "$bin/chaos-controller-manager" >"$state/chaos-mesh.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 300); do
  # Any HTTP answer over TLS verified with the harness CA means the webhook server is up.
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$state/pki/ca.crt" \
    "https://127.0.0.1:$webhook_port/healthz" || true)
  [ "$code" != "000" ] && break
  kill -0 "${pids[1]}" 2>/dev/null || fail "the Chaos Mesh controller manager exited" "$state/chaos-mesh.log"
  sleep 0.2
done
[ "$code" != "000" ] || fail "the Chaos Mesh webhook server did not answer within 60 s" "$state/chaos-mesh.log"

echo "with-cluster: ready in $(since_start) s (harness READY at $harness_ready s, KWOK nodes Ready at" \
  "$nodes_ready s, Chaos Mesh webhooks answering at $(since_start) s)" >&2
export SMART_CHAOS_TEST_APISERVER=$state SMART_CHAOS_TEST_CLUSTER=$state
"$@"

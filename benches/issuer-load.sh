#!/usr/bin/env bash
# Token requests through the issuer role of the real binary (`mcp-warden issuer`), over
# loopback HTTP/1.1: the latency a workload sees when it exchanges its platform token, paced
# at a fixed rate (issue 10: p99 at 500 token requests/s), and the most the role serves
# closed-loop. Each request is a jwt-bearer grant with a Kubernetes-shaped ES256 workload
# assertion (trusted through jwks_file) and a DPoP proof of its own (no proof is sent
# twice: the issuer refuses a replay, more cheaply than it issues a token).
#
#   benches/issuer-load.sh                 # paced 500 req/s for 20 s, then closed loop
#   RATE=1000 DURATION=30 benches/issuer-load.sh
#
# Prints one markdown row per run (requests/s, p50, p90, p99, max, the issuer's CPU per
# request); results/ keeps the JSON lines. The issuer's replay store is the in-memory one.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

rate=${RATE:-500}
duration=${DURATION:-20}
warmup=${WARMUP:-2}
connections=${CONNECTIONS:-8}

bench_setup issuer-load
jsonl="$results/$stamp.jsonl"

issuer_port=$(free_port)
admin_port=$(free_port)
issuer="http://127.0.0.1:$issuer_port"
cat >"$work/issuer.toml" <<TOML
[admin]
address = "127.0.0.1:$admin_port"
[log]
level = "warn"

[issuer]
issuer = "$issuer"
ephemeral_key = true
[issuer.listen]
address = "127.0.0.1:$issuer_port"

[[issuer.trusted]]
name = "cluster"
platform = "kubernetes"
issuer = "https://kubernetes.default.svc"
jwks_file = "$work/jwks.json"

[[issuer.resources]]
name = "mcp"
uri = "https://mcp.example.com/mcp"
scopes = ["tools:call"]

[[issuer.rules]]
name = "load"
issuer = "cluster"
subject = "system:serviceaccount:load:agent"
grants = [{ resource = "mcp", scopes = ["tools:call"] }]
TOML
"$warden" check-config "$work/issuer.toml" >&2
"$warden" issuer --config "$work/issuer.toml" >"$work/issuer.log" 2>&1 &
issuer_pid=$!
pids+=("$issuer_pid")

failed=0
# one LABEL [loadgen options...]
one() {
    local label=$1
    shift
    echo "== $label" >&2
    if ! "$loadgen" --mode token --url "$issuer/token" --audience "$issuer" \
        --issuer https://kubernetes.default.svc --issuer-key "$work/issuer.p8" \
        --wait-ready "http://127.0.0.1:$admin_port/readyz" --label "$label" \
        --connections "$connections" --duration-s "$duration" --warmup-s "$warmup" \
        --pid "$issuer_pid" "$@" >"$work/out"; then
        failed=1
        echo "!! $label: errors or no requests; the issuer's log follows" >&2
        tail -n 20 "$work/issuer.log" >&2 || true
    fi
    grep '^{' "$work/out" >>"$jsonl" || true
    grep '^|' "$work/out" || true
}

# Proofs for every request of the run (warm-up included), with a margin.
paced_proofs=$(awk -v r="$rate" -v d="$duration" -v w="$warmup" 'BEGIN { printf "%d", r * (d + w) * 1.2 + 1000 }')
one "token requests, paced at $rate/s" --rate "$rate" --proofs "$paced_proofs"
one "token requests, closed loop" --proofs "${CLOSED_PROOFS:-300000}"
echo "JSON lines: $jsonl" >&2
exit "$failed"

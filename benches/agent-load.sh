#!/usr/bin/env bash
# The agent's egress proxy under load, next to a direct call in the same run (issue 11): what
# `mcp-warden agent` adds to each request's latency.
#
# One `mcp-warden serve` runs three roles on loopback: the issuer (trusting a Kubernetes-like
# platform key through jwks_file), the guard in front of examples/upstream (trusting that
# issuer in process, and loadgen's own token issuer through jwks_file), and the agent proxy
# (route /mcp -> the guard, workload token from a file). Two rows, paced alike:
#
#   direct   loadgen -> guard, a DPoP-bound token and a pre-signed proof per request
#   proxy    loadgen -> agent proxy (no credentials) -> guard: the proxy attaches its cached
#            token and signs a fresh proof per request, then forwards over its own
#            connection pool
#
# The difference of the two rows is the proxy's cost, proof signing included.
#
#   benches/agent-load.sh                    # 500 req/s, 4 connections, 20 s, then closed loop
#   RATE=1000 DURATION=30 benches/agent-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh

rate=${RATE:-500}
duration=${DURATION:-20}
warmup=${WARMUP:-2}
connections=${CONNECTIONS:-4}
cluster=https://kubernetes.default.svc

bench_setup agent-load
jsonl="$results/$stamp.jsonl"
start_upstream

issuer_port=$(free_port) guard_port=$(free_port) agent_port=$(free_port) admin_port=$(free_port)
issuer="http://127.0.0.1:$issuer_port"
resource="http://127.0.0.1:$guard_port/mcp"
"$loadgen" --issuer-key "$work/issuer.p8" --keys-only --issuer "$cluster" --audience "$issuer" \
    --write-workload-token "$work/workload-token"
cat >"$work/warden.toml" <<TOML
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
issuer = "$cluster"
jwks_file = "$work/jwks.json"
[[issuer.resources]]
name = "mcp"
uri = "$resource"
scopes = ["tools:call"]
[[issuer.rules]]
name = "load"
issuer = "cluster"
subject = "system:serviceaccount:load:agent"
grants = [{ resource = "mcp", scopes = ["tools:call"] }]

[guard]
resource = "$resource"
authorization_servers = ["$issuer"]
[guard.listen]
address = "127.0.0.1:$guard_port"
[guard.upstream]
url = "http://127.0.0.1:$upstream_port"
[[guard.issuers]]
issuer = "$issuer"
discovery = true
dangerous_allow_plain_http = true
[[guard.issuers]]
issuer = "https://as.example.com"
jwks_file = "$work/jwks.json"

[agent]
[agent.listen]
address = "127.0.0.1:$agent_port"
[agent.workload]
token_file = "$work/workload-token"
[[agent.routes]]
name = "mcp"
url = "$resource"
scopes = ["tools:call"]
TOML
"$warden" check-config "$work/warden.toml" >&2
"$warden" serve --config "$work/warden.toml" >"$work/warden.log" 2>&1 &
warden_pid=$!
pids+=("$warden_pid")
wait_ready "http://127.0.0.1:$admin_port/readyz"

failed=0
# row LABEL URL [loadgen options...]
row() {
    local label=$1 url=$2
    shift 2
    echo "== $label" >&2
    if ! "$loadgen" --url "$url" --label "$label" --connections "$connections" \
        --duration-s "$duration" --warmup-s "$warmup" --issuer-key "$work/issuer.p8" \
        --pid "$warden_pid" --cpu-of "upstream=$upstream_pid" "$@" >"$work/out"; then
        failed=1
        echo "!! $label: errors or no requests; the log follows" >&2
        tail -n 20 "$work/warden.log" >&2 || true
    fi
    grep '^{' "$work/out" >>"$jsonl" || true
    grep '^|' "$work/out" || true
}

proofs=$(awk -v r="$rate" -v d="$duration" -v w="$warmup" 'BEGIN { printf "%d", r * (d + w) * 1.2 + 1000 }')
row "direct, paced at $rate/s" "$resource" --mode dpop --proofs "$proofs" --rate "$rate"
row "via the agent proxy, paced at $rate/s" "http://127.0.0.1:$agent_port/mcp" --mode none --rate "$rate"
row "direct, closed loop" "$resource" --mode dpop --proofs "${CLOSED_PROOFS:-300000}"
row "via the agent proxy, closed loop" "http://127.0.0.1:$agent_port/mcp" --mode none
echo "JSON lines: $jsonl" >&2
exit "$failed"

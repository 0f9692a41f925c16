#!/usr/bin/env bash
# Instructions per proxied request of the whole sidecar process (docs/performance.md,
# targets 4 and 5): `mcp-warden guard` under `valgrind --tool=callgrind`, counted from
# `callgrind_control -z` (after a warm-up run, so one-time work such as aws-lc's entropy
# seeding is left out) to `callgrind_control -d` after a loadgen run. Counts do not depend
# on the machine's load, so they show a regression that wall-clock runs would hide.
#
#   benches/callgrind-sidecar.sh            # off warm cold, one line each
#   benches/callgrind-sidecar.sh off        # the proxy alone (--dangerous-no-guard, in the
#                                           # bench-unguarded build benches/lib.sh makes)
#
# Modes: off (the proxy alone), warm (the guard, default configuration: the generator
# reuses one access token), cold (the guard with `token_cache_entries = 0`).
# Environment: CG_DURATION_S (30), CG_CONNECTIONS (16), CG_PROOFS (40000), and those of
# benches/lib.sh. Keeps the callgrind files under target/callgrind-sidecar/.

set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/lib.sh
source benches/lib.sh

duration=${CG_DURATION_S:-30}
connections=${CG_CONNECTIONS:-16}
proofs=${CG_PROOFS:-40000}
modes=("$@")
((${#modes[@]})) || modes=(off warm cold)

command -v valgrind >/dev/null || {
    echo "valgrind not found (apt-get install -y valgrind)" >&2
    exit 2
}
bench_setup callgrind-sidecar
start_upstream

for mode in "${modes[@]}"; do
    flags=() guard_toml="" proof_flags=(--proofs "$proofs")
    case $mode in
    off) flags=(--dangerous-no-guard) proof_flags=(--proofs 20000 --reuse-proofs) ;;
    warm) ;;
    cold) guard_toml="token_cache_entries = 0" ;;
    *)
        echo "unknown mode $mode (off, warm, cold)" >&2
        exit 2
        ;;
    esac
    sidecar_config "$mode" "$guard_toml" ""
    out=$results/sidecar-$mode-$stamp.out
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$warden" guard --config "$work/$mode.toml" "${flags[@]}" >"$work/$mode.log" 2>&1 &
    sidecar_pid=$!
    pids+=("$sidecar_pid")
    wait_ready "http://127.0.0.1:$admin_port/readyz" 120
    load() {
        "$loadgen" --url "http://127.0.0.1:$sidecar_port/mcp" --issuer-key "$work/issuer.p8" \
            --connections "$connections" --warmup-s 0 "$@"
    }
    load --duration-s 3 --proofs 2000 --reuse-proofs >/dev/null 2>&1 || true
    callgrind_control -z "$sidecar_pid" >/dev/null
    load --duration-s "$duration" "${proof_flags[@]}" --label "$mode" >"$work/$mode.json"
    callgrind_control -d "$sidecar_pid" >/dev/null
    stop "$sidecar_pid"
    requests=$(grep '^{' "$work/$mode.json" | sed -E 's/.*"requests":([0-9]+).*/\1/')
    errors=$(grep '^{' "$work/$mode.json" | sed -E 's/.*"errors":([0-9]+).*/\1/')
    # `-d` writes OUT.1; OUT itself is the dump at exit (the shutdown only).
    dump=$out.1
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    awk -v m="$mode" -v t="$total" -v r="$requests" -v e="$errors" -v f="$dump" 'BEGIN {
        printf "%-5s %9d requests (%s errors)  %8.1fk instructions per request  (%s)\n", m, r, e, t / r / 1000, f
    }'
done

#!/usr/bin/env bash
# Constant load against the guard for a long time (10 minutes by default), sampling the
# sidecar's resident memory every 10 s (docs/performance.md, issue 5 target 6: resident
# memory flat within ±5 % after warm-up).
#
#   benches/soak.sh
#   SOAK_DURATION_S=120 benches/soak.sh              # a short check
#   SOAK_SCRAPE_S=15 benches/soak.sh                 # with a Prometheus-like scraper
#
# The load is examples/loadgen.rs (closed loop, keep-alive connections, a DPoP-bound token
# and a fresh proof on every request) against `mcp-warden guard` with the default
# configuration in front of examples/upstream.rs. loadgen signs its proofs before it starts,
# all with one `iat`, and a run is bounded in length, so the soak is a chain of runs of
# SOAK_RUN_S seconds. The next run is started SOAK_OVERLAP_S seconds before the current
# one's last SOAK_RUN_S seconds are up: it signs its proofs (several seconds, on every core)
# while the current one still sends its last requests, a dip rather than a gap, and both
# send at once for about SOAK_OVERLAP_S seconds. The guard's `max_age_s` is SOAK_MAX_AGE_S,
# just long enough for a run's proofs to stay valid: the replay store keeps each proof until
# its iat + max_age_s, so a longer window would only fill the store (1,000,000 entries by
# default) faster.
#
# The warm-up covers the replay store growing to its final size: its hash tables double as
# the live set grows and never shrink, which at about 10k req/s happens up to ~150 s in.
#
# By default nothing reads /metrics during the soak, as when no Prometheus scrapes the
# admin listener; SOAK_SCRAPE_S=N reads it every N s (and logs the replay store's size).
#
# Prints one line per sample (seconds, VmRSS, VmHWM, threads, CPU seconds) and a summary:
# min/max of VmRSS after the warm-up (SOAK_WARMUP_S) and their spread around the mean, and
# the slope of a least-squares line through those samples. Keeps everything under
# target/soak/.
#
# Environment: SOAK_DURATION_S (600), SOAK_WARMUP_S (180), SOAK_SAMPLE_S (10),
# SOAK_RUN_S (30), SOAK_OVERLAP_S (2), SOAK_MAX_AGE_S (60), SOAK_PROOFS (proofs per run,
# 600000: enough for 30 s at 20k req/s, signed in about 6 s on 2 busy cores; a run that
# uses them up fails. The proofs of about two runs are live in the replay store at once,
# so above ~16k req/s the default 1,000,000 entries fill: raise [replay] max_entries, e.g.
# SOAK_GUARD_TOML="replay.max_entries = 3000000", the key's old place inside [guard], still
# read),
# SOAK_CONNECTIONS (16), SOAK_SCRAPE_S (0: never), SOAK_GUARD_TOML (more [guard] keys, e.g.
# "token_cache_entries = 0"), SOAK_GUARD (on; `off` runs the proxy alone,
# --dangerous-no-guard of a `bench-unguarded` build, with a small reused proof pool),
# UPSTREAM_THREADS (1),
# CARGO_TARGET_DIR.

set -euo pipefail
cd "$(dirname "$0")/.."

duration=${SOAK_DURATION_S:-600}
warmup=${SOAK_WARMUP_S:-180}
sample_every=${SOAK_SAMPLE_S:-10}
run_s=${SOAK_RUN_S:-30}
overlap=${SOAK_OVERLAP_S:-2}
max_age=${SOAK_MAX_AGE_S:-60}
proofs=${SOAK_PROOFS:-600000}
guard=${SOAK_GUARD:-on}
connections=${SOAK_CONNECTIONS:-16}
scrape_every=${SOAK_SCRAPE_S:-0}
guard_toml=${SOAK_GUARD_TOML:-}

# A run's last proof is sent about signing time + SOAK_RUN_S after its iat.
if ((max_age < run_s + 30)); then
    echo "SOAK_MAX_AGE_S ($max_age) must exceed SOAK_RUN_S ($run_s) by the signing time" \
        "under load (30 s or more), or the last proofs of a run are refused as too old" >&2
    exit 2
fi

# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_setup soak
samples=$results/soak-$stamp.tsv
jsonl=$results/soak-$stamp.jsonl
start_upstream
sidecar_config soak "max_age_s = $max_age
$guard_toml" ""
port=$sidecar_port
guard_flags=()
proof_flags=(--proofs "$proofs")
if [[ $guard == off ]]; then
    guard_flags=(--dangerous-no-guard)
    proof_flags=(--proofs 20000 --reuse-proofs)
fi
"$warden" guard --config "$work/soak.toml" "${guard_flags[@]}" >"$work/sidecar.log" 2>&1 &
sidecar=$!
pids+=("$sidecar")

# /proc/PID/status field in kB.
status_kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$sidecar/status"; }
# utime + stime in seconds.
cpu_s() {
    local stat rest
    stat=$(<"/proc/$sidecar/stat")
    rest=${stat##*) }
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.1f", ($12 + $13) / t }' <<<"$rest"
}
metric() {
    # A gauge's value from /metrics, or "-" (also drains the recorder's histogram samples).
    { curl -fsS "http://127.0.0.1:$admin_port/metrics" 2>/dev/null || true; } |
        awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print "-" }'
}

echo "== sidecar (guard $guard) on 127.0.0.1:$port (pid $sidecar), max_age_s = $max_age, ${duration} s, $connections connections" >&2

# One chained loadgen run; its JSON line is appended to $jsonl.
load_run() {
    local index=$1 seconds=$2
    "$loadgen" --url "http://127.0.0.1:$port/mcp" --wait-ready "http://127.0.0.1:$admin_port/readyz" \
        --issuer-key "$work/issuer.p8" --connections "$connections" --warmup-s 0 \
        --duration-s "$seconds" "${proof_flags[@]}" --pid "$sidecar" \
        --label "run $index" >"$work/run-$index.out" 2>"$work/run-$index.err" &
    local generator=$!
    echo "$generator" >>"$work/extra.pids"
    wait "$generator" || {
        echo "!! run $index failed:" >&2
        cat "$work/run-$index.err" >&2
        tail -n 20 "$work/sidecar.log" >&2
        return 1
    }
}

# The chain of runs, in the background. A run sends for `length` seconds after signing
# for S seconds; launching the next one `length - overlap` seconds after it makes the next
# start sending about `overlap` seconds before it stops (when both sign equally fast).
(
    set +e
    start=$SECONDS
    index=0
    runners=()
    while ((SECONDS - start < duration)); do
        index=$((index + 1))
        left=$((duration - (SECONDS - start)))
        length=$((left < run_s ? left : run_s))
        ((length < 1)) && break
        load_run "$index" "$length" &
        runners+=("$!")
        sleep $((length > overlap ? length - overlap : length))
    done
    status=0
    for runner in "${runners[@]}"; do
        wait "$runner" || status=1
    done
    exit "$status"
) &
chain=$!
pids+=("$chain")

printf 't_s\tvmrss_kb\tvmhwm_kb\tthreads\tcpu_s\treplay_entries\n' >"$samples"
t0=$SECONDS
next=0
while kill -0 "$chain" 2>/dev/null; do
    if ((SECONDS - t0 >= next)); then
        entries="-"
        if ((scrape_every > 0)) && (((SECONDS - t0) % scrape_every < sample_every)); then
            entries=$(metric mcp_warden_replay_store_entries)
        fi
        line=$(printf '%d\t%s\t%s\t%s\t%s\t%s' "$((SECONDS - t0))" "$(status_kb VmRSS)" \
            "$(status_kb VmHWM)" "$(status_kb Threads)" "$(cpu_s)" "$entries")
        echo "$line" >>"$samples"
        echo "$line" >&2
        next=$((next + sample_every))
    fi
    sleep 1
done
chain_status=0
wait "$chain" || chain_status=$?
# The end state (this scrape drains any pending histogram samples, after the last sample).
final_entries=$(metric mcp_warden_replay_store_entries)
cat "$work"/run-*.out 2>/dev/null | grep '^{' >"$jsonl" || true

requests=$(awk -F'"requests":' 'NF > 1 { split($2, a, ","); sum += a[1] } END { print sum + 0 }' "$jsonl")
awk -F'\t' -v warm="$warmup" -v requests="$requests" -v entries="$final_entries" \
    -v runs="$(wc -l <"$jsonl")" '
    NR == 1 { next }
    { all++ }
    $1 >= warm {
        n++; x = $1; y = $2 / 1024
        sx += x; sy += y; sxx += x * x; sxy += x * y
        if (n == 1 || y < min) min = y
        if (n == 1 || y > max) max = y
    }
    END {
        printf "\n%d samples, %d after the %d s warm-up; %d runs, %d requests; replay store at the end: %s entries\n", all, n, warm, runs, requests, entries
        if (n < 2) { print "too few samples after the warm-up"; exit }
        mean = sy / n
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        printf "VmRSS after warm-up: min %.1f MiB, max %.1f MiB, mean %.1f MiB: %+.1f %% / %+.1f %% of the mean; slope %+.2f MiB per minute\n", min, max, mean, (min / mean - 1) * 100, (max / mean - 1) * 100, slope * 60
        printf "target 6 (flat within ±5 %%): %s\n", (max / mean - 1 <= 0.05 && 1 - min / mean <= 0.05) ? "met" : "NOT met"
    }' "$samples" | tee "$results/soak-$stamp.summary"
echo "kept: $samples, $jsonl, $results/soak-$stamp.summary" >&2
exit "$chain_status"

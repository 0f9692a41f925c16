#!/usr/bin/env bash
# Load runs of the sidecar on this machine (docs/performance.md): the same closed-loop load
# (examples/loadgen.rs: keep-alive HTTP/1.1 connections, a DPoP-bound token and a fresh,
# pre-signed proof on every request) against, in turn,
#
#   a. the upstream directly (examples/upstream.rs, a fast MCP stand-in);
#   b. `mcp-warden guard --dangerous-no-guard`: the proxy alone, nothing checked (a switch
#      only in builds with the benchmark feature `bench-unguarded`, as benches/lib.sh makes);
#   b1. the same with one runtime worker thread (`[runtime] worker_threads = 1`), next to
#       n1 (not in the default rows);
#   n1. nginx `proxy_pass` (benches/nginx.conf.template), 1 worker process;
#   n2. the same with 2 worker processes (the sidecar's runtime has 2 worker threads on 2
#       cores); n1 and n2 are skipped when nginx is not installed;
#   c. the guard, in-memory replay store (the default), token cache on (the default): the
#      generator reuses one access token, so this is the warm path;
#   e. the same with the token cache off (`token_cache_entries = 0`): the cold path, the
#      token's signature verified on every request;
#   pb, pc, pe. rows b, c and e again, each paced (loadgen --rate) at the same LOAD_RATE
#       requests/second, low enough that the machine is not saturated. The guard's own CPU
#       per request is pc − pb (warm) and pe − pb (cold): at equal throughput, with cores
#       to spare. Subtracting the closed-loop rows (c − b) also counts what changes with
#       the rate and with saturation: a proxy at a third of the rate spends more CPU per
#       request on wake-ups, and on 2 saturated cores every process runs slower.
#       With 2 CPUs or more the sidecar of these rows runs on CPU 0 alone with one worker
#       thread (`[runtime] worker_threads = 1`, taskset), and the generator and the
#       upstream on CPU 1, as a sidecar with its own CPU request would; LOAD_PIN=0 turns
#       that off.
#   d. the guard, Redis replay store (a redis-server of its own on a free port; skipped
#      when redis-server is not installed).
#
# a., b., b1., n1. and n2. check nothing, so they cycle through a small pool of proofs
# (--reuse-proofs) to receive the same bytes as the guarded rows; the guarded runs never
# send a proof twice (a replay is refused early, which is cheaper than a valid request and
# would flatter them).
#
# For the nginx rows, the "sidecar" CPU column is the sum over nginx's worker processes
# (the master only supervises); the JSON line keeps each worker's figure.
#
# Prints one markdown table and keeps it, with the JSON lines, under target/load/.
#
#   benches/load.sh
#   LOAD_DURATION_S=8 LOAD_CONNECTIONS=32 benches/load.sh
#   LOAD_ROWS="b n2" benches/load.sh          # only some rows, in the order given
#
# Environment: LOAD_ROWS (which rows, "a b n1 n2 c e d pb pc pe"), LOAD_RATE (5000, for the
# paced rows), LOAD_PIN (1: pin the paced rows' processes to CPUs, see above), LOAD_CONNECTIONS (16),
# LOAD_DURATION_S (10), LOAD_WARMUP_S (2), LOAD_PROOFS (pre-signed proofs per run, 400000),
# LOAD_THREADS (loadgen worker threads, 1), UPSTREAM_THREADS (1), NGINX (the nginx binary,
# default `nginx` on the PATH, else /usr/sbin/nginx), CARGO_TARGET_DIR.
#
# Every process shares the machine's cores: the generator, the sidecar, the upstream and
# Redis compete for them, so compare the rows with each other rather than with figures
# from another machine.

set -euo pipefail
cd "$(dirname "$0")/.."

connections=${LOAD_CONNECTIONS:-16}
duration=${LOAD_DURATION_S:-10}
warmup=${LOAD_WARMUP_S:-2}
proofs=${LOAD_PROOFS:-400000}
loadgen_threads=${LOAD_THREADS:-1}
rows_wanted=" ${LOAD_ROWS:-a b n1 n2 c e d pb pc pe} "
paced_rate=${LOAD_RATE:-5000}
pin=${LOAD_PIN:-1}
(($(nproc) >= 2)) || pin=0
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

# shellcheck source=benches/lib.sh
source benches/lib.sh
bench_setup load
table=$results/load-$stamp.md
jsonl=$results/load-$stamp.jsonl
start_upstream

sidecar_pid=""
# start_sidecar NAME GUARD_TOML EXTRA_TOML [mcp-warden guard options...]
start_sidecar() {
    local name=$1
    sidecar_config "$name" "$2" "$3"
    shift 3
    ${sidecar_prefix:-} "$warden" guard --config "$work/$name.toml" "$@" >"$work/$name.log" 2>&1 &
    sidecar_pid=$!
    pids+=("$sidecar_pid")
}


# The paced rows' CPU placement (see the top): sidecar on CPU 0, the rest on CPU 1.
paced_extra=""
paced_setup() {
    ((pin)) || return 0
    paced_extra=$'[runtime]\nworker_threads = 1'
    sidecar_prefix="taskset -c 0"
    loadgen_prefix="taskset -c 1"
    taskset -a -p -c 1 "$upstream_pid" >/dev/null
}
paced_teardown() {
    ((pin)) || return 0
    paced_extra="" sidecar_prefix="" loadgen_prefix=""
    taskset -a -p -c "0-$(($(nproc) - 1))" "$upstream_pid" >/dev/null
}

# run_paced NAME GUARD_TOML LABEL SIDECAR_FLAG [loadgen options...]: one paced row.
run_paced() {
    local name=$1 guard=$2 label=$3 flag=$4
    shift 4
    paced_setup
    start_sidecar "$name" "$guard" "$paced_extra" ${flag:+"$flag"}
    run "$label, paced at $paced_rate req/s" "http://127.0.0.1:$sidecar_port/mcp" \
        "http://127.0.0.1:$admin_port/readyz" --pid "$sidecar_pid" --cpu-of "redis=" \
        "$@" --rate "$paced_rate"
    stop "$sidecar_pid"
    paced_teardown
}

failed=0
rows=()
# run LABEL URL READY_URL [loadgen options...]
run() {
    local label=$1 url=$2 ready=$3
    shift 3
    echo "== $label" >&2
    if ${loadgen_prefix:-} "$loadgen" --url "$url" --wait-ready "$ready" --label "$label" \
        --connections "$connections" --duration-s "$duration" --warmup-s "$warmup" \
        --threads "$loadgen_threads" \
        --issuer-key "$work/issuer.p8" --cpu-of "upstream=$upstream_pid" "$@" \
        >"$work/out"; then
        :
    else
        failed=1
        echo "!! $label: errors or no requests; the logs follow" >&2
        tail -n 20 "$work"/*.log >&2 || true
    fi
    grep '^{' "$work/out" >>"$jsonl" || true
    while IFS= read -r row; do rows+=("$row"); done < <(grep '^|' "$work/out" || true)
}

# One table row from several processes: loadgen prints the first's CPU in the sidecar
# column and the others' in extra columns after redis (before loadgen's own); fold those
# into the sidecar column. Each figure is rounded to 0.1, so the sum is within 0.1 × N.
fold_cpu_columns() {
    local last=$((${#rows[@]} - 1))
    [[ $last -ge 0 ]] || return 0
    rows[last]=$(awk -F'|' '{
        # $9 sidecar, $10 upstream, $11 redis, $12..$(NF-2) the extra processes,
        # $(NF-1) loadgen.
        sum = $9 + 0
        for (i = 12; i <= NF - 2; i++) sum += $i
        out = "|"
        for (i = 2; i <= 8; i++) out = out $i "|"
        print out sprintf(" %.1f |", sum) $10 "|" $11 "|" $(NF - 1) "|"
    }' <<<"${rows[last]}")
}

# run_nginx WORKERS: nginx proxy_pass with WORKERS worker processes in front of the same
# upstream, receiving the same requests as row b.
run_nginx() {
    local workers=$1 prefix=$work/nginx-$1 port user_line=""
    port=$(free_port)
    mkdir -p "$prefix"
    # As root, nginx would switch its workers to `nobody`: keep them as the current user.
    if [[ $(id -u) == 0 ]]; then
        user_line="user $(id -un) $(id -gn);"
    fi
    sed -e "s|@USER_LINE@|$user_line|" -e "s|@WORKERS@|$workers|" -e "s|@PREFIX@|$prefix|g" \
        -e "s|@PORT@|$port|" -e "s|@UPSTREAM_PORT@|$upstream_port|" \
        benches/nginx.conf.template >"$work/nginx-$workers.conf"
    "$nginx" -p "$prefix" -c "$work/nginx-$workers.conf" >"$work/nginx-$workers.log" 2>&1 &
    local master=$!
    pids+=("$master")
    # The workers are the master's children (`daemon off`): wait until all are there.
    local children=() tries=0
    while ((tries++ < 100)); do
        mapfile -t children < <(pgrep -P "$master" || true)
        ((${#children[@]} >= workers)) && break
        sleep 0.05
    done
    if ((${#children[@]} < workers)); then
        echo "!! nginx ($workers workers) did not start; its logs follow" >&2
        cat "$work/nginx-$workers.log" "$prefix/error.log" >&2 || true
        failed=1
        stop "$master"
        return 0
    fi
    local cpu=(--pid "${children[0]}" --cpu-of "redis=") index
    for ((index = 1; index < ${#children[@]}; index++)); do
        cpu+=(--cpu-of "nginx-worker-$((index + 1))=${children[index]}")
    done
    local noun=workers
    [[ $workers == 1 ]] && noun=worker
    run "n$workers. nginx proxy_pass, $workers $noun" "http://127.0.0.1:$port/mcp" \
        "http://127.0.0.1:$port/nginx-ready" "${cpu[@]}" --proofs 20000 --reuse-proofs
    fold_cpu_columns
    stop "$master"
}

# Row d: a redis-server of its own on a free port.
run_redis() {
    if ! command -v redis-server >/dev/null; then
        echo "redis-server not found: run d. (Redis replay store) skipped" >&2
        return 0
    fi
    local redis_port redis_pid
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        >"$work/redis.log" 2>&1 &
    redis_pid=$!
    pids+=("$redis_pid")
    echo "redis://127.0.0.1:$redis_port" >"$work/redis-url"
    start_sidecar redis "" "[replay]
store = \"redis\"
redis_url_file = \"$work/redis-url\""
    # /readyz waits for Redis to answer.
    run "d. guard, Redis replay store" "http://127.0.0.1:$sidecar_port/mcp" \
        "http://127.0.0.1:$admin_port/readyz" --pid "$sidecar_pid" --cpu-of "redis=$redis_pid" \
        --proofs "$proofs"
    stop "$sidecar_pid"
    stop "$redis_pid"
}

for row in $rows_wanted; do
    case $row in
    a)
        run "a. upstream directly" "http://127.0.0.1:$upstream_port/mcp" \
            "http://127.0.0.1:$upstream_port/" --cpu-of "redis=" --proofs 20000 --reuse-proofs
        ;;
    b)
        start_sidecar proxy "" "" --dangerous-no-guard
        run "b. proxy only (--dangerous-no-guard)" "http://127.0.0.1:$sidecar_port/mcp" \
            "http://127.0.0.1:$admin_port/readyz" --pid "$sidecar_pid" --cpu-of "redis=" \
            --proofs 20000 --reuse-proofs
        stop "$sidecar_pid"
        ;;
    b1)
        start_sidecar proxy-1 "" $'[runtime]\nworker_threads = 1' --dangerous-no-guard
        run "b1. proxy only, 1 worker thread" "http://127.0.0.1:$sidecar_port/mcp" \
            "http://127.0.0.1:$admin_port/readyz" --pid "$sidecar_pid" --cpu-of "redis=" \
            --proofs 20000 --reuse-proofs
        stop "$sidecar_pid"
        ;;
    n1 | n2)
        if command -v "$nginx" >/dev/null; then
            run_nginx "${row#n}"
        else
            echo "nginx not found: run $row (nginx proxy_pass) skipped" >&2
        fi
        ;;
    c)
        start_sidecar memory "" ""
        run "c. guard, memory replay store" "http://127.0.0.1:$sidecar_port/mcp" \
            "http://127.0.0.1:$admin_port/readyz" --pid "$sidecar_pid" --cpu-of "redis=" \
            --proofs "$proofs"
        stop "$sidecar_pid"
        ;;
    e)
        start_sidecar cold "token_cache_entries = 0" ""
        run "e. guard, memory replay store, token cache off" \
            "http://127.0.0.1:$sidecar_port/mcp" "http://127.0.0.1:$admin_port/readyz" \
            --pid "$sidecar_pid" --cpu-of "redis=" --proofs "$proofs"
        stop "$sidecar_pid"
        ;;
    pb) run_paced paced-proxy "" "pb. proxy only" --dangerous-no-guard --proofs 20000 --reuse-proofs ;;
    pc) run_paced paced-warm "" "pc. guard (warm)" "" --proofs "$proofs" ;;
    pe) run_paced paced-cold "token_cache_entries = 0" "pe. guard (cold)" "" --proofs "$proofs" ;;
    d)
        run_redis
        ;;
    *)
        echo "LOAD_ROWS: unknown row $row (known: a b b1 n1 n2 c e d pb pc pe)" >&2
        exit 2
        ;;
    esac
done

{
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); $connections connections, ${duration} s after ${warmup} s warm-up, closed loop, DPoP token + fresh proof on every request."
    echo "Generator, proxy, upstream and Redis share these CPUs: compare rows, not machines. nginx rows: the sidecar CPU column is nginx's workers."
    echo
    echo "| target | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | sidecar CPU-ms/1k req | upstream CPU-ms/1k | redis CPU-ms/1k | loadgen CPU-ms/1k |"
    echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} | tee "$table"
echo >&2
echo "kept: $table, $jsonl" >&2
exit "$failed"

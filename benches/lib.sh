# Shared start-up for the load scripts (load.sh, soak.sh, callgrind-sidecar.sh); sourced,
# not run. After `bench_setup NAME` these are set:
#
#   warden, loadgen, upstream   the release binaries (built once here)
#   work                        a temporary directory, removed on exit
#   results, stamp              target/NAME/ and a UTC time stamp for the kept files
#   pids                        processes killed (and waited for) on exit; append to it
#
# and the issuer key ($work/issuer.p8) and its JWK Set ($work/jwks.json) exist.
#
# Environment: CARGO_TARGET_DIR, UPSTREAM_THREADS (1), WARDEN_BIN (another mcp-warden binary
# to measure instead of this checkout's, e.g. a copy of an earlier build for an A/B run).

# bench_setup NAME [more cargo build arguments...]
#
# The binary is built with the benchmark-only feature `bench-unguarded`, which adds the hidden
# `guard --dangerous-no-guard` switch (row b, the proxy alone); release builds for real use
# lack it. A WARDEN_BIN of a build from before the feature existed has the switch anyway.
bench_setup() {
    local name=$1
    shift
    local target_dir=${CARGO_TARGET_DIR:-target}
    cargo build --release --features bench-unguarded --bin mcp-warden --example loadgen \
        --example upstream "$@"
    warden=${WARDEN_BIN:-$target_dir/release/mcp-warden}
    loadgen=$target_dir/release/examples/loadgen
    upstream=$target_dir/release/examples/upstream
    work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-warden-$name.XXXXXX")
    results=$target_dir/$name
    mkdir -p "$results"
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    pids=()
    used_ports=" "
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    # The issuer key and its JWK Set, before any sidecar starts (they read jwks_file once).
    "$loadgen" --issuer-key "$work/issuer.p8" --write-jwks "$work/jwks.json" --keys-only
}

bench_cleanup() {
    # Processes started by subshells (soak.sh's chained generators) list themselves here.
    if [[ -f $work/extra.pids ]]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/extra.pids"
    fi
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}

# stop PID: kill one process and wait for it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# free_port: a loopback port nobody listens on and this script has not handed out yet.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        [[ $used_ports == *" $port "* ]] && continue
        # A refused connection means nobody listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            used_ports+="$port "
            echo "$port"
            return
        fi
    done
}

# start_upstream: examples/upstream on a free port; sets upstream_port and upstream_pid.
start_upstream() {
    upstream_port=$(free_port)
    "$upstream" --listen "127.0.0.1:$upstream_port" --threads "${UPSTREAM_THREADS:-1}" \
        >"$work/upstream.log" 2>&1 &
    upstream_pid=$!
    pids+=("$upstream_pid")
}

# sidecar_config NAME GUARD_TOML EXTRA_TOML: writes $work/NAME.toml for a sidecar in front
# of the upstream on free ports; sets sidecar_port and admin_port. GUARD_TOML: more keys of
# [guard]; EXTRA_TOML: more tables after it.
sidecar_config() {
    local name=$1 guard=$2 extra=$3
    sidecar_port=$(free_port)
    admin_port=$(free_port)
    cat >"$work/$name.toml" <<EOF
[admin]
address = "127.0.0.1:$admin_port"
[guard]
resource = "http://127.0.0.1:$sidecar_port/mcp"
authorization_servers = ["https://as.example.com"]
$guard
[guard.listen]
address = "127.0.0.1:$sidecar_port"
[guard.upstream]
url = "http://127.0.0.1:$upstream_port"
[[guard.issuers]]
issuer = "https://as.example.com"
jwks_file = "$work/jwks.json"
$extra
EOF
}

# wait_ready URL [SECONDS]: until URL answers 200 (default 60 s; valgrind starts slowly).
wait_ready() {
    local url=$1 limit=${2:-60} waited=0
    until curl -fsS -o /dev/null "$url" 2>/dev/null; do
        if ((waited++ >= limit * 10)); then
            echo "!! $url not ready after $limit s" >&2
            return 1
        fi
        sleep 0.1
    done
}

#!/usr/bin/env bash
# Cluster benchmarks with the load tool (src/bin/plauder-load.rs), against one throw-away
# PostgreSQL with production durability and a throw-away Redis:
#
#   scripts/bench-cluster.sh compare [SECONDS] [RATE]
#                                                the same fan-out load through nginx on two
#                                                instances, through nginx on one, and directly
#                                                on one: at RATE msg/s
#                                                (default 2000; latency) and closed-loop
#                                                (throughput), default 20 s each
#   scripts/bench-cluster.sh span [SECONDS]      four instances holding 75,000 connections
#                                                between them (18,750 each: a process here may
#                                                hold 20,000 files), and fan-out through nginx in
#                                                rooms whose members span all four
#
# Prints each run's report, the machine's load, and each instance's broker counters;
# docs/benchmarks.md records runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
mode="${1:-compare}"
secs="${2:-20}"
rate="${3:-2000}"

ulimit -n 20000
ensure_packages redis-server nginx
bench_env 26732
pids=()
cluster_cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    redis_stop "$work/redis"
    bench_cleanup
}
trap cluster_cleanup EXIT

log "building plauder and plauder-load (release)"
cargo build --release --quiet --features load --bins

redis_port="$(free_port 26780)"
redis_start "$work/redis" "$redis_port"
export PLAUDER__AUTH__JWT_SECRET="bench-secret-bench-secret-bench-secret-42"
export PLAUDER__LOG__LEVEL=warn
export PLAUDER__RATE_LIMIT__AUTH_BURST=1000000 PLAUDER__RATE_LIMIT__MESSAGE_BURST=1000000 PLAUDER__RATE_LIMIT__COMMAND_BURST=1000000
export PLAUDER__DATABASE__POOL_MAX_SIZE="${PLAUDER_BENCH_POOL:-32}"
export PLAUDER__AUTH__ARGON2_MEMORY_KIB=1024 PLAUDER__AUTH__ARGON2_ITERATIONS=1

# start_instance ID PORT [REDIS_URL]: a release server in the background, waited for.
start_instance() {
    local id=$1 port=$2 redis=${3:-}
    PLAUDER__SERVER__INSTANCE_ID="$id" PLAUDER__SERVER__PORT="$port" PLAUDER__REDIS__URL="$redis" \
        target/release/plauder serve 2>"$work/$id.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0; sleep 0.1; done
    die "instance $id did not start (log: $work/$id.log)"
}

# broker_counters PORT ID: what one instance received from Redis and dropped.
broker_counters() {
    curl -sf "http://127.0.0.1:$1/metrics" \
        | grep -E "^(broker_(published|received|dropped_no_local|publish_errors|reconnects)_total\{instance=\"$2\"\}|plauder_realtime_gap_fetches_total)" || true
}

# transit PORT ID: publish-to-decode time of what this instance received from the others, from
# its histogram: count, mean, and the bucket bounds holding the median and the 99th percentile.
transit() {
    curl -sf "http://127.0.0.1:$1/metrics" | awk -v id="$2" '
        index($0, "plauder_broker_transit_seconds_bucket{") == 1 && index($0, "instance=\"" id "\"") {
            match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; les[n] = le; cum[n] = $NF }
        index($0, "plauder_broker_transit_seconds_sum{") == 1 && index($0, "instance=\"" id "\"") { sum = $NF }
        index($0, "plauder_broker_transit_seconds_count{") == 1 && index($0, "instance=\"" id "\"") { count = $NF }
        END {
            if (count == 0) { print "  " id ": no transit samples"; exit }
            for (i = 1; i <= n; i++) { if (p50 == "" && cum[i] >= count * 0.5) p50 = les[i]; if (p99 == "" && cum[i] >= count * 0.99) p99 = les[i] }
            printf "  %s: broker transit of %d messages: mean %.2f ms, p50 <= %s s, p99 <= %s s\n", id, count, sum / count * 1000, p50, p99 }'
}

run_fanout() {
    local url=$1; shift
    echo "-- fanout $*  ($(date -u +%FT%TZ); uptime:$(uptime | sed 's/.*load/ load/'))"
    target/release/plauder-load --url "$url" fanout --duration-secs "$secs" "$@" \
        || echo "!! delivery check failed"
}

# start_nginx PORT...: nginx with deploy/nginx.conf's proxy settings in front of these ports;
# sets nginx_port.
start_nginx() {
    nginx_port="$(free_port 18790)"
    mkdir -p "$work/nginx"
    local servers="" p
    for p in "$@"; do servers+="        server 127.0.0.1:$p;\n"; done
    # Two workers, each under this machine's 20,000 files (two per proxied socket).
    sed -e "/server plauder[0-9]*:8080/d" -e "s|least_conn;|least_conn;\n$servers|" \
        -e "s/listen 80;/listen 127.0.0.1:$nginx_port;/" -e "s/worker_connections 65536;/worker_connections 19000;/" \
        -e "s|^worker_processes auto;|worker_processes 2;\nworker_rlimit_nofile 20000;\npid $work/nginx/nginx.pid;\nerror_log $work/nginx/error.log warn;|" \
        -e "s|access_log off;|access_log off;\n    client_body_temp_path $work/nginx/body;\n    proxy_temp_path $work/nginx/proxy;|" \
        deploy/nginx.conf >"$work/nginx/nginx.conf"
    nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
    pids+=($!)
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/health" >/dev/null && return 0; sleep 0.1; done
    die "nginx did not start (log: $work/nginx/error.log)"
}

# metric PORT NAME: a gauge or counter of one instance, summed over its series.
metric() {
    curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

redis_url="redis://127.0.0.1:$redis_port"
case "$mode" in
compare)
    port_a="$(free_port 18700)"
    start_instance alpha "$port_a" "$redis_url"
    port_b="$(free_port $((port_a + 1)))"
    start_instance beta "$port_b" "$redis_url"
    start_nginx "$port_a" "$port_b"
    echo
    echo "== two instances behind nginx (http://127.0.0.1:$nginx_port)"
    run_fanout "http://127.0.0.1:$nginx_port" --rooms 100 --members 10 --rate "$rate"
    run_fanout "http://127.0.0.1:$nginx_port" --rooms 100 --members 10
    broker_counters "$port_a" alpha
    broker_counters "$port_b" beta
    transit "$port_a" alpha
    transit "$port_b" beta

    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    pids=()
    port_s="$(free_port 18750)"
    start_instance single "$port_s"
    # The same proxy in front of the one instance, to tell nginx's cost from crossing instances.
    start_nginx "$port_s"
    echo
    echo "== one instance behind nginx (http://127.0.0.1:$nginx_port)"
    run_fanout "http://127.0.0.1:$nginx_port" --rooms 100 --members 10 --rate "$rate"
    run_fanout "http://127.0.0.1:$nginx_port" --rooms 100 --members 10
    echo
    echo "== one instance, direct (http://127.0.0.1:$port_s)"
    run_fanout "http://127.0.0.1:$port_s" --rooms 100 --members 10 --rate "$rate"
    run_fanout "http://127.0.0.1:$port_s" --rooms 100 --members 10
    ;;
span)
    # The idle connections of the load tool do not read, so they never answer the server's pings;
    # without this the server would close them after three heartbeats (45 s), mid-run.
    export PLAUDER__REALTIME__HEARTBEAT_INTERVAL_MS=600000
    ports=()
    next=18700
    for id in n1 n2 n3 n4; do
        port="$(free_port "$next")"
        start_instance "$id" "$port" "$redis_url"
        ports+=("$port")
        next=$((port + 1))
    done
    start_nginx "${ports[@]}"
    echo
    echo "== four instances, 18,750 idle connections each, opened directly  ($(date -u +%FT%TZ); uptime:$(uptime | sed 's/.*load/ load/'))"
    idle_pids=()
    for i in 0 1 2 3; do
        target/release/plauder-load --url "http://127.0.0.1:${ports[$i]}" idle --connections 18750 --hold-secs $((secs + 120)) \
            >"$work/idle-$i.txt" 2>&1 &
        idle_pids+=($!)
        pids+=($!)
    done
    started=$(date +%s)
    while :; do
        total=0
        for p in "${ports[@]}"; do total=$((total + $(metric "$p" plauder_ws_connections))); done
        [ "$total" -ge 75000 ] && break
        [ $(($(date +%s) - started)) -gt 300 ] && { echo "!! only $total connections after 300 s"; break; }
        sleep 2
    done
    echo "open after $(($(date +%s) - started)) s:"
    for i in 0 1 2 3; do echo "  n$((i + 1)): $(metric "${ports[$i]}" plauder_ws_connections) connections, RSS $(( $(metric "${ports[$i]}" plauder_process_resident_memory_bytes) / 1000000 )) MB"; done
    echo
    echo "== fan-out through nginx while they are open: each room's 8 members spread over the four instances"
    run_fanout "http://127.0.0.1:$nginx_port" --rooms 50 --members 8
    for i in 0 1 2 3; do
        echo "  n$((i + 1)): $(metric "${ports[$i]}" plauder_ws_connections) connections"
        broker_counters "${ports[$i]}" "n$((i + 1))"
        transit "${ports[$i]}" "n$((i + 1))"
    done
    wait "${idle_pids[@]}" || true
    for i in 0 1 2 3; do sed -n '1,4p' "$work/idle-$i.txt"; done
    ;;
*) die "unknown mode $mode (compare or span)" ;;
esac

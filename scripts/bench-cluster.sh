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
#   scripts/bench-cluster.sh span [SECONDS] [INSTANCES] [CONNECTIONS]
#                                                INSTANCES (default 7) holding CONNECTIONS (default
#                                                100,000) idle connections between them, opened
#                                                through nginx by one load process per 16,000 (a
#                                                process here may hold 20,000 files), and fan-out
#                                                through nginx in rooms whose members span them
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
        | grep -E "^(plauder_broker_(published|received|dropped_no_local|publish_errors|reconnects)_total\{instance=\"$2\"\}|plauder_realtime_gap_fetches_total)" || true
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

# start_nginx WORKERS LISTENERS PORT...: nginx with deploy/nginx.conf's proxy settings (plain
# HTTP: the deploy file's TLS server needs certificates) in front of these ports, listening on
# LISTENERS ports; sets nginx_ports (and nginx_port, the first). Each worker stays under this
# machine's 20,000 files (two per proxied socket); reuseport spreads accepts over the workers.
# Several listeners, because one client address reaches one address and port through ~28,000
# ephemeral ports only.
start_nginx() {
    local workers=$1 listeners=$2 servers="" listens="" p i
    shift 2
    mkdir -p "$work/nginx"
    for p in "$@"; do servers+="        server 127.0.0.1:$p;"$'\n'; done
    nginx_ports=()
    p=18790
    for i in $(seq "$listeners"); do
        p="$(free_port "$p")"
        nginx_ports+=("$p")
        listens+="        listen 127.0.0.1:$p reuseport;"$'\n'
        p=$((p + 1))
    done
    nginx_port="${nginx_ports[0]}"
    cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $workers;
worker_rlimit_nofile 20000;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 19000; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
    upstream plauder {
        least_conn;
$servers        keepalive 64;
    }
    server {
$listens        location / {
            proxy_pass http://plauder;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header Forwarded "";
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_next_upstream error timeout;
        }
    }
}
CONF
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
    start_nginx 2 1 "$port_a" "$port_b"
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
    start_nginx 2 1 "$port_s"
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
    # INSTANCES instances hold CONNECTIONS idle connections between them, opened through nginx by
    # one load process per nginx listener (each process, instance and nginx worker under the
    # 20,000 files a process may hold here), then fan-out through nginx in rooms whose members
    # span the instances.
    instances="${3:-7}"
    conns="${4:-100000}"
    loaders=$(((conns + 15999) / 16000))
    per=$(((conns + loaders - 1) / loaders))
    # The idle connections of the load tool do not read, so they never answer the server's pings;
    # without this the server would close them after three heartbeats (45 s), mid-run.
    export PLAUDER__REALTIME__HEARTBEAT_INTERVAL_MS=600000
    # Every connection comes from this machine through nginx: one address for the per-address
    # socket quota.
    export PLAUDER__QUOTA__SOCKETS_PER_ADDRESS_MAX=$conns
    # PostgreSQL takes 200 connections (bench_env): each instance's pool gets a share.
    export PLAUDER__DATABASE__POOL_MAX_SIZE="${PLAUDER_BENCH_POOL:-$((180 / instances))}"
    ports=()
    next=18700
    for i in $(seq "$instances"); do
        port="$(free_port "$next")"
        start_instance "n$i" "$port" "$redis_url"
        ports+=("$port")
        next=$((port + 1))
    done
    start_nginx $(((2 * conns + 17999) / 18000 + 1)) "$loaders" "${ports[@]}"
    rss_before=()
    for p in "${ports[@]}"; do rss_before+=("$(metric "$p" plauder_process_resident_memory_bytes)"); done
    echo
    echo "== $instances instances, $conns idle connections through nginx from $loaders load processes ($per each)  ($(date -u +%FT%TZ); uptime:$(uptime | sed 's/.*load/ load/'))"
    idle_pids=()
    for i in $(seq 0 $((loaders - 1))); do
        # 15 connections per user: under quota.sockets_per_user_max (20).
        target/release/plauder-load --url "http://127.0.0.1:${nginx_ports[$i]}" idle --connections "$per" \
            --users $((per / 15 + 1)) --hold-secs 3600 >"$work/idle-$i.txt" 2>&1 &
        idle_pids+=($!)
        pids+=($!)
    done
    started=$(date +%s)
    # Until every load process has opened all it could (it prints "opened:" and then holds).
    while :; do
        done_=0
        for i in $(seq 0 $((loaders - 1))); do
            if grep -q '^opened:' "$work/idle-$i.txt" || ! kill -0 "${idle_pids[$i]}" 2>/dev/null; then done_=$((done_ + 1)); fi
        done
        [ "$done_" -eq "$loaders" ] && break
        [ $(($(date +%s) - started)) -gt 900 ] && { echo "!! load processes still connecting after 900 s"; break; }
        sleep 2
    done
    sleep 3
    echo "open after $(($(date +%s) - started)) s:"
    total=0 grown=0
    for i in $(seq 0 $((instances - 1))); do
        c=$(metric "${ports[$i]}" plauder_ws_connections)
        r=$(metric "${ports[$i]}" plauder_process_resident_memory_bytes)
        total=$((total + c)) grown=$((grown + r - rss_before[i]))
        echo "  n$((i + 1)): $c connections, RSS $((rss_before[i] / 1000000)) -> $((r / 1000000)) MB, fds $(ls /proc/${pids[$i]}/fd | wc -l)"
    done
    echo "  all: $total connections, server RSS grown $((grown / 1000000)) MB: $((grown / (total > 0 ? total : 1))) bytes per connection"
    echo "  nginx: RSS $(ps -o rss= --ppid "$(cat "$work/nginx/nginx.pid")" | awk '{s += $1} END {printf "%d", s / 1000}') MB over its workers, most files in one worker: $(for w in $(pgrep -P "$(cat "$work/nginx/nginx.pid")"); do ls /proc/$w/fd | wc -l; done | sort -n | tail -1)"
    echo
    echo "== fan-out through nginx while they are open: each room's 8 members spread over the instances"
    run_fanout "http://127.0.0.1:$nginx_port" --rooms 50 --members 8
    total=0
    for i in $(seq 0 $((instances - 1))); do
        c=$(metric "${ports[$i]}" plauder_ws_connections)
        total=$((total + c))
        echo "  n$((i + 1)): $c connections"
        broker_counters "${ports[$i]}" "n$((i + 1))"
        transit "${ports[$i]}" "n$((i + 1))"
    done
    echo "  all: $total connections still open after the fan-out"
    kill "${idle_pids[@]}" 2>/dev/null || true
    for i in $(seq 0 $((loaders - 1))); do grep -E '^(mode|opened|first connect error|Error)' "$work/idle-$i.txt"; done
    ;;
*) die "unknown mode $mode (compare or span)" ;;
esac

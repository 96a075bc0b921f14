#!/usr/bin/env bash
# The same WebSocket fan-out load (src/bin/plauder-load.rs) on two instances behind nginx over
# Redis, and directly on one instance, against one throw-away PostgreSQL with production
# durability: deliveries/s and latency, to read off what crossing instances costs.
#
#   scripts/bench-cluster.sh [SECONDS]     (default 20 per run)
#
# Prints each run's report, the machine's load, and each instance's broker counters;
# docs/benchmarks.md records runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
secs="${1:-20}"

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
    curl -sf "http://127.0.0.1:$1/metrics" | grep -E "^broker_(published|received|dropped_no_local|publish_errors)_total\{instance=\"$2\"\}" || true
}

run_fanout() {
    local url=$1; shift
    echo "-- fanout $*  ($(date -u +%FT%TZ); uptime:$(uptime | sed 's/.*load/ load/'))"
    target/release/plauder-load --url "$url" fanout --rooms 100 --members 10 --duration-secs "$secs" "$@" \
        || echo "!! delivery check failed"
}

port_a="$(free_port 18700)"
start_instance alpha "$port_a" "redis://127.0.0.1:$redis_port"
port_b="$(free_port $((port_a + 1)))"
start_instance beta "$port_b" "redis://127.0.0.1:$redis_port"
nginx_port="$(free_port $((port_b + 1)))"
mkdir -p "$work/nginx"
# deploy/nginx.conf with local upstreams and paths.
sed -e "s/server plauder1:8080/server 127.0.0.1:$port_a/" -e "s/server plauder2:8080/server 127.0.0.1:$port_b/" \
    -e "s/listen 80;/listen 127.0.0.1:$nginx_port;/" -e "s/worker_connections 65536;/worker_connections 19000;/" \
    -e "s|^worker_processes auto;|worker_processes 2;\nworker_rlimit_nofile 20000;\npid $work/nginx/nginx.pid;\nerror_log $work/nginx/error.log warn;|" \
    -e "s|access_log off;|access_log off;\n    client_body_temp_path $work/nginx/body;\n    proxy_temp_path $work/nginx/proxy;|" \
    deploy/nginx.conf >"$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/health" >/dev/null && break; sleep 0.1; done

echo
echo "== two instances behind nginx (http://127.0.0.1:$nginx_port)"
run_fanout "http://127.0.0.1:$nginx_port" --rate 2000
run_fanout "http://127.0.0.1:$nginx_port"
broker_counters "$port_a" alpha
broker_counters "$port_b" beta

for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
pids=()
port_s="$(free_port 18750)"
start_instance single "$port_s"
echo
echo "== one instance, direct (http://127.0.0.1:$port_s)"
run_fanout "http://127.0.0.1:$port_s" --rate 2000
run_fanout "http://127.0.0.1:$port_s"

#!/usr/bin/env bash
# The server's RSS after N registrations, C at a time, at the production Argon2 cost (19 MiB,
# 2 passes), on bench-ws.sh's set-up (release build, throw-away PostgreSQL with production
# durability). Extra NAME=value arguments go to the server's environment (settings, malloc tunables).
#
#   scripts/bench-register-rss.sh 2000 50 [PLAUDER__AUTH__PASSWORD_HASH_MAX_CONCURRENT=512 ...]
#
# Builds nothing: run `cargo build --release --bins` first. docs/benchmarks.md records runs.
set -euo pipefail
n=$1; c=$2; shift 2
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
ulimit -n 20000
bench_env 26652 ""
port="$(free_port 18650)"
export PLAUDER__AUTH__JWT_SECRET="bench-secret-bench-secret-bench-secret-42"
export PLAUDER__SERVER__PORT="$port" PLAUDER__LOG__LEVEL=warn
export PLAUDER__RATE_LIMIT__AUTH_BURST=1000000
export PLAUDER__DATABASE__POOL_MAX_SIZE=32
for kv in "$@"; do export "$kv"; done
"${CARGO_TARGET_DIR:-target}/release/plauder" serve 2>"$work/server.log" &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {printf "%.0f MB", $2/1024}' "/proc/$server_pid/status"; }
echo "settings: $* ; load before: $(cut -d' ' -f1-3 /proc/loadavg); RSS idle: $(rss)"
start=$(date +%s.%N)
seq "$n" | xargs -P "$c" -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "$url/api/v1/auth/register" \
  -H 'content-type: application/json' \
  -d '{"username":"rss{}","email":"rss{}@example.org","password":"correct horse battery staple"}' \
  | sort | uniq -c | tr '\n' ' '
end=$(date +%s.%N)
echo "| took $(echo "$end - $start" | bc) s; RSS right after: $(rss); load: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 10
echo "RSS 10 s later: $(rss); peak (VmHWM): $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$server_pid/status)"

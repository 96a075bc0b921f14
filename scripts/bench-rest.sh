#!/usr/bin/env bash
# REST benchmark: message send and history-page rates, measured with wrk against a release build
# and a throw-away PostgreSQL with production durability (fsync and synchronous_commit on).
#
#   scripts/bench-rest.sh [DURATION_SECS] [CONNECTIONS]      (defaults: 15 s, 32 connections)
#
# Prints wrk's report for each scenario and the machine's load; docs/benchmarks.md records runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
duration="${1:-15}"
connections="${2:-32}"

ensure_packages wrk curl
bench_env 26432

log "building plauder (release)"
cargo build --release --quiet --bin plauder
port="$(free_port 18500)"
export PLAUDER__AUTH__JWT_SECRET="bench-secret-bench-secret-bench-secret-42"
export PLAUDER__SERVER__PORT="$port" PLAUDER__RATE_LIMIT__AUTH_BURST=100000 PLAUDER__RATE_LIMIT__MESSAGE_BURST=1000000 PLAUDER__LOG__LEVEL=warn
export PLAUDER__DATABASE__POOL_MAX_SIZE="${PLAUDER_BENCH_POOL:-32}"
target/release/plauder serve 2>"$work/server.log" &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.org","password":"correct horse battery staple"}' \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
room=$(curl -sf -X POST "$base/api/v1/rooms" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"kind":"group","name":"bench"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')

cat > "$work/send.lua" <<LUA
-- Each request a new message with a unique client_msg_id (thread number + counter).
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
wrk.method = "POST"
wrk.headers["authorization"] = "Bearer $token"
wrk.headers["content-type"] = "application/json"
function request()
  n = n + 1
  local id = tid .. "-" .. n
  return wrk.format(nil, "/api/v1/rooms/$room/messages", nil,
    '{"body":"benchmark message number ' .. id .. ' with a few words","client_msg_id":"' .. id .. '"}')
end
function done(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
rooms=""
for i in $(seq 32); do
    id=$(curl -sf -X POST "$base/api/v1/rooms" -H "authorization: Bearer $token" -H 'content-type: application/json' \
        -d "{\"kind\":\"group\",\"name\":\"bench $i\"}" | sed -E 's/.*"id":"([^"]+)".*/\1/')
    rooms="$rooms\"$id\","
done
sed -e "s|/api/v1/rooms/$room/messages\", nil,|/api/v1/rooms/\" .. rooms[1 + n % #rooms] .. \"/messages\", nil,|" \
    -e "s|^local n = 0|local n = 0\nlocal rooms = { $rooms }|" "$work/send.lua" > "$work/send-many.lua"
cat > "$work/auth.lua" <<LUA
wrk.headers["authorization"] = "Bearer $token"
function done(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== send: POST /api/v1/rooms/{id}/messages, ${connections} connections, ${duration}s"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$work/send.lua" "$base"
stored=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d plauder_bench -tAc \
    "SELECT count(*) || ' messages, seqs 1..' || max(seq) || ', distinct seqs ' || count(DISTINCT seq) FROM messages")
echo "== stored: $stored"
echo "== send to 32 rooms in turn (the room lock no longer serialises every commit), ${connections} connections, ${duration}s"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$work/send-many.lua" "$base"
echo "== history: GET /api/v1/rooms/{id}/messages?limit=50 (a page of 50 with reactions), ${connections} connections, ${duration}s"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$work/auth.lua" "$base/api/v1/rooms/$room/messages?limit=50"
echo "== history, an older page: before_seq=1000"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$work/auth.lua" "$base/api/v1/rooms/$room/messages?limit=50&before_seq=1000"
echo "== server RSS: $(ps -o rss= -p "$server_pid") KiB"

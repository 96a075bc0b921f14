#!/usr/bin/env bash
# WebSocket benchmarks with the load tool (src/bin/plauder-load.rs) against a release build and a
# throw-away PostgreSQL with production durability (fsync and synchronous_commit on).
#
#   scripts/bench-ws.sh [SCENARIO...]      scenarios: fanout fixed wide idle churn rounds (default: all)
#
# Prints each scenario's report; docs/benchmarks.md records runs with the machine's load.
# PLAUDER_BENCH_SERVER=path runs that server binary instead of this tree's (for before/after
# comparisons: keep a copy of the earlier build); PLAUDER_BENCH_IDLE=N changes the idle count;
# PLAUDER_BENCH_PROFILE=debug uses the dev profile (dependencies optimised, plauder's own code
# not) when a release build takes too long: fine for memory, not for CPU or rates.
# PLAUDER_BENCH_SEED=large migrates and fills the database first with scripts/sql/seed-explain.sql
# (500,000 messages) and ANALYZEs it: PostgreSQL's work per message on a large database instead
# of a fresh one. PLAUDER_BENCH_PGSS=1 loads pg_stat_statements and prints, after the scenarios,
# the costliest statements with their buffers and WAL per row (scripts/sql/pgss-report.sql).
# PLAUDER_BENCH_RATE=N sends N messages/s in the fixed scenario instead of 10,000.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
scenarios=("${@:-fanout fixed wide idle churn rounds}")
read -r -a scenarios <<< "${scenarios[*]}"

# One process here may hold at most 20,000 files; the server and the load tool each need that.
ulimit -n 20000
# PLAUDER_BENCH_PG_EXTRA adds settings for diagnosis (e.g. "synchronous_commit = off" to see
# what the commit costs); the figures in docs/benchmarks.md are without it.
pg_extra="${PLAUDER_BENCH_PG_EXTRA:-}"
if [ -n "${PLAUDER_BENCH_PGSS:-}" ]; then
    pg_extra+=$'\n'"shared_preload_libraries = 'pg_stat_statements'"
fi
bench_env 26632 "$pg_extra"
psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d plauder_bench -q -v ON_ERROR_STOP=1)

profile="${PLAUDER_BENCH_PROFILE:-release}"
log "building plauder and plauder-load ($profile)"
case "$profile" in
    release) cargo build --release --quiet --features load --bins ;;
    debug) cargo build --quiet --features load --bins ;;
    *) die "PLAUDER_BENCH_PROFILE is release or debug" ;;
esac
port="$(free_port 18600)"
export PLAUDER__AUTH__JWT_SECRET="bench-secret-bench-secret-bench-secret-42"
export PLAUDER__SERVER__PORT="$port" PLAUDER__LOG__LEVEL=warn
export PLAUDER__RATE_LIMIT__AUTH_BURST=1000000 PLAUDER__RATE_LIMIT__MESSAGE_BURST=1000000 PLAUDER__RATE_LIMIT__COMMAND_BURST=1000000
# The load users hold hundreds of sockets each (idle: 19,500 over 100 users).
export PLAUDER__QUOTA__SOCKETS_PER_USER_MAX=20000
export PLAUDER__DATABASE__POOL_MAX_SIZE="${PLAUDER_BENCH_POOL:-32}"
# Cheap password hashes: registering thousands of load users is setup, not what is measured.
export PLAUDER__AUTH__ARGON2_MEMORY_KIB=1024 PLAUDER__AUTH__ARGON2_ITERATIONS=1
server_bin="${PLAUDER_BENCH_SERVER:-target/$profile/plauder}"
if [ "${PLAUDER_BENCH_SEED:-}" = large ]; then
    log "migrating and seeding a large database (scripts/sql/seed-explain.sql)"
    "$server_bin" migrate >/dev/null
    "${psql[@]}" -f scripts/sql/seed-explain.sql
    "${psql[@]}" -c "ANALYZE"
fi
if [ -n "${PLAUDER_BENCH_PGSS:-}" ]; then "${psql[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"; fi
log "server: $server_bin"
"$server_bin" serve 2>"$work/server.log" &
server_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
load=("target/$profile/plauder-load" --url "$url" --pg-pid "$(head -1 "$work/pg/data/postmaster.pid")")

for s in "${scenarios[@]}"; do
    echo
    echo "== $s  ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
    case "$s" in
        fanout) "${load[@]}" fanout --rooms 100 --members 10 --duration-secs 20 ;;
        fixed) "${load[@]}" fanout --rooms 100 --members 10 --duration-secs 20 --rate "${PLAUDER_BENCH_RATE:-10000}" ;;
        wide) "${load[@]}" fanout --rooms 10 --members 100 --duration-secs 20 ;;
        idle) "${load[@]}" idle --connections "${PLAUDER_BENCH_IDLE:-19500}" --hold-secs 5 ;;
        churn) "${load[@]}" churn --cycles 20000 --concurrency 50 ;;
        rounds) "${load[@]}" churn-rounds --rounds 10 --conns 2000 ;;
        *) die "unknown scenario $s" ;;
    esac || echo "!! scenario $s failed its checks"
done
if [ -n "${PLAUDER_BENCH_PGSS:-}" ]; then
    echo
    echo "== pg_stat_statements"
    "${psql[@]}" -f scripts/sql/pgss-report.sql
fi

#!/usr/bin/env bash
# Prints EXPLAIN ANALYZE for plauder's hot queries on a seeded throw-away database (500,000
# messages in 1,000 rooms). docs/queries.md shows a run. `scripts/explain.sh <file.sql>` runs that
# file on the seeded database instead (scripts/sql/guest-deletion.sql: docs/benchmarks.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
ensure_postgres
work="$(mktemp -d "${TMPDIR:-/tmp}/plauder-explain.XXXXXX")"
chmod 755 "$work"
trap 'pg_stop "$work/pg"; rm -rf "$work"' EXIT
port="$(free_port 26532)"
pg_start "$work/pg" "$port" --auth=trust >&2
"$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres plauder_explain
cargo build --quiet --bin plauder
DATABASE_URL="postgres://postgres@127.0.0.1:$port/plauder_explain" target/debug/plauder migrate >&2
psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d plauder_explain -q -v ON_ERROR_STOP=1)
"${psql[@]}" -f scripts/sql/seed-explain.sql >&2
"${psql[@]}" -f "${1:-scripts/sql/explain.sql}"

#!/usr/bin/env bash
# EXPLAIN (ANALYZE, BUFFERS) of the group-commit batch statement, generic and custom plan, and the
# PostgreSQL CPU per row of 1,000 batches with parts of it taken away (scripts/sql/
# send-batch-cost.sql), on a throw-away PostgreSQL (fsync on, autovacuum off):
#   scripts/explain-send-batch.sh fresh   1,000 users, 100 rooms of 10, 20,000 messages inserted
#                                         after the tables were last analyzed (as in a fan-out run
#                                         on a new database: autovacuum has not analyzed yet)
#   scripts/explain-send-batch.sh large   scripts/sql/seed-explain.sql (500,000 messages), analyzed
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PLAUDER_ROOT"
case "${1:-fresh}" in fresh | large) ;; *) die "usage: $0 fresh|large" ;; esac
bench_env 26732 "autovacuum = off"
server_bin="${PLAUDER_BENCH_SERVER:-target/debug/plauder}"
[ -x "$server_bin" ] || cargo build --quiet --bin plauder
"$server_bin" migrate >/dev/null
psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d plauder_bench -q -v ON_ERROR_STOP=1)
if [ "${1:-fresh}" = large ]; then
    "${psql[@]}" -f scripts/sql/seed-explain.sql
    "${psql[@]}" -c "ANALYZE"
else
    "${psql[@]}" <<'SQL'
INSERT INTO users (id, username, email, display_name)
SELECT gen_random_uuid(), 'u' || g, 'u' || g || '@example.org', 'U' || g FROM generate_series(1, 1000) g;
INSERT INTO rooms (id, kind, name) SELECT gen_random_uuid(), 'group', 'r' || g FROM generate_series(1, 100) g;
INSERT INTO room_members (room_id, user_id, role)
SELECT r.id, u.id, 'member' FROM (SELECT id, row_number() OVER () - 1 AS n FROM rooms) r
JOIN (SELECT id, row_number() OVER () - 1 AS n FROM users) u ON u.n / 10 = r.n;
ANALYZE;
WITH m AS (SELECT room_id, user_id, row_number() OVER (PARTITION BY room_id) AS k FROM room_members),
     g AS (SELECT m.*, s FROM m, generate_series(0, 19) s)
INSERT INTO messages (id, room_id, seq, rev, sender_id, body, client_msg_id)
SELECT gen_random_uuid(), room_id, s * 10 + k, s * 10 + k, user_id, 'message ' || s, md5(random()::text) FROM g;
UPDATE rooms SET last_seq = 200;
SQL
fi
"${psql[@]}" -f scripts/sql/explain-send-batch.sql
"${psql[@]}" -f scripts/sql/send-batch-cost.sql

-- The group-commit writer's batch statement (db::queries::messages::insert_batch), prepared as
-- the server prepares it, and EXPLAIN (ANALYZE, BUFFERS) of one batch of 16 sends by members of
-- random group rooms: first with the plan PostgreSQL would cache (generic), then with one planned
-- for these values (custom). Rolled back. For scripts/explain-send-batch.sh.
\pset pager off
SELECT '{' || string_agg(id::text, ',') || '}' AS ids,
       '{' || string_agg(room_id::text, ',') || '}' AS rooms,
       '{' || string_agg(user_id::text, ',') || '}' AS senders,
       '{' || string_agg('"explained ' || n || '"', ',') || '}' AS bodies,
       '{' || string_agg('"e' || n || '-' || md5(random()::text) || '"', ',') || '}' AS cmids
FROM (
    SELECT gen_random_uuid() AS id, m.room_id, m.user_id, row_number() OVER () AS n
    FROM room_members m JOIN rooms r ON r.id = m.room_id AND r.kind = 'group'
    ORDER BY random() LIMIT 16
) s \gset
PREPARE batch(uuid[], uuid[], uuid[], text[], text[]) AS
WITH input AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
        WITH ORDINALITY AS i(id, room_id, sender_id, body, client_msg_id, ord)),
     ok AS (SELECT i.* FROM input i
            WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.id = i.room_id AND r.kind = 'group' OFFSET 0
                   FOR NO KEY UPDATE SKIP LOCKED)
              AND EXISTS (SELECT 1 FROM room_members m
                   WHERE m.room_id = i.room_id AND m.user_id = i.sender_id OFFSET 0
                           FOR KEY SHARE SKIP LOCKED)
              AND (i.client_msg_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages x
                   WHERE x.room_id = i.room_id AND x.sender_id = i.sender_id AND x.client_msg_id = i.client_msg_id
                   OFFSET 0))),
     rejected AS (SELECT i.room_id, i.sender_id, min(i.ord) AS ord FROM input i
                  WHERE NOT EXISTS (SELECT 1 FROM ok WHERE ok.ord = i.ord) GROUP BY i.room_id, i.sender_id),
     taken AS (SELECT ok.* FROM ok WHERE NOT EXISTS (SELECT 1 FROM rejected r
                  WHERE r.room_id = ok.room_id AND r.sender_id = ok.sender_id AND r.ord < ok.ord)),
     counts AS (SELECT room_id, count(*) AS n FROM taken GROUP BY room_id),
     bumped AS (UPDATE rooms SET last_seq = rooms.last_seq + counts.n, last_activity_at = now()
                FROM counts WHERE rooms.id = counts.room_id RETURNING rooms.id, rooms.last_seq, counts.n),
     numbered AS (SELECT t.id, t.room_id, t.sender_id, t.body, t.client_msg_id,
                         b.last_seq - b.n + row_number() OVER (PARTITION BY t.room_id ORDER BY t.ord) AS seq
                  FROM taken t JOIN bumped b ON b.id = t.room_id)
INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id)
SELECT id, room_id, seq, seq, sender_id, body, NULL, client_msg_id FROM numbered
RETURNING id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id, created_at, edited_at, deleted_at;
SELECT relname, n_live_tup, last_analyze, last_autoanalyze FROM pg_stat_user_tables
WHERE relname IN ('messages', 'rooms', 'room_members', 'users') ORDER BY relname;
\echo '== generic plan'
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) EXECUTE batch(:'ids', :'rooms', :'senders', :'bodies', :'cmids');
ROLLBACK;
\echo '== custom plan'
BEGIN;
SET LOCAL plan_cache_mode = force_custom_plan;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) EXECUTE batch(:'ids', :'rooms', :'senders', :'bodies', :'cmids');
ROLLBACK;

-- The hot queries, as the application issues them (placeholders filled in), under EXPLAIN ANALYZE.
\set room '''00000000-0000-4000-9000-0000000001f4'''
\set usr '''00000000-0000-4000-8000-000000000001'''
\echo '### History page: GET /rooms/{id}/messages?before_seq=250&limit=50 (51 rows fetched for has_more)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id, created_at, edited_at, deleted_at
FROM messages WHERE room_id = :room AND seq < 250 ORDER BY seq DESC LIMIT 51;
\echo '### Reactions of a page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT message_id, user_id, emoji, created_at FROM reactions
WHERE message_id IN (SELECT id FROM messages WHERE room_id = :room AND seq BETWEEN 200 AND 250)
ORDER BY message_id, created_at, user_id;
\echo '### Room list: GET /rooms (rooms, role, unread count, last message id)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT r.id, r.kind, r.name, r.topic, r.is_public, r.created_by, r.created_at, r.last_seq,
       r.last_activity_at, r.direct_key, m.role AS my_role, m.last_read_seq,
       (SELECT count(*) FROM messages u WHERE u.room_id = r.id AND u.seq > m.last_read_seq
          AND u.deleted_at IS NULL AND u.sender_id IS DISTINCT FROM m.user_id) AS unread_count,
       (SELECT l.id FROM messages l WHERE l.room_id = r.id ORDER BY l.seq DESC LIMIT 1) AS last_message_id
FROM room_members m JOIN rooms r ON r.id = m.room_id
WHERE m.user_id = :usr ORDER BY r.last_activity_at DESC, r.id;
\echo '### Send: next seq and insert in one statement (rolled back here)'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
WITH r AS (SELECT id FROM rooms WHERE id = :room FOR NO KEY UPDATE),
     u AS (SELECT 1 FROM users WHERE id = :usr AND EXISTS (SELECT 1 FROM r) FOR KEY SHARE),
     s AS (UPDATE rooms SET last_seq = rooms.last_seq + 1, last_activity_at = now() FROM r
           WHERE rooms.id = r.id AND EXISTS (SELECT 1 FROM u) RETURNING rooms.last_seq)
INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id)
SELECT gen_random_uuid(), :room, s.last_seq, s.last_seq, :usr, 'hello there', NULL, 'c-1' FROM s
RETURNING id, seq;
ROLLBACK;
\echo '### Sync: changes since a seq (rev order)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT id, seq, rev FROM messages WHERE room_id = :room AND rev > 450 ORDER BY rev LIMIT 101;
\echo '### Search: GET /search/messages?q=release (rooms of the caller)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT m.id, ts_rank(m.search, q.query) + ts_rank(m.search, e.exact) AS rank
FROM websearch_to_tsquery('simple', 'release') AS e(exact)
CROSS JOIN LATERAL (SELECT regexp_replace(e.exact::text,
    '(^|[ ])(!?)''((?:[^'']|''''){3,})''', '\1\2''\3'':*', 'g')::tsquery) AS q(query),
room_members rm JOIN messages m ON m.room_id = rm.room_id
WHERE rm.user_id = :usr AND m.search @@ q.query AND m.deleted_at IS NULL
ORDER BY rank DESC, m.created_at DESC, m.id LIMIT 20;
\echo '### Search for a rare term: the GIN index on messages.search leads'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT m.id, ts_rank(m.search, q.query) + ts_rank(m.search, e.exact) AS rank
FROM websearch_to_tsquery('simple', '499') AS e(exact)
CROSS JOIN LATERAL (SELECT regexp_replace(e.exact::text,
    '(^|[ ])(!?)''((?:[^'']|''''){3,})''', '\1\2''\3'':*', 'g')::tsquery) AS q(query),
room_members rm JOIN messages m ON m.room_id = rm.room_id
WHERE rm.user_id = :usr AND m.search @@ q.query AND m.deleted_at IS NULL
ORDER BY rank DESC, m.created_at DESC, m.id LIMIT 20;

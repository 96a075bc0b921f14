-- For `scripts/explain.sh scripts/sql/guest-deletion.sql`, after seed-explain.sql: a retention
-- batch of 1,000 guests deleted as `service::retention` deletes them (support rooms locked, the
-- rooms deleted, then the guests), timed with the foreign keys' indexes (migration
-- 2026-12-06-000400) and without them (dropped inside the transaction). Everything is rolled back.
-- Adds 100,000 support visitors (guest, room, session, membership), 400,000 attachments (four
-- messages in five carry one) and 200,000 audit-log entries: an installation that has run support
-- chat for a while.
INSERT INTO users (id, username, display_name, role, created_at)
SELECT gen_random_uuid(), 'guest' || g, 'Visitor', 'guest', now() - interval '120 days' FROM generate_series(1, 100000) g;
INSERT INTO rooms (id, kind, created_by, created_at, last_activity_at)
SELECT gen_random_uuid(), 'support', id, created_at, created_at FROM users WHERE role = 'guest';
INSERT INTO support_sessions (id, room_id, guest_id, visitor_name, status, closed_at)
SELECT gen_random_uuid(), id, created_by, 'Visitor', 'closed', created_at FROM rooms WHERE kind = 'support';
INSERT INTO room_members (room_id, user_id, role) SELECT id, created_by, 'member' FROM rooms WHERE kind = 'support';
INSERT INTO attachments (id, owner_id, room_id, message_id, sha256, size_bytes, content_type, name)
SELECT gen_random_uuid(), sender_id, room_id, id, encode(sha256(convert_to(id::text, 'UTF8')), 'hex'), 1000,
       'image/png', 'screenshot.png'
FROM messages WHERE seq % 5 <> 0;
INSERT INTO audit_log (id, actor_id, action, target_type, target_id, details)
SELECT gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 2000), 12, '0'))::uuid, 'room.created',
       'room', gen_random_uuid()::text, '{}'
FROM generate_series(1, 200000) g;
VACUUM ANALYZE;

\echo '1,000 guests: lock their rooms, delete the rooms, delete the guests; with the indexes'
BEGIN;
\ir guest-deletion-batch.sql
ROLLBACK;
\echo 'the same without them'
BEGIN;
DROP INDEX audit_log_actor_idx, rooms_created_by_idx, support_sessions_guest_idx, support_blocks_session_idx,
    attachments_room_idx, friendships_friend_idx, command_invocations_room_idx, command_invocations_caller_idx,
    command_invocations_bot_idx, push_queue_user_idx;
\ir guest-deletion-batch.sql
ROLLBACK;

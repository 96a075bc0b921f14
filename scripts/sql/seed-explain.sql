-- Seed for scripts/explain.sh: 2,000 users, 1,000 rooms of 20 members, 500,000 messages with
-- reactions on some, so the planner sees realistic table sizes.
SELECT setseed(0.42);
INSERT INTO users (id, username, email, display_name)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'user' || g, 'user' || g || '@example.org', 'User ' || g
FROM generate_series(1, 2000) g;
INSERT INTO rooms (id, kind, name, created_by)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(g), 12, '0'))::uuid, 'group', 'room ' || g,
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + g % 2000), 12, '0'))::uuid
FROM generate_series(1, 1000) g;
INSERT INTO room_members (room_id, user_id, role)
SELECT ('00000000-0000-4000-9000-' || lpad(to_hex(r), 12, '0'))::uuid,
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + (r * 7 + m * 101) % 2000), 12, '0'))::uuid,
       CASE WHEN m = 0 THEN 'owner' ELSE 'member' END
FROM generate_series(1, 1000) r, generate_series(0, 19) m
ON CONFLICT DO NOTHING;
WITH numbered AS (
    SELECT r, s FROM generate_series(1, 1000) r, generate_series(1, 500) s
)
INSERT INTO messages (id, room_id, seq, rev, sender_id, body, created_at)
SELECT gen_random_uuid(), ('00000000-0000-4000-9000-' || lpad(to_hex(r), 12, '0'))::uuid, s, s,
       ('00000000-0000-4000-8000-' || lpad(to_hex(1 + (r * 7 + (s % 20) * 101) % 2000), 12, '0'))::uuid,
       (ARRAY['deploy finished', 'lunch at noon?', 'the build is green again', 'Grüße aus Berlin',
              'привет всем', 'see the release notes', 'who broke the tests', 'coffee'])[1 + (s % 8)] || ' #' || s,
       now() - make_interval(mins => 500 - s)
FROM numbered;
UPDATE rooms r SET last_seq = 500, last_activity_at = now() - make_interval(mins => (hashtext(r.id::text) & 1023));
INSERT INTO reactions (message_id, user_id, emoji)
SELECT id, sender_id, '👍' FROM messages WHERE seq % 10 = 0;
UPDATE room_members SET last_read_seq = 480;
ANALYZE;

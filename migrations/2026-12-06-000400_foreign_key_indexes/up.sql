-- Deleting a row checks each foreign key that refers to it with a query on the referring table
-- (PostgreSQL's `ON DELETE` triggers, one query per deleted row). Without an index on the
-- referring column each of those queries reads the whole table. The retention job deletes up to
-- `retention.batch_size` (1,000) guests and their support rooms per transaction, so it read each
-- of these tables a thousand times per batch: with 100,000 support rooms, 400,000 attachments and
-- 200,000 audit-log entries, about a minute of a core per batch (docs/benchmarks.md, "Retention:
-- deleting guests in batches"). These are the referring columns of tables that grow with use;
-- the tables that stay small (webhook endpoints, incoming hooks, canned replies, knowledge-base
-- entries) are read whole for less than an index would cost to keep. Partial where most rows
-- refer to nothing.
--
-- Each index blocks writes to its table until the migration commits (CHANGELOG, Upgrade notes):
-- `rooms`, whose counter every send moves, comes last, so sends wait only for its own index.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX support_sessions_guest_idx ON support_sessions (guest_id);
CREATE INDEX support_blocks_session_idx ON support_blocks (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX attachments_room_idx ON attachments (room_id) WHERE room_id IS NOT NULL;
CREATE INDEX friendships_friend_idx ON friendships (friend_id);
CREATE INDEX command_invocations_room_idx ON command_invocations (room_id);
CREATE INDEX command_invocations_caller_idx ON command_invocations (caller_id);
CREATE INDEX command_invocations_bot_idx ON command_invocations (bot_id);
CREATE INDEX push_queue_user_idx ON push_queue (user_id);
CREATE INDEX rooms_created_by_idx ON rooms (created_by) WHERE created_by IS NOT NULL;

-- Deleting a row checks each foreign key that refers to it with a query on the referring table
-- (PostgreSQL's `ON DELETE` triggers, one query per deleted row). Without an index on the
-- referring column each of those queries reads the whole table. The retention job deletes up to
-- `retention.batch_size` (1,000) guests and their support rooms per statement, so it read each of
-- these tables a thousand times per batch: with 200,000 audit-log entries or attachments, about
-- 11 s per batch, past `database.statement_timeout_ms`, on every pass (docs/operations.md). These
-- are the referring columns of tables that grow with use; the tables that stay small (webhook
-- endpoints, canned replies, knowledge-base entries and the like) are read whole for less than
-- an index would cost to keep. Partial where most rows refer to nothing.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX rooms_created_by_idx ON rooms (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX support_sessions_guest_idx ON support_sessions (guest_id);
CREATE INDEX attachments_room_idx ON attachments (room_id) WHERE room_id IS NOT NULL;
CREATE INDEX friendships_friend_idx ON friendships (friend_id);
CREATE INDEX command_invocations_room_idx ON command_invocations (room_id);
CREATE INDEX command_invocations_caller_idx ON command_invocations (caller_id);
CREATE INDEX command_invocations_bot_idx ON command_invocations (bot_id);

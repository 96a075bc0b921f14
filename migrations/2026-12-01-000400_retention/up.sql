-- Indexes for the retention job (service/retention.rs), so each of its batches is an index range
-- scan rather than a scan of the whole table.

-- A refresh token is of no use from the first of: its expiry, being spent, being revoked (LEAST
-- skips NULLs). The job deletes tokens that have been dead for retention.refresh_token_days.
CREATE INDEX refresh_tokens_dead_idx ON refresh_tokens (LEAST(expires_at, spent_at, revoked_at));

-- Guests are inactive no earlier than they were created: candidates come from this range.
CREATE INDEX users_guest_created_idx ON users (created_at) WHERE role = 'guest';

-- Closed support sessions by the time they were closed.
CREATE INDEX support_sessions_closed_idx ON support_sessions (closed_at) WHERE status = 'closed';

-- Deleting an account (DELETE /users/me, the admin route, the retention job's guests) sets
-- messages.sender_id to NULL and deletes the account's reactions through their foreign keys;
-- without these, each deleted account would scan both tables. The messages index also pages a
-- user's data export in order (sender, time). It costs one more index entry per message sent.
CREATE INDEX messages_sender_idx ON messages (sender_id, created_at, id);
CREATE INDEX reactions_user_idx ON reactions (user_id);

DROP INDEX command_invocations_bot_idx;
DROP INDEX command_invocations_caller_idx;
DROP INDEX command_invocations_room_idx;
DROP INDEX friendships_friend_idx;
DROP INDEX attachments_room_idx;
DROP INDEX support_sessions_guest_idx;
DROP INDEX rooms_created_by_idx;
DROP INDEX audit_log_actor_idx;

DROP INDEX reactions_user_idx;
DROP INDEX messages_sender_idx;
DROP INDEX support_sessions_closed_idx;
DROP INDEX users_guest_created_idx;
DROP INDEX refresh_tokens_dead_idx;

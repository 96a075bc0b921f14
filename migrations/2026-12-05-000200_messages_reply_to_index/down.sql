DROP INDEX messages_reply_to_idx;

-- `messages.reply_to` is a foreign key with ON DELETE SET NULL: deleting a message makes
-- PostgreSQL look for its replies, and without an index that is a read of the whole table for
-- every deleted message (deleting a room of n messages read the table n times). Partial: most
-- messages reply to nothing, and the group-commit batch, which never carries a reply, pays nothing.
CREATE INDEX messages_reply_to_idx ON messages (reply_to) WHERE reply_to IS NOT NULL;

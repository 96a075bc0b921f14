-- A message's sender is no longer a declared foreign key; a statement trigger on users clears a
-- deleted account's messages' sender instead (docs/benchmarks.md, "The sender's foreign key").
--
-- The constraint's insert check was a query per message row through the trigger queue and SPI,
-- part of the 12 % of the send writer's PostgreSQL time its statement's foreign-key checks took at
-- 10,000 sends/s, and its key-share lock on the sender's row made a send batch wait for any
-- account being deleted while its owner sent. Each statement that inserts messages now proves its
-- sender by a lock of its own, taken before the room's counter moves: the batch
-- (db::queries::messages::insert_batch) locks the membership row it checks (FOR KEY SHARE,
-- skipping a row an account deletion holds, whose send then takes the checked path), and the
-- checked path (insert_next) locks the room's row, then the sender's (the order of every
-- transaction that takes both). An account deletion deletes the memberships (by their foreign
-- key) and the user's row, so it waits for a send that holds either, and this trigger, which reads
-- with a snapshot taken after that wait, finds and clears what was committed; a send that finds
-- the account gone inserts nothing. tests/api/consistency.rs checks these races.
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_fkey;

CREATE FUNCTION messages_forget_deleted_senders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- By messages_sender_idx, a probe per account, as in messages_follow_deleted_rooms.
    UPDATE messages SET sender_id = NULL WHERE sender_id = ANY (ARRAY(SELECT id FROM deleted_users));
    RETURN NULL;
END $$;

CREATE TRIGGER users_forget_messages_sender AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted_users
    FOR EACH STATEMENT EXECUTE FUNCTION messages_forget_deleted_senders();

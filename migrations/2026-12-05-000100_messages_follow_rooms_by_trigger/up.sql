-- A message's room is no longer a declared foreign key; a statement trigger on rooms deletes a
-- deleted room's messages instead (docs/benchmarks.md, "The room's foreign key").
--
-- The constraint's insert check was a query per message row, about 11 µs of PostgreSQL's CPU of
-- the 74 a send cost (scripts/explain-send-batch.sh), and it proved nothing the insert had not
-- proved already: both statements that insert messages (db::queries::messages::insert_next and
-- insert_batch) take the room's next seq by updating its row in the same statement and insert
-- only the rows whose room that update returned. That update holds the row until commit, so a
-- room deleted before it is found missing (nothing is inserted) and one deleted after it waits for
-- the commit, and its trigger, which reads with a snapshot taken after that wait, finds and deletes
-- what was committed. An insert that does not go through the room's counter would break this: the
-- two statements are the only ones, and tests/api/consistency.rs checks both orders of the race.
ALTER TABLE messages DROP CONSTRAINT messages_room_id_fkey;

CREATE FUNCTION messages_follow_deleted_rooms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Reactions, attachments and replies follow the messages by their own foreign keys. The
    -- array keeps the plan, which PL/pgSQL makes once per session, an index probe per room: a
    -- join with the transition table would be planned for the first deletion's row count, and
    -- a hash join made for a batch of retention's deletions would scan all messages for one room.
    DELETE FROM messages WHERE room_id = ANY (ARRAY(SELECT id FROM deleted_rooms));
    RETURN NULL;
END $$;

CREATE TRIGGER rooms_delete_messages AFTER DELETE ON rooms
    REFERENCING OLD TABLE AS deleted_rooms
    FOR EACH STATEMENT EXECUTE FUNCTION messages_follow_deleted_rooms();

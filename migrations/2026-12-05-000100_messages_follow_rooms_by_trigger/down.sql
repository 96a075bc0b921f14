DROP TRIGGER rooms_delete_messages ON rooms;
DROP FUNCTION messages_follow_deleted_rooms();
DELETE FROM messages m WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id);
ALTER TABLE messages ADD CONSTRAINT messages_room_id_fkey
    FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE;

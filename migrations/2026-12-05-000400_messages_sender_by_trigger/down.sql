DROP TRIGGER users_forget_messages_sender ON users;
DROP FUNCTION messages_forget_deleted_senders();
UPDATE messages m SET sender_id = NULL
WHERE sender_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.sender_id);
ALTER TABLE messages ADD CONSTRAINT messages_sender_id_fkey
    FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL;

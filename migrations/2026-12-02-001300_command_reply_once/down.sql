ALTER TABLE command_invocations DROP COLUMN answered_at;

DROP INDEX users_deleting_since_idx;
ALTER TABLE users DROP COLUMN deleting_since;

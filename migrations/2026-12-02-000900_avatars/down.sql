DROP INDEX users_avatar_sha256;
ALTER TABLE users DROP CONSTRAINT users_avatar_blob, DROP COLUMN avatar_content_type, DROP COLUMN avatar_sha256;

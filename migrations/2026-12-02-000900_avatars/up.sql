-- An uploaded avatar (PUT /users/me/avatar): the key of the square picture plauder made from the
-- upload, in the attachment store (its SHA-256, like an attachment's blob), and its media type.
-- avatar_url stays for an external http(s) address set through PATCH /users/me; setting either
-- clears the other, so a user has one avatar. Both columns are set together or not at all.
ALTER TABLE users
    ADD COLUMN avatar_sha256 TEXT,
    ADD COLUMN avatar_content_type TEXT,
    ADD CONSTRAINT users_avatar_blob CHECK ((avatar_sha256 IS NULL) = (avatar_content_type IS NULL));

-- GET /avatars/{key} finds the picture by its key, and the retention sweep asks which keys are
-- still someone's avatar; only users with an uploaded avatar are indexed.
CREATE INDEX users_avatar_sha256 ON users (avatar_sha256) WHERE avatar_sha256 IS NOT NULL;

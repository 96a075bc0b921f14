-- Thumbnails of uploaded images (`service::images`): a second blob in the attachment store, by
-- the SHA-256 of its own bytes. NULL for files that are not images and for images already no
-- larger than a thumbnail (their own link serves).
ALTER TABLE attachments
    ADD COLUMN thumbnail_sha256 text CHECK (thumbnail_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN thumbnail_content_type text,
    ADD CHECK ((thumbnail_sha256 IS NULL) = (thumbnail_content_type IS NULL));

-- The blob sweep asks whether any row still names a blob, as a thumbnail too.
CREATE INDEX attachments_thumbnail_sha256_idx ON attachments (thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL;

ALTER TABLE attachments DROP COLUMN thumbnail_sha256, DROP COLUMN thumbnail_content_type;

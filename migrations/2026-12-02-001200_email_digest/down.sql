DROP TABLE email_digest_tokens;
DROP TABLE email_digest_scan;
DROP TABLE email_digests;
ALTER TABLE user_preferences DROP COLUMN email_digest;

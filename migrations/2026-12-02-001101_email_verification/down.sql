DROP TABLE email_verification_tokens;
DROP TRIGGER users_email_unverify ON users;
DROP FUNCTION users_email_unverify();
ALTER TABLE users DROP COLUMN email_verified_at;

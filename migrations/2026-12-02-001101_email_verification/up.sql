-- Email verification (service/verification.rs). email_verified_at: when the current address was
-- confirmed through a mailed link. Accounts from before this migration count as verified (they
-- could not verify, and switching accounts.require_email_verification on must not lock them
-- out). A trigger unverifies an account whose address changes, whatever changes it.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
UPDATE users SET email_verified_at = created_at WHERE email IS NOT NULL;

CREATE FUNCTION users_email_unverify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email IS DISTINCT FROM OLD.email AND NEW.email_verified_at IS NOT DISTINCT FROM OLD.email_verified_at THEN
        NEW.email_verified_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_email_unverify BEFORE UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION users_email_unverify();

-- The mailed links: single use (used_at), expiring, for the address they were sent to (a link
-- for an address the account no longer has confirms nothing). Only the SHA-256 is kept.
CREATE TABLE email_verification_tokens (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX email_verification_tokens_user_idx ON email_verification_tokens (user_id);

-- TOTP two-factor (service/mfa.rs). One row per user who started enrolling; enabled_at is set
-- when they confirmed with a code. The secret is kept as is: the server must compute codes from
-- it, so a hash would not do.
CREATE TABLE user_totp (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret BYTEA NOT NULL,
    enabled_at TIMESTAMPTZ,
    -- The time step of the last code accepted: a code (or an earlier one) is never accepted twice.
    last_used_step BIGINT NOT NULL DEFAULT -1,
    -- Wrong codes in a row, and until when the account takes no more (auth.mfa_*).
    failed_attempts INT NOT NULL DEFAULT 0,
    locked_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Ten single-use recovery codes per enrolment, stored as SHA-256 (each has 80 random bits).
CREATE TABLE mfa_recovery_codes (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

-- The short-lived challenge a password login of an enrolled account answers with; completing
-- it with a code (POST /auth/login/mfa) starts the session. Kept in the database so any
-- instance can complete it.
CREATE TABLE mfa_challenges (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

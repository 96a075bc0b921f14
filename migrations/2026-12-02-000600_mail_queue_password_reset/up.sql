-- Outgoing mail (service/mail.rs): one row per mail, written in the transaction of whatever
-- caused it and sent later by a worker on some instance, never from inside a request. A worker
-- claims due rows with FOR UPDATE SKIP LOCKED and moves next_attempt_at past its send timeout
-- (a lease), so several instances never send one row twice and a crashed worker's rows come due
-- again. A failure is retried with exponential back-off until email.max_attempts, then the row
-- is marked failed and stays for admins to see (GET /admin/mail).
CREATE TABLE mail_queue (
    id UUID PRIMARY KEY,
    -- What the mail is for (password_reset, ...), for the admin listing and the logs.
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- Rendered at enqueue time, in the recipient's language. Emptied once sent: a reset mail
    -- carries a live link, which should not outlive its delivery in the database.
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('en', 'de')),
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ,
    failed_at TIMESTAMPTZ
);
-- The worker's scan: only rows still waiting, by when they are due.
CREATE INDEX mail_queue_due_idx ON mail_queue (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_queue_created_idx ON mail_queue (created_at DESC);

-- A user's preferences that are not part of their profile. language: the language of the mails
-- they get, from Accept-Language at registration, changeable with PATCH /users/me/preferences.
-- No row: the defaults. (A table of its own rather than more columns on users, whose row every
-- authenticated request reads.)
CREATE TABLE user_preferences (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'de'))
);

-- Password reset links: the token goes to the user by mail and only its SHA-256 is kept. Single
-- use (used_at), short-lived (expires_at); a new request or a completed reset spends the
-- user's earlier ones.
CREATE TABLE password_reset_tokens (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

-- The email digest for offline users (service/digest.rs).

-- The user's choice: a digest of what they missed, or none. On unless they turn it off (in the
-- preferences or with the mail's one-click link): by default a digest carries only direct
-- messages and mentions (the rooms' default levels), at most one per notifications.digest_
-- interval_secs, and only to users who have not been connected for notifications.digest_delay_secs.
ALTER TABLE user_preferences ADD COLUMN email_digest BOOLEAN NOT NULL DEFAULT true;

-- A user's digest. due_at: a message they may want to hear of arrived while they could get a
-- digest; when this passes, a worker (any instance, the row claimed with FOR UPDATE SKIP LOCKED)
-- mails what is still unread then, unless they are connected, were connected lately, or got a
-- digest within the interval (then it moves due_at on). A burst of messages keeps the first
-- due_at, so it makes one mail. mailed_until: messages up to here were in a digest (or arrived
-- while the user was connected); no digest carries them again (it starts at the epoch, not
-- '-infinity', which chrono cannot read). sent_at: the last digest.
CREATE TABLE email_digests (
    user_id      UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    due_at       TIMESTAMPTZ,
    mailed_until TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    sent_at      TIMESTAMPTZ
);
CREATE INDEX email_digests_due_idx ON email_digests (due_at) WHERE due_at IS NOT NULL;

-- How far the scan for new messages has come (one row). A round reads the messages created since
-- a little before this (a message's created_at is its transaction's start, so one committed
-- late is still read) and schedules the digests of their recipients; the row is claimed with
-- FOR UPDATE SKIP LOCKED, so one instance scans at a time and a restart resumes where it was.
CREATE TABLE email_digest_scan (
    id            BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    scanned_until TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO email_digest_scan DEFAULT VALUES;

-- The one-click unsubscribe links of digests (turn email_digest off). As with the support mails'
-- links only the token's SHA-256 is kept; each digest carries a new one, which works for
-- a year (expired ones are deleted by the digest worker).
CREATE TABLE email_digest_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX email_digest_tokens_user_idx ON email_digest_tokens (user_id);
CREATE INDEX email_digest_tokens_expires_idx ON email_digest_tokens (expires_at);

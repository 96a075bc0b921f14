-- Accounts, sessions and the moderation trail.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    -- Unique case-insensitively (index below) but stored as typed, so "Ada" stays "Ada".
    username      text NOT NULL,
    -- NULL for guests (support-chat visitors), who have no login.
    email         text,
    display_name  text NOT NULL,
    avatar_url    text,
    bio           text,
    role          text NOT NULL DEFAULT 'user'
                  CHECK (role IN ('admin', 'moderator', 'user', 'guest')),
    -- NULL for guests: they authenticate with their refresh token only.
    password_hash text,
    -- Carried in every access token; bumping it revokes every token issued before, at once
    -- (logout-all, password change, ban).
    token_version integer NOT NULL DEFAULT 0,
    banned_at     timestamptz,
    ban_reason    text,
    -- Written in batches by the presence tracker, never per event.
    last_seen_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email)) WHERE email IS NOT NULL;
-- User search (GET /users?q=, admin user list) matches on prefixes of the lowercased name.
CREATE INDEX users_username_pattern_idx ON users (lower(username) text_pattern_ops);
SELECT diesel_manage_updated_at('users');

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Every token issued by rotating one login's tokens shares the login's family, so that a
    -- replayed (already spent) token can revoke the whole chain it belongs to.
    family_id   uuid NOT NULL,
    -- SHA-256 of the token: a stolen database dump yields no usable token.
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    -- Set when the token is exchanged for a new pair; a second use is a replay.
    spent_at    timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Append-only: the application never updates or deletes rows here.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    actor_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC);

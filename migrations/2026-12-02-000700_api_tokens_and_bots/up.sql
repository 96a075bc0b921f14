-- Programs as members: bot accounts, and personal API tokens that any account (a bot or a person)
-- uses instead of the login's short-lived access token.

-- A bot is an account like any other (rooms, rate limits, room rules apply to it) that has no
-- password and is created by an admin; clients show a "bot" badge.
ALTER TABLE users ADD COLUMN is_bot boolean NOT NULL DEFAULT false;

-- Personal API tokens: the value is shown once and only its SHA-256 is kept (it has 256 random
-- bits, so a fast hash is enough, as for refresh tokens). `scopes` limits what the token reaches
-- (read: GET routes and receiving over the WebSocket; write: every other route and command; admin:
-- the staff routes, only for staff). Revoking sets `revoked_at` rather than deleting the row, so the
-- WebSocket re-check (realtime::revalidate) can still find the token and close its sockets.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    -- The first characters of the value ("plt_ab12"), so a user can tell tokens apart in a list.
    hint         text NOT NULL,
    scopes       text[] NOT NULL
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin']::text[]),
    -- NULL: never expires.
    expires_at   timestamptz,
    -- Updated at most once a minute per token, so a busy integration costs no write per request.
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at);

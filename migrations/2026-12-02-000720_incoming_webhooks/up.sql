-- Incoming webhooks: a secret URL per room (POST /hooks/{token} {"text"}) that posts into the room
-- as the hook's own bot account (made with the hook, a member of the room). Only the token's
-- SHA-256 is kept; the URL is shown once.
CREATE TABLE incoming_webhooks (
    id         uuid PRIMARY KEY,
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bot_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incoming_webhooks_room_idx ON incoming_webhooks (room_id, created_at);

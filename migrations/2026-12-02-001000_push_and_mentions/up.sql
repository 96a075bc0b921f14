-- Mentions and notifications for the offline (service/mentions.rs, src/push).

-- The users an `@username` in the body names, resolved to members of the room when the message
-- was sent (or last edited). NULL, not an empty array, when there are none: most messages mention
-- nobody, and a NULL costs a bit in the row's null bitmap where '{}' would cost a header. The
-- group-commit send path (db/send_batch.rs) never writes it: a body that mentions someone takes
-- the checked path.
ALTER TABLE messages ADD COLUMN mentions uuid[];

-- A user's notification level per room. No row: the default, `all` in a direct room and
-- `mentions` elsewhere. muted_until: no notification of any level until then (NULL: not muted).
-- Read by the push enqueue (and the email digest).
CREATE TABLE room_notification_settings (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id     uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    level       text NOT NULL CHECK (level IN ('all', 'mentions', 'none')),
    muted_until timestamptz,
    PRIMARY KEY (user_id, room_id)
);
CREATE INDEX room_notification_settings_room_idx ON room_notification_settings (room_id);

-- A browser's Web Push subscription (one per device): where the push service takes messages for
-- it, and the keys its payloads are encrypted with (RFC 8291). An endpoint belongs to one browser
-- profile, so it is unique: subscribing it again (another account on the same browser) moves it.
-- session_id: the login session (refresh-token family) that subscribed; its logout deletes the
-- subscription (NULL for API tokens, which have no logout).
CREATE TABLE push_subscriptions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid,
    endpoint   text NOT NULL UNIQUE,
    -- The browser's P-256 public key (65 bytes, uncompressed point) and auth secret (16 bytes).
    p256dh     bytea NOT NULL CHECK (length(p256dh) = 65),
    auth       bytea NOT NULL CHECK (length(auth) = 16),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);
CREATE INDEX push_subscriptions_session_idx ON push_subscriptions (session_id) WHERE session_id IS NOT NULL;

-- Pushes waiting to go out, one row per subscription and notification, sent by a worker on each
-- instance as the mail queue is (claimed with FOR UPDATE SKIP LOCKED, next_attempt_at moved
-- ahead as a lease, retried with back-off). A row is deleted once delivered, given up, or when
-- its recipient turned out to be connected (kind 'message': they see it live). The payload is the
-- notification's JSON, made when the row was queued.
CREATE TABLE push_queue (
    id              bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('message', 'support')),
    -- 'high' for a direct message, a mention or a new support chat; 'normal' otherwise.
    urgency         text NOT NULL CHECK (urgency IN ('normal', 'high')),
    payload         text NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_queue_due_idx ON push_queue (next_attempt_at);
CREATE INDEX push_queue_subscription_idx ON push_queue (subscription_id);

-- Rooms, messages and the social graph. Laid out for the whole contract so later work extends
-- rather than reworks it.

CREATE TABLE rooms (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('group', 'direct', 'support')),
    name             text,
    topic            text,
    is_public        boolean NOT NULL DEFAULT false,
    created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The room's history counter. Every change to its history (new message, edit, delete,
    -- reaction) takes last_seq + 1 in the transaction that makes the change, under this row's
    -- lock: that is what makes seq gapless per room across concurrent writers and instances.
    last_seq         bigint NOT NULL DEFAULT 0,
    -- Sort key of GET /rooms (most recent activity first).
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    -- "smaller-uuid:larger-uuid" for direct rooms, so the pair has one room even under races.
    direct_key       text UNIQUE,
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);
CREATE INDEX rooms_public_idx ON rooms (created_at) WHERE is_public;

CREATE TABLE room_members (
    room_id       uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'moderator', 'member')),
    joined_at     timestamptz NOT NULL DEFAULT now(),
    -- The read marker: unread = messages with seq above it, from others, not deleted.
    last_read_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id);

CREATE TABLE messages (
    id            uuid PRIMARY KEY,
    room_id       uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    -- The seq the message got when created; never changes.
    seq           bigint NOT NULL,
    -- The seq of the message's latest change (equal to seq until edited, deleted or reacted to).
    rev           bigint NOT NULL,
    sender_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    -- Stored exactly as sent; emptied when deleted (the row stays as a tombstone).
    body          text NOT NULL,
    reply_to      uuid REFERENCES messages (id) ON DELETE SET NULL,
    client_msg_id text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    edited_at     timestamptz,
    deleted_at    timestamptz,
    -- 'simple' does no stemming and no stop words, so it indexes any language's words alike.
    search        tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
    UNIQUE (room_id, seq),
    UNIQUE (room_id, rev)
);
-- Idempotent sends: a retry with the same client_msg_id finds the original.
CREATE UNIQUE INDEX messages_client_msg_id_key ON messages (room_id, sender_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
CREATE INDEX messages_search_idx ON messages USING gin (search);

CREATE TABLE reactions (
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, user_id, emoji)
);

CREATE TABLE friend_requests (
    id           uuid PRIMARY KEY,
    from_user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (from_user_id, to_user_id),
    CHECK (from_user_id <> to_user_id)
);
CREATE INDEX friend_requests_to_idx ON friend_requests (to_user_id);

-- One row per direction, so "my friends" is a single index range scan.
CREATE TABLE friendships (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friend_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, friend_id),
    CHECK (user_id <> friend_id)
);

CREATE TABLE blocks (
    blocker_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id);

CREATE TABLE support_sessions (
    id                uuid PRIMARY KEY,
    room_id           uuid NOT NULL UNIQUE REFERENCES rooms (id) ON DELETE CASCADE,
    guest_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    visitor_name      text NOT NULL,
    visitor_email     text,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- First answer by an admin or moderator: drives avg_first_response_secs.
    first_response_at timestamptz,
    closed_at         timestamptz
);
CREATE INDEX support_sessions_status_idx ON support_sessions (status, created_at DESC);

CREATE TABLE contacts (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    message    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

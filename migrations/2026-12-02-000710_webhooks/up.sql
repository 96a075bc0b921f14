-- Outgoing webhooks: endpoints admins register, and a durable outbox written in the same
-- transaction as the change it reports, so no event is lost on a crash and none is sent for a
-- change that rolled back. A delivery worker (src/webhooks/deliver.rs) takes rows
-- with FOR UPDATE SKIP LOCKED, oldest first, and only the oldest pending row of each endpoint and
-- room, so one room's events reach an endpoint in order.

CREATE TABLE webhook_endpoints (
    id                   uuid PRIMARY KEY,
    url                  text NOT NULL,
    -- Which events it wants (message.created, message.edited, message.deleted).
    event_types          text[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- Only this room's events; NULL: every room's.
    room_id              uuid REFERENCES rooms (id) ON DELETE CASCADE,
    -- The HMAC-SHA256 key of the signatures. Kept as is, since signing needs it; shown once.
    secret               text NOT NULL,
    enabled              boolean NOT NULL DEFAULT true,
    -- Failed attempts in a row; at webhooks.max_consecutive_failures the endpoint is disabled.
    consecutive_failures integer NOT NULL DEFAULT 0,
    disabled_at          timestamptz,
    disabled_reason      text,
    created_by           uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now()
);

-- One row per event and endpoint that wants it. `room_id` has no foreign key: an event outlives
-- its room (a deletion is itself worth reporting).
CREATE TABLE webhook_outbox (
    id              bigserial PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    room_id         uuid,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- The worker's question: the oldest pending row per endpoint and room.
CREATE INDEX webhook_outbox_pending_idx ON webhook_outbox (endpoint_id, room_id, id) WHERE state = 'pending';
CREATE INDEX webhook_outbox_endpoint_idx ON webhook_outbox (endpoint_id, id DESC);

-- Every delivery attempt, for the admin panel's delivery log.
CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    outbox_id    bigint NOT NULL REFERENCES webhook_outbox (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    -- NULL when no answer came (refused, timed out, unreachable).
    status_code  integer,
    latency_ms   integer NOT NULL,
    error        text
);
CREATE INDEX webhook_attempts_outbox_idx ON webhook_attempts (outbox_id, id);

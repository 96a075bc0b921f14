-- Slash commands (docs/integrations.md): a bot account registers `/name`; a message that starts
-- with it is routed to that bot over its WebSocket (`command.invoked`), and the bot answers the
-- invocation, to the caller alone or to the room. A name belongs to one bot.
CREATE TABLE bot_commands (
    name        text PRIMARY KEY,
    bot_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bot_commands_bot_idx ON bot_commands (bot_id);

-- One row per routed command: what a reply may answer (its bot, room and caller), for a while
-- (the service refuses replies to old ones; rows older than a day are deleted as new ones come).
CREATE TABLE command_invocations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    bot_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    caller_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX command_invocations_created_idx ON command_invocations (created_at);

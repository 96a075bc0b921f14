-- Files uploaded to be sent with messages (issue #15). The bytes live in the attachment store
-- (`attachments::store`), addressed by their SHA-256, so one upload sent twice or the same file
-- uploaded by two people is stored once; a row is what makes a blob live, and the retention
-- job deletes blobs no row names any more.
CREATE TABLE attachments (
    id           uuid PRIMARY KEY,
    -- SET NULL: a deleted account's sent files stay in the history with its messages (whose
    -- sender goes NULL the same way); its unsent ones go with the unsent-upload retention.
    owner_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    -- Both NULL until the upload is sent with a message; then the message it belongs to, and its
    -- room (kept here so a download checks membership without a join). Deleting the message or
    -- the room deletes the row, and the sweep then the bytes.
    message_id   uuid REFERENCES messages (id) ON DELETE CASCADE,
    room_id      uuid REFERENCES rooms (id) ON DELETE CASCADE,
    -- Lowercase hex of the content's SHA-256: the blob's key in the store.
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    -- Decided from the content at upload, never from the client's header or the name.
    content_type text NOT NULL,
    -- For display only (sanitised: no path, no control characters); never a path on disk.
    name         text NOT NULL,
    -- Images only: read from the header at upload.
    width        integer,
    height       integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((message_id IS NULL) = (room_id IS NULL))
);

-- A message's attachments (views of history pages, sync, events).
CREATE INDEX attachments_message_idx ON attachments (message_id) WHERE message_id IS NOT NULL;
-- The per-user quota sums an owner's bytes.
CREATE INDEX attachments_owner_idx ON attachments (owner_id);
-- The retention job's range: unsent uploads by age.
CREATE INDEX attachments_unsent_idx ON attachments (created_at) WHERE message_id IS NULL;
-- The blob sweep asks whether any row still names a blob.
CREATE INDEX attachments_sha256_idx ON attachments (sha256);

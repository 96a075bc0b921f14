-- Canned replies: texts staff insert into a support answer instead of typing them again. Shared
-- by all staff (admins and moderators manage them); the title is what staff pick by, so it is
-- unique regardless of case.
CREATE TABLE canned_replies (
    id          uuid PRIMARY KEY,
    title       text NOT NULL,
    body        text NOT NULL,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX canned_replies_title_idx ON canned_replies (lower(title));

-- Where a support session came from, so staff can block the visitor rather than only its guest
-- account (which a new session replaces at once): the client address (as the server determined
-- it, behind trusted proxies) and the random id the widget keeps in the visitor's browser.
ALTER TABLE support_sessions
    ADD COLUMN visitor_address text,
    ADD COLUMN visitor_browser_id text;

-- Blocks of visitors by address and/or browser id, for a set time (`expires_at`), made from a
-- session in the inbox; `POST /support/sessions` refuses a match until then. Lifting one early
-- sets `lifted_at` (the row stays: who blocked whom is in the audit log as well).
CREATE TABLE support_blocks (
    id          uuid PRIMARY KEY,
    address     text,
    browser_id  text,
    reason      text,
    session_id  uuid REFERENCES support_sessions (id) ON DELETE SET NULL,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    lifted_at   timestamptz,
    CHECK (address IS NOT NULL OR browser_id IS NOT NULL)
);
CREATE INDEX support_blocks_address_idx ON support_blocks (address, expires_at) WHERE address IS NOT NULL;
CREATE INDEX support_blocks_browser_idx ON support_blocks (browser_id, expires_at) WHERE browser_id IS NOT NULL;

-- The one-click unsubscribe address of a mail that has one (support replies, digests), sent as
-- its `List-Unsubscribe` header with `List-Unsubscribe-Post` (RFC 8058), so that mail programs
-- show their own "unsubscribe" button and post to it.
ALTER TABLE mail_queue ADD COLUMN list_unsubscribe TEXT;

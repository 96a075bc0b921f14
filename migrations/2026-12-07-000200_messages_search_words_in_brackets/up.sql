-- Full-text search found no word written inside angle brackets or after an ampersand: the default
-- parser reads `<details>` or the `<String>` of `Vec<String>` as an HTML tag and `&amp;` as an
-- entity, and the `simple` configuration indexes neither, so the words in them were dropped. A chat
-- message is text as typed, not HTML: `<`, `>` and `&` are read as spaces before parsing
-- (`translate`), and those words are indexed like any other. The query side needs nothing:
-- `websearch_to_tsquery` already reads `Vec<String>` as `vec & string`.
--
-- PostgreSQL 15 cannot change a generated column's expression in place: the column is dropped
-- and added again, which rewrites `messages` under an exclusive lock (no reads or writes of the
-- table meanwhile), and the index is built again. CHANGELOG.md's upgrade notes give the time this
-- took here per million messages.
-- The exclusive lock waits behind every transaction using the table (an account's erasure may run
-- for minutes), and every read and send of messages would queue behind that wait: give up instead,
-- and let the operator run the migration again.
SET LOCAL lock_timeout = '10s';
DROP INDEX messages_search_idx;
ALTER TABLE messages DROP COLUMN search;
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', translate(body, '<>&', '   '))) STORED;
-- As migration 2026-12-05-000300 left it: a short pending list.
CREATE INDEX messages_search_idx ON messages USING gin (search) WITH (gin_pending_list_limit = 256);

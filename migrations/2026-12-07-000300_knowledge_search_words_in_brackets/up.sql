-- The knowledge base's search had the defect 2026-12-07-000200 fixed for messages: the default
-- parser reads `<details>` or the `<String>` of `Vec<String>` as an HTML tag and `&amp;` as an
-- entity, and neither stemmer indexes them, so a passage's words written that way were never
-- found. Entries are text as admins typed them, not HTML: `<`, `>` and `&` are read as spaces
-- (`translate`), here and on the question's side (`db::queries::knowledge::search`).
-- The column is dropped and added again (PostgreSQL 15 cannot change a generated column's
-- expression), which rewrites the table: a knowledge base is small, this takes moments.
-- As for messages: give up rather than queue every read of the table behind a long wait.
SET LOCAL lock_timeout = '10s';
DROP INDEX kb_passages_search_idx;
ALTER TABLE kb_passages DROP COLUMN search;
ALTER TABLE kb_passages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', translate(title, '<>&', '   ')), 'A')
    || setweight(to_tsvector('german', translate(title, '<>&', '   ')), 'A')
    || setweight(to_tsvector('english', translate(content, '<>&', '   ')), 'B')
    || setweight(to_tsvector('german', translate(content, '<>&', '   ')), 'B')
) STORED;
CREATE INDEX kb_passages_search_idx ON kb_passages USING gin (search);

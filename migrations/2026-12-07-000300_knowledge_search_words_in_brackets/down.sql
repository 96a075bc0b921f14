DROP INDEX kb_passages_search_idx;
ALTER TABLE kb_passages DROP COLUMN search;
ALTER TABLE kb_passages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('german', title), 'A')
    || setweight(to_tsvector('english', content), 'B') || setweight(to_tsvector('german', content), 'B')
) STORED;
CREATE INDEX kb_passages_search_idx ON kb_passages USING gin (search);

-- The assistant's knowledge base (docs/integrations.md, "The assistant"): FAQ entries (a question
-- and its answer) and documents, managed by admins. Retrieval is PostgreSQL full-text search, no
-- vector store: each entry is cut into passages of a few paragraphs, and each passage carries its
-- search vector in English and in German at once (both stemmers over the same text), so a question
-- in either language finds it without knowing the entry's language.
CREATE TABLE kb_entries (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('faq', 'document')),
    -- The question of an FAQ entry, the title of a document.
    title      text NOT NULL,
    -- The answer of an FAQ entry (what the assistant says when it answers without a model), the
    -- text of a document.
    body       text NOT NULL,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_entries_updated_idx ON kb_entries (updated_at DESC, id);

-- Passages are rewritten whole when their entry changes (delete and insert in one transaction).
-- The title is repeated in every passage and weighted above the text, so a passage deep in a
-- document still matches its document's subject.
CREATE TABLE kb_passages (
    entry_id uuid NOT NULL REFERENCES kb_entries (id) ON DELETE CASCADE,
    ord      integer NOT NULL,
    title    text NOT NULL,
    content  text NOT NULL,
    search   tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('german', title), 'A')
        || setweight(to_tsvector('english', content), 'B') || setweight(to_tsvector('german', content), 'B')
    ) STORED,
    PRIMARY KEY (entry_id, ord)
);
CREATE INDEX kb_passages_search_idx ON kb_passages USING gin (search);

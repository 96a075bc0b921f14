-- The admin overview's history (`GET /admin/stats/history`) counts the messages of the last
-- weeks by day. A BRIN index on created_at finds those recent blocks of the table without a
-- B-tree's cost on every insert: messages arrive in created_at order, so the blocks' ranges are
-- narrow, and the hot send path pays next to nothing (ranges are summarised by vacuum).
CREATE INDEX messages_created_brin ON messages USING brin (created_at) WITH (autosummarize = on);

-- The contract says every id is an opaque UUID string; audit entries had a bigserial. Existing
-- entries get a random UUID each. The old number stays, as `seq`: entries written by one
-- transaction share their created_at, and the listing orders by (created_at, seq) newest first,
-- so a page boundary between two such entries is still exact.
ALTER TABLE audit_log RENAME COLUMN id TO seq;
ALTER TABLE audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE audit_log ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE audit_log ALTER COLUMN id DROP DEFAULT;
ALTER TABLE audit_log ADD PRIMARY KEY (id);
DROP INDEX audit_log_created_idx;
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, seq DESC);

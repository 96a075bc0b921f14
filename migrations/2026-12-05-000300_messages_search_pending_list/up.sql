-- The full-text index's pending list (GIN `fastupdate`): new entries are appended to it, and the
-- insert that finds it over `gin_pending_list_limit` moves all of it into the index, inside its
-- own transaction. With the default 4 MB that was the send writer's batch about every 2 s at
-- 10,000 sends/s, 3.5 MB of WAL and 100-160 ms of stalled commits each time (docs/benchmarks.md,
-- "The full-text index's pending list"). 256 kB makes each move a sixteenth of that, no more
-- PostgreSQL CPU was measured, and a search reads a shorter list. Turning the list off
-- (fastupdate = off) costs every insert the index's own update and was slower.
ALTER INDEX messages_search_idx SET (gin_pending_list_limit = 256);

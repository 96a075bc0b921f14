-- What each part of the batch insert costs PostgreSQL: this backend's own CPU (utime + stime from
-- /proc/self/stat, 10 ms ticks) for 1,000 batches of 16 sends, each batch committed as the server
-- commits it, with the statement as it is and with one part taken away (dropped, measured, put
-- back; VACUUM between runs). For scripts/explain-send-batch.sh (superuser: pg_read_file). It
-- changes the schema while it runs: only on a throw-away database.
\pset pager off

CREATE TABLE bench_params AS
SELECT b, array_agg(gen_random_uuid()) AS ids, array_agg(room_id) AS rooms, array_agg(user_id) AS senders,
       array_agg('a message body of a few words, number ' || n) AS bodies, array_agg(md5(random()::text)) AS cmids
FROM (SELECT b, m.room_id, m.user_id, n
      FROM generate_series(1, 1000) b,
           LATERAL (SELECT m.room_id, m.user_id, row_number() OVER () AS n FROM room_members m
                    JOIN rooms r ON r.id = m.room_id AND r.kind = 'group'
                    WHERE b > 0 ORDER BY random() LIMIT 16) m) s
GROUP BY b;
CREATE FUNCTION bench_cpu_ms() RETURNS bigint LANGUAGE sql AS $$
    SELECT (split_part(pg_read_file('/proc/self/stat'), ' ', 14)::bigint
          + split_part(pg_read_file('/proc/self/stat'), ' ', 15)::bigint) * 10 $$;
-- Each run's message ids and client_msg_ids, made before its clock starts (making them is not the
-- statement's work; the server makes ids in Rust): new for every run, random (v4) or time-ordered
-- (UUIDv7's layout: milliseconds, then a counter, then random bits).
CREATE TABLE bench_ids (b int PRIMARY KEY, ids uuid[], cmids text[]);
CREATE PROCEDURE bench_make_ids(time_ordered boolean) LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE bench_ids;
    INSERT INTO bench_ids
    SELECT b, ARRAY(SELECT CASE WHEN time_ordered
                        THEN (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
                              || lpad(to_hex(b * 16 + g), 8, '0') || substr(md5(random()::text), 1, 12))::uuid
                        ELSE gen_random_uuid() END
                    -- b > 0 keeps each array a subquery per batch: with time_ordered folded to
                    -- false it would otherwise be made once and shared by every batch.
                    FROM generate_series(1, 16) g WHERE b > 0),
           ARRAY(SELECT md5(random()::text) FROM generate_series(1, 16) g WHERE b > 0)
    FROM bench_params;
END $$;
CREATE PROCEDURE bench_run(variant text, time_ordered boolean, size int DEFAULT 16, probes boolean DEFAULT true)
LANGUAGE plpgsql AS $$
DECLARE p record; started bigint; n bigint := 0; k bigint; wal pg_lsn;
BEGIN
    CALL bench_make_ids(time_ordered);
    COMMIT;
    started := bench_cpu_ms();
    wal := pg_current_wal_insert_lsn();
    FOR p IN SELECT bp.b, i.ids, bp.rooms, bp.senders, bp.bodies, i.cmids
             FROM bench_params bp JOIN bench_ids i USING (b) ORDER BY bp.b LOOP
        IF size < 16 THEN
            p.ids := p.ids[1:size]; p.rooms := p.rooms[1:size]; p.senders := p.senders[1:size];
            p.bodies := p.bodies[1:size]; p.cmids := p.cmids[1:size];
        END IF;
        WITH input AS (SELECT * FROM unnest(p.ids, p.rooms, p.senders, p.bodies, p.cmids)
                WITH ORDINALITY AS i(id, room_id, sender_id, body, client_msg_id, ord)),
             ok AS (SELECT i.* FROM input i
                    -- probes = false: what checking the room's kind, membership and the
                    -- client_msg_id elsewhere (the room actor's cache) would leave to PostgreSQL.
                    WHERE NOT probes OR (EXISTS (SELECT 1 FROM rooms r WHERE r.id = i.room_id AND r.kind = 'group' OFFSET 0
                   FOR NO KEY UPDATE SKIP LOCKED)
                      AND EXISTS (SELECT 1 FROM room_members m
                           WHERE m.room_id = i.room_id AND m.user_id = i.sender_id OFFSET 0
                           FOR KEY SHARE SKIP LOCKED)
                      AND (i.client_msg_id IS NULL OR NOT EXISTS (SELECT 1 FROM messages x
                           WHERE x.room_id = i.room_id AND x.sender_id = i.sender_id AND x.client_msg_id = i.client_msg_id
                           OFFSET 0)))),
             rejected AS (SELECT i.room_id, i.sender_id, min(i.ord) AS ord FROM input i
                          WHERE NOT EXISTS (SELECT 1 FROM ok WHERE ok.ord = i.ord) GROUP BY i.room_id, i.sender_id),
             taken AS (SELECT ok.* FROM ok WHERE NOT EXISTS (SELECT 1 FROM rejected r
                          WHERE r.room_id = ok.room_id AND r.sender_id = ok.sender_id AND r.ord < ok.ord)),
             counts AS (SELECT room_id, count(*) AS n FROM taken GROUP BY room_id),
             bumped AS (UPDATE rooms SET last_seq = rooms.last_seq + counts.n, last_activity_at = now()
                        FROM counts WHERE rooms.id = counts.room_id RETURNING rooms.id, rooms.last_seq, counts.n),
             numbered AS (SELECT t.id, t.room_id, t.sender_id, t.body, t.client_msg_id,
                                 b.last_seq - b.n + row_number() OVER (PARTITION BY t.room_id ORDER BY t.ord) AS seq
                          FROM taken t JOIN bumped b ON b.id = t.room_id)
        INSERT INTO messages (id, room_id, seq, rev, sender_id, body, reply_to, client_msg_id)
        SELECT id, room_id, seq, seq, sender_id, body, NULL, client_msg_id FROM numbered;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
        COMMIT;
    END LOOP;
    RAISE NOTICE '% | % ms CPU | % sends | % us per send | % WAL bytes per send', variant, bench_cpu_ms() - started, n,
        round((bench_cpu_ms() - started) * 1000.0 / n, 1), round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), wal) / n);
END $$;
\set VERBOSITY terse
-- Warm-up (caches), then each variant; the statement as it is first and last.
CALL bench_run('warm-up', false);
VACUUM ANALYZE messages, rooms;
CALL bench_run('as is', false);
VACUUM ANALYZE messages, rooms;
DROP INDEX messages_search_idx;
CALL bench_run('without the GIN index', false);
-- Put back as migration 2026-12-05-000300 leaves it (a 256 kB pending list).
CREATE INDEX messages_search_idx ON messages USING gin (search) WITH (gin_pending_list_limit = 256);
VACUUM ANALYZE messages, rooms;
ALTER TABLE messages DROP CONSTRAINT messages_reply_to_fkey;
CALL bench_run('without the reply''s foreign key (always NULL here)', false);
ALTER TABLE messages ADD CONSTRAINT messages_reply_to_fkey FOREIGN KEY (reply_to) REFERENCES messages (id) ON DELETE SET NULL;
VACUUM ANALYZE messages, rooms;
-- The sender's foreign key, a trigger on users and a membership lock since migration
-- 2026-12-05-000400 (its check was a query per inserted row through SPI); here on top of the lock.
ALTER TABLE messages ADD CONSTRAINT messages_sender_id_fkey FOREIGN KEY (sender_id) REFERENCES users (id) ON DELETE SET NULL;
CALL bench_run('with the sender''s foreign key as well (before 2026-12-05-000400)', false);
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_fkey;
VACUUM ANALYZE messages, rooms;
-- The room's foreign key, a trigger on rooms since migration 2026-12-05-000100 (its check was a
-- query per inserted row).
ALTER TABLE messages ADD CONSTRAINT messages_room_id_fkey FOREIGN KEY (room_id) REFERENCES rooms (id) ON DELETE CASCADE;
CALL bench_run('with the room''s foreign key (before 2026-12-05)', false);
ALTER TABLE messages DROP CONSTRAINT messages_room_id_fkey;
VACUUM ANALYZE messages, rooms;
DROP INDEX messages_sender_idx;
CALL bench_run('without messages_sender_idx', false);
CREATE INDEX messages_sender_idx ON messages (sender_id, created_at, id);
VACUUM ANALYZE messages, rooms;
CALL bench_run('time-ordered ids', true);
VACUUM ANALYZE messages, rooms;
ALTER TABLE messages DROP COLUMN search;
CALL bench_run('without the tsvector column and its index', false);
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', translate(body, '<>&', '   '))) STORED;
CREATE INDEX messages_search_idx ON messages USING gin (search) WITH (gin_pending_list_limit = 256);
VACUUM ANALYZE messages, rooms;
CALL bench_run('without the kind, membership and client_msg_id probes', false, 16, false);
VACUUM ANALYZE messages, rooms;
ALTER TABLE messages DROP CONSTRAINT messages_room_id_rev_key;
CALL bench_run('without the (room_id, rev) index', false);
ALTER TABLE messages ADD CONSTRAINT messages_room_id_rev_key UNIQUE (room_id, rev);
VACUUM ANALYZE messages, rooms;
CALL bench_run('as is (again)', false);
VACUUM ANALYZE messages, rooms;
-- The plan: planned for each batch's values (custom) or once (generic), as PostgreSQL's plan cache
-- may choose for a prepared statement.
SET plan_cache_mode = force_custom_plan;
CALL bench_run('custom plan every time', false);
VACUUM ANALYZE messages, rooms;
SET plan_cache_mode = force_generic_plan;
CALL bench_run('generic plan', false);
RESET plan_cache_mode;
-- Small batches (a quiet server: one or two sends per commit), with the plan cache left to choose
-- (in a new session: the choice depends on the custom plans seen so far) and with the generic plan.
\connect
CALL bench_run('batches of 2, plan cache left to choose', false, 2);
SET plan_cache_mode = force_generic_plan;
CALL bench_run('batches of 2, generic plan', false, 2);
RESET plan_cache_mode;
-- For scale: the minimal server's table and statement (../shared/bench/ceiling: one primary key,
-- seqs assigned in memory, no checks, no counter row), the same batches.
\connect
CREATE TABLE ceiling_messages (room_id uuid NOT NULL, seq bigint NOT NULL, id uuid NOT NULL,
    sender_id uuid NOT NULL, body text NOT NULL, client_msg_id text, created_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, seq));
CREATE PROCEDURE bench_ceiling() LANGUAGE plpgsql AS $$
DECLARE p record; started bigint; n bigint := 0; k bigint; s bigint := 0; wal pg_lsn;
BEGIN
    CALL bench_make_ids(false);
    COMMIT;
    started := bench_cpu_ms();
    wal := pg_current_wal_insert_lsn();
    FOR p IN SELECT bp.b, i.ids, bp.rooms, bp.senders, bp.bodies, i.cmids
             FROM bench_params bp JOIN bench_ids i USING (b) ORDER BY bp.b LOOP
        INSERT INTO ceiling_messages
        SELECT room_id, s + ord, id, sender_id, body, cmid, now()
        FROM unnest(p.rooms, p.senders, p.bodies, p.ids, p.cmids) WITH ORDINALITY AS i(room_id, sender_id, body, id, cmid, ord);
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
        s := s + 16;
        COMMIT;
    END LOOP;
    RAISE NOTICE 'the minimal server''s statement and table | % ms CPU | % sends | % us per send | % WAL bytes per send',
        bench_cpu_ms() - started, n, round((bench_cpu_ms() - started) * 1000.0 / n, 1),
        round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), wal) / n);
END $$;
CALL bench_ceiling();

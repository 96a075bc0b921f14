-- For scripts/bench-ws.sh with PLAUDER_BENCH_PGSS=1: the statements that took most of
-- PostgreSQL's time, with what each row cost in buffers and WAL (full-page images count once per
-- page after a checkpoint: random keys make more of them), and each statement's mean and slowest
-- execution (a stall in one batch holds every send queued behind it).
\pset pager off
SELECT calls,
       rows,
       round(total_exec_time::numeric, 0) AS total_ms,
       round((total_exec_time * 1000 / greatest(rows, 1))::numeric, 1) AS us_per_row,
       round(mean_exec_time::numeric, 2) AS mean_ms,
       round(max_exec_time::numeric, 1) AS max_ms,
       round(shared_blks_hit::numeric / greatest(rows, 1), 1) AS hit_per_row,
       round(shared_blks_dirtied::numeric / greatest(rows, 1), 2) AS dirtied_per_row,
       round(wal_bytes::numeric / greatest(rows, 1), 0) AS wal_bytes_per_row,
       round(wal_fpi::numeric / greatest(rows, 1), 3) AS fpi_per_row,
       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
FROM pg_stat_statements
ORDER BY total_exec_time DESC
LIMIT 8;

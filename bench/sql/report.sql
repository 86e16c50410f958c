-- bench/sql/report.sql: the result tables of bench/run.sh, from
-- bench.timings.
--
-- Throughput is bronze rows per second of the best timed repetition
-- (warm-ups excluded); ratio = ours / other throughput.  The goal lines
-- compare with the baseline; the "(info)" lines compare with the reference,
-- which shows where the time goes, and have no goal.  No-op runs: the mean
-- latency of the timed calls.

\pset null ''
SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) AS settings
  FROM unnest(ARRAY['shared_buffers', 'work_mem', 'max_wal_size', 'checkpoint_timeout',
                    'fsync', 'synchronous_commit', 'wal_level', 'autovacuum', 'jit',
                    'lakehouse.batch_size']) AS name \gset
\echo 'settings (both sides):' :settings
\echo
\echo 'Summary'
WITH best AS (
    SELECT bench, side, min(seconds) AS secs, max(rows) AS rows
      FROM bench.timings
     WHERE NOT warmup AND bench IN ('silver', 'file')
     GROUP BY bench, side
), pairs AS (
    SELECT o.bench, x.side, o.rows / o.secs AS ours_rps, x.rows / x.secs AS other_rps,
           o.secs AS ours_secs, x.secs AS other_secs
      FROM best o JOIN best x USING (bench)
     WHERE o.side = 'ours' AND x.side <> 'ours'
), noop AS (
    SELECT bench, avg(seconds) * 1000 AS mean_ms,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) * 1000 AS median_ms,
           max(seconds) * 1000 AS max_ms, count(*) AS calls
      FROM bench.timings
     WHERE bench IN ('noop', 'noop_fresh') AND NOT warmup
     GROUP BY bench
), lines AS (
    SELECT CASE p.bench WHEN 'silver' THEN 10 ELSE 20 END
           + CASE p.side WHEN 'baseline' THEN 0 ELSE 1 END AS ord,
           CASE p.bench || '/' || p.side
               WHEN 'silver/baseline' THEN '1. silver stage (quarantine on)'
               WHEN 'silver/reference' THEN '   silver vs floor: dirty rows known, no validation (info)'
               WHEN 'file/baseline' THEN '2. file landing, jsonl (lh_ingest vs COPY)'
               WHEN 'file/reference' THEN '   vs COPY into a bronze-shaped table (info)'
           END AS benchmark,
           to_char(p.ours_rps, 'FM9,999,999') || ' rows/s (' || to_char(p.ours_secs, 'FM990.00') || ' s)' AS ours,
           to_char(p.other_rps, 'FM9,999,999') || ' rows/s (' || to_char(p.other_secs, 'FM990.00') || ' s)' AS baseline,
           to_char(p.ours_rps / p.other_rps, 'FM0.00') AS ratio,
           CASE WHEN p.side = 'reference' THEN '' WHEN p.bench = 'silver' THEN '>= 0.90' ELSE '>= 0.80' END AS goal,
           CASE WHEN p.side = 'reference' THEN ''
                WHEN p.ours_rps / p.other_rps >= CASE p.bench WHEN 'silver' THEN 0.9 ELSE 0.8 END
                THEN 'yes' ELSE 'NO' END AS met
      FROM pairs p
    UNION ALL
    SELECT CASE n.bench WHEN 'noop' THEN 30 ELSE 31 END,
           CASE n.bench WHEN 'noop' THEN '3. no-op incremental lh_run_pipeline'
                ELSE '3b. no-op run right after a landing (before VACUUM)' END,
           to_char(n.mean_ms, 'FM9990.00') || ' ms mean (median ' || to_char(n.median_ms, 'FM9990.00')
               || ', max ' || to_char(n.max_ms, 'FM9990.00') || ', ' || n.calls || ' calls)',
           '', '', '<= 10 ms',
           CASE WHEN n.mean_ms <= 10 THEN 'yes' ELSE 'NO' END
      FROM noop n
)
SELECT benchmark, ours, baseline AS "baseline / reference", ratio, goal, met
  FROM lines
 ORDER BY ord;

\echo 'Repetitions (warm-ups are not counted)'
SELECT bench, side, rep, CASE WHEN warmup THEN 'warm-up' ELSE '' END AS note,
       to_char(seconds, 'FM990.000') AS seconds,
       to_char(rows / seconds, 'FM9,999,999') AS rows_per_s, detail
  FROM bench.timings
 WHERE bench IN ('silver', 'file')
 ORDER BY bench DESC, CASE side WHEN 'ours' THEN 0 WHEN 'baseline' THEN 1 ELSE 2 END, rep;

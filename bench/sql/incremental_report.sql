-- bench/incremental.sh: the result tables (psql, after the last level)
\pset footer off
\echo
\echo 'Per gold query: incremental (refresh: auto, pipeline shop), rebuild (refresh: full, pipeline shop_full,'
\echo 'same data state), dbt-style (delete the affected keys, insert them again); stage times from'
\echo 'lakehouse.run_stages, dbt-style timed with clock_timestamp(); ratio = incremental / rebuild.'
WITH t AS (
    SELECT l.ord, l.level, q.ord AS qord, q.name,
           i.ms AS incr, r.ms AS rebuild, d.ms AS dbt, i.refresh, i.reason
      FROM bench.levels l
      CROSS JOIN bench.queries q
      LEFT JOIN bench.timings i ON i.level = l.level AND i.query = q.name AND i.side = 'incremental'
      LEFT JOIN bench.timings r ON r.level = l.level AND r.query = q.name AND r.side = 'rebuild'
      LEFT JOIN bench.timings d ON d.level = l.level AND d.query = q.name AND d.side = 'dbt'
)
SELECT level AS change, name AS gold_query,
       to_char(incr, 'FM999990.0') AS incr_ms,
       to_char(rebuild, 'FM999990.0') AS rebuild_ms,
       to_char(dbt, 'FM999990.0') AS dbt_ms,
       CASE WHEN rebuild > 0 THEN to_char(100 * incr / rebuild, 'FM99990.0') || '%' END AS incr_vs_rebuild,
       CASE WHEN dbt > 0 THEN to_char(100 * incr / dbt, 'FM99990.0') || '%' END AS incr_vs_dbt,
       refresh, left(reason, 70) AS reason
  FROM t ORDER BY ord, qord;

\echo
\echo 'Per run of pipeline shop (silver + incremental gold) vs its silver stage; the baselines'' totals.'
SELECT l.level AS change, l.inserted, l.updated,
       to_char(l.run_ms, 'FM9999990') AS run_ms,
       to_char(l.ingest_ms, 'FM9999990') AS ingest_ms,
       to_char(l.silver_ms, 'FM9999990') AS silver_ms,
       to_char((SELECT sum(ms) FROM bench.timings t JOIN bench.queries q ON q.name = t.query
                 WHERE t.level = l.level AND t.side = 'incremental'), 'FM9999990') AS gold_ms,
       to_char(l.run_ms / nullif(l.silver_ms, 0), 'FM99990.00') || 'x' AS run_vs_silver,
       to_char(l.full_run_ms, 'FM9999990') AS rebuild_run_ms,
       to_char(l.dbt_ms, 'FM9999990') AS dbt_ms,
       to_char(l.verify_ms, 'FM9999990') AS verify_ms,
       to_char(l.vacuum_ms, 'FM9999990') AS vacuum_ms
  FROM bench.levels l ORDER BY l.ord;

\echo
\echo 'Goals'
WITH t AS (
    SELECT l.level, q.name, i.ms AS incr, r.ms AS rebuild, i.refresh
      FROM bench.levels l CROSS JOIN bench.queries q
      JOIN bench.timings i ON i.level = l.level AND i.query = q.name AND i.side = 'incremental'
      JOIN bench.timings r ON r.level = l.level AND r.query = q.name AND r.side = 'rebuild'
), g AS (
    SELECT 1 AS o, q.ord, format('0.1%%: %s incremental <= 3%% of its rebuild', t.name) AS goal,
           format('%s ms / %s ms = %s%% (%s)', round(t.incr::numeric, 1), round(t.rebuild::numeric, 1),
                  round((100 * t.incr / nullif(t.rebuild, 0))::numeric, 1), t.refresh) AS measured,
           t.incr <= 0.03 * t.rebuild AS met
      FROM t JOIN bench.queries q USING (name) WHERE t.level = '0.1%'
    UNION ALL
    SELECT 2, 0, '0.1%: whole run <= 5x the silver stage',
           format('%s ms / %s ms = %sx', round(l.run_ms::numeric), round(l.silver_ms::numeric),
                  round((l.run_ms / nullif(l.silver_ms, 0))::numeric, 2)),
           l.run_ms <= 5 * l.silver_ms
      FROM bench.levels l WHERE l.level = '0.1%'
    UNION ALL
    SELECT 3, q.ord, format('10%%: %s incremental <= 1.10x its rebuild', t.name),
           format('%s ms / %s ms = %sx (%s)', round(t.incr::numeric, 1), round(t.rebuild::numeric, 1),
                  round((t.incr / nullif(t.rebuild, 0))::numeric, 2), t.refresh),
           t.incr <= 1.10 * t.rebuild
      FROM t JOIN bench.queries q USING (name) WHERE t.level = '10%'
)
SELECT goal, measured, CASE WHEN met THEN 'PASS' ELSE 'MISS' END AS result
  FROM g ORDER BY o, ord;

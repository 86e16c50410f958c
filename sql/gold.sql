--
-- gold: rebuild, append, merge; skipped when nothing changed; failures
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA gd_src;
CREATE TABLE gd_src.sales (id int, region text, amount numeric, updated_at timestamptz);
INSERT INTO gd_src.sales VALUES
 (1, 'north', 10, '2024-01-01'), (2, 'south', 20, '2024-01-02'), (3, 'north', 5, '2024-01-03');

SELECT lakehouse.lh_create_pipeline('gd') > 0 AS ok;
SELECT lakehouse.lh_add_source('gd', 'gd_sales', 'table',
       '{"table": "gd_src.sales", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('gd', 'silver.gd_sales', 'gd_sales',
       '[{"name": "id", "type": "int"}, {"name": "region", "type": "text"},
         {"name": "amount", "type": "numeric"}, {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_gold('gd', 'gold.gd_by_region',
       'SELECT region, sum(amount) AS total, count(*) AS n FROM silver.gd_sales GROUP BY region;') > 0 AS ok;
SELECT lakehouse.lh_define_gold('gd', 'gold.gd_region_merge',
       'SELECT region, max(amount) AS biggest FROM silver.gd_sales GROUP BY region',
       'merge', '{region}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('gd', 'gold.gd_loads',
       'SELECT lakehouse.lh_current_run_id() IS NOT NULL AS in_run, count(*) AS new_rows
          FROM silver.gd_sales WHERE _lh_run_id = lakehouse.lh_current_run_id()',
       'append') > 0 AS ok;

SELECT x->>'stage' AS stage, x->>'target' AS target, x->>'status' AS status, x->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('gd') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT * FROM gold.gd_by_region ORDER BY region;
SELECT * FROM gold.gd_region_merge ORDER BY region;
SELECT * FROM gold.gd_loads;

-- nothing new: gold stages are skipped, tables unchanged
SELECT x->>'stage' AS stage, x->>'status' AS status
  FROM lakehouse.lh_run_pipeline('gd') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT count(*) AS loads FROM gold.gd_loads;

-- new data: rebuild replaces, merge updates only the changed key, append adds
INSERT INTO gd_src.sales VALUES (4, 'south', 50, '2024-01-04');
SELECT x->>'target' AS target, x->>'status' AS status, x->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('gd') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT * FROM gold.gd_by_region ORDER BY region;
SELECT * FROM gold.gd_region_merge ORDER BY region;
SELECT * FROM gold.gd_loads ORDER BY new_rows;

-- full refresh rebuilds even without new data
SELECT x->>'target' AS target, x->>'status' AS status
  FROM lakehouse.lh_run_pipeline('gd', full_refresh => true) AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';

-- a gold SQL that fails at run time: the run records it, earlier stages stay
SELECT lakehouse.lh_define_gold('gd', 'gold.gd_broken',
       'SELECT region, sum(amount) / (count(*) - count(*)) AS ratio FROM silver.gd_sales GROUP BY region') > 0 AS ok;
INSERT INTO gd_src.sales VALUES (5, 'east', 1, '2024-01-05');
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('gd') AS s;
SELECT stage, target, status, error_sqlstate, error_message
  FROM lakehouse.run_stage_details
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'gd')
 ORDER BY stage_no;
SELECT status, failed_stage, error_sqlstate, error_message FROM lakehouse.runs
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'gd');
SELECT event_type, job_name, payload->'run'->'facets'->'errorMessage'->>'message' AS error
  FROM lakehouse.event_outbox
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'gd')
   AND event_type <> 'START' AND job_name NOT LIKE '%.bronze.%'
 ORDER BY event_id;
-- the silver stage of the failed run committed
SELECT count(*) AS silver_rows FROM silver.gd_sales;
SELECT pipeline, last_status, last_failed_stage, last_error FROM lakehouse.pipeline_status WHERE pipeline = 'gd';

SELECT lakehouse.lh_drop_pipeline('gd', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name = 'gd';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'gd';
DROP SCHEMA gd_src CASCADE;

--
-- deps: pipelines that depend on pipelines
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA dp_src;
CREATE TABLE dp_src.a (id int, ts timestamptz);
INSERT INTO dp_src.a VALUES (1, '2024-01-01'), (2, '2024-01-02');

SELECT lakehouse.lh_create_pipeline('dp_up') > 0 AS ok;
SELECT lakehouse.lh_add_source('dp_up', 'dp_a', 'table', '{"table": "dp_src.a", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dp_up', 'silver.dp_a', 'dp_a', '[{"name": "id", "type": "int"}]', '{id}') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('dp_mid', depends_on => '{dp_up}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dp_mid', 'gold.dp_count', 'SELECT count(*) AS n FROM silver.dp_a') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('dp_down') > 0 AS ok;
SELECT lakehouse.lh_add_dependency('dp_down', 'dp_mid');
SELECT lakehouse.lh_add_dependency('dp_down', 'dp_up');
SELECT pipeline, depends_on FROM lakehouse.pipeline_status WHERE pipeline LIKE 'dp_%' ORDER BY 1;

-- running the downstream pipeline runs its upstreams first, each once
SELECT s->>'pipeline' AS pipeline, s->>'status' AS status,
       (SELECT string_agg(u->>'pipeline', ', ') FROM jsonb_array_elements(s->'upstream') u) AS upstream
  FROM lakehouse.lh_run_pipeline('dp_down') AS s;
SELECT pipeline_name, status, parent_run_id IS NOT NULL AS has_parent
  FROM lakehouse.runs WHERE pipeline_name LIKE 'dp_%' ORDER BY run_id;
SELECT n FROM gold.dp_count;
-- upstream => false runs only the named pipeline
SELECT s->'upstream' IS NULL AS no_upstream FROM lakehouse.lh_run_pipeline('dp_down', upstream => false) AS s;

-- cycles are refused
SELECT lakehouse.lh_add_dependency('dp_up', 'dp_down');
SELECT lakehouse.lh_add_dependency('dp_up', 'dp_up');
SELECT lakehouse.lh_create_pipeline('dp_up', depends_on => '{dp_mid}', replace => true);
SELECT lakehouse.lh_create_pipeline('dp_x', depends_on => '{no_such}');
-- a cycle written by hand into the catalog is caught at run time
INSERT INTO lakehouse.pipeline_deps
SELECT u.pipeline_id, d.pipeline_id FROM lakehouse.pipelines u, lakehouse.pipelines d
 WHERE u.name = 'dp_up' AND d.name = 'dp_down';
SELECT lakehouse.lh_run_pipeline('dp_down');
DELETE FROM lakehouse.pipeline_deps WHERE pipeline_id = (SELECT pipeline_id FROM lakehouse.pipelines WHERE name = 'dp_up');

-- an upstream that fails stops the downstream
SELECT lakehouse.lh_define_gold('dp_up', 'gold.dp_fail', 'SELECT 1 / (count(*) - count(*)) AS x FROM silver.dp_a') > 0 AS ok;
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dp_mid') AS s;
SELECT stage, status FROM lakehouse.run_stage_details
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dp_mid');
SELECT lakehouse.lh_drop_table('gold.dp_fail', true);

-- a failed upstream blocks only its dependents: dp_side runs, dp_top does not
SELECT lakehouse.lh_define_gold('dp_up', 'gold.dp_fail', 'SELECT 1 / (count(*) - count(*)) AS x FROM silver.dp_a') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('dp_side') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dp_side', 'gold.dp_side', 'SELECT 1 AS one') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('dp_top', depends_on => '{dp_side,dp_mid}') > 0 AS ok;
SELECT u->>'pipeline' AS pipeline, u->>'status' AS status, u->>'failed_stage' AS failed_stage
  FROM lakehouse.lh_run_pipeline('dp_top') AS s, jsonb_array_elements(s->'upstream') AS u;
SELECT pipeline_name, status, failed_stage FROM lakehouse.runs
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dp_top');
SELECT lakehouse.lh_drop_table('gold.dp_fail', true);
SELECT lakehouse.lh_drop_pipeline('dp_top');
SELECT lakehouse.lh_drop_pipeline('dp_side', drop_tables => true);

-- an upstream cannot be dropped while others depend on it
SELECT lakehouse.lh_drop_pipeline('dp_up');
-- redeclaring without the dependency removes it
SELECT lakehouse.lh_create_pipeline('dp_down', depends_on => '{dp_mid}', replace => true) > 0 AS ok;
SELECT pipeline, depends_on FROM lakehouse.pipeline_status WHERE pipeline = 'dp_down';

SELECT lakehouse.lh_drop_pipeline('dp_down');
SELECT lakehouse.lh_drop_pipeline('dp_mid', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('dp_up', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name LIKE 'dp_%';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name LIKE 'dp_%';
DROP SCHEMA dp_src CASCADE;

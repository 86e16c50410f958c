--
-- run: the ledger, summaries, lh_ingest, nesting, scheduling errors
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA rn_src;
CREATE TABLE rn_src.t (id bigint, v text, ts timestamptz);
INSERT INTO rn_src.t SELECT g, 'v' || g, '2024-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 100) g;

SELECT lakehouse.lh_create_pipeline('rn') > 0 AS ok;
SELECT lakehouse.lh_add_source('rn', 'rn_t', 'table', '{"table": "rn_src.t", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('rn', 'silver.rn_t', 'rn_t',
       '[{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}]', '{id}') > 0 AS ok;

-- the summary: run id, status, totals, stages
SELECT s ? 'run_id' AS has_run_id, s->>'pipeline' AS pipeline, s->>'status' AS status,
       s->>'rows_read' AS read, s->>'rows_written' AS written, s->>'rows_quarantined' AS quarantined,
       s->'failed_stage' AS failed_stage, jsonb_array_length(s->'stages') AS stages
  FROM lakehouse.lh_run_pipeline('rn') AS s;

-- the ledger row and its stages
SELECT pipeline_name, status, run_by = current_user AS by_me, finished_at >= started_at AS timed,
       rows_read, rows_written, rows_quarantined, failed_stage, summary->>'status' AS summary_status
  FROM lakehouse.runs WHERE pipeline_name = 'rn' ORDER BY run_id;
SELECT s.stage_no, s.stage, s.target, s.status, s.rows_read, s.rows_written
  FROM lakehouse.run_stages s JOIN lakehouse.runs r USING (run_id)
 WHERE r.pipeline_name = 'rn' ORDER BY run_id, stage_no;
SELECT pipeline, status, rows_read, rows_written FROM lakehouse.recent_runs WHERE pipeline = 'rn';

-- the run queued OpenLineage START and COMPLETE events (the run and each
-- stage) in the outbox, in its own transaction
SELECT e.event_type, e.pipeline_name, e.job_name,
       e.payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount' AS written,
       e.delivered_at IS NULL AS pending
  FROM lakehouse.event_outbox e
 WHERE e.run_id = (SELECT min(run_id) FROM lakehouse.runs WHERE pipeline_name = 'rn')
 ORDER BY e.event_id;
-- events can be switched off (superuser setting)
SET lakehouse.emit_events = off;
SELECT (lakehouse.lh_run_pipeline('rn'))->>'status' AS status;
SELECT count(*) AS events FROM lakehouse.event_outbox
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'rn');
RESET lakehouse.emit_events;

-- ingest one source alone
INSERT INTO rn_src.t VALUES (101, 'v101', '2024-02-01');
SELECT x->>'stage' AS stage, x->>'rows_written' AS written
  FROM lakehouse.lh_ingest('rn_t') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT count(*) AS bronze_rows FROM bronze.rn_t;
SELECT count(*) AS silver_rows FROM silver.rn_t;
SELECT s->'stages'->1->>'rows_written' AS silver_written FROM lakehouse.lh_run_pipeline('rn') AS s;

-- the run id is visible to every stage and only during the run
SELECT lakehouse.lh_current_run_id() IS NULL AS outside;
SELECT count(DISTINCT _lh_run_id) AS runs_in_bronze FROM bronze.rn_t;
SELECT bool_and(b._lh_run_id IN (SELECT run_id FROM lakehouse.runs)) AS bronze_run_ids_known FROM bronze.rn_t b;

-- a run cannot start a run
SELECT lakehouse.lh_define_gold('rn', 'gold.rn_nested',
       'SELECT (lakehouse.lh_run_pipeline(''rn''))->>''status'' AS s') > 0 AS ok;
INSERT INTO rn_src.t VALUES (102, 'v102', '2024-02-02');
SELECT s->>'status' AS status, s->>'error' AS error FROM lakehouse.lh_run_pipeline('rn') AS s;
SELECT lakehouse.lh_drop_table('gold.rn_nested', true);

-- within one transaction the same pipeline can run again (the lock is ours)
BEGIN;
SELECT (lakehouse.lh_run_pipeline('rn'))->>'status' AS first;
SELECT (lakehouse.lh_run_pipeline('rn'))->>'status' AS second;
COMMIT;

-- stages must see rows committed after the transaction started
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT lakehouse.lh_run_pipeline('rn');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT lakehouse.lh_ingest('rn_t');
ROLLBACK;

-- scheduling needs pg_cron in this database
SELECT lakehouse.lh_schedule('rn', '*/5 * * * *');
SELECT lakehouse.lh_unschedule('rn');
SELECT lakehouse.lh_schedule('no_such_pipeline', '*/5 * * * *');
SELECT lakehouse.lh_schedule('rn', NULL);

-- unknown names
SELECT lakehouse.lh_run_pipeline('no_such_pipeline');
SELECT lakehouse.lh_run_pipeline(NULL);
SELECT lakehouse.lh_ingest('no_such_source');

SELECT lakehouse.lh_drop_pipeline('rn', drop_tables => true);
-- history survives the pipeline
SELECT count(*) > 0 AS history_kept, bool_and(pipeline_id IS NULL) AS detached
  FROM lakehouse.runs WHERE pipeline_name = 'rn';
DELETE FROM lakehouse.runs WHERE pipeline_name = 'rn';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'rn';
DROP SCHEMA rn_src CASCADE;

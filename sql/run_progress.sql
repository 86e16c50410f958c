--
-- run_progress: the runs in flight (lakehouse.run_progress and
-- pipeline_status, from shared memory), and the ledger row of a run whose
-- transaction was cancelled (written afterwards by the database launcher)
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
\set VERBOSITY terse
SELECT lakehouse.lh_create_pipeline('rp') > 0 AS ok;
SELECT lakehouse.lh_add_source('rp', 'rp_gen', 'generate', '{"rows": 50}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('rp', 'silver.rp_n', 'rp_gen',
       '[{"name": "n", "type": "integer", "required": true}]', keys => ARRAY['n']) > 0 AS ok;
-- a gold table that looks at its own run while the run works
SELECT lakehouse.lh_define_gold('rp', 'gold.rp_seen', $$
SELECT p.pipeline, p.stage, p.target, p.stage_no, p.stages, p.step,
       p.run_id = lakehouse.lh_current_run_id() AS own_run, p.pid = pg_backend_pid() AS own_pid,
       p.elapsed >= interval '0' AS timed, p.rows_done, p.rows_total, p.bytes_done, p.percent_done,
       s.run_state, s.current_run_id = p.run_id AS status_run, s.current_stage
  FROM lakehouse.run_progress p JOIN lakehouse.pipeline_status s USING (pipeline)
$$) > 0 AS ok;
SELECT run_state, current_run_id, current_stage FROM lakehouse.pipeline_status WHERE pipeline = 'rp';
SELECT (lakehouse.lh_run_pipeline('rp'))->>'status' AS status;
\x on
SELECT * FROM gold.rp_seen;
\x off
-- afterwards nothing is in flight
SELECT count(*) AS in_flight FROM lakehouse.run_progress WHERE pipeline = 'rp';
SELECT run_state, current_run_id, current_stage, last_status FROM lakehouse.pipeline_status WHERE pipeline = 'rp';
-- the setting for NOTICE lines takes seconds, 0 (off) to an hour
SHOW lakehouse.progress_notice_interval;
SET lakehouse.progress_notice_interval = -1;
SET lakehouse.progress_notice_interval = '2min';
SHOW lakehouse.progress_notice_interval;
RESET lakehouse.progress_notice_interval;

-- a run cancelled by statement_timeout in its last stage: the cancel
-- aborts the transaction and the run's ledger row with it, and the
-- database launcher writes the row again, status cancelled
CREATE FUNCTION pg_temp.wait_cancelled(n integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    -- bounded: a minute at most
    FOR i IN 1 .. 600 LOOP
        IF (SELECT count(*) FROM lakehouse.runs
             WHERE pipeline_name IN ('rp', 'rp_down') AND status = 'cancelled') = n THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END
$$;
SELECT lakehouse.lh_define_gold('rp', 'gold.rp_slow', 'SELECT pg_sleep(60) IS NULL AS slept') > 0 AS ok;
SELECT max(run_id) AS last_run FROM lakehouse.runs WHERE pipeline_name = 'rp' \gset
SET statement_timeout = '1s';
SELECT lakehouse.lh_run_pipeline('rp');
RESET statement_timeout;
SELECT pg_temp.wait_cancelled(1) AS row_written;
SELECT run_id > :last_run AS later_run, pipeline_name, status, failed_stage, error_sqlstate, error_message,
       rows_read, rows_written, finished_at >= started_at AS timed, run_by = current_user AS by_me,
       summary->>'status' AS summary_status, summary->>'rolled_back' AS rolled_back,
       summary->'progress'->>'stage_no' AS stage_no, summary->'progress'->>'stages' AS stages
  FROM lakehouse.runs WHERE pipeline_name = 'rp' AND status = 'cancelled';
-- nothing the cancelled run did was kept: bronze holds the rows of the
-- first run only, and the cancelled run has no stage rows
SELECT count(*) AS bronze_rows FROM bronze.rp_gen;
SELECT count(*) AS stage_rows FROM lakehouse.run_stages s JOIN lakehouse.runs r USING (run_id)
 WHERE r.pipeline_name = 'rp' AND r.status = 'cancelled';
SELECT last_status, last_failed_stage, last_error, run_state FROM lakehouse.pipeline_status WHERE pipeline = 'rp';
SELECT status, error_message FROM lakehouse.recent_runs WHERE pipeline = 'rp' ORDER BY run_id DESC LIMIT 1;

-- the upstream runs of a cancelled call roll back with it: their rows are
-- written again too, as cancelled
SELECT lakehouse.lh_drop_table('gold.rp_slow', drop_data => true);
SELECT lakehouse.lh_create_pipeline('rp_down', depends_on => ARRAY['rp']) > 0 AS ok;
SELECT lakehouse.lh_define_gold('rp_down', 'gold.rp_down_slow', 'SELECT pg_sleep(60) IS NULL AS slept') > 0 AS ok;
SET statement_timeout = '1s';
SELECT lakehouse.lh_run_pipeline('rp_down');
RESET statement_timeout;
SELECT pg_temp.wait_cancelled(3) AS row_written;
SELECT pipeline_name, status, failed_stage, error_message
  FROM lakehouse.runs WHERE pipeline_name IN ('rp', 'rp_down') AND status = 'cancelled'
 ORDER BY run_id;

SELECT lakehouse.lh_drop_pipeline('rp_down', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('rp', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name IN ('rp', 'rp_down');
DELETE FROM lakehouse.event_outbox WHERE pipeline_name IN ('rp', 'rp_down');

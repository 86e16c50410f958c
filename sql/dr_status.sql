--
-- dr_status: this node's role, timeline, replication and WAL archive, and
-- per pipeline the last successful run and the RPO it implies; the
-- disaster-recovery metrics
--
CREATE EXTENSION IF NOT EXISTS lakehouse;

-- the columns and their types
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a
 WHERE a.attrelid = 'lakehouse.dr_status'::regclass AND a.attnum > 0
 ORDER BY a.attnum;

-- the regress instance is a primary without a WAL archive: no standby
-- columns, and the node RPO is unknown, saying why
\x on
SELECT role, timeline > 0 AS has_timeline, wal_receiver, receive_lsn, replay_lsn,
       last_replay_at, replay_lag, archive_mode, archive_failed_count,
       node_rpo, node_rpo_basis, rto_note
  FROM lakehouse.dr_status LIMIT 1;
\x off
-- the timeline is the one this primary writes
SELECT timeline = (SELECT timeline_id FROM pg_control_checkpoint()) AS same_timeline
  FROM lakehouse.dr_status LIMIT 1;
SELECT to_hex(timeline) = ltrim(substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8), '0')
       AS walfile_timeline
  FROM lakehouse.dr_status LIMIT 1;

-- one row per pipeline: a pipeline's RPO is the age of its last success
CREATE SCHEMA dr_src;
CREATE TABLE dr_src.t (id bigint, ts timestamptz);
INSERT INTO dr_src.t SELECT g, '2024-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 5) g;
SELECT lakehouse.lh_create_pipeline('dr_ok') > 0 AS ok;
SELECT lakehouse.lh_add_source('dr_ok', 'dr_t', 'table', '{"table": "dr_src.t", "watermark": "ts"}') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('dr_ok'))->>'status' AS status;
SELECT lakehouse.lh_create_pipeline('dr_never') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dr_never', 'gold.dr_never', 'SELECT 1 / 0 AS x') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('dr_never'))->>'status' AS status;
SELECT d.pipeline, d.last_success_at IS NOT NULL AS succeeded,
       d.last_success_at IS NOT DISTINCT FROM s.last_success_at AS as_pipeline_status,
       d.pipeline_rpo = now() - d.last_success_at AS rpo_is_age
  FROM lakehouse.dr_status d JOIN lakehouse.pipeline_status s USING (pipeline)
 WHERE d.pipeline LIKE 'dr\_%' ORDER BY 1;

-- the metrics: lakehouse_standby 0, no replay lag and no archive age on a
-- primary without archiving (omitted, not 0), a pipeline's last success
SELECT line FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line ~ '^(# TYPE )?lakehouse_(standby|replay_lag_seconds|last_archived_wal_age_seconds)\M'
 ORDER BY line COLLATE "C";
SELECT substring(line from '^[a-z_]+') AS metric,
       split_part(line, ' ', 2)::float8 = (SELECT extract(epoch FROM last_success_at)
                                             FROM lakehouse.dr_status WHERE pipeline = 'dr_ok') AS last_success
  FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE 'lakehouse_%last_success_timestamp_seconds{pipeline="dr\_%'
 ORDER BY 1;

-- a role needs only the view and lh_dr_node() (lh_create_roles grants both
-- to lakehouse_analyst): no privileged function behind the view
CREATE ROLE dr_reader;
GRANT USAGE ON SCHEMA lakehouse TO dr_reader;
GRANT SELECT ON lakehouse.dr_status TO dr_reader;
GRANT EXECUTE ON FUNCTION lakehouse.lh_dr_node() TO dr_reader;
SET ROLE dr_reader;
SELECT role, count(*) FILTER (WHERE pipeline LIKE 'dr\_%') AS pipelines
  FROM lakehouse.dr_status GROUP BY role;
RESET ROLE;
REVOKE ALL ON lakehouse.dr_status FROM dr_reader;
REVOKE ALL ON FUNCTION lakehouse.lh_dr_node() FROM dr_reader;
REVOKE USAGE ON SCHEMA lakehouse FROM dr_reader;
DROP ROLE dr_reader;

SELECT lakehouse.lh_drop_pipeline('dr_ok', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('dr_never', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name IN ('dr_ok', 'dr_never');
DELETE FROM lakehouse.event_outbox WHERE pipeline_name IN ('dr_ok', 'dr_never');
DROP SCHEMA dr_src CASCADE;

--
-- messages: what a new user sees when something is not as expected -- a
-- file pattern that matches nothing, a reset, YAML that does not say what
-- it seems to, a bad schedule, a misspelled name, a widening, a drop
-- expectation at work, lh_create_roles called again
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET client_min_messages = notice;

-- Files are written by the server itself (lo_export runs as its user).
CREATE FUNCTION pg_temp.write_text(path text, content text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo oid;
BEGIN
    lo := lo_from_bytea(0, convert_to(content, 'UTF8'));
    PERFORM lo_export(lo, path);
    PERFORM lo_unlink(lo);
END
$$;

-- the stable parts of a run's summary, one row per stage
CREATE FUNCTION pg_temp.stages(summary jsonb) RETURNS TABLE (
    stage text, status text, rows_read bigint, files bigint, has_files boolean)
LANGUAGE sql AS $$
    SELECT s->>'stage', s->>'status', (s->>'rows_read')::bigint,
           (s->>'files')::bigint, s ? 'files'
      FROM jsonb_array_elements(summary->'stages') AS s
$$;

-- ---------------------------------------------------------------------
-- A file pattern that matches no file says so, and counts files
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_create_pipeline('msg_files') > 0 AS ok;
SELECT lakehouse.lh_add_source('msg_files', 'msg_none', 'file',
       '{"path": "/tmp/lh_msg_regress_none_*.csv", "format": "csv"}') > 0 AS ok;
SELECT * FROM pg_temp.stages(lakehouse.lh_ingest('msg_none'));
-- require_files makes it an error: the stage fails, the run says why
SELECT lakehouse.lh_add_source('msg_files', 'msg_none', 'file',
       '{"path": "/tmp/lh_msg_regress_none_*.csv", "format": "csv", "require_files": true}',
       replace => true) > 0 AS ok;
SET client_min_messages = error;
SELECT (r->>'run_id')::bigint AS failed_run, r->>'status' AS status, r->>'error' AS error,
       r->>'error_detail' AS detail
  FROM lakehouse.lh_ingest('msg_none') AS r \gset
SET client_min_messages = notice;
SELECT :'status' AS status, :'error' AS error, :'detail' AS detail;
SELECT status, error_sqlstate, error_hint FROM lakehouse.run_stages WHERE run_id = :failed_run;
SELECT lakehouse.lh_add_source('msg_files', 'msg_none', 'file',
       '{"path": "/tmp/x.csv", "format": "csv", "require_files": "maybe"}', replace => true);
-- files found are counted, with or without new records; a table source
-- reads no files and reports none
SELECT pg_temp.write_text('/tmp/lh_msg_regress_a.csv', E'id,v\n1,a\n2,b\n');
SELECT pg_temp.write_text('/tmp/lh_msg_regress_b.csv', E'id,v\n3,c\n');
SELECT lakehouse.lh_add_source('msg_files', 'msg_some', 'file',
       '{"path": "/tmp/lh_msg_regress_?.csv", "format": "csv", "require_files": true}') > 0 AS ok;
SELECT * FROM pg_temp.stages(lakehouse.lh_ingest('msg_some'));
SELECT * FROM pg_temp.stages(lakehouse.lh_ingest('msg_some'));
CREATE TABLE msg_files_t (id int, ts timestamptz);
SELECT lakehouse.lh_add_source('msg_files', 'msg_table', 'table',
       '{"table": "msg_files_t", "watermark": "ts"}') > 0 AS ok;
SELECT * FROM pg_temp.stages(lakehouse.lh_ingest('msg_table'));
SELECT lakehouse.lh_drop_pipeline('msg_files', drop_tables => true);
DROP TABLE msg_files_t;

-- ---------------------------------------------------------------------
-- lh_reset_source says where the source will start; without a broker to
-- ask, it keeps the request and says why (the worker resolves it later)
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_create_pipeline('msg_kafka') > 0 AS ok;
BEGIN;
SELECT lakehouse.lh_add_source('msg_kafka', 'msg_clicks', 'kafka',
       '{"brokers": "127.0.0.1:1", "topic": "clicks"}') > 0 AS ok;
SELECT lakehouse.lh_disable_source('msg_clicks');
COMMIT;
\set VERBOSITY terse
SELECT * FROM lakehouse.lh_reset_source('msg_clicks', '2026-11-22 10:00:00+00');
\set VERBOSITY default
SELECT mark_key, mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'msg_clicks' ORDER BY 1;
SELECT lakehouse.lh_drop_pipeline('msg_kafka', drop_tables => true);

-- ---------------------------------------------------------------------
-- YAML: a comma in an unquoted value of a flow mapping, a tab in the
-- indentation, a schedule that is not one
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_apply_config($yaml$
pipeline: msg_yaml
sources:
  - {name: msg_yaml_raw, kind: generate, options: {rows: 3}}
silver:
  - table: silver.msg_yaml
    source: msg_yaml_raw
    columns:
      - {name: id, type: bigint}
      - {name: amount, type: numeric(12,2), min: 0}
$yaml$);
-- the same in options, which are not checked key by key by YAML
SELECT lakehouse.lh_apply_config($yaml$
pipeline: msg_yaml
sources:
  - {name: msg_yaml_raw, kind: generate, options: {rows: 3, note: f(1, 2)}}
$yaml$);
-- a comma elsewhere is fine, and a quoted value keeps it
SELECT lakehouse.lh_apply_config($yaml$
pipeline: msg_yaml
description: a, b (and c)
sources:
  - {name: msg_yaml_raw, kind: generate, options: {rows: 3}}
silver:
  - table: silver.msg_yaml
    source: msg_yaml_raw
    columns:
      - {name: id, type: bigint}
      - {name: amount, type: "numeric(12,2)", min: 0}
$yaml$) ->> 'pipelines' AS applied;
SELECT lakehouse.lh_apply_config(E'pipeline: msg_yaml\nsources:\n\t- name: msg_yaml_raw\n');
SELECT lakehouse.lh_apply_config(E'pipeline: msg_yaml\nsources:\n  - name: msg_yaml_raw\n\t  kind: generate\n');
-- other syntax errors keep the general hint
SELECT lakehouse.lh_apply_config(E'pipeline: msg_yaml\nsources: [a, b\n');
SELECT lakehouse.lh_apply_config($yaml$
pipeline: msg_yaml
schedule: "*/15 * * *"
$yaml$);
SELECT lakehouse.lh_apply_config($yaml$
pipeline: msg_yaml
schedule: 0 25 * * *
$yaml$);

-- ---------------------------------------------------------------------
-- lh_schedule checks the schedule before pg_cron sees it (pg_cron is not
-- installed in this database: a valid schedule gets that far)
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_schedule('msg_yaml', '5 * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '60 * * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '* * 32 * *');
SELECT lakehouse.lh_schedule('msg_yaml', '1/20 * * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '*/0 * * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '* * * foo *');
SELECT lakehouse.lh_schedule('msg_yaml', '5-1 * * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '* * * * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '*/15 * * * *,');
SELECT lakehouse.lh_schedule('msg_yaml', '@fortnightly');
SELECT lakehouse.lh_schedule('msg_yaml', '');
\set VERBOSITY terse
SELECT lakehouse.lh_schedule('msg_yaml', '*/15 * * * *');
SELECT lakehouse.lh_schedule('msg_yaml', '0 3 * * MON-fri');
SELECT lakehouse.lh_schedule('msg_yaml', '0,30 8-18/2 1,15 jan-jun,dec 0-7');
SELECT lakehouse.lh_schedule('msg_yaml', ' @daily ');
SELECT lakehouse.lh_schedule('msg_yaml', '30 seconds');
SELECT lakehouse.lh_schedule('msg_yaml', '0 0 $ * *');
\set VERBOSITY default

-- ---------------------------------------------------------------------
-- "Did you mean ...?" for pipelines, sources and tables
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_define_gold('msg_yaml', 'gold.msg_totals',
       'SELECT count(*) AS n FROM silver.msg_yaml') > 0 AS ok;
SELECT lakehouse.lh_run_pipeline('msg_yml');
SELECT lakehouse.lh_run_pipeline('Msg_Yaml');
SELECT lakehouse.lh_run_pipeline('something else');
SELECT lakehouse.lh_ingest('msg_yaml_rw');
SELECT lakehouse.lh_disable_source('msg_yaml_raw_');
SELECT lakehouse.lh_add_expectation('silver.msg_yml', 'not_null', '"id"');
SELECT lakehouse.lh_add_expectation('msg_yml', 'not_null', '"id"');
SELECT lakehouse.lh_drop_table('gold.msg_total');
SELECT lakehouse.lh_set_schema_policy('silver.msg_yamll', 'strict');
-- a gold table is no silver table
SELECT lakehouse.lh_set_schema_policy('msg_totals', 'strict');
SELECT lakehouse.lh_add_expectation('silver.msg_yaml', 'relationships',
       '{"column": "id", "to": "msg_total", "field": "n"}');
SELECT lakehouse.lh_attach_contract('msg_totls', '{}');
SELECT lakehouse.lh_apply_config($yaml$
pipeline: msg_dependent
depends_on: [msg_yml]
$yaml$);
SELECT lakehouse.lh_apply_config($yaml$
pipelines:
  - {pipeline: msg_first}
  - {pipeline: msg_second, depends_on: [msg_frist]}
$yaml$);
-- three names at one distance: no guess
SELECT lakehouse.lh_create_pipeline('msg_ab') > 0, lakehouse.lh_create_pipeline('msg_ac') > 0,
       lakehouse.lh_create_pipeline('msg_ad') > 0;
SELECT lakehouse.lh_run_pipeline('msg_ax');
SELECT lakehouse.lh_drop_pipeline('msg_ad');
SELECT lakehouse.lh_run_pipeline('msg_ax');
SELECT lakehouse.lh_drop_pipeline(p) FROM unnest(ARRAY['msg_ab', 'msg_ac']) AS p;
-- only to roles that may read the names anyway
CREATE ROLE regress_msg_nobody;
GRANT USAGE ON SCHEMA lakehouse TO regress_msg_nobody;
GRANT EXECUTE ON FUNCTION lakehouse.lh_run_pipeline(text, boolean, boolean, boolean),
    lakehouse.lh_ingest(text) TO regress_msg_nobody;
SET ROLE regress_msg_nobody;
SELECT lakehouse.lh_run_pipeline('msg_yml');
SELECT lakehouse.lh_ingest('msg_yaml_rw');
RESET ROLE;
REVOKE ALL ON SCHEMA lakehouse FROM regress_msg_nobody;
REVOKE ALL ON FUNCTION lakehouse.lh_run_pipeline(text, boolean, boolean, boolean),
    lakehouse.lh_ingest(text) FROM regress_msg_nobody;
DROP ROLE regress_msg_nobody;
SELECT lakehouse.lh_drop_pipeline('msg_yaml', drop_tables => true);

-- ---------------------------------------------------------------------
-- Widening: integers into numeric(p,s) whose p - s holds every value
-- ---------------------------------------------------------------------
CREATE SCHEMA msg_src;
CREATE TABLE msg_src.items (id bigint, i2 smallint, i4 integer, i8 bigint,
                            n numeric, ts timestamptz);
SELECT lakehouse.lh_create_pipeline('msg_evo') > 0 AS ok;
SELECT lakehouse.lh_add_source('msg_evo', 'msg_items', 'table',
       '{"table": "msg_src.items", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('msg_evo', 'silver.msg_items', 'msg_items',
       '[{"name": "id", "type": "bigint"}, {"name": "i2", "type": "smallint"},
         {"name": "i4", "type": "integer"}, {"name": "i8", "type": "bigint"},
         {"name": "f4", "type": "integer"}, {"name": "n", "type": "numeric(10,2)"}]',
       keys => '{id}') > 0 AS ok;
-- refused under the default policy (additive): too few integer digits
ALTER TABLE silver.msg_items ALTER COLUMN i4 TYPE numeric(11,2);
ALTER TABLE silver.msg_items ALTER COLUMN i2 TYPE numeric(6,2);
ALTER TABLE silver.msg_items ALTER COLUMN i8 TYPE numeric(20,2);
ALTER TABLE silver.msg_items ALTER COLUMN i4 TYPE numeric(12,-2);
ALTER TABLE silver.msg_items ALTER COLUMN f4 TYPE real;
ALTER TABLE silver.msg_items ALTER COLUMN n TYPE numeric(11,4);
-- accepted: widenings
ALTER TABLE silver.msg_items ALTER COLUMN i4 TYPE numeric(12,2);
ALTER TABLE silver.msg_items ALTER COLUMN i2 TYPE numeric(5,0);
ALTER TABLE silver.msg_items ALTER COLUMN i8 TYPE numeric(19);
ALTER TABLE silver.msg_items ALTER COLUMN f4 TYPE double precision;
ALTER TABLE silver.msg_items ALTER COLUMN n TYPE numeric(12,4);
SELECT change_kind, column_name, old_definition, new_definition, breaking
  FROM lakehouse.schema_history WHERE table_name = 'silver.msg_items' ORDER BY change_id;
-- a declaration that widens is applied as such, one that narrows is refused
SELECT lakehouse.lh_define_silver('msg_evo', 'silver.msg_items', 'msg_items',
       '[{"name": "id", "type": "bigint"}, {"name": "i2", "type": "numeric(5,0)"},
         {"name": "i4", "type": "numeric(12,2)"}, {"name": "i8", "type": "numeric(19)"},
         {"name": "f4", "type": "double precision"}, {"name": "n", "type": "numeric(12,4)"},
         {"name": "extra", "type": "smallint"}]',
       keys => '{id}', replace => true) > 0 AS ok;
SELECT lakehouse.lh_define_silver('msg_evo', 'silver.msg_items', 'msg_items',
       '[{"name": "id", "type": "bigint"}, {"name": "i2", "type": "numeric(5,0)"},
         {"name": "i4", "type": "numeric(12,2)"}, {"name": "i8", "type": "numeric(19)"},
         {"name": "f4", "type": "double precision"}, {"name": "n", "type": "numeric(12,4)"},
         {"name": "extra", "type": "numeric(4,0)"}]',
       keys => '{id}', replace => true);
SELECT lakehouse.lh_define_silver('msg_evo', 'silver.msg_items', 'msg_items',
       '[{"name": "id", "type": "bigint"}, {"name": "i2", "type": "numeric(5,0)"},
         {"name": "i4", "type": "numeric(12,2)"}, {"name": "i8", "type": "numeric(19)"},
         {"name": "f4", "type": "double precision"}, {"name": "n", "type": "numeric(12,4)"},
         {"name": "extra", "type": "numeric(7,2)"}]',
       keys => '{id}', replace => true) > 0 AS ok;
SELECT change_kind, column_name, old_definition, new_definition, breaking
  FROM lakehouse.schema_history WHERE table_name = 'silver.msg_items' AND via <> 'ddl'
 ORDER BY change_id;
SELECT lakehouse.lh_drop_pipeline('msg_evo', drop_tables => true);
DROP SCHEMA msg_src CASCADE;

-- ---------------------------------------------------------------------
-- dq_summary: a drop expectation that dropped rows did its job
-- ---------------------------------------------------------------------
CREATE SCHEMA msg_dq;
CREATE TABLE msg_dq.orders (id text, amount text, status text, ts timestamptz);
INSERT INTO msg_dq.orders VALUES ('1', '10', 'new', '2024-01-01'), ('2', '-3', 'new', '2024-01-02'),
                                 ('3', '7', 'bogus', '2024-01-03');
SELECT lakehouse.lh_create_pipeline('msg_dq') > 0 AS ok;
SELECT lakehouse.lh_add_source('msg_dq', 'msg_dq_orders', 'table',
       '{"table": "msg_dq.orders", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('msg_dq', 'silver.msg_dq_orders', 'msg_dq_orders',
       '[{"name": "id", "type": "bigint"}, {"name": "amount", "type": "numeric"},
         {"name": "status", "type": "text"}, {"name": "ts", "type": "timestamptz"}]',
       keys => '{id}') > 0 AS ok;
SELECT lakehouse.lh_add_expectation('silver.msg_dq_orders', 'between', '{"column": "amount", "min": 0}',
       severity => 'drop', name => 'amount_ok');
SELECT lakehouse.lh_run_pipeline('msg_dq') ->> 'status' AS status;
SELECT expectation, severity, success, unexpected_count, rows_dropped
  FROM lakehouse.dq_results WHERE table_name = 'silver.msg_dq_orders' ORDER BY result_id;
SELECT table_name, expectations, passed, failed, dropped, failed_fail, score, trend
  FROM lakehouse.dq_summary WHERE table_name = 'silver.msg_dq_orders';
-- a warning that fails lowers the score; the drop still counts as done
SELECT lakehouse.lh_add_expectation('silver.msg_dq_orders', 'accepted_values',
       '{"column": "status", "values": ["new"]}', name => 'status_known');
INSERT INTO msg_dq.orders VALUES ('4', '-1', 'new', '2024-01-04'), ('5', '1', 'lost', '2024-01-05');
SELECT lakehouse.lh_run_pipeline('msg_dq') ->> 'status' AS status;
SELECT table_name, expectations, passed, failed, dropped, failed_fail, score, previous_score, trend
  FROM lakehouse.dq_summary WHERE table_name = 'silver.msg_dq_orders';
-- lh_check applies nothing: its drop result is judged on the table's rows,
-- and a failing one is a failure (rows that break the rule are in it)
UPDATE silver.msg_dq_orders SET amount = -9 WHERE id = 1;
SELECT expectation, success FROM lakehouse.lh_check('silver.msg_dq_orders') ORDER BY 1;
SELECT table_name, expectations, passed, failed, dropped, score
  FROM lakehouse.dq_summary WHERE table_name = 'silver.msg_dq_orders';
SELECT lakehouse.lh_drop_pipeline('msg_dq', drop_tables => true);
DELETE FROM lakehouse.dq_results WHERE table_name = 'silver.msg_dq_orders';
DELETE FROM lakehouse.quarantine WHERE target_table = 'silver.msg_dq_orders';
DROP SCHEMA msg_dq CASCADE;

-- ---------------------------------------------------------------------
-- lh_create_roles says nothing about what already exists
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_create_roles() AS created;
SELECT lakehouse.lh_create_roles() AS created_again;
DROP OWNED BY lakehouse_admin;
DROP OWNED BY lakehouse_engineer;
DROP OWNED BY lakehouse_operator;
DROP OWNED BY lakehouse_analyst;
DROP OWNED BY lakehouse_pii_reader;
DROP ROLE lakehouse_admin, lakehouse_engineer, lakehouse_operator, lakehouse_analyst,
    lakehouse_pii_reader;
DROP SCHEMA lakehouse_masked;

-- this test's runs and files
DELETE FROM lakehouse.runs WHERE pipeline_name LIKE 'msg\_%';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name LIKE 'msg\_%';
DELETE FROM lakehouse.audit_log;

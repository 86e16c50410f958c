--
-- quarantine: rules apart from values, every rule of a row, replay after a
-- mapping fix, discard, and rows that go with their table
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET client_min_messages = error;
SELECT lakehouse.lh_create_roles() IS NOT NULL AS roles;
RESET client_min_messages;
SELECT coalesce(max(audit_id), 0) AS audit_start FROM lakehouse.audit_log \gset

CREATE SCHEMA qt_src;
CREATE TABLE qt_src.items (id text, sku text, qty text, price text, updated_at timestamptz);
INSERT INTO qt_src.items VALUES
 ('1', 'abc-1', '5', '10', '2024-01-01 00:00+00'),
 ('1', 'abc-1', '300', '10', '2023-12-31 00:00+00'),   -- an older version, qty above max
 ('2', 'abc-2', 'x', '1', '2024-01-02 00:00+00'),      -- qty: four different values
 ('3', 'abc-3', 'y', '1', '2024-01-03 00:00+00'),      --  that are not integers
 ('4', 'abc-4', 'z', '1', '2024-01-04 00:00+00'),
 ('5', 'abc-5', 'many', '1', '2024-01-05 00:00+00'),
 ('6', 'abc-6', '150', '1', '2024-01-06 00:00+00'),    -- qty above max
 ('7', 'abc-7', '200', '1', '2024-01-07 00:00+00'),
 ('8', 'ABC-8', '1', '1', '2024-01-08 00:00+00'),      -- sku fails a drop expectation
 ('9', 'ABC-9', '1', '1', '2024-01-09 00:00+00'),
 ('10', NULL, 'lots', '-5', '2024-01-10 00:00+00'),    -- three rules at once
 ('11', 'abc-11', 'oops', '1', '2024-01-11 00:00+00'), -- qty untyped: qty_present not judged
 ('12', 'abc-12', NULL, '1', '2024-01-12 00:00+00'),   -- qty missing: qty_present fails
 ('14', 'XYZ-14', '2000', '1', '2024-01-14 00:00+00'); -- max and sku_format

SELECT lakehouse.lh_create_pipeline('qt') > 0 AS ok;
SELECT lakehouse.lh_add_source('qt', 'qt_items', 'table',
       '{"table": "qt_src.items", "watermark": "updated_at"}') > 0 AS ok;
CREATE TEMP TABLE qt_mapping AS SELECT
 '[{"name": "id", "type": "bigint", "required": true},
   {"name": "sku", "type": "text", "required": true},
   {"name": "qty", "type": "integer", "min": "0", "max": "100"},
   {"name": "price", "type": "numeric(8,2)"},
   {"name": "updated_at", "type": "timestamptz"}]'::jsonb AS v1,
 '[{"name": "id", "type": "bigint", "required": true},
   {"name": "sku", "type": "text", "required": true, "transforms": ["lower"]},
   {"name": "qty", "type": "integer", "min": "0", "max": "1000"},
   {"name": "price", "type": "numeric(8,2)"},
   {"name": "updated_at", "type": "timestamptz"}]'::jsonb AS v2;
SELECT lakehouse.lh_define_silver('qt', 'silver.qt_items', 'qt_items', v1,
       keys => '{id}', order_by => 'updated_at') > 0 AS ok FROM qt_mapping;
SELECT lakehouse.lh_add_expectation('silver.qt_items', 'match_regex',
       '{"column": "sku", "regex": "^[a-z]+-[0-9]+$"}', severity => 'drop', name => 'sku_format');
SELECT lakehouse.lh_add_expectation('silver.qt_items', 'between',
       '{"column": "price", "min": 0}', severity => 'drop', name => 'price_non_negative');
SELECT lakehouse.lh_add_expectation('silver.qt_items', 'not_null',
       '"qty"', severity => 'drop', name => 'qty_present');
SELECT lakehouse.lh_define_gold('qt', 'gold.qt_counts',
       'SELECT count(*) AS items, sum(qty) AS qty FROM silver.qt_items') > 0 AS ok;

SELECT s->'stages'->1->>'rows_read' AS read, s->'stages'->1->>'rows_written' AS written,
       s->'stages'->1->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qt') AS s;

-- one quarantine row per refused row; its rule names the kind of rule, the
-- value is apart; every rule it breaks is in violations
SELECT payload->>'id' AS id, column_name, rule, value, jsonb_array_length(violations) AS rules
  FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items'
 ORDER BY (payload->>'id')::int, payload->>'updated_at';
-- row 10 breaks three rules (typing, required, a drop expectation); row 11's
-- qty could not be typed, so qty_present is not judged on it
SELECT v->>'column' AS "column", v->>'rule' AS rule, v->>'value' AS value, v->>'reason' AS reason
  FROM lakehouse.quarantine q, jsonb_array_elements(q.violations) AS v
 WHERE q.target_table = 'silver.qt_items' AND q.payload->>'id' IN ('10', '11', '14')
 ORDER BY (q.payload->>'id')::int, v->>'rule';

-- the summary: one line per table, column and rule, whatever the values
SELECT target_table, column_name, rule, rows, distinct_values, example_value, reason
  FROM lakehouse.quarantine_summary WHERE pipeline = 'qt' ORDER BY column_name, rule;
-- a row counts once in the run, however many rules it breaks
SELECT rows_read, rows_written, rows_quarantined, rows_skipped
  FROM lakehouse.run_stage_details
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qt')
   AND stage = 'silver';
SELECT id, sku, qty FROM silver.qt_items ORDER BY id;

-- ---------------------------------------------------------------------
-- replay after a mapping fix: sku lower-cased, a higher maximum
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_define_silver('qt', 'silver.qt_items', 'qt_items', v2,
       keys => '{id}', order_by => 'updated_at', replace => true) > 0 AS ok FROM qt_mapping;
-- those ids only
SELECT quarantine_id AS q6 FROM lakehouse.quarantine
 WHERE target_table = 'silver.qt_items' AND payload->>'id' = '6' \gset
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_items', ARRAY[:q6]::bigint[]);
SELECT id, sku, qty FROM silver.qt_items WHERE id = 6;
SELECT count(*) AS left_for_6 FROM lakehouse.quarantine WHERE payload->>'id' = '6';
-- the rest: rows that pass land (the older version of 1 leaves quarantine
-- but does not replace the newer row), the others stay with their new rules
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_items');
SELECT id, sku, qty FROM silver.qt_items ORDER BY id;
SELECT payload->>'id' AS id, column_name, rule, value, reason, jsonb_array_length(violations) AS rules
  FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items'
 ORDER BY (payload->>'id')::int;
-- replayed rows carry an id of the run sequence that no run has, which is
-- the table's changed_run mark: the next run builds the gold table again
SELECT count(DISTINCT _lh_run_id) AS replay_ids,
       bool_and(_lh_run_id::text = (SELECT m.mark_value FROM lakehouse.stage_marks m
                                     JOIN lakehouse.tables t USING (table_id)
                                    WHERE t.table_name = 'qt_items' AND m.mark_key = 'changed_run'))
         AS is_changed_run,
       bool_and(NOT EXISTS (SELECT 1 FROM lakehouse.runs r WHERE r.run_id = _lh_run_id)) AS no_run_row
  FROM silver.qt_items WHERE id IN (7, 8, 9);
SELECT items, qty FROM gold.qt_counts;
SELECT s->'stages'->2->>'status' AS gold_stage FROM lakehouse.lh_run_pipeline('qt') AS s;
SELECT items, qty FROM gold.qt_counts;
-- nothing changed since: replaying again lands nothing and changes nothing
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_items');
SELECT s->'stages'->2->>'status' AS gold_stage FROM lakehouse.lh_run_pipeline('qt') AS s;

-- errors
SELECT * FROM lakehouse.lh_replay_quarantine(NULL);
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_nothing');
SELECT * FROM lakehouse.lh_replay_quarantine('gold.qt_counts');
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_items', ARRAY[0, -1]::bigint[]);
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_items', ARRAY[NULL]::bigint[]);
-- only those who may alter the pipeline
CREATE ROLE regress_qt_other LOGIN IN ROLE lakehouse_engineer;
SET ROLE regress_qt_other;
SELECT * FROM lakehouse.lh_replay_quarantine('silver.qt_items');
SELECT lakehouse.lh_discard_quarantine('qt_items');
RESET ROLE;
DROP ROLE regress_qt_other;

-- ---------------------------------------------------------------------
-- discard
-- ---------------------------------------------------------------------
SELECT quarantine_id AS q2 FROM lakehouse.quarantine
 WHERE target_table = 'silver.qt_items' AND payload->>'id' = '2' \gset
SELECT lakehouse.lh_discard_quarantine('silver.qt_items', ARRAY[:q2]::bigint[]);
SELECT lakehouse.lh_discard_quarantine('silver.qt_items', '{}');
SELECT count(*) AS quarantined FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items';
-- an unqualified name: silver first
SELECT lakehouse.lh_discard_quarantine('qt_items');
SELECT count(*) AS quarantined FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items';
-- both are in the audit log, with their counts
SELECT action, object_kind, object_name, details - 'replay_id' AS details,
       (details ? 'replay_id') AS has_replay_id
  FROM lakehouse.audit_log
 WHERE audit_id > :audit_start AND action IN ('replay_quarantine', 'discard_quarantine')
 ORDER BY audit_id;

-- ---------------------------------------------------------------------
-- a data contract's quarantine: every rule of every column
-- ---------------------------------------------------------------------
CREATE TABLE public.qt_plain (id integer, code text);
SELECT lakehouse.lh_attach_contract('public.qt_plain', '{"apiVersion": "v3.1.0", "kind": "DataContract",
  "id": "qt-plain", "version": "1.0.0", "status": "active",
  "schema": [{"name": "qt_plain", "properties": [
     {"name": "id", "logicalType": "integer", "required": true, "logicalTypeOptions": {"maximum": 10}},
     {"name": "code", "logicalType": "string",
      "logicalTypeOptions": {"maxLength": 3, "pattern": "^[A-Z]+$"}}]}]}',
  on_violation => 'quarantine') IS NOT NULL AS attached;
INSERT INTO public.qt_plain VALUES (1, 'AB'), (2, 'abcd'), (20, 'CD'), (NULL, 'toolong'), (30, 'x');
SELECT id, code FROM public.qt_plain ORDER BY id;
SELECT payload->>'code' AS code, column_name, rule, value,
       (SELECT string_agg((v->>'column') || ':' || (v->>'rule'), ', ' ORDER BY o)
          FROM jsonb_array_elements(violations) WITH ORDINALITY AS x(v, o)) AS all_rules
  FROM lakehouse.quarantine WHERE target_table = 'public.qt_plain' ORDER BY quarantine_id;
SELECT pipeline, column_name, rule, rows, reason
  FROM lakehouse.quarantine_summary WHERE target_table = 'public.qt_plain'
 ORDER BY column_name, rule;
-- a table no pipeline declares: its owner discards by name; no replay
SELECT * FROM lakehouse.lh_replay_quarantine('public.qt_plain');
SELECT quarantine_id AS qp FROM lakehouse.quarantine
 WHERE target_table = 'public.qt_plain' AND payload->>'code' = 'CD' \gset
SELECT lakehouse.lh_discard_quarantine('public.qt_plain', ARRAY[:qp]::bigint[]);
-- unqualified names are looked up in silver and gold only
SELECT lakehouse.lh_discard_quarantine('qt_plain');
-- dropping the table takes its rows along
SELECT count(*) FROM lakehouse.quarantine WHERE target_table = 'public.qt_plain';
DROP TABLE public.qt_plain;
SELECT count(*) AS left_after_drop FROM lakehouse.quarantine WHERE target_table = 'public.qt_plain';
-- DROP SCHEMA too
CREATE SCHEMA qt_other;
CREATE TABLE qt_other.t (id integer);
SELECT lakehouse.lh_attach_contract('qt_other.t', '{"apiVersion": "v3.1.0", "kind": "DataContract",
  "id": "qt-other", "version": "1.0.0", "status": "active",
  "schema": [{"name": "t", "properties": [
     {"name": "id", "logicalType": "integer", "logicalTypeOptions": {"minimum": 0}}]}]}',
  on_violation => 'quarantine') IS NOT NULL AS attached;
INSERT INTO qt_other.t VALUES (-1), (-2);
SELECT count(*) FROM lakehouse.quarantine WHERE target_table = 'qt_other.t';
DROP SCHEMA qt_other CASCADE;
SELECT count(*) AS left_after_drop FROM lakehouse.quarantine WHERE target_table = 'qt_other.t';

-- ---------------------------------------------------------------------
-- a gold table rebuilt every run: its contract's quarantine is replaced,
-- not repeated
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_define_gold('qt', 'gold.qt_big', 'SELECT id, qty FROM silver.qt_items') > 0 AS ok;
SELECT lakehouse.lh_attach_contract('gold.qt_big', '{"apiVersion": "v3.1.0", "kind": "DataContract",
  "id": "qt-big", "version": "1.0.0", "status": "active",
  "schema": [{"name": "qt_big", "properties": [
     {"name": "id", "logicalType": "integer"},
     {"name": "qty", "logicalType": "integer", "logicalTypeOptions": {"maximum": 100}}]}]}',
  on_violation => 'quarantine') IS NOT NULL AS attached;
SELECT x->>'target' AS target, x->>'rows_written' AS written, x->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qt') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'target' = 'gold.qt_big';
INSERT INTO qt_src.items VALUES ('15', 'abc-15', '3', '1', '2024-01-15 00:00+00');
SELECT x->>'target' AS target, x->>'rows_written' AS written, x->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qt') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'target' = 'gold.qt_big';
SELECT payload->>'id' AS id, rule, value FROM lakehouse.quarantine
 WHERE target_table = 'gold.qt_big' ORDER BY (payload->>'id')::int;

-- ---------------------------------------------------------------------
-- rows go with their table's registration
-- ---------------------------------------------------------------------
INSERT INTO qt_src.items VALUES
 ('16', 'abc-16', 'bad', '1', '2024-01-16 00:00+00'),
 ('17', 'abc-17', 'worse', '1', '2024-01-17 00:00+00');
SELECT s->'stages'->1->>'rows_quarantined' AS quarantined FROM lakehouse.lh_run_pipeline('qt') AS s;
SELECT count(*) AS silver_rows FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items';
-- unregistered (the data stays): its rows go
SELECT lakehouse.lh_drop_table('gold.qt_big', drop_data => true);
SELECT lakehouse.lh_drop_table('gold.qt_counts', drop_data => true);
SELECT lakehouse.lh_drop_table('silver.qt_items');
SELECT count(*) AS silver_rows FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items';
-- registered again under a new table_id, it projects bronze again: every
-- bad row is quarantined once, not twice
SELECT lakehouse.lh_define_silver('qt', 'silver.qt_items', 'qt_items', v2,
       keys => '{id}', order_by => 'updated_at') > 0 AS ok FROM qt_mapping;
SELECT s->'stages'->1->>'rows_quarantined' AS quarantined FROM lakehouse.lh_run_pipeline('qt') AS s;
SELECT count(*) AS silver_rows, count(DISTINCT payload->>'id') AS distinct_ids,
       count(*) FILTER (WHERE table_id = (SELECT table_id FROM lakehouse.tables
                                           WHERE table_name = 'qt_items')) AS of_new_table
  FROM lakehouse.quarantine WHERE target_table = 'silver.qt_items';
SELECT column_name, rule, rows FROM lakehouse.quarantine_summary
 WHERE pipeline = 'qt' ORDER BY column_name, rule;
-- dropping the pipeline takes the rest
SELECT lakehouse.lh_drop_pipeline('qt', drop_tables => true);
SELECT count(*) AS left_after_drop FROM lakehouse.quarantine WHERE target_table LIKE '%qt\_%';

DELETE FROM lakehouse.runs WHERE pipeline_name = 'qt';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'qt';
DROP SCHEMA qt_src CASCADE;

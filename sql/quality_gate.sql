--
-- quality_gate: expectations as gates of pipeline runs (warn, drop, fail),
-- incremental checks, results per run, YAML declarations
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA qg_src;
CREATE TABLE qg_src.orders (id text, customer text, status text, amount text,
                            updated_at timestamptz);
INSERT INTO qg_src.orders VALUES
 ('1', 'c1', 'new',   '10', '2024-01-01'),
 ('2', 'c2', 'paid',  '-3', '2024-01-02'),
 ('3', NULL, 'bogus', '7',  '2024-01-03'),
 ('4', 'c4', 'new',   NULL, '2024-01-04');

SELECT lakehouse.lh_create_pipeline('qg') > 0 AS ok;
SELECT lakehouse.lh_add_source('qg', 'qg_orders', 'table',
       '{"table": "qg_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('qg', 'silver.qg_orders', 'qg_orders',
       '[{"name": "id", "type": "bigint"}, {"name": "customer", "type": "text"},
         {"name": "status", "type": "text"}, {"name": "amount", "type": "numeric"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_gold('qg', 'gold.qg_totals',
       'SELECT status, count(*) AS orders, sum(amount) AS amount FROM silver.qg_orders GROUP BY status') > 0 AS ok;

-- samples come in scan order, which depends on the plan: sorted for the tests
-- (and whole rows without the run and bronze ids, which vary)
CREATE FUNCTION dq_sorted(j jsonb) RETURNS jsonb LANGUAGE sql STRICT AS
$$ SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(x) = 'object'
                                  THEN x - '_lh_run_id' - '_lh_bronze_id' ELSE x END
                             ORDER BY x), '[]')
     FROM jsonb_array_elements(j) x $$;

-- warn records only; drop sends failing silver rows to quarantine
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'not_null', '"customer"');
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'between', '{"column": "amount", "min": 0}',
       severity => 'drop', name => 'amount_non_negative');
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'accepted_values',
       '{"column": "status", "values": ["new", "paid"]}', severity => 'drop', name => 'known_status');
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'row_condition',
       '{"condition": "amount < 1000"}', severity => 'drop', "where" => 'status = ''paid''',
       name => 'paid_below_1000');
SELECT lakehouse.lh_add_expectation('gold.qg_totals', 'row_count_between', '{"max": 10}', severity => 'fail');
-- what bronze delivered is in silver or in quarantine
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'control_total', '{"column": "amount"}',
       severity => 'fail');

-- drop is for silver rows, and for checks made on the row itself
SELECT lakehouse.lh_add_expectation('gold.qg_totals', 'not_null', '"status"', severity => 'drop');
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'unique', '"customer"', severity => 'drop');
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'row_condition',
       '{"condition": "customer IN (SELECT customer FROM silver.qg_orders)"}', severity => 'drop');

SELECT s->>'status' AS status, s->>'rows_read' AS read, s->>'rows_written' AS written,
       s->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qg') AS s;
SELECT id, customer, status, amount FROM silver.qg_orders ORDER BY id;
SELECT bronze_id > 0 AS has_bronze_id, column_name, value, reason
  FROM lakehouse.quarantine WHERE target_table = 'silver.qg_orders' ORDER BY bronze_id;
SELECT stage, rows_read, rows_written, rows_quarantined, rows_skipped
  FROM lakehouse.run_stages WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
 ORDER BY stage_no;

-- the results of the run: incremental for silver (the rows of the run), full for gold
SELECT r.table_name, r.expectation, r.mode, r.severity, r.success, r.element_count,
       r.unexpected_count, r.missing_count, r.observed_value, dq_sorted(r.partial_unexpected_list) AS partial_unexpected_list
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
 ORDER BY r.table_name, r.expectation;

-- unique in incremental mode: the keys of the run's rows, against the whole table
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'unique', '"status"');

-- run 2: a newer version of order 1 fails a drop expectation: the good version
-- stays; order 5 is new; only these rows are checked
INSERT INTO qg_src.orders VALUES
 ('1', 'c1', 'new',  '-1', '2024-02-01'),
 ('5', 'c5', 'paid', '5000', '2024-02-02'),
 ('6', NULL, 'paid', '6',    '2024-02-03');
SELECT s->>'status' AS status, s->>'rows_written' AS written, s->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qg') AS s;
SELECT id, customer, status, amount FROM silver.qg_orders ORDER BY id;
SELECT value, reason FROM lakehouse.quarantine
 WHERE target_table = 'silver.qg_orders' ORDER BY bronze_id DESC LIMIT 2;
SELECT r.expectation, r.mode, r.success, r.element_count, r.unexpected_count,
       r.missing_count, dq_sorted(r.partial_unexpected_list) AS partial_unexpected_list
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
   AND r.table_name = 'silver.qg_orders'
 ORDER BY r.expectation;

-- lh_check: incremental checks the last run's rows, full the whole table
SELECT expectation, success, element_count, unexpected_count
  FROM lakehouse.lh_check('silver.qg_orders', 'incremental') ORDER BY expectation;
SELECT expectation, success, element_count, unexpected_count
  FROM lakehouse.lh_check('qg_orders', mode => 'full') ORDER BY expectation;
SELECT DISTINCT mode, run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg') AS last_run
  FROM lakehouse.dq_results
 WHERE check_id >= (SELECT max(check_id) - 1 FROM lakehouse.dq_results) ORDER BY mode;
-- gold tables carry no run id: always checked in full
SELECT expectation, success, element_count FROM lakehouse.lh_check('gold.qg_totals', 'incremental');
-- a table no run has written cannot be checked incrementally
SELECT lakehouse.lh_define_silver('qg', 'silver.qg_empty', 'qg_orders',
       '[{"name": "id", "type": "bigint"}]') > 0 AS ok;
SELECT lakehouse.lh_add_expectation('silver.qg_empty', 'not_null', '"id"');
SELECT * FROM lakehouse.lh_check('silver.qg_empty', 'incremental');
SELECT lakehouse.lh_drop_table('silver.qg_empty', drop_data => true);

-- ---------------------------------------------------------------
-- fail: the stage rolls back, the run fails, later stages do not run,
-- the ledger and the summary say which expectation failed
-- ---------------------------------------------------------------
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'not_null', '"customer"', severity => 'fail',
       name => 'customer_required', mostly => 0.5);
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'between', '{"column": "amount", "max": 100}',
       severity => 'fail', name => 'amount_cap');
INSERT INTO qg_src.orders VALUES
 ('7', NULL, 'new', '1',   '2024-03-01'),
 ('8', NULL, 'new', '200', '2024-03-02'),
 ('9', 'c9', 'new', '-4',  '2024-03-03');
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error,
       s->>'error_detail' AS detail, s->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('qg') AS s;
SELECT stage, target, status, rows_written, error_sqlstate, error_message, error_detail, error_hint
  FROM lakehouse.run_stages WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
 ORDER BY stage_no;
SELECT status, failed_stage, error_sqlstate FROM lakehouse.runs
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg');
-- nothing of the stage stays: no new silver rows, no new quarantine rows
SELECT count(*) AS silver_rows FROM silver.qg_orders;
SELECT count(*) AS quarantined FROM lakehouse.quarantine WHERE target_table = 'silver.qg_orders';
-- ...but the results of the gate are recorded, for the run
SELECT r.expectation, r.severity, r.success, r.element_count, r.unexpected_count,
       dq_sorted(r.partial_unexpected_list) AS partial_unexpected_list
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
 ORDER BY r.expectation;
-- the same bronze rows are read again by the next run; with the rules changed
-- (no cap, and rows without a customer dropped) it passes
SELECT lakehouse.lh_drop_expectation('silver.qg_orders', 'amount_cap');
SELECT lakehouse.lh_add_expectation('silver.qg_orders', 'not_null', '"customer"', severity => 'drop',
       name => 'customer_required', replace => true);
SELECT s->>'status' AS status, s->>'rows_written' AS written, s->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qg') AS s;
SELECT value, reason FROM lakehouse.quarantine
 WHERE target_table = 'silver.qg_orders' ORDER BY bronze_id DESC LIMIT 3;
SELECT expectation, success, element_count, unexpected_count, observed_value FROM lakehouse.dq_results
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
 ORDER BY expectation;

-- a gold gate
SELECT lakehouse.lh_add_expectation('gold.qg_totals', 'accepted_values',
       '{"column": "status", "values": ["paid"]}', severity => 'fail', name => 'only_paid');
INSERT INTO qg_src.orders VALUES ('10', 'c10', 'paid', '3', '2024-04-01');
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error,
       s->>'error_detail' AS detail
  FROM lakehouse.lh_run_pipeline('qg') AS s;
SELECT status, orders FROM gold.qg_totals ORDER BY status;
-- the silver stage of that run passed; its new row repeats a status
SELECT expectation, mode, success, element_count, unexpected_count,
       dq_sorted(partial_unexpected_list) AS partial_unexpected_list
  FROM lakehouse.dq_results
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'qg')
   AND expectation = 'unique_status';
SELECT lakehouse.lh_drop_expectation('gold.qg_totals', 'only_paid');

-- a silver stage with nothing new is not checked again
SELECT count(*) AS results_before FROM lakehouse.dq_results WHERE table_name = 'silver.qg_orders' \gset
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('qg') AS s;
SELECT count(*) = :results_before AS not_checked FROM lakehouse.dq_results WHERE table_name = 'silver.qg_orders';

SELECT table_name, expectations, passed, failed, failed_fail, score, trend
  FROM lakehouse.dq_summary WHERE table_name LIKE '%qg%' ORDER BY table_name;

SELECT lakehouse.lh_drop_pipeline('qg', drop_tables => true);
DELETE FROM lakehouse.dq_results WHERE table_name LIKE '%qg_%';
DELETE FROM lakehouse.quarantine WHERE target_table = 'silver.qg_orders';
DELETE FROM lakehouse.runs WHERE pipeline_name = 'qg';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'qg';

-- ---------------------------------------------------------------
-- YAML: an expectations list per silver and gold table
-- ---------------------------------------------------------------
CREATE TEMP TABLE qg_docs (name text PRIMARY KEY, doc text NOT NULL);
INSERT INTO qg_docs VALUES ('v1', $yaml$
pipeline: qg_yaml
sources:
  - name: qg_yaml_orders
    kind: table
    options: {table: qg_src.orders, watermark: updated_at}
silver:
  - table: silver.qg_yaml_orders
    source: qg_yaml_orders
    keys: [id]
    columns:
      - {name: id, type: bigint}
      - {name: customer, type: text}
      - {name: status, type: text}
      - {name: amount, type: numeric}
    expectations:
      - expect: not_null
        column: customer
        mostly: 0.8
      - expect: between
        column: amount
        min: 0
        severity: drop
        name: amount_ok
      - expect: accepted_values
        column: status
        values: [new, paid]
        where: amount > 0
gold:
  - table: gold.qg_yaml_counts
    sql: SELECT count(*) AS n FROM silver.qg_yaml_orders
    expectations:
      - {expect: row_count_between, min: 1, max: 1, severity: fail}
$yaml$), ('v2', $yaml$
pipeline: qg_yaml
sources:
  - name: qg_yaml_orders
    kind: table
    options: {table: qg_src.orders, watermark: updated_at}
silver:
  - table: silver.qg_yaml_orders
    source: qg_yaml_orders
    keys: [id]
    columns:
      - {name: id, type: bigint}
      - {name: customer, type: text}
      - {name: status, type: text}
      - {name: amount, type: numeric}
    expectations:
      - expect: not_null
        column: customer
        mostly: 0.9
        severity: warn
gold:
  - table: gold.qg_yaml_counts
    sql: SELECT count(*) AS n FROM silver.qg_yaml_orders
$yaml$), ('bad_kind', $yaml$
pipeline: qg_yaml
sources:
  - name: qg_yaml_orders
    kind: table
    options: {table: qg_src.orders, watermark: updated_at}
silver:
  - table: silver.qg_yaml_orders
    source: qg_yaml_orders
    columns: [{name: id, type: bigint}]
    expectations:
      - expect: not_nul
        column: id
$yaml$), ('not_a_list', $yaml$
pipeline: qg_yaml
sources:
  - name: qg_yaml_orders
    kind: table
    options: {table: qg_src.orders, watermark: updated_at}
silver:
  - table: silver.qg_yaml_orders
    source: qg_yaml_orders
    columns: [{name: id, type: bigint}]
    expectations: {expect: not_null, column: id}
$yaml$);

SELECT lakehouse.lh_apply_config(doc) FROM qg_docs WHERE name = 'v1';
SELECT t.table_name, e.name, e.kind, e.args, e.severity, e.mostly, e.row_filter, e.origin
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name LIKE 'qg_yaml%' ORDER BY 1, 2;
SELECT lakehouse.lh_apply_config(doc) FROM qg_docs WHERE name = 'v1';
-- an expectation added in SQL stays when YAML is applied again
SELECT lakehouse.lh_add_expectation('silver.qg_yaml_orders', 'unique', '"id"');
SELECT s->>'status' AS status, s->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('qg_yaml') AS s;
SELECT expectation, success, element_count, unexpected_count FROM lakehouse.dq_results
 WHERE table_name LIKE '%qg_yaml%' ORDER BY table_name, expectation;
SELECT lakehouse.lh_apply_config(doc) FROM qg_docs WHERE name = 'v2';
SELECT t.table_name, e.name, e.severity, e.mostly, e.origin
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name LIKE 'qg_yaml%' ORDER BY 1, 2;
SELECT lakehouse.lh_apply_config(doc) FROM qg_docs WHERE name = 'bad_kind';
SELECT lakehouse.lh_apply_config(doc) FROM qg_docs WHERE name = 'not_a_list';

SELECT lakehouse.lh_drop_pipeline('qg_yaml', drop_tables => true);
DELETE FROM lakehouse.dq_results WHERE table_name LIKE '%qg_yaml%';
DELETE FROM lakehouse.quarantine WHERE target_table = 'silver.qg_yaml_orders';
DELETE FROM lakehouse.runs WHERE pipeline_name = 'qg_yaml';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'qg_yaml';
DROP FUNCTION dq_sorted(jsonb);
DROP SCHEMA qg_src CASCADE;

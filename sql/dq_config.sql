--
-- dq_config: the original project's dq.yaml quality files
-- (lh_apply_quality_config[_file]): apply, re-apply, remove, the actions
-- fail_fast / fail / warn, critical categories, errors, and the shipped
-- samples/quality/dq.yaml on tables shaped like the sample's.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA dqc_src;
CREATE TABLE dqc_src.orders (order_id bigint, customer_id bigint, quantity int,
                             unit_price numeric, updated_at timestamptz);
CREATE TABLE dqc_src.customers (customer_id bigint, name text, updated_at timestamptz);
CREATE TABLE dqc_src.products (product_id bigint, list_price numeric, updated_at timestamptz);
INSERT INTO dqc_src.customers VALUES (1, 'Ann', now() - interval '2 hours'),
                                     (2, 'Bob', now() - interval '2 hours');
INSERT INTO dqc_src.products VALUES (10, 5.50, now() - interval '2 hours'),
                                    (11, 7.25, now() - interval '2 hours');
INSERT INTO dqc_src.orders VALUES (100, 1, 2, 5.50, now() - interval '1 hour'),
                                  (101, 2, 1, 7.25, now() - interval '1 hour');

SELECT lakehouse.lh_create_pipeline('dqc') > 0 AS ok;
SELECT lakehouse.lh_add_source('dqc', 'dqc_orders', 'table',
       '{"table": "dqc_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_add_source('dqc', 'dqc_customers', 'table',
       '{"table": "dqc_src.customers", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_add_source('dqc', 'dqc_products', 'table',
       '{"table": "dqc_src.products", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dqc', 'silver.customers', 'dqc_customers',
       '[{"name": "customer_id", "type": "bigint"}, {"name": "name", "type": "text"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{customer_id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dqc', 'silver.orders', 'dqc_orders',
       '[{"name": "order_id", "type": "bigint"}, {"name": "customer_id", "type": "bigint"},
         {"name": "quantity", "type": "int"}, {"name": "unit_price", "type": "numeric"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{order_id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dqc', 'silver.products', 'dqc_products',
       '[{"name": "product_id", "type": "bigint"}, {"name": "list_price", "type": "numeric"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{product_id}', order_by => 'updated_at') > 0 AS ok;
-- an expectation declared in SQL: quality files leave it alone
SELECT lakehouse.lh_add_expectation('silver.orders', 'between', '{"column": "quantity", "min": 1}');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('dqc') AS s;

--
-- The shipped sample file
--
\getenv abs_srcdir PG_ABS_SRCDIR
\set dq_yaml :abs_srcdir '/samples/quality/dq.yaml'
SELECT jsonb_pretty(lakehouse.lh_apply_quality_config_file(:'dq_yaml'));
-- each check is an expectation (origin quality_config); a warn check of a
-- critical category is stored with severity fail
SELECT t.table_name, e.name, e.kind, e.args, e.severity, c.position, c.check_type,
       c.action, c.category, c.critical
  FROM lakehouse.dq_expectations e
  JOIN lakehouse.tables t USING (table_id)
  LEFT JOIN lakehouse.dq_config_checks c USING (expectation_id)
 WHERE t.pipeline_id = (SELECT pipeline_id FROM lakehouse.pipelines WHERE name = 'dqc')
 ORDER BY t.table_name, c.position NULLS FIRST;
-- applying it again changes nothing
SELECT lakehouse.lh_apply_quality_config_file(:'dq_yaml')->'tables' @>
       '[{"added": [], "changed": [], "removed": [], "reordered": false}]' AS unchanged,
       (SELECT count(*) FROM jsonb_array_elements(lakehouse.lh_apply_quality_config_file(:'dq_yaml')->'tables') x
         WHERE x->'added' <> '[]' OR x->'changed' <> '[]' OR x->'removed' <> '[]') AS tables_changed;
-- on the sample-like data every check passes (fresh rows, keys present and
-- unique, every customer known, bronze list prices 12.75 = silver 12.75)
SELECT expectation, kind, severity, success, unexpected_count
  FROM lakehouse.lh_check('silver.orders') ORDER BY expectation;
SELECT expectation, success FROM lakehouse.lh_check('silver.customers') ORDER BY expectation;
SELECT expectation, success, observed_value FROM lakehouse.lh_check('silver.products') ORDER BY expectation;

-- an order of an unknown customer: referential_integrity is a warn check of a
-- critical category, so the run fails (after the table's checks ran)
INSERT INTO dqc_src.orders VALUES (102, 99, 1, 1.00, now());
SELECT s->>'status' AS status, s->>'error' AS error, s->>'error_detail' AS detail
  FROM lakehouse.lh_run_pipeline('dqc') AS s;
SELECT r.expectation, r.severity, r.success
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dqc')
 ORDER BY r.expectation;
SELECT count(*) AS order_102_rolled_back FROM silver.orders WHERE order_id = 102;
-- once the customer arrives, the same bronze rows pass
INSERT INTO dqc_src.customers VALUES (99, 'Zoe', now());
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('dqc') AS s;
SELECT count(*) AS order_102_landed FROM silver.orders WHERE order_id = 102;

--
-- Actions, on a table of its own
--
CREATE TABLE dqc_src.items (id bigint, code text, qty int, updated_at timestamptz);
INSERT INTO dqc_src.items VALUES (1, 'a', 1, now()), (2, NULL, 5, now()), (3, 'c', -1, now());
SELECT lakehouse.lh_create_pipeline('dqc_act') > 0 AS ok;
SELECT lakehouse.lh_add_source('dqc_act', 'dqc_items', 'table',
       '{"table": "dqc_src.items", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dqc_act', 'silver.dqc_items', 'dqc_items',
       '[{"name": "id", "type": "bigint"}, {"name": "code", "type": "text"},
         {"name": "qty", "type": "int"}, {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}') > 0 AS ok;

-- warn: recorded only, the run succeeds; action defaults to fail
SELECT lakehouse.lh_apply_quality_config($$
silver:
  dqc_items:
    checks:
      - {type: not_null, column: code, action: warn}
      - {type: range, column: qty, min_value: 0, action: warn}
      - {type: row_count, max: 10}
$$);
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('dqc_act') AS s;
SELECT r.expectation, r.severity, r.success, r.unexpected_count
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dqc_act')
   AND r.table_name = 'silver.dqc_items'
 ORDER BY r.expectation;
SELECT e.name, e.severity, c.action, c.category
  FROM lakehouse.dq_expectations e JOIN lakehouse.dq_config_checks c USING (expectation_id)
 WHERE e.table_id = (SELECT table_id FROM lakehouse.tables WHERE table_name = 'dqc_items')
 ORDER BY c.position;

-- fail: both failing checks are evaluated and reported, the run fails
SELECT lakehouse.lh_apply_quality_config($$
silver:
  dqc_items:
    checks:
      - {type: not_null, column: code, action: fail}
      - {type: range, column: qty, min: 0, action: fail}
      - {type: row_count, max: 10}
$$);
UPDATE dqc_src.items SET updated_at = now();
SELECT s->>'status' AS status, s->>'error' AS error, s->>'error_detail' AS detail
  FROM lakehouse.lh_run_pipeline('dqc_act') AS s;
SELECT r.expectation, r.severity, r.success
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dqc_act')
   AND r.table_name = 'silver.dqc_items'
 ORDER BY r.expectation;

-- fail_fast: the first failing fail_fast check stops; the checks after it
-- in the file are not evaluated (not recorded), and the run fails naming it
SELECT lakehouse.lh_apply_quality_config($$
silver:
  dqc_items:
    checks:
      - {type: row_count, max: 10, action: warn}
      - {type: not_null, column: code, action: fail_fast}
      - {type: range, column: qty, min: 0, action: fail}
      - {type: pk_unique, columns: [id], action: fail_fast}
$$);
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dqc_act') AS s;
SELECT r.expectation, r.severity, r.success
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dqc_act')
   AND r.table_name = 'silver.dqc_items'
 ORDER BY r.result_id;
-- lh_check stops the same way (and never raises)
SELECT expectation, success FROM lakehouse.lh_check('silver.dqc_items') ORDER BY expectation;
-- a fail_fast check that passes lets the next ones run
UPDATE dqc_src.items SET code = 'b', updated_at = now() WHERE id = 2;
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dqc_act') AS s;
SELECT r.expectation, r.success
  FROM lakehouse.dq_results r
 WHERE r.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dqc_act')
   AND r.table_name = 'silver.dqc_items'
 ORDER BY r.expectation;

-- changing only the action of a check is audited, though its expectation
-- does not change (fail and fail_fast both store severity "fail");
-- re-applying the same file records nothing
CREATE TEMP TABLE dqc_doc AS SELECT $$
silver:
  dqc_items:
    checks:
      - {type: row_count, max: 10, action: warn}
      - {type: not_null, column: code, action: fail_fast}
      - {type: range, column: qty, min: 0, action: fail_fast}
      - {type: pk_unique, columns: [id], action: fail_fast}
$$ AS doc;
SELECT coalesce(max(audit_id), 0) AS audit_before FROM lakehouse.audit_log \gset
SELECT lakehouse.lh_apply_quality_config(doc)->'tables'->0->'changed' AS changed FROM dqc_doc;
SELECT action, object_kind, object_name, details FROM lakehouse.audit_log
 WHERE audit_id > :audit_before ORDER BY audit_id;
SELECT coalesce(max(audit_id), 0) AS audit_before FROM lakehouse.audit_log \gset
SELECT lakehouse.lh_apply_quality_config(doc)->'tables'->0->'changed' AS changed FROM dqc_doc;
SELECT count(*) AS audited FROM lakehouse.audit_log WHERE audit_id > :audit_before;
DROP TABLE dqc_doc;

-- critical: a warn check whose category is critical fails the run; an explicit
-- category decides; removing checks from the file removes them from the table
SELECT jsonb_pretty(lakehouse.lh_apply_quality_config($$
quality_gates:
  critical_checks: [sanity]
silver:
  dqc_items:
    level: silver
    checks:
      - {type: between, column: qty, min: 0, action: warn, category: sanity}
      - {type: not_null, column: code, action: warn}
$$));
SELECT e.name, e.severity, c.action, c.category, c.critical
  FROM lakehouse.dq_expectations e JOIN lakehouse.dq_config_checks c USING (expectation_id)
 WHERE e.table_id = (SELECT table_id FROM lakehouse.tables WHERE table_name = 'dqc_items')
 ORDER BY c.position;
UPDATE dqc_src.items SET updated_at = now();
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dqc_act') AS s;
-- not_null on a key column is not_null_keys by default
SELECT lakehouse.lh_apply_quality_config($$
quality_gates: {critical_checks: [not_null_keys]}
silver:
  dqc_items:
    checks: [{type: not_null, column: id, action: warn}]
$$)->'tables'->0->'removed' AS removed;
SELECT e.name, e.severity, c.category, c.critical
  FROM lakehouse.dq_expectations e JOIN lakehouse.dq_config_checks c USING (expectation_id)
 WHERE e.table_id = (SELECT table_id FROM lakehouse.tables WHERE table_name = 'dqc_items');
-- checks: [] removes them all; the SQL expectation of silver.orders stayed
SELECT lakehouse.lh_apply_quality_config('silver: {dqc_items: {checks: []}}')->'tables'->0->'removed' AS removed;
SELECT name, origin FROM lakehouse.dq_expectations
 WHERE table_id = (SELECT table_id FROM lakehouse.tables WHERE table_name = 'orders' AND schema_name = 'silver')
 ORDER BY name;

--
-- Bad documents: each error names the place in the file
--
\set VERBOSITY default
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: expect_column_to_be_blue, column: order_id}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: pk_unique, columns: [order_id], acton: fail}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: pk_unique, columns: [order_id], action: stop}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    level: gold
    checks: []
$$);
SELECT lakehouse.lh_apply_quality_config($$
gold:
  orders:
    checks: []
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  no_such_table:
    checks: []
$$);
SELECT lakehouse.lh_apply_quality_config($$
bronze:
  orders_raw:
    checks: []
$$);
SELECT lakehouse.lh_apply_quality_config($$
quality_gates:
  critical_checks: [not_nul_keys]
silver:
  orders:
    checks: []
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: not_null, column: order_id}
      - {type: expect_column_values_to_not_be_null, column: order_id}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: range, column: quantity, min: 1, min_value: 0}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: between, column: quantity, min: 1, name: between_quantity}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - {type: referential_integrity, column: customer_id, to: silver.customers, field: no_such_column}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks:
      - pk_unique
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders:
    checks
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders: {checks: [{column: order_id}]}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders: {level: silver}
$$);
SELECT lakehouse.lh_apply_quality_config($$
silver:
  orders: {checks: []}
  silver.orders: {checks: []}
$$);
SELECT lakehouse.lh_apply_quality_config('');
SELECT lakehouse.lh_apply_quality_config('[1, 2]');
SELECT lakehouse.lh_apply_quality_config(NULL);
SELECT lakehouse.lh_apply_quality_config_file('no_such_dq.yaml');
-- a file over lakehouse.max_config_bytes (the sample has more than 1024
-- bytes) is refused, as a quality configuration file; the message names
-- the absolute path, shown here without its directory
SET lakehouse.max_config_bytes = 1024;
SET regress.dq_yaml = :'dq_yaml';
DO $$
BEGIN
    PERFORM lakehouse.lh_apply_quality_config_file(current_setting('regress.dq_yaml'));
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE '%', replace(SQLERRM, current_setting('regress.dq_yaml'), 'dq.yaml');
END
$$;
RESET regress.dq_yaml;
RESET lakehouse.max_config_bytes;
-- nothing of the failed attempts stayed
SELECT count(*) AS config_checks FROM lakehouse.dq_config_checks;

-- reading server files needs pg_read_server_files
CREATE ROLE regress_dqc_reader;
GRANT USAGE ON SCHEMA lakehouse TO regress_dqc_reader;
GRANT EXECUTE ON FUNCTION lakehouse.lh_apply_quality_config_file(text) TO regress_dqc_reader;
SET ROLE regress_dqc_reader;
SELECT lakehouse.lh_apply_quality_config_file('dq.yaml');
RESET ROLE;
REVOKE ALL ON FUNCTION lakehouse.lh_apply_quality_config_file(text) FROM regress_dqc_reader;
REVOKE ALL ON SCHEMA lakehouse FROM regress_dqc_reader;
DROP ROLE regress_dqc_reader;

--
-- Clean up: the checks go with their tables
--
SELECT lakehouse.lh_drop_pipeline('dqc_act', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('dqc', drop_tables => true);
SELECT count(*) AS config_checks FROM lakehouse.dq_config_checks;
DROP SCHEMA dqc_src CASCADE;

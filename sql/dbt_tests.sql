--
-- dbt_tests: dbt generic tests (not_null, unique, accepted_values,
-- relationships, dbt_utils.expression_is_true,
-- dbt_utils.unique_combination_of_columns) with dbt's semantics.
-- Every expected count is derived by hand from dbt's macros (named beside it)
-- over the ten rows below.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA dbt_src;
CREATE TABLE dbt_src.orders (id int, customer_id text, status text, amount int, ts timestamptz);
INSERT INTO dbt_src.orders VALUES
 (1, 'c1', 'placed', 10, '2024-01-01'), (2, 'c1', 'shipped', 20, '2024-01-02'),
 (3, 'c2', 'returned', -5, '2024-01-03'), (3, 'c2', 'returned', 7, '2024-01-04'),
 (4, 'c9', 'bogus', 30, '2024-01-05'), (5, NULL, NULL, NULL, '2024-01-06'),
 (6, 'c9', 'bogus', 0, '2024-01-07'), (7, 'c3', 'weird', -1, '2024-01-08'),
 (NULL, NULL, 'placed', 5, '2024-01-09'), (NULL, NULL, 'placed', 5, '2024-01-10');
CREATE TABLE dbt_src.customers (cid text, ts timestamptz);
INSERT INTO dbt_src.customers VALUES ('c1', '2024-01-01'), ('c2', '2024-01-01'), ('c3', '2024-01-01');

SELECT lakehouse.lh_create_pipeline('dbtp') > 0 AS ok;
SELECT lakehouse.lh_add_source('dbtp', 'dbt_orders_src', 'table',
       '{"table": "dbt_src.orders", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_add_source('dbtp', 'dbt_customers_src', 'table',
       '{"table": "dbt_src.customers", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dbtp', 'silver.dbt_orders', 'dbt_orders_src',
       '[{"name": "id", "type": "int"}, {"name": "customer_id", "type": "text"},
         {"name": "status", "type": "text"}, {"name": "amount", "type": "int"},
         {"name": "ts", "type": "timestamptz"}]') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dbtp', 'silver.dbt_customers', 'dbt_customers_src',
       '[{"name": "cid", "type": "text"}]') > 0 AS ok;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('dbtp') AS s;
SELECT count(*) FROM silver.dbt_orders;

-- the results of a check, without timings
CREATE FUNCTION dbt_show(tbl text)
RETURNS TABLE (expectation text, severity text, success boolean, unexpected bigint,
               status text, failures text, should_warn text, should_error text)
LANGUAGE sql AS $$
  SELECT c.expectation, c.severity, c.success, c.unexpected_count,
         c.observed_value->>'status', c.observed_value->>'failures',
         c.observed_value->>'should_warn', c.observed_value->>'should_error'
    FROM lakehouse.lh_check(tbl) AS c ORDER BY 1
$$;

-- ---------------------------------------------------------------
-- Each test, default config (dbt-core TestConfig: severity ERROR,
-- warn_if "!= 0", error_if "!= 0", fail_calc "count(*)")
-- ---------------------------------------------------------------
-- name: dbt-core generic_test_builders.py synthesize_generic_test_names
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '"not_null"', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '"unique"', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"accepted_values": {"values": ["placed", "shipped", "returned"]}}', 'status');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"relationships": {"to": "ref(''dbt_customers'')", "field": "cid"}}', 'customer_id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"dbt_utils.expression_is_true": {"expression": "amount >= 0"}}');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"dbt_utils.unique_combination_of_columns": {"combination_of_columns": ["customer_id", "status"]}}');
-- a full name of 64 characters or more: its first 30 characters + md5 (synthesize_generic_test_names)
SELECT name = 'dbt_utils_unique_combination_o_' ||
              md5('dbt_utils_unique_combination_of_columns_dbt_orders_customer_id__status') AS dbt_name
  FROM lakehouse.dq_expectations WHERE name LIKE 'dbt_utils_unique_combination%';
-- severity error is lakehouse's fail; the stored config has dbt's defaults
SELECT name, kind, severity, row_filter, args->'config' AS config
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'dbt_orders' AND name LIKE 'not_null%';

-- expected failures (all status fail, severity error):
--  not_null_dbt_orders_id: 2 rows with id NULL (generic_test_sql/not_null.sql counts rows)
--  unique_dbt_orders_id: 1 group, id 3 (unique.sql: group by, having count(*) > 1, NULLs excluded)
--  accepted_values_..: 2 groups, bogus and weird (accepted_values.sql groups; NULL not in (...) is not returned)
--  relationships_..: 2 child rows, c9 twice (relationships.sql: rows, NULL children excluded)
--  dbt_utils_expression_is_true_..: 2 rows, -5 and -1 (expression_is_true.sql: where not(expr); NULL amount not returned)
--  dbt_utils_unique_combination_o_..: 3 groups (c2,returned), (c9,bogus), (NULL,placed):
--    unique_combination_of_columns.sql groups without excluding NULLs
SELECT * FROM dbt_show('silver.dbt_orders');

-- dq_results and dq_summary carry them like any expectation
SELECT expectation, kind, success, unexpected_count, observed_value->>'status' AS status
  FROM lakehouse.dq_results WHERE table_name = 'silver.dbt_orders'
   AND check_id = (SELECT max(check_id) FROM lakehouse.dq_results) ORDER BY 1;
SELECT expectations, passed, failed, failed_fail FROM lakehouse.dq_summary
 WHERE table_name = 'silver.dbt_orders';

-- ---------------------------------------------------------------
-- config: severity, warn_if / error_if, where, fail_calc, limit
-- ---------------------------------------------------------------
SELECT lakehouse.lh_drop_expectation('silver.dbt_orders', name)
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'dbt_orders';
-- severity warn: 2 groups, should_warn (2 != 0) -> warn (test.py build_test_run_result)
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"accepted_values": {"values": ["placed", "shipped", "returned"], "config": {"severity": "warn"}}}',
       'status');
-- error_if ">10", default severity error: 2 failures, should_error false,
-- should_warn true -> warn (build_test_run_result: error only if severity ERROR and should_error)
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"not_null": {"config": {"error_if": ">10"}}}', 'id');
-- warn_if ">5", error_if ">=2": 2 child rows -> should_error -> fail
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"relationships": {"to": "source(''dbt_src'', ''customers'')", "field": "cid",
         "config": {"warn_if": ">5", "error_if": ">=2"}}}', 'customer_id');
-- warn_if and error_if ">=5": 2 rows -> pass, and dbt reports 0 failures on pass
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"dbt_utils.expression_is_true": {"expression": ">= 0", "column_name": "amount",
         "name": "amount_not_negative", "config": {"warn_if": ">=5", "error_if": ">=5"}}}');
-- severity warn ignores error_if: 1 group, warn_if ">10" false -> pass
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"unique": {"name": "unique_id_warn", "severity": "warn", "warn_if": ">10"}}', 'id');
-- where (default__get_where_subquery): amount > 0 leaves ids 1, 2, 3, 4, NULL, NULL: no duplicate -> pass
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"unique": {"name": "unique_id_positive", "config": {"where": "amount > 0"}}}', 'id');
-- where status = 'placed': 2 of its 3 rows have id NULL -> fail, 2
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"not_null": {"name": "placed_id", "config": {"where": "status = ''placed''"}}}', 'id');
-- fail_calc sum(n_records): the duplicated id 3 has 2 rows -> 2
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"unique": {"name": "unique_id_rows", "config": {"fail_calc": "sum(n_records)"}}}', 'id');
-- limit 1: applied to the test query before counting (test.sql get_limit_subquery_sql) -> 1
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"dbt_utils.unique_combination_of_columns": {"combination_of_columns": ["customer_id", "status"],
         "name": "combo_limited", "config": {"limit": 1}}}');
SELECT name, severity, row_filter FROM lakehouse.dq_expectations e
  JOIN lakehouse.tables t USING (table_id) WHERE t.table_name = 'dbt_orders' ORDER BY 1;
SELECT * FROM dbt_show('silver.dbt_orders');
SELECT expectation, observed_value->'warn_if' AS warn_if, observed_value->'error_if' AS error_if
  FROM lakehouse.lh_check('silver.dbt_orders') ORDER BY 1;

-- a fail_calc that returns NULL is an error, as in dbt (TestResultData wants an integer)
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"unique": {"name": "null_calc", "config": {"fail_calc": "sum(n_records)", "where": "amount > 0"}}}', 'id');
SELECT count(*) FROM lakehouse.lh_check('silver.dbt_orders');
SELECT lakehouse.lh_drop_expectation('silver.dbt_orders', 'null_calc');

-- ---------------------------------------------------------------
-- store_failures: the rows of the test query, replaced at every check
-- ---------------------------------------------------------------
SELECT lakehouse.lh_drop_expectation('silver.dbt_orders', name)
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'dbt_orders';
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"dbt_utils.unique_combination_of_columns": {"combination_of_columns": ["customer_id", "status"],
         "name": "combo", "config": {"store_failures": true}}}');
-- not_null selects * when storing failures (not_null.sql column_list)
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders',
       '{"not_null": {"config": {"store_failures": true, "severity": "warn"}}}', 'id');
SELECT * FROM dbt_show('silver.dbt_orders');
SELECT * FROM dbt_show('silver.dbt_orders');
SELECT * FROM silver_dbt_test__audit.combo ORDER BY 1, 2;
SELECT id, customer_id, status, amount FROM silver_dbt_test__audit.not_null_dbt_orders_id ORDER BY amount;
SELECT tableowner = current_user AS owned, schemaname FROM pg_tables
 WHERE schemaname = 'silver_dbt_test__audit' ORDER BY tablename;
SELECT expectation, observed_value->>'stored_failures' AS stored
  FROM lakehouse.lh_check('silver.dbt_orders') ORDER BY 1;

-- ---------------------------------------------------------------
-- in a pipeline run: an error test fails the stage, a warn test does not
-- ---------------------------------------------------------------
INSERT INTO dbt_src.orders VALUES (8, 'c1', 'placed', 1, '2024-02-01');
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dbtp') AS s;
SELECT lakehouse.lh_drop_expectation('silver.dbt_orders', 'combo');
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dbtp') AS s;
SELECT expectation, success, unexpected_count, observed_value->>'status' AS status
  FROM lakehouse.dq_results WHERE table_name = 'silver.dbt_orders' AND run_id IS NOT NULL
 ORDER BY result_id DESC LIMIT 1;

-- ---------------------------------------------------------------
-- invalid tests are refused when declared
-- ---------------------------------------------------------------
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '"not_unique"', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"colum": "id"}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '"unique"');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"warn_if": "garbage"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"error_if": "==5"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"severity": "fatal"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"where": "true)) s; DROP TABLE dbt_src.orders; --"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"where": "ts > {{ var(''x'') }}"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"where": "true", "config": {"where": "false"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"store_failures_as": "bogus"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"limit": -1}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"colour": "red"}}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"accepted_values": {"values": []}}', 'status');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"accepted_values": {"values": ["a"], "quote": false}}', 'status');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"accepted_values": {"values": ["x"]}}', 'amount');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"relationships": {"to": "ref(''nope'')", "field": "cid"}}', 'customer_id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"relationships": {"to": "ref(''dbt_customers'')", "field": "nope"}}', 'customer_id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '"not_null"', 'nope');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {}, "not_null": {}}', 'id');
SELECT lakehouse.lh_add_dbt_test('silver.dbt_orders', '{"unique": {"config": {"fail_calc": "count(*); DROP TABLE x"}}}', 'id');
-- severity of a dbt_test expectation comes from its config
SELECT lakehouse.lh_add_expectation('silver.dbt_orders', 'dbt_test', '{"test": "unique", "column_name": "id"}');

-- ---------------------------------------------------------------
-- YAML: a dbt schema.yml block pasted onto silver and gold tables
-- ---------------------------------------------------------------
SELECT lakehouse.lh_drop_expectation('silver.dbt_orders', name)
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'dbt_orders';
SELECT lakehouse.lh_apply_config($$
pipeline: dbtp
sources:
  - {name: dbt_orders_src, kind: table, options: {table: dbt_src.orders, watermark: ts}}
  - {name: dbt_customers_src, kind: table, options: {table: dbt_src.customers, watermark: ts}}
silver:
  - table: silver.dbt_orders
    source: dbt_orders_src
    columns:
      - name: id
        type: int
        tests:
          - unique
          - not_null:
              config:
                severity: warn
      - {name: customer_id, type: text}
      - name: status
        type: text
        data_tests:
          - accepted_values:
              values: ['placed', 'shipped', 'returned']
              config:
                where: "amount > 0"
      - {name: amount, type: int}
      - {name: ts, type: timestamptz}
    data_tests:
      - dbt_utils.expression_is_true:
          arguments:
            expression: "amount >= 0"
          config:
            severity: warn
      - dbt_utils.unique_combination_of_columns:
          combination_of_columns: [customer_id, status]
          warn_if: ">1"
          error_if: ">5"
  - table: silver.dbt_customers
    source: dbt_customers_src
    columns: [{name: cid, type: text}]
gold:
  - table: gold.dbt_status
    sql: SELECT status, count(*) AS n FROM silver.dbt_orders GROUP BY status
    columns:
      - name: status
        description: the order status
        tests: [unique]
      - name: n
        tests:
          - relationships:
              to: source('dbt_src', 'orders')
              field: id
    tests:
      - test_name: not_null
        name: gold_status_present
        column_name: status
        config: {severity: warn}
$$);
SELECT t.table_name, e.name, e.severity, e.origin, e.row_filter
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name IN ('dbt_orders', 'dbt_status') ORDER BY 1, 2;
-- silver (11 rows now):
--  accepted_values where amount > 0: statuses of positive amounts placed, shipped, returned, bogus -> 1 group; default error -> fail
--  expression amount >= 0: -5, -1 -> 2 rows; warn
--  unique_combination (c1,placed) now 2 rows too: 4 groups; error_if ">5" false, warn_if ">1" true -> warn
--  not_null id: 2; severity warn -> warn.  unique id: 1 group -> fail
SELECT * FROM dbt_show('silver.dbt_orders');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('dbtp') AS s;
-- gold: statuses placed 4, shipped 1, returned 2, bogus 2, weird 1, NULL 1
--  unique status: no duplicate -> pass.  not_null status: 1 row -> warn.
--  relationships n -> orders.id: n values 4, 1, 2, 2, 1, 1 all ids of orders -> pass
SELECT * FROM dbt_show('gold.dbt_status');

-- YAML errors
SELECT lakehouse.lh_apply_config($$
pipeline: dbtp
sources:
  - {name: dbt_orders_src, kind: table, options: {table: dbt_src.orders, watermark: ts}}
silver:
  - table: silver.dbt_orders
    source: dbt_orders_src
    columns: [{name: id, type: int}]
    tests: [unique]
    data_tests: [not_null]
$$);
SELECT lakehouse.lh_apply_config($$
pipeline: dbtp
sources:
  - {name: dbt_orders_src, kind: table, options: {table: dbt_src.orders, watermark: ts}}
silver:
  - table: silver.dbt_orders
    source: dbt_orders_src
    columns:
      - name: id
        type: int
        tests:
          - unique:
              severity: warn
              config: {severity: error}
$$);

SELECT lakehouse.lh_drop_pipeline('dbtp', true);
DROP SCHEMA silver_dbt_test__audit CASCADE;
DROP SCHEMA dbt_src CASCADE;
DROP FUNCTION dbt_show(text);

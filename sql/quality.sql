--
-- quality: data-quality expectations, lh_check, results, dq_summary
-- (quality_gate.sql: gates in pipeline runs, drop, fail, YAML)
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA dq_src;
CREATE TABLE dq_src.orders (id text, customer text, status text, amount text,
                            email text, ts timestamptz, updated_at timestamptz);
INSERT INTO dq_src.orders VALUES
 ('1', 'c1', 'new',   '10', 'a@x.com', now() - interval '1 hour', '2024-01-01'),
 ('2', 'c2', 'paid',  '20', 'b@x.com', now() - interval '2 hours', '2024-01-02'),
 ('3', 'c9', 'bogus', '-5', 'bad',     now() - interval '3 hours', '2024-01-03'),
 ('4', NULL, 'new',   NULL, NULL,      now() - interval '4 hours', '2024-01-04'),
 ('5', NULL, NULL,    '30', 'e@x.com', now() - interval '5 hours', '2024-01-05');
CREATE TABLE dq_src.customers (cid text PRIMARY KEY);
INSERT INTO dq_src.customers VALUES ('c1'), ('c2');

SELECT lakehouse.lh_create_pipeline('dq') > 0 AS ok;
SELECT lakehouse.lh_add_source('dq', 'dq_orders', 'table',
       '{"table": "dq_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dq', 'silver.dq_orders', 'dq_orders',
       '[{"name": "id", "type": "bigint"}, {"name": "customer", "type": "text"},
         {"name": "status", "type": "text"}, {"name": "amount", "type": "numeric"},
         {"name": "email", "type": "text"}, {"name": "ts", "type": "timestamptz"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS ok;
SELECT s->>'status' AS status, s->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('dq') AS s;

-- samples come in scan order, which depends on the plan: sorted for the tests
-- (and whole rows without the run and bronze ids, which vary)
CREATE FUNCTION dq_sorted(j jsonb) RETURNS jsonb LANGUAGE sql STRICT AS
$$ SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(x) = 'object'
                                  THEN x - '_lh_run_id' - '_lh_bronze_id' ELSE x END
                             ORDER BY x), '[]')
     FROM jsonb_array_elements(j) x $$;

-- the results of a check, without timings
CREATE FUNCTION dq_show(tbl text, mode text DEFAULT 'full')
RETURNS TABLE (expectation text, kind text, severity text, success boolean,
               elements bigint, unexpected bigint, pct numeric, missing bigint,
               observed jsonb, samples jsonb)
LANGUAGE sql AS $$
  SELECT c.expectation, c.kind, c.severity, c.success, c.element_count,
         c.unexpected_count, round(c.unexpected_percent::numeric, 2), c.missing_count,
         CASE WHEN c.kind = 'freshness' THEN NULL ELSE c.observed_value END,
         dq_sorted(c.partial_unexpected_list)
    FROM lakehouse.lh_check(tbl, mode) AS c
$$;

-- ---------------------------------------------------------------
-- Every expectation, declared in SQL.  Short forms: a string is the
-- column, an array the columns.
-- ---------------------------------------------------------------
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"customer"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'unique', '"id"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'unique', '["customer", "status"]');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'accepted_values',
       '{"column": "status", "values": ["new", "paid"]}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_in_set',
       '{"column": "status", "values": ["bogus", "void"]}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between',
       '{"column": "amount", "min": 0, "max": 20}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between',
       '{"column": "amount", "min": 0, "strict_min": true}', name => 'amount_positive');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'match_regex',
       '{"column": "email", "regex": "^[^@]+@[^@]+$"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_match_regex',
       '{"column": "email", "regex": "^b"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'length_between',
       '{"column": "email", "min": 4, "max": 7}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'relationships',
       '{"column": "customer", "to": "dq_src.customers", "field": "cid"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "amount < 15 OR status = ''paid''"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_count_between', '{"min": 1, "max": 5}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'freshness',
       '{"column": "ts", "max_age": "1 day"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'freshness',
       '{"column": "ts", "max_age": "30 minutes"}', name => 'fresh_30min');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'column_sum_between',
       '{"column": "amount", "min": 55, "max": 55}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'column_mean_between',
       '{"column": "amount", "max": 10}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'column_min_between',
       '{"column": "amount", "min": -5}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'column_max_between',
       '{"column": "amount", "max": 30, "strict_max": true}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'columns_match_set',
       '{"columns": ["id", "customer", "status", "amount", "email", "ts", "updated_at"]}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'columns_match_set',
       '{"columns": ["id", "missing_col"], "exact": false}', name => 'has_columns');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query',
       '{"query": "SELECT id, amount FROM silver.dq_orders WHERE amount > 25;"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'control_total', '{"column": "amount"}');

SELECT * FROM dq_show('silver.dq_orders') ORDER BY expectation;

-- the first expectation gave the table an index on _lh_run_id (incremental checks)
SELECT indexdef FROM pg_indexes WHERE schemaname = 'silver' AND tablename = 'dq_orders'
 ORDER BY indexname;

-- one scan: the row-level and aggregate expectations share one statement
SELECT count(*) AS expectations, count(DISTINCT duration) AS statements
  FROM lakehouse.lh_check('silver.dq_orders')
 WHERE kind NOT IN ('unique', 'columns_match_set', 'custom_query', 'control_total');

-- the results are recorded, one check per call, run_id NULL outside a run
SELECT count(DISTINCT check_id) AS checks, count(*) AS results, count(run_id) AS with_run,
       bool_and(mode = 'full') AS all_full, bool_and(duration >= interval '0') AS timed
  FROM lakehouse.dq_results WHERE table_name = 'silver.dq_orders';
SELECT expectation, success, element_count, unexpected_count,
       round(unexpected_percent::numeric, 2) AS pct, missing_count, mostly,
       dq_sorted(partial_unexpected_list) AS partial_unexpected_list
  FROM lakehouse.dq_results
 WHERE check_id = (SELECT max(check_id) FROM lakehouse.dq_results)
   AND kind IN ('between', 'not_null')
 ORDER BY expectation;

-- ---------------------------------------------------------------
-- mostly (Great Expectations): the share of non-null rows that must pass
-- ---------------------------------------------------------------
SELECT lakehouse.lh_drop_expectation('silver.dq_orders', name)
  FROM lakehouse.dq_expectations ORDER BY name;
-- 4 non-null amounts, 1 below 0: 75% pass
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between', '{"column": "amount", "min": 0}',
       mostly => 0.75, name => 'm75');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between', '{"column": "amount", "min": 0}',
       mostly => 0.76, name => 'm76');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between', '{"column": "amount", "min": 0}',
       mostly => 0, name => 'm0');
-- 5 rows, 2 NULL customers: not_null judges every row (60% pass)
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"customer"',
       mostly => 0.6, name => 'nn60');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"customer"',
       mostly => 0.61, name => 'nn61');
-- a filter narrows the rows judged: only paid orders
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'accepted_values',
       '{"column": "status", "values": ["paid"]}', "where" => 'amount >= 20', name => 'big_paid');
SELECT expectation, success, elements, unexpected, pct, missing
  FROM dq_show('silver.dq_orders') ORDER BY expectation;

-- NULL handling: accepted_values and relationships let NULL pass, unique ignores NULLs
UPDATE silver.dq_orders SET customer = NULL, status = NULL;
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'accepted_values',
       '{"column": "status", "values": []}', name => 'nothing_accepted');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'relationships',
       '{"column": "customer", "to": "dq_src.customers", "field": "cid"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'unique', '["customer"]');
SELECT expectation, success, elements, unexpected, pct, missing, samples
  FROM dq_show('silver.dq_orders')
 WHERE expectation IN ('nothing_accepted', 'relationships_customer', 'unique_customer', 'nn60')
 ORDER BY expectation;

-- an empty table: row-level expectations pass, freshness and a minimum row count fail
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_count_between', '{"min": 1}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'freshness', '{"column": "ts", "max_age": "1 day"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'column_mean_between', '{"column": "amount", "min": 1}');
DELETE FROM silver.dq_orders;
SELECT expectation, success, elements, unexpected, pct, missing, observed
  FROM dq_show('silver.dq_orders') ORDER BY expectation;

-- unique over several columns, with samples of the duplicated keys
INSERT INTO silver.dq_orders (id, customer, status, _lh_bronze_id)
VALUES (1, 'a', 'x', 0), (2, 'a', 'x', 0), (3, 'a', 'y', 0), (4, NULL, 'x', 0), (5, NULL, 'x', 0);
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'unique', '["customer", "status"]');
SELECT expectation, success, elements, unexpected, pct, missing, samples
  FROM dq_show('silver.dq_orders') WHERE kind = 'unique' ORDER BY expectation;
DELETE FROM silver.dq_orders;

-- ---------------------------------------------------------------
-- Definitions are checked
-- ---------------------------------------------------------------
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_nul', '"id"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '{"colum": "id"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '{}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"nope"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '42');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"', severity => 'panic');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"', mostly => 1.5);
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_count_between', '{"min": 1}', mostly => 0.5);
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_count_between', '{"min": "one"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between', '{"column": "amount"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between', '{"column": "amount", "min": "abc"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between', '{"column": "amount", "min": 0, "strict_min": "maybe"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'accepted_values', '{"column": "status"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'accepted_values', '{"column": "status", "values": "new"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'match_regex', '{"column": "email", "regex": "(unclosed"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'freshness', '{"column": "ts", "max_age": "soon"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'relationships', '{"column": "customer", "to": "dq_src.nope", "field": "cid"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'relationships', '{"column": "customer", "to": "dq_src.customers", "field": "nope"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'relationships', '{"column": "amount", "to": "dq_src.customers", "field": "cid"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'unique', '{"column": "id", "columns": ["id"]}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'columns_match_set', '{}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'control_total', '{"column": "amount", "tolerance": "x"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"', "where" => 'amount >');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"', "where" => 'nope > 1');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query', '{"query": "SELECT 1"}', "where" => 'true');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"', name => '');
SELECT lakehouse.lh_add_expectation('silver.nope', 'not_null', '"id"');
SELECT lakehouse.lh_add_expectation(NULL, 'not_null', '"id"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"id"', severity => 'fail', replace => true);
SELECT name, kind, args, severity, mostly, row_filter, origin
  FROM lakehouse.dq_expectations WHERE name = 'not_null_id';
SELECT lakehouse.lh_drop_expectation('silver.dq_orders', 'nope');
SELECT lakehouse.lh_drop_expectation('silver.dq_orders', 'nope', missing_ok => true);
SELECT lakehouse.lh_check('silver.dq_orders', 'partial');
SELECT lakehouse.lh_check('silver.nope');

-- custom SQL: a row condition is one expression, a query one SELECT; nothing
-- can be smuggled around them
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "true) FROM pg_class WHERE (true"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "true); DROP TABLE silver.dq_orders; SELECT (true"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "amount > 0, amount < 10"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "amount > 0 --"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "amount >> > 0"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "count(*) > 0"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'row_condition',
       '{"condition": "amount"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query',
       '{"query": "DELETE FROM silver.dq_orders RETURNING *"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query',
       '{"query": "SELECT 1; DROP TABLE silver.dq_orders"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query',
       '{"query": "WITH d AS (DELETE FROM silver.dq_orders RETURNING *) SELECT * FROM d"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query',
       '{"query": "SELECT * INTO dq_stolen FROM silver.dq_orders"}');
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'custom_query',
       '{"query": "SELEC 1"}');
SELECT count(*) AS still_there FROM silver.dq_orders;

-- ---------------------------------------------------------------
-- Hostile identifiers: quoted everywhere
-- ---------------------------------------------------------------
CREATE TABLE dq_src.odd (k text, "we""ird; col" text, "Mixed Case" text, updated_at timestamptz);
INSERT INTO dq_src.odd VALUES ('1', 'x', 'A', '2024-01-01'), ('2', NULL, 'b', '2024-01-02'),
                              ('3', 'y''); DROP TABLE dq_src.odd; --', 'C', '2024-01-03');
SELECT lakehouse.lh_add_source('dq', 'dq_odd', 'table',
       '{"table": "dq_src.odd", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dq', 'silver."Dq Odd"', 'dq_odd',
       '[{"name": "k", "type": "int"}, {"name": "we\"ird; col", "type": "text"},
         {"name": "Mixed Case", "type": "text"}]', keys => '{k}') > 0 AS ok;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('dq') AS s;
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'not_null', '"we\"ird; col"');
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'match_regex',
       '{"column": "Mixed Case", "regex": "^[A-Z]$"}', name => 'upper; DROP TABLE x --');
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'unique', '["we\"ird; col", "Mixed Case"]');
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'row_condition',
       '{"condition": "\"Mixed Case\" <> ''b''"}');
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'not_null', '"mixed case"');
SELECT expectation, success, elements, unexpected, samples
  FROM dq_show('"Dq Odd"') ORDER BY expectation;
SELECT count(*) AS odd_rows FROM dq_src.odd;

-- ---------------------------------------------------------------
-- dq_summary: weighted score (fail 3, drop 2, warn 1) and trend
-- ---------------------------------------------------------------
DELETE FROM lakehouse.dq_results;
SELECT lakehouse.lh_drop_expectation('silver."Dq Odd"', name)
  FROM lakehouse.dq_expectations e JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'Dq Odd' ORDER BY name;
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'not_null', '"we\"ird; col"', severity => 'fail');
SELECT lakehouse.lh_add_expectation('silver."Dq Odd"', 'not_null', '"Mixed Case"');
SELECT success FROM lakehouse.lh_check('silver."Dq Odd"') ORDER BY expectation;
SELECT table_name, expectations, passed, failed, failed_fail, score, previous_score, score_change, trend
  FROM lakehouse.dq_summary;
UPDATE silver."Dq Odd" SET "we""ird; col" = 'z' WHERE "we""ird; col" IS NULL;
SELECT success FROM lakehouse.lh_check('silver."Dq Odd"') ORDER BY expectation;
SELECT table_name, expectations, passed, failed, failed_fail, score, previous_score, score_change, trend
  FROM lakehouse.dq_summary;
UPDATE silver."Dq Odd" SET "Mixed Case" = NULL;
SELECT success FROM lakehouse.lh_check('silver."Dq Odd"') ORDER BY expectation;
SELECT table_name, passed, failed, score, previous_score, score_change, trend
  FROM lakehouse.dq_summary;

-- expectations go with their table
SELECT lakehouse.lh_drop_table('silver."Dq Odd"', drop_data => true);
SELECT count(*) AS left_over FROM lakehouse.dq_expectations e
 WHERE NOT EXISTS (SELECT 1 FROM lakehouse.tables t WHERE t.table_id = e.table_id);

SELECT lakehouse.lh_drop_pipeline('dq', drop_tables => true);
SELECT count(*) AS expectations_left FROM lakehouse.dq_expectations;
DELETE FROM lakehouse.dq_results;
DELETE FROM lakehouse.quarantine WHERE target_table LIKE 'silver.%dq%';
DELETE FROM lakehouse.runs WHERE pipeline_name = 'dq';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'dq';
DROP FUNCTION dq_show(text, text);
DROP FUNCTION dq_sorted(jsonb);
DROP SCHEMA dq_src CASCADE;

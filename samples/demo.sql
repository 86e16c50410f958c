-- samples/demo.sql: a guided tour of the lakehouse extension.
--
-- Run it as a superuser, in a database where
--     CREATE EXTENSION pg_cron; CREATE EXTENSION lakehouse;
-- already ran, with the absolute path of this directory:
--
--     psql -X -v samples_dir=/abs/path/to/samples -f samples/demo.sql
--
-- The server reads the sample files itself (COPY and lh_apply_config_file
-- run in the backend), so samples_dir must be readable by the server's OS
-- user.  The script starts by removing what an earlier run of it left
-- behind, so it can be run again.  The data comes from samples/generate.py.

\set ON_ERROR_STOP on
\set QUIET on

\if :{?samples_dir}
\else
\echo 'usage: psql -X -v samples_dir=/abs/path/to/samples -f samples/demo.sql'
\quit
\endif

\pset border 2
\pset null '·'
\pset footer off
SET client_min_messages = warning;
SET TimeZone = 'UTC';

\set products_csv :samples_dir '/data/products.csv'
\set orders_yaml :samples_dir '/orders.yaml'
\set returns_yaml :samples_dir '/returns.yaml'
\set dq_yaml :samples_dir '/quality/dq.yaml'

\echo
\echo '━━━ 0. Clean slate (drops what an earlier run of this demo created) ━━━'
DO $$
BEGIN
    -- "returns" first: it depends on "orders".
    IF EXISTS (SELECT 1 FROM lakehouse.pipelines WHERE name = 'returns') THEN
        PERFORM lakehouse.lh_drop_pipeline('returns', drop_tables => true);
    END IF;
    IF EXISTS (SELECT 1 FROM lakehouse.pipelines WHERE name = 'orders') THEN
        PERFORM lakehouse.lh_drop_pipeline('orders', drop_tables => true);
    END IF;
END
$$;
DROP TABLE IF EXISTS gold.returns_by_sku_reason, gold.customer_360,
    gold.daily_revenue, gold.fact_sales,
    silver.returns, silver.orders, silver.customers, silver.products,
    bronze.returns_raw, bronze.orders_raw, bronze.customers_raw,
    bronze.products_raw,
    prod.products;

\echo
\echo '━━━ 1. A "production" table: prod.products, loaded from data/products.csv ━━━'
CREATE SCHEMA IF NOT EXISTS prod;
CREATE TABLE prod.products (
    product_id  bigint PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    category    text,
    list_price  numeric(12,2) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON prod.products (updated_at);
COPY prod.products FROM :'products_csv' WITH (FORMAT csv, HEADER true);
SELECT count(*) AS products, min(updated_at) AS oldest_update, max(updated_at) AS newest_update
  FROM prod.products;

\echo
\echo '━━━ 1b. silver.returns, partitioned by return_date (one partition per quarter) ━━━'
-- lh_define_silver adopts an existing table whose columns match the mapping;
-- a partitioned one works as long as its keys include the partition key.
CREATE SCHEMA IF NOT EXISTS silver;
CREATE TABLE silver.returns (
    return_id   bigint NOT NULL,
    order_id    bigint,
    sku         text,
    reason      text,
    amount      numeric(12,2),
    return_date date NOT NULL,
    note        text,
    PRIMARY KEY (return_id, return_date)
) PARTITION BY RANGE (return_date);
CREATE TABLE silver.returns_2024q1 PARTITION OF silver.returns
    FOR VALUES FROM ('2024-01-01') TO ('2024-04-01');
CREATE TABLE silver.returns_2024q2 PARTITION OF silver.returns
    FOR VALUES FROM ('2024-04-01') TO ('2024-07-01');
CREATE TABLE silver.returns_2024q3 PARTITION OF silver.returns
    FOR VALUES FROM ('2024-07-01') TO ('2024-10-01');
CREATE TABLE silver.returns_other PARTITION OF silver.returns DEFAULT;

\echo
\echo '━━━ 2. Declare the pipelines from YAML (orders.yaml, returns.yaml) ━━━'
SELECT lakehouse.lh_apply_config_file(:'orders_yaml') AS "orders.yaml applied";
SELECT lakehouse.lh_apply_config_file(:'returns_yaml') AS "returns.yaml applied";

SELECT s.source, s.pipeline, s.kind, s.bronze_table
  FROM lakehouse.source_status s
 WHERE s.pipeline IN ('orders', 'returns')
 ORDER BY s.pipeline, s.source;

SELECT format('%I.%I', t.schema_name, t.table_name) AS "table", p.name AS pipeline,
       t.layer, coalesce(t.gold_kind, '') AS kind,
       coalesce(array_to_string(t.keys, ', '), '') AS keys,
       coalesce(t.order_by, '') AS order_by
  FROM lakehouse.tables t
  JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE p.name IN ('orders', 'returns')
 ORDER BY p.name DESC, t.layer DESC, t.position, 1;

\echo
\echo '━━━ 3. Run "returns" (runs its upstream "orders" first) ━━━'
SELECT coalesce(max(run_id), 0) AS runs_before FROM lakehouse.runs \gset
SELECT lakehouse.lh_run_pipeline('returns') AS summary \gset
\pset format unaligned
\pset tuples_only on
SELECT jsonb_pretty(:'summary'::jsonb);
\pset tuples_only off
\pset format aligned

\echo
\echo '━━━ 4. Rows per stage ━━━'
\echo 'Every stage accounts for every row: read = written + quarantined + skipped'
\echo '(skipped = duplicates superseded by a newer version, or dead letters).'
SELECT d.run_id, d.pipeline, d.stage_no AS "#", d.stage, d.target, d.status,
       d.rows_read AS read, d.rows_written AS written,
       d.rows_quarantined AS quarantined, d.rows_skipped AS skipped,
       CASE WHEN d.rows_read = d.rows_written + d.rows_quarantined + d.rows_skipped
            THEN 'yes' ELSE 'NO' END AS balanced
  FROM lakehouse.run_stage_details d
 WHERE d.run_id > :runs_before
 ORDER BY d.run_id, d.stage_no;

\echo
\echo 'Bronze -> silver: each bronze row went to silver, to quarantine, or was superseded.'
WITH flows(bronze_table, bronze_rows, silver_table, silver_rows) AS (
    VALUES ('bronze.orders_raw',    (SELECT count(*) FROM bronze.orders_raw),
            'silver.orders',        (SELECT count(*) FROM silver.orders)),
           ('bronze.customers_raw', (SELECT count(*) FROM bronze.customers_raw),
            'silver.customers',     (SELECT count(*) FROM silver.customers)),
           ('bronze.products_raw',  (SELECT count(*) FROM bronze.products_raw),
            'silver.products',      (SELECT count(*) FROM silver.products)),
           ('bronze.returns_raw',   (SELECT count(*) FROM bronze.returns_raw),
            'silver.returns',       (SELECT count(*) FROM silver.returns)))
SELECT f.bronze_table, f.bronze_rows, f.silver_table, f.silver_rows,
       q.n AS quarantined, f.bronze_rows - f.silver_rows - q.n AS superseded
  FROM flows f
  JOIN lakehouse.tables t ON format('%s.%s', t.schema_name, t.table_name) = f.silver_table
  CROSS JOIN LATERAL (SELECT count(*) FROM lakehouse.quarantine x
                       WHERE x.table_id = t.table_id) q(n)
 ORDER BY f.bronze_table;

\echo
\echo 'De-duplication at work: the bronze history of one order, and what silver kept.'
SELECT b._lh_position AS position, b.payload->>'order_id' AS order_id,
       b.payload->>'status' AS status, b.payload->>'updated_at' AS updated_at
  FROM bronze.orders_raw b
 WHERE b.payload->>'order_id' = (SELECT payload->>'order_id' FROM bronze.orders_raw
                                  GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 1)
 ORDER BY b._lh_id;
SELECT o.order_id, o.status, o.updated_at
  FROM silver.orders o
 WHERE o.order_id = (SELECT (payload->>'order_id')::bigint FROM bronze.orders_raw
                      GROUP BY payload->>'order_id' HAVING count(*) >= 3
                      ORDER BY payload->>'order_id' LIMIT 1);

\echo
\echo '━━━ 5. Quarantine: rows that broke a silver rule ━━━'
SELECT q.target_table, q.source_position AS position, q.column_name AS "column",
       q.value, q.reason
  FROM lakehouse.quarantine q
  JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE p.name IN ('orders', 'returns')
 ORDER BY q.target_table, q.bronze_id;

SELECT qs.pipeline, qs.target_table, qs.column_name AS "column", qs.reason, qs.rows,
       qs.example_value
  FROM lakehouse.quarantine_summary qs
 WHERE qs.pipeline IN ('orders', 'returns')
 ORDER BY qs.pipeline, qs.target_table, qs.rows DESC, qs.column_name, qs.reason;

\echo
\echo '━━━ 6. Dead letters: records that never made it into bronze ━━━'
SELECT d.source_name, d.source_position AS position, d.reason,
       left(convert_from(d.raw, 'UTF8'), 50) AS raw_start
  FROM lakehouse.dead_letters d
  JOIN lakehouse.sources s USING (source_id)
  JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE p.name IN ('orders', 'returns')
 ORDER BY d.dead_letter_id;

\echo
\echo '━━━ 7. Gold ━━━'
\echo 'gold.fact_sales (first orders)'
SELECT order_id, order_date, status, customer_id, customer_name, country, sku,
       product_name, quantity, unit_price, amount
  FROM gold.fact_sales
 ORDER BY order_id
 LIMIT 10;

\echo 'gold.daily_revenue (best days)'
SELECT day, orders, units, revenue
  FROM gold.daily_revenue
 ORDER BY revenue DESC, day
 LIMIT 10;

\echo 'gold.daily_revenue (per month)'
SELECT to_char(date_trunc('month', day), 'YYYY-MM') AS month, sum(orders) AS orders,
       sum(units) AS units, sum(revenue) AS revenue
  FROM gold.daily_revenue
 GROUP BY 1
 ORDER BY 1;

\echo 'gold.customer_360 (top customers by monetary value; recency against 2024-07-01)'
SELECT customer_id, customer_name, country, last_order_date, recency_days, frequency,
       monetary, rfm_score, rfm_segment
  FROM gold.customer_360
 ORDER BY monetary DESC, customer_id
 LIMIT 10;

\echo 'gold.customer_360 (segments)'
SELECT rfm_segment, count(*) AS customers, round(avg(recency_days)) AS avg_recency_days,
       round(avg(frequency), 1) AS avg_frequency, sum(monetary) AS monetary
  FROM gold.customer_360
 GROUP BY rfm_segment
 ORDER BY monetary DESC;

\echo 'gold.returns_by_sku_reason (most returned)'
SELECT sku, product_name, reason, returns, total_amount
  FROM gold.returns_by_sku_reason
 ORDER BY returns DESC, total_amount DESC, sku, reason
 LIMIT 10;

\echo 'silver.returns: rows per partition'
SELECT r.tableoid::regclass AS partition, count(*) AS returns,
       min(r.return_date) AS first_day, max(r.return_date) AS last_day
  FROM silver.returns r
 GROUP BY r.tableoid
 ORDER BY 1;

\echo
\echo '━━━ 7b. Data quality, the data contract and the schema policy ━━━'
\echo 'expectations of silver.orders, checked after its silver stage (latest results)'
SELECT r.expectation, r.severity, r.success, r.element_count AS checked,
       r.unexpected_count AS unexpected, r.partial_unexpected_list AS samples
  FROM lakehouse.dq_results r
 WHERE r.check_id = (SELECT max(check_id) FROM lakehouse.dq_results
                      WHERE table_name = 'silver.orders')
 ORDER BY r.expectation;
SELECT table_name, expectations, passed, failed, score, trend
  FROM lakehouse.dq_summary
 WHERE table_name LIKE 'silver.%' OR table_name LIKE 'gold.%'
 ORDER BY table_name;

\echo 'contract of gold.daily_revenue vs the table: the table declares no NOT NULL and no primary'
\echo 'key (gold tables are created from their query); the contract enforces both anyway:'
SELECT * FROM lakehouse.lh_contract_diff('gold.daily_revenue');
\echo 'a row that breaks it is refused:'
\set ON_ERROR_STOP off
INSERT INTO gold.daily_revenue (day, orders, revenue, units)
VALUES (DATE '2024-07-01', 0, -5, 1);
\echo 'and so is DDL that breaks the schema policy of silver.orders (additive):'
ALTER TABLE silver.orders DROP COLUMN status;
\set ON_ERROR_STOP on

\echo 'payload fields that no silver mapping reads yet (schema drift):'
SELECT silver_table, field_path, seen_count, example_value
  FROM lakehouse.schema_drift
 WHERE pipeline IN ('orders', 'returns')
 ORDER BY silver_table, field_path
 LIMIT 10;

\echo
\echo '━━━ 7c. The original project''s dq.yaml: quality/dq.yaml applied as written ━━━'
\echo 'not-null keys, primary keys, referential integrity to silver.customers, freshness and a'
\echo 'control total, for silver.orders, silver.customers and silver.products; critical_checks'
\echo 'makes a failing not_null_keys, referential_integrity or freshness check fail the run'
SELECT t->>'table' AS "table", t->'added' AS added, t->'changed' AS changed,
       t->'removed' AS removed
  FROM jsonb_array_elements(lakehouse.lh_apply_quality_config_file(:'dq_yaml')->'tables') t;
SELECT format('%I.%I', t.schema_name, t.table_name) AS "table", e.name AS "check",
       c.check_type AS type, c.action, c.category, c.critical, e.severity
  FROM lakehouse.dq_config_checks c
  JOIN lakehouse.dq_expectations e USING (expectation_id)
  JOIN lakehouse.tables t USING (table_id)
 ORDER BY 1, c.position;
\echo 'applying it again changes nothing:'
SELECT count(*) FILTER (WHERE t->'added' <> '[]' OR t->'changed' <> '[]'
                           OR t->'removed' <> '[]') AS tables_changed
  FROM jsonb_array_elements(lakehouse.lh_apply_quality_config_file(:'dq_yaml')->'tables') t;
\echo 'the checks now (lh_check records them and never raises).  freshness fails: the sample'
\echo 'data ends in July 2024; in a run that writes silver.orders this critical check would'
\echo 'fail the stage.'
SELECT x.tbl AS "table", c.expectation AS "check", c.severity, c.success,
       c.unexpected_count AS unexpected, c.observed_value AS observed
  FROM (VALUES ('silver.orders'), ('silver.customers'), ('silver.products')) x(tbl)
 CROSS JOIN LATERAL lakehouse.lh_check(x.tbl) c
 WHERE c.expectation IN (SELECT e.name FROM lakehouse.dq_expectations e
                          WHERE e.origin = 'quality_config')
 ORDER BY 1, 2;

\echo
\echo '━━━ 8. Pipeline status and run ledger ━━━'
SELECT pipeline, schedule, coalesce(array_to_string(depends_on, ', '), '') AS depends_on,
       sources, silver_tables AS silver, gold_tables AS gold,
       last_run_id, last_status, last_failed_stage, last_error
  FROM lakehouse.pipeline_status
 WHERE pipeline IN ('orders', 'returns')
 ORDER BY pipeline;

SELECT to_regclass('cron.job') IS NOT NULL AS has_pg_cron \gset
\if :has_pg_cron
SELECT jobname, schedule, command
  FROM cron.job
 WHERE jobname LIKE 'lakehouse: %'
 ORDER BY jobname;
\endif

SELECT run_id, pipeline, status, rows_read AS read, rows_written AS written,
       rows_quarantined AS quarantined, failed_stage,
       date_trunc('milliseconds', duration) AS duration
  FROM lakehouse.recent_runs
 WHERE run_id > :runs_before
 ORDER BY run_id;

\echo
\echo '━━━ 9. Incremental: two new products and one price change in prod.products ━━━'
INSERT INTO prod.products (product_id, sku, name, category, list_price, updated_at) VALUES
    (201, 'SKU-01201', 'Nordic Trail runner', 'footwear', 129.99, '2024-07-01 09:00:00+00'),
    (202, 'SKU-01202', 'Eco Headlamp', 'outdoor', 34.99, '2024-07-01 09:05:00+00');
UPDATE prod.products SET list_price = 89.99, updated_at = '2024-07-01 09:10:00+00'
 WHERE product_id = 3;

SELECT coalesce(max(run_id), 0) AS runs_before FROM lakehouse.runs \gset
SELECT lakehouse.lh_run_pipeline('orders') AS summary \gset
SELECT (:'summary'::jsonb)->>'run_id' AS run_id, (:'summary'::jsonb)->>'status' AS status,
       (:'summary'::jsonb)->>'rows_read' AS rows_read,
       (:'summary'::jsonb)->>'rows_written' AS rows_written;

\echo 'Only the new rows were read: the file sources had nothing new, the table source'
\echo 'read the three rows past its updated_at watermark.'
SELECT d.run_id, d.stage_no AS "#", d.stage, d.target, d.status,
       d.rows_read AS read, d.rows_written AS written,
       d.rows_quarantined AS quarantined, d.rows_skipped AS skipped
  FROM lakehouse.run_stage_details d
 WHERE d.run_id > :runs_before
 ORDER BY d.run_id, d.stage_no;

SELECT product_id, sku, name, category, list_price, updated_at
  FROM silver.products
 WHERE product_id IN (3, 201, 202)
 ORDER BY product_id;

SELECT source, kind, marks
  FROM lakehouse.source_status
 WHERE pipeline IN ('orders', 'returns')
 ORDER BY pipeline, source;

\echo
\echo '━━━ 10. Run ledger ━━━'
SELECT run_id, pipeline, status, rows_read AS read, rows_written AS written,
       rows_quarantined AS quarantined, failed_stage,
       date_trunc('milliseconds', duration) AS duration
  FROM lakehouse.recent_runs
 ORDER BY run_id DESC
 LIMIT 10;

\echo
\echo 'Done.  Try:  SELECT * FROM lakehouse.pipeline_status;'
\echo '             SELECT * FROM gold.customer_360 WHERE rfm_segment = ''at risk'';'

-- bench/incremental.sh: the hand-written dbt-style incremental models, one
-- after another as `dbt run` would run them, each timed on its own.
-- psql variables: level (for bench.timings), is_incremental (false: the
-- first build, dbt's full run; true: delete the affected keys, then insert
-- them again, dbt's delete+insert strategy with a unique_key).
--
-- Each incremental model does what dbt's delete+insert materialization
-- does on PostgreSQL: the model's SELECT, restricted by is_incremental() to
-- what changed since the watermark (max(updated_at) seen by the last run,
-- kept in bench.dbt_state), into a temporary table; DELETE FROM the target
-- WHERE key IN (SELECT key FROM tmp); INSERT INTO the target SELECT FROM
-- tmp; in one transaction.  Affected groups are found from the new rows
-- only (a dbt model cannot see the old version of an updated row), which
-- is exact here because the benchmark's updates never move an order to
-- another day, customer or product.
SET timezone = 'UTC';
SELECT coalesce((SELECT wm FROM bench.dbt_state), '-infinity') AS wm \gset

-- --- fact_orders: unique_key order_id -------------------------------------------
SELECT clock_timestamp() AS t0 \gset
BEGIN;
\if :is_incremental
CREATE TEMP TABLE fact_orders__dbt_tmp AS
SELECT o.order_id, o.order_ts, (o.order_ts AT TIME ZONE 'UTC')::date AS order_date, o.status,
       o.customer_id, o.product_id, p.sku, p.name AS product_name, p.category, o.quantity, o.amount,
       (o.quantity * p.list_price)::numeric(14,2) AS list_amount, o.updated_at
  FROM silver.orders o
  LEFT JOIN silver.products p ON p.product_id = o.product_id
 WHERE o.updated_at > :'wm';
DELETE FROM bench.dbt_fact_orders WHERE order_id IN (SELECT order_id FROM fact_orders__dbt_tmp);
INSERT INTO bench.dbt_fact_orders SELECT * FROM fact_orders__dbt_tmp;
DROP TABLE fact_orders__dbt_tmp;
\else
TRUNCATE bench.dbt_fact_orders;
INSERT INTO bench.dbt_fact_orders
SELECT o.order_id, o.order_ts, (o.order_ts AT TIME ZONE 'UTC')::date AS order_date, o.status,
       o.customer_id, o.product_id, p.sku, p.name AS product_name, p.category, o.quantity, o.amount,
       (o.quantity * p.list_price)::numeric(14,2) AS list_amount, o.updated_at
  FROM silver.orders o
  LEFT JOIN silver.products p ON p.product_id = o.product_id;
\endif
COMMIT;
INSERT INTO bench.timings (level, query, side, ms)
VALUES (:'level', 'fact_orders', 'dbt', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);

-- --- daily_sales: unique_key day --------------------------------------------------
SELECT clock_timestamp() AS t0 \gset
BEGIN;
\if :is_incremental
CREATE TEMP TABLE daily_sales__dbt_tmp AS
SELECT (o.order_ts AT TIME ZONE 'UTC')::date AS day, count(*) AS orders,
       sum(o.amount) AS revenue, sum(o.quantity) AS units
  FROM silver.orders o
 WHERE o.status <> 'cancelled'
   AND (o.order_ts AT TIME ZONE 'UTC')::date IN
       (SELECT (n.order_ts AT TIME ZONE 'UTC')::date FROM silver.orders n WHERE n.updated_at > :'wm')
 GROUP BY 1;
DELETE FROM bench.dbt_daily_sales WHERE day IN (SELECT day FROM daily_sales__dbt_tmp);
INSERT INTO bench.dbt_daily_sales SELECT * FROM daily_sales__dbt_tmp;
DROP TABLE daily_sales__dbt_tmp;
\else
TRUNCATE bench.dbt_daily_sales;
INSERT INTO bench.dbt_daily_sales
SELECT (o.order_ts AT TIME ZONE 'UTC')::date AS day, count(*) AS orders,
       sum(o.amount) AS revenue, sum(o.quantity) AS units
  FROM silver.orders o
 WHERE o.status <> 'cancelled'
 GROUP BY 1;
\endif
COMMIT;
INSERT INTO bench.timings (level, query, side, ms)
VALUES (:'level', 'daily_sales', 'dbt', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);

-- --- customer_products: unique_key customer_id ------------------------------------
SELECT clock_timestamp() AS t0 \gset
BEGIN;
\if :is_incremental
CREATE TEMP TABLE customer_products__dbt_tmp AS
SELECT o.customer_id, count(*) AS orders, count(DISTINCT o.product_id) AS distinct_products,
       sum(o.amount) AS revenue
  FROM silver.orders o
 WHERE o.customer_id IN (SELECT n.customer_id FROM silver.orders n WHERE n.updated_at > :'wm')
 GROUP BY o.customer_id;
DELETE FROM bench.dbt_customer_products
 WHERE customer_id IN (SELECT customer_id FROM customer_products__dbt_tmp);
INSERT INTO bench.dbt_customer_products SELECT * FROM customer_products__dbt_tmp;
DROP TABLE customer_products__dbt_tmp;
\else
TRUNCATE bench.dbt_customer_products;
INSERT INTO bench.dbt_customer_products
SELECT o.customer_id, count(*) AS orders, count(DISTINCT o.product_id) AS distinct_products,
       sum(o.amount) AS revenue
  FROM silver.orders o
 GROUP BY o.customer_id;
\endif
COMMIT;
INSERT INTO bench.timings (level, query, side, ms)
VALUES (:'level', 'customer_products', 'dbt', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);

-- --- customer_360: incremental base (unique_key customer_id) + table model ---------
SELECT clock_timestamp() AS t0 \gset
BEGIN;
\if :is_incremental
-- affected customers: those of fact rows newer than the watermark; a
-- customer left with only cancelled orders is deleted and not re-inserted
CREATE TEMP TABLE rfm_affected AS
SELECT DISTINCT f.customer_id FROM bench.dbt_fact_orders f WHERE f.updated_at > :'wm';
CREATE TEMP TABLE customer_rfm_base__dbt_tmp AS
SELECT f.customer_id, min(c.name) AS customer_name, min(c.country) AS country,
       min(f.order_date) AS first_order_date, max(f.order_date) AS last_order_date,
       count(DISTINCT f.order_id) AS frequency, sum(f.amount)::numeric(14,2) AS monetary
  FROM bench.dbt_fact_orders f
  LEFT JOIN silver.customers c ON c.customer_id = f.customer_id
 WHERE f.status <> 'cancelled' AND f.customer_id IN (SELECT customer_id FROM rfm_affected)
 GROUP BY f.customer_id;
DELETE FROM bench.dbt_customer_rfm_base WHERE customer_id IN (SELECT customer_id FROM rfm_affected);
INSERT INTO bench.dbt_customer_rfm_base SELECT * FROM customer_rfm_base__dbt_tmp;
DROP TABLE customer_rfm_base__dbt_tmp, rfm_affected;
\else
TRUNCATE bench.dbt_customer_rfm_base;
INSERT INTO bench.dbt_customer_rfm_base
SELECT f.customer_id, min(c.name), min(c.country), min(f.order_date), max(f.order_date),
       count(DISTINCT f.order_id), sum(f.amount)::numeric(14,2)
  FROM bench.dbt_fact_orders f
  LEFT JOIN silver.customers c ON c.customer_id = f.customer_id
 WHERE f.status <> 'cancelled'
 GROUP BY f.customer_id;
\endif
-- the scoring: a table model (ntile ranks every customer)
TRUNCATE bench.dbt_customer_360;
INSERT INTO bench.dbt_customer_360
WITH scored AS (
    SELECT pc.*,
           DATE '2025-01-01' - pc.last_order_date AS recency_days,
           ntile(5) OVER (ORDER BY pc.last_order_date, pc.customer_id) AS r_score,
           ntile(5) OVER (ORDER BY pc.frequency, pc.customer_id) AS f_score,
           ntile(5) OVER (ORDER BY pc.monetary, pc.customer_id) AS m_score
      FROM bench.dbt_customer_rfm_base pc
)
SELECT s.customer_id, s.customer_name, s.country, s.first_order_date, s.last_order_date,
       s.recency_days, s.frequency, s.monetary,
       s.r_score::text || s.f_score::text || s.m_score::text AS rfm_score,
       CASE
           WHEN s.r_score >= 4 AND s.f_score >= 4 THEN 'champions'
           WHEN s.r_score >= 3 AND s.f_score >= 3 THEN 'loyal'
           WHEN s.r_score >= 4 THEN 'promising'
           WHEN s.r_score <= 2 AND s.f_score >= 4 THEN 'cannot lose them'
           WHEN s.r_score <= 2 AND s.f_score >= 3 THEN 'at risk'
           WHEN s.r_score <= 2 THEN 'hibernating'
           ELSE 'needs attention'
       END AS rfm_segment
  FROM scored s;
COMMIT;
INSERT INTO bench.timings (level, query, side, ms)
VALUES (:'level', 'customer_360', 'dbt', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);

-- the watermark of the next run (dbt: max(updated_at) FROM {{ this }})
DELETE FROM bench.dbt_state;
INSERT INTO bench.dbt_state SELECT max(updated_at) FROM silver.orders;

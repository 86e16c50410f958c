-- bench/incremental.sh setup: the production tables, the pipeline "shop"
-- (table sources over prod.* -> silver -> four gold tables, refresh: auto),
-- the pipeline "shop_full" (the same four gold queries into gold_full.*,
-- refresh: full) and the tables of the dbt-style models (bench.dbt_*).
-- psql variables: rows (orders), customers, products.  Without the
-- incremental engine (no column run_stages.refresh: the option "refresh" is
-- unknown), shop_full is declared without options and every side rebuilds.
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE EXTENSION lakehouse;
SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'lakehouse.run_stages'::regclass
                  AND attname = 'refresh' AND NOT attisdropped) AS has_ivm \gset
CREATE SCHEMA prod;
CREATE SCHEMA bench;
CREATE SCHEMA gold_full;

-- --- production data (deterministic: setseed, one backend) -------------------

SELECT setseed(0.18);

CREATE TABLE prod.customers (
    customer_id bigint PRIMARY KEY,
    name        text NOT NULL,
    country     text NOT NULL,
    signup_date date NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO prod.customers
SELECT g, 'customer ' || g,
       (ARRAY['DE', 'FR', 'NL', 'IT', 'ES', 'PL', 'SE', 'AT', 'BE', 'DK'])[1 + (g * 7) % 10],
       DATE '2020-01-01' + (g % 1500),
       TIMESTAMPTZ '2024-12-31 00:00:00+00'
  FROM generate_series(1, :customers) g;

CREATE TABLE prod.products (
    product_id bigint PRIMARY KEY,
    sku        text NOT NULL,
    name       text NOT NULL,
    category   text NOT NULL,
    list_price numeric(12,2) NOT NULL,
    updated_at timestamptz NOT NULL
);
INSERT INTO prod.products
SELECT g, 'SKU-' || lpad(g::text, 6, '0'), 'product ' || g,
       (ARRAY['books', 'toys', 'garden', 'kitchen', 'sports', 'music', 'tools', 'beauty'])[1 + g % 8],
       round((2 + random() * 198)::numeric, 2),
       TIMESTAMPTZ '2024-12-31 00:00:00+00'
  FROM generate_series(1, :products) g;

-- orders over three years (2022-01-01 .. 2024-12-31, 1,096 days); customers
-- skewed (random()^2: low ids order more), products uniform; 5% cancelled.
CREATE TABLE prod.orders (
    order_id    bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    product_id  bigint NOT NULL,
    quantity    integer NOT NULL,
    amount      numeric(12,2) NOT NULL,
    status      text NOT NULL,
    order_ts    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO prod.orders
SELECT g, c, p, q, round((q * (2 + random() * 198))::numeric, 2),
       CASE WHEN s < 0.05 THEN 'cancelled' WHEN s < 0.15 THEN 'placed'
            WHEN s < 0.35 THEN 'shipped' ELSE 'delivered' END,
       ts, ts + (random() * 72) * interval '1 hour'
  FROM (SELECT g,
               1 + floor(:customers * random() ^ 2)::bigint AS c,
               1 + floor(:products * random())::bigint AS p,
               1 + floor(random() * 4)::int AS q,
               random() AS s,
               TIMESTAMPTZ '2022-01-01 00:00:00+00' + random() * interval '1096 days' AS ts
          FROM generate_series(1, :rows) g) x;
-- the table source reads by its watermark
CREATE INDEX ON prod.orders (updated_at);
VACUUM ANALYZE prod.customers, prod.products, prod.orders;

-- --- pipeline "shop": table sources -> silver -> gold (refresh: auto) --------

SELECT lakehouse.lh_create_pipeline('shop', 'incremental benchmark') > 0 AS ok \gset
SELECT lakehouse.lh_add_source('shop', 'orders_src', 'table',
       '{"table": "prod.orders", "watermark": "updated_at"}') > 0 AS ok \gset
SELECT lakehouse.lh_add_source('shop', 'customers_src', 'table',
       '{"table": "prod.customers", "watermark": "updated_at"}') > 0 AS ok \gset
SELECT lakehouse.lh_add_source('shop', 'products_src', 'table',
       '{"table": "prod.products", "watermark": "updated_at"}') > 0 AS ok \gset
SELECT lakehouse.lh_define_silver('shop', 'silver.customers', 'customers_src',
       '[{"name": "customer_id", "type": "bigint", "required": true},
         {"name": "name", "type": "text"}, {"name": "country", "type": "text"},
         {"name": "signup_date", "type": "date"}, {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{customer_id}', order_by => 'updated_at') > 0 AS ok \gset
SELECT lakehouse.lh_define_silver('shop', 'silver.products', 'products_src',
       '[{"name": "product_id", "type": "bigint", "required": true},
         {"name": "sku", "type": "text"}, {"name": "name", "type": "text"},
         {"name": "category", "type": "text"}, {"name": "list_price", "type": "numeric(12,2)"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{product_id}', order_by => 'updated_at') > 0 AS ok \gset
SELECT lakehouse.lh_define_silver('shop', 'silver.orders', 'orders_src',
       '[{"name": "order_id", "type": "bigint", "required": true},
         {"name": "customer_id", "type": "bigint", "required": true},
         {"name": "product_id", "type": "bigint", "required": true},
         {"name": "quantity", "type": "integer"}, {"name": "amount", "type": "numeric(12,2)"},
         {"name": "status", "type": "text"}, {"name": "order_ts", "type": "timestamptz"},
         {"name": "updated_at", "type": "timestamptz", "required": true}]',
       keys => '{order_id}', order_by => 'updated_at') > 0 AS ok \gset
-- what a user adds for per-customer recomputation (the engine's partial
-- path, the dbt models) and for the dbt models' watermark
CREATE INDEX ON silver.orders (customer_id);
CREATE INDEX ON silver.orders (updated_at);

-- The four gold queries, once; shop and shop_full declare them from here.
-- {fact} is the fact table customer_360 reads: gold.fact_orders for both
-- pipelines (the same rows in the same state), so that gold_full.fact_orders
-- has no gold reader and is not change-captured.
CREATE TABLE bench.queries (ord int, name text, kind text, keys text[], sql text);
INSERT INTO bench.queries VALUES
(1, 'daily_sales', 'merge', '{day}', $q$
SELECT (o.order_ts AT TIME ZONE 'UTC')::date AS day,
       count(*) AS orders,
       sum(o.amount) AS revenue,
       sum(o.quantity) AS units
  FROM silver.orders o
 WHERE o.status <> 'cancelled'
 GROUP BY 1
$q$),
(2, 'customer_products', 'rebuild', NULL, $q$
SELECT o.customer_id,
       count(*) AS orders,
       count(DISTINCT o.product_id) AS distinct_products,
       sum(o.amount) AS revenue
  FROM silver.orders o
 GROUP BY o.customer_id
$q$),
(3, 'fact_orders', 'rebuild', NULL, $q$
SELECT o.order_id,
       o.order_ts,
       (o.order_ts AT TIME ZONE 'UTC')::date AS order_date,
       o.status,
       o.customer_id,
       o.product_id,
       p.sku,
       p.name AS product_name,
       p.category,
       o.quantity,
       o.amount,
       (o.quantity * p.list_price)::numeric(14,2) AS list_amount,
       o.updated_at
  FROM silver.orders o
  LEFT JOIN silver.products p ON p.product_id = o.product_id
$q$),
(4, 'customer_360', 'rebuild', NULL, $q$
WITH per_customer AS (
    SELECT f.customer_id,
           min(c.name) AS customer_name,
           min(c.country) AS country,
           min(f.order_date) AS first_order_date,
           max(f.order_date) AS last_order_date,
           count(DISTINCT f.order_id) AS frequency,
           sum(f.amount)::numeric(14,2) AS monetary
      FROM gold.fact_orders f
      LEFT JOIN silver.customers c ON c.customer_id = f.customer_id
     WHERE f.status <> 'cancelled'
     GROUP BY f.customer_id
), scored AS (
    SELECT pc.*,
           DATE '2025-01-01' - pc.last_order_date AS recency_days,
           ntile(5) OVER (ORDER BY pc.last_order_date, pc.customer_id) AS r_score,
           ntile(5) OVER (ORDER BY pc.frequency, pc.customer_id) AS f_score,
           ntile(5) OVER (ORDER BY pc.monetary, pc.customer_id) AS m_score
      FROM per_customer pc
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
  FROM scored s
$q$);

SELECT count(*) AS defined
  FROM (SELECT * FROM bench.queries ORDER BY ord) q,
       LATERAL lakehouse.lh_define_gold('shop', 'gold.' || q.name, q.sql, q.kind, q.keys) g
 WHERE g > 0 \gset

-- --- pipeline "shop_full": the same queries, refresh: full ------------------

SELECT lakehouse.lh_create_pipeline('shop_full', 'incremental benchmark: rebuild baseline') > 0 AS ok \gset
SELECT count(*) AS defined
  FROM (SELECT * FROM bench.queries ORDER BY ord) q,
       LATERAL lakehouse.lh_define_gold('shop_full', 'gold_full.' || q.name, q.sql, q.kind, q.keys,
                                        options => CASE WHEN :'has_ivm'::boolean
                                                        THEN '{"refresh": "full"}'::jsonb
                                                        ELSE '{}'::jsonb END) g
 WHERE g > 0 \gset

-- --- dbt-style models: tables of the same shape ------------------------------

CREATE TABLE bench.dbt_daily_sales (LIKE gold.daily_sales);
ALTER TABLE bench.dbt_daily_sales ADD PRIMARY KEY (day);
CREATE TABLE bench.dbt_customer_products (LIKE gold.customer_products);
CREATE TABLE bench.dbt_fact_orders (LIKE gold.fact_orders);
-- customer_360 as a dbt project writes it: an incremental per-customer model
-- (delete + insert of the affected customers) and the scoring on top of it
-- as a table model (ntile ranks every customer: it cannot be incremental)
CREATE TABLE bench.dbt_customer_rfm_base (
    customer_id bigint, customer_name text, country text, first_order_date date,
    last_order_date date, frequency bigint, monetary numeric(14,2));
CREATE TABLE bench.dbt_customer_360 (LIKE gold.customer_360);
-- dbt's is_incremental() watermark (max(updated_at) of silver.orders seen)
CREATE TABLE bench.dbt_state (wm timestamptz);

-- the same indexes on the three sides' tables (gold.daily_sales and
-- gold_full.daily_sales have the unique index of their merge keys)
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['gold.fact_orders', 'gold_full.fact_orders', 'bench.dbt_fact_orders'] LOOP
        EXECUTE format('CREATE UNIQUE INDEX ON %s (order_id)', t);
        EXECUTE format('CREATE INDEX ON %s (customer_id)', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['gold.customer_products', 'gold_full.customer_products',
                             'bench.dbt_customer_products', 'gold.customer_360',
                             'gold_full.customer_360', 'bench.dbt_customer_360',
                             'bench.dbt_customer_rfm_base'] LOOP
        EXECUTE format('CREATE UNIQUE INDEX ON %s (customer_id)', t);
    END LOOP;
END
$$;

-- --- bookkeeping -------------------------------------------------------------

-- one row per (change level, query, side)
CREATE TABLE bench.timings (
    level    text,       -- 'load', '0.01%', ...
    query    text,       -- gold query name, or 'run' / 'silver' / 'ingest'
    side     text,       -- 'incremental', 'rebuild', 'dbt'
    ms       float8,
    refresh  text,
    reason   text,
    rows_written bigint
);
CREATE TABLE bench.levels (
    level text, ord int, pct numeric, inserted bigint, updated bigint,
    run_ms float8, silver_ms float8, ingest_ms float8,
    full_run_ms float8, dbt_ms float8, verify_ms float8, vacuum_ms float8
);

-- rows of a minus rows of b plus rows of b minus rows of a (EXCEPT ALL), on
-- the columns of the gold query
CREATE FUNCTION bench.diff_rows(a text, b text, cols text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT (SELECT count(*) FROM (SELECT %3$s FROM %1$s EXCEPT ALL SELECT %3$s FROM %2$s) x)
                         + (SELECT count(*) FROM (SELECT %3$s FROM %2$s EXCEPT ALL SELECT %3$s FROM %1$s) y)',
                   a, b, cols) INTO n;
    RETURN n;
END
$$;

-- the stages of a run into bench.timings
CREATE FUNCTION bench.record_run(p_level text, p_side text, p_run_id bigint, p_schema text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    has_refresh boolean := EXISTS (SELECT FROM pg_attribute
                                    WHERE attrelid = 'lakehouse.run_stages'::regclass
                                      AND attname = 'refresh' AND NOT attisdropped);
BEGIN
    IF has_refresh THEN
        EXECUTE $x$
        INSERT INTO bench.timings
        SELECT $1, CASE WHEN s.stage = 'gold' THEN split_part(s.target, '.', 2) ELSE s.stage || ' ' || s.target END,
               $2, extract(epoch FROM s.finished_at - s.started_at) * 1000,
               CASE WHEN s.status = 'skipped' THEN 'skipped' ELSE s.refresh END, s.refresh_reason, s.rows_written
          FROM lakehouse.run_stages s
         WHERE s.run_id = $3 AND (s.stage <> 'gold' OR s.target LIKE $4 || '.%')$x$
        USING p_level, p_side, p_run_id, p_schema;
    ELSE
        INSERT INTO bench.timings
        SELECT p_level, CASE WHEN s.stage = 'gold' THEN split_part(s.target, '.', 2) ELSE s.stage || ' ' || s.target END,
               p_side, extract(epoch FROM s.finished_at - s.started_at) * 1000,
               CASE WHEN s.status = 'skipped' THEN 'skipped' ELSE 'n/a' END,
               'no refresh column (engine not merged)', s.rows_written
          FROM lakehouse.run_stages s
         WHERE s.run_id = p_run_id AND (s.stage <> 'gold' OR s.target LIKE p_schema || '.%');
    END IF;
END
$$;

-- a run must have succeeded
CREATE FUNCTION bench.check(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'bench check failed: %', what;
    END IF;
    RETURN true;
END
$$;

--
-- incremental: the engine's paths per query shape (incremental, partial,
-- full) with their reasons; after every run each gold table equals its
-- query (EXCEPT ALL both ways)
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET client_min_messages = warning;
CREATE SCHEMA ivm_src;
CREATE TABLE ivm_src.orders (order_id int, customer_id int, day date, amount numeric(12,2),
                             qty int, note text, paid boolean, status text, updated_at timestamptz);
CREATE TABLE ivm_src.customers (customer_id int, name text, country text, updated_at timestamptz);
INSERT INTO ivm_src.customers VALUES
 (1, 'Ann', 'DE', '2024-01-01'), (2, 'Bob', 'FR', '2024-01-01'), (3, 'Cy', NULL, '2024-01-01');
INSERT INTO ivm_src.orders
SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 4 END, DATE '2024-03-01' + i % 5, (i * 1.25)::numeric(12,2),
       i % 3 + 1, CASE WHEN i % 2 = 0 THEN 'n' END, i % 5 <> 0,
       CASE WHEN i % 6 = 0 THEN 'cancelled' ELSE 'placed' END, '2024-01-01'
  FROM generate_series(1, 40) AS i;

SELECT lakehouse.lh_create_pipeline('ivm') > 0 AS ok;
SELECT lakehouse.lh_add_source('ivm', 'ivm_orders', 'table',
       '{"table": "ivm_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_add_source('ivm', 'ivm_customers', 'table',
       '{"table": "ivm_src.customers", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ivm', 'silver.ivm_orders', 'ivm_orders',
       '[{"name": "order_id", "type": "int"}, {"name": "customer_id", "type": "int"},
         {"name": "day", "type": "date"}, {"name": "amount", "type": "numeric(12,2)"},
         {"name": "qty", "type": "int"}, {"name": "note", "type": "text"},
         {"name": "paid", "type": "boolean"}, {"name": "status", "type": "text"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{order_id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ivm', 'silver.ivm_customers', 'ivm_customers',
       '[{"name": "customer_id", "type": "int"}, {"name": "name", "type": "text"},
         {"name": "country", "type": "text"}, {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{customer_id}', order_by => 'updated_at') > 0 AS ok;

-- projection and filter of one table, no keys: a bag
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_proj',
       'SELECT order_id, customer_id, amount * 2 AS doubled, upper(status) AS status
          FROM silver.ivm_orders WHERE status <> ''cancelled''') > 0 AS ok;
-- GROUP BY with every maintained aggregate, HAVING, merged by key
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_daily',
       'SELECT day, count(*) AS n, sum(amount) AS total, avg(amount) AS mean,
               min(amount) AS lo, max(amount) AS hi, count(note) AS notes,
               bool_and(paid) AS all_paid, bool_or(paid) AS any_paid, sum(qty) AS units
          FROM silver.ivm_orders GROUP BY day HAVING count(*) > 1',
       'merge', '{day}') > 0 AS ok;
-- NULL group keys, expressions over aggregates, groups moving
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_by_customer',
       'SELECT customer_id, count(*) AS n, (sum(amount) / count(*))::numeric(14,2) AS per_order,
               sum(qty) AS units
          FROM silver.ivm_orders WHERE status IS DISTINCT FROM ''cancelled''
         GROUP BY customer_id HAVING sum(qty) > 2') > 0 AS ok;
-- left join (the shape of fact_sales): changes on either side
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_fact',
       'SELECT o.order_id, o.day, c.name AS customer_name, c.country, o.amount
          FROM silver.ivm_orders o LEFT JOIN silver.ivm_customers c ON c.customer_id = o.customer_id') > 0 AS ok;
-- inner join, merged by key
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_inner',
       'SELECT o.order_id, c.country, o.qty FROM silver.ivm_orders o
          JOIN silver.ivm_customers c USING (customer_id)', 'merge', '{order_id}') > 0 AS ok;
-- aggregate over a join, grouped by the nullable side
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_country',
       'SELECT c.country, count(*) AS n, sum(o.amount) AS total FROM silver.ivm_orders o
          JOIN silver.ivm_customers c ON c.customer_id = o.customer_id GROUP BY c.country') > 0 AS ok;
-- count(DISTINCT): the groups a change touches are recomputed
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_distinct',
       'SELECT day, count(DISTINCT customer_id) AS customers FROM silver.ivm_orders GROUP BY day') > 0 AS ok;
-- fallbacks
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_window',
       'SELECT order_id, rank() OVER (ORDER BY amount) AS r FROM silver.ivm_orders') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_forced',
       'SELECT day, count(*) AS n FROM silver.ivm_orders GROUP BY day',
       options => '{"refresh": "full"}') > 0 AS ok;

SELECT lakehouse.lh_define_gold('ivm', 'gold.ivm_union',
       'SELECT order_id FROM silver.ivm_orders UNION SELECT customer_id FROM silver.ivm_customers') > 0 AS ok;

-- every gold table of the pipeline against its query
CREATE FUNCTION ivm_src.check() RETURNS TABLE (gold text, differs bigint)
LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
  FOR t IN SELECT schema_name, table_name, sql FROM lakehouse.tables
            WHERE layer = 'gold' AND pipeline_id = (SELECT pipeline_id FROM lakehouse.pipelines WHERE name = 'ivm')
            ORDER BY table_name LOOP
    gold := t.table_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %I.%I EXCEPT ALL SELECT * FROM (%s) q)
                    UNION ALL (SELECT * FROM (%s) q EXCEPT ALL SELECT * FROM %I.%I)) d',
                   t.schema_name, t.table_name, rtrim(t.sql, E'; \n'), rtrim(t.sql, E'; \n'),
                   t.schema_name, t.table_name) INTO differs;
    RETURN NEXT;
  END LOOP;
END $$;
CREATE VIEW ivm_src.last_run AS
SELECT regexp_replace(target, '^gold\.', '') AS gold, status, refresh, refresh_reason
  FROM lakehouse.run_stages
 WHERE stage = 'gold' AND run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ivm')
 ORDER BY 1;

-- first build: full
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;

-- second run with new orders: the state of aggregates is built
INSERT INTO ivm_src.orders VALUES
 (41, 1, '2024-03-02', 7.50, 2, NULL, true, 'placed', '2024-01-02'),
 (42, NULL, '2024-03-09', 1.00, 1, 'x', false, 'placed', '2024-01-02');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;

-- inserts, updates moving rows between groups, a new minimum
INSERT INTO ivm_src.orders VALUES
 (43, 2, '2024-03-03', 0.10, 1, NULL, true, 'placed', '2024-01-03'),
 (5, 3, '2024-03-04', 99.99, 4, 'moved', true, 'placed', '2024-01-03'),
 (7, 1, '2024-03-02', 6.25, 1, NULL, true, 'cancelled', '2024-01-03');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;
SELECT * FROM gold.ivm_daily ORDER BY day;

-- deletes: a maximum leaves (its group is recomputed), a group empties
DELETE FROM silver.ivm_orders WHERE order_id IN (5, 42);
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;
SELECT * FROM gold.ivm_daily ORDER BY day;

-- a change on the nullable side of the left join: partial
INSERT INTO ivm_src.customers VALUES (2, 'Bobby', 'BE', '2024-01-05'), (0, 'Zed', 'DE', '2024-01-05');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;

-- a full refresh run, then incremental again (the state is rebuilt)
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm', full_refresh => true) AS s;
SELECT DISTINCT refresh, refresh_reason FROM ivm_src.last_run;
UPDATE silver.ivm_orders SET amount = amount + 0.01 WHERE order_id = 10;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
UPDATE silver.ivm_orders SET amount = amount + 0.01, customer_id = NULL WHERE order_id = 11;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;

-- a large change goes full, with its share
ANALYZE silver.ivm_orders;
INSERT INTO ivm_src.orders
SELECT i, i % 4, DATE '2024-03-01' + i % 5, 1, 1, NULL, true, 'placed', '2024-01-06'
  FROM generate_series(100, 1200) AS i;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivm') AS s;
SELECT * FROM ivm_src.last_run;
SELECT * FROM ivm_src.check() WHERE differs <> 0;

-- the state table goes with its gold table
SELECT count(*) > 0 AS has_state FROM pg_tables WHERE schemaname = 'lakehouse_ivm';
SELECT lakehouse.lh_drop_pipeline('ivm', drop_tables => true);
SELECT count(*) AS states_left FROM pg_tables WHERE schemaname = 'lakehouse_ivm';
DROP SCHEMA ivm_src CASCADE;

--
-- the staged path: an outer query (ntile windows, CASE) over one CTE that
-- aggregates captured inputs (the shape of the sample customer_360); the
-- CTE's groups are maintained, the outer query recomputed over them.
-- And count(DISTINCT) maintained by per-(group, value) multiplicities.
--
CREATE SCHEMA ivs_src;
CREATE TABLE ivs_src.orders (order_id int, customer_id int, product_id int, day date,
                             amount numeric(12,2), status text, updated_at timestamptz);
CREATE TABLE ivs_src.customers (customer_id int, name text, updated_at timestamptz);
INSERT INTO ivs_src.customers SELECT i, 'c' || i, '2024-01-01' FROM generate_series(1, 8) AS i;
INSERT INTO ivs_src.orders
SELECT i, CASE WHEN i % 11 = 0 THEN NULL ELSE i % 8 + 1 END,
       CASE WHEN i % 9 = 0 THEN NULL ELSE i % 5 END, DATE '2024-03-01' + i % 13,
       (i * 1.5)::numeric(12,2), CASE WHEN i % 6 = 0 THEN 'cancelled' ELSE 'placed' END, '2024-01-01'
  FROM generate_series(1, 60) AS i;
SELECT lakehouse.lh_create_pipeline('ivs') > 0 AS ok;
SELECT lakehouse.lh_add_source('ivs', 'ivs_orders', 'table',
       '{"table": "ivs_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_add_source('ivs', 'ivs_customers', 'table',
       '{"table": "ivs_src.customers", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ivs', 'silver.ivs_orders', 'ivs_orders',
       '[{"name": "order_id", "type": "int"}, {"name": "customer_id", "type": "int"},
         {"name": "product_id", "type": "int"}, {"name": "day", "type": "date"},
         {"name": "amount", "type": "numeric(12,2)"}, {"name": "status", "type": "text"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{order_id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ivs', 'silver.ivs_customers', 'ivs_customers',
       '[{"name": "customer_id", "type": "int"}, {"name": "name", "type": "text"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{customer_id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ivs', 'gold.ivs_fact',
       'SELECT o.order_id, o.customer_id, c.name AS customer_name, o.product_id, o.day,
               o.amount, o.status
          FROM silver.ivs_orders o LEFT JOIN silver.ivs_customers c ON c.customer_id = o.customer_id') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ivs', 'gold.ivs_c360',
       'WITH per_customer AS (
            SELECT f.customer_id, min(f.customer_name) AS customer_name,
                   min(f.day) AS first_day, max(f.day) AS last_day,
                   count(DISTINCT f.order_id) AS frequency,
                   count(DISTINCT f.product_id) AS products,
                   sum(f.amount)::numeric(14,2) AS monetary
              FROM gold.ivs_fact f
             WHERE f.status IS DISTINCT FROM ''cancelled''
             GROUP BY f.customer_id
        ), scored AS (
            SELECT pc.*, DATE ''2024-04-01'' - pc.last_day AS recency_days,
                   ntile(3) OVER (ORDER BY pc.last_day, pc.customer_id) AS r_score,
                   ntile(3) OVER (ORDER BY pc.frequency, pc.customer_id) AS f_score
              FROM per_customer pc
        )
        SELECT s.customer_id, s.customer_name, s.first_day, s.last_day, s.recency_days,
               s.frequency, s.products, s.monetary, s.r_score::text || s.f_score::text AS rf,
               CASE WHEN s.r_score >= 3 AND s.f_score >= 3 THEN ''champions''
                    WHEN s.r_score <= 1 THEN ''hibernating'' ELSE ''regular'' END AS segment
          FROM scored s') > 0 AS ok;
-- the same over a subquery in FROM, merged by key
SELECT lakehouse.lh_define_gold('ivs', 'gold.ivs_ranked',
       'SELECT g.day, g.n, rank() OVER (ORDER BY g.n DESC, g.day) AS r
          FROM (SELECT day, count(*) AS n FROM silver.ivs_orders GROUP BY day) g',
       'merge', '{day}') > 0 AS ok;
-- count(DISTINCT) in a plain GROUP BY, NULL values and a NULL group
SELECT lakehouse.lh_define_gold('ivs', 'gold.ivs_products',
       'SELECT customer_id, count(*) AS n, count(DISTINCT product_id) AS products,
               count(DISTINCT day) AS days, sum(amount) AS revenue
          FROM silver.ivs_orders GROUP BY customer_id') > 0 AS ok;
CREATE FUNCTION ivs_src.check() RETURNS TABLE (gold text, differs bigint)
LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
  FOR t IN SELECT schema_name, table_name, sql FROM lakehouse.tables
            WHERE layer = 'gold' AND pipeline_id = (SELECT pipeline_id FROM lakehouse.pipelines WHERE name = 'ivs')
            ORDER BY table_name LOOP
    gold := t.table_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %I.%I EXCEPT ALL SELECT * FROM (%s) q)
                    UNION ALL (SELECT * FROM (%s) q EXCEPT ALL SELECT * FROM %I.%I)) d',
                   t.schema_name, t.table_name, rtrim(t.sql, E'; \n'), rtrim(t.sql, E'; \n'),
                   t.schema_name, t.table_name) INTO differs;
    RETURN NEXT;
  END LOOP;
END $$;
CREATE VIEW ivs_src.last_run AS
SELECT regexp_replace(target, '^gold\.', '') AS gold, status, refresh, refresh_reason
  FROM lakehouse.run_stages
 WHERE stage = 'gold' AND run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ivs')
 ORDER BY 1;

-- first build, then the first incremental run builds the state
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivs') AS s;
SELECT * FROM ivs_src.last_run;
INSERT INTO ivs_src.orders VALUES (61, 2, 3, '2024-03-20', 10, 'placed', '2024-01-02');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivs') AS s;
SELECT * FROM ivs_src.last_run;
SELECT * FROM ivs_src.check() WHERE differs <> 0;

-- inserts and updates: the groups are maintained, the outer query recomputed
INSERT INTO ivs_src.orders VALUES (62, 3, 1, '2024-03-21', 99, 'placed', '2024-01-03'),
                                  (63, NULL, NULL, '2024-03-02', 1, 'placed', '2024-01-03');
UPDATE ivs_src.orders SET amount = amount + 100, updated_at = '2024-01-03' WHERE order_id IN (5, 17);
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivs') AS s;
SELECT * FROM ivs_src.last_run;
SELECT * FROM ivs_src.check() WHERE differs <> 0;
SELECT customer_id, frequency, products, rf, segment FROM gold.ivs_c360 ORDER BY customer_id;

-- group moves: an order changes customer and product; the last order of a
-- product leaves a customer and comes back; a value becomes NULL
UPDATE ivs_src.orders SET customer_id = 5, product_id = 4, updated_at = '2024-01-04' WHERE order_id = 62;
UPDATE ivs_src.orders SET product_id = NULL, updated_at = '2024-01-04' WHERE order_id = 61;
UPDATE ivs_src.orders SET status = 'cancelled', updated_at = '2024-01-04' WHERE order_id IN (1, 2, 3);
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivs') AS s;
SELECT * FROM ivs_src.last_run;
SELECT * FROM ivs_src.check() WHERE differs <> 0;
SELECT customer_id, n, products, days FROM gold.ivs_products ORDER BY customer_id;
UPDATE ivs_src.orders SET customer_id = 3, product_id = 1, updated_at = '2024-01-05' WHERE order_id = 62;
UPDATE ivs_src.orders SET product_id = 3, updated_at = '2024-01-05' WHERE order_id = 61;
UPDATE ivs_src.orders SET status = 'placed', updated_at = '2024-01-05' WHERE order_id IN (1, 2, 3);
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivs') AS s;
SELECT * FROM ivs_src.last_run;
SELECT * FROM ivs_src.check() WHERE differs <> 0;
SELECT customer_id, n, products, days FROM gold.ivs_products ORDER BY customer_id;

-- deletes: a customer's every order goes (its group leaves), a customer
-- row changes (the nullable side of the fact's join)
DELETE FROM silver.ivs_orders WHERE customer_id = 7;
UPDATE ivs_src.customers SET name = 'renamed', updated_at = '2024-01-06' WHERE customer_id = 4;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ivs') AS s;
SELECT * FROM ivs_src.last_run;
SELECT * FROM ivs_src.check() WHERE differs <> 0;
SELECT count(*) AS customers, count(*) FILTER (WHERE customer_name = 'renamed') AS renamed
  FROM gold.ivs_c360;

-- the hidden tables go with their gold tables
SELECT lakehouse.lh_drop_pipeline('ivs', drop_tables => true);
SELECT count(*) AS states_left FROM pg_tables WHERE schemaname = 'lakehouse_ivm';
DROP SCHEMA ivs_src CASCADE;

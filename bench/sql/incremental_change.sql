-- bench/incremental.sh: one change of prod.orders, spread randomly.
-- psql variables: n_ins (new orders), upd_pct (percentage of the existing
-- orders to update: TABLESAMPLE BERNOULLI), seed (per level), customers,
-- products, stamp (the change's updated_at: 2026-01-01 + level days, later
-- than every earlier one, so the table source's watermark sees it).
-- New orders fall on random days of the three years (late rows for the
-- daily aggregate); updates change status, quantity and amount, never the
-- customer, the product or the day (see bench/README.md: the dbt-style
-- models find affected groups by the new rows only, as dbt does).
SET timezone = 'UTC';
SELECT setseed(:seed / 100.0) \gset seed_
SELECT coalesce(max(order_id), 0) AS max_id FROM prod.orders \gset

UPDATE prod.orders o
   SET status = CASE WHEN r < 0.1 THEN 'cancelled' WHEN r < 0.4 THEN 'shipped' ELSE 'delivered' END,
       quantity = o.quantity + CASE WHEN r < 0.2 THEN 1 ELSE 0 END,
       amount = round(o.amount * (0.9 + r / 5)::numeric, 2),
       updated_at = :'stamp'::timestamptz + (o.order_id % 1000000) * interval '1 microsecond'
  FROM (SELECT order_id, random() AS r
          FROM prod.orders TABLESAMPLE BERNOULLI (:upd_pct) REPEATABLE (:seed)) s
 WHERE o.order_id = s.order_id;
\set updated :ROW_COUNT

INSERT INTO prod.orders
SELECT :max_id + g, c, p, q, round((q * (2 + random() * 198))::numeric, 2),
       CASE WHEN s < 0.05 THEN 'cancelled' WHEN s < 0.5 THEN 'placed' ELSE 'shipped' END,
       ts, :'stamp'::timestamptz + g * interval '1 microsecond'
  FROM (SELECT g,
               1 + floor(:customers * random() ^ 2)::bigint AS c,
               1 + floor(:products * random())::bigint AS p,
               1 + floor(random() * 4)::int AS q,
               random() AS s,
               TIMESTAMPTZ '2022-01-01 00:00:00+00' + random() * interval '1096 days' AS ts
          FROM generate_series(1, :n_ins) g) x;
\set inserted :ROW_COUNT
ANALYZE prod.orders;

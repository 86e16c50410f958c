-- bench/sql/silver_baseline.sql: the hand-written equivalent of the silver
-- stage of pipeline bench_orders, as a user would write it without
-- lakehouse.  Same typing, trimming, lower-casing, de-duplication (newest
-- updated_at wins, ties: the latest bronze row) and upsert into a table of
-- the same shape and primary key.
--
-- A plain cast would abort the whole statement on the first dirty row, so
-- the dirty rows are filtered out in WHERE with regular expressions and
-- presence tests; they are dropped silently, not quarantined.
INSERT INTO bench.silver_baseline AS t
       (order_id, customer_email, status, quantity, amount, sku, ordered_at,
        updated_at, _lh_bronze_id, _lh_run_id)
SELECT DISTINCT ON ((b.payload->>'order_id')::bigint)
       (b.payload->>'order_id')::bigint,
       lower(btrim(b.payload->>'customer_email')),
       lower(b.payload->>'status'),
       (b.payload->>'quantity')::integer,
       (b.payload->>'amount')::numeric(12,2),
       btrim(b.payload->>'sku'),
       (b.payload->>'ordered_at')::timestamptz,
       (b.payload->>'updated_at')::timestamptz,
       b._lh_id,
       NULL::bigint
  FROM bronze.bench_orders b
 WHERE b.payload->>'order_id' ~ '^-?[0-9]{1,18}$'
   AND b.payload->>'customer_email' IS NOT NULL
   AND b.payload->>'updated_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$'
   AND (b.payload->>'ordered_at' IS NULL
        OR b.payload->>'ordered_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$')
   AND (b.payload->>'quantity' IS NULL
        OR b.payload->>'quantity' ~ '^[0-9]{1,9}$')
   AND (b.payload->>'amount' IS NULL
        OR b.payload->>'amount' ~ '^-?[0-9]{1,10}(\.[0-9]{1,2})?$')
 ORDER BY (b.payload->>'order_id')::bigint,
          (b.payload->>'updated_at')::timestamptz DESC NULLS LAST,
          b._lh_id DESC
ON CONFLICT (order_id) DO UPDATE
   SET customer_email = excluded.customer_email,
       status = excluded.status,
       quantity = excluded.quantity,
       amount = excluded.amount,
       sku = excluded.sku,
       ordered_at = excluded.ordered_at,
       updated_at = excluded.updated_at,
       _lh_bronze_id = excluded._lh_bronze_id,
       _lh_run_id = excluded._lh_run_id
 WHERE t.updated_at IS NULL OR excluded.updated_at >= t.updated_at;

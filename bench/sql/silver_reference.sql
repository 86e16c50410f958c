-- bench/sql/silver_reference.sql: a lower bound for the silver stage, not a
-- realistic alternative.  The same statement as silver_baseline.sql, but
-- the dirty rows are known in advance (bench.dirty_ids, from the rule that
-- generated them) and removed with a hash anti-join, so no validation is
-- paid for: this is the cost of the typing, de-duplication and upsert
-- alone, the floor any silver implementation on this data could reach.
INSERT INTO bench.silver_reference AS t
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
 WHERE NOT EXISTS (SELECT 1 FROM bench.dirty_ids d WHERE d.id = b._lh_id)
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

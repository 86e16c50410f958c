-- bench/incremental.sh: after each change level, the three sides must hold
-- the same rows: gold.* (incremental) vs gold_full.* (rebuild) and gold.* vs
-- bench.dbt_* (dbt-style), EXCEPT ALL both ways on the query's columns.
-- Also silver.orders must hold exactly prod.orders.  Settings: bench.level,
-- bench.compare_rebuild (off at the first load, where shop_full did not run).
-- Raises (the script stops) on any difference.
SET timezone = 'UTC';
SET work_mem = '2GB';           -- EXCEPT ALL of the 10M-row fact tables hashes in memory
DO $$
DECLARE
    q record;
    cols text;
    d1 bigint;
    d2 bigint;
    n bigint;
    bad text := '';
BEGIN
    FOR q IN SELECT name FROM bench.queries ORDER BY ord LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
          FROM pg_attribute
         WHERE attrelid = ('gold.' || q.name)::regclass AND attnum > 0 AND NOT attisdropped;
        d1 := CASE WHEN current_setting('bench.compare_rebuild')::boolean
                   THEN bench.diff_rows('gold.' || q.name, 'gold_full.' || q.name, cols) END;
        d2 := bench.diff_rows('gold.' || q.name, 'bench.dbt_' || q.name, cols);
        EXECUTE format('SELECT count(*) FROM gold.%I', q.name) INTO n;
        RAISE NOTICE '  %: % rows; differing rows vs rebuild: %, vs dbt-style: %', q.name, n, d1, d2;
        IF d1 <> 0 OR d2 <> 0 OR n = 0 THEN  -- (d1 NULL at the load: no rebuild run)
            bad := bad || format(' %s (rows %s, vs rebuild %s, vs dbt %s)', q.name, n, d1, d2);
        END IF;
    END LOOP;
    SELECT bench.diff_rows('silver.orders', 'prod.orders',
                           'order_id, customer_id, product_id, quantity, amount, status, order_ts, updated_at')
      INTO d1;
    IF d1 <> 0 THEN
        bad := bad || format(' silver.orders vs prod.orders (%s rows differ)', d1);
    END IF;
    IF bad <> '' THEN
        RAISE EXCEPTION 'RESULTS DIFFER after %:%', current_setting('bench.level'), bad;
    END IF;
END
$$;

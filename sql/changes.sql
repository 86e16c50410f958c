--
-- changes: change capture, the change log and its pruning, lh_changes (the
-- dbt-style hatch), skip logic that cannot lie, refresh: full, and
-- dependency inference (contrib-docs/incremental.md)
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA ch_src;
CREATE TABLE ch_src.orders (id int, customer text, amount numeric, updated_at timestamptz);
INSERT INTO ch_src.orders VALUES
 (1, 'ann', 10.10, '2024-01-01'), (2, 'bob', 20.20, '2024-01-02'),
 (3, 'ann', 5.05, '2024-01-03'), (4, 'dave', 7, '2024-01-04');

SELECT lakehouse.lh_create_pipeline('ch') > 0 AS ok;
SELECT lakehouse.lh_add_source('ch', 'ch_orders', 'table',
       '{"table": "ch_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ch', 'silver.ch_orders', 'ch_orders',
       '[{"name": "id", "type": "int"}, {"name": "customer", "type": "text"},
         {"name": "amount", "type": "numeric"}, {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS ok;
-- a silver table is captured as soon as it is defined
SELECT tgname FROM pg_trigger WHERE tgrelid = 'silver.ch_orders'::regclass
   AND tgname LIKE 'lh_change%' ORDER BY 1;
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_by_customer',
       'SELECT customer, sum(amount) AS total, count(*) AS n FROM silver.ch_orders GROUP BY customer') > 0 AS ok;
-- the hatch: a merge that reads lh_changes and says which keys to delete
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_orders_copy',
       $$SELECT (c.new).id, (c.new).customer, (c.new).amount, 'upsert' AS _lh_op
           FROM lakehouse.lh_changes(NULL::silver.ch_orders) c WHERE c._lh_op <> 'delete'
         UNION ALL
         SELECT (c.old).id, (c.old).customer, (c.old).amount, 'delete'
           FROM lakehouse.lh_changes(NULL::silver.ch_orders) c WHERE c._lh_op = 'delete'$$,
       'merge', '{id}') > 0 AS ok;
-- _lh_op is not stored
SELECT attname FROM pg_attribute WHERE attrelid = 'gold.ch_orders_copy'::regclass
   AND attnum > 0 ORDER BY attnum;
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_full', 'SELECT id, amount FROM silver.ch_orders',
       'merge', '{id}', options => '{"refresh": "full"}') > 0 AS ok;
-- refresh takes auto or full, and rebuild and merge take no other option
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_bad', 'SELECT 1 AS x',
       options => '{"refresh": "sometimes"}');
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_bad', 'SELECT 1 AS x',
       options => '{"scd2": true}');
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_bad', 'SELECT 1 AS x', 'append',
       options => '{"refresh": "full"}');

-- the first run builds everything fully, and says why
SELECT x->>'target' AS target, x->>'status' AS status, x->>'refresh' AS refresh,
       x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT * FROM gold.ch_orders_copy ORDER BY id;
-- every reader consumed the change log: it is pruned, the horizon says how far
SELECT count(*) AS images FROM lakehouse.change_log l JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ch_orders';
SELECT count(*) AS horizons FROM lakehouse.change_log_horizon h JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ch_orders';
SELECT r.table_name AS reader, i.table_name AS input
  FROM lakehouse.change_marks m
  JOIN lakehouse.tables r ON r.table_id = m.reader_table_id
  JOIN lakehouse.tables i ON i.table_id = m.input_table_id
 WHERE i.table_name = 'ch_orders' ORDER BY 1;

-- capture of a hand-written insert, update and delete (run_id NULL: no run)
INSERT INTO silver.ch_orders (id, customer, amount, updated_at, _lh_bronze_id, _lh_run_id)
 VALUES (10, 'eve', 1.5, '2024-02-01', 0, 0);
UPDATE silver.ch_orders SET amount = 11.11 WHERE id = 1;
DELETE FROM silver.ch_orders WHERE id = 2;
SELECT l.op, l.img->>'id' AS id, l.img->>'amount' AS amount, l.run_id IS NULL AS outside_run
  FROM lakehouse.change_log l JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ch_orders' ORDER BY l.change_id;
-- numeric stays exact in the images
SELECT (l.img->'amount')::text AS amount FROM lakehouse.change_log l
  JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ch_orders' AND l.img->>'id' = '1' ORDER BY l.change_id;

-- outside a gold stage lh_changes needs since_change_id
SELECT * FROM lakehouse.lh_changes('silver.ch_orders');
SELECT _lh_op, "row"->>'id' AS id, old_row->>'amount' AS old_amount, "row"->>'amount' AS amount
  FROM lakehouse.lh_changes('silver.ch_orders',
         (SELECT h.pruned_through FROM lakehouse.change_log_horizon h
            JOIN lakehouse.tables t USING (table_id) WHERE t.table_name = 'ch_orders'))
 ORDER BY 2;
SELECT c._lh_op, (c.new).id, (c.new).amount, (c.old).amount AS old_amount
  FROM lakehouse.lh_changes(NULL::silver.ch_orders,
         (SELECT h.pruned_through FROM lakehouse.change_log_horizon h
            JOIN lakehouse.tables t USING (table_id) WHERE t.table_name = 'ch_orders')) c
 ORDER BY 2;
\set VERBOSITY terse
SELECT * FROM lakehouse.lh_changes('silver.ch_orders', 0);
\set VERBOSITY default
SELECT * FROM lakehouse.lh_changes('silver.nope', 0);

-- the next run: the hatch applies those changes, the delete included; the
-- hand-written changes are not skipped although no run wrote silver
SELECT x->>'target' AS target, x->>'status' AS status, x->>'refresh' AS refresh,
       x->>'refresh_reason' AS reason, x->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT * FROM gold.ch_orders_copy ORDER BY id;
-- exact: what a rebuild would give
SELECT count(*) AS differences FROM (
  (SELECT id, customer, amount FROM gold.ch_orders_copy
   EXCEPT ALL SELECT id, customer, amount FROM silver.ch_orders)
  UNION ALL
  (SELECT id, customer, amount FROM silver.ch_orders
   EXCEPT ALL SELECT id, customer, amount FROM gold.ch_orders_copy)) d;
SELECT * FROM gold.ch_by_customer ORDER BY customer;
-- the ledger has it too
SELECT target, status, refresh, refresh_reason FROM lakehouse.run_stages
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ch')
 ORDER BY stage_no;

-- nothing changed: skipped, refresh NULL
SELECT x->>'target' AS target, x->>'status' AS status, x->>'refresh' AS refresh
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';

-- new rows through the pipeline: captured with the run id, consumed, pruned
INSERT INTO ch_src.orders VALUES (5, 'bob', 3, '2024-03-01');
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT * FROM gold.ch_orders_copy ORDER BY id;
SELECT count(*) AS images FROM lakehouse.change_log l JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ch_orders';

-- lh_forget: captured as deletes, then its images leave the change log, and
-- every reader refreshes fully once
SELECT layer, table_name, rows_deleted FROM lakehouse.lh_forget('customer', 'dave', 'ch')
 WHERE layer IN ('silver', 'gold') ORDER BY 1, 2;
SELECT count(*) AS dave_images FROM lakehouse.change_log WHERE img->>'customer' = 'dave';
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT * FROM gold.ch_orders_copy ORDER BY id;

-- skip logic that cannot lie: a gold table dropped and created again by
-- hand, emptied, or dropped and re-created by re-applying the YAML is
-- filled by the next run, although nothing it reads changed
SET lakehouse.allow_drop_table = on;
DROP TABLE gold.ch_by_customer;
RESET lakehouse.allow_drop_table;
CREATE TABLE gold.ch_by_customer (customer text, total numeric, n bigint);
DELETE FROM gold.ch_full;
SELECT x->>'target' AS target, x->>'status' AS status, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT count(*) > 0 AS filled FROM gold.ch_by_customer;
SELECT count(*) > 0 AS filled FROM gold.ch_full;

SELECT lakehouse.lh_apply_config($$
pipeline: ch_yaml
gold:
  - table: gold.ch_yaml_totals
    sql: SELECT customer, sum(amount) AS total FROM silver.ch_orders GROUP BY customer
    kind: merge
    keys: [customer]
    refresh: full
$$);
SELECT options FROM lakehouse.tables WHERE table_name = 'ch_yaml_totals';
SELECT lakehouse.lh_run_pipeline('ch_yaml', upstream => false)->>'status' AS status;
SELECT count(*) > 0 AS filled FROM gold.ch_yaml_totals;
SET lakehouse.allow_drop_table = on;
DROP TABLE gold.ch_yaml_totals;
RESET lakehouse.allow_drop_table;
SELECT lakehouse.lh_apply_config($$
pipeline: ch_yaml
gold:
  - table: gold.ch_yaml_totals
    sql: SELECT customer, sum(amount) AS total FROM silver.ch_orders GROUP BY customer
    kind: merge
    keys: [customer]
    refresh: full
$$);
SELECT x->>'target' AS target, x->>'status' AS status, x->>'refresh' AS refresh,
       x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('ch_yaml', upstream => false) AS s,
       jsonb_array_elements(s->'stages') AS x;
SELECT count(*) > 0 AS filled FROM gold.ch_yaml_totals;

-- dependency inference: ch_yaml reads silver.ch_orders of pipeline ch
SELECT depends_on FROM lakehouse.pipeline_status WHERE pipeline = 'ch_yaml';
-- a cycle is refused
SELECT lakehouse.lh_define_gold('ch', 'gold.ch_loop', 'SELECT * FROM gold.ch_yaml_totals');

-- a gold table read by another gold table is captured too
SELECT lakehouse.lh_define_gold('ch_yaml', 'gold.ch_yaml_top',
       'SELECT customer FROM gold.ch_yaml_totals WHERE total > 10') > 0 AS ok;
SELECT count(*) AS capture_triggers FROM pg_trigger
 WHERE tgrelid = 'gold.ch_yaml_totals'::regclass AND tgname LIKE 'lh_change%';

-- retention deletes bronze rows only: silver does not change, nothing is captured
SELECT lakehouse.lh_set_retention('ch_orders', '1 microsecond');
SELECT source, rows_deleted > 0 AS deleted FROM lakehouse.lh_apply_retention();
SELECT count(*) AS images FROM lakehouse.change_log l JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ch_orders';

-- TRUNCATE cannot be captured row by row: readers refresh fully
TRUNCATE silver.ch_orders;
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('ch') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT count(*) AS copy_rows FROM gold.ch_orders_copy;
SELECT lakehouse.lh_run_pipeline('ch', full_refresh => true)->>'status' AS status;
SELECT target, refresh, refresh_reason FROM lakehouse.run_stages
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ch')
   AND stage = 'gold' ORDER BY stage_no;

-- no images where they could never be used: a write while no reader holds
-- a mark, and a full write, log nothing but move the table's horizon
-- (cause in change_log_horizon), and the readers refresh fully
CREATE TABLE ch_src.items (id int, grp text, amount numeric, updated_at timestamptz);
INSERT INTO ch_src.items SELECT g, 'g' || (g % 3), g * 1.5, '2024-01-01' FROM generate_series(1, 12) g;
SELECT lakehouse.lh_create_pipeline('chh') > 0 AS ok;
SELECT lakehouse.lh_add_source('chh', 'chh_items', 'table',
       '{"table": "ch_src.items", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('chh', 'silver.chh_items', 'chh_items',
       '[{"name": "id", "type": "int"}, {"name": "grp", "type": "text"},
         {"name": "amount", "type": "numeric"}, {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS ok;
SELECT lakehouse.lh_define_gold('chh', 'gold.chh_by_grp',
       'SELECT grp, sum(amount) AS total, count(*) AS n FROM silver.chh_items GROUP BY grp') > 0 AS ok;
SELECT lakehouse.lh_define_gold('chh', 'gold.chh_items_copy',
       $$SELECT (c.new).id, (c.new).grp, (c.new).amount, 'upsert' AS _lh_op
           FROM lakehouse.lh_changes(NULL::silver.chh_items) c WHERE c._lh_op <> 'delete'
         UNION ALL
         SELECT (c.old).id, (c.old).grp, (c.old).amount, 'delete'
           FROM lakehouse.lh_changes(NULL::silver.chh_items) c WHERE c._lh_op = 'delete'$$,
       'merge', '{id}') > 0 AS ok;
-- readers of the two gold tables, in another pipeline (so that a run of chh
-- leaves their images in the log)
SELECT lakehouse.lh_create_pipeline('chh2') > 0 AS ok;
SELECT lakehouse.lh_define_gold('chh2', 'gold.chh_grp_copy',
       $$SELECT (c.new).grp, (c.new).total, 'upsert' AS _lh_op
           FROM lakehouse.lh_changes(NULL::gold.chh_by_grp) c WHERE c._lh_op = 'insert'$$,
       'merge', '{grp}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('chh2', 'gold.chh_copy_n',
       'SELECT count(*) AS n, sum(amount) AS total FROM gold.chh_items_copy') > 0 AS ok;
CREATE TEMP VIEW chh_log AS
SELECT t.schema_name || '.' || t.table_name AS "table",
       (SELECT count(*) FROM lakehouse.change_log l WHERE l.table_id = t.table_id) AS images,
       h.cause
  FROM lakehouse.tables t LEFT JOIN lakehouse.change_log_horizon h USING (table_id)
 WHERE t.table_name LIKE 'chh%' ORDER BY 1;
-- a write by hand while no reader holds a mark: no image
INSERT INTO silver.chh_items (id, grp, amount, updated_at, _lh_bronze_id, _lh_run_id)
 VALUES (100, 'g0', 1, '2023-01-01', 0, 0);
SELECT * FROM chh_log WHERE "table" = 'silver.chh_items';
-- the first load: no reader holds a mark yet, so no image; every gold table
-- is built fully, and a full write of a gold table another one reads logs
-- no image either
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('chh') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT * FROM chh_log;
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('chh2', upstream => false) AS s,
       jsonb_array_elements(s->'stages') AS x;
-- readers hold marks now: silver upserts and an incremental gold write of
-- a table another reads log images again
INSERT INTO ch_src.items VALUES (3, 'g1', 100, '2024-02-01'), (13, 'g2', 7, '2024-02-01');
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('chh') AS s, jsonb_array_elements(s->'stages') AS x
 WHERE x->>'stage' = 'gold';
SELECT * FROM chh_log;
SELECT l.op, l.img->>'id' AS id, l.img->>'amount' AS amount, l.run_id IS NOT NULL AS in_run
  FROM lakehouse.change_log l JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'chh_items_copy' ORDER BY l.change_id;
-- the reader of the rewritten gold table refreshes fully, and says why
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('chh2', upstream => false) AS s,
       jsonb_array_elements(s->'stages') AS x;
SELECT refresh, refresh_reason FROM lakehouse.run_stages
 WHERE target = 'gold.chh_grp_copy' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS differences FROM (
  (SELECT grp, total FROM gold.chh_grp_copy EXCEPT ALL SELECT grp, total FROM gold.chh_by_grp)
  UNION ALL
  (SELECT grp, total FROM gold.chh_by_grp EXCEPT ALL SELECT grp, total FROM gold.chh_grp_copy)) d;
SELECT * FROM gold.chh_copy_n;
SELECT * FROM chh_log;
-- a hand-written update with marks held: images again
UPDATE silver.chh_items SET amount = 2 WHERE id = 100;
SELECT * FROM chh_log WHERE "table" = 'silver.chh_items';
-- a full-refresh run rewrites silver: no image, the horizon moves; the
-- incremental reader of gold.chh_items_copy next time refreshes fully
SELECT lakehouse.lh_run_pipeline('chh', full_refresh => true)->>'status' AS status;
SELECT * FROM chh_log;
SELECT x->>'target' AS target, x->>'refresh' AS refresh, x->>'refresh_reason' AS reason
  FROM lakehouse.lh_run_pipeline('chh2', upstream => false) AS s,
       jsonb_array_elements(s->'stages') AS x;
SELECT lakehouse.lh_drop_pipeline('chh2', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('chh', drop_tables => true);
DROP VIEW chh_log;

-- the catalog tables are guarded like the rest
SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
 WHERE g.tgname = 'lh_catalog_guard' AND c.relname LIKE 'change%' ORDER BY 1;

-- clean up
SELECT lakehouse.lh_drop_pipeline('ch_yaml', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('ch', drop_tables => true);
DROP SCHEMA ch_src CASCADE;
SELECT count(*) AS images_left FROM lakehouse.change_log;

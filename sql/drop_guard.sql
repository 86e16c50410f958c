--
-- drop_guard: registered silver and gold tables are dropped through
-- lakehouse (lh_drop_table, lh_drop_pipeline), not by a plain DROP; a
-- stage whose table was dropped anyway says how to recover
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA dg_src;
CREATE TABLE dg_src.orders (id int, amount numeric, ts timestamptz);
INSERT INTO dg_src.orders VALUES (1, 10, '2024-01-01'), (2, 20, '2024-01-02');
SELECT lakehouse.lh_create_pipeline('dg') > 0 AS ok;
SELECT lakehouse.lh_add_source('dg', 'dg_orders', 'table', '{"table": "dg_src.orders", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dg', 'silver.dg_orders', 'dg_orders',
       '[{"name": "id", "type": "integer", "required": true}, {"name": "amount", "type": "numeric"}]',
       keys => ARRAY['id']) > 0 AS ok;
SELECT lakehouse.lh_define_gold('dg', 'gold.dg_total', 'SELECT sum(amount) AS total FROM silver.dg_orders') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dg', 'gold.dg_count', 'SELECT count(*) AS n FROM silver.dg_orders') > 0 AS ok;
CREATE SCHEMA dg_mart;
SELECT lakehouse.lh_define_gold('dg', 'dg_mart.ids', 'SELECT id FROM silver.dg_orders') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('dg'))->>'status' AS status;

-- plain drops of registered tables are refused, whichever command drops them
DROP TABLE silver.dg_orders;
DROP TABLE gold.dg_total;
DROP TABLE IF EXISTS gold.dg_count, gold.dg_total;
DROP SCHEMA dg_mart CASCADE;
CREATE ROLE regress_dg_owner;
ALTER TABLE dg_mart.ids OWNER TO regress_dg_owner;
DROP OWNED BY regress_dg_owner;
ALTER TABLE dg_mart.ids OWNER TO CURRENT_USER;
DROP ROLE regress_dg_owner;
-- nothing was dropped
SELECT to_regclass('silver.dg_orders') IS NOT NULL AS silver_kept,
       to_regclass('gold.dg_total') IS NOT NULL AS total_kept,
       to_regclass('gold.dg_count') IS NOT NULL AS count_kept,
       to_regclass('dg_mart.ids') IS NOT NULL AS ids_kept;
-- tables nobody registered drop as usual, in the same schemas too
CREATE TABLE gold.dg_scratch (a int);
CREATE TABLE dg_mart.scratch (a int);
DROP TABLE gold.dg_scratch, dg_mart.scratch;
-- bronze tables belong to their source and are not guarded here
CREATE TABLE bronze.dg_not_a_source (a int);
DROP TABLE bronze.dg_not_a_source;

-- lakehouse.allow_drop_table lets an administrator drop one anyway; only
-- superusers may set it
CREATE ROLE regress_dg_user;
SET ROLE regress_dg_user;
SET lakehouse.allow_drop_table = on;
RESET ROLE;
DROP ROLE regress_dg_user;
SET lakehouse.allow_drop_table = on;
DROP TABLE gold.dg_total;
RESET lakehouse.allow_drop_table;
-- it stays registered
SELECT layer, schema_name, table_name FROM lakehouse.tables WHERE table_name = 'dg_total';

-- the next run fails at that gold stage, saying what to do
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dg') s;
SELECT s.stage, s.target, s.status, s.error_sqlstate, s.error_message, s.error_detail, s.error_hint
  FROM lakehouse.run_stages s
 WHERE s.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dg')
   AND s.status = 'failed';
-- following the hint: defined again, the table is created and the next
-- run fills it (its build mark is forgotten)
SELECT lakehouse.lh_define_gold('dg', 'gold.dg_total', 'SELECT sum(amount) AS total FROM silver.dg_orders',
       replace => true) > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('dg'))->>'status' AS status;
SELECT total FROM gold.dg_total;

-- the same for a silver table: defined again, it is filled from the first
-- bronze row
SET lakehouse.allow_drop_table = on;
DROP TABLE silver.dg_orders;
RESET lakehouse.allow_drop_table;
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('dg') s;
SELECT s.error_hint
  FROM lakehouse.run_stages s
 WHERE s.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'dg')
   AND s.status = 'failed';
SELECT lakehouse.lh_define_silver('dg', 'silver.dg_orders', 'dg_orders',
       '[{"name": "id", "type": "integer", "required": true}, {"name": "amount", "type": "numeric"}]',
       keys => ARRAY['id'], replace => true) > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('dg'))->>'status' AS status;
SELECT id, amount FROM silver.dg_orders ORDER BY id;
SELECT total FROM gold.dg_total;

-- lh_drop_table with its data, and a table unregistered first, drop
SELECT lakehouse.lh_drop_table('gold.dg_count', drop_data => true);
SELECT to_regclass('gold.dg_count') IS NULL AS count_dropped;
SELECT lakehouse.lh_drop_table('dg_mart.ids');
DROP SCHEMA dg_mart CASCADE;
-- lh_drop_pipeline drops the rest (silver, gold and bronze) itself
SELECT lakehouse.lh_drop_pipeline('dg', drop_tables => true);
SELECT to_regclass('silver.dg_orders') IS NULL AS silver_dropped,
       to_regclass('gold.dg_total') IS NULL AS gold_dropped,
       to_regclass('bronze.dg_orders') IS NULL AS bronze_dropped;

DROP SCHEMA dg_src CASCADE;
DELETE FROM lakehouse.runs WHERE pipeline_name = 'dg';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'dg';

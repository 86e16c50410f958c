--
-- silver: typing, cleaning, de-duplication, quarantine, incremental runs
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA sv_src;
CREATE TABLE sv_src.orders (order_id text, email text, qty text, amount text,
                            ordered_at text, extra jsonb, updated_at timestamptz);
INSERT INTO sv_src.orders VALUES
 ('1', '  Alice@Example.COM ', '2', '10.50', '2024-01-01 10:00:00+00', '{"tags": ["a", "b"]}', '2024-01-01 00:00:00+00'),
 ('2', 'bob@example.com', '1', '5', '2024-01-02 11:00:00+00', NULL, '2024-01-02 00:00:00+00'),
 ('2', 'bob@new.example.com', '3', '5', '2024-01-02 11:00:00+00', NULL, '2024-01-03 00:00:00+00'),
 ('3', '', 'x', '1', '2024-01-03', NULL, '2024-01-04 00:00:00+00'),
 ('4', 'd@example.com', '-1', '1', '2024-01-03', NULL, '2024-01-05 00:00:00+00'),
 ('5', 'e@example.com', '1', '1', 'not a date', NULL, '2024-01-06 00:00:00+00'),
 (NULL, 'f@example.com', '1', '1', '2024-01-03', NULL, '2024-01-07 00:00:00+00'),
 ('7', '   ', NULL, '99999999999', '2024-01-03', '{"tags": []}', '2024-01-08 00:00:00+00');

SELECT lakehouse.lh_create_pipeline('sv') > 0 AS ok;
SELECT lakehouse.lh_add_source('sv', 'sv_orders', 'table',
       '{"table": "sv_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('sv', 'silver.sv_orders', 'sv_orders',
       '[{"name": "order_id", "type": "bigint"},
         {"name": "email", "type": "text", "transforms": ["trim", "lower", "nullif_empty"]},
         {"name": "qty", "type": "integer", "non_negative": true, "default": "1"},
         {"name": "amount", "type": "numeric(10,2)", "max": "100000"},
         {"name": "ordered_at", "type": "timestamptz"},
         {"name": "first_tag", "path": "extra.tags[0]", "type": "text"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{order_id}', order_by => 'updated_at') > 0 AS ok;

SELECT s->>'status' AS status, s->>'rows_read' AS read, s->>'rows_written' AS written,
       s->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('sv') AS s;
SELECT stage, target, status, rows_read, rows_written, rows_quarantined, rows_skipped
  FROM lakehouse.run_stage_details
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'sv')
 ORDER BY stage_no;

-- typed, trimmed, lower-cased; order 2 keeps its newest version; the default fills qty
SELECT order_id, email, qty, amount, ordered_at, first_tag, updated_at
  FROM silver.sv_orders ORDER BY order_id;

-- every bad row is in quarantine with its column, value and reason
SELECT bronze_id > 0 AS has_id, source_position, column_name, value, reason,
       payload->>'order_id' AS payload_order
  FROM lakehouse.quarantine WHERE target_table = 'silver.sv_orders' ORDER BY bronze_id;
SELECT target_table, column_name, reason, rows FROM lakehouse.quarantine_summary
 WHERE pipeline = 'sv' ORDER BY column_name, reason;

-- counts reconcile: read = written + quarantined + superseded duplicates
SELECT s.rows_read = s.rows_written + s.rows_quarantined + s.rows_skipped AS reconciled
  FROM lakehouse.run_stages s JOIN lakehouse.runs r USING (run_id)
 WHERE r.pipeline_name = 'sv' AND s.stage = 'silver';

-- nothing new: nothing read
SELECT s->'stages'->1->>'rows_read' AS silver_read FROM lakehouse.lh_run_pipeline('sv') AS s;

-- new rows: only they are read; an older version does not overwrite a newer one
INSERT INTO sv_src.orders VALUES
 ('1', 'alice@changed.example.com', '5', '10.50', '2024-01-01 10:00:00+00', NULL, '2024-02-01 00:00:00+00'),
 ('8', 'h@example.com', '1', '1.999', '2024-01-09', NULL, '2024-02-02 00:00:00+00');
SELECT s->'stages'->1->>'rows_read' AS silver_read, s->'stages'->1->>'rows_written' AS silver_written
  FROM lakehouse.lh_run_pipeline('sv') AS s;
SELECT order_id, email, qty, amount FROM silver.sv_orders WHERE order_id IN (1, 8) ORDER BY 1;
-- an out-of-order older version lands in bronze later: silver keeps the newer row
INSERT INTO bronze.sv_orders (_lh_source, payload)
VALUES ('sv_orders', '{"order_id": "1", "email": "stale@example.com", "qty": "1", "amount": "1", "ordered_at": "2024-01-01", "updated_at": "2023-12-31T00:00:00+00:00"}');
SELECT s->'stages'->1->>'rows_read' AS silver_read, s->'stages'->1->>'rows_written' AS silver_written,
       s->'stages'->1->>'rows_skipped' AS silver_skipped
  FROM lakehouse.lh_run_pipeline('sv') AS s;
SELECT order_id, email FROM silver.sv_orders WHERE order_id = 1;

-- the mark moved with the data
SELECT m.mark_key, m.mark_value::bigint = (SELECT max(_lh_id) FROM bronze.sv_orders) AS at_end
  FROM lakehouse.stage_marks m JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'sv_orders' AND m.mark_key = 'bronze_id';

-- a full refresh reprocesses everything; quarantine is rebuilt, not duplicated
SELECT s->'stages'->1->>'rows_read' AS silver_read, s->'stages'->1->>'rows_quarantined' AS quarantined
  FROM lakehouse.lh_run_pipeline('sv', full_refresh => true) AS s;
SELECT count(*) AS quarantined FROM lakehouse.quarantine WHERE target_table = 'silver.sv_orders';

-- a silver table without keys appends
SELECT lakehouse.lh_define_silver('sv', 'silver.sv_events', 'sv_orders',
       '[{"name": "order_id", "type": "bigint"}, {"name": "email", "type": "text"}]') > 0 AS ok;
SELECT s->'stages'->2->>'rows_written' AS appended FROM lakehouse.lh_run_pipeline('sv') AS s;
SELECT count(*) FROM silver.sv_events;

-- a value with an invalid path type is quarantined, not fatal: a JSON object into an integer
INSERT INTO bronze.sv_orders (_lh_source, payload)
VALUES ('sv_orders', '{"order_id": {"nested": 1}, "updated_at": "2024-03-01"}');
SELECT s->'stages'->1->>'rows_quarantined' AS quarantined FROM lakehouse.lh_run_pipeline('sv') AS s;
SELECT column_name, value, reason FROM lakehouse.quarantine
 WHERE target_table = 'silver.sv_orders' ORDER BY quarantine_id DESC LIMIT 1;

SELECT lakehouse.lh_drop_pipeline('sv', drop_tables => true);
SELECT to_regclass('silver.sv_orders') IS NULL AS dropped, to_regclass('bronze.sv_orders') IS NULL AS bronze_dropped;
DELETE FROM lakehouse.quarantine WHERE target_table LIKE 'silver.sv_%';
DELETE FROM lakehouse.runs WHERE pipeline_name = 'sv';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'sv';
DROP SCHEMA sv_src CASCADE;

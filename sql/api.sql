--
-- api: declaring pipelines, sources, silver and gold tables with SQL
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA api_src;
CREATE TABLE api_src.items (id int, name text, updated_at timestamptz);

SELECT lakehouse.lh_create_pipeline('api_p', 'a test pipeline') > 0 AS created;
SELECT name, description, schedule FROM lakehouse.pipelines WHERE name = 'api_p';

-- duplicate name
SELECT lakehouse.lh_create_pipeline('api_p');
-- replace => true updates the description only when it differs
SELECT lakehouse.lh_create_pipeline('api_p', 'new description', replace => true) > 0 AS replaced;
SELECT name, description FROM lakehouse.pipelines WHERE name = 'api_p';

-- a table source; its bronze table is created
SELECT lakehouse.lh_add_source('api_p', 'api_items', 'table',
       '{"table": "api_src.items", "watermark": "updated_at"}') > 0 AS added;
SELECT name, kind, options, bronze_schema, bronze_table FROM lakehouse.sources WHERE name = 'api_items';
SELECT attname, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute WHERE attrelid = 'bronze.api_items'::regclass AND attnum > 0 ORDER BY attnum;
SELECT amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid = 'bronze.api_items'::regclass;

-- duplicate source name, and replace
SELECT lakehouse.lh_add_source('api_p', 'api_items', 'table',
       '{"table": "api_src.items", "watermark": "updated_at"}');
SELECT lakehouse.lh_add_source('api_p', 'api_items', 'table',
       '{"table": "api_src.items", "watermark": "id"}', replace => true) > 0 AS replaced;
SELECT options FROM lakehouse.sources WHERE name = 'api_items';
-- a source cannot move to another bronze table
SELECT lakehouse.lh_add_source('api_p', 'api_items', 'table',
       '{"table": "api_src.items", "watermark": "id"}', 'bronze.other', replace => true);

-- a source that reads another watermark column starts again (its marks go)
INSERT INTO api_src.items VALUES (1, 'one', '2024-01-01');
SELECT lakehouse.lh_create_pipeline('api_q') > 0 AS ok;
SELECT lakehouse.lh_add_source('api_q', 'api_q_items', 'table',
       '{"table": "api_src.items", "watermark": "updated_at"}') > 0 AS ok;
SELECT (lakehouse.lh_ingest('api_q_items'))->>'rows_written' AS landed;
SELECT lakehouse.lh_add_source('api_q', 'api_q_items', 'table',
       '{"table": "api_src.items", "watermark": "id"}', replace => true) > 0 AS ok;
SELECT (lakehouse.lh_ingest('api_q_items'))->>'rows_written' AS landed_again;
SELECT mark_key, mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'api_q_items';
SELECT lakehouse.lh_drop_pipeline('api_q', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name = 'api_q';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'api_q';
TRUNCATE api_src.items;

-- silver: the table is created from the mapping
SELECT lakehouse.lh_define_silver('api_p', 'silver.api_items', 'api_items',
       '[{"name": "id", "type": "integer"},
         {"name": "name", "type": "varchar(40)", "transforms": ["trim", "upper"]},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS defined;
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute WHERE attrelid = 'silver.api_items'::regclass AND attnum > 0 ORDER BY attnum;
SELECT schema_name, table_name, layer, keys, order_by FROM lakehouse.tables WHERE table_name = 'api_items';
SELECT c.ordinal, c.column_name, c.json_path, c.type_name, c.required, c.transforms
  FROM lakehouse.silver_columns c JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'api_items' ORDER BY c.ordinal;

-- redefining with replace => true; an unchanged definition changes nothing
SELECT updated_at AS before_update FROM lakehouse.tables WHERE table_name = 'api_items' \gset
SELECT lakehouse.lh_define_silver('api_p', 'silver.api_items', 'api_items',
       '[{"name": "id", "type": "integer"},
         {"name": "name", "type": "varchar(40)", "transforms": ["trim", "upper"]},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at', replace => true) > 0 AS redefined;
SELECT updated_at = :'before_update' AS unchanged FROM lakehouse.tables WHERE table_name = 'api_items';
-- without replace it is a duplicate
SELECT lakehouse.lh_define_silver('api_p', 'silver.api_items', 'api_items',
       '[{"name": "id", "type": "integer"}]', keys => '{id}');

-- gold: created from the query
SELECT lakehouse.lh_define_gold('api_p', 'gold.api_item_count',
       'SELECT count(*) AS items FROM silver.api_items') > 0 AS defined;
SELECT lakehouse.lh_define_gold('api_p', 'gold.api_item_names',
       'SELECT id, name FROM silver.api_items', 'merge', '{id}') > 0 AS defined;
SELECT schema_name, table_name, gold_kind, keys FROM lakehouse.tables
 WHERE layer = 'gold' AND table_name LIKE 'api_%' ORDER BY table_name;
SELECT indexdef FROM pg_indexes WHERE schemaname = 'gold' AND tablename = 'api_item_names';

-- views see it all
SELECT pipeline, sources, silver_tables, gold_tables, last_status FROM lakehouse.pipeline_status
 WHERE pipeline = 'api_p';
SELECT source, pipeline, kind, bronze_table, enabled, dead_letters FROM lakehouse.source_status
 WHERE pipeline = 'api_p';

-- unregistering: a source read by silver cannot go first
SELECT lakehouse.lh_drop_source('api_items');
SELECT lakehouse.lh_drop_table('gold.api_item_names');
SELECT lakehouse.lh_drop_table('api_items');
SELECT lakehouse.lh_drop_source('api_items');
SELECT to_regclass('silver.api_items') IS NOT NULL AS silver_kept,
       to_regclass('bronze.api_items') IS NOT NULL AS bronze_kept;
SELECT lakehouse.lh_drop_table('gold.api_item_count', drop_data => true);
SELECT to_regclass('gold.api_item_count') IS NULL AS gold_dropped;

SELECT lakehouse.lh_drop_pipeline('api_p');
SELECT count(*) FROM lakehouse.pipelines WHERE name = 'api_p';
DROP TABLE silver.api_items, gold.api_item_names, bronze.api_items;
DROP SCHEMA api_src CASCADE;

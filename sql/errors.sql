--
-- errors: every bad declaration gets a clear error and leaves nothing behind
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA er_src;
CREATE TABLE er_src.t (id int, label text, ts timestamptz);
SELECT lakehouse.lh_create_pipeline('er') > 0 AS ok;
SELECT lakehouse.lh_add_source('er', 'er_t', 'table', '{"table": "er_src.t", "watermark": "ts"}') > 0 AS ok;

-- pipelines
SELECT lakehouse.lh_create_pipeline(NULL);
SELECT lakehouse.lh_create_pipeline('');
SELECT lakehouse.lh_create_pipeline(repeat('x', 201));
SELECT lakehouse.lh_create_pipeline('er');
SELECT lakehouse.lh_create_pipeline('er2', depends_on => ARRAY[NULL]::text[]);
SELECT lakehouse.lh_drop_pipeline('no_such_pipeline');

-- sources
SELECT lakehouse.lh_add_source('no_such_pipeline', 's', 'table', '{}');
SELECT lakehouse.lh_add_source('er', 'er_t', 'table', '{"table": "er_src.t", "watermark": "ts"}');
SELECT lakehouse.lh_add_source('er', 'er_k', 'kafka', '{}');
SELECT lakehouse.lh_add_source('er', 'er_h', 'http', '{}');
SELECT lakehouse.lh_add_source('er', 'er_x', 'ftp', '{}');
SELECT lakehouse.lh_add_source('er', 'er_t2', 'table', '{"table": "er_src.t", "watermark": "ts"}', 'bronze.er_t');
SELECT lakehouse.lh_add_source('er', 'er_opts', 'table', '[1, 2]');
SELECT lakehouse.lh_drop_source('no_such_source');

-- silver mappings
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'no_such_source', '[{"name": "id", "type": "int"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', NULL);
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '{}');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[1]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"type": "int"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "no_such_type"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "colour": "red"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "transforms": ["shout"]}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "path": "a..b"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "path": "a[x]"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "default": "abc"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "min": "1", "non_negative": true}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "point", "min": "(1,1)"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "min": "10", "max": "1"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int", "default": "-1", "non_negative": true}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int"}, {"name": "id", "type": "int"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "_lh_id", "type": "int"}]');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int"}]', keys => '{nope}');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int"}]', keys => '{id}', order_by => 'nope');
SELECT lakehouse.lh_define_silver('er', 'silver.er_t', 'er_t', '[{"name": "id", "type": "int"}]', order_by => 'id');
SELECT lakehouse.lh_define_silver('er', 'a.b.c', 'er_t', '[{"name": "id", "type": "int"}]');
SELECT lakehouse.lh_define_silver('er', 'bronze.er_t', 'er_t', '[{"name": "id", "type": "int"}]');
-- a mapping to a column the existing table does not have, or of another type
CREATE TABLE silver.er_existing (id int PRIMARY KEY, label text);
SELECT lakehouse.lh_define_silver('er', 'silver.er_existing', 'er_t', '[{"name": "id", "type": "int"}, {"name": "nope", "type": "text"}]', '{id}');
SELECT lakehouse.lh_define_silver('er', 'silver.er_existing', 'er_t', '[{"name": "id", "type": "int"}, {"name": "label", "type": "int"}]', '{id}');
SELECT lakehouse.lh_define_silver('er', 'silver.er_existing', 'er_t', '[{"name": "id", "type": "int"}, {"name": "label", "type": "text"}]', '{label}');
-- an existing table that fits is adopted (lineage columns are added)
SELECT lakehouse.lh_define_silver('er', 'silver.er_existing', 'er_t', '[{"name": "id", "type": "int"}, {"name": "label", "type": "text"}]', '{id}') > 0 AS ok;
SELECT attname FROM pg_attribute WHERE attrelid = 'silver.er_existing'::regclass AND attnum > 0 ORDER BY attnum;
-- nothing half-created by the failed calls
SELECT table_name FROM lakehouse.tables WHERE pipeline_id = (SELECT pipeline_id FROM lakehouse.pipelines WHERE name = 'er');
SELECT to_regclass('silver.er_t') IS NULL AS not_created;

-- gold
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELEC 1');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1; SELECT 2');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'DELETE FROM silver.er_existing');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1 AS a INTO er_tmp');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT * FROM no_such_table');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1 AS a, 2 AS a');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1 AS a', 'upsert');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1 AS a', 'merge');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1 AS a', 'merge', '{b}');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', 'SELECT 1 AS a', 'scd2', '{b}');
SELECT lakehouse.lh_define_gold('er', 'gold.er_g', NULL);
SELECT lakehouse.lh_define_gold('no_such_pipeline', 'gold.er_g', 'SELECT 1 AS a');
CREATE TABLE gold.er_fixed (a int);
SELECT lakehouse.lh_define_gold('er', 'gold.er_fixed', 'SELECT 1 AS a, 2 AS b');
SELECT lakehouse.lh_define_gold('er', 'gold.er_fixed', 'SELECT 1 AS a') > 0 AS ok;
SELECT lakehouse.lh_define_gold('er', 'gold.er_fixed', 'SELECT 2 AS a');
SELECT lakehouse.lh_drop_table('gold.no_such');

SELECT lakehouse.lh_drop_pipeline('er', drop_tables => true);
DROP SCHEMA er_src CASCADE;

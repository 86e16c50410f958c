--
-- hostile: names with quotes, semicolons, dollar quotes, mixed case and
-- maximum lengths are stored as data and always quoted as identifiers
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA "Hostile Src";
CREATE TABLE "Hostile Src"."Tab; DROP TABLE x; --" ("Id" int, "Wm ""q""" timestamptz, "va$$l" text);
INSERT INTO "Hostile Src"."Tab; DROP TABLE x; --" VALUES (1, '2024-01-01', 'a'), (2, '2024-01-02', $$it's "quoted"$$);

SELECT lakehouse.lh_create_pipeline($$p'; DROP SCHEMA lakehouse CASCADE; --$$) > 0 AS ok;
SELECT lakehouse.lh_add_source($$p'; DROP SCHEMA lakehouse CASCADE; --$$, $$src $$ || '$$x' || $$ "q"$$, 'table',
       jsonb_build_object('table', '"Hostile Src"."Tab; DROP TABLE x; --"', 'watermark', 'Wm "q"'),
       'bronze."Bronze; ""Raw"""') > 0 AS ok;
SELECT lakehouse.lh_define_silver($$p'; DROP SCHEMA lakehouse CASCADE; --$$, 'silver."Silver ""T"";"',
       $$src $$ || '$$x' || $$ "q"$$,
       '[{"name": "Id", "type": "int"}, {"name": "Va''l \"x\"", "path": "va$$l", "type": "text"}]',
       '{Id}') > 0 AS ok;
SELECT lakehouse.lh_define_gold($$p'; DROP SCHEMA lakehouse CASCADE; --$$, 'gold."G; --"',
       'SELECT "Id", "Va''l ""x""" AS "Out''put" FROM silver."Silver ""T"";"') > 0 AS ok;

SELECT s->>'status' AS status, s->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline($$p'; DROP SCHEMA lakehouse CASCADE; --$$) AS s;
SELECT "Id", "Va'l ""x""" FROM silver."Silver ""T"";" ORDER BY "Id";
SELECT * FROM gold."G; --" ORDER BY "Id";
SELECT name FROM lakehouse.pipelines WHERE name LIKE 'p''%';
SELECT name, bronze_schema, bronze_table FROM lakehouse.sources WHERE name LIKE 'src%';

-- maximum lengths: 63-byte identifiers work, 64 bytes are refused rather than truncated
SELECT lakehouse.lh_create_pipeline(repeat('n', 200)) > 0 AS ok;
SELECT lakehouse.lh_add_source(repeat('n', 200), repeat('s', 63), 'table',
       '{"table": "\"Hostile Src\".\"Tab; DROP TABLE x; --\"", "watermark": "Wm \"q\""}') > 0 AS ok;
SELECT bronze_table = repeat('s', 63) AS full_name FROM lakehouse.sources WHERE name = repeat('s', 63);
SELECT lakehouse.lh_add_source(repeat('n', 200), repeat('s', 64), 'table',
       '{"table": "\"Hostile Src\".\"Tab; DROP TABLE x; --\"", "watermark": "Wm \"q\""}');
SELECT lakehouse.lh_define_silver(repeat('n', 200), 'silver.' || repeat('t', 64), repeat('s', 63),
       '[{"name": "Id", "type": "int"}]');
SELECT lakehouse.lh_drop_pipeline(repeat('n', 200), drop_tables => true);

SELECT lakehouse.lh_drop_pipeline($$p'; DROP SCHEMA lakehouse CASCADE; --$$, drop_tables => true);
SELECT count(*) AS tables_left FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('bronze', 'silver', 'gold') AND c.relname LIKE '%"%';
DELETE FROM lakehouse.runs WHERE pipeline_name LIKE 'p''%';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name LIKE 'p''%';
DROP SCHEMA "Hostile Src" CASCADE;

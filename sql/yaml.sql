--
-- yaml: declaring pipelines with lh_apply_config / lh_apply_config_file
--
CREATE EXTENSION IF NOT EXISTS lakehouse;

-- Tables the table sources read.
CREATE SCHEMA yaml_src;
CREATE TABLE yaml_src.orders (order_id bigint, amount numeric, updated_at timestamptz);
CREATE TABLE yaml_src.refunds (refund_id bigint, order_id bigint, changed_at timestamptz);

-- The documents used below, by name.
CREATE TEMP TABLE yaml_docs (name text PRIMARY KEY, doc text NOT NULL);

INSERT INTO yaml_docs VALUES ('v1', $yaml$
# Orders and refunds, from two tables of the application.
pipeline: yaml_orders
description: Orders declared in YAML
sources:
  - name: yaml_orders_raw
    kind: table
    options:
      table: yaml_src.orders
      watermark: updated_at
      batch_size: 500          # a plain integer becomes a JSON number
  - name: yaml_refunds_raw
    kind: table
    bronze_table: bronze.yaml_refunds_landing
    options: {table: yaml_src.refunds, watermark: changed_at}
silver:
  - table: silver.yaml_orders
    source: yaml_orders_raw
    keys: [order_id]
    order_by: updated_at
    columns:
      - {name: order_id, type: bigint, required: true}
      - {name: amount, type: "numeric(12,2)", min: 0, max: 100000}
      - {name: updated_at, type: timestamptz, required: yes}
      - name: note
        path: meta.note
        type: text
        transforms: [trim, nullif_empty]
        default: none
  - table: yaml_refunds          # unqualified: schema silver
    source: yaml_refunds_raw
    columns:
      - {name: refund_id, type: bigint, required: true}
      - {name: order_id, type: bigint, non_negative: true}
gold:
  - table: gold.yaml_totals
    sql: SELECT count(*) AS orders, sum(amount) AS total FROM silver.yaml_orders
  - table: yaml_latest
    kind: merge
    keys: [order_id]
    sql: |
      SELECT order_id, max(updated_at) AS updated_at
        FROM silver.yaml_orders
       GROUP BY order_id
$yaml$);

-- v2: new description, a changed column, refunds and one gold table removed.
INSERT INTO yaml_docs VALUES ('v2', $yaml$
pipeline: yaml_orders
description: Orders only
sources:
  - name: yaml_orders_raw
    kind: table
    options:
      table: yaml_src.orders
      watermark: updated_at
      batch_size: 500
silver:
  - table: silver.yaml_orders
    source: yaml_orders_raw
    keys: [order_id]
    order_by: updated_at
    columns:
      - {name: order_id, type: bigint, required: true}
      - {name: amount, type: "numeric(12,2)", min: 0, max: 100000}
      - {name: updated_at, type: timestamptz, required: yes}
      - name: note
        path: meta.note
        type: text
        transforms: [trim, lower, nullif_empty]
        default: none
gold:
  - table: gold.yaml_totals
    sql: SELECT count(*) AS orders, sum(amount) AS total FROM silver.yaml_orders
$yaml$);

-- A view of everything the catalog holds about the test's pipelines.
CREATE TEMP VIEW yaml_catalog AS
SELECT 'pipeline' AS what, p.name, concat_ws(' | ', p.description, p.schedule,
       (SELECT string_agg(u.name, ',' ORDER BY u.name)
          FROM lakehouse.pipeline_deps d
          JOIN lakehouse.pipelines u ON u.pipeline_id = d.upstream_id
         WHERE d.pipeline_id = p.pipeline_id)) AS definition
  FROM lakehouse.pipelines p WHERE p.name ILIKE 'yaml%'
UNION ALL
SELECT 'source', s.name, concat_ws(' | ', p.name, s.kind, s.options::text,
       format('%I.%I', s.bronze_schema, s.bronze_table))
  FROM lakehouse.sources s JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE p.name ILIKE 'yaml%'
UNION ALL
SELECT t.layer, format('%I.%I', t.schema_name, t.table_name),
       concat_ws(' | ', p.name, s.name, t.keys::text, t.order_by, t.gold_kind,
                 btrim(regexp_replace(t.sql, '\s+', ' ', 'g')))
  FROM lakehouse.tables t JOIN lakehouse.pipelines p USING (pipeline_id)
  LEFT JOIN lakehouse.sources s ON s.source_id = t.source_id
 WHERE p.name ILIKE 'yaml%'
UNION ALL
SELECT 'column', format('%I.%I.%I', t.schema_name, t.table_name, c.column_name),
       concat_ws(' | ', c.ordinal, c.json_path::text, c.type_name,
                 CASE WHEN c.required THEN 'required' END,
                 nullif(c.transforms::text, '{}'), 'default=' || c.default_value,
                 'min=' || c.min_value, 'max=' || c.max_value)
  FROM lakehouse.silver_columns c JOIN lakehouse.tables t USING (table_id)
  JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE p.name ILIKE 'yaml%';

--
-- Declare, re-declare, change.
--
SELECT lakehouse.lh_apply_config(doc) FROM yaml_docs WHERE name = 'v1';
SELECT * FROM yaml_catalog ORDER BY what, name;
SELECT to_regclass('bronze.yaml_orders_raw') IS NOT NULL AS bronze_orders,
       to_regclass('bronze.yaml_refunds_landing') IS NOT NULL AS bronze_refunds,
       to_regclass('silver.yaml_refunds') IS NOT NULL AS silver_refunds,
       to_regclass('gold.yaml_latest') IS NOT NULL AS gold_latest;

-- the same document again changes nothing
SELECT lakehouse.lh_apply_config(doc) FROM yaml_docs WHERE name = 'v1';

-- a changed document updates, and unregisters what it no longer declares
SELECT lakehouse.lh_apply_config(doc) FROM yaml_docs WHERE name = 'v2';
SELECT * FROM yaml_catalog ORDER BY what, name;
-- unregistered, but the data tables are kept
SELECT to_regclass('bronze.yaml_refunds_landing') IS NOT NULL AS bronze_refunds,
       to_regclass('silver.yaml_refunds') IS NOT NULL AS silver_refunds,
       to_regclass('gold.yaml_latest') IS NOT NULL AS gold_latest;
SELECT lakehouse.lh_apply_config(doc) FROM yaml_docs WHERE name = 'v2';

--
-- A stream of several documents; a dependent declared before its upstream.
--
SELECT lakehouse.lh_apply_config($yaml$
pipelines:
  - pipeline: yaml_report
    depends_on: [yaml_stage, yaml_orders]
    gold:
      - table: gold.yaml_report
        sql: SELECT orders FROM gold.yaml_stage
---
pipeline: yaml_stage
gold:
  - table: gold.yaml_stage
    sql: SELECT count(*) AS orders FROM silver.yaml_orders
---
# an empty document is skipped
$yaml$);
SELECT pipeline, depends_on, sources, silver_tables, gold_tables
  FROM lakehouse.pipeline_status WHERE pipeline LIKE 'yaml%' ORDER BY pipeline;
-- dropping a dependency
SELECT lakehouse.lh_apply_config($yaml$
pipeline: yaml_report
depends_on: [yaml_stage]
gold:
  - table: gold.yaml_report
    sql: SELECT orders FROM gold.yaml_stage
$yaml$);
SELECT pipeline, depends_on FROM lakehouse.pipeline_status
 WHERE pipeline = 'yaml_report';

--
-- Names are values, never SQL.
--
SELECT lakehouse.lh_apply_config($yaml$
pipeline: "Yaml'); DROP TABLE yaml_src.orders; --"
description: $$ dollar $$ "quoted" ; semicolon
sources:
  - name: 'yaml "odd" source'
    kind: table
    bronze_table: '"Yaml Bronze"."Odd ""Name"""'
    options: {table: yaml_src.orders, watermark: updated_at}
$yaml$);
SELECT * FROM yaml_catalog WHERE name LIKE '%odd%' OR name LIKE 'Yaml%' ORDER BY what, name;
SELECT to_regclass('yaml_src.orders') IS NOT NULL AS orders_still_there,
       to_regclass('"Yaml Bronze"."Odd ""Name"""') IS NOT NULL AS odd_bronze;
-- too long for the catalog: the API's error, with the position
SELECT lakehouse.lh_apply_config('pipeline: ' || repeat('y', 300));

--
-- Errors: the message names the key, the line and the column.
--
-- YAML syntax
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources: [ {name: x, kind: table\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\n  description: indented\n');
SELECT lakehouse.lh_apply_config(E'pipeline: "unterminated\n');
-- unknown keys, at every level
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nschedul: "* * * * *"\n');
SELECT lakehouse.lh_apply_config($yaml$
pipeline: yaml_bad
sources:
  - {name: s, kind: table, options: {table: t, watermark: w}}
silver:
  - table: t
    source: s
    columns:
      - {name: a, type: int}
      - {name: b, type: int, requird: true}
$yaml$);
SELECT lakehouse.lh_apply_config(E'pipelines: []\npipeline: yaml_bad\n');
-- wrong kind of node
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources:\n  name: s\n  kind: table\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources: [s1, s2]\n');
SELECT lakehouse.lh_apply_config(E'pipeline: [yaml_bad]\n');
SELECT lakehouse.lh_apply_config(E'- pipeline: yaml_bad\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\ndepends_on: yaml_orders\n');
SELECT lakehouse.lh_apply_config($yaml$
pipeline: yaml_bad
sources: [{name: s, kind: table, options: {table: t, watermark: w}}]
silver: [{table: t, source: s, columns: [{name: a, type: int, required: maybe}]}]
$yaml$);
-- missing required keys
SELECT lakehouse.lh_apply_config(E'description: no name\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources:\n  - name: s\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\ngold:\n  - table: g\n');
SELECT lakehouse.lh_apply_config($yaml$
pipeline: yaml_bad
sources: [{name: s, kind: table, options: {table: t, watermark: w}}]
silver: [{table: t, source: s, columns: [{name: a}]}]
$yaml$);
SELECT lakehouse.lh_apply_config(E'pipeline:\n');
-- duplicates and references
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\ndescription: a\ndescription: b\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\n---\npipeline: yaml_bad\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\ndepends_on: [yaml_no_such_pipeline]\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\ndepends_on: [yaml_bad]\n');
SELECT lakehouse.lh_apply_config($yaml$
pipeline: yaml_bad
silver: [{table: t, source: yaml_orders_raw, columns: [{name: a, type: int}]}]
$yaml$);
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources:\n  - {name: s, kind: table, options: {a: 1, a: 2}}\n');
SELECT lakehouse.lh_apply_config(E'pipeline: "yaml\\0bad"\n');
-- nothing to apply
SELECT lakehouse.lh_apply_config('');
SELECT lakehouse.lh_apply_config(E'# only a comment\n');
SELECT lakehouse.lh_apply_config('pipelines: []');
-- recursive alias
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources:\n  - {name: s, kind: file, options: &o {path: /x, nested: *o}}\n');
-- errors of the SQL API carry the position of the definition
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nsources:\n  - {name: s, kind: carrier_pigeon}\n');
SELECT lakehouse.lh_apply_config(E'pipeline: yaml_bad\nschedule: "*/5 * * * *"\n');

-- An error in the second pipeline leaves nothing of the first behind.
SELECT lakehouse.lh_apply_config($yaml$
pipelines:
  - pipeline: yaml_first
    sources:
      - {name: yaml_first_raw, kind: table, options: {table: yaml_src.orders, watermark: updated_at}}
  - pipeline: yaml_second
    sources:
      - {name: yaml_second_raw, kind: table, options: {table: yaml_src.no_such_table, watermark: x}}
$yaml$);
SELECT count(*) AS pipelines FROM lakehouse.pipelines WHERE name IN ('yaml_first', 'yaml_second', 'yaml_bad');
SELECT to_regclass('bronze.yaml_first_raw') IS NULL AS no_bronze_table;

--
-- lh_apply_config_file: relative paths are resolved against the file's
-- directory (the data directory here).
--
DO $$
BEGIN
    EXECUTE format($q$COPY (SELECT * FROM (VALUES
        ('pipeline: yaml_files'),
        ('sources:'),
        ('  - name: yaml_files_raw'),
        ('    kind: file'),
        ('    options:'),
        ('      path: yaml_data/orders_*.csv'),
        ('      format: csv'),
        ('  - name: yaml_files_abs'),
        ('    kind: file'),
        ('    options: {path: /srv/exports/orders.jsonl, format: jsonl}')) v) TO %L$q$,
        current_setting('data_directory') || '/lh_yaml_test.yaml');
    EXECUTE format($q$COPY (SELECT 'pipeline: [yaml_files') TO %L$q$,
        current_setting('data_directory') || '/lh_yaml_bad.yaml');
END
$$;
SELECT lakehouse.lh_apply_config_file('lh_yaml_test.yaml');
SELECT name, replace(options->>'path', current_setting('data_directory'), '$PGDATA') AS path
  FROM lakehouse.sources WHERE name LIKE 'yaml_files%' ORDER BY name;
SELECT lakehouse.lh_apply_config_file(current_setting('data_directory') || '/lh_yaml_test.yaml');
SELECT lakehouse.lh_apply_config_file('lh_yaml_bad.yaml');
SELECT lakehouse.lh_apply_config_file('lh_yaml_missing.yaml');
SELECT lakehouse.lh_apply_config_file('.');
-- reading server files needs pg_read_server_files
CREATE ROLE regress_yaml_reader;
GRANT USAGE ON SCHEMA lakehouse TO regress_yaml_reader;
GRANT EXECUTE ON FUNCTION lakehouse.lh_apply_config_file(text) TO regress_yaml_reader;
SET ROLE regress_yaml_reader;
SELECT lakehouse.lh_apply_config_file('lh_yaml_test.yaml');
RESET ROLE;
REVOKE ALL ON FUNCTION lakehouse.lh_apply_config_file(text) FROM regress_yaml_reader;
REVOKE ALL ON SCHEMA lakehouse FROM regress_yaml_reader;
DROP ROLE regress_yaml_reader;

--
-- Clean up.
--
SELECT lakehouse.lh_drop_pipeline('yaml_report', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('yaml_stage', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('yaml_orders', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('yaml_files', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline(name, drop_tables => true)
  FROM lakehouse.pipelines WHERE name LIKE 'Yaml%';
DROP TABLE silver.yaml_refunds, bronze.yaml_refunds_landing, gold.yaml_latest;
DROP SCHEMA "Yaml Bronze";
DROP SCHEMA yaml_src CASCADE;
SELECT count(*) AS leftover FROM lakehouse.pipelines WHERE name ILIKE 'yaml%';

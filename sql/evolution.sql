--
-- evolution: schema-evolution policies of silver tables, the DDL guard,
-- lh_evolve, config-driven evolution and schema drift
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA ev_src;
CREATE TABLE ev_src.orders (id bigint, qty integer, small smallint, tiny smallint,
                            price real, amount numeric, label text, code text,
                            extra jsonb, updated_at timestamptz);

SELECT lakehouse.lh_create_pipeline('ev') > 0 AS ok;
SELECT lakehouse.lh_add_source('ev', 'ev_orders', 'table',
       '{"table": "ev_src.orders", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ev', 'silver.ev_orders', 'ev_orders',
       '[{"name": "id", "type": "bigint"},
         {"name": "qty", "type": "integer"},
         {"name": "small", "type": "smallint"},
         {"name": "tiny", "type": "smallint"},
         {"name": "price", "type": "real"},
         {"name": "amount", "type": "numeric(10,2)"},
         {"name": "label", "type": "varchar(10)"},
         {"name": "color", "path": "extra.color", "type": "text"},
         {"name": "updated_at", "type": "timestamptz", "required": true}]',
       keys => '{id}') > 0 AS ok;

-- registered with the default policy and a snapshot of its columns
SELECT s.policy FROM lakehouse.silver_schemas s JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ev_orders';
SELECT c.attnum, c.column_name, c.type_name, c.not_null, c.default_expr, c.pk_position
  FROM lakehouse.silver_schema_columns c JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ev_orders' ORDER BY c.attnum;

-- ---------------------------------------------------------------------
-- additive (the default): safe changes go through and are recorded
-- ---------------------------------------------------------------------
ALTER TABLE silver.ev_orders ADD COLUMN note text;
ALTER TABLE silver.ev_orders ADD COLUMN score integer NOT NULL DEFAULT 0;
ALTER TABLE silver.ev_orders ADD COLUMN code varchar(10);
ALTER TABLE silver.ev_orders ALTER COLUMN qty TYPE bigint;
ALTER TABLE silver.ev_orders ALTER COLUMN small TYPE integer;
ALTER TABLE silver.ev_orders ALTER COLUMN tiny TYPE bigint;
ALTER TABLE silver.ev_orders ALTER COLUMN price TYPE double precision;
ALTER TABLE silver.ev_orders ALTER COLUMN amount TYPE numeric(12,2);
ALTER TABLE silver.ev_orders ALTER COLUMN label TYPE varchar(20);
ALTER TABLE silver.ev_orders ALTER COLUMN label TYPE text;
ALTER TABLE silver.ev_orders ALTER COLUMN score DROP NOT NULL;
-- changes that do not touch the columns are no schema change at all
ALTER TABLE silver.ev_orders SET (fillfactor = 90);
ALTER TABLE silver.ev_orders ALTER COLUMN note SET DEFAULT 'none';

SELECT via, policy, change_kind, column_name, old_definition, new_definition, breaking
  FROM lakehouse.schema_history WHERE table_name = 'silver.ev_orders' ORDER BY change_id;
-- the mapping follows the widened types
SELECT column_name, type_name FROM lakehouse.silver_columns c
  JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ev_orders' ORDER BY ordinal;

-- ---------------------------------------------------------------------
-- additive: breaking changes are refused, and nothing changes
-- ---------------------------------------------------------------------
ALTER TABLE silver.ev_orders DROP COLUMN note;
ALTER TABLE silver.ev_orders RENAME COLUMN note TO remark;
ALTER TABLE silver.ev_orders ALTER COLUMN qty TYPE integer;
ALTER TABLE silver.ev_orders ALTER COLUMN small TYPE smallint;
ALTER TABLE silver.ev_orders ALTER COLUMN price TYPE real;
ALTER TABLE silver.ev_orders ALTER COLUMN code TYPE varchar(5);
ALTER TABLE silver.ev_orders ALTER COLUMN label TYPE varchar(30);
ALTER TABLE silver.ev_orders ALTER COLUMN amount TYPE numeric(12,3);
ALTER TABLE silver.ev_orders ALTER COLUMN amount TYPE numeric(8,2);
ALTER TABLE silver.ev_orders ALTER COLUMN code TYPE integer USING 0;
ALTER TABLE silver.ev_orders ALTER COLUMN qty TYPE text;
ALTER TABLE silver.ev_orders ALTER COLUMN note SET NOT NULL;
ALTER TABLE silver.ev_orders ADD COLUMN must integer NOT NULL;
ALTER TABLE silver.ev_orders DROP CONSTRAINT ev_orders_pkey;
ALTER TABLE silver.ev_orders DROP CONSTRAINT ev_orders_pkey, ADD PRIMARY KEY (id, updated_at);
-- one statement with a safe and a breaking change: all of it is refused
ALTER TABLE silver.ev_orders ADD COLUMN fine text, DROP COLUMN score;
SELECT count(*) AS history_rows FROM lakehouse.schema_history WHERE table_name = 'silver.ev_orders';
SELECT string_agg(attname, ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid = 'silver.ev_orders'::regclass AND attnum > 0 AND NOT attisdropped;

-- DDL on tables that are not registered silver tables is not looked at
CREATE TABLE ev_src.free (a integer NOT NULL, b text);
ALTER TABLE ev_src.free DROP COLUMN b;
ALTER TABLE ev_src.free ALTER COLUMN a TYPE smallint;
ALTER TABLE ev_src.free RENAME COLUMN a TO z;
DROP TABLE ev_src.free;

-- ---------------------------------------------------------------------
-- strict: every change needs a migration
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_set_schema_policy('silver.ev_orders', 'strict');
ALTER TABLE silver.ev_orders ADD COLUMN extra2 text;
ALTER TABLE silver.ev_orders ALTER COLUMN qty TYPE numeric;
ALTER TABLE silver.ev_orders DROP COLUMN note;
SELECT lakehouse.lh_set_schema_policy('silver.ev_orders', 'sloppy');
SELECT lakehouse.lh_set_schema_policy('silver.nope', 'strict');
SELECT lakehouse.lh_set_schema_policy('ev_src.orders', 'strict');
SELECT lakehouse.lh_set_schema_policy(NULL, 'strict');

-- lh_evolve: a safe change, with a reason
SELECT lakehouse.lh_evolve('silver.ev_orders', 'ALTER TABLE silver.ev_orders ADD COLUMN extra2 text',
                           reason => 'ticket 17');
-- a breaking one needs allow_breaking
SELECT lakehouse.lh_evolve('silver.ev_orders', 'ALTER TABLE silver.ev_orders DROP COLUMN extra2');
SELECT lakehouse.lh_evolve('silver.ev_orders', 'ALTER TABLE silver.ev_orders DROP COLUMN extra2',
                           allow_breaking => true, reason => 'not needed after all');
-- renaming a mapped column: the mapping follows (same JSON path, new name)
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders RENAME COLUMN color TO colour',
                           true, 'spelling');
SELECT column_name, json_path FROM lakehouse.silver_columns c JOIN lakehouse.tables t USING (table_id)
 WHERE t.table_name = 'ev_orders' AND json_path = '{extra,color}';
-- dropping a mapped column is refused: unmap it first
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders DROP COLUMN colour', true);
-- a narrowing under allow_breaking; renaming a key column updates the keys
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders ALTER COLUMN tiny TYPE integer', true);
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders RENAME id TO order_id', true);
SELECT keys FROM lakehouse.tables WHERE table_name = 'ev_orders';
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders RENAME order_id TO id', true);
-- a statement with no schema change
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders SET (fillfactor = 100)');

-- only one ALTER TABLE of that very table is accepted
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders ADD COLUMN x int; DROP TABLE ev_src.orders');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders ADD COLUMN x int; ');
SELECT lakehouse.lh_evolve('ev_orders', 'DROP TABLE silver.ev_orders');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE ev_src.orders ADD COLUMN x int');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders RENAME TO other');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER INDEX silver.ev_orders_pkey RENAME TO x');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders ADD COLUMN');
SELECT lakehouse.lh_evolve('ev_orders', '');
SELECT lakehouse.lh_evolve('ev_orders', NULL);
SELECT lakehouse.lh_evolve('ev_src.orders', 'ALTER TABLE ev_src.orders ADD COLUMN x int');
SELECT to_regclass('ev_src.orders') IS NOT NULL AS source_table_still_there;

SELECT via, policy, change_kind, column_name, old_definition, new_definition, breaking,
       allow_breaking, reason, statement, changed_by = current_user AS by_me
  FROM lakehouse.schema_history
 WHERE table_name = 'silver.ev_orders' AND via IN ('lh_evolve', 'policy') ORDER BY change_id;

-- ---------------------------------------------------------------------
-- permissive: everything goes through, and is recorded
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_set_schema_policy('ev_orders', 'permissive');
ALTER TABLE silver.ev_orders ALTER COLUMN note TYPE varchar(3);
ALTER TABLE silver.ev_orders ALTER COLUMN note SET NOT NULL;
ALTER TABLE silver.ev_orders RENAME COLUMN note TO remark;
ALTER TABLE silver.ev_orders DROP COLUMN remark;
-- except dropping a mapped column, which would break the silver stage
ALTER TABLE silver.ev_orders DROP COLUMN colour;
-- lh_evolve still wants allow_breaking for a breaking change
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders DROP COLUMN code');
SELECT via, change_kind, column_name, old_definition, new_definition, breaking
  FROM lakehouse.schema_history
 WHERE table_name = 'silver.ev_orders' AND policy = 'permissive' ORDER BY change_id;

-- ---------------------------------------------------------------------
-- gold tables that read the silver table are planned again by lh_evolve
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_set_schema_policy('ev_orders', 'additive');
SELECT lakehouse.lh_define_gold('ev', 'gold.ev_totals',
       'SELECT id, sum(qty) AS qty FROM silver.ev_orders GROUP BY id') > 0 AS ok;
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders RENAME COLUMN qty TO quantity', true);
-- under strict, a migration that leaves a gold table broken is refused
SELECT lakehouse.lh_set_schema_policy('ev_orders', 'strict');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders ADD COLUMN extra3 text');
SELECT lakehouse.lh_evolve('ev_orders', 'ALTER TABLE silver.ev_orders RENAME COLUMN quantity TO qty', true);
SELECT lakehouse.lh_set_schema_policy('ev_orders', 'additive');

-- ---------------------------------------------------------------------
-- the silver stage still works, and reports fields no column maps
-- ---------------------------------------------------------------------
INSERT INTO ev_src.orders VALUES
 (1, 2, 3, 4, 1.5, 10.25, 'a', 'c1',
  '{"color": "red", "dims": {"w": 10, "h": 20}, "tags": ["x", "y"],
    "lines": [{"sku": "S1", "n": 1}, {"sku": "S2", "n": 2}]}', '2024-01-01 00:00:00+00'),
 (2, 1, 1, 1, 2.5, 5, 'b', 'c2',
  '{"color": "blue", "dims": {"w": 11}, "note": "a very long example value that goes on and on and on and on and on and on and on and on and on and on and on"}',
  '2024-01-02 00:00:00+00'),
 (3, 1, 1, 1, 2.5, 5, 'c', 'c3', NULL, '2024-01-03 00:00:00+00');
SELECT s->>'status' AS status, s->'stages'->1->>'rows_written' AS silver_written
  FROM lakehouse.lh_run_pipeline('ev') AS s;
SELECT id, qty, colour FROM silver.ev_orders ORDER BY id;
SELECT silver_table, field_path, seen_count, example_value,
       first_seen <= last_seen AS times_ok
  FROM lakehouse.schema_drift WHERE pipeline = 'ev' ORDER BY field_path;
-- a second run adds to the counts; nesting is followed 8 levels deep
INSERT INTO ev_src.orders VALUES
 (4, 1, 1, 1, 1, 1, 'd', 'c4', '{"dims": {"w": 1, "d": 3}, "x": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}',
  '2024-01-04 00:00:00+00');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ev') AS s;
SELECT field_path, seen_count, example_value FROM lakehouse.schema_drift
 WHERE pipeline = 'ev' ORDER BY field_path;

-- ---------------------------------------------------------------------
-- config-driven evolution: lh_define_silver / lh_apply_config
-- ---------------------------------------------------------------------
-- mapping a drifted field adds the column; it leaves the drift view
SELECT lakehouse.lh_define_silver('ev', 'silver.ev_orders', 'ev_orders',
       '[{"name": "id", "type": "bigint"},
         {"name": "qty", "type": "bigint"},
         {"name": "small", "type": "integer"},
         {"name": "tiny", "type": "integer"},
         {"name": "price", "type": "double precision"},
         {"name": "amount", "type": "numeric(12,2)"},
         {"name": "label", "type": "text"},
         {"name": "colour", "path": "extra.color", "type": "text"},
         {"name": "updated_at", "type": "timestamptz", "required": true},
         {"name": "width", "path": "extra.dims.w", "type": "integer"}]',
       keys => '{id}', replace => true) > 0 AS ok;
SELECT field_path FROM lakehouse.schema_drift WHERE pipeline = 'ev' ORDER BY field_path;
SELECT via, change_kind, column_name, new_definition, statement FROM lakehouse.schema_history
 WHERE table_name = 'silver.ev_orders' AND via = 'config' ORDER BY change_id;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ev', full_refresh => true) AS s;
SELECT id, width FROM silver.ev_orders ORDER BY id;
-- a full refresh counts again from scratch
SELECT field_path, seen_count FROM lakehouse.schema_drift
 WHERE pipeline = 'ev' AND field_path LIKE 'extra.dims%' ORDER BY field_path;

CREATE TEMP TABLE ev_docs (name text PRIMARY KEY, doc text NOT NULL);
INSERT INTO ev_docs VALUES
('v1', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    columns:
      - {name: id, type: bigint}
      - {name: qty, type: integer}
$yaml$),
('v2', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    columns:
      - {name: id, type: bigint}
      - {name: qty, type: bigint}
      - {name: label, type: text}
$yaml$),
('v3', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    columns:
      - {name: id, type: bigint}
      - {name: qty, type: smallint}
      - {name: label, type: text}
$yaml$),
('v4', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    allow_breaking: true
    columns:
      - {name: id, type: bigint}
      - {name: qty, type: smallint}
      - {name: label, type: text}
$yaml$),
('v4p', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    schema_policy: permissive
    columns:
      - {name: id, type: bigint}
      - {name: qty, type: smallint}
      - {name: label, type: text}
$yaml$),
('v5', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    schema_policy: strict
    columns:
      - {name: id, type: bigint}
      - {name: qty, type: smallint}
      - {name: label, type: text}
      - {name: code, type: text}
$yaml$),
('v6', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    schema_policy: lenient
    columns:
      - {name: id, type: bigint}
$yaml$),
('v7', $yaml$
pipeline: ev_yaml
sources:
  - name: ev_yaml_src
    kind: table
    options: {table: ev_src.orders, watermark: updated_at}
silver:
  - table: silver.ev_yaml
    source: ev_yaml_src
    keys: [id]
    allow_breaking: maybe
    columns:
      - {name: id, type: bigint}
$yaml$);
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v1';
-- a widened type and a new column: applied
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v2';
SELECT format_type(atttypid, atttypmod) AS type, attname FROM pg_attribute
 WHERE attrelid = 'silver.ev_yaml'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
-- a narrowing: refused
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v3';
-- allowed with allow_breaking: true
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v4';
SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
 WHERE attrelid = 'silver.ev_yaml'::regclass AND attname = 'qty';
-- applying the same document again changes nothing; a new policy is a change
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v4';
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v4p';
-- strict: even a new column waits for a migration
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v5';
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v6';
SELECT lakehouse.lh_apply_config(doc)->'pipelines'->0->>'action' AS action FROM ev_docs WHERE name = 'v7';
SELECT via, policy, change_kind, column_name, old_definition, new_definition, breaking, allow_breaking
  FROM lakehouse.schema_history WHERE table_name = 'silver.ev_yaml' ORDER BY change_id;
-- the policy argument of lh_define_silver
SELECT lakehouse.lh_define_silver('ev_yaml', 'silver.ev_yaml', 'ev_yaml_src',
       '[{"name": "id", "type": "bigint"}]', '{id}', replace => true,
       schema_policy => 'strict') > 0 AS ok;
SELECT policy FROM lakehouse.silver_schemas JOIN lakehouse.tables USING (table_id)
 WHERE table_name = 'ev_yaml';
SELECT lakehouse.lh_define_silver('ev_yaml', 'silver.ev_yaml', 'ev_yaml_src',
       '[{"name": "id", "type": "bigint"}]', '{id}', replace => true,
       schema_policy => 'loose');
-- the extension's own DDL is not held to the policy: redefining a strict
-- table that lost a lineage column adds it back
SELECT lakehouse.lh_evolve('ev_yaml', 'ALTER TABLE silver.ev_yaml DROP COLUMN _lh_run_id', true)->'changes';
SELECT lakehouse.lh_define_silver('ev_yaml', 'silver.ev_yaml', 'ev_yaml_src',
       '[{"name": "id", "type": "bigint"}]', '{id}', replace => true) > 0 AS ok;
SELECT count(*) AS lineage_columns FROM pg_attribute
 WHERE attrelid = 'silver.ev_yaml'::regclass AND attname IN ('_lh_bronze_id', '_lh_run_id')
   AND NOT attisdropped;
-- and the snapshot knows it: a later unrelated change reports only itself
SELECT lakehouse.lh_evolve('ev_yaml', 'ALTER TABLE silver.ev_yaml ADD COLUMN later text')->'changes';

-- ---------------------------------------------------------------------
-- hostile identifiers
-- ---------------------------------------------------------------------
CREATE SCHEMA "Ev Schema";
SELECT lakehouse.lh_define_silver('ev', '"Ev Schema"."Odd ""Tab""; x"', 'ev_orders',
       '[{"name": "Mixed Case", "path": "id", "type": "bigint"},
         {"name": "semi;colon", "path": "label", "type": "varchar(5)"}]',
       keys => '{Mixed Case}') > 0 AS ok;
ALTER TABLE "Ev Schema"."Odd ""Tab""; x" RENAME COLUMN "semi;colon" TO "it's ""quoted""";
ALTER TABLE "Ev Schema"."Odd ""Tab""; x" ALTER COLUMN "semi;colon" TYPE varchar(2);
SELECT lakehouse.lh_evolve('"Ev Schema"."Odd ""Tab""; x"',
       'ALTER TABLE "Ev Schema"."Odd ""Tab""; x" ADD COLUMN "new ""col""; x" text');
SELECT lakehouse.lh_evolve('"Ev Schema"."Odd ""Tab""; x"',
       'ALTER TABLE "Ev Schema"."Odd ""Tab""; x" RENAME "semi;colon" TO "it''s ""quoted"""', true);
SELECT column_name FROM lakehouse.silver_columns c JOIN lakehouse.tables t USING (table_id)
 WHERE t.schema_name = 'Ev Schema' ORDER BY ordinal;
SELECT lakehouse.lh_evolve('"Ev Schema"."Odd ""Tab""; x"',
       'ALTER TABLE "Ev Schema"."Odd ""Tab""; x" ADD COLUMN a int; SELECT 1');

-- ---------------------------------------------------------------------
-- a role without rights on the lakehouse schema
-- ---------------------------------------------------------------------
-- its DDL on its own tables is not disturbed by the guard
CREATE ROLE regress_ev_owner;
GRANT USAGE, CREATE ON SCHEMA ev_src TO regress_ev_owner;
SET ROLE regress_ev_owner;
CREATE TABLE ev_src.mine (a integer, b text);
ALTER TABLE ev_src.mine DROP COLUMN b;
DROP TABLE ev_src.mine;
RESET ROLE;
-- the owner of a silver table is held to its policy, and recorded
GRANT USAGE ON SCHEMA silver TO regress_ev_owner;
ALTER TABLE silver.ev_orders OWNER TO regress_ev_owner;
SET ROLE regress_ev_owner;
ALTER TABLE silver.ev_orders ADD COLUMN owner_note text;
ALTER TABLE silver.ev_orders DROP COLUMN owner_note;
RESET ROLE;
ALTER TABLE silver.ev_orders OWNER TO CURRENT_USER;
SELECT change_kind, column_name, changed_by FROM lakehouse.schema_history
 WHERE table_name = 'silver.ev_orders' AND column_name = 'owner_note';
REVOKE ALL ON SCHEMA ev_src FROM regress_ev_owner;
REVOKE ALL ON SCHEMA silver FROM regress_ev_owner;
DROP ROLE regress_ev_owner;

-- ---------------------------------------------------------------------
-- clean up
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_drop_pipeline('ev_yaml', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('ev', drop_tables => true);
-- the history outlives the table
SELECT count(*) AS history_kept FROM lakehouse.schema_history
 WHERE table_name = 'silver.ev_orders' AND table_id IS NULL;
DELETE FROM lakehouse.schema_history
 WHERE table_name IN ('silver.ev_orders', 'silver.ev_yaml', '"Ev Schema"."Odd ""Tab""; x"');
DROP SCHEMA "Ev Schema";
DROP SCHEMA ev_src CASCADE;

--
-- scd2: lh_scd2_merge and the gold stage kind scd2
--
-- Every merge passes "as_of" (the run timestamp) so that the output is
-- stable; without it a merge uses the transaction's start time.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA sc;
SET search_path = sc, public;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- History invariants of a table: per key (the key expression), versions do
-- not overlap, a closed version ends where the next begins (gaps allowed
-- only where allow_gaps), exactly one current row whose valid_to is the
-- expected value, and no closed row without valid_to.
CREATE FUNCTION sc.check_history(tbl text, key text, vtc timestamptz DEFAULT NULL,
                                 allow_gaps boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    problems text;
BEGIN
    EXECUTE format($q$
      WITH h AS (
        SELECT %1$s AS k, valid_from, valid_to, is_current,
               lead(valid_from) OVER (PARTITION BY %1$s ORDER BY valid_from) AS next_from,
               count(*) FILTER (WHERE is_current) OVER (PARTITION BY %1$s) AS n_current
          FROM %2$s)
      SELECT string_agg(DISTINCT problem, '; ')
        FROM (SELECT CASE
                WHEN n_current > 1 THEN 'several current rows for ' || k::text
                WHEN is_current AND valid_to IS DISTINCT FROM $1 THEN 'current row with valid_to ' || coalesce(valid_to::text, 'NULL')
                WHEN NOT is_current AND valid_to IS NULL THEN 'closed row without valid_to'
                WHEN valid_to <= valid_from AND NOT is_current THEN 'empty or negative range for ' || k::text
                WHEN next_from IS NOT NULL AND valid_to > next_from THEN 'overlap for ' || k::text
                WHEN next_from IS NOT NULL AND valid_to < next_from AND NOT $2 THEN 'gap for ' || k::text
                WHEN next_from IS NULL AND NOT is_current AND NOT $2 THEN 'last version not current for ' || k::text
              END AS problem FROM h) p$q$, key, tbl)
      INTO problems USING vtc, allow_gaps;
    RETURN coalesce(problems, 'ok');
END $$;

-- 1. timestamp strategy: first load, re-run, updates, new keys
CREATE TABLE sc.customers (id int, name text, city text, updated_at timestamptz);
INSERT INTO sc.customers VALUES
  (1, 'Ann', 'Oslo', '2024-01-01 10:00+00'),
  (2, 'Bob', 'Rome', '2024-01-01 11:00+00'),
  (3, 'Cyd', NULL,   '2024-01-01 12:00+00');
SELECT lakehouse.lh_scd2_merge('sc.dim_customers', 'sc.customers', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-01-02 00:00+00"}');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'sc.dim_customers'::regclass AND attnum > 0 ORDER BY attnum;
SELECT indexdef FROM pg_indexes WHERE tablename = 'dim_customers';
SELECT id, name, city, valid_from, valid_to, is_current, version_updated_at, is_deleted
  FROM sc.dim_customers ORDER BY id, valid_from;
-- the version id is md5 of the key and valid_from, the row hash md5 of the tracked columns
SELECT count(DISTINCT version_id) = count(*) AS ids_unique,
       bool_and(length(version_id) = 32 AND length(row_hash) = 32) AS md5s
  FROM sc.dim_customers;
-- same source again: nothing changes
SELECT lakehouse.lh_scd2_merge('sc.dim_customers', 'sc.customers', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-01-03 00:00+00"}');
-- Bob moves (newer timestamp); Ann's name changes without a newer timestamp
-- (ignored); Cyd's timestamp is newer but nothing else changed (a version,
-- as the timestamp says); Dee is new
UPDATE sc.customers SET city = 'Paris', updated_at = '2024-02-01 09:30+00' WHERE id = 2;
UPDATE sc.customers SET name = 'Anne' WHERE id = 1;
UPDATE sc.customers SET updated_at = '2024-02-01 08:00+00' WHERE id = 3;
INSERT INTO sc.customers VALUES (4, 'Dee', 'Lima', '2024-02-01 07:00+00');
SELECT lakehouse.lh_scd2_merge('sc.dim_customers', 'sc.customers', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-02-02 00:00+00"}');
-- the closed row ends exactly at the new version's timestamp
SELECT id, name, city, valid_from, valid_to, is_current
  FROM sc.dim_customers ORDER BY id, valid_from;
SELECT sc.check_history('sc.dim_customers', 'id');
-- idempotent
SELECT lakehouse.lh_scd2_merge('sc.dim_customers', 'sc.customers', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-02-03 00:00+00"}');
-- the session time zone does not matter (hashes and times are computed in UTC)
SET timezone = 'America/New_York';
SELECT lakehouse.lh_scd2_merge('sc.dim_customers', 'sc.customers', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-02-03 00:00+00"}');
SET timezone = 'UTC';
-- NULL updated_at: rejected, counted
UPDATE sc.customers SET updated_at = NULL WHERE id = 4;
SELECT lakehouse.lh_scd2_merge('sc.dim_customers', 'sc.customers', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-02-04 00:00+00"}');
-- a source query instead of a table
SELECT lakehouse.lh_scd2_merge('sc.dim_customers',
       'SELECT * FROM sc.customers WHERE updated_at IS NOT NULL;', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-02-04 00:00+00"}');

-- 2. late-arriving rows (timestamp strategy)
CREATE TABLE sc.late_src (id int, tier text, updated_at timestamptz);
INSERT INTO sc.late_src VALUES (1, 'gold', '2024-01-01'), (2, 'gold', '2024-01-01');
SELECT lakehouse.lh_scd2_merge('sc.dim_late', 'sc.late_src', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-01-01 12:00+00"}');
UPDATE sc.late_src SET tier = 'silver', updated_at = '2024-03-01';
SELECT lakehouse.lh_scd2_merge('sc.dim_late', 'sc.late_src', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-03-01 12:00+00"}');
-- a version from February arrives after March's: ignored by default (counted)
UPDATE sc.late_src SET tier = 'bronze', updated_at = '2024-02-01';
SELECT lakehouse.lh_scd2_merge('sc.dim_late', 'sc.late_src', '{id}',
       '{"updated_at": "updated_at", "as_of": "2024-03-02 00:00+00"}');
SELECT id, tier, valid_from, valid_to, is_current FROM sc.dim_late ORDER BY id, valid_from;
-- with late_arriving = insert it splits January's interval
SELECT lakehouse.lh_scd2_merge('sc.dim_late', 'sc.late_src', '{id}',
       '{"updated_at": "updated_at", "late_arriving": "insert", "as_of": "2024-03-02 00:00+00"}');
SELECT id, tier, valid_from, valid_to, is_current FROM sc.dim_late ORDER BY id, valid_from;
SELECT sc.check_history('sc.dim_late', 'id');
-- again: already placed, nothing written
SELECT lakehouse.lh_scd2_merge('sc.dim_late', 'sc.late_src', '{id}',
       '{"updated_at": "updated_at", "late_arriving": "insert", "as_of": "2024-03-03 00:00+00"}');
-- older than all history: placed before the first version
UPDATE sc.late_src SET tier = 'lead', updated_at = '2023-06-01' WHERE id = 2;
SELECT lakehouse.lh_scd2_merge('sc.dim_late', 'sc.late_src', '{id}',
       '{"updated_at": "updated_at", "late_arriving": "insert", "as_of": "2024-03-03 00:00+00"}');
SELECT id, tier, valid_from, valid_to, is_current FROM sc.dim_late WHERE id = 2 ORDER BY valid_from;
SELECT sc.check_history('sc.dim_late', 'id');

-- 3. check strategy: tracked and untracked columns, A -> B -> A, nulls
CREATE TABLE sc.products (sku text, color text, price numeric, note text);
INSERT INTO sc.products VALUES ('p1', 'red', 10, 'x'), ('p2', NULL, 20, 'y');
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-01 00:00+00"}');
-- an untracked column changes: no version
UPDATE sc.products SET note = 'changed';
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-02 00:00+00"}');
-- tracked: red -> blue -> red, and p2's color null -> green: one version each
UPDATE sc.products SET color = 'blue' WHERE sku = 'p1';
UPDATE sc.products SET color = 'green' WHERE sku = 'p2';
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-03 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-04 00:00+00"}');
UPDATE sc.products SET color = 'red' WHERE sku = 'p1';
-- value -> null is a change too
UPDATE sc.products SET color = NULL WHERE sku = 'p2';
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-05 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-06 00:00+00"}');
SELECT sku, color, price, note, valid_from, valid_to, is_current
  FROM sc.dim_products ORDER BY sku, valid_from;
SELECT sc.check_history('sc.dim_products', 'sku');
-- null versus empty string are different values
UPDATE sc.products SET color = '' WHERE sku = 'p2';
SELECT lakehouse.lh_scd2_merge('sc.dim_products', 'sc.products', '{sku}',
       '{"strategy": "check", "check_cols": ["color", "price"], "as_of": "2024-01-07 00:00+00"}');

-- 4. check all columns (the default strategy), added and removed columns, long text
CREATE TABLE sc.acct (id int, owner text);
INSERT INTO sc.acct VALUES (1, 'x'), (2, 'y');
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"check_cols": "all", "as_of": "2024-01-01 00:00+00"}');
-- a new source column is added to the target (NULL in the current rows);
-- values are compared, so only the keys whose new column is not NULL get a
-- version (dbt versions every key once: see scd2_dbt and scd2.md)
ALTER TABLE sc.acct ADD COLUMN segment text;
UPDATE sc.acct SET segment = 'smb' WHERE id = 1;
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"as_of": "2024-01-02 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"as_of": "2024-01-03 00:00+00"}');
SELECT id, owner, segment, valid_from, valid_to, is_current FROM sc.dim_acct ORDER BY id, valid_from;
-- a column gone from the source is kept in the target (NULL in new versions);
-- it is no longer compared, so only the key whose segment changed gets one
ALTER TABLE sc.acct DROP COLUMN owner;
UPDATE sc.acct SET segment = 'ent' WHERE id = 2;
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"as_of": "2024-01-04 00:00+00"}');
SELECT id, owner, segment, valid_from, valid_to, is_current FROM sc.dim_acct ORDER BY id, valid_from;
-- long text values
UPDATE sc.acct SET segment = repeat('long text ', 20000) WHERE id = 1;
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"as_of": "2024-01-05 00:00+00"}');
UPDATE sc.acct SET segment = repeat('long text ', 20000) || '!' WHERE id = 1;
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"as_of": "2024-01-06 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_acct', 'sc.acct', '{id}',
       '{"as_of": "2024-01-07 00:00+00"}');
SELECT id, length(segment), valid_from, is_current FROM sc.dim_acct ORDER BY id, valid_from;
SELECT sc.check_history('sc.dim_acct', 'id');

-- 5. composite keys with NULLs: equal NULLs are the same key
CREATE TABLE sc.geo (country text, region text, pop int);
INSERT INTO sc.geo VALUES ('no', NULL, 5), ('no', 'west', 1), (NULL, NULL, 0);
SELECT lakehouse.lh_scd2_merge('sc.dim_geo', 'sc.geo', '{country,region}',
       '{"as_of": "2024-01-01 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_geo', 'sc.geo', '{country,region}',
       '{"as_of": "2024-01-02 00:00+00"}');
UPDATE sc.geo SET pop = 6 WHERE region IS NULL AND country = 'no';
SELECT lakehouse.lh_scd2_merge('sc.dim_geo', 'sc.geo', '{country,region}',
       '{"as_of": "2024-01-03 00:00+00"}');
SELECT country, region, pop, valid_from, valid_to, is_current FROM sc.dim_geo
 ORDER BY country NULLS FIRST, region NULLS FIRST, valid_from;
SELECT sc.check_history('sc.dim_geo', 'row(country, region)');
-- the unique index refuses a second current row, NULL keys included
INSERT INTO sc.dim_geo (country, region, pop, valid_from, is_current, version_id)
VALUES (NULL, NULL, 9, '2024-01-05', true, 'x');

-- 6. duplicate keys in the source
CREATE TABLE sc.dups (id int, k2 text, v text, updated_at timestamptz);
INSERT INTO sc.dups VALUES (1, NULL, 'a', '2024-01-01'), (1, NULL, 'b', '2024-01-02'),
  (2, 'x', 'c', '2024-01-01'), (2, 'x', 'd', '2024-01-01'), (2, 'x', 'e', '2024-01-03'),
  (3, 'y', 'f', '2024-01-01');
SELECT lakehouse.lh_scd2_merge('sc.dim_dups', 'sc.dups', '{id,k2}',
       '{"updated_at": "updated_at", "as_of": "2024-01-05 00:00+00"}');
-- refused before anything was written (not even the table)
SELECT to_regclass('sc.dim_dups') IS NULL AS nothing_written;
-- or keep the latest row of each key
SELECT lakehouse.lh_scd2_merge('sc.dim_dups', 'sc.dups', '{id,k2}',
       '{"updated_at": "updated_at", "duplicates": "latest", "as_of": "2024-01-05 00:00+00"}');
SELECT id, k2, v, valid_from, is_current FROM sc.dim_dups ORDER BY id, valid_from;

-- 7. hard deletes
CREATE TABLE sc.members (id int, name text);
INSERT INTO sc.members VALUES (1, 'a'), (2, 'b'), (3, 'c');
-- ignore: a vanished key stays current
SELECT lakehouse.lh_scd2_merge('sc.dim_ign', 'sc.members', '{id}', '{"as_of": "2024-01-01 00:00+00"}');
DELETE FROM sc.members WHERE id = 3;
SELECT lakehouse.lh_scd2_merge('sc.dim_ign', 'sc.members', '{id}', '{"as_of": "2024-01-02 00:00+00"}');
SELECT id, valid_from, valid_to, is_current FROM sc.dim_ign ORDER BY id, valid_from;
-- invalidate: delete, re-run, re-insert, delete again
INSERT INTO sc.members VALUES (3, 'c');
SELECT lakehouse.lh_scd2_merge('sc.dim_inv', 'sc.members', '{id}',
       '{"hard_deletes": "invalidate", "as_of": "2024-01-01 00:00+00"}');
DELETE FROM sc.members WHERE id = 3;
SELECT lakehouse.lh_scd2_merge('sc.dim_inv', 'sc.members', '{id}',
       '{"hard_deletes": "invalidate", "as_of": "2024-01-02 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_inv', 'sc.members', '{id}',
       '{"hard_deletes": "invalidate", "as_of": "2024-01-03 00:00+00"}');
INSERT INTO sc.members VALUES (3, 'c2');
SELECT lakehouse.lh_scd2_merge('sc.dim_inv', 'sc.members', '{id}',
       '{"hard_deletes": "invalidate", "as_of": "2024-01-04 00:00+00"}');
DELETE FROM sc.members WHERE id = 3;
SELECT lakehouse.lh_scd2_merge('sc.dim_inv', 'sc.members', '{id}',
       '{"hard_deletes": "invalidate", "as_of": "2024-01-05 00:00+00"}');
SELECT id, name, valid_from, valid_to, is_current, is_deleted FROM sc.dim_inv ORDER BY id, valid_from;
-- new_record: a current "deleted" version; re-running adds nothing
INSERT INTO sc.members VALUES (3, 'c');
SELECT lakehouse.lh_scd2_merge('sc.dim_new', 'sc.members', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-01 00:00+00"}');
DELETE FROM sc.members WHERE id = 3;
SELECT lakehouse.lh_scd2_merge('sc.dim_new', 'sc.members', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-02 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_new', 'sc.members', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-03 00:00+00"}');
-- back: the deletion marker is closed (counted in "closed") and a version added
INSERT INTO sc.members VALUES (3, 'c2');
SELECT lakehouse.lh_scd2_merge('sc.dim_new', 'sc.members', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-04 00:00+00"}');
DELETE FROM sc.members WHERE id = 3;
SELECT lakehouse.lh_scd2_merge('sc.dim_new', 'sc.members', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-05 00:00+00"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_new', 'sc.members', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-06 00:00+00"}');
SELECT id, name, valid_from, valid_to, is_current, is_deleted FROM sc.dim_new ORDER BY id, valid_from;
SELECT sc.check_history('sc.dim_new', 'id');
-- invalidate with the timestamp strategy: a key back with an old updated_at
-- starts after its deletion, never overlapping it
CREATE TABLE sc.ts_members (id int, name text, updated_at timestamptz);
INSERT INTO sc.ts_members VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01');
SELECT lakehouse.lh_scd2_merge('sc.dim_tsinv', 'sc.ts_members', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "invalidate", "as_of": "2024-01-02 00:00+00"}');
DELETE FROM sc.ts_members WHERE id = 2;
SELECT lakehouse.lh_scd2_merge('sc.dim_tsinv', 'sc.ts_members', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "invalidate", "as_of": "2024-01-03 00:00+00"}');
INSERT INTO sc.ts_members VALUES (2, 'b', '2024-01-01');
SELECT lakehouse.lh_scd2_merge('sc.dim_tsinv', 'sc.ts_members', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "invalidate", "as_of": "2024-01-04 00:00+00"}');
SELECT id, valid_from, valid_to, is_current FROM sc.dim_tsinv ORDER BY id, valid_from;
SELECT sc.check_history('sc.dim_tsinv', 'id', allow_gaps => true);

-- 8. sentinel valid_to for current rows, custom meta column names
CREATE TABLE sc.plan (id int, tier text);
INSERT INTO sc.plan VALUES (1, 'free'), (2, 'pro');
SELECT lakehouse.lh_scd2_merge('sc.dim_plan', 'sc.plan', '{id}',
       '{"valid_to_current": "9999-12-31 00:00+00", "hard_deletes": "invalidate",
         "valid_from_column": "dbt_valid_from", "valid_to_column": "dbt_valid_to",
         "is_current_column": "current", "as_of": "2024-01-01 00:00+00"}');
UPDATE sc.plan SET tier = 'team' WHERE id = 1;
DELETE FROM sc.plan WHERE id = 2;
SELECT lakehouse.lh_scd2_merge('sc.dim_plan', 'sc.plan', '{id}',
       '{"valid_to_current": "9999-12-31 00:00+00", "hard_deletes": "invalidate",
         "valid_from_column": "dbt_valid_from", "valid_to_column": "dbt_valid_to",
         "is_current_column": "current", "as_of": "2024-01-02 00:00+00"}');
SELECT id, tier, dbt_valid_from, dbt_valid_to, current FROM sc.dim_plan ORDER BY id, dbt_valid_from;

-- 9. empty source
CREATE TABLE sc.empty_src (id int, v text);
SELECT lakehouse.lh_scd2_merge('sc.dim_empty', 'sc.empty_src', '{id}', '{"as_of": "2024-01-01 00:00+00"}');
SELECT count(*) FROM sc.dim_empty;
-- an empty source with invalidate closes every current row
SELECT lakehouse.lh_scd2_merge('sc.dim_ign', 'SELECT * FROM sc.members WHERE false', '{id}',
       '{"hard_deletes": "invalidate", "as_of": "2024-02-01 00:00+00"}');

-- 10. errors
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', NULL);
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id,id}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{nope}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.no_such', '{id}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'SELECT 1 AS id; DROP TABLE sc.customers', '{id}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"strategy": "hash"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"strategy": "timestamp"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"updated_at": "name"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"updated_at": "nope"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"check_cols": ["nope"]}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"check_cols": "some"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"check_cols": []}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"hard_deletes": "purge"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"duplicates": "latest"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"late_arriving": "insert"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"as_of": "soon"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"valid_to_current": "never"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"colour": "red"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"is_current_column": "valid_from"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'sc.customers', '{id}', '{"valid_from_column": "name"}');
SELECT lakehouse.lh_scd2_merge('sc.dim_x', 'SELECT id, name AS _a FROM sc.customers', '{id}');
-- an existing table that is not an SCD2 history
SELECT lakehouse.lh_scd2_merge('sc.customers', 'sc.customers', '{id}');
SELECT to_regclass('sc.dim_x') IS NULL AS not_created;

-- 11. the gold stage kind scd2 (SQL API and YAML)
SELECT lakehouse.lh_create_pipeline('scp') > 0 AS ok;
SELECT lakehouse.lh_define_gold('scp', 'gold.sc_customers',
       'SELECT id, name, city, updated_at FROM sc.customers WHERE updated_at IS NOT NULL',
       'scd2', '{id}', options => '{"updated_at": "updated_at", "hard_deletes": "invalidate"}') > 0 AS ok;
SELECT gold_kind, keys, options FROM lakehouse.tables WHERE table_name = 'sc_customers';
-- the table exists before the first run, with its meta columns
SELECT count(*) AS columns FROM pg_attribute
 WHERE attrelid = 'gold.sc_customers'::regclass AND attnum > 0;
SELECT x->>'stage' AS stage, x->>'target' AS target, x->>'status' AS status,
       x->>'rows_read' AS read, x->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('scp') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT id, name, city, valid_from, valid_to, is_current FROM gold.sc_customers ORDER BY id, valid_from;
UPDATE sc.customers SET city = 'Oslo', updated_at = '2024-05-01' WHERE id = 2;
SELECT x->>'status' AS status, x->>'rows_read' AS read, x->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('scp') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT id, city, valid_from, valid_to, is_current FROM gold.sc_customers WHERE id = 2 ORDER BY valid_from;
-- redefining with the same options changes nothing; options of other kinds are refused
SELECT lakehouse.lh_define_gold('scp', 'gold.sc_customers',
       'SELECT id, name, city, updated_at FROM sc.customers WHERE updated_at IS NOT NULL',
       'scd2', '{id}', true, '{"updated_at": "updated_at", "hard_deletes": "invalidate"}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('scp', 'gold.sc_bad', 'SELECT 1 AS a', 'rebuild',
       options => '{"hard_deletes": "invalidate"}');
SELECT lakehouse.lh_define_gold('scp', 'gold.sc_bad', 'SELECT 1 AS a', 'scd2');
SELECT lakehouse.lh_define_gold('scp', 'gold.sc_bad', 'SELECT 1 AS a', 'scd2', '{a}',
       options => '{"hard_deletes": "purge"}');
SELECT lakehouse.lh_drop_pipeline('scp', drop_tables => true);

SELECT lakehouse.lh_apply_config($yaml$
pipelines:
  - pipeline: scy
    gold:
      - table: gold.sc_products
        kind: scd2
        keys: [sku]
        sql: SELECT sku, color, price FROM sc.products
        options:
          strategy: check
          check_cols: [color]
          hard_deletes: new_record
          valid_to_current: "9999-12-31 00:00:00+00"
$yaml$) IS NOT NULL AS applied;
SELECT gold_kind, keys, options FROM lakehouse.tables WHERE table_name = 'sc_products';
SELECT x->>'status' AS status, x->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('scy') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT sku, color, valid_to, is_current, is_deleted FROM gold.sc_products ORDER BY sku, valid_from;
SELECT lakehouse.lh_apply_config($yaml$
pipelines:
  - pipeline: scy
    gold:
      - table: gold.sc_products
        kind: scd2
        keys: [sku]
        sql: SELECT sku, color, price FROM sc.products
        options: [strategy]
$yaml$);
SELECT lakehouse.lh_drop_pipeline('scy', drop_tables => true);

-- 12. a source table with an index on the keys is read in key order (a merge
-- join, no hash tables): the same history as the same rows given as a query
CREATE TABLE sc.ord (k1 int, k2 text, v text, updated_at timestamptz);
CREATE INDEX ON sc.ord (k1, k2);
INSERT INTO sc.ord VALUES (1, 'a', 'x', '2024-01-01'), (1, NULL, 'y', '2024-01-01'),
  (NULL, NULL, 'z', '2024-01-01'), (2, 'b', 'w', '2024-01-01'), (3, 'c', 'u', '2024-01-01');
CREATE FUNCTION sc.merge_both(opts jsonb, OUT same boolean, OUT counts jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    counts := lakehouse.lh_scd2_merge('sc.dim_ord', 'sc.ord', '{k1,k2}', opts);
    same := counts = lakehouse.lh_scd2_merge('sc.dim_ordq', 'SELECT * FROM sc.ord',
                                             '{k1,k2}', opts);
END $$;
SELECT * FROM sc.merge_both('{"updated_at": "updated_at", "hard_deletes": "invalidate",
                              "as_of": "2024-02-01 00:00+00"}');
UPDATE sc.ord SET v = 'y2', updated_at = '2024-01-10' WHERE k1 = 1 AND k2 IS NULL;
UPDATE sc.ord SET v = 'z2', updated_at = '2024-01-10' WHERE k1 IS NULL;
UPDATE sc.ord SET v = 'u0', updated_at = '2023-12-01' WHERE k1 = 3;
DELETE FROM sc.ord WHERE k1 = 2;
INSERT INTO sc.ord VALUES (4, 'd', 'n', '2024-01-10');
SELECT * FROM sc.merge_both('{"updated_at": "updated_at", "hard_deletes": "invalidate",
                              "as_of": "2024-02-02 00:00+00"}');
-- key 2 comes back with an older updated_at: its new version starts at the delete
INSERT INTO sc.ord VALUES (2, 'b', 'w2', '2024-01-20');
SELECT * FROM sc.merge_both('{"updated_at": "updated_at", "hard_deletes": "invalidate",
                              "as_of": "2024-02-03 00:00+00"}');
SELECT * FROM sc.merge_both('{"updated_at": "updated_at", "hard_deletes": "invalidate",
                              "as_of": "2024-02-04 00:00+00"}');
SELECT (SELECT count(*) FROM (TABLE sc.dim_ord EXCEPT ALL TABLE sc.dim_ordq) d)
     + (SELECT count(*) FROM (TABLE sc.dim_ordq EXCEPT ALL TABLE sc.dim_ord) d) AS differences;
SELECT k1, k2, v, valid_from, valid_to, is_current FROM sc.dim_ord
 ORDER BY k1 NULLS FIRST, k2 NULLS FIRST, valid_from;
SELECT sc.check_history('sc.dim_ord', 'row(k1, k2)', allow_gaps => true);
-- check strategy, deletes as new records
DROP TABLE sc.dim_ord, sc.dim_ordq;
SELECT * FROM sc.merge_both('{"hard_deletes": "new_record", "as_of": "2024-03-01 00:00+00"}');
DELETE FROM sc.ord WHERE k1 = 4;
UPDATE sc.ord SET v = NULL WHERE k1 = 1 AND k2 = 'a';
SELECT * FROM sc.merge_both('{"hard_deletes": "new_record", "as_of": "2024-03-02 00:00+00"}');
SELECT * FROM sc.merge_both('{"hard_deletes": "new_record", "as_of": "2024-03-03 00:00+00"}');
SELECT (SELECT count(*) FROM (TABLE sc.dim_ord EXCEPT ALL TABLE sc.dim_ordq) d)
     + (SELECT count(*) FROM (TABLE sc.dim_ordq EXCEPT ALL TABLE sc.dim_ord) d) AS differences;
SELECT sc.check_history('sc.dim_ord', 'row(k1, k2)');

RESET search_path;
DROP SCHEMA sc CASCADE;

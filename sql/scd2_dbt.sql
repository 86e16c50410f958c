--
-- scd2_dbt: lh_scd2_merge against dbt's snapshot semantics
--
-- Expected values come from dbt's own macros, hand-run here as SQL:
--   dbt-labs/dbt-adapters  dbt/include/global_project/macros/materializations/
--     snapshots/strategies.sql  snapshot_check_strategy, snapshot_timestamp_strategy,
--                               default__snapshot_hash_arguments
--     snapshots/helpers.sql     default__build_snapshot_table,
--                               default__snapshot_staging_table, get_dbt_valid_to_current
--   dbt-labs/dbt-adapters  dbt/adapters/base/relation.py  BaseRelation.scd_args
--   dbt-labs/dbt-postgres  dbt/include/postgres/macros/materializations/
--     snapshot_merge.sql        postgres__snapshot_merge_sql
--   postgres__snapshot_get_time: now()::timestamp without time zone (replaced
--   below by a fixed literal, the merge's as_of, so that the output is stable)
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE EXTENSION IF NOT EXISTS citext;
CREATE SCHEMA sd;
SET search_path = sd, public;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- 1. check strategy: "changed" is each type's equality, not the text form.
-- dbt's row_changed (snapshot_check_strategy) is, per check column,
--   old.c != new.c or ((old.c is null) and not (new.c is null))
--                  or ((not old.c is null) and (new.c is null))
-- evaluated here for every pair of equal values that print differently.
CREATE TABLE sd.vals (id int, n numeric, f float8, ts timestamptz, j jsonb,
                      arr numeric[], iv interval, c citext, js json, p point);
INSERT INTO sd.vals VALUES (1, 1.0, 0, '2024-01-01 12:00+00', '{"a": 1, "b": 2}',
                            '{1.0, 2.5}', '1 day', 'Ann', '{"a": 1}', '(1,2)');
SELECT lakehouse.lh_scd2_merge('sd.dim_vals', 'sd.vals', '{id}',
       '{"strategy": "check", "as_of": "2024-01-02 00:00+00"}');
CREATE TABLE sd.vals_old AS TABLE sd.vals;
UPDATE sd.vals SET n = 1.00, f = '-0', ts = '2024-01-01 13:00+01',
       j = '{"b":2,   "a":1}', arr = '{1.00, 2.50}', iv = '24 hours', c = 'ANN';
-- dbt's comparison, column by column: no change anywhere (all false)
SELECT o.n != v.n AS n, o.f != v.f AS f, o.ts != v.ts AS ts, o.j != v.j AS j,
       o.arr != v.arr AS arr, o.iv != v.iv AS iv, o.c != v.c AS c
  FROM sd.vals_old o JOIN sd.vals v USING (id);
-- ... while the text forms differ
SELECT o.n::text <> v.n::text AS n, o.f::text <> v.f::text AS f,
       o.arr::text <> v.arr::text AS arr, o.iv::text <> v.iv::text AS iv,
       o.c::text <> v.c::text AS c
  FROM sd.vals_old o JOIN sd.vals v USING (id);
-- so no new version (unchanged: 1)
SELECT lakehouse.lh_scd2_merge('sd.dim_vals', 'sd.vals', '{id}',
       '{"strategy": "check", "as_of": "2024-01-03 00:00+00"}');
-- json, point (and xml) have no equality: dbt's != cannot even be written
SELECT o.js != v.js FROM sd.vals_old o JOIN sd.vals v USING (id);
SELECT o.p != v.p FROM sd.vals_old o JOIN sd.vals v USING (id);
-- lakehouse compares them by their text form: json keeps its text, so
-- other whitespace is a change; an equal point is not
UPDATE sd.vals SET p = '( 1 , 2 )';
SELECT lakehouse.lh_scd2_merge('sd.dim_vals', 'sd.vals', '{id}',
       '{"strategy": "check", "as_of": "2024-01-04 00:00+00"}');
UPDATE sd.vals SET js = '{"a":1}';
SELECT lakehouse.lh_scd2_merge('sd.dim_vals', 'sd.vals', '{id}',
       '{"strategy": "check", "as_of": "2024-01-05 00:00+00"}');
-- a real change of value is one (1.00 -> 1.01)
UPDATE sd.vals SET n = 1.01;
SELECT lakehouse.lh_scd2_merge('sd.dim_vals', 'sd.vals', '{id}',
       '{"strategy": "check", "as_of": "2024-01-06 00:00+00"}');
SELECT id, n, js::text, valid_from, valid_to, is_current FROM sd.dim_vals ORDER BY valid_from;
-- the current row kept the values first written (1.0 was equal to 1.00)
-- until a real change; row_hash is still written (md5 of the text form of
-- the tracked values) but no longer decides anything
SELECT n, length(row_hash) AS row_hash_length FROM sd.dim_vals ORDER BY valid_from;

-- 2. a history written by the earlier text-hash code: row_hash is not
-- consulted, so neither its old text forms nor a wrong hash re-version a key
CREATE TABLE sd.old_src (id int, amount numeric, note text);
INSERT INTO sd.old_src VALUES (1, 10.50, 'a'), (2, 7, NULL);
SELECT lakehouse.lh_scd2_merge('sd.dim_old', 'sd.old_src', '{id}',
       '{"strategy": "check", "as_of": "2024-01-01 00:00+00"}');
-- as the old code wrote them: amount 10.5 (another scale), its text hash;
-- key 2 with a hash that matches nothing
UPDATE sd.dim_old SET amount = 10.5, row_hash = md5(ROW(10.5::numeric, 'a'::text)::text) WHERE id = 1;
UPDATE sd.dim_old SET row_hash = 'not a hash of anything' WHERE id = 2;
SELECT lakehouse.lh_scd2_merge('sd.dim_old', 'sd.old_src', '{id}',
       '{"strategy": "check", "as_of": "2024-01-02 00:00+00"}');
SELECT count(*) AS versions FROM sd.dim_old;

-- 3. check strategy with updated_at: dbt's snapshot_check_strategy takes
-- config updated_at as strategy.updated_at, and snapshot_staging_table
-- writes it as dbt_valid_from / dbt_updated_at of the new version and as
-- dbt_valid_to of the closed one
CREATE TABLE sd.prod (sku text, color text, changed timestamptz);
INSERT INTO sd.prod VALUES ('a', 'red', '2024-01-01 08:00+00'), ('b', 'blue', '2024-01-01 09:00+00');
SELECT lakehouse.lh_scd2_merge('sd.dim_prod', 'sd.prod', '{sku}',
       '{"strategy": "check", "check_cols": ["color"], "updated_at": "changed",
         "as_of": "2024-01-10 00:00+00"}');
-- a: color changed at 2024-01-05; b: only its timestamp moved (not a change
-- for check: the color is the same)
UPDATE sd.prod SET color = 'green', changed = '2024-01-05 10:00+00' WHERE sku = 'a';
UPDATE sd.prod SET changed = '2024-01-06 00:00+00' WHERE sku = 'b';
SELECT lakehouse.lh_scd2_merge('sd.dim_prod', 'sd.prod', '{sku}',
       '{"strategy": "check", "check_cols": ["color"], "updated_at": "changed",
         "as_of": "2024-01-20 00:00+00"}');
-- a color change without a newer updated_at: dbt would close the version at
-- that updated_at (before it starts) and reuse its dbt_scd_id; here the
-- version starts at the run time instead (documented); a changed row
-- without updated_at is rejected
UPDATE sd.prod SET color = 'black' WHERE sku = 'a';
UPDATE sd.prod SET color = 'white', changed = NULL WHERE sku = 'b';
SELECT lakehouse.lh_scd2_merge('sd.dim_prod', 'sd.prod', '{sku}',
       '{"strategy": "check", "check_cols": ["color"], "updated_at": "changed",
         "as_of": "2024-01-30 00:00+00"}');
SELECT sku, color, valid_from, valid_to, is_current, version_updated_at
  FROM sd.dim_prod ORDER BY sku, valid_from;

-- 4. counts and times of deletes
-- new_record: a key back after its delete closes the deletion marker: closed 1
CREATE TABLE sd.mem (id int, name text);
INSERT INTO sd.mem VALUES (1, 'a'), (2, 'b');
SELECT lakehouse.lh_scd2_merge('sd.dim_mem', 'sd.mem', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-01 00:00+00"}');
DELETE FROM sd.mem WHERE id = 2;
SELECT lakehouse.lh_scd2_merge('sd.dim_mem', 'sd.mem', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-02 00:00+00"}');
INSERT INTO sd.mem VALUES (2, 'b');
SELECT lakehouse.lh_scd2_merge('sd.dim_mem', 'sd.mem', '{id}',
       '{"hard_deletes": "new_record", "as_of": "2024-01-03 00:00+00"}');
SELECT id, name, valid_from, valid_to, is_current, is_deleted FROM sd.dim_mem ORDER BY id, valid_from;
-- invalidate: a current version that starts in the future (updated_at after
-- the run) and is then deleted ends where it starts, never before:
-- valid_to = greatest(run time, valid_from)
CREATE TABLE sd.fut (id int, v text, upd timestamptz);
INSERT INTO sd.fut VALUES (1, 'x', '2024-06-01 00:00+00'), (2, 'y', '2024-01-01 00:00+00');
SELECT lakehouse.lh_scd2_merge('sd.dim_fut', 'sd.fut', '{id}',
       '{"updated_at": "upd", "hard_deletes": "invalidate", "as_of": "2024-02-01 00:00+00"}');
DELETE FROM sd.fut;
SELECT lakehouse.lh_scd2_merge('sd.dim_fut', 'sd.fut', '{id}',
       '{"updated_at": "upd", "hard_deletes": "invalidate", "as_of": "2024-03-01 00:00+00"}');
SELECT id, valid_from, valid_to, is_current FROM sd.dim_fut ORDER BY id;
-- back with an updated_at before that end: it starts at the end
INSERT INTO sd.fut VALUES (1, 'x2', '2024-04-01 00:00+00');
SELECT lakehouse.lh_scd2_merge('sd.dim_fut', 'sd.fut', '{id}',
       '{"updated_at": "upd", "hard_deletes": "invalidate", "as_of": "2024-07-01 00:00+00"}');
SELECT id, v, valid_from, valid_to, is_current FROM sd.dim_fut ORDER BY id, valid_from;

-- 5. Continue a dbt snapshot.  Timestamp strategy, unique_key id,
-- hard_deletes new_record (dbt >= 1.9).  sd.dbt_first / sd.dbt_next are the
-- SQL dbt generates for PostgreSQL, written out by hand from the macros
-- named at the top, with snapshot_get_time() replaced by the literal t.
CREATE TABLE sd.people (id int, name text, updated_at timestamp);
INSERT INTO sd.people VALUES (1, 'Ann', '2024-01-01 10:00'), (2, 'Bob', '2024-01-01 11:00'),
                             (3, 'Cyd', '2024-01-01 12:00'), (4, 'Dee', '2024-01-01 13:00');
-- first run: materialization snapshot, not target_relation_exists:
-- postgres__create_table_as(False, target, default__build_snapshot_table(...))
CREATE FUNCTION sd.dbt_first(target text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format($q$
    create  table %s
    as
    (
    select *,
        md5(coalesce(cast(id as varchar ), '')
         || '|' || coalesce(cast(updated_at as varchar ), '')
        ) as dbt_scd_id,
        updated_at as dbt_updated_at,
        updated_at as dbt_valid_from,
        coalesce(nullif(updated_at, updated_at), null)
  as dbt_valid_to, 'False' as dbt_is_deleted
    from (
        select * from sd.people
    ) sbq
    )$q$, target);
END $f$;
-- later runs: build_snapshot_staging_table (default__snapshot_staging_table
-- with strategy.row_changed = snapshot_timestamp_strategy's
-- "snapshotted_data.dbt_valid_from < source_data.updated_at"), then
-- postgres__snapshot_merge_sql (insert_cols: the staging table's columns
-- without dbt_change_type / dbt_unique_key)
CREATE FUNCTION sd.dbt_next(target text, t timestamp) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format($q$
    create temporary table dbt_staging as (
    with snapshot_query as (
        select * from sd.people
    ),
    snapshotted_data as (
        select *, id as dbt_unique_key
        from %1$s
        where dbt_valid_to is null
    ),
    insertions_source_data as (
        select *, id as dbt_unique_key,
            updated_at as dbt_updated_at,
            updated_at as dbt_valid_from,
            coalesce(nullif(updated_at, updated_at), null) as dbt_valid_to,
            md5(coalesce(cast(id as varchar ), '')
             || '|' || coalesce(cast(updated_at as varchar ), '')) as dbt_scd_id
        from snapshot_query
    ),
    updates_source_data as (
        select *, id as dbt_unique_key,
            updated_at as dbt_updated_at,
            updated_at as dbt_valid_from,
            updated_at as dbt_valid_to
        from snapshot_query
    ),
    deletes_source_data as (
        select *, id as dbt_unique_key
        from snapshot_query
    ),
    insertions as (
        select 'insert' as dbt_change_type, source_data.*, 'False' as dbt_is_deleted
        from insertions_source_data as source_data
        left outer join snapshotted_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
            where snapshotted_data.dbt_unique_key is null
            or (snapshotted_data.dbt_unique_key is not null and (
               (snapshotted_data.dbt_valid_from < source_data.updated_at)
               or snapshotted_data.dbt_is_deleted = 'True'))
    ),
    updates as (
        select 'update' as dbt_change_type, source_data.*,
            snapshotted_data.dbt_scd_id, snapshotted_data.dbt_is_deleted
        from updates_source_data as source_data
        join snapshotted_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
        where ((snapshotted_data.dbt_valid_from < source_data.updated_at)
               or snapshotted_data.dbt_is_deleted = 'True')
    ),
    deletes as (
        select 'delete' as dbt_change_type, source_data.*,
            %2$L::timestamp as dbt_valid_from,
            %2$L::timestamp as dbt_updated_at,
            %2$L::timestamp as dbt_valid_to,
            snapshotted_data.dbt_scd_id, snapshotted_data.dbt_is_deleted
        from snapshotted_data
        left join deletes_source_data as source_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
            where source_data.dbt_unique_key is null
            and not (snapshotted_data.dbt_is_deleted = 'True'
                     and snapshotted_data.dbt_valid_to is null)
    ),
    deletion_records as (
        select 'insert' as dbt_change_type,
            snapshotted_data.id, snapshotted_data.name, snapshotted_data.updated_at,
            snapshotted_data.dbt_unique_key as dbt_unique_key,
            %2$L::timestamp as dbt_valid_from,
            %2$L::timestamp as dbt_updated_at,
            snapshotted_data.dbt_valid_to as dbt_valid_to,
            md5(coalesce(cast(snapshotted_data.dbt_scd_id as varchar ), '')
             || '|' || coalesce(cast(%2$L::timestamp as varchar ), '')) as dbt_scd_id,
            'True' as dbt_is_deleted
        from snapshotted_data
        left join deletes_source_data as source_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
        where source_data.dbt_unique_key is null
        and not (snapshotted_data.dbt_is_deleted = 'True'
                 and snapshotted_data.dbt_valid_to is null)
    )
    select * from insertions
    union all
    select * from updates
    union all
    select * from deletes
    union all
    select * from deletion_records
    )$q$, target, t);
  EXECUTE format($q$
    update %1$s
    set dbt_valid_to = DBT_INTERNAL_SOURCE.dbt_valid_to
    from dbt_staging as DBT_INTERNAL_SOURCE
    where DBT_INTERNAL_SOURCE.dbt_scd_id::text = %1$s.dbt_scd_id::text
      and DBT_INTERNAL_SOURCE.dbt_change_type::text in ('update'::text, 'delete'::text)
      and %1$s.dbt_valid_to is null;
    insert into %1$s ("id", "name", "updated_at", "dbt_updated_at", "dbt_valid_from",
                      "dbt_valid_to", "dbt_scd_id", "dbt_is_deleted")
    select DBT_INTERNAL_SOURCE."id", DBT_INTERNAL_SOURCE."name",
           DBT_INTERNAL_SOURCE."updated_at", DBT_INTERNAL_SOURCE."dbt_updated_at",
           DBT_INTERNAL_SOURCE."dbt_valid_from", DBT_INTERNAL_SOURCE."dbt_valid_to",
           DBT_INTERNAL_SOURCE."dbt_scd_id", DBT_INTERNAL_SOURCE."dbt_is_deleted"
    from dbt_staging as DBT_INTERNAL_SOURCE
    where DBT_INTERNAL_SOURCE.dbt_change_type::text = 'insert'::text$q$, target);
  DROP TABLE dbt_staging;
END $f$;
-- rows of a that are not in b, and of b not in a (empty when equal)
CREATE FUNCTION sd.diff(a text, b text) RETURNS TABLE (side text, r text)
LANGUAGE plpgsql AS $f$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT %3$L, x::text FROM (SELECT * FROM %1$s EXCEPT ALL SELECT * FROM %2$s) x
     UNION ALL SELECT %4$L, y::text FROM (SELECT * FROM %2$s EXCEPT ALL SELECT * FROM %1$s) y
     ORDER BY 1, 2', a, b, 'only in ' || a, 'only in ' || b);
END $f$;

-- dbt's first run; the history that lakehouse continues is a copy of it
SELECT sd.dbt_first('sd.snap_dbt');
CREATE TABLE sd.snap_lh AS TABLE sd.snap_dbt;
-- lh_scd2_merge with dbt_compat on a new table writes what dbt's first run
-- wrote: same rows, same column types
SELECT lakehouse.lh_scd2_merge('sd.snap_new', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "new_record", "dbt_compat": true,
         "as_of": "2024-01-15 00:00+00"}');
SELECT * FROM sd.diff('sd.snap_dbt', 'sd.snap_new');
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS dbt_type,
       format_type(b.atttypid, b.atttypmod) AS lakehouse_type
  FROM pg_attribute a JOIN pg_attribute b ON b.attname = a.attname AND b.attnum = a.attnum
 WHERE a.attrelid = 'sd.snap_dbt'::regclass AND b.attrelid = 'sd.snap_new'::regclass
   AND a.attnum > 0 ORDER BY a.attnum;
SELECT indexdef FROM pg_indexes WHERE tablename = 'snap_new';

-- run 2: Bob changes, Ann's name changes without a newer updated_at (not a
-- change for the timestamp strategy), Cyd is deleted, Eve is new.  dbt runs
-- at 2024-02-01 00:00; lakehouse continues its copy (adopted as a dbt
-- snapshot: dbt_compat is not given) with as_of the same instant.
UPDATE sd.people SET name = 'Bobby', updated_at = '2024-01-15 09:00' WHERE id = 2;
UPDATE sd.people SET name = 'Anne' WHERE id = 1;
DELETE FROM sd.people WHERE id = 3;
INSERT INTO sd.people VALUES (5, 'Eve', '2024-01-20 08:00');
SELECT sd.dbt_next('sd.snap_dbt', '2024-02-01 00:00');
SELECT lakehouse.lh_scd2_merge('sd.snap_lh', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "new_record", "as_of": "2024-02-01 00:00+00"}');
SELECT * FROM sd.diff('sd.snap_dbt', 'sd.snap_lh');
-- run 3: Cyd comes back (updated after the delete), Dee is deleted
INSERT INTO sd.people VALUES (3, 'Cyd', '2024-02-10 08:00');
DELETE FROM sd.people WHERE id = 4;
SELECT sd.dbt_next('sd.snap_dbt', '2024-03-01 00:00');
SELECT lakehouse.lh_scd2_merge('sd.snap_lh', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "new_record", "as_of": "2024-03-01 00:00+00"}');
SELECT * FROM sd.diff('sd.snap_dbt', 'sd.snap_lh');
-- run 4: nothing changed: no new rows either way (Dee stays deleted once)
SELECT sd.dbt_next('sd.snap_dbt', '2024-04-01 00:00');
SELECT lakehouse.lh_scd2_merge('sd.snap_lh', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "new_record", "as_of": "2024-04-01 00:00+00"}');
SELECT * FROM sd.diff('sd.snap_dbt', 'sd.snap_lh');
SELECT id, name, updated_at, dbt_valid_from, dbt_valid_to, dbt_is_deleted
  FROM sd.snap_lh ORDER BY id, dbt_valid_from;
-- no is_current, version_id or row_hash column was added
SELECT attname FROM pg_attribute WHERE attrelid = 'sd.snap_lh'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;

-- 6. Continue a dbt snapshot, check strategy without updated_at:
-- check_cols [name, price], hard_deletes invalidate.  strategy.updated_at is
-- snapshot_get_time() (now()::timestamp, here the literal t), and so are
-- dbt_scd_id's second argument and the new versions' times.
CREATE TABLE sd.items (id int, name text, price numeric);
INSERT INTO sd.items VALUES (1, 'pen', 1.0), (2, 'ink', 2.5), (3, 'pad', NULL);
CREATE FUNCTION sd.dbt_check_first(target text, t timestamp) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format($q$
    create  table %1$s
    as
    (
    select *,
        md5(coalesce(cast(id as varchar ), '')
         || '|' || coalesce(cast(%2$L::timestamp as varchar ), '')
        ) as dbt_scd_id,
        %2$L::timestamp as dbt_updated_at,
        %2$L::timestamp as dbt_valid_from,
        coalesce(nullif(%2$L::timestamp, %2$L::timestamp), null)
  as dbt_valid_to
    from (
        select * from sd.items
    ) sbq
    )$q$, target, t);
END $f$;
CREATE FUNCTION sd.dbt_check_next(target text, t timestamp) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
  changed text := $c$(
        snapshotted_data.name != source_data.name
        or
        (
            ((snapshotted_data.name is null) and not (source_data.name is null))
            or
            ((not snapshotted_data.name is null) and (source_data.name is null))
        ) or snapshotted_data.price != source_data.price
        or
        (
            ((snapshotted_data.price is null) and not (source_data.price is null))
            or
            ((not snapshotted_data.price is null) and (source_data.price is null))
        ))$c$;
BEGIN
  EXECUTE format($q$
    create temporary table dbt_staging as (
    with snapshot_query as (
        select * from sd.items
    ),
    snapshotted_data as (
        select *, id as dbt_unique_key
        from %1$s
        where dbt_valid_to is null
    ),
    insertions_source_data as (
        select *, id as dbt_unique_key,
            %2$L::timestamp as dbt_updated_at,
            %2$L::timestamp as dbt_valid_from,
            coalesce(nullif(%2$L::timestamp, %2$L::timestamp), null) as dbt_valid_to,
            md5(coalesce(cast(id as varchar ), '')
             || '|' || coalesce(cast(%2$L::timestamp as varchar ), '')) as dbt_scd_id
        from snapshot_query
    ),
    updates_source_data as (
        select *, id as dbt_unique_key,
            %2$L::timestamp as dbt_updated_at,
            %2$L::timestamp as dbt_valid_from,
            %2$L::timestamp as dbt_valid_to
        from snapshot_query
    ),
    deletes_source_data as (
        select *, id as dbt_unique_key
        from snapshot_query
    ),
    insertions as (
        select 'insert' as dbt_change_type, source_data.*
        from insertions_source_data as source_data
        left outer join snapshotted_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
            where snapshotted_data.dbt_unique_key is null
            or (snapshotted_data.dbt_unique_key is not null and (%3$s))
    ),
    updates as (
        select 'update' as dbt_change_type, source_data.*, snapshotted_data.dbt_scd_id
        from updates_source_data as source_data
        join snapshotted_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
        where (%3$s)
    ),
    deletes as (
        select 'delete' as dbt_change_type, source_data.*,
            %2$L::timestamp as dbt_valid_from,
            %2$L::timestamp as dbt_updated_at,
            %2$L::timestamp as dbt_valid_to,
            snapshotted_data.dbt_scd_id
        from snapshotted_data
        left join deletes_source_data as source_data
            on snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
            where source_data.dbt_unique_key is null
    )
    select * from insertions
    union all
    select * from updates
    union all
    select * from deletes
    )$q$, target, t, changed);
  EXECUTE format($q$
    update %1$s
    set dbt_valid_to = DBT_INTERNAL_SOURCE.dbt_valid_to
    from dbt_staging as DBT_INTERNAL_SOURCE
    where DBT_INTERNAL_SOURCE.dbt_scd_id::text = %1$s.dbt_scd_id::text
      and DBT_INTERNAL_SOURCE.dbt_change_type::text in ('update'::text, 'delete'::text)
      and %1$s.dbt_valid_to is null;
    insert into %1$s ("id", "name", "price", "dbt_updated_at", "dbt_valid_from",
                      "dbt_valid_to", "dbt_scd_id")
    select DBT_INTERNAL_SOURCE."id", DBT_INTERNAL_SOURCE."name", DBT_INTERNAL_SOURCE."price",
           DBT_INTERNAL_SOURCE."dbt_updated_at", DBT_INTERNAL_SOURCE."dbt_valid_from",
           DBT_INTERNAL_SOURCE."dbt_valid_to", DBT_INTERNAL_SOURCE."dbt_scd_id"
    from dbt_staging as DBT_INTERNAL_SOURCE
    where DBT_INTERNAL_SOURCE.dbt_change_type::text = 'insert'::text$q$, target);
  DROP TABLE dbt_staging;
END $f$;
SELECT sd.dbt_check_first('sd.isnap_dbt', '2024-01-01 00:00');
CREATE TABLE sd.isnap_lh AS TABLE sd.isnap_dbt;
-- run 2: pen renamed, pad gets a price (NULL -> value), ink's price
-- 2.5 -> 2.50 (equal: a version from neither dbt nor lakehouse)
UPDATE sd.items SET name = 'pen2' WHERE id = 1;
UPDATE sd.items SET price = 2.50 WHERE id = 2;
UPDATE sd.items SET price = 4 WHERE id = 3;
SELECT sd.dbt_check_next('sd.isnap_dbt', '2024-02-01 00:00');
SELECT lakehouse.lh_scd2_merge('sd.isnap_lh', 'sd.items', '{id}',
       '{"strategy": "check", "check_cols": ["name", "price"], "hard_deletes": "invalidate",
         "dbt_compat": true, "as_of": "2024-02-01 00:00+00"}');
SELECT * FROM sd.diff('sd.isnap_dbt', 'sd.isnap_lh');
-- run 3: ink is deleted, cap is new
DELETE FROM sd.items WHERE id = 2;
INSERT INTO sd.items VALUES (4, 'cap', 9);
SELECT sd.dbt_check_next('sd.isnap_dbt', '2024-03-01 00:00');
SELECT lakehouse.lh_scd2_merge('sd.isnap_lh', 'sd.items', '{id}',
       '{"strategy": "check", "check_cols": ["name", "price"], "hard_deletes": "invalidate",
         "dbt_compat": true, "as_of": "2024-03-01 00:00+00"}');
SELECT * FROM sd.diff('sd.isnap_dbt', 'sd.isnap_lh');
-- run 4: ink is back (invalidate: a new version from the run time)
INSERT INTO sd.items VALUES (2, 'ink', 2.5);
SELECT sd.dbt_check_next('sd.isnap_dbt', '2024-04-01 00:00');
SELECT lakehouse.lh_scd2_merge('sd.isnap_lh', 'sd.items', '{id}',
       '{"strategy": "check", "check_cols": ["name", "price"], "hard_deletes": "invalidate",
         "dbt_compat": true, "as_of": "2024-04-01 00:00+00"}');
SELECT * FROM sd.diff('sd.isnap_dbt', 'sd.isnap_lh');
SELECT id, name, price, dbt_valid_from, dbt_valid_to FROM sd.isnap_lh ORDER BY id, dbt_valid_from;

-- dbt_valid_to_current (dbt >= 1.9): current rows carry the sentinel, and
-- dbt's snapshotted_data takes rows with the sentinel or NULL as current
SELECT lakehouse.lh_scd2_merge('sd.vsnap', 'sd.items', '{id}',
       '{"strategy": "check", "dbt_compat": true, "hard_deletes": "invalidate",
         "valid_to_current": "9999-12-31 00:00+00", "as_of": "2024-05-01 00:00+00"}');
UPDATE sd.items SET name = 'cap2' WHERE id = 4;
DELETE FROM sd.items WHERE id = 1;
SELECT lakehouse.lh_scd2_merge('sd.vsnap', 'sd.items', '{id}',
       '{"strategy": "check", "dbt_compat": true, "hard_deletes": "invalidate",
         "valid_to_current": "9999-12-31 00:00+00", "as_of": "2024-06-01 00:00+00"}');
SELECT id, name, dbt_valid_from, dbt_valid_to,
       dbt_scd_id = md5(id::varchar || '|' || dbt_valid_from::varchar) AS dbt_id
  FROM sd.vsnap ORDER BY id, dbt_valid_from;
SELECT indexdef FROM pg_indexes WHERE tablename = 'vsnap';

-- 7. dbt snapshot: what is refused
SELECT lakehouse.lh_scd2_merge('sd.snap_lh', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "late_arriving": "insert"}');
SELECT lakehouse.lh_scd2_merge('sd.snap_x', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "dbt_compat": true, "is_current_column": "cur"}');
SELECT lakehouse.lh_scd2_merge('sd.snap_x', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "dbt_compat": "maybe"}');
ALTER TABLE sd.isnap_dbt ALTER COLUMN dbt_valid_to TYPE text;
SELECT lakehouse.lh_scd2_merge('sd.isnap_dbt', 'sd.items', '{id}',
       '{"strategy": "check", "dbt_compat": true}');
-- dbt_compat false: a dbt table is not adopted, and lacks lakehouse's columns
SELECT lakehouse.lh_scd2_merge('sd.snap_dbt', 'sd.people', '{id}',
       '{"updated_at": "updated_at", "dbt_compat": false}');

SET client_min_messages = warning;
DROP SCHEMA sd CASCADE;
DROP EXTENSION citext;

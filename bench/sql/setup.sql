-- bench/sql/setup.sql: objects and data of the lakehouse benchmarks.
--
-- Run by bench/run.sh in a fresh database, as the superuser, with psql
-- variables:
--   rows       number of bronze rows (1000000)
--   jsonl      absolute path of the JSON-lines file to write (server side)
--
-- Data are generated deterministically from generate_series (no random()):
--   * row i (1..rows) is order i; the last 2% of the rows repeat earlier
--     order ids (every 49th) with an updated_at 30 days later, so silver
--     keeps them;
--   * 0.3% of the rows are dirty (i % 1000 in (137, 503, 877)); the kind of
--     dirt cycles with i / 1000:
--       0  ordered_at is "31/02/2024 25:61" (not a timestamp)
--       1  quantity is the text "two" (text in an integer field)
--       2  quantity is negative (violates non_negative)
--       3  the required key customer_email is missing
--   * strings carry blanks and upper case for trim / lower to work on;
--   * no backslash or double quote inside any string, so COPY TO's text
--     format writes the JSON unchanged.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET timezone = 'UTC';

CREATE EXTENSION lakehouse;
CREATE SCHEMA bench;

-- Abort the run (psql stops on the error) when a result is not what it
-- must be.
CREATE FUNCTION bench.check(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'benchmark check failed: %', what;
    END IF;
END
$$;

-- -------------------------------------------------------------------------
-- Benchmark 1: silver stage.  The pipeline's source is a table source whose
-- table stays empty (so its ingest lands nothing); the bronze rows are
-- inserted straight into the bronze table lh_add_source created.
-- -------------------------------------------------------------------------
CREATE TABLE bench.orders_src (payload jsonb, updated_at timestamptz);

SELECT bench.check(lakehouse.lh_create_pipeline('bench_orders', 'benchmark: silver stage') > 0,
                   'create pipeline bench_orders') \gset chk_
SELECT bench.check(lakehouse.lh_add_source('bench_orders', 'bench_orders', 'table',
       '{"table": "bench.orders_src", "watermark": "updated_at"}',
       'bronze.bench_orders') > 0, 'add source bench_orders') \gset chk_
-- The silver mapping: 8 typed columns, used for both silver tables.
SELECT '[{"name": "order_id",       "type": "bigint"},
         {"name": "customer_email", "type": "text", "required": true,
          "transforms": ["trim", "lower"]},
         {"name": "status",         "type": "text", "transforms": ["lower"]},
         {"name": "quantity",       "type": "integer", "non_negative": true},
         {"name": "amount",         "type": "numeric(12,2)"},
         {"name": "sku",            "type": "text", "transforms": ["trim"]},
         {"name": "ordered_at",     "type": "timestamptz"},
         {"name": "updated_at",     "type": "timestamptz", "required": true}]'
       AS silver_columns \gset
SELECT bench.check(lakehouse.lh_define_silver('bench_orders', 'silver.bench_orders', 'bench_orders',
       :'silver_columns', keys => '{order_id}', order_by => 'updated_at') > 0,
       'define silver.bench_orders') \gset chk_

INSERT INTO bronze.bench_orders (_lh_source, _lh_run_id, _lh_position, payload)
SELECT 'bench_orders', NULL, 'gen:' || i,
       CASE WHEN dirty AND kind = 3 THEN p - 'customer_email' ELSE p END
  FROM generate_series(1, :rows) AS i,
       LATERAL (SELECT i % 1000 IN (137, 503, 877) AS dirty,
                       (i / 1000) % 4 AS kind,
                       i > :rows * 0.98 AS dup,
                       timestamptz '2024-01-01 00:00:00+00' + (i % 980000) * interval '17 seconds' AS t) AS g,
       LATERAL (SELECT jsonb_build_object(
           'order_id', CASE WHEN dup THEN (i - (:rows * 0.98)::bigint) * 49 ELSE i END,
           'customer_email', '  Customer' || (i % 50000) || '@Example.COM ',
           'status', (ARRAY['NEW', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED'])[1 + i % 5],
           'quantity', CASE WHEN dirty AND kind = 1 THEN to_jsonb('two'::text)
                            WHEN dirty AND kind = 2 THEN to_jsonb(-1 - i % 5)
                            ELSE to_jsonb(1 + i % 9) END,
           'amount', round(1 + (i % 100000) / 100.0, 2),
           'sku', ' SKU-' || lpad((i % 20000)::text, 6, '0'),
           'ordered_at', CASE WHEN dirty AND kind = 0 THEN '31/02/2024 25:61'
                              ELSE to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
           'updated_at', to_char(t + CASE WHEN dup THEN interval '30 days'
                                          ELSE interval '1 hour' END,
                                 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS p) AS j
 ORDER BY i;

-- The baseline's target: same columns, types and primary key as ours.
CREATE TABLE bench.silver_baseline (LIKE silver.bench_orders INCLUDING ALL);

-- The reference's target, and the ids of the dirty rows it is told about
-- (the generation rule above, so nothing has to be validated).
CREATE TABLE bench.silver_reference (LIKE silver.bench_orders INCLUDING ALL);
CREATE TABLE bench.dirty_ids AS
SELECT _lh_id AS id FROM bronze.bench_orders
 WHERE substr(_lh_position, 5)::bigint % 1000 IN (137, 503, 877);
ANALYZE bench.dirty_ids;

-- -------------------------------------------------------------------------
-- Benchmark 2: file landing.  The same payloads as a JSON-lines file; ours
-- is a file source in a pipeline of its own, the baseline a COPY into a
-- table with one jsonb column.
-- -------------------------------------------------------------------------
COPY (SELECT payload::text FROM bronze.bench_orders ORDER BY _lh_id) TO :'jsonl';

SELECT bench.check(lakehouse.lh_create_pipeline('bench_files', 'benchmark: file landing') > 0,
                   'create pipeline bench_files') \gset chk_
SELECT bench.check(lakehouse.lh_add_source('bench_files', 'bench_file', 'file',
       jsonb_build_object('path', :'jsonl', 'format', 'jsonl'),
       'bronze.bench_file') > 0, 'add source bench_file') \gset chk_
CREATE TABLE bench.copy_baseline (payload jsonb);

-- The reference: COPY into a table of the bronze shape (the columns, the
-- identity, the defaults and the BRIN index bronze_create_table makes).
CREATE TABLE bench.copy_reference (
    _lh_id bigint GENERATED ALWAYS AS IDENTITY,
    _lh_source text NOT NULL DEFAULT 'bench_file',
    _lh_run_id bigint,
    _lh_position text,
    _lh_ingested_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb NOT NULL);
CREATE INDEX ON bench.copy_reference USING brin (_lh_id);

-- For benchmark 3b: the file source's pipeline gets the same silver table,
-- which first runs on rows freshly landed (BRIN ranges not yet summarized,
-- no VACUUM since).
SELECT bench.check(lakehouse.lh_define_silver('bench_files', 'silver.bench_file', 'bench_file',
       :'silver_columns', keys => '{order_id}', order_by => 'updated_at') > 0,
       'define silver.bench_file') \gset chk_

-- Rows in one of two silver tables and not in the other (0: the same).
CREATE FUNCTION bench.diff_rows(a regclass, b regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    cols text := 'order_id, customer_email, status, quantity, amount, sku,'
                 ' ordered_at, updated_at, _lh_bronze_id';
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT %1$s FROM %2$s EXCEPT ALL SELECT %1$s FROM %3$s)'
                   ' UNION ALL (SELECT %1$s FROM %3$s EXCEPT ALL SELECT %1$s FROM %2$s)) d',
                   cols, a, b)
       INTO n;
    RETURN n;
END
$$;

-- Timings of every repetition (warm-ups included, flagged).
CREATE TABLE bench.timings (
    bench       text NOT NULL,
    side        text NOT NULL,
    rep         integer NOT NULL,
    warmup      boolean NOT NULL,
    seconds     double precision NOT NULL,
    rows        bigint,
    detail      text
);

-- Read-only from here on: hint bits set, visibility map and BRIN ranges
-- built, statistics fresh, before anything is timed.
VACUUM (FREEZE, ANALYZE) bronze.bench_orders;
CHECKPOINT;

SELECT count(*) AS bronze_rows,
       count(*) FILTER (WHERE NOT payload ? 'customer_email') AS missing_email,
       round(avg(length(payload::text))) AS avg_json_bytes,
       pg_size_pretty(pg_total_relation_size('bronze.bench_orders')) AS bronze_size
  FROM bronze.bench_orders;

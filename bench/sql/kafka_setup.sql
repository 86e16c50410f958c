-- bench/sql/kafka_setup.sql: objects and data of the Kafka benchmark
-- (bench/kafka.sh).
--
-- Run in a fresh database, as the superuser, with psql variables:
--   rows       number of messages (1000000)
--   jsonl      absolute path of the JSON-lines file to write (server side)
--   brokers    the mock cluster's bootstrap address
--   options    more options of the measured source (a JSON object, '{}')
--
-- The messages are the JSON lines of bench/sql/setup.sql (the same
-- expression, without the repeated order ids): ~220 bytes each, no
-- backslash or double quote inside a string, so that COPY's text format
-- reads the lines unchanged.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET timezone = 'UTC';

CREATE EXTENSION lakehouse;
CREATE SCHEMA bench;

CREATE FUNCTION bench.check(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'benchmark check failed: %', what;
    END IF;
END
$$;

COPY (
SELECT p::text
  FROM generate_series(1, :rows) AS i,
       LATERAL (SELECT i % 1000 IN (137, 503, 877) AS dirty,
                       (i / 1000) % 4 AS kind,
                       timestamptz '2024-01-01 00:00:00+00' + (i % 980000) * interval '17 seconds' AS t) AS g,
       LATERAL (SELECT jsonb_build_object(
           'order_id', i,
           'customer_email', '  Customer' || (i % 50000) || '@Example.COM ',
           'status', (ARRAY['NEW', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED'])[1 + i % 5],
           'quantity', CASE WHEN dirty AND kind = 1 THEN to_jsonb('two'::text)
                            WHEN dirty AND kind = 2 THEN to_jsonb(-1 - i % 5)
                            ELSE to_jsonb(1 + i % 9) END,
           'amount', round(1 + (i % 100000) / 100.0, 2),
           'sku', ' SKU-' || lpad((i % 20000)::text, 6, '0'),
           'ordered_at', CASE WHEN dirty AND kind = 0 THEN '31/02/2024 25:61'
                              ELSE to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
           'updated_at', to_char(t + interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) AS p) AS j
 ORDER BY i) TO :'jsonl';

-- (a) ours: a kafka source whose worker each repetition starts
-- (lh_enable_source), and the source of the latency measurement (light
-- load, its own topic and worker); both declared disabled, in one
-- transaction, so that no worker starts yet.
BEGIN;
SELECT bench.check(lakehouse.lh_create_pipeline('bench_kafka', 'benchmark: Kafka landing') > 0,
                   'create pipeline bench_kafka') \gset chk_
SELECT bench.check(lakehouse.lh_add_source('bench_kafka', 'bench_kafka', 'kafka',
       jsonb_build_object('brokers', :'brokers', 'topic', 'bench') || :'options'::jsonb,
       'bronze.bench_kafka') > 0, 'add source bench_kafka') \gset chk_
SELECT bench.check(lakehouse.lh_add_source('bench_kafka', 'bench_latency', 'kafka',
       jsonb_build_object('brokers', :'brokers', 'topic', 'latency'),
       'bronze.bench_latency') > 0, 'add source bench_latency') \gset chk_
SELECT lakehouse.lh_disable_source('bench_kafka') \gset
SELECT lakehouse.lh_disable_source('bench_latency') \gset
COMMIT;

-- (b) kcat | psql COPY and (c) COPY FROM file: a table with one jsonb
-- column each, as the file benchmark's baseline.
CREATE TABLE bench.kcat_copy (payload jsonb);
CREATE TABLE bench.file_copy (payload jsonb);

-- Timings of every repetition (warm-ups included, flagged).
CREATE TABLE bench.timings (
    side        text NOT NULL,
    rep         integer NOT NULL,
    warmup      boolean NOT NULL,
    seconds     double precision NOT NULL,
    rows        bigint,
    detail      text
);

CHECKPOINT;

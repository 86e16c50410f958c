-- samples/kafka_demo.sql: the Kafka part of the tour (after demo.sql).
--
-- Pipeline "events": a Kafka source on the topic user_events, streamed into
-- bronze by a background worker, and a typed, de-duplicated silver table.
-- scripts/demo.sh starts a Kafka broker (librdkafka's mock cluster,
-- test/kafka/lh_kafka_mock), produces the messages of
-- `samples/generate.py --kafka-out DIR` into it, then runs
--
--     psql -X -v kafka_brokers=127.0.0.1:PORT -v kafka_messages=N -f samples/kafka_demo.sql
--
-- kafka_messages is the number of messages in the topic: the script waits
-- (at most 30 s) until the worker has landed that many.  It needs a
-- superuser, `lakehouse` in shared_preload_libraries (the worker), and sets
-- lakehouse.max_message_bytes = 4kB for the current database (ALTER DATABASE)
-- so that one message is oversize.  Section 15 joins silver.customers from
-- demo.sql when it exists.  It can be run again: it drops what an earlier run
-- created (the topic itself is the broker's: do not produce twice).

\set ON_ERROR_STOP on
\set QUIET on

\if :{?kafka_brokers}
\else
\echo 'usage: psql -X -v kafka_brokers=HOST:PORT -v kafka_messages=N -f samples/kafka_demo.sql'
\quit
\endif
\if :{?kafka_messages}
\else
\echo 'usage: psql -X -v kafka_brokers=HOST:PORT -v kafka_messages=N -f samples/kafka_demo.sql'
\quit
\endif

\pset border 2
\pset null '·'
\pset footer off
SET client_min_messages = warning;
SET TimeZone = 'UTC';

\echo
\echo '━━━ 11. Kafka: clean slate, and a 4 kB message limit for this database ━━━'
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM lakehouse.sources WHERE name = 'user_events') THEN
        PERFORM lakehouse.lh_discard_dead_letters('user_events');
    END IF;
    IF EXISTS (SELECT 1 FROM lakehouse.pipelines WHERE name = 'events') THEN
        PERFORM lakehouse.lh_drop_pipeline('events', drop_tables => true);
    END IF;
END
$$;
DROP TABLE IF EXISTS silver.user_events, bronze.user_events;

-- Workers read their settings when they start: set it before the source exists.
SELECT current_database() AS demo_db \gset
ALTER DATABASE :"demo_db" SET lakehouse.max_message_bytes = '4kB';
\echo 'ALTER DATABASE ... SET lakehouse.max_message_bytes = ''4kB'' (the default is 1MB)'

\echo
\echo '━━━ 12. Declare pipeline "events": Kafka source user_events and silver.user_events ━━━'
SELECT lakehouse.lh_create_pipeline('events', 'Click stream from the Kafka topic user_events')
    AS pipeline_id;
SELECT lakehouse.lh_add_source('events', 'user_events', 'kafka',
       jsonb_build_object('brokers', :'kafka_brokers', 'topic', 'user_events'))
    AS source_id;
SELECT lakehouse.lh_define_silver('events', 'silver.user_events', 'user_events',
       '[{"name": "event_id",   "type": "bigint"},
         {"name": "user_id",    "type": "bigint",      "required": true},
         {"name": "event_type", "path": "type", "type": "text", "required": true,
          "transforms": ["trim", "lower"]},
         {"name": "event_ts",   "path": "ts",   "type": "timestamptz", "required": true},
         {"name": "device",     "type": "text", "transforms": ["trim", "lower", "nullif_empty"],
          "default": "unknown"},
         {"name": "sku",        "type": "text", "transforms": ["trim", "upper", "nullif_empty"]},
         {"name": "quantity",   "type": "integer", "min": 1},
         {"name": "amount",     "type": "numeric(12,2)", "non_negative": true}]',
       keys => '{event_id}', order_by => 'event_ts') AS silver_table_id;

\echo
\echo '━━━ 13. The worker streams the topic into bronze.user_events ━━━'
\echo 'Waiting (at most 30 s) until the stored offsets account for every message produced:'
SELECT set_config('lakehouse_demo.kafka_messages', :'kafka_messages', false) \g /dev/null
DO $$
DECLARE
    expected bigint := current_setting('lakehouse_demo.kafka_messages')::bigint;
    started timestamptz := clock_timestamp();
    landed bigint;
    landed_at timestamptz;
    hwm_known boolean;
    states text;
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT coalesce(sum(stored_offset), 0), coalesce(bool_and(high_watermark IS NOT NULL), false)
          INTO landed, hwm_known
          FROM lakehouse.source_status WHERE source = 'user_events';
        IF landed >= expected THEN
            landed_at := coalesce(landed_at, clock_timestamp());
            -- The worker publishes the broker's high watermarks about once a
            -- second: give them a moment, for the status below.
            EXIT WHEN hwm_known OR clock_timestamp() - landed_at > interval '3 seconds';
        ELSIF clock_timestamp() - started > interval '30 seconds' THEN
            SELECT string_agg(format('partition %s: stored_offset %s, high_watermark %s, worker %s%s',
                                     "partition", coalesce(stored_offset::text, 'none'),
                                     coalesce(high_watermark::text, 'unknown'),
                                     coalesce(worker_state, 'none'),
                                     coalesce(', last error: ' || last_error, '')),
                              '; ' ORDER BY "partition")
              INTO states
              FROM lakehouse.source_status WHERE source = 'user_events';
            RAISE EXCEPTION 'Kafka demo: the worker landed % of the % messages of topic user_events within 30 s',
                            landed, expected
                  USING DETAIL = coalesce(states, 'no partition known yet'),
                        HINT = 'Look at lakehouse.source_status and the server log; is the broker '
                               'running (scripts/demo.sh status)?';
        END IF;
        PERFORM pg_sleep(0.2);
    END LOOP;
    PERFORM set_config('lakehouse_demo.waited',
                       round(extract(epoch FROM landed_at - started), 1)::text, false);
END
$$;
SELECT sum(stored_offset) AS messages_landed, current_setting('lakehouse_demo.waited') AS seconds_waited
  FROM lakehouse.source_status WHERE source = 'user_events';

\echo 'lakehouse.source_status, one row per partition (stored_offset = next offset to land):'
SELECT "partition", stored_offset, high_watermark, lag, worker_state,
       coalesce(last_error, '') AS last_error
  FROM lakehouse.source_status
 WHERE source = 'user_events'
 ORDER BY "partition";

\echo 'Exactly once: every offset of every partition is in bronze or in dead_letters, once.'
WITH b AS (SELECT _lh_partition AS "partition", count(*) AS bronze_rows,
                  count(DISTINCT _lh_offset) AS distinct_offsets
             FROM bronze.user_events GROUP BY 1),
     d AS (SELECT split_part(source_position, ':', 1)::int AS "partition", count(*) AS dead_letters
             FROM lakehouse.dead_letters
            WHERE source_id = (SELECT source_id FROM lakehouse.sources WHERE name = 'user_events')
            GROUP BY 1)
SELECT s."partition", s.stored_offset AS messages, coalesce(b.bronze_rows, 0) AS bronze_rows,
       coalesce(d.dead_letters, 0) AS dead_letters,
       CASE WHEN s.stored_offset = coalesce(b.bronze_rows, 0) + coalesce(d.dead_letters, 0)
             AND coalesce(b.bronze_rows, 0) = coalesce(b.distinct_offsets, 0)
            THEN 'yes' ELSE 'NO' END AS balanced
  FROM lakehouse.source_status s
  LEFT JOIN b USING ("partition")
  LEFT JOIN d USING ("partition")
 WHERE s.source = 'user_events'
 ORDER BY s."partition";

\echo 'A bronze row: the message, untouched, with its provenance.'
SELECT _lh_position AS position, convert_from(_lh_key, 'UTF8') AS key, _lh_topic AS topic,
       payload
  FROM bronze.user_events
 ORDER BY _lh_partition, _lh_offset
 LIMIT 3;

\echo
\echo '━━━ 14. Dead letters: messages that could not land (poison messages) ━━━'
SELECT d.dead_letter_id AS id, d.source_position AS position, d.error_sqlstate AS sqlstate,
       d.reason, octet_length(d.raw) AS bytes,
       coalesce(left(encode(d.raw, 'escape'), 40), '(no value)') AS raw_start
  FROM lakehouse.dead_letters d
 WHERE d.source_id = (SELECT source_id FROM lakehouse.sources WHERE name = 'user_events')
 ORDER BY split_part(d.source_position, ':', 1)::int, split_part(d.source_position, ':', 2)::bigint;

\echo
\echo '━━━ 15. Run "events": silver types, cleans and de-duplicates what the worker landed ━━━'
\echo '(The ingest stage leaves the source to its worker.)'
SELECT coalesce(max(run_id), 0) AS runs_before FROM lakehouse.runs \gset
SELECT lakehouse.lh_run_pipeline('events') AS summary \gset
SELECT (:'summary'::jsonb)->>'run_id' AS run_id, (:'summary'::jsonb)->>'status' AS status,
       coalesce((:'summary'::jsonb)->>'error', '') AS error;
SELECT set_config('lakehouse_demo.summary', :'summary', false) \g /dev/null
DO $$
DECLARE
    summary jsonb := current_setting('lakehouse_demo.summary')::jsonb;
BEGIN
    IF summary->>'status' IS DISTINCT FROM 'succeeded' THEN
        RAISE EXCEPTION 'Kafka demo: the run of pipeline "events" did not succeed (%)',
                        coalesce(summary->>'error', summary->>'status');
    END IF;
END
$$;
SELECT d.stage_no AS "#", d.stage, d.target, d.status,
       d.rows_read AS read, d.rows_written AS written,
       d.rows_quarantined AS quarantined, d.rows_skipped AS skipped
  FROM lakehouse.run_stage_details d
 WHERE d.run_id > :runs_before
 ORDER BY d.run_id, d.stage_no;
\echo '(skipped: messages a retrying producer sent twice; silver keeps one row per event_id)'

SELECT q.source_position AS position, q.column_name AS "column", q.value, q.reason
  FROM lakehouse.quarantine q
  JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE p.name = 'events'
 ORDER BY split_part(q.source_position, ':', 1)::int, split_part(q.source_position, ':', 2)::bigint;

\echo 'silver.user_events: the funnel'
SELECT event_type, count(*) AS events, count(DISTINCT user_id) AS users,
       sum(quantity) AS units, sum(amount) AS revenue
  FROM silver.user_events
 GROUP BY event_type
 ORDER BY events DESC;

SELECT to_regclass('silver.customers') IS NOT NULL AS has_customers \gset
\if :has_customers
\echo 'silver.user_events joined with silver.customers (pipeline "orders"): buyers by country'
SELECT coalesce(c.country, '?') AS country, count(DISTINCT e.user_id) AS active_users,
       count(DISTINCT e.user_id) FILTER (WHERE e.event_type = 'purchase') AS buyers,
       coalesce(sum(e.amount), 0) AS revenue
  FROM silver.user_events e
  LEFT JOIN silver.customers c ON c.customer_id = e.user_id
 GROUP BY 1
 ORDER BY revenue DESC, country
 LIMIT 5;
\endif

\echo
\echo '━━━ 16. Fix the cause, replay: the oversize message lands with a higher limit ━━━'
SET lakehouse.max_message_bytes = '1MB';
SELECT lakehouse.lh_replay_dead_letters('user_events') AS replayed;
SELECT d.source_position AS still_dead, d.reason
  FROM lakehouse.dead_letters d
 WHERE d.source_id = (SELECT source_id FROM lakehouse.sources WHERE name = 'user_events')
 ORDER BY split_part(d.source_position, ':', 1)::int, split_part(d.source_position, ':', 2)::bigint;
SELECT coalesce(max(run_id), 0) AS runs_before FROM lakehouse.runs \gset
SELECT lakehouse.lh_run_pipeline('events') ->> 'status' AS rerun_status;
SELECT d.stage, d.target, d.rows_read AS read, d.rows_written AS written
  FROM lakehouse.run_stage_details d
 WHERE d.run_id > :runs_before AND d.stage = 'silver';
SELECT event_id, user_id, event_type, event_ts, device
  FROM silver.user_events WHERE event_id = 900003;

\echo
\echo 'Done.  The worker keeps streaming: produce more with'
\echo '  echo ''{"event_id": 5001, "user_id": 1, "type": "login", "ts": "2024-07-01T12:00:00Z"}'' | kcat -b' :kafka_brokers '-P -t user_events -p 1'
\echo 'then:  SELECT * FROM lakehouse.source_status WHERE source = ''user_events'';'
\echo '       SELECT lakehouse.lh_run_pipeline(''events'');'
\echo '(This database keeps lakehouse.max_message_bytes = 4kB: ALTER DATABASE' :"demo_db" 'RESET lakehouse.max_message_bytes;)'

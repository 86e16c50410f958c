--
-- kafka: declaring Kafka sources, and every way to get it wrong.  No broker
-- here (test/t/005-007 run against librdkafka's mock cluster); sources are
-- disabled in the transaction that adds them, so no worker starts.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SELECT lakehouse.lh_create_pipeline('kf') > 0 AS ok;

-- the settings
SHOW lakehouse.max_message_bytes;
SHOW lakehouse.max_workers;
SHOW lakehouse.launcher_naptime;
SHOW lakehouse.kafka_synchronous_commit;
SET lakehouse.max_message_bytes = 0;
SET lakehouse.max_message_bytes = '64kB';
SHOW lakehouse.max_message_bytes;
RESET lakehouse.max_message_bytes;

-- a good source, with every option (its secret must exist, and be usable)
SELECT lakehouse.lh_set_secret('kf_pw', 'hunter2');
BEGIN;
SELECT lakehouse.lh_add_source('kf', 'kf_clicks', 'kafka',
       '{"brokers": "127.0.0.1:1", "topic": "clicks", "partitions": [0, 2],
         "format": "json", "start": {"timestamp": "2026-01-01 00:00:00+00"},
         "batch_size": 500, "max_wait_ms": 20, "group_id": "kf-test",
         "commit_to_broker": false,
         "properties": {"security.protocol": "plaintext", "fetch.min.bytes": 1,
                        "socket.keepalive.enable": true},
         "secret_properties": {"sasl.password": "kf_pw"}}') > 0 AS ok;
SELECT lakehouse.lh_disable_source('kf_clicks');
COMMIT;
\d bronze.kf_clicks

-- text and bytes payloads
BEGIN;
SELECT lakehouse.lh_add_source('kf', 'kf_text', 'kafka',
       '{"brokers": "127.0.0.1:1", "topic": "logs", "format": "text", "start": "latest"}') > 0 AS ok;
SELECT lakehouse.lh_add_source('kf', 'kf_bytes', 'kafka',
       '{"brokers": "127.0.0.1:1", "topic": "blobs", "format": "bytes",
         "start": {"offsets": {"0": 42, "3": 0}}}') > 0 AS ok;
SELECT lakehouse.lh_disable_source('kf_text');
SELECT lakehouse.lh_disable_source('kf_bytes');
COMMIT;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid IN ('bronze.kf_text'::regclass, 'bronze.kf_bytes'::regclass)
   AND attname = 'payload' ORDER BY attrelid::regclass::text;

-- silver needs a jsonb payload
SELECT lakehouse.lh_define_silver('kf', 'silver.kf_text', 'kf_text', '[{"name": "x", "type": "text"}]');

-- a source's bronze table must have the Kafka shape
CREATE TABLE bronze.kf_plain (_lh_id bigint GENERATED ALWAYS AS IDENTITY, _lh_source text,
    _lh_run_id bigint, _lh_position text, _lh_ingested_at timestamptz, payload jsonb);
SELECT lakehouse.lh_add_source('kf', 'kf_shape', 'kafka',
       '{"brokers": "127.0.0.1:1", "topic": "t"}', 'bronze.kf_plain');
-- and changing the format changes the payload type it needs
SELECT lakehouse.lh_add_source('kf', 'kf_text', 'kafka',
       '{"brokers": "127.0.0.1:1", "topic": "logs", "format": "json"}', replace => true);

-- bad options
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1"}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "no spaces"}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "topik": 1}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "format": "avro"}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "partitions": []}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "partitions": [-1]}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "partitions": "0"}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "start": "yesterday"}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "start": {"timestamp": "soon"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "start": {"timestamp": "infinity"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "start": {"offsets": {"x": 1}}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "start": {"offsets": {"0": -5}}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "start": {"offsets": {"0": 1}, "timestamp": "2026-01-01"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "batch_size": 0}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "max_wait_ms": "soon"}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "group_id": ""}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": "x"}');
-- every librdkafka property is checked when the source is declared
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"no.such.property": "1"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"security.protocol": "carrier_pigeon"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"fetch.wait.max.ms": "-3"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"session.timeout.ms": null}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"group.id": "mine"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"enable.auto.commit": "true"}}');
-- a superuser may set any property: librdkafka checks it
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"plugin.library.paths": "/tmp/evil.so"}}');
BEGIN;
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.kerberos.kinit.cmd": "kinit -R"}}') > 0 AS superuser_may;
ROLLBACK;
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "secret_properties": {"security.protocol": "s"}}');
SELECT lakehouse.lh_add_source('kf', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "secret_properties": {"sasl.password": ""}}');
SELECT count(*) AS sources FROM lakehouse.sources WHERE name = 'kf_bad';

-- everybody else: properties by allow-list (contrib-docs/kafka.md)
CREATE ROLE kf_user;
GRANT USAGE ON SCHEMA lakehouse TO kf_user;
GRANT ALL ON ALL TABLES IN SCHEMA lakehouse TO kf_user;
GRANT ALL ON ALL SEQUENCES IN SCHEMA lakehouse TO kf_user;
GRANT USAGE, CREATE ON SCHEMA bronze TO kf_user;
GRANT EXECUTE ON FUNCTION lakehouse.lh_add_source(text, text, text, jsonb, text, boolean),
    lakehouse.lh_create_pipeline(text, text, text[], boolean),
    lakehouse.lh_drop_pipeline(text, boolean),
    lakehouse.lh_disable_source(text) TO kf_user;
SET ROLE kf_user;
SELECT lakehouse.lh_create_pipeline('kf_u') > 0 AS ok;
-- a file on the server: pg_read_server_files
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"ssl.ca.location": "/etc/passwd"}}');
-- code, commands, test-only switches, internals: superusers only
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"plugin.library.paths": "/tmp/evil.so"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"ssl.providers": "evil"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"ssl.engine.location": "/tmp/evil.so"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.kerberos.kinit.cmd": "touch /tmp/x"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.kerberos.principal": "x; touch /tmp/x #"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"enable.sasl.oauthbearer.unsecure.jwt": "true"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"test.mock.num.brokers": "1"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"offset.store.method": "file"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"debug": "all"}}');
-- not in the list at all, and producer properties
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"no.such.property": "1"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"linger.ms": "5"}}');
-- mechanisms: GSSAPI runs kinit; OAUTHBEARER only through OIDC
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.mechanism": "GSSAPI"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.mechanisms": "OAUTHBEARER"}}');
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.oauthbearer.token.endpoint.url": "file:///etc/passwd"}}');
-- a password is never given in clear
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "properties": {"sasl.password": "hunter2"}}');
-- another role's secret
SELECT lakehouse.lh_add_source('kf_u', 'kf_bad', 'kafka', '{"brokers": "h:1", "topic": "t", "secret_properties": {"sasl.password": "kf_pw"}}');
-- what everybody may set
BEGIN;
SELECT lakehouse.lh_add_source('kf_u', 'kf_ok', 'kafka',
       '{"brokers": "h:1", "topic": "t", "properties": {"security.protocol": "sasl_ssl",
         "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "me", "ssl.ca.location": "probe",
         "fetch.wait.max.ms": "50"}}') > 0 AS ok;
ROLLBACK;
-- the catalog is written through the API only, whatever was granted
UPDATE lakehouse.pipelines SET owner = 'postgres' WHERE name = 'kf_u';
DELETE FROM lakehouse.source_marks;
SELECT lakehouse.lh_drop_pipeline('kf_u');
RESET ROLE;

-- secrets: set, replace, drop; PUBLIC cannot call the functions
SELECT lakehouse.lh_set_secret('kf_pw', 'hunter3');
SELECT name, value LIKE 'lh1:%' AS encrypted, value NOT LIKE '%hunter%' AS no_plaintext FROM lakehouse.secrets;
SELECT lakehouse.lh_drop_secret('kf_pw'), lakehouse.lh_drop_secret('kf_pw');
SELECT lakehouse.lh_set_secret('', 'x');
SELECT lakehouse.lh_set_secret('kf_pw', NULL);
SELECT has_function_privilege('kf_user', 'lakehouse.lh_set_secret(text, text)', 'EXECUTE') AS can_set,
       has_table_privilege('public', 'lakehouse.secrets', 'SELECT') AS public_reads;

-- operating: enable/disable/restart/reset/dead letters
SELECT lakehouse.lh_disable_source('no_such_source');
SELECT lakehouse.lh_enable_source(NULL);
SELECT lakehouse.lh_reset_source('kf_clicks', 'earliest');
SELECT mark_key, mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'kf_clicks' ORDER BY 1;
SELECT lakehouse.lh_reset_source('kf_clicks', '1500', 2);
SELECT lakehouse.lh_reset_source('kf_clicks', '2026-11-22 10:00:00+00', 0);
SELECT mark_key, mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'kf_clicks' ORDER BY 1;
-- one reset of every partition replaces the per-partition ones
SELECT lakehouse.lh_reset_source('kf_clicks', 'latest');
SELECT mark_key, mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'kf_clicks' ORDER BY 1;
SELECT lakehouse.lh_reset_source('kf_clicks', 'whenever');
SELECT lakehouse.lh_reset_source('kf_clicks', NULL);
SELECT lakehouse.lh_reset_source('kf_clicks', 'earliest', 1);
SELECT lakehouse.lh_reset_source('kf_clicks', 'earliest', -1);
SELECT lakehouse.lh_reset_source('kf_clicks', 'infinity');
CREATE TABLE kf_src (id int, ts timestamptz);
SELECT lakehouse.lh_add_source('kf', 'kf_table', 'table', '{"table": "kf_src", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_reset_source('kf_table', 'earliest');
SELECT lakehouse.lh_restart_source('kf_table');
SELECT lakehouse.lh_replay_dead_letters('kf_table');
SELECT lakehouse.lh_replay_dead_letters('kf_clicks');
SELECT lakehouse.lh_discard_dead_letters('kf_table');
-- a dead letter replayed after its cause is fixed lands in bronze
INSERT INTO lakehouse.dead_letters (source_id, source_name, source_position, raw, reason, metadata)
SELECT source_id, name, '2:7', convert_to('{"big": "' || repeat('x', 100) || '"}', 'UTF8'),
       'message of 112 bytes exceeds lakehouse.max_message_bytes (64)',
       '{"topic": "clicks", "partition": 2, "offset": 7, "key": "k1", "timestamp": "2026-11-22 09:00:00+00",
         "headers": [{"key": "h", "value": "v"}]}'
  FROM lakehouse.sources WHERE name = 'kf_clicks';
SET lakehouse.max_message_bytes = 64;
SELECT lakehouse.lh_replay_dead_letters('kf_clicks');
SELECT reason FROM lakehouse.dead_letters WHERE source_name = 'kf_clicks';
RESET lakehouse.max_message_bytes;
SELECT lakehouse.lh_replay_dead_letters('kf_clicks', ARRAY[-1]::bigint[]);
SELECT lakehouse.lh_replay_dead_letters('kf_clicks');
SELECT _lh_position, _lh_topic, _lh_partition, _lh_offset, convert_from(_lh_key, 'UTF8') AS key,
       _lh_headers, _lh_timestamp, _lh_run_id, length(payload->>'big') AS big
  FROM bronze.kf_clicks;
SELECT count(*) AS dead_letters FROM lakehouse.dead_letters WHERE source_name = 'kf_clicks';
INSERT INTO lakehouse.dead_letters (source_id, source_name, source_position, raw, reason)
SELECT source_id, name, NULL, 'x', 'no metadata' FROM lakehouse.sources WHERE name = 'kf_clicks';
SELECT lakehouse.lh_replay_dead_letters('kf_clicks');
SELECT reason FROM lakehouse.dead_letters WHERE source_name = 'kf_clicks';
SELECT lakehouse.lh_discard_dead_letters('kf_clicks');

-- a new topic: the stored offsets of the old one are forgotten
BEGIN;
SELECT lakehouse.lh_add_source('kf', 'kf_topic', 'kafka', '{"brokers": "127.0.0.1:1", "topic": "a"}') > 0 AS ok;
SELECT lakehouse.lh_disable_source('kf_topic');
COMMIT;
INSERT INTO lakehouse.source_marks (source_id, mark_key, mark_value)
SELECT source_id, 'partition:0', '42' FROM lakehouse.sources WHERE name = 'kf_topic';
SELECT lakehouse.lh_add_source('kf', 'kf_topic', 'kafka', '{"brokers": "127.0.0.1:2", "topic": "a"}', replace => true) > 0 AS same_topic;
SELECT count(*) AS marks FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id) WHERE s.name = 'kf_topic';
SELECT lakehouse.lh_add_source('kf', 'kf_topic', 'kafka', '{"brokers": "127.0.0.1:2", "topic": "b"}', replace => true) > 0 AS new_topic;
SELECT count(*) AS marks FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id) WHERE s.name = 'kf_topic';

-- status: disabled sources have no worker
SELECT source, kind, enabled, "partition", worker_pid, worker_state, last_error
  FROM lakehouse.source_status WHERE pipeline = 'kf' ORDER BY source;

-- YAML declares Kafka sources with the same options
BEGIN;
SELECT lakehouse.lh_apply_config($$
pipeline: kf_yaml
sources:
  - name: kf_yaml_events
    kind: kafka
    options:
      brokers: 127.0.0.1:1
      topic: events
      partitions: [0, 1]
      start: latest
      batch_size: 100
      properties:
        client.id: kf-yaml
$$) IS NOT NULL AS applied;
SELECT lakehouse.lh_disable_source('kf_yaml_events');
COMMIT;
SELECT options FROM lakehouse.sources WHERE name = 'kf_yaml_events';
SELECT lakehouse.lh_apply_config($$
pipeline: kf_yaml2
sources:
  - name: kf_yaml_bad
    kind: kafka
    options:
      brokers: 127.0.0.1:1
      topic: events
      properties:
        compression.codec: zip
$$);

-- clean up: dropping the pipelines stops what might run
SELECT lakehouse.lh_drop_pipeline('kf_yaml', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('kf', drop_tables => true);
DROP TABLE kf_src;
DROP TABLE bronze.kf_plain;
REVOKE ALL ON ALL TABLES IN SCHEMA lakehouse FROM kf_user;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lakehouse FROM kf_user;
REVOKE ALL ON SCHEMA lakehouse FROM kf_user;
REVOKE ALL ON SCHEMA bronze FROM kf_user;
DROP OWNED BY kf_user;
DROP ROLE kf_user;

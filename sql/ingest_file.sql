--
-- ingest_file: the file source (CSV and JSON lines) landing in bronze
--
-- A failing stage raises a WARNING naming the run id, which is not stable
-- across test schedules: the summaries below show the errors instead.
SET client_min_messages = error;
CREATE EXTENSION IF NOT EXISTS lakehouse;

-- Test files are written by the server itself, byte for byte, through a
-- large object (lo_export runs as the server's user, like the ingest).
CREATE FUNCTION pg_temp.write_file(path text, content bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo oid;
BEGIN
    lo := lo_from_bytea(0, content);
    PERFORM lo_export(lo, path);
    PERFORM lo_unlink(lo);
END
$$;
CREATE FUNCTION pg_temp.write_text(path text, content text) RETURNS void
LANGUAGE sql AS $$ SELECT pg_temp.write_file(path, convert_to(content, 'UTF8')) $$;

-- run one source; show only the stable parts of the summary
CREATE FUNCTION pg_temp.ingest(source text) RETURNS TABLE (
    status text, rows_read bigint, rows_written bigint, rows_skipped bigint, error text)
LANGUAGE sql AS $$
    SELECT r->>'status', (s->>'rows_read')::bigint, (s->>'rows_written')::bigint,
           (s->>'rows_skipped')::bigint, r->>'error'
      FROM lakehouse.lh_ingest(source) AS r,
           jsonb_array_elements(r->'stages') AS s
$$;

-- run history outlives pipelines: look only at this test's runs
SELECT coalesce(max(run_id), 0) AS first_run FROM lakehouse.runs \gset

SELECT lakehouse.lh_create_pipeline('if_p') > 0 AS created;

--
-- options
--
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"format": "csv"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "data/x.csv", "format": "csv"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "/tmp/x.csv", "format": "csv", "delimeter": ";"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "/tmp/x.csv"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "/tmp/x.xml", "format": "xml"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "/tmp/x.csv", "format": "csv", "delimiter": ";;"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "/tmp/x.csv", "format": "csv", "quote": ","}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '{"path": "/tmp/x.jsonl", "format": "jsonl", "null": "NA"}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'file', '["path"]');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'kafka', '{}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'http', '{}');
SELECT lakehouse.lh_add_source('if_p', 'if_bad', 'ftp', '{}');
SELECT count(*) AS sources FROM lakehouse.sources WHERE name = 'if_bad';

-- reading server files is a privilege
CREATE ROLE regress_lh_ingest_file;
GRANT USAGE ON SCHEMA lakehouse TO regress_lh_ingest_file;
GRANT SELECT ON lakehouse.pipelines, lakehouse.sources TO regress_lh_ingest_file;
GRANT EXECUTE ON FUNCTION lakehouse.lh_add_source(text, text, text, jsonb, text, boolean),
    lakehouse.lh_create_pipeline(text, text, text[], boolean),
    lakehouse.lh_drop_pipeline(text, boolean) TO regress_lh_ingest_file;
SET ROLE regress_lh_ingest_file;
-- a pipeline of one's own: its options need the owner's rights
SELECT lakehouse.lh_create_pipeline('if_p_role') > 0 AS created;
SELECT lakehouse.lh_add_source('if_p_role', 'if_bad', 'file', '{"path": "/tmp/x.csv", "format": "csv"}');
SELECT lakehouse.lh_drop_pipeline('if_p_role');
RESET ROLE;
DROP OWNED BY regress_lh_ingest_file;
DROP ROLE regress_lh_ingest_file;

--
-- CSV: quoting, NULL versus empty string, CRLF, BOM, blank lines, a last
-- line without a line end, and malformed records (dead letters)
--
SELECT pg_temp.write_file('/tmp/lh_regress_orders.csv',
    '\xefbbbf'::bytea ||
    convert_to(E'id,name,note\r\n'
               '1,alice,"hello, world"\r\n'
               '2,bob,\r\n'
               '3,"carol ""the great""",""\r\n'
               '\r\n'
               '4,dave,"two\nlines"\n'
               '5,erin\n'
               '6,"frank"x,note\n'
               '7,' , 'UTF8') || '\xff'::bytea || convert_to(E',bad bytes\n'
               '8,gina,last line without a line end', 'UTF8'));
SELECT lakehouse.lh_add_source('if_p', 'if_orders', 'file',
       '{"path": "/tmp/lh_regress_orders.csv", "format": "csv"}') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_orders');
SELECT _lh_id, _lh_source, _lh_position, payload, _lh_run_id IS NOT NULL AS has_run
  FROM bronze.if_orders ORDER BY _lh_id;
SELECT source_name, source_position, reason, error_sqlstate, encode(raw, 'escape') AS raw
  FROM lakehouse.dead_letters WHERE source_name = 'if_orders' AND run_id > :first_run
 ORDER BY dead_letter_id;
SELECT mark_key, mark_value FROM lakehouse.source_marks m
  JOIN lakehouse.sources s USING (source_id) WHERE s.name = 'if_orders';
-- nothing new: nothing lands, the mark stays
SELECT * FROM pg_temp.ingest('if_orders');

-- the file grows: only the new records land, with their line numbers
SELECT pg_temp.write_file('/tmp/lh_regress_orders.csv',
    pg_read_binary_file('/tmp/lh_regress_orders.csv') ||
    convert_to(E'\n9,hank,appended\n10,ines,"quoted, again"\n', 'UTF8'));
SELECT * FROM pg_temp.ingest('if_orders');
SELECT _lh_id, _lh_position, payload FROM bronze.if_orders
 WHERE _lh_run_id = (SELECT max(_lh_run_id) FROM bronze.if_orders) ORDER BY _lh_id;
SELECT mark_key, mark_value FROM lakehouse.source_marks m
  JOIN lakehouse.sources s USING (source_id) WHERE s.name = 'if_orders';

-- a mark without a line number (set by hand): lines are counted again
UPDATE lakehouse.source_marks SET mark_value = split_part(mark_value, ':', 1)
 WHERE mark_key = '/tmp/lh_regress_orders.csv';
SELECT pg_temp.write_file('/tmp/lh_regress_orders.csv',
    pg_read_binary_file('/tmp/lh_regress_orders.csv') ||
    convert_to(E'11,jo,counted\n', 'UTF8'));
SELECT * FROM pg_temp.ingest('if_orders');
SELECT _lh_id, _lh_position, payload FROM bronze.if_orders
 WHERE _lh_run_id = (SELECT max(_lh_run_id) FROM bronze.if_orders) ORDER BY _lh_id;

-- a file shorter than its mark is read again from the start
SELECT pg_temp.write_text('/tmp/lh_regress_orders.csv', E'id,name\n12,kim\n');
SET client_min_messages = warning;
SELECT * FROM pg_temp.ingest('if_orders');
SET client_min_messages = error;
SELECT _lh_id, _lh_position, payload FROM bronze.if_orders
 WHERE _lh_run_id = (SELECT max(_lh_run_id) FROM bronze.if_orders) ORDER BY _lh_id;
SELECT mark_value FROM lakehouse.source_marks WHERE mark_key = '/tmp/lh_regress_orders.csv';

-- an invalid mark is an error, not a silent re-read
UPDATE lakehouse.source_marks SET mark_value = 'twelve'
 WHERE mark_key = '/tmp/lh_regress_orders.csv';
SELECT * FROM pg_temp.ingest('if_orders');

-- counts reconcile over all runs: read = landed + dead-lettered
SELECT sum(s.rows_read) AS read, sum(s.rows_written) AS written, sum(s.rows_skipped) AS skipped,
       (SELECT count(*) FROM bronze.if_orders) AS bronze_rows,
       (SELECT count(*) FROM lakehouse.dead_letters
         WHERE source_name = 'if_orders' AND run_id > :first_run) AS dead_letters
  FROM lakehouse.run_stages s
 WHERE s.run_id > :first_run AND s.target = 'bronze.if_orders';

--
-- CSV with another delimiter, quote and null string; small batches
--
SELECT pg_temp.write_text('/tmp/lh_regress_semi.csv',
    E'k;v;w\n'
     'a;NA;''x;y''\n'
     'b;;''''\n'
     'c;''NA'';''it''''s''\n'
     'd;1;2\n'
     'e;3;4\n');
SELECT lakehouse.lh_add_source('if_p', 'if_semi', 'file',
       '{"path": "/tmp/lh_regress_semi.csv", "format": "csv", "delimiter": ";", "quote": "''", "null": "NA"}') > 0 AS added;
SET lakehouse.batch_size = 2;
SELECT * FROM pg_temp.ingest('if_semi');
RESET lakehouse.batch_size;
SELECT _lh_id, _lh_position, payload FROM bronze.if_semi ORDER BY _lh_id;
-- the BRIN index is maintained by the bulk writer
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM bronze.if_semi WHERE _lh_id >= 4;
SELECT count(*) FROM bronze.if_semi WHERE _lh_id >= 4;
RESET enable_seqscan;

-- a header that names a column twice fails the stage
SELECT pg_temp.write_text('/tmp/lh_regress_dup.csv', E'a,b,a\n1,2,3\n');
SELECT lakehouse.lh_add_source('if_p', 'if_dup', 'file',
       '{"path": "/tmp/lh_regress_dup.csv", "format": "csv"}') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_dup');
SELECT count(*) FROM bronze.if_dup;

--
-- JSON lines
--
SELECT pg_temp.write_file('/tmp/lh_regress_events.jsonl',
    convert_to(E'{"id": 1, "kind": "click", "tags": ["a", "b"]}\n'
               '\n'
               '{"id": 2, "kind": "view", "nested": {"x": null}}\r\n'
               'not json at all\n'
               '[1, 2, 3]\n'
               '"just a string"\n'
               '42\n'
               '{"id": 3, "unterminated": \n'
               '   \n'
               '{"id": 4, "text": "caf\u00e9 \\u00e9"}\n', 'UTF8') ||
    '\x7b226964223a20352c202262223a2022ff227d0a'::bytea ||
    convert_to(repeat('[', 1001) || repeat(']', 1001) || E'\n'
               '{"id": 6, "last": true}', 'UTF8'));
SELECT lakehouse.lh_add_source('if_p', 'if_events', 'file',
       '{"path": "/tmp/lh_regress_events.jsonl", "format": "jsonl"}', 'bronze.if_events_raw') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_events');
SELECT _lh_position, payload FROM bronze.if_events_raw ORDER BY _lh_id;
SELECT source_position, reason, error_sqlstate, length(raw) AS raw_bytes
  FROM lakehouse.dead_letters WHERE source_name = 'if_events' AND run_id > :first_run
 ORDER BY dead_letter_id;
SELECT source, kind, bronze_table, marks, dead_letters FROM lakehouse.source_status
 WHERE source = 'if_events';

-- appending lines: only the new ones land
SELECT pg_temp.write_file('/tmp/lh_regress_events.jsonl',
    pg_read_binary_file('/tmp/lh_regress_events.jsonl') ||
    convert_to(E'\n{"id": 7}\n{"id": 8}\n', 'UTF8'));
SELECT * FROM pg_temp.ingest('if_events');
SELECT _lh_position, payload FROM bronze.if_events_raw WHERE (payload->>'id')::int >= 6 ORDER BY _lh_id;

--
-- several files through a pattern, in sorted order, one mark each
--
SELECT pg_temp.write_text('/tmp/lh_regress_glob_b.jsonl', E'{"f": "b", "n": 1}\n');
SELECT pg_temp.write_text('/tmp/lh_regress_glob_a.jsonl', E'{"f": "a", "n": 1}\n{"f": "a", "n": 2}\n');
SELECT lakehouse.lh_add_source('if_p', 'if_glob', 'file',
       '{"path": "/tmp/lh_regress_glob_*.jsonl", "format": "jsonl"}') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_glob');
SELECT _lh_id, _lh_position, payload FROM bronze.if_glob ORDER BY _lh_id;
SELECT mark_key, mark_value FROM lakehouse.source_marks m
  JOIN lakehouse.sources s USING (source_id) WHERE s.name = 'if_glob' ORDER BY mark_key;
SELECT pg_temp.write_text('/tmp/lh_regress_glob_b.jsonl', E'{"f": "b", "n": 1}\n{"f": "b", "n": 2}\n');
SELECT * FROM pg_temp.ingest('if_glob');
SELECT _lh_position, payload FROM bronze.if_glob WHERE _lh_id > 3 ORDER BY _lh_id;

-- a pattern that matches nothing is not an error; a missing file is
SELECT lakehouse.lh_add_source('if_p', 'if_none', 'file',
       '{"path": "/tmp/lh_regress_no_such_dir/*.csv", "format": "csv"}') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_none');
SELECT lakehouse.lh_add_source('if_p', 'if_missing', 'file',
       '{"path": "/tmp/lh_regress_no_such_file.csv", "format": "csv"}') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_missing');
SELECT status, error_sqlstate, error_message, split_part(error_context, E'\n', 1) AS context
  FROM lakehouse.run_stages WHERE target = 'bronze.if_missing' AND run_id > :first_run;
-- a directory is not a file
SELECT lakehouse.lh_add_source('if_p', 'if_dir', 'file',
       '{"path": "/tmp", "format": "jsonl"}') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_dir');

--
-- bronze tables: an existing table must have the bronze shape, and the
-- bulk writer refuses tables whose triggers it would skip
--
CREATE TABLE bronze.if_not_bronze (id int, payload text);
SELECT lakehouse.lh_add_source('if_p', 'if_shape', 'file',
       '{"path": "/tmp/lh_regress_events.jsonl", "format": "jsonl"}', 'bronze.if_not_bronze');
CREATE TABLE bronze.if_wrong_type (_lh_id bigint GENERATED ALWAYS AS IDENTITY, _lh_source text,
    _lh_run_id bigint, _lh_position text, _lh_ingested_at timestamptz, payload json);
SELECT lakehouse.lh_add_source('if_p', 'if_shape', 'file',
       '{"path": "/tmp/lh_regress_events.jsonl", "format": "jsonl"}', 'bronze.if_wrong_type');
-- a compatible table made by hand (bigserial, an extra column with a default) is fine
CREATE TABLE bronze.if_by_hand (_lh_id bigserial, _lh_source text NOT NULL, _lh_run_id bigint,
    _lh_position text, _lh_ingested_at timestamptz NOT NULL, payload jsonb NOT NULL,
    landed_by text NOT NULL DEFAULT 'lakehouse');
SELECT lakehouse.lh_add_source('if_p', 'if_by_hand', 'file',
       '{"path": "/tmp/lh_regress_glob_a.jsonl", "format": "jsonl"}', 'bronze.if_by_hand') > 0 AS added;
SELECT * FROM pg_temp.ingest('if_by_hand');
SELECT _lh_id, _lh_position, landed_by, payload FROM bronze.if_by_hand ORDER BY _lh_id;

CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
SELECT pg_temp.write_text('/tmp/lh_regress_trig.jsonl', E'{"a": 1}\n');
SELECT lakehouse.lh_add_source('if_p', 'if_trig', 'file',
       '{"path": "/tmp/lh_regress_trig.jsonl", "format": "jsonl"}') > 0 AS added;
CREATE TRIGGER if_trig_noop BEFORE INSERT ON bronze.if_trig FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SELECT * FROM pg_temp.ingest('if_trig');
SELECT count(*) AS marks FROM lakehouse.source_marks m
  JOIN lakehouse.sources s USING (source_id) WHERE s.name = 'if_trig';

--
-- clean up
--
SELECT lakehouse.lh_drop_pipeline('if_p', drop_tables => true);
DROP TABLE bronze.if_not_bronze, bronze.if_wrong_type;
SELECT count(*) AS leftover_marks FROM lakehouse.source_marks m
  LEFT JOIN lakehouse.sources s USING (source_id) WHERE s.source_id IS NULL;
DELETE FROM lakehouse.dead_letters WHERE source_name LIKE 'if\_%';

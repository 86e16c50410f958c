--
-- jsonfast: the one-pass JSON to jsonb converter of the sources
-- (src/common/jsonfast.c).  lh_json_fastpath_check says which path a record
-- takes and raises an ERROR whenever the fast path accepts a record that
-- jsonb_in rejects or makes other bytes than jsonb_in: every 'fast' below
-- is a byte-for-byte agreement, every 'full: ...' the reason the record
-- would be dead-lettered, unchanged from jsonb_in's.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;

CREATE TEMP TABLE corpus (id serial, doc text);
INSERT INTO corpus (doc) VALUES
    -- plain documents
    ('{}'), ('[]'), ('{"a": 1}'), ('[1, 2, 3]'), ('  {"a" : [ true , false , null ] }  '),
    (E'{\n\t"a":\r\n1}'),
    ('{"order_id": 17, "status": "PAID", "amount": 12.50, "sku": " SKU-000017", "tags": ["x", "y"], "ok": true, "note": null}'),
    -- top-level scalars (a raw scalar array in jsonb)
    ('1'), ('-1'), ('"text"'), ('true'), ('false'), ('null'), ('0.5'),
    -- numbers: zero, negative zero, scales, trailing zeros, 18 and 19 digits
    ('[0, -0, 0.0, -0.0, 0.000, 1.50, -1.50, 100, 100.00, 0.0001, 123456789.123456789]'),
    ('[999999999999999999, -999999999999999999, 99999999999999999.9, 0.00000000000000001]'),
    ('[0.000000000000000001]'),
    ('[1000000000000000000]'), ('[0.0000000000000000001]'), ('[12345678901234567890.5]'),
    ('[9223372036854775807, -9223372036854775808]'),
    ('[1e3]'), ('[1E-3]'), ('[-2.5e+10]'), ('[10000, 10000.0, 0.1, 0.01, 0.001, 0.00001]'),
    -- keys: order by length then bytes, duplicates (the last one wins)
    ('{"bb": 1, "a": 2, "ccc": 3, "b": 4, "aa": 5}'),
    ('{"a": 1, "a": 2}'), ('{"a": 1, "b": 2, "a": 3, "b": 4, "a": 5}'),
    ('{"k01": 1, "k02": 2, "k03": 3, "k04": 4, "k05": 5, "k06": 6, "k07": 7, "k08": 8, "k09": 9, "k10": 10, "k11": 11, "k12": 12, "k13": 13, "k14": 14, "k15": 15, "k16": 16, "k17": 17, "k03": 33, "k01": 11}'),
    ('{"z": {"y": {"x": [1, {"w": 2, "v": 3, "w": 4}]}}}'),
    ('{"": 1, "a": {"": [], "b": {}}}'),
    -- strings: escapes, \u escapes, surrogate pairs, raw UTF-8
    (E'{"s": "a\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti"}'),
    (E'["\\u00e9", "\\u20AC", "\\uD83D\\uDE00", "x\\u0041y", "\\u007f"]'),
    ('["é", "€", "😀", "日本語", "ÿ"]'),
    (E'{"\\u00e9": 1, "é": 2}'),
    -- nesting: 64 levels is the fast path's limit, deeper goes the full way
    (repeat('[', 64) || repeat(']', 64)),
    (repeat('[', 65) || repeat(']', 65)),
    (repeat('{"a":', 30) || '1' || repeat('}', 30)),
    -- invalid documents: the full path rejects them, with jsonb_in's words
    (''), ('   '), ('{'), ('}'), ('[1,]'), ('[,1]'), ('{"a" 1}'), ('{"a":}'), ('{a: 1}'),
    ('{"a": 1,}'), ('[1] [2]'), ('01'), ('[01]'), ('-'), ('[-]'), ('[1.]'), ('[.5]'),
    ('[+1]'), ('[1.5.5]'), ('[12ab]'), ('truex'), ('[tru]'), ('nul'), ('[NaN]'),
    ('[Infinity]'), ('"abc'), (E'"a\tb"'), (E'"\\x"'), (E'"\\u12"'), (E'"\\u12zz"'),
    (E'"\\u0000"'), (E'"\\uD83D"'), (E'"\\uDE00"'), (E'"\\uD83Dx"'), (E'"\\uD83D\\u0041"'),
    ('{"a": 1} x'), ('[1 2]'), ('{"a": 1 "b": 2}');

SELECT id, left(doc, 60) AS doc, lakehouse.lh_json_fastpath_check(convert_to(doc, 'UTF8'))
  FROM corpus ORDER BY id;

-- bytes that are not valid UTF-8, or hold a zero byte, and a byte-order mark
SELECT r AS record, lakehouse.lh_json_fastpath_check(r)
  FROM (VALUES ('\x7b2261223a2280227d'::bytea),   -- a lone continuation byte
               ('\x7b2261223a22c3227d'),          -- a truncated sequence
               ('\x7b2261223a22eda080227d'),      -- a UTF-8-encoded surrogate
               ('\x7b2261223a22f4908080227d'),    -- above U+10FFFF
               ('\x7b2261223a22c0af227d'),        -- an overlong '/'
               ('\x7b2261223a2200227d'),          -- a zero byte in a string
               ('\x7b2261223a317d00'),            -- a zero byte after the value
               ('\xefbbbf7b7d'),                  -- a byte-order mark
               ('\x7b2261223a22c3a9227d')) AS t(r); -- valid: {"a":"é"}

-- the fast path agrees with jsonb_in on many generated documents: nested
-- objects and arrays, keys of one to three letters (so many duplicates),
-- numbers of every scale, strings with escapes and non-ASCII characters
SELECT setseed(0.42);
CREATE TEMP TABLE gen AS
WITH
    leaf(i, v) AS (
        SELECT i, CASE (random() * 9)::int
                    WHEN 0 THEN (random() * 1e6)::bigint::text
                    WHEN 1 THEN round(((random() - 0.5) * 10 ^ (random() * 12)::int)::numeric,
                                      (random() * 8)::int)::text
                    WHEN 2 THEN to_json(substr(md5(random()::text), 1, (random() * 20)::int))::text
                    WHEN 3 THEN '"a\"b\\c\n\u00e9\uD83D\uDE00"'
                    WHEN 4 THEN '"é€ 😀"'
                    WHEN 5 THEN (ARRAY['true', 'false', 'null'])[1 + (random() * 2)::int]
                    WHEN 6 THEN '-0.' || lpad((random() * 1000)::int::text, 6, '0')
                    WHEN 7 THEN '[]'
                    ELSE '{}' END
          FROM generate_series(1, 60000) AS i),
    doc(n, d) AS (
        SELECT n, '{' || string_agg(format('%s: %s',
                         to_json(chr(97 + (random() * 2)::int) ||
                                 repeat(chr(97 + (random() * 3)::int), (random() * 2)::int)),
                         CASE WHEN random() < 0.2
                              THEN '[' || l.v || ', {"k": ' || l.v || ', "k": 1}]'
                              ELSE l.v END), ', ') || '}'
          FROM leaf l, LATERAL (SELECT l.i / 6 AS n) AS g
         GROUP BY n)
SELECT n, d FROM doc;
SELECT lakehouse.lh_json_fastpath_check(convert_to(d, 'UTF8')) AS path, count(*)
  FROM gen GROUP BY 1 ORDER BY 1;

-- and on the same documents with one byte changed at random: whatever the
-- fast path accepts, jsonb_in accepts with the same bytes (the check raises
-- an ERROR otherwise); most of these take the full path and its reasons
SELECT setseed(0.17);
SELECT split_part(lakehouse.lh_json_fastpath_check(
           overlay(convert_to(d, 'UTF8')
                   PLACING set_byte('\x00'::bytea, 0, (random() * 255)::int)
                   FROM 1 + (random() * (octet_length(d) - 1))::int FOR 1)), ':', 1) AS path,
       count(*)
  FROM gen, generate_series(1, 3)
 GROUP BY 1 ORDER BY 1;

-- the same through a source: a JSON-lines file lands every good line as
-- jsonb_in would, and the bad ones in dead letters with jsonb_in's reasons
CREATE FUNCTION pg_temp.write_text(path text, content text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo oid := lo_from_bytea(0, convert_to(content, 'UTF8'));
BEGIN
    PERFORM lo_export(lo, path);
    PERFORM lo_unlink(lo);
END
$$;
SELECT pg_temp.write_text('/tmp/lh_regress_jsonfast.jsonl',
    (SELECT string_agg(d, E'\n' ORDER BY n) FROM (SELECT n, d FROM gen ORDER BY n LIMIT 500) g) ||
    E'\n{"a": 01}\n{"a": "\\u0000"}\n{"a": 1e400000}\n');
SELECT lakehouse.lh_create_pipeline('jf') > 0 AS ok;
SELECT lakehouse.lh_add_source('jf', 'jf_file', 'file',
       '{"path": "/tmp/lh_regress_jsonfast.jsonl", "format": "jsonl"}', 'bronze.jf') > 0 AS ok;
SELECT s->>'rows_read' AS read, s->>'rows_written' AS written, s->>'rows_skipped' AS skipped
  FROM lakehouse.lh_ingest('jf_file') AS r, jsonb_array_elements(r->'stages') AS s;
SELECT (SELECT count(*) FROM (SELECT payload::text FROM bronze.jf
                              EXCEPT ALL
                              SELECT d::jsonb::text FROM (SELECT d FROM gen ORDER BY n LIMIT 500) g) x)
     + (SELECT count(*) FROM (SELECT d::jsonb::text FROM (SELECT d FROM gen ORDER BY n LIMIT 500) g
                              EXCEPT ALL
                              SELECT payload::text FROM bronze.jf) y) AS differing;
SELECT source_position, reason, error_sqlstate FROM lakehouse.dead_letters
 WHERE source_name = 'jf_file' ORDER BY dead_letter_id;
SELECT lakehouse.lh_drop_pipeline('jf', true);
DELETE FROM lakehouse.dead_letters WHERE source_name = 'jf_file';

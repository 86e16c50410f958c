-- bench/sql/scd2_setup.sql: data of the SCD2 benchmark (bench/scd2.sh).
--
-- A customer dimension of :rows rows (snapshot 1) and the next snapshot
-- (snapshot 2): 10% of the rows changed (city, credit and a newer
-- updated_at), 1% new keys, 0.5% deleted.  No randomness.  The history
-- table after loading snapshot 1 is built once (bench.scd2_template); each
-- repetition copies it into the side's target.
\set ON_ERROR_STOP 1
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA IF NOT EXISTS bench;

CREATE TABLE bench.scd2_snap1 AS
SELECT g::bigint AS id,
       'customer ' || g AS name,
       'c' || g || '@example.com' AS email,
       (ARRAY['Oslo', 'Rome', 'Lima', 'Pune', 'Kyiv', 'Doha'])[1 + g % 6] AS city,
       (ARRAY['smb', 'mid', 'ent'])[1 + g % 3] AS segment,
       (g % 1000)::numeric(12, 2) AS credit,
       timestamptz '2024-01-01 00:00:00+00' + (g % 86400) * interval '1 second' AS updated_at
  FROM generate_series(1, :rows) g;

CREATE TABLE bench.scd2_snap2 AS
SELECT id, name, email,
       CASE WHEN id % 10 = 0 THEN city || ' Nord' ELSE city END AS city,
       segment,
       CASE WHEN id % 10 = 0 THEN credit + 1 ELSE credit END AS credit,
       CASE WHEN id % 10 = 0 THEN updated_at + interval '40 days' ELSE updated_at END AS updated_at
  FROM bench.scd2_snap1
 WHERE id % 200 <> 5
UNION ALL
SELECT g, 'customer ' || g, 'c' || g || '@example.com', 'Oslo', 'smb', 1,
       timestamptz '2024-02-15 00:00:00+00' + (g % 3600) * interval '1 second'
  FROM generate_series(:rows + 1, :rows + :rows / 100) g;
ALTER TABLE bench.scd2_snap1 ADD PRIMARY KEY (id);
ALTER TABLE bench.scd2_snap2 ADD PRIMARY KEY (id);
VACUUM ANALYZE bench.scd2_snap1;
VACUUM ANALYZE bench.scd2_snap2;

-- the history after snapshot 1, made by lh_scd2_merge (first load)
SELECT lakehouse.lh_scd2_merge('bench.scd2_template', 'bench.scd2_snap1', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "invalidate",
         "as_of": "2024-03-01 00:00:00+00"}');
VACUUM ANALYZE bench.scd2_template;

-- reset a side's target: a copy of the template with the same index
CREATE FUNCTION bench.scd2_reset(target text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS bench.%I', target);
    EXECUTE format('CREATE TABLE bench.%I (LIKE bench.scd2_template INCLUDING ALL)', target);
    EXECUTE format('INSERT INTO bench.%I SELECT * FROM bench.scd2_template', target);
    EXECUTE format('DROP INDEX IF EXISTS bench.%I', target || '_id_idx');
    EXECUTE format('CREATE UNIQUE INDEX %I ON bench.%I (id) NULLS NOT DISTINCT WHERE is_current',
                   target || '_scd2_current', target);
    EXECUTE format('ANALYZE bench.%I', target);
END $$;

-- rows in a but not in b, plus rows in b but not in a (EXCEPT ALL)
CREATE OR REPLACE FUNCTION bench.scd2_diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT (SELECT count(*) FROM (TABLE bench.%I EXCEPT ALL TABLE bench.%I) x)
                         + (SELECT count(*) FROM (TABLE bench.%I EXCEPT ALL TABLE bench.%I) y)',
                   a, b, b, a) INTO n;
    RETURN n;
END $$;

CREATE TABLE IF NOT EXISTS bench.scd2_timings (
    side    text NOT NULL,
    rep     integer NOT NULL,
    warmup  boolean NOT NULL,
    seconds double precision NOT NULL,
    detail  text
);

--
-- site: where the database runs (lakehouse.site), and what a copy of it
-- does: its sources are paused with the reason, nothing is consumed until
-- lh_enable_source, unless lakehouse.after_restore = resume.  The copies
-- are faked by changing the recorded row; the promotion (a failover) needs
-- a standby and is tested in TAP.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET timezone = 'UTC';
\set VERBOSITY terse
-- sources earlier tests left enabled are enabled again at the end
CREATE TEMP TABLE site_was_enabled AS SELECT name FROM lakehouse.sources WHERE enabled;
-- this node's identifiers, host and data directory, masked in the output
CREATE FUNCTION pg_temp.masked(t text) RETURNS text LANGUAGE sql AS $$
  SELECT replace(replace(replace(t, h.node, '<this node>'),
                         h.system_identifier::text, '<this cluster>'),
                 'OID ' || h.database_oid::text, 'OID <this database>')
    FROM lakehouse.lh_site_here() h $$;

CREATE SCHEMA site_src;
CREATE TABLE site_src.items (id int, ts timestamptz);
INSERT INTO site_src.items
  SELECT g, '2024-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 3) g;
SELECT lakehouse.lh_create_pipeline('site_demo') > 0 AS created;
SELECT lakehouse.lh_add_source('site_demo', 'site_items', 'table',
  '{"table": "site_src.items", "watermark": "ts"}') > 0 AS created;

-- ---------------------------------------------------------------------
-- The site is recorded when a pipeline is declared: this node
-- ---------------------------------------------------------------------
SELECT count(*) AS rows,
       bool_and(s.system_identifier = h.system_identifier AND s.database_oid = h.database_oid
                AND s.database_name = h.database_name AND s.timeline = h.timeline
                AND s.node = h.node) AS this_node,
       bool_and(s.system_identifier = c.system_identifier) AS as_pg_control_shows,
       bool_and(s.node = split_part(s.node, ':', 1) || ':' || current_setting('data_directory')) AS host_and_data_directory
  FROM lakehouse.site s, lakehouse.lh_site_here() h, pg_control_system() c;
SELECT lakehouse.lh_site_check() IS NULL AS recorded_site;
-- readable like the other catalog tables, written by lakehouse alone
SELECT relname, relacl IS NOT NULL AS has_acl FROM pg_class WHERE oid = 'lakehouse.site'::regclass;
SELECT extcondition[array_position(extconfig, 'lakehouse.site'::regclass)] = '' AS config_dumped
  FROM pg_extension WHERE extname = 'lakehouse';

-- what a case shows: the reason, the demo source, the new site row
CREATE FUNCTION pg_temp.site_demo_status() RETURNS TABLE(source text, enabled boolean, disabled_reason text)
LANGUAGE sql AS $$
  SELECT source, enabled, pg_temp.masked(disabled_reason)
    FROM lakehouse.source_status WHERE pipeline = 'site_demo' $$;
CREATE FUNCTION pg_temp.site_row() RETURNS TABLE(rows bigint, this_node boolean, how text)
LANGUAGE sql AS $$
  SELECT count(*), bool_and(s.system_identifier = h.system_identifier AND s.database_oid = h.database_oid
                            AND s.timeline = h.timeline AND s.node = h.node),
         pg_temp.masked(string_agg(s.how, '; '))
    FROM lakehouse.site s, lakehouse.lh_site_here() h $$;

-- ---------------------------------------------------------------------
-- 1. another cluster (a dump restored elsewhere, pg_upgrade, a copy of
--    the files)
-- ---------------------------------------------------------------------
BEGIN;
UPDATE lakehouse.site SET system_identifier = 42;
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
SELECT * FROM pg_temp.site_demo_status();
SELECT * FROM pg_temp.site_row();
COMMIT;
-- adopted: the next check finds the recorded site
SELECT lakehouse.lh_site_check() IS NULL AS recorded_site;
SELECT lakehouse.lh_enable_source('site_items');
SELECT * FROM pg_temp.site_demo_status();

-- ---------------------------------------------------------------------
-- 2. another database (a dump restored into another database)
-- ---------------------------------------------------------------------
BEGIN;
UPDATE lakehouse.site SET database_oid = 1, database_name = 'production';
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
SELECT * FROM pg_temp.site_demo_status();
SELECT * FROM pg_temp.site_row();
COMMIT;
SELECT lakehouse.lh_enable_source('site_items');

-- ---------------------------------------------------------------------
-- 3. no site but sources (restored from a dump that put the sources
--    first)
-- ---------------------------------------------------------------------
BEGIN;
DELETE FROM lakehouse.site;
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
SELECT * FROM pg_temp.site_demo_status();
SELECT * FROM pg_temp.site_row();
COMMIT;
SELECT lakehouse.lh_enable_source('site_items');

-- ---------------------------------------------------------------------
-- 4. another timeline, without having been a standby (a point-in-time
--    recovery; the reason quotes pg_wal/<timeline>.history when there is
--    one), newer or older than the recorded one
-- ---------------------------------------------------------------------
BEGIN;
UPDATE lakehouse.site SET timeline = timeline - 1;
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
SELECT * FROM pg_temp.site_demo_status();
SELECT * FROM pg_temp.site_row();
COMMIT;
SELECT lakehouse.lh_enable_source('site_items');
BEGIN;
UPDATE lakehouse.site SET timeline = timeline + 4;
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
ROLLBACK;

-- ---------------------------------------------------------------------
-- 5. a copy of the data directory, another node (a basebackup clone started as a primary of its own, a
--    data directory moved)
-- ---------------------------------------------------------------------
BEGIN;
UPDATE lakehouse.site SET node = 'db-prod-1:/var/lib/postgresql/15/main';
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
SELECT * FROM pg_temp.site_demo_status();
SELECT * FROM pg_temp.site_row();
COMMIT;

-- a paused source is not ingested: not by a run, not explicitly
SELECT count(*) AS bronze_before FROM bronze.site_items;
SELECT lakehouse.lh_ingest('site_items');
INSERT INTO site_src.items VALUES (4, '2024-02-01');
SELECT r ->> 'status' AS status,
       (SELECT count(*) FROM jsonb_array_elements(r -> 'stages') st
         WHERE st ->> 'stage' = 'ingest') AS ingest_stages
  FROM lakehouse.lh_run_pipeline('site_demo') r;
SELECT count(*) AS bronze_after FROM bronze.site_items;
SELECT lakehouse.lh_enable_source('site_items');
SELECT * FROM pg_temp.site_demo_status();

-- a run on a copy pauses first, in its own transaction: nothing landed
BEGIN;
UPDATE lakehouse.site SET system_identifier = 42;
SELECT r ->> 'status' AS status,
       (SELECT count(*) FROM jsonb_array_elements(r -> 'stages') st
         WHERE st ->> 'stage' = 'ingest') AS ingest_stages
  FROM lakehouse.lh_run_pipeline('site_demo') r;
SELECT count(*) AS bronze_after FROM bronze.site_items;
SELECT * FROM pg_temp.site_demo_status();
COMMIT;
SELECT lakehouse.lh_enable_source('site_items');
SELECT (lakehouse.lh_run_pipeline('site_demo') -> 'stages' -> 0 ->> 'rows_read') AS rows_read;
SELECT count(*) AS bronze_enabled FROM bronze.site_items;

-- ---------------------------------------------------------------------
-- lakehouse.after_restore = resume: a copy keeps its sources running
-- ---------------------------------------------------------------------
ALTER SYSTEM SET lakehouse.after_restore = resume;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW lakehouse.after_restore;
BEGIN;
UPDATE lakehouse.site SET node = 'db-prod-1:/var/lib/postgresql/15/main';
SELECT pg_temp.masked(lakehouse.lh_site_check()) AS reason;
SELECT * FROM pg_temp.site_demo_status();
SELECT * FROM pg_temp.site_row();
COMMIT;
ALTER SYSTEM RESET lakehouse.after_restore;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW lakehouse.after_restore;
-- only paused and resume
SET lakehouse.after_restore = resume;
ALTER SYSTEM SET lakehouse.after_restore = later;

-- ---------------------------------------------------------------------
-- Clean up
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_drop_pipeline('site_demo');
DROP TABLE bronze.site_items;
DROP SCHEMA site_src CASCADE;
DO $$
DECLARE
    n text;
BEGIN
    FOR n IN SELECT w.name FROM site_was_enabled w
              JOIN lakehouse.sources s USING (name) WHERE NOT s.enabled LOOP
        PERFORM lakehouse.lh_enable_source(n);
    END LOOP;
END
$$;
SELECT count(*) AS still_paused FROM lakehouse.sources WHERE disabled_reason LIKE 'paused: this database is a copy%';

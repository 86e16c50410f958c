/*
 * src/sources/sources.sql
 *	  Sources: HTTP state, operating sources, status views, the JSON fast-path check.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

CREATE TABLE lakehouse.http_state (
    source_id        integer PRIMARY KEY REFERENCES lakehouse.sources ON DELETE CASCADE,
    last_request_at  timestamptz,
    last_url         text,
    last_http_status integer,
    last_run_pages   integer,
    last_run_records bigint,
    last_run_retries integer,
    last_error       text
);
COMMENT ON TABLE lakehouse.http_state IS 'HTTP sources: what the last ingest did (URLs without secrets).';
SELECT pg_catalog.pg_extension_config_dump('lakehouse.http_state', '');

/*
 * Operating sources (src/sources/kafka_api.c, src/worker/shmem.c).  Kafka
 * sources are streamed by background workers when lakehouse is in
 * shared_preload_libraries; these functions change the catalog in the
 * caller's transaction and wake the workers when it commits.
 */

CREATE FUNCTION lakehouse.lh_enable_source(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_enable_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_disable_source(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_disable_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_restart_source(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_restart_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * The offset each partition will start from (partition_no: the partition;
 * the IN parameter has the name "partition"), when the position could be
 * resolved with the brokers now; no rows when it is left to the worker.
 */
CREATE FUNCTION lakehouse.lh_reset_source(name text,
                                          "position" text DEFAULT 'earliest',
                                          "partition" integer DEFAULT NULL)
RETURNS TABLE(partition_no integer, next_offset bigint)
AS 'MODULE_PATHNAME', 'lh_reset_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_replay_dead_letters(source text,
                                                 ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_replay_dead_letters'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_discard_dead_letters(source text,
                                                  ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_discard_dead_letters'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * One row per source, and for Kafka sources one per partition: stored
 * offset, broker high watermark and lag (from the worker), last message
 * time and recent rate, the worker's pid, state and last error.
 */
CREATE VIEW lakehouse.source_status AS
WITH w AS (SELECT * FROM lakehouse.lh_worker_status()),
     ps AS (SELECT * FROM lakehouse.lh_partition_stats()),
     stored AS (
        SELECT m.source_id,
               substr(m.mark_key, 11)::integer AS "partition",
               m.mark_value::bigint AS stored_offset
          FROM lakehouse.source_marks m
          JOIN lakehouse.sources s USING (source_id)
         WHERE s.kind = 'kafka' AND m.mark_key ~ '^partition:[0-9]+$'
           AND m.mark_value ~ '^[0-9]+$'),
     parts AS (
        SELECT source_id, "partition" FROM stored
        UNION
        SELECT source_id, "partition" FROM ps)
SELECT s.name AS source,
       p.name AS pipeline,
       s.kind,
       format('%I.%I', s.bronze_schema, s.bronze_table) AS bronze_table,
       s.enabled,
       pt."partition",
       st.stored_offset,
       ps.high_watermark,
       greatest(ps.high_watermark - coalesce(st.stored_offset, 0), 0) AS lag,
       ps.last_message_at,
       round(ps.messages_per_sec::numeric, 1) AS messages_per_sec,
       (SELECT jsonb_object_agg(m.mark_key, m.mark_value) FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id) AS marks,
       (SELECT max(m.updated_at) FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id) AS last_landed_at,
       (SELECT count(*) FROM lakehouse.dead_letters d WHERE d.source_id = s.source_id) AS dead_letters,
       w.worker_pid,
       w.worker_state,
       w.last_error,
       s.disabled_reason,
       p.owner
  FROM lakehouse.sources s
  JOIN lakehouse.pipelines p USING (pipeline_id)
  LEFT JOIN parts pt ON pt.source_id = s.source_id
  LEFT JOIN stored st ON st.source_id = pt.source_id AND st."partition" = pt."partition"
  LEFT JOIN ps ON ps.source_id = pt.source_id AND ps."partition" = pt."partition"
  LEFT JOIN w ON w.source_id = s.source_id;

/* HTTP sources: the last ingest of each, and where the next one starts. */
CREATE VIEW lakehouse.http_status AS
SELECT s.name AS source,
       p.name AS pipeline,
       s.enabled,
       h.last_request_at,
       h.last_url,
       h.last_http_status,
       h.last_run_pages,
       h.last_run_records,
       h.last_run_retries,
       (SELECT m.mark_value FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id AND m.mark_key = 'watermark') AS watermark,
       (SELECT m.mark_value::jsonb FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id AND m.mark_key = 'resume') AS resume,
       h.last_error
  FROM lakehouse.sources s
  JOIN lakehouse.pipelines p USING (pipeline_id)
  LEFT JOIN lakehouse.http_state h USING (source_id)
 WHERE s.kind = 'http';

/*
 * How a record's bytes become a jsonb payload (src/common/jsonfast.c):
 * 'fast' when the one-pass converter made it and its bytes equal
 * jsonb_in's, 'full' when the converter declined and jsonb_in accepted,
 * 'full: <reason>' when the record would be dead-lettered.  An ERROR
 * (XX000) if the converter ever disagreed with jsonb_in.  A diagnostic
 * for a payload that lands slower than expected, and the regression
 * tests' oracle.
 */
CREATE FUNCTION lakehouse.lh_json_fastpath_check(record bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_json_fastpath_check'
LANGUAGE C STRICT VOLATILE;

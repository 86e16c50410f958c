/*
 * src/worker/worker.sql
 *	  What the background workers report (shared memory).
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/* What the workers report, for source_status (src/worker/shmem.c). */
CREATE FUNCTION lakehouse.lh_worker_status(OUT source_id integer,
                                           OUT worker_pid integer,
                                           OUT worker_state text,
                                           OUT last_error text,
                                           OUT last_error_at timestamptz,
                                           OUT started_at timestamptz,
                                           OUT failed_starts integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_worker_status'
LANGUAGE C VOLATILE;

CREATE FUNCTION lakehouse.lh_partition_stats(OUT source_id integer,
                                             OUT "partition" integer,
                                             OUT next_offset bigint,
                                             OUT high_watermark bigint,
                                             OUT last_message_at timestamptz,
                                             OUT messages_per_sec double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_partition_stats'
LANGUAGE C VOLATILE;

/*
 * Restore safety (src/worker/site.c): lh_site_check() compares
 * lakehouse.site with this node, as the database launcher does before it
 * starts workers, and returns why this database is a copy (its sources are
 * then paused, unless lakehouse.after_restore = resume), or NULL.
 * lh_site_here() is this node as lakehouse.site records it.
 */
CREATE FUNCTION lakehouse.lh_site_check()
RETURNS text
AS 'MODULE_PATHNAME', 'lh_site_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_site_check() IS 'Checks that this database runs where lakehouse.site says; returns why it is a copy (and pauses its sources, unless lakehouse.after_restore = resume), or NULL.';

CREATE FUNCTION lakehouse.lh_site_here(OUT system_identifier bigint,
                                       OUT database_oid oid,
                                       OUT database_name name,
                                       OUT timeline integer,
                                       OUT node text)
RETURNS record
AS 'MODULE_PATHNAME', 'lh_site_here'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_site_here() IS 'Where this database runs now (cluster, database, timeline, node), as lakehouse.site records it.';

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

/*
 * src/pipeline/pipeline.sql
 *	  Running and scheduling pipelines.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/* Running (src/pipeline/run.c, src/pipeline/schedule.c). */

CREATE FUNCTION lakehouse.lh_run_pipeline(name text,
                                          wait boolean DEFAULT false,
                                          upstream boolean DEFAULT true,
                                          full_refresh boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_run_pipeline'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_ingest(source text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_ingest'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_current_run_id()
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_current_run_id'
LANGUAGE C VOLATILE;

CREATE FUNCTION lakehouse.lh_schedule(pipeline text, schedule text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_schedule'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_unschedule(pipeline text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_unschedule'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* pg_cron jobs made again where pipeline_status.schedule_state says missing */
CREATE FUNCTION lakehouse.lh_schedule_repair()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'lh_schedule_repair'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_schedule_repair() IS 'Makes the pg_cron job of every scheduled pipeline whose job is missing (pipeline_status.schedule_state), as the caller, on the recorded schedule; returns the pipelines repaired.';

/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  lh_schedule and lh_unschedule: running pipelines on a schedule with
 *	  pg_cron.
 *
 * We do not schedule anything ourselves: pg_cron owns the clock.  A
 * pipeline's job is named "lakehouse: <pipeline>" and runs
 * SELECT lakehouse.lh_run_pipeline('<pipeline>') as the user who
 * scheduled it.  The job id and expression are remembered in
 * lakehouse.pipelines so that pipeline_status can show them and
 * lh_drop_pipeline can remove the job.  Everything happens in the caller's
 * transaction (cron.schedule writes a catalog row of pg_cron's), so a
 * failed call leaves no job behind.
 *
 * pg_cron must be installed in this database (CREATE EXTENSION pg_cron,
 * which only works in the database named by cron.database_name); otherwise
 * the functions fail with a hint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "lakehouse.h"

PG_FUNCTION_INFO_V1(lh_schedule);
PG_FUNCTION_INFO_V1(lh_unschedule);

static bool
pg_cron_installed(void)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_extension");
	return SPI_processed > 0;
}

static void
require_pg_cron(void)
{
	if (!pg_cron_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("scheduling pipelines requires the pg_cron extension"),
				 errdetail("pg_cron is not installed in this database."),
				 errhint("Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and run CREATE EXTENSION pg_cron.")));
}

/*
 * lh_schedule(pipeline, schedule) returns bigint (the pg_cron job id)
 */
Datum
lh_schedule(PG_FUNCTION_ARGS)
{
	char	   *pipeline;
	char	   *schedule;
	int32		pipeline_id;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	int64		jobid;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pipeline name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule must not be null"),
				 errhint("Use lakehouse.lh_unschedule() to remove a schedule.")));
	pipeline = text_to_cstring(PG_GETARG_TEXT_PP(0));
	schedule = text_to_cstring(PG_GETARG_TEXT_PP(1));

	SPI_connect();
	pipeline_id = catalog_pipeline_id(pipeline, false);
	require_pg_cron();

	values[0] = CStringGetTextDatum(psprintf("lakehouse: %s", pipeline));
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(psprintf("SELECT lakehouse.lh_run_pipeline(%s)",
											 quote_literal_cstr(pipeline)));
	if (SPI_execute_with_args("SELECT cron.schedule($1, $2, $3)",
							  3, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cron.schedule failed");
	jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));

	{
		Oid			utypes[3] = {INT4OID, TEXTOID, INT8OID};
		Datum		uvalues[3];

		uvalues[0] = Int32GetDatum(pipeline_id);
		uvalues[1] = CStringGetTextDatum(schedule);
		uvalues[2] = Int64GetDatum(jobid);
		if (SPI_execute_with_args("UPDATE lakehouse.pipelines"
								  " SET schedule = $2, cron_job_id = $3, updated_at = now()"
								  " WHERE pipeline_id = $1",
								  3, utypes, uvalues, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not record schedule");
	}
	SPI_finish();
	PG_RETURN_INT64(jobid);
}

/*
 * lh_unschedule(pipeline) returns boolean: false if it had no schedule.
 */
Datum
lh_unschedule(PG_FUNCTION_ARGS)
{
	char	   *pipeline;
	int32		pipeline_id;
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	Datum		jobid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pipeline name must not be null")));
	pipeline = text_to_cstring(PG_GETARG_TEXT_PP(0));

	SPI_connect();
	pipeline_id = catalog_pipeline_id(pipeline, false);
	values[0] = Int32GetDatum(pipeline_id);
	if (SPI_execute_with_args("SELECT cron_job_id FROM lakehouse.pipelines"
							  " WHERE pipeline_id = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pipeline");
	jobid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	require_pg_cron();
	{
		Oid			jtypes[1] = {INT8OID};
		Datum		jvalues[1] = {jobid};

		/* the job may have been removed with cron.unschedule already */
		if (SPI_execute_with_args("SELECT cron.unschedule(jobid) FROM cron.job"
								  " WHERE jobid = $1",
								  1, jtypes, jvalues, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "cron.unschedule failed");
	}
	if (SPI_execute_with_args("UPDATE lakehouse.pipelines"
							  " SET schedule = NULL, cron_job_id = NULL, updated_at = now()"
							  " WHERE pipeline_id = $1",
							  1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not record schedule");
	SPI_finish();
	PG_RETURN_BOOL(true);
}

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
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "declare/declare.h"
#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_schedule);
PG_FUNCTION_INFO_V1(lh_unschedule);

static bool
pg_cron_installed(void)
{
	return OidIsValid(get_extension_oid("pg_cron", true));
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
 * A schedule pg_cron would refuse, or silently misread, is an error that
 * names the field at fault, with the syntax in the hint (declare/cron.c).
 */
static void
check_schedule(const char *pipeline, const char *schedule)
{
	char	   *problem;

	if (!lh_cron_check(schedule, &problem))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid schedule for pipeline \"%s\": \"%s\"",
						pipeline, schedule),
				 errdetail("%c%s.", pg_toupper((unsigned char) problem[0]),
						   problem + 1),
				 errhint(LH_CRON_SYNTAX_HINT)));
}

/*
 * lh_schedule(pipeline, schedule) returns bigint (the pg_cron job id)
 */
Datum
lh_schedule(PG_FUNCTION_ARGS)
{
	char	   *pipeline;
	char	   *schedule;
	LhPipeline *p;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	int64		jobid;

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
	p = catalog_pipeline_by_name(pipeline, false);
	security_check_pipeline(p, LH_RIGHT_ALTER,
							psprintf("schedule pipeline \"%s\"", pipeline));
	check_schedule(pipeline, schedule);
	require_pg_cron();

	/*
	 * The job is pg_cron's, made as the caller (pg_cron runs it as its
	 * maker); what the run executes runs as the pipeline's owner whoever
	 * started it.
	 */
	values[0] = CStringGetTextDatum(psprintf("lakehouse: %s", pipeline));
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(psprintf("SELECT lakehouse.lh_run_pipeline(%s)",
											 quote_literal_cstr(pipeline)));
	(void) lh_spi_exec("SELECT cron.schedule($1, $2, $3)", 3, types, values, NULL,
					   SPI_OK_SELECT, "schedule the pipeline with pg_cron");
	jobid = catalog_int64(0, 1, 0);
	catalog_pipeline_set_schedule(p->pipeline_id, schedule, jobid);
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
	LhPipeline *p;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pipeline name must not be null")));
	pipeline = text_to_cstring(PG_GETARG_TEXT_PP(0));

	SPI_connect();
	p = catalog_pipeline_by_name(pipeline, false);
	security_check_pipeline(p, LH_RIGHT_ALTER,
							psprintf("unschedule pipeline \"%s\"", pipeline));
	if (p->cron_job_id == 0)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	require_pg_cron();
	{
		Oid			jtypes[1] = {INT8OID};
		Datum		jvalues[1] = {Int64GetDatum(p->cron_job_id)};

		/* the job may have been removed with cron.unschedule already */
		(void) lh_spi_exec("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobid = $1",
						   1, jtypes, jvalues, NULL, SPI_OK_SELECT,
						   "remove the pipeline's pg_cron job");
	}
	catalog_pipeline_set_schedule(p->pipeline_id, NULL, 0);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

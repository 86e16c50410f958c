/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  lh_schedule, lh_unschedule and lh_schedule_repair: running pipelines
 *	  on a schedule with pg_cron; lh_schedule_state: whether each
 *	  pipeline's pg_cron job is in place (pipeline_status.schedule_state).
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
 * which only works in the database named by cron.database_name) to
 * schedule; otherwise lh_schedule fails with a hint.
 *
 * The recorded job can go missing behind our back: cron.unschedule, a
 * restore from a dump (the pipelines row comes back, the job does not, or
 * comes back as a cron.job row naming the dumped database), a restore into
 * a database whose pg_cron reused the job id for another job, a renamed
 * database.  A job is this pipeline's when its name and command are the
 * ones lh_schedule makes; schedule_jobs classifies each scheduled
 * pipeline's recorded job (schedule_state), and lh_schedule and
 * lh_schedule_repair make a new job where it is missing.  They remove the
 * recorded job first only when it is this pipeline's job but of another
 * database or another user (cron.schedule would otherwise update or keep
 * it); a job that is not this pipeline's is never touched.
 *
 * cron.job is read with catalog_exec, as the catalog owner: its row
 * security shows each user only its own jobs, and pipeline_status must
 * tell "deleted" from "made by somebody else".  This is the one statement
 * of catalog_exec that reads a table other than ours or PostgreSQL's
 * catalogs.  It only does so when the relation cron.job is a member of
 * the extension pg_cron (a table pg_cron's installer, a superuser, owns;
 * no user code runs in a SELECT of it), never a "cron.job" that a user
 * created in a schema of that name, and it never names cron.* in a view:
 * without pg_cron, pipeline_status works and says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "catalog/catalog.h"
#include "declare/declare.h"
#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_schedule);
PG_FUNCTION_INFO_V1(lh_unschedule);
PG_FUNCTION_INFO_V1(lh_schedule_repair);
PG_FUNCTION_INFO_V1(lh_schedule_state);

/* A scheduled pipeline and the state of its recorded pg_cron job. */
typedef struct ScheduleJob
{
	int32		pipeline_id;
	char	   *pipeline;
	char	   *schedule;
	char	   *state;			/* scheduled | missing: .. | inactive: .. |
								 * differs: .. */
	int64		stale_jobid;	/* this pipeline's job, of another database
								 * or user: 0 if none */
} ScheduleJob;

/*
 * pg_cron is installed in this database, and cron.job is its table (not
 * a relation of that name somebody else made).
 */
static bool
pg_cron_installed(void)
{
	Oid			ext = get_extension_oid("pg_cron", true);
	Oid			nsp;
	Oid			relid;

	if (!OidIsValid(ext))
		return false;
	nsp = get_namespace_oid("cron", true);
	relid = OidIsValid(nsp) ? get_relname_relid("job", nsp) : InvalidOid;
	return OidIsValid(relid) &&
		getExtensionOfObject(RelationRelationId, relid) == ext;
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

/* the job's name and command, as lh_schedule makes them */
#define JOB_NAME_SQL "'lakehouse: ' || p.name"
#define JOB_COMMAND_SQL "format('SELECT lakehouse.lh_run_pipeline(%L)', p.name)"
#define JOB_IS_OURS "(j.jobname = " JOB_NAME_SQL " AND j.command = " JOB_COMMAND_SQL ")"

/*
 * schedule_jobs
 *		The scheduled pipelines (one, or all when pipeline_id is 0), by
 *		name, with the state of their recorded pg_cron job.  A job of this
 *		database made by another user than the caller is fine for the
 *		state, but stale for lh_schedule, which is about to make the
 *		caller's.
 */
static List *
schedule_jobs(int32 pipeline_id)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	List	   *jobs = NIL;

	values[0] = Int32GetDatum(pipeline_id);
	nulls[0] = pipeline_id == 0 ? 'n' : ' ';
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	if (pg_cron_installed())
		catalog_exec("SELECT p.pipeline_id, p.name, p.schedule,"
					 " CASE WHEN j.jobid IS NULL AND p.cron_job_id IS NULL"
					 "      THEN 'missing: no pg_cron job is recorded'"
					 "      WHEN j.jobid IS NULL"
					 "      THEN format('missing: pg_cron job %s does not exist', p.cron_job_id)"
					 "      WHEN NOT " JOB_IS_OURS
					 "      THEN format('missing: pg_cron job %s is not this pipeline''s job', j.jobid)"
					 "      WHEN j.database <> current_database()"
					 "      THEN format('missing: pg_cron job %s runs in database %s', j.jobid,"
					 "                  quote_ident(j.database))"
					 "      WHEN NOT j.active"
					 "      THEN format('inactive: pg_cron job %s is not active', j.jobid)"
					 "      WHEN j.schedule <> p.schedule"
					 "      THEN format('differs: pg_cron job %s runs on \"%s\"', j.jobid, j.schedule)"
					 "      ELSE 'scheduled' END,"
					 " CASE WHEN " JOB_IS_OURS " AND (j.database <> current_database()"
					 "           OR j.username <> $2) THEN j.jobid END"
					 " FROM lakehouse.pipelines p"
					 " LEFT JOIN cron.job j ON j.jobid = p.cron_job_id"
					 " WHERE p.schedule IS NOT NULL AND ($1 IS NULL OR p.pipeline_id = $1)"
					 " ORDER BY p.name COLLATE \"C\"",
					 2, types, values, nulls, SPI_OK_SELECT);
	else
		catalog_exec("SELECT pipeline_id, name, schedule,"
					 " 'missing: pg_cron is not installed in this database', NULL::bigint"
					 " FROM lakehouse.pipelines"
					 " WHERE schedule IS NOT NULL AND ($1 IS NULL OR pipeline_id = $1)"
					 " ORDER BY name COLLATE \"C\"",
					 1, types, values, nulls, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ScheduleJob *job = palloc(sizeof(ScheduleJob));

		job->pipeline_id = catalog_int32(i, 1, 0);
		job->pipeline = catalog_text(i, 2);
		job->schedule = catalog_text(i, 3);
		job->state = catalog_text(i, 4);
		job->stale_jobid = catalog_int64(i, 5, 0);
		jobs = lappend(jobs, job);
	}
	return jobs;
}

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
 * schedule_create
 *		Make the caller's pg_cron job for pipeline p on schedule, and record
 *		it; returns the job id.  The caller checked the pipeline, the
 *		caller's rights and the schedule, and that pg_cron is installed.
 *
 * cron.schedule with a job name updates the caller's job of that name if
 * there is one (whatever its database) and makes a new one otherwise.  So
 * the recorded job goes first when it is this pipeline's but of another
 * database (it would stay there) or user (it would stay besides the new
 * one), and a job of that name and user in another database that is not
 * the recorded one is an error: it is not ours to move.
 */
static int64
schedule_create(LhPipeline *p, const char *schedule)
{
	List	   *jobs = schedule_jobs(p->pipeline_id);
	int64		stale = jobs ? ((ScheduleJob *) linitial(jobs))->stale_jobid : 0;
	char	   *jobname = psprintf("lakehouse: %s", p->name);
	Oid			types[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	int64		jobid;

	values[0] = CStringGetTextDatum(jobname);
	values[1] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	values[2] = Int64GetDatum(stale);
	catalog_exec("SELECT jobid, database FROM cron.job"
				 " WHERE jobname = $1 AND username = $2"
				 " AND database <> current_database() AND jobid <> $3"
				 " ORDER BY jobid LIMIT 1",
				 3, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot schedule pipeline \"%s\": pg_cron job %s \"%s\" of role \"%s\" runs in database \"%s\"",
						p->name, catalog_text(0, 1), jobname,
						GetUserNameFromId(GetUserId(), false), catalog_text(0, 2)),
				 errdetail("pg_cron names jobs per role, and this job is not the one recorded for the pipeline."),
				 errhint("Remove it with SELECT cron.unschedule(%s) if nothing needs it, then schedule the pipeline again.",
						 catalog_text(0, 1))));

	if (stale != 0)
	{
		Oid			jtypes[1] = {INT8OID};
		Datum		jvalues[1] = {Int64GetDatum(stale)};

		/* as the caller: pg_cron lets a job's maker (or a superuser) remove it */
		(void) lh_spi_exec("SELECT cron.unschedule($1)", 1, jtypes, jvalues, NULL,
						   SPI_OK_SELECT, "remove the pipeline's pg_cron job of another database or role");
	}

	/*
	 * The job is pg_cron's, made as the caller (pg_cron runs it as its
	 * maker); what the run executes runs as the pipeline's owner whoever
	 * started it.
	 */
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(psprintf("SELECT lakehouse.lh_run_pipeline(%s)",
											 quote_literal_cstr(p->name)));
	types[2] = TEXTOID;
	(void) lh_spi_exec("SELECT cron.schedule($1, $2, $3)", 3, types, values, NULL,
					   SPI_OK_SELECT, "schedule the pipeline with pg_cron");
	jobid = catalog_int64(0, 1, 0);
	catalog_pipeline_set_schedule(p->pipeline_id, schedule, jobid);
	return jobid;
}

/*
 * lh_schedule(pipeline, schedule) returns bigint (the pg_cron job id)
 *
 * Also repairs: the same schedule again makes the job anew when it is
 * missing (see schedule_create).
 */
Datum
lh_schedule(PG_FUNCTION_ARGS)
{
	char	   *pipeline;
	char	   *schedule;
	LhPipeline *p;
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
	jobid = schedule_create(p, schedule);
	SPI_finish();
	PG_RETURN_INT64(jobid);
}

/*
 * lh_unschedule(pipeline) returns boolean: false if it had no schedule.
 *
 * Removes the recorded pg_cron job if it is this pipeline's (whatever its
 * database: a stale copy is removed too), never another job that reuses
 * its id.  Without pg_cron in this database there is no job to remove:
 * only the record goes (so a pipeline restored without pg_cron can be
 * unscheduled and dropped).
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
	if (p->cron_job_id == 0 && p->schedule == NULL)
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	if (p->cron_job_id != 0 && pg_cron_installed())
	{
		Oid			jtypes[1] = {INT4OID};
		Datum		jvalues[1] = {Int32GetDatum(p->pipeline_id)};
		int64		jobid;

		catalog_exec("SELECT j.jobid FROM lakehouse.pipelines p"
					 " JOIN cron.job j ON j.jobid = p.cron_job_id"
					 " WHERE p.pipeline_id = $1 AND " JOB_IS_OURS,
					 1, jtypes, jvalues, NULL, SPI_OK_SELECT);
		jobid = SPI_processed > 0 ? catalog_int64(0, 1, 0) : 0;
		if (jobid != 0)
		{
			jtypes[0] = INT8OID;
			jvalues[0] = Int64GetDatum(jobid);
			/* as the caller: pg_cron lets a job's maker remove it */
			(void) lh_spi_exec("SELECT cron.unschedule($1)", 1, jtypes, jvalues, NULL,
							   SPI_OK_SELECT, "remove the pipeline's pg_cron job");
		}
	}
	catalog_pipeline_set_schedule(p->pipeline_id, NULL, 0);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

/*
 * lh_schedule_repair() returns setof text: the pipelines whose missing
 * pg_cron job it made again (as the caller, on the recorded schedule).
 * Needs the right to alter each of them; jobs that are inactive or run on
 * another schedule are someone's choice and left alone.
 */
Datum
lh_schedule_repair(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	List	   *jobs;
	List	   *repaired = NIL;
	ListCell   *lc;

	SPI_connect();
	jobs = schedule_jobs(0);
	foreach(lc, jobs)
	{
		ScheduleJob *job = lfirst(lc);
		LhPipeline *p;

		if (strncmp(job->state, "missing:", 8) != 0)
			continue;
		require_pg_cron();
		p = catalog_pipeline(job->pipeline_id);
		security_check_pipeline(p, LH_RIGHT_ALTER,
								psprintf("schedule pipeline \"%s\"", p->name));
		(void) schedule_create(p, job->schedule);
		repaired = lappend(repaired, job->pipeline);
	}

	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
		foreach(lc, repaired)
		{
			Datum		value = CStringGetTextDatum(lfirst(lc));
			bool		isnull = false;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * lh_schedule_state() returns (pipeline_id, schedule_state) of every
 * scheduled pipeline: what pipeline_status.schedule_state shows.
 */
Datum
lh_schedule_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	List	   *jobs;
	ListCell   *lc;

	SPI_connect();
	jobs = schedule_jobs(0);
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		InitMaterializedSRF(fcinfo, 0);
		foreach(lc, jobs)
		{
			ScheduleJob *job = lfirst(lc);
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = Int32GetDatum(job->pipeline_id);
			values[1] = CStringGetTextDatum(job->state);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return (Datum) 0;
}

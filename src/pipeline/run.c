/*-------------------------------------------------------------------------
 *
 * run.c
 *	  lh_run_pipeline and lh_ingest: running the stages of a pipeline in
 *	  order and keeping the run ledger.
 *
 * A run is:
 *	1. a transaction-scoped advisory lock on (LH_LOCK_CLASS, pipeline_id),
 *	   so two runs of one pipeline never overlap: the second caller skips
 *	   with a NOTICE, or waits when asked;
 *	2. a row in lakehouse.runs, inserted first;
 *	3. the stages: ingest every source, then every silver table, then every
 *	   gold table, each in its own subtransaction.  A stage that fails is
 *	   rolled back alone; the stages after it are recorded as "not run",
 *	   while the earlier ones and the ledger stay and commit with the
 *	   caller's transaction.  A failing run therefore does not raise an
 *	   error: it returns its summary with status "failed" and emits a
 *	   WARNING.  Query cancel and shutdown are re-thrown: they abort the
 *	   caller's transaction, ledger row included, so the runs of the call
 *	   are handed to src/worker/progress.c, whose database launcher writes
 *	   their rows again afterwards with status "cancelled";
 *	4. one lakehouse.run_stages row per stage, and the run row updated
 *	   with totals, status and the error (SQLSTATE, message);
 *	5. OpenLineage START and COMPLETE/FAIL events of the run and of each
 *	   stage (src/observe/lineage.c), written to lakehouse.event_outbox in
 *	   the same transaction: no network call ever happens inside the user's
 *	   transaction, the lineage worker sends committed events later.
 *
 * While a stage runs, an error context callback names the pipeline, stage
 * and run in every message logged (log correlation), and the run's slot in
 * shared memory (lakehouse.run_progress) names the stage.
 *
 * lh_current_run points at the running run while stages execute so that
 * every stage (and lakehouse.lh_current_run_id() in user SQL) can see the
 * run id.  The checks around each stage (contracts, quality, lineage) are
 * called in the order of checks.c: after a stage's write inside its
 * subtransaction (a check that raises fails the stage), and after the
 * stage is recorded.
 *
 * SPI is connected once for the whole call; stages use that connection
 * from inside their subtransactions (SPI cleans up after an aborted one).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "sources/sources.h"
#include "observe/observe.h"
#include "pipeline/pipeline.h"
#include "security/security.h"
#include "transform/changes.h"
#include "transform/transform.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_run_pipeline);
PG_FUNCTION_INFO_V1(lh_ingest);
PG_FUNCTION_INFO_V1(lh_current_run_id);

typedef enum StageKind
{
	STAGE_INGEST,
	STAGE_SILVER,
	STAGE_GOLD
} StageKind;

static const char *const stage_names[] = {"ingest", "silver", "gold"};

typedef struct Stage
{
	StageKind	kind;
	LhSource   *source;			/* ingest */
	LhTable    *table;			/* silver, gold */
	char	   *target;
	const char *status;
	LhStageCounts counts;
	TimestampTz started;
	TimestampTz finished;
	ErrorData  *error;
} Stage;

typedef struct RunResult
{
	int64		run_id;
	const char *status;
	char	   *json;			/* summary as JSON text */
} RunResult;

/*
 * Error context of a running stage: every message logged while it runs
 * names the pipeline, stage and run (log correlation, jsonlog).
 */
typedef struct StageContext
{
	const char *pipeline;
	const char *stage;
	const char *target;
	int64		run_id;
} StageContext;

static void
stage_error_context(void *arg)
{
	StageContext *sc = (StageContext *) arg;

	errcontext("pipeline \"%s\", stage %s %s, run " INT64_FORMAT,
			   sc->pipeline, sc->stage, sc->target, sc->run_id);
}

/*
 * Take the pipeline's run lock (to the end of the transaction); false if
 * busy and not waiting.  Also taken by writes that must not overlap a run
 * (a quarantine replay).
 */
bool
lock_pipeline(int32 pipeline_id, bool wait)
{
	if (wait)
	{
		DirectFunctionCall2(pg_advisory_xact_lock_int4,
							Int32GetDatum(LH_LOCK_CLASS), Int32GetDatum(pipeline_id));
		return true;
	}
	return DatumGetBool(DirectFunctionCall2(pg_try_advisory_xact_lock_int4,
											Int32GetDatum(LH_LOCK_CLASS),
											Int32GetDatum(pipeline_id)));
}

static void
record_stage(int64 run_id, int stage_no, Stage *st)
{
	catalog_stage_insert(run_id, stage_no, stage_names[st->kind], st->target,
						 st->status, st->started, st->finished,
						 st->counts.rows_read, st->counts.rows_written,
						 st->counts.rows_quarantined, st->counts.rows_skipped,
						 st->error, st->counts.refresh, st->counts.refresh_reason);
}

/* A stage and its run, for execute_stage_work. */
typedef struct StageWork
{
	Stage	   *st;
	LhRunState *run;
} StageWork;

/*
 * The work of one stage, inside its subtransaction, as the pipeline's
 * owner (src/security/identity.c): everything a stage runs, the checks
 * after it included, may be code that owner controls.  The
 * subtransaction's abort restores the caller's identity on error.
 */
static void
execute_stage_work(void *arg)
{
	Stage	   *st = ((StageWork *) arg)->st;
	LhRunState *run = ((StageWork *) arg)->run;
	bool		ran = true;
	int32		table_id = 0;
	LhIdentity	id;

	lh_owner_begin(run->owner, &id);
	switch (st->kind)
	{
		case STAGE_INGEST:
			source_ingest(st->source, run->run_id, &st->counts);
			break;
		case STAGE_SILVER:
			/* capture first (a table of 0.1, or capture dropped by hand) */
			changes_capture_table(st->table->table_id, lh_stage_table_oid(st->table));
			silver_run_stage(st->table, &st->counts);
			table_id = st->table->table_id;
			/* what no reader needs any more (all of it, if none reads) */
			changes_prune(table_id);
			break;
		case STAGE_GOLD:
			ran = gold_run_stage(st->table, &st->counts);
			table_id = st->table->table_id;
			break;
	}
	if (st->counts.rows_written > 0)
	{
		run->data_changed = true;
		if (table_id != 0)
			catalog_set_stage_mark(table_id, "changed_run",
								   psprintf(INT64_FORMAT, run->run_id));
	}
	if (ran)
		stage_checks_after_write(stage_names[st->kind], st->target, table_id,
								 &st->counts);
	lh_owner_end(&id);
	st->status = ran ? "succeeded" : "skipped";
	if (st->counts.partial_error)
	{
		st->status = "failed";
		st->error = st->counts.partial_error;
	}
}

/*
 * Execute one stage in a subtransaction; fills st->status, counts, error.
 * A cancel or shutdown is never recorded as a stage failure: it is thrown
 * on (lh_try_subxact).
 */
static void
execute_stage(Stage *st, LhRunState *run)
{
	StageWork	work = {st, run};
	ErrorData  *edata;

	st->started = GetCurrentTimestamp();
	memset(&st->counts, 0, sizeof(LhStageCounts));
	edata = lh_try_subxact(execute_stage_work, &work);
	if (edata)
	{
		st->status = "failed";
		st->error = edata;
		memset(&st->counts, 0, sizeof(LhStageCounts));
	}
	st->finished = GetCurrentTimestamp();
}

static void
json_key_str(StringInfo buf, const char *key, const char *val)
{
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	if (val)
		escape_json(buf, val);
	else
		appendStringInfoString(buf, "null");
}

static List *
build_stages(int32 pipeline_id, LhSource *only_source)
{
	List	   *stages = NIL;
	List	   *items;
	ListCell   *lc;

	items = only_source ? list_make1(only_source) : catalog_pipeline_sources(pipeline_id, true);
	foreach(lc, items)
	{
		Stage	   *st = palloc0(sizeof(Stage));

		st->kind = STAGE_INGEST;
		st->source = lfirst(lc);
		st->target = lh_qualified_name(st->source->bronze_schema,
									   st->source->bronze_table);
		stages = lappend(stages, st);
	}
	if (only_source)
		return stages;
	for (int k = STAGE_SILVER; k <= STAGE_GOLD; k++)
	{
		items = catalog_pipeline_tables(pipeline_id, k == STAGE_SILVER ? "silver" : "gold");
		foreach(lc, items)
		{
			Stage	   *st = palloc0(sizeof(Stage));

			st->kind = k;
			st->table = lfirst(lc);
			st->target = lh_qualified_name(st->table->schema_name,
										   st->table->table_name);
			stages = lappend(stages, st);
		}
	}
	return stages;
}

/*
 * Execute the stages in order, recording each; after a failure (or when
 * skip_all) the rest are recorded as not run.  Returns the failed stage.
 */
static Stage *
run_stages(List *stages, LhRunState *run, bool skip_all, LhStageCounts *total)
{
	Stage	   *failed = NULL;
	ListCell   *lc;

	foreach(lc, stages)
	{
		Stage	   *st = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (failed || skip_all)
		{
			st->status = "not run";
			st->started = st->finished = GetCurrentTimestamp();
		}
		else
		{
			StageContext sc;
			ErrorContextCallback errcb;

			sc.pipeline = run->pipeline_name;
			sc.stage = stage_names[st->kind];
			sc.target = st->target;
			sc.run_id = run->run_id;
			errcb.callback = stage_error_context;
			errcb.arg = &sc;
			errcb.previous = error_context_stack;
			error_context_stack = &errcb;
			lh_progress_stage(sc.stage, st->target, foreach_current_index(lc) + 1,
							  list_length(stages));
			execute_stage(st, run);
			error_context_stack = errcb.previous;
			if (st->error)
				failed = st;
		}
		record_stage(run->run_id, foreach_current_index(lc) + 1, st);
		/* (without an owner every stage failed, recorded: nothing to check) */
		if (strcmp(st->status, "not run") != 0 && OidIsValid(run->owner))
		{
			LhIdentity	id;

			/* its checks read the owner's tables and analyse the owner's SQL */
			lh_owner_begin(run->owner, &id);
			stage_checks_done(run->run_id, foreach_current_index(lc) + 1,
							  stage_names[st->kind], st->target,
							  st->table ? st->table->table_id : 0,
							  st->status, st->error);
			lh_owner_end(&id);
		}
		total->rows_read += st->counts.rows_read;
		total->rows_written += st->counts.rows_written;
		total->rows_quarantined += st->counts.rows_quarantined;
	}
	lh_progress_stage("finishing", NULL, 0, list_length(stages));
	return failed;
}

/* run_stages with lh_current_run pointing at run meanwhile. */
static Stage *
run_stages_as(LhRunState *run, List *stages, bool skip_all, LhStageCounts *total)
{
	LhRunState *prev = lh_current_run;
	Stage	   *failed = NULL;

	lh_current_run = run;
	PG_TRY();
	{
		failed = run_stages(stages, run, skip_all, total);
	}
	PG_FINALLY();
	{
		lh_current_run = prev;
	}
	PG_END_TRY();
	return failed;
}

/* Why a run failed, as the ledger, the summary and the messages say it. */
typedef struct RunFailure
{
	char	   *stage;			/* "<stage> <target>" or "upstream <name>" */
	char	   *message;
	char	   *detail;
	char	   *sqlstate;
} RunFailure;

/*
 * A run that does not happen because another run of the pipeline holds
 * the lock: recorded as skipped, with a NOTICE.
 */
static RunResult
skip_run(int32 pipeline_id, const char *name, bool full_refresh)
{
	RunResult	result = {0};
	StringInfoData json;

	initStringInfo(&json);
	ereport(NOTICE,
			(errmsg("pipeline \"%s\" is already running, skipping this run", name),
			 errhint("Pass wait => true to wait for the running one to finish.")));
	result.run_id = catalog_run_insert(pipeline_id, name, "skipped", full_refresh);
	result.status = "skipped";
	catalog_run_finish(result.run_id, "skipped", 0, 0, 0, NULL, NULL, NULL, NULL);
	appendStringInfo(&json, "{\"run_id\":" INT64_FORMAT ",", result.run_id);
	json_key_str(&json, "pipeline", name);
	appendStringInfoString(&json, ",\"status\":\"skipped\"}");
	result.json = json.data;
	return result;
}

/*
 * Fill *f from the failed stage, or else from the upstream pipeline that
 * failed; all NULL when the run succeeded.
 */
static void
describe_failure(Stage *failed, const char *upstream_failed, RunFailure *f)
{
	memset(f, 0, sizeof(RunFailure));
	if (failed)
	{
		f->stage = psprintf("%s %s", stage_names[failed->kind], failed->target);
		f->message = failed->error->message;
		f->detail = failed->error->detail;
		f->sqlstate = unpack_sql_state(failed->error->sqlerrcode);
	}
	else if (upstream_failed)
	{
		f->stage = psprintf("upstream %s", upstream_failed);
		f->message = psprintf("upstream pipeline \"%s\" failed", upstream_failed);
	}
}

/* Append the "stages" array of a run's summary. */
static void
append_stages_json(StringInfo json, List *stages)
{
	ListCell   *lc;

	appendStringInfoString(json, ",\"stages\":[");
	foreach(lc, stages)
	{
		Stage	   *st = lfirst(lc);

		appendStringInfoString(json, foreach_current_index(lc) ? ",{" : "{");
		json_key_str(json, "stage", stage_names[st->kind]);
		appendStringInfoChar(json, ',');
		json_key_str(json, "target", st->target);
		appendStringInfoChar(json, ',');
		json_key_str(json, "status", st->status);
		appendStringInfo(json, ",\"rows_read\":" INT64_FORMAT ",\"rows_written\":" INT64_FORMAT
						 ",\"rows_quarantined\":" INT64_FORMAT ",\"rows_skipped\":" INT64_FORMAT,
						 st->counts.rows_read, st->counts.rows_written,
						 st->counts.rows_quarantined, st->counts.rows_skipped);
		/* sources that read files say how many they found: 0 is news */
		if (st->counts.counts_files)
			appendStringInfo(json, ",\"files\":" INT64_FORMAT, st->counts.files);
		/* gold kinds rebuild and merge: how the table was refreshed, and why */
		if (st->counts.refresh)
		{
			appendStringInfoChar(json, ',');
			json_key_str(json, "refresh", st->counts.refresh);
			appendStringInfoChar(json, ',');
			json_key_str(json, "refresh_reason", st->counts.refresh_reason);
		}
		appendStringInfo(json, ",\"ms\":%.3f}",
						 (double) (st->finished - st->started) / 1000.0);
	}
	appendStringInfoString(json, "]");
}

/*
 * The summary of a run as JSON text: totals, the failure, every stage,
 * and the summaries of the upstream runs.
 */
static char *
run_summary(int64 run_id, const char *name, const char *status,
			LhStageCounts *total, RunFailure *f, List *stages,
			List *upstream_results)
{
	StringInfoData json;
	ListCell   *lc;

	initStringInfo(&json);
	appendStringInfo(&json, "{\"run_id\":" INT64_FORMAT ",", run_id);
	json_key_str(&json, "pipeline", name);
	appendStringInfoChar(&json, ',');
	json_key_str(&json, "status", status);
	appendStringInfo(&json, ",\"rows_read\":" INT64_FORMAT ",\"rows_written\":" INT64_FORMAT
					 ",\"rows_quarantined\":" INT64_FORMAT ",",
					 total->rows_read, total->rows_written, total->rows_quarantined);
	json_key_str(&json, "failed_stage", f->stage);
	appendStringInfoChar(&json, ',');
	json_key_str(&json, "error", f->message);
	if (f->detail)
	{
		appendStringInfoChar(&json, ',');
		json_key_str(&json, "error_detail", f->detail);
	}
	append_stages_json(&json, stages);
	if (upstream_results != NIL)
	{
		appendStringInfoString(&json, ",\"upstream\":[");
		foreach(lc, upstream_results)
		{
			RunResult  *up = lfirst(lc);

			appendStringInfo(&json, "%s%s", foreach_current_index(lc) ? "," : "", up->json);
		}
		appendStringInfoChar(&json, ']');
	}
	appendStringInfoChar(&json, '}');
	return json.data;
}

/*
 * Say how a run ended: a WARNING when it failed (at a stage, or because
 * of an upstream pipeline), and a LOG line with lakehouse.log_runs.
 */
static void
report_run(const char *name, RunResult *result, LhStageCounts *total,
		   bool stage_failed, const char *upstream_failed, RunFailure *f)
{
	if (stage_failed)
		ereport(WARNING,
				(errmsg("pipeline \"%s\" failed at stage %s", name, f->stage),
				 errdetail("%s (SQLSTATE %s)", f->message, f->sqlstate),
				 errhint("See lakehouse.run_stages for the error and the stages that did not run.")));
	else if (upstream_failed)
		ereport(WARNING,
				(errmsg("pipeline \"%s\" did not run because upstream pipeline \"%s\" failed",
						name, upstream_failed)));
	if (lh_log_runs)
		ereport(LOG,
				(errmsg("lakehouse: pipeline \"%s\" run " INT64_FORMAT " %s: "
						INT64_FORMAT " rows read, " INT64_FORMAT " written, "
						INT64_FORMAT " quarantined",
						name, result->run_id, result->status, total->rows_read,
						total->rows_written, total->rows_quarantined),
				 errhidestmt(true)));
}

/*
 * Run one pipeline (no dependencies).  upstream_failed names an upstream
 * pipeline whose run failed: then no stage runs and the run fails.
 * For lineage, trigger is the run of the dependent pipeline this run is
 * an upstream of (its parent), or, when it is this run itself, gives
 * this run's OpenLineage id; NULL for a run on its own.
 */
static RunResult
run_one(LhPipeline *p, bool wait, bool full_refresh, LhSource *only_source,
		const char *upstream_failed, List *upstream_results,
		const LineageTrigger *trigger)
{
	int32		pipeline_id = p->pipeline_id;
	const char *name = p->name;
	RunResult	result = {0};
	LhRunState	run = {0};
	List	   *stages;
	Stage	   *failed;
	LhStageCounts total = {0};
	RunFailure	f;

	if (!lock_pipeline(pipeline_id, wait))
		return skip_run(pipeline_id, name, full_refresh);

	run.run_id = catalog_run_insert(pipeline_id, name, "running", full_refresh);
	run.pipeline_id = pipeline_id;
	run.pipeline_name = name;
	run.owner = p->owner;
	run.full_refresh = full_refresh;
	lh_progress_run_begin(&run);
	if (trigger && strcmp(trigger->pipeline, name) == 0)
		lineage_run_start(run.run_id, name, trigger->uuid, NULL);
	else
		lineage_run_start(run.run_id, name, NULL, trigger);

	stages = build_stages(pipeline_id, only_source);

	failed = run_stages_as(&run, stages, upstream_failed != NULL, &total);

	describe_failure(failed, upstream_failed, &f);
	result.run_id = run.run_id;
	result.status = (failed || upstream_failed) ? "failed" : "succeeded";

	/* the summary */
	result.json = run_summary(run.run_id, name, result.status, &total, &f,
							  stages, upstream_results);

	catalog_run_finish(run.run_id, result.status, total.rows_read,
					   total.rows_written, total.rows_quarantined, f.stage,
					   f.sqlstate, f.message, result.json);

	lineage_run_end(run.run_id, failed || upstream_failed,
					failed ? psprintf("stage %s failed: %s", f.stage, f.message) :
					f.message);

	report_run(name, &result, &total, failed != NULL, upstream_failed, &f);
	lh_progress_run_end();
	return result;
}

/*
 * The summary as jsonb, built in the caller's memory context so that it
 * survives SPI_finish.
 */
static Datum
json_result(const char *json, MemoryContext callcxt)
{
	MemoryContext old = MemoryContextSwitchTo(callcxt);
	Datum		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));

	MemoryContextSwitchTo(old);
	return result;
}

/*
 * The name of a direct upstream of pipeline_id whose run failed (in
 * failed_ids), or NULL.  Dependents of a blocked pipeline are blocked too,
 * because a blocked run is recorded as failed.
 */
static char *
failed_upstream_name(int32 pipeline_id, List *failed_ids)
{
	List	   *names;
	List	   *ids;
	ListCell   *lc1;
	ListCell   *lc2;

	if (failed_ids == NIL)
		return NULL;
	ids = catalog_pipeline_upstreams(pipeline_id, &names);
	forboth(lc1, ids, lc2, names)
	{
		if (list_member_int(failed_ids, lfirst_int(lc1)))
			return lfirst(lc2);
	}
	return NULL;
}

/*
 * Runs need a primary, and READ COMMITTED: every stage must see what the
 * stages before it and concurrent writers committed (the silver stage
 * locks bronze and then reads with a fresh snapshot; with a transaction
 * snapshot it would move its mark past rows it cannot see).
 */
static void
check_isolation(const char *kind, const char *what)
{
	/* on a standby: say so, rather than fail on the first write */
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot run %s \"%s\" on a standby", kind, what),
				 errdetail("The server is in recovery: on a standby lakehouse only reads (source_status, dr_status, /metrics)."),
				 errhint("Run it on the primary; once this server is promoted, it runs here.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot run %s \"%s\" in a REPEATABLE READ or SERIALIZABLE transaction",
						kind, what),
				 errdetail("Stages must see rows committed after the transaction started."),
				 errhint("Run it in a READ COMMITTED transaction.")));
}

/*
 * Run target after its upstream pipelines (all of them when upstream),
 * as lh_run_pipeline does; returns the target's result.  Connected to SPI.
 */
static RunResult
run_with_upstreams(LhPipeline *target, bool wait, bool upstream,
				   bool full_refresh)
{
	List	   *order;
	List	   *upstream_results = NIL;
	List	   *failed_ids = NIL;
	char	   *upstream_failed = NULL;
	LineageTrigger trigger;
	RunResult	result;
	ListCell   *lc;

	order = upstream ? deps_run_order(target->pipeline_id) :
		list_make1_int(target->pipeline_id);
	lineage_trigger_init(&trigger, target->name);

	foreach(lc, order)
	{
		int32		id = lfirst_int(lc);
		LhPipeline *up;
		char	   *blocked_by;
		RunResult  *r;

		/* a pipeline runs only if none of its upstreams failed */
		blocked_by = failed_upstream_name(id, failed_ids);
		if (id == target->pipeline_id)
		{
			upstream_failed = blocked_by;
			continue;
		}
		up = security_check_pipeline_id(id, LH_RIGHT_OPERATE,
										psprintf("run pipeline \"%s\", upstream of \"%s\"",
												 catalog_pipeline_name(id), target->name));
		r = palloc(sizeof(RunResult));
		*r = run_one(up, wait, full_refresh, NULL, blocked_by, NIL, &trigger);
		if (strcmp(r->status, "failed") == 0)
			failed_ids = lappend_int(failed_ids, id);
		upstream_results = lappend(upstream_results, r);
	}

	result = run_one(target, wait, full_refresh, NULL, upstream_failed,
					 upstream_results, &trigger);
	foreach(lc, upstream_results)
		catalog_run_set_parent(((RunResult *) lfirst(lc))->run_id, result.run_id);
	return result;
}

/*
 * One call of lh_run_pipeline (target after its upstreams, when upstream)
 * or of lh_ingest (only_source's ingest alone).  An error that leaves the
 * call -- a cancel, a termination -- rolls back the caller's transaction
 * with every ledger row of the call: its runs are handed to
 * lh_progress_call_abort, whose database launcher writes them again.
 */
static RunResult
run_call(LhPipeline *target, bool wait, bool upstream, bool full_refresh,
		 LhSource *only_source)
{
	RunResult	result;

	lh_progress_call_begin();
	PG_TRY();
	{
		if (only_source)
			result = run_one(target, wait, full_refresh, only_source, NULL, NIL, NULL);
		else
			result = run_with_upstreams(target, wait, upstream, full_refresh);
	}
	PG_CATCH();
	{
		lh_progress_call_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	lh_progress_call_end();
	return result;
}

/*
 * lh_run_pipeline(name, wait, upstream, full_refresh) returns jsonb
 */
Datum
lh_run_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name;
	bool		wait = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	bool		upstream = PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2);
	bool		full_refresh = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	LhPipeline *target;
	MemoryContext callcxt = CurrentMemoryContext;
	RunResult	result;
	Datum		json;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pipeline name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_isolation("pipeline", name);
	if (lh_current_run != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot run pipeline \"%s\" from inside a run of pipeline \"%s\"",
						name, lh_current_run->pipeline_name),
				 errhint("Declare a dependency between the pipelines instead.")));

	SPI_connect();
	target = catalog_pipeline_by_name(name, false);
	security_check_pipeline(target, LH_RIGHT_OPERATE,
							psprintf("run pipeline \"%s\"", name));
	/* a copy of the database pauses its sources first: nothing is consumed */
	(void) lh_site_enforce();
	result = run_call(target, wait, upstream, full_refresh, NULL);
	json = json_result(result.json, callcxt);
	SPI_finish();
	PG_RETURN_DATUM(json);
}

/*
 * An explicit ingest of a source paused because the database is a copy
 * (worker/site.c; checked first, as a run does) is refused: it would
 * consume what the original consumes.  (The error also rolls back a pause
 * made just now; the next check makes it again.)  A source a user
 * disabled can still be ingested explicitly.
 */
static void
check_not_paused(LhSource *src)
{
	char	   *reason;

	(void) lh_site_enforce();
	reason = catalog_source_disabled_reason(src->source_id);
	if (reason != NULL && strncmp(reason, LH_SITE_PAUSED, strlen(LH_SITE_PAUSED)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot ingest source \"%s\": it is paused because this database is a copy",
						src->name),
				 errdetail("Source \"%s\" is %s.", src->name, reason),
				 errhint("If this copy should consume, run SELECT lakehouse.lh_enable_source(%s) first.",
						 quote_literal_cstr(src->name))));
}

/*
 * lh_ingest(source) returns jsonb: run one source's ingest stage alone.
 */
Datum
lh_ingest(PG_FUNCTION_ARGS)
{
	char	   *name;
	LhSource   *src;
	LhPipeline *p;
	RunResult	result;
	MemoryContext callcxt = CurrentMemoryContext;
	Datum		json;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_isolation("source", name);
	if (lh_current_run != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot ingest source \"%s\" from inside a pipeline run", name)));
	SPI_connect();
	src = catalog_source_by_name(name, false);
	p = security_check_pipeline_id(src->pipeline_id, LH_RIGHT_OPERATE,
								   psprintf("ingest source \"%s\"", name));
	check_not_paused(src);
	result = run_call(p, false, false, false, src);
	json = json_result(result.json, callcxt);
	SPI_finish();
	PG_RETURN_DATUM(json);
}

/*
 * lh_current_run_id() returns bigint: the run executing in this backend.
 */
Datum
lh_current_run_id(PG_FUNCTION_ARGS)
{
	if (lh_current_run == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT64(lh_current_run->run_id);
}

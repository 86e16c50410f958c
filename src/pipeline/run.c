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
 *	   WARNING.  Query cancel and shutdown are re-thrown, never recorded;
 *	4. one lakehouse.run_stages row per stage, and the run row updated
 *	   with totals, status and the error (SQLSTATE, message);
 *	5. OpenLineage START and COMPLETE/FAIL events of the run and of each
 *	   stage (src/observe/lineage.c), written to lakehouse.event_outbox in
 *	   the same transaction: no network call ever happens inside the user's
 *	   transaction, the lineage worker sends committed events later.
 *
 * While a stage runs, an error context callback names the pipeline, stage
 * and run in every message logged (log correlation).
 *
 * lh_current_run points at the running run while stages execute so that
 * every stage (and lakehouse.lh_current_run_id() in user SQL) can see the
 * run id.  After each successful stage lh_after_stage_hook is called inside
 * the stage's subtransaction: a hook that raises fails the stage.
 *
 * SPI is connected once for the whole call; stages use that connection
 * from inside their subtransactions (SPI cleans up after an aborted one).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "observe/observe.h"

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

static void
spi_check(int rc, int expected, const char *what)
{
	if (rc != expected)
		elog(ERROR, "%s failed: SPI result %d", what, rc);
}

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

/* Take the pipeline's run lock; false if busy and not waiting. */
static bool
lock_pipeline(int32 pipeline_id, bool wait)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	bool		isnull;

	values[0] = Int32GetDatum(LH_LOCK_CLASS);
	values[1] = Int32GetDatum(pipeline_id);
	if (wait)
	{
		spi_check(SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, $2)",
										2, types, values, NULL, false, 1),
				  SPI_OK_SELECT, "locking pipeline");
		return true;
	}
	spi_check(SPI_execute_with_args("SELECT pg_catalog.pg_try_advisory_xact_lock($1, $2)",
									2, types, values, NULL, false, 1),
			  SPI_OK_SELECT, "locking pipeline");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  1, &isnull));
}

static int64
insert_run(int32 pipeline_id, const char *name, const char *status,
		   bool full_refresh)
{
	Oid			types[4] = {INT4OID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[4];
	bool		isnull;

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(status);
	values[3] = BoolGetDatum(full_refresh);
	spi_check(SPI_execute_with_args("INSERT INTO lakehouse.runs"
									" (pipeline_id, pipeline_name, status, application,"
									" full_refresh)"
									" VALUES ($1, $2, $3,"
									" nullif(current_setting('application_name'), ''), $4)"
									" RETURNING run_id",
									4, types, values, NULL, false, 1),
			  SPI_OK_INSERT_RETURNING, "recording run");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   1, &isnull));
}

static Datum
text_or_null(const char *s, char *nullflag)
{
	if (s == NULL)
	{
		*nullflag = 'n';
		return (Datum) 0;
	}
	*nullflag = ' ';
	return CStringGetTextDatum(s);
}

static void
record_stage(int64 run_id, int stage_no, Stage *st)
{
	Oid			types[15] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[16];
	char		nulls[16];
	Oid			alltypes[16];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(stage_no);
	values[2] = CStringGetTextDatum(stage_names[st->kind]);
	values[3] = CStringGetTextDatum(st->target);
	values[4] = CStringGetTextDatum(st->status);
	values[5] = TimestampTzGetDatum(st->started);
	values[6] = TimestampTzGetDatum(st->finished);
	values[7] = Int64GetDatum(st->counts.rows_read);
	values[8] = Int64GetDatum(st->counts.rows_written);
	values[9] = Int64GetDatum(st->counts.rows_quarantined);
	values[10] = Int64GetDatum(st->counts.rows_skipped);
	values[11] = text_or_null(st->error ? unpack_sql_state(st->error->sqlerrcode) : NULL,
							  &nulls[11]);
	values[12] = text_or_null(st->error ? st->error->message : NULL, &nulls[12]);
	values[13] = text_or_null(st->error ? st->error->detail : NULL, &nulls[13]);
	values[14] = text_or_null(st->error ? st->error->hint : NULL, &nulls[14]);
	values[15] = text_or_null(st->error ? st->error->context : NULL, &nulls[15]);
	memcpy(alltypes, types, sizeof(types));
	alltypes[15] = TEXTOID;
	spi_check(SPI_execute_with_args("INSERT INTO lakehouse.run_stages"
									" (run_id, stage_no, stage, target, status, started_at,"
									" finished_at, rows_read, rows_written, rows_quarantined,"
									" rows_skipped, error_sqlstate, error_message,"
									" error_detail, error_hint, error_context)"
									" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
									" $12, $13, $14, $15, $16)",
									16, alltypes, values, nulls, false, 0),
			  SPI_OK_INSERT, "recording stage");
}

/* A stage and its run, for execute_stage_work. */
typedef struct StageWork
{
	Stage	   *st;
	LhRunState *run;
} StageWork;

/* The work of one stage (inside its subtransaction). */
static void
execute_stage_work(void *arg)
{
	Stage	   *st = ((StageWork *) arg)->st;
	LhRunState *run = ((StageWork *) arg)->run;
	bool		ran = true;
	int32		table_id = 0;

	switch (st->kind)
	{
		case STAGE_INGEST:
			ingest_source(st->source, run->run_id, &st->counts);
			break;
		case STAGE_SILVER:
			silver_run_stage(st->table, &st->counts);
			table_id = st->table->table_id;
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
	if (ran && lh_after_stage_hook)
		(*lh_after_stage_hook) (stage_names[st->kind], st->target, table_id,
								&st->counts);
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

	items = only_source ? list_make1(only_source) : catalog_pipeline_sources(pipeline_id);
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
			execute_stage(st, run);
			error_context_stack = errcb.previous;
			if (st->error)
				failed = st;
		}
		record_stage(run->run_id, foreach_current_index(lc) + 1, st);
		if (lh_stage_done_hook && strcmp(st->status, "not run") != 0)
			(*lh_stage_done_hook) (run->run_id, foreach_current_index(lc) + 1,
								   stage_names[st->kind], st->target,
								   st->table ? st->table->table_id : 0,
								   st->status, st->error);
		total->rows_read += st->counts.rows_read;
		total->rows_written += st->counts.rows_written;
		total->rows_quarantined += st->counts.rows_quarantined;
	}
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

/*
 * Run one pipeline (no dependencies).  upstream_failed names an upstream
 * pipeline whose run failed: then no stage runs and the run fails.
 */
static RunResult
run_one(int32 pipeline_id, const char *name, bool wait, bool full_refresh,
		LhSource *only_source, const char *upstream_failed,
		List *upstream_results)
{
	RunResult	result = {0};
	LhRunState	run = {0};
	List	   *stages;
	ListCell   *lc;
	Stage	   *failed;
	LhStageCounts total = {0};
	StringInfoData json;
	char	   *failed_stage = NULL;
	char	   *error_message = NULL;
	char	   *error_detail = NULL;
	char	   *error_sqlstate = NULL;

	initStringInfo(&json);
	if (!lock_pipeline(pipeline_id, wait))
	{
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" is already running, skipping this run", name),
				 errhint("Pass wait => true to wait for the running one to finish.")));
		result.run_id = insert_run(pipeline_id, name, "skipped", full_refresh);
		result.status = "skipped";
		spi_check(SPI_execute_with_args("UPDATE lakehouse.runs SET finished_at = clock_timestamp()"
										" WHERE run_id = $1",
										1, (Oid[]) {INT8OID},
										(Datum[]) {Int64GetDatum(result.run_id)},
										NULL, false, 0),
				  SPI_OK_UPDATE, "recording run");
		appendStringInfo(&json, "{\"run_id\":" INT64_FORMAT ",", result.run_id);
		json_key_str(&json, "pipeline", name);
		appendStringInfoString(&json, ",\"status\":\"skipped\"}");
		result.json = json.data;
		return result;
	}

	run.run_id = insert_run(pipeline_id, name, "running", full_refresh);
	run.pipeline_id = pipeline_id;
	run.pipeline_name = name;
	run.full_refresh = full_refresh;
	lineage_run_start(run.run_id, name, full_refresh);

	stages = build_stages(pipeline_id, only_source);

	failed = run_stages_as(&run, stages, upstream_failed != NULL, &total);

	if (failed)
	{
		failed_stage = psprintf("%s %s", stage_names[failed->kind], failed->target);
		error_message = failed->error->message;
		error_detail = failed->error->detail;
		error_sqlstate = unpack_sql_state(failed->error->sqlerrcode);
	}
	else if (upstream_failed)
	{
		failed_stage = psprintf("upstream %s", upstream_failed);
		error_message = psprintf("upstream pipeline \"%s\" failed", upstream_failed);
	}
	result.run_id = run.run_id;
	result.status = (failed || upstream_failed) ? "failed" : "succeeded";

	/* the summary */
	appendStringInfo(&json, "{\"run_id\":" INT64_FORMAT ",", run.run_id);
	json_key_str(&json, "pipeline", name);
	appendStringInfoChar(&json, ',');
	json_key_str(&json, "status", result.status);
	appendStringInfo(&json, ",\"rows_read\":" INT64_FORMAT ",\"rows_written\":" INT64_FORMAT
					 ",\"rows_quarantined\":" INT64_FORMAT ",",
					 total.rows_read, total.rows_written, total.rows_quarantined);
	json_key_str(&json, "failed_stage", failed_stage);
	appendStringInfoChar(&json, ',');
	json_key_str(&json, "error", error_message);
	if (error_detail)
	{
		appendStringInfoChar(&json, ',');
		json_key_str(&json, "error_detail", error_detail);
	}
	appendStringInfoString(&json, ",\"stages\":[");
	foreach(lc, stages)
	{
		Stage	   *st = lfirst(lc);

		appendStringInfoString(&json, foreach_current_index(lc) ? ",{" : "{");
		json_key_str(&json, "stage", stage_names[st->kind]);
		appendStringInfoChar(&json, ',');
		json_key_str(&json, "target", st->target);
		appendStringInfoChar(&json, ',');
		json_key_str(&json, "status", st->status);
		appendStringInfo(&json, ",\"rows_read\":" INT64_FORMAT ",\"rows_written\":" INT64_FORMAT
						 ",\"rows_quarantined\":" INT64_FORMAT ",\"rows_skipped\":" INT64_FORMAT
						 ",\"ms\":%.3f}",
						 st->counts.rows_read, st->counts.rows_written,
						 st->counts.rows_quarantined, st->counts.rows_skipped,
						 (double) (st->finished - st->started) / 1000.0);
	}
	appendStringInfoString(&json, "]");
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
	result.json = json.data;

	{
		Oid			types[8] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID,
		TEXTOID, TEXTOID, TEXTOID};
		Datum		values[9];
		char		nulls[9];
		Oid			alltypes[9];

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int64GetDatum(run.run_id);
		values[1] = CStringGetTextDatum(result.status);
		values[2] = Int64GetDatum(total.rows_read);
		values[3] = Int64GetDatum(total.rows_written);
		values[4] = Int64GetDatum(total.rows_quarantined);
		values[5] = text_or_null(failed_stage, &nulls[5]);
		values[6] = text_or_null(error_sqlstate, &nulls[6]);
		values[7] = text_or_null(error_message, &nulls[7]);
		values[8] = CStringGetTextDatum(json.data);
		memcpy(alltypes, types, sizeof(types));
		alltypes[8] = TEXTOID;
		spi_check(SPI_execute_with_args("UPDATE lakehouse.runs SET status = $2,"
										" finished_at = clock_timestamp(),"
										" rows_read = $3, rows_written = $4,"
										" rows_quarantined = $5, failed_stage = $6,"
										" error_sqlstate = $7, error_message = $8,"
										" summary = $9::jsonb WHERE run_id = $1",
										9, alltypes, values, nulls, false, 0),
				  SPI_OK_UPDATE, "recording run");
	}

	lineage_run_end(run.run_id, name, failed || upstream_failed,
					failed ? psprintf("stage %s failed: %s", failed_stage, error_message) :
					error_message);

	if (failed)
		ereport(WARNING,
				(errmsg("pipeline \"%s\" failed at stage %s", name, failed_stage),
				 errdetail("%s (SQLSTATE %s)", error_message, error_sqlstate),
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
						name, run.run_id, result.status, total.rows_read,
						total.rows_written, total.rows_quarantined),
				 errhidestmt(true)));
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
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	if (failed_ids == NIL)
		return NULL;
	spi_check(SPI_execute_with_args("SELECT d.upstream_id, u.name FROM lakehouse.pipeline_deps d"
									" JOIN lakehouse.pipelines u ON u.pipeline_id = d.upstream_id"
									" WHERE d.pipeline_id = $1 ORDER BY u.name",
									1, types, values, NULL, false, 0),
			  SPI_OK_SELECT, "reading pipeline dependencies");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int32		up = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));

		if (list_member_int(failed_ids, up))
			return SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	return NULL;
}

/*
 * Runs need READ COMMITTED: every stage must see what the stages before it
 * and concurrent writers committed (the silver stage locks bronze and then
 * reads with a fresh snapshot; with a transaction snapshot it would move
 * its mark past rows it cannot see).
 */
static void
check_isolation(const char *kind, const char *what)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("cannot run %s \"%s\" in a REPEATABLE READ or SERIALIZABLE transaction",
						kind, what),
				 errdetail("Stages must see rows committed after the transaction started."),
				 errhint("Run it in a READ COMMITTED transaction.")));
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
	int32		pipeline_id;
	List	   *order;
	List	   *upstream_results = NIL;
	List	   *failed_ids = NIL;
	MemoryContext callcxt = CurrentMemoryContext;
	char	   *upstream_failed = NULL;
	RunResult	result;
	ListCell   *lc;
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
	pipeline_id = catalog_pipeline_id(name, false);
	order = upstream ? deps_run_order(pipeline_id) : list_make1_int(pipeline_id);

	foreach(lc, order)
	{
		int32		id = lfirst_int(lc);
		char	   *upname;
		char	   *blocked_by;
		RunResult  *r;

		/* a pipeline runs only if none of its upstreams failed */
		blocked_by = failed_upstream_name(id, failed_ids);
		if (id == pipeline_id)
		{
			upstream_failed = blocked_by;
			continue;
		}
		spi_check(SPI_execute_with_args("SELECT name FROM lakehouse.pipelines WHERE pipeline_id = $1",
										1, (Oid[]) {INT4OID},
										(Datum[]) {Int32GetDatum(id)}, NULL, false, 1),
				  SPI_OK_SELECT, "reading pipeline");
		upname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		r = palloc(sizeof(RunResult));
		*r = run_one(id, upname, wait, full_refresh, NULL, blocked_by, NIL);
		if (strcmp(r->status, "failed") == 0)
			failed_ids = lappend_int(failed_ids, id);
		upstream_results = lappend(upstream_results, r);
	}

	result = run_one(pipeline_id, name, wait, full_refresh, NULL, upstream_failed,
					 upstream_results);
	foreach(lc, upstream_results)
	{
		RunResult  *r = lfirst(lc);

		spi_check(SPI_execute_with_args("UPDATE lakehouse.runs SET parent_run_id = $2"
										" WHERE run_id = $1",
										2, (Oid[]) {INT8OID, INT8OID},
										(Datum[]) {Int64GetDatum(r->run_id),
										Int64GetDatum(result.run_id)},
										NULL, false, 0),
				  SPI_OK_UPDATE, "recording run");
	}
	json = json_result(result.json, callcxt);
	SPI_finish();
	PG_RETURN_DATUM(json);
}

/*
 * lh_ingest(source) returns jsonb: run one source's ingest stage alone.
 */
Datum
lh_ingest(PG_FUNCTION_ARGS)
{
	char	   *name;
	LhSource   *src;
	RunResult	result;
	char	   *pname;
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
	spi_check(SPI_execute_with_args("SELECT name FROM lakehouse.pipelines WHERE pipeline_id = $1",
									1, (Oid[]) {INT4OID},
									(Datum[]) {Int32GetDatum(src->pipeline_id)}, NULL, false, 1),
			  SPI_OK_SELECT, "reading pipeline");
	pname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	result = run_one(src->pipeline_id, pname, false, false, src, NULL, NIL);
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

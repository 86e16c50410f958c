/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The source kinds, and what everyone else asks of a source.
 *
 * SOURCE_KINDS lists every kind; each has its SourceRoutine, named
 * <kind>_routine, in its own file (tables.c, files.c, kafka.c, http.c,
 * generate.c).  Adding a kind is that file plus its name in the list.
 * Nothing else in the extension compares a source's kind: the SQL API
 * validates options and shapes bronze tables here, runs ingest here, the
 * launcher asks here whether a source has a worker, and lineage asks for
 * the dataset a source reads.
 *
 * Transactions.  source_ingest runs entirely inside the caller's
 * transaction (run.c gives each stage a subtransaction), as the pipeline's
 * owner: the rows it lands, the dead letters it records and the source
 * marks it moves commit or abort together.  The source's row in
 * lakehouse.sources is locked (FOR NO KEY UPDATE) for the rest of the
 * transaction, so two ingests of one source never read from the same mark.
 * It connects to SPI itself (nested if the caller already is) and
 * disconnects before returning; on error the subtransaction's abort
 * releases the connection, files, relations and memory.  Errors raised
 * while ingesting carry the context line "while ingesting source <name>".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"

#include "sources/sources.h"
#include "worker/worker.h"

/* Every source kind: one line per kind. */
#define SOURCE_KINDS(X) X(table) X(file) X(kafka) X(http) X(generate)

#define DECLARE_ROUTINE(kind) extern const SourceRoutine kind##_routine;
SOURCE_KINDS(DECLARE_ROUTINE)
#define ROUTINE_ENTRY(kind) &kind##_routine,
static const SourceRoutine *const routines[] = {SOURCE_KINDS(ROUTINE_ENTRY)};

/*
 * source_routine
 *		The routine of a kind; an error for a kind nobody registered.
 */
const SourceRoutine *
source_routine(const char *kind)
{
	StringInfoData names;

	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source kind must not be null")));
	for (int i = 0; i < lengthof(routines); i++)
		if (strcmp(routines[i]->name, kind) == 0)
			return routines[i];

	initStringInfo(&names);
	for (int i = 0; i < lengthof(routines); i++)
		appendStringInfo(&names, "%s\"%s\"",
						 i == 0 ? "" : i == lengthof(routines) - 1 ? " and " : ", ",
						 routines[i]->name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized source kind: \"%s\"", kind),
			 errhint("Valid source kinds are %s.", names.data)));
	return NULL;				/* keep the compiler quiet */
}

void
source_validate_options(const char *kind, Jsonb *options)
{
	source_routine(kind)->validate(options);
}

void
source_bronze_shape(const char *kind, Jsonb *options, BronzeShape *shape)
{
	const SourceRoutine *r = source_routine(kind);

	shape->kafka = false;
	shape->payload_type = JSONBOID;
	if (r->bronze_shape)
		r->bronze_shape(options, shape);
}

LhWorkerMode
source_worker_mode(const char *kind, Jsonb *options)
{
	const SourceRoutine *r = source_routine(kind);

	return r->worker_mode ? r->worker_mode(options) : LH_WORKER_NONE;
}

/* Does any of these sources (LhSource *) have a background worker? */
bool
sources_have_workers(List *sources)
{
	ListCell   *lc;

	foreach(lc, sources)
	{
		LhSource   *src = lfirst(lc);

		if (source_worker_mode(src->kind, src->options) != LH_WORKER_NONE)
			return true;
	}
	return false;
}

/*
 * Why a source redeclared as (kind, options) starts again from the
 * beginning: "" for a change of kind (said nothing about), the kind's
 * reason, or NULL when its marks still hold.
 */
const char *
source_restart_reason(const char *old_kind, Jsonb *old_options,
					  const char *kind, Jsonb *options)
{
	const SourceRoutine *r = source_routine(kind);

	if (strcmp(old_kind, kind) != 0)
		return "";
	return r->restart_reason ? r->restart_reason(old_options, options) : NULL;
}

void
source_dataset(LhSource *src, SourceDataset *ds)
{
	memset(ds, 0, sizeof(SourceDataset));
	source_routine(src->kind)->dataset(src, ds);
}

static void
ingest_error_callback(void *arg)
{
	LhSource   *src = (LhSource *) arg;

	errcontext("while ingesting source \"%s\"", src->name);
}

/*
 * source_ingest
 *		Land the records src has delivered since its last ingest in its
 *		bronze table, move its marks, and add to *counts.  run_id is stored
 *		in _lh_run_id (0: none).  The caller runs as the pipeline's owner.
 */
void
source_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	const SourceRoutine *r = source_routine(src->kind);
	ErrorContextCallback errcallback;

	errcallback.callback = ingest_error_callback;
	errcallback.arg = (void *) src;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/*
	 * A source its worker lands by itself is left to it, its row unlocked:
	 * a run that held it to the end of its transaction would stall the
	 * worker for the whole run (the worker then waits, see
	 * src/worker/kafka_worker.c).  A worker that starts after this look
	 * is seen by the kind's ingest under the lock.
	 */
	if (r->worker_lands_alone && lh_worker_serves(src->source_id))
	{
		error_context_stack = errcallback.previous;
		return;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!catalog_source_lock(src->source_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", src->name),
				 errdetail("It was dropped while the run was starting.")));
	r->ingest(src, run_id, counts);
	SPI_finish();

	error_context_stack = errcallback.previous;
}

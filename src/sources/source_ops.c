/*-------------------------------------------------------------------------
 *
 * source_ops.c
 *	  The SQL functions that operate sources of any kind: lh_enable_source,
 *	  lh_disable_source, lh_restart_source, lh_reset_source,
 *	  lh_replay_dead_letters and lh_discard_dead_letters.
 *
 * Rights: enabling, disabling and restarting a source is operating its
 * pipeline (owner, lakehouse_operator, lakehouse_admin); resetting it and
 * replaying or discarding its dead letters change what lands, so they need
 * the right to alter it (owner, lakehouse_admin).  What a kind does for a
 * reset or a replay is its routine's (sources.h); a kind without one
 * refuses.  Replayed records are written to bronze as the pipeline's
 * owner.
 *
 * They change the catalog in the caller's transaction and wake the
 * launchers and workers when it commits (lh_workers_notify); no network
 * request is made here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "security/security.h"
#include "sources/sources.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_enable_source);
PG_FUNCTION_INFO_V1(lh_disable_source);
PG_FUNCTION_INFO_V1(lh_restart_source);
PG_FUNCTION_INFO_V1(lh_reset_source);
PG_FUNCTION_INFO_V1(lh_replay_dead_letters);
PG_FUNCTION_INFO_V1(lh_discard_dead_letters);

/*
 * The source named by argument argno, after checking that the current
 * user has `right` on its pipeline to do `what` ("disable", ...).
 */
static LhSource *
source_arg(FunctionCallInfo fcinfo, int argno, LhRight right, const char *what)
{
	LhSource   *src;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	src = catalog_source_by_name(text_to_cstring(PG_GETARG_TEXT_PP(argno)), false);
	(void) security_check_pipeline_id(src->pipeline_id, right,
									  psprintf("%s source \"%s\"", what, src->name));
	return src;
}

/* A kind that cannot do `what`. */
static void
kind_cannot(LhSource *src, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot %s source \"%s\"", what, src->name),
			 errdetail("Source \"%s\" is of kind \"%s\", which does not support this.",
					   src->name, src->kind)));
}

static Datum
set_enabled(FunctionCallInfo fcinfo, bool enabled)
{
	LhSource   *src;

	SPI_connect();
	src = source_arg(fcinfo, 0, LH_RIGHT_OPERATE, enabled ? "enable" : "disable");
	(void) catalog_source_set_enabled(src->source_id, enabled, NULL);
	SPI_finish();
	/* enabled again after crashing: it starts counting from zero */
	if (enabled)
		lh_crash_reset(MyDatabaseId, src->source_id);
	lh_workers_notify(src->source_id);
	PG_RETURN_VOID();
}

/*
 * lh_enable_source(name) / lh_disable_source(name)
 *
 * A disabled source is skipped by runs and has no worker.  Enabling a
 * source that was disabled automatically (its worker crashed too often)
 * clears the reason.
 */
Datum
lh_enable_source(PG_FUNCTION_ARGS)
{
	return set_enabled(fcinfo, true);
}

Datum
lh_disable_source(PG_FUNCTION_ARGS)
{
	return set_enabled(fcinfo, false);
}

/*
 * lh_restart_source(name)
 *		Stop the source's worker; its launcher starts it again at once.
 *		Returns whether a worker was signalled.
 */
Datum
lh_restart_source(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	bool		signalled;

	SPI_connect();
	src = source_arg(fcinfo, 0, LH_RIGHT_OPERATE, "restart");
	SPI_finish();
	if (source_worker_mode(src->kind, src->options) == LH_WORKER_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("source \"%s\" has no background worker", src->name),
				 errdetail("Kafka sources and HTTP sources with a poll_interval are served by background workers; source \"%s\" is of kind \"%s\".",
						   src->name, src->kind)));
	signalled = lh_worker_request_restart(src->source_id);
	lh_workers_notify(src->source_id);
	PG_RETURN_BOOL(signalled);
}

/*
 * Say where a reset makes each partition start, in one NOTICE: without it
 * a reset by time, say, would seem to do nothing.
 */
static void
report_reset_targets(LhSource *src, List *targets)
{
	StringInfoData list;
	ListCell   *lc;

	initStringInfo(&list);
	foreach(lc, targets)
	{
		SourceResetTarget *t = lfirst(lc);

		appendStringInfo(&list, "%spartition %d from offset " INT64_FORMAT,
						 foreach_current_index(lc) > 0 ? ", " : "",
						 t->partition, t->offset);
	}
	ereport(NOTICE,
			(errmsg("source \"%s\" will read %s", src->name, list.data)));
}

/*
 * lh_reset_source(name, position, partition)
 *		returns table (partition integer, next_offset bigint)
 *
 * Read the source again from position (for Kafka: 'earliest', 'latest',
 * an offset or a timestamp) in one partition, or all when NULL.  Returns,
 * and says in a NOTICE, the offset each partition will start from, when
 * the kind could resolve the position now (no rows otherwise; the kind
 * says why).
 */
Datum
lh_reset_source(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LhSource   *src;
	const SourceRoutine *r;
	int32		partition = -1;
	List	   *targets;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	src = source_arg(fcinfo, 0, LH_RIGHT_ALTER, "reset");
	r = source_routine(src->kind);
	if (r->reset == NULL)
		kind_cannot(src, "reset");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reset position must not be null"),
				 errhint("Use 'earliest', 'latest', an offset or a timestamp.")));
	if (!PG_ARGISNULL(2))
	{
		partition = PG_GETARG_INT32(2);
		if (partition < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition must not be negative")));
	}
	targets = r->reset(src, text_to_cstring(PG_GETARG_TEXT_PP(1)), partition);
	if (targets != NIL)
		report_reset_targets(src, targets);
	foreach(lc, targets)
	{
		SourceResetTarget *t = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int32GetDatum(t->partition);
		values[1] = Int64GetDatum(t->offset);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	lh_workers_notify(src->source_id);
	return (Datum) 0;
}

/*
 * lh_replay_dead_letters(source, ids) returns bigint
 *
 * Decode the raw bytes of the source's dead letters (all, or those ids)
 * again with the source's current options; those that decode land in
 * bronze and leave the dead-letter table, the others stay with the new
 * reason.  Returns how many landed.
 */
Datum
lh_replay_dead_letters(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	const SourceRoutine *r;
	List	   *letters;
	ListCell   *lc;
	BronzeWriter *w;
	LhIdentity	id;
	int64		replayed = 0;

	SPI_connect();
	src = source_arg(fcinfo, 0, LH_RIGHT_ALTER, "replay dead letters of");
	r = source_routine(src->kind);
	if (r->replay == NULL)
		kind_cannot(src, "replay dead letters of");
	if (!catalog_source_lock(src->source_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", src->name)));
	letters = catalog_dead_letters(src->source_id,
								   PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
								   PG_ARGISNULL(1));

	lh_owner_begin(src->owner, &id);
	w = bronze_writer_open(src, 0);
	foreach(lc, letters)
	{
		LhDeadLetter *dl = lfirst(lc);
		char	   *reason = NULL;
		int			sqlstate = 0;

		if (r->replay(src, w, dl->raw, dl->rawlen, dl->metadata, &reason, &sqlstate))
		{
			catalog_dead_letter_delete(dl->dead_letter_id);
			replayed++;
		}
		else
			catalog_dead_letter_set_reason(dl->dead_letter_id, reason, sqlstate);
	}
	(void) bronze_writer_close(w);
	lh_owner_end(&id);
	SPI_finish();
	PG_RETURN_INT64(replayed);
}

/*
 * lh_discard_dead_letters(source, ids) returns bigint
 *
 * Delete the source's dead letters (all, or those ids); any kind of
 * source.  Returns how many were deleted.
 */
Datum
lh_discard_dead_letters(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	int64		n;

	SPI_connect();
	src = source_arg(fcinfo, 0, LH_RIGHT_ALTER, "discard dead letters of");
	n = catalog_dead_letters_discard(src->source_id,
									 PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
									 PG_ARGISNULL(1));
	SPI_finish();
	PG_RETURN_INT64(n);
}

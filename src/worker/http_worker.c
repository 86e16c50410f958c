/*-------------------------------------------------------------------------
 *
 * http_worker.c
 *	  The background worker that polls one HTTP source at its
 *	  poll_interval.
 *
 * Each poll is lakehouse.lh_ingest(source) in a transaction of its own,
 * exactly what a user's call does: the pipeline's run lock, the run
 * ledger, page-by-page landing and the durable cursor all come with it.
 * A poll that fails (the API is down, say) shows as state "error" with the
 * run's error; the next poll continues from the stored cursor.  The
 * worker sleeps on its latch between polls, so SIGTERM, SIGHUP and a
 * changed definition (the launcher restarts the worker) take effect at
 * once, and a poll in progress is interrupted between pages or requests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "sources/http.h"
#include "sources/sources.h"
#include "lakehouse.h"
#include "worker/worker.h"
#include "pipeline/pipeline.h"

/*
 * One poll.  Returns false when the source is gone, disabled or changed
 * (the worker then exits and its launcher decides what comes next).
 */
static bool
http_poll(LhWorkerSlot *slot, int32 source_id, TimestampTz *updated_at,
		  int *interval_s)
{
	bool		ok = true;
	LhSource   *src;
	char	   *status = NULL;
	char	   *error = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	src = catalog_source_by_id(source_id, true);
	if (src == NULL || !src->enabled)
		ok = false;
	else
	{
		if (*updated_at == 0)
			*updated_at = src->updated_at;
		if (src->updated_at != *updated_at ||
			source_worker_mode(src->kind, src->options) != LH_WORKER_POLL)
			ok = false;
		else
			*interval_s = http_poll_interval(src->options);
	}
	if (ok)
	{
		Jsonb	   *result;

		/*
		 * As the worker's role, the pipeline's owner: lh_ingest checks that
		 * it may run the source and runs the stage as that owner.
		 */
		pgstat_report_activity(STATE_RUNNING, "polling an HTTP source");
		result = DatumGetJsonbP(DirectFunctionCall1(lh_ingest,
													CStringGetTextDatum(src->name)));
		status = lh_option_text(result, "status");
		error = lh_option_text(result, "error");
		if (status)
			status = MemoryContextStrdup(TopMemoryContext, status);
		if (error)
			error = MemoryContextStrdup(TopMemoryContext, error);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	if (ok)
	{
		if (status && strcmp(status, "failed") == 0)
			lh_slot_set_state(slot, "error", error ? error : "the poll failed");
		else
			lh_slot_set_state(slot, "running", NULL);
	}
	return ok;
}

/*
 * lh_http_worker_main
 *		Entry point; the argument is the slot number, bgw_extra holds the
 *		database and source ids.
 */
void
lh_http_worker_main(Datum arg)
{
	int32		source_id;
	LhWorkerSlot *slot;

	slot = lh_worker_start(arg, &source_id);

	PG_TRY();
	{
		TimestampTz updated_at = 0;

		for (;;)
		{
			int			interval_s = 60;
			TimestampTz next;

			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
			if (!http_poll(slot, source_id, &updated_at, &interval_s))
				break;
			lh_crash_guard_healthy(slot->started_at);
			next = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   (int64) interval_s * 1000);
			for (;;)
			{
				long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next);

				if (ms <= 0)
					break;
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				if (ConfigReloadPending)
				{
					ConfigReloadPending = false;
					ProcessConfigFile(PGC_SIGHUP);
				}
			}
		}
	}
	PG_CATCH();
	{
		lh_worker_failed(slot);
	}
	PG_END_TRY();
	lh_worker_exit_clean(slot);
}

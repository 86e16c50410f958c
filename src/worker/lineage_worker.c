/*-------------------------------------------------------------------------
 *
 * lineage_worker.c
 *	  The background worker that delivers OpenLineage events from
 *	  lakehouse.event_outbox to lakehouse.openlineage_url.
 *
 * Started by the database launcher (launcher.c) in a worker slot with the
 * pseudo source id LH_LINEAGE_WORKER_ID while the URL is set; it exits
 * cleanly when the URL is cleared (SIGHUP).  One pass:
 *
 *	1. in a short transaction, read the next undelivered event of each
 *	   OpenLineage run whose retry time has come (at most LH_BATCH events,
 *	   oldest first) and copy them out; commit;
 *	2. with no transaction open, POST each one with libcurl (timeouts:
 *	   lakehouse.openlineage_timeout); a 2xx answer is a delivery, anything
 *	   else (connection refused, timeout, 500) a failed attempt;
 *	3. in a second transaction, mark the delivered ones and count the
 *	   failed attempt of the others with its error and the next attempt
 *	   time: 1 s after the first failure, doubling up to
 *	   lakehouse.openlineage_max_backoff.
 *
 * Order: only the oldest undelivered event of a run is ever sent, so the
 * COMPLETE of a run goes only after its START was accepted.  Nothing is
 * lost: an event leaves the pending set only when the endpoint answered
 * 2xx and that was committed; a crash between 2 and 3 sends it again
 * (at-least-once, which OpenLineage consumers accept).
 *
 * Once a minute (or once per retention period if shorter), delivered
 * events older than lakehouse.openlineage_retention
 * are deleted, except the last COMPLETE/FAIL event of each job, which
 * lakehouse.lineage_graph keeps showing.
 *
 * libcurl: one easy handle for the worker's life, cleaned up at exit
 * (before_shmem_exit), so an error anywhere leaks nothing.  Its calls run
 * outside any transaction and raise no PostgreSQL errors: the response
 * body goes to a fixed buffer, and a progress callback aborts a transfer
 * when an interrupt (SIGTERM) is pending, which CHECK_FOR_INTERRUPTS then
 * handles.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "observe/observe.h"
#include "worker/worker.h"

#define LH_BATCH			100
#define LH_IDLE_MS			1000
#define LH_PRUNE_EVERY_MS	60000

typedef struct PendingEvent
{
	int64		event_id;
	char	   *payload;
	bool		delivered;
	char	   *error;
} PendingEvent;

static CURL *curl_handle = NULL;
static struct curl_slist *curl_headers = NULL;
static char response_buf[256];
static size_t response_len;

static void
lineage_curl_cleanup(int code, Datum arg)
{
	if (curl_headers)
		curl_slist_free_all(curl_headers);
	if (curl_handle)
		curl_easy_cleanup(curl_handle);
	curl_headers = NULL;
	curl_handle = NULL;
}

/* keep the start of the response body for the error message */
static size_t
lineage_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t		n = size * nmemb;
	size_t		room = sizeof(response_buf) - 1 - response_len;

	memcpy(response_buf + response_len, ptr, Min(n, room));
	response_len += Min(n, room);
	response_buf[response_len] = '\0';
	return n;
}

/* abort a transfer when SIGTERM (or a cancel) is pending */
static int
lineage_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
					curl_off_t ultotal, curl_off_t ulnow)
{
	return (InterruptPending || ShutdownRequestPending) ? 1 : 0;
}

/*
 * POST one event.  Returns NULL on a 2xx answer, else the error (palloc'd
 * in the current context, after the transfer).
 */
static char *
lineage_post(const char *payload)
{
	CURLcode	rc;
	long		status = 0;
	char		errbuf[CURL_ERROR_SIZE];

	errbuf[0] = '\0';
	response_len = 0;
	response_buf[0] = '\0';
	curl_easy_setopt(curl_handle, CURLOPT_URL, lh_openlineage_url);
	curl_easy_setopt(curl_handle, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(curl_handle, CURLOPT_POSTFIELDSIZE, (long) strlen(payload));
	curl_easy_setopt(curl_handle, CURLOPT_TIMEOUT_MS, (long) lh_openlineage_timeout);
	curl_easy_setopt(curl_handle, CURLOPT_CONNECTTIMEOUT_MS, (long) lh_openlineage_timeout);
	curl_easy_setopt(curl_handle, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(curl_handle);
	if (rc != CURLE_OK)
		return psprintf("could not send the event: %s",
						errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_easy_getinfo(curl_handle, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return psprintf("the endpoint answered HTTP %ld%s%s", status,
						response_len ? ": " : "", response_buf);
	return NULL;
}

static void
lineage_curl_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	curl_handle = curl_easy_init();
	if (curl_handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	curl_headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(curl_handle, CURLOPT_HTTPHEADER, curl_headers);
	curl_easy_setopt(curl_handle, CURLOPT_USERAGENT, "lakehouse-openlineage/0.1");
	curl_easy_setopt(curl_handle, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl_handle, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl_handle, CURLOPT_WRITEFUNCTION, lineage_write_cb);
	curl_easy_setopt(curl_handle, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl_handle, CURLOPT_XFERINFOFUNCTION, lineage_progress_cb);
}

/* Step 1: the events due, copied into the current memory context. */
static List *
lineage_fetch(void)
{
	List	   *events = NIL;
	MemoryContext cxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "reading OpenLineage events to deliver");
	catalog_exec("SELECT event_id, payload::text FROM"
				 " (SELECT DISTINCT ON (run_uuid) event_id, payload, next_attempt_at"
				 "    FROM lakehouse.event_outbox WHERE delivered_at IS NULL"
				 "   ORDER BY run_uuid, event_id) f"
				 " WHERE next_attempt_at <= pg_catalog.now()"
				 " ORDER BY event_id LIMIT " CppAsString2(LH_BATCH),
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		PendingEvent *e = palloc0(sizeof(PendingEvent));

		e->event_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 1, &isnull));
		e->payload = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		events = lappend(events, e);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return events;
}

/* Step 3 (and pruning): record what happened. */
static void
lineage_record(List *events, bool prune)
{
	ListCell   *lc;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "recording OpenLineage deliveries");
	if (events != NIL)
	{
		int			n = list_length(events);
		Datum	   *ok_ids = palloc(sizeof(Datum) * n);
		Datum	   *bad_ids = palloc(sizeof(Datum) * n);
		Datum	   *bad_errors = palloc(sizeof(Datum) * n);
		int			nok = 0;
		int			nbad = 0;
		Oid			types[3] = {INT8ARRAYOID, TEXTARRAYOID, INT4OID};
		Datum		values[3];

		foreach(lc, events)
		{
			PendingEvent *e = lfirst(lc);

			if (e->delivered)
				ok_ids[nok++] = Int64GetDatum(e->event_id);
			else
			{
				bad_ids[nbad] = Int64GetDatum(e->event_id);
				bad_errors[nbad++] = CStringGetTextDatum(e->error);
			}
		}
		if (nok > 0)
		{
			values[0] = PointerGetDatum(construct_array(ok_ids, nok, INT8OID, 8,
														FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			catalog_exec("UPDATE lakehouse.event_outbox SET delivered_at = pg_catalog.now(),"
						 " attempts = attempts + 1, last_error = NULL"
						 " WHERE event_id = ANY ($1)",
						 1, types, values, NULL, SPI_OK_UPDATE);
		}
		if (nbad > 0)
		{
			values[0] = PointerGetDatum(construct_array(bad_ids, nbad, INT8OID, 8,
														FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			values[1] = PointerGetDatum(construct_array(bad_errors, nbad, TEXTOID, -1,
														false, TYPALIGN_INT));
			values[2] = Int32GetDatum(lh_openlineage_max_backoff);
			catalog_exec("UPDATE lakehouse.event_outbox o SET attempts = o.attempts + 1,"
						 " last_error = f.error,"
						 " next_attempt_at = pg_catalog.now() + pg_catalog.make_interval("
						 "   secs => least(power(2, least(o.attempts, 30)), $3))"
						 " FROM unnest($1, $2) AS f(event_id, error)"
						 " WHERE o.event_id = f.event_id",
						 3, types, values, NULL, SPI_OK_UPDATE);
		}
	}
	if (prune)
		lineage_prune(false);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * lineage_prune
 *		Delete the events older than lakehouse.openlineage_retention: the
 *		delivered ones, and with undelivered (no endpoint is configured, so
 *		nobody will deliver them) the undelivered ones too; the last
 *		COMPLETE or FAIL of each job stays, so lineage_graph stays complete.
 *		Caller is in a transaction, SPI connected.
 */
void
lineage_prune(bool undelivered)
{
	Oid			types[2] = {INT4OID, BOOLOID};
	Datum		values[2];

	values[0] = Int32GetDatum(lh_openlineage_retention);
	values[1] = BoolGetDatum(undelivered);
	catalog_exec("DELETE FROM lakehouse.event_outbox e"
				 " WHERE coalesce(e.delivered_at, CASE WHEN $2 THEN e.created_at END)"
				 "       < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
				 "   AND e.event_id NOT IN (SELECT max(k.event_id)"
				 "         FROM lakehouse.event_outbox k"
				 "        WHERE k.event_type IN ('COMPLETE', 'FAIL')"
				 "        GROUP BY k.job_name)",
				 2, types, values, NULL, SPI_OK_DELETE);
}

/*
 * lh_lineage_worker_main
 *		Entry point; the argument is the slot number, bgw_extra holds the
 *		database id and LH_LINEAGE_WORKER_ID.
 */
void
lh_lineage_worker_main(Datum arg)
{
	int32		source_id;
	LhWorkerSlot *slot;
	MemoryContext passcxt;

	slot = lh_worker_start(arg, &source_id);
	before_shmem_exit(lineage_curl_cleanup, (Datum) 0);

	passcxt = AllocSetContextCreate(TopMemoryContext, "lakehouse lineage pass",
									ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		TimestampTz last_prune = 0;

		lineage_curl_init();
		lh_slot_set_state(slot, "running", NULL);
		for (;;)
		{
			List	   *events;
			ListCell   *lc;
			int			ok = 0;
			char	   *last_error = NULL;
			bool		prune;
			TimestampTz now;

			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
			}
			if (lh_openlineage_url == NULL || lh_openlineage_url[0] == '\0')
				break;

			lh_crash_guard_healthy(slot->started_at);

			MemoryContextReset(passcxt);
			MemoryContextSwitchTo(passcxt);
			events = lineage_fetch();
			foreach(lc, events)
			{
				PendingEvent *e = lfirst(lc);

				CHECK_FOR_INTERRUPTS();
				e->error = lineage_post(e->payload);
				CHECK_FOR_INTERRUPTS();
				e->delivered = (e->error == NULL);
				if (e->delivered)
					ok++;
				else
					last_error = e->error;
			}
			now = GetCurrentTimestamp();
			prune = TimestampDifferenceExceeds(last_prune, now,
											   Min(LH_PRUNE_EVERY_MS,
												   (int64) lh_openlineage_retention * 1000));
			if (events != NIL || prune)
				lineage_record(events, prune);
			if (prune)
				last_prune = now;
			if (last_error)
				lh_slot_set_state(slot, "retrying", last_error);
			else if (events != NIL)
				lh_slot_set_state(slot, "running", NULL);
			MemoryContextSwitchTo(TopMemoryContext);

			/* delivered something: the next events of those runs are due now */
			if (ok > 0)
				continue;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 LH_IDLE_MS, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	PG_CATCH();
	{
		lh_worker_failed(slot);
	}
	PG_END_TRY();
	lh_worker_exit_clean(slot);
}

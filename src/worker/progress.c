/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Runs in flight (lakehouse.run_progress), progress NOTICE lines, and
 *	  the ledger rows of runs whose transaction was cancelled.
 *
 * Progress.  Shared memory holds one LhProgressSlot per backend
 * (MaxBackends of them, indexed by MyBackendId, as pg_stat_activity's
 * entries are).  A backend publishes its run when the run's ledger row is
 * inserted (lh_progress_run_begin), each stage as it starts
 * (lh_progress_stage), and clears the slot when the run ends
 * (lh_progress_run_end).  In between, the stages report as they go: the
 * bronze writer the rows of each batch it writes, the file source the
 * bytes it has read, the silver projection each row, and every statement
 * a stage runs through lh_spi_exec becomes the slot's "step".  The totals
 * are set where they are known (lh_progress_total): the bytes a file
 * source has to read, a Kafka source's lag, the bronze rows above a
 * silver table's mark, the rows a generate source lands.
 *
 * Only the owning backend writes its slot, so writing takes no lock: the
 * writer makes changecount odd before it changes anything and even again
 * after, with write barriers in between, inside a critical section so that
 * nothing can fail halfway (the changecount protocol of pgstat).  A reader
 * copies a slot and retries until it saw the same even count before and
 * after the copy.  A row reported costs two increments and two barriers.
 *
 * Without shared_preload_libraries there is no shared memory: the slot is
 * then a backend-local one, so that the NOTICE lines still work, and
 * lh_run_progress() returns no rows.
 *
 * NOTICE lines.  While lakehouse.progress_notice_interval is set, each
 * report checks the clock and emits a NOTICE saying how far the run is
 * once that many seconds passed since the run started or since the last
 * line.  Nothing is checked while it is 0.
 *
 * Cancelled runs.  A run's ledger row is written in the caller's
 * transaction, and PostgreSQL has no autonomous transactions: when a
 * cancel (pg_cancel_backend, statement_timeout), a termination
 * (pg_terminate_backend, a worker stopped) or an error the stages do not
 * catch aborts that transaction, the row vanishes with everything the run
 * did.  To leave a record anyway:
 *	1. lh_run_pipeline and lh_ingest catch the error on its way out and
 *	   call lh_progress_call_abort; a before_shmem_exit callback does the
 *	   same for a backend that exits in the middle of a run (FATAL);
 *	2. every run of that call -- the one in flight, and the upstream runs
 *	   that finished but are rolled back with it -- is queued in shared
 *	   memory with what is known of it: its run id (sequence values survive
 *	   a rollback), pipeline, who ran it and from which application, when,
 *	   the stage in flight and how far it got, and the error;
 *	3. the database's launcher is woken (lh_wake_db_launcher), and the
 *	   database launcher (launcher.c) writes each queued run to
 *	   lakehouse.runs in a transaction of its own, with status "cancelled"
 *	   (a cancel or a termination) or "failed" (any other error) and the
 *	   same run id, then forgets the entries once that transaction
 *	   committed (lh_progress_write_abandoned, lh_progress_forget_written).
 *	   Its INSERT ... ON CONFLICT (run_id) DO NOTHING waits until the
 *	   aborting transaction has rolled the original row back, so a run
 *	   never gets two rows.
 * A run whose call returned normally is not queued: when the caller rolls
 * its own transaction back afterwards, the run did not happen, as the
 * documentation says.  XXX The queue lives in shared memory: a crash
 * restart, or a shutdown before the launcher wrote the rows, loses what is
 * queued, and LH_MAX_ABANDONED_RUNS bounds it (a LOG line names a run
 * that could not be queued).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "catalog/catalog.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_run_progress);

/* lakehouse.progress_notice_interval (seconds; 0: off) */
int			lh_progress_notice_interval = 0;

#define LH_PROGRESS_NAME_LEN	256
#define LH_PROGRESS_STEP_LEN	128
#define LH_PROGRESS_STAGE_LEN	16

/* Runs whose ledger row waits for the database launcher, cluster-wide. */
#define LH_MAX_ABANDONED_RUNS	64

/* What a run in flight shows; pid 0: no run. */
typedef struct LhProgressSlot
{
	uint32		changecount;	/* odd while being written */
	pid_t		pid;
	Oid			dbid;
	int32		pipeline_id;
	int64		run_id;
	TimestampTz run_started;
	TimestampTz stage_started;
	int32		stage_no;		/* 0: before the first or after the last */
	int32		nstages;
	int64		rows_done;
	int64		rows_total;		/* -1: unknown */
	int64		bytes_done;		/* -1: not measured */
	int64		bytes_total;	/* -1: unknown */
	char		stage[LH_PROGRESS_STAGE_LEN];
	char		pipeline[LH_PROGRESS_NAME_LEN];
	char		target[LH_PROGRESS_NAME_LEN];
	char		step[LH_PROGRESS_STEP_LEN];
} LhProgressSlot;

/*
 * A run whose transaction aborted, waiting for its ledger row; also what
 * this backend remembers of each run of the current call.
 */
typedef struct LhAbandonedRun
{
	Oid			dbid;			/* InvalidOid: free */
	bool		writing;		/* the database launcher is writing it */
	bool		cancelled;		/* else failed */
	bool		finished;		/* the run had ended; rolled back with a later one */
	bool		full_refresh;
	int64		run_id;
	int32		pipeline_id;
	TimestampTz started_at;
	TimestampTz ended_at;
	NameData	run_by;
	char		application[NAMEDATALEN];
	char		pipeline[LH_PROGRESS_NAME_LEN];
	char		failed_stage[LH_PROGRESS_NAME_LEN + LH_PROGRESS_STAGE_LEN];
	char		sqlstate[6];
	char		message[LH_ERROR_LEN];
	int32		stage_no;
	int32		nstages;
	int64		rows_done;
	int64		rows_total;
	int64		bytes_done;
	int64		bytes_total;
} LhAbandonedRun;

typedef struct LhProgressShared
{
	int			nslots;
	LhAbandonedRun abandoned[LH_MAX_ABANDONED_RUNS];	/* lh_shared->lock */
	LhProgressSlot slots[FLEXIBLE_ARRAY_MEMBER];
} LhProgressShared;

static LhProgressShared *progress_shared = NULL;

/* this backend's slot while a run is in flight, else NULL */
static LhProgressSlot *my_progress = NULL;

/* the slot used without shared memory */
static LhProgressSlot local_slot;

/* the runs of the current lh_run_pipeline / lh_ingest call */
static MemoryContext call_cxt = NULL;
static List *call_runs = NIL;
static LhAbandonedRun *call_current = NULL;	/* the run in flight */

static bool exit_callback_registered = false;
static TimestampTz next_notice_at = 0;

static void progress_call_abandon(bool cancelled, const char *sqlstate,
								  const char *message);

/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

/*
 * lh_progress_shmem_size
 *		The shared memory the progress slots and the queue of abandoned runs
 *		need (MaxBackends is known from the shmem_request_hook on).
 */
Size
lh_progress_shmem_size(void)
{
	return add_size(offsetof(LhProgressShared, slots),
					mul_size(sizeof(LhProgressSlot), MaxBackends));
}

/*
 * lh_progress_shmem_init
 *		Find or create the progress area (from the shmem_startup_hook,
 *		holding AddinShmemInitLock).
 */
void
lh_progress_shmem_init(void)
{
	bool		found;

	progress_shared = ShmemInitStruct("lakehouse progress",
									  lh_progress_shmem_size(), &found);
	if (!found)
	{
		memset(progress_shared, 0, lh_progress_shmem_size());
		progress_shared->nslots = MaxBackends;
	}
}

/* Copy src into dst of size bytes, cut at a character boundary. */
static void
progress_copy(char *dst, const char *src, int size)
{
	int			len = src ? strlen(src) : 0;

	if (len >= size)
		len = pg_mbcliplen(src, len, size - 1);
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Start changing this backend's slot (see the file header). */
static inline void
progress_begin_write(LhProgressSlot *slot)
{
	START_CRIT_SECTION();
	slot->changecount++;
	pg_write_barrier();
}

/* Done changing this backend's slot. */
static inline void
progress_end_write(LhProgressSlot *slot)
{
	pg_write_barrier();
	slot->changecount++;
	END_CRIT_SECTION();
}

/* A consistent copy of another backend's slot. */
static void
progress_read(volatile LhProgressSlot *slot, LhProgressSlot *copy)
{
	for (;;)
	{
		uint32		before = slot->changecount;

		pg_read_barrier();
		memcpy(copy, (LhProgressSlot *) slot, sizeof(LhProgressSlot));
		pg_read_barrier();
		if (before == slot->changecount && (before & 1) == 0)
			return;
		CHECK_FOR_INTERRUPTS();
	}
}

/* ----------------------------------------------------------------
 * NOTICE lines
 * ----------------------------------------------------------------
 */

/* "12 MB" */
static char *
progress_size(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(bytes))));
}

/* Emit the NOTICE line of the run in flight when it is due. */
static void
progress_maybe_notice(void)
{
	LhProgressSlot *s = my_progress;
	TimestampTz now;
	StringInfoData buf;
	double		percent = -1;
	long		secs;
	int			usecs;

	if (lh_progress_notice_interval <= 0 || s == NULL)
		return;
	now = GetCurrentTimestamp();
	if (next_notice_at == 0)
		next_notice_at = TimestampTzPlusMilliseconds(s->run_started,
													 lh_progress_notice_interval * 1000);
	if (now < next_notice_at)
		return;
	next_notice_at = TimestampTzPlusMilliseconds(now, lh_progress_notice_interval * 1000);

	initStringInfo(&buf);
	if (s->stage_no > 0)
		appendStringInfo(&buf, "stage %d of %d, %s %s: ", s->stage_no, s->nstages,
						 s->stage, s->target);
	else
		appendStringInfo(&buf, "%s: ", s->stage);
	appendStringInfo(&buf, INT64_FORMAT, s->rows_done);
	if (s->rows_total >= 0)
		appendStringInfo(&buf, " of " INT64_FORMAT, s->rows_total);
	appendStringInfoString(&buf, " rows");
	if (s->bytes_done >= 0)
	{
		appendStringInfo(&buf, ", %s", progress_size(s->bytes_done));
		if (s->bytes_total >= 0)
			appendStringInfo(&buf, " of %s", progress_size(s->bytes_total));
	}
	if (s->bytes_total > 0 && s->bytes_done >= 0)
		percent = 100.0 * s->bytes_done / s->bytes_total;
	else if (s->rows_total > 0)
		percent = 100.0 * s->rows_done / s->rows_total;
	if (percent >= 0)
		appendStringInfo(&buf, " (%.1f%%)", Min(percent, 100.0));
	TimestampDifference(s->run_started, now, &secs, &usecs);
	ereport(NOTICE,
			(errmsg("pipeline \"%s\" run " INT64_FORMAT ", %ld s: %s",
					s->pipeline, s->run_id, secs, buf.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	pfree(buf.data);
}

/* ----------------------------------------------------------------
 * Reporting (the run in flight in this backend)
 * ----------------------------------------------------------------
 */

/*
 * lh_progress_active
 *		Is a run in flight in this backend?  Lets a stage skip work done only
 *		to report progress (counting the rows ahead).
 */
bool
lh_progress_active(void)
{
	return my_progress != NULL;
}

/*
 * lh_progress_total
 *		The stage's totals, when known: rows and bytes (-1: unknown).
 */
void
lh_progress_total(int64 rows, int64 bytes)
{
	LhProgressSlot *s = my_progress;

	if (s == NULL)
		return;
	progress_begin_write(s);
	s->rows_total = rows;
	s->bytes_total = bytes;
	if (bytes >= 0 && s->bytes_done < 0)
		s->bytes_done = 0;
	progress_end_write(s);
}

/*
 * lh_progress_add_rows
 *		rows more are done (landed, projected or written).  Cheap enough to
 *		call per row.
 */
void
lh_progress_add_rows(int64 rows)
{
	LhProgressSlot *s = my_progress;

	if (s == NULL)
		return;
	progress_begin_write(s);
	s->rows_done += rows;
	progress_end_write(s);
	if (unlikely(lh_progress_notice_interval > 0))
		progress_maybe_notice();
}

/*
 * lh_progress_set_bytes
 *		The stage has read this many bytes of its input so far.
 */
void
lh_progress_set_bytes(int64 bytes)
{
	LhProgressSlot *s = my_progress;

	if (s == NULL)
		return;
	progress_begin_write(s);
	s->bytes_done = bytes;
	progress_end_write(s);
	if (unlikely(lh_progress_notice_interval > 0))
		progress_maybe_notice();
}

/*
 * lh_progress_step
 *		What the stage is doing now (a statement, a file).
 */
void
lh_progress_step(const char *step)
{
	LhProgressSlot *s = my_progress;

	if (s == NULL)
		return;
	progress_begin_write(s);
	progress_copy(s->step, step, LH_PROGRESS_STEP_LEN);
	progress_end_write(s);
	if (unlikely(lh_progress_notice_interval > 0))
		progress_maybe_notice();
}

/* ----------------------------------------------------------------
 * Runs (src/pipeline/run.c)
 * ----------------------------------------------------------------
 */

/* before_shmem_exit: the backend exits in the middle of a call. */
static void
progress_exit(int code, Datum arg)
{
	if (call_runs == NIL && my_progress == NULL)
		return;
	progress_call_abandon(true, NULL,
						  "the session running the run ended before the run finished");
}

/*
 * lh_progress_call_begin
 *		lh_run_pipeline or lh_ingest starts: forget the runs of any earlier
 *		call.
 */
void
lh_progress_call_begin(void)
{
	if (call_cxt == NULL)
		call_cxt = AllocSetContextCreate(TopMemoryContext, "lakehouse run call",
										 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(call_cxt);
	call_runs = NIL;
	call_current = NULL;
	if (!exit_callback_registered && lh_shared != NULL)
	{
		before_shmem_exit(progress_exit, (Datum) 0);
		exit_callback_registered = true;
	}
}

/*
 * lh_progress_call_end
 *		The call returns normally: its runs are recorded in its transaction.
 */
void
lh_progress_call_end(void)
{
	if (call_cxt != NULL)
		MemoryContextReset(call_cxt);
	call_runs = NIL;
	call_current = NULL;
}

/*
 * lh_progress_run_begin
 *		A run's ledger row was inserted: publish it, and remember it in case
 *		the call aborts.  Caller is connected to SPI, in a transaction.
 */
void
lh_progress_run_begin(const LhRunState *run)
{
	LhProgressSlot *s;
	LhAbandonedRun *r;
	MemoryContext old;

	if (call_cxt == NULL)
		lh_progress_call_begin();
	old = MemoryContextSwitchTo(call_cxt);
	r = palloc0(sizeof(LhAbandonedRun));
	r->run_id = run->run_id;
	r->pipeline_id = run->pipeline_id;
	r->full_refresh = run->full_refresh;
	r->started_at = GetCurrentTimestamp();
	namestrcpy(&r->run_by, catalog_acting_user_name());
	progress_copy(r->application, application_name, NAMEDATALEN);
	progress_copy(r->pipeline, run->pipeline_name, LH_PROGRESS_NAME_LEN);
	call_runs = lappend(call_runs, r);
	call_current = r;
	MemoryContextSwitchTo(old);

	if (progress_shared != NULL && MyBackendId != InvalidBackendId &&
		MyBackendId <= progress_shared->nslots)
		s = &progress_shared->slots[MyBackendId - 1];
	else
		s = &local_slot;
	progress_begin_write(s);
	s->pid = MyProcPid;
	s->dbid = MyDatabaseId;
	s->pipeline_id = run->pipeline_id;
	s->run_id = run->run_id;
	s->run_started = r->started_at;
	s->stage_started = r->started_at;
	s->stage_no = 0;
	s->nstages = 0;
	s->rows_done = 0;
	s->rows_total = -1;
	s->bytes_done = -1;
	s->bytes_total = -1;
	progress_copy(s->stage, "starting", LH_PROGRESS_STAGE_LEN);
	progress_copy(s->pipeline, run->pipeline_name, LH_PROGRESS_NAME_LEN);
	s->target[0] = '\0';
	s->step[0] = '\0';
	progress_end_write(s);
	my_progress = s;
	next_notice_at = 0;
}

/*
 * lh_progress_stage
 *		The run starts stage stage_no of nstages ("ingest", "silver" or
 *		"gold", on target), or, with stage_no 0, its last steps ("finishing").
 */
void
lh_progress_stage(const char *stage, const char *target, int stage_no,
				  int nstages)
{
	LhProgressSlot *s = my_progress;

	if (s == NULL)
		return;
	progress_begin_write(s);
	s->stage_no = stage_no;
	s->nstages = nstages;
	s->stage_started = GetCurrentTimestamp();
	s->rows_done = 0;
	s->rows_total = -1;
	s->bytes_done = -1;
	s->bytes_total = -1;
	progress_copy(s->stage, stage, LH_PROGRESS_STAGE_LEN);
	progress_copy(s->target, target, LH_PROGRESS_NAME_LEN);
	s->step[0] = '\0';
	progress_end_write(s);
	if (unlikely(lh_progress_notice_interval > 0))
		progress_maybe_notice();
}

/* Clear this backend's slot. */
static void
progress_clear(void)
{
	LhProgressSlot *s = my_progress;

	if (s == NULL)
		return;
	my_progress = NULL;
	progress_begin_write(s);
	s->pid = 0;
	s->run_id = 0;
	progress_end_write(s);
}

/*
 * lh_progress_run_end
 *		The run returned (whatever its status): it is in its ledger row now.
 */
void
lh_progress_run_end(void)
{
	if (call_current)
	{
		call_current->finished = true;
		call_current = NULL;
	}
	progress_clear();
}

/* Is this an error that ends a run as cancelled rather than failed? */
static bool
progress_is_cancel(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_QUERY_CANCELED ||
		sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
		sqlerrcode == ERRCODE_CRASH_SHUTDOWN ||
		sqlerrcode == ERRCODE_IDLE_SESSION_TIMEOUT ||
		sqlerrcode == ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT;
}

/*
 * lh_progress_call_abort
 *		In the PG_CATCH of lh_run_pipeline / lh_ingest: the call's
 *		transaction is going to roll back; queue its runs.  The caller
 *		re-throws.
 */
void
lh_progress_call_abort(void)
{
	MemoryContext old;
	ErrorData  *edata;

	if (call_runs == NIL)
	{
		progress_clear();
		return;
	}
	old = MemoryContextSwitchTo(call_cxt);
	edata = CopyErrorData();
	MemoryContextSwitchTo(old);
	progress_call_abandon(progress_is_cancel(edata->sqlerrcode),
						  unpack_sql_state(edata->sqlerrcode),
						  edata->message);
}

/*
 * Queue the runs of the current call for the database launcher (see the
 * file header) and forget them; clears the slot.  sqlstate may be NULL.
 */
static void
progress_call_abandon(bool cancelled, const char *sqlstate,
					  const char *message)
{
	LhProgressSlot *s = my_progress;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	bool		queued = false;

	if (s != NULL && call_current != NULL)
	{
		/* the slot is ours: no need for a consistent copy */
		call_current->stage_no = s->stage_no;
		call_current->nstages = s->nstages;
		call_current->rows_done = s->rows_done;
		call_current->rows_total = s->rows_total;
		call_current->bytes_done = s->bytes_done;
		call_current->bytes_total = s->bytes_total;
		if (s->stage_no > 0)
			snprintf(call_current->failed_stage, sizeof(call_current->failed_stage),
					 "%s %s", s->stage, s->target);
	}
	progress_clear();

	if (lh_shared == NULL || progress_shared == NULL)
	{
		lh_progress_call_end();
		return;
	}
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	foreach(lc, call_runs)
	{
		LhAbandonedRun *r = lfirst(lc);
		LhAbandonedRun *e = NULL;

		for (int i = 0; i < LH_MAX_ABANDONED_RUNS && e == NULL; i++)
			if (progress_shared->abandoned[i].dbid == InvalidOid)
				e = &progress_shared->abandoned[i];
		if (e == NULL)
		{
			ereport(LOG,
					(errmsg("lakehouse could not keep a ledger row for run " INT64_FORMAT " of pipeline \"%s\": %d runs are waiting for theirs already",
							r->run_id, r->pipeline, LH_MAX_ABANDONED_RUNS)));
			continue;
		}
		memcpy(e, r, sizeof(LhAbandonedRun));
		e->writing = false;
		e->cancelled = cancelled;
		e->ended_at = now;
		progress_copy(e->sqlstate, sqlstate, sizeof(e->sqlstate));
		if (r->finished && r != call_current)
			snprintf(e->message, sizeof(e->message),
					 "rolled back with a later run of the same call: %s", message);
		else
			progress_copy(e->message, message, LH_ERROR_LEN);
		e->dbid = MyDatabaseId;
		queued = true;
	}
	if (queued)
		lh_wake_db_launcher(MyDatabaseId);
	LWLockRelease(lh_shared->lock);
	lh_progress_call_end();
}

/* ----------------------------------------------------------------
 * Writing the abandoned runs (the database launcher)
 * ----------------------------------------------------------------
 */

/* key: value, with a comma before all but the first key */
static void
json_num(StringInfo buf, const char *key, int64 value, bool unknown)
{
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	if (unknown)
		appendStringInfoString(buf, ":null");
	else
		appendStringInfo(buf, ":" INT64_FORMAT, value);
}

/* The summary of an abandoned run, as the ledger's summary column keeps it. */
static char *
abandoned_summary(const LhAbandonedRun *r)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	json_num(&buf, "run_id", r->run_id, false);
	appendStringInfoString(&buf, ",\"pipeline\":");
	escape_json(&buf, r->pipeline);
	appendStringInfo(&buf, ",\"status\":\"%s\",\"rolled_back\":true",
					 r->cancelled ? "cancelled" : "failed");
	json_num(&buf, "rows_read", 0, false);
	json_num(&buf, "rows_written", 0, false);
	json_num(&buf, "rows_quarantined", 0, false);
	appendStringInfoString(&buf, ",\"failed_stage\":");
	if (r->failed_stage[0])
		escape_json(&buf, r->failed_stage);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ",\"error\":");
	escape_json(&buf, r->message);
	if (r->failed_stage[0])
	{
		StringInfoData p;

		initStringInfo(&p);
		appendStringInfoChar(&p, '{');
		json_num(&p, "stage_no", r->stage_no, false);
		json_num(&p, "stages", r->nstages, false);
		json_num(&p, "rows_done", r->rows_done, false);
		json_num(&p, "rows_total", r->rows_total, r->rows_total < 0);
		json_num(&p, "bytes_done", r->bytes_done, r->bytes_done < 0);
		json_num(&p, "bytes_total", r->bytes_total, r->bytes_total < 0);
		appendStringInfoChar(&p, '}');
		appendStringInfo(&buf, ",\"progress\":%s", p.data);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * lh_progress_write_abandoned
 *		Write the ledger rows of this database's abandoned runs.  In the
 *		database launcher's transaction, connected to SPI, with the
 *		extension present and current.  The entries are marked as being
 *		written; lh_progress_forget_written frees them after the commit.
 *		Returns how many rows it wrote.
 */
int
lh_progress_write_abandoned(void)
{
	LhAbandonedRun *runs;
	int			n = 0;

	if (lh_shared == NULL || progress_shared == NULL)
		return 0;
	runs = palloc(sizeof(LhAbandonedRun) * LH_MAX_ABANDONED_RUNS);
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LH_MAX_ABANDONED_RUNS; i++)
	{
		LhAbandonedRun *e = &progress_shared->abandoned[i];

		if (e->dbid != MyDatabaseId)
			continue;
		e->writing = true;
		memcpy(&runs[n++], e, sizeof(LhAbandonedRun));
	}
	LWLockRelease(lh_shared->lock);

	for (int i = 0; i < n; i++)
	{
		LhAbandonedRun *r = &runs[i];

		catalog_run_record_abandoned(r->run_id, r->pipeline_id, r->pipeline,
									 r->cancelled ? "cancelled" : "failed",
									 NameStr(r->run_by),
									 r->application[0] ? r->application : NULL,
									 r->full_refresh, r->started_at, r->ended_at,
									 r->failed_stage[0] ? r->failed_stage : NULL,
									 r->sqlstate[0] ? r->sqlstate : NULL,
									 r->message, abandoned_summary(r));
	}
	pfree(runs);
	return n;
}

/*
 * lh_progress_forget_written
 *		After the database launcher's commit: free the entries it wrote.
 *		With committed false (its transaction failed, or it is starting),
 *		they wait for the next pass instead.
 */
void
lh_progress_forget_written(bool committed)
{
	if (lh_shared == NULL || progress_shared == NULL)
		return;
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LH_MAX_ABANDONED_RUNS; i++)
	{
		LhAbandonedRun *e = &progress_shared->abandoned[i];

		if (e->dbid != MyDatabaseId || !e->writing)
			continue;
		if (committed)
			memset(e, 0, sizeof(LhAbandonedRun));
		else
			e->writing = false;
	}
	LWLockRelease(lh_shared->lock);
}

/*
 * lh_progress_has_abandoned
 *		Does this database have runs waiting for their ledger row?
 */
bool
lh_progress_has_abandoned(void)
{
	bool		found = false;

	if (lh_shared == NULL || progress_shared == NULL)
		return false;
	LWLockAcquire(lh_shared->lock, LW_SHARED);
	for (int i = 0; i < LH_MAX_ABANDONED_RUNS && !found; i++)
		if (progress_shared->abandoned[i].dbid == MyDatabaseId)
			found = true;
	LWLockRelease(lh_shared->lock);
	return found;
}

/* ----------------------------------------------------------------
 * lh_run_progress()
 * ----------------------------------------------------------------
 */

/* text datum of s, or null when empty */
static Datum
progress_text(const char *s, bool *isnull)
{
	*isnull = (s[0] == '\0');
	return *isnull ? (Datum) 0 : CStringGetTextDatum(s);
}

/* int8 datum of v, or null when negative (unknown) */
static Datum
progress_int8(int64 v, bool *isnull)
{
	*isnull = (v < 0);
	return Int64GetDatum(v);
}

/*
 * lh_run_progress()
 *		One row per run in flight in the current database: backend pid,
 *		pipeline, run id, stage, target, stage number and count, rows and
 *		bytes done and their totals when known, the step, when the run and
 *		the stage started.
 */
Datum
lh_run_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LhProgressSlot copy;

	InitMaterializedSRF(fcinfo, 0);
	if (progress_shared == NULL)
		return (Datum) 0;

	for (int i = 0; i < progress_shared->nslots; i++)
	{
		volatile LhProgressSlot *slot = &progress_shared->slots[i];
		Datum		values[15];
		bool		nulls[15];

		/* cheap look first: most slots are idle */
		if (slot->pid == 0)
			continue;
		progress_read(slot, &copy);
		if (copy.pid == 0 || copy.dbid != MyDatabaseId)
			continue;

		memset(nulls, false, sizeof(nulls));
		values[0] = Int32GetDatum(copy.pid);
		values[1] = Int32GetDatum(copy.pipeline_id);
		values[2] = CStringGetTextDatum(copy.pipeline);
		values[3] = Int64GetDatum(copy.run_id);
		values[4] = CStringGetTextDatum(copy.stage);
		values[5] = progress_text(copy.target, &nulls[5]);
		values[6] = Int32GetDatum(copy.stage_no);
		nulls[6] = (copy.stage_no == 0);
		values[7] = Int32GetDatum(copy.nstages);
		nulls[7] = (copy.nstages == 0);
		values[8] = Int64GetDatum(copy.rows_done);
		values[9] = progress_int8(copy.rows_total, &nulls[9]);
		values[10] = progress_int8(copy.bytes_done, &nulls[10]);
		values[11] = progress_int8(copy.bytes_total, &nulls[11]);
		values[12] = progress_text(copy.step, &nulls[12]);
		values[13] = TimestampTzGetDatum(copy.run_started);
		values[14] = TimestampTzGetDatum(copy.stage_started);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

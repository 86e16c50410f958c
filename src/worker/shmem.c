/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared state of the background workers, the cluster launcher's
 *	  registration, waking the workers when definitions change, and the
 *	  status functions behind lakehouse.source_status.
 *
 * Everything here works without preloading too: lh_shared is then NULL,
 * nothing is woken, and the status functions say that no worker runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sys/stat.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"

#include "lakehouse.h"
#include "sources/sources.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_worker_status);
PG_FUNCTION_INFO_V1(lh_partition_stats);

LhShared   *lh_shared = NULL;

/*
 * In the postmaster: the server was started as a standby (standby.signal
 * existed when shared memory was first set up).  Kept across crash
 * restarts, when shared memory is set up again.
 */
static bool postmaster_saw_standby = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* sources whose workers this transaction asked to wake (0: all) */
static List *notify_sources = NIL;
static bool notify_pending = false;
static bool xact_callback_registered = false;

static Size
lh_shmem_size(void)
{
	return add_size(offsetof(LhShared, slots),
					mul_size(sizeof(LhWorkerSlot), lh_max_workers));
}

static void
lh_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(lh_shmem_size());
	RequestAddinShmemSpace(lh_progress_shmem_size());
	RequestNamedLWLockTranche("lakehouse", 1);
}

/* Does DataDir/standby.signal exist (the server starts or runs as a standby)? */
static bool
standby_signal_exists(void)
{
	char		path[MAXPGPATH];
	struct stat st;

	if (DataDir == NULL)
		return false;
	snprintf(path, sizeof(path), "%s/%s", DataDir, STANDBY_SIGNAL_FILE);
	return stat(path, &st) == 0;
}

static void
lh_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	lh_shared = ShmemInitStruct("lakehouse", lh_shmem_size(), &found);
	if (!found)
	{
		memset(lh_shared, 0, lh_shmem_size());
		lh_shared->lock = &(GetNamedLWLockTranche("lakehouse"))->lock;
		lh_shared->nslots = lh_max_workers;
		if (standby_signal_exists())
			postmaster_saw_standby = true;
		lh_shared->seen_standby = postmaster_saw_standby;
	}
	lh_progress_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * lh_worker_shmem_setup
 *		Install the shared-memory hooks (from _PG_init, when preloading).
 */
void
lh_worker_shmem_setup(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = lh_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = lh_shmem_startup;
}

/*
 * lh_register_launcher
 *		Register the cluster launcher (from _PG_init, when preloading).
 */
void
lh_register_launcher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* it runs on a hot standby too, starting nothing that writes */
	bgw.bgw_start_time = BgWorkerStart_ConsistentState;
	bgw.bgw_restart_time = 5;
	strlcpy(bgw.bgw_library_name, "lakehouse", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "lh_launcher_main", BGW_MAXLEN);
	strlcpy(bgw.bgw_name, "lakehouse launcher", BGW_MAXLEN);
	strlcpy(bgw.bgw_type, "lakehouse launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&bgw);
}

/*
 * lh_note_standby
 *		Remember that this postmaster runs as a standby, if it does now
 *		(in recovery, with DataDir/standby.signal).  Returns whether the
 *		server is in recovery.  The launchers call it on every pass.
 */
bool
lh_note_standby(void)
{
	if (!RecoveryInProgress())
		return false;
	if (lh_shared && !lh_shared->seen_standby && standby_signal_exists())
	{
		LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
		lh_shared->seen_standby = true;
		LWLockRelease(lh_shared->lock);
	}
	return true;
}

/*
 * lh_seen_standby
 *		Has this postmaster run as a standby since it started?  Then a newer
 *		timeline is a promotion (a failover), not a point-in-time recovery.
 */
bool
lh_seen_standby(void)
{
	bool		seen;

	if (lh_shared == NULL)
		return false;
	LWLockAcquire(lh_shared->lock, LW_SHARED);
	seen = lh_shared->seen_standby;
	LWLockRelease(lh_shared->lock);
	return seen;
}

/*
 * lh_find_slot
 *		The slot of a source's worker, or NULL.  Caller holds the lock.
 */
LhWorkerSlot *
lh_find_slot(Oid dbid, int32 source_id)
{
	if (lh_shared == NULL)
		return NULL;
	for (int i = 0; i < lh_shared->nslots; i++)
		if (lh_shared->slots[i].source_id == source_id &&
			lh_shared->slots[i].dbid == dbid)
			return &lh_shared->slots[i];
	return NULL;
}

/*
 * lh_worker_serves
 *		Is a worker running for this source of the current database?
 */
bool
lh_worker_serves(int32 source_id)
{
	LhWorkerSlot *slot;
	bool		result;

	if (lh_shared == NULL)
		return false;
	LWLockAcquire(lh_shared->lock, LW_SHARED);
	slot = lh_find_slot(MyDatabaseId, source_id);
	result = (slot != NULL && slot->pid != 0);
	LWLockRelease(lh_shared->lock);
	return result;
}

/*
 * lh_slot_set_state
 *		Set a slot's state and, if error is not NULL, its last error.
 *		Takes the lock.
 */
void
lh_slot_set_state(LhWorkerSlot *slot, const char *state, const char *error)
{
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	strlcpy(slot->state, state, LH_STATE_LEN);
	if (error)
	{
		strlcpy(slot->last_error, error, LH_ERROR_LEN);
		slot->last_error_at = GetCurrentTimestamp();
	}
	LWLockRelease(lh_shared->lock);
}

/* before_shmem_exit callback of a source worker: leave its slot. */
static void
lh_worker_detach(int code, Datum arg)
{
	LhWorkerSlot *slot = (LhWorkerSlot *) DatumGetPointer(arg);

	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
	}
	LWLockRelease(lh_shared->lock);
}

/*
 * lh_worker_start
 *		The start of every worker's main function: read what it was started
 *		with from bgw_extra (LhWorkerExtra), install the signal handlers
 *		(SIGTERM ends the worker, SIGHUP rereads the configuration, SIGQUIT
 *		see crashes.c), take the slot (lh_worker_attach), count the start
 *		until it ends in an ordinary way (lh_crash_guard_enter), and connect
 *		to the database as the role it serves.  Returns the slot; *source_id
 *		gets the source id (a pseudo source for the lineage and metrics
 *		workers).
 *
 * The role: a source worker connects as its pipeline's owner, so that
 * nothing it does can reach more than that owner could; the observability
 * workers as the catalog owner.  PostgreSQL 15 lets a background worker
 * connect only as a role that may log in; for a NOLOGIN owner (a group
 * role such as lakehouse_engineer) the worker connects without a role and
 * becomes the owner at once with SetSessionAuthorization, as SET SESSION
 * AUTHORIZATION does, before it reads or runs anything.  Code the owner
 * controls also runs under SECURITY_RESTRICTED_OPERATION (identity.c),
 * where switching back is refused.
 */
LhWorkerSlot *
lh_worker_start(Datum arg, int32 *source_id)
{
	LhWorkerExtra extra;
	LhWorkerSlot *slot;

	memcpy(&extra, MyBgworkerEntry->bgw_extra, sizeof(LhWorkerExtra));
	*source_id = extra.source_id;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	slot = lh_worker_attach(DatumGetInt32(arg), extra.dbid, extra.source_id);
	lh_crash_guard_enter(extra.dbid, extra.source_id);
	if (OidIsValid(extra.role) && extra.role_can_login)
		BackgroundWorkerInitializeConnectionByOid(extra.dbid, extra.role, 0);
	else
	{
		BackgroundWorkerInitializeConnectionByOid(extra.dbid, InvalidOid, 0);
		if (OidIsValid(extra.role))
		{
			StartTransactionCommand();
			SetSessionAuthorization(extra.role, superuser_arg(extra.role));
			CommitTransactionCommand();
		}
	}
	pgstat_report_appname(MyBgworkerEntry->bgw_name);
	return slot;
}

/*
 * lh_worker_attach
 *		Take the slot a source worker was started for; exits quietly if the
 *		slot is not (or no longer) for this database and source.  Call it
 *		before connecting to the database.
 */
LhWorkerSlot *
lh_worker_attach(int slotno, Oid dbid, int32 source_id)
{
	LhWorkerSlot *slot;

	if (lh_shared == NULL || slotno < 0 || slotno >= lh_shared->nslots)
		proc_exit(0);
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	slot = &lh_shared->slots[slotno];
	if (slot->dbid != dbid || slot->source_id != source_id || slot->pid != 0)
	{
		LWLockRelease(lh_shared->lock);
		proc_exit(0);
	}
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	slot->started_at = GetCurrentTimestamp();
	slot->clean_exit = false;
	slot->nparts = 0;
	strlcpy(slot->state, "connecting", LH_STATE_LEN);
	LWLockRelease(lh_shared->lock);
	before_shmem_exit(lh_worker_detach, PointerGetDatum(slot));
	return slot;
}

/*
 * lh_worker_failed
 *		In a source worker's PG_CATCH: show the error in the slot and exit
 *		through the error (the launcher restarts the worker with backoff).
 */
void
lh_worker_failed(LhWorkerSlot *slot)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	lh_slot_set_state(slot, "error", edata->message);
	RESUME_INTERRUPTS();
	PG_RE_THROW();
}

/*
 * lh_worker_exit_clean
 *		A source worker stops on purpose (source disabled, dropped or
 *		changed): its launcher decides what comes next without backoff.
 */
void
lh_worker_exit_clean(LhWorkerSlot *slot)
{
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	slot->clean_exit = true;
	strlcpy(slot->state, "stopped", LH_STATE_LEN);
	LWLockRelease(lh_shared->lock);
	proc_exit(0);
}

/*
 * lh_wake_db_launcher
 *		Ask for the database launcher of dbid: wake it if it runs, else mark
 *		its database as wanted and wake the cluster launcher, which starts
 *		one at once.  Caller holds the lock exclusively.
 */
void
lh_wake_db_launcher(Oid dbid)
{
	LhDbEntry  *entry = NULL;
	LhDbEntry  *free_entry = NULL;

	for (int i = 0; i < LH_MAX_DATABASES; i++)
	{
		if (lh_shared->dbs[i].dbid == dbid)
			entry = &lh_shared->dbs[i];
		else if (lh_shared->dbs[i].dbid == InvalidOid && free_entry == NULL)
			free_entry = &lh_shared->dbs[i];
	}
	if (entry == NULL && free_entry != NULL)
	{
		entry = free_entry;
		memset(entry, 0, sizeof(LhDbEntry));
		entry->dbid = dbid;
	}
	if (entry)
	{
		entry->wanted = true;
		if (entry->latch)
			SetLatch(entry->latch);
	}
	if (lh_shared->launcher_latch)
		SetLatch(lh_shared->launcher_latch);
}

/* Wake the launchers (and named workers) once the transaction commits. */
static void
lh_workers_xact_callback(XactEvent event, void *arg)
{
	List	   *sources = notify_sources;

	if (!notify_pending)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	notify_pending = false;
	notify_sources = NIL;
	if (lh_shared == NULL ||
		(event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT))
	{
		list_free(sources);
		return;
	}

	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	lh_wake_db_launcher(MyDatabaseId);
	for (int i = 0; i < lh_shared->nslots; i++)
	{
		LhWorkerSlot *slot = &lh_shared->slots[i];

		if (slot->dbid == MyDatabaseId && slot->latch &&
			(list_member_int(sources, 0) ||
			 list_member_int(sources, slot->source_id)))
			SetLatch(slot->latch);
	}
	LWLockRelease(lh_shared->lock);
	list_free(sources);
}

/*
 * lh_workers_notify
 *		Ask the launchers to re-read the definitions of this database when
 *		the current transaction commits, and wake the worker of source_id
 *		(0: every worker of the database).
 */
void
lh_workers_notify(int32 source_id)
{
	MemoryContext oldcxt;

	if (!xact_callback_registered)
	{
		RegisterXactCallback(lh_workers_xact_callback, NULL);
		xact_callback_registered = true;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (!list_member_int(notify_sources, source_id))
		notify_sources = lappend_int(notify_sources, source_id);
	MemoryContextSwitchTo(oldcxt);
	notify_pending = true;
}

/* The sources of this database that have workers: id, enabled. */
static void
status_sources(List **ids, List **enabled)
{
	ListCell   *lc;

	*ids = *enabled = NIL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, catalog_all_sources())
	{
		LhSource   *src = lfirst(lc);

		if (source_worker_mode(src->kind, src->options) == LH_WORKER_NONE)
			continue;
		*ids = lappend_int(*ids, src->source_id);
		*enabled = lappend_int(*enabled, src->enabled);
	}
	SPI_finish();
}

/*
 * lh_worker_status()
 *		One row per source of the current database that a worker serves
 *		(Kafka, and HTTP with a poll interval): worker pid and
 *		state, last error and when, when it started, failed starts.  On a
 *		standby the state of an enabled source is "standby": its worker
 *		starts when the server is promoted.
 */
Datum
lh_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *ids;
	List	   *enabled;
	ListCell   *lc1;
	ListCell   *lc2;
	bool		full = true;
	bool		in_recovery = RecoveryInProgress();
	char		waiting[LH_STATE_LEN];

	InitMaterializedSRF(fcinfo, 0);
	status_sources(&ids, &enabled);

	if (lh_shared)
	{
		LWLockAcquire(lh_shared->lock, LW_SHARED);
		for (int i = 0; i < lh_shared->nslots; i++)
			if (lh_shared->slots[i].source_id == 0)
				full = false;
		LWLockRelease(lh_shared->lock);
	}
	snprintf(waiting, sizeof(waiting),
			 "waiting: lakehouse.max_workers (%d) reached", lh_max_workers);

	forboth(lc1, ids, lc2, enabled)
	{
		Datum		values[7];
		bool		nulls[7] = {false, true, false, true, true, true, true};
		int32		source_id = lfirst_int(lc1);
		LhWorkerSlot *slot;
		LhWorkerSlot copy;
		bool		have = false;

		values[0] = Int32GetDatum(source_id);
		if (lh_shared)
		{
			LWLockAcquire(lh_shared->lock, LW_SHARED);
			slot = lh_find_slot(MyDatabaseId, source_id);
			if (slot)
			{
				memcpy(&copy, slot, offsetof(LhWorkerSlot, parts));
				have = true;
			}
			LWLockRelease(lh_shared->lock);
		}

		if (lh_shared == NULL)
			values[2] = CStringGetTextDatum("not running (lakehouse is not in shared_preload_libraries)");
		else if (in_recovery && lfirst_int(lc2))
			values[2] = CStringGetTextDatum("standby");
		else if (have)
		{
			if (copy.pid != 0)
			{
				values[1] = Int32GetDatum(copy.pid);
				nulls[1] = false;
			}
			values[2] = CStringGetTextDatum(!lfirst_int(lc2) && copy.pid == 0 ?
											"stopped" : copy.state);
			if (copy.last_error[0])
			{
				values[3] = CStringGetTextDatum(copy.last_error);
				values[4] = TimestampTzGetDatum(copy.last_error_at);
				nulls[3] = nulls[4] = false;
			}
			if (copy.started_at != 0)
			{
				values[5] = TimestampTzGetDatum(copy.started_at);
				nulls[5] = false;
			}
			values[6] = Int32GetDatum(copy.failures);
			nulls[6] = false;
		}
		else if (!lfirst_int(lc2))
			values[2] = CStringGetTextDatum("stopped");
		else
			values[2] = CStringGetTextDatum(full ? waiting : "starting");

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * lh_partition_stats()
 *		One row per partition that a worker of the current database
 *		consumes: next offset, high watermark, last message time, rate.
 */
Datum
lh_partition_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (lh_shared == NULL)
		return (Datum) 0;

	for (int i = 0; i < lh_shared->nslots; i++)
	{
		LhWorkerSlot *slot = &lh_shared->slots[i];
		int32		source_id;
		int			nparts;
		LhPartStat *parts;

		LWLockAcquire(lh_shared->lock, LW_SHARED);
		source_id = slot->source_id;
		nparts = (slot->dbid == MyDatabaseId && source_id != 0) ? slot->nparts : 0;
		parts = palloc(sizeof(LhPartStat) * Max(nparts, 1));
		memcpy(parts, slot->parts, sizeof(LhPartStat) * nparts);
		LWLockRelease(lh_shared->lock);

		for (int j = 0; j < nparts; j++)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};

			values[0] = Int32GetDatum(source_id);
			values[1] = Int32GetDatum(parts[j].partition);
			values[2] = Int64GetDatum(parts[j].next);
			nulls[2] = parts[j].next < 0;
			values[3] = Int64GetDatum(parts[j].high);
			nulls[3] = parts[j].high < 0;
			values[4] = TimestampTzGetDatum(parts[j].last_message_at);
			nulls[4] = parts[j].last_message_at == 0;
			values[5] = Float8GetDatum(parts[j].rate);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		pfree(parts);
	}
	return (Datum) 0;
}

/*
 * lh_worker_request_restart
 *		Ask the launcher to start the source's worker again at once, and
 *		stop the running one.  Returns whether a worker was signalled.
 */
bool
lh_worker_request_restart(int32 source_id)
{
	pid_t		pid = 0;

	if (lh_shared == NULL)
		return false;
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	{
		LhWorkerSlot *slot = lh_find_slot(MyDatabaseId, source_id);

		if (slot)
		{
			slot->restart_requested = true;
			slot->failures = 0;
			slot->next_start = 0;
			pid = slot->pid;
		}
	}
	LWLockRelease(lh_shared->lock);
	if (pid != 0)
		(void) kill(pid, SIGTERM);
	return pid != 0;
}

/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The cluster launcher and the per-database launchers (see worker.h).
 *
 * Cluster launcher.  Connected to no database, it reads pg_database and
 * keeps a database launcher running in every database that accepts
 * connections and is not a template, starting one again every
 * lakehouse.launcher_naptime after the last one exited, or at once when a
 * backend of that database asked (lh_workers_notify at commit).
 *
 * Database launcher.  If the database has the extension, it reads the Kafka
 * sources and the HTTP sources with a poll interval, and makes the running
 * workers match the enabled ones:
 *	- an enabled source without a worker gets one, if a slot is free
 *	  (lakehouse.max_workers); otherwise it waits, visibly (source_status)
 *	  and with one LOG line;
 *	- a worker that exited with an error is started again after a backoff
 *	  of 1 s, doubling up to 60 s (reset when it ran for a minute);
 *	- a worker whose source was disabled or dropped is terminated, its slot
 *	  freed once it has exited;
 *	- a worker whose source definition changed (sources.updated_at) or
 *	  whose restart was asked for (lh_restart_source) is terminated and
 *	  started again at once.
 * The observability workers are started the same way, as pseudo sources
 * (launcher_observe_workers): the lineage worker while
 * lakehouse.openlineage_url is set, the metrics worker in the database
 * named by lakehouse.metrics_database while lakehouse.metrics_port is set;
 * they are stopped when the setting is cleared.
 * It re-reads the sources when woken (a definition changed, a worker
 * started or stopped, SIGHUP) and every naptime, and exits when the
 * database has no enabled Kafka source and no worker left.
 *
 * The database launcher also writes the ledger rows of runs whose
 * transaction was cancelled (progress.c queues them and wakes it): in the
 * transaction in which it reads the sources, forgotten once that
 * transaction committed.
 *
 * Before it starts any source worker, a database launcher on a primary
 * checks that the database runs where lakehouse.site says: the sources of
 * a copy (a restored dump, a clone, a point-in-time recovery) are paused
 * (src/worker/site.c).
 *
 * On a hot standby both launchers run (BgWorkerStart_ConsistentState) and
 * write nothing.  While RecoveryInProgress(), a database launcher reads
 * the sources only to know whether it has to stay, starts the metrics
 * worker alone (it only reads), no source worker and no lineage worker,
 * writes no ledger row, prunes nothing and disables no source; it stays
 * while its database has sources and looks every second whether the
 * server was promoted, so that the source workers start within about a
 * second of the promotion and resume from the committed marks, and the
 * promotion is recorded in lakehouse.site before a restart could make it
 * look like a point-in-time recovery.  Every pass notes in shared memory that this
 * postmaster runs as a standby (lh_note_standby).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "observe/observe.h"
#include "sources/sources.h"
#include "worker/worker.h"

#define LH_BACKOFF_MAX_SECS	60
/* how often a database launcher looks for the end of recovery */
#define LAUNCHER_STANDBY_POLL_MS	1000L
/* a worker that ran this long before failing starts again without delay */
#define LH_HEALTHY_SECS		60

/* What the cluster launcher knows of a database launcher it started. */
typedef struct DbHandle
{
	Oid			dbid;
	BackgroundWorkerHandle *handle;
} DbHandle;

/* What a database launcher knows of a worker it started. */
typedef struct WorkerHandle
{
	int32		source_id;
	BackgroundWorkerHandle *handle;
	TimestampTz updated_at;		/* source definition the worker runs */
	Oid			role;			/* the owner it connected as */
	bool		terminating;
} WorkerHandle;

/*
 * A Kafka source as the database launcher reads it, or an observability
 * worker (lineage, metrics) with its pseudo source id.
 */
typedef struct LauncherSource
{
	int32		source_id;
	char	   *name;
	const char *worker;			/* the kind (kafka, http, ...), lineage or metrics */
	const char *worker_main;	/* its entry point */
	bool		enabled;
	TimestampTz updated_at;
	Oid			role;			/* whom the worker connects as */
	bool		role_can_login;
} LauncherSource;

/* Whether role may log in (PostgreSQL 15 lets a worker connect only as such). */
static bool
role_can_login(Oid role)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	bool		ok = false;

	if (HeapTupleIsValid(tup))
	{
		ok = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
		ReleaseSysCache(tup);
	}
	return ok;
}

static bool
handle_running(BackgroundWorkerHandle *handle)
{
	pid_t		pid;
	BgwHandleStatus st = GetBackgroundWorkerPid(handle, &pid);

	return st == BGWH_STARTED || st == BGWH_NOT_YET_STARTED;
}

/* Databases a launcher should serve: connectable, not templates. */
static List *
launcher_databases(void)
{
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	MemoryContext resultcxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext oldcxt;

		if (!db->datallowconn || db->datistemplate)
			continue;
		oldcxt = MemoryContextSwitchTo(resultcxt);
		result = lappend_oid(result, db->oid);
		MemoryContextSwitchTo(oldcxt);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return result;
}

static LhDbEntry *
db_entry(Oid dbid, bool create)
{
	LhDbEntry  *free_entry = NULL;

	for (int i = 0; i < LH_MAX_DATABASES; i++)
	{
		if (lh_shared->dbs[i].dbid == dbid)
			return &lh_shared->dbs[i];
		if (lh_shared->dbs[i].dbid == InvalidOid && free_entry == NULL)
			free_entry = &lh_shared->dbs[i];
	}
	if (create && free_entry)
	{
		memset(free_entry, 0, sizeof(LhDbEntry));
		free_entry->dbid = dbid;
		return free_entry;
	}
	return NULL;
}

static bool
start_db_launcher(Oid dbid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_ConsistentState;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "lakehouse", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "lh_db_launcher_main", BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "lakehouse db launcher %u", dbid);
	strlcpy(bgw.bgw_type, "lakehouse db launcher", BGW_MAXLEN);
	bgw.bgw_main_arg = ObjectIdGetDatum(dbid);
	bgw.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&bgw, handle);
}

/* Is a database launcher of dbid among the handles of the cluster launcher? */
static bool
db_handle_running(List *handles, Oid dbid)
{
	ListCell   *hc;
	bool		running = false;

	foreach(hc, handles)
		if (((DbHandle *) lfirst(hc))->dbid == dbid)
			running = true;
	return running;
}

/*
 * Forget the database launchers that exited: their shared entries are
 * cleared and due for a new start a naptime from now.  Returns handles
 * without them.
 */
static List *
launcher_forget_exited(List *handles, TimestampTz now)
{
	ListCell   *lc;

	foreach(lc, handles)
	{
		DbHandle   *h = lfirst(lc);

		if (handle_running(h->handle))
			continue;
		LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
		{
			LhDbEntry  *e = db_entry(h->dbid, false);

			if (e)
			{
				e->pid = 0;
				e->latch = NULL;
				e->recheck_after = TimestampTzPlusMilliseconds(now,
															   lh_launcher_naptime * 1000);
			}
		}
		LWLockRelease(lh_shared->lock);
		pfree(h->handle);
		pfree(h);
		handles = foreach_delete_current(handles, lc);
	}
	return handles;
}

/*
 * Start a database launcher in every database of dbs that has none and is
 * due (asked for, or its naptime passed).  New handles are allocated in
 * the current memory context and appended to handles, which is returned;
 * *timeout is shortened when no background worker slot was free.
 */
static List *
launcher_start_db_launchers(List *dbs, List *handles, TimestampTz now,
							long *timeout)
{
	ListCell   *lc;

	foreach(lc, dbs)
	{
		Oid			dbid = lfirst_oid(lc);
		bool		start = false;

		if (db_handle_running(handles, dbid))
			continue;

		LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
		{
			LhDbEntry  *e = db_entry(dbid, true);

			if (e && (e->wanted || now >= e->recheck_after))
			{
				e->wanted = false;
				start = true;
			}
		}
		LWLockRelease(lh_shared->lock);

		if (start)
		{
			BackgroundWorkerHandle *handle;

			if (start_db_launcher(dbid, &handle))
			{
				DbHandle   *h = palloc(sizeof(DbHandle));

				h->dbid = dbid;
				h->handle = handle;
				handles = lappend(handles, h);
			}
			else
			{
				ereport(LOG,
						(errmsg("lakehouse launcher could not start a database launcher for database %u",
								dbid),
						 errhint("Increase max_worker_processes.")));
				*timeout = Min(*timeout, 1000L);
			}
		}
	}
	return handles;
}

/*
 * Clear the shared entries of databases no longer in dbs (dropped, or no
 * longer served) whose launcher is not running.
 */
static void
launcher_forget_dropped(List *dbs, List *handles)
{
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < LH_MAX_DATABASES; i++)
	{
		LhDbEntry  *e = &lh_shared->dbs[i];

		if (e->dbid == InvalidOid || list_member_oid(dbs, e->dbid))
			continue;
		if (!db_handle_running(handles, e->dbid))
			memset(e, 0, sizeof(LhDbEntry));
	}
	LWLockRelease(lh_shared->lock);
}

/*
 * lh_launcher_main
 *		The cluster launcher.
 */
void
lh_launcher_main(Datum arg)
{
	List	   *handles = NIL;
	MemoryContext loopcxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("lakehouse launcher");

	if (lh_shared == NULL)
		proc_exit(0);
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	lh_shared->launcher_pid = MyProcPid;
	lh_shared->launcher_latch = MyLatch;
	/* after a crash restart nothing of before runs any more */
	for (int i = 0; i < LH_MAX_DATABASES; i++)
	{
		lh_shared->dbs[i].pid = 0;
		lh_shared->dbs[i].latch = NULL;
	}
	LWLockRelease(lh_shared->lock);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "lakehouse launcher loop",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		List	   *dbs;
		TimestampTz now;
		long		timeout = (long) lh_launcher_naptime * 1000L;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		(void) lh_note_standby();
		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);
		dbs = launcher_databases();
		MemoryContextSwitchTo(TopMemoryContext);
		now = GetCurrentTimestamp();

		handles = launcher_forget_exited(handles, now);
		handles = launcher_start_db_launchers(dbs, handles, now, &timeout);
		/* entries of dropped databases */
		launcher_forget_dropped(dbs, handles);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* name of the database of this database launcher, for worker names */
static char launcher_dbname[NAMEDATALEN];

/*
 * The observability workers this database wants: the lineage worker while
 * lakehouse.openlineage_url is set (not on a standby: it writes the
 * outbox), the metrics worker in the database named by
 * lakehouse.metrics_database while lakehouse.metrics_port is set.
 */
static List *
launcher_observe_workers(List *result, MemoryContext resultcxt, bool recovery)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(resultcxt);

	if (!recovery && lh_openlineage_url && lh_openlineage_url[0] != '\0')
	{
		LauncherSource *s = palloc0(sizeof(LauncherSource));

		s->source_id = LH_LINEAGE_WORKER_ID;
		s->name = "lineage";
		s->worker = "lineage";
		s->worker_main = "lh_lineage_worker_main";
		s->enabled = true;
		s->role = catalog_owner();
		s->role_can_login = role_can_login(s->role);
		result = lappend(result, s);
	}
	if (lh_metrics_port > 0 && lh_metrics_database &&
		strcmp(lh_metrics_database, launcher_dbname) == 0)
	{
		LauncherSource *s = palloc0(sizeof(LauncherSource));

		s->source_id = LH_METRICS_WORKER_ID;
		s->name = "metrics";
		s->worker = "metrics";
		s->worker_main = "lh_metrics_worker_main";
		s->enabled = true;
		s->role = catalog_owner();
		s->role_can_login = role_can_login(s->role);
		result = lappend(result, s);
	}
	MemoryContextSwitchTo(oldcxt);
	return result;
}

/* How often a database launcher prunes the outbox when no worker delivers it. */
#define LAUNCHER_PRUNE_MS 60000
static TimestampTz last_prune = 0;

/*
 * A source whose worker crashed lakehouse.max_worker_crashes times in a
 * row is disabled, with the reason (crashes.c).  In the launcher's
 * transaction, connected to SPI.  The count stays until lh_enable_source:
 * should the disabling transaction be lost (an asynchronous commit just
 * before the next crash restart), the next pass disables the source again.
 */
static void
launcher_check_crashes(LhSource *src)
{
	int			n = lh_crash_count(MyDatabaseId, src->source_id);

	if (lh_max_worker_crashes <= 0 || n < lh_max_worker_crashes)
		return;
	(void) catalog_source_set_enabled(src->source_id, false,
									  psprintf("its worker crashed %d times in a row (lakehouse.max_worker_crashes); fix the cause, then run lakehouse.lh_enable_source()",
											   n));
	src->enabled = false;
	ereport(WARNING,
			(errmsg("lakehouse disabled source \"%s\": its worker crashed %d times in a row",
					src->name, n),
			 errdetail("Each crash made the server reset every session."),
			 errhint("Fix the cause (see the server log), then run lakehouse.lh_enable_source('%s').",
					 src->name)));
}

/*
 * Is the extension in this database of another version than the library
 * (a package upgrade before ALTER EXTENSION lakehouse UPDATE)?  Said once
 * in the log; the launcher waits, starting nothing, until the update.
 */
static bool
launcher_outdated(void)
{
	static bool said = false;
	char	   *version = catalog_extension_version();

	if (version == NULL || strcmp(version, LH_EXTVERSION) == 0)
	{
		said = false;
		return false;
	}
	if (!said)
		ereport(LOG,
				(errmsg("lakehouse database launcher for database \"%s\" waits: the library is version %s but the extension is version %s",
						launcher_dbname, LH_EXTVERSION, version),
				 errhint("Run ALTER EXTENSION lakehouse UPDATE in that database; its workers start after it.")));
	said = true;
	return true;
}

static WorkerHandle *find_handle(List *handles, int32 source_id);

/*
 * The sources of this database that have workers, as LauncherSources
 * allocated in resultcxt.  In the launcher's transaction, connected to
 * SPI.  On a primary, a source that crashed too often is disabled first
 * (not one whose worker runs: its count includes the run in progress).
 * In recovery nothing is written and the list is empty: *standby_sources
 * says whether the database has sources, whose site the launcher records
 * at the promotion (src/worker/site.c), workers or not.
 */
static List *
launcher_read_sources(List *handles, MemoryContext resultcxt, bool recovery,
					  bool *standby_sources)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, catalog_all_sources())
	{
		LhSource   *src = lfirst(lc);
		MemoryContext oldcxt;
		LauncherSource *s;

		if (recovery)
		{
			*standby_sources = true;
			continue;
		}
		if (source_worker_mode(src->kind, src->options) == LH_WORKER_NONE)
			continue;
		if (src->enabled && find_handle(handles, src->source_id) == NULL)
			launcher_check_crashes(src);
		oldcxt = MemoryContextSwitchTo(resultcxt);
		s = palloc0(sizeof(LauncherSource));
		s->source_id = src->source_id;
		s->name = pstrdup(src->name);
		s->worker = source_routine(src->kind)->name;
		s->worker_main = source_routine(src->kind)->worker_main;
		s->enabled = src->enabled;
		s->updated_at = src->updated_at;
		s->role = src->owner;
		s->role_can_login = OidIsValid(src->owner) && role_can_login(src->owner);
		/* a pipeline whose owner was dropped has no worker */
		if (!OidIsValid(src->owner))
			s->enabled = false;
		result = lappend(result, s);
		MemoryContextSwitchTo(oldcxt);
	}
	return result;
}

/*
 * Read the sources of this database that have workers; NIL without the
 * extension or while it is outdated.  handles: the workers this launcher
 * started.  On a primary it also checks the site (a copy's sources are
 * paused before they are returned), writes the ledger rows of cancelled
 * runs and prunes the outbox when nobody delivers it; in recovery
 * (*standby_sources, see launcher_read_sources) it writes nothing.
 */
static List *
launcher_sources(List *handles, bool *have_extension, bool *outdated,
				 bool *standby_sources)
{
	List	   *result = NIL;
	MemoryContext resultcxt = CurrentMemoryContext;
	int			abandoned = 0;
	bool		recovery = lh_note_standby();

	*standby_sources = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (launcher_dbname[0] == '\0')
		strlcpy(launcher_dbname, get_database_name(MyDatabaseId), NAMEDATALEN);
	*have_extension = OidIsValid(get_extension_oid("lakehouse", true));
	*outdated = *have_extension && launcher_outdated();
	if (*have_extension && !*outdated)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* ledger rows of cancelled runs */
		if (!recovery)
			abandoned = lh_progress_write_abandoned();
		result = launcher_read_sources(handles, resultcxt, recovery,
									   standby_sources);

		/*
		 * A copy of the database has its sources paused before any worker
		 * starts.  The check comes after the list: its statements, with
		 * later snapshots, see every source the list holds, even one that a
		 * pg_restore committed in between (read before the list, it could
		 * have missed them); when it paused them, the list is read again.
		 */
		if (!recovery && lh_site_enforce() != NULL && result != NIL)
			result = launcher_read_sources(handles, resultcxt, recovery,
										   standby_sources);
		/* no endpoint: nobody delivers, so old events are pruned here */
		if (!recovery &&
			(lh_openlineage_url == NULL || lh_openlineage_url[0] == '\0') &&
			TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(),
									   LAUNCHER_PRUNE_MS))
		{
			lineage_prune(true);
			last_prune = GetCurrentTimestamp();
		}
		SPI_finish();
		result = launcher_observe_workers(result, resultcxt, recovery);
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (abandoned > 0)
		lh_progress_forget_written(true);
	return result;
}

static bool
start_source_worker(LhWorkerSlot *slot, LauncherSource *s,
					BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;
	Oid			dbid = MyDatabaseId;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* the metrics worker only reads: it serves /metrics on a standby too */
	bgw.bgw_start_time = s->source_id == LH_METRICS_WORKER_ID ?
		BgWorkerStart_ConsistentState : BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "lakehouse", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, s->worker_main, BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "lakehouse %s %s %s",
			 s->worker, launcher_dbname, s->name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "lakehouse %s", s->worker);
	bgw.bgw_main_arg = Int32GetDatum(slot - lh_shared->slots);
	{
		LhWorkerExtra extra;

		StaticAssertStmt(sizeof(LhWorkerExtra) <= BGW_EXTRALEN, "bgw_extra too small");
		memset(&extra, 0, sizeof(extra));
		extra.dbid = dbid;
		extra.source_id = s->source_id;
		extra.role = s->role;
		extra.role_can_login = s->role_can_login;
		memcpy(bgw.bgw_extra, &extra, sizeof(extra));
	}
	bgw.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&bgw, handle);
}

static WorkerHandle *
find_handle(List *handles, int32 source_id)
{
	ListCell   *lc;

	foreach(lc, handles)
		if (((WorkerHandle *) lfirst(lc))->source_id == source_id)
			return lfirst(lc);
	return NULL;
}

static LauncherSource *
find_source(List *sources, int32 source_id)
{
	ListCell   *lc;

	foreach(lc, sources)
		if (((LauncherSource *) lfirst(lc))->source_id == source_id)
			return lfirst(lc);
	return NULL;
}

/*
 * Step 1 of a pass: forget the workers that exited, and decide when each
 * starts again (at once after a clean exit, a termination or a restart
 * request; else after a backoff that doubles with each failure in a row).
 */
static void
db_launcher_reap(List **handles, TimestampTz now)
{
	ListCell   *lc;

	foreach(lc, *handles)
	{
		WorkerHandle *h = lfirst(lc);
		LhWorkerSlot *slot;

		if (handle_running(h->handle))
			continue;
		LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
		slot = lh_find_slot(MyDatabaseId, h->source_id);
		if (slot)
		{
			slot->pid = 0;
			slot->latch = NULL;
			if (slot->restart_requested || h->terminating || slot->clean_exit)
			{
				slot->failures = 0;
				slot->next_start = 0;
				strlcpy(slot->state, "starting", LH_STATE_LEN);
			}
			else
			{
				int			delay;

				if (slot->started_at != 0 &&
					TimestampDifferenceExceeds(slot->started_at, now,
											   LH_HEALTHY_SECS * 1000))
					slot->failures = 0;
				slot->failures++;
				delay = 1 << Min(slot->failures - 1, 6);
				delay = Min(delay, LH_BACKOFF_MAX_SECS);
				slot->next_start = TimestampTzPlusMilliseconds(now, delay * 1000);
				snprintf(slot->state, LH_STATE_LEN, "backoff: restart in %d s", delay);
			}
			slot->restart_requested = false;
		}
		LWLockRelease(lh_shared->lock);
		pfree(h->handle);
		pfree(h);
		*handles = foreach_delete_current(*handles, lc);
	}
}

/*
 * Step 2 of a pass: terminate the workers of sources gone, disabled,
 * changed or given away, or whose restart was asked for.  *timeout is
 * shortened while a worker is terminating.
 */
static void
db_launcher_stop_unwanted(List *sources, List *handles, long *timeout)
{
	ListCell   *lc;

	foreach(lc, handles)
	{
		WorkerHandle *h = lfirst(lc);
		LauncherSource *s = find_source(sources, h->source_id);
		bool		restart = false;

		LWLockAcquire(lh_shared->lock, LW_SHARED);
		{
			LhWorkerSlot *slot = lh_find_slot(MyDatabaseId, h->source_id);

			restart = slot && slot->restart_requested;
		}
		LWLockRelease(lh_shared->lock);
		if (!h->terminating &&
			(s == NULL || !s->enabled || s->updated_at != h->updated_at ||
			 s->role != h->role || restart))
		{
			TerminateBackgroundWorker(h->handle);
			h->terminating = true;
		}
		if (h->terminating)
			*timeout = Min(*timeout, 1000L);
	}
}

/*
 * Step 3 of a pass: free the slots of sources no longer wanted, once their
 * worker is gone.
 */
static void
db_launcher_free_slots(List *sources, List *handles)
{
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < lh_shared->nslots; i++)
	{
		LhWorkerSlot *slot = &lh_shared->slots[i];
		LauncherSource *s;

		if (slot->dbid != MyDatabaseId || slot->source_id == 0)
			continue;
		s = find_source(sources, slot->source_id);
		if ((s == NULL || !s->enabled) &&
			find_handle(handles, slot->source_id) == NULL)
			memset(slot, 0, sizeof(LhWorkerSlot));
	}
	LWLockRelease(lh_shared->lock);
}

/*
 * The slot of source s: its own, else a free one taken for it; NULL when
 * every slot is in use (lakehouse.max_workers).  Caller holds the lock
 * exclusively.
 */
static LhWorkerSlot *
db_launcher_claim_slot(LauncherSource *s)
{
	LhWorkerSlot *slot = lh_find_slot(MyDatabaseId, s->source_id);

	if (slot == NULL)
	{
		for (int i = 0; i < lh_shared->nslots; i++)
			if (lh_shared->slots[i].source_id == 0)
			{
				slot = &lh_shared->slots[i];
				memset(slot, 0, sizeof(LhWorkerSlot));
				slot->dbid = MyDatabaseId;
				slot->source_id = s->source_id;
				strlcpy(slot->state, "starting", LH_STATE_LEN);
				break;
			}
	}
	return slot;
}

/*
 * Step 4 of a pass, for one enabled source without a worker: take a slot
 * and start its worker when its backoff is over.  Says once in the log
 * that the slots are full.  *timeout is shortened to the end of the
 * backoff, or to a second while the source waits for a slot.
 */
static void
db_launcher_start_source(LauncherSource *s, List **handles, TimestampTz now,
						 long *timeout)
{
	LhWorkerSlot *slot;
	bool		start = false;
	bool		full;

	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	slot = db_launcher_claim_slot(s);
	full = (slot == NULL);
	if (slot)
	{
		if (now >= slot->next_start)
		{
			start = true;
			slot->starts++;
			slot->clean_exit = false;
			slot->restart_requested = false;
		}
		else
			*timeout = Min(*timeout,
						   Max(1L, (long) ((slot->next_start - now) / 1000)));
	}
	{
		LhDbEntry  *e = db_entry(MyDatabaseId, false);

		if (full && e && !e->waiting_logged)
		{
			e->waiting_logged = true;
			ereport(LOG,
					(errmsg("Kafka source \"%s\" waits for a worker: lakehouse.max_workers (%d) reached",
							s->name, lh_max_workers),
					 errhint("Increase lakehouse.max_workers (needs a restart) or disable another source.")));
		}
		else if (!full && e)
			e->waiting_logged = false;
	}
	LWLockRelease(lh_shared->lock);

	if (start)
	{
		BackgroundWorkerHandle *handle;

		if (start_source_worker(slot, s, &handle))
		{
			WorkerHandle *h = MemoryContextAllocZero(TopMemoryContext,
													 sizeof(WorkerHandle));

			h->source_id = s->source_id;
			h->handle = handle;
			h->updated_at = s->updated_at;
			h->role = s->role;
			*handles = lappend(*handles, h);
		}
		else
		{
			lh_slot_set_state(slot, "waiting: no background worker slot (max_worker_processes)",
							  NULL);
			*timeout = Min(*timeout, 1000L);
		}
	}
	if (full)
		*timeout = Min(*timeout, 1000L);
}

/*
 * One pass of the database launcher.  Returns the longest it may sleep
 * (ms), or -1 when it has nothing left to do.
 */
static long
db_launcher_pass(List *sources, List **handles)
{
	TimestampTz now = GetCurrentTimestamp();
	long		timeout = (long) lh_launcher_naptime * 1000L;
	bool		busy = false;
	ListCell   *lc;

	/* 1. workers that exited: decide when they start again */
	db_launcher_reap(handles, now);

	/* 2. workers of sources gone, disabled, changed or given away: stop them */
	if (*handles != NIL)
		busy = true;
	db_launcher_stop_unwanted(sources, *handles, &timeout);

	/* 3. free the slots of sources no longer wanted, once their worker is gone */
	db_launcher_free_slots(sources, *handles);

	/* 4. start workers for enabled sources that have none */
	foreach(lc, sources)
	{
		LauncherSource *s = lfirst(lc);

		if (!s->enabled)
			continue;
		busy = true;
		if (find_handle(*handles, s->source_id))
			continue;
		db_launcher_start_source(s, handles, now, &timeout);
	}

	return busy || *handles != NIL ? timeout : -1;
}

/*
 * lh_db_launcher_main
 *		The launcher of one database.
 */
void
lh_db_launcher_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	List	   *handles = NIL;
	MemoryContext loopcxt;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	pgstat_report_appname("lakehouse db launcher");

	if (lh_shared == NULL)
		proc_exit(0);
	/* rows an earlier launcher of this database did not get to commit */
	lh_progress_forget_written(false);
	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	{
		LhDbEntry  *e = db_entry(dbid, true);

		if (e)
		{
			e->pid = MyProcPid;
			e->latch = MyLatch;
		}
	}
	LWLockRelease(lh_shared->lock);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "lakehouse db launcher loop",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		List	   *sources;
		bool		have_extension;
		bool		outdated;
		bool		standby_sources;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* a wake-up from now on means "read again" */
		ResetLatch(MyLatch);
		LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
		{
			LhDbEntry  *e = db_entry(dbid, false);

			if (e)
				e->wanted = false;
		}
		LWLockRelease(lh_shared->lock);

		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);
		sources = launcher_sources(handles, &have_extension, &outdated,
								   &standby_sources);
		timeout = db_launcher_pass(sources, &handles);
		MemoryContextSwitchTo(TopMemoryContext);
		if (outdated)
			timeout = (long) lh_launcher_naptime * 1000L;
		else if (standby_sources)
			timeout = LAUNCHER_STANDBY_POLL_MS; /* wait for the promotion */
		else if (timeout < 0 || (!have_extension && handles == NIL))
			break;
		if (RecoveryInProgress())
			timeout = Min(timeout, LAUNCHER_STANDBY_POLL_MS);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	}

	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	{
		LhDbEntry  *e = db_entry(dbid, false);

		if (e)
		{
			e->pid = 0;
			e->latch = NULL;
		}
	}
	LWLockRelease(lh_shared->lock);
	proc_exit(0);
}

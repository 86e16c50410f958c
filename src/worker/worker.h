/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Background workers: the launchers and the per-source workers, and
 *	  the shared memory through which they and the SQL functions talk.
 *
 * Three kinds of background worker (all need shared_preload_libraries):
 *
 *	- "lakehouse launcher": one per cluster, registered by _PG_init.  It
 *	  connects to no database, lists the databases and starts a database
 *	  launcher in each, again every lakehouse.launcher_naptime, or at once
 *	  when a backend asks (lh_workers_notify).
 *	- "lakehouse db launcher": one per database that has the extension and
 *	  enabled streaming sources.  It starts one source worker per enabled
 *	  Kafka source (within lakehouse.max_workers), restarts a worker that
 *	  failed with exponential backoff, stops workers whose source was
 *	  disabled or dropped, and restarts those whose definition changed.
 *	  It exits when its database has nothing to run.
 *	- "lakehouse kafka": one per Kafka source (src/worker/kafka_worker.c);
 *	- "lakehouse http": one per HTTP source with a poll_interval
 *	  (src/worker/http_worker.c);
 *	- "lakehouse lineage": one per database with the extension while
 *	  lakehouse.openlineage_url is set (src/worker/lineage_worker.c), and
 *	  "lakehouse metrics": the /metrics endpoint, in the database named by
 *	  lakehouse.metrics_database while lakehouse.metrics_port is not 0
 *	  (src/worker/metrics_worker.c).  They use worker slots like the
 *	  source workers, with the pseudo source ids LH_LINEAGE_WORKER_ID and
 *	  LH_METRICS_WORKER_ID (src/observe/observe.h).
 *
 * On a hot standby the launchers run too (BgWorkerStart_ConsistentState)
 * but write nothing: a database launcher starts only the metrics worker
 * (read-only), checks every second whether recovery ended, and starts the
 * source workers as soon as the server was promoted.  Meanwhile
 * source_status says "standby", and shared memory remembers that this
 * postmaster ran as a standby (lh_note_standby), which tells a failover
 * from a point-in-time recovery (src/worker/site.c).
 *
 * Shared memory holds one slot per possible source worker (max_workers):
 * its pid, state, last error and per-partition statistics, which the
 * source_status view reads through lh_worker_status() and
 * lh_partition_stats().  One LWLock protects everything; nobody holds it
 * for more than a few copies.  A second area (progress.c) holds one slot
 * per backend for the run it has in flight, written without a lock, and
 * the runs whose ledger row the database launcher has to write because
 * their transaction was cancelled (under the same LWLock).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_WORKER_H
#define LH_WORKER_H

#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#define LH_MAX_PART_STATS	256
#define LH_MAX_DATABASES	64
#define LH_STATE_LEN		64
#define LH_ERROR_LEN		512

/* What the status view shows of one partition of a worker's source. */
typedef struct LhPartStat
{
	int32		partition;
	int64		next;			/* next offset to land */
	int64		high;			/* broker high watermark, -1: unknown */
	TimestampTz last_message_at;	/* 0: none yet */
	double		rate;			/* messages per second, recent */
} LhPartStat;

/* One source worker; source_id 0 means the slot is free. */
typedef struct LhWorkerSlot
{
	Oid			dbid;
	int32		source_id;
	pid_t		pid;			/* 0: not running */
	Latch	   *latch;
	char		state[LH_STATE_LEN];
	char		last_error[LH_ERROR_LEN];
	TimestampTz last_error_at;
	TimestampTz started_at;
	TimestampTz next_start;		/* backoff: not before this */
	int			failures;		/* consecutive failed starts */
	bool		clean_exit;		/* the worker exited on purpose */
	bool		restart_requested;
	int64		starts;			/* times the launcher started a worker here */
	int			nparts;
	LhPartStat	parts[LH_MAX_PART_STATS];
} LhWorkerSlot;

/* A database launcher, known to the cluster launcher. */
typedef struct LhDbEntry
{
	Oid			dbid;			/* InvalidOid: free */
	pid_t		pid;			/* 0: not running */
	Latch	   *latch;
	bool		wanted;			/* a backend asked for it: start now */
	bool		waiting_logged; /* max_workers reached was logged */
	TimestampTz recheck_after;
} LhDbEntry;

typedef struct LhShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		seen_standby;	/* this postmaster ran as a standby */
	int			nslots;
	LhDbEntry	dbs[LH_MAX_DATABASES];
	LhWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} LhShared;

/* NULL unless the library was preloaded */
extern LhShared *lh_shared;

/* GUCs (src/lakehouse.c, src/worker/crashes.c) */
extern int	lh_max_workers;
extern int	lh_launcher_naptime;
extern int	lh_max_worker_crashes;

/*
 * What a worker is started with (bgw_extra): its database and source (or
 * pseudo source), and the role it connects as.
 */
typedef struct LhWorkerExtra
{
	Oid			dbid;
	int32		source_id;
	Oid			role;			/* the pipeline's owner; the catalog owner for
								 * the observability workers */
	bool		role_can_login;
} LhWorkerExtra;

/* a worker that ran this long is healthy: its crashes were not in a row */
#define LH_CRASH_HEALTHY_SECS	60

/* src/worker/crashes.c */
extern int	lh_crash_count(Oid dbid, int32 source_id);
extern void lh_crash_reset(Oid dbid, int32 source_id);
extern void lh_crash_guard_enter(Oid dbid, int32 source_id);
extern void lh_crash_guard_healthy(TimestampTz started);

/* src/worker/shmem.c */
extern void lh_worker_shmem_setup(void);
extern void lh_register_launcher(void);
extern LhWorkerSlot *lh_find_slot(Oid dbid, int32 source_id);
extern bool lh_worker_serves(int32 source_id);
extern void lh_workers_notify(int32 source_id);
extern bool lh_worker_request_restart(int32 source_id);
extern void lh_slot_set_state(LhWorkerSlot *slot, const char *state,
							  const char *error);
extern LhWorkerSlot *lh_worker_attach(int slotno, Oid dbid, int32 source_id);
extern LhWorkerSlot *lh_worker_start(Datum arg, int32 *source_id);
extern void lh_worker_failed(LhWorkerSlot *slot) pg_attribute_noreturn();
extern void lh_worker_exit_clean(LhWorkerSlot *slot) pg_attribute_noreturn();
extern void lh_wake_db_launcher(Oid dbid);
extern bool lh_note_standby(void);
extern bool lh_seen_standby(void);

/* lakehouse.after_restore: what a copy of the database does (site.c) */
typedef enum LhAfterRestore
{
	LH_AFTER_RESTORE_PAUSED,	/* its sources are paused */
	LH_AFTER_RESTORE_RESUME		/* they keep running */
} LhAfterRestore;

extern int	lh_after_restore;

/* how disabled_reason starts when a copy's sources were paused */
#define LH_SITE_PAUSED "paused: this database is a copy"

/* src/worker/site.c */
extern char *lh_site_enforce(void);
extern void lh_site_record_if_empty(void);

/* src/worker/progress.c */
extern Size lh_progress_shmem_size(void);
extern void lh_progress_shmem_init(void);
extern bool lh_progress_has_abandoned(void);
extern int	lh_progress_write_abandoned(void);
extern void lh_progress_forget_written(bool committed);

/* entry points of the background workers */
extern PGDLLEXPORT void lh_launcher_main(Datum arg);
extern PGDLLEXPORT void lh_db_launcher_main(Datum arg);
extern PGDLLEXPORT void lh_kafka_worker_main(Datum arg);
extern PGDLLEXPORT void lh_http_worker_main(Datum arg);

#endif							/* LH_WORKER_H */

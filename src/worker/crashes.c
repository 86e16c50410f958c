/*-------------------------------------------------------------------------
 *
 * crashes.c
 *	  Counting the crashes of each background worker across the
 *	  postmaster's crash restarts, so that a source whose worker keeps
 *	  crashing is disabled instead of resetting the cluster again and again.
 *
 * A worker that dies abnormally (a segfault in a library, SIGKILL) makes
 * the postmaster reset every session and reinitialise shared memory; the
 * launcher would start the worker again and the cluster would go on being
 * reset.  Shared memory does not survive that, so the count lives in a
 * small file per worker, $PGDATA/pg_lakehouse/crash.<database>.<source>:
 *
 *	- a worker, when it starts, adds one to its file (lh_crash_guard_enter);
 *	- it sets its file back when it ends in any ordinary way, an ERROR
 *	  included (proc_exit runs on_proc_exit callbacks), and when it has run
 *	  LH_CRASH_HEALTHY_SECS (lh_crash_guard_healthy): such an end is not a
 *	  crash, and a crash after that long is not "in a row";
 *	- a worker told to quit at once (SIGQUIT: another process crashed, or an
 *	  immediate shutdown) writes back the count it found, from its signal
 *	  handler with open/write/close only (async-signal-safe), since it did
 *	  not crash itself;
 *	- so a worker that crashes leaves its increment.  The database launcher
 *	  reads the counts (lh_crash_count) before it starts workers, and
 *	  disables a source that reached lakehouse.max_worker_crashes, with the
 *	  reason in lakehouse.sources.disabled_reason and source_status.
 *
 * Losing a count to an operating-system crash only delays the disabling.
 * lh_crash_reset removes a file: lh_enable_source does, so that a source
 * enabled again starts from zero (the launcher keeps the count when it
 * disables a source, in case the disabling is lost in a crash restart).
 * A base backup copies the files, the increment of a worker that was
 * running included; a promoted standby forgets them (src/worker/site.c),
 * and a copy's sources are paused and start from zero when enabled.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "worker/worker.h"

#define LH_CRASH_DIR "pg_lakehouse"

/* lakehouse.max_worker_crashes */
int			lh_max_worker_crashes = 3;

/* this worker's file and what to write on a quiet exit (signal handler) */
static char crash_path[MAXPGPATH];
static char crash_before[32];
static int	crash_before_len = 0;
static bool crash_guarded = false;

static void
crash_file_path(char *buf, Oid dbid, int32 source_id)
{
	snprintf(buf, MAXPGPATH, "%s/%s/crash.%u.%d", DataDir, LH_CRASH_DIR, dbid,
			 source_id);
}

/* Write "n\n" to path (ignoring failures: the count is advisory). */
static void
write_count(const char *path, int n)
{
	char		buf[32];
	int			len = snprintf(buf, sizeof(buf), "%d\n", n);
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, S_IRUSR | S_IWUSR);

	if (fd < 0)
		return;
	if (write(fd, buf, len) != len)
		elog(DEBUG1, "could not write crash count file \"%s\"", path);
	close(fd);
}

/*
 * lh_crash_count
 *		How many times in a row the worker of (dbid, source_id) crashed.
 */
int
lh_crash_count(Oid dbid, int32 source_id)
{
	char		path[MAXPGPATH];
	char		buf[32];
	int			fd;
	int			len;

	crash_file_path(path, dbid, source_id);
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	return atoi(buf);
}

/* lh_crash_reset: forget the crashes of (dbid, source_id). */
void
lh_crash_reset(Oid dbid, int32 source_id)
{
	char		path[MAXPGPATH];

	crash_file_path(path, dbid, source_id);
	(void) unlink(path);
}

/* on_proc_exit: an ordinary end is not a crash. */
static void
crash_guard_exit(int code, Datum arg)
{
	if (crash_guarded)
		write_count(crash_path, 0);
}

/*
 * SIGQUIT: quit at once (like SignalHandlerForCrashExit), after putting
 * back the count found at the start -- this worker did not crash.
 */
static void
crash_guard_quit(SIGNAL_ARGS)
{
	if (crash_guarded)
	{
		int			fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, S_IRUSR | S_IWUSR);

		if (fd >= 0)
		{
			ssize_t		w = write(fd, crash_before, crash_before_len);

			(void) w;			/* nothing to be done in a signal handler */
			close(fd);
		}
	}
	_exit(2);
}

/*
 * lh_crash_guard_enter
 *		Count this start of the worker of (dbid, source_id) as a crash
 *		until it ends in an ordinary way.  Call it before connecting to the
 *		database, right after unblocking signals.
 */
void
lh_crash_guard_enter(Oid dbid, int32 source_id)
{
	char		dir[MAXPGPATH];
	int			before;

	snprintf(dir, sizeof(dir), "%s/%s", DataDir, LH_CRASH_DIR);
	if (mkdir(dir, S_IRWXU) != 0 && errno != EEXIST)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	crash_file_path(crash_path, dbid, source_id);
	before = lh_crash_count(dbid, source_id);
	crash_before_len = snprintf(crash_before, sizeof(crash_before), "%d\n", before);
	write_count(crash_path, before + 1);
	crash_guarded = true;
	pqsignal(SIGQUIT, crash_guard_quit);
	on_proc_exit(crash_guard_exit, (Datum) 0);
}

/*
 * lh_crash_guard_healthy
 *		The worker has run long enough: its earlier crashes were not in a
 *		row with any later one.  Cheap; call it from the main loop.
 */
void
lh_crash_guard_healthy(TimestampTz started)
{
	static bool done = false;

	if (done || !crash_guarded ||
		!TimestampDifferenceExceeds(started, GetCurrentTimestamp(),
									LH_CRASH_HEALTHY_SECS * 1000))
		return;
	write_count(crash_path, 0);
	crash_before_len = snprintf(crash_before, sizeof(crash_before), "0\n");
	done = true;
}

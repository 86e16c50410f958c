/*-------------------------------------------------------------------------
 *
 * site.c
 *	  Restore safety: does this database run where lakehouse.site says it
 *	  does, or is it a copy whose sources must not consume?
 *
 * A restored dump, a basebackup clone or a point-in-time recovery starts
 * with the catalog of the original, Kafka offsets and HTTP cursors
 * included: without a check, a staging copy would go on consuming the
 * production topics and APIs.  So lakehouse records where the database
 * runs (lakehouse.site: the cluster's system identifier, the database's
 * OID and name, the WAL timeline and the node, '<hostname>:<data
 * directory>'), from the first declaration of a pipeline or source on,
 * and compares it with this node (lh_site_enforce) before anything is
 * consumed: in every pass of the database launcher on a primary, before
 * it starts a source worker, and in lh_run_pipeline and lh_ingest before
 * they ingest.  The database is a COPY when
 *	1. a row's system identifier differs (another cluster: a dump restored
 *	   elsewhere, pg_upgrade, a copy of the files);
 *	2. a row's database OID differs (a dump restored into another
 *	   database);
 *	3. the table is empty but sources exist (restored from a dump that put
 *	   the sources first, or from a dump of 0.1);
 *	4. the timeline is not the recorded one and this postmaster has not
 *	   run as a standby (lh_seen_standby), or reached it with a recovery
 *	   target: a point-in-time recovery, or a base backup restored with
 *	   archive recovery; the reason quotes the timeline history file;
 *	5. the node differs (a basebackup clone started as a primary of its
 *	   own, or a data directory moved to another host or path).
 * A newer timeline after this postmaster ran as a standby, promoted
 * without a recovery target (the history file says "no recovery target
 * specified"), is a failover:
 * the row is rewritten (how = 'promoted') with a LOG line, and nothing is
 * paused.
 *
 * On a copy, unless lakehouse.after_restore = resume, every enabled source
 * is disabled with the reason (sources.disabled_reason) and the row is
 * rewritten for this node (how = 'adopted: <reason>'), in the caller's
 * transaction, with one WARNING: the launcher then starts no worker, and
 * the run skips the disabled sources, so nothing is consumed.
 * lh_enable_source resumes a source.  With resume, the row is rewritten
 * (how = 'resumed: <reason>') and a WARNING says the sources keep running.
 * A copy without any source has nothing to pause: the row is left as it
 * is (so that a check in the middle of a pg_restore cannot adopt the copy
 * before its sources arrive).
 *
 * Nothing is checked or written during recovery (a standby).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_site_check);
PG_FUNCTION_INFO_V1(lh_site_here);

/* lakehouse.after_restore */
int			lh_after_restore = LH_AFTER_RESTORE_PAUSED;

/* Where this database runs now; how is left NULL. */
static void
site_here(LhSite *here)
{
	char		host[256];
	TimeLineID	tli;

	if (gethostname(host, sizeof(host)) != 0)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	if (RecoveryInProgress())
		(void) GetXLogReplayRecPtr(&tli);
	else
		tli = GetWALInsertionTimeLine();
	here->system_identifier = (int64) GetSystemIdentifier();
	here->database_oid = MyDatabaseId;
	here->database_name = get_database_name(MyDatabaseId);
	here->timeline = (int32) tli;
	here->node = psprintf("%s:%s", host, DataDir);
	here->how = NULL;
}

/*
 * The reason PostgreSQL gave for switching to timeline tli: the last
 * field of the last line of pg_wal/<tli>.history ("before 2026-12-03
 * 17:01:02+00", "no recovery target specified", ...), or NULL.
 */
static char *
site_history_reason(int32 tli)
{
	char		path[MAXPGPATH];
	char		line[1024];
	char	   *last = NULL;
	FILE	   *f;

	TLHistoryFilePath(path, (TimeLineID) tli);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *tab = strrchr(line, '\t');

		line[strcspn(line, "\r\n")] = '\0';
		if (tab != NULL && line[0] != '#' && tab[1] != '\0')
			last = pstrdup(tab + 1);
	}
	FreeFile(f);
	return last;
}

/* Why a timeline other than the recorded one makes a copy. */
static char *
site_timeline_reason(int32 tli, int32 recorded)
{
	char	   *why;

	if (tli < recorded)
		return psprintf("timeline %d is older than the recorded timeline %d",
						tli, recorded);
	why = site_history_reason(tli);
	if (why == NULL)
		return psprintf("recovery to timeline %d, recorded on timeline %d",
						tli, recorded);
	if (strcmp(why, "no recovery target specified") == 0)
		return psprintf("archive recovery to timeline %d (%s)", tli, why);
	return psprintf("point-in-time recovery to timeline %d (%s)", tli, why);
}

/*
 * Is timeline tli the promotion of a standby (a failover)?  This postmaster
 * ran as a standby, and the standby was promoted without a recovery target
 * (a standby.signal with recovery_target_time, say, is a point-in-time
 * recovery all the same).
 */
static bool
site_promoted(int32 tli)
{
	char	   *why;

	if (!lh_seen_standby())
		return false;
	why = site_history_reason(tli);
	return why == NULL || strcmp(why, "no recovery target specified") == 0;
}

/*
 * Compare the rows of lakehouse.site with here.  Returns why this database
 * is a copy, or NULL; *promoted is set when it is not a copy but runs on a
 * newer timeline after a promotion (the row is to be rewritten).
 */
static char *
site_compare(const LhSite *here, List *rows, bool have_sources,
			 bool *promoted)
{
	ListCell   *lc;
	LhSite	   *newer = NULL;

	*promoted = false;
	if (rows == NIL)
		return have_sources ?
			pstrdup("restored from a dump: lakehouse.site is empty but sources exist") :
			NULL;
	foreach(lc, rows)
	{
		LhSite	   *row = lfirst(lc);

		if (row->system_identifier != here->system_identifier)
			return psprintf("another cluster: system identifier " INT64_FORMAT " was recorded, this cluster is " INT64_FORMAT,
							row->system_identifier, here->system_identifier);
	}
	foreach(lc, rows)
	{
		LhSite	   *row = lfirst(lc);

		if (row->database_oid != here->database_oid)
			return psprintf("another database: \"%s\" (OID %u) was recorded, this is \"%s\" (OID %u)",
							row->database_name, row->database_oid,
							here->database_name, here->database_oid);
	}
	foreach(lc, rows)
	{
		LhSite	   *row = lfirst(lc);

		if (row->timeline == here->timeline)
			continue;
		if (row->timeline > here->timeline || !site_promoted(here->timeline))
			return site_timeline_reason(here->timeline, row->timeline);
		newer = row;
	}
	if (newer != NULL)
	{
		*promoted = true;
		return NULL;
	}
	foreach(lc, rows)
	{
		LhSite	   *row = lfirst(lc);

		if (strcmp(row->node, here->node) != 0)
			return psprintf("another data directory (a copy of the data directory: a base backup started as a primary of its own; or a moved one): \"%s\" was recorded, this is \"%s\"",
							row->node, here->node);
	}
	return NULL;
}

/* names as 'a', 'b', 'c' */
static char *
site_name_list(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 quote_literal_cstr(lfirst(lc)));
	return buf.data;
}

/* A copy: pause its sources (or not, with after_restore = resume) and adopt it. */
static void
site_adopt(LhSite *here, const char *reason)
{
	if (lh_after_restore == LH_AFTER_RESTORE_RESUME)
	{
		here->how = psprintf("resumed: %s", reason);
		catalog_site_write(here, false);
		ereport(WARNING,
				(errmsg("database \"%s\" is a copy; its lakehouse sources keep running",
						here->database_name),
				 errdetail("This database is a copy (%s), and lakehouse.after_restore is \"resume\".",
						   reason),
				 errhint("Set lakehouse.after_restore = paused to have the sources of a copy paused.")));
	}
	else
	{
		List	   *paused = catalog_sources_pause(LH_SITE_PAUSED, reason);

		here->how = psprintf("adopted: %s", reason);
		catalog_site_write(here, false);

		/*
		 * Nothing to pause: all were paused already (a restore that brought
		 * lakehouse.site's row after the sources, which the first check
		 * had found without it) or disabled by their users.
		 */
		if (paused == NIL)
		{
			ereport(LOG,
					(errmsg("database \"%s\" is a copy; it has no enabled lakehouse source to pause",
							here->database_name),
					 errdetail("This database is a copy (%s).", reason)));
			return;
		}
		ereport(WARNING,
				(errmsg("lakehouse paused the sources of database \"%s\": it is a copy",
						here->database_name),
				 errdetail("This database is a copy (%s). Paused sources: %s.",
						   reason, site_name_list(paused)),
				 errhint("If this copy should consume, run SELECT lakehouse.lh_enable_source('<name>') for each source, or set lakehouse.after_restore = resume.")));
		lh_workers_notify(0);
	}
}

/*
 * lh_site_enforce
 *		Compare lakehouse.site with this node and act (see the header):
 *		returns why the database is a copy, or NULL when it runs where it
 *		was recorded (or in recovery, where nothing is checked).  In the
 *		caller's transaction, connected to SPI, with the extension present.
 */
char *
lh_site_enforce(void)
{
	LhSite		here;
	bool		promoted;
	char	   *reason;
	bool		have_sources;

	if (RecoveryInProgress())
		return NULL;
	site_here(&here);
	have_sources = catalog_source_count() > 0;
	reason = site_compare(&here, catalog_site_rows(), have_sources, &promoted);
	if ((reason == NULL && !promoted) || (reason != NULL && !have_sources))
		return reason;

	/* about to act: once, whoever else looked at the same time */
	catalog_site_lock();
	reason = site_compare(&here, catalog_site_rows(), have_sources, &promoted);
	if (promoted)
	{
		ListCell   *lc;

		here.how = "promoted";
		catalog_site_write(&here, false);
		/*
		 * The crash counts in pg_lakehouse/ came with the base backup: they
		 * count the old primary's workers (one that ran less than
		 * LH_CRASH_HEALTHY_SECS still holds its increment), not crashes here.
		 */
		foreach(lc, catalog_all_sources())
			lh_crash_reset(MyDatabaseId, ((LhSource *) lfirst(lc))->source_id);
		ereport(LOG,
				(errmsg("database \"%s\" was promoted to timeline %d: its lakehouse sources continue from their committed marks",
						here.database_name, here.timeline)));
	}
	else if (reason != NULL)
		site_adopt(&here, reason);
	return reason;
}

/*
 * lh_site_record_if_empty
 *		Record this node in lakehouse.site unless a row is there: when a
 *		pipeline or a source is declared.  Connected to SPI.
 */
void
lh_site_record_if_empty(void)
{
	LhSite		here;

	site_here(&here);
	here.how = "created";
	catalog_site_write(&here, true);
}

/*
 * lakehouse.lh_site_check() returns text
 *		Run the check now, as the launcher does: the reason this database is
 *		a copy (its sources are then paused, unless after_restore = resume),
 *		or NULL when it runs where lakehouse.site says.
 */
Datum
lh_site_check(PG_FUNCTION_ARGS)
{
	char	   *reason;
	MemoryContext callcxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	reason = lh_site_enforce();
	if (reason != NULL)
		reason = MemoryContextStrdup(callcxt, reason);
	SPI_finish();
	if (reason == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}

/*
 * lakehouse.lh_site_here() returns (system_identifier, database_oid,
 * database_name, timeline, node): where this database runs now, as
 * lakehouse.site would record it.
 */
Datum
lh_site_here(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	LhSite		here;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	site_here(&here);
	values[0] = Int64GetDatum(here.system_identifier);
	values[1] = ObjectIdGetDatum(here.database_oid);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(here.database_name));
	values[3] = Int32GetDatum(here.timeline);
	values[4] = CStringGetTextDatum(here.node);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

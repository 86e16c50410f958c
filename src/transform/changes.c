/*-------------------------------------------------------------------------
 *
 * changes.c
 *	  Change capture: the capture triggers, the change log, reader marks,
 *	  the barrier between writers and readers, pruning, and
 *	  lakehouse.lh_changes().
 *
 * Capture.  Every silver table, and every gold table another gold table
 * reads, has four statement-level AFTER triggers (lh_change_insert,
 * lh_change_update, lh_change_delete with transition tables, and
 * lh_change_truncate), all calling lh_change_capture (changes_capture.c).
 * It writes one signed row image per row to lakehouse.change_log in the
 * writer's transaction, or, where images could never be used (a full
 * rewrite of the table, a write while no reader holds a mark, a
 * TRUNCATE), writes none and advances the table's horizon past every
 * mark instead, so that every reader refreshes fully.  Capture installed
 * on a table that lacked it does the same: what was written meanwhile is
 * unknown.  Triggers are ordinary (not internal) triggers, so pg_dump
 * keeps them; the change log, its sequence, horizons and marks are
 * config-dumped.
 *
 * The barrier.  A writer takes a shared transaction-level advisory lock
 * (LH_CHANGES_LOCK_CLASS, table_id) before its images get their ids.  A
 * reader opening a range takes the same lock exclusively at session level,
 * which waits until every writer in flight has committed, reads hi =
 * max(change_id) with a fresh snapshot, and releases it: any later writer
 * gets ids above hi.  A full write keeps the lock until its statement has
 * taken its snapshot (changes_open_held), so that it sees exactly the
 * changes up to hi.  A backend never conflicts with its own locks: a gold
 * stage reading what its own run's silver stage wrote does not wait.
 *
 * Marks and pruning.  lakehouse.change_marks holds, per reader and input,
 * the last change id the reader consumed; it moves in the transaction of
 * the reader's write (changes_consume).  Images every reader has passed
 * are deleted, and lakehouse.change_log_horizon records how far: a reader
 * whose mark is older, or that has none, refreshes fully.  Pruning only
 * ever deletes what every mark has passed, never up to a horizon a write
 * moved: a reader in flight may still read images below it; once that
 * reader has refreshed fully past the horizon, its mark lets them go.
 * The horizon only grows (greatest), and keeps the cause of its last
 * move, which a pruning that does not move it leaves alone.  A table nobody
 * reads is pruned entirely after each silver stage (a reader that comes
 * later starts with a full build anyway).
 *
 * lh_changes.  Inside a gold stage (changes_stage_begin), the reader is
 * that stage's table and the range is consumed when the stage succeeds;
 * outside a stage only since_change_id says where to start.  It returns
 * the net change per key (the table's keys; for a table without keys, per
 * row image), or, in a full refresh, every current row as an insert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "transform/changes.h"
#include "transform/transform.h"

PG_FUNCTION_INFO_V1(lh_changes);
PG_FUNCTION_INFO_V1(lh_change_images);

/* the capture triggers, by event */
static const char *const capture_triggers[] = {
	"lh_change_insert", "lh_change_update", "lh_change_delete", "lh_change_truncate"
};

/* the gold stage running in this backend (lh_changes) */
static int32 stage_reader = 0;
static bool stage_full = false;
static List *stage_ranges = NIL;
static MemoryContext stage_cxt = NULL;
static const char *stage_fallback = NULL;

/* table ids whose barrier this backend holds (changes_open_held) */
static List *held_locks = NIL;

/* ----------------------------------------------------------------
 * Catalog helpers
 * ----------------------------------------------------------------
 */

/* The registered table of relation relid, or NULL. */
static LhTable *
table_by_relid(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		return NULL;
	return catalog_table_by_name(get_namespace_name(get_rel_namespace(relid)), name);
}

static char *
relid_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* Does relid have all four capture triggers, enabled? */
static bool
has_capture_triggers(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	catalog_exec("SELECT count(*) FROM pg_catalog.pg_trigger"
				 " WHERE tgrelid = $1 AND tgenabled <> 'D' AND tgname IN"
				 " ('lh_change_insert', 'lh_change_update', 'lh_change_delete',"
				 "  'lh_change_truncate')",
				 1, types, values, NULL, SPI_OK_SELECT);
	return catalog_int64(0, 1, 0) == lengthof(capture_triggers);
}

/* pg_class privilege check of the current user; errors out when denied */
static void
check_select(Oid relid)
{
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/* ----------------------------------------------------------------
 * Installing capture
 * ----------------------------------------------------------------
 */

/*
 * changes_capture_table
 *		Install the capture triggers of registered table table_id (relation
 *		relid) unless they are all there.  The triggers are created by the
 *		catalog owner (catalog_exec): the trigger function is not for
 *		PUBLIC, and CREATE TRIGGER runs no code of the table's owner.  What
 *		was written before is unknown, so every reader refreshes fully.
 *		Caller is connected to SPI.
 */
void
changes_capture_table(int32 table_id, Oid relid)
{
	char	   *qname;

	if (has_capture_triggers(relid))
		return;
	qname = relid_name(relid);
	catalog_exec(psprintf("CREATE OR REPLACE TRIGGER lh_change_insert AFTER INSERT ON %s"
						  " REFERENCING NEW TABLE AS lh_new FOR EACH STATEMENT"
						  " EXECUTE FUNCTION lakehouse.lh_change_capture()", qname),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	catalog_exec(psprintf("CREATE OR REPLACE TRIGGER lh_change_update AFTER UPDATE ON %s"
						  " REFERENCING OLD TABLE AS lh_old NEW TABLE AS lh_new"
						  " FOR EACH STATEMENT"
						  " EXECUTE FUNCTION lakehouse.lh_change_capture()", qname),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	catalog_exec(psprintf("CREATE OR REPLACE TRIGGER lh_change_delete AFTER DELETE ON %s"
						  " REFERENCING OLD TABLE AS lh_old FOR EACH STATEMENT"
						  " EXECUTE FUNCTION lakehouse.lh_change_capture()", qname),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	catalog_exec(psprintf("CREATE OR REPLACE TRIGGER lh_change_truncate AFTER TRUNCATE ON %s"
						  " FOR EACH STATEMENT"
						  " EXECUTE FUNCTION lakehouse.lh_change_capture()", qname),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	changes_move_horizon(table_id, "invalidated");
}

/*
 * changes_uncapture_table
 *		Remove the capture triggers of relid (a table lakehouse no longer
 *		manages, kept as the user's).  Caller is connected to SPI.
 */
void
changes_uncapture_table(Oid relid)
{
	char	   *qname;

	if (get_rel_name(relid) == NULL)
		return;
	qname = relid_name(relid);
	for (int i = 0; i < lengthof(capture_triggers); i++)
	{
		Oid			types[2] = {OIDOID, TEXTOID};
		Datum		values[2];

		values[0] = ObjectIdGetDatum(relid);
		values[1] = CStringGetTextDatum(capture_triggers[i]);
		catalog_exec("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgname = $2",
					 2, types, values, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			catalog_exec(psprintf("DROP TRIGGER %s ON %s", capture_triggers[i], qname),
						 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	}
}

/*
 * changes_captured_table
 *		The table_id of relid when it is a registered table with its
 *		capture triggers in place; else 0.
 */
int32
changes_captured_table(Oid relid)
{
	LhTable    *t = table_by_relid(relid);

	if (t == NULL || !has_capture_triggers(relid))
		return 0;
	return t->table_id;
}

/* The captured tables among relids, as table ids. */
List *
changes_captured_inputs(List *relids)
{
	List	   *ids = NIL;
	ListCell   *lc;

	foreach(lc, relids)
	{
		int32		id = changes_captured_table(lfirst_oid(lc));

		if (id != 0)
			ids = list_append_unique_int(ids, id);
	}
	return ids;
}

/*
 * changes_ensure_inputs
 *		Capture every registered table among relids; false with *why
 *		naming the first relation that is not a lakehouse table.
 */
bool
changes_ensure_inputs(List *relids, const char **why)
{
	bool		ok = true;
	ListCell   *lc;

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		LhTable    *t = table_by_relid(relid);

		if (t == NULL)
		{
			if (ok && why)
				*why = psprintf("reads %s, which is not captured", relid_name(relid));
			ok = false;
			continue;
		}
		changes_capture_table(t->table_id, relid);
	}
	return ok;
}

/*
 * changes_ensure_captured
 *		Make sure the inputs of gold table relid are captured.  Caller is
 *		connected to SPI, as the table's owner (the query is analysed).
 */
bool
changes_ensure_captured(Oid relid, const char **why)
{
	LhTable    *t = table_by_relid(relid);
	SPIPlanPtr	plan;

	if (t == NULL || t->sql == NULL)
	{
		if (why)
			*why = psprintf("%s is not a gold table", relid_name(relid));
		return false;
	}
	plan = lh_spi_prepare(lh_trim_sql(t->sql), "analyse gold SQL");
	/* the tables it reads through lh_changes too */
	return changes_ensure_inputs(gold_query_inputs(t->sql,
												   lh_spi_plan_source(plan)->relationOids),
								 why);
}

/* ----------------------------------------------------------------
 * Ranges, marks, pruning
 * ----------------------------------------------------------------
 */

/*
 * The barrier: wait for writers in flight (exclusive session-level lock),
 * read the reader's mark, the horizon and hi with a fresh snapshot, and
 * let writers go again (unless hold).
 */
static void
read_under_barrier(int32 table_id, Datum *values, Oid *types, bool hold)
{
	DirectFunctionCall2(pg_advisory_lock_int4, Int32GetDatum(LH_CHANGES_LOCK_CLASS),
						Int32GetDatum(table_id));
	PG_TRY();
	{
		catalog_exec("SELECT (SELECT m.change_id FROM lakehouse.change_marks m"
					 "         WHERE m.reader_table_id = $1 AND m.input_table_id = $2),"
					 " (SELECT h.pruned_through FROM lakehouse.change_log_horizon h"
					 "   WHERE h.table_id = $2),"
					 " (SELECT max(c.change_id) FROM lakehouse.change_log c"
					 "   WHERE c.table_id = $2),"
					 " (SELECT h.cause FROM lakehouse.change_log_horizon h"
					 "   WHERE h.table_id = $2)",
					 2, types, values, NULL, SPI_OK_SELECT);
	}
	PG_CATCH();
	{
		DirectFunctionCall2(pg_advisory_unlock_int4, Int32GetDatum(LH_CHANGES_LOCK_CLASS),
							Int32GetDatum(table_id));
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (hold)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		held_locks = lappend_int(held_locks, table_id);
		MemoryContextSwitchTo(old);
	}
	else
		DirectFunctionCall2(pg_advisory_unlock_int4, Int32GetDatum(LH_CHANGES_LOCK_CLASS),
							Int32GetDatum(table_id));
}

static LhChangeRange *
open_range(int32 reader_table_id, Oid input_relid, bool hold)
{
	LhChangeRange *r = palloc0(sizeof(LhChangeRange));
	LhTable    *in = table_by_relid(input_relid);
	char	   *qname = relid_name(input_relid);
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	bool		has_mark;
	int64		mark;
	int64		horizon;
	int64		maxid;

	r->input_relid = input_relid;
	if (in == NULL || !has_capture_triggers(input_relid))
	{
		r->complete = false;
		r->why_incomplete = psprintf("reads %s, which is not captured", qname);
		return r;
	}
	r->input_table_id = in->table_id;
	values[0] = Int32GetDatum(reader_table_id);
	values[1] = Int32GetDatum(in->table_id);

	read_under_barrier(in->table_id, values, types, hold);

	{
		bool		isnull;

		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		has_mark = !isnull;
	}
	mark = catalog_int64(0, 1, 0);
	horizon = catalog_int64(0, 2, 0);
	maxid = catalog_int64(0, 3, 0);

	r->lo = mark;
	r->hi = Max(Max(maxid, horizon), mark);
	if (!has_mark)
	{
		r->complete = false;
		r->why_incomplete = "first build";
	}
	else if (horizon > mark)
	{
		char	   *cause = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

		r->complete = false;
		if (cause && strcmp(cause, "rewritten") == 0)
			r->why_incomplete = psprintf("%s was rewritten (full refresh) since this table's last build",
										 qname);
		else if (cause && strcmp(cause, "unread") == 0)
			r->why_incomplete = psprintf("%s changed while no reader held a mark",
										 qname);
		else if (cause && strcmp(cause, "erased") == 0)
			r->why_incomplete = psprintf("rows of %s were erased by lh_forget since this table's last build",
										 qname);
		else
			r->why_incomplete = psprintf("change log of %s was pruned past this table's mark",
										 qname);
	}
	else
		r->complete = true;
	return r;
}

LhChangeRange *
changes_open(int32 reader_table_id, Oid input_relid)
{
	return open_range(reader_table_id, input_relid, false);
}

LhChangeRange *
changes_open_held(int32 reader_table_id, Oid input_relid)
{
	return open_range(reader_table_id, input_relid, true);
}

/* Release every barrier changes_open_held kept (also after an error). */
void
changes_release_held(void)
{
	ListCell   *lc;

	foreach(lc, held_locks)
		DirectFunctionCall2(pg_advisory_unlock_int4, Int32GetDatum(LH_CHANGES_LOCK_CLASS),
							Int32GetDatum(lfirst_int(lc)));
	list_free(held_locks);
	held_locks = NIL;
}

char *
changes_delta_sql(const LhChangeRange *r)
{
	if (r->input_table_id == 0)
		elog(ERROR, "changes_delta_sql of a table that is not captured");
	return psprintf("SELECT r.*, CASE c.op WHEN 'I' THEN 1 ELSE -1 END AS _lh_sign"
					" FROM lakehouse.lh_change_images(%d, " INT64_FORMAT ", " INT64_FORMAT ") c"
					" CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::%s, c.img) r",
					r->input_table_id, r->lo, r->hi, relid_name(r->input_relid));
}

int64
changes_count(const LhChangeRange *r)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];

	if (r->input_table_id == 0)
		return 0;
	values[0] = Int32GetDatum(r->input_table_id);
	values[1] = Int64GetDatum(r->lo);
	values[2] = Int64GetDatum(r->hi);
	catalog_exec("SELECT count(*) FROM lakehouse.change_log"
				 " WHERE table_id = $1 AND change_id > $2 AND change_id <= $3",
				 3, types, values, NULL, SPI_OK_SELECT);
	return catalog_int64(0, 1, 0);
}

void
changes_consume(int32 reader_table_id, const LhChangeRange *r)
{
	Oid			types[3] = {INT4OID, INT4OID, INT8OID};
	Datum		values[3];

	if (r->input_table_id == 0)
		return;
	values[0] = Int32GetDatum(reader_table_id);
	values[1] = Int32GetDatum(r->input_table_id);
	values[2] = Int64GetDatum(r->hi);
	catalog_exec("INSERT INTO lakehouse.change_marks AS m"
				 " (reader_table_id, input_table_id, change_id)"
				 " VALUES ($1, $2, $3)"
				 " ON CONFLICT (reader_table_id, input_table_id) DO UPDATE"
				 " SET change_id = excluded.change_id, updated_at = now()",
				 3, types, values, NULL, SPI_OK_INSERT);
	changes_prune(r->input_table_id);
}

/*
 * changes_prune
 *		Delete the images of input_table_id that every reader has passed
 *		(all of them when no reader has a mark) and move its horizon.
 */
void
changes_prune(int32 input_table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(input_table_id)};

	catalog_exec("WITH lim AS (SELECT coalesce("
				 "   (SELECT min(m.change_id) FROM lakehouse.change_marks m"
				 "     WHERE m.input_table_id = $1),"
				 "   (SELECT max(c.change_id) FROM lakehouse.change_log c"
				 "     WHERE c.table_id = $1)) AS upto),"
				 " d AS (DELETE FROM lakehouse.change_log c USING lim"
				 "  WHERE c.table_id = $1 AND c.change_id <= lim.upto"
				 "  RETURNING c.change_id)"
				 " INSERT INTO lakehouse.change_log_horizon AS h (table_id, pruned_through, cause)"
				 " SELECT $1, max(d.change_id), 'pruned' FROM d HAVING count(*) > 0"
				 " ON CONFLICT (table_id) DO UPDATE"
				 " SET pruned_through = greatest(h.pruned_through, excluded.pruned_through),"
				 "     cause = CASE WHEN excluded.pruned_through > h.pruned_through"
				 "             THEN excluded.cause ELSE h.cause END",
				 1, types, values, NULL, SPI_OK_INSERT);
}

void
changes_forget_other_marks(int32 reader_table_id, List *keep)
{
	Oid			types[2] = {INT4OID, INT4ARRAYOID};
	Datum		values[2];
	Datum	   *ids = palloc(sizeof(Datum) * Max(list_length(keep), 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, keep)
		ids[n++] = Int32GetDatum(lfirst_int(lc));
	values[0] = Int32GetDatum(reader_table_id);
	values[1] = PointerGetDatum(construct_array(ids, n, INT4OID, 4, true, TYPALIGN_INT));
	catalog_exec("DELETE FROM lakehouse.change_marks"
				 " WHERE reader_table_id = $1 AND input_table_id <> ALL ($2)",
				 2, types, values, NULL, SPI_OK_DELETE);
}

/* ----------------------------------------------------------------
 * The gold stage in this backend, for lh_changes
 * ----------------------------------------------------------------
 */

void
changes_stage_begin(int32 reader_table_id, bool full)
{
	stage_reader = reader_table_id;
	stage_full = full;
	stage_ranges = NIL;
	stage_cxt = CurrentMemoryContext;
	stage_fallback = NULL;
}

List *
changes_stage_ranges(void)
{
	return stage_ranges;
}

bool
changes_stage_fell_back(const char **why)
{
	if (why)
		*why = stage_fallback;
	return stage_fallback != NULL;
}

void
changes_stage_end(void)
{
	stage_reader = 0;
	stage_full = false;
	stage_ranges = NIL;
	stage_cxt = NULL;
	stage_fallback = NULL;
}

/* The range of relid the current stage has opened, or a new one. */
static LhChangeRange *
stage_range(Oid relid)
{
	ListCell   *lc;
	MemoryContext old;
	LhChangeRange *r;

	foreach(lc, stage_ranges)
	{
		r = lfirst(lc);
		if (r->input_relid == relid)
			return r;
	}
	old = MemoryContextSwitchTo(stage_cxt);
	r = open_range(stage_reader, relid, false);
	if (r->why_incomplete)
		r->why_incomplete = pstrdup(r->why_incomplete);
	stage_ranges = lappend(stage_ranges, r);
	MemoryContextSwitchTo(old);
	return r;
}

/* ----------------------------------------------------------------
 * lh_changes and lh_change_images
 * ----------------------------------------------------------------
 */

/* Copy the rows of the last SPI query into the SRF's tuplestore. */
static void
put_rows(ReturnSetInfo *rsinfo, int ncols)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[5];
		bool		nulls[5];

		for (int c = 0; c < ncols; c++)
			values[c] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * The net change per key of table t in (lo, hi]: the first image of a key
 * tells whether it existed at lo (a 'D' image: yes, as that image), the
 * last whether it exists at hi (an 'I' image: yes, as that image).
 * Without keys, each distinct row image counts: inserted or deleted as
 * many times as its images add up to.
 */
static void
put_net_changes(ReturnSetInfo *rsinfo, LhTable *t, int64 lo, int64 hi)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];
	StringInfoData sql;
	ListCell   *lc;

	values[0] = Int32GetDatum(t->table_id);
	values[1] = Int64GetDatum(lo);
	values[2] = Int64GetDatum(hi);
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "WITH c AS MATERIALIZED (SELECT change_id, run_id, op, img, ");
	if (t->keys == NIL)
		appendStringInfoString(&sql, "img AS k");
	else
	{
		appendStringInfoString(&sql, "pg_catalog.jsonb_build_array(");
		foreach(lc, t->keys)
			appendStringInfo(&sql, "%simg -> %s", foreach_current_index(lc) ? ", " : "",
							 quote_literal_cstr(lfirst(lc)));
		appendStringInfoString(&sql, ") AS k");
	}
	appendStringInfoString(&sql,
						   " FROM lakehouse.change_log"
						   " WHERE table_id = $1 AND change_id > $2 AND change_id <= $3)");
	if (t->keys == NIL)
		appendStringInfoString(&sql,
							   " SELECT CASE WHEN g.n > 0 THEN 'insert' ELSE 'delete' END,"
							   " g.last_id, g.run_id,"
							   " CASE WHEN g.n > 0 THEN g.k END, CASE WHEN g.n < 0 THEN g.k END"
							   " FROM (SELECT k, sum(CASE op WHEN 'I' THEN 1 ELSE -1 END) AS n,"
							   "        max(change_id) AS last_id,"
							   "        (pg_catalog.array_agg(run_id ORDER BY change_id DESC))[1] AS run_id"
							   "       FROM c GROUP BY k) g"
							   " CROSS JOIN LATERAL pg_catalog.generate_series(1, abs(g.n)) AS s"
							   " WHERE g.n <> 0 ORDER BY g.last_id");
	else
		appendStringInfoString(&sql,
							   " SELECT CASE WHEN f.op = 'D' AND l.op = 'I' THEN 'update'"
							   "             WHEN l.op = 'I' THEN 'insert' ELSE 'delete' END,"
							   " l.change_id, l.run_id,"
							   " CASE WHEN l.op = 'I' THEN l.img END,"
							   " CASE WHEN f.op = 'D' THEN f.img END"
							   " FROM (SELECT k, min(change_id) AS first_id, max(change_id) AS last_id"
							   "       FROM c GROUP BY k) g"
							   " JOIN c f ON f.change_id = g.first_id"
							   " JOIN c l ON l.change_id = g.last_id"
							   " WHERE NOT (f.op = 'I' AND l.op = 'D')"
							   "   AND NOT (f.op = 'D' AND l.op = 'I' AND f.img = l.img)"
							   " ORDER BY l.change_id");
	catalog_exec(sql.data, 3, types, values, NULL, SPI_OK_SELECT);
	put_rows(rsinfo, 5);
}

/* Every current row of relid as an insert, read as the caller. */
static void
put_all_rows(ReturnSetInfo *rsinfo, Oid relid)
{
	(void) lh_spi_exec(psprintf("SELECT 'insert'::pg_catalog.text, NULL::pg_catalog.int8,"
								" NULL::pg_catalog.int8, pg_catalog.to_jsonb(t),"
								" NULL::pg_catalog.jsonb FROM %s t", relid_name(relid)),
					   0, NULL, NULL, NULL, SPI_OK_SELECT, "read a table's rows");
	put_rows(rsinfo, 5);
}

/*
 * lh_changes(table_name text, since_change_id bigint DEFAULT NULL)
 *		RETURNS TABLE(_lh_op, _lh_change_id, _lh_run_id, row, old_row)
 */
Datum
lh_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name;
	char	   *schema;
	char	   *table;
	LhTable    *t;
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (PG_ARGISNULL(1) && stage_reader == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot read the changes of %s outside a gold stage", name),
				 errdetail("Outside a gold stage there is no mark to read the changes from."),
				 errhint("Read them in the query of a gold table, or pass since_change_id.")));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	t = catalog_table_lookup(name, &schema, &table);
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s is not a silver or gold table of a pipeline",
						lh_qualified_name(schema, table)),
				 errhint("See lakehouse.tables for the tables whose changes are captured.")));
	relid = lh_table_oid(t->schema_name, t->table_name, false);
	/* the images are the table's rows: the caller must be able to read it */
	check_select(relid);

	if (!PG_ARGISNULL(1))
	{
		int64		since = PG_GETARG_INT64(1);
		LhChangeRange *r = changes_open(0, relid);

		if (r->input_table_id == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("changes of %s are not captured",
							lh_qualified_name(t->schema_name, t->table_name)),
					 errhint("Its changes are captured once a gold table reads it, or its pipeline runs.")));
		{
			Oid			types[1] = {INT4OID};
			Datum		values[1] = {Int32GetDatum(t->table_id)};

			catalog_exec("SELECT pruned_through FROM lakehouse.change_log_horizon"
						 " WHERE table_id = $1", 1, types, values, NULL, SPI_OK_SELECT);
			if (SPI_processed > 0 && catalog_int64(0, 1, 0) > since)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("changes of %s since change " INT64_FORMAT " are no longer kept",
								lh_qualified_name(t->schema_name, t->table_name), since),
						 errdetail("The change log of the table is pruned through change " INT64_FORMAT ".",
								   catalog_int64(0, 1, 0)),
						 errhint("Read the table itself instead.")));
		}
		put_net_changes(rsinfo, t, since, r->hi);
	}
	else
	{
		LhChangeRange *r = stage_range(relid);

		if (!stage_full && !r->complete && stage_fallback == NULL)
			stage_fallback = r->why_incomplete;
		if (stage_full || !r->complete)
			put_all_rows(rsinfo, relid);
		else
			put_net_changes(rsinfo, t, r->lo, r->hi);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * lh_change_images(table_id, lo, hi): the images of a captured table in
 * (lo, hi], in order, for changes_delta_sql.  The caller must be able to
 * read the table.
 */
Datum
lh_change_images(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		table_id = PG_GETARG_INT32(0);
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		values[3];
	LhTable    *t;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	t = catalog_table(table_id);
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("no lakehouse table has id %d", table_id)));
	check_select(lh_table_oid(t->schema_name, t->table_name, false));
	values[0] = Int32GetDatum(table_id);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = PG_GETARG_DATUM(2);
	catalog_exec("SELECT change_id, op, img FROM lakehouse.change_log"
				 " WHERE table_id = $1 AND change_id > $2 AND change_id <= $3"
				 " ORDER BY change_id", 3, types, values, NULL, SPI_OK_SELECT);
	put_rows(rsinfo, 3);
	SPI_finish();
	return (Datum) 0;
}

/*
 * changes_forget_subject
 *		lh_forget erased a subject from relid: its images must not outlive
 *		it in the change log.  Delete the images of the table whose column
 *		holds value, and if there were any, make every reader refresh fully
 *		(the images it would have needed are gone): the horizon moves with
 *		the cause "erased".  Erasure wins over incrementality, by design.
 */
void
changes_forget_subject(Oid relid, const char *column, const char *value)
{
	LhTable    *t = table_by_relid(relid);
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];

	if (t == NULL)
		return;
	values[0] = Int32GetDatum(t->table_id);
	values[1] = CStringGetTextDatum(column);
	values[2] = CStringGetTextDatum(value);
	catalog_exec("DELETE FROM lakehouse.change_log"
				 " WHERE table_id = $1 AND img ->> $2 = $3",
				 3, types, values, NULL, SPI_OK_DELETE);
	if (SPI_processed > 0)
		changes_move_horizon(t->table_id, "erased");
}

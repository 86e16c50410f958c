/*-------------------------------------------------------------------------
 *
 * changes_capture.c
 *	  The capture trigger lakehouse.lh_change_capture(), and the two ways
 *	  a write can be captured: images, or a moved horizon.
 *
 * Every captured table has four statement-level AFTER triggers calling
 * lh_change_capture (installed by changes.c).  After each statement it
 * takes the barrier (a shared transaction-level advisory lock keyed by the
 * table, see changes.c) and then records the statement in one of two
 * ways:
 *
 *	- Images (the normal case: silver upserts, lh_forget deletes, gold
 *	  incremental writes of a table another gold table reads): one signed
 *	  row image per row to lakehouse.change_log, an INSERT an 'I' image of
 *	  the new row, a DELETE a 'D' image of the old one, an UPDATE both ('D'
 *	  images first).  Images are to_jsonb of the whole row, computed as
 *	  the writer (a user's cast to json is the writer's code), and written
 *	  in batches of arrays as the catalog owner (catalog_exec).
 *
 *	- No images, the horizon moves: lakehouse.change_log_horizon of the
 *	  table is set to a fresh id of the change-id sequence, so that every
 *	  reader whose mark is below it refreshes fully, with the cause as its
 *	  reason.  Used when images could never be used:
 *		  rewritten: this backend is writing the table fully (a gold full
 *			refresh, a silver full-refresh run; changes_rewrite_begin), and
 *			its readers should refresh fully themselves rather than apply
 *			two million images;
 *		  unread: no reader holds a mark on the table (the first silver
 *			load, a table no gold table reads yet): every reader's next
 *			build is full anyway;
 *		  invalidated: a TRUNCATE, which has no rows to capture.
 *	  Images already in the log are left alone (pruning removes them once
 *	  every reader has passed them): a reader in flight may still be
 *	  reading its range.
 *
 * Why a moved horizon is as exact as images.  A reader's range is (mark,
 * hi], and hi is read under the exclusive barrier lock (changes.c); hi is
 * the greatest of the table's committed change ids, its horizon and the
 * reader's mark, all of them values the change-id sequence had already
 * handed out at that moment.  The writer takes its new horizon X with
 * nextval only after it holds the shared lock.  So for a reader R in
 * another backend, either
 *	  (1) R read hi before the writer got the lock (R held the exclusive
 *		  lock then, which the shared lock waits for): the sequence is
 *		  strictly increasing across backends (CACHE 1, the default of the
 *		  bigserial, never altered), so X > hi >= the mark R will commit,
 *		  even if R commits that mark after the writer decided (a first
 *		  build in flight whose mark the writer could not see yet).  R's
 *		  next range finds horizon X > mark: not complete, full; or
 *	  (2) R read hi after the writer committed (its exclusive lock waited
 *		  for the writer's shared lock): R's fresh snapshot sees horizon
 *		  >= X while its mark, read in an earlier run, is < X (case 1), so
 *		  R refreshes fully now, and a full write takes its snapshot under
 *		  the lock (changes_open_held): it sees the writer's rows.
 * In one backend nothing conflicts, but everything is in order: a range
 * opened before the nextval has hi < X; one opened after sees the
 * horizon (its own transaction's write, or a committed one).  The
 * decision is therefore taken again for every statement and every
 * statement takes its own X: a reader in the same transaction may have
 * consumed X between two statements (caching "no reader" for the
 * transaction would then lose the second statement).  Whether readers
 * hold marks (the "unread" test) only decides what is cheaper: a moved
 * horizon is correct whatever the test saw, so a snapshot that misses a
 * mark committed meanwhile costs that reader a full refresh, nothing
 * more.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "transform/changes.h"

PG_FUNCTION_INFO_V1(lh_change_capture);

/* images written per catalog statement */
#define CAPTURE_BATCH 5000

/* the relation this backend is rewriting fully (changes_rewrite_begin) */
static Oid	rewrite_relid = InvalidOid;

/*
 * changes_rewrite_begin
 *		The statements that follow write relid fully: log no images of it,
 *		move its horizon ("rewritten").  Returns the previous setting, to
 *		give back to changes_rewrite_end in a PG_FINALLY block.
 */
Oid
changes_rewrite_begin(Oid relid)
{
	Oid			prev = rewrite_relid;

	rewrite_relid = relid;
	return prev;
}

void
changes_rewrite_end(Oid prev)
{
	rewrite_relid = prev;
}

/*
 * changes_move_horizon
 *		Every reader of table_id whose mark is below a fresh change id
 *		refreshes fully; cause says why (change_log_horizon.cause).  The
 *		caller holds the table's barrier (shared) when it writes the table
 *		(see the file header); caller is connected to SPI.
 */
void
changes_move_horizon(int32 table_id, const char *cause)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2] = {Int32GetDatum(table_id), CStringGetTextDatum(cause)};

	catalog_exec("INSERT INTO lakehouse.change_log_horizon AS h"
				 " (table_id, pruned_through, cause)"
				 " VALUES ($1, pg_catalog.nextval('lakehouse.change_log_change_id_seq'), $2)"
				 " ON CONFLICT (table_id) DO UPDATE"
				 " SET pruned_through = greatest(h.pruned_through, excluded.pruned_through),"
				 "     cause = CASE WHEN excluded.pruned_through > h.pruned_through"
				 "             THEN excluded.cause ELSE h.cause END",
				 2, types, values, NULL, SPI_OK_INSERT);
}

/* Does a reader hold a mark on table_id? (change_marks_input_idx) */
static bool
has_readers(int32 table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};

	catalog_exec("SELECT EXISTS (SELECT 1 FROM lakehouse.change_marks"
				 " WHERE input_table_id = $1)",
				 1, types, values, NULL, SPI_OK_SELECT);
	return catalog_bool(0, 1, true);
}

/* Write the images of transition table enr (as op) to the log. */
static void
write_images(const char *enr, char op, int32 table_id, MemoryContext batchcxt)
{
	SPIPlanPtr	plan;
	Portal		portal;
	Oid			types[4] = {INT4OID, INT8OID, CHAROID, JSONBARRAYOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = Int32GetDatum(table_id);
	if (lh_current_run)
		values[1] = Int64GetDatum(lh_current_run->run_id);
	else
		nulls[1] = 'n';
	values[2] = CharGetDatum(op);

	/* as the writer: to_jsonb may call a cast the writer made */
	plan = SPI_prepare(psprintf("SELECT pg_catalog.to_jsonb(t) FROM %s t",
								quote_identifier(enr)), 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the capture query: %s",
			 SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);
	for (;;)
	{
		MemoryContext old;
		uint64		n;
		Datum	   *imgs;

		SPI_cursor_fetch(portal, true, CAPTURE_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		old = MemoryContextSwitchTo(batchcxt);
		imgs = palloc(sizeof(Datum) * n);
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;

			imgs[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
									&isnull);
		}
		values[3] = PointerGetDatum(construct_array(imgs, (int) n, JSONBOID, -1,
													false, TYPALIGN_INT));
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		catalog_exec("INSERT INTO lakehouse.change_log (table_id, run_id, op, img)"
					 " SELECT $1, $2, $3, i FROM pg_catalog.unnest($4) AS i",
					 4, types, values, nulls, SPI_OK_INSERT);
		MemoryContextReset(batchcxt);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
}

/*
 * lh_change_capture() RETURNS trigger: AFTER INSERT / UPDATE / DELETE
 * (with transition tables) or TRUNCATE, FOR EACH STATEMENT.
 */
Datum
lh_change_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	LhTable    *t;
	int			rc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_change_capture can only be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_change_capture must be an AFTER ... FOR EACH STATEMENT trigger")));
	rel = td->tg_relation;

	SPI_connect();
	t = catalog_table_by_name(get_namespace_name(RelationGetNamespace(rel)),
							  RelationGetRelationName(rel));
	/* a table lakehouse no longer manages: nothing to record */
	if (t != NULL)
	{
		/*
		 * The barrier: readers wait for this transaction; every id taken
		 * from here on is above the hi of a range opened before (see the
		 * file header).
		 */
		DirectFunctionCall2(pg_advisory_xact_lock_shared_int4,
							Int32GetDatum(LH_CHANGES_LOCK_CLASS),
							Int32GetDatum(t->table_id));
		if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
			changes_move_horizon(t->table_id, "invalidated");
		else if (RelationGetRelid(rel) == rewrite_relid)
			changes_move_horizon(t->table_id, "rewritten");
		else if (!has_readers(t->table_id))
			changes_move_horizon(t->table_id, "unread");
		else
		{
			MemoryContext batchcxt = AllocSetContextCreate(CurrentMemoryContext,
														   "lakehouse capture batch",
														   ALLOCSET_DEFAULT_SIZES);

			rc = SPI_register_trigger_data(td);
			if (rc != SPI_OK_TD_REGISTER)
				elog(ERROR, "could not register the transition tables: %s",
					 SPI_result_code_string(rc));
			if (TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
				TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			{
				if (td->tg_trigger->tgoldtable == NULL)
					elog(ERROR, "lh_change_capture needs REFERENCING OLD TABLE");
				write_images(td->tg_trigger->tgoldtable, 'D', t->table_id, batchcxt);
			}
			if (TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
				TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			{
				if (td->tg_trigger->tgnewtable == NULL)
					elog(ERROR, "lh_change_capture needs REFERENCING NEW TABLE");
				write_images(td->tg_trigger->tgnewtable, 'I', t->table_id, batchcxt);
			}
			MemoryContextDelete(batchcxt);
		}
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

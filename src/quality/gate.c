/*-------------------------------------------------------------------------
 *
 * gate.c
 *	  Data-quality gates of pipeline runs, and the silver stage's drop
 *	  expectations.
 *
 * Gates: the quality rows of the stage checks (src/pipeline/checks.c).
 * After a silver or gold stage has written its rows, still inside the
 * stage's subtransaction, quality_after_write evaluates
 * the table's suite (incrementally: the rows of this run, when the table
 * has _lh_run_id; silver stages that wrote and quarantined nothing are
 * not checked).  The results are kept, serialized, in memory that survives
 * the subtransaction (a child of TopTransactionContext); a failed
 * expectation of severity "fail" then raises an error, which rolls the
 * stage back and fails the run.  quality_stage_done, called after the
 * stage has been recorded and outside its subtransaction, writes the kept
 * results to lakehouse.dq_results -- so the results of a stage that a
 * gate rolled back are recorded too.  An xact callback forgets whatever
 * is kept when the transaction ends.
 *
 * Drop expectations.  A silver row that fails an expectation of severity
 * "drop" must go to quarantine instead of the table, and an upsert must
 * keep the previous good version, so these are evaluated before the row
 * is written: the silver stage's row checks call quality_rows_begin once
 * per stage, which compiles the SQL of every drop expectation (the same
 * text the scan of check.c uses) into executor expressions over the
 * silver row type, and quality_rows_check for each projected row, which
 * evaluates them on the row's datums in a per-row expression context.
 * Every drop expectation a row fails becomes one of its quarantine rules
 * ("expectation:<name>"), beside the mapping's rules it breaks; an
 * expectation that reads a column whose value could not be typed is not
 * judged on that row (its attributes are noted when it is compiled).  A
 * table without drop expectations costs one catalog query per stage and a
 * NULL test per row.  The tallies (rows judged, missing, unexpected, samples)
 * become the drop expectations' results of the run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "quality/quality.h"

#define DQ_MAX_SAMPLES 20

/* Compiled drop expectation: scope, missing, unexpected, sample, value. */
typedef struct RowExpectation
{
	DqExpectation *e;
	ExprState  *scope;			/* NULL: every row */
	ExprState  *missing;		/* NULL: no missing count */
	ExprState  *unexpected;
	ExprState  *sample;			/* jsonb */
	ExprState  *value;			/* text, for the quarantine row */
	int			tally;			/* index in the tally */
	Bitmapset  *reads;			/* attributes (0-based) the verdict reads */
	bool		reads_row;		/* ... or the whole row */
	char	   *rule;			/* "expectation:<name>" */
	char	   *reason;
} RowExpectation;

typedef struct DqRowCheck
{
	int			n;
	RowExpectation *checks;
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;
	int			natts;
} DqRowCheck;

/* Counts of one drop expectation over a stage (kept in gate_cxt). */
typedef struct DropTally
{
	char	   *name;
	int64		elements;
	int64		missing;
	int64		unexpected;
	StringInfoData samples;
	int			nsamples;
} DropTally;

/* What the gate keeps across the stage's subtransaction. */
typedef struct GateState
{
	int64		run_id;
	int32		table_id;
	/* bronze ids the silver stage reads: above this mark */
	bool		have_from;
	int64		from_id;
	/* drop tallies of the silver stage */
	bool		have_tallies;
	int			ntallies;
	DropTally  *tallies;
	double		drop_ms;
	/* results waiting for quality_stage_done */
	bool		have_results;
	char	   *table_name;
	bool		incremental;
	char	   *json;
} GateState;

static MemoryContext gate_cxt = NULL;
static GateState *gate = NULL;


static void
gate_xact_callback(XactEvent event, void *arg)
{
	/* gate_cxt is a child of TopTransactionContext: gone now */
	gate_cxt = NULL;
	gate = NULL;
}

/* The gate state for (run, table), created if needed. */
static GateState *
gate_for(int64 run_id, int32 table_id)
{
	if (gate_cxt == NULL)
		gate_cxt = AllocSetContextCreate(TopTransactionContext, "data-quality gate",
										 ALLOCSET_SMALL_SIZES);
	if (gate == NULL || gate->run_id != run_id || gate->table_id != table_id)
	{
		MemoryContextReset(gate_cxt);
		gate = MemoryContextAllocZero(gate_cxt, sizeof(GateState));
		gate->run_id = run_id;
		gate->table_id = table_id;
	}
	return gate;
}

/* ----------------------------------------------------------------
 * Drop expectations in the silver stage
 * ----------------------------------------------------------------
 */

static ExprState *
compile_target(TargetEntry *tle, EState *estate)
{
	if (IsA(tle->expr, Const) && ((Const *) tle->expr)->constisnull)
		return NULL;
	return ExecPrepareExpr(tle->expr, estate);
}

/*
 * Note the attributes of the row (range table entry 1) that a target
 * reads, 0-based, in re->reads; a whole-row reference sets re->reads_row.
 */
static void
note_reads(RowExpectation *re, TargetEntry *tle)
{
	Bitmapset  *attrs = NULL;
	int			k = -1;

	pull_varattnos((Node *) tle->expr, 1, &attrs);
	while ((k = bms_next_member(attrs, k)) >= 0)
	{
		AttrNumber	attno = k + FirstLowInvalidHeapAttributeNumber;

		if (attno == InvalidAttrNumber)
			re->reads_row = true;
		else if (attno > 0)
			re->reads = bms_add_member(re->reads, attno - 1);
	}
}

/* Does the expectation read an attribute whose value is unknown? */
static bool
reads_unknown(RowExpectation *re, const bool *unknown, int natts)
{
	int			k = -1;

	if (unknown == NULL)
		return false;
	if (re->reads_row)
	{
		for (int a = 0; a < natts; a++)
			if (unknown[a])
				return true;
		return false;
	}
	while ((k = bms_next_member(re->reads, k)) >= 0)
		if (k < natts && unknown[k])
			return true;
	return false;
}

/*
 * Called by the silver stage once it knows it has rows to read.  For a
 * table with expectations, notes the stage's starting bronze mark (control
 * totals compare what the stage read), and compiles the drop expectations
 * for the row type.  Returns NULL when there are none.  Caller is
 * connected to SPI; the result lives in CurrentMemoryContext.
 */
void *
quality_rows_begin(const StageCheckTarget *target)
{
	int32		table_id = target->table_id;
	TupleDesc	tupdesc = target->tupdesc;
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};
	DqTable    *t;
	DqRowCheck *rc;
	StringInfoData sql;
	ListCell   *lc;
	List	   *drops = NIL;
	List	   *raw;
	Query	   *query;
	GateState  *g;
	int			i;
	bool		has_drop;

	bool		isnull;
	char	   *mark;

	catalog_exec("SELECT count(*), count(*) FILTER (WHERE severity = 'drop')"
				 " FROM lakehouse.dq_expectations WHERE table_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) == 0)
		return NULL;
	has_drop = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   2, &isnull)) > 0;

	/* where the stage starts reading bronze, for control totals */
	g = gate_for(lh_current_run ? lh_current_run->run_id : 0, table_id);
	mark = (lh_current_run && lh_current_run->full_refresh) ? NULL :
		catalog_get_stage_mark(table_id, "bronze_id");
	g->have_from = true;
	g->from_id = mark ? pg_strtoint64(mark) : 0;
	if (!has_drop)
		return NULL;

	t = dq_load_table(table_id, true);
	foreach(lc, t->expectations)
	{
		DqExpectation *e = lfirst(lc);

		if (strcmp(e->severity, "drop") == 0)
			drops = lappend(drops, e);
	}

	/* one SELECT with five targets per expectation, analyzed once */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, drops)
	{
		DqExpectation *e = lfirst(lc);
		char	   *scope = dq_scope_sql(e);

		appendStringInfo(&sql, "%s%s, %s, %s, %s, %s",
						 foreach_current_index(lc) ? ", " : "",
						 scope ? psprintf("coalesce(%s, false)", scope) : "NULL::boolean",
						 dq_counts_missing(e) ? dq_missing_sql(e) : "NULL::boolean",
						 dq_unexpected_sql(e),
						 e->kind == DQ_ROW_CONDITION ? "to_jsonb(t.*)" :
						 e->kind == DQ_NOT_NULL ? "NULL::jsonb" :
						 psprintf("to_jsonb(%s)", dq_column_expr(e)),
						 e->kind == DQ_ROW_CONDITION ? "NULL::text" :
						 psprintf("(%s)::pg_catalog.text", dq_column_expr(e)));
	}
	appendStringInfo(&sql, " FROM %s t", t->qname);
	raw = raw_parser(sql.data, RAW_PARSE_DEFAULT);
	query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql.data, NULL, 0, NULL);
	if (query->hasSubLinks || query->hasAggs || query->hasWindowFuncs ||
		query->hasTargetSRFs)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("drop expectations of table %s cannot be checked row by row", t->display),
				 errdetail("A row condition or filter of an expectation with severity \"drop\" uses a subquery, an aggregate, a window function or a set-returning function."),
				 errhint("Give that expectation severity \"fail\" or \"warn\".")));

	rc = palloc0(sizeof(DqRowCheck));
	rc->n = list_length(drops);
	rc->checks = palloc0(sizeof(RowExpectation) * rc->n);
	rc->estate = CreateExecutorState();
	rc->econtext = GetPerTupleExprContext(rc->estate);
	rc->slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	rc->natts = tupdesc->natts;
	i = 0;
	foreach(lc, drops)
	{
		RowExpectation *re = &rc->checks[i];
		List	   *tl = query->targetList;
		int			base = 5 * i;
		StringInfoData quoted;

		re->e = lfirst(lc);
		re->tally = i;
		re->scope = compile_target(list_nth(tl, base), rc->estate);
		re->missing = compile_target(list_nth(tl, base + 1), rc->estate);
		re->unexpected = compile_target(list_nth(tl, base + 2), rc->estate);
		re->sample = compile_target(list_nth(tl, base + 3), rc->estate);
		re->value = compile_target(list_nth(tl, base + 4), rc->estate);
		/* the verdict: scope, missing and unexpected */
		for (int k = 0; k < 3; k++)
			note_reads(re, list_nth(tl, base + k));
		re->rule = psprintf("expectation:%s", re->e->name);
		initStringInfo(&quoted);
		escape_json(&quoted, re->e->name);
		re->reason = psprintf("failed data-quality expectation %s (%s)",
							  quoted.data, re->e->kind_name);
		i++;
	}

	/* the tallies outlive the stage's memory */
	{
		MemoryContext old = MemoryContextSwitchTo(gate_cxt);

		g->have_tallies = true;
		g->ntallies = rc->n;
		g->tallies = palloc0(sizeof(DropTally) * rc->n);
		for (i = 0; i < rc->n; i++)
		{
			g->tallies[i].name = pstrdup(rc->checks[i].e->name);
			initStringInfo(&g->tallies[i].samples);
		}
		MemoryContextSwitchTo(old);
	}
	return rc;
}

static bool
eval_bool(ExprState *state, ExprContext *econtext)
{
	bool		isnull;
	Datum		d = ExecEvalExprSwitchContext(state, econtext, &isnull);

	return !isnull && DatumGetBool(d);
}

/*
 * Evaluate the drop expectations on one projected row (values/nulls in the
 * silver row type; unknown: attributes that could not be typed, or NULL).
 * Returns true to keep the row; false after appending each expectation it
 * fails to *violations.
 */
bool
quality_rows_check(void *state, Datum *values, bool *nulls,
				   const bool *unknown, List **violations)
{
	DqRowCheck *rc = (DqRowCheck *) state;
	ExprContext *econtext = rc->econtext;
	TupleTableSlot *slot = rc->slot;
	int			nfailed = 0;
	GateState  *g = gate;
	MemoryContext old;

	ResetExprContext(econtext);
	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * rc->natts);
	memcpy(slot->tts_isnull, nulls, sizeof(bool) * rc->natts);
	ExecStoreVirtualTuple(slot);
	econtext->ecxt_scantuple = slot;

	for (int i = 0; i < rc->n; i++)
	{
		RowExpectation *re = &rc->checks[i];
		DropTally  *tally = (g && g->have_tallies) ? &g->tallies[re->tally] : NULL;
		bool		isnull = true;
		Datum		d;

		if (reads_unknown(re, unknown, rc->natts))
			continue;
		if (re->scope && !eval_bool(re->scope, econtext))
			continue;
		if (tally)
			tally->elements++;
		if (re->missing && eval_bool(re->missing, econtext))
		{
			if (tally)
				tally->missing++;
			continue;
		}
		if (!eval_bool(re->unexpected, econtext))
			continue;

		if (tally)
		{
			tally->unexpected++;
			if (tally->nsamples < DQ_MAX_SAMPLES)
			{
				d = re->sample ?
					ExecEvalExprSwitchContext(re->sample, econtext, &isnull) : (Datum) 0;
				old = MemoryContextSwitchTo(gate_cxt);
				if (tally->nsamples++ > 0)
					appendStringInfoString(&tally->samples, ", ");
				if (isnull)
					appendStringInfoString(&tally->samples, "null");
				else
					(void) JsonbToCString(&tally->samples, &DatumGetJsonbP(d)->root, 0);
				MemoryContextSwitchTo(old);
			}
		}
		nfailed++;
		isnull = true;
		d = re->value ? ExecEvalExprSwitchContext(re->value, econtext, &isnull) : (Datum) 0;
		*violations = lappend(*violations,
							  lh_violation((re->e->columns != NIL &&
											re->e->kind != DQ_ROW_CONDITION) ?
										   linitial(re->e->columns) : NULL,
										   re->rule,
										   isnull ? NULL : TextDatumGetCString(d),
										   re->reason));
	}
	return nfailed == 0;
}

/* The drop expectations' results, from the tallies of the stage. */
static List *
drop_results(DqTable *t, GateState *g)
{
	List	   *results = NIL;
	ListCell   *lc;

	foreach(lc, t->expectations)
	{
		DqExpectation *e = lfirst(lc);
		DqResult   *r;

		if (strcmp(e->severity, "drop") != 0)
			continue;
		r = palloc0(sizeof(DqResult));
		r->e = e;
		r->has_element = r->has_unexpected = true;
		r->has_missing = dq_counts_missing(e);
		r->samples = "[]";
		for (int i = 0; g && g->have_tallies && i < g->ntallies; i++)
		{
			DropTally  *tally = &g->tallies[i];

			if (strcmp(tally->name, e->name) != 0)
				continue;
			r->element_count = tally->elements;
			r->missing_count = tally->missing;
			r->unexpected_count = tally->unexpected;
			r->samples = psprintf("[%s]", tally->samples.data);
		}
		dq_decide(r);
		r->dropped = true;
		results = lappend(results, r);
	}
	return results;
}

/* ----------------------------------------------------------------
 * The stage checks
 * ----------------------------------------------------------------
 */

void
quality_after_write(const char *stage, const char *target, int32 table_id,
					LhStageCounts *counts)
{
	bool		silver = strcmp(stage, "silver") == 0;
	int64		run_id = lh_current_run ? lh_current_run->run_id : 0;
	DqTable    *t;
	GateState  *g;
	List	   *results;
	bool		incremental;
	DqResult   *first = NULL;
	int			nfailed = 0;
	StringInfoData others;
	ListCell   *lc;

	if (table_id == 0 || (!silver && strcmp(stage, "gold") != 0))
		return;
	t = dq_load_table(table_id, true);
	if (t == NULL || t->expectations == NIL)
		return;
	/* a silver stage that wrote nothing has nothing new to check */
	if (silver && counts->rows_written == 0 && counts->rows_quarantined == 0)
		return;

	g = (gate && gate->run_id == run_id && gate->table_id == table_id) ? gate : NULL;
	incremental = t->has_run_id && run_id != 0;
	if (silver && g && g->have_from)
	{
		char	   *mark = catalog_get_stage_mark(table_id, "bronze_id");

		t->has_bronze_range = true;
		t->bronze_from = g->from_id;
		t->bronze_to = mark ? pg_strtoint64(mark) : g->from_id;
	}
	/* in file order where a quality file has fail_fast checks (dqconfig.c) */
	results = dqconfig_evaluate(t, incremental, run_id, silver, &first);
	if (first)					/* the fail_fast check that stopped: named first */
		results = lcons(first, list_delete_ptr(results, first));
	first = NULL;
	if (silver)
		results = list_concat(results, drop_results(t, g));

	g = gate_for(run_id, table_id);
	{
		MemoryContext old = MemoryContextSwitchTo(gate_cxt);

		g->have_results = true;
		g->table_name = pstrdup(t->display);
		g->incremental = incremental && t->has_run_id;
		g->json = dq_results_json(t, results);
		MemoryContextSwitchTo(old);
	}

	initStringInfo(&others);
	foreach(lc, results)
	{
		DqResult   *r = lfirst(lc);

		/* a dbt test whose status is "warn" never fails (dbt.c) */
		if (r->success || r->warned || strcmp(r->e->severity, "fail") != 0)
			continue;
		if (nfailed++ == 0)
			first = r;
		else
		{
			appendStringInfo(&others, "%s", nfailed > 2 ? ", " : "");
			escape_json(&others, r->e->name);
		}
	}
	if (first)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("data-quality expectation \"%s\" (%s) failed on %s: %s",
						first->e->name, first->e->kind_name, t->display,
						dq_result_summary(first)),
				 first->samples && strcmp(first->samples, "[]") != 0 ?
				 errdetail("Unexpected values: %s.%s%s", first->samples,
						   nfailed > 1 ? " Other failed expectations of severity \"fail\": " : "",
						   nfailed > 1 ? psprintf("%s.", others.data) : "") :
				 (nfailed > 1 ? errdetail("Other failed expectations of severity \"fail\": %s.",
										  others.data) : 0),
				 errhint("The stage was rolled back; the results are in lakehouse.dq_results.")));
}

void
quality_stage_done(int64 run_id, int stage_no, const char *stage,
				   const char *target, int32 table_id, const char *status,
				   ErrorData *error)
{
	if (gate == NULL || gate->run_id != run_id || gate->table_id != table_id)
		return;
	if (gate->have_results)
		(void) dq_record_json(table_id, gate->table_name, run_id, gate->incremental,
							  gate->json);
	MemoryContextReset(gate_cxt);
	gate = NULL;
}

/*
 * Forget a gate's results at the end of a transaction.  Called once from
 * _PG_init.
 */
void
quality_init(void)
{
	RegisterXactCallback(gate_xact_callback, NULL);
}

/*-------------------------------------------------------------------------
 *
 * contract_table.c
 *	  Gold data contracts in pipeline runs: the table-level rules checked
 *	  at the end of each gold stage, the per-rule violation counts, and
 *	  the stage checks (src/pipeline/checks.c) that connect both to the
 *	  orchestrator.
 *
 * Table-level rules (primaryKey, unique including composite keys,
 * relationships to other tables, rowCount bounds) are properties of the
 * whole table, so they are checked once the gold stage has written it,
 * by contract_after_write, inside the stage's subtransaction: a violation
 * raises ERRCODE_CHECK_VIOLATION and rolls the stage back, whatever the
 * table's on_violation mode (no single row can be diverted to repair a
 * duplicate key or a missing parent).  A uniqueness rule backed by a unique
 * index on exactly its columns is enforced by PostgreSQL already and not
 * queried again.  Each check is one set-based query.
 *
 * While a run executes, the row trigger (contract_trigger.c) and the checks
 * here count violations per (table, rule, column) in a backend-local list
 * that lives outside any transaction.  contract_stage_done writes it to
 * lakehouse.contract_violations after the stage is recorded, outside the
 * stage's subtransaction, so the violations that failed a stage are kept
 * with the run even though the stage's writes are rolled back; then the
 * list is cleared.
 *
 * contract_after_write also flushes the quarantine buffer and moves the
 * rows the trigger quarantined (counted apart from the rules they break:
 * one row may break several) from the stage's rows_skipped to its
 * rows_quarantined, so that read = written + quarantined + skipped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "lakehouse.h"
#include "contract/contract.h"

typedef struct ViolationCount
{
	int32		table_id;
	char	   *rule;
	char	   *column;			/* NULL for table rules without one column */
	char	   *sample;
	int64		count;
	bool		quarantined;
} ViolationCount;

/* Rows of one table the trigger quarantined during a run. */
typedef struct QuarantinedRows
{
	int32		table_id;
	int64		rows;
} QuarantinedRows;

static MemoryContext violations_cxt = NULL;
static List *violations = NIL;
static List *quarantined_rows = NIL;

/* The memory of the counts, created on first use. */
static MemoryContext
counts_cxt(void)
{
	if (violations_cxt == NULL)
		violations_cxt = AllocSetContextCreate(TopMemoryContext,
											   "lakehouse contract violations",
											   ALLOCSET_SMALL_SIZES);
	return violations_cxt;
}


/*
 * contract_note_violation
 *		Count violations of a rule during a pipeline run.
 */
void
contract_note_violation(int32 table_id, const char *rule, const char *column,
						const char *sample, int64 count, bool quarantined)
{
	ListCell   *lc;
	ViolationCount *v;
	MemoryContext old;

	foreach(lc, violations)
	{
		v = lfirst(lc);
		if (v->table_id == table_id && strcmp(v->rule, rule) == 0 &&
			((v->column == NULL && column == NULL) ||
			 (v->column && column && strcmp(v->column, column) == 0)))
		{
			v->count += count;
			return;
		}
	}
	old = MemoryContextSwitchTo(counts_cxt());
	v = palloc0(sizeof(ViolationCount));
	v->table_id = table_id;
	v->rule = pstrdup(rule);
	v->column = column ? pstrdup(column) : NULL;
	v->sample = sample ? pstrdup(sample) : NULL;
	v->count = count;
	v->quarantined = quarantined;
	violations = lappend(violations, v);
	MemoryContextSwitchTo(old);
}

/*
 * contract_note_quarantined_row
 *		Count a row the trigger quarantined during a pipeline run.
 */
void
contract_note_quarantined_row(int32 table_id)
{
	ListCell   *lc;
	QuarantinedRows *q;
	MemoryContext old;

	foreach(lc, quarantined_rows)
	{
		q = lfirst(lc);
		if (q->table_id == table_id)
		{
			q->rows++;
			return;
		}
	}
	old = MemoryContextSwitchTo(counts_cxt());
	q = palloc(sizeof(QuarantinedRows));
	q->table_id = table_id;
	q->rows = 1;
	quarantined_rows = lappend(quarantined_rows, q);
	MemoryContextSwitchTo(old);
}

static void
violations_reset(void)
{
	violations = NIL;
	quarantined_rows = NIL;
	if (violations_cxt)
		MemoryContextReset(violations_cxt);
}

static char *
column_list(List *cols, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, cols)
		appendStringInfo(&buf, "%s%s%s", foreach_current_index(lc) ? ", " : "",
						 prefix, quote_identifier(lfirst(lc)));
	return buf.data;
}

static char *
name_list(List *cols)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, cols)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? "," : "",
						 (char *) lfirst(lc));
	return buf.data;
}

/* Run a query returning (count, sample); true if count > 0. */
static bool
count_query(const char *sql, int64 *count, char **sample)
{
	bool		isnull;

	if (lh_spi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					"check a data contract") != 1)
		elog(ERROR, "data contract check returned no row");
	*count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	*sample = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return *count > 0;
}

/* Violations found by the table checks, for the error. */
typedef struct TableFailure
{
	const char *rule;
	char	   *what;
} TableFailure;

/* Duplicate (and, for a primary key, null) keys. */
static void
check_unique(const char *qualname, Oid relid, int32 table_id, List *cols,
			 bool primary, List **failures)
{
	int64		n;
	char	   *sample;
	const char *rule = primary ? "primaryKey" : "unique";
	char	   *names = name_list(cols);

	if (primary)
	{
		StringInfoData cond;
		ListCell   *lc;

		initStringInfo(&cond);
		foreach(lc, cols)
			appendStringInfo(&cond, "%s%s IS NULL", foreach_current_index(lc) ? " OR " : "",
							 quote_identifier(lfirst(lc)));
		if (count_query(psprintf("SELECT count(*), NULL::text FROM %s WHERE %s",
								 qualname, cond.data), &n, &sample))
		{
			TableFailure *f = palloc(sizeof(TableFailure));

			contract_note_violation(table_id, rule, names, NULL, n, false);
			f->rule = rule;
			f->what = psprintf(INT64_FORMAT " rows have a null in primary key (%s)",
							   n, column_list(cols, ""));
			*failures = lappend(*failures, f);
		}
	}
	if (lh_unique_index_on(relid, cols))
		return;
	if (count_query(psprintf("SELECT count(*), min(k::text) FROM"
							 " (SELECT ROW(%s) AS k FROM %s WHERE ROW(%s) IS NOT NULL"
							 "  GROUP BY %s HAVING count(*) > 1) AS d",
							 column_list(cols, ""), qualname, column_list(cols, ""),
							 column_list(cols, "")), &n, &sample))
	{
		TableFailure *f = palloc(sizeof(TableFailure));

		contract_note_violation(table_id, rule, names, sample, n, false);
		f->rule = rule;
		f->what = psprintf(INT64_FORMAT " values of (%s) occur more than once, for example %s",
						   n, column_list(cols, ""), sample);
		*failures = lappend(*failures, f);
	}
}

static void
check_relationship(const char *schema, const char *qualname, int32 table_id,
				   ContractRelationship *r, List **failures)
{
	const char *schemas[3] = {schema, "silver", "gold"};
	char	   *target = NULL;
	StringInfoData join;
	StringInfoData notnull;
	int64		n;
	char	   *sample;

	for (int i = 0; i < 3 && target == NULL; i++)
		if (OidIsValid(lh_table_oid(schemas[i], r->to_table, true)))
			target = lh_qualified_name(schemas[i], r->to_table);
	if (target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relationship target table \"%s\" of the data contract of %s does not exist",
						r->to_table, qualname)));
	initStringInfo(&join);
	initStringInfo(&notnull);
	for (int i = 0; i < list_length(r->from); i++)
	{
		appendStringInfo(&join, "%so.%s = t.%s", i ? " AND " : "",
						 quote_identifier(list_nth(r->to, i)),
						 quote_identifier(list_nth(r->from, i)));
		appendStringInfo(&notnull, "%st.%s IS NOT NULL", i ? " AND " : "",
						 quote_identifier(list_nth(r->from, i)));
	}
	if (count_query(psprintf("SELECT count(*), min(ROW(%s)::text) FROM %s AS t"
							 " WHERE %s AND NOT EXISTS (SELECT 1 FROM %s AS o WHERE %s)",
							 column_list(r->from, "t."), qualname, notnull.data, target,
							 join.data), &n, &sample))
	{
		TableFailure *f = palloc(sizeof(TableFailure));

		contract_note_violation(table_id, "relationship", name_list(r->from), sample, n, false);
		f->rule = "relationship";
		f->what = psprintf(INT64_FORMAT " rows have (%s) not found in %s, for example %s",
						   n, column_list(r->from, ""), target, sample);
		*failures = lappend(*failures, f);
	}
}

static void
check_row_count(ContractDef *def, const char *qualname, int32 table_id,
				List **failures)
{
	int64		n;
	char	   *sample;
	double		c;
	double		a = def->row_count_a;
	double		b = def->row_count_b;
	const char *op = def->row_count_op;
	bool		ok;

	(void) count_query(psprintf("SELECT count(*), NULL::text FROM %s", qualname), &n, &sample);
	c = (double) n;
	if (strcmp(op, "mustBe") == 0)
		ok = c == a;
	else if (strcmp(op, "mustNotBe") == 0)
		ok = c != a;
	else if (strcmp(op, "mustBeGreaterThan") == 0)
		ok = c > a;
	else if (strcmp(op, "mustBeGreaterOrEqualTo") == 0)
		ok = c >= a;
	else if (strcmp(op, "mustBeLessThan") == 0)
		ok = c < a;
	else if (strcmp(op, "mustBeLessOrEqualTo") == 0)
		ok = c <= a;
	else if (strcmp(op, "mustBeBetween") == 0)
		ok = c >= a && c <= b;
	else
		ok = c < a || c > b;
	if (!ok)
	{
		TableFailure *f = palloc(sizeof(TableFailure));

		contract_note_violation(table_id, "rowCount", NULL, psprintf(INT64_FORMAT, n), 1, false);
		f->rule = "rowCount";
		if (strstr(op, "Between"))
			f->what = psprintf("the table has " INT64_FORMAT " rows, but rowCount %s [%g, %g]",
							   n, op, a, b);
		else
			f->what = psprintf("the table has " INT64_FORMAT " rows, but rowCount %s %g",
							   n, op, a);
		*failures = lappend(*failures, f);
	}
}

/*
 * Check the table-level rules of a gold table's contract; raise an error
 * naming the first rule broken.  Caller is connected to SPI.
 */
static void
check_table_rules(const char *schema, const char *table, int32 table_id)
{
	char	   *on_violation;
	int32		tid;
	ContractDef *def = contract_load(schema, table, &on_violation, &tid);
	char	   *qualname = lh_qualified_name(schema, table);
	Oid			relid;
	List	   *failures = NIL;
	ListCell   *lc;

	if (def == NULL)
		return;
	relid = lh_table_oid(schema, table, false);
	if (def->primary_key)
		check_unique(qualname, relid, table_id, def->primary_key, true, &failures);
	foreach(lc, def->columns)
	{
		ContractColumn *c = lfirst(lc);

		if (c->unique)
			check_unique(qualname, relid, table_id, list_make1(c->name), false, &failures);
	}
	foreach(lc, def->uniques)
		check_unique(qualname, relid, table_id, lfirst(lc), false, &failures);
	foreach(lc, def->relationships)
		check_relationship(schema, qualname, table_id, lfirst(lc), &failures);
	if (def->has_row_count)
		check_row_count(def, qualname, table_id, &failures);

	if (failures != NIL)
	{
		TableFailure *f = linitial(failures);

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("table %s violates data contract \"%s\"", qualname, def->name),
				 errdetail("Rule \"%s\": %s.%s", f->rule, f->what,
						   list_length(failures) > 1 ?
						   psprintf(" %d more table rules are broken.", list_length(failures) - 1) : ""),
				 errhint("See lakehouse.contract_violations for every rule broken in this run.")));
	}
}

/* After a gold stage: flush, reconcile counts, check the table rules. */
void
contract_after_write(const char *stage, const char *target, int32 table_id,
					 LhStageCounts *counts)
{
	if (strcmp(stage, "gold") != 0 || table_id == 0)
		return;

	contract_flush_quarantine();
	{
		ListCell   *lc;
		int64		q = 0;

		foreach(lc, quarantined_rows)
		{
			QuarantinedRows *r = lfirst(lc);

			if (r->table_id == table_id)
				q += r->rows;
		}
		counts->rows_quarantined += q;
		counts->rows_skipped = Max(counts->rows_skipped - q, 0);
	}

	SPI_connect();
	{
		LhTable    *t = catalog_table(table_id);

		/* a table without a contract has no rules: check_table_rules returns */
		if (t != NULL)
			check_table_rules(t->schema_name, t->table_name, table_id);
	}
	SPI_finish();
}

static void record_violations(int64 run_id, const char *target, const char *status);

/* After a stage is recorded: write the violations counted during it. */
void
contract_stage_done(int64 run_id, int stage_no, const char *stage,
					const char *target, int32 table_id, const char *status,
					ErrorData *error)
{
	if (violations != NIL)
		record_violations(run_id, target, status);
}

/* Write the violations counted, then forget them (also on error). */
static void
record_violations(int64 run_id, const char *target, const char *status)
{
	PG_TRY();
	{
		int			n = list_length(violations);
		Datum	   *tids = palloc(sizeof(Datum) * n);
		Datum	   *rules = palloc(sizeof(Datum) * n);
		Datum	   *cols = palloc(sizeof(Datum) * n);
		bool	   *colnulls = palloc(sizeof(bool) * n);
		Datum	   *samples = palloc(sizeof(Datum) * n);
		bool	   *samplenulls = palloc(sizeof(bool) * n);
		Datum	   *counts = palloc(sizeof(Datum) * n);
		Datum	   *actions = palloc(sizeof(Datum) * n);
		bool	   *nonulls = palloc0(sizeof(bool) * n);
		int			dims[1] = {n};
		int			lbs[1] = {1};
		Oid			types[8] = {INT8OID, TEXTOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, INT8ARRAYOID, TEXTARRAYOID};
		Datum		values[8];
		ListCell   *lc;

		foreach(lc, violations)
		{
			ViolationCount *v = lfirst(lc);
			int			i = foreach_current_index(lc);

			tids[i] = Int32GetDatum(v->table_id);
			rules[i] = CStringGetTextDatum(v->rule);
			cols[i] = v->column ? CStringGetTextDatum(v->column) : (Datum) 0;
			colnulls[i] = v->column == NULL;
			samples[i] = v->sample ? CStringGetTextDatum(v->sample) : (Datum) 0;
			samplenulls[i] = v->sample == NULL;
			counts[i] = Int64GetDatum(v->count);
			actions[i] = CStringGetTextDatum(strcmp(status, "failed") == 0 ? "failed" :
											 v->quarantined ? "quarantined" : "failed");
		}
		values[0] = Int64GetDatum(run_id);
		values[1] = CStringGetTextDatum(target);
		values[2] = PointerGetDatum(construct_md_array(tids, nonulls, 1, dims, lbs, INT4OID,
													   4, true, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_md_array(rules, nonulls, 1, dims, lbs, TEXTOID,
													   -1, false, TYPALIGN_INT));
		values[4] = PointerGetDatum(construct_md_array(cols, colnulls, 1, dims, lbs, TEXTOID,
													   -1, false, TYPALIGN_INT));
		values[5] = PointerGetDatum(construct_md_array(samples, samplenulls, 1, dims, lbs,
													   TEXTOID, -1, false, TYPALIGN_INT));
		values[6] = PointerGetDatum(construct_md_array(counts, nonulls, 1, dims, lbs, INT8OID,
													   8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[7] = PointerGetDatum(construct_md_array(actions, nonulls, 1, dims, lbs, TEXTOID,
													   -1, false, TYPALIGN_INT));
		SPI_connect();

		/*
		 * lakehouse.tables is joined only to find the contract (by its
		 * table's name) whose name each violation records: the statement
		 * writes the subsystem's own table, contract_violations.
		 */
		catalog_exec("INSERT INTO lakehouse.contract_violations (run_id, table_id,"
					 " target_table, contract_name, rule, column_name, sample, violations,"
					 " action)"
					 " SELECT $1, u.tid, $2, c.contract_name, u.rule, u.col, u.sample, u.n, u.act"
					 " FROM unnest($3, $4, $5, $6, $7, $8) AS u(tid, rule, col, sample, n, act)"
					 " LEFT JOIN lakehouse.tables t ON t.table_id = u.tid"
					 " LEFT JOIN lakehouse.contracts c"
					 "   ON c.schema_name = t.schema_name AND c.table_name = t.table_name",
					 8, types, values, NULL, SPI_OK_INSERT);
		SPI_finish();
	}
	PG_CATCH();
	{
		violations_reset();
		PG_RE_THROW();
	}
	PG_END_TRY();
	violations_reset();
}

/*
 * contract_init
 *		Install the trigger callbacks (from _PG_init).
 */
void
contract_init(void)
{
	contract_trigger_init();
}

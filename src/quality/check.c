/*-------------------------------------------------------------------------
 *
 * check.c
 *	  Evaluating a table's data-quality suite and recording the results.
 *
 * dq_evaluate runs a suite with as few scans as possible:
 *
 *	 SELECT count(*),
 *			count(*) [FILTER (WHERE <where>)],					  -- per expectation:
 *			count(*) FILTER (WHERE <where> AND (<col> IS NULL)),  -- element, missing,
 *			lakehouse.lh_dq_count(to_jsonb(<col>)) FILTER (...),  -- unexpected,
 *			lakehouse.lh_dq_sample(to_jsonb(<col>)) FILTER (...), -- samples,
 *			to_jsonb(<aggregate>), <aggregate> within bounds,	  -- observed, ok
 *			...
 *	   FROM <table> t [LEFT JOIN <relationships targets>]
 *	  [WHERE t._lh_run_id = $1]
 *
 * Every row-level expectation (not_null, accepted_values, not_in_set,
 * between, match_regex, not_match_regex, length_between, relationships,
 * row_condition) and every single-aggregate one (row_count_between,
 * freshness, column_sum/mean/min/max_between) is one group of six columns
 * of that one statement, so the table is read once however many there
 * are.  unique (a GROUP BY, unless a unique index proves it),
 * control_total (bronze and quarantine sums), columns_match_set (the
 * catalog) and custom_query (the user's query, as a subquery) need a
 * query each.
 *
 * lh_dq_sample is an aggregate that keeps the first 20 values it is given
 * (the partial_unexpected_list, without collecting every failing value);
 * lh_dq_count shares its transition state and returns how many it saw, so
 * an expectation's check is evaluated once per row.
 *
 * Incremental mode restricts the scan to the rows the run wrote
 * (_lh_run_id, which silver tables and most gold tables carry; the first
 * expectation of such a table gives it an index on the column); unique
 * then looks for duplicates of those rows' keys in the whole table.
 * Tables without _lh_run_id are always checked in full.  JIT is off for
 * these queries (see dq_evaluate).
 *
 * dq_record writes a check's results to lakehouse.dq_results with one
 * INSERT ... SELECT FROM jsonb_to_recordset.  Everything here runs in the
 * caller's transaction and SPI connection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "quality/quality.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_check);
PG_FUNCTION_INFO_V1(lh_dq_sample_trans);
PG_FUNCTION_INFO_V1(lh_dq_sample_final);
PG_FUNCTION_INFO_V1(lh_dq_count_final);

#define DQ_MAX_SAMPLES 20
#define DQ_SCAN_COLS 6

/* ----------------------------------------------------------------
 * The sample aggregate
 * ----------------------------------------------------------------
 */

typedef struct SampleState
{
	int64		count;			/* values seen */
	int			n;
	Jsonb	   *values[DQ_MAX_SAMPLES];	/* NULL: JSON null */
} SampleState;

Datum
lh_dq_sample_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	SampleState *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lh_dq_sample_trans called in non-aggregate context")));
	st = PG_ARGISNULL(0) ? NULL : (SampleState *) PG_GETARG_POINTER(0);
	if (st == NULL)
		st = MemoryContextAllocZero(aggcxt, sizeof(SampleState));
	st->count++;
	if (st->n < DQ_MAX_SAMPLES)
	{
		MemoryContext old = MemoryContextSwitchTo(aggcxt);

		st->values[st->n++] = PG_ARGISNULL(1) ? NULL :
			DatumGetJsonbPCopy(PG_GETARG_DATUM(1));
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_POINTER(st);
}

/* The number of values seen (lh_dq_count); shares the state of lh_dq_sample. */
Datum
lh_dq_count_final(PG_FUNCTION_ARGS)
{
	SampleState *st = PG_ARGISNULL(0) ? NULL : (SampleState *) PG_GETARG_POINTER(0);

	PG_RETURN_INT64(st ? st->count : 0);
}

Datum
lh_dq_sample_final(PG_FUNCTION_ARGS)
{
	SampleState *st = PG_ARGISNULL(0) ? NULL : (SampleState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int i = 0; st && i < st->n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		if (st->values[i] == NULL)
			appendStringInfoString(&buf, "null");
		else
			(void) JsonbToCString(&buf, &st->values[i]->root, VARSIZE(st->values[i]));
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ----------------------------------------------------------------
 * Evaluation
 * ----------------------------------------------------------------
 */

static bool
in_scan(DqExpectation *e)
{
	return dq_class(e->kind) != DQ_CLASS_QUERY || e->kind == DQ_UNIQUE;
}

/* "agg FILTER (WHERE a AND b)", the FILTER left out when both are NULL. */
static char *
filtered(const char *agg, const char *a, const char *b)
{
	if (a == NULL && b == NULL)
		return pstrdup(agg);
	if (a == NULL || b == NULL)
		return psprintf("%s FILTER (WHERE %s)", agg, a ? a : b);
	return psprintf("%s FILTER (WHERE %s AND %s)", agg, a, b);
}

/* Is every column of e declared NOT NULL (so that it cannot be missing)? */
static bool
columns_not_null(Oid relid, List *columns)
{
	ListCell   *lc;

	if (columns == NIL)
		return false;
	foreach(lc, columns)
	{
		HeapTuple	tup = SearchSysCacheAttName(relid, lfirst(lc));
		bool		notnull;

		if (!HeapTupleIsValid(tup))
			return false;
		notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
		ReleaseSysCache(tup);
		if (!notnull)
			return false;
	}
	return true;
}

/*
 * Each expectation is a group of six columns of the one scan.  Its check
 * is a FILTER evaluated once per row: lh_dq_count and lh_dq_sample share
 * their transition state (same function, argument and filter), so the
 * unexpected count and the samples cost one transition, and to_jsonb runs
 * only for the unexpected rows.  Columns declared NOT NULL cannot be
 * missing: those counts are constants.
 *
 * relationships in full mode is a LEFT JOIN to the distinct values of the
 * referenced column (the planner hashes or merges it, like the anti-join
 * dbt writes); in incremental mode, where few rows are read, a lateral
 * probe per row (an index lookup when the column is indexed, as keys are).
 */
static void
append_scan_columns(StringInfo sql, StringInfo joins, DqTable *t,
					DqExpectation *e, int k, bool incremental)
{
	char	   *scope = dq_scope_sql(e);
	DqClass		cls = dq_class(e->kind);
	bool		notnull = columns_not_null(t->relid, e->columns);
	char	   *col = e->columns ? dq_column_expr(e) : NULL;

	if (scope)
		scope = psprintf("coalesce(%s, false)", scope);
	appendStringInfo(sql, ", %s", filtered("count(*)", scope, NULL));

	if ((dq_counts_missing(e) || e->kind == DQ_UNIQUE) && notnull)
		appendStringInfoString(sql, ", 0::bigint");
	else if (dq_counts_missing(e) || e->kind == DQ_UNIQUE)
		appendStringInfo(sql, ", %s", filtered("count(*)", scope,
											   psprintf("(%s)", dq_missing_sql(e))));
	else
		appendStringInfoString(sql, ", NULL::bigint");

	if (e->kind == DQ_NOT_NULL)
	{
		/* the samples are NULLs: made up from the count after the scan */
		if (notnull)
			appendStringInfoString(sql, ", 0::bigint, NULL::jsonb, NULL::jsonb, NULL::boolean");
		else
			appendStringInfo(sql, ", %s, NULL::jsonb, NULL::jsonb, NULL::boolean",
							 filtered("count(*)", scope, psprintf("(%s)", dq_unexpected_sql(e))));
		return;
	}
	if (cls == DQ_CLASS_ROW)
	{
		char	   *u;
		char	   *v;

		if (e->kind == DQ_RELATIONSHIPS)
		{
			if (!incremental)
				appendStringInfo(joins, " LEFT JOIN (SELECT DISTINCT r.%s AS f FROM %s r) r%d"
								 " ON r%d.f = %s",
								 quote_identifier(e->ref_field), e->ref_table, k, k, col);
			else
				appendStringInfo(joins, " LEFT JOIN LATERAL (SELECT true AS f FROM %s r"
								 " WHERE r.%s = %s LIMIT 1) r%d ON true",
								 e->ref_table, quote_identifier(e->ref_field), col, k);
			u = psprintf("(%s IS NOT NULL AND r%d.f IS NULL)", col, k);
		}
		else
			u = psprintf("(%s)", dq_unexpected_sql(e));
		v = e->kind == DQ_ROW_CONDITION ? "to_jsonb(t.*)" : psprintf("to_jsonb(%s)", col);
		appendStringInfo(sql, ", %s, %s, NULL::jsonb, NULL::boolean",
						 filtered(psprintf("lakehouse.lh_dq_count(%s)", v), scope, u),
						 filtered(psprintf("lakehouse.lh_dq_sample(%s)", v), scope, u));
		return;
	}
	if (cls == DQ_CLASS_AGGREGATE)
	{
		char	   *agg;
		StringInfoData ok;

		initStringInfo(&ok);
		switch (e->kind)
		{
			case DQ_ROW_COUNT_BETWEEN:
				agg = filtered("count(*)", scope, NULL);
				appendStringInfoChar(&ok, '(');
				dq_append_bounds(&ok, agg, e, false);
				appendStringInfoChar(&ok, ')');
				break;
			case DQ_FRESHNESS:
				agg = filtered(psprintf("max(%s)", col), scope, NULL);
				appendStringInfo(&ok, "coalesce(%s >= now() - %s::pg_catalog.interval, false)",
								 agg, quote_literal_cstr(e->max_age));
				break;
			default:
				{
					const char *fn = e->kind == DQ_COLUMN_SUM_BETWEEN ? "sum" :
					e->kind == DQ_COLUMN_MEAN_BETWEEN ? "avg" :
					e->kind == DQ_COLUMN_MIN_BETWEEN ? "min" : "max";

					/*
					 * Over no values (no rows, only NULLs) the aggregate is
					 * NULL, as GE's SQL metrics (sa.func.sum/avg/min/max)
					 * return None, and GE's
					 * _validate_metric_value_between then fails with
					 * observed_value null (BatchExpectation in
					 * expectation.py): so does this.
					 */
					agg = filtered(psprintf("%s(%s)", fn, col), scope, NULL);
					appendStringInfoString(&ok, "coalesce(");
					appendStringInfoChar(&ok, '(');
					dq_append_bounds(&ok, agg, e, true);
					appendStringInfoChar(&ok, ')');
					appendStringInfoString(&ok, ", false)");
				}
				break;
		}
		appendStringInfo(sql, ", NULL::bigint, NULL::jsonb, to_jsonb(%s), %s", agg, ok.data);
		return;
	}
	/* unique: counts only */
	appendStringInfoString(sql, ", NULL::bigint, NULL::jsonb, NULL::jsonb, NULL::boolean");
}

static char *
spi_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

static bool
spi_int8(int row, int col, int64 *out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	if (!isnull)
		*out = DatumGetInt64(d);
	return !isnull;
}

static double
ms_since(TimestampTz start)
{
	return (double) (GetCurrentTimestamp() - start) / 1000.0;
}

static void
run_query(const char *sql, bool incremental, int64 run_id, int nextra,
		  Oid *extra_types, Datum *extra_values)
{
	Oid			types[4];
	Datum		values[4];
	int			n = 0;


	if (incremental)
	{
		types[n] = INT8OID;
		values[n++] = Int64GetDatum(run_id);
	}
	for (int i = 0; i < nextra; i++)
	{
		types[n] = extra_types[i];
		values[n++] = extra_values[i];
	}
	(void) lh_spi_exec(sql, n, types, values, NULL, SPI_OK_SELECT,
					   "run a data-quality query");
}

static char *
run_filter(bool incremental, const char *prefix)
{
	return incremental ? psprintf(" %s t._lh_run_id = $1", prefix) : "";
}

/*
 * A valid, immediate, non-partial unique index on a subset of the columns
 * proves them unique (NULLs aside, which unique ignores): its name, or NULL.
 */
static char *
unique_index_on(Oid relid, List *columns)
{
	Oid			types[2] = {OIDOID, TEXTARRAYOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = lh_text_array(columns);
	run_query("SELECT i.indexrelid::regclass::text FROM pg_catalog.pg_index i"
			  " WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid"
			  " AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL"
			  " AND (SELECT array_agg(a.attname::text) FROM unnest(i.indkey) k"
			  "      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k)"
			  "     <@ $2"
			  " ORDER BY 1 LIMIT 1",
			  false, 0, 2, types, values);
	return SPI_processed > 0 ? spi_text(0, 1) : NULL;
}

static void
eval_unique(DqTable *t, DqResult *r, bool incremental, int64 run_id)
{
	DqExpectation *e = r->e;
	StringInfoData cols;
	StringInfoData notnull;
	StringInfoData key;
	StringInfoData sql;
	char	   *scope = dq_scope_sql(e);
	ListCell   *lc;
	TimestampTz start = GetCurrentTimestamp();
	char	   *index = unique_index_on(t->relid, e->columns);

	if (index && scope == NULL)
	{
		StringInfoData obs;

		/* nothing to count: the index allows no duplicates */
		initStringInfo(&obs);
		appendStringInfoString(&obs, "{\"unique_index\": ");
		escape_json(&obs, index);
		appendStringInfoChar(&obs, '}');
		r->observed = obs.data;
		r->has_unexpected = true;
		r->unexpected_count = 0;
		r->samples = "[]";
		r->duration_ms += ms_since(start);
		return;
	}
	initStringInfo(&cols);
	initStringInfo(&notnull);
	initStringInfo(&key);
	foreach(lc, e->columns)
	{
		const char *c = quote_identifier(lfirst(lc));

		appendStringInfo(&cols, "%s%s", foreach_current_index(lc) ? ", " : "", c);
		appendStringInfo(&notnull, " AND t.%s IS NOT NULL", c);
	}
	if (list_length(e->columns) == 1)
		appendStringInfo(&key, "to_jsonb(d.%s)", quote_identifier(linitial(e->columns)));
	else
	{
		appendStringInfoString(&key, "jsonb_build_object(");
		foreach(lc, e->columns)
			appendStringInfo(&key, "%s%s, d.%s", foreach_current_index(lc) ? ", " : "",
							 quote_literal_cstr(lfirst(lc)), quote_identifier(lfirst(lc)));
		appendStringInfoChar(&key, ')');
	}
	initStringInfo(&sql);

	/*
	 * Every row whose key repeats is unexpected and sampled, one entry per
	 * row as GE's partial_unexpected_list has (column_values.unique:
	 * "column NOT IN (duplicated values)"; compound_columns.unique: rows
	 * whose group has two or more rows).  Rows with a NULL in a key column
	 * never repeat: GE's SQL join on "=" drops them as well.
	 */
	if (!incremental)
		appendStringInfo(&sql,
						 "WITH dup AS (SELECT %s FROM %s t WHERE true%s%s%s"
						 " GROUP BY %s HAVING count(*) > 1)"
						 " SELECT count(*), lakehouse.lh_dq_sample(%s)"
						 " FROM (SELECT %s FROM %s t WHERE (%s) IN (SELECT %s FROM dup)%s%s) d",
						 cols.data, t->qname, notnull.data, scope ? " AND " : "",
						 scope ? scope : "", cols.data, key.data,
						 cols.data, t->qname, cols.data, cols.data,
						 scope ? " AND " : "", scope ? scope : "");
	else
		appendStringInfo(&sql,
						 "WITH r AS (SELECT %s FROM %s t WHERE t._lh_run_id = $1%s%s%s),"
						 " d AS (SELECT %s FROM %s t WHERE (%s) IN (SELECT %s FROM r)%s%s"
						 " GROUP BY %s HAVING count(*) > 1)"
						 " SELECT count(*), lakehouse.lh_dq_sample(%s) FROM r d"
						 " WHERE (%s) IN (SELECT %s FROM d)",
						 cols.data, t->qname, notnull.data, scope ? " AND " : "",
						 scope ? scope : "",
						 cols.data, t->qname, cols.data, cols.data,
						 scope ? " AND " : "", scope ? scope : "",
						 cols.data, key.data, cols.data, cols.data);
	run_query(sql.data, incremental, run_id, 0, NULL, NULL);
	r->has_unexpected = spi_int8(0, 1, &r->unexpected_count);
	r->samples = spi_text(0, 2);
	r->duration_ms += ms_since(start);
}

static void
eval_control_total(DqTable *t, DqResult *r, bool incremental, int64 run_id)
{
	DqExpectation *e = r->e;
	LhSource   *src = catalog_source_by_id(t->source_id, false);
	StringInfoData sql;
	Oid			types[3] = {TEXTARRAYOID, NUMERICOID, NUMERICOID};
	Datum		values[3];
	TimestampTz start = GetCurrentTimestamp();
	int			p = incremental ? 2 : 1;

	/*
	 * The quarantined sum is catalog data (src/catalog/quarantine.c); the
	 * statement below reads only the owner's silver and bronze tables.
	 */
	values[1] = catalog_quarantine_total(t->table_id, e->path, incremental, run_id);
	values[0] = lh_text_array(e->path);
	values[2] = DirectFunctionCall3(numeric_in, CStringGetDatum(e->tolerance),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT jsonb_build_object('bronze', x.b, 'silver', x.s, 'quarantined', x.q,"
					 " 'difference', x.b - x.s - x.q), abs(x.b - x.s - x.q) <= $%d FROM"
					 " (SELECT (SELECT coalesce(sum(%s), 0) FROM %s t%s) AS s,"
					 " $%d AS q,"
					 " (SELECT coalesce(sum(%s), 0) FROM %s t,"
					 "  LATERAL (SELECT t.payload #>> $%d AS v) j%s) AS b) x",
					 p + 2,
					 dq_column_expr(e), t->qname, run_filter(incremental, "WHERE"),
					 p + 1,
					 CATALOG_SQL_NUMERIC_OF_V,
					 lh_qualified_name(src->bronze_schema, src->bronze_table), p,
					 !incremental ? "" : t->has_bronze_range ?
					 psprintf(" WHERE t._lh_id > " INT64_FORMAT " AND t._lh_id <= " INT64_FORMAT,
							  t->bronze_from, t->bronze_to) :
					 " WHERE t._lh_run_id = $1");
	run_query(sql.data, incremental, run_id, 3, types, values);
	r->observed = spi_text(0, 1);
	r->success = strcmp(spi_text(0, 2), "t") == 0;
	r->duration_ms = ms_since(start);
}

static void
eval_columns_match_set(DqTable *t, DqResult *r)
{
	DqExpectation *e = r->e;
	Oid			types[3] = {OIDOID, TEXTARRAYOID, BOOLOID};
	Datum		values[3];
	TimestampTz start = GetCurrentTimestamp();

	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = lh_text_array(e->columns);
	values[2] = BoolGetDatum(e->exact);
	run_query("WITH a AS (SELECT attname::text AS c, attnum FROM pg_catalog.pg_attribute"
			  "  WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped"
			  "  AND attname::text NOT LIKE '\\_lh\\_%'),"
			  " m AS (SELECT coalesce(jsonb_agg(x.c ORDER BY x.o), '[]') AS j"
			  "  FROM unnest($2) WITH ORDINALITY AS x(c, o) WHERE x.c NOT IN (SELECT c FROM a)),"
			  " u AS (SELECT coalesce(jsonb_agg(a.c ORDER BY a.attnum), '[]') AS j"
			  "  FROM a WHERE $3 AND a.c <> ALL ($2))"
			  " SELECT jsonb_build_object('columns', (SELECT coalesce(jsonb_agg(c ORDER BY attnum), '[]') FROM a),"
			  "  'missing', m.j, 'unexpected', u.j), m.j || u.j,"
			  "  jsonb_array_length(m.j) + jsonb_array_length(u.j)"
			  " FROM m, u",
			  false, 0, 3, types, values);
	r->observed = spi_text(0, 1);
	r->samples = spi_text(0, 2);
	r->has_unexpected = true;
	r->unexpected_count = pg_strtoint64(spi_text(0, 3));
	r->success = r->unexpected_count == 0;
	r->duration_ms = ms_since(start);
}

static void
eval_custom_query(DqResult *r)
{
	TimestampTz start = GetCurrentTimestamp();

	run_query(psprintf("SELECT count(*), lakehouse.lh_dq_sample(to_jsonb(q.*)) FROM (%s) q",
					   r->e->query), false, 0, 0, NULL, NULL);
	r->has_unexpected = spi_int8(0, 1, &r->unexpected_count);
	r->samples = spi_text(0, 2);
	r->success = r->unexpected_count == 0;
	r->duration_ms = ms_since(start);
}

/*
 * Success of a row-level expectation and of unique: GE's "mostly" -- at
 * least that fraction of the rows it judges (non-null ones, all rows for
 * not_null and row_condition; for unique the rows not missing by
 * ignore_row_if) must pass; nothing to judge passes (ColumnMapExpectation
 * and MulticolumnMapExpectation._validate: "vacuously true").  Exact, in
 * numeric, where GE's _mostly_success divides floats.
 */
static int64
denominator(DqResult *r)
{
	if (r->has_missing && r->e->kind != DQ_UNIQUE)
		return r->element_count - r->missing_count;
	if (r->e->kind == DQ_UNIQUE)
		return r->element_count - (r->has_missing ? r->missing_count : 0);
	return r->element_count;
}

void
dq_decide(DqResult *r)
{
	int64		den;
	Datum		passed;
	Datum		needed;

	if (dq_class(r->e->kind) != DQ_CLASS_ROW && r->e->kind != DQ_UNIQUE)
		return;
	den = denominator(r);
	if (den <= 0)
	{
		r->success = true;
		return;
	}
	passed = DirectFunctionCall1(int8_numeric, Int64GetDatum(den - r->unexpected_count));
	needed = DirectFunctionCall2(numeric_mul, NumericGetDatum(r->e->mostly),
								 DirectFunctionCall1(int8_numeric, Int64GetDatum(den)));
	r->success = DatumGetBool(DirectFunctionCall2(numeric_ge, passed, needed));
}

/*
 * GE's other shares (_format_map_output in expectation.py): of all rows in
 * scope (element_count), the missing ones and the unexpected ones; and the
 * unexpected share of the rows not missing (= unexpected_percent).  Only
 * for expectations that count missing values: GE's not_null reports none
 * of them (nonnull_count None).
 */
static bool
percent_of_elements(DqResult *r, int64 n, double *out)
{
	if (!r->has_element || r->element_count <= 0)
		return false;
	*out = 100.0 * (double) n / (double) r->element_count;
	return true;
}

static bool
missing_percent(DqResult *r, double *out)
{
	return r->has_missing && percent_of_elements(r, r->missing_count, out);
}

static bool
unexpected_percent_total(DqResult *r, double *out)
{
	return r->has_missing && r->has_unexpected &&
		percent_of_elements(r, r->unexpected_count, out);
}

static bool
percent(DqResult *r, double *out)
{
	int64		den;

	if (!r->has_unexpected || !r->has_element)
		return false;
	den = denominator(r);
	if (den <= 0)
		return false;
	*out = 100.0 * (double) r->unexpected_count / (double) den;
	return true;
}

/*
 * Evaluate the table's suite; skip_drop leaves out the drop expectations
 * (the silver stage has applied them row by row).  Caller is connected to
 * SPI.
 */
List *
dq_evaluate(DqTable *t, bool incremental, int64 run_id, bool skip_drop)
{
	List	   *results = NIL;
	List	   *scanned = NIL;
	ListCell   *lc;
	int			save_nestlevel;

	if (incremental && !t->has_run_id)
		incremental = false;

	/*
	 * The scan is one aggregate over many expressions: compiling it with JIT
	 * costs more than it saves (measured with bench/quality.sh).  Restored
	 * below, and by the (sub)transaction's abort on error.
	 */
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	foreach(lc, t->expectations)
	{
		DqExpectation *e = lfirst(lc);
		DqResult   *r;

		if (skip_drop && strcmp(e->severity, "drop") == 0)
			continue;
		r = palloc0(sizeof(DqResult));
		r->e = e;
		results = lappend(results, r);
		if (in_scan(e))
			scanned = lappend(scanned, r);
	}

	if (scanned != NIL)
	{
		StringInfoData sql;
		StringInfoData joins;
		TimestampTz start = GetCurrentTimestamp();
		double		ms;

		initStringInfo(&sql);
		initStringInfo(&joins);
		appendStringInfoString(&sql, "SELECT count(*)");
		foreach(lc, scanned)
			append_scan_columns(&sql, &joins, t, ((DqResult *) lfirst(lc))->e,
								foreach_current_index(lc), incremental);
		appendStringInfo(&sql, " FROM %s t%s%s", t->qname, joins.data,
						 run_filter(incremental, "WHERE"));
		ereport(DEBUG1, (errmsg_internal("data-quality scan of %s: %s", t->display, sql.data)));
		run_query(sql.data, incremental, run_id, 0, NULL, NULL);
		ms = ms_since(start);
		foreach(lc, scanned)
		{
			DqResult   *r = lfirst(lc);
			int			base = 2 + DQ_SCAN_COLS * foreach_current_index(lc);
			char	   *ok;

			r->has_element = spi_int8(0, base, &r->element_count);
			r->has_missing = spi_int8(0, base + 1, &r->missing_count);
			r->has_unexpected = spi_int8(0, base + 2, &r->unexpected_count);
			r->samples = spi_text(0, base + 3);
			r->observed = spi_text(0, base + 4);
			ok = spi_text(0, base + 5);
			if (ok)
				r->success = strcmp(ok, "t") == 0;
			if (r->e->kind == DQ_NOT_NULL)
			{
				StringInfoData nulls;

				initStringInfo(&nulls);
				appendStringInfoChar(&nulls, '[');
				for (int64 i = 0; i < Min(r->unexpected_count, DQ_MAX_SAMPLES); i++)
					appendStringInfoString(&nulls, i ? ", null" : "null");
				appendStringInfoChar(&nulls, ']');
				r->samples = nulls.data;
			}
			r->duration_ms = ms;
		}
	}

	foreach(lc, results)
	{
		DqResult   *r = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		switch (r->e->kind)
		{
			case DQ_UNIQUE:
				eval_unique(t, r, incremental, run_id);
				break;
			case DQ_CONTROL_TOTAL:
				eval_control_total(t, r, incremental, run_id);
				break;
			case DQ_COLUMNS_MATCH_SET:
				eval_columns_match_set(t, r);
				break;
			case DQ_CUSTOM_QUERY:
				eval_custom_query(r);
				break;
			case DQ_DBT_TEST:
				dbt_evaluate(t, r);
				break;
			default:
				break;
		}
		dq_decide(r);
	}
	AtEOXact_GUC(true, save_nestlevel);
	return results;
}

/* ----------------------------------------------------------------
 * Results
 * ----------------------------------------------------------------
 */

static void
json_int(StringInfo buf, const char *key, bool has, int64 v)
{
	if (has)
		appendStringInfo(buf, ",\"%s\":" INT64_FORMAT, key, v);
}

/* A check's results as a JSON array (the rows of lakehouse.dq_results). */
char *
dq_results_json(DqTable *t, List *results)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, results)
	{
		DqResult   *r = lfirst(lc);
		double		pct;

		appendStringInfoString(&buf, foreach_current_index(lc) ? ",{" : "{");
		appendStringInfoString(&buf, "\"expectation\":");
		escape_json(&buf, r->e->name);
		appendStringInfo(&buf, ",\"kind\":\"%s\",\"severity\":\"%s\",\"success\":%s",
						 r->e->kind_name, r->e->severity, r->success ? "true" : "false");
		json_int(&buf, "element_count", r->has_element, r->element_count);
		json_int(&buf, "unexpected_count", r->has_unexpected, r->unexpected_count);
		json_int(&buf, "missing_count", r->has_missing, r->missing_count);
		if (percent(r, &pct))
			appendStringInfo(&buf, ",\"unexpected_percent\":%.17g", pct);
		if (missing_percent(r, &pct))
			appendStringInfo(&buf, ",\"missing_percent\":%.17g", pct);
		if (unexpected_percent_total(r, &pct))
			appendStringInfo(&buf, ",\"unexpected_percent_total\":%.17g", pct);
		if (r->has_missing && percent(r, &pct))
			appendStringInfo(&buf, ",\"unexpected_percent_nonmissing\":%.17g", pct);
		appendStringInfo(&buf, ",\"expectation_config\":%s", dq_ge_config(r->e));
		if (dq_class(r->e->kind) == DQ_CLASS_ROW || r->e->kind == DQ_UNIQUE)
			appendStringInfo(&buf, ",\"mostly\":%s", r->e->mostly_text);
		if (r->observed)
			appendStringInfo(&buf, ",\"observed_value\":%s", r->observed);
		if (r->samples)
			appendStringInfo(&buf, ",\"partial_unexpected_list\":%s", r->samples);
		/* rows a drop expectation sent to quarantine (none: not applied) */
		if (r->dropped)
			appendStringInfo(&buf, ",\"rows_dropped\":" INT64_FORMAT,
							 r->unexpected_count);
		appendStringInfo(&buf, ",\"duration_ms\":%.3f}", r->duration_ms);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/* Write results given as dq_results_json; returns the check id. */
int64
dq_record_json(int32 table_id, const char *table_name, int64 run_id,
			   bool incremental, const char *json)
{
	Oid			types[5] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = "     ";
	int64		check_id;

	catalog_exec("SELECT nextval('lakehouse.dq_check_id_seq')", 0, NULL, NULL, NULL,
				 SPI_OK_SELECT);
	check_id = catalog_int64(0, 1, 0);
	values[0] = Int64GetDatum(run_id);
	nulls[0] = run_id ? ' ' : 'n';
	values[1] = Int32GetDatum(table_id);
	values[2] = CStringGetTextDatum(table_name);
	values[3] = CStringGetTextDatum(incremental ? "incremental" : "full");
	values[4] = CStringGetTextDatum(json);
	catalog_exec(psprintf("INSERT INTO lakehouse.dq_results"
						  " (check_id, run_id, table_id, table_name, mode, expectation, kind,"
						  " severity, success, element_count, unexpected_count,"
						  " unexpected_percent, missing_count, mostly, observed_value,"
						  " partial_unexpected_list, duration, rows_dropped, missing_percent,"
						  " unexpected_percent_total, unexpected_percent_nonmissing,"
						  " expectation_config)"
						  " SELECT " INT64_FORMAT ", $1, $2, $3, $4, x.expectation, x.kind,"
						  " x.severity, x.success, x.element_count, x.unexpected_count,"
						  " x.unexpected_percent, x.missing_count, x.mostly, x.observed_value,"
						  " x.partial_unexpected_list, x.duration_ms * interval '1 millisecond',"
						  " x.rows_dropped, x.missing_percent, x.unexpected_percent_total,"
						  " x.unexpected_percent_nonmissing, x.expectation_config"
						  " FROM jsonb_to_recordset($5::jsonb) AS x(expectation text, kind text,"
						  " severity text, success boolean, element_count bigint,"
						  " unexpected_count bigint, unexpected_percent double precision,"
						  " missing_count bigint, mostly numeric, observed_value jsonb,"
						  " partial_unexpected_list jsonb, duration_ms double precision,"
						  " rows_dropped bigint, missing_percent double precision,"
						  " unexpected_percent_total double precision,"
						  " unexpected_percent_nonmissing double precision,"
						  " expectation_config jsonb)",
						  check_id),
				 5, types, values, nulls, SPI_OK_INSERT);
	return check_id;
}

int64
dq_record(DqTable *t, List *results, int64 run_id, bool incremental)
{
	return dq_record_json(t->table_id, t->display, run_id, incremental,
						  dq_results_json(t, results));
}

/* "3 of 10 rows unexpected (30.00%)" and the like, for messages. */
char *
dq_result_summary(DqResult *r)
{
	double		pct;

	switch (dq_class(r->e->kind))
	{
		case DQ_CLASS_ROW:
			if (percent(r, &pct))
				return psprintf(INT64_FORMAT " of " INT64_FORMAT " rows unexpected (%.2f%%)",
								r->unexpected_count, denominator(r), pct);
			break;
		case DQ_CLASS_AGGREGATE:
			return psprintf("observed value %s", r->observed ? r->observed : "null");
		case DQ_CLASS_QUERY:
			if (r->e->kind == DQ_UNIQUE)
				return psprintf(INT64_FORMAT " rows with duplicate values", r->unexpected_count);
			if (r->e->kind == DQ_CUSTOM_QUERY)
				return psprintf(INT64_FORMAT " failing rows", r->unexpected_count);
			if (r->e->kind == DQ_DBT_TEST)
				return dbt_result_summary(r);
			return psprintf("observed value %s", r->observed ? r->observed : "null");
	}
	return pstrdup("failed");
}

/* ----------------------------------------------------------------
 * lh_check
 * ----------------------------------------------------------------
 */

/*
 * lh_check(table_name, mode, run_id) returns setof record
 *
 * Evaluate a table's suite now, record the results (run_id: the given run,
 * else the running one, else NULL) and return them.  Incremental mode
 * checks the rows of run_id, by default the last run that wrote to the
 * table.
 */
Datum
lh_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tname;
	char	   *mode = PG_ARGISNULL(1) ? "full" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		run_id = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	bool		incremental;
	DqTable    *t;
	LhIdentity	id;
	List	   *results;
	ListCell   *lc;
	MemoryContext callcxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name must not be null")));
	tname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(mode, "full") == 0)
		incremental = false;
	else if (strcmp(mode, "incremental") == 0)
		incremental = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized check mode: \"%s\"", mode),
				 errhint("Valid modes are \"full\" and \"incremental\".")));
	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	t = dq_lookup_table(tname, true);
	security_table_begin(t->schema_name, t->table_name, LH_RIGHT_OPERATE,
						 "check table %s", &id);
	if (incremental && !t->has_run_id)
	{
		ereport(NOTICE,
				(errmsg("table %s has no _lh_run_id column, checking it in full", t->display)));
		incremental = false;
	}
	if (incremental && run_id == 0)
	{
		char	   *mark = catalog_get_stage_mark(t->table_id, "changed_run");

		if (mark == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no run has written to table %s yet", t->display),
					 errhint("Check it with mode => 'full', or pass run_id.")));
		run_id = pg_strtoint64(mark);
	}
	results = dqconfig_evaluate(t, incremental, run_id, false, NULL);
	(void) dq_record(t, results, incremental ? run_id :
					 (lh_current_run ? lh_current_run->run_id : 0), incremental);
	security_table_end(&id);

	foreach(lc, results)
	{
		DqResult   *r = lfirst(lc);
		Datum		values[14];
		bool		nulls[14];
		double		pct;
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		memset(nulls, false, sizeof(nulls));
		values[0] = CStringGetTextDatum(r->e->name);
		values[1] = CStringGetTextDatum(r->e->kind_name);
		values[2] = CStringGetTextDatum(r->e->severity);
		values[3] = BoolGetDatum(r->success);
		values[4] = Int64GetDatum(r->element_count);
		nulls[4] = !r->has_element;
		values[5] = Int64GetDatum(r->unexpected_count);
		nulls[5] = !r->has_unexpected;
		nulls[6] = !percent(r, &pct);
		values[6] = Float8GetDatum(nulls[6] ? 0 : pct);
		values[7] = Int64GetDatum(r->missing_count);
		nulls[7] = !r->has_missing;
		nulls[8] = r->observed == NULL;
		if (r->observed)
			values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(r->observed));
		nulls[9] = r->samples == NULL;
		if (r->samples)
			values[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(r->samples));
		values[10] = DirectFunctionCall7(make_interval, Int32GetDatum(0), Int32GetDatum(0),
										 Int32GetDatum(0), Int32GetDatum(0), Int32GetDatum(0),
										 Int32GetDatum(0),
										 Float8GetDatum(r->duration_ms / 1000.0));
		/* appended: GE's missing_percent, unexpected_percent_total/_nonmissing */
		nulls[11] = !missing_percent(r, &pct);
		values[11] = Float8GetDatum(nulls[11] ? 0 : pct);
		nulls[12] = !unexpected_percent_total(r, &pct);
		values[12] = Float8GetDatum(nulls[12] ? 0 : pct);
		nulls[13] = !(r->has_missing && percent(r, &pct));
		values[13] = Float8GetDatum(nulls[13] ? 0 : pct);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return (Datum) 0;
}

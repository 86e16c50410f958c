/*-------------------------------------------------------------------------
 *
 * incremental_apply.c
 *	  Writing a change into a gold table, and the hidden per-group state
 *	  of incremental aggregates.
 *
 * A change is written as the difference between what the target holds and
 * what it must hold, as bags: rows are compared whole (NULLs equal, as
 * EXCEPT ALL compares them), a row the target holds twice is two rows, and
 * a target row is deleted by its ctid.  So an unchanged row is never
 * rewritten, and a result without keys (a rebuild) stays exactly the
 * query's bag of rows.  rows_written counts deletes and inserts, a key both
 * deleted and inserted (an update) once.
 *
 * The state of an aggregate gold table is the table lakehouse_ivm.t<id>
 * (table id): per group, the group key, count(*) and what each aggregate
 * needs (count and numeric sum of its argument, its extreme, its bool),
 * plus two flags of the run in progress (touched, dirty); for each
 * count(DISTINCT) a table t<id>_d<n> of (group, value, multiplicity); and
 * on the staged path, m<id>, the maintained result of the inner query.  It is created by
 * the catalog owner in the lakehouse-owned schema, handed to the gold
 * table's owner (who alone reads and writes it, through the stage), and
 * depends on the gold table (pg_depend, auto): dropping the gold table
 * drops it.  The stage mark "ivm_state" remembers up to which change of
 * each input it is exact; after anything else moved the marks (a full
 * refresh) it is built again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"

#include "lakehouse.h"
#include "transform/incremental.h"

static char *
column_list(List *names, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s%s", foreach_current_index(lc) ? ", " : "",
						 prefix, quote_identifier(lfirst(lc)));
	return buf.data;
}

/*
 * The statement tail shared by both ways of applying: given CTEs _lh_o
 * (target rows that may go: _lh_id ctid, _lh_r the row), _lh_del (rows to
 * delete: _lh_r, _lh_m how many) and _lh_ins (the rows to insert), delete
 * and insert, and count.
 */
static void
apply_tail(StringInfo sql, IvmQuery *iq, const char *offered)
{
	char	   *cols = column_list(iq->out_names, "");
	char	   *keys = iq->key_cols ? column_list(iq->key_cols, "") : NULL;

	appendStringInfo(sql,
					 ", _lh_d AS (DELETE FROM %s AS t WHERE t.ctid = ANY (ARRAY("
					 "SELECT o._lh_id FROM (SELECT _lh_id, _lh_r, row_number() OVER (PARTITION BY _lh_r) AS _lh_n FROM _lh_o) AS o"
					 " JOIN _lh_del AS x ON o._lh_r = x._lh_r AND o._lh_n <= x._lh_m))"
					 " RETURNING %s)"
					 ", _lh_i AS (INSERT INTO %s (%s) SELECT %s FROM _lh_ins RETURNING %s)"
					 " SELECT (SELECT count(*) FROM _lh_d), (SELECT count(*) FROM _lh_i), %s, ",
					 iq->target, keys ? column_list(iq->key_cols, "t.") : "1",
					 iq->target, cols, cols, keys ? keys : "1", offered);
	if (keys)
		appendStringInfo(sql, "(SELECT count(*) FROM (SELECT %s FROM _lh_d INTERSECT ALL SELECT %s FROM _lh_i) AS u)",
						 keys, keys);
	else
		appendStringInfoString(sql, "0");
}

static void
apply_run(const char *sql, int nparams, Oid *types, Datum *values,
		  IvmApply *out)
{
	char	   *nulls = NULL;

	if (nparams > 0)
	{
		nulls = palloc(nparams);
		for (int i = 0; i < nparams; i++)
			nulls[i] = values[i] ? ' ' : 'n';
	}
	(void) lh_spi_exec(sql, nparams, types, values, nulls, SPI_OK_SELECT,
					   "write the change of a gold table");
	out->deleted += catalog_int64(0, 1, 0);
	out->inserted += catalog_int64(0, 2, 0);
	out->offered += catalog_int64(0, 3, 0);
	out->updated += catalog_int64(0, 4, 0);
}

/*
 * ivm_apply_replace
 *		Make the target's rows of the partitions in the arrays (one per
 *		partition column, $1..$k) equal to the rows of fsql.
 */
void
ivm_apply_replace(IvmQuery *iq, const char *fsql, int nparams, Oid *types,
				  Datum *values, bool *has_null, IvmApply *out)
{
	char	   *cols = column_list(iq->out_names, "");
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH _lh_f AS MATERIALIZED (SELECT %s FROM (%s) AS _lh_f0)"
					 ", _lh_o AS MATERIALIZED (SELECT t.ctid AS _lh_id, ROW(%s) AS _lh_r, %s FROM %s AS t WHERE %s)"
					 ", _lh_del AS (SELECT ROW(%s) AS _lh_r, count(*) AS _lh_m FROM"
					 " (SELECT %s FROM _lh_o EXCEPT ALL SELECT %s FROM _lh_f) AS x GROUP BY 1)"
					 ", _lh_ins AS (SELECT %s FROM _lh_f EXCEPT ALL SELECT %s FROM _lh_o)",
					 cols, fsql,
					 column_list(iq->out_names, "t."), column_list(iq->out_names, "t."),
					 iq->target, ivm_param_filter(iq, "t", has_null, 1),
					 cols, cols, cols, cols, cols);
	apply_tail(&sql, iq, "(SELECT count(*) FROM _lh_f)");
	apply_run(sql.data, nparams, types, values, out);
}

/*
 * ivm_apply_all
 *		Make the target's rows equal to the rows of fsql, writing only the
 *		rows that differ (the staged path's outer query).
 */
void
ivm_apply_all(IvmQuery *iq, const char *fsql, IvmApply *out)
{
	char	   *cols = column_list(iq->out_names, "");
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH _lh_f AS MATERIALIZED (SELECT %s FROM (%s) AS _lh_f0)"
					 ", _lh_o AS MATERIALIZED (SELECT t.ctid AS _lh_id, ROW(%s) AS _lh_r, %s FROM %s AS t)"
					 ", _lh_del AS (SELECT ROW(%s) AS _lh_r, count(*) AS _lh_m FROM"
					 " (SELECT %s FROM _lh_o EXCEPT ALL SELECT %s FROM _lh_f) AS x GROUP BY 1)"
					 ", _lh_ins AS (SELECT %s FROM _lh_f EXCEPT ALL SELECT %s FROM _lh_o)",
					 cols, fsql,
					 column_list(iq->out_names, "t."), column_list(iq->out_names, "t."),
					 iq->target, cols, cols, cols, cols, cols);
	apply_tail(&sql, iq, "(SELECT count(*) FROM _lh_f)");
	apply_run(sql.data, 0, NULL, NULL, out);
}

/*
 * ivm_apply_delta
 *		Apply a signed delta of result rows (dsql: the result columns and
 *		_lh_sign): per distinct row, delete as many copies as it lost,
 *		insert as many as it gained.  Target rows are looked up by the
 *		first partition column when there is one (by an index, if the
 *		table has one), else among all rows.
 */
void
ivm_apply_delta(IvmQuery *iq, const char *dsql, IvmApply *out)
{
	char	   *cols = column_list(iq->out_names, "");
	StringInfoData sql;
	StringInfoData where;

	initStringInfo(&where);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH _lh_x AS MATERIALIZED (SELECT %s, sum(_lh_sign) AS _lh_n FROM (%s) AS _lh_x0"
					 " GROUP BY %s HAVING sum(_lh_sign) <> 0)",
					 cols, dsql, cols);
	if (iq->part_cols)
	{
		const char *p = quote_identifier(linitial(iq->part_cols));

		appendStringInfo(&sql,
						 ", _lh_o AS MATERIALIZED (SELECT t.ctid AS _lh_id, ROW(%s) AS _lh_r FROM %s AS t"
						 " WHERE t.%s IN (SELECT %s FROM _lh_x WHERE _lh_n < 0)"
						 " UNION ALL SELECT t.ctid, ROW(%s) FROM %s AS t"
						 " WHERE t.%s IS NULL AND EXISTS (SELECT 1 FROM _lh_x WHERE _lh_n < 0 AND %s IS NULL))",
						 column_list(iq->out_names, "t."), iq->target, p, p,
						 column_list(iq->out_names, "t."), iq->target, p, p);
	}
	else
		appendStringInfo(&sql,
						 ", _lh_o AS MATERIALIZED (SELECT t.ctid AS _lh_id, ROW(%s) AS _lh_r FROM %s AS t"
						 " WHERE EXISTS (SELECT 1 FROM _lh_x WHERE _lh_n < 0))",
						 column_list(iq->out_names, "t."), iq->target);
	appendStringInfo(&sql,
					 ", _lh_del AS (SELECT ROW(%s) AS _lh_r, - _lh_n AS _lh_m FROM _lh_x WHERE _lh_n < 0)"
					 ", _lh_ins AS (SELECT %s FROM _lh_x, generate_series(1, _lh_n) WHERE _lh_n > 0)",
					 cols, cols);
	apply_tail(&sql, iq, "(SELECT coalesce(sum(_lh_n), 0) FROM _lh_x WHERE _lh_n > 0)");
	apply_run(sql.data, 0, NULL, NULL, out);
}

/*
 * ivm_ensure_index
 *		Target rows are looked up by the first partition column: give the
 *		target an index on it unless one starts with it.  Created once, as
 *		the owner (who owns the target); the one lasting change the engine
 *		makes to a gold table's definition (contrib-docs/incremental.md).
 */
void
ivm_ensure_index(IvmQuery *iq)
{
	Oid			relid = lh_stage_table_oid(iq->table);
	const char *col;
	AttrNumber	att;
	Oid			types[2] = {OIDOID, INT2OID};
	Datum		values[2];

	if (iq->part_cols == NIL)
		return;
	col = linitial(iq->part_cols);
	att = get_attnum(relid, col);
	if (att == InvalidAttrNumber)
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum(att);
	(void) lh_spi_exec("SELECT 1 FROM pg_catalog.pg_index WHERE indrelid = $1 AND indkey[0] = $2",
					   2, types, values, NULL, SPI_OK_SELECT,
					   "look for an index of a gold table");
	if (SPI_processed > 0)
		return;
	(void) lh_spi_exec(psprintf("CREATE INDEX ON %s (%s)",
								iq->target, quote_identifier(col)),
					   0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "index a gold table for incremental refreshes");
}

/* ---- the state of aggregates ---- */

char *
ivm_state_name(IvmQuery *iq)
{
	return psprintf("%s.t%d", IVM_SCHEMA, iq->table->table_id);
}

/* The state columns after the group keys and _lh_count, with their types. */
static void
state_columns(IvmQuery *iq, StringInfo names, StringInfo defs)
{
	ListCell   *lc;

	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);
		int			n = a->no;
		char	   *argt = a->arg ? format_type_with_typemod(exprType(a->arg), exprTypmod(a->arg)) : NULL;

		switch (a->kind)
		{
			case IVM_AGG_COUNT_STAR:
			case IVM_AGG_COUNT:
			case IVM_AGG_COUNT_DISTINCT:
				appendStringInfo(names, ", c%d", n);
				appendStringInfo(defs, ", c%d bigint", n);
				break;
			case IVM_AGG_SUM:
			case IVM_AGG_AVG:
				appendStringInfo(names, ", c%d, s%d", n, n);
				appendStringInfo(defs, ", c%d bigint, s%d numeric", n, n);
				break;
			case IVM_AGG_MIN:
			case IVM_AGG_MAX:
				appendStringInfo(names, ", v%d, x%d", n, n);
				appendStringInfo(defs, ", v%d %s, x%d %s", n, argt, n, argt);
				break;
			case IVM_AGG_BOOL_AND:
			case IVM_AGG_BOOL_OR:
				appendStringInfo(names, ", v%d, x%d", n, n);
				appendStringInfo(defs, ", v%d boolean, x%d boolean", n, n);
				break;
		}
	}
}

static char *
group_cols(IvmQuery *iq, const char *prefix)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 1; k <= list_length(iq->part_exprs); k++)
		appendStringInfo(&buf, "%s%s_lh_g%d", k > 1 ? ", " : "", prefix, k);
	return buf.data;
}

static Oid
ivm_relid(const char *relname)
{
	return get_relname_relid(relname, get_namespace_oid(IVM_SCHEMA, false));
}

/*
 * The mark: the state's relation (and the inner result's, on the staged
 * path) and, per input, the change it is exact at.
 */
static char *
state_signature(IvmQuery *iq, bool at_hi)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%u", ivm_relid(psprintf("t%d", iq->table->table_id)));
	if (iq->inner_rel)
		appendStringInfo(&buf, " m%u", ivm_relid(psprintf("m%d", iq->table->table_id)));
	foreach(lc, iq->inputs)
	{
		IvmInput   *in = lfirst(lc);

		appendStringInfo(&buf, " %d:" INT64_FORMAT, in->range->input_table_id,
						 at_hi ? in->range->hi : in->range->lo);
	}
	return buf.data;
}

bool
ivm_state_current(IvmQuery *iq)
{
	char	   *mark = catalog_get_stage_mark(iq->table->table_id, "ivm_state");

	return mark != NULL && strcmp(mark, state_signature(iq, false)) == 0;
}

void
ivm_state_remember(IvmQuery *iq)
{
	catalog_set_stage_mark(iq->table->table_id, "ivm_state",
						   state_signature(iq, true));
}

/* Drop the hidden tables of this gold table whose names match pattern. */
static void
drop_hidden(IvmQuery *iq, const char *pattern)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	List	   *names = NIL;
	ListCell   *lc;

	values[0] = CStringGetTextDatum(psprintf(pattern, iq->table->table_id));
	catalog_exec("SELECT format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_tables"
				 " WHERE schemaname = '" IVM_SCHEMA "' AND tablename ~ $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1));
	foreach(lc, names)
		catalog_exec(psprintf("DROP TABLE %s", (char *) lfirst(lc)), 0, NULL, NULL,
					 NULL, SPI_OK_UTILITY);
}

/*
 * Create a hidden table (the catalog owner's DDL in our schema), hand it to
 * the gold table's owner, and make it go with the gold table.
 */
static void
create_hidden(IvmQuery *iq, const char *relname, const char *defs)
{
	char	   *name = psprintf("%s.%s", IVM_SCHEMA, relname);
	ObjectAddress hidden;
	ObjectAddress gold;

	catalog_exec(psprintf("CREATE TABLE %s (%s)", name, defs), 0, NULL, NULL,
				 NULL, SPI_OK_UTILITY);
	catalog_exec(psprintf("ALTER TABLE %s OWNER TO %s", name,
						  quote_identifier(GetUserNameFromId(iq->table->owner, false))),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	ObjectAddressSet(hidden, RelationRelationId, ivm_relid(relname));
	ObjectAddressSet(gold, RelationRelationId, lh_stage_table_oid(iq->table));
	recordDependencyOn(&hidden, &gold, DEPENDENCY_AUTO);
	CommandCounterIncrement();
}

/* A column definition for expression e: type, typmod, collation. */
static char *
column_def(const char *name, Node *e)
{
	Oid			coll = exprCollation(e);
	char	   *def = psprintf("%s %s", name,
							   format_type_with_typemod(exprType(e), exprTypmod(e)));

	if (OidIsValid(coll) && coll != DEFAULT_COLLATION_OID)
		def = psprintf("%s COLLATE %s", def, generate_collation_name(coll));
	return def;
}

/*
 * ivm_state_build
 *		(Re)create the state table from the inputs as they are now, and for
 *		each count(DISTINCT x) the table t<id>_d<n> of the multiplicity of
 *		each value per group (the count of a group is the number of its
 *		values with a multiplicity above zero: a change adds to the
 *		multiplicities and moves the count only when one crosses zero).
 *		The DDL is the catalog owner's (our fixed SQL, in our schema);
 *		filling it runs the user's query, as the owner.
 */
void
ivm_state_build(IvmQuery *iq)
{
	char	   *name = ivm_state_name(iq);
	StringInfoData defs;
	StringInfoData gdefs;
	StringInfoData names;
	ListCell   *lc;
	char	   *rows = NULL;

	initStringInfo(&gdefs);
	initStringInfo(&names);
	foreach(lc, iq->part_exprs)
		appendStringInfo(&gdefs, "%s%s", foreach_current_index(lc) ? ", " : "",
						 column_def(psprintf("_lh_g%d", foreach_current_index(lc) + 1),
									lfirst(lc)));
	initStringInfo(&defs);
	appendStringInfo(&defs, "%s, _lh_count bigint NOT NULL", gdefs.data);
	state_columns(iq, &names, &defs);
	appendStringInfoString(&defs, ", _lh_touched boolean NOT NULL DEFAULT false"
						   ", _lh_dirty boolean NOT NULL DEFAULT false");

	drop_hidden(iq, "^t%d(_d[0-9]+)?$");
	create_hidden(iq, psprintf("t%d", iq->table->table_id), defs.data);
	catalog_exec(psprintf("CREATE UNIQUE INDEX ON %s (%s) NULLS NOT DISTINCT", name,
						  group_cols(iq, "")), 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	catalog_exec(psprintf("CREATE INDEX ON %s (_lh_touched) WHERE _lh_touched", name),
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);

	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);
		char	   *d = psprintf("%s_d%d", name, a->no);

		if (a->kind != IVM_AGG_COUNT_DISTINCT)
			continue;
		create_hidden(iq, psprintf("t%d_d%d", iq->table->table_id, a->no),
					  psprintf("%s, %s, _lh_m bigint NOT NULL, _lh_was bigint NOT NULL DEFAULT 0",
							   gdefs.data, column_def("_lh_v", a->arg)));
		catalog_exec(psprintf("CREATE UNIQUE INDEX ON %s (%s, _lh_v) NULLS NOT DISTINCT",
							  d, group_cols(iq, "")), 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		catalog_exec(psprintf("CREATE INDEX ON %s (_lh_m) WHERE _lh_m = 0", d),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		if (rows == NULL)
			rows = ivm_rows_sql(iq);
		(void) lh_spi_exec(psprintf("INSERT INTO %s (%s, _lh_v, _lh_m) SELECT %s, _lh_a%d, count(*)"
									" FROM (%s) AS _lh_r WHERE _lh_a%d IS NOT NULL GROUP BY %s, _lh_a%d",
									d, group_cols(iq, ""), group_cols(iq, ""), a->no,
									rows, a->no, group_cols(iq, ""), a->no),
						   0, NULL, NULL, NULL, SPI_OK_INSERT,
						   "build the state of an incremental gold table");
	}

	(void) lh_spi_exec(psprintf("INSERT INTO %s (%s, _lh_count%s) %s", name,
								group_cols(iq, ""), names.data,
								ivm_state_query_sql(iq, NULL)),
					   0, NULL, NULL, NULL, SPI_OK_INSERT,
					   "build the state of an incremental gold table");
}

/* The relation the change is written into: the gold table, or inner_rel. */
Oid
ivm_target_oid(IvmQuery *iq)
{
	if (iq->inner_rel)
		return ivm_relid(psprintf("m%d", iq->table->table_id));
	return lh_stage_table_oid(iq->table);
}

bool
ivm_inner_exists(IvmQuery *iq)
{
	return OidIsValid(ivm_relid(psprintf("m%d", iq->table->table_id)));
}

/*
 * ivm_inner_build
 *		(Re)create the staged path's inner result m<id> (the inner query's
 *		columns, types and collations) from the inputs as they are now.
 */
void
ivm_inner_build(IvmQuery *iq)
{
	StringInfoData defs;
	ListCell   *ln;
	ListCell   *le;

	initStringInfo(&defs);
	forboth(ln, iq->out_names, le, iq->out_exprs)
		appendStringInfo(&defs, "%s%s", defs.len ? ", " : "",
						 column_def(quote_identifier(lfirst(ln)), lfirst(le)));
	drop_hidden(iq, "^m%d$");
	create_hidden(iq, psprintf("m%d", iq->table->table_id), defs.data);
	if (iq->part_cols)
		catalog_exec(psprintf("CREATE INDEX ON %s (%s)", iq->inner_rel,
							  quote_identifier(linitial(iq->part_cols))),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	(void) lh_spi_exec(psprintf("INSERT INTO %s SELECT * FROM (%s) AS _lh_q", iq->inner_rel,
								pg_get_querydef(iq->query, false)),
					   0, NULL, NULL, NULL, SPI_OK_INSERT,
					   "build the inner result of an incremental gold table");
}

/*
 * The groups flagged (touched or dirty) in the state, as arrays for the
 * partition filter; returns how many.
 */
static int64
flagged_groups(IvmQuery *iq, const char *flag, Datum *arrays, bool *has_null)
{
	StringInfoData sql;
	int			k = list_length(iq->part_exprs);
	int64		n;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT count(*)");
	for (int i = 1; i <= k; i++)
		appendStringInfo(&sql, ", array_agg(_lh_g%d), coalesce(bool_or(_lh_g%d IS NULL), false)",
						 i, i);
	appendStringInfo(&sql, " FROM %s WHERE %s", ivm_state_name(iq), flag);
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					   "read the state of an incremental gold table");
	n = catalog_int64(0, 1, 0);
	for (int i = 0; i < k; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  2 + 2 * i, &isnull);

		arrays[i] = isnull ? (Datum) 0 : datumCopy(d, false, -1);
		has_null[i] = catalog_bool(0, 3 + 2 * i, false);
	}
	return n;
}

static Oid *
partition_types(IvmQuery *iq)
{
	Oid		   *types = palloc(sizeof(Oid) * Max(1, list_length(iq->part_exprs)));
	ListCell   *lc;

	foreach(lc, iq->part_exprs)
		types[foreach_current_index(lc)] = get_array_type(exprType(lfirst(lc)));
	return types;
}

/*
 * ivm_state_update
 *		Add the signed change to the state of each group it touches, flag
 *		them touched, and recompute from the inputs the groups whose
 *		extreme (or bool) value may have left.  *groups: how many groups
 *		the change touches.
 */
void
ivm_state_update(IvmQuery *iq, int64 *groups)
{
	char	   *name = ivm_state_name(iq);
	StringInfoData names;
	StringInfoData defs;
	StringInfoData set;
	StringInfoData dirty_old;
	ListCell   *lc;
	int			k = list_length(iq->part_exprs);
	Datum	   *arrays = palloc0(sizeof(Datum) * k);
	bool	   *has_null = palloc0(sizeof(bool) * k);

	initStringInfo(&names);
	initStringInfo(&defs);
	initStringInfo(&set);
	initStringInfo(&dirty_old);
	state_columns(iq, &names, &defs);
	appendStringInfoString(&dirty_old, "s._lh_dirty");
	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);
		int			n = a->no;

		switch (a->kind)
		{
			case IVM_AGG_COUNT_STAR:
				break;
			case IVM_AGG_COUNT:
			case IVM_AGG_COUNT_DISTINCT:
				appendStringInfo(&set, ", c%d = s.c%d + excluded.c%d", n, n, n);
				break;
			case IVM_AGG_SUM:
			case IVM_AGG_AVG:
				appendStringInfo(&set, ", c%d = s.c%d + excluded.c%d, s%d = s.s%d + excluded.s%d",
								 n, n, n, n, n, n);
				break;
			case IVM_AGG_MIN:
			case IVM_AGG_MAX:
				appendStringInfo(&set, ", v%d = %s(s.v%d, excluded.v%d)",
								 n, a->kind == IVM_AGG_MIN ? "least" : "greatest", n, n);
				appendStringInfo(&dirty_old, " OR (excluded.x%d IS NOT NULL AND (s.v%d IS NULL OR excluded.x%d %s s.v%d))",
								 n, n, n, a->kind == IVM_AGG_MIN ? "<=" : ">=", n);
				break;
			case IVM_AGG_BOOL_AND:
			case IVM_AGG_BOOL_OR:
				appendStringInfo(&set, ", v%d = CASE WHEN s.v%d IS NULL THEN excluded.v%d"
								 " WHEN excluded.v%d IS NULL THEN s.v%d ELSE s.v%d %s excluded.v%d END",
								 n, n, n, n, n, n, a->kind == IVM_AGG_BOOL_AND ? "AND" : "OR", n);
				appendStringInfo(&dirty_old, " OR coalesce(excluded.x%d, false)", n);
				break;
		}
	}

	/*
	 * A group new to the state is inserted with _lh_dirty false: a value
	 * cannot leave a group that did not exist.
	 */
	(void) lh_spi_exec(psprintf("WITH %s"
								", _lh_up AS (INSERT INTO %s AS s (%s, _lh_count%s, _lh_touched)"
								" SELECT %s, _lh_count%s, true FROM _lh_dd"
								" ON CONFLICT (%s) DO UPDATE SET _lh_count = s._lh_count + excluded._lh_count%s,"
								" _lh_touched = true, _lh_dirty = %s RETURNING 1)"
								" SELECT count(*) FROM _lh_up",
								ivm_state_delta_sql(iq), name, group_cols(iq, ""), names.data,
								group_cols(iq, ""), names.data, group_cols(iq, ""),
								set.data, dirty_old.data),
					   0, NULL, NULL, NULL, SPI_OK_SELECT,
					   "update the state of an incremental gold table");
	*groups = catalog_int64(0, 1, 0);
	foreach(lc, iq->aggs)
		if (((IvmAgg *) lfirst(lc))->kind == IVM_AGG_COUNT_DISTINCT)
			(void) lh_spi_exec(psprintf("DELETE FROM %s_d%d WHERE _lh_m = 0", name,
										((IvmAgg *) lfirst(lc))->no),
							   0, NULL, NULL, NULL, SPI_OK_DELETE,
							   "drop the values that left their groups");
	iq->touched = palloc0(sizeof(Datum) * k);
	iq->touched_null = palloc0(sizeof(bool) * k);
	(void) flagged_groups(iq, "_lh_touched", iq->touched, iq->touched_null);

	if (flagged_groups(iq, "_lh_dirty", arrays, has_null) > 0)
	{
		(void) lh_spi_exec(psprintf("DELETE FROM %s WHERE _lh_dirty", name),
						   0, NULL, NULL, NULL, SPI_OK_DELETE,
						   "recompute groups of an incremental gold table");
		{
			char	   *nulls = palloc(k);

			for (int i = 0; i < k; i++)
				nulls[i] = arrays[i] ? ' ' : 'n';
			(void) lh_spi_exec(psprintf("INSERT INTO %s (%s, _lh_count%s, _lh_touched) SELECT *, true FROM (%s) AS _lh_r",
										name, group_cols(iq, ""), names.data,
										ivm_state_query_sql(iq, has_null)),
							   k, partition_types(iq), arrays, nulls, SPI_OK_INSERT,
							   "recompute groups of an incremental gold table");
		}
	}
}

/*
 * ivm_state_apply
 *		Write the touched groups into the target from their state, then
 *		clear the flags and drop the groups that became empty.
 */
void
ivm_state_apply(IvmQuery *iq, IvmApply *out)
{
	char	   *name = ivm_state_name(iq);

	/*
	 * the touched groups were read before the recompute, so they include
	 * groups recomputed away (their rows go)
	 */
	ivm_apply_replace(iq, ivm_final_sql(iq, name), list_length(iq->part_exprs),
					  partition_types(iq), iq->touched, iq->touched_null, out);
	(void) lh_spi_exec(psprintf("DELETE FROM %s WHERE _lh_touched AND _lh_count = 0", name),
					   0, NULL, NULL, NULL, SPI_OK_DELETE,
					   "drop the empty groups of an incremental gold table");
	(void) lh_spi_exec(psprintf("UPDATE %s SET _lh_touched = false, _lh_dirty = false WHERE _lh_touched", name),
					   0, NULL, NULL, NULL, SPI_OK_UPDATE,
					   "clear the flags of an incremental gold table");
}

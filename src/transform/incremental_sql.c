/*-------------------------------------------------------------------------
 *
 * incremental_sql.c
 *	  SQL of the incremental engine, made by rewriting the analysed gold
 *	  query and deparsing it (pg_get_querydef), the way pg_ivm rewrites a
 *	  view's query: a relation of the query is replaced by a subquery that
 *	  gives one version of it (its change, its state before the change, or
 *	  both), with the same columns plus "_lh_sign".  Everything else of
 *	  the user's query (joins, filters, expressions, collations) stays as
 *	  the parser resolved it, so the generated SQL means what the user's
 *	  query means.
 *
 * The queries made here:
 *	- the signed delta of the query's rows (before aggregation): for the
 *	  changed relations R1..Rn (in range table order), the sum over i of
 *	  the query with R1..R(i-1) new, Ri's signed images, R(i+1)..Rn old,
 *	  signs multiplied.  Exact for inner joins and for the preserved side
 *	  of left joins, which is where the analysis allows it.
 *	- the partitions (result keys or groups) a change touches: the
 *	  partition expressions over the query's rows that involve an image,
 *	  with the other changed tables in both versions (a superset is
 *	  harmless: a partition recomputed that did not change stays equal).
 *	- the query restricted to given partitions ($n array parameters),
 *	  the filter placed in its WHERE so the planner pushes it to the
 *	  scans.
 *
 * Everything is built in the caller's memory context; nothing is cached.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_oper.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/typcache.h"

#include "lakehouse.h"
#include "transform/incremental.h"

/* Parse and analyse one SELECT of ours. */
static Query *
parse_one(const char *sql)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);

	return parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql,
									 NULL, 0, NULL);
}

static bool
rel_changed(IvmRel *rel)
{
	return rel->input->nchanges > 0;
}

/*
 * The SQL of one version of a relation, with its columns in attribute
 * order (dropped ones as NULLs, so that the query's Vars still fit) named
 * as the range table entry names them, plus _lh_sign.
 */
static char *
version_sql(IvmRel *rel, RangeTblEntry *rte, IvmVersion v)
{
	Relation	r = table_open(rel->input->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(r);
	StringInfoData cols;
	StringInfoData sql;
	char	   *qname = lh_qualified_name(get_namespace_name(RelationGetNamespace(r)),
										  RelationGetRelationName(r));
	char	   *delta = changes_delta_sql(rel->input->range);

	initStringInfo(&cols);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (i > 0)
			appendStringInfoString(&cols, ", ");
		if (att->attisdropped)
			appendStringInfo(&cols, "NULL::pg_catalog.int4 AS _lh_dropped_%d", i + 1);
		else
			appendStringInfo(&cols, "%s AS %s", quote_identifier(NameStr(att->attname)),
							 quote_identifier(strVal(list_nth(rte->eref->colnames, i))));
	}
	table_close(r, AccessShareLock);

	initStringInfo(&sql);
	switch (v)
	{
		case IVM_DELTA:
			appendStringInfo(&sql, "SELECT %s, _lh_sign FROM (%s) AS _lh_d",
							 cols.data, delta);
			break;
		case IVM_OLD:
			appendStringInfo(&sql, "SELECT %s, 1 AS _lh_sign FROM %s%s"
							 " UNION ALL SELECT %s, - _lh_sign FROM (%s) AS _lh_d",
							 cols.data, rte->inh ? "" : "ONLY ", qname,
							 cols.data, delta);
			break;
		case IVM_ANY:
			appendStringInfo(&sql, "SELECT %s, 1 AS _lh_sign FROM %s%s"
							 " UNION ALL SELECT %s, _lh_sign FROM (%s) AS _lh_d",
							 cols.data, rte->inh ? "" : "ONLY ", qname,
							 cols.data, delta);
			break;
		case IVM_NEW:
			elog(ERROR, "no subquery for the current version of a relation");
	}
	return sql.data;
}

/*
 * Replace relation rel of q by the version v; returns the Var of its
 * _lh_sign column.
 */
static Var *
replace_rel(Query *q, IvmRel *rel, IvmVersion v)
{
	RangeTblEntry *rte = rt_fetch(rel->rti, q->rtable);
	int			natts = list_length(rte->eref->colnames);
	Query	   *sub = parse_one(version_sql(rel, rte, v));

	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = sub;
	rte->relid = InvalidOid;
	rte->relkind = 0;
	rte->rellockmode = 0;
	rte->tablesample = NULL;
	rte->inh = false;
	rte->requiredPerms = 0;
	rte->checkAsUser = InvalidOid;
	rte->selectedCols = NULL;
	rte->insertedCols = NULL;
	rte->updatedCols = NULL;
	if (rte->alias == NULL)
		rte->alias = makeAlias(rte->eref->aliasname, NIL);
	rte->eref->colnames = lappend(list_copy(rte->eref->colnames),
								  makeString("_lh_sign"));
	return makeVar(rel->rti, natts + 1, INT4OID, -1, InvalidOid, 0);
}

/* a * b for int4 */
static Expr *
int4_times(Expr *a, Expr *b)
{
	Oid			opno = LookupOperName(NULL, list_make1(makeString("*")),
									  INT4OID, INT4OID, false, -1);

	if (a == NULL)
		return b;
	return make_opclause(opno, INT4OID, false, a, b, InvalidOid, InvalidOid);
}

/* A copy of the query that returns exprs (named names), nothing else. */
static Query *
select_copy(IvmQuery *iq, List *exprs, List *names)
{
	Query	   *q = copyObject(iq->query);
	ListCell   *le;
	ListCell   *ln;

	q->targetList = NIL;
	forboth(le, exprs, ln, names)
		q->targetList = lappend(q->targetList,
								makeTargetEntry(copyObject(lfirst(le)),
												list_length(q->targetList) + 1,
												pstrdup(lfirst(ln)), false));
	q->groupClause = NIL;
	q->havingQual = NULL;
	q->hasAggs = false;
	q->sortClause = NIL;
	q->distinctClause = NIL;
	q->hasDistinctOn = false;
	return q;
}

static void
add_sign(Query *q, Expr *sign)
{
	q->targetList = lappend(q->targetList,
							makeTargetEntry(sign ? sign : (Expr *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(1), false, true),
											list_length(q->targetList) + 1,
											pstrdup("_lh_sign"), false));
}

/*
 * ivm_delta_sql
 *		The signed change of the query's rows, as exprs (named names) plus
 *		_lh_sign; the analysis made sure every changed relation is core.
 */
char *
ivm_delta_sql(IvmQuery *iq, List *exprs, List *names)
{
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	foreach(lc, iq->rels)
	{
		IvmRel	   *ri = lfirst(lc);
		Query	   *q;
		Expr	   *sign = NULL;
		ListCell   *lc2;

		if (!rel_changed(ri))
			continue;
		q = select_copy(iq, exprs, names);
		foreach(lc2, iq->rels)
		{
			IvmRel	   *rj = lfirst(lc2);
			int			i = foreach_current_index(lc);
			int			j = foreach_current_index(lc2);

			if (j == i)
				sign = int4_times(sign, (Expr *) replace_rel(q, rj, IVM_DELTA));
			else if (j > i && rel_changed(rj))
				sign = int4_times(sign, (Expr *) replace_rel(q, rj, IVM_OLD));
		}
		add_sign(q, sign);
		if (sql.len > 0)
			appendStringInfoString(&sql, "\nUNION ALL\n");
		appendStringInfoString(&sql, pg_get_querydef(q, false));
	}
	return sql.data;
}

/* ---- partitions touched by a change ---- */

static bool
rti_is_core(IvmQuery *iq, int rti)
{
	ListCell   *lc;

	foreach(lc, iq->rels)
		if (((IvmRel *) lfirst(lc))->rti == rti)
			return ((IvmRel *) lfirst(lc))->core;
	return false;
}

/* Does node reference only core relations? */
static bool
only_core(IvmQuery *iq, Node *node)
{
	Relids		r = pull_varnos(NULL, node);
	int			x = -1;

	while ((x = bms_next_member(r, x)) >= 0)
		if (!rti_is_core(iq, x))
			return false;
	return true;
}

/* The join tree without the nullable sides of left joins. */
static Node *
reduce_to_core(Node *jt)
{
	if (IsA(jt, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jt;

		if (j->jointype == JOIN_LEFT)
			return reduce_to_core(j->larg);
		j->larg = reduce_to_core(j->larg);
		j->rarg = reduce_to_core(j->rarg);
	}
	else if (IsA(jt, FromExpr))
	{
		FromExpr   *f = (FromExpr *) jt;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			lfirst(lc) = reduce_to_core(lfirst(lc));
	}
	return jt;
}

/* Collect the RT indexes of the joins left in a join tree. */
static void
joins_in_tree(Node *jt, Bitmapset **joins)
{
	if (IsA(jt, JoinExpr))
	{
		*joins = bms_add_member(*joins, ((JoinExpr *) jt)->rtindex);
		joins_in_tree(((JoinExpr *) jt)->larg, joins);
		joins_in_tree(((JoinExpr *) jt)->rarg, joins);
	}
	else if (IsA(jt, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) jt)->fromlist)
			joins_in_tree(lfirst(lc), joins);
	}
}

/*
 * Joins no longer in the tree become empty RTEs: the deparser names the
 * columns of every join RTE from its place in the tree.
 */
static void
forget_dropped_joins(Query *q)
{
	Bitmapset  *joins = NULL;
	ListCell   *lc;

	joins_in_tree((Node *) q->jointree, &joins);
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind != RTE_JOIN ||
			bms_is_member(foreach_current_index(lc) + 1, joins))
			continue;
		rte->rtekind = RTE_RESULT;
		rte->joinaliasvars = NIL;
		rte->joinleftcols = NIL;
		rte->joinrightcols = NIL;
		rte->join_using_alias = NULL;
		rte->alias = NULL;
		rte->eref = makeAlias(rte->eref->aliasname, NIL);
	}
}

/*
 * ivm_touched_sql
 *		The distinct partition tuples (_lh_p1 ..) of result rows that a
 *		change touches, in the old or the new contents.  Over the core of
 *		the query (the relations no outer join can null), filters kept only
 *		where they read the core alone; a changed relation on the nullable
 *		side of a left join adds the core rows its images join with.
 */
char *
ivm_touched_sql(IvmQuery *iq)
{
	StringInfoData sql;
	List	   *names = NIL;
	ListCell   *lc;

	for (int k = 0; k < list_length(iq->part_exprs); k++)
		names = lappend(names, psprintf("_lh_p%d", k + 1));

	initStringInfo(&sql);
	foreach(lc, iq->rels)
	{
		IvmRel	   *ri = lfirst(lc);
		Query	   *q;
		List	   *quals = NIL;
		ListCell   *lc2;

		if (!rel_changed(ri))
			continue;
		q = select_copy(iq, iq->part_exprs, names);
		q->jointree = (FromExpr *) reduce_to_core((Node *) q->jointree);
		forget_dropped_joins(q);
		foreach(lc2, make_ands_implicit((Expr *) q->jointree->quals))
			if (only_core(iq, lfirst(lc2)))
				quals = lappend(quals, lfirst(lc2));
		if (!ri->core)
		{
			RangeTblRef *ref = makeNode(RangeTblRef);

			ref->rtindex = ri->rti;
			q->jointree->fromlist = lappend(q->jointree->fromlist, ref);
			quals = lappend(quals, copyObject(ri->lj_quals));
		}
		q->jointree->quals = (Node *) make_ands_explicit(quals);
		if (quals == NIL)
			q->jointree->quals = NULL;
		foreach(lc2, iq->rels)
		{
			IvmRel	   *rj = lfirst(lc2);

			if (rj == ri)
				(void) replace_rel(q, rj, IVM_DELTA);
			else if (rj->core && rel_changed(rj))
				(void) replace_rel(q, rj, IVM_ANY);
		}
		if (sql.len > 0)
			appendStringInfoString(&sql, "\nUNION ALL\n");
		appendStringInfoString(&sql, pg_get_querydef(q, false));
	}
	return psprintf("SELECT DISTINCT * FROM (%s) AS _lh_t", sql.data);
}

/* ---- the query restricted to partitions ---- */

static Oid
eq_operator(Oid typid)
{
	TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_EQ_OPR);

	if (!OidIsValid(tc->eq_opr))
		elog(ERROR, "type %s has no equality operator", format_type_be(typid));
	return tc->eq_opr;
}

/* e = ANY($param) [OR e IS NULL] */
static Expr *
partition_qual(Expr *e, int paramid, bool with_null)
{
	Oid			typid = exprType((Node *) e);
	Param	   *p = makeNode(Param);
	ScalarArrayOpExpr *sa = makeNode(ScalarArrayOpExpr);

	p->paramkind = PARAM_EXTERN;
	p->paramid = paramid;
	p->paramtype = get_array_type(typid);
	p->paramtypmod = -1;
	p->paramcollid = exprCollation((Node *) e);
	p->location = -1;
	sa->opno = eq_operator(typid);
	sa->opfuncid = get_opcode(sa->opno);
	sa->useOr = true;
	sa->inputcollid = exprCollation((Node *) e);
	sa->args = list_make2(copyObject(e), p);
	sa->location = -1;
	if (with_null)
	{
		NullTest   *nt = makeNode(NullTest);

		nt->arg = copyObject(e);
		nt->nulltesttype = IS_NULL;
		nt->location = -1;
		return makeBoolExpr(OR_EXPR, list_make2(sa, nt), -1);
	}
	return (Expr *) sa;
}

/*
 * The exact partition filter over the result columns of alias: tuples of
 * the arrays $first..; needed with more than one partition column (the
 * per-column ANY filters give a superset).
 */
static void
append_exact_filter(StringInfo buf, IvmQuery *iq, const char *alias, int first)
{
	ListCell   *lc;
	int			k = list_length(iq->part_cols);

	if (k < 2)
		return;
	appendStringInfoString(buf, " AND EXISTS (SELECT 1 FROM unnest(");
	for (int i = 0; i < k; i++)
		appendStringInfo(buf, "%s$%d", i ? ", " : "", first + i);
	appendStringInfoString(buf, ") AS _lh_g(");
	for (int i = 0; i < k; i++)
		appendStringInfo(buf, "%sp%d", i ? ", " : "", i + 1);
	appendStringInfoString(buf, ") WHERE ");
	foreach(lc, iq->part_cols)
		appendStringInfo(buf, "%s_lh_g.p%d IS NOT DISTINCT FROM %s.%s",
						 foreach_current_index(lc) ? " AND " : "",
						 foreach_current_index(lc) + 1, alias,
						 quote_identifier(lfirst(lc)));
	appendStringInfoChar(buf, ')');
}

/*
 * ivm_param_filter
 *		The condition "the row of alias is in the partitions $first..",
 *		over result columns (of the target, or of a query's result).
 */
char *
ivm_param_filter(IvmQuery *iq, const char *alias, bool *has_null, int first)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, iq->part_cols)
	{
		int			i = foreach_current_index(lc);
		const char *c = quote_identifier(lfirst(lc));

		appendStringInfo(&buf, "%s(%s.%s = ANY($%d)%s%s%s%s)", i ? " AND " : "",
						 alias, c, first + i,
						 has_null[i] ? " OR " : "",
						 has_null[i] ? alias : "",
						 has_null[i] ? "." : "",
						 has_null[i] ? psprintf("%s IS NULL", c) : "");
	}
	append_exact_filter(&buf, iq, alias, first);
	return buf.data;
}

/*
 * ivm_filtered_sql
 *		Query q (a copy of the user's, or one made from it) with the rows of
 *		its FROM restricted to the partitions in the arrays $1..$k, and its
 *		result restricted exactly to them.
 */
char *
ivm_filtered_sql(IvmQuery *iq, Query *q, bool *has_null)
{
	List	   *quals = NIL;
	ListCell   *lc;
	StringInfoData buf;

	if (q->jointree->quals)
		quals = make_ands_implicit((Expr *) q->jointree->quals);
	foreach(lc, iq->part_exprs)
		quals = lappend(quals, partition_qual(lfirst(lc),
											  foreach_current_index(lc) + 1,
											  has_null[foreach_current_index(lc)]));
	q->jointree->quals = (Node *) make_ands_explicit(quals);

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT * FROM (%s) AS _lh_q", pg_get_querydef(q, false));
	if (list_length(iq->part_cols) > 1)
	{
		appendStringInfoString(&buf, " WHERE true");
		append_exact_filter(&buf, iq, "_lh_q", 1);
	}
	return buf.data;
}

/* ---- aggregates over the hidden state ---- */

/* The rows of the query before aggregation: group keys, then arguments. */
static Query *
agg_rows_query(IvmQuery *iq)
{
	List	   *exprs = list_copy(iq->part_exprs);
	List	   *names = NIL;
	ListCell   *lc;

	for (int k = 0; k < list_length(iq->part_exprs); k++)
		names = lappend(names, psprintf("_lh_g%d", k + 1));
	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);

		exprs = lappend(exprs, a->arg ? a->arg :
						(Node *) makeConst(INT4OID, -1, InvalidOid, 4, Int32GetDatum(1), false, true));
		names = lappend(names, psprintf("_lh_a%d", a->no));
	}
	return select_copy(iq, exprs, names);
}

/* The state columns' aggregates over rows of agg_rows_query (or a delta). */
static char *
state_aggs(IvmQuery *iq, bool signed_rows)
{
	StringInfoData buf;
	ListCell   *lc;
	const char *w = signed_rows ? "_lh_sign" : "1";

	initStringInfo(&buf);
	appendStringInfo(&buf, "sum(%s)::bigint AS _lh_count", w);
	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);
		int			n = a->no;

		switch (a->kind)
		{
			case IVM_AGG_COUNT_STAR:
				appendStringInfo(&buf, ", NULL::bigint AS c%d", n);
				break;
			case IVM_AGG_COUNT:
				appendStringInfo(&buf, ", coalesce(sum(%s) FILTER (WHERE _lh_a%d IS NOT NULL), 0)::bigint AS c%d",
								 w, n, n);
				break;
			case IVM_AGG_SUM:
			case IVM_AGG_AVG:
				appendStringInfo(&buf, ", coalesce(sum(%s) FILTER (WHERE _lh_a%d IS NOT NULL), 0)::bigint AS c%d"
								 ", coalesce(sum(%s * _lh_a%d::numeric), 0) AS s%d",
								 w, n, n, w, n, n);
				break;
			case IVM_AGG_MIN:
			case IVM_AGG_MAX:
				{
					const char *f = a->kind == IVM_AGG_MIN ? "min" : "max";

					if (signed_rows)
						appendStringInfo(&buf, ", %s(_lh_a%d) FILTER (WHERE _lh_sign > 0) AS v%d"
										 ", %s(_lh_a%d) FILTER (WHERE _lh_sign < 0) AS x%d",
										 f, n, n, f, n, n);
					else
						appendStringInfo(&buf, ", %s(_lh_a%d) AS v%d, %s(_lh_a%d) FILTER (WHERE false) AS x%d",
										 f, n, n, f, n, n);
					break;
				}
			case IVM_AGG_BOOL_AND:
			case IVM_AGG_BOOL_OR:
				{
					const char *f = a->kind == IVM_AGG_BOOL_AND ? "bool_and" : "bool_or";

					if (signed_rows)
						appendStringInfo(&buf, ", %s(_lh_a%d) FILTER (WHERE _lh_sign > 0) AS v%d"
										 ", bool_or(_lh_a%d IS NOT NULL) FILTER (WHERE _lh_sign < 0) AS x%d",
										 f, n, n, n, n);
					else
						appendStringInfo(&buf, ", %s(_lh_a%d) AS v%d, NULL::boolean AS x%d", f, n, n, n);
					break;
				}
			case IVM_AGG_COUNT_DISTINCT:
				/* signed: the changes of the group's count made in ivm_state_delta_sql */
				if (signed_rows)
					appendStringInfo(&buf, ", coalesce(sum(_lh_t%d), 0)::bigint AS c%d", n, n);
				else
					appendStringInfo(&buf, ", count(DISTINCT _lh_a%d) AS c%d", n, n);
				break;
		}
	}
	return buf.data;
}

static char *
group_list(IvmQuery *iq)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 1; k <= list_length(iq->part_exprs); k++)
		appendStringInfo(&buf, "%s_lh_g%d", k > 1 ? ", " : "", k);
	return buf.data;
}

/*
 * ivm_state_query_sql
 *		The state of the groups, from the inputs as they are: of every
 *		group (has_null NULL), or of the groups in the arrays $1..$k.
 */
char *
ivm_state_query_sql(IvmQuery *iq, bool *has_null)
{
	Query	   *q = agg_rows_query(iq);
	char	   *rows;

	if (has_null)
		rows = ivm_filtered_sql(iq, q, has_null);
	else
		rows = pg_get_querydef(q, false);
	return psprintf("SELECT %s, %s FROM (%s) AS _lh_r GROUP BY %s",
					group_list(iq), state_aggs(iq, false), rows, group_list(iq));
}

/* The rows of the query before aggregation (see agg_rows_query), as SQL. */
char *
ivm_rows_sql(IvmQuery *iq)
{
	return pg_get_querydef(agg_rows_query(iq), false);
}

/* NULL::type of an expression, with its collation when not the default. */
static char *
typed_null(Node *e)
{
	Oid			coll = exprCollation(e);

	if (OidIsValid(coll) && coll != DEFAULT_COLLATION_OID)
		return psprintf("NULL::%s COLLATE %s", format_type_be_qualified(exprType(e)),
						generate_collation_name(coll));
	return psprintf("NULL::%s", format_type_be_qualified(exprType(e)));
}

/*
 * ivm_state_delta_sql
 *		The CTEs of the state's change: _lh_x, the signed rows of the
 *		change (group keys _lh_g.., arguments _lh_a.., _lh_sign); for each
 *		count(DISTINCT), _lh_u<n>, which adds the change of each (group,
 *		value) multiplicity to its table and returns the change of the
 *		group's count (+1: the value entered, -1: it left); and _lh_dd, the
 *		signed change of the state per group.
 */
char *
ivm_state_delta_sql(IvmQuery *iq)
{
	List	   *exprs = NIL;
	List	   *names = NIL;
	ListCell   *lc;
	Query	   *q = agg_rows_query(iq);
	StringInfoData buf;
	StringInfoData rows;
	char	   *groups = group_list(iq);
	bool		any_distinct = false;

	foreach(lc, q->targetList)
	{
		TargetEntry *te = lfirst(lc);

		exprs = lappend(exprs, te->expr);
		names = lappend(names, te->resname);
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "_lh_x AS MATERIALIZED (%s)", ivm_delta_sql(iq, exprs, names));

	/* the rows of _lh_x, and of each _lh_u<n>, with _lh_t<n> columns */
	initStringInfo(&rows);
	appendStringInfoString(&rows, "SELECT *");
	foreach(lc, iq->aggs)
		if (((IvmAgg *) lfirst(lc))->kind == IVM_AGG_COUNT_DISTINCT)
			appendStringInfo(&rows, ", 0 AS _lh_t%d", ((IvmAgg *) lfirst(lc))->no);
	appendStringInfoString(&rows, " FROM _lh_x");
	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);
		ListCell   *l2;
		int			n = a->no;

		if (a->kind != IVM_AGG_COUNT_DISTINCT)
			continue;
		any_distinct = true;
		appendStringInfo(&buf,
						 ", _lh_u%d AS (INSERT INTO %s_d%d AS d (%s, _lh_v, _lh_m, _lh_was)"
						 " SELECT %s, _lh_a%d, sum(_lh_sign), 0 FROM _lh_x WHERE _lh_a%d IS NOT NULL"
						 " GROUP BY %s, _lh_a%d HAVING sum(_lh_sign) <> 0"
						 " ON CONFLICT (%s, _lh_v) DO UPDATE SET _lh_was = d._lh_m, _lh_m = d._lh_m + excluded._lh_m"
						 " RETURNING %s, (_lh_m > 0)::int - (_lh_was > 0)::int AS _lh_t)",
						 n, ivm_state_name(iq), n, groups, groups, n, n, groups, n,
						 groups, groups);
		appendStringInfo(&rows, " UNION ALL SELECT %s", groups);
		foreach(l2, iq->aggs)
		{
			IvmAgg	   *b = lfirst(l2);

			appendStringInfo(&rows, ", %s", b->arg ? typed_null(b->arg) : "NULL::int4");
		}
		appendStringInfoString(&rows, ", 0");
		foreach(l2, iq->aggs)
		{
			IvmAgg	   *b = lfirst(l2);

			if (b->kind == IVM_AGG_COUNT_DISTINCT)
				appendStringInfo(&rows, ", %s", b == a ? "_lh_t" : "0");
		}
		appendStringInfo(&rows, " FROM _lh_u%d", n);
	}
	appendStringInfo(&buf, ", _lh_dd AS %s(SELECT %s, %s FROM (%s) AS _lh_r GROUP BY %s)",
					 any_distinct ? "" : "MATERIALIZED ",
					 groups, state_aggs(iq, true),
					 any_distinct ? rows.data : "SELECT * FROM _lh_x", groups);
	return buf.data;
}

typedef struct FinalCtx
{
	IvmQuery   *iq;
	int			ngroups;
	bool		failed;
} FinalCtx;

/* Group expressions and aggregates of the result, as columns of the state. */
static Node *
final_mutator(Node *node, FinalCtx *ctx)
{
	ListCell   *lc;

	if (node == NULL)
		return NULL;
	foreach(lc, ctx->iq->part_exprs)
		if (equal(node, lfirst(lc)))
			return (Node *) makeVar(1, foreach_current_index(lc) + 1,
									exprType(node), exprTypmod(node),
									exprCollation(node), 0);
	if (IsA(node, Aggref))
	{
		foreach(lc, ctx->iq->aggs)
		{
			IvmAgg	   *a = lfirst(lc);

			if (equal(node, a->aggref))
				return (Node *) makeVar(1, ctx->ngroups + a->no,
										a->aggref->aggtype, -1,
										a->aggref->aggcollid, 0);
		}
		ctx->failed = true;
		return node;
	}
	if (IsA(node, Var))
	{
		/* a column outside GROUP BY (functionally dependent on a key) */
		ctx->failed = true;
		return node;
	}
	return expression_tree_mutator(node, final_mutator, (void *) ctx);
}

/* Can the result be evaluated from the state (see ivm_final_sql)? */
bool
ivm_final_ok(IvmQuery *iq)
{
	FinalCtx	ctx = {iq, list_length(iq->part_exprs), false};

	(void) final_mutator(copyObject((Node *) iq->out_exprs), &ctx);
	(void) final_mutator(copyObject(iq->query->havingQual), &ctx);
	return !ctx.failed;
}

/*
 * ivm_final_sql
 *		The result rows of the groups marked touched in the state table,
 *		evaluated from their state: the user's result expressions (casts,
 *		arithmetic over aggregates) and HAVING, with each aggregate
 *		replaced by its value made from the state.  NULL when the result
 *		reads columns outside GROUP BY.
 */
char *
ivm_final_sql(IvmQuery *iq, const char *state_rel)
{
	StringInfoData sub;
	FinalCtx	ctx = {iq, list_length(iq->part_exprs), false};
	Query	   *q;
	ListCell   *lc;
	Node	   *having;

	initStringInfo(&sub);
	appendStringInfo(&sub, "SELECT %s", group_list(iq));
	foreach(lc, iq->aggs)
	{
		IvmAgg	   *a = lfirst(lc);
		char	   *t = format_type_be_qualified(a->aggref->aggtype);
		int			n = a->no;

		switch (a->kind)
		{
			case IVM_AGG_COUNT_STAR:
				appendStringInfo(&sub, ", _lh_count AS _lh_f%d", n);
				break;
			case IVM_AGG_COUNT:
			case IVM_AGG_COUNT_DISTINCT:
				appendStringInfo(&sub, ", c%d AS _lh_f%d", n, n);
				break;
			case IVM_AGG_SUM:
				appendStringInfo(&sub, ", (CASE WHEN c%d > 0 THEN s%d END)::%s AS _lh_f%d",
								 n, n, t, n);
				break;
			case IVM_AGG_AVG:
				appendStringInfo(&sub, ", (CASE WHEN c%d > 0 THEN s%d / c%d::numeric END)::%s AS _lh_f%d",
								 n, n, n, t, n);
				break;
			default:
				appendStringInfo(&sub, ", v%d::%s AS _lh_f%d", n, t, n);
				break;
		}
	}
	appendStringInfo(&sub, " FROM %s WHERE _lh_touched AND _lh_count > 0", state_rel);
	q = parse_one(psprintf("SELECT 1 FROM (%s) AS _lh_s", sub.data));

	q->targetList = NIL;
	{
		ListCell   *ln;

		forboth(lc, iq->out_exprs, ln, iq->out_names)
			q->targetList = lappend(q->targetList,
									makeTargetEntry((Expr *) final_mutator(copyObject(lfirst(lc)), &ctx),
													list_length(q->targetList) + 1,
													pstrdup(lfirst(ln)), false));
	}
	having = final_mutator(copyObject(iq->query->havingQual), &ctx);
	if (ctx.failed)
		return NULL;
	q->jointree->quals = having;
	return pg_get_querydef(q, false);
}

/*
 * ivm_outer_sql
 *		The staged path's whole gold query with its inner query (a CTE or a
 *		subquery in FROM) replaced by a read of the maintained inner result:
 *		the same columns, types and collations.
 */
char *
ivm_outer_sql(IvmQuery *iq)
{
	Query	   *q = copyObject(iq->outer->query);
	StringInfoData sel;
	Query	   *sub;
	ListCell   *lc;

	initStringInfo(&sel);
	appendStringInfoString(&sel, "SELECT ");
	foreach(lc, iq->out_names)
		appendStringInfo(&sel, "%s%s", foreach_current_index(lc) ? ", " : "",
						 quote_identifier(lfirst(lc)));
	appendStringInfo(&sel, " FROM %s", iq->inner_rel);
	sub = parse_one(sel.data);
	if (iq->inner_is_cte)
		((CommonTableExpr *) list_nth(q->cteList, iq->inner_index))->ctequery = (Node *) sub;
	else
		((RangeTblEntry *) list_nth(q->rtable, iq->inner_index))->subquery = sub;
	return pg_get_querydef(q, false);
}

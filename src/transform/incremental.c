/*-------------------------------------------------------------------------
 *
 * incremental.c
 *	  The incremental gold engine (issue 18): refresh a gold table of kind
 *	  rebuild or merge from the changes of its inputs (the change log,
 *	  changes.c), by one of three paths, and say which and why.
 *
 *	- incremental: the change of the result is derived from the signed
 *	  row images of the inputs alone.  Projections, filters and inner /
 *	  left joins (a change on the preserved side) give a signed delta of
 *	  result rows, applied by key (merge) or as a bag (one target row
 *	  deleted per -1, inserted per +1).  GROUP BY with count, sum, avg,
 *	  min/max and bool_and/or updates a hidden per-group state
 *	  (incremental_apply.c) and rewrites the groups that changed; a group
 *	  whose extreme value (or a bool_and/or value) may have left is
 *	  recomputed from the inputs; count(DISTINCT) keeps the multiplicity
 *	  of each (group, value).
 *	- partial: the result keys or groups a change touches are found from
 *	  the images, deleted from the target and computed again from the
 *	  query restricted to them (the filter in the query's WHERE, where the
 *	  planner pushes it to the scans).  Used for a change on the nullable
 *	  side of a left join, count(DISTINCT) and aggregates whose sums
 *	  cannot be kept exactly (float), and the first run after the state of
 *	  an aggregate had to be built.
 *	- partial (staged): an outer query over one CTE or subquery that
 *	  aggregates the inputs: the inner aggregate is maintained (as above)
 *	  in a hidden table, and only the outer query is recomputed, over it.
 *	- full: anything else, and changes too large to be worth it; gold.c
 *	  then rebuilds (or merges) as before.  *reason says why.
 *
 * Exactness: every path leaves the target equal to what a rebuild would
 * give.  The ranges are opened with the change-log barrier held
 * (changes_open_held) until the engine is done: no writer of an input
 * commits while the engine reads, so the tables it reads are exactly the
 * state after the range.  The ranges are consumed here, in the stage's
 * subtransaction, so a failed stage keeps its marks.
 *
 * Everything user-influenced runs as the gold table's owner: the caller
 * (the gold stage) is already in the owner's security context; the hidden
 * state table is created by the catalog owner and handed to the owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "lakehouse.h"
#include "transform/incremental.h"
#include "transform/transform.h"

/*
 * The cost decision: a change larger than these shares goes full.  A share
 * is only judged once the change is at least IVM_MIN_JUDGED images or
 * partitions: below that the incremental work is small whatever the share.
 */
#define IVM_MAX_IMAGE_SHARE		0.05	/* images / rows of an input */
#define IVM_MAX_TOUCHED_SHARE	0.20	/* partitions / rows of the target */
#define IVM_MIN_JUDGED			1000

/* ---- analysis ---- */

typedef struct WalkState
{
	IvmQuery   *iq;
	const char *why;
} WalkState;

/* Mark the relations of a join tree: core, or under a nullable side. */
static void
walk_jointree(WalkState *ws, Node *jt, bool nullable, JoinExpr *parent_left)
{
	if (jt == NULL || ws->why)
		return;
	if (IsA(jt, RangeTblRef))
	{
		int			rti = ((RangeTblRef *) jt)->rtindex;
		ListCell   *lc;

		foreach(lc, ws->iq->rels)
		{
			IvmRel	   *rel = lfirst(lc);

			if (rel->rti != rti)
				continue;
			rel->core = !nullable;
			if (parent_left && (JoinExpr *) parent_left->rarg != NULL &&
				IsA(parent_left->rarg, RangeTblRef) &&
				((RangeTblRef *) parent_left->rarg)->rtindex == rti)
			{
				rel->lj_quals = parent_left->quals;
				rel->lj_simple = true;
			}
		}
	}
	else if (IsA(jt, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) jt)->fromlist)
			walk_jointree(ws, lfirst(lc), nullable, NULL);
	}
	else if (IsA(jt, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) jt;

		switch (j->jointype)
		{
			case JOIN_INNER:
				walk_jointree(ws, j->larg, nullable, NULL);
				walk_jointree(ws, j->rarg, nullable, NULL);
				break;
			case JOIN_LEFT:
				walk_jointree(ws, j->larg, nullable, NULL);
				walk_jointree(ws, j->rarg, true, nullable ? NULL : j);
				break;
			case JOIN_RIGHT:
				ws->why = "unsupported: RIGHT JOIN";
				break;
			case JOIN_FULL:
				ws->why = "unsupported: FULL JOIN";
				break;
			default:
				ws->why = "unsupported: join type";
				break;
		}
	}
}

/* No whole-row or system column references (a replaced relation differs). */
static bool
has_special_var(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return ((Var *) node)->varattno <= 0;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, has_special_var, context, 0);
	return expression_tree_walker(node, has_special_var, context);
}

static bool
collect_aggrefs(Node *node, List **aggs)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		*aggs = lappend(*aggs, node);
		return false;
	}
	return expression_tree_walker(node, collect_aggrefs, aggs);
}

/* Is every column of a result of a type we can compare and group? */
static const char *
check_result_types(IvmQuery *iq)
{
	ListCell   *ln;
	ListCell   *le;

	forboth(ln, iq->out_names, le, iq->out_exprs)
	{
		Oid			typid = exprType(lfirst(le));
		TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_EQ_OPR |
											   TYPECACHE_LT_OPR);

		if (!OidIsValid(tc->eq_opr) || !OidIsValid(tc->lt_opr) ||
			!OidIsValid(get_array_type(typid)))
			return psprintf("unsupported: result column %s has type %s, which has no ordering",
							(char *) lfirst(ln), format_type_be(typid));
	}
	return NULL;
}

/* How each aggregate is maintained; NULL, or why the partial path is needed. */
static const char *
classify_aggs(IvmQuery *iq, List *aggrefs)
{
	ListCell   *lc;

	foreach(lc, aggrefs)
	{
		Aggref	   *a = lfirst(lc);
		char	   *name = get_func_name(a->aggfnoid);
		IvmAgg	   *agg = palloc0(sizeof(IvmAgg));
		Oid			argtype = InvalidOid;

		if (get_func_namespace(a->aggfnoid) != PG_CATALOG_NAMESPACE)
			return psprintf("aggregate %s is recomputed per group", name);
		if (a->aggfilter)
			return "an aggregate with FILTER is recomputed per group";
		if (a->aggorder)
			return "an ordered aggregate is recomputed per group";
		if (list_length(a->args) > 1)
			return psprintf("aggregate %s is recomputed per group", name);
		if (a->args)
		{
			agg->arg = (Node *) ((TargetEntry *) linitial(a->args))->expr;
			argtype = exprType(agg->arg);
		}
		if (a->aggdistinct)
		{
			TypeCacheEntry *tc = lookup_type_cache(argtype, TYPECACHE_EQ_OPR |
												   TYPECACHE_LT_OPR);

			if (strcmp(name, "count") != 0 || !OidIsValid(tc->eq_opr) ||
				!OidIsValid(tc->lt_opr))
				return psprintf("%s(DISTINCT) is recomputed per group", name);
			agg->kind = IVM_AGG_COUNT_DISTINCT;
		}
		else if (strcmp(name, "count") == 0)
			agg->kind = a->aggstar ? IVM_AGG_COUNT_STAR : IVM_AGG_COUNT;
		else if (strcmp(name, "sum") == 0 || strcmp(name, "avg") == 0)
		{
			if (argtype != INT2OID && argtype != INT4OID &&
				argtype != INT8OID && argtype != NUMERICOID)
				return psprintf("%s of %s is recomputed per group (only integer and numeric sums are kept exactly)",
								name, format_type_be(argtype));
			agg->kind = name[0] == 's' ? IVM_AGG_SUM : IVM_AGG_AVG;
		}
		else if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0)
		{
			if (!OidIsValid(lookup_type_cache(argtype, TYPECACHE_LT_OPR)->lt_opr))
				return psprintf("%s of %s is recomputed per group", name,
								format_type_be(argtype));
			agg->kind = name[1] == 'i' ? IVM_AGG_MIN : IVM_AGG_MAX;
		}
		else if (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0)
			agg->kind = IVM_AGG_BOOL_AND;
		else if (strcmp(name, "bool_or") == 0)
			agg->kind = IVM_AGG_BOOL_OR;
		else
			return psprintf("aggregate %s is recomputed per group", name);
		agg->aggref = a;
		agg->no = list_length(iq->aggs) + 1;
		iq->aggs = lappend(iq->aggs, agg);
	}
	return NULL;
}

/* The result column a key expression is, or -1. */
static int
result_column(IvmQuery *iq, const char *name)
{
	ListCell   *lc;

	foreach(lc, iq->out_names)
		if (strcmp(lfirst(lc), name) == 0)
			return foreach_current_index(lc);
	return -1;
}

static bool
refs_only_core(IvmQuery *iq, Node *node)
{
	Relids		r = pull_varnos(NULL, node);
	ListCell   *lc;

	foreach(lc, iq->rels)
	{
		IvmRel	   *rel = lfirst(lc);

		if (!rel->core && bms_is_member(rel->rti, r))
			return false;
	}
	return true;
}

/*
 * The partition of a result without GROUP BY: the gold keys, when they
 * come from core relations; else the silver keys of a core relation that
 * the result shows as plain columns.
 */
static void
choose_row_partition(IvmQuery *iq)
{
	ListCell   *lc;

	if (iq->table->keys)
	{
		List	   *exprs = NIL;

		foreach(lc, iq->table->keys)
		{
			int			i = result_column(iq, lfirst(lc));

			if (i < 0 || !refs_only_core(iq, list_nth(iq->out_exprs, i)))
				break;
			exprs = lappend(exprs, list_nth(iq->out_exprs, i));
		}
		if (list_length(exprs) == list_length(iq->table->keys))
		{
			iq->part_exprs = exprs;
			iq->part_cols = list_copy(iq->table->keys);
			if (strcmp(iq->table->gold_kind, "merge") == 0)
				iq->key_cols = iq->part_cols;
			return;
		}
	}
	foreach(lc, iq->rels)
	{
		IvmRel	   *rel = lfirst(lc);
		int32		tid = changes_captured_table(rel->input->relid);
		LhTable    *t = tid ? catalog_table(tid) : NULL;
		List	   *exprs = NIL;
		List	   *cols = NIL;
		ListCell   *lk;

		if (!rel->core || t == NULL || t->keys == NIL)
			continue;
		foreach(lk, t->keys)
		{
			AttrNumber att = get_attnum(rel->input->relid, lfirst(lk));
			ListCell   *le;

			foreach(le, iq->out_exprs)
			{
				Var		   *v = lfirst(le);

				if (IsA(v, Var) && v->varno == rel->rti && v->varattno == att)
				{
					exprs = lappend(exprs, v);
					cols = lappend(cols, list_nth(iq->out_names,
												  foreach_current_index(le)));
					break;
				}
			}
		}
		if (list_length(exprs) == list_length(t->keys))
		{
			iq->part_exprs = exprs;
			iq->part_cols = cols;
			return;
		}
	}
}

/*
 * analyze_query
 *		Analyse a query for the incremental and partial paths (the gold
 *		query, or the inner query of the staged path); NULL with *why when
 *		no path but full fits.
 */
static IvmQuery *
analyze_query(LhTable *table, Query *q, const char **why)
{
	IvmQuery   *iq = palloc0(sizeof(IvmQuery));
	WalkState	ws = {iq, NULL};
	ListCell   *lc;

	iq->table = table;
	iq->target = lh_qualified_name(table->schema_name, table->table_name);

	if (q->cteList)
		*why = "unsupported: WITH clause";
	else if (q->setOperations)
		*why = "unsupported: UNION, INTERSECT or EXCEPT";
	else if (q->hasWindowFuncs)
		*why = "unsupported: window function";
	else if (q->hasTargetSRFs)
		*why = "unsupported: set-returning function in the result";
	else if (q->hasSubLinks)
		*why = "unsupported: subquery in an expression";
	else if (q->distinctClause)
		*why = "unsupported: DISTINCT";
	else if (q->limitCount || q->limitOffset)
		*why = "unsupported: LIMIT or OFFSET";
	else if (q->groupingSets)
		*why = "unsupported: GROUPING SETS, ROLLUP or CUBE";
	else if (q->hasAggs && q->groupClause == NIL)
		*why = "unsupported: aggregate without GROUP BY";
	else if (contain_volatile_functions((Node *) q))
		*why = "unsupported: volatile function";
	else if (has_special_var((Node *) q, NULL))
		*why = "unsupported: whole-row or system column reference";
	if (*why)
		return NULL;

	/* FROM: plain tables and inner or left joins of them */
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		IvmRel	   *rel;
		ListCell   *li;

		switch (rte->rtekind)
		{
			case RTE_RELATION:
				break;
			case RTE_JOIN:
				continue;
			case RTE_SUBQUERY:
				*why = "unsupported: subquery in FROM";
				return NULL;
			case RTE_FUNCTION:
			case RTE_TABLEFUNC:
				*why = "unsupported: function in FROM";
				return NULL;
			default:
				*why = "unsupported: FROM item";
				return NULL;
		}
		if (rte->tablesample)
		{
			*why = "unsupported: TABLESAMPLE";
			return NULL;
		}
		rel = palloc0(sizeof(IvmRel));
		rel->rti = foreach_current_index(lc) + 1;
		foreach(li, iq->inputs)
			if (((IvmInput *) lfirst(li))->relid == rte->relid)
				rel->input = lfirst(li);
		if (rel->input == NULL)
		{
			rel->input = palloc0(sizeof(IvmInput));
			rel->input->relid = rte->relid;
			rel->input->name = lh_qualified_name(get_namespace_name(get_rel_namespace(rte->relid)),
												 get_rel_name(rte->relid));
			if (changes_captured_table(rte->relid) == 0)
			{
				*why = psprintf("reads %s, which is not captured", rel->input->name);
				return NULL;
			}
			iq->inputs = lappend(iq->inputs, rel->input);
		}
		iq->rels = lappend(iq->rels, rel);
	}
	walk_jointree(&ws, (Node *) q->jointree, false, NULL);
	if (ws.why)
	{
		*why = ws.why;
		return NULL;
	}

	/* Vars of the base relations only (USING columns, join aliases) */
	q->targetList = (List *) flatten_join_alias_vars(q, (Node *) q->targetList);
	q->jointree = (FromExpr *) flatten_join_alias_vars(q, (Node *) q->jointree);
	q->havingQual = flatten_join_alias_vars(q, q->havingQual);
	foreach(lc, iq->rels)
	{
		IvmRel	   *rel = lfirst(lc);

		if (rel->lj_quals)
		{
			rel->lj_quals = flatten_join_alias_vars(q, rel->lj_quals);
			/* its ON may read the core and this relation only */
			{
				Relids		r = pull_varnos(NULL, rel->lj_quals);
				ListCell   *l2;

				foreach(l2, iq->rels)
				{
					IvmRel	   *o = lfirst(l2);

					if (o != rel && !o->core && bms_is_member(o->rti, r))
						rel->lj_simple = false;
				}
			}
		}
	}
	iq->query = q;

	foreach(lc, q->targetList)
	{
		TargetEntry *te = lfirst(lc);

		if (te->resjunk)
			continue;
		iq->out_names = lappend(iq->out_names, te->resname);
		iq->out_exprs = lappend(iq->out_exprs, te->expr);
	}
	if ((*why = check_result_types(iq)) != NULL)
		return NULL;

	iq->is_agg = q->hasAggs || q->groupClause != NIL;
	if (iq->is_agg)
	{
		List	   *aggrefs = NIL;

		foreach(lc, q->groupClause)
		{
			SortGroupClause *sgc = lfirst(lc);
			TargetEntry *te = get_sortgroupclause_tle(sgc, q->targetList);

			if (te->resjunk)
			{
				*why = "unsupported: a GROUP BY expression is not a column of the result";
				return NULL;
			}
			iq->part_exprs = lappend(iq->part_exprs, te->expr);
			iq->part_cols = lappend(iq->part_cols, te->resname);
		}
		iq->key_cols = iq->part_cols;
		(void) collect_aggrefs((Node *) q->targetList, &aggrefs);
		(void) collect_aggrefs(q->havingQual, &aggrefs);
		iq->agg_why = classify_aggs(iq, aggrefs);
		if (iq->agg_why == NULL && !ivm_final_ok(iq))
			iq->agg_why = "a result column outside GROUP BY is recomputed per group";
		if (iq->agg_why)
			iq->aggs = NIL;
		if (!refs_only_core(iq, (Node *) iq->part_exprs))
			iq->part_exprs = iq->part_cols = NIL;
	}
	else
		choose_row_partition(iq);
	return iq;
}

/* ---- the staged path: an outer query over one inner aggregate ---- */

typedef struct ReadsCtx
{
	Query	   *skip;			/* not looked into */
	bool		windows;		/* saw a window function */
} ReadsCtx;

/* Does a query (but ctx->skip) read a table?  Notes window functions. */
static bool
reads_tables(Node *node, ReadsCtx *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		if ((Query *) node == ctx->skip)
			return false;
		if (((Query *) node)->hasWindowFuncs)
			ctx->windows = true;
		return query_tree_walker((Query *) node, reads_tables, ctx,
								 QTW_EXAMINE_RTES_BEFORE);
	}
	if (IsA(node, RangeTblEntry))
		return ((RangeTblEntry *) node)->rtekind == RTE_RELATION;
	return expression_tree_walker(node, reads_tables, ctx);
}

static bool
query_reads_tables(Query *q)
{
	ReadsCtx	ctx = {NULL, false};

	return reads_tables((Node *) q, &ctx);
}

/*
 * analyze_staged
 *		A gold query that is an outer query (windows, CASE, joins of its
 *		own pieces) over exactly one CTE or subquery in FROM that reads
 *		tables and aggregates them: the inner aggregate is maintained in
 *		the hidden table m<id> as the engine maintains any GROUP BY, and
 *		the outer query is recomputed over it (cost: the groups, not the
 *		input rows).  Returns the inner's IvmQuery (iq->outer set), or NULL
 *		with *why (the reason of the plain analysis, kept when the shape
 *		is not this one).
 */
static IvmQuery *
analyze_staged(LhTable *table, Query *q, const char **why)
{
	Query	   *inner = NULL;
	const char *name = NULL;
	bool		is_cte = false;
	int			index = -1;
	int			found = 0;
	ReadsCtx	ctx = {NULL, false};
	IvmQuery   *iq;
	IvmQuery   *outer;
	const char *inner_why = NULL;
	ListCell   *lc;

	*why = q->cteList ? "unsupported: WITH clause" : "unsupported: subquery in FROM";
	if (q->hasRecursive)
	{
		*why = "unsupported: WITH RECURSIVE";
		return NULL;
	}
	if (q->setOperations || q->hasModifyingCTE)
		return NULL;
	foreach(lc, q->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);

		if (IsA(cte->ctequery, Query) && query_reads_tables((Query *) cte->ctequery))
		{
			found++;
			inner = (Query *) cte->ctequery;
			name = cte->ctename;
			is_cte = true;
			index = foreach_current_index(lc);
		}
	}
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY && !rte->lateral &&
			query_reads_tables(rte->subquery))
		{
			found++;
			inner = rte->subquery;
			name = rte->eref->aliasname;
			is_cte = false;
			index = foreach_current_index(lc);
		}
	}
	if (found != 1 || inner->commandType != CMD_SELECT ||
		!(inner->hasAggs || inner->groupClause))
		return NULL;
	ctx.skip = inner;
	if (reads_tables((Node *) q, &ctx) || contain_volatile_functions((Node *) q))
		return NULL;

	iq = analyze_query(table, copyObject(inner), &inner_why);
	if (iq == NULL || iq->part_exprs == NIL)
	{
		*why = psprintf("%s (%s: %s)", *why, name,
						inner_why ? inner_why : "a GROUP BY expression reads the nullable side of a left join");
		return NULL;
	}
	foreach(lc, iq->out_names)
	{
		ListCell   *l2;

		for_each_from(l2, iq->out_names, foreach_current_index(lc) + 1)
			if (strcmp(lfirst(lc), lfirst(l2)) == 0)
				return NULL;
	}

	outer = palloc0(sizeof(IvmQuery));
	outer->table = table;
	outer->target = iq->target;
	outer->query = q;
	foreach(lc, q->targetList)
	{
		TargetEntry *te = lfirst(lc);

		if (te->resjunk)
			continue;
		outer->out_names = lappend(outer->out_names, te->resname);
		outer->out_exprs = lappend(outer->out_exprs, te->expr);
	}
	if ((*why = check_result_types(outer)) != NULL)
		return NULL;
	if (strcmp(table->gold_kind, "merge") == 0)
		outer->key_cols = table->keys;

	iq->inner_rel = psprintf("%s.m%d", IVM_SCHEMA, table->table_id);
	iq->target = iq->inner_rel;
	iq->inner_name = pstrdup(name);
	iq->outer = outer;
	iq->inner_is_cte = is_cte;
	iq->inner_index = index;
	iq->outer_why = ctx.windows ? "window function" : "outer query";
	return iq;
}

/*
 * ivm_analyze
 *		Parse and analyse the gold query (as its owner: the caller is in
 *		the owner's context); NULL with *why when no path but full fits.
 */
static IvmQuery *
ivm_analyze(LhTable *table, const char **why)
{
	char	   *sql = lh_trim_sql(table->sql);
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	Query	   *q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql,
											  NULL, 0, NULL);
	ListCell   *lc;

	if (q->setOperations)
		return analyze_query(table, q, why);
	if (q->cteList)
		return analyze_staged(table, q, why);
	foreach(lc, q->rtable)
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_SUBQUERY)
			return analyze_staged(table, q, why);
	return analyze_query(table, q, why);
}

/* ---- decisions ---- */

/*
 * The rows of a relation, as the planner estimates them: reltuples scaled
 * to the relation's current size, and an estimate from its pages when it
 * was never analysed (a table just built, with autovacuum off) — so that
 * the share of a change is judged on every table, not only analysed ones.
 */
static double
rel_tuples(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
	table_close(rel, AccessShareLock);
	return tuples;
}

/* Open every input's range (barrier held); false with *why if one is not usable. */
static bool
open_ranges(IvmQuery *iq, const char **why, int64 *images)
{
	ListCell   *lc;

	*images = 0;
	foreach(lc, iq->inputs)
	{
		IvmInput   *in = lfirst(lc);

		in->range = changes_open_held(iq->table->table_id, in->relid);
		if (!in->range->complete)
		{
			*why = in->range->why_incomplete;
			return false;
		}
		in->nchanges = changes_count(in->range);
		in->reltuples = rel_tuples(in->relid);
		*images += in->nchanges;
	}
	foreach(lc, iq->inputs)
	{
		IvmInput   *in = lfirst(lc);

		if (in->nchanges >= IVM_MIN_JUDGED && in->reltuples > 0 &&
			in->nchanges > IVM_MAX_IMAGE_SHARE * in->reltuples)
		{
			*why = psprintf("changes touch %d%% of the rows of %s",
							(int) Min(100.0, 100.0 * in->nchanges / in->reltuples),
							in->name);
			return false;
		}
	}
	return true;
}

static void
consume_ranges(IvmQuery *iq)
{
	ListCell   *lc;

	foreach(lc, iq->inputs)
		changes_consume(iq->table->table_id, ((IvmInput *) lfirst(lc))->range);
}

/*
 * The partitions a change touches, as one array per partition column
 * (aligned: row i of the tuples is element i of each) and whether each
 * holds a NULL; returns how many.
 */
static int64
touched_partitions(IvmQuery *iq, Datum *arrays, bool *has_null)
{
	StringInfoData sql;
	int			k = list_length(iq->part_cols);
	int64		n;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT count(*)");
	for (int i = 1; i <= k; i++)
		appendStringInfo(&sql, ", array_agg(_lh_p%d), coalesce(bool_or(_lh_p%d IS NULL), false)",
						 i, i);
	appendStringInfo(&sql, " FROM (%s) AS _lh_g", ivm_touched_sql(iq));
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					   "find the partitions a change touches");
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

/* Is a share of the target's rows too large to be recomputed piecewise? */
static const char *
too_many_touched(IvmQuery *iq, int64 n)
{
	double		rows = rel_tuples(ivm_target_oid(iq));

	if (n >= IVM_MIN_JUDGED && rows > 0 && n > IVM_MAX_TOUCHED_SHARE * rows)
		return psprintf("changes touch %d%% of the %s", (int) Min(100.0, 100.0 * n / rows),
						iq->is_agg ? "groups" : "rows");
	return NULL;
}

/*
 * The partial path: recompute the partitions the change touches.  false
 * with *why when the change touches too much.
 */
static bool
refresh_partial(IvmQuery *iq, IvmApply *ap, const char **why)
{
	int			k = list_length(iq->part_cols);
	Datum	   *arrays = palloc0(sizeof(Datum) * k);
	bool	   *has_null = palloc0(sizeof(bool) * k);
	Oid		   *types = palloc0(sizeof(Oid) * k);
	int64		n = touched_partitions(iq, arrays, has_null);
	ListCell   *lc;

	if (n == 0)
		return true;
	if ((*why = too_many_touched(iq, n)) != NULL)
		return false;
	foreach(lc, iq->part_exprs)
		types[foreach_current_index(lc)] = get_array_type(exprType(lfirst(lc)));
	ivm_apply_replace(iq, ivm_filtered_sql(iq, copyObject(iq->query), has_null),
					  k, types, arrays, has_null, ap);
	return true;
}

/* Which changed relation sits on a nullable side (NULL: none). */
static IvmRel *
changed_nullable(IvmQuery *iq)
{
	ListCell   *lc;

	foreach(lc, iq->rels)
	{
		IvmRel	   *rel = lfirst(lc);

		if (!rel->core && rel->input->nchanges > 0)
			return rel;
	}
	return NULL;
}

/*
 * Choose and run a path.  Returns false with *reason for full; else sets
 * *how (and *reason for partial).
 */
static bool
refresh(IvmQuery *iq, IvmApply *ap, LhRefresh *how, const char **reason)
{
	IvmRel	   *nullable = changed_nullable(iq);
	const char *partial_why = NULL;
	bool		state_built = false;

	if (nullable)
	{
		ListCell   *lc;

		partial_why = psprintf("%s changed on the nullable side of a left join",
							   nullable->input->name);
		foreach(lc, iq->rels)
		{
			IvmRel	   *rel = lfirst(lc);

			if (!rel->core && rel->input->nchanges > 0 && !rel->lj_simple)
			{
				*reason = psprintf("unsupported: %s changed inside a nested outer join",
								   rel->input->name);
				return false;
			}
		}
	}
	else if (!iq->is_agg)
	{
		List	   *names = iq->out_names;

		ivm_ensure_index(iq);
		ivm_apply_delta(iq, ivm_delta_sql(iq, iq->out_exprs, names), ap);
		*how = LH_REFRESH_INCREMENTAL;
		return true;
	}
	else if (iq->agg_why)
		partial_why = iq->agg_why;
	else if (!ivm_state_current(iq))
	{
		/* the state is built from the tables as they are now */
		ivm_state_build(iq);
		state_built = true;
		partial_why = "first incremental run: the state of the groups was built";
	}
	else
	{
		int64		groups;

		ivm_state_update(iq, &groups);
		if ((*reason = too_many_touched(iq, groups)) != NULL)
			return false;
		ivm_state_apply(iq, ap);
		ivm_state_remember(iq);
		*how = LH_REFRESH_INCREMENTAL;
		return true;
	}

	if (iq->part_exprs == NIL)
	{
		*reason = iq->is_agg ?
			"unsupported: a GROUP BY expression reads the nullable side of a left join" :
			"unsupported: no result column identifies the rows of a changed input";
		return false;
	}
	if (!iq->is_agg)
		ivm_ensure_index(iq);
	if (!refresh_partial(iq, ap, reason))
		return false;
	/* a state built now is exact at hi; any other went stale */
	if (state_built)
		ivm_state_remember(iq);
	*how = LH_REFRESH_PARTIAL;
	*reason = partial_why;
	return true;
}

/*
 * The staged path: bring the inner aggregate (m<id>) up to date —
 * incrementally through its state, or by recomputing the groups touched,
 * or by building it on its first run — then recompute the outer query
 * over it and write the rows of the target that differ.  Reported
 * partial.  Returns false with *reason for full.
 */
static bool
refresh_staged(IvmQuery *iq, IvmApply *ap, LhRefresh *how, const char **reason)
{
	IvmRel	   *nullable = changed_nullable(iq);
	IvmApply	inner_ap = {0};
	const char *first = NULL;
	bool		remember = true;

	if (!ivm_inner_exists(iq) || !ivm_state_current(iq))
	{
		if (iq->aggs)
			ivm_state_build(iq);
		ivm_inner_build(iq);
		first = "first incremental run: the state of the groups was built";
	}
	else if (nullable || iq->agg_why)
	{
		ListCell   *lc;

		foreach(lc, iq->rels)
		{
			IvmRel	   *rel = lfirst(lc);

			if (!rel->core && rel->input->nchanges > 0 && !rel->lj_simple)
			{
				*reason = psprintf("unsupported: %s changed inside a nested outer join",
								   rel->input->name);
				return false;
			}
		}
		if (!refresh_partial(iq, &inner_ap, reason))
			return false;
		/* without a state, m<id> alone is exact at hi; else the state went stale */
		remember = (iq->aggs == NIL);
	}
	else
	{
		int64		groups;

		ivm_state_update(iq, &groups);
		if ((*reason = too_many_touched(iq, groups)) != NULL)
			return false;
		ivm_state_apply(iq, &inner_ap);
	}
	if (remember)
		ivm_state_remember(iq);
	ivm_apply_all(iq->outer, ivm_outer_sql(iq), ap);
	*how = LH_REFRESH_PARTIAL;
	*reason = first ? first :
		psprintf("outer query recomputed over the maintained %s groups (%s)",
				 iq->inner_name, iq->outer_why);
	return true;
}

/*
 * A data contract in quarantine mode: a full write offers every row again
 * and replaces the table's quarantined rows; a partial one could leave
 * rows diverted for groups it did not touch out of date.
 */
static bool
diverts_rows(LhTable *table)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(table->schema_name);
	values[1] = CStringGetTextDatum(table->table_name);
	catalog_exec("SELECT 1 FROM lakehouse.contracts WHERE schema_name = $1"
				 " AND table_name = $2 AND on_violation = 'quarantine'",
				 2, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * gold_incremental_refresh
 *		Try an incremental or partial refresh of table (see transform.h for
 *		the caller's side).  Connected to SPI, in the stage's
 *		subtransaction, as the owner.
 */
bool
gold_incremental_refresh(LhTable *table, LhStageCounts *counts,
						 LhRefresh *how, const char **reason)
{
	IvmQuery   *iq;
	IvmApply   *ap = palloc0(sizeof(IvmApply));
	int64	   *images = palloc0(sizeof(int64));
	volatile bool done = false;

	*how = LH_REFRESH_FULL;
	*reason = NULL;
	if (strcmp(table->gold_kind, "rebuild") != 0 &&
		strcmp(table->gold_kind, "merge") != 0)
	{
		*reason = "unsupported: gold kind";
		return false;
	}
	(void) lh_stage_table_oid(table);
	if (diverts_rows(table))
	{
		*reason = "its data contract diverts rows (on_violation: quarantine)";
		return false;
	}
	iq = ivm_analyze(table, reason);
	if (iq == NULL)
		return false;

	PG_TRY();
	{
		if (open_ranges(iq, reason, images))
		{
			if (*images == 0)
			{
				*how = LH_REFRESH_INCREMENTAL;
				done = true;
			}
			else if (iq->outer)
				done = refresh_staged(iq, ap, how, reason);
			else
				done = refresh(iq, ap, how, reason);
			if (done)
				consume_ranges(iq);
		}
	}
	PG_FINALLY();
	{
		changes_release_held();
	}
	PG_END_TRY();

	if (!done)
	{
		*how = LH_REFRESH_FULL;
		return false;
	}
	counts->rows_read = *images;
	counts->rows_written = ap->deleted + ap->inserted - ap->updated;
	counts->rows_skipped = Max(0, ap->offered - ap->inserted);
	lh_progress_add_rows(counts->rows_written);
	return true;
}

/*-------------------------------------------------------------------------
 *
 * lineage_gold.c
 *	  Input tables and column lineage of a gold SQL transform, from its
 *	  parsed and analysed query.
 *
 * The transform is parsed and analysed (never planned or executed) in a
 * subtransaction: if that fails (an input table was dropped, the stage
 * failed because of it) the facet and the inputs are left out and the
 * error is discarded; the caller's events are still written.
 *
 * Inputs: every plain relation the query reads (range table entries of
 * kind RTE_RELATION, in subqueries, CTEs and sublinks too).
 * lineage_gold_inputs gives them alone, for the diagrams (diagram.c).
 *
 * Column lineage, for each output column of the top-level target list:
 *	- a bare column reference (a Var, through joins and FROM-subqueries)
 *	  of a base table column: DIRECT / IDENTITY;
 *	- an expression over columns: DIRECT / AGGREGATION when it aggregates,
 *	  DIRECT / TRANSFORMATION otherwise, listing every base column used;
 *	- columns the expression cannot be traced to (constants, columns of a
 *	  CTE or a function in FROM) are not listed; an output column with no
 *	  traced input is left out of the facet.
 * Columns that filter, join or group the rows (WHERE, JOIN ... ON,
 * GROUP BY) are listed at dataset level as INDIRECT with subtype FILTER,
 * JOIN or GROUP_BY.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parsetree.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "lakehouse.h"
#include "observe/observe.h"

typedef struct ColRef
{
	Oid			relid;
	AttrNumber	attno;
} ColRef;

/* collect the relations a query reads */
static bool
rel_walker(Node *node, List **rels)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, rel_walker, (void *) rels,
								 QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION)
			*rels = list_append_unique_oid(*rels, rte->relid);
		return false;
	}
	return expression_tree_walker(node, rel_walker, (void *) rels);
}

static void add_colrefs(Query *q, Node *expr, List **refs, int depth);

/* resolve one Var of q (varlevelsup 0) to base columns */
static void
resolve_var(Query *q, Var *v, List **refs, int depth)
{
	RangeTblEntry *rte;

	if (depth > 50 || v->varno < 1 || v->varno > list_length(q->rtable))
		return;
	rte = rt_fetch(v->varno, q->rtable);
	if (rte->rtekind == RTE_RELATION && v->varattno > 0)
	{
		ColRef	   *c = palloc(sizeof(ColRef));

		c->relid = rte->relid;
		c->attno = v->varattno;
		*refs = lappend(*refs, c);
	}
	else if (rte->rtekind == RTE_JOIN && v->varattno > 0 &&
			 v->varattno <= list_length(rte->joinaliasvars))
		add_colrefs(q, list_nth(rte->joinaliasvars, v->varattno - 1), refs, depth + 1);
	else if (rte->rtekind == RTE_SUBQUERY && v->varattno > 0 && rte->subquery)
	{
		TargetEntry *tle = get_tle_by_resno(rte->subquery->targetList, v->varattno);

		if (tle)
			add_colrefs(rte->subquery, (Node *) tle->expr, refs, depth + 1);
	}
}

static void
add_colrefs(Query *q, Node *expr, List **refs, int depth)
{
	List	   *vars;
	ListCell   *lc;

	if (expr == NULL)
		return;

	/*
	 * The columns an expression reads, looking inside aggregates, window
	 * functions and PlaceHolderVars (the planner's wrappers for outer-join
	 * outputs): each flag makes pull_var_clause descend into that node kind
	 * instead of returning it or failing on it.
	 */
	vars = pull_var_clause(expr, PVC_RECURSE_AGGREGATES | PVC_RECURSE_WINDOWFUNCS |
						   PVC_RECURSE_PLACEHOLDERS);
	foreach(lc, vars)
	{
		Var		   *v = lfirst(lc);

		if (IsA(v, Var) && v->varlevelsup == 0)
			resolve_var(q, v, refs, depth);
	}
}

/* is expr a bare column reference, through joins and subqueries? */
static bool
is_identity(Query *q, Node *expr, int depth)
{
	Var		   *v;
	RangeTblEntry *rte;

	while (expr && IsA(expr, RelabelType))
		expr = (Node *) ((RelabelType *) expr)->arg;
	if (expr == NULL || !IsA(expr, Var) || depth > 50)
		return false;
	v = (Var *) expr;
	if (v->varlevelsup != 0 || v->varno < 1 || v->varno > list_length(q->rtable))
		return false;
	rte = rt_fetch(v->varno, q->rtable);
	if (rte->rtekind == RTE_RELATION)
		return v->varattno > 0;
	if (rte->rtekind == RTE_JOIN && v->varattno > 0 &&
		v->varattno <= list_length(rte->joinaliasvars))
		return is_identity(q, list_nth(rte->joinaliasvars, v->varattno - 1), depth + 1);
	if (rte->rtekind == RTE_SUBQUERY && rte->subquery && v->varattno > 0)
	{
		TargetEntry *tle = get_tle_by_resno(rte->subquery->targetList, v->varattno);

		return tle && !rte->subquery->hasAggs &&
			is_identity(rte->subquery, (Node *) tle->expr, depth + 1);
	}
	return false;
}

static void
append_input_fields(StringInfo buf, List *refs, const char *ns, const char *type,
					const char *subtype, bool *first)
{
	ListCell   *lc;

	foreach(lc, refs)
	{
		ColRef	   *c = lfirst(lc);
		char	   *att = get_attname(c->relid, c->attno, true);
		char	   *rel = get_rel_name(c->relid);
		char	   *nsp = get_namespace_name(get_rel_namespace(c->relid));

		if (att == NULL || rel == NULL || nsp == NULL)
			continue;
		appendStringInfoString(buf, *first ? "{\"namespace\":" : ",{\"namespace\":");
		*first = false;
		lineage_json_str(buf, ns);
		appendStringInfoString(buf, ",\"name\":");
		lineage_json_str(buf, psprintf("%s.%s.%s", get_database_name(MyDatabaseId),
									   nsp, rel));
		appendStringInfoString(buf, ",\"field\":");
		lineage_json_str(buf, att);
		appendStringInfo(buf, ",\"transformations\":[{\"type\":\"%s\",\"subtype\":\"%s\","
						 "\"masking\":false}]}", type, subtype);
	}
}

/* join conditions of a jointree */
static void
join_quals(Query *q, Node *node, List **refs)
{
	if (node == NULL)
		return;
	if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;

		join_quals(q, j->larg, refs);
		join_quals(q, j->rarg, refs);
		add_colrefs(q, j->quals, refs, 0);
	}
	else if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			join_quals(q, lfirst(lc), refs);
	}
}

static void
build_facet(StringInfo buf, Query *q, const char *ns)
{
	ListCell   *lc;
	bool		any = false;
	bool		first = true;
	List	   *filter = NIL;
	List	   *joins = NIL;
	List	   *group = NIL;
	StringInfoData fields;

	initStringInfo(&fields);
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		List	   *refs = NIL;
		bool		f = true;

		if (tle->resjunk || tle->resname == NULL)
			continue;
		add_colrefs(q, (Node *) tle->expr, &refs, 0);
		if (refs == NIL)
			continue;
		if (any)
			appendStringInfoChar(&fields, ',');
		any = true;
		lineage_json_str(&fields, tle->resname);
		appendStringInfoString(&fields, ":{\"inputFields\":[");
		append_input_fields(&fields, refs, ns, "DIRECT",
							is_identity(q, (Node *) tle->expr, 0) ? "IDENTITY" :
							contain_agg_clause((Node *) tle->expr) ? "AGGREGATION" :
							"TRANSFORMATION", &f);
		appendStringInfoString(&fields, "]}");
	}
	if (q->jointree)
		add_colrefs(q, q->jointree->quals, &filter, 0);
	add_colrefs(q, q->havingQual, &filter, 0);
	join_quals(q, (Node *) q->jointree, &joins);
	foreach(lc, q->groupClause)
	{
		SortGroupClause *g = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(g, q->targetList);

		add_colrefs(q, (Node *) tle->expr, &group, 0);
	}

	if (!any && filter == NIL && joins == NIL && group == NIL)
		return;
	appendStringInfoChar(buf, ',');
	lineage_facet_head(buf, "columnLineage", "1-2-0/ColumnLineageDatasetFacet.json",
					   "ColumnLineageDatasetFacet");
	appendStringInfo(buf, ",\"fields\":{%s},\"dataset\":[", fields.data);
	append_input_fields(buf, filter, ns, "INDIRECT", "FILTER", &first);
	append_input_fields(buf, joins, ns, "INDIRECT", "JOIN", &first);
	append_input_fields(buf, group, ns, "INDIRECT", "GROUP_BY", &first);
	appendStringInfoString(buf, "]}");
}

/* What lineage_gold_work reads and fills. */
typedef struct GoldLineageWork
{
	const char *sql;
	const char *ns;
	StringInfo	out;			/* NULL: the inputs only, no facet */
	List	   *names;
} GoldLineageWork;

/* Analyse the query (inside a subtransaction: it may not analyse). */
static void
lineage_gold_work(void *arg)
{
	GoldLineageWork *a = (GoldLineageWork *) arg;
	const char *sql = a->sql;
	List	   *raw = pg_parse_query(sql);
	Query	   *q;
	List	   *rels = NIL;
	ListCell   *lc;

	if (list_length(raw) == 1)
	{
		q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
		if (q->commandType == CMD_SELECT)
		{
			(void) rel_walker((Node *) q, &rels);
			foreach(lc, rels)
			{
				Oid			relid = lfirst_oid(lc);

				a->names = lappend(a->names,
								   lh_qualified_name(get_namespace_name(get_rel_namespace(relid)),
													 get_rel_name(relid)));
			}
			if (a->out)
				build_facet(a->out, q, a->ns);
		}
	}
}

/*
 * lineage_gold_columns
 *		Append ",<columnLineage facet>" to buf (nothing if there is no
 *		lineage to show) and set *inputs to the qualified names of the
 *		relations the query reads.  Never raises for a query that does
 *		not analyse.
 */
void
lineage_gold_columns(StringInfo buf, const char *sql, const char *ns, List **inputs)
{
	StringInfoData out;
	GoldLineageWork work;
	ErrorData  *edata;

	initStringInfo(&out);
	work.sql = sql;
	work.ns = ns;
	work.out = &out;
	work.names = NIL;
	edata = lh_try_subxact(lineage_gold_work, &work);
	if (edata)
	{
		FreeErrorData(edata);
		work.names = NIL;
		resetStringInfo(&out);
	}
	appendStringInfoString(buf, out.data);
	*inputs = work.names;
}

/*
 * lineage_gold_inputs
 *		The qualified names of the relations a gold transform reads, as
 *		lineage_gold_columns finds them, without the facet; NIL for a query
 *		that does not analyse.  The caller runs it as the pipeline's owner
 *		(its search_path and rights), as a run does.
 */
List *
lineage_gold_inputs(const char *sql)
{
	GoldLineageWork work;
	ErrorData  *edata;

	work.sql = sql;
	work.ns = NULL;
	work.out = NULL;
	work.names = NIL;
	edata = lh_try_subxact(lineage_gold_work, &work);
	if (edata)
	{
		FreeErrorData(edata);
		return NIL;
	}
	return work.names;
}

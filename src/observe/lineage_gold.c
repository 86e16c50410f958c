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
 * Column lineage, for each output column of the top-level target list,
 * traced to base table columns through joins, FROM subqueries, CTEs
 * (WITH, recursive ones too: a CTE is not entered again from inside
 * itself), every branch of a set operation (UNION, INTERSECT, EXCEPT) and
 * sublinks (scalar subqueries, IN, EXISTS):
 *	- a bare column reference of a base table column, all the way down:
 *	  DIRECT / IDENTITY;
 *	- an expression over columns: DIRECT / AGGREGATION when it or an
 *	  expression it reads aggregates, DIRECT / TRANSFORMATION otherwise,
 *	  listing every base column used;
 *	- what has no base column (constants, functions in FROM, VALUES) is
 *	  not listed; an output column with no traced input is left out of
 *	  the facet.
 * Columns that filter, join or group the rows (WHERE, HAVING,
 * JOIN ... ON, GROUP BY), of the top-level query and of every query it
 * reads from (FROM subqueries, set operation branches, the CTEs it
 * refers to), are listed at dataset level as INDIRECT with subtype
 * FILTER, JOIN or GROUP_BY.
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

/*
 * A query and the query it is nested in: a FROM subquery's, a CTE's (the
 * query whose WITH defines it) or a sublink's.  Vars with varlevelsup and
 * CTE references with ctelevelsup count levels up this chain.
 */
typedef struct QueryLevel
{
	Query	   *query;
	const struct QueryLevel *up;
} QueryLevel;

/*
 * The state of one tracing: the base columns found, the CTEs being
 * expanded (a recursive CTE refers to itself: it is not entered again),
 * a depth bound against pathological nesting, and whether an expression
 * on the way aggregates.
 */
typedef struct Trace
{
	List	   *refs;			/* ColRef, each once */
	List	   *open_ctes;		/* CommonTableExpr being traced */
	int			depth;
	bool		aggregated;		/* an aggregate is on the way */
} Trace;

#define TRACE_MAX_DEPTH 50

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

/* Add a base column to the trace, once. */
static void
trace_add(Trace *t, Oid relid, AttrNumber attno)
{
	ListCell   *lc;
	ColRef	   *c;

	foreach(lc, t->refs)
	{
		c = lfirst(lc);
		if (c->relid == relid && c->attno == attno)
			return;
	}
	c = palloc(sizeof(ColRef));
	c->relid = relid;
	c->attno = attno;
	t->refs = lappend(t->refs, c);
}

/* The level levelsup levels above lv, or NULL. */
static const QueryLevel *
level_up(const QueryLevel *lv, Index levelsup)
{
	while (lv && levelsup-- > 0)
		lv = lv->up;
	return lv;
}

/*
 * The CTE a range table entry of lv refers to, and in *defining the level
 * whose WITH list has it; NULL if it is not found.
 */
static CommonTableExpr *
find_cte(const QueryLevel *lv, RangeTblEntry *rte, const QueryLevel **defining)
{
	const QueryLevel *l = level_up(lv, rte->ctelevelsup);
	ListCell   *lc;

	if (l == NULL)
		return NULL;
	foreach(lc, l->query->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);

		if (strcmp(cte->ctename, rte->ctename) == 0)
		{
			*defining = l;
			return cte;
		}
	}
	return NULL;
}

/* The output list of a query: its target list, or RETURNING list. */
static List *
query_outputs(Query *q)
{
	return q->commandType == CMD_SELECT ? q->targetList : q->returningList;
}

/*
 * The query a range table entry of level lv reads, if it is a FROM
 * subquery or a CTE reference: *sub is that query as a level (a CTE's
 * level is below the query that defines it) and *cte the CTE, or NULL for
 * a subquery.  False for other entries.
 */
static bool
rte_query(const QueryLevel *lv, RangeTblEntry *rte, QueryLevel *sub,
		  CommonTableExpr **cte)
{
	const QueryLevel *defining;

	*cte = NULL;
	if (rte->rtekind == RTE_SUBQUERY && rte->subquery)
	{
		sub->query = rte->subquery;
		sub->up = lv;
		return true;
	}
	if (rte->rtekind != RTE_CTE)
		return false;
	*cte = find_cte(lv, rte, &defining);
	if (*cte == NULL || !IsA((*cte)->ctequery, Query))
		return false;
	sub->query = (Query *) (*cte)->ctequery;
	sub->up = defining;
	return true;
}

/* Add the queries of the branches of a set operation tree of q to *branches. */
static void
setop_collect(Query *q, Node *node, List **branches)
{
	if (node == NULL)
		return;
	if (IsA(node, RangeTblRef))
	{
		RangeTblEntry *rte = rt_fetch(((RangeTblRef *) node)->rtindex, q->rtable);

		if (rte->rtekind == RTE_SUBQUERY && rte->subquery)
			*branches = lappend(*branches, rte->subquery);
	}
	else if (IsA(node, SetOperationStmt))
	{
		setop_collect(q, ((SetOperationStmt *) node)->larg, branches);
		setop_collect(q, ((SetOperationStmt *) node)->rarg, branches);
	}
}

/* The queries of the branches of q's set operation (NIL: none). */
static List *
setop_branches(Query *q)
{
	List	   *branches = NIL;

	setop_collect(q, q->setOperations, &branches);
	return branches;
}

static void trace_expr(const QueryLevel *lv, Node *expr, Trace *t);

/*
 * Trace output column attno of the query of lv (a FROM subquery or a
 * CTE's query): through every branch of a set operation, else through
 * the expression of that column.
 */
static void
trace_query_column(const QueryLevel *lv, AttrNumber attno, Trace *t)
{
	Query	   *q = lv->query;
	TargetEntry *tle;

	if (q->setOperations)
	{
		ListCell   *lc;

		foreach(lc, setop_branches(q))
		{
			QueryLevel	branch = {lfirst(lc), lv};

			trace_query_column(&branch, attno, t);
		}
		return;
	}
	tle = get_tle_by_resno(query_outputs(q), attno);
	if (tle)
		trace_expr(lv, (Node *) tle->expr, t);
}

/*
 * Resolve a Var seen at level lv to the base table columns it comes from:
 * through joins, FROM subqueries, CTEs and set operations.  Columns of
 * functions in FROM, VALUES lists and the like have no base column.
 */
static void
trace_var(const QueryLevel *lv, Var *v, Trace *t)
{
	const QueryLevel *l = level_up(lv, v->varlevelsup);
	RangeTblEntry *rte;
	QueryLevel	sub;
	CommonTableExpr *cte;

	if (l == NULL || t->depth > TRACE_MAX_DEPTH || v->varno < 1 ||
		v->varno > list_length(l->query->rtable) || v->varattno <= 0)
		return;
	t->depth++;
	rte = rt_fetch(v->varno, l->query->rtable);
	if (rte->rtekind == RTE_RELATION)
		trace_add(t, rte->relid, v->varattno);
	else if (rte->rtekind == RTE_JOIN && v->varattno <= list_length(rte->joinaliasvars))
		trace_expr(l, list_nth(rte->joinaliasvars, v->varattno - 1), t);
	else if (rte_query(l, rte, &sub, &cte) && !list_member_ptr(t->open_ctes, cte))
	{
		if (cte)
			t->open_ctes = lappend(t->open_ctes, cte);
		trace_query_column(&sub, v->varattno, t);
		if (cte)
			t->open_ctes = list_delete_last(t->open_ctes);
	}
	t->depth--;
}

/* What trace_walker walks with: the level its Vars belong to. */
typedef struct TraceWalk
{
	const QueryLevel *lv;
	Trace	   *t;
} TraceWalk;

/*
 * Every Var of an expression, looking inside aggregates, window functions
 * and sublinks (whose queries are levels of their own: their Vars are
 * traced there, outer references included).  FROM subqueries and CTEs of
 * a sublink are not walked: its columns that use them are traced into
 * them.
 */
static bool
trace_walker(Node *node, TraceWalk *w)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		trace_var(w->lv, (Var *) node, w->t);
		return false;
	}
	if (IsA(node, Query))
	{
		QueryLevel	sub = {(Query *) node, w->lv};
		TraceWalk	inner = {&sub, w->t};

		if (((Query *) node)->hasAggs)
			w->t->aggregated = true;

		return query_tree_walker((Query *) node, trace_walker, (void *) &inner,
								 QTW_IGNORE_RT_SUBQUERIES | QTW_IGNORE_CTE_SUBQUERIES |
								 QTW_IGNORE_JOINALIASES);
	}
	return expression_tree_walker(node, trace_walker, (void *) w);
}

/* Trace the columns an expression of level lv reads. */
static void
trace_expr(const QueryLevel *lv, Node *expr, Trace *t)
{
	TraceWalk	w = {lv, t};

	if (expr == NULL)
		return;
	if (contain_agg_clause(expr))
		t->aggregated = true;
	(void) trace_walker(expr, &w);
}

static bool query_column_identity(const QueryLevel *lv, AttrNumber attno, List **open,
								  int depth);

/*
 * Is expr (of level lv) a bare column reference, through joins, FROM
 * subqueries, CTEs and every branch of a set operation, with no
 * aggregation on the way?
 */
static bool
is_identity(const QueryLevel *lv, Node *expr, List **open, int depth)
{
	Var		   *v;
	RangeTblEntry *rte;
	QueryLevel	sub;
	CommonTableExpr *cte;
	bool		result;

	while (expr && IsA(expr, RelabelType))
		expr = (Node *) ((RelabelType *) expr)->arg;
	if (expr == NULL || !IsA(expr, Var) || depth > TRACE_MAX_DEPTH)
		return false;
	v = (Var *) expr;
	if (v->varlevelsup != 0 || v->varno < 1 ||
		v->varno > list_length(lv->query->rtable) || v->varattno <= 0)
		return false;
	rte = rt_fetch(v->varno, lv->query->rtable);
	if (rte->rtekind == RTE_RELATION)
		return true;
	if (rte->rtekind == RTE_JOIN && v->varattno <= list_length(rte->joinaliasvars))
		return is_identity(lv, list_nth(rte->joinaliasvars, v->varattno - 1), open,
						   depth + 1);
	if (!rte_query(lv, rte, &sub, &cte))
		return false;
	/* a recursive CTE's reference to itself adds no column of its own */
	if (list_member_ptr(*open, cte))
		return true;
	if (cte)
		*open = lappend(*open, cte);
	result = query_column_identity(&sub, v->varattno, open, depth + 1);
	if (cte)
		*open = list_delete_last(*open);
	return result;
}

/* Is output column attno of lv's query a bare column (see is_identity)? */
static bool
query_column_identity(const QueryLevel *lv, AttrNumber attno, List **open, int depth)
{
	Query	   *q = lv->query;
	TargetEntry *tle;

	if (q->setOperations)
	{
		List	   *branches = setop_branches(q);
		ListCell   *lc;

		foreach(lc, branches)
		{
			QueryLevel	branch = {lfirst(lc), lv};

			if (!query_column_identity(&branch, attno, open, depth + 1))
				return false;
		}
		return branches != NIL;
	}
	tle = get_tle_by_resno(query_outputs(q), attno);
	return tle && is_identity(lv, (Node *) tle->expr, open, depth);
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

/* The join conditions of a jointree of level lv. */
static void
join_quals(const QueryLevel *lv, Node *node, Trace *t)
{
	if (node == NULL)
		return;
	if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;

		join_quals(lv, j->larg, t);
		join_quals(lv, j->rarg, t);
		trace_expr(lv, j->quals, t);
	}
	else if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			join_quals(lv, lfirst(lc), t);
	}
}

/* The columns that filter, join and group the rows (INDIRECT lineage). */
typedef struct Indirect
{
	Trace		filter;
	Trace		join;
	Trace		group;
	List	   *open_ctes;
	int			depth;
} Indirect;

/*
 * Collect the columns that filter (WHERE, HAVING), join (JOIN ... ON) and
 * group (GROUP BY) the rows of lv's query and of the queries it reads:
 * FROM subqueries, set operation branches and the CTEs it refers to, whose
 * filters decide which rows reach the output too.
 */
static void
collect_indirect(const QueryLevel *lv, Indirect *ind)
{
	Query	   *q = lv->query;
	ListCell   *lc;

	if (ind->depth > TRACE_MAX_DEPTH)
		return;
	ind->depth++;
	if (q->jointree)
	{
		trace_expr(lv, q->jointree->quals, &ind->filter);
		join_quals(lv, (Node *) q->jointree, &ind->join);
	}
	trace_expr(lv, q->havingQual, &ind->filter);
	foreach(lc, q->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), q->targetList);

		trace_expr(lv, (Node *) tle->expr, &ind->group);
	}
	foreach(lc, q->rtable)
	{
		QueryLevel	sub;
		CommonTableExpr *cte;

		if (!rte_query(lv, lfirst(lc), &sub, &cte) || list_member_ptr(ind->open_ctes, cte))
			continue;
		if (cte)
			ind->open_ctes = lappend(ind->open_ctes, cte);
		collect_indirect(&sub, ind);
		if (cte)
			ind->open_ctes = list_delete_last(ind->open_ctes);
	}
	ind->depth--;
}

/* ,"columnLineage":{...} of the top-level query q (nothing if empty) */
static void
build_facet(StringInfo buf, Query *q, const char *ns)
{
	QueryLevel	top = {q, NULL};
	ListCell   *lc;
	bool		any = false;
	bool		first = true;
	Indirect	ind;
	StringInfoData fields;

	initStringInfo(&fields);
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		Trace		t = {NIL, NIL, 0, false};
		List	   *open = NIL;
		bool		f = true;

		if (tle->resjunk || tle->resname == NULL)
			continue;
		trace_expr(&top, (Node *) tle->expr, &t);
		if (t.refs == NIL)
			continue;
		if (any)
			appendStringInfoChar(&fields, ',');
		any = true;
		lineage_json_str(&fields, tle->resname);
		appendStringInfoString(&fields, ":{\"inputFields\":[");
		append_input_fields(&fields, t.refs, ns, "DIRECT",
							is_identity(&top, (Node *) tle->expr, &open, 0) ? "IDENTITY" :
							t.aggregated ? "AGGREGATION" : "TRANSFORMATION", &f);
		appendStringInfoString(&fields, "]}");
	}
	memset(&ind, 0, sizeof(ind));
	collect_indirect(&top, &ind);

	if (!any && ind.filter.refs == NIL && ind.join.refs == NIL && ind.group.refs == NIL)
		return;
	appendStringInfoChar(buf, ',');
	lineage_facet_head(buf, "columnLineage", "1-2-0/ColumnLineageDatasetFacet.json",
					   "ColumnLineageDatasetFacet");
	appendStringInfo(buf, ",\"fields\":{%s},\"dataset\":[", fields.data);
	append_input_fields(buf, ind.filter.refs, ns, "INDIRECT", "FILTER", &first);
	append_input_fields(buf, ind.join.refs, ns, "INDIRECT", "JOIN", &first);
	append_input_fields(buf, ind.group.refs, ns, "INDIRECT", "GROUP_BY", &first);
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

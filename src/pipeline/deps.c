/*-------------------------------------------------------------------------
 *
 * deps.c
 *	  Dependencies between pipelines: cycle checks and run order.
 *
 * Dependencies live in lakehouse.pipeline_deps (pipeline -> upstream).  A
 * new edge is refused when it would close a cycle; the run order is a
 * depth-first topological sort done in memory over all edges (a handful
 * of rows), which also detects cycles that were written into the catalog
 * by hand.  Callers are connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "lakehouse.h"
#include "pipeline/pipeline.h"

typedef struct DepEdge
{
	int32		pipeline_id;
	int32		upstream_id;
} DepEdge;

typedef struct DepGraph
{
	int			nedges;
	DepEdge    *edges;
	List	   *order;			/* result: pipeline ids, upstreams first */
	List	   *visiting;		/* DFS stack */
	List	   *done;
} DepGraph;

static char *
describe_path(List *ids)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, ids)
		appendStringInfo(&buf, "%s\"%s\"", foreach_current_index(lc) ? " -> " : "",
						 catalog_pipeline_name(lfirst_int(lc)));
	return buf.data;
}

/* Every dependency edge of the catalog. */
static void
load_graph(DepGraph *g)
{
	List	   *ups;
	List	   *ids = catalog_pipeline_graph(&ups);
	ListCell   *lc1;
	ListCell   *lc2;
	int			i = 0;

	g->nedges = list_length(ids);
	g->edges = palloc(sizeof(DepEdge) * Max(g->nedges, 1));
	forboth(lc1, ids, lc2, ups)
	{
		g->edges[i].pipeline_id = lfirst_int(lc1);
		g->edges[i].upstream_id = lfirst_int(lc2);
		i++;
	}
}

/*
 * A path of dependencies from `from` to `to` (ids, both included), or NIL;
 * depth-first, each pipeline visited once.
 */
static List *
find_path(DepGraph *g, int32 from, int32 to, List **seen)
{
	if (from == to)
		return list_make1_int(to);
	if (list_member_int(*seen, from))
		return NIL;
	*seen = lappend_int(*seen, from);
	for (int i = 0; i < g->nedges; i++)
		if (g->edges[i].pipeline_id == from)
		{
			List	   *rest = find_path(g, g->edges[i].upstream_id, to, seen);

			if (rest != NIL)
				return lcons_int(from, rest);
		}
	return NIL;
}

/*
 * deps_check_acyclic
 *		Raise an error if making pipeline_id depend on upstream_id would
 *		create a cycle (that is, if pipeline_id is already upstream of
 *		upstream_id).
 */
void
deps_check_acyclic(int32 pipeline_id, int32 upstream_id)
{
	DepGraph	g = {0};
	List	   *seen = NIL;
	List	   *path;

	load_graph(&g);
	path = find_path(&g, upstream_id, pipeline_id, &seen);
	if (path != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("dependency of pipeline \"%s\" on \"%s\" would create a cycle",
						catalog_pipeline_name(pipeline_id),
						catalog_pipeline_name(upstream_id)),
				 errdetail("The cycle would be %s.",
						   describe_path(lcons_int(pipeline_id, path)))));
}

static void
visit(DepGraph *g, int32 id)
{
	if (list_member_int(g->done, id))
		return;
	if (list_member_int(g->visiting, id))
	{
		List	   *cycle = NIL;
		bool		in = false;
		ListCell   *lc;

		foreach(lc, g->visiting)
		{
			if (lfirst_int(lc) == id)
				in = true;
			if (in)
				cycle = lappend_int(cycle, lfirst_int(lc));
		}
		cycle = lappend_int(cycle, id);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("pipeline dependencies form a cycle"),
				 errdetail("The cycle is %s.", describe_path(cycle)),
				 errhint("Remove one of the dependencies from lakehouse.pipeline_deps.")));
	}
	g->visiting = lappend_int(g->visiting, id);
	for (int i = 0; i < g->nedges; i++)
		if (g->edges[i].pipeline_id == id)
			visit(g, g->edges[i].upstream_id);
	g->visiting = list_delete_last(g->visiting);
	g->done = lappend_int(g->done, id);
	g->order = lappend_int(g->order, id);
}

/*
 * deps_run_order
 *		All pipelines the given one depends on, directly or not, in an order
 *		where every upstream comes before its dependents; the pipeline
 *		itself is last.
 */
List *
deps_run_order(int32 pipeline_id)
{
	DepGraph	g = {0};

	load_graph(&g);
	visit(&g, pipeline_id);
	return g.order;
}

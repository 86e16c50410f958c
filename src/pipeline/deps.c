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
pipeline_name(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	if (SPI_execute_with_args("SELECT name FROM lakehouse.pipelines WHERE pipeline_id = $1",
							  1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed == 0)
		return psprintf("#%d", pipeline_id);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static char *
describe_path(List *ids)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, ids)
		appendStringInfo(&buf, "%s\"%s\"", foreach_current_index(lc) ? " -> " : "",
						 pipeline_name(lfirst_int(lc)));
	return buf.data;
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
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	int			rc;

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = Int32GetDatum(upstream_id);
	rc = SPI_execute_with_args("WITH RECURSIVE r(id, path) AS ("
							   " SELECT $2, ARRAY[$1, $2]"
							   " UNION ALL"
							   " SELECT d.upstream_id, r.path || d.upstream_id"
							   " FROM lakehouse.pipeline_deps d JOIN r ON d.pipeline_id = r.id"
							   " WHERE d.upstream_id <> ALL (r.path[2:]))"
							   " SELECT path FROM r WHERE id = $1 LIMIT 1",
							   2, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pipeline dependencies: SPI error %d", rc);
	if (SPI_processed > 0)
	{
		bool		isnull;
		ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc,
														   1, &isnull));
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		List	   *path = NIL;
		char	   *pname = pipeline_name(pipeline_id);
		char	   *uname = pipeline_name(upstream_id);

		deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			path = lappend_int(path, DatumGetInt32(elems[i]));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("dependency of pipeline \"%s\" on \"%s\" would create a cycle",
						pname, uname),
				 errdetail("The cycle would be %s.", describe_path(path))));
	}
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
	int			rc;

	rc = SPI_execute("SELECT pipeline_id, upstream_id FROM lakehouse.pipeline_deps"
					 " ORDER BY pipeline_id, upstream_id", false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pipeline dependencies: SPI error %d", rc);
	g.nedges = SPI_processed;
	g.edges = palloc(sizeof(DepEdge) * Max(g.nedges, 1));
	for (int i = 0; i < g.nedges; i++)
	{
		bool		isnull;

		g.edges[i].pipeline_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 1, &isnull));
		g.edges[i].upstream_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
															 SPI_tuptable->tupdesc, 2, &isnull));
	}
	visit(&g, pipeline_id);
	return g.order;
}

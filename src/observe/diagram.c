/*-------------------------------------------------------------------------
 *
 * diagram.c
 *	  The pipeline DAG and the lineage graph as pictures:
 *	  lakehouse.lh_lineage_diagram(format, pipeline) in Mermaid
 *	  ("flowchart LR"), Graphviz DOT ("digraph") or SVG, and the two
 *	  graphs the status page draws (status_page.c).
 *
 * Two graphs are built from the catalog (diagram_build), as LhDiagram:
 *	- the pipeline DAG: one node per pipeline, an edge from each upstream
 *	  pipeline to the pipeline that depends on it (lakehouse.pipeline_deps);
 *	- the lineage graph: per pipeline (a group: a subgraph, a cluster, a
 *	  band of the SVG) its sources, their bronze tables, its silver tables
 *	  (each reading its source's bronze table) and its gold tables, each
 *	  reading the relations its SQL reads.  Those are found as the
 *	  OpenLineage events find them (lineage_gold_inputs: the query is
 *	  parsed and analysed, never run, as the pipeline's owner with the
 *	  pinned search_path of a run); a relation no pipeline writes is a
 *	  node of its own, outside the groups.  A gold query that no longer
 *	  analyses (a dropped input) has no input edges.
 * A node whose stage failed in its pipeline's last run, and a pipeline
 * whose last run failed, is marked failed.
 *
 * Names are never pasted into the output as they are: every label goes
 * through the escaping of its syntax (mermaid_text, dot_text, and
 * lh_xml_escape for SVG), and node identifiers are generated (p1, n1,
 * g1), so no name can end a string, open a tag or start a statement.
 *
 * Everything here only reads: the catalog through the catalog API
 * (catalog_exec, as the catalog owner) and one reporting query of the
 * last runs' failed stages, kept here beside the picture it colours, as
 * metrics.c keeps its queries.  Callers are connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "lakehouse.h"
#include "observe/observe.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_lineage_diagram);

/* The formats of lh_lineage_diagram, as its error lists them. */
#define DIAGRAM_FORMATS "mermaid, dot and svg"

/* What a gold table needs for its input edges. */
typedef struct GoldInput
{
	int			node;
	const char *sql;
	Oid			owner;
} GoldInput;

/* A new, empty graph. */
static LhDiagram *
diagram_new(const char *ungrouped)
{
	LhDiagram  *g = palloc0(sizeof(LhDiagram));

	g->ungrouped = ungrouped;
	return g;
}

/*
 * The index of the node with this key, or -1.  A linear search: graphs
 * have hundreds of nodes, and each is looked up a few times.
 */
static int
diagram_find(LhDiagram *g, const char *key)
{
	ListCell   *lc;

	foreach(lc, g->nodes)
		if (strcmp(((LhDiagramNode *) lfirst(lc))->key, key) == 0)
			return foreach_current_index(lc);
	return -1;
}

/* Add a node (or find the one with its key); returns its index. */
static int
diagram_node(LhDiagram *g, LhDiagramKind kind, const char *key,
			 const char *label, const char *detail, int group)
{
	int			i = diagram_find(g, key);
	LhDiagramNode *n;

	if (i >= 0)
		return i;
	n = palloc0(sizeof(LhDiagramNode));
	n->kind = kind;
	n->key = pstrdup(key);
	n->label = pstrdup(label);
	n->detail = detail ? pstrdup(detail) : NULL;
	n->group = group;
	g->nodes = lappend(g->nodes, n);
	return list_length(g->nodes) - 1;
}

/* Add the edge from -> to. */
static void
diagram_edge(LhDiagram *g, int from, int to)
{
	LhDiagramEdge *e = palloc(sizeof(LhDiagramEdge));

	e->from = from;
	e->to = to;
	g->edges = lappend(g->edges, e);
}

/* The key of a table node: its qualified name. */
static char *
table_key(const char *schema, const char *table)
{
	return psprintf("t:%s", lh_qualified_name(schema, table));
}

/*
 * Keep only the nodes with keep[i] set, the edges between them and the
 * groups that still have nodes; indexes are renumbered in order.
 */
static void
diagram_keep(LhDiagram *g, const bool *keep)
{
	int			n = list_length(g->nodes);
	int		   *node_map = palloc(sizeof(int) * Max(n, 1));
	int		   *group_map = palloc(sizeof(int) * Max(list_length(g->groups), 1));
	bool	   *group_lost = palloc0(sizeof(bool) * Max(list_length(g->groups), 1));
	List	   *nodes = NIL;
	List	   *edges = NIL;
	List	   *groups = NIL;
	ListCell   *lc;

	for (int i = 0; i < list_length(g->groups); i++)
		group_map[i] = -1;
	foreach(lc, g->nodes)
	{
		LhDiagramNode *node = lfirst(lc);
		int			i = foreach_current_index(lc);

		node_map[i] = -1;
		if (!keep[i])
		{
			g->omitted_nodes++;
			if (node->group >= 0)
				group_lost[node->group] = true;
			continue;
		}
		if (node->group >= 0)
		{
			if (group_map[node->group] < 0)
			{
				group_map[node->group] = list_length(groups);
				groups = lappend(groups, list_nth(g->groups, node->group));
			}
			node->group = group_map[node->group];
		}
		node_map[i] = list_length(nodes);
		nodes = lappend(nodes, node);
	}
	foreach(lc, g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		if (node_map[e->from] < 0 || node_map[e->to] < 0)
			continue;
		e->from = node_map[e->from];
		e->to = node_map[e->to];
		edges = lappend(edges, e);
	}
	/* a group counts as left out when none of its nodes is left */
	for (int i = 0; i < list_length(g->groups); i++)
		if (group_lost[i] && group_map[i] < 0)
			g->omitted_groups++;
	g->nodes = nodes;
	g->edges = edges;
	g->groups = groups;
}

/*
 * Keep the nodes of group `group` and every node joined to one of them by
 * an edge (what feeds the pipeline and what reads from it).  For the DAG,
 * whose nodes have no group, the node `group` itself and its neighbours.
 */
static void
diagram_keep_around(LhDiagram *g, int group, int node)
{
	int			n = list_length(g->nodes);
	bool	   *inside = palloc0(sizeof(bool) * Max(n, 1));
	bool	   *keep = palloc0(sizeof(bool) * Max(n, 1));
	ListCell   *lc;

	foreach(lc, g->nodes)
	{
		int			i = foreach_current_index(lc);

		inside[i] = (group >= 0) ?
			((LhDiagramNode *) lfirst(lc))->group == group : i == node;
		keep[i] = inside[i];
	}
	foreach(lc, g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		if (inside[e->from])
			keep[e->to] = true;
		if (inside[e->to])
			keep[e->from] = true;
	}
	diagram_keep(g, keep);
	/* what was filtered away was not asked for: it is not "left out" */
	g->omitted_nodes = 0;
	g->omitted_groups = 0;
}

/*
 * diagram_limit
 *		At most max_nodes nodes: whole groups, in order, while they fit (the
 *		first one always), then the nodes outside the groups that are still
 *		joined to a kept node.  Counts what was left out in the graph.
 */
void
diagram_limit(LhDiagram *g, int max_nodes)
{
	int			n = list_length(g->nodes);
	int			ngroups = list_length(g->groups);
	int		   *group_size;
	bool	   *group_kept;
	bool	   *keep;
	int			total = 0;
	ListCell   *lc;

	if (n <= max_nodes)
		return;
	group_size = palloc0(sizeof(int) * (ngroups + 1));
	group_kept = palloc0(sizeof(bool) * (ngroups + 1));
	keep = palloc0(sizeof(bool) * n);
	foreach(lc, g->nodes)
	{
		LhDiagramNode *node = lfirst(lc);

		group_size[node->group >= 0 ? node->group : ngroups]++;
	}
	for (int i = 0; i < ngroups; i++)
	{
		if (i > 0 && total + group_size[i] > max_nodes)
			break;
		group_kept[i] = true;
		total += group_size[i];
	}
	foreach(lc, g->nodes)
	{
		LhDiagramNode *node = lfirst(lc);
		int			i = foreach_current_index(lc);

		keep[i] = node->group >= 0 ? group_kept[node->group] :
			(ngroups == 0 && total++ < max_nodes);
	}
	/* nodes outside the groups: those a kept node reads or is read by */
	if (ngroups > 0)
		foreach(lc, g->edges)
		{
			LhDiagramEdge *e = lfirst(lc);
			LhDiagramNode *from = list_nth(g->nodes, e->from);
			LhDiagramNode *to = list_nth(g->nodes, e->to);

			if (from->group < 0 && !keep[e->from] && keep[e->to] && total < max_nodes)
			{
				keep[e->from] = true;
				total++;
			}
			if (to->group < 0 && !keep[e->to] && keep[e->from] && total < max_nodes)
			{
				keep[e->to] = true;
				total++;
			}
		}
	diagram_keep(g, keep);
}

/*
 * The last run (not skipped) of every pipeline: the pipelines whose last
 * run failed, and the targets of the stages that failed in it, as two
 * parallel lists (pipeline id, target; target NULL for the run itself).
 * A reporting query, see the file header.
 */
static void
diagram_failures(List **pipeline_ids, List **targets)
{
	*pipeline_ids = NIL;
	*targets = NIL;
	catalog_exec("SELECT p.pipeline_id, s.target"
				 "  FROM lakehouse.pipelines p"
				 "  CROSS JOIN LATERAL (SELECT x.run_id, x.status FROM lakehouse.runs x"
				 "                       WHERE x.pipeline_id = p.pipeline_id"
				 "                         AND x.status <> 'skipped'"
				 "                       ORDER BY x.run_id DESC LIMIT 1) r"
				 "  LEFT JOIN lakehouse.run_stages s"
				 "    ON s.run_id = r.run_id AND s.status = 'failed'"
				 " WHERE r.status = 'failed'"
				 " ORDER BY 1, 2",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		*pipeline_ids = lappend_int(*pipeline_ids, catalog_int32(i, 1, 0));
		*targets = lappend(*targets, catalog_text(i, 2));
	}
}

/* The sources, bronze, silver and gold tables of one pipeline. */
static void
build_pipeline_lineage(LhDiagram *g, LhPipeline *p, int group, List **golds)
{
	List	   *sources = catalog_pipeline_sources(p->pipeline_id, false);
	List	   *silver = catalog_pipeline_tables(p->pipeline_id, "silver");
	List	   *gold = catalog_pipeline_tables(p->pipeline_id, "gold");
	ListCell   *lc;

	foreach(lc, sources)
	{
		LhSource   *src = lfirst(lc);
		int			s;
		int			b;

		s = diagram_node(g, LHD_SOURCE, psprintf("s:%s", src->name), src->name,
						 psprintf(src->enabled ? "%s source" : "%s source, disabled",
								  src->kind),
						 group);
		b = diagram_node(g, LHD_BRONZE, table_key(src->bronze_schema, src->bronze_table),
						 lh_qualified_name(src->bronze_schema, src->bronze_table),
						 "bronze", group);
		diagram_edge(g, s, b);
	}
	foreach(lc, silver)
	{
		LhTable    *t = lfirst(lc);
		int			n;

		n = diagram_node(g, LHD_SILVER, table_key(t->schema_name, t->table_name),
						 lh_qualified_name(t->schema_name, t->table_name),
						 "silver", group);
		if (t->source_id != 0)
		{
			LhSource   *src = catalog_source_by_id(t->source_id, true);
			int			b = src ? diagram_find(g, table_key(src->bronze_schema,
															src->bronze_table)) : -1;

			if (b >= 0)
				diagram_edge(g, b, n);
		}
	}
	foreach(lc, gold)
	{
		LhTable    *t = lfirst(lc);
		GoldInput  *in = palloc(sizeof(GoldInput));

		in->node = diagram_node(g, LHD_GOLD, table_key(t->schema_name, t->table_name),
								lh_qualified_name(t->schema_name, t->table_name),
								psprintf("gold, %s", t->gold_kind), group);
		in->sql = t->sql;
		in->owner = p->owner;
		*golds = lappend(*golds, in);
	}
}

/*
 * The relations each gold table reads, as its owner analyses its SQL, as
 * edges; relations no pipeline writes become nodes outside the groups.
 */
static void
build_gold_inputs(LhDiagram *g, List *golds)
{
	ListCell   *lc;

	foreach(lc, golds)
	{
		GoldInput  *in = lfirst(lc);
		List	   *inputs = NIL;
		ListCell   *lc2;

		/* a pipeline whose owner was dropped runs nothing: nothing to read */
		if (OidIsValid(in->owner))
		{
			LhIdentity	id;

			lh_owner_begin(in->owner, &id);
			inputs = lineage_gold_inputs(in->sql);
			lh_owner_end(&id);
		}
		foreach(lc2, inputs)
		{
			char	   *qualified = lfirst(lc2);
			char	   *key = psprintf("t:%s", qualified);
			int			from = diagram_find(g, key);

			if (from < 0)
				from = diagram_node(g, LHD_TABLE, key, qualified, "table", -1);
			diagram_edge(g, from, in->node);
		}
	}
}

/* The index of a pipeline in pipelines (and so in the DAG's nodes), or -1. */
static int
pipeline_index(List *pipelines, int32 pipeline_id)
{
	ListCell   *lc;

	foreach(lc, pipelines)
		if (((LhPipeline *) lfirst(lc))->pipeline_id == pipeline_id)
			return foreach_current_index(lc);
	return -1;
}

/* The DAG's edges: from each upstream pipeline to the one depending on it. */
static void
build_dag_edges(LhDiagram *dag, List *pipelines)
{
	List	   *upstream;
	List	   *downstream = catalog_pipeline_graph(&upstream);
	ListCell   *lc;
	ListCell   *lc2;

	forboth(lc, downstream, lc2, upstream)
	{
		int			from = pipeline_index(pipelines, lfirst_int(lc2));
		int			to = pipeline_index(pipelines, lfirst_int(lc));

		if (from >= 0 && to >= 0)
			diagram_edge(dag, from, to);
	}
}

/*
 * Mark what failed in the last runs: the pipelines, and the tables whose
 * stage failed; a failed ingest names its bronze table, but it is the
 * source that failed.
 */
static void
mark_failures(LhDiagram *dag, LhDiagram *lineage, List *pipelines)
{
	List	   *ids;
	List	   *targets;
	ListCell   *lc;
	ListCell   *lc2;

	diagram_failures(&ids, &targets);
	forboth(lc, ids, lc2, targets)
	{
		int			p = pipeline_index(pipelines, lfirst_int(lc));
		char	   *target = lfirst(lc2);
		int			n;
		LhDiagramNode *node;
		ListCell   *lc3;

		if (p >= 0)
			((LhDiagramNode *) list_nth(dag->nodes, p))->failed = true;
		n = target ? diagram_find(lineage, psprintf("t:%s", target)) : -1;
		if (n < 0)
			continue;
		node = list_nth(lineage->nodes, n);
		if (node->kind != LHD_BRONZE)
		{
			node->failed = true;
			continue;
		}
		foreach(lc3, lineage->edges)
		{
			LhDiagramEdge *e = lfirst(lc3);
			LhDiagramNode *from = list_nth(lineage->nodes, e->from);

			if (e->to == n && from->kind == LHD_SOURCE)
				from->failed = true;
		}
	}
}

/*
 * diagram_build
 *		The pipeline DAG and the lineage graph of every pipeline (of the
 *		first max_pipelines by name, if > 0; the others are counted as left
 *		out), or of the named one and its neighbours (an error if it does
 *		not exist).
 */
void
diagram_build(const char *pipeline, int max_pipelines, LhDiagram **dag_out,
			  LhDiagram **lineage_out)
{
	LhDiagram  *dag = diagram_new(NULL);
	LhDiagram  *lineage = diagram_new("other tables");
	List	   *pipelines;
	List	   *golds = NIL;
	int64		total;
	ListCell   *lc;
	int			focus = -1;
	int32		focus_id = 0;

	if (pipeline != NULL)
	{
		focus_id = catalog_pipeline_by_name(pipeline, false)->pipeline_id;
		max_pipelines = 0;
	}
	pipelines = catalog_pipelines(max_pipelines, &total);
	dag->omitted_groups = lineage->omitted_groups = total - list_length(pipelines);
	dag->omitted_nodes = dag->omitted_groups;

	foreach(lc, pipelines)
	{
		LhPipeline *p = lfirst(lc);
		int			group = list_length(lineage->groups);

		if (p->pipeline_id == focus_id)
			focus = group;
		(void) diagram_node(dag, LHD_PIPELINE, p->name, p->name,
							p->schedule ? psprintf("schedule %s", p->schedule) : NULL,
							-1);
		lineage->groups = lappend(lineage->groups, p->name);
		build_pipeline_lineage(lineage, p, group, &golds);
	}
	build_gold_inputs(lineage, golds);

	build_dag_edges(dag, pipelines);
	mark_failures(dag, lineage, pipelines);

	if (pipeline != NULL)
	{
		diagram_keep_around(dag, -1, focus);
		diagram_keep_around(lineage, focus, -1);
	}
	*dag_out = dag;
	*lineage_out = lineage;
}

/* ---------- Mermaid ---------- */

/*
 * A label inside a Mermaid "quoted string".  Mermaid replaces #<code>; by
 * the character (#35; is "#"), so every ASCII character but letters,
 * digits, space and _-.,/() is written that way: quotes cannot end the
 * string, <>& cannot make markup, `, $ and : cannot start markdown,
 * math or style text.  Other characters (UTF-8, or the database's
 * encoding) are written as they are.
 */
static void
mermaid_text(StringInfo buf, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (*p >= 0x80 || isalnum(*p) || strchr(" _-.,/()", *p) != NULL)
			appendStringInfoChar(buf, (char) *p);
		else
			appendStringInfo(buf, "#%d;", (int) *p);
	}
}

/* A node's quoted label: its name, and its detail on a second line. */
static void
mermaid_label(StringInfo buf, LhDiagramNode *n)
{
	appendStringInfoChar(buf, '"');
	mermaid_text(buf, n->label);
	if (n->detail)
	{
		appendStringInfoString(buf, "<br>");
		mermaid_text(buf, n->detail);
	}
	appendStringInfoChar(buf, '"');
}

/* A node with its shape and class; indented deeper inside a subgraph. */
static void
mermaid_node(StringInfo buf, const char *prefix, int i, LhDiagramNode *n, bool nested)
{
	static const char *const open[] = {"(", "([", "[", "[", "[", "["};
	static const char *const close[] = {")", "])", "]", "]", "]", "]"};
	static const char *const class[] = {"lhPipeline", "lhSource", "lhBronze",
	"lhSilver", "lhGold", "lhTable"};

	appendStringInfo(buf, "%s%s%d%s", nested ? "    " : "  ", prefix, i + 1, open[n->kind]);
	mermaid_label(buf, n);
	appendStringInfo(buf, "%s:::%s\n", close[n->kind], class[n->kind]);
}

/* The edges and failed marks of a graph whose nodes are named prefix<n>. */
static void
mermaid_edges(StringInfo buf, LhDiagram *g, const char *prefix)
{
	ListCell   *lc;
	bool		any = false;

	foreach(lc, g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		appendStringInfo(buf, "  %s%d --> %s%d\n", prefix, e->from + 1, prefix, e->to + 1);
	}
	foreach(lc, g->nodes)
	{
		if (!((LhDiagramNode *) lfirst(lc))->failed)
			continue;
		appendStringInfo(buf, any ? ",%s%d" : "  class %s%d", prefix,
						 foreach_current_index(lc) + 1);
		any = true;
	}
	if (any)
		appendStringInfoString(buf, " lhFailed\n");
}

/* A pipeline's subgraph, Mermaid. */
static void
mermaid_group(StringInfo buf, int grp, const char *name)
{
	appendStringInfo(buf, "  subgraph g%d[\"pipeline ", grp + 1);
	mermaid_text(buf, name);
	appendStringInfoString(buf, "\"]\n");
}

/* ---------- Graphviz DOT ---------- */

/*
 * A DOT "quoted string" used as a label: " and \ are escaped with a
 * backslash (so no name can end the string, and \N, \G and the like stay
 * text), a line break becomes \n, other control characters "?".
 */
static void
dot_text(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
		{
			appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, *s);
		}
		else if (*s == '\n')
			appendStringInfoString(buf, "\\n");
		else if ((unsigned char) *s < 0x20 || *s == 0x7f)
			appendStringInfoChar(buf, '?');
		else
			appendStringInfoChar(buf, *s);
	}
}

/* One node statement; indented deeper inside a cluster. */
static void
dot_node(StringInfo buf, const char *prefix, int i, LhDiagramNode *n, bool nested)
{
	static const char *const shape[] = {
		"shape=box, style=\"rounded,filled\", fillcolor=\"#e8f5e9\"",
		"shape=ellipse, style=filled, fillcolor=\"#e3ecfa\"",
		"shape=box, style=filled, fillcolor=\"#f6e5d6\"",
		"shape=box, style=filled, fillcolor=\"#eceff1\"",
		"shape=box, style=filled, fillcolor=\"#fff3c4\"",
		"shape=box, style=\"dashed,filled\", fillcolor=\"#ffffff\""};
	static const char *const color[] = {"#2e7d32", "#3f6db3", "#a0522d", "#607d8b",
	"#b8860b", "#9e9e9e"};

	appendStringInfo(buf, "%s\"%s%d\" [label=\"", nested ? "    " : "  ", prefix, i + 1);
	dot_text(buf, n->label);
	if (n->detail)
	{
		appendStringInfoString(buf, "\\n");
		dot_text(buf, n->detail);
	}
	appendStringInfo(buf, "\", %s, color=\"%s\"%s];\n", shape[n->kind],
					 n->failed ? "#c62828" : color[n->kind],
					 n->failed ? ", penwidth=3" : "");
}

/* The edges of a graph whose nodes are named prefix<n>. */
static void
dot_edges(StringInfo buf, LhDiagram *g, const char *prefix)
{
	ListCell   *lc;

	foreach(lc, g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		appendStringInfo(buf, "  \"%s%d\" -> \"%s%d\";\n", prefix, e->from + 1,
						 prefix, e->to + 1);
	}
}

/* A pipeline's cluster, DOT. */
static void
dot_group(StringInfo buf, int grp, const char *name)
{
	appendStringInfo(buf, "  subgraph \"cluster_g%d\" {\n    label=\"pipeline ", grp + 1);
	dot_text(buf, name);
	appendStringInfoString(buf, "\"; style=rounded; color=\"#bdbdbd\";\n");
}

/* ---------- one writer, two syntaxes ---------- */

/*
 * What a text syntax writes: fixed text around the graphs, and its node,
 * group and edge statements.
 */
typedef struct DiagramSyntax
{
	const char *head;			/* first */
	const char *empty;			/* the rest, when there is no pipeline */
	const char *dag_open;		/* the container of the pipeline DAG */
	const char *lineage_head;	/* before the lineage */
	const char *group_close;	/* ends a container */
	const char *tail;			/* last */
	void		(*node) (StringInfo buf, const char *prefix, int i, LhDiagramNode *n,
						 bool nested);
	void		(*group) (StringInfo buf, int grp, const char *name);
	void		(*edges) (StringInfo buf, LhDiagram *g, const char *prefix);
} DiagramSyntax;

static const DiagramSyntax mermaid_syntax = {
	.head = "flowchart LR\n",
	.empty = "  none[\"no pipelines yet\"]\n",
	.dag_open = "  %% the pipelines; an arrow points to a pipeline that depends on another\n"
	"  subgraph pipelines[\"pipelines\"]\n",
	.lineage_head = "  %% lineage: sources, bronze, silver and gold tables, by pipeline\n",
	.group_close = "  end\n",
	.tail = "  classDef lhPipeline fill:#e8f5e9,stroke:#2e7d32\n"
	"  classDef lhSource fill:#e3ecfa,stroke:#3f6db3\n"
	"  classDef lhBronze fill:#f6e5d6,stroke:#a0522d\n"
	"  classDef lhSilver fill:#eceff1,stroke:#607d8b\n"
	"  classDef lhGold fill:#fff3c4,stroke:#b8860b\n"
	"  classDef lhTable fill:#ffffff,stroke:#9e9e9e,stroke-dasharray:4 3\n"
	"  classDef lhFailed stroke:#c62828,stroke-width:3px\n",
	.node = mermaid_node,
	.group = mermaid_group,
	.edges = mermaid_edges,
};

static const DiagramSyntax dot_syntax = {
	.head = "// lakehouse: the pipelines and the lineage of their tables\n"
	"digraph \"lakehouse\" {\n"
	"  graph [rankdir=LR, fontname=\"Helvetica,Arial,sans-serif\", fontsize=11];\n"
	"  node [fontname=\"Helvetica,Arial,sans-serif\", fontsize=10];\n"
	"  edge [color=\"#757575\", arrowsize=0.7];\n",
	.empty = "  \"none\" [label=\"no pipelines yet\", shape=plaintext];\n}\n",
	.dag_open = "  subgraph \"cluster_pipelines\" {\n"
	"    label=\"pipelines\"; style=dashed; color=\"#9e9e9e\";\n",
	.lineage_head = "",
	.group_close = "  }\n",
	.tail = "}\n",
	.node = dot_node,
	.group = dot_group,
	.edges = dot_edges,
};

/*
 * Both graphs in a text syntax: the DAG in a container "pipelines", then
 * the lineage, one container per pipeline (nodes outside the groups
 * first, outside any container).
 */
static void
diagram_write(StringInfo buf, const DiagramSyntax *syn, LhDiagram *dag, LhDiagram *lineage)
{
	ListCell   *lc;

	appendStringInfoString(buf, syn->head);
	if (dag->nodes == NIL && lineage->nodes == NIL)
	{
		appendStringInfoString(buf, syn->empty);
		return;
	}
	appendStringInfoString(buf, syn->dag_open);
	foreach(lc, dag->nodes)
		syn->node(buf, "p", foreach_current_index(lc), lfirst(lc), true);
	appendStringInfoString(buf, syn->group_close);
	syn->edges(buf, dag, "p");

	appendStringInfoString(buf, syn->lineage_head);
	for (int grp = -1; grp < list_length(lineage->groups); grp++)
	{
		bool		open = false;

		foreach(lc, lineage->nodes)
		{
			LhDiagramNode *n = lfirst(lc);

			if (n->group != grp)
				continue;
			if (grp >= 0 && !open)
			{
				syn->group(buf, grp, list_nth(lineage->groups, grp));
				open = true;
			}
			syn->node(buf, "n", foreach_current_index(lc), n, grp >= 0);
		}
		if (open)
			appendStringInfoString(buf, syn->group_close);
	}
	syn->edges(buf, lineage, "n");
	appendStringInfoString(buf, syn->tail);
}

/*
 * diagram_mermaid
 *		Both graphs as one Mermaid flowchart.
 */
void
diagram_mermaid(StringInfo buf, LhDiagram *dag, LhDiagram *lineage)
{
	diagram_write(buf, &mermaid_syntax, dag, lineage);
}

/*
 * diagram_dot
 *		Both graphs as one Graphviz digraph (clusters for the containers).
 */
void
diagram_dot(StringInfo buf, LhDiagram *dag, LhDiagram *lineage)
{
	diagram_write(buf, &dot_syntax, dag, lineage);
}

/*
 * lh_lineage_diagram(format text, pipeline text) returns text
 *		The pipeline DAG and the lineage graph in the format asked for, of
 *		every pipeline or of one and its neighbours.
 */
Datum
lh_lineage_diagram(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	char	   *format;
	char	   *pipeline = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	LhDiagram  *dag;
	LhDiagram  *lineage;
	StringInfoData buf;
	text	   *result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("diagram format must not be null"),
				 errdetail("The formats are " DIAGRAM_FORMATS ".")));
	format = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(format, "mermaid") != 0 && strcmp(format, "dot") != 0 &&
		strcmp(format, "svg") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized diagram format: \"%s\"", format),
				 errdetail("The formats are " DIAGRAM_FORMATS "."),
				 errhint("Mermaid renders in Markdown viewers, DOT with Graphviz (dot -Tsvg), SVG in any browser.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	diagram_build(pipeline, 0, &dag, &lineage);
	initStringInfo(&buf);
	if (strcmp(format, "mermaid") == 0)
		diagram_mermaid(&buf, dag, lineage);
	else if (strcmp(format, "dot") == 0)
		diagram_dot(&buf, dag, lineage);
	else
		diagram_svg_document(&buf, dag, lineage);
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		result = cstring_to_text_with_len(buf.data, buf.len);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

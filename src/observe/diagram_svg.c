/*-------------------------------------------------------------------------
 *
 * diagram_svg.c
 *	  A small, deterministic layered layout of an LhDiagram (diagram.c),
 *	  drawn as SVG: for the status page (inline) and for
 *	  lh_lineage_diagram('svg').  No Graphviz, no script: boxes, bands and
 *	  paths computed here.
 *
 * The layout, in four steps, each deterministic (the same graph always
 * gives the same picture, byte for byte):
 *	1. Back edges: a depth-first search in node order marks the edges
 *	   that close a cycle (a gold table reading itself, two reading each
 *	   other); they are drawn, but do not order the columns.
 *	2. Columns: the longest path from a node without inputs, over the
 *	   other edges, but at least the column of the node's layer (sources
 *	   0, bronze 1, silver 2, gold 3; a gold table reading gold 4); a node
 *	   without inputs moves right, next to the first node it feeds (a
 *	   table read by gold stands just left of it).
 *	3. Bands: the nodes of one group (pipeline) form a horizontal band
 *	   with the pipeline's name; the nodes outside the groups come last.
 *	   Inside a band, each column is ordered by the mean row of the
 *	   node's inputs in that band (the barycenter heuristic, one sweep
 *	   left to right), so chains stay straight.  In a graph without
 *	   groups (the pipeline DAG), nodes without any edge (pipelines that
 *	   depend on none and that none depends on) fill a grid below the
 *	   others, a few to a row, rather than one tall column.
 *	4. Drawing: boxes of one width (from the longest name, bounded;
 *	   longer names are cut with an ellipsis, the full name is the box's
 *	   tooltip), cubic curves from right side to left side (over more
 *	   than one column along the gap above the rows, not through the
 *	   boxes between), a dashed curve below the boxes for back edges, a
 *	   loop for an edge to itself.
 * Text widths are estimated (7 px a character at 12 px, wide characters
 * count twice): no font is measured.
 *
 * Every text goes through lh_xml_escape, valid in XML (the SVG document),
 * in HTML text and in double-quoted HTML attributes (the status page).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "observe/observe.h"

#define SVG_MARGIN		12
#define SVG_BOX_H		40
#define SVG_ROW_H		54
#define SVG_COL_GAP		56
#define SVG_BAND_HEAD	22
#define SVG_BAND_PAD	10
#define SVG_BAND_GAP	10
#define SVG_LOOP		26
#define SVG_CHAR_W		7
#define SVG_SMALL_W		6
#define SVG_MIN_BOX_W	110
#define SVG_MAX_BOX_W	220
#define SVG_HEADING_H	26
#define SVG_GRID_COLUMNS 5
#define SVG_FONT		"DejaVu Sans, Liberation Sans, Arial, sans-serif"

/* Fill and stroke of each LhDiagramKind, and the corner radius. */
static const char *const kind_fill[] = {"#e8f5e9", "#e3ecfa", "#f6e5d6", "#eceff1",
"#fff3c4", "#ffffff"};
static const char *const kind_stroke[] = {"#2e7d32", "#3f6db3", "#a0522d", "#607d8b",
"#b8860b", "#9e9e9e"};
static const int kind_radius[] = {10, 20, 3, 3, 3, 3};
/* The first column a node of each kind may stand in. */
static const int kind_column[] = {0, 0, 1, 2, 3, 0};

/* A graph laid out: positions of its nodes and bands, its size. */
typedef struct SvgLayout
{
	LhDiagram  *g;
	int			n;
	int		   *x;
	int		   *y;
	int		   *layer;
	int		   *band;
	bool	   *back;			/* per edge: closes a cycle */
	int			box_w;
	int			nbands;			/* the groups', the ungrouped, the grid */
	int		   *band_top;		/* -1: empty band */
	int		   *band_bottom;
	int			width;
	int			height;
} SvgLayout;

/*
 * lh_xml_escape
 *		Append s escaped for XML and HTML text and double- or single-quoted
 *		attributes: & < > " ' as references; control characters that XML
 *		does not allow become "?".
 */
void
lh_xml_escape(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		switch (*s)
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			case '"':
				appendStringInfoString(buf, "&quot;");
				break;
			case '\'':
				appendStringInfoString(buf, "&#39;");
				break;
			default:
				if (((unsigned char) *s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') ||
					*s == 0x7f)
					appendStringInfoChar(buf, '?');
				else
					appendStringInfoChar(buf, *s);
		}
	}
}

/* Screen columns of s: wide (three- and four-byte UTF-8) characters count two. */
static int
text_columns(const char *s)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	int			cols = 0;
	int			left = strlen(s);

	while (left > 0)
	{
		int			len = Min(pg_mblen(s), left);

		cols += (utf8 && len >= 3) ? 2 : 1;
		s += len;
		left -= len;
	}
	return cols;
}

/* s cut to at most max_cols columns, with an ellipsis if it was cut. */
static char *
fit_text(const char *s, int max_cols)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	const char *ellipsis = utf8 ? "\xe2\x80\xa6" : "...";
	int			ellipsis_cols = utf8 ? 1 : 3;
	int			cols = 0;
	int			left = strlen(s);
	const char *p = s;

	if (text_columns(s) <= max_cols)
		return (char *) s;
	while (left > 0)
	{
		int			len = Min(pg_mblen(p), left);
		int			w = (utf8 && len >= 3) ? 2 : 1;

		if (cols + w > max_cols - ellipsis_cols)
			break;
		cols += w;
		p += len;
		left -= len;
	}
	return psprintf("%.*s%s", (int) (p - s), s, ellipsis);
}

/*
 * Step 1: mark the edges that close a cycle, by an iterative depth-first
 * search from each node in order (edges in order).
 */
static void
layout_back_edges(SvgLayout *l, List **out)
{
	int			n = l->n;
	char	   *state = palloc0(n);	/* 0 new, 1 on the stack, 2 done */
	int		   *stack = palloc(sizeof(int) * n);
	int		   *next = palloc0(sizeof(int) * n);	/* next out-edge to try */

	for (int root = 0; root < n; root++)
	{
		int			depth = 0;

		if (state[root] != 0)
			continue;
		stack[depth++] = root;
		state[root] = 1;
		while (depth > 0)
		{
			int			u = stack[depth - 1];

			if (next[u] < list_length(out[u]))
			{
				int			e = list_nth_int(out[u], next[u]++);
				int			v = ((LhDiagramEdge *) list_nth(l->g->edges, e))->to;

				if (state[v] == 1)
					l->back[e] = true;
				else if (state[v] == 0)
				{
					state[v] = 1;
					stack[depth++] = v;
				}
			}
			else
			{
				state[u] = 2;
				depth--;
			}
		}
	}
}

/*
 * Step 2: columns.  Without back edges the graph is acyclic: relax the
 * edges in topological order (Kahn's algorithm, lowest index first).
 */
static void
layout_layers(SvgLayout *l, List **out)
{
	int			n = l->n;
	int		   *indegree = palloc0(sizeof(int) * n);
	int		   *queue = palloc(sizeof(int) * n);
	int			head = 0;
	int			tail = 0;
	ListCell   *lc;

	foreach(lc, l->g->edges)
		if (!l->back[foreach_current_index(lc)])
			indegree[((LhDiagramEdge *) lfirst(lc))->to]++;
	for (int i = 0; i < n; i++)
	{
		l->layer[i] = kind_column[((LhDiagramNode *) list_nth(l->g->nodes, i))->kind];
		if (indegree[i] == 0)
			queue[tail++] = i;
	}
	while (head < tail)
	{
		int			u = queue[head++];

		foreach(lc, out[u])
		{
			int			e = lfirst_int(lc);
			int			v = ((LhDiagramEdge *) list_nth(l->g->edges, e))->to;

			if (l->back[e])
				continue;
			l->layer[v] = Max(l->layer[v], l->layer[u] + 1);
			if (--indegree[v] == 0)
				queue[tail++] = v;
		}
	}
	/* a node without inputs moves right, next to the first node it feeds */
	for (int u = 0; u < n; u++)
	{
		int			nearest = INT_MAX;
		bool		has_input = false;

		foreach(lc, l->g->edges)
		{
			LhDiagramEdge *e = lfirst(lc);

			if (l->back[foreach_current_index(lc)])
				continue;
			if (e->to == u)
				has_input = true;
			if (e->from == u)
				nearest = Min(nearest, l->layer[e->to]);
		}
		if (!has_input && nearest != INT_MAX && nearest - 1 > l->layer[u])
			l->layer[u] = nearest - 1;
	}
}

/* qsort comparator for layout_rows: by wanted row, then node index. */
static int
row_cmp(const void *a, const void *b, void *arg)
{
	const double *want = (const double *) arg;
	int			i = *(const int *) a;
	int			j = *(const int *) b;

	if (want[i] != want[j])
		return want[i] < want[j] ? -1 : 1;
	return i - j;
}

/*
 * Step 3: rows inside each band but the grid, column by column; returns
 * the rows of each band in band_rows (0: empty band).
 */
static void
layout_rows(SvgLayout *l, int *row, int *band_rows, int maxlayer)
{
	int			n = l->n;
	int		   *members = palloc(sizeof(int) * n);
	double	   *want = palloc(sizeof(double) * n);
	ListCell   *lc;

	for (int b = 0; b < l->nbands - 1; b++)
	{
		for (int layer = 0; layer <= maxlayer; layer++)
		{
			int			k = 0;
			int			prev = -1;

			for (int i = 0; i < n; i++)
			{
				LhDiagramNode *node = list_nth(l->g->nodes, i);
				double		sum = 0;
				int			count = 0;

				if (l->band[i] != b || l->layer[i] != layer)
					continue;
				members[k++] = i;
				foreach(lc, l->g->edges)
				{
					LhDiagramEdge *e = lfirst(lc);
					LhDiagramNode *from = list_nth(l->g->nodes, e->from);

					if (e->to != i || l->back[foreach_current_index(lc)] ||
						from->group != node->group)
						continue;
					sum += row[e->from];
					count++;
				}
				/* without inputs in the band: after those with, in order */
				want[i] = count > 0 ? sum / count : (double) n + i;
			}
			qsort_arg(members, k, sizeof(int), row_cmp, want);
			for (int m = 0; m < k; m++)
			{
				int			i = members[m];
				int			wanted = want[i] < n ? (int) (want[i] + 0.5) : prev + 1;

				row[i] = Max(wanted, prev + 1);
				prev = row[i];
			}
			band_rows[b] = Max(band_rows[b], prev + 1);
		}
	}
}

/*
 * Nodes without any edge in a graph without groups go to the grid band,
 * a few to a row (at least as many as the other nodes' columns, at most
 * SVG_GRID_COLUMNS unless those are more); returns the grid's columns.
 */
static int
layout_grid(SvgLayout *l, int *row, int *band_rows, int maxlayer)
{
	int			grid = l->nbands - 1;
	bool	   *linked = palloc0(sizeof(bool) * Max(l->n, 1));
	int			k = 0;
	int			columns;
	int			m = 0;
	ListCell   *lc;

	if (l->g->groups != NIL)
		return 0;
	foreach(lc, l->g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		linked[e->from] = linked[e->to] = true;
	}
	for (int i = 0; i < l->n; i++)
		if (!linked[i])
			k++;
	if (k < 2)
		return 0;
	columns = Min(k, Max(maxlayer + 1, SVG_GRID_COLUMNS));
	for (int i = 0; i < l->n; i++)
	{
		if (linked[i])
			continue;
		l->band[i] = grid;
		l->layer[i] = m % columns;
		row[i] = m / columns;
		m++;
	}
	band_rows[grid] = (k + columns - 1) / columns;
	return columns;
}

/* Lay out a graph (steps 1 to 3, then coordinates). */
static SvgLayout *
svg_layout(LhDiagram *g)
{
	SvgLayout  *l = palloc0(sizeof(SvgLayout));
	int			n = list_length(g->nodes);
	List	  **out = palloc0(sizeof(List *) * Max(n, 1));
	int		   *row = palloc0(sizeof(int) * Max(n, 1));
	int		   *band_rows;
	int			maxlayer = 0;
	int			widest = 0;
	int			top = SVG_MARGIN;
	bool		any_back = false;
	bool		any_loop = false;
	int			ngroups = list_length(g->groups);
	ListCell   *lc;

	l->g = g;
	l->n = n;
	l->x = palloc0(sizeof(int) * Max(n, 1));
	l->y = palloc0(sizeof(int) * Max(n, 1));
	l->layer = palloc0(sizeof(int) * Max(n, 1));
	l->band = palloc0(sizeof(int) * Max(n, 1));
	l->back = palloc0(sizeof(bool) * Max(list_length(g->edges), 1));
	l->nbands = ngroups + 2;
	l->band_top = palloc(sizeof(int) * l->nbands);
	l->band_bottom = palloc(sizeof(int) * l->nbands);
	band_rows = palloc0(sizeof(int) * l->nbands);

	foreach(lc, g->nodes)
	{
		LhDiagramNode *node = lfirst(lc);

		l->band[foreach_current_index(lc)] = node->group >= 0 ? node->group : ngroups;
	}
	foreach(lc, g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		out[e->from] = lappend_int(out[e->from], foreach_current_index(lc));
	}
	layout_back_edges(l, out);
	layout_layers(l, out);
	for (int i = 0; i < n; i++)
		maxlayer = Max(maxlayer, l->layer[i]);
	maxlayer = Max(maxlayer, layout_grid(l, row, band_rows, maxlayer) - 1);
	layout_rows(l, row, band_rows, maxlayer);

	/* one box width for all, from the longest text */
	foreach(lc, g->nodes)
	{
		LhDiagramNode *node = lfirst(lc);

		widest = Max(widest, text_columns(node->label) * SVG_CHAR_W);
		if (node->detail)
			widest = Max(widest, text_columns(node->detail) * SVG_SMALL_W);
	}
	l->box_w = Min(Max(widest + 18, SVG_MIN_BOX_W), SVG_MAX_BOX_W);

	for (int b = 0; b < l->nbands; b++)
	{
		bool		head = b < ngroups || (b == ngroups && g->ungrouped && ngroups > 0);
		int			content;

		l->band_top[b] = -1;
		if (band_rows[b] == 0)
			continue;
		l->band_top[b] = top;
		content = top + (head ? SVG_BAND_HEAD : SVG_BAND_PAD);
		for (int i = 0; i < n; i++)
		{
			if (l->band[i] != b)
				continue;
			l->x[i] = 2 * SVG_MARGIN + l->layer[i] * (l->box_w + SVG_COL_GAP);
			l->y[i] = content + row[i] * SVG_ROW_H;
		}
		l->band_bottom[b] = content + (band_rows[b] - 1) * SVG_ROW_H + SVG_BOX_H + SVG_BAND_PAD;
		top = l->band_bottom[b] + SVG_BAND_GAP;
	}
	foreach(lc, g->edges)
	{
		LhDiagramEdge *e = lfirst(lc);

		if (e->from == e->to)
			any_loop = true;
		else if (l->back[foreach_current_index(lc)] || l->layer[e->to] <= l->layer[e->from])
			any_back = true;
	}
	l->width = 4 * SVG_MARGIN + (maxlayer + 1) * l->box_w + maxlayer * SVG_COL_GAP +
		(any_loop ? SVG_LOOP : 0);
	l->height = (n == 0 ? 2 * SVG_MARGIN + SVG_BOX_H : top - SVG_BAND_GAP + SVG_MARGIN) +
		(any_back ? SVG_LOOP : 0);
	return l;
}

/* One edge as a path. */
static void
svg_edge(StringInfo buf, SvgLayout *l, int e, const char *id)
{
	LhDiagramEdge *edge = list_nth(l->g->edges, e);
	int			u = edge->from;
	int			v = edge->to;
	int			w = l->box_w;
	int			h = SVG_BOX_H;
	const char *dash = "";

	if (u == v)
		appendStringInfo(buf, "<path d=\"M%d %d C%d %d,%d %d,%d %d\"",
						 l->x[u] + w, l->y[u] + 10,
						 l->x[u] + w + SVG_LOOP, l->y[u] - 6,
						 l->x[u] + w + SVG_LOOP, l->y[u] + h + 6,
						 l->x[u] + w + 1, l->y[u] + h - 10);
	else if (!l->back[e] && l->layer[v] == l->layer[u] + 1)
	{
		int			x1 = l->x[u] + w;
		int			y1 = l->y[u] + h / 2;
		int			x2 = l->x[v] - 1;
		int			y2 = l->y[v] + h / 2;
		int			c = (x2 - x1) / 2;

		appendStringInfo(buf, "<path d=\"M%d %d C%d %d,%d %d,%d %d\"",
						 x1, y1, x1 + c, y1, x2 - c, y2, x2, y2);
	}
	else if (!l->back[e] && l->layer[v] > l->layer[u])
	{
		/*
		 * Over more than one column: along the gap above the higher of the
		 * two rows, so that it passes over the boxes between, not through.
		 */
		int			x1 = l->x[u] + w;
		int			y1 = l->y[u] + h / 2;
		int			x2 = l->x[v] - 1;
		int			y2 = l->y[v] + h / 2;
		int			lane = Min(l->y[u], l->y[v]) - (SVG_ROW_H - SVG_BOX_H) / 2;
		int			c = SVG_COL_GAP / 2;

		appendStringInfo(buf, "<path d=\"M%d %d C%d %d,%d %d,%d %d L%d %d C%d %d,%d %d,%d %d\"",
						 x1, y1, x1 + c, y1, x1, lane, x1 + c, lane,
						 x2 - c, lane, x2, lane, x2 - c, y2, x2, y2);
	}
	else
	{
		/* against the flow: below the boxes, dashed */
		int			x1 = l->x[u] + w / 2 - 6;
		int			y1 = l->y[u] + h;
		int			x2 = l->x[v] + w / 2 + 6;
		int			y2 = l->y[v] + h + 1;
		int			low = Max(y1, y2) + SVG_LOOP;

		appendStringInfo(buf, "<path d=\"M%d %d C%d %d,%d %d,%d %d\"",
						 x1, y1, x1, low, x2, low, x2, y2);
		dash = " stroke-dasharray=\"5 4\"";
	}
	appendStringInfo(buf, " fill=\"none\" stroke=\"#757575\" stroke-width=\"1.4\"%s"
					 " marker-end=\"url(#%s-arrow)\"/>\n", dash, id);
}

/* One node: its box, its name and detail, its full name as tooltip. */
static void
svg_node(StringInfo buf, SvgLayout *l, int i)
{
	LhDiagramNode *node = list_nth(l->g->nodes, i);
	static const char *const kind_name[] = {"pipeline", "source", "bronze", "silver",
	"gold", "table"};
	int			x = l->x[i];
	int			y = l->y[i];

	appendStringInfo(buf, "<g class=\"lh-node lh-%s%s\"><title>", kind_name[node->kind],
					 node->failed ? " lh-failed" : "");
	lh_xml_escape(buf, node->label);
	if (node->detail)
	{
		appendStringInfoString(buf, " (");
		lh_xml_escape(buf, node->detail);
		appendStringInfoChar(buf, ')');
	}
	if (node->failed)
		appendStringInfoString(buf, ": failed in the last run");
	appendStringInfo(buf, "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"%d\""
					 " fill=\"%s\" stroke=\"%s\" stroke-width=\"%s\"%s/>",
					 x, y, l->box_w, SVG_BOX_H, kind_radius[node->kind],
					 kind_fill[node->kind], node->failed ? "#c62828" : kind_stroke[node->kind],
					 node->failed ? "3" : "1.2",
					 node->kind == LHD_TABLE ? " stroke-dasharray=\"4 3\"" : "");
	appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#212121\">",
					 x + 9, y + (node->detail ? 17 : 25));
	lh_xml_escape(buf, fit_text(node->label, (l->box_w - 16) / SVG_CHAR_W));
	appendStringInfoString(buf, "</text>");
	if (node->detail)
	{
		appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"%s\">",
						 x + 9, y + 32, node->failed ? "#c62828" : "#616161");
		lh_xml_escape(buf, fit_text(node->detail, (l->box_w - 16) / SVG_SMALL_W));
		appendStringInfoString(buf, "</text>");
	}
	appendStringInfoString(buf, "</g>\n");
}

/*
 * Draw a laid-out graph as an <svg> element at (x, y) of its parent (0, 0
 * for a root), with id (which prefixes the ids inside) and a title.
 */
static void
svg_emit(StringInfo buf, SvgLayout *l, const char *id, const char *title,
		 int x, int y, bool root, bool fit)
{
	LhDiagram  *g = l->g;
	int			ngroups = list_length(g->groups);

	appendStringInfo(buf, "<svg%s id=\"%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\""
					 " viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"%s-title\""
					 " font-family=\"" SVG_FONT "\"",
					 root ? " xmlns=\"http://www.w3.org/2000/svg\"" : "",
					 id, x, y, l->width, l->height, l->width, l->height, id);
	/* in a page: as wide as there is room, down to 70% of its size */
	if (fit)
		appendStringInfo(buf, " style=\"width:max(100%%,%dpx);max-width:%dpx;height:auto\"",
						 l->width * 7 / 10, l->width);
	appendStringInfo(buf, ">\n<title id=\"%s-title\">", id);
	lh_xml_escape(buf, title);
	appendStringInfo(buf, "</title>\n<defs><marker id=\"%s-arrow\" viewBox=\"0 0 10 10\""
					 " refX=\"10\" refY=\"5\" markerWidth=\"9\" markerHeight=\"9\""
					 " markerUnits=\"userSpaceOnUse\" orient=\"auto\">"
					 "<path d=\"M0 0L10 5L0 10z\" fill=\"#616161\"/></marker></defs>\n", id);
	if (l->n == 0)
		appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#616161\">"
						 "no pipelines yet</text>\n", SVG_MARGIN, SVG_MARGIN + 24);

	/* the bands of the groups, with their names */
	for (int b = 0; b < ngroups + 1; b++)
	{
		if (l->band_top[b] < 0 || (b == ngroups && !(g->ungrouped && ngroups > 0)))
			continue;
		appendStringInfo(buf, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"8\""
						 " fill=\"#fafafa\" stroke=\"#e0e0e0\"/>"
						 "<text x=\"%d\" y=\"%d\" font-size=\"11\" font-weight=\"bold\" fill=\"#455a64\">",
						 SVG_MARGIN, l->band_top[b], l->width - 2 * SVG_MARGIN,
						 l->band_bottom[b] - l->band_top[b],
						 SVG_MARGIN + 8, l->band_top[b] + 15);
		if (b < ngroups)
		{
			appendStringInfoString(buf, "pipeline ");
			lh_xml_escape(buf, fit_text(list_nth(g->groups, b),
										(l->width - 4 * SVG_MARGIN) / SVG_CHAR_W - 9));
		}
		else
			lh_xml_escape(buf, g->ungrouped);
		appendStringInfoString(buf, "</text>\n");
	}
	for (int e = 0; e < list_length(g->edges); e++)
		svg_edge(buf, l, e, id);
	for (int i = 0; i < l->n; i++)
		svg_node(buf, l, i);
	appendStringInfoString(buf, "</svg>\n");
}

/*
 * diagram_svg
 *		One graph as an <svg> element (with xmlns: inline in HTML or a
 *		document of its own).  id must be unique in the page; it prefixes
 *		the element ids inside.  fit: for a page, where it may shrink to
 *		the width there is (to 70% at most, then the page scrolls).
 */
void
diagram_svg(StringInfo buf, LhDiagram *g, const char *id, const char *title, bool fit)
{
	svg_emit(buf, svg_layout(g), id, title, 0, 0, true, fit);
}

/*
 * diagram_svg_document
 *		Both graphs as one SVG document: the pipelines, then the lineage,
 *		each under a heading.
 */
void
diagram_svg_document(StringInfo buf, LhDiagram *dag, LhDiagram *lineage)
{
	SvgLayout  *d = svg_layout(dag);
	SvgLayout  *l = svg_layout(lineage);
	int			width = Max(Max(d->width, l->width), 320);
	int			lineage_top = SVG_HEADING_H + d->height + SVG_HEADING_H;

	appendStringInfo(buf, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
					 " viewBox=\"0 0 %d %d\" font-family=\"" SVG_FONT "\">\n"
					 "<title>lakehouse: pipelines and lineage</title>\n"
					 "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
					 width, lineage_top + l->height, width, lineage_top + l->height);
	appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\""
					 " fill=\"#263238\">Pipelines</text>\n", SVG_MARGIN, SVG_HEADING_H - 6);
	svg_emit(buf, d, "lh-dag", "pipelines and their dependencies", 0, SVG_HEADING_H,
			 false, false);
	appendStringInfo(buf, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\""
					 " fill=\"#263238\">Lineage</text>\n", SVG_MARGIN, lineage_top - 6);
	svg_emit(buf, l, "lh-lineage", "lineage: sources, bronze, silver and gold tables",
			 0, lineage_top, false, false);
	appendStringInfoString(buf, "</svg>\n");
}

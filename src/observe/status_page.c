/*-------------------------------------------------------------------------
 *
 * status_page.c
 *	  The read-only status page that the metrics worker serves at "/":
 *	  pipelines and their last runs, runs in flight, source lag, quality
 *	  scores, quarantine counts and the lineage diagram, as one
 *	  self-contained HTML document.
 *
 * Self-contained: inline CSS, inline SVG drawn by diagram_svg.c, no
 * script, no font, image or style sheet from anywhere (the worker sends
 * Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';
 * img-src data:).  The page reads the same with or without JavaScript.
 *
 * Escaped: every value from the catalog goes through lh_xml_escape (text
 * and double-quoted attributes alike); CSS classes come from fixed lists,
 * never from a value; the only value in a style attribute is a quality
 * score, parsed as a number and clamped to 0-100 first.
 *
 * Bounded: each section shows at most LH_STATUS_ROWS rows and says how
 * many it left out; a cell shows at most LH_STATUS_CELL_CHARS characters;
 * the lineage diagram at most LH_STATUS_MAX_NODES nodes (whole pipelines).
 *
 * What it shows is what lakehouse_analyst may read (pipeline_status,
 * source_status, dq_summary, lineage, the run ledger's in-flight rows):
 * quarantine is counted by pipeline, table and column, without the
 * offending values or reasons (which quote them).
 *
 * The sections are reporting queries over the catalog views, kept here
 * beside the page they fill, as metrics.c keeps its own; they run through
 * catalog_exec like every catalog statement.  The caller is the metrics
 * worker, in a transaction with a snapshot, connected to SPI.  The page
 * is returned in UTF-8, whatever the database encoding.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "lakehouse.h"
#include "observe/observe.h"

#define LH_STATUS_ROWS			50
#define LH_STATUS_CELL_CHARS	240
#define LH_STATUS_MAX_NODES		200

/* a timestamp, to the second, with its zone */
#define TS(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI:SS TZ')"
/* an interval: seconds to the millisecond below a minute, else to the second */
#define DUR(e) \
	"CASE WHEN " e " < interval '1 minute' THEN" \
	" round(extract(epoch FROM " e "), 3)::text || ' s'" \
	" ELSE justify_interval(date_trunc('second', " e "))::text END"

/*
 * One section: a table from a query whose text columns are the cells and
 * whose last column is the number of rows it would give without LIMIT $1.
 * kinds has one letter per cell column: t text, n number (right-aligned),
 * s status (a coloured badge), p a score 0-100 (a bar), e an error (long,
 * small), c code (monospace).
 */
typedef struct StatusSection
{
	const char *id;
	const char *title;
	const char *intro;			/* a sentence under the title, or NULL */
	const char *empty;			/* said when there are no rows */
	const char *const *headings;
	const char *kinds;
	const char *sql;
} StatusSection;

static const char *const pipeline_headings[] = {"Pipeline", "Last run", "Started",
	"Duration", "Failed stage", "Error", "Last success", "Schedule", "Depends on", NULL};
static const StatusSection pipelines_section = {
	"pipelines", "Pipelines and their last runs", NULL,
	"No pipelines yet: declare one with lakehouse.lh_create_pipeline() or lakehouse.lh_apply_config().",
	pipeline_headings, "tsttcettt",
	"SELECT pipeline, CASE WHEN run_state = 'running' THEN 'running'"
	" ELSE coalesce(last_status, 'never run') END, " TS("last_started_at") ","
	" " DUR("last_duration") ", last_failed_stage, last_error, " TS("last_success_at") ","
	" schedule, array_to_string(depends_on, ', '), count(*) OVER ()"
	" FROM lakehouse.pipeline_status ORDER BY pipeline COLLATE \"C\" LIMIT $1"
};

static const char *const inflight_headings[] = {"Run", "Pipeline", "Stage", "Target",
	"Progress", "Step", "Running for", "Backend", NULL};
static const StatusSection inflight_section = {
	"in-flight", "Runs in flight",
	"Runs at work in this database, from shared memory (lakehouse.run_progress): seen while their transaction is still open.",
	"No run in flight.",
	inflight_headings, "nttctttn",
	"SELECT run_id::text, pipeline,"
	" CASE WHEN stage IS NULL THEN 'starting'"
	" ELSE stage_no || ' of ' || stages || ': ' || stage END,"
	" target,"
	" concat_ws(', ',"
	"  CASE WHEN rows_done IS NOT NULL THEN rows_done || coalesce(' of ' || rows_total, '') || ' rows' END,"
	"  CASE WHEN bytes_done IS NOT NULL THEN pg_size_pretty(bytes_done)"
	"   || coalesce(' of ' || pg_size_pretty(bytes_total), '') END,"
	"  percent_done || '%'),"
	" step, " DUR("clock_timestamp() - started_at") ", pid::text, count(*) OVER ()"
	" FROM lakehouse.run_progress ORDER BY run_id LIMIT $1"
};

static const char *const source_headings[] = {"Source", "Pipeline", "Kind", "State",
	"Partition", "Lag (messages)", "Last message", "Last landed", "Dead letters",
	"Error", NULL};
static const StatusSection sources_section = {
	"sources", "Source lag",
	"Kafka sources have one row per partition; lag is the broker's high watermark minus the stored offset.",
	"No sources yet.",
	source_headings, "tttsnnttne",
	"SELECT source, pipeline, kind,"
	" CASE WHEN NOT enabled THEN 'disabled' ELSE coalesce(worker_state, 'enabled') END,"
	" \"partition\"::text, lag::text, " TS("last_message_at") ", " TS("last_landed_at") ","
	" dead_letters::text, coalesce(last_error, disabled_reason), count(*) OVER ()"
	" FROM lakehouse.source_status"
	" ORDER BY pipeline COLLATE \"C\", source COLLATE \"C\", \"partition\" LIMIT $1"
};

static const char *const quality_headings[] = {"Table", "Score", "Previous", "Trend",
	"Expectations", "Passed", "Failed", "Failed, severity fail", "Checked", NULL};
static const StatusSection quality_section = {
	"quality", "Data quality",
	"The last check of each table: the weighted share of expectations that passed (lakehouse.dq_summary), lowest first.",
	"No expectation has been checked yet.",
	quality_headings, "tpnsnnnnt",
	"SELECT table_name, score::text, previous_score::text, trend, expectations::text,"
	" passed::text, failed::text, failed_fail::text, " TS("last_checked_at") ","
	" count(*) OVER ()"
	" FROM lakehouse.dq_summary ORDER BY score, table_name COLLATE \"C\" LIMIT $1"
};

static const char *const quarantine_headings[] = {"Pipeline", "Table", "Column",
	"Rule", "Rows", "Last quarantined", NULL};
static const StatusSection quarantine_section = {
	"quarantine", "Quarantine",
	"Rows held in lakehouse.quarantine, by table, column and the rule they broke (a row that breaks two rules counts on both lines); the values and reasons stay in the catalog (lakehouse.quarantine_summary).",
	"Nothing in quarantine.",
	quarantine_headings, "ttttnt",
	"SELECT pipeline, target_table, column_name, rule, sum(rows)::text, " TS("max(last_seen)") ","
	" count(*) OVER ()"
	" FROM lakehouse.quarantine_summary GROUP BY pipeline, target_table, column_name, rule"
	" ORDER BY sum(rows) DESC, pipeline COLLATE \"C\", target_table COLLATE \"C\","
	" column_name COLLATE \"C\", rule COLLATE \"C\" LIMIT $1"
};

/* The page's style sheet (inline: the page loads nothing). */
static const char status_css[] =
"body{font:14px/1.45 'DejaVu Sans','Liberation Sans',Arial,sans-serif;margin:0;color:#212121;background:#f5f7f8}"
"header{background:#263238;color:#eceff1;padding:14px 24px}"
"header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#b0bec5;font-size:13px}"
"nav{padding:8px 24px;background:#37474f}nav a{color:#cfd8dc;margin-right:16px;text-decoration:none}"
"main{padding:8px 24px 24px}"
"section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:16px 0;padding:4px 16px 12px}"
"h2{font-size:16px;margin:12px 0 6px}"
".intro,.more,.empty{color:#616161;font-size:13px;margin:4px 0 8px}"
".more{font-style:italic}"
"table{border-collapse:collapse;width:100%;font-size:13px}"
"th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eeeeee;vertical-align:top}"
"th{background:#fafafa;color:#455a64;font-weight:600}"
"td.n{text-align:right;font-variant-numeric:tabular-nums}"
"td.e{color:#b71c1c;font-size:12px;max-width:28em;overflow-wrap:anywhere}"
"td.c{font-family:'DejaVu Sans Mono',monospace}"
".null{color:#bdbdbd}"
".badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#eceff1;color:#37474f}"
".ok{background:#e8f5e9;color:#1b5e20}.bad{background:#ffebee;color:#b71c1c}"
".warn{background:#fff8e1;color:#8d6e00}.info{background:#e3f2fd;color:#0d47a1}"
".bar{display:inline-block;width:80px;height:8px;background:#eeeeee;border-radius:4px;margin-right:6px;vertical-align:middle}"
".bar span{display:block;height:8px;border-radius:4px;background:#43a047}"
".tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0 0}"
".tile{text-decoration:none;color:inherit;background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 16px;min-width:120px}"
".tile b{display:block;font-size:22px}.tile.alert b{color:#c62828}"
"figure{margin:8px 0 12px}figcaption{color:#455a64;font-weight:600;margin-bottom:4px}"
".scroll{overflow-x:auto;border:1px solid #eeeeee;border-radius:4px;background:#fff}"
".legend span{display:inline-block;border:1px solid;border-radius:3px;padding:0 6px;margin-right:6px;font-size:12px}"
"footer{color:#757575;font-size:12px;padding:0 24px 24px}code{font-family:'DejaVu Sans Mono',monospace}";

/*
 * The class of a status badge, from a fixed list: the value itself never
 * becomes a class.
 */
static const char *
status_class(const char *value)
{
	static const char *const ok[] = {"succeeded", "running", "enabled", "improving", NULL};
	static const char *const bad[] = {"failed", "crashed", "degrading", "disabled", NULL};
	static const char *const warn[] = {"skipped", "never run", "not run", "stopped",
	"starting", "new", NULL};

	for (int i = 0; ok[i]; i++)
		if (strcmp(value, ok[i]) == 0)
			return "badge ok";
	for (int i = 0; bad[i]; i++)
		if (strcmp(value, bad[i]) == 0)
			return "badge bad";
	for (int i = 0; warn[i]; i++)
		if (strcmp(value, warn[i]) == 0)
			return "badge warn";
	return "badge info";
}

/* A cell's text, escaped, cut to LH_STATUS_CELL_CHARS characters. */
static void
append_cell_text(StringInfo buf, const char *s)
{
	int			len = strlen(s);

	if (pg_mbstrlen_with_len(s, len) <= LH_STATUS_CELL_CHARS)
	{
		lh_xml_escape(buf, s);
		return;
	}
	lh_xml_escape(buf, pnstrdup(s, pg_mbcharcliplen(s, len, LH_STATUS_CELL_CHARS)));
	appendStringInfoString(buf, " [&hellip;]");
}

/* One cell of the given kind (see StatusSection). */
static void
append_cell(StringInfo buf, char kind, const char *value)
{
	static const char *const td[] = {"<td>", "<td class=\"n\">", "<td class=\"e\">",
	"<td class=\"c\">"};

	appendStringInfoString(buf, kind == 'n' ? td[1] : kind == 'e' ? td[2] :
						   kind == 'c' ? td[3] : td[0]);
	if (value == NULL || value[0] == '\0')
		appendStringInfoString(buf, "<span class=\"null\">&ndash;</span>");
	else if (kind == 's')
	{
		appendStringInfo(buf, "<span class=\"%s\">", status_class(value));
		append_cell_text(buf, value);
		appendStringInfoString(buf, "</span>");
	}
	else if (kind == 'p')
	{
		char	   *end;
		double		score = strtod(value, &end);

		if (end != value && isfinite(score))
			appendStringInfo(buf, "<span class=\"bar\"><span style=\"width:%d%%\"></span></span>",
							 (int) Min(Max(score, 0.0), 100.0));
		append_cell_text(buf, value);
	}
	else
		append_cell_text(buf, value);
	appendStringInfoString(buf, "</td>");
}

/*
 * Render a section (its query with LIMIT LH_STATUS_ROWS); returns the
 * number of rows the query has without the limit.
 */
static int64
status_section(StringInfo buf, const StatusSection *s)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(LH_STATUS_ROWS)};
	int			ncols = strlen(s->kinds);
	int64		total = 0;

	appendStringInfo(buf, "<section id=\"%s\"><h2>", s->id);
	lh_xml_escape(buf, s->title);
	appendStringInfoString(buf, "</h2>\n");
	if (s->intro)
	{
		appendStringInfoString(buf, "<p class=\"intro\">");
		lh_xml_escape(buf, s->intro);
		appendStringInfoString(buf, "</p>\n");
	}
	catalog_exec(s->sql, 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		appendStringInfoString(buf, "<p class=\"empty\">");
		lh_xml_escape(buf, s->empty);
		appendStringInfoString(buf, "</p></section>\n");
		return 0;
	}
	Assert(SPI_tuptable->tupdesc->natts == ncols + 1);
	appendStringInfoString(buf, "<table><thead><tr>");
	for (int c = 0; s->headings[c]; c++)
	{
		appendStringInfoString(buf, "<th>");
		lh_xml_escape(buf, s->headings[c]);
		appendStringInfoString(buf, "</th>");
	}
	appendStringInfoString(buf, "</tr></thead>\n<tbody>\n");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		appendStringInfoString(buf, "<tr>");
		for (int c = 0; c < ncols; c++)
			append_cell(buf, s->kinds[c], catalog_text(r, c + 1));
		appendStringInfoString(buf, "</tr>\n");
		total = catalog_int64(r, ncols + 1, 0);
	}
	appendStringInfoString(buf, "</tbody></table>\n");
	if (total > (int64) SPI_processed)
		appendStringInfo(buf, "<p class=\"more\">" INT64_FORMAT " more not shown"
						 " (this page shows at most %d rows per section).</p>\n",
						 total - (int64) SPI_processed, LH_STATUS_ROWS);
	appendStringInfoString(buf, "</section>\n");
	return total;
}

/*
 * The runs in flight: the one reader of in-flight runs on the page (its
 * section and its tile).  See inflight_section for where to switch to
 * lakehouse.run_progress.
 */
static int64
status_runs_in_flight(StringInfo buf)
{
	return status_section(buf, &inflight_section);
}

/* One summary tile; alert colours a number that needs attention. */
static void
status_tile(StringInfo buf, const char *label, int64 value, bool alert, const char *href)
{
	appendStringInfo(buf, "<a class=\"tile%s\" href=\"#%s\"><b>" INT64_FORMAT "</b>",
					 alert && value > 0 ? " alert" : "", href, value);
	lh_xml_escape(buf, label);
	appendStringInfoString(buf, "</a>\n");
}

/* The lineage section: the pipeline DAG and the lineage graph as SVG. */
static void
status_lineage(StringInfo buf)
{
	LhDiagram  *dag;
	LhDiagram  *lineage;

	diagram_build(NULL, LH_STATUS_MAX_NODES, &dag, &lineage);
	diagram_limit(dag, LH_STATUS_MAX_NODES);
	diagram_limit(lineage, LH_STATUS_MAX_NODES);

	appendStringInfoString(buf, "<section id=\"lineage\"><h2>Lineage</h2>\n"
						   "<p class=\"intro legend\">"
						   "<span style=\"background:#e3ecfa;border-color:#3f6db3\">source</span>"
						   "<span style=\"background:#f6e5d6;border-color:#a0522d\">bronze</span>"
						   "<span style=\"background:#eceff1;border-color:#607d8b\">silver</span>"
						   "<span style=\"background:#fff3c4;border-color:#b8860b\">gold</span>"
						   "<span style=\"background:#ffffff;border-color:#9e9e9e;border-style:dashed\">other table</span>"
						   "<span style=\"border-color:#c62828;border-width:2px\">failed in the last run</span>"
						   " Hover a box for its full name.</p>\n"
						   "<figure><figcaption>Pipelines and their dependencies</figcaption>"
						   "<div class=\"scroll\">");
	diagram_svg(buf, dag, "lh-dag", "pipelines and their dependencies", true);
	appendStringInfoString(buf, "</div></figure>\n"
						   "<figure><figcaption>Sources, bronze, silver and gold tables</figcaption>"
						   "<div class=\"scroll\">");
	diagram_svg(buf, lineage, "lh-lineage", "lineage: sources, bronze, silver and gold tables",
				true);
	appendStringInfoString(buf, "</div></figure>\n");
	if (lineage->omitted_groups > 0 || dag->omitted_nodes > 0)
		appendStringInfo(buf, "<p class=\"more\">%d more pipelines not drawn"
						 " (this page draws at most %d boxes a picture);"
						 " SELECT lakehouse.lh_lineage_diagram('svg') draws them all.</p>\n",
						 Max(lineage->omitted_groups, dag->omitted_nodes),
						 LH_STATUS_MAX_NODES);
	appendStringInfoString(buf, "<p class=\"intro\">As text: <code>SELECT lakehouse.lh_lineage_diagram('mermaid')</code>"
						   " or <code>'dot'</code>.</p></section>\n");
}

/*
 * status_page_html
 *		The whole page, in UTF-8.
 */
char *
status_page_html(void)
{
	StringInfoData page;
	StringInfoData sections;
	char	   *db = get_database_name(MyDatabaseId);
	int64		inflight;
	int64		npipelines;
	int64		nfailed;
	int64		nsources;
	int64		nquarantined;
	char	   *now;
	char	   *html;

	initStringInfo(&sections);
	status_section(&sections, &pipelines_section);
	inflight = status_runs_in_flight(&sections);
	status_section(&sections, &sources_section);
	status_section(&sections, &quality_section);
	status_section(&sections, &quarantine_section);
	status_lineage(&sections);

	catalog_exec("SELECT (SELECT count(*) FROM lakehouse.pipelines),"
				 " (SELECT count(*) FROM lakehouse.pipeline_status WHERE last_status = 'failed'),"
				 " (SELECT count(*) FROM lakehouse.sources),"
				 " (SELECT count(*) FROM lakehouse.quarantine), " TS("now()"),
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	npipelines = catalog_int64(0, 1, 0);
	nfailed = catalog_int64(0, 2, 0);
	nsources = catalog_int64(0, 3, 0);
	nquarantined = catalog_int64(0, 4, 0);
	now = catalog_text(0, 5);

	initStringInfo(&page);
	appendStringInfoString(&page, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
						   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
						   "<title>lakehouse status: ");
	lh_xml_escape(&page, db ? db : "?");
	appendStringInfo(&page, "</title><style>%s</style></head>\n<body>\n<header><h1>lakehouse status</h1><p>database ",
					 status_css);
	lh_xml_escape(&page, db ? db : "?");
	appendStringInfoString(&page, " &middot; lakehouse ");
	lh_xml_escape(&page, catalog_extension_version());
	appendStringInfoString(&page, " &middot; as of ");
	lh_xml_escape(&page, now);
	appendStringInfoString(&page, " &middot; read-only; reload for fresh numbers</p></header>\n"
						   "<nav><a href=\"#pipelines\">Pipelines</a><a href=\"#in-flight\">In flight</a>"
						   "<a href=\"#sources\">Sources</a><a href=\"#quality\">Quality</a>"
						   "<a href=\"#quarantine\">Quarantine</a><a href=\"#lineage\">Lineage</a>"
						   "<a href=\"/metrics\">/metrics</a></nav>\n<main>\n<div class=\"tiles\">\n");
	status_tile(&page, "pipelines", npipelines, false, "pipelines");
	status_tile(&page, "failed in their last run", nfailed, true, "pipelines");
	status_tile(&page, "runs in flight", inflight, false, "in-flight");
	status_tile(&page, "sources", nsources, false, "sources");
	status_tile(&page, "rows in quarantine", nquarantined, true, "quarantine");
	appendStringInfoString(&page, "</div>\n");
	appendBinaryStringInfo(&page, sections.data, sections.len);
	appendStringInfoString(&page, "</main>\n<footer>Served by the lakehouse metrics worker"
						   " (lakehouse.metrics_port); Prometheus metrics at <a href=\"/metrics\">/metrics</a>."
						   " Everything here is also in the catalog views: lakehouse.pipeline_status,"
						   " source_status, dq_summary, quarantine_summary, lineage_graph.</footer>\n"
						   "</body></html>\n");

	html = page.data;
	if (GetDatabaseEncoding() != PG_UTF8)
		html = pg_server_to_any(page.data, page.len, PG_UTF8);
	return html;
}

/*-------------------------------------------------------------------------
 *
 * observe.h
 *	  Observability: OpenLineage events (lineage.c, lineage_gold.c),
 *	  Prometheus metrics (metrics.c), diagrams of the pipelines and their
 *	  lineage (diagram.c, diagram_svg.c) and the status page
 *	  (status_page.c).  Their workers, the event delivery and the HTTP
 *	  endpoint serving /metrics and the page, are in src/worker/.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_OBSERVE_H
#define LH_OBSERVE_H

#include "lib/stringinfo.h"
#include "lakehouse.h"
#include "pipeline/pipeline.h"
#include "nodes/pg_list.h"

/* The producer URI and schema URLs of every event we write. */
#define LH_OL_PRODUCER	"https://github.com/lakehouse-pg/lakehouse/tree/v0.1"
#define LH_OL_SCHEMA	"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define LH_OL_FACETS	"https://openlineage.io/spec/facets/"

/* GUCs (defined by observe_init) */
extern char *lh_openlineage_url;
extern char *lh_openlineage_namespace;
extern char *lh_openlineage_dataset_namespace;
extern int	lh_openlineage_timeout;
extern int	lh_openlineage_retention;
extern int	lh_openlineage_stream_interval;
extern int	lh_openlineage_max_backoff;
extern int	lh_metrics_port;
extern char *lh_metrics_listen_address;
extern char *lh_metrics_database;

/* Pseudo source ids of the observability workers in the worker slots. */
#define LH_LINEAGE_WORKER_ID	(-1)
#define LH_METRICS_WORKER_ID	(-2)

/*
 * A pipeline run that first starts the runs of its upstream pipelines
 * (lh_run_pipeline): its OpenLineage run id, chosen before they start, so
 * that their events name it as their parent.
 */
typedef struct LineageTrigger
{
	char		uuid[37];
	const char *pipeline;
} LineageTrigger;

/* src/observe/lineage.c */
extern void observe_init(void);
extern void lineage_stage_done(int64 run_id, int stage_no, const char *stage,
							   const char *target, int32 table_id,
							   const char *status, ErrorData *error);
extern void lineage_trigger_init(LineageTrigger *trigger, const char *pipeline);
extern void lineage_run_start(int64 run_id, const char *pipeline, const char *uuid,
							  const LineageTrigger *trigger);
extern void lineage_run_end(int64 run_id, bool failed, const char *error_message);
extern TimestampTz lineage_stream_batch(LhSource *src, TimestampTz started,
										int64 rows_read, int64 rows_written);
extern TimestampTz lineage_stream_flush(LhSource *src);
extern void lineage_prune(bool undelivered);
extern void observe_worker_context(LhSource *src, const char *worker);
extern void lineage_json_str(StringInfo buf, const char *s);
extern void lineage_facet_head(StringInfo buf, const char *key,
							   const char *file, const char *def);
extern char *lineage_postgres_namespace(void);

/* src/observe/lineage_gold.c: column lineage of a gold SQL transform */
extern void lineage_gold_columns(StringInfo buf, const char *sql, const char *ns,
								 List **inputs);
extern List *lineage_gold_inputs(const char *sql);

/* src/observe/metrics.c */
extern char *metrics_exposition(void);

/* src/observe/diagram.c: the pipeline DAG and the lineage graph */
typedef enum LhDiagramKind
{
	LHD_PIPELINE,
	LHD_SOURCE,
	LHD_BRONZE,
	LHD_SILVER,
	LHD_GOLD,
	LHD_TABLE					/* read by a gold table, written by no pipeline */
} LhDiagramKind;

typedef struct LhDiagramNode
{
	LhDiagramKind kind;
	char	   *key;			/* identity: "t:" qualified table, "s:" source, pipeline */
	char	   *label;			/* the name shown */
	char	   *detail;			/* a second line (kind), or NULL */
	int			group;			/* index in LhDiagram.groups, -1: none */
	bool		failed;			/* failed in its pipeline's last run */
} LhDiagramNode;

typedef struct LhDiagramEdge
{
	int			from;			/* node indexes */
	int			to;
} LhDiagramEdge;

typedef struct LhDiagram
{
	List	   *groups;			/* names of the groups (pipelines), in order */
	List	   *nodes;			/* LhDiagramNode *, grouped nodes in group order */
	List	   *edges;			/* LhDiagramEdge * */
	const char *ungrouped;		/* heading of the nodes outside groups, or NULL */
	int			omitted_nodes;	/* left out (diagram_build, diagram_limit) */
	int			omitted_groups;
} LhDiagram;

extern void diagram_build(const char *pipeline, int max_pipelines, LhDiagram **dag,
						  LhDiagram **lineage);
extern void diagram_limit(LhDiagram *g, int max_nodes);
extern void diagram_mermaid(StringInfo buf, LhDiagram *dag, LhDiagram *lineage);
extern void diagram_dot(StringInfo buf, LhDiagram *dag, LhDiagram *lineage);

/* src/observe/diagram_svg.c: a layered layout drawn as SVG */
extern void lh_xml_escape(StringInfo buf, const char *s);
extern void diagram_svg(StringInfo buf, LhDiagram *g, const char *id, const char *title,
						bool fit);
extern void diagram_svg_document(StringInfo buf, LhDiagram *dag, LhDiagram *lineage);

/* src/observe/status_page.c: the HTML page at / of the metrics worker */
extern char *status_page_html(void);

/* entry points of the background workers */
extern PGDLLEXPORT void lh_lineage_worker_main(Datum arg);
extern PGDLLEXPORT void lh_metrics_worker_main(Datum arg);

#endif							/* LH_OBSERVE_H */

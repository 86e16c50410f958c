/*-------------------------------------------------------------------------
 *
 * observe.h
 *	  Observability: OpenLineage events (lineage.c, lineage_gold.c) and
 *	  Prometheus metrics (metrics.c).  Their workers, the event delivery
 *	  and the /metrics endpoint, are in src/worker/.
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

/* src/observe/metrics.c */
extern char *metrics_exposition(void);

/* entry points of the background workers */
extern PGDLLEXPORT void lh_lineage_worker_main(Datum arg);
extern PGDLLEXPORT void lh_metrics_worker_main(Datum arg);

#endif							/* LH_OBSERVE_H */

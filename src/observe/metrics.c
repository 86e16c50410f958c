/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  lakehouse.lh_metrics(): this database's lakehouse metrics in the
 *	  Prometheus text exposition format (version 0.0.4).
 *
 * Each metric family is one catalog query returning (suffix, labels,
 * value): labels as a text array of name/value pairs.  A row whose value
 * is NULL is no sample: a series with no value (the replay lag of a
 * primary, the archive age without archiving) is left out, not invented
 * as 0 or NaN.  Every query only reads, so the metrics worker serves them
 * on a hot standby too.  The queries read
 * the run ledger and the other catalog tables with the caller's snapshot,
 * so one call (one scrape) is consistent; the metrics worker calls this in
 * a transaction per scrape.  Worker state (up, restarts) comes from shared
 * memory.  Durations are histograms with cumulative buckets computed from
 * lakehouse.runs and run_stages; counters are derived from the catalog
 * tables, so deleting history (runs, dq_results, pruned outbox rows)
 * lowers them, which Prometheus treats as a counter reset.
 *
 * A label means the same in every family: pipeline, layer (bronze,
 * silver, gold: the layer a stage writes), table (the table of that
 * layer, named without the layer's schema, as lineage jobs name it),
 * source (a source's name), status (a run's status), code (an HTTP
 * status code), worker (a worker's kind).  A label a series has no value
 * for is left out.  Label values are escaped per the exposition format
 * (backslash, double quote, newline); metric names are fixed here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "lakehouse.h"
#include "observe/observe.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_metrics);
PG_FUNCTION_INFO_V1(lh_observe_workers);

#define BUCKETS "'{0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,300,900,1800,3600}'::float8[]"

/*
 * A histogram of durations d(labels..., s) given as a query returning the
 * label array and s seconds.
 */
#define HISTOGRAM(src) \
	"WITH d AS (" src "), b AS (SELECT unnest(" BUCKETS ") AS le)" \
	" SELECT suffix, labels, value FROM (" \
	"  SELECT '_bucket' AS suffix, d.labels || ARRAY['le', b.le::text] AS labels," \
	"         count(*) FILTER (WHERE d.s <= b.le)::float8 AS value, d.labels AS k, 0 AS o, b.le" \
	"    FROM d CROSS JOIN b GROUP BY d.labels, b.le" \
	"  UNION ALL SELECT '_bucket', d.labels || ARRAY['le', '+Inf'], count(*), d.labels, 1, 0" \
	"    FROM d GROUP BY d.labels" \
	"  UNION ALL SELECT '_sum', d.labels, sum(d.s), d.labels, 2, 0 FROM d GROUP BY d.labels" \
	"  UNION ALL SELECT '_count', d.labels, count(*), d.labels, 3, 0 FROM d GROUP BY d.labels" \
	" ) h ORDER BY k, o, le"

/* the layer a stage (run_stages.stage) writes */
#define STAGE_LAYER(col) "CASE " col " WHEN 'ingest' THEN 'bronze' ELSE " col " END"

/*
 * A stage's labels: its pipeline, the layer and table it writes, and the
 * source an ingest stage reads (no source label for other stages).
 */
#define STAGE_LABELS \
	"ARRAY['pipeline', r.pipeline_name, 'layer', " STAGE_LAYER("s.stage") ", 'table', s.target," \
	" 'source', (SELECT so.name FROM lakehouse.sources so" \
	"   WHERE so.pipeline_id = r.pipeline_id AND s.stage = 'ingest'" \
	"     AND format('%I.%I', so.bronze_schema, so.bronze_table) = s.target)]"

#define ROWS_TOTAL(col) \
	"SELECT '', " STAGE_LABELS ", sum(s." col ")::float8" \
	" FROM lakehouse.run_stages s JOIN lakehouse.runs r USING (run_id)" \
	" GROUP BY r.pipeline_name, r.pipeline_id, s.stage, s.target ORDER BY 2"

/*
 * The labels of a registered silver or gold table t of pipeline p, and
 * the join that finds them from a table_id column.
 */
#define TABLE_LABELS \
	"'pipeline', p.name, 'layer', t.layer, 'table', format('%I.%I', t.schema_name, t.table_name)"
#define JOIN_TABLE(col) \
	" JOIN lakehouse.tables t ON t.table_id = " col \
	" JOIN lakehouse.pipelines p ON p.pipeline_id = t.pipeline_id"

typedef struct MetricFamily
{
	const char *name;
	const char *type;
	const char *help;
	const char *sql;			/* NULL: computed in C */
} MetricFamily;

/*
 * The metric families.  These queries read the catalog directly, by
 * design, and are the one exception to "catalog SQL lives in src/catalog/":
 * each is a read-only reporting query, kept here beside the metric name and
 * help text it produces, so that the table reads as the list of what is
 * exported.  They run through catalog_exec like every catalog statement.
 */
static const MetricFamily families[] = {
	{"lakehouse_pipeline_runs_total", "counter",
		"Finished pipeline runs recorded in lakehouse.runs, by pipeline and status.",
		"SELECT '', ARRAY['pipeline', pipeline_name, 'status', status], count(*)::float8"
		" FROM lakehouse.runs WHERE status <> 'running'"
		" GROUP BY pipeline_name, status ORDER BY 2"},
	{"lakehouse_pipeline_run_duration_seconds", "histogram",
		"Duration of finished pipeline runs.",
		HISTOGRAM("SELECT ARRAY['pipeline', pipeline_name] AS labels,"
				  " extract(epoch FROM finished_at - started_at)::float8 AS s"
				  " FROM lakehouse.runs WHERE finished_at IS NOT NULL"
				  " AND status IN ('succeeded', 'failed')")},
	{"lakehouse_stage_duration_seconds", "histogram",
		"Duration of executed stages, by pipeline and the layer and table they write.",
		HISTOGRAM("SELECT ARRAY['pipeline', r.pipeline_name, 'layer', " STAGE_LAYER("s.stage") ","
				  " 'table', s.target] AS labels,"
				  " extract(epoch FROM s.finished_at - s.started_at)::float8 AS s"
				  " FROM lakehouse.run_stages s JOIN lakehouse.runs r USING (run_id)"
				  " WHERE s.finished_at IS NOT NULL AND s.status <> 'not run'")},
	{"lakehouse_rows_read_total", "counter",
		"Rows read by stages, by pipeline, the layer and table they write, and source.",
		ROWS_TOTAL("rows_read")},
	{"lakehouse_rows_written_total", "counter",
		"Rows written by stages, by pipeline, the layer and table they write, and source.",
		ROWS_TOTAL("rows_written")},
	{"lakehouse_rows_quarantined_total", "counter",
		"Rows quarantined by stages, by pipeline, the layer and table they write, and source.",
		ROWS_TOTAL("rows_quarantined")},
	{"lakehouse_rows_dead_lettered_total", "counter",
		"Source records dead-lettered (lakehouse.dead_letters), by pipeline, bronze table and source.",
		"SELECT '', ARRAY['pipeline', p.name, 'layer', 'bronze',"
		" 'table', format('%I.%I', s.bronze_schema, s.bronze_table),"
		" 'source', d.source_name], count(*)::float8"
		" FROM lakehouse.dead_letters d"
		" LEFT JOIN lakehouse.sources s ON s.source_id = d.source_id"
		" LEFT JOIN lakehouse.pipelines p ON p.pipeline_id = s.pipeline_id"
		" GROUP BY 2 ORDER BY 2"},
	{"lakehouse_dq_expectations_evaluated_total", "counter",
		"Data-quality expectation evaluations (lakehouse.dq_results), by pipeline, layer and table.",
		"SELECT '', ARRAY[" TABLE_LABELS "], count(*)::float8"
		" FROM lakehouse.dq_results r" JOIN_TABLE("r.table_id")
		" GROUP BY 2 ORDER BY 2"},
	{"lakehouse_dq_expectations_failed_total", "counter",
		"Data-quality expectation evaluations that failed, by pipeline, layer and table.",
		"SELECT '', ARRAY[" TABLE_LABELS "], count(*) FILTER (WHERE NOT r.success)::float8"
		" FROM lakehouse.dq_results r" JOIN_TABLE("r.table_id")
		" GROUP BY 2 ORDER BY 2"},
	{"lakehouse_dq_score_ratio", "gauge",
		"Weighted share of expectations that passed in the last check of a table (0 to 1).",
		"SELECT '', ARRAY[" TABLE_LABELS "], (q.score / 100.0)::float8"
		" FROM lakehouse.dq_summary q"
		" JOIN lakehouse.tables t ON format('%I.%I', t.schema_name, t.table_name) = q.table_name"
		" JOIN lakehouse.pipelines p ON p.pipeline_id = t.pipeline_id ORDER BY 2"},
	{"lakehouse_contract_violations_total", "counter",
		"Data contract violations recorded by runs, by pipeline, layer, table and action.",
		"SELECT '', ARRAY[" TABLE_LABELS ", 'action', c.action], sum(c.violations)::float8"
		" FROM lakehouse.contract_violations c" JOIN_TABLE("c.table_id")
		" GROUP BY 2 ORDER BY 2"},
	{"lakehouse_kafka_consumer_lag_messages", "gauge",
		"Messages of a Kafka partition not landed yet (high watermark minus stored offset).",
		"SELECT '', ARRAY['pipeline', pipeline, 'source', source, 'partition', \"partition\"::text],"
		" lag::float8 FROM lakehouse.source_status"
		" WHERE kind = 'kafka' AND \"partition\" IS NOT NULL AND lag IS NOT NULL ORDER BY 2"},
	{"lakehouse_http_requests_total", "counter",
		"HTTP requests made by HTTP sources, by source and HTTP status code (0: no answer).",
		"SELECT '', ARRAY['pipeline', p.name, 'source', s.name, 'code', c.http_status::text],"
		" c.requests::float8"
		" FROM lakehouse.http_request_counts c JOIN lakehouse.sources s USING (source_id)"
		" JOIN lakehouse.pipelines p ON p.pipeline_id = s.pipeline_id ORDER BY 2"},
	{"lakehouse_last_success_timestamp_seconds", "gauge",
		"Unix time when the last successful run of a pipeline finished.",
		"SELECT '', ARRAY['pipeline', p.name], extract(epoch FROM max(r.finished_at))::float8"
		" FROM lakehouse.runs r JOIN lakehouse.pipelines p ON p.pipeline_id = r.pipeline_id"
		" WHERE r.status = 'succeeded' GROUP BY p.name ORDER BY 2"},
	{"lakehouse_pipeline_last_success_timestamp_seconds", "gauge",
		"Unix time when the last successful run of a pipeline finished (lakehouse.dr_status.last_success_at).",
		"SELECT '', ARRAY['pipeline', pipeline], extract(epoch FROM last_success_at)::float8"
		" FROM lakehouse.dr_status WHERE last_success_at IS NOT NULL ORDER BY 2"},
	{"lakehouse_pipeline_created_timestamp_seconds", "gauge",
		"Unix time when a pipeline was created: where its staleness starts until it first succeeds.",
		"SELECT '', ARRAY['pipeline', name], extract(epoch FROM created_at)::float8"
		" FROM lakehouse.pipelines ORDER BY 2"},
	{"lakehouse_lineage_outbox_pending_events", "gauge",
		"OpenLineage events in lakehouse.event_outbox not delivered yet.",
		"SELECT '', '{}'::text[], count(*)::float8 FROM lakehouse.event_outbox"
		" WHERE delivered_at IS NULL"},
	{"lakehouse_lineage_outbox_oldest_pending_age_seconds", "gauge",
		"Age of the oldest undelivered OpenLineage event (0 when none).",
		"SELECT '', '{}'::text[],"
		" coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8"
		" FROM lakehouse.event_outbox WHERE delivered_at IS NULL"},
	{"lakehouse_lineage_delivery_failures_total", "counter",
		"Failed delivery attempts of the OpenLineage events kept in the outbox.",
		"SELECT '', '{}'::text[], coalesce(sum(attempts"
		" - CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END), 0)::float8"
		" FROM lakehouse.event_outbox"},
	{"lakehouse_lineage_events_delivered_total", "counter",
		"OpenLineage events delivered, of those kept in the outbox.",
		"SELECT '', '{}'::text[], count(*)::float8 FROM lakehouse.event_outbox"
		" WHERE delivered_at IS NOT NULL"},
	{"lakehouse_standby", "gauge",
		"1 on a standby (the server is in recovery), 0 on a primary.",
		"SELECT '', '{}'::text[], CASE role WHEN 'standby' THEN 1 ELSE 0 END::float8"
		" FROM lakehouse.lh_dr_node()"},
	{"lakehouse_replay_lag_seconds", "gauge",
		"On a standby: seconds since the last replayed transaction committed, 0 when all WAL received is replayed (lakehouse.dr_status.replay_lag).",
		"SELECT '', '{}'::text[], extract(epoch FROM replay_lag)::float8"
		" FROM lakehouse.dr_status LIMIT 1"},
	{"lakehouse_last_archived_wal_age_seconds", "gauge",
		"Seconds since the last WAL file was archived, when archive_mode is on (pg_stat_archiver).",
		"SELECT '', '{}'::text[], extract(epoch FROM now() - last_archived_at)::float8"
		" FROM lakehouse.dr_status WHERE archive_mode <> 'off' LIMIT 1"},
	{"lakehouse_worker_up", "gauge",
		"1 when a background worker (of a source, or the lineage or metrics worker) runs.",
		NULL},
	{"lakehouse_worker_restarts_total", "counter",
		"Times a background worker was started again in its slot.",
		NULL},
};

/* a label value or help text, escaped for the exposition format */
static void
append_escaped(StringInfo buf, const char *s, bool quote)
{
	for (; *s; s++)
	{
		if (*s == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (*s == '\n')
			appendStringInfoString(buf, "\\n");
		else if (*s == '"' && quote)
			appendStringInfoString(buf, "\\\"");
		else
			appendStringInfoChar(buf, *s);
	}
}

static void
append_value(StringInfo buf, double v)
{
	if (isnan(v))
		appendStringInfoString(buf, "NaN");
	else if (isinf(v))
		appendStringInfoString(buf, v > 0 ? "+Inf" : "-Inf");
	else if (v == (double) (int64) v && fabs(v) < 1e15)
		appendStringInfo(buf, INT64_FORMAT, (int64) v);
	else
		appendStringInfo(buf, "%.17g", v);
}

static void
append_sample(StringInfo buf, const char *name, const char *suffix,
			  char **labels, int nlabels, double value)
{
	bool		any = false;

	appendStringInfo(buf, "%s%s", name, suffix);
	for (int i = 0; i + 1 < nlabels; i += 2)
	{
		if (labels[i + 1] == NULL)
			continue;
		appendStringInfoString(buf, any ? "," : "{");
		any = true;
		appendStringInfo(buf, "%s=\"", labels[i]);
		append_escaped(buf, labels[i + 1], true);
		appendStringInfoChar(buf, '"');
	}
	if (any)
		appendStringInfoChar(buf, '}');
	appendStringInfoChar(buf, ' ');
	append_value(buf, value);
	appendStringInfoChar(buf, '\n');
}

static void
append_worker_metrics(StringInfo buf, const char *name, bool up)
{
	int			n;
	LhWorkerSlot *copy;
	List	   *sources;

	if (lh_shared == NULL)
		return;
	copy = palloc(sizeof(LhWorkerSlot) * lh_shared->nslots);
	n = 0;
	LWLockAcquire(lh_shared->lock, LW_SHARED);
	for (int i = 0; i < lh_shared->nslots; i++)
		if (lh_shared->slots[i].source_id != 0 &&
			lh_shared->slots[i].dbid == MyDatabaseId)
			memcpy(&copy[n++], &lh_shared->slots[i], offsetof(LhWorkerSlot, nparts));
	LWLockRelease(lh_shared->lock);
	if (n == 0)
		return;
	/* names and kinds of the sources, in one query */
	sources = catalog_all_sources();
	for (int i = 0; i < n; i++)
	{
		char	   *kind = "source";
		char	   *label = psprintf("%d", copy[i].source_id);
		char	   *labels[4];
		ListCell   *lc;

		/* the observability workers have no source: no source label */
		if (copy[i].source_id == LH_LINEAGE_WORKER_ID)
		{
			kind = "lineage";
			label = NULL;
		}
		else if (copy[i].source_id == LH_METRICS_WORKER_ID)
		{
			kind = "metrics";
			label = NULL;
		}
		else
			foreach(lc, sources)
			{
				LhSource   *src = lfirst(lc);

				if (src->source_id != copy[i].source_id)
					continue;
				label = src->name;
				kind = src->kind;
				break;
			}
		labels[0] = "worker";
		labels[1] = kind;
		labels[2] = "source";
		labels[3] = label;

		append_sample(buf, name, "", labels, 4,
					  up ? (copy[i].pid != 0 ? 1 : 0) :
					  (double) Max(copy[i].starts - 1, 0));
	}
}

/*
 * A table label is named as lineage jobs name it: without the schema of
 * the layer the series' layer label gives (lh_layer_table_name), so that
 * {pipeline="orders", layer="silver", table="orders"} is the job
 * orders.silver.orders.  The queries give the qualified name.
 */
static void
shorten_table_label(char **labels, int nlabels)
{
	const char *layer = NULL;

	for (int i = 0; i + 1 < nlabels; i += 2)
		if (strcmp(labels[i], "layer") == 0)
			layer = labels[i + 1];
	if (layer == NULL)
		return;
	for (int i = 0; i + 1 < nlabels; i += 2)
		if (strcmp(labels[i], "table") == 0 && labels[i + 1] != NULL)
			labels[i + 1] = lh_layer_table_name(layer, labels[i + 1]);
}

/*
 * metrics_exposition
 *		The whole exposition text.  The caller is connected to SPI, in a
 *		transaction with a snapshot.
 */
char *
metrics_exposition(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int f = 0; f < lengthof(families); f++)
	{
		const MetricFamily *m = &families[f];

		appendStringInfo(&buf, "# HELP %s ", m->name);
		append_escaped(&buf, m->help, false);
		appendStringInfo(&buf, "\n# TYPE %s %s\n", m->name, m->type);
		if (m->sql == NULL)
		{
			append_worker_metrics(&buf, m->name, strcmp(m->name, "lakehouse_worker_up") == 0);
			continue;
		}
		catalog_exec(m->sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		arr;
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			char	  **labels;
			double		value;
			char	   *suffix = SPI_getvalue(tup, desc, 1);

			value = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
			if (isnull)
				continue;
			arr = SPI_getbinval(tup, desc, 2, &isnull);
			deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &nelems);
			labels = palloc0(sizeof(char *) * (nelems + 1));
			for (int k = 0; k < nelems; k++)
				labels[k] = nulls[k] ? NULL : TextDatumGetCString(elems[k]);
			shorten_table_label(labels, nelems);
			append_sample(&buf, m->name, suffix ? suffix : "", labels, nelems, value);
		}
	}
	return buf.data;
}

/*
 * lh_metrics() returns text
 */
Datum
lh_metrics(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	char	   *out;
	text	   *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	out = metrics_exposition();
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		result = cstring_to_text(out);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

/*
 * lh_observe_workers() returns the lineage and metrics workers' slots of
 * this database.
 */
Datum
lh_observe_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (lh_shared == NULL)
		return (Datum) 0;
	LWLockAcquire(lh_shared->lock, LW_SHARED);
	for (int i = 0; i < lh_shared->nslots; i++)
	{
		LhWorkerSlot *s = &lh_shared->slots[i];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		if (s->dbid != MyDatabaseId ||
			(s->source_id != LH_LINEAGE_WORKER_ID && s->source_id != LH_METRICS_WORKER_ID))
			continue;
		values[0] = CStringGetTextDatum(s->source_id == LH_LINEAGE_WORKER_ID ?
										"lineage" : "metrics");
		values[1] = Int32GetDatum(s->pid);
		nulls[1] = (s->pid == 0);
		values[2] = CStringGetTextDatum(s->state);
		values[3] = CStringGetTextDatum(s->last_error);
		nulls[3] = (s->last_error[0] == '\0');
		values[4] = Int64GetDatum(s->starts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(lh_shared->lock);
	return (Datum) 0;
}

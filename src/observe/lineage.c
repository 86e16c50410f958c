/*-------------------------------------------------------------------------
 *
 * lineage.c
 *	  OpenLineage RunEvents for pipeline runs and their stages, written to
 *	  lakehouse.event_outbox in the run's own transaction.
 *
 * Two kinds of OpenLineage run:
 *	- the pipeline run (job "<pipeline>"): START when lh_run_pipeline or
 *	  lh_ingest begins a run (lineage_run_start, called by run.c after the
 *	  run row is inserted) and COMPLETE or FAIL when it ends
 *	  (lineage_run_end);
 *	- each stage run (job "<pipeline>.<stage>.<target>"): a START and a
 *	  COMPLETE or FAIL, both written by lineage_stage_done (the last stage
 *	  check of src/pipeline/checks.c), which runs after the stage was
 *	  recorded in lakehouse.run_stages and outside the stage's
 *	  subtransaction.  The events are built from that surviving
 *	  record (times, row counts, error), so a rolled-back stage still has
 *	  its START and FAIL; the START carries the stage's start time.
 *	  Stages that did not run get no events.
 *
 * Run ids are UUIDv7 (48-bit Unix milliseconds, then random bits from
 * pg_strong_random), generated here.  Stage runs carry a ParentRunFacet
 * naming the pipeline run.  Every event names its producer and schemaURL;
 * datasets are named per the OpenLineage naming spec: PostgreSQL tables
 * in namespace postgres://host:port as database.schema.table, Kafka
 * topics in kafka://broker:port, HTTP APIs in scheme://host:port with the
 * path as name, files in namespace "file" with the path as name.
 *
 * Nothing here does network I/O: the delivery worker (lineage_worker.c)
 * sends committed events.  lakehouse.emit_events = off writes none.
 *
 * The hook must not raise for data reasons: the catalog reads it does are
 * of rows the run itself just wrote; the gold SQL analysis, which can fail
 * (a dropped input table), runs in a subtransaction of its own
 * (lineage_gold.c) and is then left out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "postmaster/bgworker.h"
#include "postmaster/postmaster.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "sources/sources.h"
#include "observe/observe.h"
#include "transform/transform.h"

/* GUCs */
char	   *lh_openlineage_url = NULL;
char	   *lh_openlineage_namespace = NULL;
char	   *lh_openlineage_dataset_namespace = NULL;
int			lh_openlineage_timeout = 5000;
int			lh_openlineage_retention = 7 * 86400;
int			lh_openlineage_stream_interval = 10000;
int			lh_openlineage_max_backoff = 300;
int			lh_metrics_port = 0;
char	   *lh_metrics_listen_address = NULL;
char	   *lh_metrics_database = NULL;


/* The pipeline run whose stages the hook sees (runs never nest). */
static int64 cur_run_id = 0;
static char cur_run_uuid[37];
static char *cur_pipeline = NULL;

/* A dataset of an event. */
typedef struct OlDataset
{
	char	   *ns;
	char	   *name;
	Oid			relid;			/* PostgreSQL table: for the schema facet */
	char	   *facets;			/* its dataSource and schema facets, once built */
} OlDataset;


/* ---------- small helpers ---------- */

void
lineage_json_str(StringInfo buf, const char *s)
{
	escape_json(buf, s ? s : "");
}

/*
 * Open a facet object: "key":{"_producer":...,"_schemaURL":...  The caller
 * appends its fields (each preceded by a comma) and the closing brace.
 */
void
lineage_facet_head(StringInfo buf, const char *key, const char *file,
				   const char *def)
{
	escape_json(buf, key);
	appendStringInfoString(buf, ":{\"_producer\":");
	escape_json(buf, LH_OL_PRODUCER);
	appendStringInfo(buf, ",\"_schemaURL\":\"" LH_OL_FACETS "%s#/$defs/%s\"", file, def);
}

/* A UUIDv7 in its text form (RFC 9562). */
static void
lineage_new_uuid(char *out)
{
	uint8		b[16];
	uint64		ms = (uint64) ((GetCurrentTimestamp() / 1000) +
							   ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
								SECS_PER_DAY * 1000));

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values for a run id")));
	for (int i = 0; i < 6; i++)
		b[i] = (uint8) (ms >> (40 - 8 * i));
	b[6] = (b[6] & 0x0F) | 0x70;
	b[8] = (b[8] & 0x3F) | 0x80;
	snprintf(out, 37,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
			 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ISO 8601 in UTC with microseconds, as OpenLineage eventTime wants. */
static void
append_time(StringInfo buf, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					 tm.tm_sec, (int) fsec);
}

/* postgres://host:port of this server (lakehouse.openlineage_dataset_namespace) */
char *
lineage_postgres_namespace(void)
{
	char		host[256];

	if (lh_openlineage_dataset_namespace && lh_openlineage_dataset_namespace[0])
		return pstrdup(lh_openlineage_dataset_namespace);
	if (gethostname(host, sizeof(host)) != 0)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	return psprintf("postgres://%s:%d", host, PostPortNumber);
}

static const char *
job_namespace(void)
{
	return (lh_openlineage_namespace && lh_openlineage_namespace[0]) ?
		lh_openlineage_namespace : "lakehouse";
}

/* Runs of the lakehouse background workers are streaming. */
static bool
streaming_job(void)
{
	return MyBgworkerEntry != NULL &&
		strcmp(MyBgworkerEntry->bgw_library_name, "lakehouse") == 0;
}

static void
append_job(StringInfo buf, const char *name, const char *jobtype,
		   const char *sql)
{
	appendStringInfoString(buf, ",\"job\":{\"namespace\":");
	lineage_json_str(buf, job_namespace());
	appendStringInfoString(buf, ",\"name\":");
	lineage_json_str(buf, name);
	appendStringInfoString(buf, ",\"facets\":{");
	lineage_facet_head(buf, "jobType", "2-0-4/JobTypeJobFacet.json", "JobTypeJobFacet");
	appendStringInfo(buf, ",\"processingType\":\"%s\",\"integration\":\"LAKEHOUSE\","
					 "\"jobType\":\"%s\"}",
					 streaming_job() ? "STREAMING" : "BATCH", jobtype);
	if (sql)
	{
		appendStringInfoChar(buf, ',');
		lineage_facet_head(buf, "sql", "1-1-0/SQLJobFacet.json", "SQLJobFacet");
		appendStringInfoString(buf, ",\"query\":");
		lineage_json_str(buf, sql);
		appendStringInfoString(buf, ",\"dialect\":\"postgres\"}");
	}
	appendStringInfoString(buf, "}}");
}

/* "run":{...} with processing_engine, and parent / errorMessage if given. */
static void
append_run(StringInfo buf, const char *uuid, const char *parent_uuid,
		   const char *parent_job, const char *error)
{
	appendStringInfo(buf, ",\"run\":{\"runId\":\"%s\",\"facets\":{", uuid);
	lineage_facet_head(buf, "processing_engine", "1-1-1/ProcessingEngineRunFacet.json",
					   "ProcessingEngineRunFacet");
	appendStringInfoString(buf, ",\"version\":");
	lineage_json_str(buf, PG_VERSION);
	appendStringInfoString(buf, ",\"name\":\"PostgreSQL lakehouse\","
						   "\"openlineageAdapterVersion\":\"0.1\"}");
	if (parent_uuid)
	{
		appendStringInfoChar(buf, ',');
		lineage_facet_head(buf, "parent", "1-2-0/ParentRunFacet.json", "ParentRunFacet");
		appendStringInfo(buf, ",\"run\":{\"runId\":\"%s\"},\"job\":{\"namespace\":",
						 parent_uuid);
		lineage_json_str(buf, job_namespace());
		appendStringInfoString(buf, ",\"name\":");
		lineage_json_str(buf, parent_job);
		appendStringInfo(buf, "},\"root\":{\"run\":{\"runId\":\"%s\"},\"job\":{\"namespace\":",
						 parent_uuid);
		lineage_json_str(buf, job_namespace());
		appendStringInfoString(buf, ",\"name\":");
		lineage_json_str(buf, parent_job);
		appendStringInfoString(buf, "}}}");
	}
	if (error)
	{
		appendStringInfoChar(buf, ',');
		lineage_facet_head(buf, "errorMessage", "1-0-1/ErrorMessageRunFacet.json",
						   "ErrorMessageRunFacet");
		appendStringInfoString(buf, ",\"message\":");
		lineage_json_str(buf, error);
		appendStringInfoString(buf, ",\"programmingLanguage\":\"SQL\"}");
	}
	appendStringInfoString(buf, "}}");
}

static void
event_head(StringInfo buf, const char *type, TimestampTz when)
{
	appendStringInfo(buf, "{\"eventType\":\"%s\",\"eventTime\":", type);
	append_time(buf, when);
	appendStringInfoString(buf, ",\"producer\":");
	lineage_json_str(buf, LH_OL_PRODUCER);
	appendStringInfoString(buf, ",\"schemaURL\":");
	lineage_json_str(buf, LH_OL_SCHEMA);
}

/* Queue one event (same transaction as the run). */
static void
outbox_insert(int64 run_id, const char *pipeline, const char *uuid,
			  const char *job, const char *type, TimestampTz when,
			  const char *payload)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(run_id);
	if (run_id == 0)
		nulls[0] = 'n';
	values[1] = CStringGetTextDatum(pipeline);
	values[2] = CStringGetTextDatum(uuid);
	values[3] = CStringGetTextDatum(job);
	values[4] = CStringGetTextDatum(type);
	values[5] = TimestampTzGetDatum(when);
	values[6] = CStringGetTextDatum(payload);
	catalog_exec("INSERT INTO lakehouse.event_outbox"
				 " (run_id, pipeline_name, run_uuid, job_name, event_type, event_time,"
				 " payload) VALUES ($1, $2, $3::uuid, $4, $5, $6, $7::jsonb)",
				 7, types, values, nulls, SPI_OK_INSERT);
}

/* Queue the START and the COMPLETE/FAIL of one run, in that order. */
static void
outbox_insert_pair(int64 run_id, const char *pipeline, const char *uuid,
				   const char *job, TimestampTz started, const char *start_payload,
				   const char *end_type, TimestampTz finished, const char *end_payload)
{
	outbox_insert(run_id, pipeline, uuid, job, "START", started, start_payload);
	outbox_insert(run_id, pipeline, uuid, job, end_type, finished, end_payload);
}

/* ---------- pipeline runs ---------- */

/*
 * lineage_run_start
 *		The pipeline run began (run row inserted, SPI connected).
 */
void
lineage_run_start(int64 run_id, const char *pipeline, bool full_refresh)
{
	StringInfoData buf;
	TimestampTz now = GetCurrentTimestamp();

	cur_run_id = run_id;
	lineage_new_uuid(cur_run_uuid);
	if (cur_pipeline)
		pfree(cur_pipeline);
	cur_pipeline = MemoryContextStrdup(TopMemoryContext, pipeline);
	if (!lh_emit_events)
		return;
	initStringInfo(&buf);
	event_head(&buf, "START", now);
	append_run(&buf, cur_run_uuid, NULL, NULL, NULL);
	append_job(&buf, pipeline, "DAG", NULL);
	appendStringInfoString(&buf, ",\"inputs\":[],\"outputs\":[]}");
	outbox_insert(run_id, pipeline, cur_run_uuid, pipeline, "START", now, buf.data);
}

/*
 * lineage_run_end
 *		The pipeline run ended; error_message is set when it failed.
 */
void
lineage_run_end(int64 run_id, const char *pipeline, bool failed,
				const char *error_message)
{
	StringInfoData buf;
	TimestampTz now = GetCurrentTimestamp();

	if (!lh_emit_events || run_id != cur_run_id)
		return;
	initStringInfo(&buf);
	event_head(&buf, failed ? "FAIL" : "COMPLETE", now);
	append_run(&buf, cur_run_uuid, NULL, NULL,
			   failed ? (error_message ? error_message : "the run failed") : NULL);
	append_job(&buf, pipeline, "DAG", NULL);
	appendStringInfoString(&buf, ",\"inputs\":[],\"outputs\":[]}");
	outbox_insert(run_id, pipeline, cur_run_uuid, pipeline,
				  failed ? "FAIL" : "COMPLETE", now, buf.data);
}

/* ---------- datasets ---------- */

static OlDataset *
pg_dataset(const char *ns, const char *schema, const char *table)
{
	OlDataset  *d = palloc0(sizeof(OlDataset));

	d->ns = pstrdup(ns);
	d->name = psprintf("%s.%s.%s", get_database_name(MyDatabaseId), schema, table);
	d->relid = lh_table_oid(schema, table, true);
	return d;
}

/* The dataset a source reads, as its kind names it (src/sources/). */
static OlDataset *
source_input_dataset(LhSource *src, const char *ns)
{
	SourceDataset ds;
	OlDataset  *d;

	source_dataset(src, &ds);
	if (ds.ns == NULL)
		return pg_dataset(ns, ds.schema, ds.table);
	d = palloc0(sizeof(OlDataset));
	d->ns = ds.ns;
	d->name = ds.name;
	return d;
}

/* "schema" and "dataSource" facets of a dataset (inside "facets":{...}) */
static void
append_dataset_facets(StringInfo out, OlDataset *d)
{
	StringInfoData facets;
	StringInfo	buf = &facets;

	if (d->facets)
	{
		appendStringInfoString(out, d->facets);
		return;
	}
	initStringInfo(&facets);
	lineage_facet_head(buf, "dataSource", "1-0-1/DatasourceDatasetFacet.json",
					   "DatasourceDatasetFacet");
	appendStringInfoString(buf, ",\"name\":");
	lineage_json_str(buf, d->ns);
	appendStringInfoString(buf, ",\"uri\":");
	lineage_json_str(buf, d->ns);
	appendStringInfoChar(buf, '}');
	if (OidIsValid(d->relid))
	{
		Oid			types[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(d->relid)};

		catalog_exec("SELECT attname, pg_catalog.format_type(atttypid, atttypmod),"
					 " row_number() OVER (ORDER BY attnum)"
					 " FROM pg_catalog.pg_attribute"
					 " WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped"
					 " ORDER BY attnum",
					 1, types, values, NULL, SPI_OK_SELECT);
		appendStringInfoChar(buf, ',');
		lineage_facet_head(buf, "schema", "1-2-0/SchemaDatasetFacet.json",
						   "SchemaDatasetFacet");
		appendStringInfoString(buf, ",\"fields\":[");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];

			appendStringInfoString(buf, i ? ",{\"name\":" : "{\"name\":");
			lineage_json_str(buf, SPI_getvalue(tup, SPI_tuptable->tupdesc, 1));
			appendStringInfoString(buf, ",\"type\":");
			lineage_json_str(buf, SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
			appendStringInfo(buf, ",\"ordinal_position\":%s}",
							 SPI_getvalue(tup, SPI_tuptable->tupdesc, 3));
		}
		appendStringInfoString(buf, "]}");
	}
	d->facets = facets.data;
	appendStringInfoString(out, d->facets);
}

static void
append_dataset_head(StringInfo buf, OlDataset *d)
{
	appendStringInfoString(buf, "{\"namespace\":");
	lineage_json_str(buf, d->ns);
	appendStringInfoString(buf, ",\"name\":");
	lineage_json_str(buf, d->name);
}

/* Silver: each column comes from a path of the bronze payload. */
static void
append_silver_columns(StringInfo buf, int32 table_id, OlDataset *bronze)
{
	List	   *cols = silver_load_columns(table_id);
	ListCell   *lc;

	appendStringInfoChar(buf, ',');
	lineage_facet_head(buf, "columnLineage", "1-2-0/ColumnLineageDatasetFacet.json",
					   "ColumnLineageDatasetFacet");
	appendStringInfoString(buf, ",\"fields\":{");
	foreach(lc, cols)
	{
		LhSilverColumn *c = lfirst(lc);
		StringInfoData path;
		ListCell   *pc;

		initStringInfo(&path);
		appendStringInfoString(&path, "payload");
		foreach(pc, c->path)
			appendStringInfo(&path, "->%s", (char *) lfirst(pc));
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(buf, ',');
		lineage_json_str(buf, c->name);
		appendStringInfoString(buf, ":{\"inputFields\":[{\"namespace\":");
		lineage_json_str(buf, bronze->ns);
		appendStringInfoString(buf, ",\"name\":");
		lineage_json_str(buf, bronze->name);
		appendStringInfoString(buf, ",\"field\":\"payload\",\"transformations\":[{"
							   "\"type\":\"DIRECT\",\"subtype\":");
		lineage_json_str(buf, c->transforms ? "TRANSFORMATION" : "IDENTITY");
		appendStringInfoString(buf, ",\"description\":");
		lineage_json_str(buf, psprintf("%s cast to %s", path.data, c->type_name));
		appendStringInfoString(buf, ",\"masking\":false}]}]}");
	}
	appendStringInfoString(buf, "}}");
}

/* Data-quality results of this stage's table in this run. */
static void
append_quality(StringInfo buf, int64 run_id, int32 table_id)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int32GetDatum(table_id)};

	catalog_exec("SELECT r.expectation, r.kind, r.success, r.severity,"
				 " e.args->>'column', r.observed_value::text"
				 " FROM lakehouse.dq_results r"
				 " LEFT JOIN lakehouse.dq_expectations e"
				 "   ON e.table_id = r.table_id AND e.name = r.expectation"
				 " WHERE r.run_id = $1 AND r.table_id = $2"
				 " ORDER BY r.result_id",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	appendStringInfoChar(buf, ',');
	lineage_facet_head(buf, "dataQualityAssertions",
					   "1-1-0/DataQualityAssertionsDatasetFacet.json",
					   "DataQualityAssertionsDatasetFacet");
	appendStringInfoString(buf, ",\"assertions\":[");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *column = SPI_getvalue(tup, desc, 5);
		char	   *observed = SPI_getvalue(tup, desc, 6);

		appendStringInfoString(buf, i ? ",{\"assertion\":" : "{\"assertion\":");
		lineage_json_str(buf, SPI_getvalue(tup, desc, 2));
		appendStringInfo(buf, ",\"success\":%s,\"name\":",
						 DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) ? "true" : "false");
		lineage_json_str(buf, SPI_getvalue(tup, desc, 1));
		appendStringInfoString(buf, ",\"severity\":");
		lineage_json_str(buf, SPI_getvalue(tup, desc, 4));
		if (column)
		{
			appendStringInfoString(buf, ",\"column\":");
			lineage_json_str(buf, column);
		}
		if (observed)
		{
			appendStringInfoString(buf, ",\"actual\":");
			lineage_json_str(buf, observed);
		}
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoString(buf, "]}");
}

/* ---------- stage runs ---------- */

static LhSource *
find_source_by_target(int32 pipeline_id, const char *target)
{
	ListCell   *lc;

	foreach(lc, catalog_pipeline_sources(pipeline_id, true))
	{
		LhSource   *s = lfirst(lc);

		if (strcmp(lh_qualified_name(s->bronze_schema, s->bronze_table), target) == 0)
			return s;
	}
	return NULL;
}

static LhTable *
find_table(int32 pipeline_id, const char *layer, int32 table_id)
{
	ListCell   *lc;

	foreach(lc, catalog_pipeline_tables(pipeline_id, layer))
	{
		LhTable    *t = lfirst(lc);

		if (t->table_id == table_id)
			return t;
	}
	return NULL;
}

/* one START or COMPLETE/FAIL event of a stage */
static char *
stage_event(const char *type, TimestampTz when, const char *uuid, const char *job,
			const char *sql, const char *error, List *inputs, OlDataset *output,
			const char *column_lineage, LhStageRecord *rec, bool final,
			int64 run_id, int32 table_id, bool has_parent)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	event_head(&buf, type, when);
	append_run(&buf, uuid, has_parent ? cur_run_uuid : NULL, cur_pipeline, error);
	append_job(&buf, job, "TASK", sql);
	appendStringInfoString(&buf, ",\"inputs\":[");
	foreach(lc, inputs)
	{
		OlDataset  *d = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		append_dataset_head(&buf, d);
		appendStringInfoString(&buf, ",\"facets\":{");
		append_dataset_facets(&buf, d);
		appendStringInfoChar(&buf, '}');
		if (final && list_length(inputs) == 1)
		{
			appendStringInfoString(&buf, ",\"inputFacets\":{");
			lineage_facet_head(&buf, "inputStatistics",
							   "1-0-0/InputStatisticsInputDatasetFacet.json",
							   "InputStatisticsInputDatasetFacet");
			appendStringInfo(&buf, ",\"rowCount\":" INT64_FORMAT "}}", rec->rows_read);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "],\"outputs\":[");
	append_dataset_head(&buf, output);
	appendStringInfoString(&buf, ",\"facets\":{");
	append_dataset_facets(&buf, output);
	if (column_lineage)
		appendStringInfoString(&buf, column_lineage);
	if (final && table_id != 0)
		append_quality(&buf, run_id, table_id);
	appendStringInfoChar(&buf, '}');
	if (final)
	{
		appendStringInfoString(&buf, ",\"outputFacets\":{");
		lineage_facet_head(&buf, "outputStatistics",
						   "1-0-2/OutputStatisticsOutputDatasetFacet.json",
						   "OutputStatisticsOutputDatasetFacet");
		appendStringInfo(&buf, ",\"rowCount\":" INT64_FORMAT "}}", rec->rows_written);
	}
	appendStringInfoString(&buf, "}]}");
	return buf.data;
}

/*
 * lineage_stage_done: the START and COMPLETE/FAIL events of a stage (a
 * stage check of src/pipeline/checks.c, after quality's).
 */
void
lineage_stage_done(int64 run_id, int stage_no, const char *stage,
				   const char *target, int32 table_id, const char *status,
				   ErrorData *error)
{
	LhStageRecord rec;
	char		uuid[37];
	char	   *job;
	char	   *ns;
	char	   *sql = NULL;
	char	   *column_lineage = NULL;
	List	   *inputs = NIL;
	OlDataset  *output = NULL;
	int32		pipeline_id;
	bool		failed = strcmp(status, "failed") == 0;

	if (!lh_emit_events || lh_current_run == NULL || run_id != cur_run_id ||
		!catalog_stage_record(run_id, stage_no, &rec))
		return;
	pipeline_id = lh_current_run->pipeline_id;
	ns = lineage_postgres_namespace();
	job = psprintf("%s.%s.%s", cur_pipeline, stage, target);

	if (strcmp(stage, "ingest") == 0)
	{
		LhSource   *src = find_source_by_target(pipeline_id, target);

		if (src == NULL)
			return;
		inputs = list_make1(source_input_dataset(src, ns));
		output = pg_dataset(ns, src->bronze_schema, src->bronze_table);
	}
	else
	{
		LhTable    *t = find_table(pipeline_id, stage, table_id);

		if (t == NULL)
			return;
		output = pg_dataset(ns, t->schema_name, t->table_name);
		if (strcmp(stage, "silver") == 0)
		{
			LhSource   *src = catalog_source_by_id(t->source_id, false);
			OlDataset  *bronze = pg_dataset(ns, src->bronze_schema, src->bronze_table);
			StringInfoData cl;

			inputs = list_make1(bronze);
			initStringInfo(&cl);
			append_silver_columns(&cl, t->table_id, bronze);
			column_lineage = cl.data;
		}
		else
		{
			StringInfoData cl;
			List	   *rels = NIL;
			ListCell   *lc;

			sql = t->sql;
			initStringInfo(&cl);
			lineage_gold_columns(&cl, t->sql, ns, &rels);
			if (cl.len > 0)
				column_lineage = cl.data;
			foreach(lc, rels)
			{
				char	   *qualified = lfirst(lc);
				char	   *schema;
				char	   *table;

				lh_parse_table_name(qualified, "public", &schema, &table);
				inputs = lappend(inputs, pg_dataset(ns, schema, table));
			}
		}
	}

	lineage_new_uuid(uuid);
	outbox_insert_pair(run_id, cur_pipeline, uuid, job, rec.started,
					   stage_event("START", rec.started, uuid, job, sql, NULL, inputs,
								   output, column_lineage, &rec, false, run_id, table_id,
								   true),
					   failed ? "FAIL" : "COMPLETE", rec.finished,
					   stage_event(failed ? "FAIL" : "COMPLETE", rec.finished, uuid, job,
								   sql, failed ? (rec.error ? rec.error : "the stage failed") : NULL,
								   inputs, output, column_lineage, &rec, true, run_id,
								   table_id, true));
}

/*
 * stream_emit
 *		One STREAMING OpenLineage run of a Kafka worker, START and COMPLETE,
 *		covering the batches landed since started, with the topic as input
 *		and the bronze table as output.  It has no parent: a worker's batches
 *		belong to no pipeline run.  Caller is in a transaction, SPI connected.
 */
static void
stream_emit(LhSource *src, TimestampTz started, int64 rows_read,
			int64 rows_written)
{
	LhStageRecord rec;
	char		uuid[37];
	char	   *ns;
	char	   *job;
	char	   *pipeline;
	List	   *inputs;
	OlDataset  *output;

	pipeline = catalog_pipeline_name_if_exists(src->pipeline_id);
	if (pipeline == NULL)
		return;
	ns = lineage_postgres_namespace();
	job = psprintf("%s.ingest.%s", pipeline,
				   lh_qualified_name(src->bronze_schema, src->bronze_table));
	inputs = list_make1(source_input_dataset(src, ns));
	output = pg_dataset(ns, src->bronze_schema, src->bronze_table);
	memset(&rec, 0, sizeof(rec));
	rec.started = started;
	rec.finished = GetCurrentTimestamp();
	rec.rows_read = rows_read;
	rec.rows_written = rows_written;
	lineage_new_uuid(uuid);
	outbox_insert_pair(0, pipeline, uuid, job, rec.started,
					   stage_event("START", rec.started, uuid, job, NULL, NULL, inputs,
								   output, NULL, &rec, false, 0, 0, false),
					   "COMPLETE", rec.finished,
					   stage_event("COMPLETE", rec.finished, uuid, job, NULL, NULL, inputs,
								   output, NULL, &rec, true, 0, 0, false));
}

/*
 * A Kafka worker's batches are grouped into windows of at least
 * lakehouse.openlineage_stream_interval, one OpenLineage run each: a busy
 * topic lands a batch every few milliseconds, and an event pair per batch
 * would flood the outbox and the lineage server.  The open window (its
 * start and row counts) is the source mark "lineage_window", written in the
 * transaction of each batch like the offsets, so a window survives a crash
 * or a restart of the worker and no landed row is left out of the lineage.
 */
typedef struct StreamWindow
{
	TimestampTz started;
	int64		rows_read;
	int64		rows_written;
} StreamWindow;

/* Forget the source's open window (after emitting it, or unemitted). */
static void
stream_window_forget(int32 source_id)
{
	(void) catalog_delete_source_mark(source_id, "lineage_window");
}

static bool
stream_window_read(int32 source_id, StreamWindow *w)
{
	char	   *mark = catalog_get_source_mark(source_id, "lineage_window");

	if (mark == NULL ||
		sscanf(mark, INT64_FORMAT " " INT64_FORMAT " " INT64_FORMAT,
			   &w->started, &w->rows_read, &w->rows_written) != 3)
		return false;
	return true;
}

/* Emit the window if it is due (or force), else keep it; returns its start, or 0. */
static TimestampTz
stream_window_settle(LhSource *src, StreamWindow *w, bool force)
{
	if (force || lh_openlineage_stream_interval == 0 ||
		TimestampDifferenceExceeds(w->started, GetCurrentTimestamp(),
											lh_openlineage_stream_interval))
	{
		stream_emit(src, w->started, w->rows_read, w->rows_written);
		stream_window_forget(src->source_id);
		return 0;
	}
	catalog_set_source_mark(src->source_id, "lineage_window",
							psprintf(INT64_FORMAT " " INT64_FORMAT " " INT64_FORMAT,
									 w->started, w->rows_read, w->rows_written));
	return w->started;
}

/*
 * lineage_stream_batch
 *		A Kafka worker landed a batch that started at started (in the
 *		batch's transaction, SPI connected): add it to the open window, and
 *		emit the window when it is due.  Returns the start of the window
 *		still open, or 0.
 */
TimestampTz
lineage_stream_batch(LhSource *src, TimestampTz started, int64 rows_read,
					 int64 rows_written)
{
	StreamWindow w;

	if (!lh_emit_events)
		return 0;
	if (!stream_window_read(src->source_id, &w))
	{
		w.started = started;
		w.rows_read = 0;
		w.rows_written = 0;
	}
	w.rows_read += rows_read;
	w.rows_written += rows_written;
	return stream_window_settle(src, &w, false);
}

/*
 * lineage_stream_flush
 *		Emit the source's open window if it is due (in a transaction, SPI
 *		connected): an idle worker calls it so that a quiet topic's last
 *		batches do not wait for the next message.  Returns the start of the
 *		window still open, or 0.
 */
TimestampTz
lineage_stream_flush(LhSource *src)
{
	StreamWindow w;

	if (!stream_window_read(src->source_id, &w))
		return 0;
	if (!lh_emit_events)
	{
		/* events were switched off meanwhile: forget the window */
		stream_window_forget(src->source_id);
		return 0;
	}
	return stream_window_settle(src, &w, false);
}

/* ---------- log correlation in workers ---------- */

static char *worker_ctx_text = NULL;
static ErrorContextCallback worker_ctx_cb;

static void
worker_error_context(void *arg)
{
	if (worker_ctx_text)
		errcontext("%s", worker_ctx_text);
}

/*
 * observe_worker_context
 *		For the rest of a source worker's life, every message it logs names
 *		the pipeline, stage and source (workers' batches have no run id).
 *		SPI connected, in a transaction.
 */
void
observe_worker_context(LhSource *src, const char *worker)
{
	char	   *pipeline = catalog_pipeline_name_if_exists(src->pipeline_id);

	if (pipeline == NULL)
		pipeline = "";
	if (worker_ctx_text == NULL)
	{
		worker_ctx_cb.callback = worker_error_context;
		worker_ctx_cb.arg = NULL;
		worker_ctx_cb.previous = error_context_stack;
		error_context_stack = &worker_ctx_cb;
	}
	else
		pfree(worker_ctx_text);
	worker_ctx_text = MemoryContextStrdup(TopMemoryContext,
										  psprintf("pipeline \"%s\", stage ingest %s, %s worker of source \"%s\"",
												   pipeline,
												   lh_qualified_name(src->bronze_schema,
																	 src->bronze_table),
												   worker, src->name));
}

/*
 * observe_init
 *		Settings of the observability subsystem (from _PG_init, before the
 *		lakehouse prefix is reserved).
 */
void
observe_init(void)
{
	DefineCustomStringVariable("lakehouse.openlineage_url",
							   "OpenLineage endpoint the lineage worker posts events to.",
							   "A Marquez-compatible lineage API, for example "
							   "http://marquez:5000/api/v1/lineage.  Empty: events stay in "
							   "lakehouse.event_outbox and no worker delivers them.",
							   &lh_openlineage_url, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("lakehouse.openlineage_namespace",
							   "OpenLineage namespace of the jobs (pipelines and stages).",
							   NULL,
							   &lh_openlineage_namespace, "lakehouse", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("lakehouse.openlineage_dataset_namespace",
							   "OpenLineage namespace of this server's tables.",
							   "Empty: postgres://<host name>:<port>.  Set it to the address "
							   "clients use so that other producers name the same datasets.",
							   &lh_openlineage_dataset_namespace, "", PGC_SUSET, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("lakehouse.openlineage_timeout",
							"Timeout of one delivery of an OpenLineage event.",
							NULL,
							&lh_openlineage_timeout, 5000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("lakehouse.openlineage_stream_interval",
							"Shortest span of Kafka batches reported as one OpenLineage run.",
							"A Kafka worker's batches are grouped: one STREAMING run per "
							"window of at least this long.  0: one run per batch.",
							&lh_openlineage_stream_interval, 10000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("lakehouse.openlineage_retention",
							"How long delivered OpenLineage events are kept in the outbox.",
							"Undelivered events are kept while lakehouse.openlineage_url is set; "
							"without a URL, all events older than this are pruned.",
							&lh_openlineage_retention, 7 * 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("lakehouse.openlineage_max_backoff",
							"Longest wait between two delivery attempts of an event.",
							"Retries wait 1 s, then twice as long each time, up to this.",
							&lh_openlineage_max_backoff, 300, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("lakehouse.metrics_port",
							"TCP port of the Prometheus /metrics endpoint; 0 turns it off.",
							"Served by a background worker of the database named by "
							"lakehouse.metrics_database (needs shared_preload_libraries).",
							&lh_metrics_port, 0, 0, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("lakehouse.metrics_listen_address",
							   "Address the /metrics endpoint listens on.",
							   NULL,
							   &lh_metrics_listen_address, "127.0.0.1", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("lakehouse.metrics_database",
							   "Database whose lakehouse metrics the /metrics endpoint serves.",
							   NULL,
							   &lh_metrics_database, "postgres", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
}

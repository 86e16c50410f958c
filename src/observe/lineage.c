/*-------------------------------------------------------------------------
 *
 * lineage.c
 *	  OpenLineage RunEvents for pipeline runs, their stages and the
 *	  quality checks of those stages, written to lakehouse.event_outbox in
 *	  the run's own transaction.
 *
 * Three kinds of OpenLineage run, named after the pipeline and, for
 * stages, the layer and table they write (<pipeline>.<layer>.<table>, the
 * table without its layer's schema: lh_layer_table_name; the same names
 * as the labels of the metrics):
 *	- the pipeline run (job "<pipeline>"): START when lh_run_pipeline or
 *	  lh_ingest begins a run (lineage_run_start, called by run.c after the
 *	  run row is inserted) and COMPLETE or FAIL when it ends
 *	  (lineage_run_end).  An upstream pipeline run, started first by
 *	  lh_run_pipeline for the pipeline that depends on it, names that
 *	  run as its parent: the dependent run's id is chosen before the
 *	  upstream runs start (lineage_trigger_init);
 *	- each stage run (job "<pipeline>.<layer>.<table>"): a START and a
 *	  COMPLETE or FAIL, both written by lineage_stage_done (the last stage
 *	  check of src/pipeline/checks.c), which runs after the stage was
 *	  recorded in lakehouse.run_stages and outside the stage's
 *	  subtransaction.  The events are built from that surviving
 *	  record (times, row counts, error), so a rolled-back stage still has
 *	  its START and FAIL; the START carries the stage's start time.
 *	  Stages that did not run get no events;
 *	- the quality check of a stage's table (job "<stage job>.check",
 *	  jobType TEST), when the stage recorded expectation results: the
 *	  checked table is its input, with the results as the
 *	  dataQualityAssertions input facet, as the facet's definition (an
 *	  InputDatasetFacet) and OpenLineage's dbt and Great Expectations
 *	  integrations have it.  Its parent is the stage run.
 *
 * Run ids are UUIDv7 (48-bit Unix milliseconds, then random bits from
 * pg_strong_random), generated here.  Every run but a top one carries a
 * ParentRunFacet naming its parent and the root of its hierarchy.  Every
 * event names its producer and schemaURL; datasets are named per the
 * OpenLineage naming spec: PostgreSQL tables in namespace
 * postgres://host:port as database.schema.table, Kafka topics in
 * kafka://broker:port, HTTP APIs in scheme://host:port with the path as
 * name, files in namespace "file" with the path as name.  A dataset's
 * dataSource facet has the URI its source kind gives (file:// URLs for
 * files), or the namespace when that is a URI; never a non-URI.
 *
 * Statistics: outputStatistics.rowCount is the rows the stage wrote;
 * inputStatistics.rowCount the rows it read from that input, given only
 * where that is known: ingest and silver stages read one input and count
 * what they read; a gold stage's query reads its inputs in ways only the
 * executor knows (filters, joins, index lookups), so its inputs carry no
 * statistics, and neither do the inputs of a failed stage whose counts
 * were rolled back with it.
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


/* A run other runs point at: its id and its job's name. */
typedef struct OlRunRef
{
	char		uuid[37];
	char	   *job;
} OlRunRef;

/*
 * The pipeline run whose stages the hook sees (runs never nest), its
 * parent (the run that triggered it, if any) and the root of its
 * hierarchy (the parent, or itself).  Names in TopMemoryContext.
 */
static int64 cur_run_id = 0;
static OlRunRef cur_run;
static OlRunRef cur_parent;
static bool cur_has_parent = false;

/* A dataset of an event. */
typedef struct OlDataset
{
	char	   *ns;
	char	   *name;
	char	   *uri;			/* its data source's URI, or NULL */
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

/* "run":{"runId":...},"job":{...} of a run a parent facet names */
static void
append_run_ref(StringInfo buf, const OlRunRef *ref)
{
	appendStringInfo(buf, "\"run\":{\"runId\":\"%s\"},\"job\":{\"namespace\":",
					 ref->uuid);
	lineage_json_str(buf, job_namespace());
	appendStringInfoString(buf, ",\"name\":");
	lineage_json_str(buf, ref->job);
	appendStringInfoChar(buf, '}');
}

/*
 * "run":{...} with processing_engine, parent (the parent run and the root
 * of the hierarchy) if parent is given, and errorMessage if error is.
 */
static void
append_run(StringInfo buf, const char *uuid, const OlRunRef *parent,
		   const OlRunRef *root, const char *error)
{
	appendStringInfo(buf, ",\"run\":{\"runId\":\"%s\",\"facets\":{", uuid);
	lineage_facet_head(buf, "processing_engine", "1-1-1/ProcessingEngineRunFacet.json",
					   "ProcessingEngineRunFacet");
	appendStringInfoString(buf, ",\"version\":");
	lineage_json_str(buf, PG_VERSION);
	appendStringInfoString(buf, ",\"name\":\"PostgreSQL lakehouse\","
						   "\"openlineageAdapterVersion\":\"0.1\"}");
	if (parent)
	{
		appendStringInfoChar(buf, ',');
		lineage_facet_head(buf, "parent", "1-2-0/ParentRunFacet.json", "ParentRunFacet");
		appendStringInfoChar(buf, ',');
		append_run_ref(buf, parent);
		appendStringInfoString(buf, ",\"root\":{");
		append_run_ref(buf, root);
		appendStringInfoString(buf, "}}");
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

/* Set ref to uuid (or a new one, if NULL) and a copy of job in TopMemoryContext. */
static void
run_ref_set(OlRunRef *ref, const char *uuid, const char *job)
{
	if (uuid)
		strlcpy(ref->uuid, uuid, sizeof(ref->uuid));
	else
		lineage_new_uuid(ref->uuid);
	if (ref->job)
		pfree(ref->job);
	ref->job = MemoryContextStrdup(TopMemoryContext, job);
}

/* The root of the current pipeline run's hierarchy. */
static const OlRunRef *
cur_root(void)
{
	return cur_has_parent ? &cur_parent : &cur_run;
}

/*
 * lineage_trigger_init
 *		Choose the OpenLineage run id of a run of pipeline that is about to
 *		start its upstream pipelines' runs: they name it as their parent
 *		(lineage_run_start's trigger), and it starts with that id.
 */
void
lineage_trigger_init(LineageTrigger *trigger, const char *pipeline)
{
	lineage_new_uuid(trigger->uuid);
	trigger->pipeline = pipeline;
}

/* The START, COMPLETE or FAIL event of the current pipeline run. */
static void
pipeline_event(int64 run_id, const char *type, TimestampTz when, const char *error)
{
	StringInfoData buf;

	initStringInfo(&buf);
	event_head(&buf, type, when);
	append_run(&buf, cur_run.uuid, cur_has_parent ? &cur_parent : NULL, cur_root(),
			   error);
	append_job(&buf, cur_run.job, "DAG", NULL);
	appendStringInfoString(&buf, ",\"inputs\":[],\"outputs\":[]}");
	outbox_insert(run_id, cur_run.job, cur_run.uuid, cur_run.job, type, when, buf.data);
}

/*
 * lineage_run_start
 *		The pipeline run began (run row inserted, SPI connected).  uuid is
 *		its OpenLineage run id if chosen beforehand (lineage_trigger_init),
 *		else NULL; trigger is the run that started this one first, as its
 *		upstream, else NULL.
 */
void
lineage_run_start(int64 run_id, const char *pipeline, const char *uuid,
				  const LineageTrigger *trigger)
{
	cur_run_id = run_id;
	run_ref_set(&cur_run, uuid, pipeline);
	cur_has_parent = trigger != NULL;
	if (trigger)
		run_ref_set(&cur_parent, trigger->uuid, trigger->pipeline);
	if (lh_emit_events)
		pipeline_event(run_id, "START", GetCurrentTimestamp(), NULL);
}

/*
 * lineage_run_end
 *		The pipeline run ended; error_message is set when it failed.
 */
void
lineage_run_end(int64 run_id, bool failed, const char *error_message)
{
	if (!lh_emit_events || run_id != cur_run_id)
		return;
	pipeline_event(run_id, failed ? "FAIL" : "COMPLETE", GetCurrentTimestamp(),
				   failed ? (error_message ? error_message : "the run failed") : NULL);
}

/* ---------- datasets ---------- */

/* ASCII character classes (URIs are ASCII, whatever the server's locale) */
#define ASCII_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define ASCII_ALNUM(c) (ASCII_ALPHA(c) || ((c) >= '0' && (c) <= '9'))
#define ASCII_HEX(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'f') || \
					  ((c) >= 'A' && (c) <= 'F'))

/*
 * Is s an absolute URI (RFC 3986: scheme ":" hier-part, every other
 * character unreserved, reserved or a %XX escape)?  Namespaces are free
 * text to OpenLineage (lakehouse.openlineage_dataset_namespace may be set
 * to anything); only a URI may go into a dataSource facet's uri.
 */
static bool
lineage_is_uri(const char *s)
{
	const char *p = s;

	if (!ASCII_ALPHA(*p))
		return false;
	while (ASCII_ALNUM(*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (*p++ != ':' || *p == '\0')
		return false;
	for (; *p; p++)
	{
		if (*p == '%')
		{
			if (!ASCII_HEX(p[1]) || !ASCII_HEX(p[2]))
				return false;
			p += 2;
		}
		else if (!ASCII_ALNUM(*p) && !strchr("-._~:/?#[]@!$&'()*+,;=", *p))
			return false;
	}
	return true;
}

static OlDataset *
pg_dataset(const char *ns, const char *schema, const char *table)
{
	OlDataset  *d = palloc0(sizeof(OlDataset));

	d->ns = pstrdup(ns);
	d->name = psprintf("%s.%s.%s", get_database_name(MyDatabaseId), schema, table);
	d->uri = lineage_is_uri(ns) ? d->ns : NULL;
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
	d->uri = (ds.uri && lineage_is_uri(ds.uri)) ? ds.uri : NULL;
	return d;
}

/*
 * "dataSource" and "schema" facets of a dataset (inside "facets":{...}):
 * the data source is the namespace, with its URI when there is one.
 */
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
	if (d->uri)
	{
		appendStringInfoString(buf, ",\"uri\":");
		lineage_json_str(buf, d->uri);
	}
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

/*
 * The dataQualityAssertions facet ("dataQualityAssertions":{...}) of the
 * expectation results recorded for table_id in run_id: one assertion per
 * row of lakehouse.dq_results, with the expectation's arguments as params.
 * Sets *seconds to the time the checks took.  NULL when there are none.
 */
static char *
quality_assertions(int64 run_id, int32 table_id, double *seconds)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int32GetDatum(table_id)};
	StringInfoData buf;

	catalog_exec("SELECT r.expectation, r.kind, r.success, r.severity,"
				 " e.args->>'column', r.observed_value::text,"
				 " nullif(CASE WHEN jsonb_typeof(e.args) = 'object'"
				 "             THEN e.args - 'column' ELSE '{}' END"
				 "        || CASE WHEN r.mostly < 1"
				 "             THEN jsonb_build_object('mostly', r.mostly) ELSE '{}' END,"
				 "        '{}')::text,"
				 " coalesce(extract(epoch FROM sum(r.duration) OVER ()), 0)::float8"
				 " FROM lakehouse.dq_results r"
				 " LEFT JOIN lakehouse.dq_expectations e"
				 "   ON e.table_id = r.table_id AND e.name = r.expectation"
				 " WHERE r.run_id = $1 AND r.table_id = $2"
				 " ORDER BY r.result_id",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	initStringInfo(&buf);
	lineage_facet_head(&buf, "dataQualityAssertions",
					   "1-1-0/DataQualityAssertionsDatasetFacet.json",
					   "DataQualityAssertionsDatasetFacet");
	appendStringInfoString(&buf, ",\"assertions\":[");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *column = SPI_getvalue(tup, desc, 5);
		char	   *observed = SPI_getvalue(tup, desc, 6);
		char	   *params = SPI_getvalue(tup, desc, 7);

		appendStringInfoString(&buf, i ? ",{\"assertion\":" : "{\"assertion\":");
		lineage_json_str(&buf, SPI_getvalue(tup, desc, 2));
		appendStringInfo(&buf, ",\"success\":%s,\"name\":",
						 DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) ? "true" : "false");
		lineage_json_str(&buf, SPI_getvalue(tup, desc, 1));
		appendStringInfoString(&buf, ",\"severity\":");
		lineage_json_str(&buf, SPI_getvalue(tup, desc, 4));
		if (column)
		{
			appendStringInfoString(&buf, ",\"column\":");
			lineage_json_str(&buf, column);
		}
		if (observed)
		{
			appendStringInfoString(&buf, ",\"actual\":");
			lineage_json_str(&buf, observed);
		}
		if (params)
			appendStringInfo(&buf, ",\"params\":%s", params);
		appendStringInfoChar(&buf, '}');
		*seconds = DatumGetFloat8(SPI_getbinval(tup, desc, 8, &isnull));
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

/* ---------- stage runs ---------- */

/* The layer a stage writes: its kind, but an ingest stage writes bronze. */
static const char *
stage_layer(const char *stage)
{
	return strcmp(stage, "ingest") == 0 ? "bronze" : stage;
}

/*
 * The job of a stage: <pipeline>.<layer>.<table>, the table named without
 * its layer's schema (lh_layer_table_name), as the metrics label it.
 */
static char *
stage_job(const char *pipeline, const char *stage, const char *target)
{
	const char *layer = stage_layer(stage);

	return psprintf("%s.%s.%s", pipeline, layer, lh_layer_table_name(layer, target));
}

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

/* What the START and COMPLETE/FAIL events of one stage run describe. */
typedef struct OlStage
{
	OlRunRef	run;			/* its id and job */
	const OlRunRef *parent;		/* the pipeline run; NULL: a top run */
	const OlRunRef *root;
	const char *sql;			/* gold: the transform (sql job facet) */
	List	   *inputs;			/* OlDataset */
	OlDataset  *output;
	const char *column_lineage; /* ,"columnLineage":{...}, or NULL */
	int64		rows_read;		/* from its one input; -1: unknown */
	int64		rows_written;
} OlStage;

/* The dataset's head and facets: {"namespace":...,"facets":{...} (left open). */
static void
append_dataset(StringInfo buf, OlDataset *d)
{
	append_dataset_head(buf, d);
	appendStringInfoString(buf, ",\"facets\":{");
	append_dataset_facets(buf, d);
}

/*
 * One START or COMPLETE/FAIL event of a stage (final: a COMPLETE or FAIL,
 * with statistics).
 */
static char *
stage_event(const OlStage *st, const char *type, TimestampTz when,
			const char *error, bool final)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	event_head(&buf, type, when);
	append_run(&buf, st->run.uuid, st->parent, st->root, error);
	append_job(&buf, st->run.job, "TASK", st->sql);
	appendStringInfoString(&buf, ",\"inputs\":[");
	foreach(lc, st->inputs)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		append_dataset(&buf, lfirst(lc));
		appendStringInfoChar(&buf, '}');
		if (final && st->rows_read >= 0)
		{
			Assert(list_length(st->inputs) == 1);
			appendStringInfoString(&buf, ",\"inputFacets\":{");
			lineage_facet_head(&buf, "inputStatistics",
							   "1-0-0/InputStatisticsInputDatasetFacet.json",
							   "InputStatisticsInputDatasetFacet");
			appendStringInfo(&buf, ",\"rowCount\":" INT64_FORMAT "}}", st->rows_read);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "],\"outputs\":[");
	append_dataset(&buf, st->output);
	if (st->column_lineage)
		appendStringInfoString(&buf, st->column_lineage);
	appendStringInfoChar(&buf, '}');
	if (final)
	{
		appendStringInfoString(&buf, ",\"outputFacets\":{");
		lineage_facet_head(&buf, "outputStatistics",
						   "1-0-2/OutputStatisticsOutputDatasetFacet.json",
						   "OutputStatisticsOutputDatasetFacet");
		appendStringInfo(&buf, ",\"rowCount\":" INT64_FORMAT "}}", st->rows_written);
	}
	appendStringInfoString(&buf, "}]}");
	return buf.data;
}

/* Queue the START and the COMPLETE/FAIL of a stage run. */
static void
stage_emit(int64 run_id, const char *pipeline, const OlStage *st,
		   TimestampTz started, TimestampTz finished, const char *error)
{
	outbox_insert_pair(run_id, pipeline, st->run.uuid, st->run.job, started,
					   stage_event(st, "START", started, NULL, false),
					   error ? "FAIL" : "COMPLETE", finished,
					   stage_event(st, error ? "FAIL" : "COMPLETE", finished, error,
								   true));
}

/*
 * One START or COMPLETE event of the quality check of a stage's table: a
 * run of its own (a child of the stage run) whose input is the table, and
 * the assertions its input facet (COMPLETE only).
 */
static char *
check_event(const OlStage *st, const OlRunRef *check, const char *type,
			TimestampTz when, const char *assertions)
{
	StringInfoData buf;

	initStringInfo(&buf);
	event_head(&buf, type, when);
	append_run(&buf, check->uuid, &st->run, st->root, NULL);
	append_job(&buf, check->job, "TEST", NULL);
	appendStringInfoString(&buf, ",\"inputs\":[");
	append_dataset(&buf, st->output);
	appendStringInfoChar(&buf, '}');
	if (assertions)
		appendStringInfo(&buf, ",\"inputFacets\":{%s}", assertions);
	appendStringInfoString(&buf, "}],\"outputs\":[]}");
	return buf.data;
}

/*
 * The quality check of the table a stage wrote, if the stage recorded
 * expectation results for it: a START and a COMPLETE, the check having
 * run at the end of the stage (after its write) for as long as its
 * expectations took.  It completes whatever the results: a failed
 * expectation is an assertion with success false (and, with severity
 * "fail", the stage's FAIL).
 */
static void
check_emit(int64 run_id, const char *pipeline, const OlStage *st,
		   int32 table_id, const LhStageRecord *rec)
{
	OlRunRef	check = {{0}};
	double		seconds = 0;
	char	   *assertions = quality_assertions(run_id, table_id, &seconds);
	TimestampTz started;

	if (assertions == NULL)
		return;
	lineage_new_uuid(check.uuid);
	check.job = psprintf("%s.check", st->run.job);
	started = rec->finished - (TimestampTz) (seconds * USECS_PER_SEC);
	if (started < rec->started)
		started = rec->started;
	outbox_insert_pair(run_id, pipeline, check.uuid, check.job, started,
					   check_event(st, &check, "START", started, NULL),
					   "COMPLETE", rec->finished,
					   check_event(st, &check, "COMPLETE", rec->finished, assertions));
}

/*
 * lineage_stage_done: the START and COMPLETE/FAIL events of a stage, and
 * of its quality check (a stage check of src/pipeline/checks.c, after
 * quality's).
 */
void
lineage_stage_done(int64 run_id, int stage_no, const char *stage,
				   const char *target, int32 table_id, const char *status,
				   ErrorData *error)
{
	LhStageRecord rec;
	OlStage		st;
	char	   *ns;
	int32		pipeline_id;
	bool		failed = strcmp(status, "failed") == 0;

	if (!lh_emit_events || lh_current_run == NULL || run_id != cur_run_id ||
		!catalog_stage_record(run_id, stage_no, &rec))
		return;
	pipeline_id = lh_current_run->pipeline_id;
	ns = lineage_postgres_namespace();
	memset(&st, 0, sizeof(st));
	lineage_new_uuid(st.run.uuid);
	st.run.job = stage_job(cur_run.job, stage, target);
	st.parent = &cur_run;
	st.root = cur_root();
	st.rows_read = -1;
	st.rows_written = rec.rows_written;

	if (strcmp(stage, "ingest") == 0)
	{
		LhSource   *src = find_source_by_target(pipeline_id, target);

		if (src == NULL)
			return;
		st.inputs = list_make1(source_input_dataset(src, ns));
		st.output = pg_dataset(ns, src->bronze_schema, src->bronze_table);
		st.rows_read = rec.rows_read;
	}
	else
	{
		LhTable    *t = find_table(pipeline_id, stage, table_id);

		if (t == NULL)
			return;
		st.output = pg_dataset(ns, t->schema_name, t->table_name);
		if (strcmp(stage, "silver") == 0)
		{
			LhSource   *src = catalog_source_by_id(t->source_id, false);
			OlDataset  *bronze = pg_dataset(ns, src->bronze_schema, src->bronze_table);
			StringInfoData cl;

			st.inputs = list_make1(bronze);
			st.rows_read = rec.rows_read;
			initStringInfo(&cl);
			append_silver_columns(&cl, t->table_id, bronze);
			st.column_lineage = cl.data;
		}
		else
		{
			StringInfoData cl;
			List	   *rels = NIL;
			ListCell   *lc;

			st.sql = t->sql;
			initStringInfo(&cl);
			lineage_gold_columns(&cl, t->sql, ns, &rels);
			if (cl.len > 0)
				st.column_lineage = cl.data;
			foreach(lc, rels)
			{
				char	   *qualified = lfirst(lc);
				char	   *schema;
				char	   *table;

				lh_parse_table_name(qualified, "public", &schema, &table);
				st.inputs = lappend(st.inputs, pg_dataset(ns, schema, table));
			}
		}
	}

	/* a failed stage's counts went with its rollback, unless it kept work */
	if (failed && rec.rows_read == 0)
		st.rows_read = -1;
	stage_emit(run_id, cur_run.job, &st, rec.started, rec.finished,
			   failed ? (rec.error ? rec.error : "the stage failed") : NULL);
	if (table_id != 0)
		check_emit(run_id, cur_run.job, &st, table_id, &rec);
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
	OlStage		st;
	char	   *ns;
	char	   *pipeline;

	pipeline = catalog_pipeline_name_if_exists(src->pipeline_id);
	if (pipeline == NULL)
		return;
	ns = lineage_postgres_namespace();
	memset(&st, 0, sizeof(st));
	lineage_new_uuid(st.run.uuid);
	st.run.job = stage_job(pipeline, "ingest",
						   lh_qualified_name(src->bronze_schema, src->bronze_table));
	st.inputs = list_make1(source_input_dataset(src, ns));
	st.output = pg_dataset(ns, src->bronze_schema, src->bronze_table);
	st.rows_read = rows_read;
	st.rows_written = rows_written;
	stage_emit(0, pipeline, &st, started, GetCurrentTimestamp(), NULL);
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

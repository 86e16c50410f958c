/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  Dispatch of source operations by source kind.
 *
 * The SQL API (api.c) validates a source's options here when the source is
 * declared; the run (run.c) lands a source's new records here.  Each kind
 * lives in its own file: "table" in tables.c, "file" in files.c, "kafka"
 * in kafka.c, "http" in http.c.  A kafka source served by a running
 * background worker is landed by that worker; a run then has nothing to do
 * for it.
 *
 * Transactions.  ingest_source runs entirely inside the caller's
 * transaction (run.c gives each stage a subtransaction): the rows it lands,
 * the dead letters it records and the source marks it moves commit or
 * abort together.  The source's row in lakehouse.sources is locked (FOR NO
 * KEY UPDATE) for the rest of the transaction, so two ingests of one
 * source never read from the same mark.  It connects to SPI itself (a
 * nested connection if the caller already has one) and disconnects before
 * returning; on error the
 * subtransaction abort releases the connection, files, relations and
 * memory.  Errors raised while ingesting carry the context line
 * "while ingesting source "<name>"".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "sources/http.h"
#include "sources/kafka.h"
#include "lakehouse.h"
#include "worker/worker.h"

static void
ingest_error_callback(void *arg)
{
	LhSource   *src = (LhSource *) arg;

	errcontext("while ingesting source \"%s\"", src->name);
}

/* Raise the error for a kind ingest_validate_options does not know. */
static void
ingest_unsupported_kind(const char *kind)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized source kind: \"%s\"", kind),
			 errhint("Valid source kinds are \"table\", \"file\", \"kafka\" and \"http\".")));
}

/*
 * Serialize ingests of one source: two transactions reading from the same
 * mark would land the same records twice.  The source's catalog row is
 * locked until the caller's transaction ends (run.c's per-pipeline lock
 * already serializes runs; this keeps the rule local to ingestion).  A
 * source dropped meanwhile is an error.
 */
void
ingest_lock_source(LhSource *src)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	int			rc;

	values[0] = Int32GetDatum(src->source_id);
	rc = SPI_execute_with_args("SELECT 1 FROM lakehouse.sources"
							   " WHERE source_id = $1 FOR NO KEY UPDATE",
							   1, argtypes, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not lock source \"%s\": SPI result %d",
			 src->name, rc);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", src->name),
				 errdetail("It was dropped while the run was starting.")));
}

/*
 * ingest_validate_options
 *		Check the options of a source of the given kind; raise an error
 *		naming the problem.
 *
 * Needs no SPI connection.  Checks the declaring user's privileges too
 * (reading server files, selecting from the source table).
 */
void
ingest_validate_options(const char *kind, Jsonb *options)
{
	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source kind must not be null")));

	if (strcmp(kind, "table") == 0)
		tables_validate_options(options);
	else if (strcmp(kind, "file") == 0)
		files_validate_options(options);
	else if (strcmp(kind, "kafka") == 0)
		kafka_validate_options(options);
	else if (strcmp(kind, "http") == 0)
		http_validate_options(options);
	else
		ingest_unsupported_kind(kind);
}

/*
 * ingest_bronze_shape
 *		The shape of the bronze table of a source of this kind and options.
 */
void
ingest_bronze_shape(const char *kind, Jsonb *options, BronzeShape *shape)
{
	shape->kafka = (strcmp(kind, "kafka") == 0);
	shape->payload_type = shape->kafka ? kafka_payload_type(options) : JSONBOID;
}

/*
 * ingest_source
 *		Land the records src has delivered since its last ingest in its
 *		bronze table, move its marks, and add to *counts.
 *
 * run_id is stored in _lh_run_id (0: none).
 */
void
ingest_source(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	ErrorContextCallback errcallback;

	errcallback.callback = ingest_error_callback;
	errcallback.arg = (void *) src;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ingest_lock_source(src);

	if (strcmp(src->kind, "table") == 0)
		tables_ingest(src, run_id, counts);
	else if (strcmp(src->kind, "file") == 0)
		files_ingest(src, run_id, counts);
	else if (strcmp(src->kind, "kafka") == 0)
	{
		/* a worker that serves the source lands it; else consume once here */
		if (!lh_worker_serves(src->source_id))
			kafka_ingest(src, run_id, counts);
	}
	else if (strcmp(src->kind, "http") == 0)
		http_ingest(src, run_id, counts);
	else
		ingest_unsupported_kind(src->kind);

	SPI_finish();

	error_context_stack = errcallback.previous;
}

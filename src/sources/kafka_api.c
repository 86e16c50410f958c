/*-------------------------------------------------------------------------
 *
 * kafka_api.c
 *	  SQL functions that operate sources: lh_enable_source,
 *	  lh_disable_source, lh_reset_source, lh_replay_dead_letters and
 *	  lh_discard_dead_letters.
 *
 * They change the catalog in the caller's transaction and wake the
 * launchers and workers when it commits (lh_workers_notify); no network
 * request is made here.  A reset is a request (source mark
 * "reset:<partition>" or "reset:all") that the source's worker, or the
 * next one-shot ingest, resolves with the broker and applies in the
 * transaction of its next batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "sources/kafka.h"
#include "lakehouse.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_enable_source);
PG_FUNCTION_INFO_V1(lh_disable_source);
PG_FUNCTION_INFO_V1(lh_reset_source);
PG_FUNCTION_INFO_V1(lh_replay_dead_letters);
PG_FUNCTION_INFO_V1(lh_discard_dead_letters);

static LhSource *
source_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	return catalog_source_by_name(text_to_cstring(PG_GETARG_TEXT_PP(argno)),
								  false);
}

static void
require_kafka(LhSource *src, const char *what)
{
	if (strcmp(src->kind, "kafka") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s source \"%s\"", what, src->name),
				 errdetail("Source \"%s\" is of kind \"%s\"; only Kafka sources support this.",
						   src->name, src->kind)));
}

static Datum
set_enabled(FunctionCallInfo fcinfo, bool enabled)
{
	LhSource   *src;
	Oid			types[2] = {INT4OID, BOOLOID};
	Datum		values[2];

	SPI_connect();
	src = source_arg(fcinfo, 0);
	values[0] = Int32GetDatum(src->source_id);
	values[1] = BoolGetDatum(enabled);
	catalog_exec("UPDATE lakehouse.sources SET enabled = $2"
				 " WHERE source_id = $1 AND enabled IS DISTINCT FROM $2",
				 2, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
	lh_workers_notify(src->source_id);
	PG_RETURN_VOID();
}

/*
 * lh_enable_source(name) / lh_disable_source(name)
 *
 * A disabled source is skipped by runs and has no worker.
 */
Datum
lh_enable_source(PG_FUNCTION_ARGS)
{
	return set_enabled(fcinfo, true);
}

Datum
lh_disable_source(PG_FUNCTION_ARGS)
{
	return set_enabled(fcinfo, false);
}

/* Is s a non-negative integer? */
static bool
is_offset(const char *s)
{
	if (*s == '\0' || strlen(s) > 19)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void
reset_position_context(void *arg)
{
	errcontext("while reading reset position \"%s\"", (char *) arg);
}

/*
 * lh_reset_source(name, position, partition)
 *
 * position: 'earliest', 'latest', an offset ('1500'), or a timestamp with
 * time zone ('2026-11-22 10:00:00+00'), resolved with offsets_for_times.
 * partition NULL: every partition.  Rows already in bronze stay; a reset
 * to earlier offsets lands their messages again.
 */
Datum
lh_reset_source(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	char	   *position;
	char	   *request;
	char		key[32];
	KafkaOptions o;

	SPI_connect();
	src = source_arg(fcinfo, 0);
	require_kafka(src, "reset");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reset position must not be null"),
				 errhint("Use 'earliest', 'latest', an offset or a timestamp.")));
	position = text_to_cstring(PG_GETARG_TEXT_PP(1));
	kafka_parse_options(src->options, &o);

	if (strcmp(position, "earliest") == 0 || strcmp(position, "latest") == 0)
		request = position;
	else if (is_offset(position))
		request = psprintf("offset:%s", position);
	else
	{
		ErrorContextCallback cb;
		TimestampTz ts;

		cb.callback = reset_position_context;
		cb.arg = position;
		cb.previous = error_context_stack;
		error_context_stack = &cb;
		ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
													 CStringGetDatum(position),
													 ObjectIdGetDatum(InvalidOid),
													 Int32GetDatum(-1)));
		error_context_stack = cb.previous;
		if (TIMESTAMP_NOT_FINITE(ts))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reset timestamp must be finite")));
		request = psprintf("time:" INT64_FORMAT,
						   (ts + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) / 1000);
	}

	if (PG_ARGISNULL(2))
	{
		Oid			types[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(src->source_id)};

		/* one request for all supersedes the per-partition ones */
		catalog_exec("DELETE FROM lakehouse.source_marks"
					 " WHERE source_id = $1 AND mark_key LIKE 'reset:%'",
					 1, types, values, NULL, SPI_OK_DELETE);
		strlcpy(key, "reset:all", sizeof(key));
	}
	else
	{
		int32		partition = PG_GETARG_INT32(2);

		if (partition < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition must not be negative")));
		if (o.partitions != NIL && !list_member_int(o.partitions, partition))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" does not consume partition %d", src->name,
							partition),
					 errhint("Its option \"partitions\" lists the partitions it consumes.")));
		snprintf(key, sizeof(key), "reset:%d", partition);
	}
	catalog_set_source_mark(src->source_id, key, request);
	SPI_finish();
	lh_workers_notify(src->source_id);
	PG_RETURN_VOID();
}

/* The ids filter of the dead-letter functions: NULL or an int8 array. */
static Datum
ids_arg(FunctionCallInfo fcinfo, int argno, char *null)
{
	*null = PG_ARGISNULL(argno) ? 'n' : ' ';
	return PG_ARGISNULL(argno) ? (Datum) 0 : PG_GETARG_DATUM(argno);
}

/* A text or *_base64 member of dead-letter metadata as bytes. */
static char *
meta_bytes(Jsonb *meta, const char *key, size_t *len)
{
	char	   *s = lh_option_text(meta, key);
	char	   *b64key;
	char	   *out;
	int			n;

	if (s)
	{
		*len = strlen(s);
		return s;
	}
	b64key = psprintf("%s_base64", key);
	s = lh_option_text(meta, b64key);
	if (s == NULL)
		return NULL;
	out = palloc(pg_b64_dec_len(strlen(s)) + 1);
	n = pg_b64_decode(s, strlen(s), out, pg_b64_dec_len(strlen(s)));
	if (n < 0)
		return NULL;
	*len = n;
	return out;
}

/*
 * lh_replay_dead_letters(source, ids) returns bigint
 *
 * Decode the raw bytes of the source's dead letters (all, or those ids)
 * again with the source's current options and lakehouse.max_message_bytes.
 * Those that decode land in bronze with their original topic, partition,
 * offset, key, headers and timestamp, and leave the dead-letter table;
 * the others stay, with the new reason.  Returns how many landed.
 */
Datum
lh_replay_dead_letters(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	KafkaOptions o;
	LhTypeInput jsonb_input;
	Oid			types[2] = {INT4OID, INT8ARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	BronzeWriter *w;
	SPITupleTable *tuptable;
	uint64		ntuples;
	int64		replayed = 0;

	SPI_connect();
	src = source_arg(fcinfo, 0);
	require_kafka(src, "replay dead letters of");
	kafka_parse_options(src->options, &o);
	ingest_lock_source(src);
	lh_type_input_init(&jsonb_input, JSONBOID, -1);

	values[0] = Int32GetDatum(src->source_id);
	values[1] = ids_arg(fcinfo, 1, &nulls[1]);
	catalog_exec("SELECT dead_letter_id, raw, metadata FROM lakehouse.dead_letters"
				 " WHERE source_id = $1 AND ($2 IS NULL OR dead_letter_id = ANY ($2))"
				 " ORDER BY dead_letter_id FOR UPDATE",
				 2, types, values, nulls, SPI_OK_SELECT);
	tuptable = SPI_tuptable;
	ntuples = SPI_processed;

	w = bronze_writer_open(src, 0);
	for (uint64 i = 0; i < ntuples; i++)
	{
		HeapTuple	tup = tuptable->vals[i];
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, tuptable->tupdesc, 1, &isnull));
		Datum		raw = SPI_getbinval(tup, tuptable->tupdesc, 2, &isnull);
		bytea	   *rawb = isnull ? NULL : DatumGetByteaPP(raw);
		Datum		metad = SPI_getbinval(tup, tuptable->tupdesc, 3, &isnull);
		Jsonb	   *meta = isnull ? NULL : DatumGetJsonbP(metad);
		BronzeKafkaRecord rec;
		char	   *reason;
		int			sqlstate;
		Oid			utypes[3] = {INT8OID, TEXTOID, TEXTOID};
		Datum		uvalues[3];

		uvalues[0] = Int64GetDatum(id);
		if (meta == NULL || lh_option_text(meta, "partition") == NULL ||
			lh_option_text(meta, "offset") == NULL)
		{
			uvalues[1] = CStringGetTextDatum("dead letter has no Kafka position to replay");
			uvalues[2] = CStringGetTextDatum("22023");
			catalog_exec("UPDATE lakehouse.dead_letters SET reason = $2, error_sqlstate = $3"
						 " WHERE dead_letter_id = $1", 3, utypes, uvalues, NULL,
						 SPI_OK_UPDATE);
			continue;
		}
		if (kafka_decode(&o, &jsonb_input,
						 rawb ? VARDATA_ANY(rawb) : NULL,
						 rawb ? VARSIZE_ANY_EXHDR(rawb) : 0,
						 &rec.payload, &reason, &sqlstate))
		{
			char	   *ts = lh_option_text(meta, "timestamp");
			JsonbValue	hv;

			rec.partition = (int32) lh_option_int(meta, "partition", 0);
			rec.offset = lh_option_int(meta, "offset", 0);
			rec.key = meta_bytes(meta, "key", &rec.keylen);
			rec.headers = NULL;
			if (lh_option_lookup(meta, "headers", &hv) && hv.type == jbvBinary)
				rec.headers = JsonbValueToJsonb(&hv);
			rec.has_timestamp = (ts != NULL);
			if (ts)
				rec.timestamp = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																		CStringGetDatum(ts),
																		ObjectIdGetDatum(InvalidOid),
																		Int32GetDatum(-1)));
			bronze_writer_add_kafka(w, &rec);
			catalog_exec("DELETE FROM lakehouse.dead_letters WHERE dead_letter_id = $1",
						 1, utypes, uvalues, NULL, SPI_OK_DELETE);
			replayed++;
		}
		else
		{
			uvalues[1] = CStringGetTextDatum(reason);
			uvalues[2] = CStringGetTextDatum(unpack_sql_state(sqlstate));
			catalog_exec("UPDATE lakehouse.dead_letters SET reason = $2, error_sqlstate = $3"
						 " WHERE dead_letter_id = $1", 3, utypes, uvalues, NULL,
						 SPI_OK_UPDATE);
		}
	}
	(void) bronze_writer_close(w);
	SPI_finish();
	PG_RETURN_INT64(replayed);
}

/*
 * lh_discard_dead_letters(source, ids) returns bigint
 *
 * Delete the source's dead letters (all, or those ids); any kind of
 * source.  Returns how many were deleted.
 */
Datum
lh_discard_dead_letters(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	Oid			types[2] = {INT4OID, INT8ARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int64		n;

	SPI_connect();
	src = source_arg(fcinfo, 0);
	values[0] = Int32GetDatum(src->source_id);
	values[1] = ids_arg(fcinfo, 1, &nulls[1]);
	catalog_exec("DELETE FROM lakehouse.dead_letters"
				 " WHERE source_id = $1 AND ($2 IS NULL OR dead_letter_id = ANY ($2))",
				 2, types, values, nulls, SPI_OK_DELETE);
	n = (int64) SPI_processed;
	SPI_finish();
	PG_RETURN_INT64(n);
}

/*-------------------------------------------------------------------------
 *
 * kafka_land.c
 *	  Kafka sources: landing messages in bronze, the one-shot ingest, and
 *	  the Kafka kind's SourceRoutine (reset requests, dead-letter replay).
 *
 * kafka_land turns a batch of messages into bronze rows (or dead letters:
 * no payload, over lakehouse.max_message_bytes, invalid UTF-8, invalid or
 * too deeply nested JSON), with their topic, partition, offset, key,
 * headers and timestamp; the caller stores the offsets in the same
 * transaction (kafka.c).  A run lands a source itself only when no
 * background worker serves it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "security/security.h"
#include "sources/sources.h"
#include "sources/kafka.h"
#include "worker/worker.h"

/* timeouts of broker requests made by the one-shot ingest (ms) */
#define KAFKA_ONESHOT_TIMEOUT	5000
/* the one-shot ingest gives up waiting for more messages after this (ms) */
#define KAFKA_ONESHOT_IDLE		2000

/* A jsonb string value of a byte string: the text if UTF-8, else NULL. */
static bool
utf8_jbv(const char *s, size_t len, JsonbValue *v)
{
	if (len > INT_MAX ||
		pg_encoding_verifymbstr(PG_UTF8, s, (int) len) != (int) len)
		return false;
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = (int) len;
	return true;
}

/* Push "key": bytes, as text if UTF-8, else "key_base64": base64. */
static void
push_bytes(JsonbParseState **state, const char *key, const void *value,
		   size_t len)
{
	JsonbValue	k;
	JsonbValue	v;
	char	   *keyb64;

	if (value == NULL)
	{
		k.type = jbvString;
		k.val.string.val = (char *) key;
		k.val.string.len = strlen(key);
		(void) pushJsonbValue(state, WJB_KEY, &k);
		v.type = jbvNull;
		(void) pushJsonbValue(state, WJB_VALUE, &v);
		return;
	}
	if (utf8_jbv(value, len, &v))
	{
		k.type = jbvString;
		k.val.string.val = (char *) key;
		k.val.string.len = strlen(key);
		(void) pushJsonbValue(state, WJB_KEY, &k);
		(void) pushJsonbValue(state, WJB_VALUE, &v);
		return;
	}
	keyb64 = psprintf("%s_base64", key);
	k.type = jbvString;
	k.val.string.val = keyb64;
	k.val.string.len = strlen(keyb64);
	(void) pushJsonbValue(state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = palloc(pg_b64_enc_len(len) + 1);
	v.val.string.len = pg_b64_encode(value, len, v.val.string.val,
									 pg_b64_enc_len(len));
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/* The headers of a message as a jsonb array, or NULL if it has none. */
static Jsonb *
kafka_headers(rd_kafka_message_t *rkm)
{
	rd_kafka_headers_t *hdrs;
	JsonbParseState *state = NULL;
	JsonbValue *res;
	const char *name;
	const void *value;
	size_t		size;

	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_header_cnt(hdrs) == 0)
		return NULL;
	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	for (size_t i = 0;
		 rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
		 i++)
	{
		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_bytes(&state, "key", name, strlen(name));
		push_bytes(&state, "value", value, size);
		(void) pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(res);
}

/* Kafka timestamp of a message as timestamptz; false if it has none. */
static bool
kafka_timestamp(rd_kafka_message_t *rkm, TimestampTz *ts)
{
	rd_kafka_timestamp_type_t type;
	int64		ms = rd_kafka_message_timestamp(rkm, &type);

	if (type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ms < 0)
		return false;
	*ts = (TimestampTz) ms * 1000 -
		(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	return true;
}

/*
 * Decode a payload per the source's format.  Returns true and the datum,
 * or false with the reason and SQLSTATE of a dead letter.
 */
bool
kafka_decode(KafkaOptions *o, LhTypeInput *jsonb_input,
			 const char *buf, size_t len, Datum *out,
			 char **reason, int *sqlstate)
{
	if (buf == NULL)
	{
		*reason = pstrdup("message has no payload (a tombstone)");
		*sqlstate = ERRCODE_NULL_VALUE_NOT_ALLOWED;
		return false;
	}
	if (len > (size_t) lh_max_message_bytes)
	{
		*reason = psprintf("message of %zu bytes exceeds lakehouse.max_message_bytes (%d)",
						   len, lh_max_message_bytes);
		*sqlstate = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		return false;
	}
	if (o->format == KAFKA_BYTES)
	{
		bytea	   *b = palloc(VARHDRSZ + len);

		SET_VARSIZE(b, VARHDRSZ + len);
		memcpy(VARDATA(b), buf, len);
		*out = PointerGetDatum(b);
		return true;
	}
	if (o->format == KAFKA_JSON)
		return lh_json_record(buf, (int) len, jsonb_input, out, reason, sqlstate);
	if (!lh_check_utf8(buf, (int) len, reason))
	{
		*sqlstate = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
		return false;
	}
	{
		char	   *s = pg_any_to_server(buf, (int) len, PG_UTF8);

		*out = PointerGetDatum(cstring_to_text_with_len(s, s == buf ? (int) len : strlen(s)));
		return true;
	}
}

/* Metadata of a message for its dead letter. */
static Jsonb *
kafka_dl_metadata(KafkaConn *c, rd_kafka_message_t *rkm, Jsonb *headers,
				  bool has_ts, TimestampTz ts)
{
	JsonbParseState *state = NULL;
	JsonbValue	k;
	JsonbValue	v;
	JsonbValue *res;

#define PUSH_KEY(s) \
	do { k.type = jbvString; k.val.string.val = (s); \
		 k.val.string.len = strlen(s); \
		 (void) pushJsonbValue(&state, WJB_KEY, &k); } while (0)

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	PUSH_KEY("topic");
	v.type = jbvString;
	v.val.string.val = c->opts.topic;
	v.val.string.len = strlen(c->opts.topic);
	(void) pushJsonbValue(&state, WJB_VALUE, &v);
	PUSH_KEY("partition");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(rkm->partition);
	(void) pushJsonbValue(&state, WJB_VALUE, &v);
	PUSH_KEY("offset");
	v.val.numeric = int64_to_numeric(rkm->offset);
	(void) pushJsonbValue(&state, WJB_VALUE, &v);
	push_bytes(&state, "key", rkm->key, rkm->key_len);
	PUSH_KEY("timestamp");
	if (has_ts)
	{
		v.type = jbvString;
		v.val.string.val = DatumGetCString(DirectFunctionCall1(timestamptz_out,
															   TimestampTzGetDatum(ts)));
		v.val.string.len = strlen(v.val.string.val);
	}
	else
		v.type = jbvNull;
	(void) pushJsonbValue(&state, WJB_VALUE, &v);
	PUSH_KEY("headers");
	if (headers)
	{
		v.type = jbvBinary;
		v.val.binary.data = &headers->root;
		v.val.binary.len = VARSIZE(headers) - VARHDRSZ;
	}
	else
		v.type = jbvNull;
	(void) pushJsonbValue(&state, WJB_VALUE, &v);
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
#undef PUSH_KEY
	return JsonbValueToJsonb(res);
}

/*
 * kafka_land
 *		Land a batch of messages: each decoded message into bronze, each
 *		poison message into dead letters.  Messages below a partition's next
 *		offset (seen again after a seek) are skipped; a message above it
 *		means the broker no longer had the offsets in between (retention or
 *		compaction), which is logged and counted.  Advances batch_next;
 *		kafka_store_marks writes it.  Needs SPI, in the batch transaction.
 *		Does not destroy the messages.
 */
void
kafka_land(KafkaConn *c, BronzeWriter *w, rd_kafka_message_t **msgs, int n,
		   int64 run_id, LhStageCounts *counts)
{
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	LhTypeInput jsonb_input;

	/* big enough that parsing a message never goes back to malloc */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "lakehouse kafka row",
								   64 * 1024, 64 * 1024, ALLOCSET_DEFAULT_MAXSIZE);
	if (c->opts.format == KAFKA_JSON)
		lh_type_input_init(&jsonb_input, JSONBOID, -1);

	for (int i = 0; i < c->npart; i++)
		c->parts[i].batch_next = c->parts[i].next;

	for (int i = 0; i < n; i++)
	{
		rd_kafka_message_t *rkm = msgs[i];
		KafkaPart  *part = kafka_part(c, rkm->partition);
		BronzeKafkaRecord rec;
		char	   *reason;
		int			sqlstate;

		if (part == NULL || rkm->offset < part->batch_next)
			continue;
		if (rkm->offset > part->batch_next)
		{
			snprintf(c->error, sizeof(c->error),
					 "offsets " INT64_FORMAT " to " INT64_FORMAT " of partition %d were no longer on the broker (retention or compaction)",
					 part->batch_next, (int64) rkm->offset - 1, rkm->partition);
			c->error_new = true;
			ereport(WARNING,
					(errmsg("Kafka source \"%s\": offsets " INT64_FORMAT " to " INT64_FORMAT " of partition %d are no longer on the broker",
							c->src->name, part->batch_next, (int64) rkm->offset - 1,
							rkm->partition),
					 errdetail("They were removed by retention or compaction before they could be landed.")));
			part->skipped += rkm->offset - part->batch_next;
		}

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);
		oldcxt = MemoryContextSwitchTo(rowcxt);
		counts->rows_read++;
		rec.partition = rkm->partition;
		rec.offset = rkm->offset;
		rec.key = rkm->key;
		rec.keylen = rkm->key_len;
		rec.headers = kafka_headers(rkm);
		rec.has_timestamp = kafka_timestamp(rkm, &rec.timestamp);
		if (kafka_decode(&c->opts, &jsonb_input, rkm->payload, rkm->len,
						 &rec.payload, &reason, &sqlstate))
		{
			bronze_writer_add_kafka(w, &rec);
			counts->rows_written++;
		}
		else
		{
			char		position[32];

			snprintf(position, sizeof(position), "%d:" INT64_FORMAT,
					 rkm->partition, (int64) rkm->offset);
			catalog_add_dead_letter(c->src, position, rkm->payload,
									rkm->payload ? (int) Min(rkm->len, (size_t) MaxAllocSize - VARHDRSZ - 1) : 0,
									reason, sqlstate,
									kafka_dl_metadata(c, rkm, rec.headers,
													  rec.has_timestamp, rec.timestamp));
			counts->rows_skipped++;
		}
		MemoryContextSwitchTo(oldcxt);
		part->batch_next = rkm->offset + 1;
		part->landed++;
		if (rec.has_timestamp)
			part->last_message_at = rec.timestamp;
	}
	MemoryContextDelete(rowcxt);
}

/*
 * Fail the one-shot ingest with the error librdkafka reported.
 */
static void
kafka_oneshot_error(KafkaConn *c, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not %s for Kafka source \"%s\"", what, c->src->name),
			 errdetail("%s", c->error[0] ? c->error : "no detail")));
}

/*
 * Consume until every partition reached its end (the high watermark seen at
 * the start), landing with w; give up after KAFKA_ONESHOT_IDLE ms without
 * a message.
 */
static void
kafka_oneshot_consume(KafkaConn *c, BronzeWriter *w, int64 *ends,
					  int64 run_id, LhStageCounts *counts)
{
	int			max = c->opts.batch_size;
	rd_kafka_message_t **msgs = palloc(sizeof(rd_kafka_message_t *) * max);
	instr_time	idle_start;

	for (int i = 0; i < c->npart; i++)
		c->parts[i].batch_next = c->parts[i].next;
	INSTR_TIME_SET_CURRENT(idle_start);
	for (;;)
	{
		bool		done = true;
		int			n;
		instr_time	now;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < c->npart; i++)
			if (c->parts[i].batch_next < ends[i])
				done = false;
		if (done)
			break;
		n = kafka_consume(c, msgs, max, 100);
		if (n > 0)
		{
			/* kafka_land starts from next: keep what earlier rounds did */
			for (int i = 0; i < c->npart; i++)
				c->parts[i].next = c->parts[i].batch_next;
			PG_TRY();
			{
				kafka_land(c, w, msgs, n, run_id, counts);
			}
			PG_FINALLY();
			{
				for (int i = 0; i < n; i++)
					rd_kafka_message_destroy(msgs[i]);
			}
			PG_END_TRY();
			INSTR_TIME_SET_CURRENT(idle_start);
			continue;
		}
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, idle_start);
		if (INSTR_TIME_GET_MILLISEC(now) > KAFKA_ONESHOT_IDLE)
		{
			ereport(NOTICE,
					(errmsg("Kafka source \"%s\": stopped waiting for messages below the high watermarks",
							c->src->name),
					 errdetail("%s", c->error[0] ? c->error : "The broker sent nothing for 2 seconds.")));
			break;
		}
	}
	pfree(msgs);
}

/*
 * The one-shot ingest with a connected consumer: plan, consume, store.
 */
static void
kafka_oneshot(KafkaConn *c, LhSource *src, int64 run_id, LhStageCounts *counts)
{
	KafkaMarks	m;
	int64	   *targets;
	int64	   *ends;
	BronzeWriter *w;

	if (!kafka_discover(c, KAFKA_ONESHOT_TIMEOUT))
		kafka_oneshot_error(c, "fetch the topic's partitions");
	kafka_read_marks(src->source_id, &m);
	targets = palloc(sizeof(int64) * Max(c->npart, 1));
	ends = palloc(sizeof(int64) * Max(c->npart, 1));
	if (!kafka_resolve(c, &m, targets, KAFKA_ONESHOT_TIMEOUT))
		kafka_oneshot_error(c, "resolve the start offsets");
	kafka_apply_marks(c, &m, targets);
	for (int i = 0; i < c->npart; i++)
	{
		ends[i] = kafka_resolve_one(c, c->parts[i].partition, "latest",
									KAFKA_ONESHOT_TIMEOUT);
		if (ends[i] < 0)
			kafka_oneshot_error(c, "query the high watermarks");
		c->parts[i].high = ends[i];
	}
	kafka_assign(c);
	{
		int64		lag = 0;

		/* the lag is what this ingest lands (lakehouse.run_progress) */
		for (int i = 0; i < c->npart; i++)
			lag += Max(ends[i] - targets[i], 0);
		lh_progress_total(lag, -1);
	}

	w = bronze_writer_open(src, run_id);
	kafka_oneshot_consume(c, w, ends, run_id, counts);
	(void) bronze_writer_close(w);

	/* store from the positions at the start of this ingest */
	for (int i = 0; i < c->npart; i++)
	{
		int64		reached = c->parts[i].batch_next;

		c->parts[i].next = targets[i];
		c->parts[i].batch_next = reached;
	}
	kafka_store_marks(c);
}

/*
 * kafka_ingest
 *		The kind's ingest (lh_ingest, or a run): nothing when a background
 *		worker serves the source, else a one-shot ingest: consume what the
 *		partitions hold up to the high watermarks seen at the start, in the
 *		caller's transaction, which already holds the source row lock
 *		(registry.c).  Waits at most a few seconds for the broker.
 */
static void
kafka_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	KafkaConn  *c;

	if (lh_worker_serves(src->source_id))
		return;
	c = kafka_connect(src, false);
	PG_TRY();
	{
		kafka_oneshot(c, src, run_id, counts);
	}
	PG_FINALLY();
	{
		kafka_disconnect(c);
	}
	PG_END_TRY();
}

/* Is s a non-negative integer offset? */
static bool
is_offset(const char *s)
{
	int64		v;

	return strlen(s) <= 19 && kafka_parse_offset(s, &v);
}

static void
reset_position_context(void *arg)
{
	errcontext("while reading reset position \"%s\"", (char *) arg);
}

/*
 * Ask the brokers for the topic's partitions within timeout_ms, giving up
 * as soon as librdkafka reports every broker down (a refused connection,
 * an unknown host): nothing is gained by waiting out the timeout then.
 * False, with c->error set, when they did not answer.
 */
static bool
kafka_reset_discover(KafkaConn *c, int timeout_ms)
{
	instr_time	start;
	instr_time	now;

	INSTR_TIME_SET_CURRENT(start);
	for (;;)
	{
		rd_kafka_message_t *msg;

		if (kafka_discover(c, 100))
			return true;
		/* serve librdkafka's callbacks: the error callback notes brokers_down */
		if (kafka_consume(c, &msg, 1, 0) > 0)
			rd_kafka_message_destroy(msg);
		if (c->brokers_down)
			return false;
		CHECK_FOR_INTERRUPTS();
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		if (INSTR_TIME_GET_MILLISEC(now) >= timeout_ms)
			return false;
	}
}

/* What kafka_reset_resolve works out, in a subtransaction. */
typedef struct KafkaResetResolve
{
	LhSource   *src;
	const char *request;
	int32		partition;		/* -1: all */
	List	   *targets;		/* SourceResetTarget, or NIL */
	char	   *why;			/* NIL targets: why */
	bool		no_partition;	/* the topic has no such partition */
} KafkaResetResolve;

/* The work of kafka_reset_resolve, with a connected consumer. */
static void
kafka_reset_resolve_with(KafkaConn *c, KafkaResetResolve *rr)
{
	bool		found = false;

	if (!kafka_reset_discover(c, KAFKA_ONESHOT_TIMEOUT))
		return;
	for (int i = 0; i < c->npart; i++)
	{
		SourceResetTarget *t;
		int64		offset;

		if (rr->partition >= 0 && c->parts[i].partition != rr->partition)
			continue;
		found = true;
		offset = kafka_resolve_one(c, c->parts[i].partition, rr->request,
								   KAFKA_ONESHOT_TIMEOUT);
		if (offset < 0)
		{
			list_free_deep(rr->targets);
			rr->targets = NIL;
			return;
		}
		t = palloc(sizeof(SourceResetTarget));
		t->partition = c->parts[i].partition;
		t->offset = offset;
		rr->targets = lappend(rr->targets, t);
	}
	if (rr->partition >= 0 && !found)
		rr->no_partition = true;
	else if (!found)
		snprintf(c->error, sizeof(c->error),
				 "the brokers list no partition of topic \"%s\"", c->opts.topic);
}

/*
 * Connect as the pipeline's owner, whose secrets the connection may use,
 * and resolve (kafka_reset_resolve).  Runs in a subtransaction: an error
 * (a secret that is gone, say) leaves the request to the worker.
 */
static void
kafka_reset_resolve_work(void *arg)
{
	KafkaResetResolve *rr = (KafkaResetResolve *) arg;
	KafkaConn  *volatile c;
	LhIdentity	id;

	lh_owner_begin(rr->src->owner, &id);
	c = kafka_connect(rr->src, false);
	PG_TRY();
	{
		kafka_reset_resolve_with(c, rr);
		if (rr->targets == NIL && !rr->no_partition)
			rr->why = pstrdup(c->error[0] ? c->error : "the brokers did not answer");
	}
	PG_FINALLY();
	{
		kafka_disconnect(c);
	}
	PG_END_TRY();
	lh_owner_end(&id);
}

/*
 * Resolve a reset request ("earliest", "latest", "offset:<n>",
 * "time:<ms>") to the offset each partition (or the one) will start from,
 * asking the brokers, as kafka-consumer-groups --reset-offsets does: the
 * caller learns where the source will start, and the request then means
 * exactly that, whenever the worker applies it.  Waits at most a few
 * seconds.  NIL, with *why set, when the brokers did not answer or the
 * consumer could not be made; an error for a partition the topic does not
 * have.
 */
static List *
kafka_reset_resolve(LhSource *src, const char *request, int32 partition,
					char **why)
{
	KafkaResetResolve rr = {0};
	ErrorData  *edata;

	rr.src = src;
	rr.request = request;
	rr.partition = partition;
	edata = lh_try_subxact(kafka_reset_resolve_work, &rr);
	if (edata != NULL)
	{
		*why = edata->message;
		return NIL;
	}
	if (rr.no_partition)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("Kafka topic of source \"%s\" has no partition %d",
						src->name, partition),
				 errhint("See the partitions of the source in lakehouse.source_status.")));
	*why = rr.why;
	return rr.targets;
}

/*
 * kafka_reset
 *		lh_reset_source for a Kafka source: a request (mark "reset:<n>" or
 *		"reset:all") that the worker, or the next one-shot ingest, applies
 *		in the transaction of its next batch.
 *
 * position: 'earliest', 'latest', an offset ('1500'), or a timestamp with
 * time zone, resolved with offsets_for_times.  partition -1: all.  Rows
 * already in bronze stay; a reset to earlier offsets lands them again.
 *
 * The position is resolved with the brokers now, and each partition's
 * request is stored as its concrete offset ("offset:<n>"), which is
 * returned.  When the brokers do not answer, the request is stored as
 * given, for the worker to resolve later (it logs the offsets), with a
 * NOTICE saying why; the result is then NIL.
 */
static List *
kafka_reset(LhSource *src, const char *position, int32 partition)
{
	char	   *request;
	char		key[32];
	KafkaOptions o;
	List	   *targets;
	ListCell   *lc;
	char	   *why = NULL;

	kafka_parse_options(src->options, &o);
	if (strcmp(position, "earliest") == 0 || strcmp(position, "latest") == 0)
		request = pstrdup(position);
	else if (is_offset(position))
		request = psprintf("offset:%s", position);
	else
	{
		ErrorContextCallback cb;
		TimestampTz ts;

		cb.callback = reset_position_context;
		cb.arg = (void *) position;
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
	if (partition >= 0 && o.partitions != NIL &&
		!list_member_int(o.partitions, partition))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" does not consume partition %d", src->name,
						partition),
				 errhint("Its option \"partitions\" lists the partitions it consumes.")));

	targets = kafka_reset_resolve(src, request, partition, &why);

	/* one request for all supersedes the per-partition ones */
	if (partition < 0)
		catalog_delete_source_marks(src->source_id, "reset:");
	if (targets == NIL)
	{
		if (partition < 0)
			strlcpy(key, "reset:all", sizeof(key));
		else
			snprintf(key, sizeof(key), "reset:%d", partition);
		catalog_set_source_mark(src->source_id, key, request);
		ereport(NOTICE,
				(errmsg("could not resolve the reset of source \"%s\" to offsets now",
						src->name),
				 errdetail("The brokers could not be asked: %s.", why),
				 errhint("The request is kept: the source's worker, or its next ingest, resolves it when it reaches the brokers, and logs the offsets.")));
		return NIL;
	}
	foreach(lc, targets)
	{
		SourceResetTarget *t = lfirst(lc);

		snprintf(key, sizeof(key), "reset:%d", t->partition);
		catalog_set_source_mark(src->source_id, key,
								psprintf("offset:" INT64_FORMAT, t->offset));
	}
	return targets;
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
 * kafka_replay
 *		Decode a dead letter's raw bytes again with the source's current
 *		options and lakehouse.max_message_bytes; if they decode, land them
 *		with their original topic, partition, offset, key, headers and
 *		timestamp.
 */
static bool
kafka_replay(LhSource *src, BronzeWriter *w, const char *raw, int len,
			 Jsonb *meta, char **reason, int *sqlstate)
{
	KafkaOptions o;
	LhTypeInput jsonb_input;
	BronzeKafkaRecord rec;
	char	   *ts;
	JsonbValue	hv;

	if (meta == NULL || lh_option_text(meta, "partition") == NULL ||
		lh_option_text(meta, "offset") == NULL)
	{
		*reason = "dead letter has no Kafka position to replay";
		*sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
		return false;
	}
	kafka_parse_options(src->options, &o);
	lh_type_input_init(&jsonb_input, JSONBOID, -1);
	if (!kafka_decode(&o, &jsonb_input, raw, len, &rec.payload, reason, sqlstate))
		return false;
	ts = lh_option_text(meta, "timestamp");
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
	return true;
}

static void
kafka_bronze_shape(Jsonb *options, BronzeShape *shape)
{
	shape->kafka = true;
	shape->payload_type = kafka_payload_type(options);
}

static LhWorkerMode
kafka_worker_mode(Jsonb *options)
{
	return LH_WORKER_STREAM;
}

/* A new topic: the stored offsets are another topic's. */
static const char *
kafka_restart_reason(Jsonb *old_options, Jsonb *options)
{
	if (lh_option_differs(old_options, options, "topic"))
		return "a new topic and starts again from its start position";
	return NULL;
}

/*
 * kafka://<first broker> and the topic (OpenLineage's Kafka naming); the
 * namespace is the data source's URI.
 */
static void
kafka_dataset(LhSource *src, SourceDataset *ds)
{
	char	   *brokers = lh_option_text(src->options, "brokers");
	char	   *topic = lh_option_text(src->options, "topic");

	brokers = brokers ? brokers : "localhost:9092";
	brokers = pnstrdup(brokers, strcspn(brokers, ", "));
	if (strstr(brokers, "://"))
		brokers = strstr(brokers, "://") + 3;
	if (strchr(brokers, ':') == NULL)
		brokers = psprintf("%s:9092", brokers);
	ds->ns = psprintf("kafka://%s", brokers);
	ds->uri = ds->ns;
	ds->name = pstrdup(topic ? topic : src->name);
}

const SourceRoutine kafka_routine = {
	.name = "kafka",
	.what = "Kafka topic",
	.validate = kafka_validate_options,
	.bronze_shape = kafka_bronze_shape,
	.ingest = kafka_ingest,
	.worker_mode = kafka_worker_mode,
	.worker_main = "lh_kafka_worker_main",
	.worker_lands_alone = true,
	.restart_reason = kafka_restart_reason,
	.dataset = kafka_dataset,
	.reset = kafka_reset,
	.replay = kafka_replay,
};

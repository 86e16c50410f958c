/*-------------------------------------------------------------------------
 *
 * kafka.c
 *	  Kafka sources: checking their options, consuming a topic with
 *	  librdkafka, and landing messages in bronze exactly once.
 *
 * Options (jsonb): brokers and topic (required); partitions (a subset);
 * format json | text | bytes; start earliest | latest | {"timestamp": ts} |
 * {"offsets": {"<partition>": offset}}; batch_size; max_wait_ms;
 * properties (librdkafka properties, passed through after checking each
 * with rd_kafka_conf_set); secret_properties (property -> name of a secret
 * in lakehouse.secrets); group_id and commit_to_broker (informational
 * broker-side commits).  contrib-docs/kafka.md documents them.
 *
 * Exactly once.  Partitions are assigned explicitly (rd_kafka_assign, no
 * group rebalancing) at offsets stored in lakehouse.source_marks, one mark
 * "partition:<n>" per partition holding the next offset to land.  The
 * caller lands a batch (kafka_land) and stores the new offsets
 * (kafka_store_marks) in one transaction, with the source's catalog row
 * locked; before landing it re-reads the marks (kafka_read_marks) and
 * gives up the batch if they are not where the consumer stands
 * (kafka_marks_match): someone reset the source, or another consumer
 * landed the same offsets.  Broker-side commits happen only after the
 * transaction committed, and nothing reads them back.
 *
 * Where a partition starts.  A pending reset request (mark
 * "reset:<partition>" or "reset:all", written by lh_reset_source) wins,
 * then the stored mark, then the source's start option.  Requests,
 * "earliest", "latest" and timestamps are resolved to concrete offsets
 * with the broker (kafka_resolve, outside any transaction) and stored
 * (kafka_apply_marks) before consuming, so a restart never depends on
 * what "latest" meant at another moment.
 *
 * Poison messages (no payload, over lakehouse.max_message_bytes, invalid
 * UTF-8, invalid JSON, JSON nested too deep) become dead letters with the
 * raw bytes, their position and metadata, and the offset moves past them.
 *
 * Threads.  librdkafka runs threads of its own; none of them calls into
 * PostgreSQL.  Callbacks (errors) are served from the consuming calls made
 * by the backend's own thread (rd_kafka_poll_set_consumer), and only copy
 * text into the connection.  Messages wake the worker's latch through a
 * pipe (rd_kafka_queue_io_event_enable).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "sources/kafka.h"
#include "lakehouse.h"

/* timeouts of broker requests made by the one-shot ingest (ms) */
#define KAFKA_ONESHOT_TIMEOUT	5000
/* the one-shot ingest gives up waiting for more messages after this (ms) */
#define KAFKA_ONESHOT_IDLE		2000

static void kafka_nudge_fetchers(KafkaConn *c);

static const char *const kafka_option_keys[] = {
	"brokers", "topic", "partitions", "format", "start", "batch_size",
	"max_wait_ms", "properties", "secret_properties", "group_id",
	"commit_to_broker", NULL
};

/*
 * Properties lakehouse sets itself: the consumer's position and commits
 * are ours to manage, and callbacks are ours.
 */
static const char *const kafka_reserved_properties[] = {
	"bootstrap.servers", "metadata.broker.list", "group.id",
	"enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof",
	"auto.offset.reset", "log.queue", "group.protocol.type",
	"partition.assignment.strategy", NULL
};

/*
 * Properties that would make the server load code or run commands: never
 * accepted, whoever asks.
 */
static const char *const kafka_forbidden_properties[] = {
	"plugin.library.paths", "ssl.engine.location", "sasl.kerberos.kinit.cmd",
	"interceptors", NULL
};

/* librdkafka 2.1.0, the first with fetch.queue.backoff.ms */
#define KAFKA_VERSION_QUEUE_BACKOFF 0x020100ff

/*
 * Defaults for a responsive, bounded consumer; properties may override.
 * fetch.wait.max.ms bounds how long a broker holds a fetch that found
 * nothing new: 10 ms keeps the produce-to-bronze latency low, at the cost of
 * up to 100 empty fetches a second to each broker while a topic is idle.
 * The two byte limits bound the worker's memory (prefetch queue, one fetch
 * response): with 16 MB and 8 MB a worker landing at full speed stays
 * below 80 MB of its own memory (bench/kafka.sh).
 */
static const char *const kafka_default_properties[][2] = {
	{"client.id", "lakehouse"},
	{"fetch.wait.max.ms", "10"},
	{"queued.max.messages.kbytes", "16384"},
	{"fetch.max.bytes", "8388608"},
	{"reconnect.backoff.max.ms", "2000"},
	{"topic.metadata.refresh.interval.ms", "10000"},
	{NULL, NULL}
};

static bool
str_in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static char *
jbv_text(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Iterate over the string-valued pairs of a flat object: a callback each. */
typedef void (*kafka_pair_fn) (const char *key, const char *value, void *arg);

static void
for_each_pair(Jsonb *obj, const char *what, kafka_pair_fn fn, void *arg)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (obj == NULL)
		return;
	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = jbv_text(&v);
		else if (tok == WJB_VALUE)
		{
			char	   *value;

			if (v.type == jbvString)
				value = jbv_text(&v);
			else if (v.type == jbvNumeric)
				value = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(v.val.numeric)));
			else if (v.type == jbvBool)
				value = pstrdup(v.val.boolean ? "true" : "false");
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("value of \"%s\" in option \"%s\" must be a string, number or boolean",
								key, what)));
			fn(key, value, arg);
		}
	}
}

/* Parse a non-negative integer; false if it is not one. */
static bool
parse_offset(const char *s, int64 *out)
{
	char	   *end;
	long long	v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = (int64) v;
	return true;
}

static void
check_start_offset(const char *key, const char *value, void *arg)
{
	int64		partition;
	int64		offset;

	if (!parse_offset(key, &partition) || partition > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid partition \"%s\" in option \"start\"", key),
				 errhint("Use {\"offsets\": {\"<partition>\": <offset>, ...}}.")));
	if (!parse_offset(value, &offset))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid offset \"%s\" for partition %s in option \"start\"",
						value, key),
				 errhint("Offsets are non-negative integers.")));
}

/*
 * kafka_parse_options
 *		Check the options of a kafka source and fill *o.  Raises an error
 *		naming the first problem.
 */
void
kafka_parse_options(Jsonb *options, KafkaOptions *o)
{
	JsonbValue	v;
	char	   *s;
	int64		n;

	memset(o, 0, sizeof(KafkaOptions));
	lh_check_option_keys(options, kafka_option_keys, "a kafka source");

	o->brokers = lh_option_text(options, "brokers");
	if (o->brokers == NULL || o->brokers[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kafka source needs option \"brokers\""),
				 errhint("Give the bootstrap servers, e.g. {\"brokers\": \"host:9092\", \"topic\": \"events\"}.")));
	o->topic = lh_option_text(options, "topic");
	if (o->topic == NULL || o->topic[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kafka source needs option \"topic\"")));
	if (strlen(o->topic) > 249 || strspn(o->topic,
										 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(o->topic))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Kafka topic name \"%s\"", o->topic),
				 errdetail("Topic names are 1 to 249 characters from [a-zA-Z0-9._-].")));

	if (lh_option_lookup(options, "partitions", &v))
	{
		JsonbIterator *it;
		JsonbValue	e;
		JsonbIteratorToken tok;
		Jsonb	   *arr = (v.type == jbvBinary) ? JsonbValueToJsonb(&v) : NULL;

		if (arr == NULL || !JB_ROOT_IS_ARRAY(arr) || JB_ROOT_IS_SCALAR(arr))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"partitions\" must be an array of partition numbers")));
		it = JsonbIteratorInit(&arr->root);
		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			int64		p;

			if (tok != WJB_ELEM)
				continue;
			if (e.type != jbvNumeric ||
				!parse_offset(DatumGetCString(DirectFunctionCall1(numeric_out,
																  NumericGetDatum(e.val.numeric))), &p) ||
				p > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"partitions\" must be an array of partition numbers"),
						 errdetail("Partition numbers are non-negative integers.")));
			if (!list_member_int(o->partitions, (int) p))
				o->partitions = lappend_int(o->partitions, (int) p);
		}
		if (o->partitions == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"partitions\" must not be empty"),
					 errhint("Leave it out to consume every partition of the topic.")));
	}

	s = lh_option_text(options, "format");
	if (s == NULL || strcmp(s, "json") == 0)
		o->format = KAFKA_JSON;
	else if (strcmp(s, "text") == 0)
		o->format = KAFKA_TEXT;
	else if (strcmp(s, "bytes") == 0)
		o->format = KAFKA_BYTES;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid format \"%s\" for a kafka source", s),
				 errhint("Valid formats are \"json\", \"text\" and \"bytes\".")));

	o->start = KAFKA_START_EARLIEST;
	if (lh_option_lookup(options, "start", &v))
	{
		if (v.type == jbvString)
		{
			s = jbv_text(&v);
			if (strcmp(s, "earliest") == 0)
				o->start = KAFKA_START_EARLIEST;
			else if (strcmp(s, "latest") == 0)
				o->start = KAFKA_START_LATEST;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid start position \"%s\" for a kafka source", s),
						 errhint("Use \"earliest\", \"latest\", {\"timestamp\": \"...\"} or {\"offsets\": {\"0\": 42}}.")));
		}
		else
		{
			Jsonb	   *start = lh_option_object(options, "start", "a kafka source");
			char	   *ts = lh_option_text(start, "timestamp");
			Jsonb	   *offsets = NULL;
			JsonbValue	ov;

			if (lh_option_lookup(start, "offsets", &ov))
				offsets = lh_option_object(start, "offsets", "a kafka source");
			if ((ts == NULL) == (offsets == NULL) ||
				JB_ROOT_COUNT(start) != 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid start position for a kafka source"),
						 errhint("Use \"earliest\", \"latest\", {\"timestamp\": \"...\"} or {\"offsets\": {\"0\": 42}}.")));
			if (ts)
			{
				o->start = KAFKA_START_TIMESTAMP;
				o->start_time = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																		CStringGetDatum(ts),
																		ObjectIdGetDatum(InvalidOid),
																		Int32GetDatum(-1)));
				if (TIMESTAMP_NOT_FINITE(o->start_time))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("start timestamp of a kafka source must be finite")));
			}
			else
			{
				o->start = KAFKA_START_OFFSETS;
				o->start_offsets = offsets;
				for_each_pair(offsets, "start", check_start_offset, NULL);
			}
		}
	}

	n = lh_option_int(options, "batch_size", 10000);
	if (n < 1 || n > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"batch_size\" must be between 1 and 1000000")));
	o->batch_size = (int) n;
	n = lh_option_int(options, "max_wait_ms", 100);
	if (n < 0 || n > 60000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"max_wait_ms\" must be between 0 and 60000")));
	o->max_wait_ms = (int) n;

	o->properties = lh_option_object(options, "properties", "a kafka source");
	o->secret_properties = lh_option_object(options, "secret_properties", "a kafka source");
	o->group_id = lh_option_text(options, "group_id");
	if (o->group_id && o->group_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"group_id\" must not be empty")));
	o->commit_to_broker = lh_option_bool(options, "commit_to_broker", true);
}

/* State of building a librdkafka configuration. */
typedef struct KafkaConfBuild
{
	rd_kafka_conf_t *conf;
	bool		secret;			/* values are secrets: never quote them */
	bool		check_only;		/* definition time: secrets are not read */
} KafkaConfBuild;

static void
conf_set_checked(KafkaConfBuild *b, const char *name, const char *value)
{
	char		errstr[512];

	if (str_in(name, kafka_forbidden_properties))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("librdkafka property \"%s\" is not allowed", name),
				 errdetail("It would make the database server load code or run commands.")));
	if (str_in(name, kafka_reserved_properties) || strstr(name, "_cb") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka property \"%s\" is set by lakehouse", name),
				 errhint("Use the source options \"brokers\", \"group_id\" and \"start\"; offsets are kept in the catalog.")));
	if (strlen(name) > 9 && strcmp(name + strlen(name) - 9, ".location") == 0 &&
		!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set librdkafka property \"%s\"", name),
				 errdetail("It names a file on the database server."),
				 errhint("Only superusers and members of pg_read_server_files may do this.")));

	if (rd_kafka_conf_set(b->conf, name, value, errstr, sizeof(errstr)) !=
		RD_KAFKA_CONF_OK)
	{
		int			len = strlen(errstr);

		while (len > 0 && isspace((unsigned char) errstr[len - 1]))
			errstr[--len] = '\0';
		if (b->secret)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid librdkafka property \"%s\" (value from a secret)", name),
					 errdetail("librdkafka refused the property; the value is not shown.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid librdkafka property \"%s\"", name),
				 errdetail("%s", errstr)));
	}
}

static void
conf_user_property(const char *name, const char *value, void *arg)
{
	conf_set_checked((KafkaConfBuild *) arg, name, value);
}

static void
conf_secret_property(const char *name, const char *secret, void *arg)
{
	KafkaConfBuild *b = (KafkaConfBuild *) arg;

	b->secret = true;
	if (b->check_only)
	{
		/* names only: the property must be one that may hold a secret */
		if (strcmp(name, "sasl.password") != 0 &&
			strcmp(name, "ssl.key.password") != 0 &&
			strcmp(name, "sasl.username") != 0 &&
			strcmp(name, "sasl.oauthbearer.client.secret") != 0 &&
			strcmp(name, "ssl.key.pem") != 0 &&
			strcmp(name, "ssl.certificate.pem") != 0 &&
			strcmp(name, "ssl.ca.pem") != 0 &&
			strcmp(name, "sasl.oauthbearer.config") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("librdkafka property \"%s\" cannot come from a secret", name),
					 errhint("Secret properties are sasl.username, sasl.password, ssl.key.password, ssl.key.pem, ssl.certificate.pem, ssl.ca.pem, sasl.oauthbearer.client.secret and sasl.oauthbearer.config.")));
		if (secret[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("secret name for librdkafka property \"%s\" must not be empty",
							name)));
	}
	else
		conf_set_checked(b, name, catalog_secret(secret, CurrentMemoryContext));
	b->secret = false;
}

/*
 * Build the configuration of a consumer of the source.  With check_only
 * (definition time) secrets are not read.  The caller owns the result.
 */
static rd_kafka_conf_t *
kafka_build_conf(KafkaOptions *o, const char *source_name, bool check_only)
{
	KafkaConfBuild b;
	char		group[NAMEDATALEN * 2 + 256];

	b.conf = rd_kafka_conf_new();
	b.secret = false;
	b.check_only = check_only;

	PG_TRY();
	{
		char		errstr[512];

		for (int i = 0; kafka_default_properties[i][0]; i++)
			if (rd_kafka_conf_set(b.conf, kafka_default_properties[i][0],
								  kafka_default_properties[i][1],
								  errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
				elog(ERROR, "could not set librdkafka default \"%s\": %s",
					 kafka_default_properties[i][0], errstr);
		/* see kafka_nudge_fetchers */
		if (rd_kafka_version() >= KAFKA_VERSION_QUEUE_BACKOFF &&
			rd_kafka_conf_set(b.conf, "fetch.queue.backoff.ms", "10",
							  errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
			elog(ERROR, "could not set librdkafka default \"fetch.queue.backoff.ms\": %s",
				 errstr);
		for_each_pair(o->properties, "properties", conf_user_property, &b);
		for_each_pair(o->secret_properties, "secret_properties",
					  conf_secret_property, &b);

		/* ours, after the user's: these cannot be overridden */
		if (rd_kafka_conf_set(b.conf, "bootstrap.servers", o->brokers,
							  errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid option \"brokers\" of a kafka source"),
					 errdetail("%s", errstr)));
		if (o->group_id)
			strlcpy(group, o->group_id, sizeof(group));
		else
			snprintf(group, sizeof(group), "lakehouse.%s.%s",
					 MyDatabaseId != InvalidOid ? get_database_name(MyDatabaseId) : "",
					 source_name);
		if (rd_kafka_conf_set(b.conf, "group.id", group, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
			rd_kafka_conf_set(b.conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
			rd_kafka_conf_set(b.conf, "enable.auto.offset.store", "false", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
			rd_kafka_conf_set(b.conf, "enable.partition.eof", "false", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
			rd_kafka_conf_set(b.conf, "auto.offset.reset", "earliest", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not configure the Kafka consumer"),
					 errdetail("%s", errstr)));
	}
	PG_CATCH();
	{
		rd_kafka_conf_destroy(b.conf);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return b.conf;
}

/*
 * kafka_validate_options
 *		Definition-time check: options, and every librdkafka property
 *		through rd_kafka_conf_set.  Makes no network connection.
 */
void
kafka_validate_options(Jsonb *options)
{
	KafkaOptions o;

	kafka_parse_options(options, &o);
	rd_kafka_conf_destroy(kafka_build_conf(&o, "check", true));
}

/* The bronze payload type of a kafka source with these options. */
Oid
kafka_payload_type(Jsonb *options)
{
	char	   *format = lh_option_text(options, "format");

	if (format == NULL || strcmp(format, "json") == 0)
		return JSONBOID;
	if (strcmp(format, "text") == 0)
		return TEXTOID;
	return BYTEAOID;
}

/* librdkafka error callback: runs in our thread, copies the text. */
static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	KafkaConn  *c = (KafkaConn *) opaque;

	snprintf(c->error, sizeof(c->error), "%s: %s",
			 rd_kafka_err2name((rd_kafka_resp_err_t) err), reason);
	c->error_new = true;
}

/* An integer property of a consumer's configuration; 0 if unreadable. */
static int64
kafka_conf_int(rd_kafka_t *rk, const char *name)
{
	char		buf[64];
	size_t		size = sizeof(buf);

	if (rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &size) != RD_KAFKA_CONF_OK)
		return 0;
	return strtoll(buf, NULL, 10);
}

/* Release what a connection holds in librdkafka and the kernel. */
static void
kafka_release(KafkaConn *c)
{
	if (c->rk)
	{
		if (c->queue)
		{
			rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
			rd_kafka_queue_destroy(c->queue);
		}
		if (c->assigned)
			(void) rd_kafka_assign(c->rk, NULL);
		if (c->rkt)
			rd_kafka_topic_destroy(c->rkt);
		(void) rd_kafka_consumer_close(c->rk);
		rd_kafka_destroy(c->rk);
	}
	c->rk = NULL;
	c->rkt = NULL;
	c->queue = NULL;
	c->assigned = false;
	if (c->wakefd[0] >= 0)
		close(c->wakefd[0]);
	if (c->wakefd[1] >= 0)
		close(c->wakefd[1]);
	c->wakefd[0] = c->wakefd[1] = -1;
}

/*
 * kafka_connect
 *		Create a consumer of the source.  Needs a transaction and SPI (it
 *		reads secrets).  worker: set up the wake-up pipe for the latch loop.
 *		Makes no network request itself; librdkafka connects in the
 *		background.
 */
KafkaConn *
kafka_connect(LhSource *src, bool worker)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	KafkaConn  *c;
	rd_kafka_conf_t *conf;
	char		errstr[512];

	cxt = AllocSetContextCreate(TopMemoryContext, "lakehouse kafka consumer",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	c = palloc0(sizeof(KafkaConn));
	c->cxt = cxt;
	c->wakefd[0] = c->wakefd[1] = -1;
	c->src = palloc(sizeof(LhSource));
	memcpy(c->src, src, sizeof(LhSource));
	c->src->name = pstrdup(src->name);
	c->src->kind = pstrdup(src->kind);
	c->src->bronze_schema = pstrdup(src->bronze_schema);
	c->src->bronze_table = pstrdup(src->bronze_table);
	c->src->options = DatumGetJsonbPCopy(JsonbPGetDatum(src->options));
	kafka_parse_options(c->src->options, &c->opts);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		conf = kafka_build_conf(&c->opts, src->name, false);
		rd_kafka_conf_set_opaque(conf, c);
		rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
		c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
		if (c->rk == NULL)
		{
			rd_kafka_conf_destroy(conf);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not create a Kafka consumer for source \"%s\"",
							src->name),
					 errdetail("%s", errstr)));
		}
		rd_kafka_poll_set_consumer(c->rk);
		c->queue_max_bytes = kafka_conf_int(c->rk, "queued.max.messages.kbytes") * 1024;
		c->queue_min_msgs = kafka_conf_int(c->rk, "queued.min.messages");
		c->nudge = rd_kafka_version() < KAFKA_VERSION_QUEUE_BACKOFF;
		c->rkt = rd_kafka_topic_new(c->rk, c->opts.topic, NULL);
		if (c->rkt == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not use Kafka topic \"%s\"", c->opts.topic),
					 errdetail("%s", rd_kafka_err2str(rd_kafka_last_error()))));
		c->queue = rd_kafka_queue_get_consumer(c->rk);
		if (worker)
		{
			if (pipe(c->wakefd) != 0 ||
				fcntl(c->wakefd[0], F_SETFL, O_NONBLOCK) != 0 ||
				fcntl(c->wakefd[1], F_SETFL, O_NONBLOCK) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create pipe: %m")));
			rd_kafka_queue_io_event_enable(c->queue, c->wakefd[1], "1", 1);
		}
	}
	PG_CATCH();
	{
		kafka_release(c);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return c;
}

/* kafka_disconnect: close the consumer and free everything. */
void
kafka_disconnect(KafkaConn *c)
{
	if (c == NULL)
		return;
	kafka_release(c);
	MemoryContextDelete(c->cxt);
}

/* Is partition p one the source consumes? */
static bool
kafka_wants_partition(KafkaConn *c, int32 p)
{
	return c->opts.partitions == NIL || list_member_int(c->opts.partitions, p);
}

static int
cmp_part(const void *a, const void *b)
{
	int32		pa = ((const KafkaPart *) a)->partition;
	int32		pb = ((const KafkaPart *) b)->partition;

	return (pa > pb) - (pa < pb);
}

/*
 * kafka_discover
 *		Ask the brokers for the topic's partitions (network; no
 *		transaction needed).  Partitions not known before are added with
 *		next = -1 (to be resolved).  Returns false and sets c->error on
 *		failure.  Returns true if the set of partitions is unchanged or
 *		grew; the caller compares npart to see which.
 */
bool
kafka_discover(KafkaConn *c, int timeout_ms)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	const struct rd_kafka_metadata_topic *t;
	MemoryContext oldcxt;

	err = rd_kafka_metadata(c->rk, 0, c->rkt, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		snprintf(c->error, sizeof(c->error),
				 "could not fetch metadata of topic \"%s\" from %s: %s",
				 c->opts.topic, c->opts.brokers, rd_kafka_err2str(err));
		c->error_new = true;
		return false;
	}
	if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		snprintf(c->error, sizeof(c->error),
				 "topic \"%s\" is not available on %s: %s", c->opts.topic,
				 c->opts.brokers,
				 md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
		c->error_new = true;
		rd_kafka_metadata_destroy(md);
		return false;
	}
	t = &md->topics[0];

	oldcxt = MemoryContextSwitchTo(c->cxt);
	for (int i = 0; i < t->partition_cnt; i++)
	{
		int32		p = t->partitions[i].id;
		bool		known = false;

		if (!kafka_wants_partition(c, p))
			continue;
		for (int j = 0; j < c->npart; j++)
			if (c->parts[j].partition == p)
				known = true;
		if (known)
			continue;
		c->parts = c->parts ? repalloc(c->parts, sizeof(KafkaPart) * (c->npart + 1))
			: palloc(sizeof(KafkaPart));
		memset(&c->parts[c->npart], 0, sizeof(KafkaPart));
		c->parts[c->npart].partition = p;
		c->parts[c->npart].next = -1;
		c->parts[c->npart].high = -1;
		c->parts[c->npart].taken = -1;	/* not assigned yet */
		c->npart++;
	}
	MemoryContextSwitchTo(oldcxt);
	qsort(c->parts, c->npart, sizeof(KafkaPart), cmp_part);
	rd_kafka_metadata_destroy(md);
	return true;
}

/*
 * kafka_read_marks
 *		Read the stored offsets and reset requests of a source.  Needs SPI.
 */
void
kafka_read_marks(int32 source_id, KafkaMarks *m)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	memset(m, 0, sizeof(KafkaMarks));
	catalog_exec("SELECT mark_key, mark_value FROM lakehouse.source_marks"
				 " WHERE source_id = $1 AND (mark_key LIKE 'partition:%' OR mark_key LIKE 'reset:%')",
				 1, types, values, NULL, SPI_OK_SELECT);
	m->partition = palloc(sizeof(int32) * (SPI_processed + 1));
	m->offset = palloc(sizeof(int64) * (SPI_processed + 1));
	m->reset_key = palloc(sizeof(char *) * (SPI_processed + 1));
	m->reset_value = palloc(sizeof(char *) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *value = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		int64		p;
		int64		off;

		if (strncmp(key, "reset:", 6) == 0)
		{
			m->reset_key[m->nresets] = key;
			m->reset_value[m->nresets] = value ? value : pstrdup("earliest");
			m->nresets++;
		}
		else if (parse_offset(key + 10, &p) && parse_offset(value, &off))
		{
			m->partition[m->n] = (int32) p;
			m->offset[m->n] = off;
			m->n++;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid Kafka offset mark \"%s\" = \"%s\"", key,
							value ? value : "NULL"),
					 errhint("Reset the source with lakehouse.lh_reset_source().")));
	}
}

static int64
marks_offset(KafkaMarks *m, int32 partition)
{
	for (int i = 0; i < m->n; i++)
		if (m->partition[i] == partition)
			return m->offset[i];
	return -1;
}

/*
 * kafka_marks_match
 *		Are the stored marks exactly where the consumer stands, with no
 *		reset pending?  If not, the batch in hand must not be landed.
 */
bool
kafka_marks_match(KafkaConn *c, KafkaMarks *m)
{
	if (m->nresets > 0)
		return false;
	for (int i = 0; i < c->npart; i++)
		if (marks_offset(m, c->parts[i].partition) != c->parts[i].next)
			return false;
	return true;
}

/* The reset request that applies to a partition, or NULL. */
static const char *
marks_reset(KafkaMarks *m, int32 partition)
{
	char		key[32];

	snprintf(key, sizeof(key), "reset:%d", partition);
	for (int i = 0; i < m->nresets; i++)
		if (strcmp(m->reset_key[i], key) == 0)
			return m->reset_value[i];
	for (int i = 0; i < m->nresets; i++)
		if (strcmp(m->reset_key[i], "reset:all") == 0)
			return m->reset_value[i];
	return NULL;
}

/*
 * Resolve a position of one partition with the broker: "earliest",
 * "latest", "offset:<n>" or "time:<ms since epoch>".  Returns -1 and sets
 * c->error on failure.
 */
static int64
kafka_resolve_one(KafkaConn *c, int32 partition, const char *position,
				  int timeout_ms)
{
	rd_kafka_resp_err_t err;
	int64		low;
	int64		high;
	int64		v;

	err = rd_kafka_query_watermark_offsets(c->rk, c->opts.topic, partition,
										   &low, &high, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		snprintf(c->error, sizeof(c->error),
				 "could not query offsets of partition %d of topic \"%s\": %s",
				 partition, c->opts.topic, rd_kafka_err2str(err));
		c->error_new = true;
		return -1;
	}
	if (strncmp(position, "offset:", 7) == 0 && parse_offset(position + 7, &v))
	{
		/* like Kafka's own reset tool: an offset outside the log is clamped */
		if (v < low || v > high)
		{
			snprintf(c->error, sizeof(c->error),
					 "offset " INT64_FORMAT " is outside partition %d of topic \"%s\" (" INT64_FORMAT " to " INT64_FORMAT "); starting at " INT64_FORMAT,
					 v, partition, c->opts.topic, low, high, v < low ? low : high);
			c->error_new = true;
			ereport(WARNING,
					(errmsg("Kafka source \"%s\": %s", c->src->name, c->error)));
			return v < low ? low : high;
		}
		return v;
	}
	if (strcmp(position, "earliest") == 0)
		return low;
	if (strcmp(position, "latest") == 0)
		return high;
	if (strncmp(position, "time:", 5) == 0 && parse_offset(position + 5, &v))
	{
		rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
		int64		result;

		rd_kafka_topic_partition_list_add(list, c->opts.topic, partition)->offset = v;
		err = rd_kafka_offsets_for_times(c->rk, list, timeout_ms);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			err = list->elems[0].err;
		result = list->elems[0].offset;
		rd_kafka_topic_partition_list_destroy(list);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			snprintf(c->error, sizeof(c->error),
					 "could not find the offset for a time in partition %d of topic \"%s\": %s",
					 partition, c->opts.topic, rd_kafka_err2str(err));
			c->error_new = true;
			return -1;
		}
		/* no message at or after that time: the end */
		return result < 0 ? high : result;
	}
	snprintf(c->error, sizeof(c->error), "invalid reset position \"%s\"", position);
	c->error_new = true;
	return -1;
}

/* Milliseconds since the Unix epoch of a timestamptz. */
static int64
timestamptz_to_unix_ms(TimestampTz t)
{
	return (t + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) / 1000;
}

/*
 * kafka_resolve
 *		Compute where each partition starts (targets[i] for c->parts[i]):
 *		a reset request, else the stored mark, else the start option.
 *		Network; call it outside a transaction when you can.  Returns false
 *		(c->error set) if the broker could not answer.
 */
bool
kafka_resolve(KafkaConn *c, KafkaMarks *m, int64 *targets, int timeout_ms)
{
	for (int i = 0; i < c->npart; i++)
	{
		int32		p = c->parts[i].partition;
		const char *reset = marks_reset(m, p);
		int64		stored = marks_offset(m, p);
		char		pos[64];

		if (reset)
			strlcpy(pos, reset, sizeof(pos));
		else if (stored >= 0)
		{
			targets[i] = stored;
			continue;
		}
		else
		{
			switch (c->opts.start)
			{
				case KAFKA_START_EARLIEST:
					strlcpy(pos, "earliest", sizeof(pos));
					break;
				case KAFKA_START_LATEST:
					strlcpy(pos, "latest", sizeof(pos));
					break;
				case KAFKA_START_TIMESTAMP:
					snprintf(pos, sizeof(pos), "time:" INT64_FORMAT,
							 timestamptz_to_unix_ms(c->opts.start_time));
					break;
				case KAFKA_START_OFFSETS:
					{
						char		key[16];
						char	   *off;

						snprintf(key, sizeof(key), "%d", p);
						off = lh_option_text(c->opts.start_offsets, key);
						if (off)
							snprintf(pos, sizeof(pos), "offset:%s", off);
						else
							strlcpy(pos, "earliest", sizeof(pos));
					}
					break;
			}
		}
		targets[i] = kafka_resolve_one(c, p, pos, timeout_ms);
		if (targets[i] < 0)
			return false;
	}
	return true;
}

/*
 * kafka_apply_marks
 *		Store the resolved starting offsets and remove the reset requests
 *		they answered (only if nobody replaced them meanwhile).  Needs SPI,
 *		in the transaction that locked the source row.
 */
void
kafka_apply_marks(KafkaConn *c, KafkaMarks *m, int64 *targets)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];

	for (int i = 0; i < c->npart; i++)
	{
		if (marks_offset(m, c->parts[i].partition) != targets[i])
		{
			char		key[32];

			snprintf(key, sizeof(key), "partition:%d", c->parts[i].partition);
			catalog_set_source_mark(c->src->source_id, key,
									psprintf(INT64_FORMAT, targets[i]));
		}
		c->parts[i].next = targets[i];
	}
	values[0] = Int32GetDatum(c->src->source_id);
	for (int i = 0; i < m->nresets; i++)
	{
		values[1] = CStringGetTextDatum(m->reset_key[i]);
		values[2] = CStringGetTextDatum(m->reset_value[i]);
		catalog_exec("DELETE FROM lakehouse.source_marks"
					 " WHERE source_id = $1 AND mark_key = $2 AND mark_value = $3",
					 3, types, values, NULL, SPI_OK_DELETE);
	}
}

/*
 * kafka_assign
 *		(Re)assign the partitions at their next offsets.  Messages of the
 *		previous assignment still queued are dropped by librdkafka.
 */
void
kafka_assign(KafkaConn *c)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t err;

	list = rd_kafka_topic_partition_list_new(Max(c->npart, 1));
	for (int i = 0; i < c->npart; i++)
	{
		rd_kafka_topic_partition_list_add(list, c->opts.topic,
										  c->parts[i].partition)->offset = c->parts[i].next;
		c->parts[i].taken = c->parts[i].next;
	}
	c->queue_was_full = false;
	err = rd_kafka_assign(c->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not assign partitions of topic \"%s\"", c->opts.topic),
				 errdetail("%s", rd_kafka_err2str(err))));
	c->assigned = true;
}

/* The partition's entry, or NULL if the source does not consume it. */
static KafkaPart *
kafka_part(KafkaConn *c, int32 partition)
{
	KafkaPart	key;

	/* parts are sorted by partition (kafka_discover) */
	key.partition = partition;
	return bsearch(&key, c->parts, c->npart, sizeof(KafkaPart), cmp_part);
}

/*
 * kafka_consume
 *		Up to max messages, waiting at most timeout_ms for the first.
 *		Error events are recorded in c->error and not returned.
 */
int
kafka_consume(KafkaConn *c, rd_kafka_message_t **msgs, int max, int timeout_ms)
{
	ssize_t		n;
	int			kept = 0;
	KafkaPart  *part;

	kafka_nudge_fetchers(c);
	n = rd_kafka_consume_batch_queue(c->queue, timeout_ms, msgs, max);
	if (n < 0)
	{
		snprintf(c->error, sizeof(c->error), "could not consume: %s",
				 rd_kafka_err2str(rd_kafka_last_error()));
		c->error_new = true;
		return 0;
	}
	for (int i = 0; i < n; i++)
	{
		rd_kafka_message_t *rkm = msgs[i];

		if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				snprintf(c->error, sizeof(c->error), "%s",
						 rd_kafka_message_errstr(rkm));
				c->error_new = true;
			}
			rd_kafka_message_destroy(rkm);
			continue;
		}
		c->seen_bytes += rkm->len;
		part = kafka_part(c, rkm->partition);
		if (part && rkm->offset >= part->taken)
			part->taken = rkm->offset + 1;
		msgs[kept++] = rkm;
	}
	c->seen_msgs += kept;
	/* the queue may be dry now: then the fetcher must not wait */
	kafka_nudge_fetchers(c);
	return kept;
}

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
 * kafka_store_marks
 *		Write the offsets the batch reached, in the batch's transaction.
 *		One statement for all partitions that moved.
 */
void
kafka_store_marks(KafkaConn *c)
{
	Datum	   *keys;
	Datum	   *vals;
	int			n = 0;
	Oid			types[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];

	keys = palloc(sizeof(Datum) * Max(c->npart, 1));
	vals = palloc(sizeof(Datum) * Max(c->npart, 1));
	for (int i = 0; i < c->npart; i++)
	{
		if (c->parts[i].batch_next == c->parts[i].next)
			continue;
		keys[n] = CStringGetTextDatum(psprintf("partition:%d", c->parts[i].partition));
		vals[n] = CStringGetTextDatum(psprintf(INT64_FORMAT, c->parts[i].batch_next));
		n++;
	}
	if (n == 0)
		return;
	values[0] = Int32GetDatum(c->src->source_id);
	values[1] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(vals, n, TEXTOID, -1, false, TYPALIGN_INT));
	catalog_exec("INSERT INTO lakehouse.source_marks AS m"
				 " (source_id, mark_key, mark_value, updated_at)"
				 " SELECT $1, k, v, now() FROM unnest($2::text[], $3::text[]) AS u(k, v)"
				 " ON CONFLICT (source_id, mark_key) DO UPDATE"
				 " SET mark_value = excluded.mark_value, updated_at = now()",
				 3, types, values, NULL, SPI_OK_INSERT);
}

/*
 * kafka_batch_done
 *		After the batch's transaction: if it committed, the partitions
 *		stand at batch_next (and the broker hears of it, informationally);
 *		if not, at next as before, and the caller must reassign.
 */
void
kafka_batch_done(KafkaConn *c, bool committed)
{
	rd_kafka_topic_partition_list_t *list = NULL;

	for (int i = 0; i < c->npart; i++)
	{
		if (!committed || c->parts[i].batch_next == c->parts[i].next)
		{
			c->parts[i].batch_next = c->parts[i].next;
			continue;
		}
		c->parts[i].next = c->parts[i].batch_next;
		if (c->opts.commit_to_broker)
		{
			if (list == NULL)
				list = rd_kafka_topic_partition_list_new(c->npart);
			rd_kafka_topic_partition_list_add(list, c->opts.topic,
											  c->parts[i].partition)->offset = c->parts[i].next;
		}
	}
	if (list)
	{
		(void) rd_kafka_commit(c->rk, list, 1);
		rd_kafka_topic_partition_list_destroy(list);
	}
}

/*
 * kafka_refresh_watermarks
 *		Update each partition's high watermark from what librdkafka last
 *		heard from the broker (no network request).
 */
void
kafka_refresh_watermarks(KafkaConn *c)
{
	for (int i = 0; i < c->npart; i++)
	{
		int64		low;
		int64		high;

		if (rd_kafka_get_watermark_offsets(c->rk, c->opts.topic,
										   c->parts[i].partition,
										   &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR &&
			high >= 0)
			c->parts[i].high = high;
	}
}

/*
 * kafka_nudge_fetchers
 *		Make librdkafka fetch again when its prefetch queue has run dry
 *		after reaching its limits.
 *
 * librdkafka stops fetching while the consumer queue holds more than
 * queued.min.messages or queued.max.messages.kbytes, and before 2.1 a broker
 * thread with nothing to do looks at the queue again only once a second
 * (2.1 made that interval fetch.queue.backoff.ms, which kafka_build_conf
 * sets to 10 ms there).  A worker that drains the queue faster than that
 * sat idle for the rest of each second.  So with an older librdkafka:
 * once the queue has been at half its limits or more (the fetcher has
 * probably stopped) and is now empty, every partition with messages
 * beyond the ones handed to us is sought, asynchronously, to the offset
 * librdkafka would fetch next anyway.  A seek is an operation for the
 * partition's broker thread, which wakes up and fetches at once; the queue
 * being empty, nothing fetched is thrown away but an answer in flight.
 * Costs no network round trip and never blocks.
 */
static void
kafka_nudge_fetchers(KafkaConn *c)
{
	int64		queued;
	int64		avg;
	rd_kafka_topic_partition_list_t *list = NULL;

	if (!c->nudge || !c->assigned)
		return;
	queued = (int64) rd_kafka_queue_length(c->queue);
	avg = c->seen_msgs > 0 ? c->seen_bytes / c->seen_msgs + 1 : 1;
	if (queued * 2 >= c->queue_min_msgs || queued * avg * 2 >= c->queue_max_bytes)
	{
		c->queue_was_full = true;
		return;
	}
	if (queued > 0 || !c->queue_was_full)
		return;
	c->queue_was_full = false;

	kafka_refresh_watermarks(c);
	for (int i = 0; i < c->npart; i++)
	{
		KafkaPart  *part = &c->parts[i];

		if (part->taken < 0 || (part->high >= 0 && part->high <= part->taken))
			continue;
		if (list == NULL)
			list = rd_kafka_topic_partition_list_new(c->npart);
		rd_kafka_topic_partition_list_add(list, c->opts.topic,
										  part->partition)->offset = part->taken;
	}
	if (list)
	{
		rd_kafka_error_t *err;

		ereport(DEBUG1,
				(errmsg_internal("Kafka source \"%s\": prefetch queue drained, %d partitions fetch again",
								 c->src->name, list->cnt)));
		err = rd_kafka_seek_partitions(c->rk, list, 0);

		if (err)
			rd_kafka_error_destroy(err);
		rd_kafka_topic_partition_list_destroy(list);
	}
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
 *		One-shot ingest (lh_ingest, or a run when no worker serves the
 *		source): consume what the partitions hold up to the high watermarks
 *		seen at the start, in the caller's transaction, which already holds
 *		the source row lock (ingest.c).  Waits at most a few seconds for
 *		the broker.
 */
void
kafka_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	KafkaConn  *c = kafka_connect(src, false);

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

/*-------------------------------------------------------------------------
 *
 * kafka_options.c
 *	  The options of a Kafka source, and the librdkafka configuration built
 *	  from them: which librdkafka properties a source may set, and who may
 *	  set them.
 *
 * Options (jsonb): brokers and topic (required); partitions (a subset);
 * format json | text | bytes; start earliest | latest | {"timestamp": ts} |
 * {"offsets": {"<partition>": offset}}; batch_size; max_wait_ms;
 * properties (librdkafka properties); secret_properties (property -> name
 * of a secret); group_id and commit_to_broker (informational broker-side
 * commits).  contrib-docs/kafka.md documents them.
 *
 * librdkafka properties are accepted by allow-list (kafka_properties): each
 * known consumer property has a class saying who may set it and how.
 *	- tuning, timeouts, the security protocol, SASL mechanisms (except
 *	  GSSAPI), TLS settings given inline: anyone;
 *	- passwords and private keys: only through secret_properties, so that
 *	  they never sit in the catalog in clear;
 *	- properties that name a file on the database server: roles with the
 *	  privileges of pg_read_server_files;
 *	- properties that run a command (Kerberos kinit), load code (plugins,
 *	  OpenSSL engines and providers, interceptors), write files (the file
 *	  offset store), switch on test-only behaviour (the unsecured JWT, the
 *	  mock cluster) or print internals (debug): superusers only;
 *	- what lakehouse sets itself (brokers, group, offsets, callbacks):
 *	  nobody.
 * A property that is not in the list is refused, except for superusers,
 * who can make the server do anything anyway; for them librdkafka checks
 * it.  The check is made as the pipeline's owner when the source is
 * declared and again every time a consumer is configured, so a source
 * whose pipeline passes to a less privileged owner stops working instead
 * of keeping what it was allowed.  Secrets are resolved only at that
 * second point, and only if the owner holds usage on them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "security/security.h"
#include "sources/kafka.h"

static const char *const kafka_option_keys[] = {
	"brokers", "topic", "partitions", "format", "start", "batch_size",
	"max_wait_ms", "properties", "secret_properties", "group_id",
	"commit_to_broker", NULL
};

/* Who may set a librdkafka property, and how. */
typedef enum KafkaPropClass
{
	KPROP_ANY,					/* anyone */
	KPROP_SECRET,				/* only through secret_properties */
	KPROP_ANY_OR_SECRET,		/* either way */
	KPROP_FILE,					/* names a server file: pg_read_server_files */
	KPROP_SUPERUSER,			/* runs, loads, writes, tests or leaks: superusers */
	KPROP_RESERVED				/* lakehouse sets it */
} KafkaPropClass;

typedef struct KafkaProperty
{
	const char *name;
	KafkaPropClass cls;
} KafkaProperty;

/*
 * The consumer properties of librdkafka 2.0 (CONFIGURATION.md), each with
 * its class (see the file header).  Producer-only properties, callbacks
 * and pointers are not listed: a consumer has no use for them.
 */
static const KafkaProperty kafka_properties[] = {
	/* general tuning and timeouts */
	{"client.id", KPROP_ANY},
	{"client.rack", KPROP_ANY},
	{"client.software.name", KPROP_ANY},
	{"client.software.version", KPROP_ANY},
	{"message.max.bytes", KPROP_ANY},
	{"message.copy.max.bytes", KPROP_ANY},
	{"receive.message.max.bytes", KPROP_ANY},
	{"max.in.flight.requests.per.connection", KPROP_ANY},
	{"max.in.flight", KPROP_ANY},
	{"metadata.request.timeout.ms", KPROP_ANY},
	{"topic.metadata.refresh.interval.ms", KPROP_ANY},
	{"metadata.max.age.ms", KPROP_ANY},
	{"topic.metadata.refresh.fast.interval.ms", KPROP_ANY},
	{"topic.metadata.refresh.fast.cnt", KPROP_ANY},
	{"topic.metadata.refresh.sparse", KPROP_ANY},
	{"topic.metadata.propagation.max.ms", KPROP_ANY},
	{"topic.blacklist", KPROP_ANY},
	{"socket.timeout.ms", KPROP_ANY},
	{"socket.blocking.max.ms", KPROP_ANY},
	{"socket.send.buffer.bytes", KPROP_ANY},
	{"socket.receive.buffer.bytes", KPROP_ANY},
	{"socket.keepalive.enable", KPROP_ANY},
	{"socket.nagle.disable", KPROP_ANY},
	{"socket.max.fails", KPROP_ANY},
	{"broker.address.ttl", KPROP_ANY},
	{"broker.address.family", KPROP_ANY},
	{"socket.connection.setup.timeout.ms", KPROP_ANY},
	{"connections.max.idle.ms", KPROP_ANY},
	{"enable.sparse.connections", KPROP_ANY},
	{"reconnect.backoff.jitter.ms", KPROP_ANY},
	{"reconnect.backoff.ms", KPROP_ANY},
	{"reconnect.backoff.max.ms", KPROP_ANY},
	{"retry.backoff.ms", KPROP_ANY},
	{"statistics.interval.ms", KPROP_ANY},
	{"enable.random.seed", KPROP_ANY},
	{"log.thread.name", KPROP_ANY},
	{"log.connection.close", KPROP_ANY},
	{"api.version.request", KPROP_ANY},
	{"api.version.request.timeout.ms", KPROP_ANY},
	{"api.version.fallback.ms", KPROP_ANY},
	{"broker.version.fallback", KPROP_ANY},
	{"allow.auto.create.topics", KPROP_ANY},
	/* consumer tuning */
	{"group.instance.id", KPROP_ANY},
	{"session.timeout.ms", KPROP_ANY},
	{"heartbeat.interval.ms", KPROP_ANY},
	{"coordinator.query.interval.ms", KPROP_ANY},
	{"max.poll.interval.ms", KPROP_ANY},
	{"queued.min.messages", KPROP_ANY},
	{"queued.max.messages.kbytes", KPROP_ANY},
	{"fetch.wait.max.ms", KPROP_ANY},
	{"fetch.message.max.bytes", KPROP_ANY},
	{"max.partition.fetch.bytes", KPROP_ANY},
	{"fetch.max.bytes", KPROP_ANY},
	{"fetch.min.bytes", KPROP_ANY},
	{"fetch.error.backoff.ms", KPROP_ANY},
	{"fetch.queue.backoff.ms", KPROP_ANY},
	{"isolation.level", KPROP_ANY},
	{"check.crcs", KPROP_ANY},
	/* security: protocol, mechanisms, TLS given inline, OIDC */
	{"security.protocol", KPROP_ANY},
	{"sasl.mechanisms", KPROP_ANY},
	{"sasl.mechanism", KPROP_ANY},
	{"sasl.username", KPROP_ANY_OR_SECRET},
	{"ssl.cipher.suites", KPROP_ANY},
	{"ssl.curves.list", KPROP_ANY},
	{"ssl.sigalgs.list", KPROP_ANY},
	{"ssl.certificate.pem", KPROP_ANY_OR_SECRET},
	{"ssl.ca.pem", KPROP_ANY_OR_SECRET},
	{"enable.ssl.certificate.verification", KPROP_ANY},
	{"ssl.endpoint.identification.algorithm", KPROP_ANY},
	{"sasl.oauthbearer.method", KPROP_ANY},
	{"sasl.oauthbearer.client.id", KPROP_ANY_OR_SECRET},
	{"sasl.oauthbearer.scope", KPROP_ANY},
	{"sasl.oauthbearer.extensions", KPROP_ANY_OR_SECRET},
	{"sasl.oauthbearer.token.endpoint.url", KPROP_ANY},
	/* passwords and private keys */
	{"sasl.password", KPROP_SECRET},
	{"ssl.key.password", KPROP_SECRET},
	{"ssl.key.pem", KPROP_SECRET},
	{"ssl.keystore.password", KPROP_SECRET},
	{"sasl.oauthbearer.client.secret", KPROP_SECRET},
	/* files on the database server */
	{"ssl.key.location", KPROP_FILE},
	{"ssl.certificate.location", KPROP_FILE},
	{"ssl.ca.location", KPROP_FILE},
	{"ssl.crl.location", KPROP_FILE},
	{"ssl.keystore.location", KPROP_FILE},
	/* commands, code, written files, test-only switches, internals */
	{"sasl.kerberos.service.name", KPROP_SUPERUSER},
	{"sasl.kerberos.principal", KPROP_SUPERUSER},
	{"sasl.kerberos.kinit.cmd", KPROP_SUPERUSER},
	{"sasl.kerberos.keytab", KPROP_SUPERUSER},
	{"sasl.kerberos.min.time.before.relogin", KPROP_SUPERUSER},
	{"plugin.library.paths", KPROP_SUPERUSER},
	{"interceptors", KPROP_SUPERUSER},
	{"ssl.engine.location", KPROP_SUPERUSER},
	{"ssl.engine.id", KPROP_SUPERUSER},
	{"ssl.providers", KPROP_SUPERUSER},
	{"ssl.ca.certificate.stores", KPROP_SUPERUSER},
	{"sasl.oauthbearer.config", KPROP_SUPERUSER},
	{"enable.sasl.oauthbearer.unsecure.jwt", KPROP_SUPERUSER},
	{"test.mock.num.brokers", KPROP_SUPERUSER},
	{"test.mock.broker.rtt", KPROP_SUPERUSER},
	{"offset.store.method", KPROP_SUPERUSER},
	{"offset.store.path", KPROP_SUPERUSER},
	{"offset.store.sync.interval.ms", KPROP_SUPERUSER},
	{"debug", KPROP_SUPERUSER},
	{"log_level", KPROP_SUPERUSER},
	{"enabled_events", KPROP_SUPERUSER},
	{"internal.termination.signal", KPROP_SUPERUSER},
	/* the consumer's position, group and commits are lakehouse's */
	{"bootstrap.servers", KPROP_RESERVED},
	{"metadata.broker.list", KPROP_RESERVED},
	{"group.id", KPROP_RESERVED},
	{"enable.auto.commit", KPROP_RESERVED},
	{"auto.commit.enable", KPROP_RESERVED},
	{"auto.commit.interval.ms", KPROP_RESERVED},
	{"enable.auto.offset.store", KPROP_RESERVED},
	{"enable.partition.eof", KPROP_RESERVED},
	{"auto.offset.reset", KPROP_RESERVED},
	{"log.queue", KPROP_RESERVED},
	{"group.protocol.type", KPROP_RESERVED},
	{"partition.assignment.strategy", KPROP_RESERVED},
	{NULL, 0}
};

/* SASL mechanisms anyone may choose; GSSAPI runs kinit: superusers. */
static const char *const kafka_open_mechanisms[] = {
	"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", NULL
};


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

static char *
jbv_text(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Iterate over the pairs of a flat object whose values must be strings,
 * numbers or booleans (as text): a callback each.
 */
typedef struct KafkaPairs
{
	const char *what;			/* the option, for messages */
	LhOptionPairFn fn;
	void	   *arg;
} KafkaPairs;

static void
scalar_pair(const char *key, const char *text, void *arg)
{
	KafkaPairs *kp = (KafkaPairs *) arg;

	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value of \"%s\" in option \"%s\" must be a string, number or boolean",
						key, kp->what)));
	kp->fn(key, text, kp->arg);
}

static void
for_each_pair(Jsonb *obj, const char *what, LhOptionPairFn fn, void *arg)
{
	KafkaPairs	kp = {what, fn, arg};

	lh_option_pairs(obj, scalar_pair, &kp);
}

/* Parse a non-negative integer; false if it is not one. */
bool
kafka_parse_offset(const char *s, int64 *out)
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

	if (!kafka_parse_offset(key, &partition) || partition > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid partition \"%s\" in option \"start\"", key),
				 errhint("Use {\"offsets\": {\"<partition>\": <offset>, ...}}.")));
	if (!kafka_parse_offset(value, &offset))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid offset \"%s\" for partition %s in option \"start\"",
						value, key),
				 errhint("Offsets are non-negative integers.")));
}

/*
 * Option "partitions" (its value v): an array of distinct partition
 * numbers, not empty.
 */
static void
parse_partitions(JsonbValue *v, KafkaOptions *o)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	Jsonb	   *arr = (v->type == jbvBinary) ? JsonbValueToJsonb(v) : NULL;

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
			!kafka_parse_offset(DatumGetCString(DirectFunctionCall1(numeric_out,
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

/*
 * Option "start" given as an object: exactly one of {"timestamp": ts} (a
 * finite timestamp) and {"offsets": {"<partition>": offset, ...}}.
 */
static void
parse_start_object(Jsonb *options, KafkaOptions *o)
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

/* Option "start": "earliest" (the default), "latest", or an object. */
static void
parse_start(Jsonb *options, KafkaOptions *o)
{
	JsonbValue	v;

	o->start = KAFKA_START_EARLIEST;
	if (lh_option_lookup(options, "start", &v))
	{
		if (v.type == jbvString)
		{
			char	   *s = jbv_text(&v);

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
			parse_start_object(options, o);
	}
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
		parse_partitions(&v, o);

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

	parse_start(options, o);

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
	bool		sasl;			/* security.protocol is SASL_* */
	bool		mechanism;		/* sasl.mechanism(s) was given */
	bool		oauthbearer;	/* the mechanism is OAUTHBEARER */
	bool		oidc;			/* sasl.oauthbearer.method is oidc */
} KafkaConfBuild;

static const KafkaProperty *
kafka_property(const char *name)
{
	for (const KafkaProperty *p = kafka_properties; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/*
 * May the current user (the pipeline's owner) set property name, given
 * in clear (secret false) or from a secret?  Raises the error if not.
 */
static void
kafka_check_property(KafkaConfBuild *b, const char *name, const char *value)
{
	const KafkaProperty *p = kafka_property(name);
	bool		super = superuser();

	if (p == NULL || p->cls == KPROP_RESERVED)
	{
		if (p != NULL || strstr(name, "_cb") != NULL ||
			strcmp(name, "opaque") == 0 || strcmp(name, "default_topic_conf") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("librdkafka property \"%s\" is set by lakehouse", name),
					 errhint("Use the source options \"brokers\", \"group_id\" and \"start\"; offsets are kept in the catalog.")));
		if (!super)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("librdkafka property \"%s\" is not allowed", name),
					 errdetail("Kafka sources accept the consumer properties listed in contrib-docs/kafka.md; this one is not among them."),
					 errhint("Check the spelling; a superuser may set other properties.")));
		return;
	}
	if (p->cls == KPROP_SUPERUSER && !super)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set librdkafka property \"%s\"", name),
				 errdetail("It can make the database server run a command, load code, write files, behave as in librdkafka's tests or log its internals."),
				 errhint("Only superusers may set it.")));
	if (p->cls == KPROP_FILE && !super &&
		!(strcmp(name, "ssl.ca.location") == 0 && value && strcmp(value, "probe") == 0) &&
		!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set librdkafka property \"%s\"", name),
				 errdetail("It names a file on the database server."),
				 errhint("Only superusers and members of pg_read_server_files may do this.")));
	if (p->cls == KPROP_SECRET && !b->secret)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka property \"%s\" must come from a secret", name),
				 errhint("Store it with lakehouse.lh_set_secret() and name it in \"secret_properties\".")));
	if (b->secret && p->cls != KPROP_SECRET && p->cls != KPROP_ANY_OR_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka property \"%s\" cannot come from a secret", name),
				 errhint("Secret properties are sasl.username, sasl.password, ssl.key.password, ssl.key.pem, ssl.keystore.password, ssl.certificate.pem, ssl.ca.pem, sasl.oauthbearer.client.id, sasl.oauthbearer.client.secret and sasl.oauthbearer.extensions.")));

	/* values that matter */
	if (value == NULL)
		return;
	if (strcmp(name, "security.protocol") == 0)
		b->sasl = (pg_strncasecmp(value, "sasl_", 5) == 0);
	if (strcmp(name, "sasl.mechanisms") == 0 || strcmp(name, "sasl.mechanism") == 0)
	{
		b->mechanism = true;
		if (strcmp(value, "OAUTHBEARER") == 0)
			b->oauthbearer = true;
		if (!super)
		{
			bool		ok = false;

			for (int i = 0; kafka_open_mechanisms[i]; i++)
				if (strcmp(value, kafka_open_mechanisms[i]) == 0)
					ok = true;
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to use SASL mechanism \"%s\"", value),
						 errdetail("GSSAPI makes librdkafka run kinit on the database server."),
						 errhint("Use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER with sasl.oauthbearer.method \"oidc\"; a superuser may use GSSAPI.")));
		}
	}
	if (strcmp(name, "sasl.oauthbearer.method") == 0)
		b->oidc = (strcmp(value, "oidc") == 0);
	if (strcmp(name, "sasl.oauthbearer.token.endpoint.url") == 0 &&
		pg_strncasecmp(value, "https://", 8) != 0 &&
		pg_strncasecmp(value, "http://", 7) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka property \"%s\" must be an http or https URL", name)));
}

static void
conf_set_checked(KafkaConfBuild *b, const char *name, const char *value)
{
	char		errstr[512];

	kafka_check_property(b, name, value);

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
	if (secret[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("secret name for librdkafka property \"%s\" must not be empty",
						name)));
	if (b->check_only)
	{
		/* the property may come from a secret, the owner may use this one */
		kafka_check_property(b, name, NULL);
		security_check_secret_usage(secret, GetUserId(), true);
	}
	else
		conf_set_checked(b, name, security_secret_value(secret, GetUserId(),
														CurrentMemoryContext));
	b->secret = false;
}

/*
 * Build the configuration of a consumer of the source.  With check_only
 * (definition time) secrets are not read.  The caller owns the result.
 */
rd_kafka_conf_t *
kafka_build_conf(KafkaOptions *o, const char *source_name, bool check_only)
{
	KafkaConfBuild b;
	char		group[NAMEDATALEN * 2 + 256];

	b.conf = rd_kafka_conf_new();
	b.secret = false;
	b.check_only = check_only;
	b.sasl = false;
	b.mechanism = false;
	b.oauthbearer = false;
	b.oidc = false;

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

		/*
		 * OAUTHBEARER without OIDC needs a token callback (we set none) or
		 * the test-only unsecured JWT: superusers only (librdkafka 2.0.2
		 * crashes on some such configurations).
		 */
		/* librdkafka's default mechanism is GSSAPI (kinit) */
		if (b.sasl && !b.mechanism && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a SASL security.protocol needs librdkafka property \"sasl.mechanism\""),
					 errdetail("Without it librdkafka uses GSSAPI, which runs kinit on the database server."),
					 errhint("Set sasl.mechanism to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.")));
		if (b.oauthbearer && !b.oidc && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to use SASL mechanism \"OAUTHBEARER\" without OIDC"),
					 errhint("Set sasl.oauthbearer.method to \"oidc\" with a token endpoint, client id and client secret.")));

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


/*-------------------------------------------------------------------------
 *
 * kafka.c
 *	  Kafka sources: the consumer.  Connecting with librdkafka, finding the
 *	  topic's partitions, deciding where each starts, consuming, and
 *	  keeping the offsets in the catalog exactly once.  Options and the
 *	  librdkafka configuration: kafka_options.c; landing messages and the
 *	  kind's routine: kafka_land.c.
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

#include "lakehouse.h"
#include "sources/kafka.h"


static void kafka_nudge_fetchers(KafkaConn *c);

/* librdkafka error callback: runs in our thread, copies the text. */
static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	KafkaConn  *c = (KafkaConn *) opaque;

	snprintf(c->error, sizeof(c->error), "%s: %s",
			 rd_kafka_err2name((rd_kafka_resp_err_t) err), reason);
	c->error_new = true;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		c->brokers_down = true;
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
	List	   *values;
	List	   *keys = catalog_source_marks(source_id, NULL, &values);
	int			n = list_length(keys);
	ListCell   *lc1;
	ListCell   *lc2;

	memset(m, 0, sizeof(KafkaMarks));
	m->partition = palloc(sizeof(int32) * (n + 1));
	m->offset = palloc(sizeof(int64) * (n + 1));
	m->reset_key = palloc(sizeof(char *) * (n + 1));
	m->reset_value = palloc(sizeof(char *) * (n + 1));
	forboth(lc1, keys, lc2, values)
	{
		char	   *key = lfirst(lc1);
		char	   *value = lfirst(lc2);
		int64		p;
		int64		off;

		if (strncmp(key, "partition:", 10) != 0 && strncmp(key, "reset:", 6) != 0)
			continue;
		if (strncmp(key, "reset:", 6) == 0)
		{
			m->reset_key[m->nresets] = key;
			m->reset_value[m->nresets] = value ? value : pstrdup("earliest");
			m->nresets++;
		}
		else if (kafka_parse_offset(key + 10, &p) && kafka_parse_offset(value, &off))
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
int64
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
	if (strncmp(position, "offset:", 7) == 0 && kafka_parse_offset(position + 7, &v))
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
	if (strncmp(position, "time:", 5) == 0 && kafka_parse_offset(position + 5, &v))
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
 *		in the transaction that locked the source row.  Says where each
 *		reset partition starts (a LOG line in a worker, a NOTICE in a
 *		run): lh_reset_source could not always tell.
 */
void
kafka_apply_marks(KafkaConn *c, KafkaMarks *m, int64 *targets)
{
	for (int i = 0; i < c->npart; i++)
	{
		const char *reset = marks_reset(m, c->parts[i].partition);

		if (reset != NULL)
			ereport(IsBackgroundWorker ? LOG : NOTICE,
					(errmsg("Kafka source \"%s\" reads partition %d again from offset " INT64_FORMAT,
							c->src->name, c->parts[i].partition, targets[i])));
		if (marks_offset(m, c->parts[i].partition) != targets[i])
		{
			char		key[32];

			snprintf(key, sizeof(key), "partition:%d", c->parts[i].partition);
			catalog_set_source_mark(c->src->source_id, key,
									psprintf(INT64_FORMAT, targets[i]));
		}
		c->parts[i].next = targets[i];
	}
	for (int i = 0; i < m->nresets; i++)
		catalog_delete_source_mark_if(c->src->source_id, m->reset_key[i],
									  m->reset_value[i]);
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
KafkaPart *
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

/*
 * kafka_store_marks
 *		Write the offsets the batch reached, in the batch's transaction.
 *		One statement for all partitions that moved.
 */
void
kafka_store_marks(KafkaConn *c)
{
	List	   *keys = NIL;
	List	   *vals = NIL;

	for (int i = 0; i < c->npart; i++)
	{
		if (c->parts[i].batch_next == c->parts[i].next)
			continue;
		keys = lappend(keys, psprintf("partition:%d", c->parts[i].partition));
		vals = lappend(vals, psprintf(INT64_FORMAT, c->parts[i].batch_next));
	}
	catalog_set_source_marks(c->src->source_id, keys, vals);
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


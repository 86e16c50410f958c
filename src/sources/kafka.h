/*-------------------------------------------------------------------------
 *
 * kafka.h
 *	  Kafka sources: options, the consumer connection, and landing batches
 *	  of messages in bronze with their offsets (src/sources/kafka.c).  The
 *	  background worker (src/worker/kafka_worker.c) and the one-shot
 *	  lh_ingest path are both built from these pieces.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_KAFKA_H
#define LH_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "lakehouse.h"
#include "sources/sources.h"

/* librdkafka 2.1.0, the first with fetch.queue.backoff.ms */
#define KAFKA_VERSION_QUEUE_BACKOFF 0x020100ff

typedef enum KafkaFormat
{
	KAFKA_JSON,
	KAFKA_TEXT,
	KAFKA_BYTES
} KafkaFormat;

/* Where a partition without a stored offset starts. */
typedef enum KafkaStart
{
	KAFKA_START_EARLIEST,
	KAFKA_START_LATEST,
	KAFKA_START_TIMESTAMP,
	KAFKA_START_OFFSETS
} KafkaStart;

/* The options of a kafka source, checked (kafka_parse_options). */
typedef struct KafkaOptions
{
	char	   *brokers;
	char	   *topic;
	List	   *partitions;		/* int list; NIL: every partition */
	KafkaFormat format;
	KafkaStart	start;
	TimestampTz start_time;		/* KAFKA_START_TIMESTAMP */
	Jsonb	   *start_offsets;	/* KAFKA_START_OFFSETS: {"0": 10, ...} */
	int			batch_size;
	int			max_wait_ms;
	Jsonb	   *properties;		/* librdkafka properties, or NULL */
	Jsonb	   *secret_properties;	/* property -> secret name, or NULL */
	char	   *group_id;		/* NULL: lakehouse.<database>.<source> */
	bool		commit_to_broker;
} KafkaOptions;

/* One assigned partition. */
typedef struct KafkaPart
{
	int32		partition;
	int64		next;			/* next offset to land (= the stored mark) */
	int64		batch_next;		/* next after the batch being landed */
	int64		high;			/* broker high watermark; -1: unknown */
	int64		taken;			/* next offset librdkafka will hand us */
	int64		landed;			/* messages landed or dead-lettered */
	int64		skipped;		/* offsets the broker no longer had */
	TimestampTz last_message_at;	/* Kafka timestamp of the last one; 0 */
} KafkaPart;

/* A live consumer of one source. */
typedef struct KafkaConn
{
	MemoryContext cxt;			/* holds this struct and its arrays */
	LhSource   *src;
	KafkaOptions opts;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_queue_t *queue;
	int			npart;
	KafkaPart  *parts;
	bool		assigned;
	int			wakefd[2];		/* readable when the queue has messages */
	int64		queue_max_bytes;	/* queued.max.messages.kbytes, in bytes */
	int64		queue_min_msgs; /* queued.min.messages */
	int64		seen_msgs;		/* messages and payload bytes consumed, */
	int64		seen_bytes;		/* for the average message size */
	bool		nudge;			/* librdkafka before 2.1: see kafka_nudge_fetchers */
	bool		queue_was_full; /* the queue reached half its limits */
	char		error[512];		/* last error librdkafka reported */
	bool		error_new;		/* error set since last looked at */
	bool		brokers_down;	/* librdkafka said every broker is down */
} KafkaConn;

/* Stored marks of a source: offsets and pending reset requests. */
typedef struct KafkaMarks
{
	int			n;
	int32	   *partition;
	int64	   *offset;
	int			nresets;
	char	  **reset_key;		/* "reset:all" or "reset:<partition>" */
	char	  **reset_value;
} KafkaMarks;

/* src/sources/kafka_options.c */
extern void kafka_parse_options(Jsonb *options, KafkaOptions *o);
extern bool kafka_parse_offset(const char *s, int64 *out);
extern rd_kafka_conf_t *kafka_build_conf(KafkaOptions *o, const char *source_name,
										 bool check_only);
extern void kafka_validate_options(Jsonb *options);
extern Oid	kafka_payload_type(Jsonb *options);

/* src/sources/kafka.c: the consumer */

extern KafkaConn *kafka_connect(LhSource *src, bool worker);
extern void kafka_disconnect(KafkaConn *c);
extern bool kafka_discover(KafkaConn *c, int timeout_ms);
extern void kafka_read_marks(int32 source_id, KafkaMarks *m);
extern bool kafka_marks_match(KafkaConn *c, KafkaMarks *m);
extern bool kafka_resolve(KafkaConn *c, KafkaMarks *m, int64 *targets,
						  int timeout_ms);
extern void kafka_apply_marks(KafkaConn *c, KafkaMarks *m, int64 *targets);
extern void kafka_assign(KafkaConn *c);
extern KafkaPart *kafka_part(KafkaConn *c, int32 partition);
extern int64 kafka_resolve_one(KafkaConn *c, int32 partition,
							   const char *position, int timeout_ms);
extern int	kafka_consume(KafkaConn *c, rd_kafka_message_t **msgs, int max,
						  int timeout_ms);
extern void kafka_store_marks(KafkaConn *c);
extern void kafka_batch_done(KafkaConn *c, bool committed);
extern void kafka_refresh_watermarks(KafkaConn *c);
/* src/sources/kafka_land.c */
extern void kafka_land(KafkaConn *c, BronzeWriter *w,
					   rd_kafka_message_t **msgs, int n, int64 run_id,
					   LhStageCounts *counts);
extern bool kafka_decode(KafkaOptions *o, LhTypeInput *jsonb_input,
						 const char *buf, size_t len, Datum *out,
						 char **reason, int *sqlstate);

#endif							/* LH_KAFKA_H */

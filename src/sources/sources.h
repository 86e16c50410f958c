/*-------------------------------------------------------------------------
 *
 * sources.h
 *	  Source kinds, the bronze writer they share, and the generic source
 *	  operations.
 *
 * Each kind of source (table, file, kafka, http, generate) is one file with
 * one SourceRoutine, the way PostgreSQL describes a foreign-data wrapper
 * with an FdwRoutine or an index access method with an IndexAmRoutine; the
 * registry (registry.c) lists them.  Nothing outside a kind's file compares
 * a source's kind: everything asks the registry.  Adding a kind is one new
 * file (its routine) and one line in registry.c's list.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_SOURCES_H
#define LH_SOURCES_H

#include "catalog/catalog.h"
#include "lakehouse.h"

/* Whether, and how, a background worker serves a source. */
typedef enum LhWorkerMode
{
	LH_WORKER_NONE,				/* runs ingest it (lh_run_pipeline, lh_ingest) */
	LH_WORKER_STREAM,			/* a worker consumes it continuously */
	LH_WORKER_POLL				/* a worker ingests it on an interval */
} LhWorkerMode;

/*
 * The dataset a source reads, for OpenLineage: a namespace and a name
 * ("kafka://host:9092" and the topic) with the URI of its data source
 * (NULL: none, the namespace being no URI), or a table of this database
 * (ns NULL, schema and table set).
 */
typedef struct SourceDataset
{
	char	   *ns;
	char	   *name;
	char	   *uri;
	char	   *schema;
	char	   *table;
} SourceDataset;

typedef struct BronzeWriter BronzeWriter;

/* Where a reset makes a partition of a source start (lh_reset_source). */
typedef struct SourceResetTarget
{
	int32		partition;
	int64		offset;			/* the next offset to land */
} SourceResetTarget;

/* What the bronze table of a source looks like. */
typedef struct BronzeShape
{
	bool		kafka;			/* the Kafka provenance columns */
	Oid			payload_type;	/* jsonb, or text/bytea (Kafka text/bytes) */
} BronzeShape;

/*
 * SourceRoutine: what a kind of source provides.  Callbacks marked
 * optional may be NULL.
 */
typedef struct SourceRoutine
{
	/* the kind, as stored in lakehouse.sources.kind */
	const char *name;

	/* what a source of this kind reads, for messages ("Kafka topic") */
	const char *what;

	/*
	 * Check the options; raise an error naming the problem.  Runs as the
	 * pipeline's owner, whose rights (to read a table, the server's files,
	 * a secret) it checks.  Needs no SPI connection.
	 */
	void		(*validate) (Jsonb *options);

	/* optional: the bronze table's shape (default: jsonb payload) */
	void		(*bronze_shape) (Jsonb *options, BronzeShape *shape);

	/*
	 * Land what the source delivered since its marks, move its marks and
	 * add to *counts, in the caller's transaction and as the pipeline's
	 * owner; the caller holds the source's row lock and an SPI connection.
	 */
	void		(*ingest) (LhSource *src, int64 run_id, LhStageCounts *counts);

	/* optional: whether a background worker serves a source (default none) */
	LhWorkerMode (*worker_mode) (Jsonb *options);

	/* the worker's entry point in this library, when worker_mode can say so */
	const char *worker_main;

	/*
	 * Its worker lands the source by itself, outside runs (Kafka): a run
	 * leaves a source that such a worker serves alone, without locking its
	 * row (an HTTP worker instead lands through lh_ingest, a run).
	 */
	bool		worker_lands_alone;

	/*
	 * optional: why a source redeclared with new options must start again
	 * from the beginning (its marks no longer mean anything), or NULL
	 */
	const char *(*restart_reason) (Jsonb *old_options, Jsonb *new_options);

	/* the dataset the source reads (OpenLineage) */
	void		(*dataset) (LhSource *src, SourceDataset *ds);

	/*
	 * optional: record a request to read again from position (and
	 * partition, -1: all) for lh_reset_source, and return where each
	 * partition will start (a List of SourceResetTarget), or NIL when
	 * that cannot be known yet (the kind then says why in a NOTICE).
	 * NULL: not supported
	 */
	List	   *(*reset) (LhSource *src, const char *position, int32 partition);

	/*
	 * optional: land a dead letter's raw bytes (and the metadata recorded
	 * with them) in w again, decoded with the source's current options
	 * (lh_replay_dead_letters); false, with *reason and *sqlstate, when
	 * they still cannot land.  NULL: the kind cannot replay.
	 */
	bool		(*replay) (LhSource *src, BronzeWriter *w, const char *raw,
						   int len, Jsonb *metadata, char **reason,
						   int *sqlstate);
} SourceRoutine;

/* src/sources/registry.c */
extern const SourceRoutine *source_routine(const char *kind);
extern void source_validate_options(const char *kind, Jsonb *options);
extern void source_bronze_shape(const char *kind, Jsonb *options,
								BronzeShape *shape);
extern void source_ingest(LhSource *src, int64 run_id, LhStageCounts *counts);
extern LhWorkerMode source_worker_mode(const char *kind, Jsonb *options);
extern bool sources_have_workers(List *sources);
extern const char *source_restart_reason(const char *old_kind, Jsonb *old_options,
										 const char *kind, Jsonb *options);
extern void source_dataset(LhSource *src, SourceDataset *ds);

/* src/sources/bronze_writer.c */

/* One Kafka message for bronze_writer_add_kafka. */
typedef struct BronzeKafkaRecord
{
	int32		partition;
	int64		offset;
	const char *key;			/* NULL: no key */
	size_t		keylen;
	Jsonb	   *headers;		/* NULL: no headers */
	TimestampTz timestamp;
	bool		has_timestamp;
	Datum		payload;		/* of the table's payload type, not null */
} BronzeKafkaRecord;

extern void bronze_create_table(const char *schema, const char *table,
								const BronzeShape *shape);
extern Oid	bronze_check_table(const char *schema, const char *table,
							   int lockmode, const BronzeShape *shape);
extern BronzeWriter *bronze_writer_open(LhSource *src, int64 run_id);
extern void bronze_writer_add(BronzeWriter *writer, const char *position,
							  Jsonb *payload);
extern void bronze_writer_add_kafka(BronzeWriter *writer,
									const BronzeKafkaRecord *rec);
extern int64 bronze_writer_close(BronzeWriter *writer);

#endif							/* LH_SOURCES_H */

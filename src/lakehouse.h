/*-------------------------------------------------------------------------
 *
 * lakehouse.h
 *	  Types and functions shared between the subsystems of the lakehouse
 *	  extension: catalog access, ingestion, transforms and orchestration.
 *
 * Each subsystem keeps its own state static; what is declared here is the
 * seam between them.  Everything that talks to the catalog does so through
 * SPI, so callers must be connected to SPI (SPI_connect) unless a comment
 * says otherwise.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LAKEHOUSE_H
#define LAKEHOUSE_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

/* Schema that holds the catalog (lakehouse.control pins it). */
#define LH_SCHEMA "lakehouse"

/* Advisory-lock class used to serialize runs of one pipeline. */
#define LH_LOCK_CLASS 0x4c4b4853	/* "LKHS" */

/* GUCs (src/lakehouse.c) */
extern int	lh_batch_size;
extern int	lh_max_quarantine_buffer;
extern bool lh_log_runs;
extern bool lh_emit_events;
extern int	lh_max_message_bytes;
extern bool lh_kafka_synchronous_commit;

/*
 * Row counts of one stage.  Every stage must account for every row it read:
 * rows_read = rows_written + rows_quarantined + rows_skipped, where skipped
 * covers duplicates superseded by a newer row and dead-lettered records.
 *
 * A stage that commits its work in steps (an HTTP source, page by page) and
 * fails after some steps returns normally with partial_error set: the run
 * keeps what the stage did, records the stage as failed with that error,
 * and stops as for any failure.
 */
typedef struct LhStageCounts
{
	int64		rows_read;
	int64		rows_written;
	int64		rows_quarantined;
	int64		rows_skipped;
	ErrorData  *partial_error;
} LhStageCounts;

/* A source as stored in lakehouse.sources. */
typedef struct LhSource
{
	int32		source_id;
	int32		pipeline_id;
	char	   *name;
	char	   *kind;
	Jsonb	   *options;
	char	   *bronze_schema;
	char	   *bronze_table;
} LhSource;

/* A silver or gold table as stored in lakehouse.tables. */
typedef struct LhTable
{
	int32		table_id;
	int32		pipeline_id;
	char	   *layer;
	char	   *schema_name;
	char	   *table_name;
	int32		source_id;		/* silver: its bronze input, else 0 */
	List	   *keys;			/* list of column names (char *) */
	char	   *order_by;		/* silver: latest-wins column, or NULL */
	char	   *gold_kind;		/* gold: rebuild / append / merge / scd2 */
	char	   *sql;			/* gold: the transform */
	Jsonb	   *options;
} LhTable;

/*
 * The run being executed by this backend, if any (src/pipeline/run.c).
 * Every stage can read it; lakehouse.lh_current_run_id() exposes it to SQL.
 */
typedef struct LhRunState
{
	int64		run_id;
	int32		pipeline_id;
	const char *pipeline_name;
	bool		full_refresh;
	bool		data_changed;	/* has any stage of this run written rows? */
} LhRunState;

extern LhRunState *lh_current_run;

/*
 * Stage hooks: called after a stage has done its work, inside the stage's
 * subtransaction, so a hook that raises an error rolls the stage back and
 * fails the run.  Data-quality gates and lineage plug in here.
 */
typedef void (*lh_stage_hook_type) (const char *stage, const char *target,
									int32 table_id, LhStageCounts *counts);
extern PGDLLIMPORT lh_stage_hook_type lh_after_stage_hook;

/*
 * Called after a stage has been executed and recorded in run_stages, outside
 * its subtransaction (whether it succeeded, failed or was skipped; not for
 * stages that did not run).  What a hook writes here survives a rolled-back
 * stage: results of checks that failed the stage belong here.  A hook must
 * not raise errors for data reasons.  Hooks chain: save the previous value
 * in _PG_init-time setup and call it.
 */
typedef void (*lh_stage_done_hook_type) (int64 run_id, int stage_no,
										 const char *stage, const char *target,
										 int32 table_id, const char *status,
										 ErrorData *error);
extern PGDLLIMPORT lh_stage_done_hook_type lh_stage_done_hook;

/* src/catalog/catalog.c */
extern void catalog_exec(const char *sql, int nargs, Oid *types, Datum *values,
						 const char *nulls, int expected);
extern int32 catalog_pipeline_id(const char *name, bool missing_ok);
extern LhSource *catalog_source_by_name(const char *name, bool missing_ok);
extern LhSource *catalog_source_by_id(int32 source_id);
extern List *catalog_pipeline_sources(int32 pipeline_id);
extern List *catalog_pipeline_tables(int32 pipeline_id, const char *layer);
extern char *catalog_get_source_mark(int32 source_id, const char *key);
extern void catalog_set_source_mark(int32 source_id, const char *key,
									const char *value);
extern char *catalog_get_stage_mark(int32 table_id, const char *key);
extern void catalog_set_stage_mark(int32 table_id, const char *key,
								   const char *value);
extern char *catalog_secret(const char *name, MemoryContext mcxt);
extern Oid	catalog_owner(void);
extern void catalog_add_dead_letter(LhSource *src, const char *position,
									const char *raw, int rawlen,
									const char *reason, int sqlerrcode,
									Jsonb *metadata);

/* src/common/subxact.c */
extern ErrorData *lh_try_subxact(void (*fn) (void *arg), void *arg);

/* src/common/names.c */
extern void lh_parse_table_name(const char *name, const char *default_schema,
								char **schema, char **table);
extern char *lh_qualified_name(const char *schema, const char *table);
extern Oid	lh_table_oid(const char *schema, const char *table, bool missing_ok);
extern void lh_ensure_schema(const char *schema);
extern void lh_check_name(const char *what, const char *name);
extern bool lh_unique_index_on(Oid relid, List *columns);
extern bool lh_name_is_qualified(const char *name);
extern bool lh_name_in_list(List *list, const char *name);
extern Datum lh_text_array(List *items);
extern char *lh_trim_sql(const char *sql);

/* src/common/options.c: source options held as jsonb objects */
extern void lh_check_option_keys(Jsonb *options, const char *const *allowed,
								 const char *what);
extern bool lh_option_lookup(Jsonb *options, const char *key, JsonbValue *out);
extern char *lh_option_text(Jsonb *options, const char *key);
extern Jsonb *lh_option_object(Jsonb *options, const char *key, const char *what);
extern bool lh_option_bool(Jsonb *options, const char *key, bool defval);
extern int64 lh_option_int(Jsonb *options, const char *key, int64 defval);
extern char *lh_jsonb_scalar_text(JsonbValue *v);

/* src/common/safeinput.c: type input that turns data errors into values */
typedef struct LhTypeInput
{
	Oid			typid;
	int32		typmod;
	Oid			typioparam;
	FmgrInfo	inproc;
	bool		catch_inline;	/* input function known to be side-effect free */
} LhTypeInput;

extern void lh_type_input_init(LhTypeInput *tin, Oid typid, int32 typmod);
extern bool lh_type_input_safe(LhTypeInput *tin, char *str, Datum *result,
							   ErrorData **error);

/* src/common/jsonfast.c: JSON records to jsonb */
extern bool lh_jsonb_parse_fast(const char *s, int len, Jsonb **out);
extern bool lh_json_record(const char *buf, int len, LhTypeInput *jsonb_input,
						   Datum *out, char **reason, int *sqlstate);

/* src/sources/bronze_writer.c */
typedef struct BronzeWriter BronzeWriter;

/*
 * What a source's bronze table looks like: the common columns, the Kafka
 * provenance columns if kafka, and a payload of payload_type (jsonb for
 * every source but Kafka sources of format text or bytes).
 */
typedef struct BronzeShape
{
	bool		kafka;
	Oid			payload_type;
} BronzeShape;

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

/* src/sources/ingest.c: dispatch by source kind */
extern void ingest_validate_options(const char *kind, Jsonb *options);
extern void ingest_bronze_shape(const char *kind, Jsonb *options,
								BronzeShape *shape);
extern void ingest_lock_source(LhSource *src);
extern void ingest_source(LhSource *src, int64 run_id, LhStageCounts *counts);

/* src/common/payload.c: checks of raw records shared by the sources */
#define LH_MAX_JSON_DEPTH 1000
extern bool lh_check_utf8(const char *s, int len, char **reason);
extern bool lh_json_too_deep(const char *s, int len);

/* src/sources/files.c and src/sources/tables.c */
extern void files_validate_options(Jsonb *options);
extern void files_ingest(LhSource *src, int64 run_id, LhStageCounts *counts);
extern void tables_validate_options(Jsonb *options);
extern void tables_ingest(LhSource *src, int64 run_id, LhStageCounts *counts);

/* Transforms a silver column mapping applies to text, in this order. */
#define LH_XFORM_TRIM			0x01
#define LH_XFORM_LOWER			0x02
#define LH_XFORM_UPPER			0x04
#define LH_XFORM_NULLIF_EMPTY	0x08

/* One silver column mapping (lakehouse.silver_columns). */
typedef struct LhSilverColumn
{
	char	   *name;
	List	   *path;			/* JSON path: list of char * keys */
	char	   *type_name;		/* as the user wrote it */
	Oid			typid;
	int32		typmod;
	bool		required;
	int			transforms;		/* LH_XFORM_* bits */
	List	   *transform_names;	/* as written, for the catalog */
	char	   *default_value;
	char	   *min_value;
	char	   *max_value;
} LhSilverColumn;

/* src/transform/silver_mapping.c and src/transform/silver.c */
extern int	silver_transform_flag(const char *name, const char *column);
extern void silver_resolve_type(LhSilverColumn *col);
extern List *silver_parse_columns(Jsonb *columns, List *keys,
								  const char *order_by, const char *table);
extern List *silver_load_columns(int32 table_id);
extern void silver_prepare_table(const char *schema, const char *table,
								 List *columns, List *keys);
extern void silver_run_stage(LhTable *table, LhStageCounts *counts);

/* src/transform/gold.c */
extern void gold_check_sql(const char *sql);
extern void lh_check_select_sql(const char *sql, const char *what);
extern void gold_prepare_table(const char *schema, const char *table,
							   const char *sql, const char *kind, List *keys);
extern bool gold_run_stage(LhTable *table, LhStageCounts *counts);

/* src/pipeline/deps.c */
extern List *deps_run_order(int32 pipeline_id);
extern void deps_check_acyclic(int32 pipeline_id, int32 upstream_id);

#endif							/* LAKEHOUSE_H */

/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The one owner of catalog SQL: reading and writing the tables of
 *	  schema "lakehouse" (pipelines, sources, tables, marks, runs, stages,
 *	  quarantine, dead letters, names, site), and the one SPI helper.
 *
 * Every catalog statement runs through catalog_exec: as the catalog owner
 * (the role that created the extension), with search_path pinned to
 * pg_catalog, pg_temp, whatever the caller's identity and settings.  Users
 * cannot write the catalog tables themselves; they call the SQL API, which
 * checks their rights (src/security/identity.c) and then calls these
 * functions.  No user code ever runs inside a catalog statement: catalog
 * SQL only touches catalog tables and PostgreSQL's own catalogs.
 *
 * Callers must be connected to SPI.  Results are palloc'd in the current
 * memory context.  Everything runs in the caller's transaction, so a mark
 * moves together with the rows it accounts for.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_CATALOG_H
#define LH_CATALOG_H

#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

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
	Oid			owner;			/* the owner of its pipeline */
	bool		enabled;
	TimestampTz updated_at;		/* when its definition last changed */
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
	Oid			owner;			/* the owner of its pipeline */
} LhTable;

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

/* A pipeline as stored in lakehouse.pipelines. */
typedef struct LhPipeline
{
	int32		pipeline_id;
	char	   *name;
	Oid			owner;
	char	   *schedule;		/* cron expression, or NULL */
	int64		cron_job_id;	/* 0: none */
} LhPipeline;

/*
 * Where a database runs (a row of lakehouse.site, or this node now): see
 * src/worker/site.c.
 */
typedef struct LhSite
{
	int64		system_identifier;	/* as pg_control_system() shows it */
	Oid			database_oid;
	char	   *database_name;
	int32		timeline;
	char	   *node;			/* <hostname>:<data directory> */
	char	   *how;			/* created, upgraded, promoted, adopted: ... */
} LhSite;

/* A dead letter, as lh_replay_dead_letters reads it. */
typedef struct LhDeadLetter
{
	int64		dead_letter_id;
	char	   *raw;			/* NULL: none */
	int			rawlen;
	Jsonb	   *metadata;
} LhDeadLetter;

/* What lakehouse.run_stages recorded of a stage, as lineage reads it. */
typedef struct LhStageRecord
{
	TimestampTz started;
	TimestampTz finished;		/* started, if it never finished */
	int64		rows_read;
	int64		rows_written;
	char	   *error;			/* error message, or NULL */
} LhStageRecord;

/*
 * SQL: the text value v as numeric, or NULL unless it reads as a number
 * (control totals sum JSON values that way, in quarantine and in bronze).
 */
#define CATALOG_SQL_NUMERIC_OF_V \
	"CASE WHEN v ~ '^\\s*[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$'" \
	" THEN v::numeric END"

/* src/catalog/catalog.c: SPI and identity */
extern SPIPlanPtr lh_spi_prepare(const char *sql, const char *what);
extern CachedPlanSource *lh_spi_plan_source(SPIPlanPtr plan);
extern uint64 lh_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
						  const char *nulls, int expected, const char *what);
extern void catalog_exec(const char *sql, int nargs, Oid *types, Datum *values,
						 const char *nulls, int expected);
extern Oid	catalog_owner(void);
extern char *catalog_extension_version(void);
extern void catalog_check_version(void);
extern Oid	catalog_acting_user(void);
extern char *catalog_acting_user_name(void);
extern char *catalog_text(int row, int col);
extern int32 catalog_int32(int row, int col, int32 defval);
extern int64 catalog_int64(int row, int col, int64 defval);
extern bool catalog_bool(int row, int col, bool defval);
extern TimestampTz catalog_timestamptz(int row, int col, TimestampTz defval);
extern Jsonb *catalog_jsonb(int row, int col);
extern List *catalog_text_list(int row, int col);
extern Datum catalog_text_or_null(const char *s, char *nullflag);

/* src/catalog/suggest.c: "Did you mean ...?" hints, or NULL */
extern char *lh_suggest_name(const char *name, List *candidates,
							 const char *what);
extern List *catalog_pipeline_names(void);
extern char *catalog_suggest_pipeline(const char *name);
extern char *catalog_suggest_source(const char *name);
extern char *catalog_suggest_table(const char *name, const char *layer);
extern Oid	catalog_table_oid(const char *given, const char *schema,
							  const char *table, const char *layer);
extern LhTable *catalog_table_by_user_name(const char *name, const char *hint);

/* src/catalog/pipelines.c */
extern int32 catalog_pipeline_id(const char *name, bool missing_ok);
extern LhPipeline *catalog_pipeline(int32 pipeline_id);
extern LhPipeline *catalog_pipeline_by_name(const char *name, bool missing_ok);
extern char *catalog_pipeline_name(int32 pipeline_id);
/* the name of a pipeline, or NULL if it is gone */
extern char *catalog_pipeline_name_if_exists(int32 pipeline_id);
/* md5 of a pipeline's whole definition (lh_apply_config), or NULL */
extern char *catalog_pipeline_fingerprint(const char *name);
extern int32 catalog_pipeline_create(const char *name, const char *description,
									 Oid owner);
extern void catalog_pipeline_set_description(int32 pipeline_id,
											 const char *description);
extern void catalog_pipeline_drop(int32 pipeline_id);
extern char *catalog_pipeline_dependent(int32 pipeline_id);
extern void catalog_pipeline_set_deps(int32 pipeline_id, List *upstream_ids,
									  List *upstream_names);
extern void catalog_pipeline_add_dep(int32 pipeline_id, int32 upstream_id);
extern List *catalog_pipeline_upstreams(int32 pipeline_id, List **names);
extern List *catalog_pipeline_graph(List **upstreams);
extern void catalog_pipeline_set_schedule(int32 pipeline_id,
										  const char *schedule, int64 job_id);
extern void catalog_pipeline_set_owner(int32 pipeline_id, Oid owner);
extern List *catalog_pipeline_ids(void);
/* every pipeline, by name; at most limit (> 0), *total: how many in all */
extern List *catalog_pipelines(int limit, int64 *total);

/* src/catalog/sources.c */
extern LhSource *catalog_source_by_name(const char *name, bool missing_ok);
extern LhSource *catalog_source_by_id(int32 source_id, bool missing_ok);
extern LhSource *catalog_source_by_bronze(const char *schema, const char *table);
extern List *catalog_pipeline_sources(int32 pipeline_id, bool enabled_only);
/* names of a pipeline's sources (optionally: those no table reads), sorted */
extern List *catalog_pipeline_source_names(int32 pipeline_id,
										   bool unreferenced_only);
extern List *catalog_all_sources(void);
extern int32 catalog_source_create(int32 pipeline_id, const char *name,
								   const char *kind, Jsonb *options,
								   const char *bronze_schema,
								   const char *bronze_table);
extern void catalog_source_update(int32 source_id, const char *kind,
								  Jsonb *options);
extern void catalog_source_drop(int32 source_id);
extern bool catalog_source_set_enabled(int32 source_id, bool enabled,
									   const char *reason);
extern bool catalog_source_lock(int32 source_id);

/* catalog_source_try_lock: whether the row is locked now */
typedef enum LhLockResult
{
	LH_LOCK_TAKEN,
	LH_LOCK_BUSY,				/* another transaction holds it */
	LH_LOCK_GONE				/* the source was dropped */
} LhLockResult;
extern LhLockResult catalog_source_try_lock(int32 source_id);
extern bool catalog_pipeline_has_kind(int32 pipeline_id, const char *kind);
extern char *catalog_get_source_mark(int32 source_id, const char *key);
extern void catalog_set_source_mark(int32 source_id, const char *key,
									const char *value);
extern void catalog_delete_source_marks(int32 source_id, const char *prefix);
/* forget one mark of a source; returns whether there was one */
extern bool catalog_delete_source_mark(int32 source_id, const char *key);
extern List *catalog_source_marks(int32 source_id, const char *prefix,
								  List **values);
extern void catalog_set_source_marks(int32 source_id, List *keys, List *values);
extern void catalog_delete_source_mark_if(int32 source_id, const char *key,
										  const char *value);
extern List *catalog_dead_letters(int32 source_id, Datum ids, bool ids_null);
extern void catalog_dead_letter_delete(int64 dead_letter_id);
extern void catalog_dead_letter_set_reason(int64 dead_letter_id,
										   const char *reason, int sqlerrcode);
extern int64 catalog_dead_letters_discard(int32 source_id, Datum ids,
										  bool ids_null);
extern int64 catalog_erase_quarantine(List *pipeline_ids, bool all,
									  const char *column, const char *value,
									  const char *paths);
extern int64 catalog_erase_dead_letters(List *pipeline_ids, const char *value);
extern void catalog_add_dead_letter(LhSource *src, const char *position,
									const char *raw, int rawlen,
									const char *reason, int sqlerrcode,
									Jsonb *metadata);

/* src/catalog/site.c */
extern List *catalog_site_rows(void);
extern void catalog_site_write(const LhSite *site, bool only_if_empty);
extern void catalog_site_lock(void);
extern int64 catalog_source_count(void);
extern List *catalog_sources_pause(const char *prefix, const char *why);
extern char *catalog_source_disabled_reason(int32 source_id);

/* src/catalog/tables.c */
extern LhTable *catalog_table(int32 table_id);
extern LhTable *catalog_table_by_name(const char *schema, const char *table);
extern LhTable *catalog_table_lookup(const char *name, char **schema,
									 char **table);
extern List *catalog_pipeline_tables(int32 pipeline_id, const char *layer);
/* a pipeline's silver and gold tables, by layer, schema and name */
extern List *catalog_pipeline_tables_by_name(int32 pipeline_id);
extern List *catalog_tables_dropped(void);
/* gold tables whose SQL mentions name (any case), by qualified name */
extern List *catalog_gold_tables_mentioning(const char *name);
extern char *catalog_table_reading_source(int32 source_id);
extern int32 catalog_table_store(int32 table_id, int32 pipeline_id,
								 const char *layer, const char *schema,
								 const char *table, int32 source_id,
								 List *keys, const char *order_by,
								 const char *kind, const char *sql,
								 Jsonb *options);
extern void catalog_table_drop(int32 table_id);
extern bool catalog_tables_changed_run(List *relids, int64 *newest);
extern void catalog_silver_columns_store(int32 table_id, List *columns);
extern List *catalog_silver_columns(int32 table_id);
/* a silver column renamed: its mapping, keys and order_by follow */
extern bool catalog_silver_column_rename(int32 table_id, const char *column,
										 const char *new_name);
/* a silver column's new type in its mapping; returns whether it changed */
extern bool catalog_silver_column_set_type(int32 table_id, const char *column,
										   const char *type_name);
/* lowest bronze_id mark of the silver tables reading a source */
extern int64 catalog_silver_progress(int32 source_id, bool *has_silver);
extern char *catalog_get_stage_mark(int32 table_id, const char *key);
extern void catalog_set_stage_mark(int32 table_id, const char *key,
								   const char *value);
extern bool catalog_delete_stage_mark(int32 table_id, const char *key);

/*
 * One rule a quarantined row breaks (src/catalog/quarantine.c).  A row
 * keeps every rule it breaks, in lakehouse.quarantine.violations; its
 * column_name, value, reason and rule are those of the first.
 *
 * rule is a stable identifier of the kind of rule, without the value:
 * "type", "required", "min", "max" (silver mapping), "expectation:<name>"
 * (a drop expectation), "contract:<rule>" (a data contract's row rule),
 * "legacy" (rows quarantined by 0.1 whose reason could not be read).
 */
typedef struct LhViolation
{
	const char *column;			/* NULL: the row as a whole */
	char	   *rule;
	char	   *value;			/* NULL: null, or no value */
	char	   *reason;			/* full sentence fragment, may name the value */
} LhViolation;

/* Values longer than this (bytes) are cut in quarantine rows. */
#define LH_QUARANTINE_VALUE_MAX 1000

/* src/catalog/quarantine.c: columns of a quarantine batch, in order */
typedef enum LhQuarantineCol
{
	LHQ_RUN_ID,					/* int8 */
	LHQ_PIPELINE_ID,			/* int4 */
	LHQ_TABLE_ID,				/* int4 */
	LHQ_TARGET,					/* text, not null */
	LHQ_BRONZE_TABLE,			/* text */
	LHQ_BRONZE_ID,				/* int8 */
	LHQ_POSITION,				/* text */
	LHQ_COLUMN,					/* text */
	LHQ_VALUE,					/* text */
	LHQ_REASON,					/* text, not null */
	LHQ_RULE,					/* text */
	LHQ_PAYLOAD,				/* jsonb */
	LHQ_VIOLATIONS,				/* jsonb, not null */
	LHQ_NCOLS
} LhQuarantineCol;

extern LhViolation *lh_violation(const char *column, const char *rule,
								 const char *value, const char *reason);
extern char *catalog_quarantine_clip(const char *value);
extern Datum catalog_quarantine_violations(List *violations);
extern void catalog_quarantine_insert(int n, Datum **cols, bool **nulls);
extern void catalog_quarantine_clear(int32 table_id, bool runs_only);

/*
 * The quarantined rows of one table: a registered table by its table_id,
 * any other (a contract on a table no pipeline declares) by its qualified
 * name with table_id 0.
 */
typedef struct LhQuarantineKey
{
	int32		table_id;
	const char *target;
} LhQuarantineKey;

/* one batch of a replay: the rows after after_id, locked, in id order */
typedef struct LhQuarantineBatch
{
	int			n;
	Datum		payloads;		/* jsonb[] */
	Datum		bronze_ids;		/* int8[] */
	Datum		ids;			/* int8[] */
	int64		last_id;
} LhQuarantineBatch;

extern void catalog_quarantine_check_ids(const LhQuarantineKey *key, Datum ids);
extern bool catalog_quarantine_batch(const LhQuarantineKey *key, Datum ids,
									 bool ids_null, int64 after_id, int limit,
									 LhQuarantineBatch *batch);
extern void catalog_quarantine_update(int n, Datum *ids, Datum **cols,
									  bool **nulls);
extern void catalog_quarantine_delete(int n, Datum *ids);
extern int64 catalog_quarantine_discard(const LhQuarantineKey *key, Datum ids,
										bool ids_null);
/* numeric sum of the values at path in a table's quarantined payloads */
extern Datum catalog_quarantine_total(int32 table_id, List *path,
									  bool one_run, int64 run_id);

/* src/catalog/runs.c: the run ledger */
extern int64 catalog_run_insert(int32 pipeline_id, const char *name,
								const char *status, bool full_refresh);
extern void catalog_run_finish(int64 run_id, const char *status,
							   int64 rows_read, int64 rows_written,
							   int64 rows_quarantined, const char *failed_stage,
							   const char *sqlstate, const char *message,
							   const char *summary);
extern void catalog_run_set_parent(int64 run_id, int64 parent_run_id);
extern void catalog_run_record_abandoned(int64 run_id, int32 pipeline_id,
										 const char *pipeline_name,
										 const char *status, const char *run_by,
										 const char *application,
										 bool full_refresh,
										 TimestampTz started_at,
										 TimestampTz finished_at,
										 const char *failed_stage,
										 const char *sqlstate,
										 const char *message,
										 const char *summary);
extern void catalog_stage_insert(int64 run_id, int stage_no, const char *stage,
								 const char *target, const char *status,
								 TimestampTz started, TimestampTz finished,
								 int64 rows_read, int64 rows_written,
								 int64 rows_quarantined, int64 rows_skipped,
								 ErrorData *error, const char *refresh,
								 const char *refresh_reason);
/* a new id of the run sequence, for a write that is not a run */
extern int64 catalog_run_id_next(void);
/* what run_stages holds of a stage; false if it has no row */
extern bool catalog_stage_record(int64 run_id, int stage_no,
								 LhStageRecord *rec);

#endif							/* LH_CATALOG_H */

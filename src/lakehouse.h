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

#include "catalog/catalog.h"

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
extern int	lh_max_config_bytes;
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
	int64		files;			/* files found, when counts_files */
	bool		counts_files;	/* a source that reads files: report files */
	ErrorData  *partial_error;

	/*
	 * gold kinds rebuild and merge: "incremental", "partial" or "full", and
	 * why not incremental (NULL when it was); NULL for other stages
	 */
	const char *refresh;
	const char *refresh_reason;
} LhStageCounts;

/*
 * The run being executed by this backend, if any (src/pipeline/run.c).
 * Every stage can read it; lakehouse.lh_current_run_id() exposes it to SQL.
 */
typedef struct LhRunState
{
	int64		run_id;
	int32		pipeline_id;
	const char *pipeline_name;
	Oid			owner;			/* the pipeline's owner: its code runs as this */
	bool		full_refresh;
	bool		data_changed;	/* has any stage of this run written rows? */
} LhRunState;

extern LhRunState *lh_current_run;

/*
 * src/worker/progress.c: what lakehouse.run_progress shows of the run in
 * flight in this backend.  lh_run_pipeline and lh_ingest bracket their
 * runs (call_begin/end/abort, run_begin/end, stage); the stages report
 * with the others, which take no lock and do nothing when no run is in
 * flight, so that they can be called per row.
 */
extern int	lh_progress_notice_interval;
extern void lh_progress_call_begin(void);
extern void lh_progress_call_end(void);
extern void lh_progress_call_abort(void);
extern void lh_progress_run_begin(const LhRunState *run);
extern void lh_progress_stage(const char *stage, const char *target,
							  int stage_no, int nstages);
extern void lh_progress_run_end(void);
extern bool lh_progress_active(void);
extern void lh_progress_total(int64 rows, int64 bytes);
extern void lh_progress_add_rows(int64 rows);
extern void lh_progress_set_bytes(int64 bytes);
extern void lh_progress_step(const char *step);

/* src/common/subxact.c */
extern ErrorData *lh_try_subxact(void (*fn) (void *arg), void *arg);

/* src/common/names.c */
extern void lh_parse_table_name(const char *name, const char *default_schema,
								char **schema, char **table);
extern char *lh_qualified_name(const char *schema, const char *table);
extern char *lh_layer_table_name(const char *layer, const char *qualified);
extern Oid	lh_table_oid(const char *schema, const char *table, bool missing_ok);
extern Oid	lh_stage_table_oid(const LhTable *t);
extern char *lh_stage_table_hint(const char *layer, const char *qname);
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
typedef void (*LhOptionPairFn) (const char *key, const char *text, void *arg);
extern void lh_option_pairs(Jsonb *obj, LhOptionPairFn fn, void *arg);
extern bool lh_option_differs(Jsonb *a, Jsonb *b, const char *key);

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

/* src/common/payload.c: checks of raw records shared by the sources */
#define LH_MAX_JSON_DEPTH 1000
extern bool lh_check_utf8(const char *s, int len, char **reason);
extern bool lh_json_too_deep(const char *s, int len);

#endif							/* LAKEHOUSE_H */

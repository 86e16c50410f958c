/*-------------------------------------------------------------------------
 *
 * transform.h
 *	  The silver and gold stages (src/transform/): typing bronze payloads
 *	  into silver tables, and building gold tables from SQL with a write
 *	  kind (rebuild, append, merge, scd2).
 *
 * Gold write kinds are routine tables, as source kinds are
 * (src/sources/sources.h): a kind is one GoldKindRoutine, defined in its
 * own file, and one line in GOLD_KINDS (gold_kinds.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_TRANSFORM_H
#define LH_TRANSFORM_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

/* Transforms a silver column mapping applies to text, in this order. */
#define LH_XFORM_TRIM			0x01
#define LH_XFORM_LOWER			0x02
#define LH_XFORM_UPPER			0x04
#define LH_XFORM_NULLIF_EMPTY	0x08

/* silver_mapping.c and silver.c */
extern int	silver_transform_flag(const char *name, const char *column);
extern void silver_resolve_type(LhSilverColumn *col);
extern List *silver_parse_columns(Jsonb *columns, List *keys,
								  const char *order_by, const char *table);
extern List *silver_load_columns(int32 table_id);
extern void silver_prepare_table(const char *schema, const char *table,
								 List *columns, List *keys);
extern void silver_run_stage(LhTable *table, LhStageCounts *counts);
extern void silver_replay(LhTable *table, const LhQuarantineKey *key, Datum ids,
						  bool ids_null, int64 replay_id, int64 *replayed,
						  int64 *still);

/*
 * A gold write kind.  Every callback runs as the pipeline's owner,
 * connected to SPI.
 */
typedef struct GoldKindRoutine
{
	const char *name;			/* as in lh_define_gold(kind => ...) */
	bool		needs_keys;		/* keys identify a row */
	bool		takes_options;	/* options (checked by validate) */

	/*
	 * every write offers all the query's rows again (not only new ones):
	 * rows a data contract diverted in earlier runs are diverted again or
	 * land, so the stage replaces them in lakehouse.quarantine
	 */
	bool		rewrites;

	/* definition time: check the options (takes_options only) */
	void		(*validate) (Jsonb *options, List *keys);

	/*
	 * definition time: create the table from the query, or check that an
	 * existing one can take its rows
	 */
	void		(*prepare) (const char *schema, const char *table,
							const char *sql, List *keys, Jsonb *options);

	/*
	 * a run: write the rows of query (the stored SQL, as a subquery) into
	 * the table; fills rows_read, rows_written and rows_skipped
	 */
	void		(*write) (LhTable *table, const char *query,
						  LhStageCounts *counts);
} GoldKindRoutine;

/* gold_kinds.c */
extern const GoldKindRoutine *gold_kind_routine(const char *name);
extern char *gold_kind_names(bool with_options_only);

/* gold.c: the stage, and the kinds rebuild, append and merge */
extern void gold_check_sql(const char *sql);
extern void lh_check_select_sql(const char *sql, const char *what);
extern bool gold_run_stage(LhTable *table, LhStageCounts *counts);
extern bool gold_check_refresh_option(const char *kind, Jsonb *options);
extern List *gold_query_inputs(const char *sql, List *relation_oids);
extern const GoldKindRoutine gold_kind_rebuild;
extern const GoldKindRoutine gold_kind_append;
extern const GoldKindRoutine gold_kind_merge;

/*
 * The incremental engine (incremental.c).  gold_run_stage calls it inside
 * the stage's subtransaction, connected to SPI, after the skip logic, only
 * for kinds rebuild and merge, when the option refresh is auto, the run is
 * not a full refresh, the target was not re-created or emptied and the
 * definition did not change since the last build (gold.c decides that).  It
 * returns true when it refreshed the table (counts filled, *how and
 * *reason set; it opens its ranges with changes_open and consumes them),
 * false when the caller must do a full refresh (*reason says why; the
 * caller then consumes every input's range).
 */
typedef enum LhRefresh
{
	LH_REFRESH_FULL,
	LH_REFRESH_PARTIAL,
	LH_REFRESH_INCREMENTAL
} LhRefresh;

extern bool gold_incremental_refresh(LhTable *table, LhStageCounts *counts,
									 LhRefresh *how, const char **reason);

/* scd2.c: SCD type 2 merges, the kind scd2 and lh_scd2_merge() */
typedef struct Scd2Counts
{
	int64		inserted;		/* new current versions from the source */
	int64		closed;			/* current rows closed by a change */
	int64		unchanged;		/* source rows equal to their current row */
	int64		deleted;		/* keys gone from the source, recorded */
	int64		late;			/* late-arriving rows (placed, or ignored) */
	int64		rejected;		/* rows with a NULL updated_at */
	int64		source_rows;	/* rows read from the source (after dedup) */
	int64		versions_written;	/* rows inserted by the main statement */
} Scd2Counts;

extern const GoldKindRoutine gold_kind_scd2;
extern void scd2_merge(const char *schema, const char *table,
					   const char *source_sql, Oid source_relid, List *keys,
					   Jsonb *options, Scd2Counts *counts);

#endif							/* LH_TRANSFORM_H */

/*-------------------------------------------------------------------------
 *
 * scd2.h
 *	  SCD type 2 merges (src/transform/scd2.c), used by the gold stage and
 *	  by lh_define_gold.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_TRANSFORM_SCD2_H
#define LH_TRANSFORM_SCD2_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"

/* What one merge did. */
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

extern void scd2_validate_options(Jsonb *options, List *keys);
extern void scd2_prepare_table(const char *schema, const char *table,
							   const char *source_sql, List *keys,
							   Jsonb *options);
extern void scd2_merge(const char *schema, const char *table,
					   const char *source_sql, Oid source_relid, List *keys,
					   Jsonb *options, Scd2Counts *counts);

#endif							/* LH_TRANSFORM_SCD2_H */

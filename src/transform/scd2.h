/*-------------------------------------------------------------------------
 *
 * scd2.h
 *	  What the SCD2 files share (src/transform/scd2*.c): the parsed options
 *	  of a merge, the description of its source and the meta columns of a
 *	  history table.  Private to those files; the rest of the extension
 *	  sees scd2_merge() and gold_kind_scd2 through transform.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_SCD2_H
#define LH_SCD2_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "transform/transform.h"

/* Meta columns, indexes into Scd2Options.meta. */
enum
{
	M_VALID_FROM,
	M_VALID_TO,
	M_IS_CURRENT,
	M_VERSION_ID,
	M_UPDATED_AT,
	M_IS_DELETED,
	M_ROW_HASH,
	M_COUNT
};

typedef enum
{
	DEL_IGNORE, DEL_INVALIDATE, DEL_NEW_RECORD
} Scd2Deletes;

typedef struct Scd2Options
{
	bool		timestamp;		/* strategy timestamp (else check) */
	char	   *updated_at;		/* source column, or NULL */
	List	   *check_cols;		/* NIL: all non-key columns */
	bool		vtc_null;		/* valid_to of current rows is NULL */
	Datum		vtc;
	Scd2Deletes deletes;
	bool		dup_latest;
	bool		late_insert;
	bool		as_of_null;
	Datum		as_of;
	int			dbt_compat;		/* option: -1 not given, 0 false, 1 true */
	bool		dbt;			/* the target is (or becomes) a dbt snapshot */
	bool		dbt_deleted_col;	/* dbt: the table has dbt_is_deleted */
	char	   *dbt_time_type;	/* dbt: type of the three time columns */
	char	   *dbt_vtc_lit;	/* dbt: valid_to_current as a literal of it */
	const char *meta_given[M_COUNT];	/* names given as options, or NULL */
	const char *meta[M_COUNT];	/* names in use (NULL: no such column) */
} Scd2Options;

/* The source's columns: names and SQL types. */
typedef struct Scd2Source
{
	List	   *names;
	List	   *types;			/* format_type_with_typemod strings */
	List	   *tracked;		/* columns whose change makes a version */
	List	   *tracked_oids;	/* their types (Oids) */
	List	   *src_cast;		/* per tracked column: NULL, or a type to
								 * compare the source's value as */
	List	   *tgt_cast;		/* the same for the table's value */
	Oid			upd_type;		/* type of the updated_at column, if any */
} Scd2Source;

/* scd2_table.c: the history table, in lakehouse's or dbt's layout */
extern const char *const scd2_meta_option[M_COUNT];
extern void scd2_set_layout(Scd2Options *o, bool dbt);
extern void scd2_spi_utility(const char *sql);
extern char *scd2_meta_current(Scd2Options *o, const char *p);
extern char *scd2_meta_deleted(Scd2Options *o, const char *p);
extern char *scd2_meta_time(Scd2Options *o, const char *p, int m);
extern void scd2_prepare_target(const char *schema, const char *table,
								Scd2Source *src, List *keys, Scd2Options *o);

/* scd2_sql.c: the statements of a merge */
extern char *scd2_col_list(const char *prefix, List *cols);
extern void scd2_check_duplicates(const char *qname, const char *source_sql,
								  List *keys);
extern void scd2_merge_late(const char *qname, const char *source_sql,
							Scd2Source *src, List *keys, Scd2Options *o,
							int64 *placed, int64 *already);
extern void scd2_merge_main(const char *qname, const char *source_sql,
							Scd2Source *src, List *keys, Scd2Options *o,
							Scd2Counts *counts);

#endif							/* LH_SCD2_H */

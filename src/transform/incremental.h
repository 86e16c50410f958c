/*-------------------------------------------------------------------------
 *
 * incremental.h
 *	  The incremental gold engine (issue 18), internal to its files:
 *	  incremental.c (analysis, decisions, the entry point),
 *	  incremental_sql.c (query trees rewritten and deparsed into SQL) and
 *	  incremental_apply.c (writing a change into the target, and the hidden
 *	  per-group state of aggregates).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_INCREMENTAL_H
#define LH_INCREMENTAL_H

#include "nodes/parsenodes.h"

#include "catalog/catalog.h"
#include "transform/changes.h"

/* One input table read by the gold query (a relation may occur twice). */
typedef struct IvmInput
{
	Oid			relid;
	char	   *name;			/* schema-qualified, for reasons */
	LhChangeRange *range;		/* NULL until opened */
	int64		nchanges;		/* images in the range */
	double		reltuples;		/* the planner's estimate, or -1 */
} IvmInput;

/* One RTE_RELATION of the query. */
typedef struct IvmRel
{
	Index		rti;
	IvmInput   *input;
	bool		core;			/* never on the nullable side of a join */
	Node	   *lj_quals;		/* !core: ON of its (one-relation) left join */
	bool		lj_simple;		/* !core: that left join is partition-able */
} IvmRel;

/* How an aggregate of the query is maintained. */
typedef enum IvmAggKind
{
	IVM_AGG_COUNT_STAR,
	IVM_AGG_COUNT,				/* count(x): c */
	IVM_AGG_SUM,				/* sum(x): c, s (numeric) */
	IVM_AGG_AVG,				/* avg(x): c, s (numeric) */
	IVM_AGG_MIN,				/* v; recompute when the extreme may leave */
	IVM_AGG_MAX,
	IVM_AGG_BOOL_AND,			/* v; recompute when a value leaves */
	IVM_AGG_BOOL_OR,
	IVM_AGG_COUNT_DISTINCT		/* count(DISTINCT x): c, and per (group, x)
								 * the multiplicity in a second table */
} IvmAggKind;

typedef struct IvmAgg
{
	Aggref	   *aggref;
	IvmAggKind	kind;
	Node	   *arg;			/* its argument, or NULL for count(*) */
	int			no;				/* 1-based, names its state columns */
} IvmAgg;

/* What the analysis learned about the query. */
typedef struct IvmQuery
{
	LhTable    *table;
	Query	   *query;			/* analysed, join aliases flattened */
	char	   *target;			/* the gold table, quoted */
	List	   *rels;			/* IvmRel * */
	List	   *inputs;			/* IvmInput * */
	List	   *out_names;		/* result column names (char *) */
	List	   *out_exprs;		/* their expressions */
	bool		is_agg;
	List	   *part_exprs;		/* partition: expressions over FROM rows */
	List	   *part_cols;		/* and the result columns they are */
	List	   *aggs;			/* IvmAgg *, when every aggregate is known */
	const char *agg_why;		/* why aggregates need the partial path */
	List	   *key_cols;		/* result columns unique per row, or NIL */
	Datum	   *touched;		/* state path: arrays of the groups touched */
	bool	   *touched_null;

	/*
	 * The staged path: this is the inner aggregate of a gold query (a CTE
	 * or subquery in FROM), maintained in the hidden table inner_rel (its
	 * target); outer is the whole gold query, recomputed over inner_rel.
	 */
	char	   *inner_rel;		/* lakehouse_ivm.m<id>, quoted; or NULL */
	char	   *inner_name;		/* the CTE's or subquery's name */
	struct IvmQuery *outer;		/* target, out_names, key_cols, query */
	bool		inner_is_cte;	/* where the inner query sits in outer */
	int			inner_index;	/* cteList index, or rtable index (0-based) */
	const char *outer_why;		/* what makes the outer not incremental */
} IvmQuery;

/* How a relation is replaced in a rewritten query. */
typedef enum IvmVersion
{
	IVM_NEW,					/* the table as it is now (sign +1) */
	IVM_DELTA,					/* the signed images of the range */
	IVM_OLD,					/* now, minus the range: as before it */
	IVM_ANY					/* now and every image: a superset of both */
} IvmVersion;

#define IVM_SCHEMA "lakehouse_ivm"

/* incremental_sql.c */
extern char *ivm_delta_sql(IvmQuery *iq, List *exprs, List *names);
extern char *ivm_touched_sql(IvmQuery *iq);
extern char *ivm_filtered_sql(IvmQuery *iq, Query *q, bool *has_null);
extern char *ivm_state_query_sql(IvmQuery *iq, bool *has_null);
extern char *ivm_state_delta_sql(IvmQuery *iq);
extern bool ivm_final_ok(IvmQuery *iq);
extern char *ivm_final_sql(IvmQuery *iq, const char *state_rel);
extern char *ivm_param_filter(IvmQuery *iq, const char *alias, bool *has_null,
							  int first_param);
extern char *ivm_rows_sql(IvmQuery *iq);
extern char *ivm_outer_sql(IvmQuery *iq);

/* incremental_apply.c */
typedef struct IvmApply
{
	int64		deleted;
	int64		inserted;
	int64		updated;		/* keys both deleted and inserted */
	int64		offered;		/* rows of the new contents offered */
} IvmApply;

extern void ivm_apply_replace(IvmQuery *iq, const char *fsql, int nparams,
							  Oid *types, Datum *values, bool *has_null,
							  IvmApply *out);
extern void ivm_apply_delta(IvmQuery *iq, const char *dsql, IvmApply *out);
extern void ivm_apply_all(IvmQuery *iq, const char *fsql, IvmApply *out);
extern Oid	ivm_target_oid(IvmQuery *iq);
extern bool ivm_inner_exists(IvmQuery *iq);
extern void ivm_inner_build(IvmQuery *iq);
extern void ivm_ensure_index(IvmQuery *iq);
extern char *ivm_state_name(IvmQuery *iq);
extern bool ivm_state_current(IvmQuery *iq);
extern void ivm_state_build(IvmQuery *iq);
extern void ivm_state_update(IvmQuery *iq, int64 *groups);
extern void ivm_state_remember(IvmQuery *iq);
extern void ivm_state_apply(IvmQuery *iq, IvmApply *out);

#endif							/* LH_INCREMENTAL_H */

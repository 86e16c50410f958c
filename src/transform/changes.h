/*-------------------------------------------------------------------------
 *
 * changes.h
 *	  Change capture and change ranges (src/transform/changes.c): what the
 *	  gold stages (gold.c) and the incremental engine (incremental.c) read
 *	  of lakehouse.change_log.
 *
 * A captured table has statement-level AFTER triggers that write signed
 * row images (I: a row now there, D: a row gone) to lakehouse.change_log.
 * A reader (a gold table) opens the range of an input's changes past its
 * mark, reads them, and consumes the range in the transaction of its
 * write.  See contrib-docs/incremental.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_CHANGES_H
#define LH_CHANGES_H

#include "nodes/pg_list.h"

/* Advisory-lock class of the change-log barrier, keyed by table_id. */
#define LH_CHANGES_LOCK_CLASS 0x4c4b4843	/* "LKHC" */

typedef struct LhChangeRange
{
	int32		input_table_id;
	Oid			input_relid;
	int64		lo;				/* exclusive: the reader's mark */
	int64		hi;				/* inclusive */
	bool		complete;		/* false: reader has no mark yet, or the
								 * table's horizon passed it (log pruned,
								 * table rewritten or truncated) */
	const char *why_incomplete; /* the refresh_reason when !complete */
} LhChangeRange;

/* Is this relation a captured lakehouse table?  (table_id or 0) */
extern int32 changes_captured_table(Oid relid);

/* Open the range of changes of input relid for a reader (barrier). */
extern LhChangeRange *changes_open(int32 reader_table_id, Oid input_relid);

/*
 * SQL text of a relation with exactly the input table's columns (same
 * names and types, in attribute order) plus "_lh_sign" int: +1 per 'I'
 * image, -1 per 'D' image, for the changes in (lo, hi].
 */
extern char *changes_delta_sql(const LhChangeRange *r);

/* Number of images in the range (cheap; for the engine's cost decision). */
extern int64 changes_count(const LhChangeRange *r);

/*
 * After the stage wrote: set the reader's mark to hi (same subtransaction
 * as the stage's writes, so a failed stage keeps the old mark), prune what
 * every reader passed.
 */
extern void changes_consume(int32 reader_table_id, const LhChangeRange *r);

/*
 * Make sure the inputs of a gold table are captured (called at
 * lh_define_gold and at the start of each gold stage); returns false with
 * *why if one cannot be.
 */
extern bool changes_ensure_captured(Oid relid, const char **why);

/* ---- beyond the contract: what gold.c, run.c and declare.c also use ---- */

/* Install (or remove) the capture triggers of a registered table. */
extern void changes_capture_table(int32 table_id, Oid relid);
extern void changes_uncapture_table(Oid relid);

/* changes_ensure_captured for the relations a query reads. */
extern bool changes_ensure_inputs(List *relids, const char **why);

/* The captured lakehouse tables (table ids) among relids. */
extern List *changes_captured_inputs(List *relids);

/*
 * changes_open, keeping the barrier (an exclusive session-level advisory
 * lock) until changes_release_held(): a full write takes its snapshot with
 * no writer committing in between, so it sees exactly the changes <= hi.
 */
extern LhChangeRange *changes_open_held(int32 reader_table_id, Oid input_relid);
extern void changes_release_held(void);

/* Delete a reader's marks of tables it no longer reads (keep: table ids). */
extern void changes_forget_other_marks(int32 reader_table_id, List *keep);

/* lh_forget erased a subject from relid: erase its images too. */
extern void changes_forget_subject(Oid relid, const char *column, const char *value);

/* Prune the images of a table that every reader has passed. */
extern void changes_prune(int32 input_table_id);

/*
 * changes_capture.c: the statements that follow write relid fully, so the
 * capture trigger logs no images of it but moves its horizon (its readers
 * refresh fully).  Put changes_rewrite_end(prev) in a PG_FINALLY block.
 */
extern Oid	changes_rewrite_begin(Oid relid);
extern void changes_rewrite_end(Oid prev);

/*
 * Move the horizon of table_id to a fresh change id: every reader whose
 * mark is below refreshes fully.  cause: change_log_horizon.cause.
 */
extern void changes_move_horizon(int32 table_id, const char *cause);

/*
 * The gold stage running in this backend, for lakehouse.lh_changes():
 * begin says which table reads and whether the stage is a full refresh
 * (lh_changes then returns every current row as an insert); end returns
 * the ranges lh_changes opened (to consume) and forgets the stage.
 * changes_stage_fell_back: lh_changes met an incomplete range in an
 * incremental stage (and returned every row); *why says which.
 */
extern void changes_stage_begin(int32 reader_table_id, bool full);
extern List *changes_stage_ranges(void);
extern bool changes_stage_fell_back(const char **why);
extern void changes_stage_end(void);

#endif							/* LH_CHANGES_H */

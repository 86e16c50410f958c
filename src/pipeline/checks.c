/*-------------------------------------------------------------------------
 *
 * checks.c
 *	  The checks around every stage, in one ordered table.
 *
 * Silver and gold reach quality, drift and lineage the same way: through
 * stage_checks below, in its order.  For each stage:
 *
 *	 1. rows (silver, which types rows itself):
 *		- drift: every payload, before it is typed, for fields no column
 *		  maps (evolution_drift.c; recorded in lakehouse.silver_drift);
 *		- quality: every typed row, against the "drop" expectations; a row
 *		  that fails is quarantined with each expectation it fails as a
 *		  rule, beside the mapping's own rules it breaks (gate.c).
 *	 2. after the write, inside the stage's subtransaction, as the owner:
 *		- contract (gold): the table-level rules of the table's contract
 *		  (keys, relationships, row counts); a violation rolls the stage
 *		  back.  Its row rules are triggers of the table
 *		  (contract_trigger.c), so they check every write, a stage's or
 *		  anyone else's, during the write itself (contract_table.c);
 *		- quality: the table's expectations; a failing expectation of
 *		  severity "fail" raises an error, so the stage rolls back (gate.c).
 *	 3. after the stage is recorded in run_stages, outside the
 *		subtransaction, as the owner:
 *		- contract: the violations counted, into
 *		  lakehouse.contract_violations;
 *		- quality: its results into lakehouse.dq_results (gate.c);
 *		- lineage: the stage's OpenLineage events and those of its quality
 *		  check, whose input facet carries those results, so last
 *		  (lineage.c).
 *
 * A new check is a row in stage_checks, with the phases it needs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "contract/contract.h"
#include "evolution/evolution.h"
#include "observe/observe.h"
#include "pipeline/pipeline.h"
#include "quality/quality.h"

typedef struct StageCheck
{
	const char *name;

	/* 1. rows: open (NULL: nothing to check), per payload, per row, close */
	void	   *(*begin_rows) (const StageCheckTarget *target);
	void		(*payload) (void *state, Jsonb *payload, int64 row_no);
	bool		(*row) (void *state, Datum *values, bool *nulls,
						const bool *unknown, List **violations);
	void		(*end_rows) (void *state, const StageCheckTarget *target);

	/* 2. after the write, in the stage's subtransaction */
	void		(*after_write) (const char *stage, const char *target,
								int32 table_id, LhStageCounts *counts);

	/* 3. after the stage is recorded */
	void		(*done) (int64 run_id, int stage_no, const char *stage,
						 const char *target, int32 table_id,
						 const char *status, ErrorData *error);
} StageCheck;

static const StageCheck stage_checks[] = {
	{
		.name = "drift",
		.begin_rows = evolution_drift_begin,
		.payload = evolution_drift_collect,
		.end_rows = evolution_drift_finish,
	},
	{
		.name = "contract",
		.after_write = contract_after_write,
		.done = contract_stage_done,
	},
	{
		.name = "quality",
		.begin_rows = quality_rows_begin,
		.row = quality_rows_check,
		.after_write = quality_after_write,
		.done = quality_stage_done,
	},
	{
		.name = "lineage",
		.done = lineage_stage_done,
	},
};

#define NCHECKS lengthof(stage_checks)

/* The row checks of one stage: the state of each check (NULL: none). */
struct StageRowChecks
{
	StageCheckTarget target;
	void	   *state[NCHECKS];
};

/*
 * stage_checks_begin_rows
 *		Open the row checks of a stage that types rows.  Allocates in the
 *		current memory context; caller is connected to SPI.
 */
StageRowChecks *
stage_checks_begin_rows(const StageCheckTarget *target)
{
	StageRowChecks *rc = palloc0(sizeof(StageRowChecks));

	rc->target = *target;
	for (int i = 0; i < NCHECKS; i++)
		if (stage_checks[i].begin_rows)
			rc->state[i] = stage_checks[i].begin_rows(target);
	return rc;
}

/* One payload, before it is typed. */
void
stage_checks_payload(StageRowChecks *rc, Jsonb *payload, int64 row_no)
{
	for (int i = 0; i < NCHECKS; i++)
		if (rc->state[i] && stage_checks[i].payload)
			stage_checks[i].payload(rc->state[i], payload, row_no);
}

/*
 * One typed row: true when every check keeps it; false when some refuse
 * it, each having appended the rules it breaks to *violations
 * (LhViolation).  Every check sees the row, so a row reports all it
 * breaks.  unknown[a] (NULL: none) marks attributes whose value could not
 * be typed: they are null in the row, and a check that reads them is not
 * judged on it.
 */
bool
stage_checks_row(StageRowChecks *rc, Datum *values, bool *nulls,
				 const bool *unknown, List **violations)
{
	bool		keep = true;

	for (int i = 0; i < NCHECKS; i++)
		if (rc->state[i] && stage_checks[i].row &&
			!stage_checks[i].row(rc->state[i], values, nulls, unknown, violations))
			keep = false;
	return keep;
}

/* Close the row checks (they record what they saw). */
void
stage_checks_end_rows(StageRowChecks *rc)
{
	for (int i = 0; i < NCHECKS; i++)
		if (rc->state[i] && stage_checks[i].end_rows)
			stage_checks[i].end_rows(rc->state[i], &rc->target);
}

/* After a stage's write, in its subtransaction, as the pipeline's owner. */
void
stage_checks_after_write(const char *stage, const char *target, int32 table_id,
						 LhStageCounts *counts)
{
	for (int i = 0; i < NCHECKS; i++)
		if (stage_checks[i].after_write)
			stage_checks[i].after_write(stage, target, table_id, counts);
}

/*
 * After a stage is recorded in run_stages (succeeded, failed or skipped;
 * not for stages that did not run), as the pipeline's owner.  A check
 * must not raise errors for data reasons here.
 */
void
stage_checks_done(int64 run_id, int stage_no, const char *stage,
				  const char *target, int32 table_id, const char *status,
				  ErrorData *error)
{
	for (int i = 0; i < NCHECKS; i++)
		if (stage_checks[i].done)
			stage_checks[i].done(run_id, stage_no, stage, target, table_id,
								 status, error);
}

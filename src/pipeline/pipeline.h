/*-------------------------------------------------------------------------
 *
 * pipeline.h
 *	  Orchestration (src/pipeline/): runs and their stages (run.c), the
 *	  checks around every stage (checks.c), the order of pipelines
 *	  (deps.c) and schedules (schedule.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_PIPELINE_H
#define LH_PIPELINE_H

#include "fmgr.h"
#include "access/tupdesc.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"
#include "utils/jsonb.h"

#include "lakehouse.h"

/* deps.c */
extern List *deps_run_order(int32 pipeline_id);
extern void deps_check_acyclic(int32 pipeline_id, int32 upstream_id);

/* run.c (lh_ingest is also called by the HTTP polling worker) */
extern Datum lh_ingest(PG_FUNCTION_ARGS);
extern bool lock_pipeline(int32 pipeline_id, bool wait);

/*
 * checks.c: what runs around a stage, for silver and gold alike, in the
 * order written down there.
 *
 * A stage that types rows (silver) opens the row checks, passes each
 * payload and each typed row through them, and closes them; every stage
 * then passes through the stage checks after its write (inside its
 * subtransaction: an error rolls the stage back) and after it is recorded
 * (outside it: what they write survives a failed stage).
 */
typedef struct StageCheckTarget
{
	const char *stage;			/* "ingest", "silver" or "gold" */
	int32		table_id;		/* the silver or gold table; 0 for ingest */
	Oid			relid;
	TupleDesc	tupdesc;		/* silver: the typed row */
	List	   *columns;		/* silver: its columns (LhSilverColumn) */
} StageCheckTarget;

typedef struct StageRowChecks StageRowChecks;

extern StageRowChecks *stage_checks_begin_rows(const StageCheckTarget *target);
extern void stage_checks_payload(StageRowChecks *rc, Jsonb *payload, int64 row_no);
extern bool stage_checks_row(StageRowChecks *rc, Datum *values, bool *nulls,
							 const bool *unknown, List **violations);
extern void stage_checks_end_rows(StageRowChecks *rc);
extern void stage_checks_after_write(const char *stage, const char *target,
									 int32 table_id, LhStageCounts *counts);
extern void stage_checks_done(int64 run_id, int stage_no, const char *stage,
							  const char *target, int32 table_id,
							  const char *status, ErrorData *error);

#endif							/* LH_PIPELINE_H */

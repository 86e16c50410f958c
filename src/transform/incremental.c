/*-------------------------------------------------------------------------
 *
 * incremental.c
 *	  The incremental engine of gold stages: placeholder.
 *
 * gold_run_stage (gold.c) calls gold_incremental_refresh for gold kinds
 * rebuild and merge whose refresh is auto; when it returns false the stage
 * does a full refresh and records the reason.  This file is the minimal,
 * honest implementation of that hook on the ivm-capture branch: it never
 * refreshes incrementally, and says so in the ledger.  The ivm-engine
 * branch replaces this file entirely with the real engine.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "transform/transform.h"

bool
gold_incremental_refresh(LhTable *table, LhStageCounts *counts,
						 LhRefresh *how, const char **reason)
{
	*how = LH_REFRESH_FULL;
	*reason = "incremental refresh not available";
	return false;
}

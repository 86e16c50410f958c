/*-------------------------------------------------------------------------
 *
 * lakehouse.c
 *	  Entry point of the lakehouse extension: GUCs and global hooks.
 *
 * _PG_init only wires things up.  It defines the lakehouse.* settings and
 * reserves the prefix so that a typo in postgresql.conf is reported.  All
 * settings defined here are user- or superuser-settable, so the library
 * works the same whether it is preloaded or loaded on first use: the SQL
 * API, the stages and lh_run_pipeline need no preloading.  Background
 * workers (streaming sources) and PGC_POSTMASTER settings will be defined
 * only under process_shared_preload_libraries_in_progress.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "lakehouse.h"

PG_MODULE_MAGIC;

/* GUC variables */
int			lh_batch_size = 1000;
int			lh_max_quarantine_buffer = 10000;
bool		lh_log_runs = true;
bool		lh_emit_events = true;

/* The run executing in this backend, if any (set by src/pipeline/run.c). */
LhRunState *lh_current_run = NULL;

/* Called after each successful stage; see lakehouse.h. */
lh_stage_hook_type lh_after_stage_hook = NULL;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("lakehouse.batch_size",
							"Rows written to a bronze table per multi-row insert.",
							"Larger batches make landing faster and use more memory.",
							&lh_batch_size,
							1000, 1, 1000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lakehouse.max_quarantine_buffer",
							"Quarantined rows buffered in memory before they are written.",
							"The silver stage collects rows that fail conversion and writes them "
							"to lakehouse.quarantine in batches of this size.",
							&lh_max_quarantine_buffer,
							10000, 1, 10000000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("lakehouse.log_runs",
							 "Writes a server log line when a pipeline run ends.",
							 "The line names the pipeline, run id, status and row counts.",
							 &lh_log_runs,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("lakehouse.emit_events",
							 "Writes run events to lakehouse.event_outbox.",
							 "Each run adds a START event and a COMPLETE or FAIL event in its own "
							 "transaction; a deliverer sends them later.",
							 &lh_emit_events,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("lakehouse");

}

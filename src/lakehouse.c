/*-------------------------------------------------------------------------
 *
 * lakehouse.c
 *	  Entry point of the lakehouse extension: GUCs and initialisation.
 *
 * _PG_init only wires things up.  It defines the lakehouse.* settings and
 * reserves the prefix so that a typo in postgresql.conf is reported.  All
 * settings defined here are user- or superuser-settable, so the library
 * works the same whether it is preloaded or loaded on first use: the SQL
 * API, the stages and lh_run_pipeline need no preloading.  Background
 * workers (streaming sources: the launchers and Kafka workers of
 * src/worker/), their shared memory and the PGC_POSTMASTER setting
 * lakehouse.max_workers exist only when the library is preloaded
 * (process_shared_preload_libraries_in_progress).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "lakehouse.h"
#include "declare/declare.h"
#include "security/security.h"
#include "contract/contract.h"
#include "observe/observe.h"
#include "quality/quality.h"
#include "worker/worker.h"

PG_MODULE_MAGIC;

/* GUC variables */
int			lh_batch_size = 1000;
int			lh_max_quarantine_buffer = 10000;
bool		lh_log_runs = true;
bool		lh_emit_events = true;
int			lh_max_message_bytes = 1024 * 1024;
int			lh_max_config_bytes = 1024 * 1024;
bool		lh_kafka_synchronous_commit = false;
int			lh_max_workers = 8;
int			lh_launcher_naptime = 10;

/* lakehouse.after_restore (src/worker/site.c) */
static const struct config_enum_entry after_restore_options[] = {
	{"paused", LH_AFTER_RESTORE_PAUSED, false},
	{"resume", LH_AFTER_RESTORE_RESUME, false},
	{NULL, 0, false}
};

/* The run executing in this backend, if any (set by src/pipeline/run.c). */
LhRunState *lh_current_run = NULL;

void		_PG_init(void);

/*
 * Define the lakehouse.* settings of this file that every backend has,
 * preloaded or not (lakehouse.max_workers needs preloading: _PG_init
 * defines it).
 */
static void
define_settings(void)
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

	DefineCustomBoolVariable("lakehouse.kafka_synchronous_commit",
							 "Makes each batch a Kafka worker lands wait for its WAL to be flushed.",
							 "Off: a batch's rows and its offsets commit together without waiting "
							 "for the flush; a server crash can lose the last batches, offsets "
							 "included, and the worker then reads them again from the broker, so "
							 "nothing is lost or landed twice.  On: the server's synchronous_commit "
							 "applies.",
							 &lh_kafka_synchronous_commit,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("lakehouse.max_message_bytes",
							"Largest message a streaming source lands; larger ones are dead-lettered.",
							NULL,
							&lh_max_message_bytes,
							1024 * 1024, 1, MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lakehouse.max_config_bytes",
							"Largest YAML or JSON document accepted as a pipeline configuration or data contract.",
							"YAML nests at most 100 levels and JSON contracts 1000; both "
							"bounds are checked before anything is parsed further.",
							&lh_max_config_bytes,
							1024 * 1024, 1024, 64 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lakehouse.progress_notice_interval",
							"Seconds between the NOTICE lines that say how far a run is.",
							"While a run works, a NOTICE names its stage, rows and bytes done "
							"and their totals when known, at most this often.  0 turns the lines off; "
							"lakehouse.run_progress shows the same from any session.",
							&lh_progress_notice_interval,
							0, 0, 3600,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("lakehouse.allow_drop_table",
							 "Lets DROP TABLE drop registered silver and gold tables.",
							 "Off: DROP TABLE, DROP SCHEMA and DROP OWNED refuse to drop a table "
							 "that a pipeline writes (use lakehouse.lh_drop_table).  On: the drop "
							 "goes through with a WARNING, and the table stays registered.",
							 &lh_allow_drop_table,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("lakehouse.launcher_naptime",
							"How often the lakehouse launchers look for new databases and sources.",
							"Changes made through the lakehouse functions wake them at once; this "
							"bounds how late other changes (a restored catalog) are noticed.",
							&lh_launcher_naptime,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("lakehouse.after_restore",
							 "What the sources of a copy of the database do: paused or resume.",
							 "lakehouse records where a database runs (lakehouse.site).  A copy "
							 "(a restored dump, a basebackup clone, a point-in-time recovery) "
							 "finds another cluster, database, timeline or node there.  paused: "
							 "its sources are disabled, with the reason, until "
							 "lakehouse.lh_enable_source; resume: they keep running.",
							 &lh_after_restore,
							 LH_AFTER_RESTORE_PAUSED,
							 after_restore_options,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("lakehouse.max_worker_crashes",
							"Crashes in a row after which a source's worker is not started again.",
							"A worker that crashes (a signal, not an error) makes the server reset "
							"every session.  After this many crashes in a row, each within a "
							"minute of its start, lakehouse disables the source and says why in "
							"lakehouse.source_status.  0 never disables.",
							&lh_max_worker_crashes,
							3, 0, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
}

/*
 * _PG_init
 *		Define every lakehouse.* setting, then reserve the prefix; when
 *		preloaded, also the worker shared memory and the launcher.
 */
void
_PG_init(void)
{
	define_settings();

	/* security: lakehouse.secret_key_file, lakehouse.user_search_path */
	security_define_gucs();
	security_identity_gucs();

	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("lakehouse.max_workers",
								"Most background workers for streaming sources in the cluster.",
								"Each enabled Kafka source needs one; sources beyond the limit wait, "
								"as lakehouse.source_status shows.  Also bounded by max_worker_processes.",
								&lh_max_workers,
								8, 1, 256,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
		lh_worker_shmem_setup();
		lh_register_launcher();
	}

	/* observability: lineage and metrics settings */
	observe_init();

	MarkGUCPrefixReserved("lakehouse");

	/*
	 * gold data contracts and data-quality gates: what they keep for a run
	 * is forgotten at the end of a transaction (the checks themselves are
	 * called in the order of src/pipeline/checks.c)
	 */
	contract_init();
	quality_init();

}

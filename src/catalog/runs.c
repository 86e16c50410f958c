/*-------------------------------------------------------------------------
 *
 * runs.c
 *	  Catalog access to the run ledger (lakehouse.runs, lakehouse.run_stages).
 *
 * A run's row is inserted first and updated when the run ends, in the
 * caller's transaction; the stage rows are written as each stage ends,
 * outside the stage's subtransaction, so that a failed stage is recorded.
 * run_by is the user the run was started by (the caller, a worker's
 * owner, pg_cron's job user), never the catalog owner that writes the row.
 *
 * A run whose transaction was cancelled loses its row with everything
 * else; the database launcher writes it again afterwards, in a
 * transaction of its own (catalog_run_record_abandoned, see
 * src/worker/progress.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

/*
 * catalog_run_id_next
 *		A new id of the run ledger's sequence, for rows written outside a
 *		run (a quarantine replay's _lh_run_id and changed_run mark): it
 *		orders after every run so far and before the next one, and names
 *		no row of lakehouse.runs.
 */
int64
catalog_run_id_next(void)
{
	catalog_exec("SELECT pg_catalog.nextval('lakehouse.runs_run_id_seq')",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	return catalog_int64(0, 1, 0);
}

int64
catalog_run_insert(int32 pipeline_id, const char *name, const char *status,
				   bool full_refresh)
{
	Oid			types[5] = {INT4OID, TEXTOID, TEXTOID, BOOLOID, NAMEOID};
	Datum		values[5];

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(status);
	values[3] = BoolGetDatum(full_refresh);
	values[4] = CStringGetDatum(catalog_acting_user_name());
	catalog_exec("INSERT INTO lakehouse.runs"
				 " (pipeline_id, pipeline_name, status, application,"
				 " full_refresh, run_by)"
				 " VALUES ($1, $2, $3,"
				 " nullif(current_setting('application_name'), ''), $4, $5)"
				 " RETURNING run_id",
				 5, types, values, NULL, SPI_OK_INSERT_RETURNING);
	return catalog_int64(0, 1, 0);
}

void
catalog_run_finish(int64 run_id, const char *status, int64 rows_read,
				   int64 rows_written, int64 rows_quarantined,
				   const char *failed_stage, const char *sqlstate,
				   const char *message, const char *summary)
{
	Oid			types[9] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int64GetDatum(rows_read);
	values[3] = Int64GetDatum(rows_written);
	values[4] = Int64GetDatum(rows_quarantined);
	values[5] = catalog_text_or_null(failed_stage, &nulls[5]);
	values[6] = catalog_text_or_null(sqlstate, &nulls[6]);
	values[7] = catalog_text_or_null(message, &nulls[7]);
	values[8] = catalog_text_or_null(summary, &nulls[8]);
	catalog_exec("UPDATE lakehouse.runs SET status = $2,"
				 " finished_at = clock_timestamp(),"
				 " rows_read = $3, rows_written = $4,"
				 " rows_quarantined = $5, failed_stage = $6,"
				 " error_sqlstate = $7, error_message = $8,"
				 " summary = $9::jsonb WHERE run_id = $1",
				 9, types, values, nulls, SPI_OK_UPDATE);
}

void
catalog_run_set_parent(int64 run_id, int64 parent_run_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];

	values[0] = Int64GetDatum(run_id);
	values[1] = Int64GetDatum(parent_run_id);
	catalog_exec("UPDATE lakehouse.runs SET parent_run_id = $2 WHERE run_id = $1",
				 2, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * catalog_run_record_abandoned
 *		The ledger row of a run whose transaction rolled back (cancelled or
 *		failed by an error its stages did not catch), with its original run
 *		id.  Nothing of what it did was kept, so its counts are zero.  When
 *		the row is still there (the original transaction has not finished
 *		rolling back) the INSERT waits for it; a row that exists is kept.
 *		The pipeline may have been dropped since: pipeline_id is then NULL.
 */
void
catalog_run_record_abandoned(int64 run_id, int32 pipeline_id,
							 const char *pipeline_name, const char *status,
							 const char *run_by, const char *application,
							 bool full_refresh, TimestampTz started_at,
							 TimestampTz finished_at, const char *failed_stage,
							 const char *sqlstate, const char *message,
							 const char *summary)
{
	Oid			types[13] = {INT8OID, INT4OID, TEXTOID, TEXTOID, NAMEOID, TEXTOID,
		BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID};
	Datum		values[13];
	char		nulls[13];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(pipeline_id);
	values[2] = CStringGetTextDatum(pipeline_name);
	values[3] = CStringGetTextDatum(status);
	values[4] = CStringGetDatum(run_by);
	values[5] = catalog_text_or_null(application, &nulls[5]);
	values[6] = BoolGetDatum(full_refresh);
	values[7] = TimestampTzGetDatum(started_at);
	values[8] = TimestampTzGetDatum(finished_at);
	values[9] = catalog_text_or_null(failed_stage, &nulls[9]);
	values[10] = catalog_text_or_null(sqlstate, &nulls[10]);
	values[11] = catalog_text_or_null(message, &nulls[11]);
	values[12] = catalog_text_or_null(summary, &nulls[12]);
	catalog_exec("INSERT INTO lakehouse.runs"
				 " (run_id, pipeline_id, pipeline_name, status, run_by, application,"
				 " full_refresh, started_at, finished_at, failed_stage,"
				 " error_sqlstate, error_message, summary)"
				 " SELECT $1, p.pipeline_id, coalesce(p.name, $3), $4, $5, $6,"
				 " $7, $8, $9, $10, $11, $12, $13::jsonb"
				 " FROM (SELECT) AS x"
				 " LEFT JOIN lakehouse.pipelines p ON p.pipeline_id = $2"
				 " ON CONFLICT (run_id) DO NOTHING",
				 13, types, values, nulls, SPI_OK_INSERT);
}

void
catalog_stage_insert(int64 run_id, int stage_no, const char *stage,
					 const char *target, const char *status,
					 TimestampTz started, TimestampTz finished,
					 int64 rows_read, int64 rows_written,
					 int64 rows_quarantined, int64 rows_skipped,
					 ErrorData *error, const char *refresh,
					 const char *refresh_reason)
{
	Oid			types[18] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT8OID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[18];
	char		nulls[18];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(run_id);
	values[1] = Int32GetDatum(stage_no);
	values[2] = CStringGetTextDatum(stage);
	values[3] = CStringGetTextDatum(target);
	values[4] = CStringGetTextDatum(status);
	values[5] = TimestampTzGetDatum(started);
	values[6] = TimestampTzGetDatum(finished);
	values[7] = Int64GetDatum(rows_read);
	values[8] = Int64GetDatum(rows_written);
	values[9] = Int64GetDatum(rows_quarantined);
	values[10] = Int64GetDatum(rows_skipped);
	values[11] = catalog_text_or_null(error ? unpack_sql_state(error->sqlerrcode) : NULL,
									  &nulls[11]);
	values[12] = catalog_text_or_null(error ? error->message : NULL, &nulls[12]);
	values[13] = catalog_text_or_null(error ? error->detail : NULL, &nulls[13]);
	values[14] = catalog_text_or_null(error ? error->hint : NULL, &nulls[14]);
	values[15] = catalog_text_or_null(error ? error->context : NULL, &nulls[15]);
	values[16] = catalog_text_or_null(refresh, &nulls[16]);
	values[17] = catalog_text_or_null(refresh ? refresh_reason : NULL, &nulls[17]);
	catalog_exec("INSERT INTO lakehouse.run_stages"
				 " (run_id, stage_no, stage, target, status, started_at,"
				 " finished_at, rows_read, rows_written, rows_quarantined,"
				 " rows_skipped, error_sqlstate, error_message,"
				 " error_detail, error_hint, error_context, refresh,"
				 " refresh_reason)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
				 " $12, $13, $14, $15, $16, $17, $18)",
				 18, types, values, nulls, SPI_OK_INSERT);
}

/*
 * What lakehouse.run_stages recorded of a stage: its times (finished: the
 * start when it has none), row counts and error message.  False if the
 * stage has no row.
 */
bool
catalog_stage_record(int64 run_id, int stage_no, LhStageRecord *rec)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int32GetDatum(stage_no)};

	catalog_exec("SELECT started_at, coalesce(finished_at, started_at), rows_read,"
				 " rows_written, error_message"
				 " FROM lakehouse.run_stages WHERE run_id = $1 AND stage_no = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	rec->started = catalog_timestamptz(0, 1, 0);
	rec->finished = catalog_timestamptz(0, 2, 0);
	rec->rows_read = catalog_int64(0, 3, 0);
	rec->rows_written = catalog_int64(0, 4, 0);
	rec->error = catalog_text(0, 5);
	return true;
}

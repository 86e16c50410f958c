/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Bronze retention: lh_set_retention and lh_apply_retention.
 *
 * A source may keep its bronze rows for a while only (lakehouse.retention).
 * lh_apply_retention deletes, for each source with a retention, the rows
 * ingested before now() - keep that every silver table reading the source
 * has already processed (_lh_id at or below its bronze_id mark; a silver
 * table that never ran keeps everything; a source without silver tables is
 * aged by time alone).  One DELETE per source; meant for pg_cron.
 *
 * Rights and identity.  Setting a source's retention is altering its
 * pipeline (owner, lakehouse_admin); applying every retention is for
 * lakehouse administrators.  Each DELETE runs as the source's pipeline
 * owner, under SECURITY_RESTRICTED_OPERATION with the pinned search_path,
 * so that triggers on a bronze table run as its owner, never as the
 * administrator or pg_cron's job user.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_set_retention);
PG_FUNCTION_INFO_V1(lh_apply_retention);

/*
 * lh_set_retention(source, keep): keep bronze rows this long; NULL: forever.
 */
Datum
lh_set_retention(PG_FUNCTION_ARGS)
{
	LhSource   *src;
	Oid			types[2] = {INT4OID, INTERVALOID};
	Datum		values[2];

	SPI_connect();
	src = catalog_source_by_name(PG_ARGISNULL(0) ? NULL :
								 text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	(void) security_check_pipeline_id(src->pipeline_id, LH_RIGHT_ALTER,
									  psprintf("set the retention of source \"%s\"",
											   src->name));
	values[0] = Int32GetDatum(src->source_id);
	if (PG_ARGISNULL(1))
		catalog_exec("DELETE FROM lakehouse.retention WHERE source_id = $1",
					 1, types, values, NULL, SPI_OK_DELETE);
	else
	{
		Interval   *keep = PG_GETARG_INTERVAL_P(1);
		Interval	zero = {0};

		if (DatumGetBool(DirectFunctionCall2(interval_le, IntervalPGetDatum(keep),
											 IntervalPGetDatum(&zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid retention \"%s\"",
							DatumGetCString(DirectFunctionCall1(interval_out,
																IntervalPGetDatum(keep)))),
					 errhint("A retention is a positive interval.")));
		values[1] = IntervalPGetDatum(keep);
		catalog_exec("INSERT INTO lakehouse.retention AS r (source_id, keep) VALUES ($1, $2)"
					 " ON CONFLICT (source_id) DO UPDATE SET keep = excluded.keep",
					 2, types, values, NULL, SPI_OK_INSERT);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* A source with a retention, as lh_apply_retention reads it. */
typedef struct RetainedSource
{
	int32		source_id;
	char	   *name;
	char	   *schema;
	char	   *table;
	Oid			owner;
	Datum		keep;			/* interval */
	bool		has_silver;
	int64		processed;		/* lowest bronze_id mark; -1: a table never ran */
} RetainedSource;

/*
 * The sources with a retention whose bronze table exists, by name, their
 * retention rows locked for the rest of the transaction.
 */
static List *
retained_sources(void)
{
	List	   *result = NIL;
	ListCell   *lc;

	/*
	 * lakehouse.sources is joined only to leave out the retentions whose
	 * bronze table is gone and to order them by source name (the order of
	 * the result and of the audit record); the rows read and locked are the
	 * subsystem's own, lakehouse.retention.  The rest comes from the catalog
	 * functions below.
	 */
	catalog_exec("SELECT r.source_id, r.keep"
				 " FROM lakehouse.retention r JOIN lakehouse.sources s USING (source_id)"
				 " WHERE pg_catalog.to_regclass(format('%I.%I', s.bronze_schema, s.bronze_table))"
				 " IS NOT NULL ORDER BY s.name FOR NO KEY UPDATE OF r",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		RetainedSource *r = palloc0(sizeof(RetainedSource));
		bool		isnull;

		r->source_id = catalog_int32(i, 1, 0);
		r->keep = datumCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										  2, &isnull), false, sizeof(Interval));
		result = lappend(result, r);
	}
	foreach(lc, result)
	{
		RetainedSource *r = lfirst(lc);
		LhSource   *src = catalog_source_by_id(r->source_id, false);

		r->name = src->name;
		r->schema = src->bronze_schema;
		r->table = src->bronze_table;
		r->owner = src->owner;
		r->processed = catalog_silver_progress(r->source_id, &r->has_silver);
	}
	return result;
}

/*
 * lh_apply_retention()
 *		RETURNS TABLE(source text, bronze_table text, rows_deleted bigint)
 */
Datum
lh_apply_retention(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *sources;
	ListCell   *lc;
	StringInfoData counts;

	if (!security_is_admin(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to apply bronze retention"),
				 errdetail("Only lakehouse administrators can apply the retention of every source.")));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	sources = retained_sources();
	initStringInfo(&counts);
	foreach(lc, sources)
	{
		RetainedSource *r = lfirst(lc);
		Oid			types[3] = {INTERVALOID, BOOLOID, INT8OID};
		Datum		values[3];
		Datum		out[3];
		bool		nulls[3] = {false, false, false};
		Oid			utypes[1] = {INT4OID};
		Datum		uvalues[1];
		char	   *qname = lh_qualified_name(r->schema, r->table);
		LhIdentity	id;
		uint64		n;

		values[0] = r->keep;
		values[1] = BoolGetDatum(!r->has_silver);
		values[2] = Int64GetDatum(r->processed);
		lh_owner_begin(r->owner, &id);
		n = lh_spi_exec(psprintf("DELETE FROM %s WHERE _lh_ingested_at < now() - $1"
								 " AND ($2 OR _lh_id <= $3)", qname),
						3, types, values, NULL, SPI_OK_DELETE,
						"apply the retention of a bronze table");
		lh_owner_end(&id);
		uvalues[0] = Int32GetDatum(r->source_id);
		catalog_exec("UPDATE lakehouse.retention SET last_applied_at = now()"
					 " WHERE source_id = $1", 1, utypes, uvalues, NULL, SPI_OK_UPDATE);

		out[0] = CStringGetTextDatum(r->name);
		out[1] = CStringGetTextDatum(qname);
		out[2] = Int64GetDatum((int64) n);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, nulls);
		appendStringInfoString(&counts, counts.len ? ", " : "{");
		escape_json(&counts, r->name);
		appendStringInfo(&counts, ": " UINT64_FORMAT, n);
	}
	if (counts.len > 0)
	{
		appendStringInfoString(&counts, "}");
		security_audit("retention", "bronze", NULL,
					   DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														  CStringGetDatum(psprintf("{\"rows\": %s}",
																				   counts.data)))));
	}
	SPI_finish();
	return (Datum) 0;
}

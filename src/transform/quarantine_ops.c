/*-------------------------------------------------------------------------
 *
 * quarantine_ops.c
 *	  The SQL functions that triage quarantined rows: lh_replay_quarantine
 *	  and lh_discard_quarantine.
 *
 * Rights: both change what a table holds or keeps, so they need the right
 * to alter the table's pipeline (its owner, members of its owner,
 * lakehouse_admin: src/security/identity.c), and then run as the
 * pipeline's owner (security_table_begin).  The quarantined rows of a
 * table no pipeline declares (diverted by a data contract attached to it)
 * need ownership of that table.  Catalog rows are read and written by
 * src/catalog/quarantine.c.  Both are recorded in the audit log, as the
 * caller, since the rows they remove leave no other trace.
 *
 * A replay projects the stored bronze payloads of a silver table's
 * quarantined rows again with the table's current mapping and drop
 * expectations (src/transform/silver.c): rows that pass land as the silver
 * stage lands rows (upsert by keys, newest version wins) and leave
 * quarantine; the others stay, with the rules they break now.  It runs in
 * the caller's transaction, so it is all or nothing, after taking the
 * pipeline's run lock (a replay waits for a run in flight, and a run for a
 * replay) and it locks the rows it reads.  Only silver tables replay: a
 * gold table's rows were diverted by its contract from rows its gold stage
 * computes, and the stage offers them again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "pipeline/pipeline.h"
#include "security/security.h"
#include "transform/transform.h"

PG_FUNCTION_INFO_V1(lh_replay_quarantine);
PG_FUNCTION_INFO_V1(lh_discard_quarantine);

/*
 * The table whose quarantined rows argument 0 names: its registration
 * (NULL for a table no pipeline declares) and its rows' key; *schema and
 * *table get its name.  A name that is neither registered nor an existing
 * table is an error.  Caller is connected to SPI.
 */
static LhTable *
quarantine_table_arg(FunctionCallInfo fcinfo, LhQuarantineKey *key,
					 char **schema, char **table)
{
	char	   *name;
	LhTable    *t;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	t = catalog_table_lookup(name, schema, table);
	if (t != NULL)
	{
		*schema = t->schema_name;
		*table = t->table_name;
	}
	else if (!OidIsValid(lh_table_oid(*schema, *table, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not a lakehouse table", name),
				 errhint("Quarantined rows belong to the silver and gold tables of a pipeline (see lakehouse.tables) and to tables with a data contract; an unqualified name is looked up in silver, then gold.")));
	key->table_id = t ? t->table_id : 0;
	key->target = lh_qualified_name(*schema, *table);
	return t;
}

/* Record what was done to a table's quarantined rows, as the caller. */
static void
quarantine_audit(const char *action, const char *target, const char *details)
{
	security_audit(action, "table", target,
				   DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													  CStringGetDatum(details))));
}

/*
 * lh_replay_quarantine(table_name, ids) returns (replayed, still_quarantined)
 *
 * Project the silver table's quarantined rows (all, or those ids) again;
 * see the file header.  replayed counts the rows that left quarantine
 * (including those an upsert found superseded by a newer version of
 * their key), still_quarantined those that break a rule still.
 */
Datum
lh_replay_quarantine(PG_FUNCTION_ARGS)
{
	bool		ids_null = PG_ARGISNULL(1);
	Datum		ids = ids_null ? (Datum) 0 : PG_GETARG_DATUM(1);
	TupleDesc	tupdesc;
	LhQuarantineKey key;
	LhTable    *t;
	char	   *schema;
	char	   *table;
	LhIdentity	id;
	int64		replay_id;
	int64		replayed;
	int64		still;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	SPI_connect();
	t = quarantine_table_arg(fcinfo, &key, &schema, &table);
	if (t == NULL || strcmp(t->layer, "silver") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot replay quarantined rows of table %s", key.target),
				 t == NULL ?
				 errdetail("Table %s is not a silver table of a pipeline; its quarantined rows were diverted by its data contract.",
						   key.target) :
				 errdetail("Table %s is a gold table: its data contract diverted rows its gold stage computes, and only silver rows are projected again from their payloads.",
						   key.target),
				 t == NULL ?
				 errhint("Discard them with lakehouse.lh_discard_quarantine() once the data is fixed.") :
				 errhint("Fix the contract or the data and run the pipeline: a rebuild, merge or scd2 table offers its rows again and replaces the rows its runs quarantined. Discard other rows with lakehouse.lh_discard_quarantine().")));
	security_table_begin(schema, table, LH_RIGHT_ALTER,
						 "replay quarantined rows of table %s", &id);
	(void) lock_pipeline(t->pipeline_id, true);
	if (!ids_null)
		catalog_quarantine_check_ids(&key, ids);
	replay_id = catalog_run_id_next();
	silver_replay(t, &key, ids, ids_null, replay_id, &replayed, &still);
	security_table_end(&id);
	quarantine_audit("replay_quarantine", key.target,
					 psprintf("{\"replay_id\": " INT64_FORMAT ", \"replayed\": " INT64_FORMAT
							  ", \"still_quarantined\": " INT64_FORMAT "}",
							  replay_id, replayed, still));
	SPI_finish();

	values[0] = Int64GetDatum(replayed);
	values[1] = Int64GetDatum(still);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * lh_discard_quarantine(table_name, ids) returns bigint
 *
 * Delete the table's quarantined rows (all, or those ids); any table with
 * quarantined rows.  Returns how many were deleted.
 */
Datum
lh_discard_quarantine(PG_FUNCTION_ARGS)
{
	bool		ids_null = PG_ARGISNULL(1);
	Datum		ids = ids_null ? (Datum) 0 : PG_GETARG_DATUM(1);
	LhQuarantineKey key;
	char	   *schema;
	char	   *table;
	LhIdentity	id;
	int64		n;

	SPI_connect();
	(void) quarantine_table_arg(fcinfo, &key, &schema, &table);
	security_table_begin(schema, table, LH_RIGHT_ALTER,
						 "discard quarantined rows of table %s", &id);
	if (!ids_null)
		catalog_quarantine_check_ids(&key, ids);
	n = catalog_quarantine_discard(&key, ids, ids_null);
	security_table_end(&id);
	quarantine_audit("discard_quarantine", key.target,
					 psprintf("{\"discarded\": " INT64_FORMAT "}", n));
	SPI_finish();
	PG_RETURN_INT64(n);
}

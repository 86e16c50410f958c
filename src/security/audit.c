/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit log: who changed a definition, ran a pipeline by hand,
 *	  forced a breaking evolution, touched a secret or erased a subject.
 *
 * Definition tables, lakehouse.runs and lakehouse.schema_history carry
 * row triggers (lh_audit_trigger, src/security/security.sql) that write
 * lakehouse.audit_log; they fire on definition changes and once per run,
 * never per data row.  Catalog rows are written by the catalog owner
 * (catalog_exec), so the triggers record catalog_acting_user: the user the
 * change was made for.  C code that acts without a catalog row to trigger
 * on (secrets, erasure, retention) calls security_audit, which inserts
 * through catalog_exec too.  Details
 * hold names and counts, never secret values or personal data.  The row
 * is written in the caller's transaction: a change that rolls back leaves
 * no audit record, as it left no change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_audit_trigger);

/*
 * security_audit
 *		Append an audit record.  The caller is connected to SPI.
 */
void
security_audit(const char *action, const char *kind, const char *name,
			   Jsonb *details)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, NAMEOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(action);
	values[1] = CStringGetTextDatum(kind);
	if (name)
		values[2] = CStringGetTextDatum(name);
	else
		nulls[2] = 'n';
	if (details)
		values[3] = JsonbPGetDatum(details);
	else
		nulls[3] = 'n';
	/* who the change was made for, not the catalog owner that writes it */
	values[4] = CStringGetDatum(catalog_acting_user_name());
	catalog_exec("INSERT INTO lakehouse.audit_log"
				 " (action, object_kind, object_name, details, current_user_name)"
				 " VALUES ($1, $2, $3, coalesce($4, '{}'), $5)",
				 5, types, values, nulls, SPI_OK_INSERT);
}

/*
 * lh_audit_trigger(kind) AFTER ROW trigger on definition tables
 *		Insert becomes "create", update "alter", delete "drop"; on runs and
 *		schema_history an insert is "run" / "evolve".
 */
Datum
lh_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *kind;
	const char *op;
	const char *action;
	Oid			types[4] = {TEXTOID, TEXTOID, JSONOID, JSONOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	TupleDesc	tupdesc;
	char	   *objname = NULL;
	Jsonb	   *details = NULL;
	bool		skip = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "lh_audit_trigger: not called by trigger manager");
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		elog(ERROR, "lh_audit_trigger: must be fired after row with one argument");
	kind = trigdata->tg_trigger->tgargs[0];
	tupdesc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		op = "INSERT";
		action = strcmp(kind, "run") == 0 ? "run" :
			strcmp(kind, "evolution") == 0 ? "evolve" : "create";
		nulls[2] = 'n';
		values[3] = DirectFunctionCall1(row_to_json,
										heap_copy_tuple_as_datum(trigdata->tg_trigtuple, tupdesc));
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		op = "UPDATE";
		action = "alter";
		values[2] = DirectFunctionCall1(row_to_json,
										heap_copy_tuple_as_datum(trigdata->tg_trigtuple, tupdesc));
		values[3] = DirectFunctionCall1(row_to_json,
										heap_copy_tuple_as_datum(trigdata->tg_newtuple, tupdesc));
	}
	else
	{
		op = "DELETE";
		action = "drop";
		values[2] = DirectFunctionCall1(row_to_json,
										heap_copy_tuple_as_datum(trigdata->tg_trigtuple, tupdesc));
		nulls[3] = 'n';
	}
	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(op);

	SPI_connect();
	catalog_exec("SELECT object_name, details FROM lakehouse.lh_audit_describe"
				 "($1, $2, $3::jsonb, $4::jsonb)",
				 4, types, values, nulls, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		objname = catalog_text(0, 1);
		details = catalog_jsonb(0, 2);
		skip = (details == NULL);
	}
	if (!skip)
		security_audit(action, kind, objname, details);
	SPI_finish();
	return PointerGetDatum(NULL);
}

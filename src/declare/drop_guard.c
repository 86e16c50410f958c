/*-------------------------------------------------------------------------
 *
 * drop_guard.c
 *	  Registered silver and gold tables are dropped through lakehouse, not
 *	  behind its back: the event trigger lh_drop_guard, and the one place
 *	  where lakehouse drops a data table itself.
 *
 * A plain DROP TABLE of a registered table (or a DROP SCHEMA ... CASCADE
 * or DROP OWNED that takes one with it) would leave the pipeline failing
 * at its next run, with the table still in lakehouse.tables.  The event
 * trigger lh_drop_guard runs at sql_drop of DROP TABLE, DROP SCHEMA and
 * DROP OWNED, finds the registered tables among the dropped objects, and
 * raises an error that rolls the whole command back, with a hint naming
 * lakehouse.lh_drop_table().  A command that drops no registered table
 * costs one catalog query.
 *
 * lh_drop_table unregisters the table before it drops the data, so the
 * guard no longer sees it; lh_drop_pipeline drops its tables with
 * declare_drop_data_table, which turns the guard off for that statement
 * (a backend-local flag, reset in PG_FINALLY so an error never leaves it
 * off).  The superuser setting lakehouse.allow_drop_table lets plain drops
 * through, with a WARNING per table that stays registered.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "declare/declare.h"
#include "lakehouse.h"

PG_FUNCTION_INFO_V1(lh_drop_guard);

/* lakehouse.allow_drop_table */
bool		lh_allow_drop_table = false;

/* lakehouse itself is dropping a data table (declare_drop_data_table) */
static bool dropping_own = false;

/*
 * declare_drop_data_table
 *		Drop a data table if it exists (lh_drop_pipeline and lh_drop_table
 *		with their data), past the guard.  Caller is connected to SPI and
 *		runs as the table's owner.
 */
void
declare_drop_data_table(const char *schema, const char *table)
{
	StringInfoData sql;
	bool		save = dropping_own;

	initStringInfo(&sql);
	appendStringInfo(&sql, "DROP TABLE IF EXISTS %s",
					 lh_qualified_name(schema, table));
	dropping_own = true;
	PG_TRY();
	{
		(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "drop a data table");
	}
	PG_FINALLY();
	{
		dropping_own = save;
	}
	PG_END_TRY();
	pfree(sql.data);
}

/*
 * lh_drop_guard() returns event_trigger
 *		sql_drop of DROP TABLE, DROP SCHEMA and DROP OWNED: refuse to drop a
 *		registered silver or gold table, unless lakehouse.allow_drop_table.
 */
Datum
lh_drop_guard(PG_FUNCTION_ARGS)
{
	List	   *dropped;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_drop_guard can only be called as an event trigger")));
	if (dropping_own)
		PG_RETURN_VOID();

	SPI_connect();
	dropped = catalog_tables_dropped();
	foreach(lc, dropped)
	{
		LhTable    *t = lfirst(lc);
		char	   *qname = lh_qualified_name(t->schema_name, t->table_name);
		char	   *pipeline = catalog_pipeline_name(t->pipeline_id);

		if (lh_allow_drop_table)
		{
			ereport(WARNING,
					(errmsg("dropped %s table %s of pipeline \"%s\", which is still registered",
							t->layer, qname, pipeline),
					 errdetail("lakehouse.allow_drop_table is on."),
					 errhint("%s", lh_stage_table_hint(t->layer, qname))));
			continue;
		}
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop table %s: it is the %s table of pipeline \"%s\"",
						qname, t->layer, pipeline),
				 list_length(dropped) > 1 ?
				 errdetail("The command would drop %d registered tables; runs of their pipelines would fail.",
						   list_length(dropped)) :
				 errdetail("Runs of pipeline \"%s\" would fail without it.", pipeline),
				 errhint("Drop it with lakehouse.lh_drop_table(%s, drop_data => true), or unregister it first with lakehouse.lh_drop_table(%s).  A superuser can set lakehouse.allow_drop_table to drop it anyway.",
						 quote_literal_cstr(qname), quote_literal_cstr(qname))));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The SPI helper, and the identity under which catalog SQL runs.
 *
 * lh_spi_exec is the one place where the extension runs a statement
 * through SPI and checks its result: every caller names what it was doing,
 * and a failure reads "could not <what>: <SPI result>" whoever called.
 * During a run, what it is doing is also the step lakehouse.run_progress
 * shows (catalog statements excepted).
 *
 * catalog_exec runs one of the extension's own, fixed, parameterised
 * catalog statements.  It switches to the catalog owner (the role that
 * created the extension) with SECURITY_LOCAL_USERID_CHANGE, keeps any
 * SECURITY_RESTRICTED_OPERATION the caller is under, and pins search_path
 * to "pg_catalog, pg_temp" in a GUC nest level of its own, so neither the
 * caller's identity nor the caller's settings decide what the statement
 * means (an operator of the caller's schema cannot stand in for "=").  The
 * identity and the settings are restored before it returns, and on error
 * too.  Users have no write privilege on the catalog: the SQL API checks
 * their rights first (src/security/identity.c) and writes through here.
 *
 * Only catalog tables and PostgreSQL's catalogs may appear in these
 * statements.  A statement that touched a user's table, view or function
 * would run the user's code as the catalog owner; such statements run
 * through lh_owner_begin (src/security/identity.c) instead.
 *
 * The audit triggers on the catalog fire inside catalog statements, as the
 * catalog owner; catalog_acting_user tells them who the change was made
 * for: the user that was current when the outermost catalog_exec began.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

/* search_path of every catalog statement */
#define CATALOG_SEARCH_PATH "pg_catalog, pg_temp"

/* whom the running catalog statement is for (InvalidOid: none running) */
static Oid	acting_user = InvalidOid;

/*
 * lh_spi_exec
 *		Run sql through SPI (parameters as $n) and check the result code;
 *		returns SPI_processed.  what names the work for the error message.
 *
 * Never read_only: a read-only SPI query runs with the calling statement's
 * snapshot and would not see what earlier stages of the same run wrote.
 *
 * The caller's memory context is current again when it returns (SPI
 * leaves its procedure context current), so that what the caller copies
 * out of SPI_tuptable outlives SPI_finish.
 */
uint64
lh_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
			const char *nulls, int expected, const char *what)
{
	MemoryContext callercxt = CurrentMemoryContext;
	int			rc;

	if (!OidIsValid(acting_user))
		lh_progress_step(what);
	if (nargs > 0)
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	else
		rc = SPI_execute(sql, false, 0);
	MemoryContextSwitchTo(callercxt);
	if (rc != expected && !(expected == SPI_OK_UTILITY && rc >= 0))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not %s: %s", what, SPI_result_code_string(rc)),
				 errdetail_internal("Statement: %s", sql)));
	return SPI_processed;
}

/*
 * lh_spi_prepare
 *		Parse and analyse sql (no parameters) through SPI, for its result
 *		columns or the relations it reads.  An error in the query is the
 *		parser's own; what names the work if SPI itself fails, worded as
 *		lh_spi_exec words it.  The plan is the caller's (SPI_freeplan, or
 *		SPI_finish frees it).
 */
SPIPlanPtr
lh_spi_prepare(const char *sql, const char *what)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);

	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not %s: %s", what, SPI_result_code_string(SPI_result)),
				 errdetail_internal("Statement: %s", sql)));
	return plan;
}

/*
 * lh_spi_plan_source
 *		The one plan source of a plan made by lh_spi_prepare of one query.
 */
CachedPlanSource *
lh_spi_plan_source(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);

	if (list_length(sources) != 1)
		elog(ERROR, "a query produced %d plan sources", list_length(sources));
	return (CachedPlanSource *) linitial(sources);
}

/*
 * catalog_exec
 *		Run a fixed catalog statement as the catalog owner (see above),
 *		checking the expected result code.
 */
void
catalog_exec(const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, int expected)
{
	Oid			save_userid;
	int			save_sec;
	Oid			save_acting = acting_user;
	int			nestlevel;

	catalog_check_version();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	if (!OidIsValid(acting_user))
		acting_user = save_userid;
	nestlevel = NewGUCNestLevel();
	PG_TRY();
	{
		SetUserIdAndSecContext(catalog_owner(),
							   save_sec | SECURITY_LOCAL_USERID_CHANGE);
		(void) set_config_option("search_path", CATALOG_SEARCH_PATH,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		(void) lh_spi_exec(sql, nargs, types, values, nulls, expected,
						   "run a catalog statement");
	}
	PG_FINALLY();
	{
		AtEOXact_GUC(false, nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec);
		acting_user = save_acting;
	}
	PG_END_TRY();
}

/*
 * catalog_extension_version
 *		The version of the lakehouse extension installed in this database
 *		(pg_extension.extversion, palloc'd), or NULL without the extension.
 */
char *
catalog_extension_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("lakehouse"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * catalog_check_version
 *		Refuse to touch a catalog of another version than this library's:
 *		after a package upgrade the new library meets the old catalog until
 *		ALTER EXTENSION lakehouse UPDATE runs.  Not while an extension
 *		script runs (the update itself).
 */
void
catalog_check_version(void)
{
	char	   *version;

	if (creating_extension)
		return;
	version = catalog_extension_version();
	if (version != NULL && strcmp(version, LH_EXTVERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the lakehouse library is version %s but the extension in database \"%s\" is version %s",
						LH_EXTVERSION, get_database_name(MyDatabaseId), version),
				 errhint("Run ALTER EXTENSION lakehouse UPDATE.")));
}

/*
 * catalog_acting_user
 *		The user a catalog change is made for: inside a catalog statement
 *		(an audit trigger), the user current when it began; else the
 *		current user.
 */
Oid
catalog_acting_user(void)
{
	return OidIsValid(acting_user) ? acting_user : GetUserId();
}

char *
catalog_acting_user_name(void)
{
	return GetUserNameFromId(catalog_acting_user(), false);
}

/*
 * catalog_owner
 *		The role that owns the catalog (the one that created the extension).
 */
Oid
catalog_owner(void)
{
	Oid			relid = lh_table_oid(LH_SCHEMA, "pipelines", false);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Reading the result of the last statement: text of a column (palloc'd in
 * the current memory context, which outlives the tuple table), or NULL.
 */
char *
catalog_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* The value of a column of the last statement's result. */
static Datum
catalog_value(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col,
						 isnull);
}

int32
catalog_int32(int row, int col, int32 defval)
{
	bool		isnull;
	Datum		d = catalog_value(row, col, &isnull);

	return isnull ? defval : DatumGetInt32(d);
}

int64
catalog_int64(int row, int col, int64 defval)
{
	bool		isnull;
	Datum		d = catalog_value(row, col, &isnull);

	return isnull ? defval : DatumGetInt64(d);
}

bool
catalog_bool(int row, int col, bool defval)
{
	bool		isnull;
	Datum		d = catalog_value(row, col, &isnull);

	return isnull ? defval : DatumGetBool(d);
}

TimestampTz
catalog_timestamptz(int row, int col, TimestampTz defval)
{
	bool		isnull;
	Datum		d = catalog_value(row, col, &isnull);

	return isnull ? defval : DatumGetTimestampTz(d);
}

Jsonb *
catalog_jsonb(int row, int col)
{
	bool		isnull;
	Datum		d = catalog_value(row, col, &isnull);

	if (isnull)
		return NULL;
	return DatumGetJsonbPCopy(d);
}

/* A text[] column as a List of palloc'd strings. */
List *
catalog_text_list(int row, int col)
{
	bool		isnull;
	Datum		d = catalog_value(row, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

/* A text parameter, or NULL (setting its null flag). */
Datum
catalog_text_or_null(const char *s, char *nullflag)
{
	if (s == NULL)
	{
		*nullflag = 'n';
		return (Datum) 0;
	}
	*nullflag = ' ';
	return CStringGetTextDatum(s);
}

PG_FUNCTION_INFO_V1(lh_catalog_guard);

/*
 * lh_catalog_guard() BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
 *		FOR EACH STATEMENT on every catalog table: only the catalog owner
 *		(catalog_exec) and superusers write the catalog.  A grant made by
 *		mistake, or left by 0.1's roles, changes nothing.
 */
Datum
lh_catalog_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			user = GetUserId();

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		elog(ERROR, "lh_catalog_guard: must be fired before statement");
	if (user != trigdata->tg_relation->rd_rel->relowner && !superuser_arg(user))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change lakehouse.%s",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("The lakehouse catalog is changed only through the lakehouse functions, which check who may change what."),
				 errhint("Use the lakehouse SQL API (contrib-docs/sql-api.md).")));
	return PointerGetDatum(NULL);
}

/*-------------------------------------------------------------------------
 *
 * evolution_migrate.c
 *	  lh_evolve: the explicit migration of a silver table.
 *
 * The statement given must be exactly one ALTER TABLE (or ALTER TABLE ...
 * RENAME COLUMN) of the table named: it is parsed with raw_parser before
 * anything runs, so a second statement, another kind of statement or
 * another target is refused and nothing is executed.  The statement then
 * runs as the table's owner (security_table_begin), with the DDL guard off
 * for that one table (evolution_execute_ddl), and evolution_reconcile
 * classifies, checks,
 * records and follows the change exactly as for plain DDL, with the
 * migration's own rule: a breaking change needs allow_breaking, whatever
 * the policy.
 *
 * Last the gold tables downstream are re-validated: each gold table whose
 * SQL names the silver table is planned again, and compared with its data
 * contract when lakehouse.lh_contract_diff(text) is installed.  Each check
 * runs in its own subtransaction (as a PL/pgSQL exception block does), so
 * one failing gold query is reported, not raised.  Everything runs in the
 * caller's transaction: an error anywhere rolls the migration back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "evolution/evolution.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_evolve);

/* Report a syntax error's position within the migration statement. */
static void
evo_statement_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
	errcontext("migration statement");
}

/*
 * Check that ddl is exactly one ALTER TABLE (or ALTER TABLE ... RENAME
 * COLUMN) statement whose target is the table t.
 */
static void
evo_check_statement(const char *ddl, EvoTable *t)
{
	List	   *stmts;
	Node	   *node;
	RangeVar   *rv = NULL;
	Oid			target;
	ErrorContextCallback errcb;

	errcb.callback = evo_statement_error_callback;
	errcb.arg = (void *) ddl;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	stmts = raw_parser(ddl, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration must be exactly one ALTER TABLE statement"),
				 errdetail("%d statements were given.", list_length(stmts))));
	node = linitial_node(RawStmt, stmts)->stmt;
	if (IsA(node, AlterTableStmt) &&
		((AlterTableStmt *) node)->objtype == OBJECT_TABLE)
		rv = ((AlterTableStmt *) node)->relation;
	else if (IsA(node, RenameStmt) &&
			 ((RenameStmt *) node)->renameType == OBJECT_COLUMN &&
			 ((RenameStmt *) node)->relationType == OBJECT_TABLE)
		rv = ((RenameStmt *) node)->relation;
	if (rv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration must be exactly one ALTER TABLE statement"),
				 errdetail("The statement given is %s.",
						   IsA(node, RenameStmt) ? "a rename of something other than a column" :
						   psprintf("a %s statement",
									GetCommandTagName(CreateCommandTag(node))))));
	target = RangeVarGetRelid(rv, NoLock, true);
	if (target != t->relid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration alters %s, not silver table %s",
						quote_qualified_identifier(rv->schemaname, rv->relname),
						t->qname),
				 errhint("A migration changes the table it is given for.")));
}

/* A gold query to plan again, and its owner (for evo_plan_gold). */
typedef struct EvoGold
{
	const char *sql;
	Oid			owner;
} EvoGold;

/*
 * Plan one gold query, as its pipeline's owner: the query is the owner's
 * code, never to be analysed with the rights of whoever changed the silver
 * table.
 */
static void
evo_plan_gold_work(void *arg)
{
	char	   *sql = psprintf("SELECT * FROM (%s) q LIMIT 0", ((EvoGold *) arg)->sql);
	SPI_freeplan(lh_spi_prepare(sql, "analyse a gold query"));
}

static void
evo_plan_gold(void *arg)
{
	lh_as_owner(((EvoGold *) arg)->owner, evo_plan_gold_work, arg);
}

typedef struct EvoDiffArg
{
	const char *gold;
	List	   *rows;
} EvoDiffArg;

/* Differences between a gold table and its data contract (for evo_try). */
static void
evo_contract_diff(void *arg)
{
	EvoDiffArg *d = arg;
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(d->gold)};
	uint64		n;

	n = lh_spi_exec("SELECT d::text FROM lakehouse.lh_contract_diff($1) d",
					1, types, values, NULL, SPI_OK_SELECT, "compare a data contract");
	for (uint64 i = 0; i < n; i++)
		d->rows = lappend(d->rows, SPI_getvalue(SPI_tuptable->vals[i],
												SPI_tuptable->tupdesc, 1));
}

/*
 * Re-validate the gold tables whose SQL names the silver table: each query
 * must still plan, and a gold table with a data contract must still agree
 * with it (lakehouse.lh_contract_diff, when installed).  Returns the gold
 * tables checked in *checked and the problems found.
 */
static List *
evo_check_downstream(EvoTable *t, List **checked)
{
	List	   *golds = NIL;
	List	   *sqls = NIL;
	List	   *owners = NIL;
	List	   *problems = NIL;
	bool		have_diff;
	ListCell   *lg,
			   *ls;

	catalog_exec("SELECT to_regprocedure('lakehouse.lh_contract_diff(text)') IS NOT NULL",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	have_diff = strcmp(SPI_getvalue(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1), "t") == 0;
	foreach(lg, catalog_gold_tables_mentioning(t->table))
	{
		LhTable    *gold = lfirst(lg);

		golds = lappend(golds, lh_qualified_name(gold->schema_name, gold->table_name));
		sqls = lappend(sqls, gold->sql);
		owners = lappend_oid(owners, gold->owner);
	}
	forboth(lg, golds, ls, sqls)
	{
		char	   *gold = lfirst(lg);
		EvoGold		eg = {lfirst(ls), list_nth_oid(owners, foreach_current_index(lg))};
		ErrorData  *err = lh_try_subxact(evo_plan_gold, &eg);

		if (err)
			problems = lappend(problems,
							   psprintf("Gold table %s no longer plans: %s.",
										gold, err->message));
		else if (have_diff)
		{
			EvoDiffArg	d = {gold, NIL};
			ListCell   *lr;

			err = lh_try_subxact(evo_contract_diff, &d);
			(void) eg;
			/* undefined_object: the gold table has no contract */
			if (err && err->sqlerrcode != ERRCODE_UNDEFINED_OBJECT)
				problems = lappend(problems,
								   psprintf("Gold table %s could not be compared with its data contract: %s.",
											gold, err->message));
			foreach(lr, d.rows)
				problems = lappend(problems,
								   psprintf("Gold table %s disagrees with its data contract: %s.",
											gold, (char *) lfirst(lr)));
		}
	}
	*checked = golds;
	return problems;
}

static void
evo_json_strings(StringInfo buf, const char *key, List *items)
{
	ListCell   *lc;

	appendStringInfo(buf, ", \"%s\": [", key);
	foreach(lc, items)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

static void
evo_json_text(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, "\"%s\": ", key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/*
 * lh_evolve(table_name, ddl, allow_breaking, reason) returns jsonb
 */
Datum
lh_evolve(PG_FUNCTION_ARGS)
{
	char	   *tname;
	char	   *ddl;
	bool		allow_breaking = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	char	   *reason = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	MemoryContext callercxt = CurrentMemoryContext;
	EvoTable   *t;
	List	   *changes;
	List	   *updates = NIL;
	List	   *checked = NIL;
	List	   *problems;
	StringInfoData buf;
	char	   *result;
	ListCell   *lc;
	LhIdentity	id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name and migration statement must not be null")));
	tname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ddl = text_to_cstring(PG_GETARG_TEXT_PP(1));

	SPI_connect();
	t = evolution_lookup_table(tname);
	security_table_begin(t->schema, t->table, LH_RIGHT_ALTER, "evolve table %s", &id);
	evo_check_statement(ddl, t);
	evolution_execute_ddl(t->relid, ddl);
	changes = evolution_reconcile(t, EVO_VIA_EVOLVE, allow_breaking, reason, ddl,
							GetUserId(), &updates);
	problems = evo_check_downstream(t, &checked);
	if (problems != NIL)
	{
		StringInfoData detail;

		initStringInfo(&detail);
		foreach(lc, problems)
			appendStringInfo(&detail, "%s%s", foreach_current_index(lc) ? "\n" : "",
							 (char *) lfirst(lc));
		if (strcmp(t->policy, "strict") == 0 && !allow_breaking)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("change to silver table %s breaks the gold tables that read it",
							t->qname),
					 errdetail("%s", detail.data),
					 errhint("Fix the gold tables first, or pass allow_breaking => true to make the change anyway.")));
		ereport(WARNING,
				(errmsg("change to silver table %s breaks the gold tables that read it",
						t->qname),
				 errdetail("%s", detail.data),
				 errhint("Redefine the gold tables (lh_define_gold with replace => true) to match the new schema.")));
	}

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	evo_json_text(&buf, "table", t->qname);
	appendStringInfoString(&buf, ", ");
	evo_json_text(&buf, "policy", t->policy);
	appendStringInfoString(&buf, ", \"changes\": [");
	foreach(lc, changes)
	{
		EvoChange  *ch = lfirst(lc);

		appendStringInfoString(&buf, foreach_current_index(lc) ? ", {" : "{");
		evo_json_text(&buf, "kind", ch->kind);
		appendStringInfoString(&buf, ", ");
		evo_json_text(&buf, "column", ch->column);
		appendStringInfoString(&buf, ", ");
		evo_json_text(&buf, "old", ch->old_def);
		appendStringInfoString(&buf, ", ");
		evo_json_text(&buf, "new", ch->new_def);
		appendStringInfo(&buf, ", \"breaking\": %s}", ch->breaking ? "true" : "false");
	}
	appendStringInfoChar(&buf, ']');
	evo_json_strings(&buf, "mapping_updates", updates);
	evo_json_strings(&buf, "gold_checked", checked);
	evo_json_strings(&buf, "gold_problems", problems);
	appendStringInfoChar(&buf, '}');
	result = MemoryContextStrdup(callercxt, buf.data);
	security_table_end(&id);
	SPI_finish();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(result)));
}

/*-------------------------------------------------------------------------
 *
 * dbt.c
 *	  dbt's generic tests as data-quality expectations (kind dbt_test).
 *
 * A team moving from dbt pastes its schema.yml tests (not_null, unique,
 * accepted_values, relationships, dbt_utils.expression_is_true and
 * dbt_utils.unique_combination_of_columns, with their config) onto a
 * lakehouse table, in YAML (tests: / data_tests:, also per column) or with
 * lh_add_dbt_test.  Each test becomes one row of lakehouse.dq_expectations
 * of kind "dbt_test": args holds the test in a normalized form (its name,
 * its arguments and its whole config with dbt's defaults filled in), the
 * severity column says "fail" for dbt's severity error and "warn" for
 * warn, and row_filter holds the config's where.  So a dbt test runs in the
 * pipeline gates, lh_check, dq_results and dq_summary like any other
 * expectation.
 *
 * dbt_parse.c reads a test as written (arguments, config with dbt's
 * defaults, name) into a DbtTest, without the table.  This file declares
 * tests (lh_add_dbt_test), checks a decoded test against its table
 * (columns, the parent of relationships), builds its SQL and evaluates it.
 *
 * Semantics are dbt's, read from its sources:
 *	- the test query of each test is the SQL of dbt's macro
 *	  (dbt-adapters: macros/generic_test_sql/{not_null,unique,
 *	  accepted_values,relationships}.sql; dbt-utils:
 *	  macros/generic_tests/{expression_is_true,
 *	  unique_combination_of_columns}.sql), over the table or, with where,
 *	  "(select * from <table> where <where>) dbt_subquery"
 *	  (dbt-core: default__get_where_subquery);
 *	- the test is then evaluated as dbt's test materialization does
 *	  (dbt-adapters: materializations/tests/test.sql and helpers.sql
 *	  default__get_test_sql): "select <fail_calc> as failures, <fail_calc>
 *	  <warn_if> as should_warn, <fail_calc> <error_if> as should_error from
 *	  (<test query> [limit n]) dbt_internal_test";
 *	- the status is dbt-core's TestRunner.build_test_run_result: "fail"
 *	  when the severity is error and should_error holds, else "warn" when
 *	  should_warn holds, else "pass"; the failures reported are 0 on pass;
 *	- defaults are dbt-core's TestConfig: severity error, warn_if and
 *	  error_if "!= 0", fail_calc "count(*)"; test names are dbt-core's
 *	  synthesize_generic_test_names.
 *
 * A dbt test always checks the whole table (as dbt does), also in an
 * incremental gate.  With store_failures the rows of the test query
 * replace a table (or view) "<schema>_dbt_test__audit"."<test name>",
 * created by whoever evaluates the test: the pipeline's owner (the code
 * here runs inside the gate's or lh_check's owner region, like every
 * expectation).  The schema is created when the test is declared, by the
 * same owner.
 *
 * Custom SQL (where, expression, fail_calc) must be one SQL expression,
 * checked as row conditions are (dq_check_expression), and the whole test
 * query is prepared against the table when the test is declared.  Values
 * are quoted literals and identifiers are always quoted; the thresholds
 * are parsed and rebuilt, never pasted.
 *
 * Every function here expects an SPI connection, except lh_add_dbt_test,
 * which connects itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "quality/quality.h"

PG_FUNCTION_INFO_V1(lh_add_dbt_test);

/*
 * lh_add_dbt_test(table_name, test jsonb, column_name, replace) returns text
 *
 * Declare a dbt test, written as in schema.yml, on a silver or gold table
 * (on column_name, as under a column's tests).  Stored through
 * lh_add_expectation (its rights checks, its name rule); returns the name.
 */
Datum
lh_add_dbt_test(PG_FUNCTION_ARGS)
{
	char	   *tname;
	Jsonb	   *test;
	char	   *column = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	bool		replace = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	JsonbValue	entry;
	DbtItem    *item;
	LhTable    *lt;
	Oid			types[6] = {TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[6];
	char		nulls[6] = "      ";
	text	   *result;
	MemoryContext callcxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", PG_ARGISNULL(0) ? "table name" : "test")));
	tname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	test = PG_GETARG_JSONB_P(1);
	if (JB_ROOT_IS_SCALAR(test))
		(void) JsonbExtractScalar(&test->root, &entry);
	else
	{
		entry.type = jbvBinary;
		entry.val.binary.data = &test->root;
		entry.val.binary.len = VARSIZE(test);
	}
	SPI_connect();
	lt = catalog_table_by_user_name(tname,
									"Expectations belong to the silver and gold tables of a pipeline; see lakehouse.tables.");
	item = dbt_parse_entry(lh_qualified_name(lt->schema_name, lt->table_name), &entry, column);
	values[0] = CStringGetTextDatum(tname);
	values[1] = JsonbPGetDatum(dbt_parse_jsonb(item->args));
	values[2] = CStringGetTextDatum(item->severity);
	values[3] = item->where ? CStringGetTextDatum(item->where) : (Datum) 0;
	nulls[3] = item->where ? ' ' : 'n';
	values[4] = CStringGetTextDatum(item->name);
	values[5] = BoolGetDatum(replace);
	/* as the caller: lh_add_expectation checks the caller's rights */
	(void) lh_spi_exec("SELECT lakehouse.lh_add_expectation($1, 'dbt_test', $2, $3, 1, $4, $5, $6)",
					   6, types, values, nulls, SPI_OK_SELECT, "add a dbt test");
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		result = cstring_to_text(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

/* ----------------------------------------------------------------
 * Checking a stored test against the table
 * ----------------------------------------------------------------
 */

static void
check_column(DqTable *t, DbtTest *d, const char *col)
{
	if (get_attnum(t->relid, col) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of dbt test \"%s\" does not exist in table %s",
						col, d->name, t->display)));
}

/* Resolve "to" of relationships: ref('m'), source('s', 't') or a table. */
static void
decode_parent(DbtTest *d)
{
	char	   *s = pstrdup(d->to);
	char	   *args[2] = {NULL, NULL};
	int			n = 0;
	bool		is_ref = strncmp(s, "ref(", 4) == 0;
	bool		is_source = strncmp(s, "source(", 7) == 0;
	char	   *schema;
	char	   *table;
	Oid			relid;

	if (is_ref || is_source)
	{
		char	   *p = s + (is_ref ? 4 : 7);

		for (;;)
		{
			char		q;
			char	   *start;

			while (*p == ' ')
				p++;
			if ((*p != '\'' && *p != '"') || n == 2)
				dbt_error(d, "\"to\" must be ref('model'), source('source', 'table') or a table name, not %s.", d->to);
			q = *p++;
			start = p;
			while (*p && *p != q)
				p++;
			if (*p != q)
				dbt_error(d, "\"to\" must be ref('model'), source('source', 'table') or a table name, not %s.", d->to);
			args[n++] = pnstrdup(start, p - start);
			p++;
			while (*p == ' ')
				p++;
			if (*p == ',')
			{
				p++;
				continue;
			}
			if (*p == ')' && p[1] == '\0')
				break;
			dbt_error(d, "\"to\" must be ref('model'), source('source', 'table') or a table name, not %s.", d->to);
		}
		if (is_source && n != 2)
			dbt_error(d, "source() takes a source name and a table name: %s.", d->to);
	}
	if (is_ref)
	{
		/* ref('model') or ref('package', 'model'): a lakehouse table */
		LhTable    *lt = catalog_table_by_user_name(args[n - 1],
													"ref() names a silver or gold table of a pipeline.");

		schema = lt->schema_name;
		table = lt->table_name;
		relid = lh_table_oid(schema, table, false);
	}
	else if (is_source)
	{
		/* source('s', 't'): the table t of schema s */
		schema = args[0];
		table = args[1];
		relid = lh_table_oid(schema, table, true);
		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"%s.%s\" of %s does not exist", schema, table, d->to),
					 errhint("source('s', 't') names the table t of schema s.")));
	}
	else
	{
		lh_parse_table_name(d->to, "silver", &schema, &table);
		relid = catalog_table_oid(d->to, schema, table, NULL);
	}
	if (get_attnum(relid, d->field) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of dbt test \"%s\" does not exist in table %s",
						d->field, d->name, lh_qualified_name(schema, table))));
	d->parent = lh_qualified_name(schema, table);
}

/*
 * Decode e->args (the normalized form) into e->dbt and check it against
 * the table.  Called when the test is declared and whenever a suite is
 * loaded.
 */
void
dbt_decode(DqTable *t, DqExpectation *e)
{
	DbtTest    *d = dbt_parse_stored(e->name, e->args);
	ListCell   *lc;

	/* the severity column is the config's: error is fail, warn is warn */
	if (strcmp(e->severity, strcmp(d->severity, "error") == 0 ? "fail" : "warn") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("severity \"%s\" does not match dbt test \"%s\", whose severity is %s",
						e->severity, e->name, d->severity),
				 errdetail("dbt's severity error is lakehouse's \"fail\", warn is \"warn\"; the default is error."),
				 errhint("Declare dbt tests with lakehouse.lh_add_dbt_test, which takes the severity from the test's config.")));
	if (d->where && e->row_filter && strcmp(d->where, e->row_filter) != 0)
		dbt_error(d, "where is given twice, differently.");
	if (d->where == NULL)
		d->where = e->row_filter;
	if (d->where)
		dq_check_expression(d->where, psprintf("where of dbt test \"%s\"", e->name));

	if (d->column)
		check_column(t, d, d->column);
	foreach(lc, d->combination)
		check_column(t, d, lfirst(lc));
	if (d->expression)
		dq_check_expression(d->column ?
							psprintf("%s %s", quote_identifier(d->column), d->expression) :
							d->expression,
							psprintf("expression of dbt test \"%s\"", e->name));
	if (d->info->kind == DBT_RELATIONSHIPS)
		decode_parent(d);
	if (d->store_as)
	{
		/* dbt: schema <target>_<schema config>, the test's alias or name */
		d->audit_schema = psprintf("%s_%s", t->schema_name, d->schema);
		d->audit_table = d->alias ? d->alias : e->name;
		lh_check_name("audit schema", d->audit_schema);
		lh_check_name("store_failures table", d->audit_table);
	}
	e->dbt = d;
}

/* ----------------------------------------------------------------
 * SQL
 * ----------------------------------------------------------------
 */

/*
 * The test query: the SQL of dbt's macro, over the table or its where
 * subquery (dbt: default__get_where_subquery), with the limit appended
 * (dbt: default__get_limit_sql).  store: the failing rows are stored, so
 * the macros that select fewer columns otherwise select "*".
 */
static char *
test_sql(DqTable *t, DbtTest *d)
{
	StringInfoData sql;
	char	   *model = d->where ?
		psprintf("(SELECT * FROM %s WHERE (%s)) dbt_subquery", t->qname, d->where) : t->qname;
	char	   *col = d->column ? (char *) quote_identifier(d->column) : NULL;
	bool		store = d->store_as != NULL;
	ListCell   *lc;

	initStringInfo(&sql);
	switch (d->info->kind)
	{
		case DBT_NOT_NULL:
			/* generic_test_sql/not_null.sql */
			appendStringInfo(&sql, "SELECT %s FROM %s WHERE %s IS NULL",
							 store ? "*" : col, model, col);
			break;
		case DBT_UNIQUE:
			/* generic_test_sql/unique.sql */
			appendStringInfo(&sql, "SELECT %s AS unique_field, count(*) AS n_records"
							 " FROM %s WHERE %s IS NOT NULL GROUP BY %s HAVING count(*) > 1",
							 col, model, col, col);
			break;
		case DBT_ACCEPTED_VALUES:
			/* generic_test_sql/accepted_values.sql */
			appendStringInfo(&sql, "WITH all_values AS (SELECT %s AS value_field,"
							 " count(*) AS n_records FROM %s GROUP BY %s)"
							 " SELECT * FROM all_values WHERE value_field NOT IN (",
							 col, model, col);
			foreach(lc, d->values)
				appendStringInfo(&sql, "%s%s", foreach_current_index(lc) ? ", " : "",
								 (char *) lfirst(lc));
			appendStringInfoChar(&sql, ')');
			break;
		case DBT_RELATIONSHIPS:
			/* generic_test_sql/relationships.sql */
			appendStringInfo(&sql, "WITH child AS (SELECT %s AS from_field FROM %s"
							 " WHERE %s IS NOT NULL),"
							 " parent AS (SELECT %s AS to_field FROM %s)"
							 " SELECT from_field FROM child LEFT JOIN parent"
							 " ON child.from_field = parent.to_field"
							 " WHERE parent.to_field IS NULL",
							 col, model, col, quote_identifier(d->field), d->parent);
			break;
		case DBT_EXPRESSION_IS_TRUE:
			/* dbt_utils generic_tests/expression_is_true.sql */
			/* the checked expression, whole, in parentheses */
			appendStringInfo(&sql, "SELECT %s FROM %s WHERE NOT ((%s%s%s))",
							 store ? "*" : "1 AS filler_column", model,
							 col ? col : "", col ? " " : "", d->expression);
			break;
		case DBT_UNIQUE_COMBINATION:
			{
				/* dbt_utils generic_tests/unique_combination_of_columns.sql */
				StringInfoData cols;

				initStringInfo(&cols);
				foreach(lc, d->combination)
					appendStringInfo(&cols, "%s%s", foreach_current_index(lc) ? ", " : "",
									 quote_identifier(lfirst(lc)));
				appendStringInfo(&sql, "WITH validation_errors AS (SELECT %s FROM %s"
								 " GROUP BY %s HAVING count(*) > 1)"
								 " SELECT * FROM validation_errors",
								 cols.data, model, cols.data);
			}
			break;
	}
	if (d->limit >= 0)
		appendStringInfo(&sql, " LIMIT " INT64_FORMAT, d->limit);
	return sql.data;
}

/* dbt's default__get_test_sql, plus the sample of the returned rows. */
static char *
result_sql(DbtTest *d, const char *main_sql)
{
	return psprintf("SELECT (%s)::pg_catalog.int8 AS failures,"
					" (%s) %s AS should_warn, (%s) %s AS should_error,"
					" lakehouse.lh_dq_sample(to_jsonb(dbt_internal_test.*))"
					" FROM (%s) dbt_internal_test",
					d->fail_calc, d->fail_calc, d->warn_if, d->fail_calc, d->error_if,
					main_sql);
}

/*
 * Prepare the test's query against the table (unknown columns, values
 * that are not of the column's type, a fail_calc that is no number), and
 * create the schema of its stored failures.
 */
void
dbt_validate_sql(DqTable *t, DqExpectation *e)
{
	DbtTest    *d = e->dbt;
	SPIPlanPtr	plan;

	plan = lh_spi_prepare(result_sql(d, test_sql(t, d)), "analyse a dbt test's query");
	SPI_freeplan(plan);
	if (d->store_as)
		lh_ensure_schema(d->audit_schema);
}

/* Replace the relation of the stored failures with the test's rows. */
static char *
store_failures(DbtTest *d, const char *main_sql)
{
	char	   *rel = lh_qualified_name(d->audit_schema, d->audit_table);
	Oid			nsp;
	Oid			relid;

	lh_ensure_schema(d->audit_schema);
	nsp = get_namespace_oid(d->audit_schema, false);
	relid = get_relname_relid(d->audit_table, nsp);
	/* dbt: adapter.drop_relation(old_relation), which cascades */
	if (OidIsValid(relid))
		(void) lh_spi_exec(psprintf("DROP %s %s CASCADE",
									get_rel_relkind(relid) == RELKIND_VIEW ? "VIEW" : "TABLE",
									rel),
						   0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "drop the stored failures of a dbt test");
	(void) lh_spi_exec(psprintf("CREATE %s %s AS %s",
								strcmp(d->store_as, "view") == 0 ? "VIEW" : "TABLE",
								rel, main_sql),
					   0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "store the failures of a dbt test");
	return rel;
}

/*
 * Evaluate the test as dbt's test materialization does, and decide its
 * status as dbt-core's TestRunner.build_test_run_result.
 */
void
dbt_evaluate(DqTable *t, DqResult *r)
{
	DbtTest    *d = r->e->dbt;
	TimestampTz start = GetCurrentTimestamp();
	char	   *main_sql = test_sql(t, d);
	char	   *stored = NULL;
	char	   *failures;
	bool		should_warn;
	bool		should_error;
	const char *status;
	StringInfoData obs;

	if (d->store_as)
	{
		/* dbt counts from the stored relation (test.sql) */
		stored = store_failures(d, main_sql);
		main_sql = psprintf("SELECT * FROM %s", stored);
	}
	(void) lh_spi_exec(result_sql(d, main_sql), 0, NULL, NULL, NULL, SPI_OK_SELECT,
					   "run a dbt test");
	failures = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (failures == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fail_calc of dbt test \"%s\" returned NULL", r->e->name),
				 errdetail("fail_calc is \"%s\".", d->fail_calc),
				 errhint("dbt cannot read a NULL failure count either; use for example coalesce(sum(n_records), 0).")));
	{
		char	   *w = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		char	   *x = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

		should_warn = w && strcmp(w, "t") == 0;
		should_error = x && strcmp(x, "t") == 0;
	}
	r->samples = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

	if (strcmp(d->severity, "error") == 0 && should_error)
		status = "fail";
	else if (should_warn)
		status = "warn";
	else
		status = "pass";
	r->success = strcmp(status, "pass") == 0;
	r->warned = strcmp(status, "warn") == 0;
	r->has_unexpected = true;
	/* dbt reports failures only for warn and fail */
	r->unexpected_count = r->success ? 0 : pg_strtoint64(failures);

	initStringInfo(&obs);
	appendStringInfo(&obs, "{\"status\": \"%s\", \"failures\": %s, \"should_warn\": %s,"
					 " \"should_error\": %s, \"severity\": \"%s\", \"test\": ",
					 status, failures, should_warn ? "true" : "false",
					 should_error ? "true" : "false", d->severity);
	escape_json(&obs, d->test);
	appendStringInfoString(&obs, ", \"warn_if\": ");
	escape_json(&obs, d->warn_if);
	appendStringInfoString(&obs, ", \"error_if\": ");
	escape_json(&obs, d->error_if);
	appendStringInfoString(&obs, ", \"fail_calc\": ");
	escape_json(&obs, d->fail_calc);
	if (d->limit >= 0)
		appendStringInfo(&obs, ", \"limit\": " INT64_FORMAT, d->limit);
	if (stored)
	{
		appendStringInfoString(&obs, ", \"stored_failures\": ");
		escape_json(&obs, stored);
	}
	appendStringInfoChar(&obs, '}');
	r->observed = obs.data;
	r->duration_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
}

/*
 * dbt's message (TestRunner.build_test_run_result): "Got 3 results,
 * configured to fail if != 0".
 */
char *
dbt_result_summary(DqResult *r)
{
	DbtTest    *d = r->e->dbt;
	int64		n = r->unexpected_count;

	if (r->success)
		return pstrdup("passed");
	return psprintf("Got " INT64_FORMAT " result%s, configured to %s if %s", n,
					n == 1 ? "" : "s", r->warned ? "warn" : "fail",
					r->warned ? d->warn_if : d->error_if);
}

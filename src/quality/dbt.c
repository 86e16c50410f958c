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

#include <ctype.h>

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "quality/quality.h"

PG_FUNCTION_INFO_V1(lh_add_dbt_test);

typedef enum DbtKind
{
	DBT_NOT_NULL,
	DBT_UNIQUE,
	DBT_ACCEPTED_VALUES,
	DBT_RELATIONSHIPS,
	DBT_EXPRESSION_IS_TRUE,
	DBT_UNIQUE_COMBINATION
} DbtKind;

typedef struct DbtTestInfo
{
	const char *name;
	const char *package;		/* dbt_utils, or NULL for dbt's own */
	DbtKind		kind;
	bool		column;			/* needs column_name */
	const char *const *args;	/* its arguments */
} DbtTestInfo;

static const char *const a_column[] = {"column_name", NULL};
static const char *const a_values[] = {"column_name", "values", "quote", NULL};
static const char *const a_rel[] = {"column_name", "to", "field", NULL};
static const char *const a_expr[] = {"column_name", "expression", NULL};
static const char *const a_combo[] = {"combination_of_columns", "quote_columns", NULL};

static const DbtTestInfo dbt_tests[] = {
	{"not_null", NULL, DBT_NOT_NULL, true, a_column},
	{"unique", NULL, DBT_UNIQUE, true, a_column},
	{"accepted_values", NULL, DBT_ACCEPTED_VALUES, true, a_values},
	{"relationships", NULL, DBT_RELATIONSHIPS, true, a_rel},
	{"expression_is_true", "dbt_utils", DBT_EXPRESSION_IS_TRUE, false, a_expr},
	{"unique_combination_of_columns", "dbt_utils", DBT_UNIQUE_COMBINATION, false, a_combo},
	{NULL, NULL, 0, false, NULL}
};

/*
 * The config keys dbt accepts in a test's config and, the older way, among
 * its arguments (dbt-core: TestBuilder.CONFIG_ARGS).
 */
static const char *const config_keys[] = {
	"severity", "tags", "enabled", "where", "limit", "warn_if", "error_if",
	"fail_calc", "store_failures", "store_failures_as", "meta", "database",
	"schema", "alias", NULL
};

/* One test, decoded. */
typedef struct DbtTest
{
	const DbtTestInfo *info;
	char	   *test;			/* as written: "dbt_utils.expression_is_true" */
	char	   *name;
	char	   *column;			/* column_name, or NULL */
	List	   *values;			/* accepted_values: SQL literals */
	char	   *to;
	char	   *parent;			/* relationships: the quoted table */
	char	   *field;
	char	   *expression;
	List	   *combination;	/* unique_combination_of_columns */
	/* config */
	char	   *severity;		/* "error" or "warn" */
	char	   *where;
	char	   *warn_if;		/* normalized: "!= 0" */
	char	   *error_if;
	char	   *fail_calc;
	int64		limit;			/* -1: none */
	char	   *store_as;		/* "table", "view" or NULL: not stored */
	char	   *schema;			/* suffix of the audit schema */
	char	   *alias;
	char	   *tags;			/* JSON text or NULL */
	char	   *meta;
	/* the relation of store_failures */
	char	   *audit_schema;
	char	   *audit_table;
} DbtTest;

/* A key of a JSON object and its value. */
typedef struct DbtPair
{
	char	   *key;
	JsonbValue	val;
} DbtPair;

/* An invalid test: the detail says what (a format and its arguments). */
#define dbt_error(d, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("invalid dbt test \"%s\"", (d)->test ? (d)->test : "?"), \
			 errdetail(__VA_ARGS__), \
			 errhint("Write the test as in a dbt schema.yml, for example {\"accepted_values\": {\"values\": [\"a\", \"b\"], \"config\": {\"severity\": \"warn\"}}}.")))

/* ----------------------------------------------------------------
 * JSON helpers
 * ----------------------------------------------------------------
 */

/* The pairs of a JSON object (container), in order. */
static List *
object_pairs(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbIteratorToken tok;
	JsonbValue	v;
	List	   *pairs = NIL;
	DbtPair    *p = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			p = palloc0(sizeof(DbtPair));
			p->key = pnstrdup(v.val.string.val, v.val.string.len);
		}
		else if (tok == WJB_VALUE && p)
		{
			p->val = v;
			pairs = lappend(pairs, p);
			p = NULL;
		}
	}
	return pairs;
}

static bool
is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

static bool
is_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/* A JSON value as JSON text. */
static char *
json_text(JsonbValue *v)
{
	Jsonb	   *j = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &j->root, VARSIZE(j));
}

/* The elements of a JSON array. */
static List *
array_elems(JsonbValue *v)
{
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbIteratorToken tok;
	JsonbValue	e;
	List	   *out = NIL;

	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok == WJB_ELEM)
		{
			JsonbValue *copy = palloc(sizeof(JsonbValue));

			*copy = e;
			out = lappend(out, copy);
		}
	}
	return out;
}

/*
 * A scalar as Python's str() would print it (dbt builds test names and
 * renders values with it): strings as they are, True/False, numbers.
 */
static char *
scalar_str(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvBool:
			return pstrdup(v->val.boolean ? "True" : "False");
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvNull:
			return pstrdup("None");
		default:
			return json_text(v);
	}
}

static DbtPair *
find_pair(List *pairs, const char *key)
{
	ListCell   *lc;

	foreach(lc, pairs)
	{
		DbtPair    *p = lfirst(lc);

		if (strcmp(p->key, key) == 0)
			return p;
	}
	return NULL;
}

static bool
in_list(const char *const *keys, const char *key)
{
	for (int i = 0; keys[i]; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

/* A string value; Jinja cannot be rendered here, so it is refused. */
static char *
pair_string(DbtTest *d, DbtPair *p, bool sql)
{
	char	   *s;

	if (p->val.type != jbvString)
		dbt_error(d, "\"%s\" must be a string.", p->key);
	s = pnstrdup(p->val.val.string.val, p->val.val.string.len);
	if (s[0] == '\0')
		dbt_error(d, "\"%s\" must not be empty.", p->key);
	if (sql && (strstr(s, "{{") || strstr(s, "{%")))
		dbt_error(d, "\"%s\" contains Jinja (%s), which lakehouse does not render.", p->key, s);
	return s;
}

static bool
pair_bool(DbtTest *d, DbtPair *p)
{
	if (p->val.type != jbvBool)
		dbt_error(d, "\"%s\" must be true or false.", p->key);
	return p->val.val.boolean;
}

/* ----------------------------------------------------------------
 * Decoding
 * ----------------------------------------------------------------
 */

/*
 * A threshold of warn_if / error_if: a comparison operator and a number,
 * as dbt pastes it after fail_calc (">10", "!= 0", ">=5").  Returns it
 * rebuilt ("> 10"), or reports it.
 */
static char *
parse_threshold(DbtTest *d, const char *key, const char *s)
{
	static const char *const ops[] = {"!=", "<>", ">=", "<=", "=", ">", "<", NULL};
	const char *p = s;
	const char *op = NULL;
	const char *num;
	char	   *end;

	while (*p == ' ')
		p++;
	for (int i = 0; ops[i]; i++)
		if (strncmp(p, ops[i], strlen(ops[i])) == 0)
		{
			op = ops[i];
			break;
		}
	if (op == NULL)
		dbt_error(d, "%s \"%s\" must be a comparison with a number, such as \"!= 0\", \">10\" or \">=5\".", key, s);
	p += strlen(op);
	while (*p == ' ')
		p++;
	num = p;
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char) *p))
		dbt_error(d, "%s \"%s\" must be a comparison with a number, such as \"!= 0\", \">10\" or \">=5\".", key, s);
	(void) strtod(num, &end);
	p = end;
	while (*p == ' ')
		p++;
	if (*p != '\0' || strpbrk(num, "eExX") != NULL)
		dbt_error(d, "%s \"%s\" must be a comparison with a number, such as \"!= 0\", \">10\" or \">=5\".", key, s);
	return psprintf("%s %.*s", op, (int) (end - num), num);
}

/* Render the values of accepted_values as SQL, as the macro does. */
static void
decode_values(DbtTest *d, DbtPair *values, DbtPair *quote)
{
	bool		q = quote ? pair_bool(d, quote) : true;
	ListCell   *lc;

	if (values == NULL)
		dbt_error(d, "Argument \"values\" is required.");
	if (!is_array(&values->val))
		dbt_error(d, "Argument \"values\" must be a list.");
	d->values = NIL;
	foreach(lc, array_elems(&values->val))
	{
		JsonbValue *v = lfirst(lc);

		if (v->type != jbvString && v->type != jbvNumeric && v->type != jbvBool)
			dbt_error(d, "The values must be strings, numbers or Booleans.");
		/* '{{ value }}': Jinja prints Python's str() of the value */
		if (q)
			d->values = lappend(d->values, quote_literal_cstr(scalar_str(v)));
		else if (v->type == jbvString)
			dbt_error(d, "With quote: false a value is pasted into the SQL; lakehouse accepts only numbers and Booleans there, not \"%s\".",
					  scalar_str(v));
		else
			d->values = lappend(d->values, scalar_str(v));
	}
	if (d->values == NIL)
		dbt_error(d, "Argument \"values\" must not be empty (dbt would run \"not in ()\").");
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
 * Fill d from its test name, its arguments and its config (pairs).
 * Everything is checked except what needs the table (columns, parent).
 */
static void
decode_test(DbtTest *d, const char *test, List *args, List *config)
{
	const char *dot = strchr(test, '.');
	const char *bare = dot ? dot + 1 : test;
	ListCell   *lc;
	StringInfoData valid;
	bool		store = false;

	d->test = pstrdup(test);
	for (const DbtTestInfo *k = dbt_tests; k->name; k++)
	{
		if (strcmp(k->name, bare) != 0)
			continue;
		if (dot && (k->package == NULL ||
					strncmp(test, k->package, dot - test) != 0 ||
					strlen(k->package) != (size_t) (dot - test)))
			continue;
		d->info = k;
	}
	if (d->info == NULL)
	{
		initStringInfo(&valid);
		for (const DbtTestInfo *k = dbt_tests; k->name; k++)
			appendStringInfo(&valid, "%s%s%s%s", k == dbt_tests ? "" : ", ",
							 k->package ? k->package : "", k->package ? "." : "", k->name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized dbt test: \"%s\"", test),
				 errhint("Valid dbt tests are: %s.", valid.data)));
	}

	/* the arguments */
	foreach(lc, args)
	{
		DbtPair    *p = lfirst(lc);

		if (!in_list(d->info->args, p->key))
		{
			initStringInfo(&valid);
			for (int i = 0; d->info->args[i]; i++)
				appendStringInfo(&valid, "%s%s", i ? ", " : "", d->info->args[i]);
			dbt_error(d, "Unrecognized argument \"%s\". Its arguments are: %s; and name, config.",
					  p->key, valid.data);
		}
	}
	if (find_pair(args, "column_name"))
		d->column = pair_string(d, find_pair(args, "column_name"), false);
	if (d->info->column && d->column == NULL)
		dbt_error(d, "It needs a column: put it under a column's tests, or give column_name.");
	switch (d->info->kind)
	{
		case DBT_ACCEPTED_VALUES:
			decode_values(d, find_pair(args, "values"), find_pair(args, "quote"));
			break;
		case DBT_RELATIONSHIPS:
			if (!find_pair(args, "to") || !find_pair(args, "field"))
				dbt_error(d, "Arguments \"to\" and \"field\" are required.");
			d->to = pair_string(d, find_pair(args, "to"), true);
			d->field = pair_string(d, find_pair(args, "field"), false);
			break;
		case DBT_EXPRESSION_IS_TRUE:
			if (!find_pair(args, "expression"))
				dbt_error(d, "Argument \"expression\" is required.");
			d->expression = pair_string(d, find_pair(args, "expression"), true);
			break;
		case DBT_UNIQUE_COMBINATION:
			{
				DbtPair    *p = find_pair(args, "combination_of_columns");
				ListCell   *lc2;

				if (p == NULL || !is_array(&p->val))
					dbt_error(d, "Argument \"combination_of_columns\" (a list of columns) is required.");
				foreach(lc2, array_elems(&p->val))
				{
					JsonbValue *v = lfirst(lc2);

					if (v->type != jbvString)
						dbt_error(d, "combination_of_columns must hold column names.");
					d->combination = lappend(d->combination,
											 pnstrdup(v->val.string.val, v->val.string.len));
				}
				if (d->combination == NIL)
					dbt_error(d, "combination_of_columns must not be empty.");
				/* columns are always quoted here (their names are exact) */
				if (find_pair(args, "quote_columns"))
					(void) pair_bool(d, find_pair(args, "quote_columns"));
			}
			break;
		default:
			break;
	}

	/* the config, with dbt-core's TestConfig defaults */
	d->severity = "error";
	d->warn_if = "!= 0";
	d->error_if = "!= 0";
	d->fail_calc = "count(*)";
	d->limit = -1;
	d->schema = "dbt_test__audit";
	foreach(lc, config)
	{
		DbtPair    *p = lfirst(lc);

		if (p->val.type == jbvNull)
			continue;			/* dbt drops None values */
		if (strcmp(p->key, "severity") == 0)
		{
			char	   *s = pair_string(d, p, false);

			if (pg_strcasecmp(s, "error") == 0)
				d->severity = "error";
			else if (pg_strcasecmp(s, "warn") == 0)
				d->severity = "warn";
			else
				dbt_error(d, "severity must be \"error\" or \"warn\", not \"%s\".", s);
		}
		else if (strcmp(p->key, "where") == 0)
			d->where = pair_string(d, p, true);
		else if (strcmp(p->key, "warn_if") == 0)
			d->warn_if = parse_threshold(d, "warn_if", pair_string(d, p, false));
		else if (strcmp(p->key, "error_if") == 0)
			d->error_if = parse_threshold(d, "error_if", pair_string(d, p, false));
		else if (strcmp(p->key, "fail_calc") == 0)
			d->fail_calc = pair_string(d, p, true);
		else if (strcmp(p->key, "limit") == 0)
		{
			char	   *s = scalar_str(&p->val);
			char	   *end;

			errno = 0;
			d->limit = strtoll(s, &end, 10);
			if ((p->val.type != jbvNumeric && p->val.type != jbvString) ||
				errno != 0 || end == s || *end != '\0' || d->limit < 0)
				dbt_error(d, "limit must be a non-negative integer, not %s.", json_text(&p->val));
		}
		else if (strcmp(p->key, "store_failures") == 0)
			store = pair_bool(d, p);
		else if (strcmp(p->key, "store_failures_as") == 0)
		{
			d->store_as = pair_string(d, p, false);
			if (strcmp(d->store_as, "table") != 0 && strcmp(d->store_as, "view") != 0 &&
				strcmp(d->store_as, "ephemeral") != 0)
				dbt_error(d, "store_failures_as must be \"table\", \"view\" or \"ephemeral\", not \"%s\".",
						  d->store_as);
		}
		else if (strcmp(p->key, "schema") == 0)
			d->schema = pair_string(d, p, false);
		else if (strcmp(p->key, "alias") == 0)
			d->alias = pair_string(d, p, false);
		else if (strcmp(p->key, "tags") == 0)
		{
			if (p->val.type != jbvString && !is_array(&p->val))
				dbt_error(d, "tags must be a string or a list of strings.");
			d->tags = json_text(&p->val);
		}
		else if (strcmp(p->key, "meta") == 0)
		{
			if (!is_object(&p->val))
				dbt_error(d, "meta must be a mapping.");
			d->meta = json_text(&p->val);
		}
		else if (strcmp(p->key, "enabled") == 0)
		{
			if (!pair_bool(d, p))
				dbt_error(d, "enabled: false is not supported; remove the test instead.");
		}
		else if (strcmp(p->key, "database") == 0)
			dbt_error(d, "The config \"database\" is not supported: a lakehouse table lives in this database.");
		else
		{
			initStringInfo(&valid);
			for (int i = 0; config_keys[i]; i++)
				appendStringInfo(&valid, "%s%s", i ? ", " : "", config_keys[i]);
			dbt_error(d, "Unrecognized config \"%s\". Valid configs are: %s.", p->key, valid.data);
		}
	}
	/* store_failures_as overrides store_failures (dbt-core: TestConfig) */
	if (d->store_as && strcmp(d->store_as, "ephemeral") == 0)
		d->store_as = NULL;
	else if (d->store_as == NULL && store)
		d->store_as = "table";
	dq_check_expression(d->fail_calc, psprintf("fail_calc of dbt test \"%s\"", d->test));
}

/* Split a test's keys into its arguments and its config (legacy or not). */
static void
split_args(DbtTest *d, List *pairs, char **name, List **args, List **config)
{
	ListCell   *lc;
	DbtPair    *cfg = find_pair(pairs, "config");
	List	   *nested = NIL;

	*name = NULL;
	*args = NIL;
	*config = NIL;
	if (cfg)
	{
		if (!is_object(&cfg->val))
			dbt_error(d, "config must be a mapping.");
		nested = object_pairs(cfg->val.val.binary.data);
	}
	foreach(lc, pairs)
	{
		DbtPair    *p = lfirst(lc);

		if (strcmp(p->key, "config") == 0)
			continue;
		if (strcmp(p->key, "name") == 0)
			*name = pair_string(d, p, false);
		else if (in_list(config_keys, p->key))
		{
			/* dbt-core: TestBuilder._process_legacy_args, SameKeyNestedError */
			if (find_pair(nested, p->key))
				dbt_error(d, "\"%s\" is given both as an argument and in config.", p->key);
			*config = lappend(*config, p);
		}
		else
			*args = lappend(*args, p);
	}
	*config = list_concat(*config, nested);
}

/* ----------------------------------------------------------------
 * Names
 * ----------------------------------------------------------------
 */

static int
pair_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp(((DbtPair *) lfirst(a))->key, ((DbtPair *) lfirst(b))->key);
}

/* [^0-9a-zA-Z_]+ replaced by "_" */
static void
append_clean(StringInfo buf, const char *s)
{
	bool		run = false;

	for (; *s; s++)
	{
		if (isalnum((unsigned char) *s) || *s == '_')
		{
			appendStringInfoChar(buf, *s);
			run = false;
		}
		else if (!run)
		{
			appendStringInfoChar(buf, '_');
			run = true;
		}
	}
}

/*
 * The name dbt gives a generic test (dbt-core: parser/generic_test_builders.py
 * synthesize_generic_test_names): "<test>_<model>_<arg values>", the
 * values of the arguments sorted by name, each cleaned and joined by
 * "__"; from 64 characters on, the first 30 characters of "<test>_<model>"
 * and the md5 of the full name.
 */
static char *
synthesize_name(const char *test, const char *model, List *args)
{
	StringInfoData ident;
	StringInfoData full;
	List	   *sorted = list_copy(args);
	ListCell   *lc;
	bool		first = true;
	char		hex[33];
	const char *errstr;

	initStringInfo(&ident);
	for (const char *p = test; *p; p++)
		appendStringInfoChar(&ident, *p == '.' ? '_' : *p);
	appendStringInfo(&ident, "_%s", model);
	initStringInfo(&full);
	appendStringInfo(&full, "%s_", ident.data);
	list_sort(sorted, pair_cmp);
	foreach(lc, sorted)
	{
		DbtPair    *p = lfirst(lc);
		List	   *parts = NIL;
		ListCell   *lc2;

		if (is_array(&p->val))
			parts = array_elems(&p->val);
		else if (is_object(&p->val))
		{
			foreach(lc2, object_pairs(p->val.val.binary.data))
				parts = lappend(parts, &((DbtPair *) lfirst(lc2))->val);
		}
		else
			parts = list_make1(&p->val);
		foreach(lc2, parts)
		{
			if (!first)
				appendStringInfoString(&full, "__");
			append_clean(&full, scalar_str(lfirst(lc2)));
			first = false;
		}
	}
	if (full.len < 64)
		return full.data;
	if (!pg_md5_hash(full.data, full.len, hex, &errstr))
		elog(ERROR, "could not compute an MD5 hash: %s", errstr);
	return psprintf("%.*s_%s", Min(ident.len, 30), ident.data, hex);
}

/* ----------------------------------------------------------------
 * Declaring: a schema.yml entry into an expectation
 * ----------------------------------------------------------------
 */

/* An expectation made from a dbt test. */
typedef struct DbtItem
{
	char	   *name;
	char	   *severity;		/* lakehouse's: fail or warn */
	char	   *where;
	char	   *args;			/* JSON object text */
} DbtItem;

/* The normalized form stored in args: test, arguments, whole config. */
static char *
normalized_args(DbtTest *d, List *args)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"test\": ");
	escape_json(&buf, d->test);
	foreach(lc, args)
	{
		DbtPair    *p = lfirst(lc);

		appendStringInfoString(&buf, ", ");
		escape_json(&buf, p->key);
		appendStringInfo(&buf, ": %s", json_text(&p->val));
	}
	appendStringInfo(&buf, ", \"config\": {\"severity\": \"%s\", \"warn_if\": ", d->severity);
	escape_json(&buf, d->warn_if);
	appendStringInfoString(&buf, ", \"error_if\": ");
	escape_json(&buf, d->error_if);
	appendStringInfoString(&buf, ", \"fail_calc\": ");
	escape_json(&buf, d->fail_calc);
	if (d->limit >= 0)
		appendStringInfo(&buf, ", \"limit\": " INT64_FORMAT, d->limit);
	appendStringInfo(&buf, ", \"store_failures\": %s", d->store_as ? "true" : "false");
	if (d->store_as)
		appendStringInfo(&buf, ", \"store_failures_as\": \"%s\"", d->store_as);
	appendStringInfoString(&buf, ", \"schema\": ");
	escape_json(&buf, d->schema);
	if (d->alias)
	{
		appendStringInfoString(&buf, ", \"alias\": ");
		escape_json(&buf, d->alias);
	}
	if (d->tags)
		appendStringInfo(&buf, ", \"tags\": %s", d->tags);
	if (d->meta)
		appendStringInfo(&buf, ", \"meta\": %s", d->meta);
	appendStringInfoString(&buf, "}}");
	return buf.data;
}

/*
 * A test as written in schema.yml (entry: "unique", {"unique": {...}} or
 * {"test_name": "unique", ...}), for column column (NULL: model level), on
 * the table called table_name: its expectation.
 */
static DbtItem *
item_from_entry(const char *table_name, JsonbValue *entry, const char *column)
{
	DbtTest    *d = palloc0(sizeof(DbtTest));
	DbtItem    *item = palloc0(sizeof(DbtItem));
	char	   *test = NULL;
	List	   *pairs = NIL;
	List	   *args;
	List	   *config;
	char	   *name;
	char	   *schema;
	char	   *table;
	DbtPair    *p;

	if (entry->type == jbvString)
		test = pnstrdup(entry->val.string.val, entry->val.string.len);
	else if (is_object(entry))
	{
		List	   *top = object_pairs(entry->val.binary.data);

		if ((p = find_pair(top, "test_name")) != NULL)
		{
			/* {test_name: unique, name: ..., config: ...} */
			test = pair_string(d, p, false);
			pairs = list_delete_ptr(top, p);
		}
		else if (list_length(top) == 1)
		{
			p = linitial(top);
			test = p->key;
			d->test = test;
			if (!is_object(&p->val))
				dbt_error(d, "The arguments of a test must be a mapping (dbt: TestArgsNotDictError).");
			pairs = object_pairs(p->val.val.binary.data);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid dbt test: a mapping with %d keys", list_length(top)),
					 errdetail("A test is its name, or a mapping with one key, the test's name, holding its arguments."),
					 errhint("Write for example {\"unique\": {\"config\": {\"where\": \"amount > 0\"}}}.")));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid dbt test: %s", json_text(entry)),
				 errhint("A test is its name, such as \"not_null\", or a mapping such as {\"accepted_values\": {\"values\": [\"a\"]}}.")));
	d->test = test;

	/* dbt 1.10: the arguments under "arguments" */
	if ((p = find_pair(pairs, "arguments")) != NULL)
	{
		ListCell   *lc;

		if (!is_object(&p->val))
			dbt_error(d, "arguments must be a mapping.");
		pairs = list_delete_ptr(pairs, p);
		foreach(lc, object_pairs(p->val.val.binary.data))
		{
			DbtPair    *a = lfirst(lc);

			if (find_pair(pairs, a->key))
				dbt_error(d, "\"%s\" is given both under arguments and beside it.", a->key);
			pairs = lappend(pairs, a);
		}
	}
	/* a column's test: dbt sets column_name to the column */
	if (column)
	{
		if ((p = find_pair(pairs, "column_name")) != NULL &&
			(p->val.type != jbvString ||
			 strncmp(p->val.val.string.val, column, p->val.val.string.len) != 0 ||
			 strlen(column) != (size_t) p->val.val.string.len))
			dbt_error(d, "A test of column \"%s\" gives another column_name.", column);
		if (p == NULL)
		{
			p = palloc0(sizeof(DbtPair));
			p->key = "column_name";
			p->val.type = jbvString;
			p->val.val.string.val = pstrdup(column);
			p->val.val.string.len = strlen(column);
			pairs = lappend(pairs, p);
		}
	}
	split_args(d, pairs, &name, &args, &config);
	decode_test(d, test, args, config);
	lh_parse_table_name(table_name, "silver", &schema, &table);
	item->name = name ? name : synthesize_name(test, table, args);
	item->severity = strcmp(d->severity, "error") == 0 ? "fail" : "warn";
	item->where = d->where;
	d->where = NULL;
	item->args = normalized_args(d, args);
	return item;
}

static Jsonb *
parse_jsonb(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/*
 * The expectations (lh_set_expectations items, as a JSON array) of the dbt
 * tests of a YAML table: tests_json is an array of {"test": <entry>,
 * "column": <name>} as yaml_parse.c renders them.
 */
char *
dbt_expectation_items(const char *table_name, const char *tests_json)
{
	Jsonb	   *tests = parse_jsonb(tests_json);
	JsonbValue	whole;
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	whole.type = jbvBinary;
	whole.val.binary.data = &tests->root;
	whole.val.binary.len = VARSIZE(tests);
	foreach(lc, array_elems(&whole))
	{
		JsonbValue *t = lfirst(lc);
		List	   *pairs = object_pairs(t->val.binary.data);
		DbtPair    *entry = find_pair(pairs, "test");
		DbtPair    *col = find_pair(pairs, "column");
		DbtItem    *item;

		item = item_from_entry(table_name, &entry->val,
							   col ? pnstrdup(col->val.val.string.val,
											  col->val.val.string.len) : NULL);
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, "{\"expect\": \"dbt_test\", \"name\": ");
		escape_json(&buf, item->name);
		appendStringInfo(&buf, ", \"severity\": \"%s\"", item->severity);
		if (item->where)
		{
			appendStringInfoString(&buf, ", \"where\": ");
			escape_json(&buf, item->where);
		}
		/* the arguments: beside the common keys, as lh_set_expectations wants */
		appendStringInfo(&buf, ", %s", item->args + 1);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

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
	item = item_from_entry(lh_qualified_name(lt->schema_name, lt->table_name), &entry, column);
	values[0] = CStringGetTextDatum(tname);
	values[1] = JsonbPGetDatum(parse_jsonb(item->args));
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
 * Decoding a stored test, checking it against the table
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

/*
 * Decode e->args (the normalized form) into e->dbt and check it against
 * the table.  Called when the test is declared and whenever a suite is
 * loaded.
 */
void
dbt_decode(DqTable *t, DqExpectation *e)
{
	DbtTest    *d = palloc0(sizeof(DbtTest));
	List	   *pairs;
	DbtPair    *p;
	List	   *args;
	List	   *config;
	char	   *name;
	ListCell   *lc;

	d->name = e->name;
	if (e->args == NULL || !JB_ROOT_IS_OBJECT(e->args))
		dbt_error(d, "The arguments of a dbt_test expectation must be an object.");
	pairs = object_pairs(&e->args->root);
	if ((p = find_pair(pairs, "test")) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expectation \"%s\" (dbt_test) has no \"test\"", e->name),
				 errhint("Declare dbt tests with lakehouse.lh_add_dbt_test or a tests: list in YAML.")));
	d->test = pair_string(d, p, false);
	pairs = list_delete_ptr(pairs, p);
	split_args(d, pairs, &name, &args, &config);
	if (name)
		dbt_error(d, "\"name\" is the expectation's name here.");
	decode_test(d, d->test, args, config);
	d->name = e->name;

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

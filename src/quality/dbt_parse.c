/*-------------------------------------------------------------------------
 *
 * dbt_parse.c
 *	  The declaration side of dbt's generic tests (kind dbt_test): reading
 *	  a test written as in schema.yml, with dbt's defaults filled in, the
 *	  name dbt gives it, and its normalized form stored in
 *	  lakehouse.dq_expectations.args.
 *
 * A test arrives as JSON: from YAML (tests: / data_tests:, rendered by
 * yaml_parse.c and turned into lh_set_expectations items by
 * dbt_expectation_items), from lh_add_dbt_test (dbt.c, through
 * dbt_parse_entry), or stored (dbt_parse_stored, when a suite is loaded).
 * Everything that can be checked without the table is checked here: the
 * test's name and arguments, every config key (dbt-core: TestConfig and
 * TestBuilder.CONFIG_ARGS), thresholds, Jinja that cannot be rendered.
 * Test names are dbt-core's synthesize_generic_test_names.  dbt.c checks
 * the decoded test against the table, builds its SQL and evaluates it.
 *
 * No SQL runs here and no catalog is read, except through
 * dq_check_expression (custom SQL must be one expression) and
 * lh_parse_table_name.  Everything is palloc'd in the caller's context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "common/md5.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "quality/quality.h"

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

/* A key of a JSON object and its value. */
typedef struct DbtPair
{
	char	   *key;
	JsonbValue	val;
} DbtPair;

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
DbtItem *
dbt_parse_entry(const char *table_name, JsonbValue *entry, const char *column)
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

Jsonb *
dbt_parse_jsonb(const char *text)
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
	Jsonb	   *tests = dbt_parse_jsonb(tests_json);
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

		item = dbt_parse_entry(table_name, &entry->val,
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

/* ----------------------------------------------------------------
 * Decoding a stored test
 * ----------------------------------------------------------------
 */

/*
 * dbt_parse_stored
 *		Decode the normalized form of a dbt test (the args of expectation
 *		name, as normalized_args wrote it) into a new DbtTest.  Checks what
 *		decode_test checks; dbt_decode then checks it against the table.
 */
DbtTest *
dbt_parse_stored(char *name, Jsonb *args)
{
	DbtTest    *d = palloc0(sizeof(DbtTest));
	List	   *pairs;
	DbtPair    *p;
	List	   *targs;
	List	   *config;
	char	   *test_name;

	d->name = name;
	if (args == NULL || !JB_ROOT_IS_OBJECT(args))
		dbt_error(d, "The arguments of a dbt_test expectation must be an object.");
	pairs = object_pairs(&args->root);
	if ((p = find_pair(pairs, "test")) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expectation \"%s\" (dbt_test) has no \"test\"", name),
				 errhint("Declare dbt tests with lakehouse.lh_add_dbt_test or a tests: list in YAML.")));
	d->test = pair_string(d, p, false);
	pairs = list_delete_ptr(pairs, p);
	split_args(d, pairs, &test_name, &targs, &config);
	if (test_name)
		dbt_error(d, "\"name\" is the expectation's name here.");
	decode_test(d, d->test, targs, config);
	d->name = name;
	return d;
}

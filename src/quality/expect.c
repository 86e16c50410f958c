/*-------------------------------------------------------------------------
 *
 * expect.c
 *	  Data-quality expectations: definitions, checks and their SQL text.
 *
 * An expectation belongs to one silver or gold table (lakehouse.tables)
 * and is stored in lakehouse.dq_expectations as a kind, a JSON object of
 * arguments, a severity, "mostly" and an optional row filter ("where").
 * This file knows the kinds, loads a table's suite, decodes and checks an
 * expectation, and writes the SQL text of the checks; define.c stores
 * them (the SQL API).
 *
 * Everything is checked when the expectation is declared, so that a run
 * never meets a malformed one: the kind and its arguments, the columns
 * (they must exist), custom SQL (a row condition or "where" filter must be
 * one expression: it is parsed as "SELECT (<expr>)" with raw_parser and
 * must be a lone target without FROM or any other clause; a custom query
 * must be exactly one SELECT, checked by the gold stage's checker), and
 * finally the SQL that will evaluate the expectation is prepared against
 * the table, which reports unknown columns, type mismatches and invalid
 * bounds as the expectation's own error.  Identifiers always go through
 * quote_identifier and values through quote_literal_cstr; custom SQL is
 * only ever embedded in parentheses (an expression) or as a subquery
 * (a query), the forms that passed the parse check.
 *
 * The SQL text of the checks is built here too (dq_scope_sql,
 * dq_unexpected_sql, dq_missing_sql): check.c assembles them into its one
 * scan, and gate.c compiles the same text into executable expressions for
 * the silver stage's drop expectations, so both agree by construction.
 * Every expression refers to the checked table under the alias "t".
 *
 * Every kind can also be declared with Great Expectations' name, where GE
 * has the expectation (expect_column_values_to_be_between, ...): then its
 * arguments have GE's names and defaults, a GE row_condition becomes the
 * row filter (dq_ge_row_filter), and dq_ge_config writes any expectation
 * as a GE ExpectationConfiguration for the recorded results.
 *
 * Every function here expects an SPI connection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/plancache.h"

#include "quality/quality.h"
#include "transform/transform.h"

/*
 * What each kind is called and which arguments it takes.  A kind has its
 * lakehouse name and, where Great Expectations has the same expectation,
 * GE's name too (ge = true), with GE's argument names and defaults (GE 1.x,
 * great_expectations/expectations/core/).  An expectation keeps the name it
 * was declared with (dq_expectations.kind), so that its arguments are read
 * with that name's keys and defaults.
 */
typedef struct DqKindInfo
{
	const char *name;
	DqKind		kind;
	DqClass		class;
	bool		column;			/* needs "column" */
	const char *const *keys;	/* allowed argument keys */
	bool		ge;				/* GE's name, arguments and defaults */
} DqKindInfo;

static const char *const k_column[] = {"column", NULL};
static const char *const k_unique[] = {"column", "columns", "ignore_row_if", NULL};
static const char *const k_values[] = {"column", "values", NULL};
static const char *const k_between[] = {"column", "min", "max", "strict_min", "strict_max", NULL};
static const char *const k_regex[] = {"column", "regex", NULL};
static const char *const k_length[] = {"column", "min", "max", NULL};
static const char *const k_rel[] = {"column", "to", "field", NULL};
static const char *const k_cond[] = {"condition", NULL};
static const char *const k_count[] = {"min", "max", NULL};
static const char *const k_fresh[] = {"column", "max_age", NULL};
static const char *const k_control[] = {"column", "path", "tolerance", NULL};
static const char *const k_colset[] = {"columns", "exact", NULL};
static const char *const k_query[] = {"query", NULL};

/*
 * GE's arguments; every GE name also takes row_condition, condition_parser
 * and the Expectation fields meta, notes and description (GE_COMMON).
 */
#define GE_COMMON "row_condition", "condition_parser", "meta", "notes", "description"
static const char *const g_column[] = {"column", GE_COMMON, NULL};
static const char *const g_compound[] = {"column_list", "ignore_row_if", GE_COMMON, NULL};
static const char *const g_set[] = {"column", "value_set", GE_COMMON, NULL};
static const char *const g_between[] = {"column", "min_value", "max_value", "strict_min",
"strict_max", GE_COMMON, NULL};
static const char *const g_regex[] = {"column", "regex", GE_COMMON, NULL};
static const char *const g_length[] = {"column", "min_value", "max_value", GE_COMMON, NULL};
static const char *const g_count[] = {"min_value", "max_value", "strict_min", "strict_max",
GE_COMMON, NULL};
static const char *const g_colset[] = {"column_set", "exact_match", GE_COMMON, NULL};
static const char *const g_rows[] = {"unexpected_rows_query", GE_COMMON, NULL};

static const DqKindInfo kinds[] = {
	{"not_null", DQ_NOT_NULL, DQ_CLASS_ROW, true, k_column, false},
	{"unique", DQ_UNIQUE, DQ_CLASS_QUERY, false, k_unique, false},
	{"accepted_values", DQ_ACCEPTED_VALUES, DQ_CLASS_ROW, true, k_values, false},
	{"not_in_set", DQ_NOT_IN_SET, DQ_CLASS_ROW, true, k_values, false},
	{"between", DQ_BETWEEN, DQ_CLASS_ROW, true, k_between, false},
	{"match_regex", DQ_MATCH_REGEX, DQ_CLASS_ROW, true, k_regex, false},
	{"not_match_regex", DQ_NOT_MATCH_REGEX, DQ_CLASS_ROW, true, k_regex, false},
	{"length_between", DQ_LENGTH_BETWEEN, DQ_CLASS_ROW, true, k_length, false},
	{"relationships", DQ_RELATIONSHIPS, DQ_CLASS_ROW, true, k_rel, false},
	{"row_condition", DQ_ROW_CONDITION, DQ_CLASS_ROW, false, k_cond, false},
	{"row_count_between", DQ_ROW_COUNT_BETWEEN, DQ_CLASS_AGGREGATE, false, k_count, false},
	{"freshness", DQ_FRESHNESS, DQ_CLASS_AGGREGATE, true, k_fresh, false},
	{"column_sum_between", DQ_COLUMN_SUM_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between, false},
	{"column_mean_between", DQ_COLUMN_MEAN_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between, false},
	{"column_min_between", DQ_COLUMN_MIN_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between, false},
	{"column_max_between", DQ_COLUMN_MAX_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between, false},
	{"control_total", DQ_CONTROL_TOTAL, DQ_CLASS_QUERY, true, k_control, false},
	{"columns_match_set", DQ_COLUMNS_MATCH_SET, DQ_CLASS_QUERY, false, k_colset, false},
	{"custom_query", DQ_CUSTOM_QUERY, DQ_CLASS_QUERY, false, k_query, false},
	/* Great Expectations' names (relationships, row_condition, freshness, control_total: none) */
	{"expect_column_values_to_not_be_null", DQ_NOT_NULL, DQ_CLASS_ROW, true, g_column, true},
	{"expect_column_values_to_be_unique", DQ_UNIQUE, DQ_CLASS_QUERY, true, g_column, true},
	{"expect_compound_columns_to_be_unique", DQ_UNIQUE, DQ_CLASS_QUERY, false, g_compound, true},
	{"expect_column_values_to_be_in_set", DQ_ACCEPTED_VALUES, DQ_CLASS_ROW, true, g_set, true},
	{"expect_column_values_to_not_be_in_set", DQ_NOT_IN_SET, DQ_CLASS_ROW, true, g_set, true},
	{"expect_column_values_to_be_between", DQ_BETWEEN, DQ_CLASS_ROW, true, g_between, true},
	{"expect_column_values_to_match_regex", DQ_MATCH_REGEX, DQ_CLASS_ROW, true, g_regex, true},
	{"expect_column_values_to_not_match_regex", DQ_NOT_MATCH_REGEX, DQ_CLASS_ROW, true, g_regex, true},
	{"expect_column_value_lengths_to_be_between", DQ_LENGTH_BETWEEN, DQ_CLASS_ROW, true, g_length, true},
	{"expect_table_row_count_to_be_between", DQ_ROW_COUNT_BETWEEN, DQ_CLASS_AGGREGATE, false, g_count, true},
	{"expect_column_sum_to_be_between", DQ_COLUMN_SUM_BETWEEN, DQ_CLASS_AGGREGATE, true, g_between, true},
	{"expect_column_mean_to_be_between", DQ_COLUMN_MEAN_BETWEEN, DQ_CLASS_AGGREGATE, true, g_between, true},
	{"expect_column_min_to_be_between", DQ_COLUMN_MIN_BETWEEN, DQ_CLASS_AGGREGATE, true, g_between, true},
	{"expect_column_max_to_be_between", DQ_COLUMN_MAX_BETWEEN, DQ_CLASS_AGGREGATE, true, g_between, true},
	{"expect_table_columns_to_match_set", DQ_COLUMNS_MATCH_SET, DQ_CLASS_QUERY, false, g_colset, true},
	{"unexpected_rows_expectation", DQ_CUSTOM_QUERY, DQ_CLASS_QUERY, false, g_rows, true},
	/* a dbt generic test: its arguments are dbt's, checked by dbt.c */
	{"dbt_test", DQ_DBT_TEST, DQ_CLASS_QUERY, false, NULL, false},
	{NULL, 0, 0, false, NULL, false}
};

static const DqKindInfo *
kind_info(DqKind kind)
{
	for (const DqKindInfo *k = kinds; k->name; k++)
		if (k->kind == kind)
			return k;
	elog(ERROR, "unknown expectation kind %d", (int) kind);
	return NULL;
}

static const DqKindInfo *
kind_by_name(const char *name)
{
	StringInfoData valid;
	StringInfoData ge;

	for (const DqKindInfo *k = kinds; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	initStringInfo(&valid);
	initStringInfo(&ge);
	for (const DqKindInfo *k = kinds; k->name; k++)
	{
		if (k->kind == DQ_DBT_TEST)
			continue;			/* declared with lh_add_dbt_test */
		if (k->ge)
			appendStringInfo(&ge, "%s%s", ge.len ? ", " : "", k->name);
		else
			appendStringInfo(&valid, "%s%s", valid.len ? ", " : "", k->name);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized expectation: \"%s\"", name),
			 errhint("Valid expectations are: %s; and Great Expectations' names: %s.",
					 valid.data, ge.data)));
	return NULL;
}

DqClass
dq_class(DqKind kind)
{
	return kind_info(kind)->class;
}

/*
 * The kind called name (lakehouse's or GE's), or an error; *kind_name gets
 * the name as the kinds table spells it, *ge whether it is GE's.
 */
DqKind
dq_kind_parse(const char *name, const char **kind_name, bool *ge)
{
	const DqKindInfo *k = kind_by_name(name);

	*kind_name = k->name;
	*ge = k->ge;
	return k->kind;
}

/* ----------------------------------------------------------------
 * Tables
 * ----------------------------------------------------------------
 */

static DqTable *
table_from_catalog(LhTable *lt, bool with_suite);

/*
 * The lakehouse table called name (unqualified: silver, then gold), or an
 * error.  Caller is connected to SPI.
 */
DqTable *
dq_lookup_table(const char *name, bool with_suite)
{
	LhTable    *lt = catalog_table_by_user_name(name,
												"Expectations belong to the silver and gold tables of a pipeline; see lakehouse.tables.");

	return table_from_catalog(lt, with_suite);
}

/* The table with this id, or NULL.  Caller is connected to SPI. */
DqTable *
dq_load_table(int32 table_id, bool with_suite)
{
	LhTable    *lt = catalog_table(table_id);

	if (lt == NULL)
		return NULL;
	return table_from_catalog(lt, with_suite);
}

static int32
spi_int4(HeapTuple tup, int col)
{
	bool		isnull;

	return DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, col, &isnull));
}


/* A lakehouse table (src/catalog/) as quality sees it, with its suite. */
static DqTable *
table_from_catalog(LhTable *lt, bool with_suite)
{
	HeapTuple	tup;
	TupleDesc	desc;
	DqTable    *t = palloc0(sizeof(DqTable));
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	t->table_id = lt->table_id;
	t->pipeline_id = lt->pipeline_id;
	t->layer = lt->layer;
	t->schema_name = lt->schema_name;
	t->table_name = lt->table_name;
	t->source_id = lt->source_id;
	t->qname = lh_qualified_name(t->schema_name, t->table_name);
	t->display = t->qname;
	t->relid = lh_table_oid(t->schema_name, t->table_name, false);
	t->has_run_id = get_attnum(t->relid, "_lh_run_id") != InvalidAttrNumber;

	if (!with_suite)
		return t;
	values[0] = Int32GetDatum(t->table_id);
	catalog_exec("SELECT expectation_id, name, kind, args, severity, mostly::text,"
				 " row_filter FROM lakehouse.dq_expectations WHERE table_id = $1"
				 " ORDER BY name COLLATE \"C\"",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		DqExpectation *e = palloc0(sizeof(DqExpectation));
		bool		isnull;

		tup = SPI_tuptable->vals[i];
		desc = SPI_tuptable->tupdesc;
		e->expectation_id = spi_int4(tup, 1);
		e->name = SPI_getvalue(tup, desc, 2);
		e->kind = dq_kind_parse(SPI_getvalue(tup, desc, 3), &e->kind_name, &e->ge);
		e->args = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 4, &isnull));
		e->severity = SPI_getvalue(tup, desc, 5);
		e->mostly_text = SPI_getvalue(tup, desc, 6);
		e->mostly = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														CStringGetDatum(e->mostly_text),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
		e->row_filter = SPI_getvalue(tup, desc, 7);
		t->expectations = lappend(t->expectations, e);
	}
	/* decoding runs catalog queries: after the loop over SPI_tuptable */
	{
		ListCell   *lc;

		foreach(lc, t->expectations)
			dq_decode(t, lfirst(lc));
	}
	return t;
}

/* ----------------------------------------------------------------
 * Arguments
 * ----------------------------------------------------------------
 */

static void
arg_error(DqExpectation *e, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
arg_error(DqExpectation *e, const char *fmt,...)
{
	va_list		ap;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid arguments for expectation \"%s\" (%s)", e->name, e->kind_name),
			 errdetail("%s", buf.data)));
}

/* A list of strings from args[key]; NIL if absent. */
List *
dq_arg_list(DqExpectation *e, const char *key, bool scalars)
{
	JsonbValue	v;
	List	   *result = NIL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	elem;

	if (!lh_option_lookup(e->args, key, &v))
		return NIL;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		arg_error(e, "Argument \"%s\" must be a JSON array.", key);
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type == jbvString)
			result = lappend(result, pnstrdup(elem.val.string.val, elem.val.string.len));
		else if (scalars && elem.type == jbvNumeric)
			result = lappend(result,
							 DatumGetCString(DirectFunctionCall1(numeric_out,
																 NumericGetDatum(elem.val.numeric))));
		else if (scalars && elem.type == jbvBool)
			result = lappend(result, pstrdup(elem.val.boolean ? "true" : "false"));
		else
			arg_error(e, "Argument \"%s\" must hold %s.", key,
					  scalars ? "strings, numbers or Booleans" : "strings");
	}
	return result;
}

char *
dq_arg_text(DqExpectation *e, const char *key, bool required)
{
	JsonbValue	v;
	char	   *s;

	if (!lh_option_lookup(e->args, key, &v))
	{
		if (required)
			arg_error(e, "Argument \"%s\" is required.", key);
		return NULL;
	}
	if (v.type == jbvBinary)
		arg_error(e, "Argument \"%s\" must be a string, number or Boolean.", key);
	s = lh_option_text(e->args, key);
	if (required && s[0] == '\0')
		arg_error(e, "Argument \"%s\" must not be empty.", key);
	return s;
}

static bool
arg_bool(DqExpectation *e, const char *key)
{
	JsonbValue	v;
	bool		b;

	if (!lh_option_lookup(e->args, key, &v))
		return false;
	if (v.type == jbvBool)
		return v.val.boolean;
	if (v.type == jbvString &&
		parse_bool(pnstrdup(v.val.string.val, v.val.string.len), &b))
		return b;
	arg_error(e, "Argument \"%s\" must be a Boolean.", key);
	return false;
}

static void
check_integer(DqExpectation *e, const char *key, const char *s)
{
	char	   *end;

	if (s == NULL)
		return;
	errno = 0;
	(void) strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		arg_error(e, "Argument \"%s\" must be an integer, not \"%s\".", key, s);
}

static void
check_column(DqTable *t, DqExpectation *e, const char *col)
{
	if (col[0] == '\0')
		arg_error(e, "A column name must not be empty.");
	if (get_attnum(t->relid, col) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of expectation \"%s\" does not exist in table %s",
						col, e->name, t->display)));
}

/* ----------------------------------------------------------------
 * Custom SQL
 * ----------------------------------------------------------------
 */

typedef struct SqlErrorArg
{
	const char *what;
	const char *sql;
} SqlErrorArg;

static void
expr_error_callback(void *arg)
{
	SqlErrorArg *a = (SqlErrorArg *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		/* the text parsed was "SELECT (" + sql + ")" */
		errposition(0);
		internalerrposition(pos > 8 ? pos - 8 : 1);
		internalerrquery(a->sql);
	}
	errcontext("%s", a->what);
}

/*
 * A row condition or filter must be one SQL expression: parse
 * "SELECT (<expr>)" and accept only a lone target with no other clause.
 */
static void
check_expression(const char *expr, const char *what)
{
	char	   *text = psprintf("SELECT (%s)", expr);
	List	   *stmts;
	SelectStmt *sel;
	ErrorContextCallback errcb;
	SqlErrorArg arg = {what, expr};

	errcb.callback = expr_error_callback;
	errcb.arg = &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	stmts = raw_parser(text, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;

	if (list_length(stmts) == 1 &&
		IsA(linitial_node(RawStmt, stmts)->stmt, SelectStmt))
	{
		sel = (SelectStmt *) linitial_node(RawStmt, stmts)->stmt;
		if (sel->op == SETOP_NONE && list_length(sel->targetList) == 1 &&
			sel->fromClause == NIL && sel->whereClause == NULL &&
			sel->groupClause == NIL && sel->havingClause == NULL &&
			sel->windowClause == NIL && sel->sortClause == NIL &&
			sel->limitCount == NULL && sel->limitOffset == NULL &&
			sel->distinctClause == NIL && sel->intoClause == NULL &&
			sel->withClause == NULL && sel->lockingClause == NIL &&
			sel->valuesLists == NIL &&
			((ResTarget *) linitial(sel->targetList))->name == NULL)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be a single SQL expression", what),
			 errdetail("Found: %s", expr),
			 errhint("Write a Boolean expression over the table's columns, such as \"amount >= 0\".")));
}

/* check_expression for dbt.c (dbt's where, expression and fail_calc) */
void
dq_check_expression(const char *expr, const char *what)
{
	check_expression(expr, what);
}

static bool
has_sublink_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
		return true;
	return raw_expression_tree_walker(node, has_sublink_walker, context);
}

/* Does the (checked) expression contain a subquery? */
bool
dq_expression_has_subquery(const char *expr)
{
	List	   *stmts = raw_parser(psprintf("SELECT (%s)", expr), RAW_PARSE_DEFAULT);
	SelectStmt *sel = (SelectStmt *) linitial_node(RawStmt, stmts)->stmt;

	return has_sublink_walker(((ResTarget *) linitial(sel->targetList))->val, NULL);
}

/* ----------------------------------------------------------------
 * Decoding and checking
 * ----------------------------------------------------------------
 */

/*
 * min/max (and strict_min/strict_max) of the *_between kinds; GE's names
 * call them min_value and max_value, and GE's row count takes strict
 * bounds too (expect_table_row_count_to_be_between.py).
 */
static void
decode_bounds(DqExpectation *e)
{
	const char *kmin = e->ge ? "min_value" : "min";
	const char *kmax = e->ge ? "max_value" : "max";

	e->min = dq_arg_text(e, kmin, false);
	e->max = dq_arg_text(e, kmax, false);
	if (e->min == NULL && e->max == NULL)
		arg_error(e, "Give \"%s\", \"%s\" or both.", kmin, kmax);
	if (e->kind == DQ_LENGTH_BETWEEN || e->kind == DQ_ROW_COUNT_BETWEEN)
	{
		check_integer(e, kmin, e->min);
		check_integer(e, kmax, e->max);
	}
	if (e->kind != DQ_LENGTH_BETWEEN && (e->kind != DQ_ROW_COUNT_BETWEEN || e->ge))
	{
		e->strict_min = arg_bool(e, "strict_min");
		e->strict_max = arg_bool(e, "strict_max");
	}
}

/*
 * ignore_row_if of unique over several columns: which rows count as
 * missing (left out of the judged rows).  GE's default for
 * expect_compound_columns_to_be_unique is all_values_are_missing
 * (MulticolumnMapExpectation.ignore_row_if in expectation.py); lakehouse's
 * unique keeps its documented any_value_is_missing.
 */
static void
decode_ignore_row_if(DqExpectation *e)
{
	char	   *v = dq_arg_text(e, "ignore_row_if", false);

	if (v == NULL)
		v = e->ge ? "all_values_are_missing" : "any_value_is_missing";
	if (strcmp(v, "all_values_are_missing") != 0 &&
		strcmp(v, "any_value_is_missing") != 0 && strcmp(v, "never") != 0)
		arg_error(e, "Argument \"ignore_row_if\" must be \"all_values_are_missing\", \"any_value_is_missing\" or \"never\", not \"%s\".", v);
	e->ignore_row_if = v;
}

/*
 * GE's unexpected_rows_query names the checked table "{batch}"
 * (unexpected_rows_expectation.py): put the table in its place.
 */
static char *
substitute_batch(DqTable *t, const char *query)
{
	StringInfoData buf;
	const char *p = query;
	const char *hit;

	initStringInfo(&buf);
	while ((hit = strstr(p, "{batch}")) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, t->qname);
		p = hit + strlen("{batch}");
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/* to/field of relationships: the referenced column must exist */
static void
decode_relationship(DqExpectation *e)
{
	char	   *to = dq_arg_text(e, "to", true);
	char	   *schema;
	char	   *table;
	Oid			relid;

	e->ref_field = dq_arg_text(e, "field", true);
	lh_parse_table_name(to, "silver", &schema, &table);
	relid = catalog_table_oid(to, schema, table, NULL);
	if (get_attnum(relid, e->ref_field) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of expectation \"%s\" does not exist in table %s",
						e->ref_field, e->name,
						lh_qualified_name(schema, table))));
	e->ref_table = lh_qualified_name(schema, table);
}

/* path/tolerance of control_total, which only a silver table can have */
static void
decode_control_total(DqTable *t, DqExpectation *e)
{
	JsonbValue	v;

	if (strcmp(t->layer, "silver") != 0)
		arg_error(e, "A control total compares a silver table with its bronze table and quarantine; table %s is a %s table.",
				  t->display, t->layer);
	if (lh_option_lookup(e->args, "path", &v) && v.type == jbvString)
		e->path = list_make1(pnstrdup(v.val.string.val, v.val.string.len));
	else
		e->path = dq_arg_list(e, "path", false);
	if (e->path == NIL)
		e->path = list_make1(linitial(e->columns));
	e->tolerance = dq_arg_text(e, "tolerance", false);
	if (e->tolerance == NULL)
		e->tolerance = "0";
	(void) DirectFunctionCall3(numeric_in, CStringGetDatum(e->tolerance),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * Decode e->args into the fields of e, checking them against the table.
 * Raises an error for anything invalid.  Caller is connected to SPI.
 */
void
dq_decode(DqTable *t, DqExpectation *e)
{
	const DqKindInfo *k = kind_by_name(e->kind_name);
	char		what[300];
	ListCell   *lc;

	if (e->kind == DQ_DBT_TEST)
	{
		dbt_decode(t, e);
		return;
	}
	snprintf(what, sizeof(what), "expectation \"%s\" (%s)", e->name, e->kind_name);
	lh_check_option_keys(e->args, k->keys, what);

	e->columns = NIL;
	if (k->column || e->kind == DQ_UNIQUE)
	{
		char	   *col = dq_arg_text(e, "column", e->kind != DQ_UNIQUE);

		if (col)
			e->columns = list_make1(col);
	}
	if (e->ge)
	{
		JsonbValue	v;

		if (lh_option_lookup(e->args, "meta", &v) &&
			(v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data)))
			arg_error(e, "Argument \"meta\" must be a JSON object.");
	}
	switch (e->kind)
	{
		case DQ_UNIQUE:
			if (e->ge && k->column)
				;				/* expect_column_values_to_be_unique: column */
			else if (e->ge)
			{
				e->columns = dq_arg_list(e, "column_list", false);
				if (e->columns == NIL)
					arg_error(e, "Argument \"column_list\" is required.");
			}
			else
			{
				if (e->columns != NIL && lh_option_lookup(e->args, "columns", &(JsonbValue) {0}))
					arg_error(e, "Give either \"column\" or \"columns\", not both.");
				if (e->columns == NIL)
					e->columns = dq_arg_list(e, "columns", false);
				if (e->columns == NIL)
					arg_error(e, "Argument \"column\" or \"columns\" is required.");
			}
			decode_ignore_row_if(e);
			break;
		case DQ_ACCEPTED_VALUES:
		case DQ_NOT_IN_SET:
			{
				JsonbValue	v;
				const char *key = e->ge ? "value_set" : "values";

				if (!lh_option_lookup(e->args, key, &v))
					arg_error(e, "Argument \"%s\" is required.", key);
				e->values = dq_arg_list(e, key, true);
			}
			break;
		case DQ_BETWEEN:
		case DQ_COLUMN_SUM_BETWEEN:
		case DQ_COLUMN_MEAN_BETWEEN:
		case DQ_COLUMN_MIN_BETWEEN:
		case DQ_COLUMN_MAX_BETWEEN:
		case DQ_LENGTH_BETWEEN:
		case DQ_ROW_COUNT_BETWEEN:
			decode_bounds(e);
			break;
		case DQ_MATCH_REGEX:
		case DQ_NOT_MATCH_REGEX:
			e->regex = dq_arg_text(e, "regex", true);
			/* compile it now: an invalid pattern is reported here */
			(void) DirectFunctionCall2Coll(textregexeq, C_COLLATION_OID,
										   CStringGetTextDatum(""),
										   CStringGetTextDatum(e->regex));
			break;
		case DQ_RELATIONSHIPS:
			decode_relationship(e);
			break;
		case DQ_ROW_CONDITION:
			e->condition = dq_arg_text(e, "condition", true);
			check_expression(e->condition, psprintf("row condition of expectation \"%s\"", e->name));
			break;
		case DQ_FRESHNESS:
			e->max_age = dq_arg_text(e, "max_age", true);
			/* a valid interval? */
			(void) DirectFunctionCall3(interval_in, CStringGetDatum(e->max_age),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
			break;
		case DQ_CONTROL_TOTAL:
			decode_control_total(t, e);
			break;
		case DQ_COLUMNS_MATCH_SET:
			{
				JsonbValue	v;
				const char *key = e->ge ? "column_set" : "columns";
				const char *exact = e->ge ? "exact_match" : "exact";

				if (!lh_option_lookup(e->args, key, &v))
					arg_error(e, "Argument \"%s\" is required.", key);
				e->columns = dq_arg_list(e, key, false);
				/* GE's exact_match defaults to true as well */
				e->exact = lh_option_lookup(e->args, exact, &v) ? arg_bool(e, exact) : true;
				/* the columns are what is checked: they need not exist */
				return;
			}
		case DQ_CUSTOM_QUERY:
			e->query = dq_arg_text(e, e->ge ? "unexpected_rows_query" : "query", true);
			if (e->ge)
				e->query = substitute_batch(t, e->query);
			lh_check_select_sql(e->query, psprintf("custom query of expectation \"%s\"", e->name));
			e->query = lh_trim_sql(e->query);
			break;
		default:
			break;
	}
	foreach(lc, e->columns)
		check_column(t, e, lfirst(lc));
	if (e->row_filter)
		check_expression(e->row_filter, psprintf("filter (where) of expectation \"%s\"", e->name));
}

/* ----------------------------------------------------------------
 * SQL text of the checks (alias "t" is the checked table)
 * ----------------------------------------------------------------
 */

char *
dq_column_expr(DqExpectation *e)
{
	return psprintf("t.%s", quote_identifier(linitial(e->columns)));
}

/* Rows the expectation looks at: its filter, or NULL for every row. */
char *
dq_scope_sql(DqExpectation *e)
{
	return e->row_filter ? psprintf("(%s)", e->row_filter) : NULL;
}

/* Does the expectation count NULLs of its column as missing? */
bool
dq_counts_missing(DqExpectation *e)
{
	return e->columns != NIL && e->kind != DQ_UNIQUE && e->kind != DQ_NOT_NULL &&
		e->kind != DQ_COLUMNS_MATCH_SET && e->kind != DQ_CONTROL_TOTAL;
}

char *
dq_missing_sql(DqExpectation *e)
{
	if (e->kind == DQ_UNIQUE)
	{
		StringInfoData buf;
		ListCell   *lc;
		bool		all = e->ignore_row_if &&
			strcmp(e->ignore_row_if, "all_values_are_missing") == 0;

		/* ignore_row_if = never: no row is missing */
		if (e->ignore_row_if && strcmp(e->ignore_row_if, "never") == 0)
			return pstrdup("false");
		initStringInfo(&buf);
		appendStringInfoChar(&buf, '(');
		foreach(lc, e->columns)
			appendStringInfo(&buf, "%st.%s IS NULL",
							 foreach_current_index(lc) ? (all ? " AND " : " OR ") : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfoChar(&buf, ')');
		return buf.data;
	}
	return psprintf("%s IS NULL", dq_column_expr(e));
}

/*
 * Append "expr >= min AND expr <= max" (strict bounds: > and <; an open
 * bound is left out); quote: the bounds are literals to quote.
 */
void
dq_append_bounds(StringInfo buf, const char *expr, DqExpectation *e, bool quote)
{
	if (e->min)
		appendStringInfo(buf, "%s %s %s", expr, e->strict_min ? ">" : ">=",
						 quote ? quote_literal_cstr(e->min) : e->min);
	if (e->min && e->max)
		appendStringInfoString(buf, " AND ");
	if (e->max)
		appendStringInfo(buf, "%s %s %s", expr, e->strict_max ? "<" : "<=",
						 quote ? quote_literal_cstr(e->max) : e->max);
}

/*
 * A row-level expectation: true when the row is unexpected.  NULLs of the
 * column are never unexpected except for not_null; a row condition that
 * is NULL passes (as a CHECK constraint does).
 */
char *
dq_unexpected_sql(DqExpectation *e)
{
	StringInfoData buf;
	char	   *col;
	ListCell   *lc;

	initStringInfo(&buf);
	if (e->kind == DQ_ROW_CONDITION)
	{
		appendStringInfo(&buf, "NOT coalesce((%s), true)", e->condition);
		return buf.data;
	}
	col = dq_column_expr(e);
	if (e->kind == DQ_NOT_NULL)
	{
		appendStringInfo(&buf, "%s IS NULL", col);
		return buf.data;
	}
	appendStringInfo(&buf, "%s IS NOT NULL AND NOT (", col);
	switch (e->kind)
	{
		case DQ_ACCEPTED_VALUES:
		case DQ_NOT_IN_SET:
			if (e->values == NIL)
				appendStringInfoString(&buf, e->kind == DQ_ACCEPTED_VALUES ? "false" : "true");
			else
			{
				appendStringInfo(&buf, "%s %sIN (", col,
								 e->kind == DQ_NOT_IN_SET ? "NOT " : "");
				foreach(lc, e->values)
					appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "",
									 quote_literal_cstr(lfirst(lc)));
				appendStringInfoChar(&buf, ')');
			}
			break;
		case DQ_BETWEEN:
			dq_append_bounds(&buf, col, e, true);
			break;
		case DQ_MATCH_REGEX:
		case DQ_NOT_MATCH_REGEX:
			appendStringInfo(&buf, "(%s)::pg_catalog.text %s %s", col,
							 e->kind == DQ_MATCH_REGEX ? "~" : "!~",
							 quote_literal_cstr(e->regex));
			break;
		case DQ_LENGTH_BETWEEN:
			dq_append_bounds(&buf, psprintf("pg_catalog.length((%s)::pg_catalog.text)", col),
						  e, false);
			break;
		case DQ_RELATIONSHIPS:
			appendStringInfo(&buf, "EXISTS (SELECT 1 FROM %s r WHERE r.%s = %s)",
							 e->ref_table, quote_identifier(e->ref_field), col);
			break;
		default:
			elog(ERROR, "expectation kind %s is not row-level", e->kind_name);
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* A row condition or filter must be Boolean over the table's rows. */
static void
check_boolean(DqTable *t, const char *expr, const char *what)
{
	SPIPlanPtr	plan = lh_spi_prepare(psprintf("SELECT (%s) FROM %s t", expr, t->qname),
									  "analyse an expectation's condition");
	CachedPlanSource *ps;
	Oid			typid;

	ps = lh_spi_plan_source(plan);
	typid = TupleDescAttr(ps->resultDesc, 0)->atttypid;
	if (typid != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a Boolean expression", what),
				 errdetail("\"%s\" is of type %s.", expr, format_type_be(typid))));
	SPI_freeplan(plan);
}

/*
 * A *_between expectation with min > max can never succeed: refuse it, as
 * GE does (the column_values.between metric raises "min_value cannot be
 * greater than max_value", column_map_metrics/column_values_between.py;
 * ExpectTableRowCountToBeBetween._root_validate; 0.18's
 * Expectation.validate_metric_value_between_configuration).  The bounds are
 * compared as values of the type they are compared with: the column's for
 * between and column_min/max, numeric for sum and mean, bigint for lengths
 * and row counts.
 */
static void
check_bounds_order(DqTable *t, DqExpectation *e)
{
	const char *type;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		d;

	if (e->min == NULL || e->max == NULL)
		return;
	switch (e->kind)
	{
		case DQ_LENGTH_BETWEEN:
		case DQ_ROW_COUNT_BETWEEN:
			type = "pg_catalog.int8";
			break;
		case DQ_COLUMN_SUM_BETWEEN:
		case DQ_COLUMN_MEAN_BETWEEN:
			type = "pg_catalog.numeric";
			break;
		default:
			type = format_type_be_qualified(get_atttype(t->relid,
														get_attnum(t->relid, linitial(e->columns))));
			break;
	}
	values[0] = CStringGetTextDatum(e->min);
	values[1] = CStringGetTextDatum(e->max);
	(void) lh_spi_exec(psprintf("SELECT $1::%s > $2::%s", type, type), 2, types, values,
					   NULL, SPI_OK_SELECT, "compare the bounds of an expectation");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull && DatumGetBool(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid bounds for expectation \"%s\" (%s)", e->name, e->kind_name),
				 errdetail("The minimum %s is greater than the maximum %s, so no value could pass.",
						   e->min, e->max),
				 errhint("Swap the bounds; Great Expectations refuses min_value > max_value as well.")));
}

/*
 * Prepare the SQL that will evaluate e against the table, so that unknown
 * columns, type mismatches and invalid literals surface now.
 */
void
dq_validate_sql(DqTable *t, DqExpectation *e)
{
	StringInfoData sql;
	char	   *scope = dq_scope_sql(e);
	SPIPlanPtr	plan;

	if (e->row_filter)
		check_boolean(t, e->row_filter,
					  psprintf("filter (where) of expectation \"%s\"", e->name));
	if (e->condition)
		check_boolean(t, e->condition,
					  psprintf("row condition of expectation \"%s\"", e->name));
	if (e->kind == DQ_DBT_TEST)
	{
		dbt_validate_sql(t, e);
		return;
	}
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	switch (dq_class(e->kind))
	{
		case DQ_CLASS_ROW:
			appendStringInfo(&sql, "count(*) FILTER (WHERE %s)", dq_unexpected_sql(e));
			break;
		case DQ_CLASS_AGGREGATE:
			if (e->kind == DQ_ROW_COUNT_BETWEEN)
				appendStringInfoString(&sql, "count(*)");
			else if (e->kind == DQ_FRESHNESS)
				appendStringInfo(&sql, "max(%s) >= now() - %s::pg_catalog.interval",
								 dq_column_expr(e), quote_literal_cstr(e->max_age));
			else
			{
				const char *agg = e->kind == DQ_COLUMN_SUM_BETWEEN ? "sum" :
				e->kind == DQ_COLUMN_MEAN_BETWEEN ? "avg" :
				e->kind == DQ_COLUMN_MIN_BETWEEN ? "min" : "max";

				dq_append_bounds(&sql, psprintf("%s(%s)", agg, dq_column_expr(e)), e, true);
			}
			break;
		case DQ_CLASS_QUERY:
			if (e->kind == DQ_CUSTOM_QUERY)
			{
				resetStringInfo(&sql);
				appendStringInfo(&sql, "SELECT count(*) FROM (%s) q", e->query);
				scope = NULL;
			}
			else if (e->kind == DQ_CONTROL_TOTAL)
				appendStringInfo(&sql, "sum(%s)", dq_column_expr(e));
			else
				appendStringInfoString(&sql, "1");
			break;
	}
	if (e->kind != DQ_CUSTOM_QUERY)
		appendStringInfo(&sql, " FROM %s t", t->qname);
	if (scope)
		appendStringInfo(&sql, " WHERE %s", scope);
	plan = lh_spi_prepare(sql.data, "analyse an expectation's query");
	SPI_freeplan(plan);
	check_bounds_order(t, e);
}

/* ----------------------------------------------------------------
 * Great Expectations: row_condition and the expectation configuration
 * ----------------------------------------------------------------
 */

/* Skip blanks, as pyparsing does between tokens. */
static const char *
skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static void
row_condition_error(DqExpectation *e, const char *cond)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid row_condition for expectation \"%s\" (%s)", e->name, e->kind_name),
			 errdetail("Condition: %s", cond),
			 errhint("With condition_parser \"great_expectations\" write col(\"name\") followed by .notnull() or by one of > < >= <= == != and a number, a quoted string or date(\"...\"); or use condition_parser \"sql\" with a PostgreSQL Boolean expression.")));
}

/*
 * Translate GE's row condition language into SQL.  Its grammar
 * (_parse_great_expectations_condition in
 * great_expectations/expectations/row_conditions.py) is one comparison:
 * col("name") .notnull(), or col("name") <op> number | "string" | 'string' |
 * date("..."), with op one of > < >= <= == != -- parse_condition_to_sqlalchemy
 * turns it into column <op> value.  Unlike pyparsing's parseString, the
 * whole text must be consumed: trailing text is an error, not ignored.
 */
static char *
translate_ge_condition(DqExpectation *e, const char *cond)
{
	const char *p = skip_blanks(cond);
	const char *start;
	char	   *column;
	const char *op;
	char	   *value;
	bool		is_date = false;

	if (strncmp(p, "col(\"", 5) != 0)
		row_condition_error(e, cond);
	p += 5;
	start = p;
	if (!isalpha((unsigned char) *p))
		row_condition_error(e, cond);
	while (isalnum((unsigned char) *p) || *p == '_' || *p == '-' || *p == '.')
		p++;
	column = pnstrdup(start, p - start);
	if (strncmp(p, "\")", 2) != 0)
		row_condition_error(e, cond);
	p = skip_blanks(p + 2);
	if (pg_strncasecmp(p, ".notnull()", 10) == 0)
	{
		if (*skip_blanks(p + 10) != '\0')
			row_condition_error(e, cond);
		return psprintf("%s IS NOT NULL", quote_identifier(column));
	}
	if (strncmp(p, ">=", 2) == 0 || strncmp(p, "<=", 2) == 0)
		op = pnstrdup(p, 2), p += 2;
	else if (strncmp(p, "==", 2) == 0)
		op = "=", p += 2;
	else if (strncmp(p, "!=", 2) == 0)
		op = "<>", p += 2;
	else if (*p == '>' || *p == '<')
		op = pnstrdup(p, 1), p += 1;
	else
		row_condition_error(e, cond);
	p = skip_blanks(p);
	if (strncmp(p, "date(", 5) == 0)
	{
		is_date = true;
		p = skip_blanks(p + 5);
	}
	if (*p == '"' || *p == '\'')
	{
		char		quote = *p++;

		start = p;
		while (*p && *p != quote)
			p++;
		if (*p != quote || p == start)
			row_condition_error(e, cond);
		value = quote_literal_cstr(pnstrdup(start, p - start));
		p++;
	}
	else if (!is_date)
	{
		char	   *end;

		start = p;
		(void) strtod(p, &end);
		if (end == p)
			row_condition_error(e, cond);
		value = pnstrdup(start, end - start);
		p = end;
		/* a number like GE's fnumber: digits, optional fraction and exponent */
		(void) DirectFunctionCall3(numeric_in, CStringGetDatum(value),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
	else
		row_condition_error(e, cond);
	if (is_date)
	{
		p = skip_blanks(p);
		if (*p != ')')
			row_condition_error(e, cond);
		p++;
		value = psprintf("%s::pg_catalog.date", value);
	}
	if (*skip_blanks(p) != '\0')
		row_condition_error(e, cond);
	return psprintf("%s %s %s", quote_identifier(column), op, value);
}

/*
 * The row filter of a GE-named expectation: its row_condition in SQL, or
 * NULL if it has none.  condition_parser must say how to read it:
 * "great_expectations" (or the older "great_expectations__experimental__"),
 * GE's own language, the only one GE's SQL engine accepts; or "sql", a
 * PostgreSQL Boolean expression (lakehouse's where).  "pandas" and "spark"
 * are expressions of other engines and are refused.
 */
char *
dq_ge_row_filter(DqExpectation *e)
{
	char	   *cond;
	char	   *parser;

	if (!e->ge)
		return NULL;
	cond = dq_arg_text(e, "row_condition", false);
	parser = dq_arg_text(e, "condition_parser", false);
	if (cond == NULL)
	{
		if (parser != NULL)
			arg_error(e, "Argument \"condition_parser\" is given without \"row_condition\".");
		return NULL;
	}
	if (parser == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row_condition of expectation \"%s\" needs a condition_parser", e->name),
				 errdetail("Great Expectations expects condition_parser to be set whenever row_condition is."),
				 errhint("Add condition_parser: \"great_expectations\" for col(\"name\") > 0 conditions, or \"sql\" for a PostgreSQL expression.")));
	if (strcmp(parser, "sql") == 0)
		return cond;
	if (strcmp(parser, "great_expectations") == 0 ||
		strcmp(parser, "great_expectations__experimental__") == 0)
		return translate_ge_condition(e, cond);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("condition_parser \"%s\" is not supported", parser),
			 errdetail("Expectation \"%s\": \"pandas\" and \"spark\" conditions are Python expressions for other engines; Great Expectations' SQL engine refuses them too.",
					   e->name),
			 errhint("Use condition_parser \"great_expectations\" (col(\"name\") > 0) or \"sql\" (a PostgreSQL Boolean expression).")));
	return NULL;
}

/* GE's name for a kind: the first GE entry of the kinds table with it. */
static const char *
ge_type(DqExpectation *e)
{
	if (e->ge)
		return e->kind_name;
	if (e->kind == DQ_UNIQUE)
		return list_length(e->columns) == 1 ? "expect_column_values_to_be_unique" :
			"expect_compound_columns_to_be_unique";
	for (const DqKindInfo *k = kinds; k->name; k++)
		if (k->ge && k->kind == e->kind)
			return k->name;
	return e->kind_name;		/* no GE equivalent: lakehouse's name */
}

/* GE's name of a lakehouse argument (the same where GE has none). */
static const char *
ge_key(DqExpectation *e, const char *key)
{
	static const char *const map[][2] = {
		{"min", "min_value"}, {"max", "max_value"}, {"values", "value_set"},
		{"exact", "exact_match"}, {"query", "unexpected_rows_query"}, {NULL, NULL}
	};

	if (e->ge)
		return key;
	if (strcmp(key, "columns") == 0)
		return e->kind == DQ_UNIQUE ? "column_list" : "column_set";
	for (int i = 0; map[i][0]; i++)
		if (strcmp(map[i][0], key) == 0)
			return map[i][1];
	return key;
}

static void
append_json_value(StringInfo buf, JsonbValue *v)
{
	if (v->type == jbvBinary)
		(void) JsonbToCString(buf, v->val.binary.data, v->val.binary.len);
	else
	{
		Jsonb	   *j = JsonbValueToJsonb(v);

		(void) JsonbToCString(buf, &j->root, VARSIZE(j));
	}
}

/*
 * The expectation as a GE ExpectationConfiguration (to_json_dict of
 * great_expectations/expectations/expectation_configuration.py): type (GE's
 * name, or lakehouse's where GE has none), kwargs with GE's argument names,
 * meta (the user's meta, plus "lakehouse": name, kind, severity), and
 * notes/description when given.  mostly, ignore_row_if and a where filter
 * (row_condition with condition_parser "sql") are in kwargs as evaluated.
 */
char *
dq_ge_config(DqExpectation *e)
{
	StringInfoData buf;
	StringInfoData extra;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			level = 0;
	bool		first = true;
	bool		has_filter_arg = false;
	char	   *user_meta = NULL;

	initStringInfo(&buf);
	initStringInfo(&extra);
	appendStringInfoString(&buf, "{\"type\": ");
	escape_json(&buf, ge_type(e));
	appendStringInfoString(&buf, ", \"kwargs\": {");
	it = JsonbIteratorInit(&e->args->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbValue	val;

		if (tok == WJB_BEGIN_OBJECT)
			level++;
		if (tok != WJB_KEY || level != 1)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		(void) JsonbIteratorNext(&it, &val, true);
		if (strcmp(key, "meta") == 0)
		{
			StringInfoData m;

			initStringInfo(&m);
			append_json_value(&m, &val);
			user_meta = m.data;
			continue;
		}
		if (strcmp(key, "notes") == 0 || strcmp(key, "description") == 0)
		{
			appendStringInfo(&extra, ", \"%s\": ", key);
			append_json_value(&extra, &val);
			continue;
		}
		if (strcmp(key, "row_condition") == 0)
			has_filter_arg = true;
		/* lakehouse's unique over one listed column is GE's column unique */
		if (!e->ge && e->kind == DQ_UNIQUE && strcmp(key, "columns") == 0 &&
			list_length(e->columns) == 1)
		{
			appendStringInfo(&buf, "%s\"column\": ", first ? "" : ", ");
			escape_json(&buf, linitial(e->columns));
			first = false;
			continue;
		}
		appendStringInfoString(&buf, first ? "" : ", ");
		escape_json(&buf, ge_key(e, key));
		appendStringInfoString(&buf, ": ");
		append_json_value(&buf, &val);
		first = false;
	}
	if (dq_class(e->kind) == DQ_CLASS_ROW || e->kind == DQ_UNIQUE)
	{
		appendStringInfo(&buf, "%s\"mostly\": %s", first ? "" : ", ", e->mostly_text);
		first = false;
	}
	if (e->kind == DQ_UNIQUE && list_length(e->columns) > 1 &&
		!lh_option_lookup(e->args, "ignore_row_if", &v))
	{
		appendStringInfo(&buf, "%s\"ignore_row_if\": \"%s\"", first ? "" : ", ", e->ignore_row_if);
		first = false;
	}
	if (e->row_filter && !has_filter_arg)
	{
		appendStringInfo(&buf, "%s\"row_condition\": ", first ? "" : ", ");
		escape_json(&buf, e->row_filter);
		appendStringInfoString(&buf, ", \"condition_parser\": \"sql\"");
	}
	appendStringInfoString(&buf, "}, \"meta\": ");
	if (user_meta && strcmp(user_meta, "{}") != 0)
	{
		/* the user's object, then lakehouse's key */
		appendBinaryStringInfo(&buf, user_meta, strlen(user_meta) - 1);
		appendStringInfoString(&buf, ", ");
	}
	else
		appendStringInfoChar(&buf, '{');
	appendStringInfoString(&buf, "\"lakehouse\": {\"expectation\": ");
	escape_json(&buf, e->name);
	appendStringInfo(&buf, ", \"kind\": \"%s\", \"severity\": \"%s\"}}, \"id\": null%s}",
					 e->kind_name, e->severity, extra.data);
	return buf.data;
}

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

/* What each kind is called and which arguments it takes. */
typedef struct DqKindInfo
{
	const char *name;
	DqKind		kind;
	DqClass		class;
	bool		column;			/* needs "column" */
	const char *const *keys;	/* allowed argument keys */
} DqKindInfo;

static const char *const k_column[] = {"column", NULL};
static const char *const k_unique[] = {"column", "columns", NULL};
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

static const DqKindInfo kinds[] = {
	{"not_null", DQ_NOT_NULL, DQ_CLASS_ROW, true, k_column},
	{"unique", DQ_UNIQUE, DQ_CLASS_QUERY, false, k_unique},
	{"accepted_values", DQ_ACCEPTED_VALUES, DQ_CLASS_ROW, true, k_values},
	{"not_in_set", DQ_NOT_IN_SET, DQ_CLASS_ROW, true, k_values},
	{"between", DQ_BETWEEN, DQ_CLASS_ROW, true, k_between},
	{"match_regex", DQ_MATCH_REGEX, DQ_CLASS_ROW, true, k_regex},
	{"not_match_regex", DQ_NOT_MATCH_REGEX, DQ_CLASS_ROW, true, k_regex},
	{"length_between", DQ_LENGTH_BETWEEN, DQ_CLASS_ROW, true, k_length},
	{"relationships", DQ_RELATIONSHIPS, DQ_CLASS_ROW, true, k_rel},
	{"row_condition", DQ_ROW_CONDITION, DQ_CLASS_ROW, false, k_cond},
	{"row_count_between", DQ_ROW_COUNT_BETWEEN, DQ_CLASS_AGGREGATE, false, k_count},
	{"freshness", DQ_FRESHNESS, DQ_CLASS_AGGREGATE, true, k_fresh},
	{"column_sum_between", DQ_COLUMN_SUM_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between},
	{"column_mean_between", DQ_COLUMN_MEAN_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between},
	{"column_min_between", DQ_COLUMN_MIN_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between},
	{"column_max_between", DQ_COLUMN_MAX_BETWEEN, DQ_CLASS_AGGREGATE, true, k_between},
	{"control_total", DQ_CONTROL_TOTAL, DQ_CLASS_QUERY, true, k_control},
	{"columns_match_set", DQ_COLUMNS_MATCH_SET, DQ_CLASS_QUERY, false, k_colset},
	{"custom_query", DQ_CUSTOM_QUERY, DQ_CLASS_QUERY, false, k_query},
	/* a dbt generic test: its arguments are dbt's, checked by dbt.c */
	{"dbt_test", DQ_DBT_TEST, DQ_CLASS_QUERY, false, NULL},
	{NULL, 0, 0, false, NULL}
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

	for (const DqKindInfo *k = kinds; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	initStringInfo(&valid);
	for (const DqKindInfo *k = kinds; k->name; k++)
		if (k->kind != DQ_DBT_TEST)	/* declared with lh_add_dbt_test */
			appendStringInfo(&valid, "%s%s", k == kinds ? "" : ", ", k->name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized expectation: \"%s\"", name),
			 errhint("Valid expectations are: %s.", valid.data)));
	return NULL;
}

DqClass
dq_class(DqKind kind)
{
	return kind_info(kind)->class;
}

/* The kind called name, or an error; *kind_name gets its canonical name. */
DqKind
dq_kind_parse(const char *name, const char **kind_name)
{
	const DqKindInfo *k = kind_by_name(name);

	*kind_name = k->name;
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
		e->kind = kind_by_name(SPI_getvalue(tup, desc, 3))->kind;
		e->kind_name = kind_info(e->kind)->name;
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

/* min/max (and strict_min/strict_max) of the *_between kinds */
static void
decode_bounds(DqExpectation *e)
{
	e->min = dq_arg_text(e, "min", false);
	e->max = dq_arg_text(e, "max", false);
	if (e->min == NULL && e->max == NULL)
		arg_error(e, "Give \"min\", \"max\" or both.");
	if (e->kind == DQ_LENGTH_BETWEEN || e->kind == DQ_ROW_COUNT_BETWEEN)
	{
		check_integer(e, "min", e->min);
		check_integer(e, "max", e->max);
	}
	else
	{
		e->strict_min = arg_bool(e, "strict_min");
		e->strict_max = arg_bool(e, "strict_max");
	}
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
	const DqKindInfo *k = kind_info(e->kind);
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
	switch (e->kind)
	{
		case DQ_UNIQUE:
			if (e->columns != NIL && lh_option_lookup(e->args, "columns", &(JsonbValue) {0}))
				arg_error(e, "Give either \"column\" or \"columns\", not both.");
			if (e->columns == NIL)
				e->columns = dq_arg_list(e, "columns", false);
			if (e->columns == NIL)
				arg_error(e, "Argument \"column\" or \"columns\" is required.");
			break;
		case DQ_ACCEPTED_VALUES:
		case DQ_NOT_IN_SET:
			{
				JsonbValue	v;

				if (!lh_option_lookup(e->args, "values", &v))
					arg_error(e, "Argument \"values\" is required.");
				e->values = dq_arg_list(e, "values", true);
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

				if (!lh_option_lookup(e->args, "columns", &v))
					arg_error(e, "Argument \"columns\" is required.");
				e->columns = dq_arg_list(e, "columns", false);
				e->exact = lh_option_lookup(e->args, "exact", &v) ? arg_bool(e, "exact") : true;
				/* the columns are what is checked: they need not exist */
				return;
			}
		case DQ_CUSTOM_QUERY:
			e->query = dq_arg_text(e, "query", true);
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

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '(');
		foreach(lc, e->columns)
			appendStringInfo(&buf, "%st.%s IS NULL", foreach_current_index(lc) ? " OR " : "",
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
}

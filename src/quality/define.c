/*-------------------------------------------------------------------------
 *
 * define.c
 *	  The SQL API of data-quality expectations: lh_add_expectation,
 *	  lh_drop_expectation and lh_set_expectations.
 *
 * An expectation is built from its arguments, decoded and checked by
 * expect.c (kind, arguments, columns, custom SQL, and the SQL of its check
 * prepared against the table) and stored in lakehouse.dq_expectations in
 * the caller's transaction.  lh_set_expectations makes a table's
 * YAML-declared expectations (origin 'yaml') exactly a given list;
 * lh_apply_config calls it for the expectations list of each table.
 *
 * The first expectation of a table with _lh_run_id creates an index on that
 * column (in the declaring transaction), so that incremental checks read
 * only a run's rows; tables without expectations never pay for it.
 *
 * Callers need no SPI connection: each function connects itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "quality/quality.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_add_expectation);
PG_FUNCTION_INFO_V1(lh_drop_expectation);
PG_FUNCTION_INFO_V1(lh_set_expectations);

/* ----------------------------------------------------------------
 * Storing
 * ----------------------------------------------------------------
 */

/* Turn the args argument into an object: "col" and ["a","b"] are short forms. */
static Jsonb *
normalize_args(Jsonb *args)
{
	if (args == NULL)
		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (JB_ROOT_IS_SCALAR(args))
	{
		JsonbValue	v;

		if (JsonbExtractScalar(&args->root, &v) && v.type == jbvString)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			appendStringInfoString(&buf, "{\"column\":");
			escape_json(&buf, pnstrdup(v.val.string.val, v.val.string.len));
			appendStringInfoChar(&buf, '}');
			return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
		}
	}
	else if (JB_ROOT_IS_ARRAY(args))
	{
		char	   *s = JsonbToCString(NULL, &args->root, VARSIZE(args));

		return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												  CStringGetDatum(psprintf("{\"columns\":%s}", s))));
	}
	if (!JB_ROOT_IS_OBJECT(args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments of an expectation must be a JSON object"),
				 errhint("Pass for example '{\"column\": \"amount\", \"min\": 0}'.")));
	return args;
}

/*
 * Incremental checks read the rows of one run: give a table with
 * _lh_run_id an index on it when it gets its first expectation.  (Tables
 * without expectations stay as they are: the index costs every write.)
 */
static void
ensure_run_index(DqTable *t)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(t->relid)};

	if (!t->has_run_id)
		return;
	catalog_exec("SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a"
				 " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
				 " WHERE i.indrelid = $1 AND a.attname = '_lh_run_id' AND i.indpred IS NULL",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		return;
	(void) lh_spi_exec(psprintf("CREATE INDEX ON %s (_lh_run_id)", t->qname),
					   0, NULL, NULL, NULL, SPI_OK_UTILITY, "create the run index");
}

/* Error context while an expectation is decoded and its SQL checked. */
static void
definition_callback(void *arg)
{
	DqExpectation *e = (DqExpectation *) arg;

	if (e->name)
		errcontext("expectation \"%s\" (%s)", e->name, e->kind_name);
}

/*
 * The default name of an expectation: its kind, then its column (or, for
 * unique, its columns), each after an underscore.
 */
static char *
default_name(DqExpectation *e, DqKind kkind, const char *kname)
{
	StringInfoData buf;
	char	   *col = NULL;
	List	   *cols = NIL;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, kname);
	e->name = pstrdup(kname);	/* for errors while reading the columns */
	if (lh_option_lookup(e->args, "column", &(JsonbValue) {0}))
		col = dq_arg_text(e, "column", false);
	if (col)
		cols = list_make1(col);
	else if (kkind == DQ_UNIQUE)
		cols = dq_arg_list(e, e->ge ? "column_list" : "columns", false);
	foreach(lc, cols)
		appendStringInfo(&buf, "_%s", (char *) lfirst(lc));
	if (strlen(buf.data) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expectation name \"%s\" is too long", buf.data),
				 errhint("Pass a shorter name => '...'.")));
	return buf.data;
}

/*
 * Check the severity: warn, drop or fail; drop only on silver tables and
 * for expectations checked on each row by itself.
 */
static void
check_severity(DqExpectation *e, DqTable *t, DqKind kkind, const char *kname)
{
	if (strcmp(e->severity, "warn") != 0 && strcmp(e->severity, "drop") != 0 &&
		strcmp(e->severity, "fail") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized severity: \"%s\"", e->severity),
				 errhint("Valid severities are \"warn\" (record only), \"drop\" (quarantine failing silver rows) and \"fail\" (fail the stage).")));
	if (strcmp(e->severity, "drop") == 0)
	{
		if (strcmp(t->layer, "silver") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("severity \"drop\" is not supported on gold table %s", t->display),
					 errdetail("Dropping applies to silver rows, which go to lakehouse.quarantine instead of the table."),
					 errhint("Use severity \"fail\" to stop a gold stage, or \"warn\" to record only.")));
		if (dq_class(kkind) != DQ_CLASS_ROW || kkind == DQ_RELATIONSHIPS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("severity \"drop\" is not supported for expectation %s", kname),
					 errdetail("Only expectations checked row by row on the row itself can drop rows: not_null, accepted_values, not_in_set, between, match_regex, not_match_regex, length_between and row_condition."),
					 errhint("Use severity \"fail\" or \"warn\".")));
	}
}

/*
 * Set e->mostly from mostly (default 1) and check it: between 0 and 1,
 * below 1 only for row expectations.  Then refuse a filter (where) on the
 * kinds that have no rows to filter.
 */
static void
check_mostly_and_filter(DqExpectation *e, const char *mostly, DqKind kkind,
						const char *kname)
{
	e->mostly_text = pstrdup(mostly ? mostly : "1");
	e->mostly = DatumGetNumeric(DirectFunctionCall3(numeric_in,
													CStringGetDatum(e->mostly_text),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1)));
	if (numeric_is_nan(e->mostly) ||
		DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(e->mostly),
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(e->mostly),
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(1)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mostly must be between 0 and 1, not %s", e->mostly_text),
				 errdetail("It is the fraction of non-null rows that must pass.")));
	/* GE's unique and compound unique are map expectations: mostly applies */
	if (dq_class(kkind) != DQ_CLASS_ROW && kkind != DQ_UNIQUE &&
		DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(e->mostly),
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(1)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mostly does not apply to expectation %s", kname),
				 errdetail("Only expectations checked row by row have a share of passing rows.")));
	if (e->row_filter && (kkind == DQ_CUSTOM_QUERY || kkind == DQ_COLUMNS_MATCH_SET ||
						  kkind == DQ_CONTROL_TOTAL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a filter (where) does not apply to expectation %s", kname)));
}

/*
 * Insert the expectation into lakehouse.dq_expectations, or with replace
 * update the one of the same name when it differs.  Without replace, an
 * expectation of the same name is an error.
 */
static void
insert_expectation(DqTable *t, DqExpectation *e, bool replace,
				   const char *origin)
{
	Oid			types[8] = {INT4OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, NUMERICOID,
	TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = "        ";

	values[0] = Int32GetDatum(t->table_id);
	values[1] = CStringGetTextDatum(e->name);
	values[2] = CStringGetTextDatum(e->kind_name);
	values[3] = JsonbPGetDatum(e->args);
	values[4] = CStringGetTextDatum(e->severity);
	values[5] = NumericGetDatum(e->mostly);
	if (e->row_filter)
		values[6] = CStringGetTextDatum(e->row_filter);
	else
		nulls[6] = 'n';
	values[7] = CStringGetTextDatum(origin);
	catalog_exec(replace ?
				 "INSERT INTO lakehouse.dq_expectations AS x"
				 " (table_id, name, kind, args, severity, mostly, row_filter, origin)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				 " ON CONFLICT (table_id, name) DO UPDATE SET kind = excluded.kind,"
				 " args = excluded.args, severity = excluded.severity,"
				 " mostly = excluded.mostly, row_filter = excluded.row_filter,"
				 " origin = excluded.origin"
				 " WHERE (x.kind, x.args, x.severity, x.mostly, x.row_filter, x.origin)"
				 " IS DISTINCT FROM (excluded.kind, excluded.args, excluded.severity,"
				 " excluded.mostly, excluded.row_filter, excluded.origin)" :
				 "INSERT INTO lakehouse.dq_expectations"
				 " (table_id, name, kind, args, severity, mostly, row_filter, origin)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				 " ON CONFLICT (table_id, name) DO NOTHING",
				 8, types, values, nulls, SPI_OK_INSERT);
	if (!replace && SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("expectation \"%s\" already exists on table %s", e->name, t->display),
				 errhint("Pass name => '...' to add another one, or replace => true to change it.")));
}

/*
 * GE passes mostly among an expectation's arguments: take it out of args
 * (it is stored in its own column) and return it, or NULL.  Giving it
 * there and as the mostly parameter (other than the default 1) is an error.
 */
static char *
take_mostly(DqExpectation *e, const char *mostly)
{
	JsonbValue	v;
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	k;
	char	   *result;

	if (!lh_option_lookup(e->args, "mostly", &v))
		return NULL;
	if (v.type != jbvNumeric && v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mostly of expectation \"%s\" must be a number", e->name)));
	result = lh_option_text(e->args, "mostly");
	if (mostly != NULL && strcmp(mostly, "1") != 0 && strcmp(mostly, result) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mostly of expectation \"%s\" is given twice", e->name),
				 errdetail("The arguments say %s, the mostly parameter %s.", result, mostly),
				 errhint("Give it once.")));
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&e->args->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &v, true);
		if (k.val.string.len == 6 && strncmp(k.val.string.val, "mostly", 6) == 0)
			continue;
		pushJsonbValue(&ps, WJB_KEY, &k);
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	e->args = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	return result;
}

/*
 * Build, check and store one expectation (insert or, with replace, update
 * the one of the same name).  Returns its name.  Caller is connected to SPI.
 */
static char *
store_expectation(DqTable *t, const char *kind, Jsonb *args, const char *severity,
				  const char *mostly, const char *where, const char *name,
				  bool replace, const char *origin)
{
	DqExpectation *e = palloc0(sizeof(DqExpectation));
	const char *kname;
	bool		ge;
	DqKind		kkind = dq_kind_parse(kind, &kname, &ge);

	e->kind = kkind;
	e->kind_name = kname;
	e->ge = ge;
	e->args = normalize_args(args);
	e->severity = pstrdup(severity ? severity : "warn");
	e->row_filter = (where && where[0]) ? pstrdup(where) : NULL;

	/* a default name from the kind and the columns */
	if (name == NULL)
		name = default_name(e, kkind, kname);
	if (name[0] == '\0' || strlen(name) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expectation name must be 1 to 200 characters long")));
	e->name = pstrdup(name);

	if (e->ge)
	{
		char	   *m = take_mostly(e, mostly);
		char	   *filter;

		if (m)
			mostly = m;
		/* GE's row_condition is the filter lakehouse calls where */
		filter = dq_ge_row_filter(e);
		if (filter && e->row_filter)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expectation \"%s\" has both a row_condition and a where filter", e->name),
					 errhint("Keep one of them.")));
		if (filter)
			e->row_filter = filter;
	}
	check_severity(e, t, kkind, kname);
	check_mostly_and_filter(e, mostly, kkind, kname);

	{
		ErrorContextCallback errcb;

		errcb.callback = definition_callback;
		errcb.arg = e;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		dq_decode(t, e);
		dq_validate_sql(t, e);
		error_context_stack = errcb.previous;
	}
	if (strcmp(e->severity, "drop") == 0 &&
		((e->condition && dq_expression_has_subquery(e->condition)) ||
		 (e->row_filter && dq_expression_has_subquery(e->row_filter))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("expectation \"%s\" with severity \"drop\" cannot use a subquery", e->name),
				 errdetail("Drop expectations are checked on each silver row before it is written, without queries."),
				 errhint("Use severity \"fail\" or \"warn\".")));

	insert_expectation(t, e, replace, origin);
	ensure_run_index(t);
	return e->name;
}

static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static char *
required_arg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * lh_add_expectation(table_name, expectation, args, severity, mostly,
 *					  "where", name, replace) returns text
 */
Datum
lh_add_expectation(PG_FUNCTION_ARGS)
{
	char	   *tname = required_arg(fcinfo, 0, "table name");
	char	   *kind = required_arg(fcinfo, 1, "expectation");
	Jsonb	   *args = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char	   *severity = text_arg(fcinfo, 3);
	char	   *mostly = PG_ARGISNULL(4) ? NULL :
		DatumGetCString(DirectFunctionCall1(numeric_out, PG_GETARG_DATUM(4)));
	char	   *where = text_arg(fcinfo, 5);
	char	   *name = text_arg(fcinfo, 6);
	bool		replace = PG_ARGISNULL(7) ? false : PG_GETARG_BOOL(7);
	DqTable    *t;
	char	   *result;
	MemoryContext callcxt = CurrentMemoryContext;
	LhIdentity	id;

	SPI_connect();
	t = dq_lookup_table(tname, false);
	security_table_begin(t->schema_name, t->table_name, LH_RIGHT_ALTER,
						 "add an expectation to table %s", &id);
	result = store_expectation(t, kind, args, severity, mostly, where, name,
							   replace, "sql");
	security_table_end(&id);
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);
		text	   *r = cstring_to_text(result);

		MemoryContextSwitchTo(old);
		SPI_finish();
		PG_RETURN_TEXT_P(r);
	}
}

/*
 * lh_drop_expectation(table_name, name, missing_ok) returns void
 */
Datum
lh_drop_expectation(PG_FUNCTION_ARGS)
{
	char	   *tname = required_arg(fcinfo, 0, "table name");
	char	   *name = required_arg(fcinfo, 1, "expectation name");
	bool		missing_ok = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	DqTable    *t;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	LhIdentity	id;

	SPI_connect();
	t = dq_lookup_table(tname, false);
	security_table_begin(t->schema_name, t->table_name, LH_RIGHT_ALTER,
						 "drop an expectation of table %s", &id);
	security_table_end(&id);
	values[0] = Int32GetDatum(t->table_id);
	values[1] = CStringGetTextDatum(name);
	catalog_exec("DELETE FROM lakehouse.dq_expectations WHERE table_id = $1 AND name = $2",
				 2, types, values, NULL, SPI_OK_DELETE);
	if (SPI_processed == 0 && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("expectation \"%s\" does not exist on table %s", name, t->display)));
	SPI_finish();
	PG_RETURN_VOID();
}

/* The value of key in an object as text, or NULL. */
static char *
item_text(Jsonb *item, const char *key, int idx)
{
	JsonbValue	v;

	if (!lh_option_lookup(item, key, &v))
		return NULL;
	if (v.type == jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of expectation %d must be a string or number", key, idx + 1)));
	return lh_option_text(item, key);
}

/*
 * lh_set_expectations(table_name, expectations jsonb) returns integer
 *
 * Make the table's YAML-declared expectations exactly the given list:
 * each item is an object with "expect" (the kind), optional "name",
 * "severity", "mostly" and "where", and the kind's arguments.  Returns
 * the number of expectations given.
 */
Datum
lh_set_expectations(PG_FUNCTION_ARGS)
{
	char	   *tname = required_arg(fcinfo, 0, "table name");
	Jsonb	   *list = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	DqTable    *t;
	List	   *names = NIL;
	int			n = 0;
	LhIdentity	id;

	if (list != NULL && !JB_ROOT_IS_ARRAY(list))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expectations must be a JSON array")));
	SPI_connect();
	t = dq_lookup_table(tname, false);
	security_table_begin(t->schema_name, t->table_name, LH_RIGHT_ALTER,
						 "set the expectations of table %s", &id);
	if (list != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&list->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			Jsonb	   *item;
			JsonbParseState *ps = NULL;
			JsonbIterator *it2;
			JsonbValue	k;
			JsonbValue	val;
			JsonbIteratorToken t2;
			char	   *kind;
			char	   *name;
			Jsonb	   *args;

			if (tok != WJB_ELEM)
				continue;
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("expectation %d of table %s must be a mapping", n + 1, t->display)));
			item = JsonbValueToJsonb(&v);
			kind = item_text(item, "expect", n);
			if (kind == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("expectation %d of table %s has no \"expect\" key", n + 1, t->display),
						 errhint("Write for example \"expect: not_null\" with \"column: id\".")));
			/* the arguments: every key but the common ones */
			pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
			it2 = JsonbIteratorInit(&item->root);
			while ((t2 = JsonbIteratorNext(&it2, &k, true)) != WJB_DONE)
			{
				char	   *key;

				if (t2 != WJB_KEY)
					continue;
				key = pnstrdup(k.val.string.val, k.val.string.len);
				t2 = JsonbIteratorNext(&it2, &val, true);
				if (strcmp(key, "expect") == 0 || strcmp(key, "name") == 0 ||
					strcmp(key, "severity") == 0 || strcmp(key, "mostly") == 0 ||
					strcmp(key, "where") == 0)
					continue;
				pushJsonbValue(&ps, WJB_KEY, &k);
				pushJsonbValue(&ps, WJB_VALUE, &val);
			}
			args = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
			name = store_expectation(t, kind, args, item_text(item, "severity", n),
									 item_text(item, "mostly", n),
									 item_text(item, "where", n),
									 item_text(item, "name", n), true, "yaml");
			if (lh_name_in_list(names, name))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("expectation \"%s\" is declared twice for table %s", name, t->display),
						 errhint("Give one of them a different name.")));
			names = lappend(names, name);
			n++;
		}
	}
	{
		Oid			types[2] = {INT4OID, TEXTARRAYOID};
		Datum		values[2];

		values[0] = Int32GetDatum(t->table_id);
		values[1] = lh_text_array(names);
		catalog_exec("DELETE FROM lakehouse.dq_expectations"
					 " WHERE table_id = $1 AND origin = 'yaml' AND name <> ALL ($2)",
					 2, types, values, NULL, SPI_OK_DELETE);
	}
	security_table_end(&id);
	SPI_finish();
	PG_RETURN_INT32(n);
}

/*
 * Build, check and store (insert, or update the one of the same name) an
 * expectation for another declaring file: the dq.yaml quality files of
 * dqconfig.c (origin 'quality_config').  Returns its name.  Caller is
 * connected to SPI and has checked the right to alter the table.
 */
char *
dq_store_expectation(DqTable *t, const char *kind, Jsonb *args,
					 const char *severity, const char *mostly,
					 const char *where, const char *name, const char *origin)
{
	return store_expectation(t, kind, args, severity, mostly, where, name, true,
							 origin);
}

/*-------------------------------------------------------------------------
 *
 * contract_odcs.c
 *	  Reading Open Data Contract Standard (ODCS) v3.1 documents: JSON or
 *	  YAML text to jsonb, validation against the parts of the standard we
 *	  use, and the ContractDef the rest of src/contract works from.
 *
 * Validation follows the official JSON schema (vendored for the tests in
 * test/schemas/odcs/): the required top-level fields, apiVersion v3.x, kind
 * "DataContract", no unrecognized keys where the schema forbids them
 * (top level, schema objects, properties, quality rules), the JSON type of
 * every field we read, the logicalType enumeration and the
 * logicalTypeOptions allowed for each logical type.  Every error names the
 * JSON path of the problem ("$.schema[0].properties[2].logicalType").
 * Parts of the standard that lakehouse cannot enforce (SQL and custom
 * quality rules, object and array options, multipleOf) are refused with an
 * error rather than ignored, so an attached contract always means what it
 * says.  Descriptive parts (team, support, servers, descriptions, tags,
 * "text" quality rules, ...) are accepted and kept in the stored document.
 *
 * YAML goes through the pipeline YAML reader (src/declare/yaml_read.c,
 * lh_yaml_to_json): one converter for the whole extension.
 *
 * Nothing here touches the catalog or takes locks; everything is palloc'd
 * in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "declare/declare.h"
#include "contract/contract.h"
#include "lakehouse.h"

static const char *const top_keys[] = {
	"apiVersion", "authoritativeDefinitions", "contractCreatedTs",
	"customProperties", "dataProduct", "description", "domain", "id", "kind",
	"name", "price", "roles", "schema", "servers", "slaDefaultElement",
	"slaProperties", "status", "support", "tags", "team", "tenant", "version",
	NULL
};

static const char *const object_keys[] = {
	"logicalType", "physicalName", "dataGranularityDescription", "properties",
	"relationships", "quality", "id", "name", "physicalType", "description",
	"businessName", "authoritativeDefinitions", "tags", "customProperties",
	NULL
};

static const char *const property_keys[] = {
	"primaryKey", "primaryKeyPosition", "logicalType", "logicalTypeOptions",
	"physicalType", "physicalName", "required", "unique", "partitioned",
	"partitionKeyPosition", "classification", "encryptedName",
	"transformSourceObjects", "transformLogic", "transformDescription",
	"examples", "criticalDataElement", "relationships", "quality", "id",
	"name", "description", "businessName", "authoritativeDefinitions", "tags",
	"customProperties", "items", "properties", NULL
};

static const char *const quality_keys[] = {
	"id", "authoritativeDefinitions", "businessImpact", "customProperties",
	"description", "dimension", "method", "name", "schedule", "scheduler",
	"severity", "tags", "type", "unit", "metric", "rule", "arguments",
	"mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo",
	"mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween",
	"mustNotBeBetween", "query", "engine", "implementation", NULL
};

static const char *const relationship_keys[] = {
	"type", "from", "to", "customProperties", NULL
};

static const char *const logical_types[] = {
	"string", "date", "timestamp", "time", "number", "integer", "object",
	"array", "boolean", NULL
};

static const char *const operators[] = {
	"mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo",
	"mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween",
	"mustNotBeBetween", NULL
};

/* Formats of string values that the row trigger checks, as regexes. */
static const char *const formats[][2] = {
	{"email", "^[^@[:space:]]+@[^@[:space:]]+\\.[^@[:space:]]+$"},
	{"uuid", "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"},
	{"date-time", "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?$"},
	{"date", "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
	{"ipv4", "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"},
	{"uri", "^[A-Za-z][A-Za-z0-9+.-]*:[^[:space:]]+$"},
	{NULL, NULL}
};

static void odcs_fail(const char *path, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/*
 * Report an invalid document: the primary message is always the same, the
 * detail names the path and what is wrong there.
 */
static void
odcs_fail(const char *path, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid data contract"),
			 errdetail("At %s: %s.", path, buf.data),
			 errhint("A data contract is an Open Data Contract Standard v3.1 document; see contrib-docs/contracts.md for what lakehouse supports.")));
}

/* "a string", "a number", ... for messages. */
static const char *
jv_kind(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "a list" : "an object";
		default:
			return "a value";
	}
}

static bool
jv_is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

static bool
jv_is_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

static char *
jv_text(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static JsonbValue *
get_key(JsonbContainer *c, const char *key)
{
	JsonbValue	res;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &res) == NULL)
		return NULL;
	return (JsonbValue *) memcpy(palloc(sizeof(JsonbValue)), &res, sizeof(JsonbValue));
}

static char *
key_path(const char *path, const char *key)
{
	return psprintf("%s.%s", path, key);
}

/* Every key of an object must be one of allowed. */
static void
check_keys(JsonbContainer *c, const char *const *allowed, const char *path,
		   const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const char *const *k;
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = jv_text(&v);
		for (k = allowed; *k; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k == NULL)
			odcs_fail(path, "unrecognized key \"%s\" in %s", key, what);
	}
}

static char *
get_string(JsonbContainer *c, const char *key, const char *path, bool required)
{
	JsonbValue *v = get_key(c, key);

	if (v == NULL)
	{
		if (required)
			odcs_fail(path, "required key \"%s\" is missing", key);
		return NULL;
	}
	if (v->type != jbvString)
		odcs_fail(key_path(path, key), "expected a string but found %s", jv_kind(v));
	return jv_text(v);
}

static bool
get_bool(JsonbContainer *c, const char *key, const char *path)
{
	JsonbValue *v = get_key(c, key);

	if (v == NULL)
		return false;
	if (v->type != jbvBool)
		odcs_fail(key_path(path, key), "expected true or false but found %s", jv_kind(v));
	return v->val.boolean;
}

static double
jv_number(JsonbValue *v, const char *path)
{
	if (v->type != jbvNumeric)
		odcs_fail(path, "expected a number but found %s", jv_kind(v));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											  NumericGetDatum(v->val.numeric)));
}

static int
get_int(JsonbContainer *c, const char *key, const char *path, int defval,
		int minval)
{
	JsonbValue *v = get_key(c, key);
	double		d;

	if (v == NULL)
		return defval;
	d = jv_number(v, key_path(path, key));
	if (d != (double) (int) d)
		odcs_fail(key_path(path, key), "expected an integer but found %g", d);
	if (d < minval)
		odcs_fail(key_path(path, key), "expected an integer of at least %d but found %d",
				  minval, (int) d);
	return (int) d;
}

/* An optional list; returns its container, or NULL if absent. */
static JsonbContainer *
get_array(JsonbContainer *c, const char *key, const char *path)
{
	JsonbValue *v = get_key(c, key);

	if (v == NULL)
		return NULL;
	if (!jv_is_array(v))
		odcs_fail(key_path(path, key), "expected a list but found %s", jv_kind(v));
	return v->val.binary.data;
}

static JsonbContainer *
array_object(JsonbContainer *arr, int i, const char *path)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);

	if (!jv_is_object(v))
		odcs_fail(path, "expected an object but found %s", jv_kind(v));
	return v->val.binary.data;
}

static bool
in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/*
 * contract_format_pattern
 *		The regex the row trigger uses for a checked string format, or NULL.
 */
const char *
contract_format_pattern(const char *format)
{
	for (int i = 0; formats[i][0]; i++)
		if (strcmp(formats[i][0], format) == 0)
			return formats[i][1];
	return NULL;
}

/*
 * contract_type_compatible
 *		Can a column of type typid hold values of an ODCS logical type?
 */
bool
contract_type_compatible(const char *logical_type, Oid typid)
{
	char		category;
	bool		preferred;

	typid = getBaseType(typid);
	get_type_category_preferred(typid, &category, &preferred);
	if (strcmp(logical_type, "string") == 0)
		return category == TYPCATEGORY_STRING || typid == UUIDOID;
	if (strcmp(logical_type, "integer") == 0)
		return typid == INT2OID || typid == INT4OID || typid == INT8OID ||
			typid == NUMERICOID;
	if (strcmp(logical_type, "number") == 0)
		return category == TYPCATEGORY_NUMERIC && typid != OIDOID &&
			typid != REGCLASSOID && typid != REGPROCOID && typid != REGTYPEOID;
	if (strcmp(logical_type, "boolean") == 0)
		return typid == BOOLOID;
	if (strcmp(logical_type, "date") == 0)
		return typid == DATEOID;
	if (strcmp(logical_type, "timestamp") == 0)
		return typid == TIMESTAMPOID || typid == TIMESTAMPTZOID;
	if (strcmp(logical_type, "time") == 0)
		return typid == TIMEOID || typid == TIMETZOID;
	if (strcmp(logical_type, "object") == 0)
		return typid == JSONOID || typid == JSONBOID || category == TYPCATEGORY_COMPOSITE;
	if (strcmp(logical_type, "array") == 0)
		return typid == JSONOID || typid == JSONBOID || category == TYPCATEGORY_ARRAY;
	return false;
}

/*
 * contract_physical_type
 *		Resolve a physicalType as a PostgreSQL type name; false if it names
 *		no type.  Text that is not type syntax at all raises the parser's
 *		syntax error (callers add an error context naming the property).
 */
bool
contract_physical_type(const char *physical_type, Oid *typid, int32 *typmod)
{
	parseTypeString(physical_type, typid, typmod, true);
	return OidIsValid(*typid);
}

/* YAML text to JSON text; frees libyaml's memory on error too. */
static pg_noinline char *
yaml_to_json(const char *text)
{
	LhCfgParser *parser = palloc0(sizeof(LhCfgParser));
	char	   *volatile json = NULL;

	parser->input = (const unsigned char *) text;
	parser->input_len = strlen(text);
	PG_TRY();
	{
		json = lh_yaml_to_json(parser);
	}
	PG_FINALLY();
	{
		lh_cfg_release(parser);
	}
	PG_END_TRY();
	return json;
}

/*
 * contract_text_to_jsonb
 *		A contract as written (JSON, or YAML) to jsonb.  Text whose first
 *		non-blank character is '{' is JSON; anything else is YAML (of which
 *		JSON is a subset, but the JSON parser gives better messages).
 */
Jsonb *
contract_text_to_jsonb(const char *text)
{
	const char *p = text;
	char	   *json;
	Jsonb	   *result;
	size_t		len = strlen(text);

	if (len > (size_t) lh_max_config_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("data contract is too large"),
				 errdetail("The document has %zu bytes; the limit is %d bytes (lakehouse.max_config_bytes).",
						   len, lh_max_config_bytes)));
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == '{')
	{
		if (lh_json_too_deep(text, (int) len))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("data contract nests too deeply"),
					 errdetail("JSON documents nest at most %d levels.", LH_MAX_JSON_DEPTH)));
		json = pstrdup(text);
	}
	else
		json = yaml_to_json(text);
	result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	if (!JB_ROOT_IS_OBJECT(result) || JB_ROOT_IS_SCALAR(result))
		odcs_fail("$", "expected an object at the top level");
	return result;
}

/* logicalTypeOptions of one property. */
static void
parse_options(ContractColumn *col, JsonbContainer *opts, const char *path)
{
	static const char *const string_opts[] = {"minLength", "maxLength", "pattern", "format", NULL};
	static const char *const date_opts[] = {"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", NULL};
	static const char *const ts_opts[] = {"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "timezone", "defaultTimezone", NULL};
	static const char *const num_opts[] = {"format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", NULL};
	static const char *const bound_names[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", NULL};
	const char *lt = col->logical_type;
	bool		numeric;

	if (lt == NULL)
		odcs_fail(path, "logicalTypeOptions need a logicalType");
	if (strcmp(lt, "object") == 0 || strcmp(lt, "array") == 0 ||
		strcmp(lt, "boolean") == 0)
		odcs_fail(path, "logicalTypeOptions of logical type \"%s\" are not supported", lt);
	numeric = strcmp(lt, "integer") == 0 || strcmp(lt, "number") == 0;
	if (strcmp(lt, "string") == 0)
		check_keys(opts, string_opts, path, "logicalTypeOptions of a string");
	else if (strcmp(lt, "date") == 0)
		check_keys(opts, date_opts, path, "logicalTypeOptions of a date");
	else if (numeric)
		check_keys(opts, num_opts, path, strcmp(lt, "integer") == 0 ?
				   "logicalTypeOptions of an integer" : "logicalTypeOptions of a number");
	else
		check_keys(opts, ts_opts, path, psprintf("logicalTypeOptions of a %s", lt));

	if (get_key(opts, "multipleOf"))
		odcs_fail(key_path(path, "multipleOf"), "multipleOf is not supported");

	for (int i = 0; bound_names[i]; i++)
	{
		JsonbValue *v = get_key(opts, bound_names[i]);
		char	   *text;

		if (v == NULL)
			continue;
		if (numeric && v->type != jbvNumeric)
			odcs_fail(key_path(path, bound_names[i]), "expected a number but found %s",
					  jv_kind(v));
		if (!numeric && v->type != jbvString)
			odcs_fail(key_path(path, bound_names[i]), "expected a string but found %s",
					  jv_kind(v));
		text = lh_jsonb_scalar_text(v);
		switch (i)
		{
			case 0:
				col->minimum = text;
				break;
			case 1:
				col->maximum = text;
				break;
			case 2:
				col->exclusive_minimum = text;
				break;
			case 3:
				col->exclusive_maximum = text;
				break;
		}
	}
	if (strcmp(lt, "string") == 0)
	{
		char	   *format;

		col->min_length = get_int(opts, "minLength", path, -1, 0);
		col->max_length = get_int(opts, "maxLength", path, -1, 0);
		if (col->min_length >= 0 && col->max_length >= 0 &&
			col->min_length > col->max_length)
			odcs_fail(path, "minLength %d is greater than maxLength %d",
					  col->min_length, col->max_length);
		col->pattern = get_string(opts, "pattern", path, false);
		format = get_string(opts, "format", path, false);
		if (format && contract_format_pattern(format) == NULL)
			odcs_fail(key_path(path, "format"),
					  "unrecognized string format \"%s\" (supported: email, uuid, date-time, date, ipv4, uri)",
					  format);
		col->format = format;
	}
	else
	{
		/* formats of other types describe the source's rendering: kept only */
		(void) get_string(opts, "format", path, false);
		(void) get_string(opts, "defaultTimezone", path, false);
		(void) get_bool(opts, "timezone", path);
	}
}

/* The single operator of a quality rule; returns its name, value in *v. */
static const char *
quality_operator(JsonbContainer *q, const char *path, JsonbValue **v)
{
	const char *found = NULL;

	for (int i = 0; operators[i]; i++)
	{
		JsonbValue *x = get_key(q, operators[i]);

		if (x == NULL)
			continue;
		if (found)
			odcs_fail(path, "a quality rule has one operator, but this one has \"%s\" and \"%s\"",
					  found, operators[i]);
		found = operators[i];
		*v = x;
	}
	return found;
}

/* mustBe: 0, the only outcome a row-level rule can express. */
static void
require_zero(JsonbContainer *q, const char *path, const char *metric)
{
	JsonbValue *v = NULL;
	const char *op = quality_operator(q, path, &v);

	if (op == NULL || strcmp(op, "mustBe") != 0 || v->type != jbvNumeric ||
		jv_number(v, path) != 0)
		odcs_fail(path, "quality rule \"%s\" is supported only with \"mustBe: 0\"", metric);
}

/* Common checks of a quality rule; returns its metric, or NULL if none applies. */
static char *
quality_metric(JsonbContainer *q, const char *path)
{
	char	   *type;
	char	   *metric;
	static const char *const metrics[] = {
		"nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount", NULL
	};

	check_keys(q, quality_keys, path, "a quality rule");
	type = get_string(q, "type", path, false);
	metric = get_string(q, "metric", path, false);
	if (metric == NULL)
		metric = get_string(q, "rule", path, false);
	if (type && !in_list((const char *const[]) {"text", "library", "sql", "custom", NULL}, type))
		odcs_fail(key_path(path, "type"), "unrecognized quality rule type \"%s\"", type);
	if (type && (strcmp(type, "sql") == 0 || strcmp(type, "custom") == 0))
		odcs_fail(key_path(path, "type"),
				  "quality rules of type \"%s\" are not supported; use a library metric", type);
	if (type && strcmp(type, "text") == 0)
		return NULL;
	if (metric == NULL)
		odcs_fail(path, "required key \"metric\" is missing");
	if (!in_list(metrics, metric))
		odcs_fail(key_path(path, "metric"), "unrecognized quality metric \"%s\"", metric);
	return metric;
}

static JsonbContainer *
quality_arguments(JsonbContainer *q, const char *path)
{
	JsonbValue *v = get_key(q, "arguments");

	if (v == NULL)
		return NULL;
	if (!jv_is_object(v))
		odcs_fail(key_path(path, "arguments"), "expected an object but found %s", jv_kind(v));
	return v->val.binary.data;
}

/* Property-level quality rules. */
static void
parse_property_quality(ContractColumn *col, JsonbContainer *arr, const char *path)
{
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		char	   *qpath = psprintf("%s[%d]", path, i);
		JsonbContainer *q = array_object(arr, i, qpath);
		char	   *metric = quality_metric(q, qpath);
		JsonbContainer *args;

		if (metric == NULL)
			continue;
		if (strcmp(metric, "nullValues") == 0 || strcmp(metric, "missingValues") == 0)
		{
			require_zero(q, qpath, metric);
			col->required = true;
		}
		else if (strcmp(metric, "duplicateValues") == 0)
		{
			require_zero(q, qpath, metric);
			col->unique = true;
		}
		else if (strcmp(metric, "invalidValues") == 0)
		{
			JsonbValue *vv;
			int			m;

			require_zero(q, qpath, metric);
			args = quality_arguments(q, qpath);
			vv = args ? get_key(args, "validValues") : NULL;
			if (vv == NULL)
				odcs_fail(qpath, "quality rule \"invalidValues\" needs arguments.validValues");
			if (!jv_is_array(vv) || JsonContainerSize(vv->val.binary.data) == 0)
				odcs_fail(key_path(qpath, "arguments.validValues"),
						  "expected a non-empty list but found %s", jv_kind(vv));
			m = JsonContainerSize(vv->val.binary.data);
			for (int j = 0; j < m; j++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(vv->val.binary.data, j);
				char	   *t = lh_jsonb_scalar_text(e);

				if (t == NULL)
					odcs_fail(psprintf("%s.arguments.validValues[%d]", qpath, j),
							  "expected a string, number or boolean but found %s", jv_kind(e));
				col->valid_values = lappend(col->valid_values, t);
			}
		}
		else
			odcs_fail(key_path(qpath, "metric"),
					  "quality metric \"%s\" applies to a schema object, not to a property",
					  metric);
	}
}

/* "table.column" (ShorthandReference) into its parts. */
static void
parse_reference(const char *ref, const char *path, char **table, char **column)
{
	const char *dot = strrchr(ref, '.');

	if (dot == NULL || dot == ref || dot[1] == '\0' || strchr(ref, '/') != NULL)
		odcs_fail(path, "expected a reference of the form \"table.column\" but found \"%s\"", ref);
	*table = pnstrdup(ref, dot - ref);
	*column = pstrdup(dot + 1);
}

/* A relationship's "from" or "to": one reference or a list of them. */
static void
parse_refs(JsonbValue *v, const char *path, char **table, List **columns)
{
	List	   *refs = NIL;
	ListCell   *lc;

	if (v->type == jbvString)
		refs = list_make1(jv_text(v));
	else if (jv_is_array(v) && JsonContainerSize(v->val.binary.data) > 0)
	{
		int			n = JsonContainerSize(v->val.binary.data);

		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(v->val.binary.data, i);

			if (e->type != jbvString)
				odcs_fail(psprintf("%s[%d]", path, i), "expected a string but found %s",
						  jv_kind(e));
			refs = lappend(refs, jv_text(e));
		}
	}
	else
		odcs_fail(path, "expected a reference or a non-empty list of references but found %s",
				  jv_kind(v));

	*table = NULL;
	foreach(lc, refs)
	{
		char	   *t;
		char	   *c;

		parse_reference(lfirst(lc), path, &t, &c);
		if (*table && strcmp(*table, t) != 0)
			odcs_fail(path, "all references of a relationship must name the same table");
		*table = t;
		*columns = lappend(*columns, c);
	}
}

static void
parse_relationships(ContractDef *def, JsonbContainer *arr, const char *path,
					ContractColumn *col)
{
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		char	   *rpath = psprintf("%s[%d]", path, i);
		JsonbContainer *r = array_object(arr, i, rpath);
		ContractRelationship *rel = palloc0(sizeof(ContractRelationship));
		JsonbValue *from = get_key(r, "from");
		JsonbValue *to = get_key(r, "to");
		char	   *type;
		char	   *from_table;

		check_keys(r, relationship_keys, rpath, "a relationship");
		type = get_string(r, "type", rpath, false);
		if (type && strcmp(type, "foreignKey") != 0)
			odcs_fail(key_path(rpath, "type"), "unrecognized relationship type \"%s\"", type);
		if (to == NULL)
			odcs_fail(rpath, "required key \"to\" is missing");
		if (col)
		{
			if (from)
				odcs_fail(key_path(rpath, "from"), "a relationship of a property must not have \"from\"");
			rel->from = list_make1(col->name);
		}
		else
		{
			if (from == NULL)
				odcs_fail(rpath, "required key \"from\" is missing");
			parse_refs(from, key_path(rpath, "from"), &from_table, &rel->from);
		}
		parse_refs(to, key_path(rpath, "to"), &rel->to_table, &rel->to);
		if (list_length(rel->from) != list_length(rel->to))
			odcs_fail(rpath, "\"from\" has %d columns but \"to\" has %d",
					  list_length(rel->from), list_length(rel->to));
		def->relationships = lappend(def->relationships, rel);
	}
}

/* Schema-level quality rules: rowCount and composite duplicateValues. */
static void
parse_object_quality(ContractDef *def, JsonbContainer *arr, const char *path)
{
	int			n = JsonContainerSize(arr);

	for (int i = 0; i < n; i++)
	{
		char	   *qpath = psprintf("%s[%d]", path, i);
		JsonbContainer *q = array_object(arr, i, qpath);
		char	   *metric = quality_metric(q, qpath);

		if (metric == NULL)
			continue;
		if (strcmp(metric, "rowCount") == 0)
		{
			JsonbValue *v = NULL;
			const char *op = quality_operator(q, qpath, &v);

			if (op == NULL)
				odcs_fail(qpath, "quality rule \"rowCount\" needs an operator such as mustBeBetween");
			if (def->has_row_count)
				odcs_fail(qpath, "only one rowCount rule is allowed");
			def->has_row_count = true;
			def->row_count_op = pstrdup(op);
			if (strcmp(op, "mustBeBetween") == 0 || strcmp(op, "mustNotBeBetween") == 0)
			{
				if (!jv_is_array(v) || JsonContainerSize(v->val.binary.data) != 2)
					odcs_fail(key_path(qpath, op), "expected a list of two numbers");
				def->row_count_a = jv_number(getIthJsonbValueFromContainer(v->val.binary.data, 0),
											 key_path(qpath, op));
				def->row_count_b = jv_number(getIthJsonbValueFromContainer(v->val.binary.data, 1),
											 key_path(qpath, op));
				if (def->row_count_a >= def->row_count_b)
					odcs_fail(key_path(qpath, op), "the smaller number comes first");
			}
			else
				def->row_count_a = jv_number(v, key_path(qpath, op));
		}
		else if (strcmp(metric, "duplicateValues") == 0)
		{
			JsonbContainer *args = quality_arguments(q, qpath);
			JsonbContainer *props = args ? get_array(args, "properties", key_path(qpath, "arguments")) : NULL;
			List	   *cols = NIL;

			require_zero(q, qpath, metric);
			if (props == NULL || JsonContainerSize(props) == 0)
				odcs_fail(qpath, "quality rule \"duplicateValues\" of a schema object needs arguments.properties, a list of column names");
			for (int j = 0; j < (int) JsonContainerSize(props); j++)
			{
				JsonbValue *e = getIthJsonbValueFromContainer(props, j);

				if (e->type != jbvString)
					odcs_fail(psprintf("%s.arguments.properties[%d]", qpath, j),
							  "expected a string but found %s", jv_kind(e));
				cols = lappend(cols, jv_text(e));
			}
			def->uniques = lappend(def->uniques, cols);
		}
		else
			odcs_fail(key_path(qpath, "metric"),
					  "quality metric \"%s\" applies to a property, not to a schema object",
					  metric);
	}
}

static ContractColumn *
parse_property(ContractDef *def, JsonbContainer *p, const char *path)
{
	ContractColumn *col = palloc0(sizeof(ContractColumn));
	JsonbValue *opts;
	JsonbContainer *arr;
	char	   *name;

	check_keys(p, property_keys, path, "a property");
	name = get_string(p, "name", path, true);
	col->name = get_string(p, "physicalName", path, false);
	if (col->name == NULL)
		col->name = name;
	if (col->name[0] == '\0')
		odcs_fail(key_path(path, "name"), "a property name must not be empty");
	col->path = pstrdup(path);
	col->min_length = col->max_length = -1;
	col->logical_type = get_string(p, "logicalType", path, false);
	if (col->logical_type && !in_list(logical_types, col->logical_type))
		odcs_fail(key_path(path, "logicalType"),
				  "unrecognized logicalType \"%s\" (expected one of string, date, timestamp, time, number, integer, object, array, boolean)",
				  col->logical_type);
	col->physical_type = get_string(p, "physicalType", path, false);
	col->required = get_bool(p, "required", path);
	col->unique = get_bool(p, "unique", path);
	if (get_bool(p, "primaryKey", path))
		col->pk_position = get_int(p, "primaryKeyPosition", path, -1, -1);
	else
		(void) get_int(p, "primaryKeyPosition", path, -1, -1);
	if (get_bool(p, "primaryKey", path) && col->pk_position <= 0)
		col->pk_position = 1000000;	/* after the numbered ones */
	col->classification = get_string(p, "classification", path, false);
	(void) get_bool(p, "partitioned", path);
	(void) get_bool(p, "criticalDataElement", path);

	opts = get_key(p, "logicalTypeOptions");
	if (opts)
	{
		if (!jv_is_object(opts))
			odcs_fail(key_path(path, "logicalTypeOptions"), "expected an object but found %s",
					  jv_kind(opts));
		parse_options(col, opts->val.binary.data, key_path(path, "logicalTypeOptions"));
	}
	if ((arr = get_array(p, "quality", path)))
		parse_property_quality(col, arr, key_path(path, "quality"));
	if ((arr = get_array(p, "relationships", path)))
		parse_relationships(def, arr, key_path(path, "relationships"), col);
	if (get_key(p, "properties") || get_key(p, "items"))
		odcs_fail(path, "nested properties are not supported: a gold table's columns are flat");
	return col;
}

static int
pk_cmp(const ListCell *a, const ListCell *b)
{
	const ContractColumn *x = lfirst(a);
	const ContractColumn *y = lfirst(b);

	return (x->pk_position > y->pk_position) - (x->pk_position < y->pk_position);
}

/*
 * contract_parse
 *		Validate an ODCS document and return the definition of the schema
 *		object that describes table_name: the object whose physicalName (or
 *		else name) is the table's name, or the only object.  table_name NULL:
 *		the first object.
 */
ContractDef *
contract_parse(Jsonb *doc, const char *table_name)
{
	ContractDef *def = palloc0(sizeof(ContractDef));
	JsonbContainer *root = &doc->root;
	JsonbContainer *schema;
	JsonbContainer *obj = NULL;
	char	   *kind;
	char	   *objpath = NULL;
	List	   *pk = NIL;
	ListCell   *lc;
	int			n;

	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		odcs_fail("$", "expected an object at the top level");
	check_keys(root, top_keys, "$", "a data contract");
	def->api_version = get_string(root, "apiVersion", "$", true);
	if (strncmp(def->api_version, "v3.", 3) != 0 ||
		!in_list((const char *const[]) {"v3.1.0", "v3.0.2", "v3.0.1", "v3.0.0", NULL},
				 def->api_version))
		odcs_fail("$.apiVersion", "expected one of v3.1.0, v3.0.2, v3.0.1, v3.0.0 but found \"%s\"",
				  def->api_version);
	kind = get_string(root, "kind", "$", true);
	if (strcmp(kind, "DataContract") != 0)
		odcs_fail("$.kind", "expected \"DataContract\" but found \"%s\"", kind);
	def->id = get_string(root, "id", "$", true);
	def->version = get_string(root, "version", "$", true);
	(void) get_string(root, "status", "$", true);
	def->name = get_string(root, "name", "$", false);
	if (def->name == NULL)
		def->name = def->id;

	schema = get_array(root, "schema", "$");
	if (schema == NULL || JsonContainerSize(schema) == 0)
		odcs_fail("$", "the contract has no \"schema\" object describing the table");
	n = JsonContainerSize(schema);
	for (int i = 0; i < n; i++)
	{
		char	   *path = psprintf("$.schema[%d]", i);
		JsonbContainer *o = array_object(schema, i, path);
		char	   *oname;
		char	   *pname;
		char	   *lt;

		check_keys(o, object_keys, path, "a schema object");
		oname = get_string(o, "name", path, true);
		pname = get_string(o, "physicalName", path, false);
		lt = get_string(o, "logicalType", path, false);
		if (lt && strcmp(lt, "object") != 0)
			odcs_fail(key_path(path, "logicalType"), "expected \"object\" but found \"%s\"", lt);
		(void) get_string(o, "physicalType", path, false);
		if (obj == NULL &&
			(table_name == NULL || n == 1 ||
			 strcmp(pname ? pname : oname, table_name) == 0))
		{
			obj = o;
			objpath = path;
			def->object_name = pname ? pname : oname;
			def->object_index = i;
		}
	}
	if (obj == NULL)
		odcs_fail("$.schema", "no schema object has the name or physicalName \"%s\"", table_name);

	{
		JsonbContainer *props = get_array(obj, "properties", objpath);
		JsonbContainer *arr;

		if (props == NULL || JsonContainerSize(props) == 0)
			odcs_fail(objpath, "the schema object has no properties");
		n = JsonContainerSize(props);
		for (int i = 0; i < n; i++)
		{
			char	   *ppath = psprintf("%s.properties[%d]", objpath, i);
			ContractColumn *col = parse_property(def, array_object(props, i, ppath), ppath);

			foreach(lc, def->columns)
				if (strcmp(((ContractColumn *) lfirst(lc))->name, col->name) == 0)
					odcs_fail(ppath, "property \"%s\" is declared more than once", col->name);
			def->columns = lappend(def->columns, col);
			if (col->pk_position > 0)
				pk = lappend(pk, col);
		}
		if ((arr = get_array(obj, "quality", objpath)))
			parse_object_quality(def, arr, key_path(objpath, "quality"));
		if ((arr = get_array(obj, "relationships", objpath)))
			parse_relationships(def, arr, key_path(objpath, "relationships"), NULL);
	}

	list_sort(pk, pk_cmp);
	foreach(lc, pk)
	{
		ContractColumn *col = lfirst(lc);

		if (foreach_current_index(lc) > 0 &&
			((ContractColumn *) list_nth(pk, foreach_current_index(lc) - 1))->pk_position == col->pk_position &&
			col->pk_position != 1000000)
			odcs_fail(col->path, "primaryKeyPosition %d is used twice", col->pk_position);
		def->primary_key = lappend(def->primary_key, col->name);
	}
	/* composite unique and relationship columns must be properties */
	foreach(lc, def->uniques)
	{
		ListCell   *lc2;

		foreach(lc2, (List *) lfirst(lc))
		{
			bool		found = false;
			ListCell   *lc3;

			foreach(lc3, def->columns)
				if (strcmp(((ContractColumn *) lfirst(lc3))->name, lfirst(lc2)) == 0)
					found = true;
			if (!found)
				odcs_fail(key_path(objpath, "quality"),
						  "duplicateValues names \"%s\", which is not a property",
						  (char *) lfirst(lc2));
		}
	}
	return def;
}

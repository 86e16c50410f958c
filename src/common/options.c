/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Reading source options stored as a jsonb object.
 *
 * Options arrive from SQL (a jsonb argument) or YAML (converted to jsonb),
 * so a boolean may be a JSON boolean or the string "true", and a number a
 * JSON number or a string.  These readers accept both and raise a clear
 * error for anything else.  Unknown keys are rejected by
 * lh_check_option_keys so that a typo never becomes a silent no-op.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "lakehouse.h"

bool
lh_option_lookup(Jsonb *options, const char *key, JsonbValue *out)
{
	JsonbValue *v;

	if (options == NULL || !JB_ROOT_IS_OBJECT(options))
		return false;
	v = getKeyJsonValueFromContainer(&options->root, key, strlen(key), out);
	return v != NULL && v->type != jbvNull;
}

/*
 * lh_check_option_keys
 *		Raise an error if options is not an object or has a key not in allowed
 *		(a NULL-terminated array).
 */
void
lh_check_option_keys(Jsonb *options, const char *const *allowed,
					 const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			level = 0;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of %s must be a JSON object", what)));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			level++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			level--;
		else if (tok == WJB_KEY && level == 1)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
			const char *const *a;
			StringInfoData valid;

			for (a = allowed; *a; a++)
				if (strcmp(*a, key) == 0)
					break;
			if (*a)
				continue;

			initStringInfo(&valid);
			for (a = allowed; *a; a++)
				appendStringInfo(&valid, "%s%s", a == allowed ? "" : ", ", *a);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized option \"%s\" for %s", key, what),
					 errhint("Valid options are: %s.", valid.data)));
		}
	}
}

/*
 * lh_option_text
 *		The option as a palloc'd string, or NULL when absent or null.
 *		Scalars are converted to their text form; objects and arrays are an
 *		error.
 */
char *
lh_option_text(Jsonb *options, const char *key)
{
	JsonbValue	v;

	if (!lh_option_lookup(options, key, &v))
		return NULL;
	switch (v.type)
	{
		case jbvString:
			return pnstrdup(v.val.string.val, v.val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v.val.numeric)));
		case jbvBool:
			return pstrdup(v.val.boolean ? "true" : "false");
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be a string, number or boolean",
							key)));
	}
	return NULL;				/* keep compiler quiet */
}

bool
lh_option_bool(Jsonb *options, const char *key, bool defval)
{
	JsonbValue	v;
	bool		result;

	if (!lh_option_lookup(options, key, &v))
		return defval;
	if (v.type == jbvBool)
		return v.val.boolean;
	if (v.type == jbvString)
	{
		char	   *s = pnstrdup(v.val.string.val, v.val.string.len);

		if (parse_bool(s, &result))
			return result;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" requires a Boolean value", key)));
	return defval;				/* keep compiler quiet */
}

int64
lh_option_int(Jsonb *options, const char *key, int64 defval)
{
	char	   *s = lh_option_text(options, key);
	char	   *end;
	long long	val;

	if (s == NULL)
		return defval;
	errno = 0;
	val = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" requires an integer value", key),
				 errdetail("Value given: \"%s\".", s)));
	return (int64) val;
}

/*
 * lh_option_object
 *		The value of an option that must be a JSON object, or NULL if it
 *		is absent; what names the owner in the error ("a kafka source").
 */
Jsonb *
lh_option_object(Jsonb *options, const char *key, const char *what)
{
	JsonbValue	v;
	Jsonb	   *jb = NULL;

	if (!lh_option_lookup(options, key, &v))
		return NULL;
	if (v.type == jbvBinary)
		jb = JsonbValueToJsonb(&v);
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" of %s must be a JSON object", key, what)));
	return jb;
}

/*
 * A JSON scalar as text: strings unquoted, numbers as written, booleans as
 * true/false; NULL for null, arrays and objects.
 */
char *
lh_jsonb_scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

/*
 * lh_option_pairs
 *		Call fn(key, text, arg) for each pair of a flat JSON object, text
 *		being the value as lh_jsonb_scalar_text gives it (NULL for null,
 *		arrays and objects: fn decides).  A NULL object has no pairs.
 */
void
lh_option_pairs(Jsonb *obj, LhOptionPairFn fn, void *arg)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (obj == NULL)
		return;
	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
			fn(key, lh_jsonb_scalar_text(&v), arg);
	}
}

/*
 * lh_option_differs
 *		Whether the text of option key differs between two option objects
 *		(absent on one side only counts as different).
 */
bool
lh_option_differs(Jsonb *a, Jsonb *b, const char *key)
{
	char	   *x = lh_option_text(a, key);
	char	   *y = lh_option_text(b, key);

	if (x == NULL || y == NULL)
		return (x == NULL) != (y == NULL);
	return strcmp(x, y) != 0;
}

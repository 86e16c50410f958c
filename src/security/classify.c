/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  Column classifications (silver column mappings and lh_classify), and
 *	  the SQL-callable audit entry point.
 *
 * A silver mapping column may carry "classification" (pii, sensitive,
 * confidential, restricted, internal, public) and "masking" (hash,
 * partial, full, none).  lh_define_silver hands the mapping here after it
 * stored the columns; the classifications of that table that came from a
 * mapping are replaced by the new ones in one set-based statement.
 * lh_classify classifies a column of any table the caller owns.  Both
 * write lakehouse.column_classifications through catalog_exec, after the
 * caller's rights were checked.  Contract classifications live in
 * lakehouse.contract_columns; lh_apply_masking reads both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"
#include "utils/jsonb.h"

#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_audit);
PG_FUNCTION_INFO_V1(lh_classify);

static const char *const classifications[] = {
	"pii", "sensitive", "confidential", "restricted", "internal", "public", NULL
};
static const char *const maskings[] = {"hash", "partial", "full", "none", NULL};

static void
check_word(const char *column, const char *key, JsonbValue *v,
		   const char *const *allowed)
{
	int			i;

	if (v->type == jbvString)
		for (i = 0; allowed[i]; i++)
			if (strlen(allowed[i]) == v->val.string.len &&
				strncmp(allowed[i], v->val.string.val, v->val.string.len) == 0)
				return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s of column \"%s\"", key, column),
			 allowed == classifications
			 ? errhint("Use pii, sensitive, confidential, restricted, internal or public.")
			 : errhint("Use hash, partial, full or none.")));
}

/*
 * security_store_mapping_classification
 *		Record the classifications of a silver mapping.  The caller is
 *		connected to SPI; columns were already validated by the mapping
 *		parser (an array of objects with a string "name").
 */
void
security_store_mapping_classification(const char *schema, const char *table,
									  Jsonb *columns)
{
	JsonbIterator *it = JsonbIteratorInit(&columns->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	Oid			types[3] = {TEXTOID, TEXTOID, JSONBOID};
	Datum		values[3];

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue	name,
					cls,
					msk;
		char	   *colname;

		if (tok != WJB_ELEM || v.type != jbvBinary)
			continue;
		if (!getKeyJsonValueFromContainer(v.val.binary.data, "name", 4, &name) ||
			name.type != jbvString)
			continue;
		colname = pnstrdup(name.val.string.val, name.val.string.len);
		if (getKeyJsonValueFromContainer(v.val.binary.data, "classification", 14, &cls))
			check_word(colname, "classification", &cls, classifications);
		if (getKeyJsonValueFromContainer(v.val.binary.data, "masking", 7, &msk))
		{
			check_word(colname, "masking", &msk, maskings);
			if (!getKeyJsonValueFromContainer(v.val.binary.data, "classification", 14, &cls))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" has a masking but no classification", colname)));
		}
	}

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	values[2] = JsonbPGetDatum(columns);
	catalog_exec("WITH gone AS (DELETE FROM lakehouse.column_classifications"
				 " WHERE schema_name = $1 AND table_name = $2 AND origin = 'mapping')"
				 " INSERT INTO lakehouse.column_classifications AS k"
				 " (schema_name, table_name, column_name, classification, masking, origin)"
				 " SELECT $1, $2, c->>'name', c->>'classification', c->>'masking', 'mapping'"
				 " FROM jsonb_array_elements($3) c WHERE c ? 'classification'"
				 " ON CONFLICT (schema_name, table_name, column_name) DO UPDATE"
				 " SET classification = excluded.classification,"
				 " masking = excluded.masking, origin = 'mapping'",
				 3, types, values, NULL, SPI_OK_INSERT);
}

/*
 * lh_audit(action text, object_kind text, object_name text, details jsonb)
 *		Append an audit record (for administrators' own procedures and the
 *		SQL-language security functions).
 */
Datum
lh_audit(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit action and object kind must not be null")));
	if (!security_is_admin(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write the audit log"),
				 errdetail("Only lakehouse administrators can add audit records.")));
	SPI_connect();
	security_audit(text_to_cstring(PG_GETARG_TEXT_PP(0)),
				   text_to_cstring(PG_GETARG_TEXT_PP(1)),
				   PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
				   PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3));
	SPI_finish();
	PG_RETURN_VOID();
}

/* Is word one of the allowed values? */
static bool
word_in(const char *word, const char *const *allowed)
{
	for (int i = 0; allowed[i]; i++)
		if (strcmp(word, allowed[i]) == 0)
			return true;
	return false;
}

/*
 * lh_classify(table_name, column_name, classification, masking)
 *		Classify a column of a table one owns (classifying is part of
 *		defining the table); classification NULL removes it.
 */
Datum
lh_classify(PG_FUNCTION_ARGS)
{
	char	   *tname;
	char	   *column;
	char	   *cls = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *masking = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	Oid			relid;
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name and column name must not be null")));
	tname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	column = text_to_cstring(PG_GETARG_TEXT_PP(1));
	relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(tname)),
							 NoLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist", tname)));
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", tname)));
	if (get_attnum(relid, column) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", column, tname)));
	if (cls && !word_in(cls, classifications))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid classification \"%s\"", cls),
				 errhint("Use pii, sensitive, confidential, restricted, internal or public.")));
	if (cls && masking && !word_in(masking, maskings))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid masking \"%s\"", masking),
				 errhint("Use hash, partial, full or none.")));

	values[0] = CStringGetTextDatum(get_namespace_name(get_rel_namespace(relid)));
	values[1] = CStringGetTextDatum(get_rel_name(relid));
	values[2] = CStringGetTextDatum(column);
	values[3] = catalog_text_or_null(cls, &nulls[3]);
	values[4] = catalog_text_or_null(masking, &nulls[4]);
	SPI_connect();
	if (cls == NULL)
		catalog_exec("DELETE FROM lakehouse.column_classifications"
					 " WHERE schema_name = $1 AND table_name = $2 AND column_name = $3",
					 3, types, values, nulls, SPI_OK_DELETE);
	else
		catalog_exec("INSERT INTO lakehouse.column_classifications AS k"
					 " (schema_name, table_name, column_name, classification, masking, origin)"
					 " VALUES ($1, $2, $3, $4, $5, 'sql')"
					 " ON CONFLICT ON CONSTRAINT column_classifications_pkey"
					 " DO UPDATE SET classification = excluded.classification,"
					 " masking = excluded.masking, origin = 'sql'",
					 5, types, values, nulls, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}

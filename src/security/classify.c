/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  Column classifications declared in silver column mappings, and the
 *	  SQL-callable audit entry point.
 *
 * A silver mapping column may carry "classification" (pii, sensitive,
 * confidential, restricted, internal, public) and "masking" (hash,
 * partial, full, none).  lh_define_silver hands the mapping here after it
 * stored the columns; the classifications of that table that came from a
 * mapping are replaced by the new ones in one set-based statement, with
 * the caller's rights like the rest of the definition (lakehouse_engineer
 * may write lakehouse.column_classifications).  Contract classifications live in
 * lakehouse.contract_columns; lh_apply_masking reads both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_audit);

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

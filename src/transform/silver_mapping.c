/*-------------------------------------------------------------------------
 *
 * silver_mapping.c
 *	  Silver column mappings: validating them, reading them from the
 *	  catalog, and creating or checking the silver table they describe.
 *
 * A mapping says where a column's value is in the bronze payload (a JSON
 * path), its type, whether it is required, the text transforms applied
 * before conversion (trim, lower, upper, nullif_empty), a default and a
 * value range.  lh_define_silver validates the whole list here before
 * anything is written: types must exist, literals (default, min, max)
 * must convert to the type, keys and order_by must be mapped columns.
 * The executing side (silver.c) compiles what silver_load_columns returns.
 *
 * Callers that create or check tables are connected to SPI; no state is
 * kept between calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "evolution/evolution.h"
#include "lakehouse.h"
#include "security/security.h"
#include "transform/transform.h"

static const char *const column_keys[] = {
	"name", "path", "type", "required", "transforms", "default", "min", "max",
	"non_negative", "classification", "masking", NULL
};

/*
 * Parse a JSON path as users write it: "a.b", "$.a.b", "items[0].sku".
 */
static List *
parse_json_path(const char *path, const char *column)
{
	List	   *result = NIL;
	const char *p = path;
	StringInfoData elem;

	if (p[0] == '$')
	{
		p++;
		if (*p == '.')
			p++;
	}
	initStringInfo(&elem);
	while (true)
	{
		if (*p == '.' || *p == '[' || *p == '\0')
		{
			if (elem.len > 0)
				result = lappend(result, pstrdup(elem.data));
			else if (*p == '.' || (*p == '\0' && result == NIL))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid JSON path \"%s\" for column \"%s\"",
								path, column),
						 errhint("Write paths as key.key or key[0].key.")));
			resetStringInfo(&elem);
			if (*p == '\0')
				break;
			if (*p == '[')
			{
				const char *close = strchr(p, ']');

				if (close == NULL || close == p + 1 ||
					strspn(p + 1, "0123456789") != (size_t) (close - p - 1))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid JSON path \"%s\" for column \"%s\"",
									path, column),
							 errdetail("An array subscript must be a non-negative integer in brackets.")));
				result = lappend(result, pnstrdup(p + 1, close - p - 1));
				p = close + 1;
				if (*p == '.')
					p++;
				continue;
			}
			p++;
			continue;
		}
		appendStringInfoChar(&elem, *p);
		p++;
	}
	return result;
}

static char *
json_string_field(JsonbValue *v, const char *key, const char *column)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(v->val.numeric)));
	if (v->type == jbvNull)
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" of column mapping \"%s\" must be a string", key,
					column ? column : "?")));
	return NULL;
}

static bool
json_bool_field(JsonbValue *v, const char *key, const char *column)
{
	bool		result;

	if (v->type == jbvBool)
		return v->val.boolean;
	if (v->type == jbvString)
	{
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

		if (parse_bool(s, &result))
			return result;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" of column mapping \"%s\" must be a Boolean", key,
					column ? column : "?")));
	return false;
}

int
silver_transform_flag(const char *name, const char *column)
{
	if (strcmp(name, "trim") == 0)
		return LH_XFORM_TRIM;
	if (strcmp(name, "lower") == 0)
		return LH_XFORM_LOWER;
	if (strcmp(name, "upper") == 0)
		return LH_XFORM_UPPER;
	if (strcmp(name, "nullif_empty") == 0)
		return LH_XFORM_NULLIF_EMPTY;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized transform \"%s\" for column \"%s\"", name, column),
			 errhint("Valid transforms are trim, lower, upper and nullif_empty.")));
	return 0;
}

/*
 * Check that a literal (default, min, max) is valid for the column's type;
 * returns the converted value.
 */
static Datum
check_literal(LhSilverColumn *col, const char *what, const char *literal)
{
	LhTypeInput tin;
	Datum		result;
	ErrorData  *edata;

	lh_type_input_init(&tin, col->typid, col->typmod);
	if (!lh_type_input_safe(&tin, (char *) literal, &result, &edata))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\" for column \"%s\" of type %s",
						what, literal, col->name,
						format_type_with_typemod(col->typid, col->typmod)),
				 errdetail("%s", edata->message)));
	return result;
}

/*
 * Resolve the type name of a mapping (raises "type does not exist").
 */
void
silver_resolve_type(LhSilverColumn *col)
{
	TypeName   *tn = typeStringToTypeName(col->type_name);
	Type		typ = LookupTypeName(NULL, tn, &col->typmod, false);

	if (typ == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type \"%s\" does not exist", col->type_name),
				 errdetail("Column mapping \"%s\" names it.", col->name)));
	col->typid = typeTypeId(typ);
	ReleaseSysCache(typ);
	if (get_typtype(col->typid) == TYPTYPE_PSEUDO)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot have pseudo-type %s",
						col->name, format_type_be(col->typid))));
}

static void
check_range_type(LhSilverColumn *col)
{
	TypeCacheEntry *tce = lookup_type_cache(col->typid, TYPECACHE_CMP_PROC);

	if (!OidIsValid(tce->cmp_proc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot have min or max", col->name),
				 errdetail("Type %s has no ordering.", format_type_be(col->typid))));
}

/*
 * Error out on a key of a column mapping object that is not one of
 * column_keys.
 */
static void
check_mapping_keys(Jsonb *obj, const char *column)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
			const char *const *k;

			for (k = column_keys; *k; k++)
				if (strcmp(*k, key) == 0)
					break;
			if (*k == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unrecognized key \"%s\" in column mapping \"%s\"",
								key, column),
						 errhint("Valid keys are name, path, type, required, transforms, default, min, max and non_negative.")));
		}
	}
}

/*
 * Add one transform, given by name, to a column's flags and name list.
 */
static void
add_transform(LhSilverColumn *col, char *name)
{
	col->transforms |= silver_transform_flag(name, col->name);
	col->transform_names = lappend(col->transform_names, name);
}

/*
 * Read the "transforms" value of a column mapping (a string or an array of
 * strings) into the column; then refuse lower together with upper.
 */
static void
parse_transforms(LhSilverColumn *col, Jsonb *obj)
{
	JsonbValue	fv;

	if (getKeyJsonValueFromContainer(&obj->root, "transforms", 10, &fv))
	{
		if (fv.type == jbvString)
			add_transform(col, pnstrdup(fv.val.string.val, fv.val.string.len));
		else if (fv.type == jbvBinary && JsonContainerIsArray(fv.val.binary.data))
		{
			int			n = JsonContainerSize(fv.val.binary.data);

			for (int j = 0; j < n; j++)
			{
				JsonbValue *tv = getIthJsonbValueFromContainer(fv.val.binary.data, j);

				if (tv->type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("transforms of column \"%s\" must be strings",
									col->name)));
				add_transform(col, pnstrdup(tv->val.string.val, tv->val.string.len));
			}
		}
		else if (fv.type != jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("transforms of column \"%s\" must be an array of strings",
							col->name)));
	}
	if ((col->transforms & LH_XFORM_LOWER) && (col->transforms & LH_XFORM_UPPER))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot have both lower and upper transforms",
						col->name)));
}

/*
 * Read the "default", "min" and "max" literals of a column mapping
 * (non_negative stands for min 0) and check them: each converts to the
 * column's type, a range needs an ordered type, min is not above max and
 * the default lies inside the range.
 */
static void
parse_literals(LhSilverColumn *col, Jsonb *obj, bool non_negative)
{
	JsonbValue	fv;

	if (getKeyJsonValueFromContainer(&obj->root, "default", 7, &fv))
		col->default_value = json_string_field(&fv, "default", col->name);
	if (getKeyJsonValueFromContainer(&obj->root, "min", 3, &fv))
		col->min_value = json_string_field(&fv, "min", col->name);
	if (getKeyJsonValueFromContainer(&obj->root, "max", 3, &fv))
		col->max_value = json_string_field(&fv, "max", col->name);
	if (non_negative)
	{
		if (col->min_value != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" cannot have both min and non_negative",
							col->name)));
		col->min_value = pstrdup("0");
	}
	if (col->default_value)
		(void) check_literal(col, "default", col->default_value);
	if (col->min_value || col->max_value)
		check_range_type(col);
	if (col->min_value || col->max_value)
	{
		FmgrInfo   *cmp = &lookup_type_cache(col->typid,
											 TYPECACHE_CMP_PROC_FINFO)->cmp_proc_finfo;
		Datum		lo = col->min_value ? check_literal(col, "min", col->min_value) : 0;
		Datum		hi = col->max_value ? check_literal(col, "max", col->max_value) : 0;

		if (col->min_value && col->max_value &&
			DatumGetInt32(FunctionCall2Coll(cmp, DEFAULT_COLLATION_OID, lo, hi)) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("min %s of column \"%s\" is above its max %s",
							col->min_value, col->name, col->max_value)));
		if (col->default_value)
		{
			Datum		d = check_literal(col, "default", col->default_value);

			if ((col->min_value &&
				 DatumGetInt32(FunctionCall2Coll(cmp, DEFAULT_COLLATION_OID, d, lo)) < 0) ||
				(col->max_value &&
				 DatumGetInt32(FunctionCall2Coll(cmp, DEFAULT_COLLATION_OID, d, hi)) > 0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("default %s of column \"%s\" is outside its range",
								col->default_value, col->name)));
		}
	}
}

/*
 * Validate the i-th (0-based) column mapping of silver table "table" and
 * return it as a new LhSilverColumn.  Duplicates across mappings are the
 * caller's to check.
 */
static LhSilverColumn *
parse_column_mapping(JsonbValue *elem, int i, const char *table)
{
	Jsonb	   *obj;
	LhSilverColumn *col = palloc0(sizeof(LhSilverColumn));
	JsonbValue	fv;
	char	   *path = NULL;
	bool		non_negative = false;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column mapping %d of silver table %s is not a JSON object",
						i + 1, table)));
	obj = JsonbValueToJsonb(elem);

	if (getKeyJsonValueFromContainer(&obj->root, "name", 4, &fv))
		col->name = json_string_field(&fv, "name", NULL);
	if (col->name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column mapping %d of silver table %s has no \"name\"",
						i + 1, table)));
	lh_check_name("column", col->name);
	if (strncmp(col->name, "_lh_", 4) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("column name \"%s\" is reserved", col->name),
				 errdetail("Names starting with \"_lh_\" are used for lineage columns.")));

	check_mapping_keys(obj, col->name);

	if (getKeyJsonValueFromContainer(&obj->root, "type", 4, &fv))
		col->type_name = json_string_field(&fv, "type", col->name);
	if (col->type_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column mapping \"%s\" of silver table %s has no \"type\"",
						col->name, table)));
	silver_resolve_type(col);

	if (getKeyJsonValueFromContainer(&obj->root, "path", 4, &fv))
		path = json_string_field(&fv, "path", col->name);
	col->path = parse_json_path(path ? path : col->name, col->name);
	if (path == NULL)
		col->path = list_make1(pstrdup(col->name));

	if (getKeyJsonValueFromContainer(&obj->root, "required", 8, &fv))
		col->required = json_bool_field(&fv, "required", col->name);
	if (getKeyJsonValueFromContainer(&obj->root, "non_negative", 12, &fv))
		non_negative = json_bool_field(&fv, "non_negative", col->name);

	parse_transforms(col, obj);
	parse_literals(col, obj, non_negative);
	return col;
}

/*
 * Check the keys and order_by of a silver table against its parsed column
 * mappings: every key must be mapped (and becomes required); order_by must
 * be mapped and needs keys.
 */
static void
check_keys_and_order(List *columns, List *keys, const char *order_by,
					 const char *table)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		char	   *key = lfirst(lc);
		ListCell   *c;
		bool		found = false;

		foreach(c, columns)
		{
			LhSilverColumn *col = lfirst(c);

			if (strcmp(col->name, key) == 0)
			{
				col->required = true;
				found = true;
			}
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" is not mapped", key),
					 errhint("Every key of silver table %s must be one of its mapped columns.",
							 table)));
	}
	if (order_by)
	{
		bool		found = false;

		foreach(lc, columns)
			if (strcmp(((LhSilverColumn *) lfirst(lc))->name, order_by) == 0)
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("order_by column \"%s\" is not mapped", order_by)));
		if (keys == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("order_by requires keys"),
					 errdetail("order_by picks the latest row among rows with the same key.")));
	}
}

/*
 * silver_parse_columns
 *		Validate the jsonb array of column mappings given to
 *		lh_define_silver and return a List of LhSilverColumn.
 */
List *
silver_parse_columns(Jsonb *columns, List *keys, const char *order_by,
					 const char *table)
{
	List	   *result = NIL;
	ListCell   *lc;
	int			ncols;

	if (!JB_ROOT_IS_ARRAY(columns) || JB_ROOT_IS_SCALAR(columns))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("columns of silver table %s must be a JSON array of objects",
						table)));
	ncols = JB_ROOT_COUNT(columns);
	if (ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("silver table %s must map at least one column", table)));

	for (int i = 0; i < ncols; i++)
	{
		LhSilverColumn *col;

		col = parse_column_mapping(getIthJsonbValueFromContainer(&columns->root, i),
								   i, table);
		foreach(lc, result)
		{
			if (strcmp(((LhSilverColumn *) lfirst(lc))->name, col->name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" is mapped more than once", col->name)));
		}
		result = lappend(result, col);
	}

	/* keys are required columns; order_by must be mapped */
	check_keys_and_order(result, keys, order_by, table);
	return result;
}

/*
 * silver_load_columns
 *		The column mappings of a silver table from the catalog.
 */
List *
silver_load_columns(int32 table_id)
{
	List	   *result = catalog_silver_columns(table_id);
	ListCell   *lc;

	foreach(lc, result)
	{
		LhSilverColumn *col = lfirst(lc);
		ListCell   *tc;

		silver_resolve_type(col);
		foreach(tc, col->transform_names)
			col->transforms |= silver_transform_flag(lfirst(tc), col->name);
	}
	return result;
}

/*
 * Create the silver table: the mapped columns (keys NOT NULL), the lineage
 * columns and a primary key on the keys; grant it to the readers.  Caller
 * is connected to SPI.
 */
static void
create_silver_table(const char *schema, const char *qname, List *columns,
					List *keys)
{
	StringInfoData sql;
	ListCell   *lc;

	lh_ensure_schema(schema);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (", qname);
	foreach(lc, columns)
	{
		LhSilverColumn *col = lfirst(lc);

		appendStringInfo(&sql, "%s %s%s, ", quote_identifier(col->name),
						 format_type_with_typemod(col->typid, col->typmod),
						 lh_name_in_list(keys, col->name) ? " NOT NULL" : "");
	}
	appendStringInfoString(&sql, "_lh_bronze_id bigint NOT NULL, _lh_run_id bigint");
	if (keys != NIL)
	{
		appendStringInfoString(&sql, ", PRIMARY KEY (");
		foreach(lc, keys)
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc) ? ", " : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfoChar(&sql, ')');
	}
	appendStringInfoChar(&sql, ')');
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "create a silver table");
	security_grant_readers(qname, false);
}

/*
 * Error out unless every mapped column exists in the existing silver
 * table's descriptor with the mapped type (the typmod only where the
 * mapping gives one).
 */
static void
check_mapped_columns(TupleDesc desc, List *columns, const char *qname)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		LhSilverColumn *col = lfirst(lc);
		AttrNumber	attnum = InvalidAttrNumber;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), col->name) == 0)
			{
				attnum = i + 1;
				if (att->atttypid != col->typid ||
					(col->typmod >= 0 && att->atttypmod != col->typmod))
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("column \"%s\" of silver table %s has type %s, but the mapping says %s",
									col->name, qname,
									format_type_with_typemod(att->atttypid, att->atttypmod),
									format_type_with_typemod(col->typid, col->typmod)),
							 errhint("Change the mapping's type, or alter the column.")));
			}
		}
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in silver table %s",
							col->name, qname),
					 errdetail("The table exists and the mapping names a column it does not have."),
					 errhint("Add the column with ALTER TABLE, or map an existing column.")));
	}
}

/*
 * Adopt an existing table: add the lineage columns (_lh_bronze_id,
 * _lh_run_id) it lacks, as the extension's own DDL.  The caller has closed
 * the relation; has_bronze_id and has_run_id say what it already has.
 */
static void
add_lineage_columns(Oid relid, const char *qname, bool has_bronze_id,
					bool has_run_id)
{
	StringInfoData sql;

	if (has_bronze_id && has_run_id)
		return;
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ", qname);
	if (!has_bronze_id)
		appendStringInfoString(&sql, "ADD COLUMN _lh_bronze_id bigint");
	if (!has_run_id)
		appendStringInfo(&sql, "%sADD COLUMN _lh_run_id bigint",
						 has_bronze_id ? "" : ", ");
	/* the extension's own change: the schema guard lets it pass */
	evolution_execute_ddl(relid, sql.data);
}

/*
 * silver_prepare_table
 *		Create the silver table if it does not exist; otherwise check that it
 *		has every mapped column with the mapped type, the lineage columns,
 *		and a unique index on the keys.  Caller is connected to SPI.
 */
void
silver_prepare_table(const char *schema, const char *table, List *columns,
					 List *keys)
{
	Oid			relid = lh_table_oid(schema, table, true);
	char	   *qname = lh_qualified_name(schema, table);
	Relation	rel;
	TupleDesc	desc;
	bool		has_bronze_id = false;
	bool		has_run_id = false;

	if (!OidIsValid(relid))
	{
		create_silver_table(schema, qname, columns, keys);
		return;
	}

	/* existing table: check the mapping against it */
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", qname)));

	check_mapped_columns(desc, columns, qname);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), "_lh_bronze_id") == 0)
			has_bronze_id = true;
		if (strcmp(NameStr(att->attname), "_lh_run_id") == 0)
			has_run_id = true;
	}
	table_close(rel, AccessShareLock);

	add_lineage_columns(relid, qname, has_bronze_id, has_run_id);

	if (keys != NIL && !lh_unique_index_on(relid, keys))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("silver table %s has no unique index on its keys", qname),
				 errhint("Create a primary key or unique index on exactly the key columns.")));
}

/*-------------------------------------------------------------------------
 *
 * tables.c
 *	  Catalog access to silver and gold tables and their stage marks
 *	  (lakehouse.tables, lakehouse.stage_marks).
 *
 * A table's owner is its pipeline's owner.  Stage marks (the last bronze
 * row projected, the definition a gold table was built from) move in the
 * stage's transaction.  All statements go through catalog_exec.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

#define TABLE_COLUMNS \
	"t.table_id, t.pipeline_id, t.layer, t.schema_name, t.table_name," \
	" t.source_id, t.keys, t.order_by, t.gold_kind, t.sql, t.options, p.owner" \
	" FROM lakehouse.tables t JOIN lakehouse.pipelines p USING (pipeline_id)"

static LhTable *
table_from_row(int row)
{
	LhTable    *t = palloc(sizeof(LhTable));
	char	   *owner;

	t->table_id = catalog_int32(row, 1, 0);
	t->pipeline_id = catalog_int32(row, 2, 0);
	t->layer = catalog_text(row, 3);
	t->schema_name = catalog_text(row, 4);
	t->table_name = catalog_text(row, 5);
	t->source_id = catalog_int32(row, 6, 0);
	t->keys = catalog_text_list(row, 7);
	t->order_by = catalog_text(row, 8);
	t->gold_kind = catalog_text(row, 9);
	t->sql = catalog_text(row, 10);
	t->options = catalog_jsonb(row, 11);
	owner = catalog_text(row, 12);
	t->owner = owner ? get_role_oid(owner, true) : InvalidOid;
	return t;
}

/* Every row of the last statement, as LhTables. */
static List *
tables_from_rows(void)
{
	List	   *result = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, table_from_row(i));
	return result;
}

/* The table with this id, or NULL. */
LhTable *
catalog_table(int32 table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};

	catalog_exec("SELECT " TABLE_COLUMNS " WHERE t.table_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? table_from_row(0) : NULL;
}

/* The registered table schema.table, or NULL. */
LhTable *
catalog_table_by_name(const char *schema, const char *table)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	catalog_exec("SELECT " TABLE_COLUMNS
				 " WHERE t.schema_name = $1 AND t.table_name = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? table_from_row(0) : NULL;
}

/*
 * catalog_table_lookup
 *		The registered table a user names: a qualified name as written, an
 *		unqualified one in silver, then in gold.  NULL if none; *schema and
 *		*table get the name as parsed (unqualified: in silver).
 */
LhTable *
catalog_table_lookup(const char *name, char **schema, char **table)
{
	LhTable    *t;

	lh_parse_table_name(name, "silver", schema, table);
	t = catalog_table_by_name(*schema, *table);
	if (t == NULL && !lh_name_is_qualified(name))
		t = catalog_table_by_name("gold", *table);
	return t;
}

/*
 * catalog_table_by_user_name
 *		catalog_table_lookup, where a name that is not registered is an
 *		error, with the closest registered name in the hint, else with hint.
 */
LhTable *
catalog_table_by_user_name(const char *name, const char *hint)
{
	char	   *schema;
	char	   *table;
	LhTable    *t = catalog_table_lookup(name, &schema, &table);
	char	   *suggestion;

	if (t != NULL)
		return t;
	suggestion = catalog_suggest_table(name, NULL);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("table \"%s\" is not a lakehouse table", name),
			 errhint("%s", suggestion ? suggestion : hint)));
	return NULL;				/* keep compiler quiet */
}

/* A pipeline's tables of one layer, in declaration order. */
List *
catalog_pipeline_tables(int32 pipeline_id, const char *layer)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(layer);
	catalog_exec("SELECT " TABLE_COLUMNS
				 " WHERE t.pipeline_id = $1 AND t.layer = $2"
				 " ORDER BY t.position, t.table_id",
				 2, types, values, NULL, SPI_OK_SELECT);
	return tables_from_rows();
}

/*
 * A pipeline's silver and gold tables, ordered by layer, schema and table
 * name (lh_apply_config prunes them in that order).
 */
List *
catalog_pipeline_tables_by_name(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	catalog_exec("SELECT " TABLE_COLUMNS " WHERE t.pipeline_id = $1"
				 " ORDER BY t.layer, t.schema_name, t.table_name",
				 1, types, values, NULL, SPI_OK_SELECT);
	return tables_from_rows();
}

/*
 * The gold tables whose SQL mentions name, ignoring case (a plain text
 * match: the ones that may read a table of that name), ordered by their
 * qualified names.
 */
List *
catalog_gold_tables_mentioning(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(name);
	catalog_exec("SELECT " TABLE_COLUMNS
				 " WHERE t.layer = 'gold' AND strpos(lower(t.sql), lower($1)) > 0"
				 " ORDER BY format('%I.%I', t.schema_name, t.table_name)",
				 1, types, values, NULL, SPI_OK_SELECT);
	return tables_from_rows();
}

/*
 * In a sql_drop event trigger: the registered tables among the tables the
 * command dropped, ordered by their qualified names.
 */
List *
catalog_tables_dropped(void)
{
	catalog_exec("SELECT " TABLE_COLUMNS
				 " WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d"
				 "   WHERE d.object_type = 'table' AND d.schema_name = t.schema_name"
				 "     AND d.object_name = t.table_name)"
				 " ORDER BY format('%I.%I', t.schema_name, t.table_name)",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	return tables_from_rows();
}

/* The qualified name of a table that reads the source, or NULL. */
char *
catalog_table_reading_source(int32 source_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT format('%I.%I', schema_name, table_name)"
				 " FROM lakehouse.tables WHERE source_id = $1 ORDER BY table_id LIMIT 1",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? catalog_text(0, 1) : NULL;
}

/*
 * Insert (table_id 0) or update a lakehouse.tables row; returns its id.
 * An update writes only when something differs.
 */
int32
catalog_table_store(int32 table_id, int32 pipeline_id, const char *layer,
					const char *schema, const char *table, int32 source_id,
					List *keys, const char *order_by, const char *kind,
					const char *sql, Jsonb *options)
{
	Oid			types[11] = {INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		values[11];
	char		nulls[11];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(table_id);
	values[1] = Int32GetDatum(pipeline_id);
	values[2] = CStringGetTextDatum(layer);
	values[3] = CStringGetTextDatum(schema);
	values[4] = CStringGetTextDatum(table);
	values[5] = Int32GetDatum(source_id);
	if (source_id == 0)
		nulls[5] = 'n';
	if (keys != NIL)
		values[6] = lh_text_array(keys);
	else
		nulls[6] = 'n';
	values[7] = catalog_text_or_null(order_by, &nulls[7]);
	values[8] = catalog_text_or_null(kind, &nulls[8]);
	values[9] = catalog_text_or_null(sql, &nulls[9]);
	/* options: '{}' unless given */
	values[10] = options ? JsonbPGetDatum(options) :
		DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));

	if (table_id == 0)
	{
		catalog_exec("INSERT INTO lakehouse.tables"
					 " (pipeline_id, layer, schema_name, table_name, source_id,"
					 " keys, order_by, gold_kind, sql, options, position)"
					 " SELECT $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
					 " coalesce(max(position) + 1, 0) FROM lakehouse.tables"
					 " WHERE pipeline_id = $2 AND layer = $3"
					 " RETURNING table_id",
					 11, types, values, nulls, SPI_OK_INSERT_RETURNING);
		return catalog_int32(0, 1, 0);
	}
	catalog_exec("UPDATE lakehouse.tables"
				 " SET source_id = $6, keys = $7, order_by = $8, gold_kind = $9,"
				 " sql = $10, options = $11, updated_at = now()"
				 " WHERE table_id = $1 AND (source_id, keys, order_by, gold_kind, sql, options)"
				 " IS DISTINCT FROM ($6, $7, $8, $9, $10, $11)",
				 11, types, values, nulls, SPI_OK_UPDATE);
	return table_id;
}

void
catalog_table_drop(int32 table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};

	catalog_exec("DELETE FROM lakehouse.tables WHERE table_id = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
}

/*
 * Store the column mappings of a silver table, changing only what differs.
 */
void
catalog_silver_columns_store(int32 table_id, List *columns)
{
	Oid			types[10] = {INT4OID, INT4OID, TEXTOID, TEXTARRAYOID, TEXTOID,
	BOOLOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[10];
	char		nulls[10];
	List	   *names = NIL;
	ListCell   *lc;
	int			ordinal = 0;

	foreach(lc, columns)
	{
		LhSilverColumn *col = lfirst(lc);

		memset(nulls, ' ', sizeof(nulls));
		values[0] = Int32GetDatum(table_id);
		values[1] = Int32GetDatum(++ordinal);
		values[2] = CStringGetTextDatum(col->name);
		values[3] = lh_text_array(col->path);
		values[4] = CStringGetTextDatum(col->type_name);
		values[5] = BoolGetDatum(col->required);
		values[6] = lh_text_array(col->transform_names);
		if (col->default_value)
			values[7] = CStringGetTextDatum(col->default_value);
		else
			nulls[7] = 'n';
		if (col->min_value)
			values[8] = CStringGetTextDatum(col->min_value);
		else
			nulls[8] = 'n';
		if (col->max_value)
			values[9] = CStringGetTextDatum(col->max_value);
		else
			nulls[9] = 'n';
		catalog_exec("INSERT INTO lakehouse.silver_columns AS c"
					  " (table_id, ordinal, column_name, json_path, type_name,"
					  " required, transforms, default_value, min_value, max_value)"
					  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
					  " ON CONFLICT (table_id, column_name) DO UPDATE"
					  " SET ordinal = excluded.ordinal, json_path = excluded.json_path,"
					  " type_name = excluded.type_name, required = excluded.required,"
					  " transforms = excluded.transforms,"
					  " default_value = excluded.default_value,"
					  " min_value = excluded.min_value, max_value = excluded.max_value"
					  " WHERE (c.ordinal, c.json_path, c.type_name, c.required,"
					  " c.transforms, c.default_value, c.min_value, c.max_value)"
					  " IS DISTINCT FROM (excluded.ordinal, excluded.json_path,"
					  " excluded.type_name, excluded.required, excluded.transforms,"
					  " excluded.default_value, excluded.min_value, excluded.max_value)",
					  10, types, values, nulls, SPI_OK_INSERT);
		names = lappend(names, col->name);
	}

	{
		Oid			dtypes[2] = {INT4OID, TEXTARRAYOID};
		Datum		dvalues[2];

		dvalues[0] = Int32GetDatum(table_id);
		dvalues[1] = lh_text_array(names);
		catalog_exec("DELETE FROM lakehouse.silver_columns"
					  " WHERE table_id = $1 AND column_name <> ALL ($2)",
					  2, dtypes, dvalues, NULL, SPI_OK_DELETE);
	}
}

/*
 * The column mappings of a silver table, in order, as stored (type names
 * and transforms unresolved: src/transform/silver_mapping.c does that).
 */
List *
catalog_silver_columns(int32 table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};
	List	   *result = NIL;

	catalog_exec("SELECT column_name, json_path, type_name, required,"
				 " transforms, default_value, min_value, max_value"
				 " FROM lakehouse.silver_columns WHERE table_id = $1"
				 " ORDER BY ordinal",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		LhSilverColumn *col = palloc0(sizeof(LhSilverColumn));

		col->name = catalog_text(i, 1);
		col->path = catalog_text_list(i, 2);
		col->type_name = catalog_text(i, 3);
		col->required = catalog_bool(i, 4, false);
		col->transform_names = catalog_text_list(i, 5);
		col->default_value = catalog_text(i, 6);
		col->min_value = catalog_text(i, 7);
		col->max_value = catalog_text(i, 8);
		result = lappend(result, col);
	}
	return result;
}

/*
 * Run one of the statements below, which change the mapping of a silver
 * table's column ($1 table_id, $2 column, $3 the new value); returns the
 * number of rows changed.
 */
static uint64
silver_column_update(const char *sql, int32 table_id, const char *column,
					 const char *value)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = Int32GetDatum(table_id);
	values[1] = CStringGetTextDatum(column);
	values[2] = CStringGetTextDatum(value);
	catalog_exec(sql, 3, types, values, NULL, SPI_OK_UPDATE);
	return SPI_processed;
}

/*
 * A column of a silver table was renamed: its mapping keeps its JSON path
 * under the new name, and the table's keys and order_by follow.  Returns
 * whether the column was mapped.
 */
bool
catalog_silver_column_rename(int32 table_id, const char *column,
							 const char *new_name)
{
	bool		mapped;

	mapped = silver_column_update("UPDATE lakehouse.silver_columns SET column_name = $3"
								  " WHERE table_id = $1 AND column_name = $2",
								  table_id, column, new_name) > 0;
	(void) silver_column_update("UPDATE lakehouse.tables"
								" SET keys = array_replace(keys, $2, $3),"
								" order_by = CASE WHEN order_by = $2 THEN $3 ELSE order_by END"
								" WHERE table_id = $1 AND ($2 = ANY (keys) OR order_by = $2)",
								table_id, column, new_name);
	return mapped;
}

/*
 * The type of a mapped silver column changed: record the new type name.
 * Returns whether the mapping changed (the column is mapped, and had
 * another type name).
 */
bool
catalog_silver_column_set_type(int32 table_id, const char *column,
							   const char *type_name)
{
	return silver_column_update("UPDATE lakehouse.silver_columns SET type_name = $3"
								" WHERE table_id = $1 AND column_name = $2"
								" AND type_name <> $3",
								table_id, column, type_name) > 0;
}

/*
 * How far the silver tables that read a source have processed its bronze
 * rows: the lowest of their bronze_id marks, -1 if one of them never ran
 * (or none reads the source).  *has_silver: whether any silver table reads
 * it.
 */
int64
catalog_silver_progress(int32 source_id, bool *has_silver)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT EXISTS (SELECT 1 FROM lakehouse.tables st"
				 "          WHERE st.source_id = $1 AND st.layer = 'silver'),"
				 " (SELECT min(coalesce(m.mark_value::bigint, -1))"
				 "    FROM lakehouse.tables st"
				 "    LEFT JOIN lakehouse.stage_marks m"
				 "           ON m.table_id = st.table_id AND m.mark_key = 'bronze_id'"
				 "   WHERE st.source_id = $1 AND st.layer = 'silver')",
				 1, types, values, NULL, SPI_OK_SELECT);
	*has_silver = catalog_bool(0, 1, false);
	return catalog_int64(0, 2, -1);
}

/*
 * For the relations a gold query reads: whether every one is a registered
 * silver or gold table, and the latest run that changed any of them
 * (*newest, 0 if none).
 */
bool
catalog_tables_changed_run(List *relids, int64 *newest)
{
	Oid			types[1] = {OIDARRAYOID};
	Datum		values[1];
	Datum	   *oids = palloc(sizeof(Datum) * Max(list_length(relids), 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, relids)
		oids[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
	catalog_exec("SELECT coalesce(bool_and(t.table_id IS NOT NULL), true),"
				 " max(m.mark_value::bigint)"
				 " FROM unnest($1) AS r(oid)"
				 " JOIN pg_catalog.pg_class c ON c.oid = r.oid"
				 " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				 " LEFT JOIN lakehouse.tables t"
				 "   ON t.schema_name = n.nspname AND t.table_name = c.relname"
				 " LEFT JOIN lakehouse.stage_marks m"
				 "   ON m.table_id = t.table_id AND m.mark_key = 'changed_run'",
				 1, types, values, NULL, SPI_OK_SELECT);
	*newest = catalog_int64(0, 2, 0);
	return catalog_bool(0, 1, true);
}

/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The SQL API that declares pipelines: lh_create_pipeline,
 *	  lh_drop_pipeline, lh_add_dependency, lh_add_source, lh_drop_source,
 *	  lh_define_silver, lh_define_gold and lh_drop_table.
 *
 * Each function validates its arguments completely before writing anything,
 * then writes catalog rows with parameterised SPI in the caller's
 * transaction, so a failing call leaves nothing behind.  The "replace" flag
 * gives CREATE OR REPLACE semantics: rows are only updated when something
 * differs (lh_apply_config relies on this to make re-applying a YAML
 * document a no-op).  The YAML front end (yaml.c) calls these same
 * functions, so both ways of declaring a pipeline produce the same rows.
 *
 * Data tables (bronze, silver, gold) are created here when missing; they
 * belong to the user and are only dropped when explicitly asked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "evolution/evolution.h"
#include "lakehouse.h"
#include "security/security.h"
#include "transform/scd2.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(lh_create_pipeline);
PG_FUNCTION_INFO_V1(lh_drop_pipeline);
PG_FUNCTION_INFO_V1(lh_add_dependency);
PG_FUNCTION_INFO_V1(lh_add_source);
PG_FUNCTION_INFO_V1(lh_drop_source);
PG_FUNCTION_INFO_V1(lh_define_silver);
PG_FUNCTION_INFO_V1(lh_define_gold);
PG_FUNCTION_INFO_V1(lh_drop_table);

/* Maximum length of a pipeline or source name (matches the catalog CHECK). */
#define LH_MAX_NAME 200

static char *
required_text_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static char *
optional_text_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static bool
bool_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? false : PG_GETARG_BOOL(argno);
}

/* A text[] argument as a List of strings; NULL elements are an error. */
static List *
text_array_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (PG_ARGISNULL(argno))
		return NIL;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", what)));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

static void
check_entity_name(const char *what, const char *name)
{
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s name must not be empty", what)));
	if (strlen(name) > LH_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name is too long", what),
				 errdetail("Names are limited to %d bytes; this one has %zu.",
						   LH_MAX_NAME, strlen(name))));
}

static int32
spi_int32(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

static void
spi_exec_utility(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "statement failed (SPI result %d): %s", rc, sql);
}

/*
 * Replace the dependency set of a pipeline with the given upstream names.
 */
static void
set_dependencies(int32 pipeline_id, List *upstreams)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];
	ListCell   *lc;
	List	   *ids = NIL;

	foreach(lc, upstreams)
	{
		int32		up = catalog_pipeline_id((char *) lfirst(lc), false);

		if (up == pipeline_id)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("pipeline \"%s\" cannot depend on itself",
							(char *) lfirst(lc))));
		ids = lappend_int(ids, up);
	}

	/* remove dependencies no longer listed */
	values[0] = Int32GetDatum(pipeline_id);
	values[1] = lh_text_array(upstreams);
	{
		Oid			dtypes[2] = {INT4OID, TEXTARRAYOID};

		catalog_exec("DELETE FROM lakehouse.pipeline_deps d"
					  " USING lakehouse.pipelines u"
					  " WHERE d.pipeline_id = $1 AND u.pipeline_id = d.upstream_id"
					  " AND u.name <> ALL ($2)",
					  2, dtypes, values, NULL, SPI_OK_DELETE);
	}

	foreach(lc, ids)
	{
		deps_check_acyclic(pipeline_id, lfirst_int(lc));
		values[0] = Int32GetDatum(pipeline_id);
		values[1] = Int32GetDatum(lfirst_int(lc));
		catalog_exec("INSERT INTO lakehouse.pipeline_deps (pipeline_id, upstream_id)"
					  " VALUES ($1, $2) ON CONFLICT DO NOTHING",
					  2, types, values, NULL, SPI_OK_INSERT);
	}
}

/*
 * lh_create_pipeline(name, description, depends_on, replace) returns integer
 */
Datum
lh_create_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name = required_text_arg(fcinfo, 0, "pipeline name");
	char	   *description = optional_text_arg(fcinfo, 1);
	List	   *depends_on = text_array_arg(fcinfo, 2, "depends_on");
	bool		replace = bool_arg(fcinfo, 3);
	int32		pipeline_id;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	check_entity_name("pipeline", name);
	SPI_connect();

	pipeline_id = catalog_pipeline_id(name, true);
	if (pipeline_id != 0 && !replace)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pipeline \"%s\" already exists", name),
				 errhint("Use replace => true to update its definition.")));

	values[0] = CStringGetTextDatum(name);
	if (description)
		values[1] = CStringGetTextDatum(description);
	else
		nulls[1] = 'n';

	if (pipeline_id == 0)
	{
		catalog_exec("INSERT INTO lakehouse.pipelines (name, description)"
					  " VALUES ($1, $2) RETURNING pipeline_id",
					  2, types, values, nulls, SPI_OK_INSERT_RETURNING);
		pipeline_id = spi_int32(1);
	}
	else
		catalog_exec("UPDATE lakehouse.pipelines"
					  " SET description = $2, updated_at = now()"
					  " WHERE name = $1 AND description IS DISTINCT FROM $2",
					  2, types, values, nulls, SPI_OK_UPDATE);

	set_dependencies(pipeline_id, depends_on);

	SPI_finish();
	PG_RETURN_INT32(pipeline_id);
}

/*
 * lh_add_dependency(pipeline, upstream)
 */
Datum
lh_add_dependency(PG_FUNCTION_ARGS)
{
	char	   *name = required_text_arg(fcinfo, 0, "pipeline name");
	char	   *upstream = required_text_arg(fcinfo, 1, "upstream pipeline name");
	int32		pipeline_id;
	int32		upstream_id;
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];

	SPI_connect();
	pipeline_id = catalog_pipeline_id(name, false);
	upstream_id = catalog_pipeline_id(upstream, false);
	if (pipeline_id == upstream_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("pipeline \"%s\" cannot depend on itself", name)));
	deps_check_acyclic(pipeline_id, upstream_id);
	values[0] = Int32GetDatum(pipeline_id);
	values[1] = Int32GetDatum(upstream_id);
	catalog_exec("INSERT INTO lakehouse.pipeline_deps (pipeline_id, upstream_id)"
				  " VALUES ($1, $2) ON CONFLICT DO NOTHING",
				  2, types, values, NULL, SPI_OK_INSERT);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Drop a data table if it exists (lh_drop_pipeline / lh_drop_table with
 * drop data).
 */
static void
drop_data_table(const char *schema, const char *table)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "DROP TABLE IF EXISTS %s",
					 lh_qualified_name(schema, table));
	spi_exec_utility(sql.data);
}

/*
 * lh_drop_pipeline(name, drop_tables)
 *
 * Refuses while another pipeline depends on this one.  Removes its pg_cron
 * job, then its catalog rows (sources, tables, marks cascade); with
 * drop_tables also its gold, silver and bronze tables.  Run history is
 * kept (runs.pipeline_id becomes NULL, the name stays).
 */
Datum
lh_drop_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name = required_text_arg(fcinfo, 0, "pipeline name");
	bool		drop_tables = bool_arg(fcinfo, 1);
	int32		pipeline_id;
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	SPI_connect();
	pipeline_id = catalog_pipeline_id(name, false);
	values[0] = Int32GetDatum(pipeline_id);

	catalog_exec("SELECT p.name FROM lakehouse.pipeline_deps d"
				  " JOIN lakehouse.pipelines p ON p.pipeline_id = d.pipeline_id"
				  " WHERE d.upstream_id = $1 ORDER BY p.name LIMIT 1",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop pipeline \"%s\" because pipeline \"%s\" depends on it",
						name, SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1)),
				 errhint("Drop the dependent pipeline first, or redeclare it without the dependency.")));

	catalog_exec("SELECT cron_job_id FROM lakehouse.pipelines"
				  " WHERE pipeline_id = $1 AND cron_job_id IS NOT NULL",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		Oid			utypes[1] = {TEXTOID};
		Datum		uvalues[1] = {CStringGetTextDatum(name)};

		catalog_exec("SELECT lakehouse.lh_unschedule($1)",
					  1, utypes, uvalues, NULL, SPI_OK_SELECT);
	}

	if (drop_tables)
	{
		List	   *tables = list_concat(catalog_pipeline_tables(pipeline_id, "gold"),
										 catalog_pipeline_tables(pipeline_id, "silver"));
		List	   *sources;
		ListCell   *lc;

		/* gold first (it may read silver), in reverse declaration order */
		for (int i = list_length(tables) - 1; i >= 0; i--)
		{
			LhTable    *t = list_nth(tables, i);

			drop_data_table(t->schema_name, t->table_name);
		}
		sources = catalog_pipeline_sources(pipeline_id);
		foreach(lc, sources)
		{
			LhSource   *s = lfirst(lc);

			drop_data_table(s->bronze_schema, s->bronze_table);
		}
	}

	catalog_exec("SELECT 1 FROM lakehouse.sources WHERE pipeline_id = $1 AND kind = 'kafka'",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		lh_workers_notify(0);	/* their workers stop at commit */
	catalog_exec("DELETE FROM lakehouse.pipelines WHERE pipeline_id = $1",
				  1, types, values, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * lh_add_source(pipeline, name, kind, options, bronze_table, replace)
 */
Datum
lh_add_source(PG_FUNCTION_ARGS)
{
	char	   *pipeline = required_text_arg(fcinfo, 0, "pipeline name");
	char	   *name = required_text_arg(fcinfo, 1, "source name");
	char	   *kind = required_text_arg(fcinfo, 2, "source kind");
	Jsonb	   *options = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	char	   *bronze = optional_text_arg(fcinfo, 4);
	bool		replace = bool_arg(fcinfo, 5);
	char	   *bschema;
	char	   *btable;
	int32		pipeline_id;
	LhSource   *existing;
	int32		source_id;
	Oid			types[6] = {INT4OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID};
	Datum		values[6];

	check_entity_name("source", name);
	SPI_connect();
	pipeline_id = catalog_pipeline_id(pipeline, false);
	if (options == NULL)
		options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													 CStringGetDatum("{}")));
	ingest_validate_options(kind, options);
	if (bronze)
		lh_parse_table_name(bronze, "bronze", &bschema, &btable);
	else
	{
		bschema = "bronze";
		btable = name;
		lh_check_name("table", btable);
	}
	existing = catalog_source_by_name(name, true);
	if (existing)
	{
		if (!replace)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("source \"%s\" already exists", name),
					 errhint("Use replace => true to update its definition, or choose another name.")));
		if (existing->pipeline_id != pipeline_id)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("source \"%s\" already exists in another pipeline", name),
					 errhint("Source names are unique across pipelines.")));
		if (strcmp(existing->bronze_schema, bschema) != 0 ||
			strcmp(existing->bronze_table, btable) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change the bronze table of source \"%s\"", name),
					 errdetail("It lands in %s; the new definition names %s.",
							   lh_qualified_name(existing->bronze_schema,
												 existing->bronze_table),
							   lh_qualified_name(bschema, btable)),
					 errhint("Drop the source with lakehouse.lh_drop_source() and add it again.")));
	}
	else
	{
		Oid			ctypes[2] = {TEXTOID, TEXTOID};
		Datum		cvalues[2];

		cvalues[0] = CStringGetTextDatum(bschema);
		cvalues[1] = CStringGetTextDatum(btable);
		catalog_exec("SELECT name FROM lakehouse.sources"
					  " WHERE bronze_schema = $1 AND bronze_table = $2",
					  2, ctypes, cvalues, NULL, SPI_OK_SELECT);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("bronze table %s is already used by source \"%s\"",
							lh_qualified_name(bschema, btable),
							SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1)),
					 errhint("Give each source its own bronze table.")));
	}

	{
		BronzeShape shape;

		ingest_bronze_shape(kind, options, &shape);
		bronze_create_table(bschema, btable, &shape);
	}

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(kind);
	values[3] = JsonbPGetDatum(options);
	values[4] = CStringGetTextDatum(bschema);
	values[5] = CStringGetTextDatum(btable);
	if (existing)
	{
		/*
		 * Marks of another kind, table, watermark column or topic mean
		 * nothing to the new definition: the source starts again.
		 */
		const char *why = NULL;

		if (strcmp(existing->kind, kind) != 0)
			why = "";
		else if (strcmp(kind, "table") == 0 &&
				 (strcmp(lh_option_text(existing->options, "table"),
						 lh_option_text(options, "table")) != 0 ||
				  strcmp(lh_option_text(existing->options, "watermark"),
						 lh_option_text(options, "watermark")) != 0))
			why = "a new table or watermark and starts again from its first row";
		else if (strcmp(kind, "kafka") == 0 &&
				 strcmp(lh_option_text(existing->options, "topic"),
						lh_option_text(options, "topic")) != 0)
			why = "a new topic and starts again from its start position";
		if (why)
		{
			Oid			mtypes[1] = {INT4OID};
			Datum		mvalues[1] = {Int32GetDatum(existing->source_id)};

			catalog_exec("DELETE FROM lakehouse.source_marks WHERE source_id = $1",
						  1, mtypes, mvalues, NULL, SPI_OK_DELETE);
			if (SPI_processed > 0 && why[0] != '\0')
				ereport(NOTICE,
						(errmsg("source \"%s\" reads %s", name, why)));
		}
	}

	if (existing)
	{
		catalog_exec("UPDATE lakehouse.sources"
					  " SET kind = $3, options = $4, updated_at = now()"
					  " WHERE name = $2 AND (kind, options) IS DISTINCT FROM ($3, $4)",
					  6, types, values, NULL, SPI_OK_UPDATE);
		source_id = existing->source_id;
	}
	else
	{
		catalog_exec("INSERT INTO lakehouse.sources"
					  " (pipeline_id, name, kind, options, bronze_schema, bronze_table,"
					  " position)"
					  " SELECT $1, $2, $3, $4, $5, $6,"
					  " coalesce(max(position) + 1, 0) FROM lakehouse.sources"
					  " WHERE pipeline_id = $1"
					  " RETURNING source_id",
					  6, types, values, NULL, SPI_OK_INSERT_RETURNING);
		source_id = spi_int32(1);
	}
	SPI_finish();
	if (strcmp(kind, "kafka") == 0 || (existing && strcmp(existing->kind, "kafka") == 0))
		lh_workers_notify(source_id);
	PG_RETURN_INT32(source_id);
}

/*
 * lh_drop_source(name): unregister a source.  Its bronze table is kept.
 */
Datum
lh_drop_source(PG_FUNCTION_ARGS)
{
	char	   *name = required_text_arg(fcinfo, 0, "source name");
	LhSource   *src;
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	SPI_connect();
	src = catalog_source_by_name(name, false);
	values[0] = Int32GetDatum(src->source_id);
	catalog_exec("SELECT format('%I.%I', schema_name, table_name)"
				  " FROM lakehouse.tables WHERE source_id = $1 ORDER BY table_id LIMIT 1",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop source \"%s\" because silver table %s reads it",
						name, SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1)),
				 errhint("Drop the silver table first with lakehouse.lh_drop_table().")));
	catalog_exec("DELETE FROM lakehouse.sources WHERE source_id = $1",
				  1, types, values, NULL, SPI_OK_DELETE);
	SPI_finish();
	if (strcmp(src->kind, "kafka") == 0)
		lh_workers_notify(src->source_id);
	PG_RETURN_VOID();
}

/*
 * Look up a registered silver/gold table by parsed name; 0 if absent.
 * Also returns its pipeline and layer.
 */
static int32
find_table(const char *schema, const char *table, int32 *pipeline_id,
		   char **layer)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	catalog_exec("SELECT table_id, pipeline_id, layer FROM lakehouse.tables"
				  " WHERE schema_name = $1 AND table_name = $2",
				  2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	*pipeline_id = spi_int32(2);
	*layer = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	return spi_int32(1);
}

/*
 * Common checks for defining a silver or gold table: the name must not be
 * registered already (unless replacing one of the same pipeline and layer),
 * and must not be a bronze table.
 */
static int32
check_table_slot(const char *schema, const char *table, int32 pipeline_id,
				 const char *layer, bool replace)
{
	int32		other_pipeline = 0;
	char	   *other_layer = NULL;
	int32		table_id = find_table(schema, table, &other_pipeline, &other_layer);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	if (table_id != 0)
	{
		if (!replace)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already defined",
							lh_qualified_name(schema, table)),
					 errhint("Use replace => true to update its definition.")));
		if (other_pipeline != pipeline_id)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already defined by another pipeline",
							lh_qualified_name(schema, table))));
		if (strcmp(other_layer, layer) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already defined as a %s table",
							lh_qualified_name(schema, table), other_layer)));
	}

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	catalog_exec("SELECT name FROM lakehouse.sources"
				  " WHERE bronze_schema = $1 AND bronze_table = $2",
				  2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table %s is the bronze table of source \"%s\"",
						lh_qualified_name(schema, table),
						SPI_getvalue(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1))));
	return table_id;
}

/*
 * Insert or update the lakehouse.tables row; returns its id.  Only updates
 * when something differs.
 */
static int32
store_table(int32 table_id, int32 pipeline_id, const char *layer,
			const char *schema, const char *table, int32 source_id,
			List *keys, const char *order_by, const char *kind,
			const char *sql, Jsonb *options)
{
	Oid			types[9] = {INT4OID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	INT4OID, TEXTARRAYOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			ktypes[11];
	Datum		kvalues[11];
	char		knulls[11];

	values[0] = Int32GetDatum(table_id);
	values[1] = Int32GetDatum(pipeline_id);
	values[2] = CStringGetTextDatum(layer);
	values[3] = CStringGetTextDatum(schema);
	values[4] = CStringGetTextDatum(table);
	if (source_id)
		values[5] = Int32GetDatum(source_id);
	else
		nulls[5] = 'n';
	if (keys != NIL)
		values[6] = lh_text_array(keys);
	else
		nulls[6] = 'n';
	if (order_by)
		values[7] = CStringGetTextDatum(order_by);
	else
		nulls[7] = 'n';
	if (kind)
		values[8] = CStringGetTextDatum(kind);
	else
		nulls[8] = 'n';

	memcpy(ktypes, types, sizeof(types));
	memcpy(kvalues, values, sizeof(values));
	memcpy(knulls, nulls, sizeof(nulls));
	ktypes[9] = TEXTOID;
	knulls[9] = ' ';
	if (sql)
		kvalues[9] = CStringGetTextDatum(sql);
	else
		knulls[9] = 'n';
	/* options: '{}' unless given (only the scd2 kind has any) */
	ktypes[10] = JSONBOID;
	knulls[10] = ' ';
	kvalues[10] = options ? JsonbPGetDatum(options) :
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
					  11, ktypes, kvalues, knulls, SPI_OK_INSERT_RETURNING);
		return spi_int32(1);
	}
	catalog_exec("UPDATE lakehouse.tables"
				  " SET source_id = $6, keys = $7, order_by = $8, gold_kind = $9,"
				  " sql = $10, options = $11, updated_at = now()"
				  " WHERE table_id = $1 AND (source_id, keys, order_by, gold_kind, sql, options)"
				  " IS DISTINCT FROM ($6, $7, $8, $9, $10, $11)",
				  11, ktypes, kvalues, knulls, SPI_OK_UPDATE);
	return table_id;
}

/*
 * Store the column mappings of a silver table, changing only what differs.
 */
static void
store_silver_columns(int32 table_id, List *columns)
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
 * lh_define_silver(pipeline, table_name, source, columns, keys, order_by,
 *					replace, schema_policy, allow_breaking) returns integer
 *
 * A table already defined whose mapping gained columns or changed types is
 * altered as its schema policy allows (src/evolution/evolution.c);
 * allow_breaking lets a breaking change through under "additive".
 */
Datum
lh_define_silver(PG_FUNCTION_ARGS)
{
	char	   *pipeline = required_text_arg(fcinfo, 0, "pipeline name");
	char	   *tname = required_text_arg(fcinfo, 1, "table name");
	char	   *source = required_text_arg(fcinfo, 2, "source name");
	Jsonb	   *columns_json;
	List	   *keys = text_array_arg(fcinfo, 4, "keys");
	char	   *order_by = optional_text_arg(fcinfo, 5);
	bool		replace = bool_arg(fcinfo, 6);
	char	   *policy = PG_NARGS() > 7 ? optional_text_arg(fcinfo, 7) : NULL;
	bool		allow_breaking = PG_NARGS() > 8 && bool_arg(fcinfo, 8);
	char	   *schema;
	char	   *table;
	int32		pipeline_id;
	int32		table_id;
	LhSource   *src;
	List	   *columns;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("columns must not be null")));
	columns_json = PG_GETARG_JSONB_P(3);
	if (policy)
		evolution_check_policy(policy);
	lh_parse_table_name(tname, "silver", &schema, &table);
	columns = silver_parse_columns(columns_json, keys, order_by,
								   lh_qualified_name(schema, table));

	SPI_connect();
	pipeline_id = catalog_pipeline_id(pipeline, false);
	src = catalog_source_by_name(source, false);
	if (src->pipeline_id != pipeline_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("source \"%s\" does not belong to pipeline \"%s\"",
						source, pipeline),
				 errhint("A silver table reads a source of its own pipeline; declare a dependency between pipelines instead.")));
	{
		BronzeShape shape;

		ingest_bronze_shape(src->kind, src->options, &shape);
		if (shape.payload_type != JSONBOID)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("silver table cannot read source \"%s\": its payload is %s, not jsonb",
							source, format_type_be(shape.payload_type)),
					 errhint("Declare the source with format \"json\", or build a gold table from its bronze table with SQL.")));
	}
	table_id = check_table_slot(schema, table, pipeline_id, "silver", replace);

	if (table_id != 0)
		evolution_apply_mapping(table_id, schema, table, columns, policy,
								allow_breaking);
	silver_prepare_table(schema, table, columns, keys);

	/* reading another source: its bronze ids mean nothing to the old mark */
	if (table_id != 0)
	{
		Oid			mtypes[2] = {INT4OID, INT4OID};
		Datum		mvalues[2];

		mvalues[0] = Int32GetDatum(table_id);
		mvalues[1] = Int32GetDatum(src->source_id);
		catalog_exec("DELETE FROM lakehouse.stage_marks m USING lakehouse.tables t"
					  " WHERE t.table_id = $1 AND m.table_id = t.table_id"
					  " AND m.mark_key = 'bronze_id'"
					  " AND t.source_id IS DISTINCT FROM $2",
					  2, mtypes, mvalues, NULL, SPI_OK_DELETE);
		if (SPI_processed > 0)
			ereport(NOTICE,
					(errmsg("silver table %s now reads source \"%s\" from its first row",
							lh_qualified_name(schema, table), source)));
	}

	table_id = store_table(table_id, pipeline_id, "silver", schema, table,
						   src->source_id, keys, order_by, NULL, NULL, NULL);
	store_silver_columns(table_id, columns);
	security_store_mapping_classification(schema, table, columns_json);
	evolution_register(table_id, schema, table, policy);
	SPI_finish();
	PG_RETURN_INT32(table_id);
}

/*
 * lh_define_gold(pipeline, table_name, sql, kind, keys, replace, options)
 *
 * options: only for kind "scd2" (see src/transform/scd2.c); checked here so
 * that a definition with invalid options is never stored.
 */
Datum
lh_define_gold(PG_FUNCTION_ARGS)
{
	char	   *pipeline = required_text_arg(fcinfo, 0, "pipeline name");
	char	   *tname = required_text_arg(fcinfo, 1, "table name");
	char	   *sql = required_text_arg(fcinfo, 2, "gold SQL");
	char	   *kind = PG_ARGISNULL(3) ? "rebuild" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	List	   *keys = text_array_arg(fcinfo, 4, "keys");
	bool		replace = bool_arg(fcinfo, 5);
	Jsonb	   *options = (PG_NARGS() > 6 && !PG_ARGISNULL(6)) ? PG_GETARG_JSONB_P(6) : NULL;
	bool		scd2 = strcmp(kind, "scd2") == 0;
	char	   *schema;
	char	   *table;
	int32		pipeline_id;
	int32		table_id;

	if (strcmp(kind, "rebuild") != 0 && strcmp(kind, "append") != 0 &&
		strcmp(kind, "merge") != 0 && !scd2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized gold kind: \"%s\"", kind),
				 errhint("Valid kinds are \"rebuild\", \"append\", \"merge\" and \"scd2\".")));
	if ((strcmp(kind, "merge") == 0 || scd2) && keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gold kind \"%s\" requires keys", kind),
				 errhint("Pass keys => ARRAY['column', ...] naming the columns that identify a row.")));
	if (!scd2 && options != NULL &&
		!(JB_ROOT_IS_OBJECT(options) && JB_ROOT_COUNT(options) == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gold kind \"%s\" takes no options", kind),
				 errhint("Options are for gold kind \"scd2\".")));
	if (scd2)
		scd2_validate_options(options, keys);
	else
		options = NULL;
	lh_parse_table_name(tname, "gold", &schema, &table);
	gold_check_sql(sql);

	SPI_connect();
	pipeline_id = catalog_pipeline_id(pipeline, false);
	table_id = check_table_slot(schema, table, pipeline_id, "gold", replace);
	if (scd2)
		scd2_prepare_table(schema, table, sql, keys, options);
	else
		gold_prepare_table(schema, table, sql, kind, keys);
	table_id = store_table(table_id, pipeline_id, "gold", schema, table, 0,
						   keys, NULL, kind, sql, options);
	SPI_finish();
	PG_RETURN_INT32(table_id);
}

/*
 * lh_drop_table(table_name, drop_data): unregister a silver or gold table.
 * An unqualified name is looked up in silver, then gold.
 */
Datum
lh_drop_table(PG_FUNCTION_ARGS)
{
	char	   *tname = required_text_arg(fcinfo, 0, "table name");
	bool		drop_data = bool_arg(fcinfo, 1);
	char	   *schema;
	char	   *table;
	int32		pipeline_id;
	char	   *layer;
	int32		table_id;
	Oid			types[1] = {INT4OID};
	Datum		values[1];

	SPI_connect();
	lh_parse_table_name(tname, "silver", &schema, &table);
	table_id = find_table(schema, table, &pipeline_id, &layer);
	if (table_id == 0 && !lh_name_is_qualified(tname))
	{
		schema = "gold";
		table_id = find_table(schema, table, &pipeline_id, &layer);
	}
	if (table_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not a lakehouse table", tname),
				 errhint("See lakehouse.tables for the silver and gold tables of each pipeline.")));
	values[0] = Int32GetDatum(table_id);
	catalog_exec("DELETE FROM lakehouse.tables WHERE table_id = $1",
				  1, types, values, NULL, SPI_OK_DELETE);
	if (drop_data)
		drop_data_table(schema, table);
	SPI_finish();
	PG_RETURN_VOID();
}

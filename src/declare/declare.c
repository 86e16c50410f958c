/*-------------------------------------------------------------------------
 *
 * declare.c
 *	  The SQL API that declares pipelines: lh_create_pipeline,
 *	  lh_drop_pipeline, lh_add_dependency, lh_add_source, lh_drop_source,
 *	  lh_define_silver, lh_define_gold, lh_drop_table and
 *	  lh_set_pipeline_owner.
 *
 * Rights and identity.  A new pipeline belongs to the role that declares
 * it.  Changing an existing one needs the right to alter it (its owner,
 * a member of its owner, or lakehouse_admin: src/security/identity.c);
 * the check comes first.  Then the work runs as the pipeline's owner, under
 * SECURITY_RESTRICTED_OPERATION with the pinned search_path
 * (lh_owner_begin): the data tables it creates belong to the owner, the
 * privileges its options need (reading a table, the server's files, a
 * secret) are the owner's, and a gold query is analysed with the owner's
 * rights, whoever declares.  Catalog rows are written by src/catalog/.
 *
 * Each function validates its arguments completely before writing anything,
 * in the caller's transaction, so a failing call leaves nothing behind.  The "replace" flag
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
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "catalog/catalog.h"
#include "declare/declare.h"
#include "evolution/evolution.h"
#include "lakehouse.h"
#include "sources/sources.h"
#include "security/security.h"
#include "transform/changes.h"
#include "transform/transform.h"
#include "worker/worker.h"
#include "pipeline/pipeline.h"

PG_FUNCTION_INFO_V1(lh_create_pipeline);
PG_FUNCTION_INFO_V1(lh_drop_pipeline);
PG_FUNCTION_INFO_V1(lh_add_dependency);
PG_FUNCTION_INFO_V1(lh_add_source);
PG_FUNCTION_INFO_V1(lh_drop_source);
PG_FUNCTION_INFO_V1(lh_define_silver);
PG_FUNCTION_INFO_V1(lh_define_gold);
PG_FUNCTION_INFO_V1(lh_drop_table);
PG_FUNCTION_INFO_V1(lh_set_pipeline_owner);

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

/*
 * The pipeline `name` after checking that the current user may alter it
 * (`what`, for the error), now running as its owner: *id saves the
 * caller's identity for end_as_owner.
 */
static LhPipeline *
begin_as_owner(const char *name, const char *what, LhIdentity *id)
{
	LhPipeline *p = catalog_pipeline_by_name(name, false);

	security_check_pipeline(p, LH_RIGHT_ALTER, what);
	lh_owner_begin(p->owner, id);
	return p;
}

/*
 * Replace the dependency set of a pipeline with the given upstream names.
 */
static void
set_dependencies(int32 pipeline_id, List *upstreams)
{
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
		deps_check_acyclic(pipeline_id, up);
		ids = lappend_int(ids, up);
	}
	catalog_pipeline_set_deps(pipeline_id, ids, upstreams);
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
	LhPipeline *p;

	check_entity_name("pipeline", name);
	SPI_connect();

	p = catalog_pipeline_by_name(name, true);
	if (p != NULL && !replace)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pipeline \"%s\" already exists", name),
				 errhint("Use replace => true to update its definition.")));
	if (p == NULL)
		pipeline_id = catalog_pipeline_create(name, description, GetUserId());
	else
	{
		security_check_pipeline(p, LH_RIGHT_ALTER,
								psprintf("alter pipeline \"%s\"", name));
		pipeline_id = p->pipeline_id;
		catalog_pipeline_set_description(pipeline_id, description);
	}
	set_dependencies(pipeline_id, depends_on);
	/* where this database runs, for the restore check (worker/site.c) */
	lh_site_record_if_empty();

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
	LhPipeline *p;
	int32		upstream_id;

	SPI_connect();
	p = catalog_pipeline_by_name(name, false);
	security_check_pipeline(p, LH_RIGHT_ALTER,
							psprintf("alter pipeline \"%s\"", name));
	upstream_id = catalog_pipeline_id(upstream, false);
	if (p->pipeline_id == upstream_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("pipeline \"%s\" cannot depend on itself", name)));
	deps_check_acyclic(p->pipeline_id, upstream_id);
	catalog_pipeline_add_dep(p->pipeline_id, upstream_id);
	SPI_finish();
	PG_RETURN_VOID();
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
	LhPipeline *p;
	char	   *dependent;
	bool		had_workers;
	LhIdentity	id;

	SPI_connect();
	p = catalog_pipeline_by_name(name, false);
	security_check_pipeline(p, LH_RIGHT_ALTER,
							psprintf("drop pipeline \"%s\"", name));
	dependent = catalog_pipeline_dependent(p->pipeline_id);
	if (dependent)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop pipeline \"%s\" because pipeline \"%s\" depends on it",
						name, dependent),
				 errhint("Drop the dependent pipeline first, or redeclare it without the dependency.")));

	/* its pg_cron job, as the caller (pg_cron lets a job's maker remove it) */
	if (p->cron_job_id != 0)
	{
		Oid			utypes[1] = {TEXTOID};
		Datum		uvalues[1] = {CStringGetTextDatum(name)};

		(void) lh_spi_exec("SELECT lakehouse.lh_unschedule($1)", 1, utypes, uvalues,
						   NULL, SPI_OK_SELECT, "remove the pipeline's schedule");
	}

	if (drop_tables)
	{
		List	   *tables = list_concat(catalog_pipeline_tables(p->pipeline_id, "gold"),
										 catalog_pipeline_tables(p->pipeline_id, "silver"));
		List	   *sources = catalog_pipeline_sources(p->pipeline_id, false);
		ListCell   *lc;

		/* the owner's tables, dropped as the owner */
		lh_owner_begin(p->owner, &id);
		/* gold first (it may read silver), in reverse declaration order */
		for (int i = list_length(tables) - 1; i >= 0; i--)
		{
			LhTable    *t = list_nth(tables, i);

			declare_drop_data_table(t->schema_name, t->table_name);
		}
		foreach(lc, sources)
		{
			LhSource   *s = lfirst(lc);

			declare_drop_data_table(s->bronze_schema, s->bronze_table);
		}
		lh_owner_end(&id);
	}

	had_workers = sources_have_workers(catalog_pipeline_sources(p->pipeline_id, false));
	catalog_pipeline_drop(p->pipeline_id);
	SPI_finish();
	if (had_workers)
		lh_workers_notify(0);	/* their workers stop at commit */
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
	LhPipeline *p;
	LhSource   *existing;
	int32		source_id;
	LhIdentity	id;
	bool		had_worker = false;

	check_entity_name("source", name);
	SPI_connect();
	p = begin_as_owner(pipeline, psprintf("alter pipeline \"%s\"", pipeline), &id);
	if (options == NULL)
		options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													 CStringGetDatum("{}")));
	source_validate_options(kind, options);
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
		if (existing->pipeline_id != p->pipeline_id)
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
		had_worker = source_worker_mode(existing->kind, existing->options) != LH_WORKER_NONE;
	}
	else
	{
		LhSource   *other = catalog_source_by_bronze(bschema, btable);

		if (other)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("bronze table %s is already used by source \"%s\"",
							lh_qualified_name(bschema, btable), other->name),
					 errhint("Give each source its own bronze table.")));
	}

	{
		BronzeShape shape;

		source_bronze_shape(kind, options, &shape);
		bronze_create_table(bschema, btable, &shape);
	}

	if (existing)
	{
		/*
		 * Marks of another kind, table, watermark column or topic mean
		 * nothing to the new definition: the source starts again.
		 */
		const char *why = source_restart_reason(existing->kind, existing->options,
												kind, options);

		if (why)
		{
			List	   *vals;

			if (catalog_source_marks(existing->source_id, NULL, &vals) != NIL &&
				why[0] != '\0')
				ereport(NOTICE,
						(errmsg("source \"%s\" reads %s", name, why)));
			catalog_delete_source_marks(existing->source_id, NULL);
		}
		catalog_source_update(existing->source_id, kind, options);
		source_id = existing->source_id;
	}
	else
		source_id = catalog_source_create(p->pipeline_id, name, kind, options,
										  bschema, btable);
	lh_owner_end(&id);
	lh_site_record_if_empty();
	SPI_finish();
	if (had_worker || source_worker_mode(kind, options) != LH_WORKER_NONE)
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
	char	   *reader;

	SPI_connect();
	src = catalog_source_by_name(name, false);
	(void) security_check_pipeline_id(src->pipeline_id, LH_RIGHT_ALTER,
									  psprintf("drop source \"%s\"", name));
	reader = catalog_table_reading_source(src->source_id);
	if (reader)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop source \"%s\" because silver table %s reads it",
						name, reader),
				 errhint("Drop the silver table first with lakehouse.lh_drop_table().")));
	catalog_source_drop(src->source_id);
	SPI_finish();
	if (source_worker_mode(src->kind, src->options) != LH_WORKER_NONE)
		lh_workers_notify(src->source_id);
	PG_RETURN_VOID();
}

/*
 * Common checks for defining a silver or gold table: the name must not be
 * registered already (unless replacing one of the same pipeline and layer),
 * and must not be a bronze table.  Returns the registered table's id, or 0.
 */
static int32
check_table_slot(const char *schema, const char *table, int32 pipeline_id,
				 const char *layer, bool replace)
{
	LhTable    *t = catalog_table_by_name(schema, table);
	LhSource   *src;

	if (t != NULL)
	{
		if (!replace)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already defined",
							lh_qualified_name(schema, table)),
					 errhint("Use replace => true to update its definition.")));
		if (t->pipeline_id != pipeline_id)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already defined by another pipeline",
							lh_qualified_name(schema, table))));
		if (strcmp(t->layer, layer) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table %s is already defined as a %s table",
							lh_qualified_name(schema, table), t->layer)));
	}
	src = catalog_source_by_bronze(schema, table);
	if (src)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table %s is the bronze table of source \"%s\"",
						lh_qualified_name(schema, table), src->name)));
	return t ? t->table_id : 0;
}

/*
 * A registered table that was dropped and is created again starts empty:
 * forget the stage mark that says how far it was built, so that the next
 * run fills it (from the first bronze row, or with a full build).
 */
static void
forget_stage_mark(int32 table_id, const char *qname, const char *mark)
{
	if (catalog_delete_stage_mark(table_id, mark))
		ereport(NOTICE,
				(errmsg("table %s was created again; the next run fills it", qname)));
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
	LhPipeline *p;
	int32		table_id;
	LhSource   *src;
	List	   *columns;
	LhIdentity	id;
	bool		recreated;

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
	p = begin_as_owner(pipeline, psprintf("alter pipeline \"%s\"", pipeline), &id);
	src = catalog_source_by_name(source, false);
	if (src->pipeline_id != p->pipeline_id)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("source \"%s\" does not belong to pipeline \"%s\"",
						source, pipeline),
				 errhint("A silver table reads a source of its own pipeline; declare a dependency between pipelines instead.")));
	{
		BronzeShape shape;

		source_bronze_shape(src->kind, src->options, &shape);
		if (shape.payload_type != JSONBOID)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("silver table cannot read source \"%s\": its payload is %s, not jsonb",
							source, format_type_be(shape.payload_type)),
					 errhint("Declare the source with format \"json\", or build a gold table from its bronze table with SQL.")));
	}
	table_id = check_table_slot(schema, table, p->pipeline_id, "silver", replace);
	recreated = table_id != 0 && !OidIsValid(lh_table_oid(schema, table, true));

	if (table_id != 0)
		evolution_apply_mapping(table_id, schema, table, columns, policy,
								allow_breaking);
	silver_prepare_table(schema, table, columns, keys);
	if (recreated)
		forget_stage_mark(table_id, lh_qualified_name(schema, table), "bronze_id");

	/* reading another source: its bronze ids mean nothing to the old mark */
	if (table_id != 0 && catalog_table(table_id)->source_id != src->source_id &&
		catalog_delete_stage_mark(table_id, "bronze_id"))
		ereport(NOTICE,
				(errmsg("silver table %s now reads source \"%s\" from its first row",
						lh_qualified_name(schema, table), source)));

	table_id = catalog_table_store(table_id, p->pipeline_id, "silver", schema, table,
								   src->source_id, keys, order_by, NULL, NULL, NULL);
	catalog_silver_columns_store(table_id, columns);
	changes_capture_table(table_id, lh_table_oid(schema, table, false));
	security_store_mapping_classification(schema, table, columns_json);
	evolution_register(table_id, schema, table, policy);
	lh_owner_end(&id);
	SPI_finish();
	PG_RETURN_INT32(table_id);
}

/*
 * infer_dependencies
 *		A gold query that reads a table of another pipeline makes this
 *		pipeline depend on that one, as dbt infers a dependency from
 *		ref(): the dependency is recorded (a NOTICE names it), so that
 *		runs with upstream => true run the other pipeline first.  A cycle
 *		is refused (deps_check_acyclic).  Caller runs as the owner,
 *		connected to SPI.
 */
static void
infer_dependencies(LhPipeline *p, const char *qname, const char *sql)
{
	SPIPlanPtr	plan = lh_spi_prepare(lh_trim_sql(sql), "analyse gold SQL");
	List	   *inputs = gold_query_inputs(sql, lh_spi_plan_source(plan)->relationOids);
	List	   *names;
	List	   *ups = catalog_pipeline_upstreams(p->pipeline_id, &names);
	ListCell   *lc;

	foreach(lc, inputs)
	{
		Oid			relid = lfirst_oid(lc);
		LhTable    *t = catalog_table_by_name(get_namespace_name(get_rel_namespace(relid)),
											  get_rel_name(relid));
		char	   *other;

		if (t == NULL || t->pipeline_id == p->pipeline_id ||
			list_member_int(ups, t->pipeline_id))
			continue;
		other = catalog_pipeline_name(t->pipeline_id);
		deps_check_acyclic(p->pipeline_id, t->pipeline_id);
		catalog_pipeline_add_dep(p->pipeline_id, t->pipeline_id);
		ups = lappend_int(ups, t->pipeline_id);
		ereport(NOTICE,
				(errmsg("pipeline \"%s\" now depends on pipeline \"%s\"", p->name, other),
				 errdetail("Gold table %s reads %s, a table of pipeline \"%s\".",
						   qname, lh_qualified_name(t->schema_name, t->table_name), other),
				 errhint("Declare it with depends_on to make it explicit.")));
	}
}

/*
 * lh_define_gold(pipeline, table_name, sql, kind, keys, replace, options)
 *
 * kind: a gold kind (src/transform/gold_kinds.c); options only for kinds
 * that take them (scd2), checked here so that a definition with invalid
 * options is never stored.
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
	const GoldKindRoutine *k = gold_kind_routine(kind);
	char	   *schema;
	char	   *table;
	LhPipeline *p;
	int32		table_id;
	LhIdentity	id;
	bool		recreated;

	if (k->needs_keys && keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gold kind \"%s\" requires keys", kind),
				 errhint("Pass keys => ARRAY['column', ...] naming the columns that identify a row.")));
	/* kinds rebuild and merge take one option: refresh (auto or full) */
	if (!k->takes_options && !gold_check_refresh_option(kind, options))
		options = NULL;
	if (k->validate)
		k->validate(options, keys);
	lh_parse_table_name(tname, "gold", &schema, &table);

	SPI_connect();
	p = begin_as_owner(pipeline, psprintf("alter pipeline \"%s\"", pipeline), &id);
	gold_check_sql(sql);
	table_id = check_table_slot(schema, table, p->pipeline_id, "gold", replace);
	recreated = table_id != 0 && !OidIsValid(lh_table_oid(schema, table, true));
	k->prepare(schema, table, sql, keys, options);
	if (recreated)
		forget_stage_mark(table_id, lh_qualified_name(schema, table), "built");
	table_id = catalog_table_store(table_id, p->pipeline_id, "gold", schema, table, 0,
								   keys, NULL, kind, sql, options);
	infer_dependencies(p, lh_qualified_name(schema, table), sql);
	(void) changes_ensure_captured(lh_table_oid(schema, table, false), NULL);
	lh_owner_end(&id);
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
	LhTable    *t;
	LhIdentity	id;

	SPI_connect();
	t = catalog_table_by_user_name(tname,
								   "See lakehouse.tables for the silver and gold tables of each pipeline.");
	(void) security_check_pipeline_id(t->pipeline_id, LH_RIGHT_ALTER,
									  psprintf("drop table %s",
											   lh_qualified_name(t->schema_name,
																 t->table_name)));
	catalog_table_drop(t->table_id);
	/* a table kept as the user's is no longer captured */
	if (!drop_data && OidIsValid(lh_table_oid(t->schema_name, t->table_name, true)))
		changes_uncapture_table(lh_table_oid(t->schema_name, t->table_name, true));
	if (drop_data)
	{
		lh_owner_begin(t->owner, &id);
		declare_drop_data_table(t->schema_name, t->table_name);
		lh_owner_end(&id);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * lh_set_pipeline_owner(pipeline, owner)
 *
 * Give a pipeline (its sources and tables) to another role: its code runs
 * as that role from the next run.  Needs the right to alter the pipeline
 * and the privileges of the new owner (as ALTER TABLE ... OWNER TO does);
 * the data tables keep their PostgreSQL owner (ALTER TABLE them too).
 */
Datum
lh_set_pipeline_owner(PG_FUNCTION_ARGS)
{
	char	   *pipeline = required_text_arg(fcinfo, 0, "pipeline name");
	char	   *owner = required_text_arg(fcinfo, 1, "owner");
	Oid			newowner = get_role_oid(owner, false);
	LhPipeline *p;

	SPI_connect();
	p = catalog_pipeline_by_name(pipeline, false);
	security_check_pipeline(p, LH_RIGHT_ALTER,
							psprintf("change the owner of pipeline \"%s\"", pipeline));
	if (!superuser() && !has_privs_of_role(GetUserId(), newowner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to give pipeline \"%s\" to role \"%s\"",
						pipeline, owner),
				 errhint("Only members of the new owner and superusers may do this.")));
	catalog_pipeline_set_owner(p->pipeline_id, newowner);
	SPI_finish();
	lh_workers_notify(0);		/* their workers connect as the new owner */
	PG_RETURN_VOID();
}

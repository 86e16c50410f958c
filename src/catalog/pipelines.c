/*-------------------------------------------------------------------------
 *
 * pipelines.c
 *	  Catalog access to pipelines and their dependencies
 *	  (lakehouse.pipelines, lakehouse.pipeline_deps).
 *
 * A pipeline's owner is the role that declared it (by name, as pg_cron
 * keeps a job's user, so that a dump restores into a cluster whose role
 * OIDs differ).  Everything a pipeline runs that a user could influence
 * runs as that owner (src/security/identity.c).
 *
 * All statements go through catalog_exec (catalog.c).
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

#define PIPELINE_COLUMNS "pipeline_id, name, owner, cron_job_id, schedule"

static LhPipeline *
pipeline_from_row(int row)
{
	LhPipeline *p = palloc(sizeof(LhPipeline));
	char	   *owner;

	p->pipeline_id = catalog_int32(row, 1, 0);
	p->name = catalog_text(row, 2);
	owner = catalog_text(row, 3);
	p->owner = owner ? get_role_oid(owner, true) : InvalidOid;
	p->cron_job_id = catalog_int64(row, 4, 0);
	p->schedule = catalog_text(row, 5);
	return p;
}

/* A pipeline that does not exist: the closest name, or how to declare it. */
static void
pipeline_missing(const char *name)
{
	char	   *hint = catalog_suggest_pipeline(name);

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("pipeline \"%s\" does not exist", name),
			 hint ? errhint("%s", hint) :
			 errhint("Declare it with lakehouse.lh_create_pipeline() or lakehouse.lh_apply_config().")));
}

LhPipeline *
catalog_pipeline_by_name(const char *name, bool missing_ok)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pipeline name must not be null")));
	values[0] = CStringGetTextDatum(name);
	catalog_exec("SELECT " PIPELINE_COLUMNS " FROM lakehouse.pipelines WHERE name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		if (!missing_ok)
			pipeline_missing(name);
		return NULL;
	}
	return pipeline_from_row(0);
}

int32
catalog_pipeline_id(const char *name, bool missing_ok)
{
	LhPipeline *p = catalog_pipeline_by_name(name, missing_ok);

	return p ? p->pipeline_id : 0;
}

LhPipeline *
catalog_pipeline(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	catalog_exec("SELECT " PIPELINE_COLUMNS " FROM lakehouse.pipelines WHERE pipeline_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pipeline with id %d does not exist", pipeline_id)));
	return pipeline_from_row(0);
}

/* The name of a pipeline, or NULL for one that is gone. */
char *
catalog_pipeline_name_if_exists(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	catalog_exec("SELECT name FROM lakehouse.pipelines WHERE pipeline_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return catalog_text(0, 1);
}

/* The name of a pipeline, or "#<id>" for one that is gone. */
char *
catalog_pipeline_name(int32 pipeline_id)
{
	char	   *name = catalog_pipeline_name_if_exists(pipeline_id);

	return name ? name : psprintf("#%d", pipeline_id);
}

/*
 * catalog_pipeline_fingerprint
 *		A fingerprint (md5) of everything the catalog holds about a
 *		pipeline, by name rather than id and without timestamps, positions
 *		and run state; NULL if the pipeline does not exist.
 *
 * lh_apply_config compares it before and after to report "unchanged".  It
 * covers the definition kept by the subsystems too: a gold table's data
 * contract, a silver table's schema policy, the classifications a mapping
 * declared and the expectations.  Every part is present (empty when there
 * is nothing), so parts cannot shift into each other.
 *
 * XXX: a definition column added to the catalog must be added here, or a
 * change to it will be reported as "unchanged".
 */
char *
catalog_pipeline_fingerprint(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(name);
	catalog_exec("SELECT md5(concat_ws(E'\\n',"
				 " row(p.name, p.description, p.schedule)::text,"
				 " coalesce((SELECT array_agg(u.name ORDER BY u.name)"
				 "    FROM lakehouse.pipeline_deps d"
				 "    JOIN lakehouse.pipelines u ON u.pipeline_id = d.upstream_id"
				 "   WHERE d.pipeline_id = p.pipeline_id)::text, ''),"
				 " coalesce((SELECT array_agg(row(s.name, s.kind, s.options, s.bronze_schema,"
				 "                       s.bronze_table, s.enabled)::text ORDER BY s.name)"
				 "    FROM lakehouse.sources s WHERE s.pipeline_id = p.pipeline_id)::text, ''),"
				 " coalesce((SELECT array_agg(row(t.layer, t.schema_name, t.table_name, s.name,"
				 "                       t.keys, t.order_by, t.gold_kind, t.sql, t.options,"
				 "          (SELECT row(k.document, k.on_violation)::text FROM lakehouse.contracts k"
				 "            WHERE k.schema_name = t.schema_name AND k.table_name = t.table_name),"
				 "          (SELECT ss.policy FROM lakehouse.silver_schemas ss"
				 "            WHERE ss.table_id = t.table_id),"
				 "          (SELECT array_agg(row(c.ordinal, c.column_name, c.json_path,"
				 "                                c.type_name, c.required, c.transforms,"
				 "                                c.default_value, c.min_value,"
				 "                                c.max_value)::text ORDER BY c.ordinal)"
				 "             FROM lakehouse.silver_columns c"
				 "            WHERE c.table_id = t.table_id),"
				 "          (SELECT array_agg(row(x.column_name, x.classification,"
				 "                                x.masking)::text ORDER BY x.column_name)"
				 "             FROM lakehouse.column_classifications x"
				 "            WHERE x.schema_name = t.schema_name AND x.table_name = t.table_name"
				 "              AND x.origin = 'mapping'),"
				 "          (SELECT array_agg(row(e.name, e.kind, e.args, e.severity, e.mostly,"
				 "                                e.row_filter, e.origin)::text ORDER BY e.name)"
				 "             FROM lakehouse.dq_expectations e"
				 "            WHERE e.table_id = t.table_id))::text"
				 "                   ORDER BY t.layer, t.schema_name, t.table_name)"
				 "    FROM lakehouse.tables t"
				 "    LEFT JOIN lakehouse.sources s ON s.source_id = t.source_id"
				 "   WHERE t.pipeline_id = p.pipeline_id)::text, '')))"
				 "  FROM lakehouse.pipelines p WHERE p.name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return catalog_text(0, 1);
}

int32
catalog_pipeline_create(const char *name, const char *description, Oid owner)
{
	Oid			types[4] = {TEXTOID, TEXTOID, NAMEOID, NAMEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = catalog_text_or_null(description, &nulls[1]);
	values[2] = CStringGetDatum(GetUserNameFromId(owner, false));
	values[3] = CStringGetDatum(catalog_acting_user_name());
	catalog_exec("INSERT INTO lakehouse.pipelines (name, description, owner, created_by)"
				 " VALUES ($1, $2, $3, $4) RETURNING pipeline_id",
				 4, types, values, nulls, SPI_OK_INSERT_RETURNING);
	return catalog_int32(0, 1, 0);
}

void
catalog_pipeline_set_description(int32 pipeline_id, const char *description)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = catalog_text_or_null(description, &nulls[1]);
	catalog_exec("UPDATE lakehouse.pipelines"
				 " SET description = $2, updated_at = now()"
				 " WHERE pipeline_id = $1 AND description IS DISTINCT FROM $2",
				 2, types, values, nulls, SPI_OK_UPDATE);
}

void
catalog_pipeline_set_owner(int32 pipeline_id, Oid owner)
{
	Oid			types[2] = {INT4OID, NAMEOID};
	Datum		values[2];

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetDatum(GetUserNameFromId(owner, false));
	catalog_exec("UPDATE lakehouse.pipelines SET owner = $2, updated_at = now()"
				 " WHERE pipeline_id = $1 AND owner IS DISTINCT FROM $2",
				 2, types, values, NULL, SPI_OK_UPDATE);
}

void
catalog_pipeline_set_schedule(int32 pipeline_id, const char *schedule,
							  int64 job_id)
{
	Oid			types[3] = {INT4OID, TEXTOID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = catalog_text_or_null(schedule, &nulls[1]);
	values[2] = Int64GetDatum(job_id);
	if (job_id == 0)
		nulls[2] = 'n';
	catalog_exec("UPDATE lakehouse.pipelines"
				 " SET schedule = $2, cron_job_id = $3, updated_at = now()"
				 " WHERE pipeline_id = $1",
				 3, types, values, nulls, SPI_OK_UPDATE);
}

void
catalog_pipeline_drop(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	catalog_exec("DELETE FROM lakehouse.pipelines WHERE pipeline_id = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
}

/* The name of a pipeline that depends on this one (the first by name), or NULL. */
char *
catalog_pipeline_dependent(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};

	catalog_exec("SELECT p.name FROM lakehouse.pipeline_deps d"
				 " JOIN lakehouse.pipelines p ON p.pipeline_id = d.pipeline_id"
				 " WHERE d.upstream_id = $1 ORDER BY p.name LIMIT 1",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? catalog_text(0, 1) : NULL;
}

/*
 * Make the dependencies of pipeline_id exactly upstream_ids (whose names
 * are upstream_names).
 */
void
catalog_pipeline_set_deps(int32 pipeline_id, List *upstream_ids,
						  List *upstream_names)
{
	Oid			dtypes[2] = {INT4OID, TEXTARRAYOID};
	Datum		dvalues[2];
	ListCell   *lc;

	dvalues[0] = Int32GetDatum(pipeline_id);
	dvalues[1] = lh_text_array(upstream_names);
	catalog_exec("DELETE FROM lakehouse.pipeline_deps d"
				 " USING lakehouse.pipelines u"
				 " WHERE d.pipeline_id = $1 AND u.pipeline_id = d.upstream_id"
				 " AND u.name <> ALL ($2)",
				 2, dtypes, dvalues, NULL, SPI_OK_DELETE);
	foreach(lc, upstream_ids)
		catalog_pipeline_add_dep(pipeline_id, lfirst_int(lc));
}

void
catalog_pipeline_add_dep(int32 pipeline_id, int32 upstream_id)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = Int32GetDatum(upstream_id);
	catalog_exec("INSERT INTO lakehouse.pipeline_deps (pipeline_id, upstream_id)"
				 " VALUES ($1, $2) ON CONFLICT DO NOTHING",
				 2, types, values, NULL, SPI_OK_INSERT);
}

/*
 * The direct upstreams of a pipeline (ids), ordered by name; their names
 * in *names.
 */
List *
catalog_pipeline_upstreams(int32 pipeline_id, List **names)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};
	List	   *ids = NIL;

	*names = NIL;
	catalog_exec("SELECT d.upstream_id, u.name FROM lakehouse.pipeline_deps d"
				 " JOIN lakehouse.pipelines u ON u.pipeline_id = d.upstream_id"
				 " WHERE d.pipeline_id = $1 ORDER BY u.name",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ids = lappend_int(ids, catalog_int32(i, 1, 0));
		*names = lappend(*names, catalog_text(i, 2));
	}
	return ids;
}

/*
 * Every dependency edge: the dependent pipelines' ids are returned, the
 * upstreams' (same order) in *upstreams.
 */
List *
catalog_pipeline_graph(List **upstreams)
{
	List	   *ids = NIL;

	*upstreams = NIL;
	catalog_exec("SELECT pipeline_id, upstream_id FROM lakehouse.pipeline_deps"
				 " ORDER BY pipeline_id, upstream_id",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		ids = lappend_int(ids, catalog_int32(i, 1, 0));
		*upstreams = lappend_int(*upstreams, catalog_int32(i, 2, 0));
	}
	return ids;
}

/* The ids of every pipeline, in id order. */
List *
catalog_pipeline_ids(void)
{
	List	   *ids = NIL;

	catalog_exec("SELECT pipeline_id FROM lakehouse.pipelines ORDER BY pipeline_id",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		ids = lappend_int(ids, catalog_int32(i, 1, 0));
	return ids;
}

/*
 * Every pipeline (LhPipeline *), ordered by name in the C collation, in
 * one statement; with limit > 0 at most that many, and *total (if not
 * NULL) says how many there are.
 */
List *
catalog_pipelines(int limit, int64 *total)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(limit)};
	char		nulls[1] = {limit > 0 ? ' ' : 'n'};
	List	   *result = NIL;

	catalog_exec("SELECT " PIPELINE_COLUMNS ", count(*) OVER ()"
				 " FROM lakehouse.pipelines ORDER BY name COLLATE \"C\" LIMIT $1",
				 1, types, values, nulls, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, pipeline_from_row(i));
	if (total)
		*total = SPI_processed > 0 ? catalog_int64(0, 6, 0) : 0;
	return result;
}

/*-------------------------------------------------------------------------
 *
 * tables.c
 *	  The "table" source: incremental copies of a table, view or foreign
 *	  table (postgres_fdw) into bronze, driven by a watermark column.
 *
 * Options: {"table": "schema.name", "watermark": "column",
 * "batch_size": n}.  An unqualified table name means schema public (the
 * name must mean the same thing whoever runs the pipeline, whatever their
 * search_path).  The watermark column must be of an orderable type:
 * timestamp, timestamptz, date, smallint, integer, bigint or numeric
 * (or a domain over one).
 *
 * Each ingest is one set-based statement, run through SPI with the values
 * as parameters and the identifiers quoted:
 *
 *	  WITH src AS MATERIALIZED (SELECT to_jsonb(t.*) AS p, t.wm AS w
 *								FROM tbl t WHERE t.wm > $mark ...),
 *		   ins AS (INSERT INTO bronze (...) SELECT ... FROM src ORDER BY w)
 *	  SELECT count(*), max(w) FROM src
 *
 * Rows come from SQL already, so INSERT ... SELECT is the bulk path here;
 * bronze _lh_id values follow the watermark order.  _lh_position is the
 * row's watermark value.  The new high-water mark, max(w), is written to
 * lakehouse.source_marks (key "watermark") in the same transaction as the
 * rows, so a crash can neither lose nor duplicate them.  Marks are kept
 * in JSON's ISO 8601 text form (to_jsonb), which reads back the same
 * whatever the session's DateStyle.
 *
 * Rows whose watermark is NULL.  They cannot be ordered against a mark,
 * so they are landed on the first load only, while the source has no mark
 * yet.  After a first load that landed only such rows the mark is the
 * empty string: later loads take every row with a non-NULL watermark.  A
 * row that gets a watermark later is landed then; a row that stays NULL
 * after the first load is never landed (set the column NOT NULL, or give
 * it a default, to avoid surprises).
 *
 * batch_size (optional) caps the rows landed per run: the lowest
 * watermarks first, and always every row that shares the last watermark
 * value taken (FETCH FIRST n ROWS WITH TIES), so that "> mark" next time
 * skips nothing.  Without it, everything new lands in one run.
 *
 * XXX A watermark only sees rows whose value is above the mark when the
 * run's snapshot is taken.  A transaction that commits later with an
 * older watermark value (a long transaction stamping now() at its start)
 * is missed.  Use a watermark that the writer sets at commit time, or
 * leave a safety lag, until we offer one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "lakehouse.h"
#include "sources/sources.h"

/* The options of a table source, resolved against the catalog. */
typedef struct TablesOptions
{
	char	   *qualified;		/* quoted schema.table */
	Oid			relid;
	char	   *watermark;		/* column name, unquoted */
	Oid			wmtype;			/* its (base) type */
	int64		batch_size;		/* 0: no limit */
} TablesOptions;

static const char *const tables_option_keys[] = {
	"table", "watermark", "batch_size", NULL
};

static bool
tables_watermark_type_ok(Oid typid)
{
	switch (typid)
	{
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case DATEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
			return true;
		default:
			return false;
	}
}

/*
 * Check the options and resolve them.  Takes AccessShareLock on the source
 * relation (kept to the end of the transaction) and checks that the
 * current user may read it.
 */
static void
tables_parse_options(Jsonb *options, TablesOptions *opts)
{
	char	   *name;
	char	   *schema;
	char	   *table;
	char	   *bs;
	char		relkind;
	AttrNumber	attnum;
	Oid			atttype;

	memset(opts, 0, sizeof(TablesOptions));
	lh_check_option_keys(options, tables_option_keys, "table source");

	name = lh_option_text(options, "table");
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table source requires option \"table\""),
				 errhint("Name the table to read, for example {\"table\": \"public.orders\", \"watermark\": \"updated_at\"}.")));
	opts->watermark = lh_option_text(options, "watermark");
	if (opts->watermark == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table source requires option \"watermark\""),
				 errhint("Name a column whose value grows with every new or changed row, such as an updated_at timestamp.")));

	bs = lh_option_text(options, "batch_size");
	if (bs != NULL)
	{
		opts->batch_size = lh_option_int(options, "batch_size", 0);
		if (opts->batch_size <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"batch_size\" must be a positive integer"),
					 errdetail("Value given: \"%s\".", bs)));
	}

	lh_parse_table_name(name, "public", &schema, &table);
	opts->qualified = quote_qualified_identifier(schema, table);
	opts->relid = RangeVarGetRelid(makeRangeVar(schema, table, -1),
								   AccessShareLock, true);
	if (!OidIsValid(opts->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("source table %s does not exist", opts->qualified),
				 errhint("Create the table first, or correct option \"table\" (an unqualified name means schema public).")));

	relkind = get_rel_relkind(opts->relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_VIEW && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table, view or foreign table",
						opts->qualified)));

	attnum = get_attnum(opts->relid, opts->watermark);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("watermark column \"%s\" does not exist in %s",
						opts->watermark, opts->qualified),
				 errhint("Option \"watermark\" names a column of the source table; column names are case-sensitive.")));
	atttype = get_atttype(opts->relid, attnum);
	opts->wmtype = getBaseType(atttype);
	if (!tables_watermark_type_ok(opts->wmtype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("watermark column \"%s\" has unsupported type %s",
						opts->watermark, format_type_be(atttype)),
				 errdetail("A watermark column must be of type timestamp, timestamptz, date, smallint, integer, bigint or numeric."),
				 errhint("Choose a column whose value grows with every new or changed row, such as an updated_at timestamp or an identity column.")));

	if (pg_class_aclcheck(opts->relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(opts->relid, GetUserId(), ACL_SELECT,
								  ACLMASK_ALL) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", opts->qualified),
				 errdetail("A table source reads every column of its table."),
				 errhint("Grant SELECT on the table to the role that declares and runs the pipeline.")));
}

/*
 * tables_validate_options
 *		Check a table source's options: the table exists and is readable,
 *		the watermark column exists and has an orderable type.
 */
static void
tables_validate_options(Jsonb *options)
{
	TablesOptions opts;

	tables_parse_options(options, &opts);
}

/*
 * tables_ingest
 *		Land the rows above the watermark; move the watermark.
 *
 * Caller is connected to SPI (source_ingest does it).
 */
static void
tables_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	TablesOptions opts;
	char	   *mark;
	char	   *quoted_wm;
	char	   *bronze;
	StringInfoData sql;
	Oid			argtypes[4];
	Datum		values[4];
	char		nulls[4] = {' ', ' ', 'n', 'n'};
	bool		isnull;
	int64		rows;
	char	   *new_mark;

	tables_parse_options(src->options, &opts);
	(void) bronze_check_table(src->bronze_schema, src->bronze_table,
							  RowExclusiveLock, NULL);
	bronze = quote_qualified_identifier(src->bronze_schema, src->bronze_table);
	quoted_wm = (char *) quote_identifier(opts.watermark);
	mark = catalog_get_source_mark(src->source_id, "watermark");

	argtypes[0] = TEXTOID;		/* source name */
	argtypes[1] = INT8OID;		/* run id */
	argtypes[2] = opts.wmtype;	/* the mark */
	argtypes[3] = INT8OID;		/* batch size */
	values[0] = CStringGetTextDatum(src->name);
	values[1] = Int64GetDatum(run_id);
	if (run_id == 0)
		nulls[1] = 'n';
	values[2] = (Datum) 0;
	values[3] = Int64GetDatum(opts.batch_size);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH src AS MATERIALIZED ("
					 "SELECT pg_catalog.to_jsonb(t.*) AS p, t.%s AS w FROM %s t",
					 quoted_wm, opts.qualified);
	if (mark == NULL)
	{
		/* first load: everything, rows with a NULL watermark included */
	}
	else if (mark[0] == '\0')
		appendStringInfo(&sql, " WHERE t.%s IS NOT NULL", quoted_wm);
	else
	{
		Oid			typinput;
		Oid			typioparam;

		getTypeInputInfo(opts.wmtype, &typinput, &typioparam);
		values[2] = OidInputFunctionCall(typinput, mark, typioparam, -1);
		nulls[2] = ' ';
		appendStringInfo(&sql, " WHERE t.%s > $3", quoted_wm);
	}
	if (opts.batch_size > 0)
	{
		appendStringInfo(&sql,
						 " ORDER BY t.%s NULLS FIRST FETCH FIRST $4 ROWS WITH TIES",
						 quoted_wm);
		nulls[3] = ' ';
	}
	appendStringInfo(&sql,
					 "), ins AS ("
					 "INSERT INTO %s"
					 " (_lh_source, _lh_run_id, _lh_position, _lh_ingested_at, payload)"
					 " SELECT $1, $2,"
					 " pg_catalog.to_jsonb(w) OPERATOR(pg_catalog.#>>) '{}'::pg_catalog.text[],"
					 " pg_catalog.now(), p"
					 " FROM src ORDER BY w NULLS FIRST)"
					 " SELECT pg_catalog.count(*),"
					 " pg_catalog.to_jsonb(pg_catalog.max(w)) OPERATOR(pg_catalog.#>>) '{}'::pg_catalog.text[]"
					 " FROM src",
					 bronze);

	(void) lh_spi_exec(sql.data, 4, argtypes, values, nulls, SPI_OK_SELECT,
					   "read a table source");

	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	new_mark = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

	counts->rows_read += rows;
	counts->rows_written += rows;
	lh_progress_add_rows(rows);

	/*
	 * Move the mark only when rows landed: max(w) of rows above the old mark
	 * is above it.  A first load that found only NULL watermarks records
	 * the empty string, meaning "first load done".
	 */
	if (rows > 0)
	{
		if (new_mark != NULL)
			catalog_set_source_mark(src->source_id, "watermark", new_mark);
		else if (mark == NULL)
			catalog_set_source_mark(src->source_id, "watermark", "");
	}
}

/* A new table or watermark column: the old watermark means nothing. */
static const char *
tables_restart_reason(Jsonb *old_options, Jsonb *options)
{
	if (lh_option_differs(old_options, options, "table") ||
		lh_option_differs(old_options, options, "watermark"))
		return "a new table or watermark and starts again from its first row";
	return NULL;
}

/* The source table, a table of this database. */
static void
tables_dataset(LhSource *src, SourceDataset *ds)
{
	lh_parse_table_name(lh_option_text(src->options, "table"), "public",
						&ds->schema, &ds->table);
}

const SourceRoutine table_routine = {
	.name = "table",
	.what = "table",
	.validate = tables_validate_options,
	.ingest = tables_ingest,
	.restart_reason = tables_restart_reason,
	.dataset = tables_dataset,
};

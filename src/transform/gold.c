/*-------------------------------------------------------------------------
 *
 * gold.c
 *	  The gold stage: SQL transforms over silver, written by a gold kind
 *	  (transform.h); and the kinds rebuild, append and merge.
 *
 * A gold table is defined by one SELECT.  Kinds defined here:
 *	- rebuild: DELETE all rows, INSERT the query's rows.  Both happen in
 *	  the stage's subtransaction, so readers see the old contents until
 *	  the run commits and the new contents after (MVCC, no lock beyond
 *	  ROW EXCLUSIVE; a TRUNCATE would not be MVCC-safe for readers).
 *	- append: INSERT the query's rows.
 *	- merge: INSERT ... ON CONFLICT (keys) DO UPDATE, touching only rows
 *	  whose values differ.
 * (scd2, an SCD type 2 merge, is in scd2.c.)
 *
 * Incremental runs: a gold stage is skipped when the run is not a full
 * refresh, the definition is unchanged since the last build, and every
 * relation the query reads is a lakehouse table whose last change (the
 * "changed_run" stage mark written by the orchestrator) is already covered
 * by that build.  A query that reads anything else (plain tables, views)
 * is always rebuilt, since we cannot know whether it changed.
 *
 * The user's SQL is parsed before it is stored: exactly one SELECT, no
 * SELECT INTO.  It is wrapped as a subquery, so a second statement can
 * never be smuggled in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rel.h"

#include "lakehouse.h"
#include "security/security.h"
#include "transform/transform.h"

/*
 * gold_check_sql
 *		The text must be exactly one SELECT (VALUES and WITH ... SELECT count
 *		as SELECT).  Syntax errors are reported by the parser itself.
 */
/*
 * Report a syntax error's position within the gold SQL, not within the
 * statement that passed it to us.
 */
typedef struct GoldSqlErrorArg
{
	const char *sql;
	const char *what;
} GoldSqlErrorArg;

static void
gold_sql_error_callback(void *arg)
{
	GoldSqlErrorArg *a = (GoldSqlErrorArg *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(a->sql);
	}
	errcontext("%s", a->what);
}

static void check_select_sql(const char *sql, const char *what, const char *hint);

void
gold_check_sql(const char *sql)
{
	check_select_sql(sql, "gold SQL",
					 "The stage writes the query's rows itself; write only the SELECT.");
}

/*
 * lh_check_select_sql
 *		gold_check_sql for any user query; "what" names it in messages
 *		(also used for the custom queries of data-quality expectations).
 */
void
lh_check_select_sql(const char *sql, const char *what)
{
	check_select_sql(sql, what, "Write one SELECT query.");
}

static void
check_select_sql(const char *sql, const char *what, const char *hint)
{
	List	   *stmts;
	RawStmt    *raw;
	ErrorContextCallback errcb;
	GoldSqlErrorArg arg = {sql, what};

	errcb.callback = gold_sql_error_callback;
	errcb.arg = (void *) &arg;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;

	if (list_length(stmts) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a single query", what),
				 errdetail("It contains %d statements.", list_length(stmts))));
	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a SELECT query", what),
				 errhint("%s", hint)));
	if (((SelectStmt *) raw->stmt)->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not use SELECT INTO", what)));
}

/* The query without trailing semicolons and white space. */
static char *
query_text(const char *sql)
{
	char	   *q = pstrdup(sql);
	char	   *end = q + strlen(q);

	while (end > q && (isspace((unsigned char) end[-1]) || end[-1] == ';'))
		end--;
	*end = '\0';
	return q;
}

/*
 * Prepare the query and return its plan source (result columns, relations
 * read).  Caller is connected to SPI.
 */
static CachedPlanSource *
prepare_query(const char *sql)
{
	return lh_spi_plan_source(lh_spi_prepare(query_text(sql), "analyse gold SQL"));
}

/*
 * gold_prepare_table
 *		Create the gold table from the query if it does not exist; otherwise
 *		check that every column of the query exists in it.  With unique_keys
 *		(merge), make sure a unique index on the keys exists.  Caller is
 *		connected to SPI.
 */
static void
gold_prepare_table(const char *schema, const char *table, const char *sql,
				   List *keys, bool unique_keys)
{
	char	   *qname = lh_qualified_name(schema, table);
	Oid			relid = lh_table_oid(schema, table, true);
	CachedPlanSource *ps = prepare_query(sql);
	TupleDesc	qdesc = ps->resultDesc;
	StringInfoData buf;
	ListCell   *lc;

	if (qdesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gold SQL must return rows")));

	/* keys must be columns of the query */
	foreach(lc, keys)
	{
		bool		found = false;

		for (int i = 0; i < qdesc->natts; i++)
			if (strcmp(NameStr(TupleDescAttr(qdesc, i)->attname),
					   (char *) lfirst(lc)) == 0)
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" is not a column of the gold query",
							(char *) lfirst(lc))));
	}
	/* column names must be unique, or the INSERT cannot name them */
	for (int i = 0; i < qdesc->natts; i++)
		for (int j = i + 1; j < qdesc->natts; j++)
			if (strcmp(NameStr(TupleDescAttr(qdesc, i)->attname),
					   NameStr(TupleDescAttr(qdesc, j)->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("gold query returns column \"%s\" more than once",
								NameStr(TupleDescAttr(qdesc, i)->attname)),
						 errhint("Give each output column its own name with AS.")));

	initStringInfo(&buf);
	if (!OidIsValid(relid))
	{
		lh_ensure_schema(schema);
		appendStringInfo(&buf, "CREATE TABLE %s AS SELECT * FROM (\n%s\n) AS q WITH NO DATA",
						 qname, query_text(sql));
		(void) lh_spi_exec(buf.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "create a gold table");
		security_grant_readers(qname, true);
		relid = lh_table_oid(schema, table, false);
	}
	else
	{
		Relation	rel = table_open(relid, AccessShareLock);
		TupleDesc	tdesc = RelationGetDescr(rel);

		for (int i = 0; i < qdesc->natts; i++)
		{
			const char *name = NameStr(TupleDescAttr(qdesc, i)->attname);
			bool		found = false;

			for (int j = 0; j < tdesc->natts; j++)
				if (!TupleDescAttr(tdesc, j)->attisdropped &&
					strcmp(NameStr(TupleDescAttr(tdesc, j)->attname), name) == 0)
					found = true;
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" does not exist in gold table %s",
								name, qname),
						 errdetail("The gold query returns it, but the existing table has no such column."),
						 errhint("Add the column with ALTER TABLE, or drop the table so that it is recreated from the query.")));
		}
		table_close(rel, AccessShareLock);
	}

	if (unique_keys && !lh_unique_index_on(relid, keys))
	{
		resetStringInfo(&buf);
		appendStringInfo(&buf, "CREATE UNIQUE INDEX ON %s (", qname);
		foreach(lc, keys)
			appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfoChar(&buf, ')');
		(void) lh_spi_exec(buf.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "index a gold table on its keys");
	}
}

/*
 * The build version of a gold table: the newest change among its inputs
 * and a digest of its definition; NULL when an input is not a lakehouse
 * table (then the table is rebuilt every run).
 */
static char *
build_version(LhTable *table, const GoldKindRoutine *kind, CachedPlanSource *ps)
{
	ListCell   *lc;
	int64		newest = 0;
	char		digest[MD5_PASSWD_LEN + 1];
	const char *errstr = NULL;
	char	   *def;

	if (!catalog_tables_changed_run(ps->relationOids, &newest))
		return NULL;
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "%s\n%s\n", table->gold_kind, table->sql);
		foreach(lc, table->keys)
			appendStringInfo(&buf, "%s\n", (char *) lfirst(lc));
		if (kind->takes_options && table->options)
			appendStringInfo(&buf, "%s\n",
							 JsonbToCString(NULL, &table->options->root,
											VARSIZE(table->options)));
		def = buf.data;
	}
	if (!pg_md5_hash(def, strlen(def), digest, &errstr))
		elog(ERROR, "could not compute MD5: %s", errstr);
	return psprintf(INT64_FORMAT ":%s", newest, digest);
}

/*
 * gold_run_stage
 *		Build one gold table with its kind.  Returns false when the stage
 *		was skipped because nothing it reads has changed.  Caller is
 *		connected to SPI, inside the stage's subtransaction.
 */
bool
gold_run_stage(LhTable *table, LhStageCounts *counts)
{
	const GoldKindRoutine *kind = gold_kind_routine(table->gold_kind);
	CachedPlanSource *ps;
	char	   *version;
	char	   *old_version;

	/* a dropped table first: its query may read tables dropped with it */
	(void) lh_stage_table_oid(table);
	ps = prepare_query(table->sql);
	version = build_version(table, kind, ps);

	old_version = catalog_get_stage_mark(table->table_id, "built");
	if (version && old_version && strcmp(version, old_version) == 0 &&
		!(lh_current_run && lh_current_run->full_refresh))
		return false;

	/* the rows earlier runs diverted are offered again (see transform.h) */
	if (kind->rewrites)
		catalog_quarantine_clear(table->table_id, true);
	kind->write(table, query_text(table->sql), counts);
	lh_progress_add_rows(counts->rows_written);
	catalog_set_stage_mark(table->table_id, "built", version);
	return true;
}

/* ----------------------------------------------------------------
 * The kinds rebuild, append and merge: one INSERT of the query's rows
 * ----------------------------------------------------------------
 */

typedef enum GoldInsert
{
	GOLD_INSERT_REBUILD,
	GOLD_INSERT_APPEND,
	GOLD_INSERT_MERGE
} GoldInsert;

/* For merge: ON CONFLICT (keys) DO UPDATE only the rows that differ. */
static void
append_merge_clause(StringInfo sql, LhTable *table, TupleDesc qdesc)
{
	ListCell   *lc;
	StringInfoData set;
	StringInfoData cmp_old;
	StringInfoData cmp_new;

	initStringInfo(&set);
	initStringInfo(&cmp_old);
	initStringInfo(&cmp_new);
	for (int i = 0; i < qdesc->natts; i++)
	{
		const char *c = quote_identifier(NameStr(TupleDescAttr(qdesc, i)->attname));

		if (lh_name_in_list(table->keys, NameStr(TupleDescAttr(qdesc, i)->attname)))
			continue;
		appendStringInfo(&set, "%s%s = excluded.%s", set.len ? ", " : "", c, c);
		appendStringInfo(&cmp_old, "%st.%s", cmp_old.len ? ", " : "", c);
		appendStringInfo(&cmp_new, "%sexcluded.%s", cmp_new.len ? ", " : "", c);
	}
	appendStringInfoString(sql, " ON CONFLICT (");
	foreach(lc, table->keys)
		appendStringInfo(sql, "%s%s", foreach_current_index(lc) ? ", " : "",
						 quote_identifier(lfirst(lc)));
	if (set.len == 0)
		appendStringInfoString(sql, ") DO NOTHING");
	else
		appendStringInfo(sql, ") DO UPDATE SET %s WHERE ROW(%s) IS DISTINCT FROM ROW(%s)",
						 set.data, cmp_old.data, cmp_new.data);
}

static void
gold_insert(LhTable *table, const char *query, LhStageCounts *counts,
			GoldInsert how)
{
	char	   *qname = lh_qualified_name(table->schema_name, table->table_name);
	TupleDesc	qdesc = prepare_query(query)->resultDesc;
	StringInfoData cols;
	StringInfoData sql;

	initStringInfo(&cols);
	for (int i = 0; i < qdesc->natts; i++)
		appendStringInfo(&cols, "%s%s", i ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(qdesc, i)->attname)));

	initStringInfo(&sql);
	if (how == GOLD_INSERT_REBUILD)
	{
		appendStringInfo(&sql, "DELETE FROM %s", qname);
		(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_DELETE,
						   "empty a gold table");
		resetStringInfo(&sql);
	}

	/*
	 * One statement reports both the rows the query produced and the rows
	 * written (a merge skips rows that did not change).
	 */
	appendStringInfo(&sql, "WITH q AS (SELECT %s FROM (\n%s\n) AS q0),"
					 " w AS (INSERT INTO %s AS t (%s) SELECT %s FROM q",
					 cols.data, query, qname, cols.data, cols.data);
	if (how == GOLD_INSERT_MERGE)
		append_merge_clause(&sql, table, qdesc);
	appendStringInfoString(&sql, " RETURNING 1)"
						   " SELECT (SELECT count(*) FROM q), (SELECT count(*) FROM w)");
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					   "write a gold table");
	counts->rows_read = catalog_int64(0, 1, 0);
	counts->rows_written = catalog_int64(0, 2, 0);
	counts->rows_skipped = counts->rows_read - counts->rows_written;
}

static void
rebuild_prepare(const char *schema, const char *table, const char *sql,
				List *keys, Jsonb *options)
{
	gold_prepare_table(schema, table, sql, keys, false);
}

static void
merge_prepare(const char *schema, const char *table, const char *sql,
			  List *keys, Jsonb *options)
{
	gold_prepare_table(schema, table, sql, keys, true);
}

static void
rebuild_write(LhTable *table, const char *query, LhStageCounts *counts)
{
	gold_insert(table, query, counts, GOLD_INSERT_REBUILD);
}

static void
append_write(LhTable *table, const char *query, LhStageCounts *counts)
{
	gold_insert(table, query, counts, GOLD_INSERT_APPEND);
}

static void
merge_write(LhTable *table, const char *query, LhStageCounts *counts)
{
	gold_insert(table, query, counts, GOLD_INSERT_MERGE);
}

const GoldKindRoutine gold_kind_rebuild = {
	.name = "rebuild",
	.needs_keys = false,
	.takes_options = false,
	.rewrites = true,
	.validate = NULL,
	.prepare = rebuild_prepare,
	.write = rebuild_write,
};

const GoldKindRoutine gold_kind_append = {
	.name = "append",
	.needs_keys = false,
	.takes_options = false,
	.rewrites = false,
	.validate = NULL,
	.prepare = rebuild_prepare,
	.write = append_write,
};

const GoldKindRoutine gold_kind_merge = {
	.name = "merge",
	.needs_keys = true,
	.takes_options = false,
	.rewrites = true,
	.validate = NULL,
	.prepare = merge_prepare,
	.write = merge_write,
};

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
 * Skipping: a gold stage is skipped when the run is not a full refresh,
 * the definition is unchanged since the last build, every relation the
 * query reads is a lakehouse table whose last change (the "changed_run"
 * stage mark written by the orchestrator) is already covered by that
 * build, no captured input has changes past this table's marks (a write
 * outside a run, lh_forget), and the target is the very table that build
 * wrote: its OID and relfilenode are recorded at each build (stage mark
 * "target"), so a table dropped and created again, truncated or rewritten,
 * or empty, is refreshed fully whatever the marks say.  A query that reads
 * anything else (plain tables, views) is always rebuilt, since we cannot
 * know whether it changed.
 *
 * Refreshing (kinds rebuild and merge, contrib-docs/incremental.md): with
 * refresh auto and nothing forcing a full refresh (a full-refresh run,
 * refresh: full, a first build, a re-created or empty target), the
 * incremental engine (gold_incremental_refresh, incremental.c) is asked
 * first; a merge whose query returns a column _lh_op reads
 * lakehouse.lh_changes() itself (the dbt-style hatch) and is run as it
 * is: its rows with _lh_op = 'delete' delete their keys, the others are
 * upserted.  Otherwise the stage writes the whole query (full refresh)
 * while it holds the change-log barrier of its captured inputs
 * (changes.c), and then consumes every input's range, so the next run can
 * be incremental again.  A full write logs no change images of the
 * target: it moves the target's horizon, and the gold tables that read
 * it refresh fully too (changes_capture.c).  refresh and refresh_reason go to the ledger.
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
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/md5.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rel.h"

#include "lakehouse.h"
#include "security/security.h"
#include "transform/changes.h"
#include "transform/transform.h"

/* the column of a merge query that says which keys to delete */
#define LH_OP_COLUMN "_lh_op"

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
		StringInfoData cols;

		/* _lh_op (a merge's deletes) is not stored */
		initStringInfo(&cols);
		for (int i = 0; i < qdesc->natts; i++)
			if (strcmp(NameStr(TupleDescAttr(qdesc, i)->attname), LH_OP_COLUMN) != 0)
				appendStringInfo(&cols, "%s%s", cols.len ? ", " : "",
								 quote_identifier(NameStr(TupleDescAttr(qdesc, i)->attname)));
		if (cols.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("gold SQL must return a column besides %s", LH_OP_COLUMN)));
		lh_ensure_schema(schema);
		appendStringInfo(&buf, "CREATE TABLE %s AS SELECT %s FROM (\n%s\n) AS q WITH NO DATA",
						 qname, cols.data, query_text(sql));
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
			bool		found = strcmp(name, LH_OP_COLUMN) == 0;

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
 * The digest of a gold table's definition: kind, SQL, keys and options
 * (for rebuild and merge only refresh).  A build records it in its stage
 * mark "built"; this is the one place that decides whether the definition
 * changed since (the engine is not asked then: the target holds another
 * query's rows).
 */
static char *
definition_digest(LhTable *table, const GoldKindRoutine *kind)
{
	ListCell   *lc;
	char		digest[MD5_PASSWD_LEN + 1];
	const char *errstr = NULL;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s\n%s\n", table->gold_kind, table->sql);
	foreach(lc, table->keys)
		appendStringInfo(&buf, "%s\n", (char *) lfirst(lc));
	if (kind->takes_options && table->options)
		appendStringInfo(&buf, "%s\n",
						 JsonbToCString(NULL, &table->options->root,
										VARSIZE(table->options)));
	else if (table->options && lh_option_text(table->options, "refresh"))
		appendStringInfo(&buf, "refresh=%s\n",
						 lh_option_text(table->options, "refresh"));
	if (!pg_md5_hash(buf.data, strlen(buf.data), digest, &errstr))
		elog(ERROR, "could not compute MD5: %s", errstr);
	return pstrdup(digest);
}

/*
 * The build version of a gold table: the newest change among its inputs
 * and the digest of its definition, "<newest>:<digest>".  When an input
 * is not a lakehouse table the newest change is unknown: "-:<digest>",
 * which never lets the stage skip (the table is rebuilt every run) but
 * still records that a build happened and of which definition.
 */
static char *
build_version(LhTable *table, const GoldKindRoutine *kind, List *inputs)
{
	int64		newest = 0;
	char	   *digest = definition_digest(table, kind);

	if (!catalog_tables_changed_run(inputs, &newest))
		return psprintf("-:%s", digest);
	return psprintf(INT64_FORMAT ":%s", newest, digest);
}

/* Can a build version let a stage skip (are all its inputs known)? */
static bool
version_known(const char *version)
{
	return version[0] != '-';
}

/* Was the last build (its version) of another definition? */
static bool
definition_changed(const char *old_version, const char *digest)
{
	const char *colon = strchr(old_version, ':');

	return colon == NULL || strcmp(colon + 1, digest) != 0;
}

/*
 * The tables a gold query names in lakehouse.lh_changes() calls (a string
 * constant, or NULL::schema.table): they are inputs although the query
 * reads no relation of theirs.
 */
static bool
lh_changes_walker(Node *node, List **names)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;
		Node	   *arg = fc->args ? linitial(fc->args) : NULL;

		if (strcmp(strVal(llast(fc->funcname)), "lh_changes") == 0 && arg)
		{
			if (IsA(arg, A_Const) && IsA(&((A_Const *) arg)->val, String))
				*names = lappend(*names, strVal(&((A_Const *) arg)->val));
			else if (IsA(arg, TypeCast))
				*names = lappend(*names,
								 NameListToString(((TypeCast *) arg)->typeName->names));
		}
	}
	return raw_expression_tree_walker(node, lh_changes_walker, (void *) names);
}

/*
 * gold_query_inputs
 *		What a gold query reads: the relations of its plan, and the tables
 *		it reads through lh_changes.  Caller is connected to SPI.
 */
List *
gold_query_inputs(const char *sql, List *relation_oids)
{
	List	   *inputs = list_copy(relation_oids);
	List	   *names = NIL;
	List	   *stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	ListCell   *lc;

	if (list_length(stmts) == 1)
		(void) lh_changes_walker(linitial_node(RawStmt, stmts)->stmt, &names);
	foreach(lc, names)
	{
		char	   *schema;
		char	   *table;
		LhTable    *t = catalog_table_lookup(lfirst(lc), &schema, &table);

		if (t)
		{
			Oid			relid = lh_table_oid(t->schema_name, t->table_name, true);

			if (OidIsValid(relid))
				inputs = list_append_unique_oid(inputs, relid);
		}
	}
	return inputs;
}

/* The identity of the target a build wrote: "<oid>:<relfilenode>". */
static char *
target_identity(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	char	   *s = psprintf("%u:%u", relid, rel->rd_rel->relfilenode);

	table_close(rel, AccessShareLock);
	return s;
}

static bool
target_is_empty(LhTable *table)
{
	(void) lh_spi_exec(psprintf("SELECT NOT EXISTS (SELECT 1 FROM %s)",
								lh_qualified_name(table->schema_name, table->table_name)),
					   0, NULL, NULL, NULL, SPI_OK_SELECT, "look at a gold table");
	return catalog_bool(0, 1, false);
}

static bool
query_has_column(CachedPlanSource *ps, const char *name)
{
	if (ps->resultDesc == NULL)
		return false;
	for (int i = 0; i < ps->resultDesc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(ps->resultDesc, i)->attname), name) == 0)
			return true;
	return false;
}

/*
 * gold_refresh_option
 *		The option refresh of a gold table: true for "full".  Definition
 *		time checks it (gold_check_refresh_option).
 */
static bool
refresh_is_full(LhTable *table)
{
	char	   *v = table->options ? lh_option_text(table->options, "refresh") : NULL;

	return v != NULL && strcmp(v, "full") == 0;
}

/*
 * gold_check_refresh_option
 *		Options of kinds rebuild and merge: only refresh, auto or full.
 *		Returns whether options hold anything (to be stored).
 */
bool
gold_check_refresh_option(const char *kind, Jsonb *options)
{
	static const char *const refresh_keys[] = {"refresh", NULL};
	char	   *v;

	if (options == NULL || (JB_ROOT_IS_OBJECT(options) && JB_ROOT_COUNT(options) == 0))
		return false;
	if (strcmp(kind, "rebuild") != 0 && strcmp(kind, "merge") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gold kind \"%s\" takes no options", kind),
				 errhint("Options are for gold kind %s; kinds rebuild and merge take only \"refresh\".",
						 gold_kind_names(true))));
	lh_check_option_keys(options, refresh_keys, psprintf("gold kind \"%s\"", kind));
	v = lh_option_text(options, "refresh");
	if (v == NULL || (strcmp(v, "auto") != 0 && strcmp(v, "full") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value of option \"refresh\": \"%s\"", v ? v : "null"),
				 errhint("Valid values are \"auto\" and \"full\".")));
	return true;
}

/*
 * Are there changes past this table's marks that its last build did not
 * see (a write outside a run, lh_forget)?  Only captured inputs count.
 */
static bool
inputs_have_pending_changes(LhTable *table, List *relids)
{
	ListCell   *lc;

	foreach(lc, relids)
	{
		LhChangeRange *r;

		if (changes_captured_table(lfirst_oid(lc)) == 0)
			continue;
		r = changes_open(table->table_id, lfirst_oid(lc));
		if (!r->complete || changes_count(r) > 0)
			return true;
	}
	return false;
}

/*
 * Write the whole query with the kind, holding the barrier of every
 * captured input until the write is done, then consume the ranges (those
 * of lh_changes calls too) and forget marks of tables no longer read.
 * hatch: the query reads lh_changes, which returns every row now, so the
 * target is emptied first.
 */
static pg_noinline void
full_write_body(LhTable *table, const GoldKindRoutine *kind, CachedPlanSource *ps,
				bool hatch, LhStageCounts *counts)
{
	List	   *ranges = NIL;
	List	   *keep = NIL;
	ListCell   *lc;

	foreach(lc, ps->relationOids)
	{
		if (changes_captured_table(lfirst_oid(lc)) != 0)
			ranges = lappend(ranges, changes_open_held(table->table_id,
													   lfirst_oid(lc)));
	}
	changes_stage_begin(table->table_id, true);
	if (kind->rewrites)
		catalog_quarantine_clear(table->table_id, true);
	if (hatch)
		(void) lh_spi_exec(psprintf("DELETE FROM %s",
									lh_qualified_name(table->schema_name,
													  table->table_name)),
						   0, NULL, NULL, NULL, SPI_OK_DELETE, "empty a gold table");
	kind->write(table, query_text(table->sql), counts);
	ranges = list_concat(ranges, changes_stage_ranges());
	foreach(lc, ranges)
	{
		LhChangeRange *r = lfirst(lc);

		changes_consume(table->table_id, r);
		if (r->input_table_id != 0)
			keep = lappend_int(keep, r->input_table_id);
	}
	changes_forget_other_marks(table->table_id, keep);
}

/*
 * The target is written fully: its capture logs no images but moves its
 * horizon, so that the gold tables reading it refresh fully themselves
 * (changes_capture.c) instead of applying an image of every row deleted
 * and inserted.
 */
static void
full_write(LhTable *table, const GoldKindRoutine *kind, CachedPlanSource *ps,
		   bool hatch, LhStageCounts *counts, Oid relid)
{
	Oid			prev = changes_rewrite_begin(relid);

	PG_TRY();
	{
		full_write_body(table, kind, ps, hatch, counts);
	}
	PG_FINALLY();
	{
		changes_rewrite_end(prev);
		changes_release_held();
		changes_stage_end();
	}
	PG_END_TRY();
}

/*
 * The hatch, incremental: run the merge as it is, lh_changes giving the
 * changes past the marks.  False (with *reason) when lh_changes met a
 * range it could not give incrementally: it gave every row instead, so
 * the caller refreshes fully (emptying the table first).
 */
static pg_noinline bool
hatch_write_body(LhTable *table, const GoldKindRoutine *kind, LhStageCounts *counts,
				 const char **reason)
{
	ListCell   *lc;

	changes_stage_begin(table->table_id, false);
	kind->write(table, query_text(table->sql), counts);
	if (changes_stage_fell_back(reason))
	{
		*reason = pstrdup(*reason);
		return false;
	}
	foreach(lc, changes_stage_ranges())
		changes_consume(table->table_id, lfirst(lc));
	return true;
}

static bool
hatch_write(LhTable *table, const GoldKindRoutine *kind, LhStageCounts *counts,
			const char **reason)
{
	bool		ok;

	PG_TRY();
	{
		ok = hatch_write_body(table, kind, counts, reason);
	}
	PG_CATCH();
	{
		changes_stage_end();
		PG_RE_THROW();
	}
	PG_END_TRY();
	changes_stage_end();
	return ok;
}

static const char *const refresh_names[] = {"full", "partial", "incremental"};

/* Is every input a captured table (its changes are all in the change log)? */
static bool
inputs_all_captured(List *relids)
{
	ListCell   *lc;

	foreach(lc, relids)
		if (changes_captured_table(lfirst_oid(lc)) == 0)
			return false;
	return true;
}

/*
 * gold_run_stage
 *		Build one gold table with its kind.  Returns false when the stage
 *		was skipped because nothing it reads has changed.  Caller is
 *		connected to SPI, inside the stage's subtransaction.
 *
 * Why a stage refreshes fully, first reason wins: a full-refresh run; the
 * option refresh: full; the target (first build, no record of the last
 * build, re-created, empty); a changed definition.  Only when none holds
 * is the hatch run or the engine asked.
 */
bool
gold_run_stage(LhTable *table, LhStageCounts *counts)
{
	const GoldKindRoutine *kind = gold_kind_routine(table->gold_kind);
	bool		incremental_kind = (kind == &gold_kind_rebuild || kind == &gold_kind_merge);
	bool		full_run = lh_current_run && lh_current_run->full_refresh;
	Oid			relid;
	CachedPlanSource *ps;
	List	   *inputs;
	char	   *version;
	char	   *old_version;
	char	   *old_identity;
	const char *target_reason = NULL;
	const char *reason = NULL;
	bool		hatch;
	bool		done = false;
	LhRefresh	how = LH_REFRESH_FULL;

	/* a dropped table first: its query may read tables dropped with it */
	relid = lh_stage_table_oid(table);
	ps = prepare_query(table->sql);
	inputs = gold_query_inputs(table->sql, ps->relationOids);
	version = build_version(table, kind, inputs);

	/* the skip logic: only the very table the last build wrote, not empty */
	old_version = catalog_get_stage_mark(table->table_id, "built");
	old_identity = catalog_get_stage_mark(table->table_id, "target");
	if (old_version == NULL)
		target_reason = "first build";
	else if (old_identity == NULL)
		target_reason = "no record of the target table's last build";
	else if (strcmp(old_identity, target_identity(relid)) != 0)
		target_reason = "target table was re-created";
	else if (target_is_empty(table))
		target_reason = "target table is empty";

	/* its inputs are captured (lazily: tables of 0.1, capture dropped) */
	(void) changes_ensure_inputs(inputs, NULL);

	if (version_known(version) && old_version && strcmp(version, old_version) == 0 &&
		!full_run && target_reason == NULL &&
		!inputs_have_pending_changes(table, inputs))
		return false;

	hatch = kind == &gold_kind_merge && query_has_column(ps, LH_OP_COLUMN);
	if (full_run)
		reason = "full refresh run";
	else if (refresh_is_full(table))
		reason = "refresh: full is set";
	else if (target_reason)
		reason = target_reason;
	else if (definition_changed(old_version, definition_digest(table, kind)))
		reason = "definition changed";

	if (incremental_kind && reason == NULL)
	{
		if (hatch)
		{
			done = hatch_write(table, kind, counts, &reason);
			how = LH_REFRESH_INCREMENTAL;
		}
		else
			done = gold_incremental_refresh(table, counts, &how, &reason);
	}
	if (!done)
	{
		/* the rows earlier runs diverted are offered again (see transform.h) */
		memset(counts, 0, offsetof(LhStageCounts, refresh));
		how = LH_REFRESH_FULL;
		full_write(table, kind, ps, hatch, counts, relid);
	}
	if (incremental_kind)
	{
		counts->refresh = refresh_names[how];
		counts->refresh_reason = how == LH_REFRESH_INCREMENTAL ? NULL : reason;
	}
	lh_progress_add_rows(counts->rows_written);

	/*
	 * The version is read again after the write: the write waited at the
	 * change-log barrier for silver runs in flight and included their rows,
	 * which the version read before it could not see (the next run would
	 * then not skip although nothing is new).  This is exact only when
	 * every input is captured: a change committed after the write's
	 * snapshot is then past this table's marks, and the skip logic sees it.
	 */
	if (version_known(version) && inputs_all_captured(inputs))
		version = build_version(table, kind, inputs);
	catalog_set_stage_mark(table->table_id, "built", version);
	catalog_set_stage_mark(table->table_id, "target", target_identity(relid));
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
	GOLD_INSERT_MERGE,			/* upsert only (refresh: full, as in 0.1) */
	GOLD_INSERT_MERGE_EXACT		/* delete the keys the query no longer
								 * yields, then upsert */
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

		if (lh_name_in_list(table->keys, NameStr(TupleDescAttr(qdesc, i)->attname)) ||
			strcmp(NameStr(TupleDescAttr(qdesc, i)->attname), LH_OP_COLUMN) == 0)
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
	CachedPlanSource *ps = prepare_query(query);
	TupleDesc	qdesc = ps->resultDesc;
	bool		merge = how == GOLD_INSERT_MERGE || how == GOLD_INSERT_MERGE_EXACT;
	bool		deletes = merge && query_has_column(ps, LH_OP_COLUMN);
	StringInfoData cols;
	StringInfoData sql;

	initStringInfo(&cols);
	for (int i = 0; i < qdesc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(qdesc, i)->attname), LH_OP_COLUMN) != 0)
			appendStringInfo(&cols, "%s%s", cols.len ? ", " : "",
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
	if (!deletes && how == GOLD_INSERT_MERGE_EXACT)
	{
		/*
		 * A full merge with refresh auto leaves the table equal to the
		 * query's result: the keys the query no longer yields are deleted
		 * (a key holding a NULL matches nothing, so its row is deleted and
		 * inserted again).  The deleted and the upserted rows are disjoint,
		 * so one statement does both.
		 */
		ListCell   *lc;

		appendStringInfo(&sql, "WITH q AS (SELECT %s FROM (\n%s\n) AS q0),"
						 " d AS (DELETE FROM %s AS t WHERE NOT EXISTS"
						 " (SELECT 1 FROM q WHERE true",
						 cols.data, query, qname);
		foreach(lc, table->keys)
			appendStringInfo(&sql, " AND t.%s = q.%s", quote_identifier(lfirst(lc)),
							 quote_identifier(lfirst(lc)));
		appendStringInfo(&sql, ") RETURNING 1),"
						 " w AS (INSERT INTO %s AS t (%s) SELECT %s FROM q",
						 qname, cols.data, cols.data);
	}
	else if (!deletes)
		appendStringInfo(&sql, "WITH q AS (SELECT %s FROM (\n%s\n) AS q0),"
						 " d AS (SELECT 1 WHERE false),"
						 " w AS (INSERT INTO %s AS t (%s) SELECT %s FROM q",
						 cols.data, query, qname, cols.data, cols.data);
	else
	{
		/* the dbt-style hatch: rows with _lh_op 'delete' delete their key */
		ListCell   *lc;

		appendStringInfo(&sql, "WITH q AS (SELECT %s, q0.%s FROM (\n%s\n) AS q0),"
						 " d AS (DELETE FROM %s AS t USING q"
						 " WHERE q.%s = 'delete'",
						 cols.data, LH_OP_COLUMN, query, qname, LH_OP_COLUMN);
		foreach(lc, table->keys)
			appendStringInfo(&sql, " AND t.%s = q.%s", quote_identifier(lfirst(lc)),
							 quote_identifier(lfirst(lc)));
		appendStringInfo(&sql, " RETURNING 1),"
						 " w AS (INSERT INTO %s AS t (%s) SELECT %s FROM q"
						 " WHERE q.%s IS DISTINCT FROM 'delete'",
						 qname, cols.data, cols.data, LH_OP_COLUMN);
	}
	if (merge)
		append_merge_clause(&sql, table, qdesc);
	appendStringInfoString(&sql, " RETURNING 1)"
						   " SELECT (SELECT count(*) FROM q),"
						   " (SELECT count(*) FROM w) + (SELECT count(*) FROM d)");
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

/*
 * A merge is written fully only on the full path (the engine writes its
 * incremental and partial refreshes itself): with refresh auto it must
 * leave the table equal to the query's result, like every other path;
 * refresh: full keeps 0.1's upsert-only merge.
 */
static void
merge_write(LhTable *table, const char *query, LhStageCounts *counts)
{
	gold_insert(table, query, counts,
				refresh_is_full(table) ? GOLD_INSERT_MERGE : GOLD_INSERT_MERGE_EXACT);
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

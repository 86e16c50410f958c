/*-------------------------------------------------------------------------
 *
 * yaml.c
 *	  lh_apply_config() and lh_apply_config_file(): declare pipelines from a
 *	  YAML stream.
 *
 * The work happens in two steps.  yaml_parse.c turns the stream into the
 * validated LhCfg* definitions of declare/declare.h (lh_cfg_parse(), no SQL);
 * this file reads the input, runs that step, and applies its result.  It
 * also supplies lh_cfg_report(), which raises the parse step's errors.
 *
 * cfg_apply() declares the pipelines through the SQL API over SPI --
 * lh_create_pipeline, lh_add_source, lh_define_silver, lh_define_gold,
 * always with replace => true -- then unregisters the sources and tables
 * of each pipeline that the document no longer lists (lh_drop_source,
 * lh_drop_table without dropping data) and (un)schedules it.  Names,
 * options and SQL reach those functions only as SPI parameters.  Before
 * changing anything it checks what it can: every upstream pipeline exists
 * (in the stream or in the catalog), and silver and gold table names are
 * valid and unique across the stream.
 *
 * Order of the apply step, chosen so that one stream may declare pipelines
 * that depend on each other, and move a source or table between pipelines:
 * create every pipeline (without dependencies), then set the dependencies,
 * then unregister the tables (and the sources no table reads) that each
 * pipeline no longer declares, then define sources, silver and gold tables
 * pipeline by pipeline, upstream pipelines first (a gold query may read an
 * upstream's silver table), and last unregister the remaining undeclared
 * sources, which silver tables read until they were redefined.
 *
 * Transactions: everything runs in the caller's transaction and nothing is
 * committed here, so an error anywhere -- while parsing, or while applying
 * the last pipeline of the stream -- leaves the catalog as it was.  Locks
 * are those the SQL API takes, held to the end of that transaction.
 * Pipelines that exist but are not in the stream are not touched.
 *
 * Result: {"pipelines": [{"pipeline": "orders", "action": "created"}, ...]}
 * in document order.  The action compares a fingerprint of the pipeline's
 * catalog rows (by name; no ids, no timestamps; catalog_pipeline_fingerprint)
 * taken before and after, so applying the same configuration twice reports
 * "unchanged".  What this file reads of the catalog it reads through the
 * catalog functions (src/catalog/); what it changes, through the SQL API.
 *
 * Cleanup: libyaml mallocs.  The parser and the document being walked are
 * freed by lh_cfg_release(), called from PG_FINALLY around the parse step
 * on success and error alike, so nothing of libyaml's outlives it.  A
 * configuration file is opened with AllocateFile(), which closes it at
 * transaction abort if reading fails.  Everything else is palloc'd in the
 * caller's memory context or in SPI's, which SPI_finish() releases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "lakehouse.h"
#include "declare/declare.h"
#include "quality/quality.h"

PG_FUNCTION_INFO_V1(lh_apply_config);
PG_FUNCTION_INFO_V1(lh_apply_config_file);

/* Largest configuration accepted, as text or as a file (a GUC, bytes). */
#define CFG_MAX_INPUT			lh_max_config_bytes


/* ---------------------------------------------------------------------
 * Applying: SPI helpers
 * ---------------------------------------------------------------------
 */

/* What the error context says while one definition is applied. */
typedef struct CfgApplyContext
{
	const char *what;			/* NULL: between definitions */
	LhCfgLoc	loc;
} CfgApplyContext;

static void
cfg_apply_callback(void *arg)
{
	CfgApplyContext *ctx = (CfgApplyContext *) arg;

	if (ctx->what != NULL)
		errcontext("while applying %s declared at line %d, column %d",
				   ctx->what, ctx->loc.line, ctx->loc.column);
}

static void
cfg_file_callback(void *arg)
{
	errcontext("pipeline configuration file \"%s\"", (const char *) arg);
}

/* Run a query with parameters; nulls as for SPI_execute_with_args. */
static void
cfg_exec(const char *sql, int nargs, Oid *types, Datum *values,
		 const char *nulls)
{
	(void) lh_spi_exec(sql, nargs, types, values, nulls, SPI_OK_SELECT,
					   "apply a pipeline configuration");
}

static Datum
cfg_text_array(const LhCfgNames *names)
{
	Datum	   *items;
	int			i;

	if (names->n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	items = palloc(sizeof(Datum) * names->n);
	for (i = 0; i < names->n; i++)
		items[i] = CStringGetTextDatum(names->names[i]);
	return PointerGetDatum(construct_array(items, names->n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

static Datum
cfg_text_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* Index of the stream's pipeline called name, or -1; byname is sorted. */
static int
cfg_pipeline_index(LhCfgParser *p, const LhCfgNameRef *byname, const char *name)
{
	int			lo = 0;
	int			hi = p->npipelines - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(name, byname[mid].name);

		if (c == 0)
			return byname[mid].seq;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Depth-first: upstream pipelines of the stream before their dependents. */
static void
cfg_order_visit(LhCfgParser *p, const LhCfgNameRef *byname, int i, char *marks,
				int *order, int *norder)
{
	LhCfgPipeline *pl = &p->pipelines[i];
	int			j;

	check_stack_depth();
	if (marks[i])
		return;
	marks[i] = 1;
	for (j = 0; j < pl->depends_on.n; j++)
	{
		int			up = cfg_pipeline_index(p, byname, pl->depends_on.names[j]);

		if (up >= 0)
			cfg_order_visit(p, byname, up, marks, order, norder);
	}
	order[(*norder)++] = i;
}


/* ---------------------------------------------------------------------
 * Applying: the steps
 * ---------------------------------------------------------------------
 */

/*
 * The qualified names of a pipeline's silver and gold tables, sorted, for
 * pruning; each is also added to refs for the stream-wide duplicate check.
 */
static char **
cfg_table_names(LhCfgPipeline *pl, CfgApplyContext *ctx, LhCfgNameRef *refs,
				int *nrefs)
{
	char	  **names = palloc(sizeof(char *) * (pl->nsilver + pl->ngold + 1));
	int			n = 0;
	int			j;

	for (j = 0; j < pl->nsilver + pl->ngold; j++)
	{
		bool		silver = j < pl->nsilver;
		const char *table = silver ? pl->silver[j].table :
			pl->gold[j - pl->nsilver].table;
		char	   *schema_name;
		char	   *table_name;

		ctx->what = psprintf("%s table \"%s\" of pipeline \"%s\"",
							 silver ? "silver" : "gold", table, pl->name);
		ctx->loc = silver ? pl->silver[j].loc : pl->gold[j - pl->nsilver].loc;
		lh_parse_table_name(table, silver ? "silver" : "gold",
							&schema_name, &table_name);
		names[n] = lh_qualified_name(schema_name, table_name);

		refs[*nrefs].name = names[n];
		refs[*nrefs].loc = ctx->loc;
		refs[*nrefs].seq = *nrefs;
		(*nrefs)++;
		n++;
	}
	ctx->what = NULL;
	qsort(names, n, sizeof(char *), lh_cfg_strcmp);
	return names;
}

/*
 * Unregister the silver and gold tables the pipeline has in the catalog but
 * no longer declares.  The tables and their data stay.
 */
static void
cfg_prune_tables(LhCfgPipeline *pl, char **tables, int ntables)
{
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2];
	List	   *registered;
	ListCell   *lc;

	registered = catalog_pipeline_tables_by_name(catalog_pipeline_id(pl->name, true));
	foreach(lc, registered)
	{
		LhTable    *t = lfirst(lc);
		char	   *name = lh_qualified_name(t->schema_name, t->table_name);

		if (lh_cfg_sorted_contains(tables, ntables, name))
			continue;
		ereport(NOTICE,
				(errmsg("unregistering %s table %s, which pipeline \"%s\" no longer declares",
						t->layer, name, pl->name),
				 errdetail("The table and its data are kept.")));
		values[0] = CStringGetTextDatum(name);
		values[1] = BoolGetDatum(false);
		cfg_exec("SELECT lakehouse.lh_drop_table($1, $2)", 2, types, values, NULL);
	}
}

/*
 * Unregister the sources the pipeline has in the catalog but no longer
 * declares; their bronze tables and data stay.  Before the definitions are
 * applied only sources no silver table reads can go (unreferenced_only);
 * the rest go after the silver tables have been redefined.
 */
static void
cfg_prune_sources(LhCfgPipeline *pl, bool unreferenced_only)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	  **declared;
	List	   *registered;
	ListCell   *lc;
	int			j;

	declared = palloc(sizeof(char *) * (pl->nsources + 1));
	for (j = 0; j < pl->nsources; j++)
		declared[j] = pl->sources[j].name;
	qsort(declared, pl->nsources, sizeof(char *), lh_cfg_strcmp);

	registered = catalog_pipeline_source_names(catalog_pipeline_id(pl->name, true),
											   unreferenced_only);
	foreach(lc, registered)
	{
		char	   *name = lfirst(lc);

		if (lh_cfg_sorted_contains(declared, pl->nsources, name))
			continue;
		ereport(NOTICE,
				(errmsg("unregistering source \"%s\", which pipeline \"%s\" no longer declares",
						name, pl->name),
				 errdetail("Its bronze table and the data in it are kept.")));
		values[0] = CStringGetTextDatum(name);
		cfg_exec("SELECT lakehouse.lh_drop_source($1)", 1, types, values, NULL);
	}
}

/*
 * Make a table's YAML-declared expectations (src/quality/) the given JSON
 * list; none given drops the ones an earlier YAML declared.
 */
static void
cfg_set_expectations(const char *table, const char *json, const char *dbt_tests)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	/* dbt tests are expectations of kind dbt_test (src/quality/dbt.c) */
	if (dbt_tests)
	{
		char	   *items = dbt_expectation_items(table, dbt_tests);

		json = json == NULL || strcmp(json, "[]") == 0 ? items :
			psprintf("%.*s,%s", (int) strlen(json) - 1, json, items + 1);
	}
	values[0] = CStringGetTextDatum(table);
	values[1] = CStringGetTextDatum(json ? json : "[]");
	cfg_exec("SELECT lakehouse.lh_set_expectations($1, $2::jsonb)", 2, types, values, NULL);
}

/* Define the sources, silver and gold tables and schedule of a pipeline. */
static char *cfg_read_file(const char *path, const char *shown,
						   const char *what, size_t *len);

static void
cfg_define(LhCfgPipeline *pl, CfgApplyContext *ctx)
{
	Oid			types[8];
	Datum		values[8];
	char		nulls[9] = "        ";
	LhPipeline *declared;
	char	   *current;
	int			j;

	for (j = 0; j < pl->nsources; j++)
	{
		LhCfgSource *src = &pl->sources[j];

		ctx->what = psprintf("source \"%s\" of pipeline \"%s\"", src->name, pl->name);
		ctx->loc = src->loc;
		types[0] = types[1] = types[2] = types[3] = types[4] = TEXTOID;
		values[0] = CStringGetTextDatum(pl->name);
		values[1] = CStringGetTextDatum(src->name);
		values[2] = CStringGetTextDatum(src->kind);
		values[3] = CStringGetTextDatum(src->options);
		values[4] = cfg_text_or_null(src->bronze_table, &nulls[4]);
		cfg_exec("SELECT lakehouse.lh_add_source($1, $2, $3, $4::jsonb, $5, true)",
				 5, types, values, nulls);
		nulls[4] = ' ';
	}

	for (j = 0; j < pl->nsilver; j++)
	{
		LhCfgSilver *tab = &pl->silver[j];

		ctx->what = psprintf("silver table \"%s\" of pipeline \"%s\"", tab->table, pl->name);
		ctx->loc = tab->loc;
		types[0] = types[1] = types[2] = types[3] = types[5] = TEXTOID;
		types[4] = TEXTARRAYOID;
		values[0] = CStringGetTextDatum(pl->name);
		values[1] = CStringGetTextDatum(tab->table);
		values[2] = CStringGetTextDatum(tab->source);
		values[3] = CStringGetTextDatum(tab->columns);
		values[4] = tab->keys.n > 0 ? cfg_text_array(&tab->keys) : (Datum) 0;
		nulls[4] = tab->keys.n > 0 ? ' ' : 'n';
		values[5] = cfg_text_or_null(tab->order_by, &nulls[5]);
		types[6] = TEXTOID;
		values[6] = cfg_text_or_null(tab->schema_policy, &nulls[6]);
		types[7] = BOOLOID;
		values[7] = BoolGetDatum(tab->allow_breaking);
		cfg_exec("SELECT lakehouse.lh_define_silver($1, $2, $3, $4::jsonb, $5, $6, true, $7, $8)",
				 8, types, values, nulls);
		nulls[4] = nulls[5] = nulls[6] = ' ';
		cfg_set_expectations(tab->table, tab->expectations, tab->dbt_tests);
	}

	for (j = 0; j < pl->ngold; j++)
	{
		LhCfgGold  *tab = &pl->gold[j];

		ctx->what = psprintf("gold table \"%s\" of pipeline \"%s\"", tab->table, pl->name);
		ctx->loc = tab->loc;
		types[0] = types[1] = types[2] = types[3] = TEXTOID;
		types[4] = TEXTARRAYOID;
		values[0] = CStringGetTextDatum(pl->name);
		values[1] = CStringGetTextDatum(tab->table);
		values[2] = CStringGetTextDatum(tab->sql);
		values[3] = CStringGetTextDatum(tab->kind ? tab->kind : "rebuild");
		values[4] = tab->keys.n > 0 ? cfg_text_array(&tab->keys) : (Datum) 0;
		nulls[4] = tab->keys.n > 0 ? ' ' : 'n';
		types[5] = TEXTOID;
		values[5] = CStringGetTextDatum(tab->options);
		cfg_exec("SELECT lakehouse.lh_define_gold($1, $2, $3, $4, $5, true, $6::jsonb)",
				 6, types, values, nulls);
		nulls[4] = ' ';
		cfg_set_expectations(tab->table, tab->expectations, tab->dbt_tests);

		/* its data contract (src/contract/contract.c) */
		if (tab->contract || tab->contract_file)
		{
			size_t		len;
			char	   *doc = tab->contract ? tab->contract :
				cfg_read_file(tab->contract_file, tab->contract_file,
							  "data contract", &len);

			values[2] = CStringGetTextDatum(doc);
			values[3] = CStringGetTextDatum(tab->on_violation ? tab->on_violation : "fail");
			cfg_exec("SELECT lakehouse.lh_attach_contract($2, $3, $4)",
					 4, types, values, nulls);
		}
	}

	/* (un)schedule only when the schedule changes: pg_cron jobs stay put */
	ctx->what = psprintf("pipeline \"%s\"", pl->name);
	ctx->loc = pl->loc;
	declared = catalog_pipeline_by_name(pl->name, true);
	current = declared ? declared->schedule : NULL;
	types[0] = types[1] = TEXTOID;
	values[0] = CStringGetTextDatum(pl->name);
	if (pl->schedule != NULL &&
		(current == NULL || strcmp(current, pl->schedule) != 0))
	{
		values[1] = CStringGetTextDatum(pl->schedule);
		cfg_exec("SELECT lakehouse.lh_schedule($1, $2)", 2, types, values, NULL);
	}
	else if (pl->schedule == NULL && current != NULL)
		cfg_exec("SELECT lakehouse.lh_unschedule($1)", 1, types, values, NULL);
	ctx->what = NULL;
}

/*
 * Check what can be checked before anything changes: every upstream in
 * depends_on exists (here or in the catalog), and no table is declared
 * twice.  Fills tables[i] with the tables pipeline i declares.
 */
static void
cfg_check_before(LhCfgParser *p, LhCfgNameRef *byname, char ***tables,
				 CfgApplyContext *ctx)
{
	int			ntablerefs = 0;
	LhCfgNameRef *tablerefs;

	for (int i = 0; i < p->npipelines; i++)
		ntablerefs += p->pipelines[i].nsilver + p->pipelines[i].ngold;
	tablerefs = palloc(sizeof(LhCfgNameRef) * (ntablerefs + 1));
	ntablerefs = 0;
	for (int i = 0; i < p->npipelines; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		for (int j = 0; j < pl->depends_on.n; j++)
		{
			const char *up = pl->depends_on.names[j];

			if (cfg_pipeline_index(p, byname, up) < 0 && catalog_pipeline_id(up, true) == 0)
			{
				List	   *known = catalog_pipeline_names();
				char	   *hint;

				for (int k = 0; k < p->npipelines; k++)
					known = lappend(known, p->pipelines[k].name);
				hint = lh_suggest_name(up, known, "pipeline");
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("pipeline \"%s\" does not exist", up),
						 errdetail("Pipeline \"%s\" lists it in depends_on at line %d, column %d.",
								   pl->name, pl->depends_on.locs[j].line,
								   pl->depends_on.locs[j].column),
						 hint ? errhint("%s", hint) :
						 errhint("Declare the upstream pipeline before, or in the same configuration.")));
			}
		}
		tables[i] = cfg_table_names(pl, ctx, tablerefs, &ntablerefs);
	}
	lh_cfg_check_unique(p, tablerefs, ntablerefs, "table", NULL);
}

/*
 * Steps 1 and 2: every pipeline exists (with_deps false: with no
 * dependencies yet), then its dependencies (with_deps true, only for the
 * pipelines that have some), once every upstream exists.
 */
static void
cfg_create_pipelines(LhCfgParser *p, CfgApplyContext *ctx, bool with_deps)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	char		nulls[4] = "   ";

	for (int i = 0; i < p->npipelines; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		if (with_deps && pl->depends_on.n == 0)
			continue;
		ctx->what = psprintf("pipeline \"%s\"", pl->name);
		ctx->loc = pl->loc;
		values[0] = CStringGetTextDatum(pl->name);
		values[1] = cfg_text_or_null(pl->description, &nulls[1]);
		if (with_deps)
		{
			values[2] = cfg_text_array(&pl->depends_on);
			cfg_exec("SELECT lakehouse.lh_create_pipeline($1, $2, $3, true)",
					 3, types, values, nulls);
		}
		else
			cfg_exec("SELECT lakehouse.lh_create_pipeline($1, $2, '{}'::text[], true)",
					 2, types, values, nulls);
		nulls[1] = ' ';
	}
}

/* The summary: {"pipelines": [{"pipeline": name, "action": ...}, ...]}. */
static Jsonb *
cfg_summary(LhCfgParser *p, const char **actions)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"pipelines\": [");
	for (int i = 0; i < p->npipelines; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"pipeline\": ");
		escape_json(&buf, p->pipelines[i].name);
		appendStringInfo(&buf, ", \"action\": \"%s\"}", actions[i]);
	}
	appendStringInfoString(&buf, "]}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * Apply parsed pipelines; see the file header for the order of the steps.
 * Returns the summary.
 */
static Jsonb *
cfg_apply(LhCfgParser *p)
{
	int			n = p->npipelines;
	const char **actions = palloc(sizeof(char *) * (n + 1));
	LhCfgNameRef *byname = palloc(sizeof(LhCfgNameRef) * (n + 1));
	char	   *marks = palloc0(n + 1);
	int		   *order = palloc(sizeof(int) * (n + 1));
	int			norder = 0;
	char	  **before = palloc(sizeof(char *) * (n + 1));
	char	 ***tables = palloc(sizeof(char **) * (n + 1));
	CfgApplyContext ctx;
	ErrorContextCallback errcb;
	int			i;

	for (i = 0; i < n; i++)
	{
		byname[i].name = p->pipelines[i].name;
		byname[i].loc = p->pipelines[i].loc;
		byname[i].seq = i;
	}
	qsort(byname, n, sizeof(LhCfgNameRef), lh_cfg_nameref_cmp);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	ctx.what = NULL;
	errcb.callback = cfg_apply_callback;
	errcb.arg = &ctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	cfg_check_before(p, byname, tables, &ctx);
	for (i = 0; i < n; i++)
		before[i] = catalog_pipeline_fingerprint(p->pipelines[i].name);

	/* 1: every pipeline exists, with no dependencies yet */
	cfg_create_pipelines(p, &ctx, false);

	/* 2: dependencies, now that every upstream exists */
	cfg_create_pipelines(p, &ctx, true);

	/* 3: unregister what the pipelines no longer declare */
	for (i = 0; i < n; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		ctx.what = psprintf("pipeline \"%s\"", pl->name);
		ctx.loc = pl->loc;
		cfg_prune_tables(pl, tables[i], pl->nsilver + pl->ngold);
		cfg_prune_sources(pl, true);
	}

	/* 4: definitions, upstream pipelines first */
	for (i = 0; i < n; i++)
		cfg_order_visit(p, byname, i, marks, order, &norder);
	for (i = 0; i < norder; i++)
		cfg_define(&p->pipelines[order[i]], &ctx);

	/* 5: sources that silver tables read until step 4 redefined them */
	for (i = 0; i < n; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		ctx.what = psprintf("pipeline \"%s\"", pl->name);
		ctx.loc = pl->loc;
		cfg_prune_sources(pl, false);
	}

	ctx.what = NULL;
	for (i = 0; i < n; i++)
	{
		char	   *after = catalog_pipeline_fingerprint(p->pipelines[i].name);

		if (before[i] == NULL)
			actions[i] = "created";
		else if (after == NULL || strcmp(before[i], after) != 0)
			actions[i] = "updated";
		else
			actions[i] = "unchanged";
	}

	error_context_stack = errcb.previous;
	SPI_finish();
	return cfg_summary(p, actions);
}

/*
 * Parse input (UTF-8 YAML, input_len bytes) and apply it.  libyaml's memory
 * is released whatever happens.
 */
static Jsonb *
cfg_parse_and_apply(const char *input, size_t input_len, const char *base_dir,
					const char *filename)
{
	LhCfgParser *volatile parser;

	if (input_len > CFG_MAX_INPUT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("pipeline configuration is too large"),
				 errdetail("The configuration has %zu bytes; the limit is %d bytes (lakehouse.max_config_bytes).",
						   input_len, CFG_MAX_INPUT)));

	parser = palloc0(sizeof(LhCfgParser));
	parser->input = (const unsigned char *) input;
	parser->input_len = input_len;
	parser->base_dir = base_dir;
	parser->filename = filename;

	PG_TRY();
	{
		lh_cfg_parse(parser);
	}
	PG_FINALLY();
	{
		lh_cfg_release(parser);
	}
	PG_END_TRY();

	return cfg_apply(parser);
}

/*
 * Read a whole configuration file (a pipeline's, a contract it names, a
 * dq.yaml quality file); shown is the name for messages, what the kind of
 * file ("pipeline configuration", ...).  Reading a server file needs what
 * pg_read_file needs.
 */
static char *
cfg_read_file(const char *path, const char *shown, const char *what,
			  size_t *len)
{
	struct stat st;
	FILE	   *file;
	StringInfoData buf;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read file \"%s\"", shown),
				 errdetail("Only roles with privileges of the \"%s\" role may read files on the server.",
						   "pg_read_server_files"),
				 errhint("Give a contract inline, as a mapping under \"contract\", instead of a file.")));

	if (stat(path, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", shown)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", shown)));
	if (st.st_size > CFG_MAX_INPUT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s file \"%s\" is too large", what, shown),
				 errdetail("The file has %lld bytes; the limit is %d bytes (lakehouse.max_config_bytes).",
						   (long long) st.st_size, CFG_MAX_INPUT)));

	file = AllocateFile(path, PG_BINARY_R);
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", shown)));

	initStringInfo(&buf);
	for (;;)
	{
		size_t		nread;

		enlargeStringInfo(&buf, 65536);
		nread = fread(buf.data + buf.len, 1, buf.maxlen - buf.len - 1, file);
		buf.len += nread;
		if (buf.len > CFG_MAX_INPUT)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s file \"%s\" is too large", what, shown),
					 errdetail("The limit is %d bytes (lakehouse.max_config_bytes).", CFG_MAX_INPUT)));
		if (nread == 0)
			break;
	}
	if (ferror(file))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", shown)));
	FreeFile(file);

	buf.data[buf.len] = '\0';
	*len = buf.len;
	return buf.data;
}

/* Errors of the parse step, raised in the server. */
void
lh_cfg_report(LhCfgParser *parser, LhCfgErrorKind kind, const char *message,
			  const char *detail, const char *hint)
{
	int			sqlstate;

	switch (kind)
	{
		case LH_CFG_ERROR_SYNTAX:
			sqlstate = ERRCODE_SYNTAX_ERROR;
			break;
		case LH_CFG_ERROR_LIMIT:
			sqlstate = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
			break;
		case LH_CFG_ERROR_NOMEM:
			sqlstate = ERRCODE_OUT_OF_MEMORY;
			break;
		case LH_CFG_ERROR_INVALID:
		default:
			sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}


/* ---------------------------------------------------------------------
 * SQL-callable functions
 * ---------------------------------------------------------------------
 */

/*
 * lh_apply_config(config text) RETURNS jsonb
 *
 * Declare the pipelines of a YAML stream (see the file header).
 */
Datum
lh_apply_config(PG_FUNCTION_ARGS)
{
	text	   *config = PG_GETARG_TEXT_PP(0);
	const char *data = VARDATA_ANY(config);
	int			len = VARSIZE_ANY_EXHDR(config);
	char	   *utf8;

	/* libyaml reads UTF-8 */
	utf8 = pg_server_to_any(data, len, PG_UTF8);
	if (utf8 != data)
		len = strlen(utf8);

	PG_RETURN_JSONB_P(cfg_parse_and_apply(utf8, len, NULL, NULL));
}

/*
 * lh_apply_config_file(path text) RETURNS jsonb
 *
 * Like lh_apply_config, reading a file on the server (as pg_read_file
 * does: for superusers and members of pg_read_server_files).  A relative
 * path is relative to the data directory; relative paths of file sources
 * are relative to the directory of the YAML file.
 */
Datum
lh_apply_config_file(PG_FUNCTION_ARGS)
{
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *dir;
	char	   *contents;
	size_t		len;
	ErrorContextCallback errcb;
	Jsonb	   *result;

	errcb.callback = cfg_file_callback;
	errcb.arg = path;
	errcb.previous = error_context_stack;

	contents = lh_cfg_read_server_file(path, "pipeline configuration", &errcb,
									   &len, &dir);
	result = cfg_parse_and_apply(contents, len, dir, path);

	error_context_stack = errcb.previous;
	PG_RETURN_JSONB_P(result);
}

/*
 * Read a configuration file of the server for lh_apply_config_file and its
 * kin (lh_apply_quality_config_file): only for superusers and members of
 * pg_read_server_files, as pg_read_file; a relative path is relative to
 * the data directory; at most lakehouse.max_config_bytes.  what names the
 * kind of file in messages.  errcb (callback and arg set by the caller) is
 * pushed once the privilege check passed, and stays pushed: the caller pops
 * it.  Returns the contents (*len bytes) and the file's directory in *dir.
 */
char *
lh_cfg_read_server_file(const char *path, const char *what,
						ErrorContextCallback *errcb, size_t *len, char **dir)
{
	char	   *abspath;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read %s file \"%s\"", what, path),
				 errdetail("Only roles with privileges of the \"%s\" role may read files on the server.",
						   "pg_read_server_files")));

	if (is_absolute_path(path))
		abspath = pstrdup(path);
	else
		abspath = psprintf("%s/%s", DataDir, path);
	canonicalize_path(abspath);
	*dir = pstrdup(abspath);
	get_parent_directory(*dir);

	errcb->previous = error_context_stack;
	error_context_stack = errcb;
	return cfg_read_file(abspath, path, what, len);
}

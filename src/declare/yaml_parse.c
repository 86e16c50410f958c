/*-------------------------------------------------------------------------
 *
 * yaml_parse.c
 *	  The parse step of lh_apply_config(): the pipeline schema, which turns
 *	  a YAML stream into the validated pipeline definitions of
 *	  declare/declare.h.
 *
 * This file owns what a pipeline configuration may say: the keys of each
 * section (documents, pipelines, sources, silver and gold tables, their
 * columns, expectations and dbt tests) and the rules between them.
 * lh_cfg_parse() loads the stream one document at a time with yaml_read.c
 * and walks each node tree into the LhCfg* structs.  It checks every key
 * (unrecognized and duplicate keys), the kind of every node (mapping, list,
 * scalar) and every required key, and reports the line and column of what
 * is wrong.  Source options and silver column lists are rendered to JSON
 * text on the way, and relative "path" options of sources (files) are made
 * absolute against the parser's base_dir.  Pipeline names and source names
 * must be unique across the stream.  yaml.c applies the result.  The
 * generic reading (node access, key checks, errors, bounds, JSON rendering)
 * is yaml_read.c's.
 *
 * Transactions and locking: none.  Like yaml_read.c, this file runs no SQL,
 * reads no catalog and takes no locks, so test/fuzz/yaml_fuzz.c links both
 * outside the server, unchanged; it may call only what yaml_read.c may, and
 * lh_cron_check() (cron.c).
 *
 * Errors: every error goes through lh_cfg_report(), which never returns (the
 * server raises an ERROR, the harness longjmps), so lh_cfg_parse() either
 * fills p->pipelines completely or does not return.
 *
 * Memory: lh_cfg_parse() frees libyaml's parser and document once it
 * reaches the end of the stream; after an error they are still live, so the
 * caller must call lh_cfg_release() on success and error alike (from
 * PG_FINALLY in the server).  The definitions, their JSON text and the
 * messages are palloc'd in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <yaml.h>

#include "utils/json.h"

#include "declare/declare.h"
#include "declare/yaml_read.h"

/* Keys of each section; the enums index the same arrays. */
static const char *const document_keys[] = {"pipelines", NULL};

static const char *const pipeline_keys[] = {
	"pipeline", "description", "depends_on", "schedule", "sources", "silver",
	"gold", NULL
};
enum
{
	PK_PIPELINE, PK_DESCRIPTION, PK_DEPENDS_ON, PK_SCHEDULE, PK_SOURCES,
	PK_SILVER, PK_GOLD
};

static const char *const source_keys[] = {
	"name", "kind", "bronze_table", "options", NULL
};
enum
{
	SK_NAME, SK_KIND, SK_BRONZE_TABLE, SK_OPTIONS
};

static const char *const silver_keys[] = {
	"table", "source", "keys", "order_by", "columns", "schema_policy",
	"allow_breaking", "expectations", "tests", "data_tests", NULL
};
enum
{
	VK_TABLE, VK_SOURCE, VK_KEYS, VK_ORDER_BY, VK_COLUMNS, VK_SCHEMA_POLICY,
	VK_ALLOW_BREAKING, VK_EXPECTATIONS, VK_TESTS, VK_DATA_TESTS
};

static const char *const gold_keys[] = {
	"table", "kind", "keys", "sql", "options", "contract", "on_violation",
	"expectations", "tests", "data_tests", "columns", "refresh", NULL
};
enum
{
	GK_TABLE, GK_KIND, GK_KEYS, GK_SQL, GK_OPTIONS, GK_CONTRACT, GK_ON_VIOLATION,
	GK_EXPECTATIONS, GK_TESTS, GK_DATA_TESTS, GK_COLUMNS, GK_REFRESH
};

static const char *const column_keys[] = {
	"name", "path", "type", "required", "transforms", "default", "min", "max",
	"non_negative", "classification", "masking", "tests", "data_tests", NULL
};
enum
{
	CK_NAME, CK_PATH, CK_TYPE, CK_REQUIRED, CK_TRANSFORMS, CK_DEFAULT, CK_MIN,
	CK_MAX, CK_NON_NEGATIVE, CK_CLASSIFICATION, CK_MASKING, CK_TESTS,
	CK_DATA_TESTS
};

/* A gold column: only there to carry dbt tests, as in dbt's schema.yml. */
static const char *const gold_column_keys[] = {
	"name", "description", "tests", "data_tests", NULL
};
enum
{
	GCK_NAME, GCK_DESCRIPTION, GCK_TESTS, GCK_DATA_TESTS
};


/* ---------------------------------------------------------------------
 * Parsing: typed values of the keys of a section
 * ---------------------------------------------------------------------
 */

/*
 * A string-valued key: NULL when absent or null, unless required.  Any
 * scalar is taken as its text (description: 42 is "42").
 */
static char *
cfg_string(LhCfgParser *p, CfgFields *f, const char *const *keys, int i,
		   yaml_node_t *map, const char *where, bool required)
{
	yaml_node_t *node = f->value[i];

	if (node == NULL)
	{
		if (required)
			lh_cfg_missing(p, map, keys[i], where);
		return NULL;
	}
	if (node->type != YAML_SCALAR_NODE)
		lh_cfg_wrong_kind(p, node, "a string", keys[i], false, where);
	if (lh_cfg_is_null(node))
	{
		if (required)
			lh_cfg_wrong_kind(p, node, "a string", keys[i], false, where);
		return NULL;
	}
	return lh_cfg_cstring(p, node, where);
}

/* A boolean-valued key: -1 when absent or null, else 0 or 1. */
static int
cfg_bool(LhCfgParser *p, CfgFields *f, const char *const *keys, int i,
		 const char *where)
{
	yaml_node_t *node = f->value[i];

	if (node == NULL || lh_cfg_is_null(node))
		return -1;
	if (node->type == YAML_SCALAR_NODE)
	{
		CfgScalarClass class = lh_cfg_scalar_class(node);

		LhCfgLoc	loc = lh_cfg_loc(node);

		if (class == CFG_TRUE)
			return 1;
		if (class == CFG_FALSE)
			return 0;
		lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
				 psprintf("invalid value for configuration key \"%s\"", keys[i]),
				 NULL, "Expected true or false but found \"%s\" in %s at line %d, column %d.",
				 lh_cfg_cstring(p, node, where), where, loc.line, loc.column);
	}
	lh_cfg_wrong_kind(p, node, "true or false", keys[i], false, where);
}

/*
 * A list-valued key: the sequence node, or NULL when absent or null (an
 * empty list), unless required.
 */
static yaml_node_t *
cfg_list(LhCfgParser *p, CfgFields *f, const char *const *keys, int i,
		 yaml_node_t *map, const char *where, bool required)
{
	yaml_node_t *node = f->value[i];

	if (node == NULL)
	{
		if (required)
			lh_cfg_missing(p, map, keys[i], where);
		return NULL;
	}
	if (lh_cfg_is_null(node) && !required)
		return NULL;
	if (node->type != YAML_SEQUENCE_NODE)
		lh_cfg_wrong_kind(p, node, "a list", keys[i], false, where);
	return node;
}

static int
cfg_list_length(const yaml_node_t *seq)
{
	return seq ? (int) (seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
}

/* A list of strings (depends_on, keys, transforms). */
static void
cfg_names(LhCfgParser *p, CfgFields *f, const char *const *keys, int i,
		  yaml_node_t *map, const char *where, LhCfgNames *out)
{
	yaml_node_t *seq = cfg_list(p, f, keys, i, map, where, false);
	int			j;

	out->n = cfg_list_length(seq);
	out->names = palloc0(sizeof(char *) * (out->n + 1));
	out->locs = palloc0(sizeof(LhCfgLoc) * (out->n + 1));
	for (j = 0; j < out->n; j++)
	{
		yaml_node_t *item = lh_cfg_node(p, seq->data.sequence.items.start[j]);

		if (item->type != YAML_SCALAR_NODE || lh_cfg_is_null(item))
			lh_cfg_wrong_kind(p, item, "a string", keys[i], true, where);
		out->names[j] = lh_cfg_cstring(p, item, where);
		out->locs[j] = lh_cfg_loc(item);
	}
}

/* The item of a list that must be a mapping (sources, silver, ...). */
static yaml_node_t *
cfg_list_mapping(LhCfgParser *p, yaml_node_t *seq, int j, const char *key,
				 const char *where)
{
	yaml_node_t *item = lh_cfg_node(p, seq->data.sequence.items.start[j]);

	if (item->type != YAML_MAPPING_NODE)
		lh_cfg_wrong_kind(p, item, "a mapping", key, true, where);
	return item;
}

/*
 * dbt tests (src/quality/dbt.c) of a table or of one of its columns: the
 * list under "tests" or, dbt 1.8's name, "data_tests" (not both, as dbt),
 * appended to out (a JSON array being built) as {"test": <the test as
 * written>, "column": <column>}; dbt.c checks their meaning.
 */
static void
cfg_dbt_tests(LhCfgParser *p, StringInfo out, yaml_node_t *tests,
			  yaml_node_t *data_tests, const char *column, const char *where)
{
	yaml_node_t *seq = tests ? tests : data_tests;
	int			n;

	if (tests && data_tests)
	{
		LhCfgLoc	loc = lh_cfg_loc(data_tests);

		lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "both \"tests\" and \"data_tests\" are given",
				 "\"data_tests\" is dbt 1.8's name for \"tests\": keep one of them.",
				 "Found in %s at line %d, column %d.", where, loc.line, loc.column);
	}
	if (seq == NULL || lh_cfg_is_null(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE)
		lh_cfg_wrong_kind(p, seq, "a list", tests ? "tests" : "data_tests", false, where);
	n = cfg_list_length(seq);
	for (int j = 0; j < n; j++)
	{
		appendStringInfoString(out, out->len > 1 ? ",{\"test\":" : "{\"test\":");
		appendStringInfoString(out,
							   lh_cfg_json(p, lh_cfg_node(p, seq->data.sequence.items.start[j]),
										   where));
		if (column)
		{
			appendStringInfoString(out, ",\"column\":");
			escape_json(out, column);
		}
		appendStringInfoChar(out, '}');
	}
}

/* The dbt tests gathered in out ("[" and items), or NULL for none. */
static char *
cfg_dbt_tests_done(StringInfo out)
{
	if (out->len <= 1)
		return NULL;
	appendStringInfoChar(out, ']');
	return out->data;
}

/*
 * One silver column as a JSON object; *ref gets its name.  Its dbt tests
 * go to tests.
 */
static void
cfg_column(LhCfgParser *p, StringInfo buf, yaml_node_t *map,
		   const char *table_where, LhCfgNameRef *ref, StringInfo tests)
{
	CfgFields	f;
	char	   *name = lh_cfg_peek(p, map, "name", table_where);
	char	   *where;
	char	   *value;
	LhCfgNames	transforms;
	int			flag;
	int			i;

	where = name ? psprintf("column \"%s\" of %s", name, table_where) :
		psprintf("a column of %s", table_where);
	lh_cfg_map_fields(p, map, column_keys, where, NULL, &f);

	name = cfg_string(p, &f, column_keys, CK_NAME, map, where, true);
	ref->name = name;
	ref->loc = lh_cfg_loc(map);

	appendStringInfoString(buf, "{\"name\":");
	escape_json(buf, name);

	if ((value = cfg_string(p, &f, column_keys, CK_PATH, map, where, false)))
	{
		appendStringInfoString(buf, ",\"path\":");
		escape_json(buf, value);
	}

	value = cfg_string(p, &f, column_keys, CK_TYPE, map, where, true);
	appendStringInfoString(buf, ",\"type\":");
	escape_json(buf, value);

	if ((flag = cfg_bool(p, &f, column_keys, CK_REQUIRED, where)) >= 0)
		appendStringInfo(buf, ",\"required\":%s", flag ? "true" : "false");

	if (f.value[CK_TRANSFORMS] != NULL)
	{
		cfg_names(p, &f, column_keys, CK_TRANSFORMS, map, where, &transforms);
		appendStringInfoString(buf, ",\"transforms\":[");
		for (i = 0; i < transforms.n; i++)
		{
			if (i > 0)
				appendStringInfoChar(buf, ',');
			escape_json(buf, transforms.names[i]);
		}
		appendStringInfoChar(buf, ']');
	}

	/* default, min and max are text whatever they look like: min: 0 is "0" */
	for (i = CK_DEFAULT; i <= CK_MAX; i++)
	{
		if ((value = cfg_string(p, &f, column_keys, i, map, where, false)))
		{
			appendStringInfo(buf, ",\"%s\":", column_keys[i]);
			escape_json(buf, value);
		}
	}

	if ((flag = cfg_bool(p, &f, column_keys, CK_NON_NEGATIVE, where)) >= 0)
		appendStringInfo(buf, ",\"non_negative\":%s", flag ? "true" : "false");

	/* PII classification and masking (checked by lh_define_silver) */
	for (i = CK_CLASSIFICATION; i <= CK_MASKING; i++)
	{
		if ((value = cfg_string(p, &f, column_keys, i, map, where, false)))
		{
			appendStringInfo(buf, ",\"%s\":", column_keys[i]);
			escape_json(buf, value);
		}
	}

	appendStringInfoChar(buf, '}');
	cfg_dbt_tests(p, tests, f.value[CK_TESTS], f.value[CK_DATA_TESTS], name, where);
}

/*
 * The columns of a gold table, as in dbt's schema.yml: a name, a
 * description (documentation only) and dbt tests, appended to tests.
 */
static void
cfg_gold_columns(LhCfgParser *p, yaml_node_t *seq, const char *table_where,
				 StringInfo tests)
{
	int			n;
	LhCfgNameRef *refs;

	if (seq == NULL || lh_cfg_is_null(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE)
		lh_cfg_wrong_kind(p, seq, "a list", "columns", false, table_where);
	n = cfg_list_length(seq);
	refs = palloc(sizeof(LhCfgNameRef) * (n + 1));
	for (int j = 0; j < n; j++)
	{
		yaml_node_t *map = cfg_list_mapping(p, seq, j, "columns", table_where);
		char	   *name = lh_cfg_peek(p, map, "name", table_where);
		char	   *where;
		CfgFields	f;

		where = name ? psprintf("column \"%s\" of %s", name, table_where) :
			psprintf("a column of %s", table_where);
		lh_cfg_map_fields(p, map, gold_column_keys, where, NULL, &f);
		name = cfg_string(p, &f, gold_column_keys, GCK_NAME, map, where, true);
		(void) cfg_string(p, &f, gold_column_keys, GCK_DESCRIPTION, map, where, false);
		refs[j].name = name;
		refs[j].loc = lh_cfg_loc(map);
		refs[j].seq = j;
		cfg_dbt_tests(p, tests, f.value[GCK_TESTS], f.value[GCK_DATA_TESTS], name, where);
	}
	lh_cfg_check_unique(p, refs, n, "column", table_where);
}


/* ---------------------------------------------------------------------
 * Parsing: the sections
 * ---------------------------------------------------------------------
 */

static void
cfg_source(LhCfgParser *p, LhCfgPipeline *pl, LhCfgSource *src, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = lh_cfg_peek(p, map, "name", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *options;

	where = name ? psprintf("source \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a source of pipeline \"%s\"", pl->name);
	lh_cfg_map_fields(p, map, source_keys, where, NULL, &f);

	src->loc = lh_cfg_loc(map);
	src->name = cfg_string(p, &f, source_keys, SK_NAME, map, where, true);
	src->kind = cfg_string(p, &f, source_keys, SK_KIND, map, where, true);
	src->bronze_table = cfg_string(p, &f, source_keys, SK_BRONZE_TABLE, map,
								   where, false);

	options = f.value[SK_OPTIONS];
	if (options == NULL || lh_cfg_is_null(options))
		src->options = pstrdup("{}");
	else
	{
		if (options->type != YAML_MAPPING_NODE)
			lh_cfg_wrong_kind(p, options, "a mapping", "options", false, where);
		/* a source option "path" names a file: relative to this file */
		src->options = lh_cfg_json_map(p, options, where, p->base_dir, false);
	}
}

/*
 * A table's data-quality expectations (src/quality/): a list of mappings,
 * as a JSON array; lh_set_expectations checks their meaning.  NULL if absent.
 */
static char *
cfg_expectations(LhCfgParser *p, yaml_node_t *seq, const char *where)
{
	StringInfoData buf;
	int			n;

	if (seq == NULL || lh_cfg_is_null(seq))
		return NULL;
	if (seq->type != YAML_SEQUENCE_NODE)
		lh_cfg_wrong_kind(p, seq, "a list", "expectations", false, where);
	n = cfg_list_length(seq);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int j = 0; j < n; j++)
	{
		if (j > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf,
							   lh_cfg_json(p, cfg_list_mapping(p, seq, j, "expectations", where),
										   where));
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static void
cfg_silver(LhCfgParser *p, LhCfgPipeline *pl, LhCfgSilver *tab, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = lh_cfg_peek(p, map, "table", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *columns;
	StringInfoData buf;
	StringInfoData tests;
	LhCfgNameRef *refs;
	int			n;
	int			j;

	where = name ? psprintf("silver table \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a silver table of pipeline \"%s\"", pl->name);
	lh_cfg_map_fields(p, map, silver_keys, where, NULL, &f);

	tab->loc = lh_cfg_loc(map);
	tab->table = cfg_string(p, &f, silver_keys, VK_TABLE, map, where, true);
	tab->source = cfg_string(p, &f, silver_keys, VK_SOURCE, map, where, true);
	cfg_names(p, &f, silver_keys, VK_KEYS, map, where, &tab->keys);
	tab->order_by = cfg_string(p, &f, silver_keys, VK_ORDER_BY, map, where, false);
	tab->schema_policy = cfg_string(p, &f, silver_keys, VK_SCHEMA_POLICY, map,
									where, false);
	tab->allow_breaking = cfg_bool(p, &f, silver_keys, VK_ALLOW_BREAKING, where) == 1;
	tab->expectations = cfg_expectations(p, f.value[VK_EXPECTATIONS], where);
	initStringInfo(&tests);
	appendStringInfoChar(&tests, '[');
	cfg_dbt_tests(p, &tests, f.value[VK_TESTS], f.value[VK_DATA_TESTS], NULL, where);

	columns = cfg_list(p, &f, silver_keys, VK_COLUMNS, map, where, true);
	n = cfg_list_length(columns);
	refs = palloc(sizeof(LhCfgNameRef) * (n + 1));
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (j = 0; j < n; j++)
	{
		yaml_node_t *item = cfg_list_mapping(p, columns, j, "columns", where);

		if (j > 0)
			appendStringInfoChar(&buf, ',');
		cfg_column(p, &buf, item, where, &refs[j], &tests);
		refs[j].seq = j;
	}
	appendStringInfoChar(&buf, ']');
	tab->columns = buf.data;
	lh_cfg_check_unique(p, refs, n, "column", where);
	tab->dbt_tests = cfg_dbt_tests_done(&tests);
}

static void
cfg_gold(LhCfgParser *p, LhCfgPipeline *pl, LhCfgGold *tab, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = lh_cfg_peek(p, map, "table", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *options;
	StringInfoData buf;

	where = name ? psprintf("gold table \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a gold table of pipeline \"%s\"", pl->name);
	lh_cfg_map_fields(p, map, gold_keys, where, NULL, &f);

	tab->loc = lh_cfg_loc(map);
	tab->table = cfg_string(p, &f, gold_keys, GK_TABLE, map, where, true);
	tab->kind = cfg_string(p, &f, gold_keys, GK_KIND, map, where, false);
	cfg_names(p, &f, gold_keys, GK_KEYS, map, where, &tab->keys);
	tab->sql = cfg_string(p, &f, gold_keys, GK_SQL, map, where, true);
	tab->expectations = cfg_expectations(p, f.value[GK_EXPECTATIONS], where);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	cfg_dbt_tests(p, &buf, f.value[GK_TESTS], f.value[GK_DATA_TESTS], NULL, where);
	cfg_gold_columns(p, f.value[GK_COLUMNS], where, &buf);
	tab->dbt_tests = cfg_dbt_tests_done(&buf);

	/* options of the scd2 kind; the SQL API checks their meaning */
	options = f.value[GK_OPTIONS];
	if (options == NULL || lh_cfg_is_null(options))
		tab->options = pstrdup("{}");
	else
	{
		if (options->type != YAML_MAPPING_NODE)
			lh_cfg_wrong_kind(p, options, "a mapping", "options", false, where);
		tab->options = lh_cfg_json_map(p, options, where, NULL, false);
	}

	/*
	 * refresh: auto | full (kinds rebuild and merge), stored with the
	 * options; the SQL API checks it
	 */
	{
		char	   *refresh = cfg_string(p, &f, gold_keys, GK_REFRESH, map, where, false);

		if (refresh)
		{
			StringInfoData r;
			size_t		len = strlen(tab->options);

			initStringInfo(&r);
			appendBinaryStringInfo(&r, tab->options, len - 1);	/* without '}' */
			if (strcmp(tab->options, "{}") != 0)
				appendStringInfoString(&r, ", ");
			appendStringInfoString(&r, "\"refresh\": ");
			escape_json(&r, refresh);
			appendStringInfoChar(&r, '}');
			tab->options = r.data;
		}
	}

	/*
	 * A data contract (src/contract/): an inline mapping, or the path of a
	 * YAML or JSON file relative to the configuration file (only
	 * lh_apply_config_file reads files).
	 */
	tab->on_violation = cfg_string(p, &f, gold_keys, GK_ON_VIOLATION, map, where, false);
	options = f.value[GK_CONTRACT];
	if (options != NULL && !lh_cfg_is_null(options))
	{
		if (options->type == YAML_MAPPING_NODE)
		{
			/* plain decimals are numbers in a contract, as in lh_yaml_to_json */
			tab->contract = lh_cfg_json_map(p, options, where, NULL, true);
		}
		else if (options->type == YAML_SCALAR_NODE &&
				 lh_cfg_scalar_class(options) == CFG_STRING)
		{
			char	   *path = lh_cfg_cstring(p, options, where);

			if (!is_absolute_path(path))
			{
				LhCfgLoc	loc = lh_cfg_loc(options);

				if (p->base_dir == NULL)
					lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid data contract reference",
							 "Give the contract inline as a mapping, or use lh_apply_config_file so that the path is relative to the file.",
							 "The contract of %s at line %d, column %d is a relative file path, but the configuration was not read from a file.",
							 where, loc.line, loc.column);
				path = psprintf("%s/%s", p->base_dir, path);
				canonicalize_path(path);
			}
			tab->contract_file = path;
		}
		else
			lh_cfg_wrong_kind(p, options, "a mapping or a file path", "contract", false, where);
	}
	else if (tab->on_violation != NULL)
	{
		LhCfgLoc	loc = lh_cfg_loc(map);

		lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "on_violation needs a contract",
				 "Add a \"contract\" key, or remove \"on_violation\".",
				 "The %s at line %d, column %d has on_violation but no contract.",
				 where, loc.line, loc.column);
	}
}

static LhCfgPipeline *
cfg_add_pipeline(LhCfgParser *p)
{
	if (p->npipelines == p->maxpipelines)
	{
		p->maxpipelines = p->maxpipelines ? p->maxpipelines * 2 : 8;
		if (p->pipelines)
			p->pipelines = repalloc(p->pipelines,
									sizeof(LhCfgPipeline) * p->maxpipelines);
		else
			p->pipelines = palloc(sizeof(LhCfgPipeline) * p->maxpipelines);
	}
	memset(&p->pipelines[p->npipelines], 0, sizeof(LhCfgPipeline));
	return &p->pipelines[p->npipelines++];
}

static void
cfg_pipeline(LhCfgParser *p, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = lh_cfg_peek(p, map, "pipeline", "a pipeline");
	char	   *where;
	LhCfgPipeline *pl;
	yaml_node_t *seq;
	LhCfgNameRef *refs;
	char	  **declared;
	int			j;

	where = name ? psprintf("pipeline \"%s\"", name) : "a pipeline";
	lh_cfg_map_fields(p, map, pipeline_keys, where, NULL, &f);

	pl = cfg_add_pipeline(p);
	pl->loc = lh_cfg_loc(map);
	pl->name = cfg_string(p, &f, pipeline_keys, PK_PIPELINE, map, where, true);
	pl->description = cfg_string(p, &f, pipeline_keys, PK_DESCRIPTION, map,
								 where, false);
	pl->schedule = cfg_string(p, &f, pipeline_keys, PK_SCHEDULE, map, where,
							  false);
	if (pl->schedule != NULL)
	{
		char	   *problem;

		if (!lh_cron_check(pl->schedule, &problem))
		{
			LhCfgLoc	loc = lh_cfg_loc(f.value[PK_SCHEDULE]);

			lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
					 "invalid value for configuration key \"schedule\"",
					 LH_CRON_SYNTAX_HINT,
					 "The schedule \"%s\" in %s at line %d, column %d is not a cron schedule: %s.",
					 pl->schedule, where, loc.line, loc.column, problem);
		}
	}

	cfg_names(p, &f, pipeline_keys, PK_DEPENDS_ON, map, where, &pl->depends_on);
	refs = palloc(sizeof(LhCfgNameRef) * (pl->depends_on.n + 1));
	for (j = 0; j < pl->depends_on.n; j++)
	{
		if (strcmp(pl->depends_on.names[j], pl->name) == 0)
			lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
					 psprintf("pipeline \"%s\" cannot depend on itself", pl->name),
					 NULL, "Found in depends_on at line %d, column %d.",
					 pl->depends_on.locs[j].line, pl->depends_on.locs[j].column);
		refs[j].name = pl->depends_on.names[j];
		refs[j].loc = pl->depends_on.locs[j];
		refs[j].seq = j;
	}
	lh_cfg_check_unique(p, refs, pl->depends_on.n, "upstream pipeline",
					 psprintf("depends_on of %s", where));

	seq = cfg_list(p, &f, pipeline_keys, PK_SOURCES, map, where, false);
	pl->nsources = cfg_list_length(seq);
	pl->sources = palloc0(sizeof(LhCfgSource) * (pl->nsources + 1));
	for (j = 0; j < pl->nsources; j++)
		cfg_source(p, pl, &pl->sources[j],
				   cfg_list_mapping(p, seq, j, "sources", where));

	seq = cfg_list(p, &f, pipeline_keys, PK_SILVER, map, where, false);
	pl->nsilver = cfg_list_length(seq);
	pl->silver = palloc0(sizeof(LhCfgSilver) * (pl->nsilver + 1));
	for (j = 0; j < pl->nsilver; j++)
		cfg_silver(p, pl, &pl->silver[j],
				   cfg_list_mapping(p, seq, j, "silver", where));

	/*
	 * A silver table reads a source of its own pipeline, and sources the
	 * document does not declare get unregistered: so it must be declared
	 * here.
	 */
	declared = palloc(sizeof(char *) * (pl->nsources + 1));
	for (j = 0; j < pl->nsources; j++)
		declared[j] = pl->sources[j].name;
	qsort(declared, pl->nsources, sizeof(char *), lh_cfg_strcmp);
	for (j = 0; j < pl->nsilver; j++)
	{
		if (!lh_cfg_sorted_contains(declared, pl->nsources, pl->silver[j].source))
			lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
					 psprintf("silver table \"%s\" reads undeclared source \"%s\"",
							  pl->silver[j].table, pl->silver[j].source),
					 psprintf("Declare the source under \"sources\" of pipeline \"%s\".",
							  pl->name),
					 "Found in %s at line %d, column %d.",
					 where, pl->silver[j].loc.line, pl->silver[j].loc.column);
	}

	seq = cfg_list(p, &f, pipeline_keys, PK_GOLD, map, where, false);
	pl->ngold = cfg_list_length(seq);
	pl->gold = palloc0(sizeof(LhCfgGold) * (pl->ngold + 1));
	for (j = 0; j < pl->ngold; j++)
		cfg_gold(p, pl, &pl->gold[j],
				 cfg_list_mapping(p, seq, j, "gold", where));
}

/*
 * One YAML document: a pipeline mapping, or {pipelines: [pipeline, ...]}.
 * An empty document is skipped.
 */
static void
cfg_document(LhCfgParser *p, yaml_node_t *root)
{
	if (lh_cfg_is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE)
	{
		LhCfgLoc	loc = lh_cfg_loc(root);

		lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration document",
				 "A document is one pipeline (with the key \"pipeline\") or a list of pipelines under the key \"pipelines\".",
				 "Expected a mapping but found %s at line %d, column %d.",
				 lh_cfg_kind_name(root), loc.line, loc.column);
	}

	if (lh_cfg_has_key(p, root, "pipelines"))
	{
		const char *where = "a document with a \"pipelines\" list";
		CfgFields	f;
		yaml_node_t *seq;
		int			n;
		int			j;

		lh_cfg_map_fields(p, root, document_keys, where,
				   "A document that lists pipelines under \"pipelines\" cannot have other keys.",
				   &f);
		p->saw_pipelines_key = true;
		seq = cfg_list(p, &f, document_keys, 0, root, where, false);
		n = cfg_list_length(seq);
		for (j = 0; j < n; j++)
			cfg_pipeline(p, cfg_list_mapping(p, seq, j, "pipelines", where));
	}
	else
		cfg_pipeline(p, root);
}

/*
 * Parse and validate the whole stream into p->pipelines.  Errors go through
 * lh_cfg_report(); the caller must call lh_cfg_release() afterwards, after
 * an error too.
 */
void
lh_cfg_parse(LhCfgParser *p)
{
	LhCfgNameRef *refs;
	int			nrefs;
	int			i;
	int			j;

	lh_cfg_open(p, "pipeline configuration");
	for (;;)
	{
		yaml_node_t *root = lh_cfg_load_next(p);

		if (root == NULL)
			break;				/* end of the stream */
		cfg_document(p, root);
		yaml_document_delete(&p->document);
		p->document_live = false;
	}
	lh_cfg_release(p);

	if (p->npipelines == 0 && !p->saw_pipelines_key)
		lh_cfg_report(p, LH_CFG_ERROR_INVALID, "pipeline configuration is empty",
					  "The configuration holds no YAML document with a pipeline.",
					  "Declare a pipeline with the key \"pipeline\", or a list of pipelines under the key \"pipelines\".");

	/* pipeline and source names are unique across the stream */
	refs = palloc(sizeof(LhCfgNameRef) * (p->npipelines + 1));
	for (i = 0; i < p->npipelines; i++)
	{
		refs[i].name = p->pipelines[i].name;
		refs[i].loc = p->pipelines[i].loc;
		refs[i].seq = i;
	}
	lh_cfg_check_unique(p, refs, p->npipelines, "pipeline", NULL);
	pfree(refs);

	nrefs = 0;
	for (i = 0; i < p->npipelines; i++)
		nrefs += p->pipelines[i].nsources;
	refs = palloc(sizeof(LhCfgNameRef) * (nrefs + 1));
	nrefs = 0;
	for (i = 0; i < p->npipelines; i++)
	{
		for (j = 0; j < p->pipelines[i].nsources; j++)
		{
			refs[nrefs].name = p->pipelines[i].sources[j].name;
			refs[nrefs].loc = p->pipelines[i].sources[j].loc;
			refs[nrefs].seq = nrefs;
			nrefs++;
		}
	}
	lh_cfg_check_unique(p, refs, nrefs, "source", NULL);
	pfree(refs);
}

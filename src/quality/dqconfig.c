/*-------------------------------------------------------------------------
 *
 * dqconfig.c
 *	  The original project's dq.yaml quality files: lh_apply_quality_config
 *	  and lh_apply_quality_config_file, and the file-order evaluation of
 *	  their fail_fast checks.
 *
 * A quality file names silver and gold tables by layer and lists checks
 * for each:
 *
 *	 quality_gates:
 *	   critical_checks: [not_null_keys, referential_integrity, freshness]
 *	 silver:
 *	   orders:
 *		 level: silver
 *		 checks:
 *		   - {type: expect_column_to_not_be_null, column: order_id, action: fail_fast}
 *		   - {type: pk_unique, columns: [order_id], action: fail}
 *
 * Each check becomes an ordinary expectation of its table (a kind of
 * expect.c, stored by define.c with origin 'quality_config'), so it is
 * evaluated by the same scan as every other expectation and its results go
 * to lakehouse.dq_results; what only a quality file has -- the check type
 * as written, its action, its category, whether the category is critical,
 * and its position in the file -- is kept beside it in
 * lakehouse.dq_config_checks.  The action decides the severity stored:
 * warn is "warn", fail and fail_fast are "fail", and a check whose
 * category is listed under critical_checks is "fail" whatever its action.
 *
 * Applying a file makes the quality_config expectations of each table it
 * names exactly the file's checks (added, changed, removed), and leaves
 * the expectations declared in SQL or in a pipeline's YAML alone; a check
 * whose name is taken by one of those is an error.  Tables the file does
 * not name keep their checks.  Everything runs in the caller's transaction:
 * an error anywhere leaves the catalog as it was.
 *
 * Reading: the file is read by the parser of pipeline configurations
 * (src/declare/yaml_read.c: lh_cfg_load_single and its accessors), with
 * its bounds (size, nesting, alias expansion), its key checks and its
 * messages naming the line and column; libyaml's memory is released from
 * PG_FINALLY.  Files are read as lh_apply_config_file reads them
 * (lh_cfg_read_server_file: pg_read_server_files, lakehouse.max_config_bytes).
 *
 * fail_fast: dqconfig_evaluate, called by the pipeline gate (gate.c) and by
 * lh_check (check.c) instead of dq_evaluate, evaluates a table whose
 * quality file has fail_fast checks in segments: the table's other
 * expectations and the file's checks up to the first fail_fast check, then
 * up to the next, and so on.  When a fail_fast check fails, the checks
 * after it in the file are neither evaluated nor recorded (a NOTICE names
 * them), and the gate fails the run naming that check.  A table without
 * fail_fast checks costs one catalog query and is evaluated as before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <yaml.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "declare/declare.h"
#include "quality/quality.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_apply_quality_config);
PG_FUNCTION_INFO_V1(lh_apply_quality_config_file);

#define DQC_ORIGIN		"quality_config"
#define DQC_MAX_TYPE_KEYS 8

/*
 * The check types of a quality file and the expectation kind each becomes.
 * keys are the type's own keys, args the argument of the kind each one
 * gives (GE's min_value is min, ...); prefix starts the default name.
 */
typedef struct DqcType
{
	const char *type;
	const char *prefix;
	const char *kind;
	const char *category;		/* default; NULL: not_null's rule */
	const char *keys[DQC_MAX_TYPE_KEYS];
	const char *args[DQC_MAX_TYPE_KEYS];
} DqcType;

#define DQC_NOT_NULL(t) {t, "not_null", "not_null", NULL, {"column"}, {"column"}}
#define DQC_UNIQUE(t, p, c) {t, p, "unique", c, {"columns", "column"}, {"columns", "column"}}
#define DQC_REFERENCES(t) {t, "referential_integrity", "relationships", "referential_integrity", \
	{"column", "to", "ref_table", "field", "ref_column"}, {"column", "to", "to", "field", "field"}}
#define DQC_IN_SET(t) {t, "accepted_values", "accepted_values", "accepted_values", \
	{"column", "values", "value_set"}, {"column", "values", "values"}}
#define DQC_BETWEEN(t) {t, "between", "between", "range", \
	{"column", "min", "max", "min_value", "max_value", "strict_min", "strict_max"}, \
	{"column", "min", "max", "min", "max", "strict_min", "strict_max"}}
#define DQC_ROW_COUNT(t) {t, "row_count", "row_count_between", "row_count", \
	{"min", "max", "min_value", "max_value"}, {"min", "max", "min", "max"}}

static const DqcType dqc_types[] = {
	DQC_NOT_NULL("expect_column_to_not_be_null"),
	DQC_NOT_NULL("expect_column_values_to_not_be_null"),
	DQC_NOT_NULL("not_null"),
	DQC_UNIQUE("pk_unique", "pk_unique", "primary_key"),
	DQC_UNIQUE("unique", "unique", "uniqueness"),
	DQC_REFERENCES("referential_integrity"),
	DQC_REFERENCES("foreign_key"),
	{"freshness", "freshness", "freshness", "freshness",
	{"column", "max_age"}, {"column", "max_age"}},
	{"control_total", "control_total", "control_total", "control_total",
	{"column", "path", "tolerance"}, {"column", "path", "tolerance"}},
	DQC_IN_SET("accepted_values"),
	DQC_IN_SET("expect_column_values_to_be_in_set"),
	DQC_BETWEEN("between"),
	DQC_BETWEEN("range"),
	DQC_BETWEEN("expect_column_values_to_be_between"),
	DQC_ROW_COUNT("row_count"),
	DQC_ROW_COUNT("expect_table_row_count_to_be_between"),
};

/* The categories checks have by default (critical_checks may list them). */
static const char *const dqc_categories[] = {
	"not_null_keys", "not_null", "primary_key", "uniqueness",
	"referential_integrity", "freshness", "control_total", "accepted_values",
	"range", "row_count", NULL
};

/* Keys every check may have besides those of its type. */
static const char *const dqc_check_keys[] = {
	"type", "name", "action", "category", "mostly", "where", NULL
};
enum
{
	QK_TYPE, QK_NAME, QK_ACTION, QK_CATEGORY, QK_MOSTLY, QK_WHERE, QK_NCOMMON
};

static const char *const dqc_root_keys[] = {"quality_gates", "silver", "gold", NULL};
static const char *const dqc_gate_keys[] = {"critical_checks", NULL};
static const char *const dqc_table_keys[] = {"level", "checks", NULL};

/* One check of a table, as read. */
typedef struct DqcCheck
{
	LhCfgLoc	loc;
	char	   *where;			/* silver.orders.checks[2] */
	const DqcType *type;
	char	   *type_name;		/* as written */
	char	   *name;
	char	   *action;			/* fail_fast, fail, warn */
	char	   *category;		/* NULL: the type's default */
	char	   *mostly;
	char	   *row_filter;
	char	   *args;			/* the kind's arguments, a JSON object */
	List	   *columns;		/* char *: its column(s) */
} DqcCheck;

typedef struct DqcTable
{
	LhCfgLoc	loc;
	char	   *layer;
	char	   *name;			/* as written */
	char	   *where;			/* silver.orders */
	int			nchecks;
	DqcCheck   *checks;
} DqcTable;

typedef struct DqcFile
{
	LhCfgNames	critical;
	int			ntables;
	DqcTable   *tables;
} DqcFile;

/* What the error context says while a table or check is applied. */
typedef struct DqcContext
{
	const char *what;
	LhCfgLoc	loc;
} DqcContext;


/* ---------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------
 */

static void dqc_fail(LhCfgParser *p, const char *message, const char *hint,
					 const char *detail) pg_attribute_noreturn();

static void
dqc_fail(LhCfgParser *p, const char *message, const char *hint,
		 const char *detail)
{
	lh_cfg_report(p, LH_CFG_ERROR_INVALID, message, detail, hint);
}

static const DqcType *
dqc_type(const char *name)
{
	for (int i = 0; i < lengthof(dqc_types); i++)
		if (strcmp(dqc_types[i].type, name) == 0)
			return &dqc_types[i];
	return NULL;
}

static bool
dqc_in(const char *const *words, const char *word)
{
	for (; *words; words++)
		if (strcmp(*words, word) == 0)
			return true;
	return false;
}

/* The columns named by a check's "column" or "columns" value. */
static void
dqc_read_columns(LhCfgParser *p, DqcCheck *c, yaml_node_t *node,
				 const char *key)
{
	if (strcmp(key, "column") == 0)
	{
		c->columns = lappend(c->columns, lh_cfg_scalar(p, node, key, c->where, true));
		return;
	}
	if (node->type != YAML_SEQUENCE_NODE)
		lh_cfg_wrong_kind(p, node, "a list", key, false, c->where);
	for (yaml_node_item_t *item = node->data.sequence.items.start;
		 item < node->data.sequence.items.top; item++)
	{
		yaml_node_t *n = lh_cfg_node(p, *item);

		if (n->type != YAML_SCALAR_NODE || lh_cfg_is_null(n))
			lh_cfg_wrong_kind(p, n, "a string", key, true, c->where);
		c->columns = lappend(c->columns, lh_cfg_scalar(p, n, key, c->where, true));
	}
}

/*
 * One check: its type first (it decides the valid keys), then the common
 * keys, then the type's keys rendered as the kind's JSON arguments.
 */
static void
dqc_read_check(LhCfgParser *p, DqcCheck *c, yaml_node_t *map)
{
	const char *keys[LH_CFG_MAX_KEYS + 1];
	yaml_node_t *values[LH_CFG_MAX_KEYS];
	const char *given[DQC_MAX_TYPE_KEYS] = {0};
	StringInfoData args;
	int			nkeys = 0;
	int			i;

	c->loc = lh_cfg_loc(map);
	c->type_name = lh_cfg_peek(p, map, "type", c->where);
	if (c->type_name == NULL)
		dqc_fail(p, "missing required configuration key \"type\"",
				 "Give each check a type, as in {type: pk_unique, columns: [order_id]}.",
				 psprintf("The key is required in %s at line %d, column %d.",
						  c->where, c->loc.line, c->loc.column));
	c->type = dqc_type(c->type_name);
	if (c->type == NULL)
	{
		StringInfoData valid;

		initStringInfo(&valid);
		appendStringInfoString(&valid, "Valid types are: ");
		for (i = 0; i < lengthof(dqc_types); i++)
			appendStringInfo(&valid, "%s%s", i ? ", " : "", dqc_types[i].type);
		appendStringInfoChar(&valid, '.');
		dqc_fail(p, psprintf("unrecognized check type \"%s\"", c->type_name),
				 valid.data,
				 psprintf("Found in %s at line %d, column %d.",
						  c->where, c->loc.line, c->loc.column));
	}

	for (i = 0; dqc_check_keys[i]; i++)
		keys[nkeys++] = dqc_check_keys[i];
	for (i = 0; i < DQC_MAX_TYPE_KEYS && c->type->keys[i]; i++)
		keys[nkeys++] = c->type->keys[i];
	keys[nkeys] = NULL;
	lh_cfg_fields(p, map, keys, c->where, NULL, values);

	if (values[QK_NAME])
		c->name = lh_cfg_scalar(p, values[QK_NAME], "name", c->where, true);
	c->action = values[QK_ACTION] ?
		lh_cfg_scalar(p, values[QK_ACTION], "action", c->where, true) : "fail";
	if (strcmp(c->action, "fail_fast") != 0 && strcmp(c->action, "fail") != 0 &&
		strcmp(c->action, "warn") != 0)
	{
		LhCfgLoc	loc = lh_cfg_loc(values[QK_ACTION]);

		dqc_fail(p, psprintf("unrecognized action \"%s\"", c->action),
				 "Valid actions are \"fail_fast\" (stop at this check and fail the run), \"fail\" (fail the run after the table's checks) and \"warn\" (record only).",
				 psprintf("Found in %s at line %d, column %d.",
						  c->where, loc.line, loc.column));
	}
	if (values[QK_CATEGORY])
	{
		c->category = lh_cfg_scalar(p, values[QK_CATEGORY], "category", c->where, true);
		if (c->category[0] == '\0' || strlen(c->category) > NAMEDATALEN - 1)
		{
			LhCfgLoc	loc = lh_cfg_loc(values[QK_CATEGORY]);

			dqc_fail(p, "invalid value for configuration key \"category\"", NULL,
					 psprintf("A category is 1 to %d characters long, in %s at line %d, column %d.",
							  NAMEDATALEN - 1, c->where, loc.line, loc.column));
		}
	}
	if (values[QK_MOSTLY])
		c->mostly = lh_cfg_scalar(p, values[QK_MOSTLY], "mostly", c->where, true);
	if (values[QK_WHERE])
		c->row_filter = lh_cfg_scalar(p, values[QK_WHERE], "where", c->where, true);

	/* the type's keys: the kind's arguments */
	initStringInfo(&args);
	appendStringInfoChar(&args, '{');
	for (i = 0; i < DQC_MAX_TYPE_KEYS && c->type->keys[i]; i++)
	{
		yaml_node_t *v = values[QK_NCOMMON + i];
		const char *arg = c->type->args[i];

		if (v == NULL)
			continue;
		for (int k = 0; k < i; k++)
			if (given[k] && strcmp(c->type->args[k], arg) == 0)
			{
				LhCfgLoc	loc = lh_cfg_loc(v);

				dqc_fail(p, psprintf("configuration keys \"%s\" and \"%s\" give the same argument",
									 given[k], c->type->keys[i]),
						 "Keep one of them.",
						 psprintf("Found in %s at line %d, column %d.",
								  c->where, loc.line, loc.column));
			}
		given[i] = c->type->keys[i];
		if (strcmp(arg, "column") == 0 || strcmp(arg, "columns") == 0)
			dqc_read_columns(p, c, v, c->type->keys[i]);
		if (args.len > 1)
			appendStringInfoChar(&args, ',');
		escape_json(&args, arg);
		appendStringInfoChar(&args, ':');
		appendStringInfoString(&args, lh_cfg_json(p, v, c->where));
	}
	appendStringInfoChar(&args, '}');
	c->args = args.data;

	/* the default name: the type, then its columns */
	if (c->name == NULL)
	{
		StringInfoData name;
		ListCell   *lc;

		initStringInfo(&name);
		appendStringInfoString(&name, c->type->prefix);
		foreach(lc, c->columns)
			appendStringInfo(&name, "_%s", (char *) lfirst(lc));
		c->name = name.data;
	}
}

/* One table: {level: ..., checks: [...]}. */
static void
dqc_read_table(LhCfgParser *p, DqcTable *tab, yaml_node_t *map)
{
	yaml_node_t *values[2];
	yaml_node_t *seq;
	LhCfgNameRef *refs;

	if (map->type != YAML_MAPPING_NODE)
		lh_cfg_wrong_kind(p, map, "a mapping", tab->name, false, tab->layer);
	lh_cfg_fields(p, map, dqc_table_keys, tab->where, NULL, values);
	if (values[0])
	{
		char	   *level = lh_cfg_scalar(p, values[0], "level", tab->where, true);

		if (strcmp(level, tab->layer) != 0)
		{
			LhCfgLoc	loc = lh_cfg_loc(values[0]);

			dqc_fail(p, psprintf("level \"%s\" of table \"%s\" does not match its layer \"%s\"",
								 level, tab->name, tab->layer),
					 psprintf("List the table under \"%s:\", or write level: %s.",
							  level, tab->layer),
					 psprintf("Found in %s at line %d, column %d.",
							  tab->where, loc.line, loc.column));
		}
	}
	seq = values[1];
	if (seq == NULL)
		dqc_fail(p, "missing required configuration key \"checks\"",
				 "Write \"checks: []\" to remove the checks of the table.",
				 psprintf("The key is required in %s at line %d, column %d.",
						  tab->where, tab->loc.line, tab->loc.column));
	if (lh_cfg_is_null(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE)
		lh_cfg_wrong_kind(p, seq, "a list", "checks", false, tab->where);

	tab->nchecks = (int) (seq->data.sequence.items.top - seq->data.sequence.items.start);
	tab->checks = palloc0(sizeof(DqcCheck) * (tab->nchecks + 1));
	refs = palloc(sizeof(LhCfgNameRef) * (tab->nchecks + 1));
	for (int j = 0; j < tab->nchecks; j++)
	{
		yaml_node_t *item = lh_cfg_node(p, seq->data.sequence.items.start[j]);
		DqcCheck   *c = &tab->checks[j];

		c->where = psprintf("%s.checks[%d]", tab->where, j + 1);
		if (item->type != YAML_MAPPING_NODE)
			lh_cfg_wrong_kind(p, item, "a mapping", "checks", true, tab->where);
		dqc_read_check(p, c, item);
		refs[j].name = c->name;
		refs[j].loc = c->loc;
		refs[j].seq = j;
	}
	lh_cfg_check_unique(p, refs, tab->nchecks, "check", tab->where);
}

/* The whole document. */
static void
dqc_read(LhCfgParser *p, yaml_node_t *root, DqcFile *f)
{
	yaml_node_t *values[3];
	int			maxtables = 0;

	if (root == NULL || lh_cfg_is_null(root))
		dqc_fail(p, "quality configuration is empty",
				 "List checks per table under \"silver:\" or \"gold:\", as in silver: {orders: {checks: [...]}}.",
				 "The text holds no YAML document.");
	if (root->type != YAML_MAPPING_NODE)
	{
		LhCfgLoc	loc = lh_cfg_loc(root);

		dqc_fail(p, "invalid quality configuration document",
				 "A quality configuration is a mapping with the keys \"quality_gates\", \"silver\" and \"gold\".",
				 psprintf("Expected a mapping but found %s at line %d, column %d.",
						  lh_cfg_kind_name(root), loc.line, loc.column));
	}
	lh_cfg_fields(p, root, dqc_root_keys, "the document",
				  "Valid keys are quality_gates, silver and gold: checks apply to silver and gold tables.",
				  values);

	if (values[0] && !lh_cfg_is_null(values[0]))
	{
		yaml_node_t *gates[1];
		yaml_node_t *seq;

		if (values[0]->type != YAML_MAPPING_NODE)
			lh_cfg_wrong_kind(p, values[0], "a mapping", "quality_gates", false, "the document");
		lh_cfg_fields(p, values[0], dqc_gate_keys, "quality_gates", NULL, gates);
		seq = gates[0];
		if (seq && !lh_cfg_is_null(seq))
		{
			if (seq->type != YAML_SEQUENCE_NODE)
				lh_cfg_wrong_kind(p, seq, "a list", "critical_checks", false, "quality_gates");
			f->critical.n = (int) (seq->data.sequence.items.top - seq->data.sequence.items.start);
			f->critical.names = palloc0(sizeof(char *) * (f->critical.n + 1));
			f->critical.locs = palloc0(sizeof(LhCfgLoc) * (f->critical.n + 1));
			for (int j = 0; j < f->critical.n; j++)
			{
				yaml_node_t *item = lh_cfg_node(p, seq->data.sequence.items.start[j]);

				if (item->type != YAML_SCALAR_NODE || lh_cfg_is_null(item))
					lh_cfg_wrong_kind(p, item, "a string", "critical_checks", true, "quality_gates");
				f->critical.names[j] = lh_cfg_scalar(p, item, "critical_checks",
													 "quality_gates", true);
				f->critical.locs[j] = lh_cfg_loc(item);
			}
		}
	}

	for (int l = 1; l <= 2; l++)
	{
		yaml_node_t *layer = values[l];

		if (layer && !lh_cfg_is_null(layer))
		{
			if (layer->type != YAML_MAPPING_NODE)
				lh_cfg_wrong_kind(p, layer, "a mapping", dqc_root_keys[l], false, "the document");
			maxtables += (int) (layer->data.mapping.pairs.top - layer->data.mapping.pairs.start);
		}
	}
	f->tables = palloc0(sizeof(DqcTable) * (maxtables + 1));
	for (int l = 1; l <= 2; l++)
	{
		yaml_node_t *layer = values[l];

		if (layer == NULL || lh_cfg_is_null(layer))
			continue;
		for (yaml_node_pair_t *pair = layer->data.mapping.pairs.start;
			 pair < layer->data.mapping.pairs.top; pair++)
		{
			yaml_node_t *key = lh_cfg_node(p, pair->key);
			DqcTable   *tab = &f->tables[f->ntables++];

			tab->layer = (char *) dqc_root_keys[l];
			if (key->type != YAML_SCALAR_NODE || lh_cfg_is_null(key))
				lh_cfg_wrong_kind(p, key, "a table name", tab->layer, true, "the document");
			tab->name = lh_cfg_scalar(p, key, tab->layer, "the document", true);
			tab->loc = lh_cfg_loc(key);
			tab->where = psprintf("%s.%s", tab->layer, tab->name);
			dqc_read_table(p, tab, lh_cfg_node(p, pair->value));
		}
	}

	/* a critical category must be one a check can have */
	for (int j = 0; j < f->critical.n; j++)
	{
		const char *cat = f->critical.names[j];
		bool		found = dqc_in(dqc_categories, cat);

		for (int i = 0; !found && i < f->ntables; i++)
			for (int k = 0; !found && k < f->tables[i].nchecks; k++)
				found = f->tables[i].checks[k].category &&
					strcmp(f->tables[i].checks[k].category, cat) == 0;
		if (!found)
			dqc_fail(p, psprintf("unrecognized category \"%s\" in critical_checks", cat),
					 "Valid categories are the defaults (not_null_keys, not_null, primary_key, uniqueness, referential_integrity, freshness, control_total, accepted_values, range, row_count) and those the checks of the file give with \"category\".",
					 psprintf("Found in quality_gates at line %d, column %d.",
							  f->critical.locs[j].line, f->critical.locs[j].column));
	}
}

/*
 * Parse a quality file (UTF-8, len bytes); filename for messages, or NULL.
 * libyaml's memory is released whatever happens.
 */
static DqcFile *
dqc_parse(LhCfgParser *p, const char *input, size_t len, const char *filename)
{
	DqcFile    *f = palloc0(sizeof(DqcFile));

	if (len > (size_t) lh_max_config_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("quality configuration is too large"),
				 errdetail("The configuration has %zu bytes; the limit is %d bytes (lakehouse.max_config_bytes).",
						   len, lh_max_config_bytes)));
	p->input = (const unsigned char *) input;
	p->input_len = len;
	p->filename = filename;
	PG_TRY();
	{
		dqc_read(p, lh_cfg_load_single(p, "quality configuration"), f);
		lh_cfg_end_single(p);
	}
	PG_FINALLY();
	{
		lh_cfg_release(p);
	}
	PG_END_TRY();
	return f;
}


/* ---------------------------------------------------------------------
 * Applying
 * ---------------------------------------------------------------------
 */

static void
dqc_apply_callback(void *arg)
{
	DqcContext *ctx = (DqcContext *) arg;

	if (ctx->what != NULL)
		errcontext("while applying %s of the quality configuration, at line %d, column %d",
				   ctx->what, ctx->loc.line, ctx->loc.column);
}

static void
dqc_file_callback(void *arg)
{
	errcontext("quality configuration file \"%s\"", (const char *) arg);
}

/*
 * The quality_config expectations of a table: names (sorted), what each is
 * (everything but its position), and the names in file order.
 */
static void
dqc_snapshot(int32 table_id, List **names, List **prints, List **order)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};

	*names = *prints = *order = NIL;
	catalog_exec("SELECT e.name, jsonb_build_object('kind', e.kind, 'args', e.args,"
				 " 'severity', e.severity, 'mostly', e.mostly, 'where', e.row_filter,"
				 " 'type', c.check_type, 'action', c.action, 'category', c.category,"
				 " 'critical', c.critical)::text, c.position"
				 " FROM lakehouse.dq_expectations e"
				 " LEFT JOIN lakehouse.dq_config_checks c USING (expectation_id)"
				 " WHERE e.table_id = $1 AND e.origin = '" DQC_ORIGIN "'"
				 " ORDER BY e.name COLLATE \"C\"",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		*names = lappend(*names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		*prints = lappend(*prints, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	catalog_exec("SELECT e.name FROM lakehouse.dq_expectations e"
				 " JOIN lakehouse.dq_config_checks c USING (expectation_id)"
				 " WHERE e.table_id = $1 AND e.origin = '" DQC_ORIGIN "'"
				 " ORDER BY c.position",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		*order = lappend(*order, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
}

/* The names of list that are also in other, in list's order. */
static List *
dqc_common(List *list, List *other)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, list)
		if (lh_name_in_list(other, lfirst(lc)))
			result = lappend(result, lfirst(lc));
	return result;
}

static void
dqc_json_names(StringInfo buf, const char *key, List *names)
{
	ListCell   *lc;

	appendStringInfo(buf, ", \"%s\": [", key);
	foreach(lc, names)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * The summary of one table: which checks were added, changed, removed or
 * left as they were, and whether the file reordered the ones it kept.
 */
static void
dqc_summarize(StringInfo buf, DqTable *t, List *bnames, List *bprints,
			  List *border)
{
	List	   *anames;
	List	   *aprints;
	List	   *aorder;
	List	   *added = NIL;
	List	   *changed = NIL;
	List	   *unchanged = NIL;
	List	   *removed = NIL;
	List	   *kept_before;
	List	   *kept_after;
	ListCell   *lc;
	bool		reordered = false;

	dqc_snapshot(t->table_id, &anames, &aprints, &aorder);
	foreach(lc, anames)
	{
		char	   *name = lfirst(lc);
		int			b = -1;

		for (int i = 0; i < list_length(bnames); i++)
			if (strcmp(list_nth(bnames, i), name) == 0)
				b = i;
		if (b < 0)
			added = lappend(added, name);
		else if (strcmp(list_nth(bprints, b), list_nth(aprints, foreach_current_index(lc))) != 0)
			changed = lappend(changed, name);
		else
			unchanged = lappend(unchanged, name);
	}
	foreach(lc, bnames)
		if (!lh_name_in_list(anames, lfirst(lc)))
			removed = lappend(removed, lfirst(lc));
	kept_before = dqc_common(border, aorder);
	kept_after = dqc_common(aorder, border);
	foreach(lc, kept_before)
		if (strcmp(lfirst(lc), list_nth(kept_after, foreach_current_index(lc))) != 0)
			reordered = true;

	appendStringInfoString(buf, "{\"table\": ");
	escape_json(buf, t->display);
	dqc_json_names(buf, "added", added);
	dqc_json_names(buf, "changed", changed);
	dqc_json_names(buf, "removed", removed);
	dqc_json_names(buf, "unchanged", unchanged);
	appendStringInfo(buf, ", \"reordered\": %s}", reordered ? "true" : "false");
}

/* Is column a key of the table: declared in the catalog, or by a pk_unique check? */
static bool
dqc_key_column(LhTable *lt, DqcTable *tab, const char *column)
{
	if (lh_name_in_list(lt->keys, column))
		return true;
	for (int j = 0; j < tab->nchecks; j++)
		if (strcmp(tab->checks[j].type->prefix, "pk_unique") == 0 &&
			lh_name_in_list(tab->checks[j].columns, column))
			return true;
	return false;
}

/*
 * Refuse a check whose name is an expectation declared otherwise (SQL, a
 * pipeline's YAML): applying the file must leave those alone.
 */
static void
dqc_check_names(DqcTable *tab, DqTable *t, List *names, DqcContext *ctx)
{
	Oid			types[2] = {INT4OID, TEXTARRAYOID};
	Datum		values[2];
	char	   *name;
	char	   *origin;

	values[0] = Int32GetDatum(t->table_id);
	values[1] = lh_text_array(names);
	catalog_exec("SELECT name, origin FROM lakehouse.dq_expectations"
				 " WHERE table_id = $1 AND origin <> '" DQC_ORIGIN "' AND name = ANY ($2)"
				 " ORDER BY name COLLATE \"C\" LIMIT 1",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	origin = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	for (int j = 0; j < tab->nchecks; j++)
		if (strcmp(tab->checks[j].name, name) == 0)
		{
			ctx->what = psprintf("check %s", tab->checks[j].where);
			ctx->loc = tab->checks[j].loc;
		}
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("expectation \"%s\" already exists on table %s", name, t->display),
			 errdetail("It was declared %s, not by a quality configuration, which leaves it alone.",
					   strcmp(origin, "yaml") == 0 ? "in the YAML of its pipeline" :
					   strcmp(origin, "sql") == 0 ? "with lh_add_expectation" :
					   psprintf("with origin \"%s\"", origin)),
			 errhint("Give the check another name with the key \"name\".")));
}

/*
 * Make the table's quality_config expectations the checks of tab; appends
 * the table's summary to buf.  Caller is connected to SPI.
 */
static void
dqc_apply_table(DqcFile *f, DqcTable *tab, DqTable *t, DqcContext *ctx,
				StringInfo buf)
{
	LhTable    *lt = catalog_table(t->table_id);
	List	   *bnames;
	List	   *bprints;
	List	   *border;
	List	   *names = NIL;
	LhIdentity	id;

	dqc_snapshot(t->table_id, &bnames, &bprints, &border);
	security_table_begin(t->schema_name, t->table_name, LH_RIGHT_ALTER,
						 "apply a quality configuration to table %s", &id);
	for (int j = 0; j < tab->nchecks; j++)
		names = lappend(names, tab->checks[j].name);
	dqc_check_names(tab, t, names, ctx);

	for (int j = 0; j < tab->nchecks; j++)
	{
		DqcCheck   *c = &tab->checks[j];
		const char *category = c->category ? c->category : c->type->category;
		bool		critical;
		Oid			types[7] = {INT4OID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
		Datum		values[7];

		ctx->what = psprintf("check %s", c->where);
		ctx->loc = c->loc;
		if (category == NULL)	/* not_null: of a key column or not */
			category = (list_length(c->columns) == 1 &&
						dqc_key_column(lt, tab, linitial(c->columns))) ?
				"not_null_keys" : "not_null";
		critical = false;
		for (int k = 0; k < f->critical.n; k++)
			critical |= strcmp(f->critical.names[k], category) == 0;

		(void) dq_store_expectation(t, c->type->kind,
									DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	   CStringGetDatum(c->args))),
									(strcmp(c->action, "warn") == 0 && !critical) ? "warn" : "fail",
									c->mostly, c->row_filter, c->name, DQC_ORIGIN);

		values[0] = Int32GetDatum(t->table_id);
		values[1] = CStringGetTextDatum(c->name);
		values[2] = Int32GetDatum(j + 1);
		values[3] = CStringGetTextDatum(c->type_name);
		values[4] = CStringGetTextDatum(c->action);
		values[5] = CStringGetTextDatum(category);
		values[6] = BoolGetDatum(critical);
		catalog_exec("INSERT INTO lakehouse.dq_config_checks AS x"
					 " (expectation_id, position, check_type, action, category, critical)"
					 " SELECT e.expectation_id, $3, $4, $5, $6, $7"
					 " FROM lakehouse.dq_expectations e WHERE e.table_id = $1 AND e.name = $2"
					 " ON CONFLICT (expectation_id) DO UPDATE SET position = excluded.position,"
					 " check_type = excluded.check_type, action = excluded.action,"
					 " category = excluded.category, critical = excluded.critical"
					 " WHERE (x.position, x.check_type, x.action, x.category, x.critical)"
					 " IS DISTINCT FROM (excluded.position, excluded.check_type,"
					 " excluded.action, excluded.category, excluded.critical)",
					 7, types, values, NULL, SPI_OK_INSERT);
	}
	ctx->what = psprintf("table %s", tab->where);
	ctx->loc = tab->loc;
	{
		Oid			types[2] = {INT4OID, TEXTARRAYOID};
		Datum		values[2];

		values[0] = Int32GetDatum(t->table_id);
		values[1] = lh_text_array(names);
		catalog_exec("DELETE FROM lakehouse.dq_expectations"
					 " WHERE table_id = $1 AND origin = '" DQC_ORIGIN "' AND name <> ALL ($2)",
					 2, types, values, NULL, SPI_OK_DELETE);
	}
	security_table_end(&id);
	dqc_summarize(buf, t, bnames, bprints, border);
}

/*
 * Apply a parsed file: find every table (registered, of the layer it is
 * listed under, named once), then make each one's checks the file's.
 * Returns the summary {"tables": [...], "critical_checks": [...]}.
 */
static Jsonb *
dqc_apply(LhCfgParser *p, DqcFile *f)
{
	DqTable   **tables = palloc0(sizeof(DqTable *) * (f->ntables + 1));
	LhCfgNameRef *refs = palloc(sizeof(LhCfgNameRef) * (f->ntables + 1));
	DqcContext	ctx = {0};
	ErrorContextCallback errcb;
	StringInfoData buf;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	errcb.callback = dqc_apply_callback;
	errcb.arg = &ctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (int i = 0; i < f->ntables; i++)
	{
		DqcTable   *tab = &f->tables[i];
		const char *qname = strchr(tab->name, '.') ? tab->name :
			lh_qualified_name(tab->layer, tab->name);

		ctx.what = psprintf("table %s", tab->where);
		ctx.loc = tab->loc;
		tables[i] = dq_lookup_table(qname, false);
		if (strcmp(tables[i]->layer, tab->layer) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("table %s is a %s table, not a %s table",
							tables[i]->display, tables[i]->layer, tab->layer),
					 errdetail("A quality configuration lists each table under its layer, and its level must agree."),
					 errhint("List it under \"%s:\".", tables[i]->layer)));
		refs[i].name = tables[i]->display;
		refs[i].loc = tab->loc;
		refs[i].seq = i;
	}
	ctx.what = NULL;
	lh_cfg_check_unique(p, refs, f->ntables, "table", NULL);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"tables\": [");
	for (int i = 0; i < f->ntables; i++)
	{
		/* refs were sorted: walk the tables in file order */
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		dqc_apply_table(f, &f->tables[i], tables[i], &ctx, &buf);
	}
	appendStringInfoString(&buf, "]");
	{
		List	   *critical = NIL;

		for (int j = 0; j < f->critical.n; j++)
			critical = lappend(critical, f->critical.names[j]);
		dqc_json_names(&buf, "critical_checks", critical);
	}
	appendStringInfoChar(&buf, '}');

	error_context_stack = errcb.previous;
	SPI_finish();
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}


/* ---------------------------------------------------------------------
 * Evaluating: fail_fast
 * ---------------------------------------------------------------------
 */

/*
 * Evaluate a table's suite as dq_evaluate does (same arguments), except
 * that a quality file's fail_fast check that fails stops the evaluation:
 * the file's checks after it are not evaluated, a NOTICE names them, and
 * *stopped (if given) is set to its result (else NULL).  Segments: the
 * table's other expectations with the file's checks up to the first
 * fail_fast one, then up to each next one.  Caller is connected to SPI.
 */
List *
dqconfig_evaluate(DqTable *t, bool incremental, int64 run_id, bool skip_drop,
				  DqResult **stopped)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(t->table_id)};
	List	   *order = NIL;
	List	   *fast = NIL;
	List	   *results = NIL;
	List	   *segment = NIL;
	ListCell   *lc;
	int			next = 0;
	DqTable		part;

	if (stopped)
		*stopped = NULL;
	catalog_exec("SELECT e.name, c.action = 'fail_fast'"
				 " FROM lakehouse.dq_config_checks c"
				 " JOIN lakehouse.dq_expectations e USING (expectation_id)"
				 " WHERE e.table_id = $1 AND e.origin = '" DQC_ORIGIN "'"
				 " AND EXISTS (SELECT 1 FROM lakehouse.dq_config_checks f"
				 "  JOIN lakehouse.dq_expectations g USING (expectation_id)"
				 "  WHERE g.table_id = $1 AND g.origin = '" DQC_ORIGIN "'"
				 "  AND f.action = 'fail_fast')"
				 " ORDER BY c.position",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return dq_evaluate(t, incremental, run_id, skip_drop);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		order = lappend(order, name);
		if (strcmp(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2), "t") == 0)
			fast = lappend(fast, name);
	}

	/* the first segment: every expectation that is not a check of the file */
	foreach(lc, t->expectations)
		if (!lh_name_in_list(order, ((DqExpectation *) lfirst(lc))->name))
			segment = lappend(segment, lfirst(lc));

	part = *t;
	while (next < list_length(order))
	{
		char	   *stopper = NULL;
		List	   *evaluated;

		/* the file's checks up to and including the next fail_fast one */
		for (; next < list_length(order) && stopper == NULL; next++)
		{
			char	   *name = list_nth(order, next);

			foreach(lc, t->expectations)
				if (strcmp(((DqExpectation *) lfirst(lc))->name, name) == 0)
					segment = lappend(segment, lfirst(lc));
			if (lh_name_in_list(fast, name))
				stopper = name;
		}
		part.expectations = segment;
		evaluated = dq_evaluate(&part, incremental, run_id, skip_drop);
		results = list_concat(results, evaluated);
		segment = NIL;

		foreach(lc, evaluated)
		{
			DqResult   *r = lfirst(lc);
			StringInfoData rest;

			if (stopper == NULL || r->success || strcmp(r->e->name, stopper) != 0)
				continue;
			if (stopped)
				*stopped = r;
			if (next >= list_length(order))
				return results; /* the last check: nothing after it */
			initStringInfo(&rest);
			for (int k = next; k < list_length(order); k++)
			{
				if (k > next)
					appendStringInfoString(&rest, ", ");
				escape_json(&rest, list_nth(order, k));
			}
			ereport(NOTICE,
					(errmsg("fail_fast check \"%s\" failed on %s: %d later checks were not evaluated",
							stopper, t->display, list_length(order) - next),
					 errdetail("Not evaluated: %s.", rest.data)));
			return results;
		}
	}
	return results;
}


/* ---------------------------------------------------------------------
 * SQL-callable functions
 * ---------------------------------------------------------------------
 */

/*
 * lh_apply_quality_config(doc text) RETURNS jsonb
 *
 * Apply a dq.yaml quality configuration (see the file header).
 */
Datum
lh_apply_quality_config(PG_FUNCTION_ARGS)
{
	text	   *doc;
	const char *data;
	int			len;
	char	   *utf8;
	LhCfgParser *p = palloc0(sizeof(LhCfgParser));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("quality configuration must not be null")));
	doc = PG_GETARG_TEXT_PP(0);
	data = VARDATA_ANY(doc);
	len = VARSIZE_ANY_EXHDR(doc);
	/* libyaml reads UTF-8 */
	utf8 = pg_server_to_any(data, len, PG_UTF8);
	if (utf8 != data)
		len = strlen(utf8);
	PG_RETURN_JSONB_P(dqc_apply(p, dqc_parse(p, utf8, len, NULL)));
}

/*
 * lh_apply_quality_config_file(path text) RETURNS jsonb
 *
 * Like lh_apply_quality_config, reading a file of the server as
 * lh_apply_config_file does (pg_read_server_files; a relative path is
 * relative to the data directory).
 */
Datum
lh_apply_quality_config_file(PG_FUNCTION_ARGS)
{
	char	   *path;
	char	   *dir;
	char	   *contents;
	size_t		len;
	ErrorContextCallback errcb;
	LhCfgParser *p = palloc0(sizeof(LhCfgParser));
	Jsonb	   *result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("quality configuration file name must not be null")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	errcb.callback = dqc_file_callback;
	errcb.arg = path;
	contents = lh_cfg_read_server_file(path, "quality configuration", &errcb,
									   &len, &dir);
	result = dqc_apply(p, dqc_parse(p, contents, len, path));
	error_context_stack = errcb.previous;
	PG_RETURN_JSONB_P(result);
}

/*-------------------------------------------------------------------------
 *
 * yaml_parse.c
 *	  The parse step of lh_apply_config(): a YAML stream into the validated
 *	  pipeline definitions of declare/declare.h.
 *
 * lh_cfg_parse() loads the stream with libyaml's document API, one document
 * at a time, and walks each node tree into the LhCfg* structs.  It checks
 * every key (unrecognized and duplicate keys), the kind of every node
 * (mapping, list, scalar) and every required key, and reports the line and
 * column of what is wrong.  Source options and silver column lists are
 * rendered to JSON text on the way, and relative "path" options of
 * sources (files) are made absolute against the parser's base_dir.  Pipeline names
 * and source names must be unique across the stream.  yaml.c applies the
 * result; it shares the duplicate check (lh_cfg_check_unique) and the
 * sorted-name helpers defined here.  Readers of other single-document YAML
 * files (data contracts, the dq.yaml quality files of src/quality/dqconfig.c)
 * load them with lh_cfg_load_single() and walk them with the lh_cfg_*
 * accessors at the end of this file, so that they share these bounds,
 * checks and messages.
 *
 * Scalars in source options: plain true/false/yes/no become JSON booleans,
 * plain integers numbers, plain null/~/empty null; everything else, and
 * every quoted scalar, is a string.  Tags are ignored: quote a value to keep
 * it a string.  Bounds: a stream nests at most LH_YAML_MAX_DEPTH levels,
 * checked by a first pass over its events before anything is loaded
 * (cfg_prescan: libyaml's time is quadratic in the nesting depth, so the
 * depth is bounded first and the rest is linear); option values nest at
 * most CFG_MAX_DEPTH levels; aliases are expanded within budgets of node
 * visits and scalar bytes proportional to the size of the input, so a
 * recursive or exponential alias cannot exhaust the server; the size of
 * the input is bounded by the caller (lakehouse.max_config_bytes).
 *
 * Transactions and locking: none.  This file runs no SQL, reads no catalog
 * and takes no locks, so test/fuzz/yaml_fuzz.c links it outside the server,
 * unchanged.  It may call only what that harness supplies besides libyaml,
 * libpgcommon and libpgport: palloc and friends, escape_json(),
 * pg_any_to_server(), check_stack_depth(), CHECK_FOR_INTERRUPTS() and
 * lh_cfg_report().  Anything else backend-only belongs in yaml.c.
 *
 * Errors: every error goes through lh_cfg_report(), which never returns (the
 * server raises an ERROR, the harness longjmps), so lh_cfg_parse() either
 * fills p->pipelines completely or does not return.
 *
 * Memory: libyaml mallocs the parser and the document being walked.
 * lh_cfg_parse() frees both once it reaches the end of the stream; after an
 * error they are still live, so the caller must call lh_cfg_release() on
 * success and error alike (from PG_FINALLY in the server).  It frees what
 * is live and may be called more than once.  The definitions, their JSON
 * text and the messages are palloc'd in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <yaml.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "declare/declare.h"

/* Deepest nesting of option values. */
#define CFG_MAX_DEPTH			64

/* Budgets against alias expansion (per document). */
#define CFG_MIN_VISITS			10000L
#define CFG_VISITS_PER_NODE		16L
#define CFG_MIN_BYTES			(1024L * 1024L)
#define CFG_BYTES_PER_INPUT		8L

/* Keys of each section; the enums index the same arrays. */
#define CFG_MAX_KEYS			16

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

/* Plain scalars that mean something other than a string. */
static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {
	"true", "True", "TRUE", "yes", "Yes", "YES", NULL
};
static const char *const false_words[] = {
	"false", "False", "FALSE", "no", "No", "NO", NULL
};

typedef enum CfgScalarClass
{
	CFG_NULL,
	CFG_TRUE,
	CFG_FALSE,
	CFG_INTEGER,
	CFG_DECIMAL,				/* only while reading a data contract */
	CFG_STRING
} CfgScalarClass;

/*
 * Set by lh_yaml_to_json (data contracts, where bounds such as 0.5 are
 * numbers), cleared by lh_cfg_parse (pipeline options keep them strings).
 */
static bool cfg_decimal_numbers = false;

/* What is being read, for syntax errors (set like cfg_decimal_numbers). */
static const char *cfg_what = "pipeline configuration";

/* The values (and keys) of one mapping, indexed like its key array. */
typedef struct CfgFields
{
	yaml_node_t *value[CFG_MAX_KEYS];
	yaml_node_t *key[CFG_MAX_KEYS];
} CfgFields;

static void cfg_fail(LhCfgParser *p, LhCfgErrorKind kind, const char *message,
					 const char *hint, const char *detailfmt,...)
			pg_attribute_printf(5, 6) pg_attribute_noreturn();
static void cfg_syntax_error(LhCfgParser *p) pg_attribute_noreturn();
static void cfg_wrong_kind(LhCfgParser *p, const yaml_node_t *node,
						   const char *expected, const char *key, bool entry,
						   const char *where) pg_attribute_noreturn();
static void cfg_missing(LhCfgParser *p, const yaml_node_t *map, const char *key,
						const char *where) pg_attribute_noreturn();
static void cfg_document(LhCfgParser *p, yaml_node_t *root);
static void cfg_pipeline(LhCfgParser *p, yaml_node_t *map);
static void cfg_json(LhCfgParser *p, StringInfo buf, yaml_node_t *node,
					 const char *where);
static void cfg_json_object(LhCfgParser *p, StringInfo buf, yaml_node_t *map,
							const char *where, const char *path_dir);


/* ---------------------------------------------------------------------
 * Parsing: node access and error reporting
 * ---------------------------------------------------------------------
 */

static LhCfgLoc
cfg_loc(const yaml_node_t *node)
{
	LhCfgLoc	loc;

	loc.line = (int) node->start_mark.line + 1;
	loc.column = (int) node->start_mark.column + 1;
	return loc;
}

/*
 * Format the detail and hand everything to lh_cfg_report(), which raises
 * the error (server) or longjmps (fuzz harness).
 */
static void
cfg_fail(LhCfgParser *p, LhCfgErrorKind kind, const char *message,
		 const char *hint, const char *detailfmt,...)
{
	StringInfoData detail;

	initStringInfo(&detail);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, detailfmt);
		needed = appendStringInfoVA(&detail, detailfmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&detail, needed);
	}
	lh_cfg_report(p, kind, message, detail.data, hint);
}

/*
 * Fetch a node by id, charging the expansion budgets.  A document without
 * aliases visits each node about once; aliases visit the aliased subtree
 * again at every use.
 */
static yaml_node_t *
cfg_node(LhCfgParser *p, int id)
{
	yaml_node_t *node = yaml_document_get_node(&p->document, id);

	if (node == NULL)
		cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration",
				 NULL, "The YAML document refers to node %d, which does not exist.",
				 id);
	p->visits_left--;
	if (node->type == YAML_SCALAR_NODE)
		p->bytes_left -= (long) node->data.scalar.length;
	if (p->visits_left < 0 || p->bytes_left < 0)
	{
		LhCfgLoc	loc = cfg_loc(node);

		cfg_fail(p, LH_CFG_ERROR_LIMIT,
				 "pipeline configuration is too large after expanding aliases",
				 "Use fewer aliases, or aliases of smaller nodes.",
				 "The limit was reached at line %d, column %d.",
				 loc.line, loc.column);
	}
	return node;
}

static bool
cfg_scalar_is(const yaml_node_t *node, const char *const *words)
{
	for (; *words; words++)
	{
		if (strlen(*words) == node->data.scalar.length &&
			memcmp(*words, node->data.scalar.value, node->data.scalar.length) == 0)
			return true;
	}
	return false;
}

/*
 * A JSON number with a fraction or an exponent (digits, '.', digits, and
 * an optional exponent), without leading zeros.
 */
static bool
cfg_is_decimal(const char *s, size_t len)
{
	size_t		i = 0;
	size_t		start;
	bool		frac = false;

	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || (i > 1 && s[0] == '0'))
		return false;
	if (i < len && s[i] == '.')
	{
		start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
		frac = true;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
		frac = true;
	}
	return frac && i == len && len <= 64;
}

/*
 * What a scalar means: only plain (unquoted) scalars can be anything but a
 * string.  Integers are optionally signed decimal digits without leading
 * zeros ("007" stays a string), short enough for bigint.
 */
static CfgScalarClass
cfg_scalar_class(const yaml_node_t *node)
{
	const char *s = (const char *) node->data.scalar.value;
	size_t		len = node->data.scalar.length;
	size_t		i = 0;

	if (node->type != YAML_SCALAR_NODE)
		return CFG_STRING;
	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
		node->data.scalar.style != YAML_ANY_SCALAR_STYLE)
		return CFG_STRING;
	if (cfg_scalar_is(node, null_words))
		return CFG_NULL;
	if (cfg_scalar_is(node, true_words))
		return CFG_TRUE;
	if (cfg_scalar_is(node, false_words))
		return CFG_FALSE;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		i = 1;
	if (cfg_decimal_numbers && cfg_is_decimal(s + i, len - i))
		return CFG_DECIMAL;
	if (len - i < 1 || len - i > 18 || (len - i > 1 && s[i] == '0'))
		return CFG_STRING;
	for (; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return CFG_STRING;
	}
	return CFG_INTEGER;
}

static bool
cfg_is_null(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE && cfg_scalar_class(node) == CFG_NULL;
}

/* "a list", "a mapping", "null", ... for "Expected X but found Y". */
static const char *
cfg_kind_name(const yaml_node_t *node)
{
	switch (node->type)
	{
		case YAML_MAPPING_NODE:
			return "a mapping";
		case YAML_SEQUENCE_NODE:
			return "a list";
		case YAML_SCALAR_NODE:
			switch (cfg_scalar_class(node))
			{
				case CFG_NULL:
					return "null";
				case CFG_TRUE:
				case CFG_FALSE:
					return "a boolean";
				case CFG_INTEGER:
				case CFG_DECIMAL:
					return "a number";
				case CFG_STRING:
					return "a string";
			}
			break;
		default:
			break;
	}
	return "an empty node";
}

/*
 * A scalar's text as a palloc'd C string in the server encoding.  YAML text
 * is UTF-8 (libyaml has validated it); a NUL character cannot become text.
 */
static char *
cfg_cstring(LhCfgParser *p, const yaml_node_t *node, const char *where)
{
	const char *s = (const char *) node->data.scalar.value;
	size_t		len = node->data.scalar.length;
	char	   *copy;

	if (memchr(s, '\0', len) != NULL)
	{
		LhCfgLoc	loc = cfg_loc(node);

		cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration value",
				 NULL,
				 "The value in %s at line %d, column %d contains a null character.",
				 where, loc.line, loc.column);
	}
	copy = pnstrdup(s, len);
	return pg_any_to_server(copy, (int) len, PG_UTF8);
}

static void
cfg_wrong_kind(LhCfgParser *p, const yaml_node_t *node, const char *expected,
			   const char *key, bool entry, const char *where)
{
	LhCfgLoc	loc = cfg_loc(node);

	cfg_fail(p, LH_CFG_ERROR_INVALID,
			 psprintf(entry ? "invalid entry in configuration key \"%s\"" :
					  "invalid value for configuration key \"%s\"", key),
			 NULL, "Expected %s but found %s in %s at line %d, column %d.",
			 expected, cfg_kind_name(node), where, loc.line, loc.column);
}

static void
cfg_missing(LhCfgParser *p, const yaml_node_t *map, const char *key,
			const char *where)
{
	LhCfgLoc	loc = cfg_loc(map);

	cfg_fail(p, LH_CFG_ERROR_INVALID,
			 psprintf("missing required configuration key \"%s\"", key), NULL,
			 "The key is required in %s at line %d, column %d.",
			 where, loc.line, loc.column);
}

static int
cfg_key_index(const yaml_node_t *key, const char *const *keys)
{
	int			i;

	if (key->type != YAML_SCALAR_NODE)
		return -1;
	for (i = 0; keys[i]; i++)
	{
		if (strlen(keys[i]) == key->data.scalar.length &&
			memcmp(keys[i], key->data.scalar.value, key->data.scalar.length) == 0)
			return i;
	}
	return -1;
}

/* Opening minus closing parentheses in a scalar. */
static int
cfg_paren_balance(const yaml_node_t *node)
{
	int			balance = 0;

	for (size_t i = 0; i < node->data.scalar.length; i++)
	{
		if (node->data.scalar.value[i] == '(')
			balance++;
		else if (node->data.scalar.value[i] == ')')
			balance--;
	}
	return balance;
}

/* A plain (unquoted) scalar node? */
static bool
cfg_is_plain(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE &&
		node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/*
 * In a flow mapping a comma ends a plain value, so {type: numeric(12,2)}
 * reads as {type: "numeric(12", "2)": null}.  When pair i of map is such
 * a tail (a plain key with a null value that closes a parenthesis the
 * plain value before it opened), fail with a hint to quote the value,
 * rather than report the tail as an unrecognized key.
 */
static void
cfg_check_split_value(LhCfgParser *p, yaml_node_t *map, int i,
					  const char *where)
{
	yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
	yaml_node_t *key;
	yaml_node_t *value;
	yaml_node_t *prev_key;
	yaml_node_t *prev_value;
	LhCfgLoc	loc;

	if (map->data.mapping.style != YAML_FLOW_MAPPING_STYLE || i == 0)
		return;
	key = yaml_document_get_node(&p->document, pairs[i].key);
	value = yaml_document_get_node(&p->document, pairs[i].value);
	prev_key = yaml_document_get_node(&p->document, pairs[i - 1].key);
	prev_value = yaml_document_get_node(&p->document, pairs[i - 1].value);
	if (key == NULL || value == NULL || prev_key == NULL || prev_value == NULL ||
		!cfg_is_plain(key) || !cfg_is_plain(value) ||
		value->data.scalar.length != 0 || !cfg_is_plain(prev_value) ||
		prev_key->type != YAML_SCALAR_NODE ||
		cfg_paren_balance(key) >= 0 || cfg_paren_balance(prev_value) <= 0)
		return;

	loc = cfg_loc(key);
	cfg_fail(p, LH_CFG_ERROR_INVALID,
			 psprintf("unquoted value of configuration key \"%s\" contains a comma",
					  cfg_cstring(p, prev_key, where)),
			 psprintf("Quote the value: %s: \"%s,%s\".",
					  cfg_cstring(p, prev_key, where),
					  cfg_cstring(p, prev_value, where),
					  cfg_cstring(p, key, where)),
			 "In a flow mapping ({ ... }) a comma ends a plain value: \"%s\" became a key of its own in %s at line %d, column %d.",
			 cfg_cstring(p, key, where), where, loc.line, loc.column);
}

/*
 * Sort a mapping's pairs into f by key.  Every key must be one of keys and
 * appear once; hint overrides the default "Valid keys are: ..." hint.
 */
static void
cfg_fields(LhCfgParser *p, yaml_node_t *map, const char *const *keys,
		   const char *where, const char *hint, CfgFields *f)
{
	yaml_node_pair_t *pair;

	memset(f, 0, sizeof(*f));
	for (pair = map->data.mapping.pairs.start;
		 pair < map->data.mapping.pairs.top; pair++)
	{
		yaml_node_t *key = cfg_node(p, pair->key);
		yaml_node_t *value = cfg_node(p, pair->value);
		LhCfgLoc	loc = cfg_loc(key);
		int			i;

		if (key->type != YAML_SCALAR_NODE)
			cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid configuration key", NULL,
					 "Expected a string but found %s as a key in %s at line %d, column %d.",
					 cfg_kind_name(key), where, loc.line, loc.column);

		i = cfg_key_index(key, keys);
		if (i < 0)
		{
			StringInfoData valid;
			int			k;

			cfg_check_split_value(p, map, (int) (pair - map->data.mapping.pairs.start),
								  where);

			initStringInfo(&valid);
			appendStringInfoString(&valid, "Valid keys are: ");
			for (k = 0; keys[k]; k++)
				appendStringInfo(&valid, "%s%s", k > 0 ? ", " : "", keys[k]);
			appendStringInfoChar(&valid, '.');

			cfg_fail(p, LH_CFG_ERROR_INVALID,
					 psprintf("unrecognized configuration key \"%s\"",
							  cfg_cstring(p, key, where)),
					 hint ? hint : valid.data,
					 "Found in %s at line %d, column %d.",
					 where, loc.line, loc.column);
		}
		if (f->value[i] != NULL)
		{
			LhCfgLoc	first = cfg_loc(f->key[i]);

			cfg_fail(p, LH_CFG_ERROR_INVALID,
					 psprintf("duplicate configuration key \"%s\"", keys[i]), NULL,
					 "Found again in %s at line %d, column %d; it first appears at line %d, column %d.",
					 where, loc.line, loc.column, first.line, first.column);
		}
		f->key[i] = key;
		f->value[i] = value;
	}
}

/*
 * The string value of key in map, if it has one, before the mapping is
 * checked: names the section in messages about the rest of it.
 */
static char *
cfg_peek(LhCfgParser *p, yaml_node_t *map, const char *key, const char *where)
{
	const char *keys[2] = {key, NULL};
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start;
		 pair < map->data.mapping.pairs.top; pair++)
	{
		yaml_node_t *k = cfg_node(p, pair->key);
		yaml_node_t *v = cfg_node(p, pair->value);

		if (cfg_key_index(k, keys) == 0 &&
			v->type == YAML_SCALAR_NODE && !cfg_is_null(v))
			return cfg_cstring(p, v, where);
	}
	return NULL;
}

static bool
cfg_has_key(LhCfgParser *p, yaml_node_t *map, const char *key)
{
	const char *keys[2] = {key, NULL};
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start;
		 pair < map->data.mapping.pairs.top; pair++)
	{
		if (cfg_key_index(cfg_node(p, pair->key), keys) == 0)
			return true;
	}
	return false;
}

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
			cfg_missing(p, map, keys[i], where);
		return NULL;
	}
	if (node->type != YAML_SCALAR_NODE)
		cfg_wrong_kind(p, node, "a string", keys[i], false, where);
	if (cfg_is_null(node))
	{
		if (required)
			cfg_wrong_kind(p, node, "a string", keys[i], false, where);
		return NULL;
	}
	return cfg_cstring(p, node, where);
}

/* A boolean-valued key: -1 when absent or null, else 0 or 1. */
static int
cfg_bool(LhCfgParser *p, CfgFields *f, const char *const *keys, int i,
		 const char *where)
{
	yaml_node_t *node = f->value[i];

	if (node == NULL || cfg_is_null(node))
		return -1;
	if (node->type == YAML_SCALAR_NODE)
	{
		CfgScalarClass class = cfg_scalar_class(node);

		LhCfgLoc	loc = cfg_loc(node);

		if (class == CFG_TRUE)
			return 1;
		if (class == CFG_FALSE)
			return 0;
		cfg_fail(p, LH_CFG_ERROR_INVALID,
				 psprintf("invalid value for configuration key \"%s\"", keys[i]),
				 NULL, "Expected true or false but found \"%s\" in %s at line %d, column %d.",
				 cfg_cstring(p, node, where), where, loc.line, loc.column);
	}
	cfg_wrong_kind(p, node, "true or false", keys[i], false, where);
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
			cfg_missing(p, map, keys[i], where);
		return NULL;
	}
	if (cfg_is_null(node) && !required)
		return NULL;
	if (node->type != YAML_SEQUENCE_NODE)
		cfg_wrong_kind(p, node, "a list", keys[i], false, where);
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
		yaml_node_t *item = cfg_node(p, seq->data.sequence.items.start[j]);

		if (item->type != YAML_SCALAR_NODE || cfg_is_null(item))
			cfg_wrong_kind(p, item, "a string", keys[i], true, where);
		out->names[j] = cfg_cstring(p, item, where);
		out->locs[j] = cfg_loc(item);
	}
}

/* The item of a list that must be a mapping (sources, silver, ...). */
static yaml_node_t *
cfg_list_mapping(LhCfgParser *p, yaml_node_t *seq, int j, const char *key,
				 const char *where)
{
	yaml_node_t *item = cfg_node(p, seq->data.sequence.items.start[j]);

	if (item->type != YAML_MAPPING_NODE)
		cfg_wrong_kind(p, item, "a mapping", key, true, where);
	return item;
}

/* qsort order of LhCfgNameRef: by name, then by declaration order. */
int
lh_cfg_nameref_cmp(const void *a, const void *b)
{
	const LhCfgNameRef *x = a;
	const LhCfgNameRef *y = b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* qsort and bsearch order of an array of C strings. */
int
lh_cfg_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Whether name is in sorted, an array sorted with lh_cfg_strcmp(). */
bool
lh_cfg_sorted_contains(char **sorted, int n, const char *name)
{
	return n > 0 && bsearch(&name, sorted, n, sizeof(char *), lh_cfg_strcmp) != NULL;
}

/*
 * Sort refs and report the first repeated name (the one whose second
 * declaration comes earliest); "what" names the kind of thing, "where" the
 * section that holds them (NULL: the whole stream).  Reports through
 * lh_cfg_report(), so yaml.c may call it after lh_cfg_parse() too.
 */
void
lh_cfg_check_unique(LhCfgParser *p, LhCfgNameRef *refs, int n,
					const char *what, const char *where)
{
	const LhCfgNameRef *dup = NULL;
	const LhCfgNameRef *first = NULL;
	int			i;

	if (n < 2)
		return;
	qsort(refs, n, sizeof(LhCfgNameRef), lh_cfg_nameref_cmp);
	for (i = 1; i < n; i++)
	{
		if (strcmp(refs[i].name, refs[i - 1].name) == 0 &&
			(dup == NULL || refs[i].seq < dup->seq))
		{
			dup = &refs[i];
			first = &refs[i - 1];
		}
	}
	if (dup != NULL)
		cfg_fail(p, LH_CFG_ERROR_INVALID,
				 psprintf("%s \"%s\" is declared more than once", what, dup->name),
				 NULL,
				 "Declared %s%sat line %d, column %d and again at line %d, column %d.",
				 where ? "in " : "", where ? psprintf("%s ", where) : "",
				 first->loc.line, first->loc.column,
				 dup->loc.line, dup->loc.column);
}

/*
 * Is the character at line, column (1-based; columns count characters) of
 * the input a tab, or does that line start with a tab?  libyaml reports a
 * tab in indentation as "found character that cannot start any token" (or
 * a few other problems) at the tab, or where the indentation it broke
 * shows.
 */
static bool
cfg_tab_at(LhCfgParser *p, int line, int column)
{
	size_t		i = 0;
	size_t		start;

	for (int l = 1; l < line && i < p->input_len; i++)
		if (p->input[i] == '\n')
			l++;
	start = i;
	if (start < p->input_len && p->input[start] == '\t')
		return true;
	/* move to the column-th character (continuation bytes are 10xxxxxx) */
	for (int c = 1; i < p->input_len && p->input[i] != '\n'; i++)
	{
		if ((p->input[i] & 0xC0) == 0x80)
			continue;
		if (c == column)
			break;
		c++;
	}
	return i < p->input_len && p->input[i] == '\t';
}

/*
 * Report a libyaml parse error.  Reader errors (bad UTF-8, control
 * characters) carry a byte offset rather than a mark.
 */
static void
cfg_syntax_error(LhCfgParser *p)
{
	yaml_parser_t *yp = &p->parser;
	const char *problem = yp->problem ? yp->problem : "unknown error";
	const char *message;
	int			line;
	int			column;
	StringInfoData detail;

	if (yp->error == YAML_MEMORY_ERROR)
		lh_cfg_report(p, LH_CFG_ERROR_NOMEM, "out of memory",
					  "Failed while parsing the pipeline configuration.", NULL);

	if (yp->error == YAML_READER_ERROR)
	{
		size_t		off = Min(yp->problem_offset, p->input_len);
		size_t		i;

		line = 1;
		column = 1;
		for (i = 0; i < off; i++)
		{
			column++;
			if (p->input[i] == '\n')
			{
				line++;
				column = 1;
			}
		}
	}
	else
	{
		line = (int) yp->problem_mark.line + 1;
		column = (int) yp->problem_mark.column + 1;
	}

	initStringInfo(&detail);
	appendStringInfo(&detail, "%c%s at line %d, column %d",
					 pg_ascii_toupper((unsigned char) problem[0]), problem + 1,
					 line, column);
	if (yp->context != NULL && yp->error != YAML_READER_ERROR)
		appendStringInfo(&detail, " (%s that starts at line %d, column %d)",
						 yp->context, (int) yp->context_mark.line + 1,
						 (int) yp->context_mark.column + 1);
	appendStringInfoChar(&detail, '.');

	if (p->filename)
		message = psprintf("could not parse %s file \"%s\"", cfg_what, p->filename);
	else
		message = psprintf("could not parse %s", cfg_what);
	lh_cfg_report(p, LH_CFG_ERROR_SYNTAX, message, detail.data,
				  cfg_tab_at(p, line, column) ?
				  "YAML does not allow tabs in indentation: indent with spaces." :
				  "Check the YAML syntax near the position given.");
}


/* ---------------------------------------------------------------------
 * Parsing: JSON rendering of options and columns
 * ---------------------------------------------------------------------
 */

static void
cfg_json_scalar(LhCfgParser *p, StringInfo buf, yaml_node_t *node,
				const char *where)
{
	const char *s = (const char *) node->data.scalar.value;

	switch (cfg_scalar_class(node))
	{
		case CFG_NULL:
			appendStringInfoString(buf, "null");
			break;
		case CFG_TRUE:
			appendStringInfoString(buf, "true");
			break;
		case CFG_FALSE:
			appendStringInfoString(buf, "false");
			break;
		case CFG_INTEGER:
		case CFG_DECIMAL:
			if (s[0] == '+')
				appendBinaryStringInfo(buf, s + 1, node->data.scalar.length - 1);
			else
				appendBinaryStringInfo(buf, s, node->data.scalar.length);
			break;
		case CFG_STRING:
			escape_json(buf, cfg_cstring(p, node, where));
			break;
	}
}

static void
cfg_json(LhCfgParser *p, StringInfo buf, yaml_node_t *node, const char *where)
{
	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (p->depth >= CFG_MAX_DEPTH)
	{
		LhCfgLoc	loc = cfg_loc(node);

		cfg_fail(p, LH_CFG_ERROR_LIMIT, "pipeline configuration is nested too deeply",
				 NULL, "Values in %s are nested more than %d levels deep at line %d, column %d.",
				 where, CFG_MAX_DEPTH, loc.line, loc.column);
	}
	p->depth++;

	switch (node->type)
	{
		case YAML_SCALAR_NODE:
			cfg_json_scalar(p, buf, node, where);
			break;
		case YAML_SEQUENCE_NODE:
			{
				yaml_node_item_t *item;

				appendStringInfoChar(buf, '[');
				for (item = node->data.sequence.items.start;
					 item < node->data.sequence.items.top; item++)
				{
					if (item != node->data.sequence.items.start)
						appendStringInfoChar(buf, ',');
					cfg_json(p, buf, cfg_node(p, *item), where);
				}
				appendStringInfoChar(buf, ']');
			}
			break;
		case YAML_MAPPING_NODE:
			cfg_json_object(p, buf, node, where, NULL);
			break;
		default:
			{
				LhCfgLoc	loc = cfg_loc(node);

				cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration value",
						 NULL, "Found an empty node in %s at line %d, column %d.",
						 where, loc.line, loc.column);
			}
	}
	p->depth--;
}

/*
 * A mapping as a JSON object.  Keys are strings and must be unique (jsonb
 * would silently keep the last).  With path_dir set, a relative "path"
 * value is made absolute against it: the options of a file source read by
 * lh_apply_config_file().
 */
static void
cfg_json_object(LhCfgParser *p, StringInfo buf, yaml_node_t *map,
				const char *where, const char *path_dir)
{
	int			n = (int) (map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	LhCfgNameRef *refs = palloc(sizeof(LhCfgNameRef) * (n + 1));
	int			i;

	appendStringInfoChar(buf, '{');
	for (i = 0; i < n; i++)
	{
		yaml_node_pair_t *pair = &map->data.mapping.pairs.start[i];
		yaml_node_t *key = cfg_node(p, pair->key);
		yaml_node_t *value = cfg_node(p, pair->value);
		char	   *keytext;

		if (key->type != YAML_SCALAR_NODE)
		{
			LhCfgLoc	loc = cfg_loc(key);

			cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid configuration key", NULL,
					 "Expected a string but found %s as a key in %s at line %d, column %d.",
					 cfg_kind_name(key), where, loc.line, loc.column);
		}
		cfg_check_split_value(p, map, i, where);
		keytext = cfg_cstring(p, key, where);
		refs[i].name = keytext;
		refs[i].loc = cfg_loc(key);
		refs[i].seq = i;

		if (i > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, keytext);
		appendStringInfoChar(buf, ':');

		if (path_dir != NULL && strcmp(keytext, "path") == 0 &&
			value->type == YAML_SCALAR_NODE &&
			cfg_scalar_class(value) == CFG_STRING)
		{
			char	   *path = cfg_cstring(p, value, where);

			if (!is_absolute_path(path))
			{
				path = psprintf("%s/%s", path_dir, path);
				canonicalize_path(path);
			}
			escape_json(buf, path);
		}
		else
			cfg_json(p, buf, value, where);
	}
	appendStringInfoChar(buf, '}');

	lh_cfg_check_unique(p, refs, n, "option", where);
	pfree(refs);
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
		LhCfgLoc	loc = cfg_loc(data_tests);

		cfg_fail(p, LH_CFG_ERROR_INVALID, "both \"tests\" and \"data_tests\" are given",
				 "\"data_tests\" is dbt 1.8's name for \"tests\": keep one of them.",
				 "Found in %s at line %d, column %d.", where, loc.line, loc.column);
	}
	if (seq == NULL || cfg_is_null(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE)
		cfg_wrong_kind(p, seq, "a list", tests ? "tests" : "data_tests", false, where);
	n = cfg_list_length(seq);
	for (int j = 0; j < n; j++)
	{
		appendStringInfoString(out, out->len > 1 ? ",{\"test\":" : "{\"test\":");
		p->depth = 0;
		cfg_json(p, out, cfg_node(p, seq->data.sequence.items.start[j]), where);
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
	char	   *name = cfg_peek(p, map, "name", table_where);
	char	   *where;
	char	   *value;
	LhCfgNames	transforms;
	int			flag;
	int			i;

	where = name ? psprintf("column \"%s\" of %s", name, table_where) :
		psprintf("a column of %s", table_where);
	cfg_fields(p, map, column_keys, where, NULL, &f);

	name = cfg_string(p, &f, column_keys, CK_NAME, map, where, true);
	ref->name = name;
	ref->loc = cfg_loc(map);

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

	if (seq == NULL || cfg_is_null(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE)
		cfg_wrong_kind(p, seq, "a list", "columns", false, table_where);
	n = cfg_list_length(seq);
	refs = palloc(sizeof(LhCfgNameRef) * (n + 1));
	for (int j = 0; j < n; j++)
	{
		yaml_node_t *map = cfg_list_mapping(p, seq, j, "columns", table_where);
		char	   *name = cfg_peek(p, map, "name", table_where);
		char	   *where;
		CfgFields	f;

		where = name ? psprintf("column \"%s\" of %s", name, table_where) :
			psprintf("a column of %s", table_where);
		cfg_fields(p, map, gold_column_keys, where, NULL, &f);
		name = cfg_string(p, &f, gold_column_keys, GCK_NAME, map, where, true);
		(void) cfg_string(p, &f, gold_column_keys, GCK_DESCRIPTION, map, where, false);
		refs[j].name = name;
		refs[j].loc = cfg_loc(map);
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
	char	   *name = cfg_peek(p, map, "name", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *options;
	StringInfoData buf;

	where = name ? psprintf("source \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a source of pipeline \"%s\"", pl->name);
	cfg_fields(p, map, source_keys, where, NULL, &f);

	src->loc = cfg_loc(map);
	src->name = cfg_string(p, &f, source_keys, SK_NAME, map, where, true);
	src->kind = cfg_string(p, &f, source_keys, SK_KIND, map, where, true);
	src->bronze_table = cfg_string(p, &f, source_keys, SK_BRONZE_TABLE, map,
								   where, false);

	options = f.value[SK_OPTIONS];
	if (options == NULL || cfg_is_null(options))
		src->options = pstrdup("{}");
	else
	{
		if (options->type != YAML_MAPPING_NODE)
			cfg_wrong_kind(p, options, "a mapping", "options", false, where);
		initStringInfo(&buf);
		p->depth = 0;
		/* a source option "path" names a file: relative to this file */
		cfg_json_object(p, &buf, options, where, p->base_dir);
		src->options = buf.data;
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

	if (seq == NULL || cfg_is_null(seq))
		return NULL;
	if (seq->type != YAML_SEQUENCE_NODE)
		cfg_wrong_kind(p, seq, "a list", "expectations", false, where);
	n = cfg_list_length(seq);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int j = 0; j < n; j++)
	{
		if (j > 0)
			appendStringInfoChar(&buf, ',');
		p->depth = 0;
		cfg_json(p, &buf, cfg_list_mapping(p, seq, j, "expectations", where), where);
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

static void
cfg_silver(LhCfgParser *p, LhCfgPipeline *pl, LhCfgSilver *tab, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = cfg_peek(p, map, "table", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *columns;
	StringInfoData buf;
	StringInfoData tests;
	LhCfgNameRef *refs;
	int			n;
	int			j;

	where = name ? psprintf("silver table \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a silver table of pipeline \"%s\"", pl->name);
	cfg_fields(p, map, silver_keys, where, NULL, &f);

	tab->loc = cfg_loc(map);
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
	char	   *name = cfg_peek(p, map, "table", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *options;
	StringInfoData buf;

	where = name ? psprintf("gold table \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a gold table of pipeline \"%s\"", pl->name);
	cfg_fields(p, map, gold_keys, where, NULL, &f);

	tab->loc = cfg_loc(map);
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
	if (options == NULL || cfg_is_null(options))
		tab->options = pstrdup("{}");
	else
	{
		if (options->type != YAML_MAPPING_NODE)
			cfg_wrong_kind(p, options, "a mapping", "options", false, where);
		initStringInfo(&buf);
		p->depth = 0;
		cfg_json_object(p, &buf, options, where, NULL);
		tab->options = buf.data;
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
	if (options != NULL && !cfg_is_null(options))
	{
		if (options->type == YAML_MAPPING_NODE)
		{
			initStringInfo(&buf);
			p->depth = 0;
			cfg_decimal_numbers = true;
			cfg_json_object(p, &buf, options, where, NULL);
			cfg_decimal_numbers = false;
			tab->contract = buf.data;
		}
		else if (options->type == YAML_SCALAR_NODE &&
				 cfg_scalar_class(options) == CFG_STRING)
		{
			char	   *path = cfg_cstring(p, options, where);

			if (!is_absolute_path(path))
			{
				LhCfgLoc	loc = cfg_loc(options);

				if (p->base_dir == NULL)
					cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid data contract reference",
							 "Give the contract inline as a mapping, or use lh_apply_config_file so that the path is relative to the file.",
							 "The contract of %s at line %d, column %d is a relative file path, but the configuration was not read from a file.",
							 where, loc.line, loc.column);
				path = psprintf("%s/%s", p->base_dir, path);
				canonicalize_path(path);
			}
			tab->contract_file = path;
		}
		else
			cfg_wrong_kind(p, options, "a mapping or a file path", "contract", false, where);
	}
	else if (tab->on_violation != NULL)
	{
		LhCfgLoc	loc = cfg_loc(map);

		cfg_fail(p, LH_CFG_ERROR_INVALID, "on_violation needs a contract",
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
	char	   *name = cfg_peek(p, map, "pipeline", "a pipeline");
	char	   *where;
	LhCfgPipeline *pl;
	yaml_node_t *seq;
	LhCfgNameRef *refs;
	char	  **declared;
	int			j;

	where = name ? psprintf("pipeline \"%s\"", name) : "a pipeline";
	cfg_fields(p, map, pipeline_keys, where, NULL, &f);

	pl = cfg_add_pipeline(p);
	pl->loc = cfg_loc(map);
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
			LhCfgLoc	loc = cfg_loc(f.value[PK_SCHEDULE]);

			cfg_fail(p, LH_CFG_ERROR_INVALID,
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
			cfg_fail(p, LH_CFG_ERROR_INVALID,
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
			cfg_fail(p, LH_CFG_ERROR_INVALID,
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
	if (cfg_is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE)
	{
		LhCfgLoc	loc = cfg_loc(root);

		cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration document",
				 "A document is one pipeline (with the key \"pipeline\") or a list of pipelines under the key \"pipelines\".",
				 "Expected a mapping but found %s at line %d, column %d.",
				 cfg_kind_name(root), loc.line, loc.column);
	}

	if (cfg_has_key(p, root, "pipelines"))
	{
		const char *where = "a document with a \"pipelines\" list";
		CfgFields	f;
		yaml_node_t *seq;
		int			n;
		int			j;

		cfg_fields(p, root, document_keys, where,
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
 * Read the whole stream as events, once, before loading it: refuse nesting
 * deeper than LH_YAML_MAX_DEPTH at the first collection too deep, and check
 * for interrupts as it goes.  libyaml's scanner does work proportional to
 * the nesting depth for every token, so a document nested a hundred
 * thousand levels takes time quadratic in its size inside
 * yaml_parser_load, which cannot be interrupted; with the depth bounded
 * first, scanning and loading are linear.  Leaves no parser behind.
 */
static void
cfg_prescan(LhCfgParser *p)
{
	int			depth = 0;
	long		events = 0;

	if (!yaml_parser_initialize(&p->parser))
		lh_cfg_report(p, LH_CFG_ERROR_NOMEM, "out of memory",
					  "Failed while initializing the YAML parser.", NULL);
	p->parser_live = true;
	yaml_parser_set_input_string(&p->parser, p->input, p->input_len);
	for (;;)
	{
		yaml_event_t ev;
		yaml_event_type_t type;
		yaml_mark_t mark;

		if ((++events & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!yaml_parser_parse(&p->parser, &ev))
			cfg_syntax_error(p);
		type = ev.type;
		mark = ev.start_mark;
		yaml_event_delete(&ev);
		if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT)
		{
			if (++depth > LH_YAML_MAX_DEPTH)
			{
				char	   *detail = psprintf("Collections nest %d levels deep at line %d, column %d; the limit is %d.",
											  depth, (int) mark.line + 1,
											  (int) mark.column + 1, LH_YAML_MAX_DEPTH);

				lh_cfg_report(p, LH_CFG_ERROR_LIMIT,
							  psprintf("%s nests too deeply", cfg_what),
							  detail, "Flatten the document.");
			}
		}
		else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT)
			depth--;
		else if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p->parser);
	p->parser_live = false;
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

	cfg_decimal_numbers = false;
	cfg_what = "pipeline configuration";
	cfg_prescan(p);
	if (!yaml_parser_initialize(&p->parser))
		lh_cfg_report(p, LH_CFG_ERROR_NOMEM, "out of memory",
					  "Failed while initializing the YAML parser.", NULL);
	p->parser_live = true;
	yaml_parser_set_input_string(&p->parser, p->input, p->input_len);

	for (;;)
	{
		yaml_node_t *root;
		long		nodes;

		if (!yaml_parser_load(&p->parser, &p->document))
			cfg_syntax_error(p);
		p->document_live = true;

		root = yaml_document_get_root_node(&p->document);
		if (root == NULL)
			break;				/* end of the stream */

		nodes = (long) (p->document.nodes.top - p->document.nodes.start);
		p->visits_left = Max(CFG_MIN_VISITS, nodes * CFG_VISITS_PER_NODE);
		p->bytes_left = Max(CFG_MIN_BYTES,
							(long) p->input_len * CFG_BYTES_PER_INPUT);
		p->depth = 0;
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

/*
 * lh_yaml_to_json
 *		The one YAML document of p->input as JSON text (a data contract,
 *		src/contract/contract_odcs.c).  Scalars are read as in pipeline
 *		options, except that plain decimal numbers (0.5, 1e3) are numbers
 *		too.  Errors go through lh_cfg_report(); the caller must call
 *		lh_cfg_release() afterwards, after an error too.
 */
char *
lh_yaml_to_json(LhCfgParser *p)
{
	StringInfoData buf;
	yaml_node_t *root;

	root = lh_cfg_load_single(p, "data contract");
	if (root == NULL)
		lh_cfg_report(p, LH_CFG_ERROR_INVALID, "document is empty",
					  "The text holds no YAML or JSON document.", NULL);
	initStringInfo(&buf);
	cfg_decimal_numbers = true;
	cfg_json(p, &buf, root, "the document");
	cfg_decimal_numbers = false;
	lh_cfg_end_single(p);
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Reading other single-document YAML files with the same bounds, checks
 * and messages (src/quality/dqconfig.c: the dq.yaml quality files)
 * ---------------------------------------------------------------------
 */

/*
 * Load the first document of p->input (what: "data contract", "quality
 * configuration", for syntax errors) within the usual bounds: its root
 * node, or NULL for an empty stream.  The caller walks it with the
 * functions below and then calls lh_cfg_end_single(); lh_cfg_release()
 * afterwards in any case.
 */
yaml_node_t *
lh_cfg_load_single(LhCfgParser *p, const char *what)
{
	yaml_node_t *root;
	long		nodes;

	cfg_what = what;
	cfg_prescan(p);
	if (!yaml_parser_initialize(&p->parser))
		lh_cfg_report(p, LH_CFG_ERROR_NOMEM, "out of memory",
					  "Failed while initializing the YAML parser.", NULL);
	p->parser_live = true;
	yaml_parser_set_input_string(&p->parser, p->input, p->input_len);
	if (!yaml_parser_load(&p->parser, &p->document))
		cfg_syntax_error(p);
	p->document_live = true;
	root = yaml_document_get_root_node(&p->document);
	if (root == NULL)
		return NULL;
	nodes = (long) (p->document.nodes.top - p->document.nodes.start);
	p->visits_left = Max(CFG_MIN_VISITS, nodes * CFG_VISITS_PER_NODE);
	p->bytes_left = Max(CFG_MIN_BYTES, (long) p->input_len * CFG_BYTES_PER_INPUT);
	p->depth = 0;
	return root;
}

/* The document must be the only one; frees libyaml's memory. */
void
lh_cfg_end_single(LhCfgParser *p)
{
	if (p->document_live)
	{
		yaml_document_delete(&p->document);
		p->document_live = false;
	}
	if (!yaml_parser_load(&p->parser, &p->document))
		cfg_syntax_error(p);
	p->document_live = true;
	if (yaml_document_get_root_node(&p->document) != NULL)
		lh_cfg_report(p, LH_CFG_ERROR_INVALID, "text holds more than one YAML document",
					  "Only the first document can be read here.",
					  "Remove the \"---\" separators and the documents after the first.");
	lh_cfg_release(p);
}

yaml_node_t *
lh_cfg_node(LhCfgParser *p, int id)
{
	return cfg_node(p, id);
}

LhCfgLoc
lh_cfg_loc(const yaml_node_t *node)
{
	return cfg_loc(node);
}

/* "a list", "a string", ... */
const char *
lh_cfg_kind_name(const yaml_node_t *node)
{
	return cfg_kind_name(node);
}

bool
lh_cfg_is_null(const yaml_node_t *node)
{
	return cfg_is_null(node);
}

/*
 * The pairs of a mapping by key (keys: NULL-terminated, at most
 * LH_CFG_MAX_KEYS): values[i] is the value of keys[i] or NULL.  Unknown and
 * repeated keys are errors, as in a pipeline configuration.
 */
StaticAssertDecl(LH_CFG_MAX_KEYS == CFG_MAX_KEYS, "LH_CFG_MAX_KEYS is the size of CfgFields");

void
lh_cfg_fields(LhCfgParser *p, yaml_node_t *map, const char *const *keys,
			  const char *where, const char *hint, yaml_node_t **values)
{
	CfgFields	f;
	int			i;

	cfg_fields(p, map, keys, where, hint, &f);
	for (i = 0; keys[i]; i++)
		values[i] = f.value[i];
}

/* The text of key's value in map, if it is a scalar, before cfg_fields. */
char *
lh_cfg_peek(LhCfgParser *p, yaml_node_t *map, const char *key, const char *where)
{
	return cfg_peek(p, map, key, where);
}

/*
 * A scalar value as text (key names it in messages): NULL for null,
 * unless required; anything but a scalar is an error.
 */
char *
lh_cfg_scalar(LhCfgParser *p, yaml_node_t *node, const char *key,
			  const char *where, bool required)
{
	if (node->type != YAML_SCALAR_NODE || (required && cfg_is_null(node)))
		cfg_wrong_kind(p, node, "a string", key, false, where);
	if (cfg_is_null(node))
		return NULL;
	return cfg_cstring(p, node, where);
}

void
lh_cfg_wrong_kind(LhCfgParser *p, const yaml_node_t *node, const char *expected,
				  const char *key, bool entry, const char *where)
{
	cfg_wrong_kind(p, node, expected, key, entry, where);
}

/* Any value as JSON text, as the options of a source are rendered. */
char *
lh_cfg_json(LhCfgParser *p, yaml_node_t *node, const char *where)
{
	StringInfoData buf;

	initStringInfo(&buf);
	p->depth = 0;
	cfg_json(p, &buf, node, where);
	return buf.data;
}

/* Free libyaml's memory; safe to call more than once, and after errors. */
void
lh_cfg_release(LhCfgParser *p)
{
	if (p->document_live)
	{
		yaml_document_delete(&p->document);
		p->document_live = false;
	}
	if (p->parser_live)
	{
		yaml_parser_delete(&p->parser);
		p->parser_live = false;
	}
}

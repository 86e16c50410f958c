/*-------------------------------------------------------------------------
 *
 * yaml.c
 *	  lh_apply_config() and lh_apply_config_file(): declare pipelines from a
 *	  YAML stream.
 *
 * The work happens in two steps.
 *
 * 1. lh_cfg_parse() loads the stream with libyaml's document API, one
 *    document at a time, and walks each node tree into the LhCfg* structs of
 *    config/yaml.h.  It checks every key (unrecognized and duplicate keys),
 *    the kind of every node (mapping, list, scalar) and every required key,
 *    and reports the line and column of what is wrong.  Source options and
 *    silver column lists are rendered to JSON text on the way.  This step
 *    runs no SQL and reads no catalog; compiled with -DLH_YAML_FUZZ it links
 *    into the standalone fuzz harness in test/fuzz/.
 *
 * 2. cfg_apply() declares the pipelines through the SQL API over SPI --
 *    lh_create_pipeline, lh_add_source, lh_define_silver, lh_define_gold,
 *    always with replace => true -- then unregisters the sources and tables
 *    of each pipeline that the document no longer lists (lh_drop_source,
 *    lh_drop_table without dropping data) and (un)schedules it.  Names,
 *    options and SQL reach those functions only as SPI parameters.
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
 * the last pipeline of the stream -- leaves the catalog as it was.  Pipelines
 * that exist but are not in the stream are not touched.
 *
 * Result: {"pipelines": [{"pipeline": "orders", "action": "created"}, ...]}
 * in document order.  The action compares a fingerprint of the pipeline's
 * catalog rows (by name; no ids, no timestamps) taken before and after, so
 * applying the same configuration twice reports "unchanged".
 *
 * Memory: libyaml mallocs.  The parser and the document being walked are
 * freed by lh_cfg_release(), called from PG_FINALLY on success and error
 * alike.  Everything else is palloc'd in the caller's memory context or in
 * SPI's, which SPI_finish() releases.
 *
 * Scalars in source options: plain true/false/yes/no become JSON booleans,
 * plain integers numbers, plain null/~/empty null; everything else, and
 * every quoted scalar, is a string.  Tags are ignored: quote a value to keep
 * it a string.  Aliases are expanded within limits -- CFG_MAX_DEPTH levels
 * of nesting, and budgets of node visits and scalar bytes proportional to
 * the size of the input -- so a recursive or exponential alias cannot
 * exhaust the server.
 *
 *-------------------------------------------------------------------------
 */
#ifdef LH_YAML_FUZZ
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <sys/stat.h>

#include <yaml.h>

#ifndef LH_YAML_FUZZ
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
#endif

#include "config/yaml.h"

#ifndef LH_YAML_FUZZ
PG_FUNCTION_INFO_V1(lh_apply_config);
PG_FUNCTION_INFO_V1(lh_apply_config_file);
#endif

/* Largest configuration accepted, as text or as a file. */
#define CFG_MAX_INPUT			(16 * 1024 * 1024)

/* Deepest nesting of option values. */
#define CFG_MAX_DEPTH			64

/* Budgets against alias expansion (per document). */
#define CFG_MIN_VISITS			10000L
#define CFG_VISITS_PER_NODE		16L
#define CFG_MIN_BYTES			(1024L * 1024L)
#define CFG_BYTES_PER_INPUT		8L

#ifdef LH_YAML_FUZZ
#define CFG_CHECK_STACK()		((void) 0)
#else
#define CFG_CHECK_STACK() \
	do { check_stack_depth(); CHECK_FOR_INTERRUPTS(); } while (0)
#endif

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
	"table", "source", "keys", "order_by", "columns", NULL
};
enum
{
	VK_TABLE, VK_SOURCE, VK_KEYS, VK_ORDER_BY, VK_COLUMNS
};

static const char *const gold_keys[] = {
	"table", "kind", "keys", "sql", NULL
};
enum
{
	GK_TABLE, GK_KIND, GK_KEYS, GK_SQL
};

static const char *const column_keys[] = {
	"name", "path", "type", "required", "transforms", "default", "min", "max",
	"non_negative", NULL
};
enum
{
	CK_NAME, CK_PATH, CK_TYPE, CK_REQUIRED, CK_TRANSFORMS, CK_DEFAULT, CK_MIN,
	CK_MAX, CK_NON_NEGATIVE
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
	CFG_STRING
} CfgScalarClass;

/* The values (and keys) of one mapping, indexed like its key array. */
typedef struct CfgFields
{
	yaml_node_t *value[CFG_MAX_KEYS];
	yaml_node_t *key[CFG_MAX_KEYS];
} CfgFields;

/* A name and where it was declared, for duplicate checks. */
typedef struct CfgNameRef
{
	const char *name;
	LhCfgLoc	loc;
	int			seq;
} CfgNameRef;

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
#ifndef LH_YAML_FUZZ
	copy = pg_any_to_server(copy, (int) len, PG_UTF8);
#endif
	return copy;
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

static int
cfg_nameref_cmp(const void *a, const void *b)
{
	const CfgNameRef *x = a;
	const CfgNameRef *y = b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int
cfg_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool
cfg_sorted_contains(char **sorted, int n, const char *name)
{
	return n > 0 && bsearch(&name, sorted, n, sizeof(char *), cfg_strcmp) != NULL;
}

/*
 * Sort refs and report the first repeated name (the one whose second
 * declaration comes earliest); "what" names the kind of thing, "where" the
 * section that holds them (NULL: the whole stream).
 */
static void
cfg_check_unique(LhCfgParser *p, CfgNameRef *refs, int n, const char *what,
				 const char *where)
{
	const CfgNameRef *dup = NULL;
	const CfgNameRef *first = NULL;
	int			i;

	if (n < 2)
		return;
	qsort(refs, n, sizeof(CfgNameRef), cfg_nameref_cmp);
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
		message = psprintf("could not parse pipeline configuration file \"%s\"",
						   p->filename);
	else
		message = "could not parse pipeline configuration";
	lh_cfg_report(p, LH_CFG_ERROR_SYNTAX, message, detail.data,
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
	CFG_CHECK_STACK();
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
	CfgNameRef *refs = palloc(sizeof(CfgNameRef) * (n + 1));
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

	cfg_check_unique(p, refs, n, "option", where);
	pfree(refs);
}

/* One silver column as a JSON object; *ref gets its name. */
static void
cfg_column(LhCfgParser *p, StringInfo buf, yaml_node_t *map,
		   const char *table_where, CfgNameRef *ref)
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

	appendStringInfoChar(buf, '}');
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
		cfg_json_object(p, &buf, options, where,
						strcmp(src->kind, "file") == 0 ? p->base_dir : NULL);
		src->options = buf.data;
	}
}

static void
cfg_silver(LhCfgParser *p, LhCfgPipeline *pl, LhCfgSilver *tab, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = cfg_peek(p, map, "table", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;
	yaml_node_t *columns;
	StringInfoData buf;
	CfgNameRef *refs;
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

	columns = cfg_list(p, &f, silver_keys, VK_COLUMNS, map, where, true);
	n = cfg_list_length(columns);
	refs = palloc(sizeof(CfgNameRef) * (n + 1));
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (j = 0; j < n; j++)
	{
		yaml_node_t *item = cfg_list_mapping(p, columns, j, "columns", where);

		if (j > 0)
			appendStringInfoChar(&buf, ',');
		cfg_column(p, &buf, item, where, &refs[j]);
		refs[j].seq = j;
	}
	appendStringInfoChar(&buf, ']');
	tab->columns = buf.data;
	cfg_check_unique(p, refs, n, "column", where);
}

static void
cfg_gold(LhCfgParser *p, LhCfgPipeline *pl, LhCfgGold *tab, yaml_node_t *map)
{
	CfgFields	f;
	char	   *name = cfg_peek(p, map, "table", psprintf("pipeline \"%s\"", pl->name));
	char	   *where;

	where = name ? psprintf("gold table \"%s\" of pipeline \"%s\"", name, pl->name) :
		psprintf("a gold table of pipeline \"%s\"", pl->name);
	cfg_fields(p, map, gold_keys, where, NULL, &f);

	tab->loc = cfg_loc(map);
	tab->table = cfg_string(p, &f, gold_keys, GK_TABLE, map, where, true);
	tab->kind = cfg_string(p, &f, gold_keys, GK_KIND, map, where, false);
	cfg_names(p, &f, gold_keys, GK_KEYS, map, where, &tab->keys);
	tab->sql = cfg_string(p, &f, gold_keys, GK_SQL, map, where, true);
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
	CfgNameRef *refs;
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

	cfg_names(p, &f, pipeline_keys, PK_DEPENDS_ON, map, where, &pl->depends_on);
	refs = palloc(sizeof(CfgNameRef) * (pl->depends_on.n + 1));
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
	cfg_check_unique(p, refs, pl->depends_on.n, "upstream pipeline",
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
	qsort(declared, pl->nsources, sizeof(char *), cfg_strcmp);
	for (j = 0; j < pl->nsilver; j++)
	{
		if (!cfg_sorted_contains(declared, pl->nsources, pl->silver[j].source))
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
 * Parse and validate the whole stream into p->pipelines.  Errors go through
 * lh_cfg_report(); the caller must call lh_cfg_release() afterwards, after
 * an error too.
 */
void
lh_cfg_parse(LhCfgParser *p)
{
	CfgNameRef *refs;
	int			nrefs;
	int			i;
	int			j;

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
	refs = palloc(sizeof(CfgNameRef) * (p->npipelines + 1));
	for (i = 0; i < p->npipelines; i++)
	{
		refs[i].name = p->pipelines[i].name;
		refs[i].loc = p->pipelines[i].loc;
		refs[i].seq = i;
	}
	cfg_check_unique(p, refs, p->npipelines, "pipeline", NULL);
	pfree(refs);

	nrefs = 0;
	for (i = 0; i < p->npipelines; i++)
		nrefs += p->pipelines[i].nsources;
	refs = palloc(sizeof(CfgNameRef) * (nrefs + 1));
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
	cfg_check_unique(p, refs, nrefs, "source", NULL);
	pfree(refs);
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

#ifndef LH_YAML_FUZZ

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
	int			ret;

	ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s",
			 SPI_result_code_string(ret));
}

/* Run a query with one text parameter; first column of the first row. */
static char *
cfg_query_text(const char *sql, const char *arg)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(arg);
	cfg_exec(sql, 1, types, values, NULL);
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
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

/*
 * A fingerprint of everything the catalog holds about a pipeline, by name
 * rather than id and without timestamps, positions and run state; NULL if
 * the pipeline does not exist.  Every part is present (empty when there is
 * nothing), so parts cannot shift into each other.
 *
 * XXX: a definition column added to the catalog must be added here, or a
 * change to it will be reported as "unchanged".
 */
static char *
cfg_fingerprint(const char *pipeline)
{
	static const char *sql =
		"SELECT md5(concat_ws(E'\\n',"
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
		"          (SELECT array_agg(row(c.ordinal, c.column_name, c.json_path,"
		"                                c.type_name, c.required, c.transforms,"
		"                                c.default_value, c.min_value,"
		"                                c.max_value)::text ORDER BY c.ordinal)"
		"             FROM lakehouse.silver_columns c"
		"            WHERE c.table_id = t.table_id))::text"
		"                   ORDER BY t.layer, t.schema_name, t.table_name)"
		"    FROM lakehouse.tables t"
		"    LEFT JOIN lakehouse.sources s ON s.source_id = t.source_id"
		"   WHERE t.pipeline_id = p.pipeline_id)::text, '')))"
		"  FROM lakehouse.pipelines p WHERE p.name = $1";

	return cfg_query_text(sql, pipeline);
}

static bool
cfg_pipeline_exists(const char *pipeline)
{
	return cfg_query_text("SELECT 1 FROM lakehouse.pipelines WHERE name = $1",
						  pipeline) != NULL;
}

/* Index of the stream's pipeline called name, or -1; byname is sorted. */
static int
cfg_pipeline_index(LhCfgParser *p, const CfgNameRef *byname, const char *name)
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
cfg_order_visit(LhCfgParser *p, const CfgNameRef *byname, int i, char *marks,
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
cfg_table_names(LhCfgPipeline *pl, CfgApplyContext *ctx, CfgNameRef *refs,
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
	qsort(names, n, sizeof(char *), cfg_strcmp);
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
	char	  **names;
	char	  **layers;
	uint64		n;
	uint64		i;

	values[0] = CStringGetTextDatum(pl->name);
	cfg_exec("SELECT t.layer, t.schema_name, t.table_name"
			 "  FROM lakehouse.tables t"
			 "  JOIN lakehouse.pipelines p USING (pipeline_id)"
			 " WHERE p.name = $1"
			 " ORDER BY t.layer, t.schema_name, t.table_name",
			 1, types, values, NULL);
	n = SPI_processed;
	names = palloc(sizeof(char *) * (n + 1));
	layers = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		layers[i] = SPI_getvalue(tuple, desc, 1);
		names[i] = lh_qualified_name(SPI_getvalue(tuple, desc, 2),
									 SPI_getvalue(tuple, desc, 3));
	}
	for (i = 0; i < n; i++)
	{
		if (cfg_sorted_contains(tables, ntables, names[i]))
			continue;
		ereport(NOTICE,
				(errmsg("unregistering %s table %s, which pipeline \"%s\" no longer declares",
						layers[i], names[i], pl->name),
				 errdetail("The table and its data are kept.")));
		values[0] = CStringGetTextDatum(names[i]);
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
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2];
	char	  **declared;
	char	  **names;
	uint64		n;
	uint64		i;
	int			j;

	declared = palloc(sizeof(char *) * (pl->nsources + 1));
	for (j = 0; j < pl->nsources; j++)
		declared[j] = pl->sources[j].name;
	qsort(declared, pl->nsources, sizeof(char *), cfg_strcmp);

	values[0] = CStringGetTextDatum(pl->name);
	values[1] = BoolGetDatum(unreferenced_only);
	cfg_exec("SELECT s.name"
			 "  FROM lakehouse.sources s"
			 "  JOIN lakehouse.pipelines p USING (pipeline_id)"
			 " WHERE p.name = $1"
			 "   AND NOT ($2 AND EXISTS (SELECT 1 FROM lakehouse.tables t"
			 "                            WHERE t.source_id = s.source_id))"
			 " ORDER BY s.name",
			 2, types, values, NULL);
	n = SPI_processed;
	names = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	for (i = 0; i < n; i++)
	{
		if (cfg_sorted_contains(declared, pl->nsources, names[i]))
			continue;
		ereport(NOTICE,
				(errmsg("unregistering source \"%s\", which pipeline \"%s\" no longer declares",
						names[i], pl->name),
				 errdetail("Its bronze table and the data in it are kept.")));
		values[0] = CStringGetTextDatum(names[i]);
		cfg_exec("SELECT lakehouse.lh_drop_source($1)", 1, types, values, NULL);
	}
}

/* Define the sources, silver and gold tables and schedule of a pipeline. */
static void
cfg_define(LhCfgPipeline *pl, CfgApplyContext *ctx)
{
	Oid			types[6];
	Datum		values[6];
	char		nulls[7] = "      ";
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
		cfg_exec("SELECT lakehouse.lh_define_silver($1, $2, $3, $4::jsonb, $5, $6, true)",
				 6, types, values, nulls);
		nulls[4] = nulls[5] = ' ';
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
		cfg_exec("SELECT lakehouse.lh_define_gold($1, $2, $3, $4, $5, true)",
				 5, types, values, nulls);
		nulls[4] = ' ';
	}

	/* (un)schedule only when the schedule changes: pg_cron jobs stay put */
	ctx->what = psprintf("pipeline \"%s\"", pl->name);
	ctx->loc = pl->loc;
	current = cfg_query_text("SELECT schedule FROM lakehouse.pipelines WHERE name = $1",
							 pl->name);
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
 * Apply parsed pipelines; see the file header for the order of the steps.
 * Returns the summary.
 */
static Jsonb *
cfg_apply(LhCfgParser *p)
{
	int			n = p->npipelines;
	const char **actions = palloc(sizeof(char *) * (n + 1));
	CfgNameRef *byname = palloc(sizeof(CfgNameRef) * (n + 1));
	CfgNameRef *tablerefs;
	char	   *marks = palloc0(n + 1);
	int		   *order = palloc(sizeof(int) * (n + 1));
	int			norder = 0;
	char	  **before = palloc(sizeof(char *) * (n + 1));
	char	 ***tables = palloc(sizeof(char **) * (n + 1));
	int			ntablerefs = 0;
	CfgApplyContext ctx;
	ErrorContextCallback errcb;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	char		nulls[4] = "   ";
	StringInfoData buf;
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		byname[i].name = p->pipelines[i].name;
		byname[i].loc = p->pipelines[i].loc;
		byname[i].seq = i;
		ntablerefs += p->pipelines[i].nsilver + p->pipelines[i].ngold;
	}
	qsort(byname, n, sizeof(CfgNameRef), cfg_nameref_cmp);
	tablerefs = palloc(sizeof(CfgNameRef) * (ntablerefs + 1));
	ntablerefs = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	ctx.what = NULL;
	errcb.callback = cfg_apply_callback;
	errcb.arg = &ctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	/* Check what can be checked before changing anything. */
	for (i = 0; i < n; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		for (j = 0; j < pl->depends_on.n; j++)
		{
			const char *up = pl->depends_on.names[j];

			if (cfg_pipeline_index(p, byname, up) < 0 && !cfg_pipeline_exists(up))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("pipeline \"%s\" does not exist", up),
						 errdetail("Pipeline \"%s\" lists it in depends_on at line %d, column %d.",
								   pl->name, pl->depends_on.locs[j].line,
								   pl->depends_on.locs[j].column),
						 errhint("Declare the upstream pipeline before, or in the same configuration.")));
		}
		tables[i] = cfg_table_names(pl, &ctx, tablerefs, &ntablerefs);
	}
	cfg_check_unique(p, tablerefs, ntablerefs, "table", NULL);

	for (i = 0; i < n; i++)
		before[i] = cfg_fingerprint(p->pipelines[i].name);

	/* 1: every pipeline exists, with no dependencies yet */
	for (i = 0; i < n; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		ctx.what = psprintf("pipeline \"%s\"", pl->name);
		ctx.loc = pl->loc;
		values[0] = CStringGetTextDatum(pl->name);
		values[1] = cfg_text_or_null(pl->description, &nulls[1]);
		cfg_exec("SELECT lakehouse.lh_create_pipeline($1, $2, '{}'::text[], true)",
				 2, types, values, nulls);
		nulls[1] = ' ';
	}

	/* 2: dependencies, now that every upstream exists */
	for (i = 0; i < n; i++)
	{
		LhCfgPipeline *pl = &p->pipelines[i];

		if (pl->depends_on.n == 0)
			continue;
		ctx.what = psprintf("pipeline \"%s\"", pl->name);
		ctx.loc = pl->loc;
		values[0] = CStringGetTextDatum(pl->name);
		values[1] = cfg_text_or_null(pl->description, &nulls[1]);
		values[2] = cfg_text_array(&pl->depends_on);
		cfg_exec("SELECT lakehouse.lh_create_pipeline($1, $2, $3, true)",
				 3, types, values, nulls);
		nulls[1] = ' ';
	}

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
		char	   *after = cfg_fingerprint(p->pipelines[i].name);

		if (before[i] == NULL)
			actions[i] = "created";
		else if (after == NULL || strcmp(before[i], after) != 0)
			actions[i] = "updated";
		else
			actions[i] = "unchanged";
	}

	error_context_stack = errcb.previous;
	SPI_finish();

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"pipelines\": [");
	for (i = 0; i < n; i++)
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
				 errdetail("The configuration has %zu bytes; the limit is %d bytes.",
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

/* Read a whole configuration file; shown is the name for messages. */
static char *
cfg_read_file(const char *path, const char *shown, size_t *len)
{
	struct stat st;
	FILE	   *file;
	StringInfoData buf;

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
				 errmsg("pipeline configuration file \"%s\" is too large", shown),
				 errdetail("The file has %lld bytes; the limit is %d bytes.",
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
					 errmsg("pipeline configuration file \"%s\" is too large", shown),
					 errdetail("The limit is %d bytes.", CFG_MAX_INPUT)));
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
	char	   *abspath;
	char	   *dir;
	char	   *contents;
	size_t		len;
	ErrorContextCallback errcb;
	Jsonb	   *result;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read pipeline configuration file \"%s\"",
						path),
				 errdetail("Only roles with privileges of the \"%s\" role may read files on the server.",
						   "pg_read_server_files")));

	if (is_absolute_path(path))
		abspath = pstrdup(path);
	else
		abspath = psprintf("%s/%s", DataDir, path);
	canonicalize_path(abspath);
	dir = pstrdup(abspath);
	get_parent_directory(dir);

	errcb.callback = cfg_file_callback;
	errcb.arg = path;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	contents = cfg_read_file(abspath, path, &len);
	result = cfg_parse_and_apply(contents, len, dir, path);

	error_context_stack = errcb.previous;
	PG_RETURN_JSONB_P(result);
}

#endif							/* !LH_YAML_FUZZ */

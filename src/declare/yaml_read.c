/*-------------------------------------------------------------------------
 *
 * yaml_read.c
 *	  Generic YAML reading for every YAML file lakehouse reads: pipeline
 *	  configurations (the schema is in yaml_parse.c), data contracts and the
 *	  dq.yaml quality files (src/quality/dqconfig.c).
 *
 * This file owns the parts that do not depend on what the file declares:
 * loading a stream or a single document with libyaml's document API
 * (lh_cfg_open, lh_cfg_load_next, lh_cfg_load_single, lh_cfg_end_single),
 * node access and the checks of keys (unrecognized, duplicate and missing
 * keys, the kind of a node), error reports that name the line and column,
 * libyaml's syntax errors (with a hint for tabs in indentation), rendering
 * values to JSON text, and the sorted and duplicate name helpers.  The
 * pipeline schema in yaml_parse.c and the readers of other files walk their
 * documents with these, so that every file shares the same bounds, checks
 * and messages.
 *
 * Scalars: plain true/false/yes/no become JSON booleans, plain integers
 * numbers, plain null/~/empty null; everything else, and every quoted
 * scalar, is a string.  Plain decimals (0.5, 1e3) are numbers only in data
 * contracts (lh_yaml_to_json, lh_cfg_json_map).  Tags are ignored: quote a
 * value to keep it a string.  Bounds: a stream nests at most
 * LH_YAML_MAX_DEPTH levels, checked by a first pass over its events before
 * anything is loaded (cfg_prescan: libyaml's time is quadratic in the
 * nesting depth, so the depth is bounded first and the rest is linear);
 * values rendered to JSON nest at most CFG_MAX_DEPTH levels; aliases are
 * expanded within budgets of node visits and scalar bytes proportional to
 * the size of the input, so a recursive or exponential alias cannot exhaust
 * the server; the size of the input is bounded by the caller
 * (lakehouse.max_config_bytes).
 *
 * Transactions and locking: none.  This file runs no SQL, reads no catalog
 * and takes no locks, so test/fuzz/yaml_fuzz.c links it (with yaml_parse.c)
 * outside the server, unchanged.  It may call only what that harness
 * supplies besides libyaml, libpgcommon and libpgport: palloc and friends,
 * escape_json(), pg_any_to_server(), check_stack_depth(),
 * CHECK_FOR_INTERRUPTS() and lh_cfg_report().  Anything else backend-only
 * belongs in yaml.c.
 *
 * Errors: every error goes through lh_cfg_report(), which never returns (the
 * server raises an ERROR, the harness longjmps).
 *
 * Memory: libyaml mallocs the parser and the document being walked; the
 * caller must call lh_cfg_release() on success and error alike (from
 * PG_FINALLY in the server).  It frees what is live and may be called more
 * than once.  JSON text and messages are palloc'd in the caller's memory
 * context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <yaml.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "declare/declare.h"
#include "declare/yaml_read.h"

/* Deepest nesting of values rendered to JSON. */
#define CFG_MAX_DEPTH			64

/* Budgets against alias expansion (per document). */
#define CFG_MIN_VISITS			10000L
#define CFG_VISITS_PER_NODE		16L
#define CFG_MIN_BYTES			(1024L * 1024L)
#define CFG_BYTES_PER_INPUT		8L

/* Plain scalars that mean something other than a string. */
static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {
	"true", "True", "TRUE", "yes", "Yes", "YES", NULL
};
static const char *const false_words[] = {
	"false", "False", "FALSE", "no", "No", "NO", NULL
};

/*
 * Set while a data contract is rendered (lh_yaml_to_json, lh_cfg_json_map:
 * bounds such as 0.5 are numbers), cleared by lh_cfg_open (pipeline
 * options keep them strings).
 */
static bool cfg_decimal_numbers = false;

/* What is being read, for syntax errors (set by lh_cfg_open). */
static const char *cfg_what = "pipeline configuration";

static void cfg_syntax_error(LhCfgParser *p) pg_attribute_noreturn();
static void cfg_json(LhCfgParser *p, StringInfo buf, yaml_node_t *node,
					 const char *where);
static void cfg_json_object(LhCfgParser *p, StringInfo buf, yaml_node_t *map,
							const char *where, const char *path_dir);


/* ---------------------------------------------------------------------
 * Node access, key checks and error reporting
 * ---------------------------------------------------------------------
 */

LhCfgLoc
lh_cfg_loc(const yaml_node_t *node)
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
void
lh_cfg_fail(LhCfgParser *p, LhCfgErrorKind kind, const char *message,
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
yaml_node_t *
lh_cfg_node(LhCfgParser *p, int id)
{
	yaml_node_t *node = yaml_document_get_node(&p->document, id);

	if (node == NULL)
		lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration",
				 NULL, "The YAML document refers to node %d, which does not exist.",
				 id);
	p->visits_left--;
	if (node->type == YAML_SCALAR_NODE)
		p->bytes_left -= (long) node->data.scalar.length;
	if (p->visits_left < 0 || p->bytes_left < 0)
	{
		LhCfgLoc	loc = lh_cfg_loc(node);

		lh_cfg_fail(p, LH_CFG_ERROR_LIMIT,
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
CfgScalarClass
lh_cfg_scalar_class(const yaml_node_t *node)
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

bool
lh_cfg_is_null(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE && lh_cfg_scalar_class(node) == CFG_NULL;
}

/* "a list", "a mapping", "null", ... for "Expected X but found Y". */
const char *
lh_cfg_kind_name(const yaml_node_t *node)
{
	switch (node->type)
	{
		case YAML_MAPPING_NODE:
			return "a mapping";
		case YAML_SEQUENCE_NODE:
			return "a list";
		case YAML_SCALAR_NODE:
			switch (lh_cfg_scalar_class(node))
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
char *
lh_cfg_cstring(LhCfgParser *p, const yaml_node_t *node, const char *where)
{
	const char *s = (const char *) node->data.scalar.value;
	size_t		len = node->data.scalar.length;
	char	   *copy;

	if (memchr(s, '\0', len) != NULL)
	{
		LhCfgLoc	loc = lh_cfg_loc(node);

		lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration value",
				 NULL,
				 "The value in %s at line %d, column %d contains a null character.",
				 where, loc.line, loc.column);
	}
	copy = pnstrdup(s, len);
	return pg_any_to_server(copy, (int) len, PG_UTF8);
}

void
lh_cfg_wrong_kind(LhCfgParser *p, const yaml_node_t *node, const char *expected,
			   const char *key, bool entry, const char *where)
{
	LhCfgLoc	loc = lh_cfg_loc(node);

	lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
			 psprintf(entry ? "invalid entry in configuration key \"%s\"" :
					  "invalid value for configuration key \"%s\"", key),
			 NULL, "Expected %s but found %s in %s at line %d, column %d.",
			 expected, lh_cfg_kind_name(node), where, loc.line, loc.column);
}

void
lh_cfg_missing(LhCfgParser *p, const yaml_node_t *map, const char *key,
			const char *where)
{
	LhCfgLoc	loc = lh_cfg_loc(map);

	lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
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

	loc = lh_cfg_loc(key);
	lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
			 psprintf("unquoted value of configuration key \"%s\" contains a comma",
					  lh_cfg_cstring(p, prev_key, where)),
			 psprintf("Quote the value: %s: \"%s,%s\".",
					  lh_cfg_cstring(p, prev_key, where),
					  lh_cfg_cstring(p, prev_value, where),
					  lh_cfg_cstring(p, key, where)),
			 "In a flow mapping ({ ... }) a comma ends a plain value: \"%s\" became a key of its own in %s at line %d, column %d.",
			 lh_cfg_cstring(p, key, where), where, loc.line, loc.column);
}

/*
 * Sort a mapping's pairs into f by key.  Every key must be one of keys and
 * appear once; hint overrides the default "Valid keys are: ..." hint.
 */
void
lh_cfg_map_fields(LhCfgParser *p, yaml_node_t *map, const char *const *keys,
		   const char *where, const char *hint, CfgFields *f)
{
	yaml_node_pair_t *pair;

	memset(f, 0, sizeof(*f));
	for (pair = map->data.mapping.pairs.start;
		 pair < map->data.mapping.pairs.top; pair++)
	{
		yaml_node_t *key = lh_cfg_node(p, pair->key);
		yaml_node_t *value = lh_cfg_node(p, pair->value);
		LhCfgLoc	loc = lh_cfg_loc(key);
		int			i;

		if (key->type != YAML_SCALAR_NODE)
			lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid configuration key", NULL,
					 "Expected a string but found %s as a key in %s at line %d, column %d.",
					 lh_cfg_kind_name(key), where, loc.line, loc.column);

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

			lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
					 psprintf("unrecognized configuration key \"%s\"",
							  lh_cfg_cstring(p, key, where)),
					 hint ? hint : valid.data,
					 "Found in %s at line %d, column %d.",
					 where, loc.line, loc.column);
		}
		if (f->value[i] != NULL)
		{
			LhCfgLoc	first = lh_cfg_loc(f->key[i]);

			lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
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
char *
lh_cfg_peek(LhCfgParser *p, yaml_node_t *map, const char *key, const char *where)
{
	const char *keys[2] = {key, NULL};
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start;
		 pair < map->data.mapping.pairs.top; pair++)
	{
		yaml_node_t *k = lh_cfg_node(p, pair->key);
		yaml_node_t *v = lh_cfg_node(p, pair->value);

		if (cfg_key_index(k, keys) == 0 &&
			v->type == YAML_SCALAR_NODE && !lh_cfg_is_null(v))
			return lh_cfg_cstring(p, v, where);
	}
	return NULL;
}

bool
lh_cfg_has_key(LhCfgParser *p, yaml_node_t *map, const char *key)
{
	const char *keys[2] = {key, NULL};
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start;
		 pair < map->data.mapping.pairs.top; pair++)
	{
		if (cfg_key_index(lh_cfg_node(p, pair->key), keys) == 0)
			return true;
	}
	return false;
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
		lh_cfg_fail(p, LH_CFG_ERROR_INVALID,
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
 * JSON rendering of values
 * ---------------------------------------------------------------------
 */

static void
cfg_json_scalar(LhCfgParser *p, StringInfo buf, yaml_node_t *node,
				const char *where)
{
	const char *s = (const char *) node->data.scalar.value;

	switch (lh_cfg_scalar_class(node))
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
			escape_json(buf, lh_cfg_cstring(p, node, where));
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
		LhCfgLoc	loc = lh_cfg_loc(node);

		lh_cfg_fail(p, LH_CFG_ERROR_LIMIT, "pipeline configuration is nested too deeply",
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
					cfg_json(p, buf, lh_cfg_node(p, *item), where);
				}
				appendStringInfoChar(buf, ']');
			}
			break;
		case YAML_MAPPING_NODE:
			cfg_json_object(p, buf, node, where, NULL);
			break;
		default:
			{
				LhCfgLoc	loc = lh_cfg_loc(node);

				lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid pipeline configuration value",
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
		yaml_node_t *key = lh_cfg_node(p, pair->key);
		yaml_node_t *value = lh_cfg_node(p, pair->value);
		char	   *keytext;

		if (key->type != YAML_SCALAR_NODE)
		{
			LhCfgLoc	loc = lh_cfg_loc(key);

			lh_cfg_fail(p, LH_CFG_ERROR_INVALID, "invalid configuration key", NULL,
					 "Expected a string but found %s as a key in %s at line %d, column %d.",
					 lh_cfg_kind_name(key), where, loc.line, loc.column);
		}
		cfg_check_split_value(p, map, i, where);
		keytext = lh_cfg_cstring(p, key, where);
		refs[i].name = keytext;
		refs[i].loc = lh_cfg_loc(key);
		refs[i].seq = i;

		if (i > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, keytext);
		appendStringInfoChar(buf, ':');

		if (path_dir != NULL && strcmp(keytext, "path") == 0 &&
			value->type == YAML_SCALAR_NODE &&
			lh_cfg_scalar_class(value) == CFG_STRING)
		{
			char	   *path = lh_cfg_cstring(p, value, where);

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

/* ---------------------------------------------------------------------
 * Loading: the bound on nesting, documents and their budgets
 * ---------------------------------------------------------------------
 */

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
 * Start reading p->input (what: "pipeline configuration", "data contract",
 * "quality configuration", for messages): bound its nesting depth with
 * cfg_prescan, then set up the parser that loads its documents.  Plain
 * decimals are strings again, even if an error left them numbers.
 */
void
lh_cfg_open(LhCfgParser *p, const char *what)
{
	cfg_decimal_numbers = false;
	cfg_what = what;
	cfg_prescan(p);
	if (!yaml_parser_initialize(&p->parser))
		lh_cfg_report(p, LH_CFG_ERROR_NOMEM, "out of memory",
					  "Failed while initializing the YAML parser.", NULL);
	p->parser_live = true;
	yaml_parser_set_input_string(&p->parser, p->input, p->input_len);
}

/*
 * Load the next document of the stream into p->document: its root node, or
 * NULL at the end of the stream.  Sets the alias expansion budgets of the
 * document.  The caller deletes the document (or calls lh_cfg_release()).
 */
yaml_node_t *
lh_cfg_load_next(LhCfgParser *p)
{
	yaml_node_t *root;
	long		nodes;

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

/*
 * A mapping as JSON object text (path_dir: see cfg_json_object).  With
 * decimal_numbers, plain decimals (0.5, 1e3) are numbers, as in a data
 * contract; otherwise strings, as in pipeline options.
 */
char *
lh_cfg_json_map(LhCfgParser *p, yaml_node_t *map, const char *where,
				const char *path_dir, bool decimal_numbers)
{
	StringInfoData buf;

	initStringInfo(&buf);
	p->depth = 0;
	cfg_decimal_numbers = decimal_numbers;
	cfg_json_object(p, &buf, map, where, path_dir);
	cfg_decimal_numbers = false;
	return buf.data;
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
 * Single-document YAML files read with the same bounds, checks and
 * messages (data contracts; src/quality/dqconfig.c: dq.yaml quality files)
 * ---------------------------------------------------------------------
 */

/*
 * Load the first document of p->input (what: "data contract", "quality
 * configuration", for syntax errors) within the usual bounds: its root
 * node, or NULL for an empty stream.  The caller walks it with the
 * lh_cfg_* functions and then calls lh_cfg_end_single(); lh_cfg_release()
 * afterwards in any case.
 */
yaml_node_t *
lh_cfg_load_single(LhCfgParser *p, const char *what)
{
	lh_cfg_open(p, what);
	return lh_cfg_load_next(p);
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
	if (lh_cfg_load_next(p) != NULL)
		lh_cfg_report(p, LH_CFG_ERROR_INVALID, "text holds more than one YAML document",
					  "Only the first document can be read here.",
					  "Remove the \"---\" separators and the documents after the first.");
	lh_cfg_release(p);
}

/*
 * The pairs of a mapping by key (keys: NULL-terminated, at most
 * LH_CFG_MAX_KEYS): values[i] is the value of keys[i] or NULL.  Unknown and
 * repeated keys are errors, as in a pipeline configuration.
 */
void
lh_cfg_fields(LhCfgParser *p, yaml_node_t *map, const char *const *keys,
			  const char *where, const char *hint, yaml_node_t **values)
{
	CfgFields	f;
	int			i;

	lh_cfg_map_fields(p, map, keys, where, hint, &f);
	for (i = 0; keys[i]; i++)
		values[i] = f.value[i];
}

/*
 * A scalar value as text (key names it in messages): NULL for null,
 * unless required; anything but a scalar is an error.
 */
char *
lh_cfg_scalar(LhCfgParser *p, yaml_node_t *node, const char *key,
			  const char *where, bool required)
{
	if (node->type != YAML_SCALAR_NODE || (required && lh_cfg_is_null(node)))
		lh_cfg_wrong_kind(p, node, "a string", key, false, where);
	if (lh_cfg_is_null(node))
		return NULL;
	return lh_cfg_cstring(p, node, where);
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

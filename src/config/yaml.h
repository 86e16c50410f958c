/*-------------------------------------------------------------------------
 *
 * yaml.h
 *	  Pipeline definitions read from YAML (src/config/yaml.c).
 *
 * yaml.c works in two steps.  lh_cfg_parse() turns the YAML stream into the
 * plain structs below and validates their shape; it touches no catalog and
 * calls no SPI, so test/fuzz/yaml_fuzz.c can compile it outside the server
 * (with -DLH_YAML_FUZZ).  The SQL-callable functions then apply the structs
 * through the SQL API.
 *
 * Errors found while parsing go through lh_cfg_report(), which never
 * returns: in the server it raises an ERROR, in the fuzz harness it
 * longjmps.  Either way the caller must call lh_cfg_release() afterwards
 * (from PG_FINALLY in the server) to free what libyaml allocated.
 *
 * This header is included as "config/yaml.h"; <yaml.h> is libyaml's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_CONFIG_YAML_H
#define LH_CONFIG_YAML_H

#include <yaml.h>

#include "lib/stringinfo.h"

/* Where a definition starts in the YAML text (both 1-based). */
typedef struct LhCfgLoc
{
	int			line;
	int			column;
} LhCfgLoc;

/* A list of plain strings (depends_on, keys), with their locations. */
typedef struct LhCfgNames
{
	int			n;
	char	  **names;
	LhCfgLoc   *locs;
} LhCfgNames;

typedef struct LhCfgSource
{
	LhCfgLoc	loc;
	char	   *name;
	char	   *kind;
	char	   *bronze_table;	/* NULL: the API's default */
	char	   *options;		/* JSON object text */
} LhCfgSource;

typedef struct LhCfgSilver
{
	LhCfgLoc	loc;
	char	   *table;
	char	   *source;
	char	   *columns;		/* JSON array text */
	LhCfgNames	keys;
	char	   *order_by;		/* NULL if absent */
} LhCfgSilver;

typedef struct LhCfgGold
{
	LhCfgLoc	loc;
	char	   *table;
	char	   *kind;			/* NULL if absent */
	char	   *sql;
	LhCfgNames	keys;
} LhCfgGold;

typedef struct LhCfgPipeline
{
	LhCfgLoc	loc;
	char	   *name;
	char	   *description;	/* NULL if absent */
	char	   *schedule;		/* NULL if absent */
	LhCfgNames	depends_on;
	int			nsources;
	LhCfgSource *sources;
	int			nsilver;
	LhCfgSilver *silver;
	int			ngold;
	LhCfgGold  *gold;
} LhCfgPipeline;

typedef enum LhCfgErrorKind
{
	LH_CFG_ERROR_SYNTAX,		/* libyaml could not parse the text */
	LH_CFG_ERROR_INVALID,		/* valid YAML, invalid configuration */
	LH_CFG_ERROR_LIMIT,			/* nesting or alias expansion too large */
	LH_CFG_ERROR_NOMEM			/* libyaml ran out of memory */
} LhCfgErrorKind;

typedef struct LhCfgParser
{
	/* Set by the caller before lh_cfg_parse(). */
	const unsigned char *input;
	size_t		input_len;
	const char *base_dir;		/* resolve relative file paths, or NULL */
	const char *filename;		/* for messages, or NULL */

	/* The result: every pipeline of every document, in document order. */
	int			npipelines;
	LhCfgPipeline *pipelines;

	/* libyaml state; lh_cfg_release() frees what is live. */
	yaml_parser_t parser;
	bool		parser_live;
	yaml_document_t document;
	bool		document_live;

	/* Private to yaml.c. */
	int			maxpipelines;
	bool		saw_pipelines_key;
	int			depth;
	long		visits_left;
	long		bytes_left;
} LhCfgParser;

extern void lh_cfg_parse(LhCfgParser *parser);
extern void lh_cfg_release(LhCfgParser *parser);

/* Provided by whoever links yaml.c's parser: the server or the harness. */
extern void lh_cfg_report(LhCfgParser *parser, LhCfgErrorKind kind,
						  const char *message, const char *detail,
						  const char *hint) pg_attribute_noreturn();

#ifdef LH_YAML_FUZZ
/* utils/json.h is backend-only; the harness supplies this. */
extern void escape_json(StringInfo buf, const char *str);
#endif

#endif							/* LH_CONFIG_YAML_H */

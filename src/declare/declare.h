/*-------------------------------------------------------------------------
 *
 * declare.h
 *	  The declaration API's header: pipeline definitions read from YAML
 *	  (src/declare/yaml_read.c, yaml_parse.c and yaml.c).  The SQL functions
 *	  of declare.c need no declarations here.
 *
 * Declaring pipelines from YAML works in two steps.  yaml_parse.c's
 * lh_cfg_parse() turns the YAML stream into the plain structs below and
 * validates their shape, reading the YAML with yaml_read.c's generic
 * helpers; neither file touches the catalog or calls SPI, so
 * test/fuzz/yaml_fuzz.c links the two outside the server.  yaml.c's
 * SQL-callable functions then apply the structs through the SQL API.
 *
 * Errors found while parsing go through lh_cfg_report(), which never
 * returns: in the server (yaml.c) it raises an ERROR, in the fuzz harness it
 * longjmps.  Either way the caller must call lh_cfg_release() afterwards
 * (from PG_FINALLY in the server) to free what libyaml allocated.
 *
 * <yaml.h> below is libyaml's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_DECLARE_H
#define LH_DECLARE_H

#include <yaml.h>

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

/* A name and where it was declared, for lh_cfg_check_unique(). */
typedef struct LhCfgNameRef
{
	const char *name;
	LhCfgLoc	loc;
	int			seq;			/* position in declaration order */
} LhCfgNameRef;

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
	char	   *schema_policy;	/* NULL if absent */
	bool		allow_breaking;
	char	   *expectations;	/* JSON array text, or NULL */
	char	   *dbt_tests;		/* JSON array of {"test", "column"}, or NULL */
} LhCfgSilver;

typedef struct LhCfgGold
{
	LhCfgLoc	loc;
	char	   *table;
	char	   *kind;			/* NULL if absent */
	char	   *sql;
	LhCfgNames	keys;
	char	   *options;		/* JSON object text (scd2 options) */
	char	   *contract;		/* data contract as JSON text, or NULL */
	char	   *contract_file;	/* or an absolute path to read it from */
	char	   *on_violation;	/* NULL if absent */
	char	   *expectations;	/* JSON array text, or NULL */
	char	   *dbt_tests;		/* JSON array of {"test", "column"}, or NULL */
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

/*
 * Deepest nesting of collections in a YAML stream (pipelines, contracts):
 * refused before the stream is loaded.
 */
#define LH_YAML_MAX_DEPTH		100

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

	/* Private to yaml_read.c and yaml_parse.c. */
	int			maxpipelines;
	bool		saw_pipelines_key;
	int			depth;
	long		visits_left;
	long		bytes_left;
} LhCfgParser;

/* yaml_parse.c */
extern void lh_cfg_parse(LhCfgParser *parser);

/* yaml_read.c */
extern void lh_cfg_release(LhCfgParser *parser);
extern char *lh_yaml_to_json(LhCfgParser *parser);
extern void lh_cfg_check_unique(LhCfgParser *parser, LhCfgNameRef *refs,
								int n, const char *what, const char *where);
extern int	lh_cfg_nameref_cmp(const void *a, const void *b);
extern int	lh_cfg_strcmp(const void *a, const void *b);
extern bool lh_cfg_sorted_contains(char **sorted, int n, const char *name);

/*
 * yaml_read.c: one YAML document read with the bounds, checks and messages
 * of pipeline configurations (data contracts, dq.yaml quality files).
 */
#define LH_CFG_MAX_KEYS			16	/* keys of one mapping in lh_cfg_fields */
extern yaml_node_t *lh_cfg_load_single(LhCfgParser *parser, const char *what);
extern void lh_cfg_end_single(LhCfgParser *parser);
extern yaml_node_t *lh_cfg_node(LhCfgParser *parser, int id);
extern LhCfgLoc lh_cfg_loc(const yaml_node_t *node);
extern const char *lh_cfg_kind_name(const yaml_node_t *node);
extern bool lh_cfg_is_null(const yaml_node_t *node);
extern void lh_cfg_fields(LhCfgParser *parser, yaml_node_t *map,
						  const char *const *keys, const char *where,
						  const char *hint, yaml_node_t **values);
extern char *lh_cfg_peek(LhCfgParser *parser, yaml_node_t *map, const char *key,
						 const char *where);
extern char *lh_cfg_scalar(LhCfgParser *parser, yaml_node_t *node,
						   const char *key, const char *where, bool required);
extern void lh_cfg_wrong_kind(LhCfgParser *parser, const yaml_node_t *node,
							  const char *expected, const char *key, bool entry,
							  const char *where) pg_attribute_noreturn();
extern char *lh_cfg_json(LhCfgParser *parser, yaml_node_t *node,
						 const char *where);

/*
 * yaml.c.  The struct tag, not utils/elog.h's typedef: the fuzz harness
 * includes this header without the backend's headers.
 */
struct ErrorContextCallback;
extern char *lh_cfg_read_server_file(const char *path, const char *what,
									 struct ErrorContextCallback *errcb,
									 size_t *len, char **dir);

/* drop_guard.c */
extern bool lh_allow_drop_table;
extern void declare_drop_data_table(const char *schema, const char *table);

/*
 * Provided by whoever links yaml_read.c and yaml_parse.c: yaml.c or the
 * fuzz harness.
 */
extern void lh_cfg_report(LhCfgParser *parser, LhCfgErrorKind kind,
						  const char *message, const char *detail,
						  const char *hint) pg_attribute_noreturn();

/*
 * src/declare/cron.c: pg_cron schedule syntax, checked by lh_schedule and
 * by the YAML parser (and linked with it by the fuzz harness).
 */
extern bool lh_cron_check(const char *schedule, char **problem);

#define LH_CRON_SYNTAX_HINT \
	"A schedule has five fields: minute (0-59), hour (0-23), day of month (1-31), " \
	"month (1-12 or jan-dec) and day of week (0-7 or sun-sat; 0 and 7 are Sunday), " \
	"each \"*\", a value, a range a-b, a step */n or a-b/n, or a comma-separated list " \
	"of these, as in \"*/15 * * * *\" or \"0 3 * * mon-fri\"; or one of @hourly, " \
	"@daily, @weekly, @monthly, @yearly."

#endif							/* LH_DECLARE_H */

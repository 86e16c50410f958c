/*-------------------------------------------------------------------------
 *
 * yaml_read.h
 *	  Private to src/declare/: the generic YAML reading of yaml_read.c as
 *	  used by the pipeline schema of yaml_parse.c.
 *
 * The lh_cfg_* functions other subsystems use (data contracts, dq.yaml
 * quality files) are declared in declare/declare.h; the ones below take
 * yaml_read.c's internal types and are used only by yaml_parse.c.  Every
 * function here that reports an error does so through lh_cfg_report(),
 * which never returns.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_YAML_READ_H
#define LH_YAML_READ_H

#include "declare/declare.h"
#include "lib/stringinfo.h"

/* What a scalar means (lh_cfg_scalar_class). */
typedef enum CfgScalarClass
{
	CFG_NULL,
	CFG_TRUE,
	CFG_FALSE,
	CFG_INTEGER,
	CFG_DECIMAL,				/* only while reading a data contract */
	CFG_STRING
} CfgScalarClass;

/* The values (and keys) of one mapping, indexed like its key array. */
typedef struct CfgFields
{
	yaml_node_t *value[LH_CFG_MAX_KEYS];
	yaml_node_t *key[LH_CFG_MAX_KEYS];
} CfgFields;

extern void lh_cfg_open(LhCfgParser *parser, const char *what);
extern yaml_node_t *lh_cfg_load_next(LhCfgParser *parser);
extern void lh_cfg_fail(LhCfgParser *parser, LhCfgErrorKind kind,
						const char *message, const char *hint,
						const char *detailfmt,...)
			pg_attribute_printf(5, 6) pg_attribute_noreturn();
extern void lh_cfg_missing(LhCfgParser *parser, const yaml_node_t *map,
						   const char *key, const char *where)
			pg_attribute_noreturn();
extern CfgScalarClass lh_cfg_scalar_class(const yaml_node_t *node);
extern char *lh_cfg_cstring(LhCfgParser *parser, const yaml_node_t *node,
							const char *where);
extern void lh_cfg_map_fields(LhCfgParser *parser, yaml_node_t *map,
							  const char *const *keys, const char *where,
							  const char *hint, CfgFields *f);
extern bool lh_cfg_has_key(LhCfgParser *parser, yaml_node_t *map,
						   const char *key);
extern char *lh_cfg_json_map(LhCfgParser *parser, yaml_node_t *map,
							 const char *where, const char *path_dir,
							 bool decimal_numbers);

#endif							/* LH_YAML_READ_H */

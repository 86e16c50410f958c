/*-------------------------------------------------------------------------
 *
 * evolution.h
 *	  Schema evolution of silver tables: policies, the DDL guard and
 *	  config-driven changes (evolution.c), the explicit migration lh_evolve
 *	  (evolution_migrate.c) and schema drift (evolution_drift.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_EVOLUTION_H
#define LH_EVOLUTION_H

#include "lakehouse.h"
#include "pipeline/pipeline.h"
#include "utils/jsonb.h"

/* Internal to src/evolution/evolution*.c */
/* How a change reached the table (schema_history.via). */
typedef enum EvoVia
{
	EVO_VIA_DDL,
	EVO_VIA_EVOLVE,
	EVO_VIA_CONFIG
} EvoVia;

/* A registered silver table. */
typedef struct EvoTable
{
	int32		table_id;
	char	   *schema;
	char	   *table;
	char	   *qname;
	Oid			relid;
	char	   *policy;
} EvoTable;

/* One classified difference. */
typedef struct EvoChange
{
	const char *kind;			/* schema_history.change_kind */
	char	   *column;			/* NULL for the primary key */
	char	   *new_column;		/* rename: the new name */
	char	   *old_def;
	char	   *new_def;
	bool		breaking;
	char	   *detail;			/* a sentence for errdetail */
} EvoChange;

extern EvoTable *evolution_lookup_table(const char *tname);
extern List *evolution_reconcile(EvoTable *t, EvoVia via, bool allow_breaking,
								 const char *reason, const char *statement,
								 Oid user, List **mapping_updates);

/* evolution.c */
extern void evolution_check_policy(const char *policy);
extern void evolution_execute_ddl(Oid relid, const char *sql);
extern void evolution_apply_mapping(int32 table_id, const char *schema,
									const char *table, List *columns,
									const char *policy, bool allow_breaking);
extern void evolution_register(int32 table_id, const char *schema,
							   const char *table, const char *policy);

/*
 * evolution_drift.c: unmapped payload fields seen by a silver stage (a row
 * check of src/pipeline/checks.c)
 */
extern void *evolution_drift_begin(const StageCheckTarget *target);
extern void evolution_drift_collect(void *state, Jsonb *payload, int64 row_no);
extern void evolution_drift_finish(void *state, const StageCheckTarget *target);

#endif							/* LH_EVOLUTION_H */

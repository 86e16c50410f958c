/*-------------------------------------------------------------------------
 *
 * contract.h
 *	  Gold data contracts (ODCS v3.1): the parsed form shared by the files
 *	  of src/contract/contract*.c.
 *
 * contract_odcs.c validates an ODCS document and turns it into a
 * ContractDef; contract.c is the SQL API, the catalog and the DDL guard;
 * contract_trigger.c compiles a ContractDef into per-relation row checks
 * and runs them; contract_quarantine.c buffers and writes diverted rows;
 * contract_table.c checks the table-level rules at the end of a gold stage
 * and records violations; contract_export.c builds the document in force
 * (lh_export_contract).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_CONTRACT_H
#define LH_CONTRACT_H

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/relcache.h"

#include "lakehouse.h"

/* One property of the contract's schema object: one column. */
typedef struct ContractColumn
{
	char	   *name;			/* physicalName, else name */
	char	   *path;			/* "$.schema[0].properties[3]" for messages */
	char	   *logical_type;	/* NULL if absent */
	char	   *physical_type;	/* NULL if absent */
	bool		required;
	bool		unique;
	int			pk_position;	/* 0: not part of the primary key */
	char	   *classification; /* NULL if absent */
	char	   *minimum;		/* bounds as text, NULL if absent */
	char	   *maximum;
	char	   *exclusive_minimum;
	char	   *exclusive_maximum;
	int			min_length;		/* -1 if absent */
	int			max_length;
	char	   *pattern;
	char	   *format;			/* checked formats only (string type) */
	List	   *valid_values;	/* char *, or NIL */
} ContractColumn;

/* A foreign key: from columns of the table to columns of another table. */
typedef struct ContractRelationship
{
	List	   *from;			/* column names */
	char	   *to_table;		/* table name as written */
	List	   *to;				/* column names */
} ContractRelationship;

typedef struct ContractDef
{
	char	   *id;
	char	   *name;			/* name, else id: used in messages */
	char	   *version;
	char	   *api_version;
	char	   *object_name;	/* the schema object that describes the table */
	int			object_index;	/* its position in $.schema */
	List	   *columns;		/* ContractColumn * */
	List	   *primary_key;	/* column names in key order */
	List	   *uniques;		/* List * of column names (composite unique) */
	List	   *relationships;	/* ContractRelationship * */
	bool		has_row_count;
	char	   *row_count_op;	/* mustBe, mustBeBetween, ... */
	double		row_count_a;
	double		row_count_b;
} ContractDef;

/* contract_odcs.c */
extern Jsonb *contract_text_to_jsonb(const char *text);
extern ContractDef *contract_parse(Jsonb *doc, const char *table_name);
extern Jsonb *contract_compiled_jsonb(ContractDef *def);
extern bool contract_type_compatible(const char *logical_type, Oid typid);
extern bool contract_physical_type(const char *physical_type, Oid *typid,
								   int32 *typmod);
extern const char *contract_format_pattern(const char *format);

/* contract.c */
extern ContractDef *contract_load(const char *schema, const char *table,
								  char **on_violation, int32 *table_id);

/* contract_export.c */
extern Jsonb *contract_stored(const char *schema, const char *table,
							  char **on_violation, Jsonb **compiled);
extern Jsonb *contract_in_force(Jsonb *doc, ContractDef *def,
								const char *schema, const char *table);

/* contract_trigger.c */
extern void contract_trigger_init(void);
extern void contract_check_compiles(ContractDef *def, Relation rel,
									const char *qualname);

/* contract_quarantine.c */
extern void contract_quarantine_init(void);
extern void contract_quarantine_add(int32 table_id, const char *target,
									HeapTuple tuple, TupleDesc desc,
									List *violations);
extern void contract_flush_quarantine(void);

/* contract_table.c */
extern void contract_note_violation(int32 table_id, const char *rule,
									const char *column, const char *sample,
									int64 count, bool quarantined);
extern void contract_note_quarantined_row(int32 table_id);
extern void contract_init(void);

/* contract_table.c: the contract checks of src/pipeline/checks.c */
extern void contract_after_write(const char *stage, const char *target,
								 int32 table_id, LhStageCounts *counts);
extern void contract_stage_done(int64 run_id, int stage_no, const char *stage,
								const char *target, int32 table_id,
								const char *status, ErrorData *error);

#endif							/* LH_CONTRACT_H */

/*-------------------------------------------------------------------------
 *
 * quality.h
 *	  Data-quality expectations, their evaluation and the pipeline gates
 *	  (src/quality/).
 *
 * expect.c owns the definitions: parsing and checking an expectation,
 * loading a table's suite, and the SQL text of each row-level check;
 * define.c is the SQL API that stores them (lakehouse.dq_expectations).  check.c evaluates a suite (one scan for every
 * row-level and aggregate expectation, a few extra queries for the rest)
 * and records results in lakehouse.dq_results.  gate.c plugs the suite
 * into pipeline runs (stage hooks) and into the silver stage (drop
 * expectations evaluated on each projected row before it is written).
 * dqconfig.c applies the dq.yaml quality files and evaluates their
 * fail_fast checks in file order.
 * dbt_parse.c reads dbt's generic tests (kind dbt_test) as written in
 * schema.yml: parsing, dbt's defaults, naming; dbt.c checks them against
 * the table, builds their SQL and evaluates them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_QUALITY_H
#define LH_QUALITY_H

#include "access/tupdesc.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "lakehouse.h"
#include "pipeline/pipeline.h"

typedef enum DqKind
{
	DQ_NOT_NULL,
	DQ_UNIQUE,
	DQ_ACCEPTED_VALUES,
	DQ_NOT_IN_SET,
	DQ_BETWEEN,
	DQ_MATCH_REGEX,
	DQ_NOT_MATCH_REGEX,
	DQ_LENGTH_BETWEEN,
	DQ_RELATIONSHIPS,
	DQ_ROW_CONDITION,
	DQ_ROW_COUNT_BETWEEN,
	DQ_FRESHNESS,
	DQ_COLUMN_SUM_BETWEEN,
	DQ_COLUMN_MEAN_BETWEEN,
	DQ_COLUMN_MIN_BETWEEN,
	DQ_COLUMN_MAX_BETWEEN,
	DQ_CONTROL_TOTAL,
	DQ_COLUMNS_MATCH_SET,
	DQ_CUSTOM_QUERY,
	DQ_DBT_TEST					/* a dbt generic test (dbt.c) */
} DqKind;

/* How an expectation is evaluated. */
typedef enum DqClass
{
	DQ_CLASS_ROW,				/* per row, in the shared scan; mostly applies */
	DQ_CLASS_AGGREGATE,			/* one aggregate, in the shared scan */
	DQ_CLASS_QUERY				/* a query of its own */
} DqClass;

/* One expectation, parsed and checked. */
typedef struct DqExpectation
{
	int32		expectation_id; /* 0 until stored */
	char	   *name;
	DqKind		kind;
	const char *kind_name;
	char	   *severity;		/* warn, drop, fail */
	Numeric		mostly;
	char	   *mostly_text;
	char	   *row_filter;		/* "where": SQL expression or NULL */
	Jsonb	   *args;			/* normalized arguments, as stored */

	/* the arguments, decoded */
	List	   *columns;		/* char *: column, or the columns of unique */
	List	   *values;			/* char *: accepted_values / not_in_set */
	char	   *min;
	char	   *max;
	bool		strict_min;
	bool		strict_max;
	char	   *regex;
	char	   *ref_table;		/* relationships: qualified, quoted */
	char	   *ref_field;
	char	   *max_age;		/* freshness: interval text */
	char	   *condition;		/* row_condition */
	char	   *query;			/* custom_query, trailing ';' removed */
	List	   *path;			/* control_total: JSON path in payloads */
	char	   *tolerance;		/* control_total */
	bool		exact;			/* columns_match_set */
	struct DbtTest *dbt;		/* dbt_test: the decoded test (dbt.c) */
	bool		ge;				/* declared with GE's name (its arguments
								 * and defaults) */
	char	   *ignore_row_if;	/* unique: all_values_are_missing,
								 * any_value_is_missing or never */
} DqExpectation;

/* A silver or gold table and its suite. */
typedef struct DqTable
{
	int32		table_id;
	int32		pipeline_id;
	char	   *layer;
	char	   *schema_name;
	char	   *table_name;
	char	   *qname;			/* quoted, qualified */
	char	   *display;		/* schema.table for messages and results */
	Oid			relid;
	bool		has_run_id;		/* table has _lh_run_id */
	int32		source_id;		/* silver: its source */
	bool		has_bronze_range;	/* the gate knows the bronze ids read: */
	int64		bronze_from;	/* exclusive */
	int64		bronze_to;		/* inclusive */
	List	   *expectations;	/* DqExpectation *, by name */
} DqTable;

/* The outcome of one expectation. */
typedef struct DqResult
{
	DqExpectation *e;
	bool		success;
	bool		has_element;
	int64		element_count;
	bool		has_unexpected;
	int64		unexpected_count;
	bool		has_missing;
	int64		missing_count;
	char	   *observed;		/* jsonb text or NULL */
	char	   *samples;		/* jsonb array text or NULL */
	double		duration_ms;
	bool		dropped;		/* a drop applied by the silver stage: the
								 * unexpected rows went to quarantine */
	bool		warned;			/* dbt_test with status "warn": recorded as
								 * failed, but never fails the stage */
} DqResult;

/* expect.c */
extern DqClass dq_class(DqKind kind);
extern DqKind dq_kind_parse(const char *name, const char **kind_name, bool *ge);
extern void dq_decode(DqTable *t, DqExpectation *e);
extern void dq_validate_sql(DqTable *t, DqExpectation *e);
extern void dq_append_bounds(StringInfo buf, const char *expr, DqExpectation *e,
							 bool quote);
extern char *dq_arg_text(DqExpectation *e, const char *key, bool required);
extern List *dq_arg_list(DqExpectation *e, const char *key, bool scalars);
extern bool dq_expression_has_subquery(const char *expr);
extern DqTable *dq_lookup_table(const char *name, bool with_suite);
extern DqTable *dq_load_table(int32 table_id, bool with_suite);
extern char *dq_column_expr(DqExpectation *e);
extern char *dq_scope_sql(DqExpectation *e);
extern char *dq_unexpected_sql(DqExpectation *e);
extern char *dq_missing_sql(DqExpectation *e);
extern bool dq_counts_missing(DqExpectation *e);
extern void dq_check_expression(const char *expr, const char *what);

/* define.c */
extern char *dq_store_expectation(DqTable *t, const char *kind, Jsonb *args,
								  const char *severity, const char *mostly,
								  const char *where, const char *name,
								  const char *origin);

/* dqconfig.c: the dq.yaml quality files (action fail_fast) */
extern List *dqconfig_evaluate(DqTable *t, bool incremental, int64 run_id,
							   bool skip_drop, DqResult **stopped);
extern char *dq_ge_row_filter(DqExpectation *e);
extern char *dq_ge_config(DqExpectation *e);

/* check.c */
extern List *dq_evaluate(DqTable *t, bool incremental, int64 run_id,
						 bool skip_drop);
extern void dq_decide(DqResult *r);
extern int64 dq_record(DqTable *t, List *results, int64 run_id,
					   bool incremental);
extern char *dq_result_summary(DqResult *r);
extern char *dq_results_json(DqTable *t, List *results);
extern int64 dq_record_json(int32 table_id, const char *table_name,
							int64 run_id, bool incremental, const char *json);

/* dbt_parse.c and dbt.c: dbt generic tests, expectations of kind dbt_test */
typedef enum DbtKind
{
	DBT_NOT_NULL,
	DBT_UNIQUE,
	DBT_ACCEPTED_VALUES,
	DBT_RELATIONSHIPS,
	DBT_EXPRESSION_IS_TRUE,
	DBT_UNIQUE_COMBINATION
} DbtKind;

typedef struct DbtTestInfo
{
	const char *name;
	const char *package;		/* dbt_utils, or NULL for dbt's own */
	DbtKind		kind;
	bool		column;			/* needs column_name */
	const char *const *args;	/* its arguments */
} DbtTestInfo;

/* One test, decoded. */
typedef struct DbtTest
{
	const DbtTestInfo *info;
	char	   *test;			/* as written: "dbt_utils.expression_is_true" */
	char	   *name;
	char	   *column;			/* column_name, or NULL */
	List	   *values;			/* accepted_values: SQL literals */
	char	   *to;
	char	   *parent;			/* relationships: the quoted table */
	char	   *field;
	char	   *expression;
	List	   *combination;	/* unique_combination_of_columns */
	/* config */
	char	   *severity;		/* "error" or "warn" */
	char	   *where;
	char	   *warn_if;		/* normalized: "!= 0" */
	char	   *error_if;
	char	   *fail_calc;
	int64		limit;			/* -1: none */
	char	   *store_as;		/* "table", "view" or NULL: not stored */
	char	   *schema;			/* suffix of the audit schema */
	char	   *alias;
	char	   *tags;			/* JSON text or NULL */
	char	   *meta;
	/* the relation of store_failures */
	char	   *audit_schema;
	char	   *audit_table;
} DbtTest;

/* An invalid test: the detail says what (a format and its arguments). */
#define dbt_error(d, ...) \
	ereport(ERROR, \
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE), \
			 errmsg("invalid dbt test \"%s\"", (d)->test ? (d)->test : "?"), \
			 errdetail(__VA_ARGS__), \
			 errhint("Write the test as in a dbt schema.yml, for example {\"accepted_values\": {\"values\": [\"a\", \"b\"], \"config\": {\"severity\": \"warn\"}}}.")))

/* An expectation made from a dbt test. */
typedef struct DbtItem
{
	char	   *name;
	char	   *severity;		/* lakehouse's: fail or warn */
	char	   *where;
	char	   *args;			/* JSON object text */
} DbtItem;

/* dbt_parse.c: a test as written in schema.yml, or stored */
extern DbtItem *dbt_parse_entry(const char *table_name, JsonbValue *entry,
								const char *column);
extern DbtTest *dbt_parse_stored(char *name, Jsonb *args);
extern Jsonb *dbt_parse_jsonb(const char *text);
extern char *dbt_expectation_items(const char *table_name, const char *tests_json);

/* dbt.c: lh_add_dbt_test, checking against the table, SQL, evaluation */
extern void dbt_decode(DqTable *t, DqExpectation *e);
extern void dbt_validate_sql(DqTable *t, DqExpectation *e);
extern void dbt_evaluate(DqTable *t, DqResult *r);
extern char *dbt_result_summary(DqResult *r);

/* gate.c: the quality checks of src/pipeline/checks.c */
extern void quality_init(void);
extern void *quality_rows_begin(const StageCheckTarget *target);
extern bool quality_rows_check(void *state, Datum *values, bool *nulls,
							   const bool *unknown, List **violations);
extern void quality_after_write(const char *stage, const char *target,
								int32 table_id, LhStageCounts *counts);
extern void quality_stage_done(int64 run_id, int stage_no, const char *stage,
							   const char *target, int32 table_id,
							   const char *status, ErrorData *error);

#endif							/* LH_QUALITY_H */

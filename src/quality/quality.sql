/*
 * src/quality/quality.sql
 *	  Data quality: expectations, results, summary.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/* ==== data quality (src/quality/) ==== */

/*
 * Expectations declared on silver and gold tables (lh_add_expectation, or
 * the expectations list of a table in YAML).  kind and args are checked by
 * the functions that write them; origin says who owns the row, so that
 * applying YAML replaces only what YAML declared, and applying a dq.yaml
 * quality file only what such a file declared ('quality_config').
 */
CREATE TABLE lakehouse.dq_expectations (
    expectation_id  serial PRIMARY KEY,
    table_id        integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    name            text NOT NULL,
    kind            text NOT NULL,
    args            jsonb NOT NULL DEFAULT '{}',
    severity        text NOT NULL DEFAULT 'warn',
    mostly          numeric NOT NULL DEFAULT 1,
    row_filter      text,
    origin          text NOT NULL DEFAULT 'sql',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_id, name),
    CONSTRAINT dq_expectations_name_check CHECK (name <> '' AND length(name) <= 200),
    CONSTRAINT dq_expectations_severity_check CHECK (severity IN ('warn', 'drop', 'fail')),
    CONSTRAINT dq_expectations_mostly_check CHECK (mostly >= 0 AND mostly <= 1),
    CONSTRAINT dq_expectations_origin_check CHECK (origin IN ('sql', 'yaml', 'quality_config'))
);
COMMENT ON TABLE lakehouse.dq_expectations IS 'Data-quality expectations of silver and gold tables, evaluated by lh_check and by pipeline runs.';

/*
 * One row per expectation per check.  check_id groups the rows of one
 * evaluation of one table (a pipeline stage's gate or one lh_check call);
 * run_id is the run, NULL for lh_check outside a run.
 */
CREATE SEQUENCE lakehouse.dq_check_id_seq;
CREATE TABLE lakehouse.dq_results (
    result_id       bigserial PRIMARY KEY,
    check_id        bigint NOT NULL,
    run_id          bigint,
    table_id        integer,
    table_name      text NOT NULL,
    expectation     text NOT NULL,
    kind            text NOT NULL,
    mode            text NOT NULL,
    severity        text NOT NULL,
    success         boolean NOT NULL,
    element_count   bigint,
    unexpected_count bigint,
    unexpected_percent double precision,
    missing_count   bigint,
    mostly          numeric,
    observed_value  jsonb,
    partial_unexpected_list jsonb,
    duration        interval,
    checked_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    rows_dropped    bigint,
    CONSTRAINT dq_results_mode_check CHECK (mode IN ('full', 'incremental'))
);
CREATE INDEX dq_results_table_idx ON lakehouse.dq_results (table_name, check_id);
CREATE INDEX dq_results_run_idx ON lakehouse.dq_results (run_id);
COMMENT ON TABLE lakehouse.dq_results IS 'Data-quality results: one row per expectation per check (run gate or lh_check), with counts, observed value and up to 20 unexpected values.';

SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_expectations', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_expectations_expectation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_results', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_results_result_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_check_id_seq', '');

CREATE FUNCTION lakehouse.lh_add_expectation(table_name text,
                                             expectation text,
                                             args jsonb DEFAULT '{}',
                                             severity text DEFAULT 'warn',
                                             mostly numeric DEFAULT 1,
                                             "where" text DEFAULT NULL,
                                             name text DEFAULT NULL,
                                             replace boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_add_expectation'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_drop_expectation(table_name text,
                                              name text,
                                              missing_ok boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_drop_expectation'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* Replace a table's YAML-declared expectations (lh_apply_config uses it). */
CREATE FUNCTION lakehouse.lh_set_expectations(table_name text,
                                              expectations jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_set_expectations'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * The checks of dq.yaml quality files (src/quality/dqconfig.c): what such
 * a check has beyond its expectation (origin 'quality_config'): the type
 * as written, its action, its category, whether that category is critical
 * (its severity is then "fail"), and its position among the table's checks
 * in the file (fail_fast stops in that order).
 */
CREATE TABLE lakehouse.dq_config_checks (
    expectation_id  integer PRIMARY KEY REFERENCES lakehouse.dq_expectations ON DELETE CASCADE,
    position        integer NOT NULL,
    check_type      text NOT NULL,
    action          text NOT NULL,
    category        text NOT NULL,
    critical        boolean NOT NULL DEFAULT false,
    CONSTRAINT dq_config_checks_action_check CHECK (action IN ('fail_fast', 'fail', 'warn'))
);
COMMENT ON TABLE lakehouse.dq_config_checks IS 'Checks of dq.yaml quality files (lh_apply_quality_config): type, action, category and file position of each quality_config expectation.';
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_config_checks', '');

/* Apply a dq.yaml quality configuration, given as text or as a server file. */
CREATE FUNCTION lakehouse.lh_apply_quality_config(doc text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_apply_quality_config'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_apply_quality_config_file(path text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_apply_quality_config_file'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_apply_quality_config_file(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lakehouse.lh_apply_quality_config_file(text) TO pg_read_server_files;

/*
 * A dbt generic test, written as in a dbt schema.yml, as an expectation of
 * kind dbt_test with dbt's semantics (src/quality/dbt.c); the rights of
 * lh_add_expectation.
 */
CREATE FUNCTION lakehouse.lh_add_dbt_test(table_name text,
                                          test jsonb,
                                          column_name text DEFAULT NULL,
                                          replace boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_add_dbt_test'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_check(table_name text,
                                   mode text DEFAULT 'full',
                                   run_id bigint DEFAULT NULL,
                                   OUT expectation text,
                                   OUT kind text,
                                   OUT severity text,
                                   OUT success boolean,
                                   OUT element_count bigint,
                                   OUT unexpected_count bigint,
                                   OUT unexpected_percent double precision,
                                   OUT missing_count bigint,
                                   OUT observed_value jsonb,
                                   OUT partial_unexpected_list jsonb,
                                   OUT duration interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_check'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* Internal: keeps the first 20 values it sees (partial_unexpected_list). */
CREATE FUNCTION lakehouse.lh_dq_sample_trans(internal, jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'lh_dq_sample_trans'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE FUNCTION lakehouse.lh_dq_sample_final(internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_dq_sample_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE AGGREGATE lakehouse.lh_dq_sample(jsonb) (
    SFUNC = lakehouse.lh_dq_sample_trans,
    STYPE = internal,
    FINALFUNC = lakehouse.lh_dq_sample_final
);
/* Internal: how many values lh_dq_sample saw (shares its state in a query). */
CREATE FUNCTION lakehouse.lh_dq_count_final(internal)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_dq_count_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE AGGREGATE lakehouse.lh_dq_count(jsonb) (
    SFUNC = lakehouse.lh_dq_sample_trans,
    STYPE = internal,
    FINALFUNC = lakehouse.lh_dq_count_final
);

/*
 * Quality score per table, from its latest check: the weighted share of
 * the expectations that passed or dropped their failing rows (weights:
 * fail 3, drop 2, warn 1), the score of the check before it, and the
 * trend.  A drop expectation that the silver stage applied (rows_dropped
 * set) and that sent rows to quarantine did its job: it counts as dropped,
 * not failed, and does not lower the score; passed + failed + dropped =
 * expectations.
 */
CREATE VIEW lakehouse.dq_summary AS
WITH checks AS (
    SELECT r.table_name,
           r.check_id,
           max(r.run_id) AS run_id,
           max(r.mode) AS mode,
           min(r.checked_at) AS checked_at,
           count(*) AS expectations,
           count(*) FILTER (WHERE r.success AND NOT w.dropped) AS passed,
           count(*) FILTER (WHERE NOT r.success AND NOT w.dropped) AS failed,
           count(*) FILTER (WHERE NOT r.success AND r.severity = 'fail') AS failed_fail,
           round(100.0 * sum(w.weight) FILTER (WHERE r.success OR w.dropped) / sum(w.weight), 1) AS score,
           count(*) FILTER (WHERE w.dropped) AS dropped,
           row_number() OVER (PARTITION BY r.table_name ORDER BY r.check_id DESC) AS age
      FROM lakehouse.dq_results r
      CROSS JOIN LATERAL (SELECT CASE r.severity WHEN 'fail' THEN 3
                                                 WHEN 'drop' THEN 2 ELSE 1 END AS weight,
                                 coalesce(r.rows_dropped, 0) > 0 AS dropped) w
     GROUP BY r.table_name, r.check_id
)
SELECT l.table_name,
       l.check_id AS last_check_id,
       l.run_id AS last_run_id,
       l.mode AS last_mode,
       l.checked_at AS last_checked_at,
       l.expectations,
       l.passed,
       l.failed,
       l.failed_fail,
       coalesce(l.score, 0) AS score,
       p.score AS previous_score,
       coalesce(l.score, 0) - p.score AS score_change,
       CASE WHEN p.check_id IS NULL THEN 'new'
            WHEN coalesce(l.score, 0) > coalesce(p.score, 0) THEN 'improving'
            WHEN coalesce(l.score, 0) < coalesce(p.score, 0) THEN 'degrading'
            ELSE 'stable' END AS trend,
       l.dropped
  FROM checks l
  LEFT JOIN checks p ON p.table_name = l.table_name AND p.age = 2
 WHERE l.age = 1;

--
-- ge_parity: Great Expectations' names, arguments, defaults and result
-- format (issue 21).  Every expected value below is derived from GE 1.x's
-- own code, named in the comment next to it:
--   expectation.py  = great_expectations/expectations/expectation.py
--   core/<name>.py  = great_expectations/expectations/core/<name>.py
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA ge_src;
CREATE TABLE ge_src.items (id text, grp text, sub text, amount text, code text,
                           nothing text, updated_at timestamptz);
INSERT INTO ge_src.items VALUES
 ('1', 'x',  'p',  '1',  'AA', NULL, '2024-01-01'),
 ('2', 'x',  'p',  '2',  'AB', NULL, '2024-01-02'),
 ('3', 'y',  NULL, '3',  'zz', NULL, '2024-01-03'),
 ('4', 'y',  NULL, '7',  NULL, NULL, '2024-01-04'),
 ('5', NULL, NULL, NULL, 'AC', NULL, '2024-01-05');
SELECT lakehouse.lh_create_pipeline('ge') > 0 AS ok;
SELECT lakehouse.lh_add_source('ge', 'ge_items', 'table',
       '{"table": "ge_src.items", "watermark": "updated_at"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ge', 'silver.ge_items', 'ge_items',
       '[{"name": "id", "type": "bigint"}, {"name": "grp", "type": "text"},
         {"name": "sub", "type": "text"}, {"name": "amount", "type": "numeric"},
         {"name": "code", "type": "text"}, {"name": "nothing", "type": "numeric"},
         {"name": "updated_at", "type": "timestamptz"}]',
       keys => '{id}', order_by => 'updated_at') > 0 AS ok;
SELECT s->>'status' AS status, s->>'rows_written' AS written
  FROM lakehouse.lh_run_pipeline('ge') AS s;

-- samples come in scan order: sorted for the test
CREATE FUNCTION ge_sorted(j jsonb) RETURNS jsonb LANGUAGE sql STRICT AS
$$ SELECT coalesce(jsonb_agg(x ORDER BY x), '[]') FROM jsonb_array_elements(j) x $$;

-- GE's result fields of each expectation (lh_check's columns)
CREATE FUNCTION ge_show(tbl text)
RETURNS TABLE (expectation text, success boolean, element_count bigint,
               unexpected_count bigint, unexpected_percent numeric,
               missing_count bigint, missing_percent numeric,
               unexpected_percent_total numeric, unexpected_percent_nonmissing numeric,
               observed_value jsonb, partial_unexpected_list jsonb)
LANGUAGE sql AS $$
  SELECT c.expectation, c.success, c.element_count, c.unexpected_count,
         round(c.unexpected_percent::numeric, 2), c.missing_count,
         round(c.missing_percent::numeric, 2), round(c.unexpected_percent_total::numeric, 2),
         round(c.unexpected_percent_nonmissing::numeric, 2),
         c.observed_value, ge_sorted(c.partial_unexpected_list)
    FROM lakehouse.lh_check(tbl) AS c ORDER BY 1
$$;

-- ---------------------------------------------------------------
-- GE's names with GE's arguments, in SQL
-- ---------------------------------------------------------------
-- amount: 1, 2, 3, 7, NULL
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 1, "max_value": 7, "strict_max": true}', name => 'a_between');
-- mostly given among GE's kwargs, as GE passes it
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 1, "max_value": 7, "strict_max": true, "mostly": 0.75}',
       name => 'a_between_mostly');
-- grp: x, x, y, y, NULL
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_unique',
       '{"column": "grp"}', name => 'b_unique');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_unique',
       '{"column": "grp"}', mostly => 0, name => 'b_unique_mostly0');
-- (grp, sub): (x,p) (x,p) (y,NULL) (y,NULL) (NULL,NULL)
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_compound_columns_to_be_unique',
       '{"column_list": ["grp", "sub"]}', name => 'c_compound');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_compound_columns_to_be_unique',
       '{"column_list": ["grp", "sub"], "ignore_row_if": "never"}', name => 'c_compound_never');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'unique', '["grp", "sub"]',
       name => 'c_lakehouse_unique');
-- code: AA, AB, zz, NULL, AC
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_in_set',
       '{"column": "code", "value_set": ["AA", "AB", "AC"]}', name => 'd_in_set');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_match_regex',
       '{"column": "code", "regex": "^z"}', name => 'e_not_match');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_value_lengths_to_be_between',
       '{"column": "code", "min_value": 2, "max_value": 2}', name => 'f_lengths');
-- sub: p, p, NULL, NULL, NULL
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "sub"}', name => 'g_not_null');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_table_row_count_to_be_between',
       '{"min_value": 1, "max_value": 5}', name => 'h_row_count');
-- nothing: NULL in every row
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_mean_to_be_between',
       '{"column": "nothing", "min_value": 0}', name => 'i_mean_no_values');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_sum_to_be_between',
       '{"column": "nothing", "max_value": 10}', name => 'i_sum_no_values');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'column_sum_between',
       '{"column": "nothing", "max": 10}', name => 'i_sum_no_values_lakehouse');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_mean_to_be_between',
       '{"column": "amount", "min_value": 3, "max_value": 4}', name => 'i_mean');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_max_to_be_between',
       '{"column": "amount", "min_value": 0, "max_value": 10}', name => 'i_max');
-- no rows in scope (row_condition): row count 0, aggregates over no values
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_table_row_count_to_be_between',
       '{"min_value": 1, "row_condition": "col(\"id\") > 100", "condition_parser": "great_expectations"}',
       name => 'j_row_count_none');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_table_row_count_to_be_between',
       '{"max_value": 0, "row_condition": "id > 100", "condition_parser": "sql"}',
       name => 'j_row_count_none_ok');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_min_to_be_between',
       '{"column": "amount", "min_value": 0, "row_condition": "col(\"id\") > 100", "condition_parser": "great_expectations"}',
       name => 'j_min_none');
-- row_condition as a filter: GE's language and SQL
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 0, "max_value": 2, "row_condition": "col(\"grp\")==\"x\"", "condition_parser": "great_expectations"}',
       name => 'k_filtered_ge');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 0, "max_value": 2, "row_condition": "grp = ''y''", "condition_parser": "sql"}',
       name => 'k_filtered_sql');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_table_columns_to_match_set',
       '{"column_set": ["id", "grp", "sub", "amount", "code", "nothing", "updated_at"]}',
       name => 'l_columns');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_table_columns_to_match_set',
       '{"column_set": ["id", "grp", "zzz"], "exact_match": true}', name => 'l_columns_bad');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'unexpected_rows_expectation',
       '{"unexpected_rows_query": "SELECT id, amount FROM {batch} WHERE amount > 5"}',
       name => 'm_rows');

-- a_between: 7 is unexpected (strict_max); 4 non-null values, 1 NULL:
--   unexpected_percent 25 = 1/4 (unexpected_percent_nonmissing), missing_percent 20 = 1/5,
--   unexpected_percent_total 20 = 1/5 (expectation.py _format_map_output; the same numbers
--   as core/expect_column_values_to_be_between.py's failing example, 7 with strict_max);
--   success false ((4-1)/4 < 1, _mostly_success)
-- a_between_mostly: (4-1)/4 = 0.75 >= 0.75: success (_mostly_success)
-- b_unique: every row whose value repeats is unexpected, one list entry per row
--   (column_values.unique: column NOT IN duplicated values): 4 of 4 non-null, NULL missing
-- b_unique_mostly0: unique is a ColumnMapExpectation, mostly applies: (4-4)/4 >= 0
-- c_compound: ignore_row_if all_values_are_missing (MulticolumnMapExpectation default):
--   1 missing row; (y,NULL) rows never join on "=" in compound_columns_unique.py's SQL:
--   2 unexpected of 4 = 50%, total 2/5 = 40%, list one dict per row
-- c_compound_never: no row missing: 2 of 5 = 40%
-- c_lakehouse_unique: lakehouse's unique keeps any_value_is_missing: 3 missing, 2 of 2
-- d_in_set, e_not_match: 'zz' is the one unexpected value of 4
-- f_lengths: every length is 2
-- g_not_null: core/expect_column_values_to_not_be_null.py _validate passes nonnull_count
--   None: unexpected_percent 3/5 = 60, no missing fields; partial list holds the NULLs
-- h_row_count: observed_value 5 (core/expect_table_row_count_to_be_between.py)
-- i_*_no_values: the SQL metric is None -> {"success": false, "observed_value": null}
--   (BatchExpectation._validate_metric_value_between), also lakehouse's column_sum_between
-- i_mean: 13/4 = 3.25
-- j_row_count_none: table.row_count over the filtered domain is 0: 0 < 1 fails
-- j_min_none: no rows in scope: min is None: fails
-- k_filtered_ge: rows of grp x: amounts 1, 2 pass; k_filtered_sql: rows of grp y: 3, 7 fail
-- l_columns: exact set matches; l_columns_bad: missing zzz, unexpected the rest
-- m_rows: one row returned
SELECT * FROM ge_show('silver.ge_items');

-- dq_results keeps GE's shares and the GE configuration (type and kwargs)
SELECT r.expectation, r.expectation_config->>'type' AS type,
       r.expectation_config->'kwargs' AS kwargs
  FROM lakehouse.dq_results r
 WHERE r.table_name = 'silver.ge_items'
   AND r.check_id = (SELECT max(check_id) FROM lakehouse.dq_results)
   AND r.expectation IN ('a_between_mostly', 'c_compound', 'c_lakehouse_unique',
                         'k_filtered_ge', 'm_rows')
 ORDER BY 1;

-- ---------------------------------------------------------------
-- lh_validation_result: GE's ExpectationSuiteValidationResult
-- (core/expectation_validation_result.py)
-- ---------------------------------------------------------------
WITH d AS (SELECT v.* FROM lakehouse.lh_validation_result(table_name => 'silver.ge_items') v)
SELECT d.suite_name,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(d.document) k) AS document_keys,
       d.document->'success' AS success,
       d.document->'statistics' AS statistics,
       -- the statistics add up: evaluated = successful + unsuccessful = number of results,
       -- success_percent = successful / evaluated * 100, success = no unsuccessful one
       (d.document->'statistics'->>'evaluated_expectations')::int =
         (d.document->'statistics'->>'successful_expectations')::int +
         (d.document->'statistics'->>'unsuccessful_expectations')::int
         AND (d.document->'statistics'->>'evaluated_expectations')::int =
             jsonb_array_length(d.document->'results')
         AND abs((d.document->'statistics'->>'success_percent')::float8 -
                 100.0 * (d.document->'statistics'->>'successful_expectations')::int /
                 (d.document->'statistics'->>'evaluated_expectations')::int) < 1e-9
         AND (d.document->>'success')::boolean =
             ((d.document->'statistics'->>'unsuccessful_expectations')::int = 0) AS adds_up,
       d.document->'meta'->'run_id'->'run_name' AS run_name
  FROM d;

-- each result: ExpectationValidationResult's keys, the config's keys
WITH d AS (SELECT v.* FROM lakehouse.lh_validation_result(table_name => 'silver.ge_items') v),
     r AS (SELECT x FROM d, jsonb_array_elements(d.document->'results') x)
SELECT DISTINCT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r.x) k) AS result_keys,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r.x->'expectation_config') k) AS config_keys,
       r.x->'exception_info' AS exception_info
  FROM r;

-- the result objects in GE's shape per kind (_format_map_output; not_null without the
-- missing fields; _validate_metric_value_between; UnexpectedRowsExpectation._validate;
-- ExpectTableColumnsToMatchSet._validate: sorted columns and details.mismatched;
-- i_mean's observed_value a float, 3.25; i_sum_no_values null)
WITH d AS (SELECT v.* FROM lakehouse.lh_validation_result(table_name => 'silver.ge_items') v),
     r AS (SELECT x FROM d, jsonb_array_elements(d.document->'results') x)
SELECT r.x->'expectation_config'->'meta'->'lakehouse'->>'expectation' AS expectation,
       r.x->'expectation_config'->>'type' AS type,
       (r.x->'result') - 'partial_unexpected_list' AS result
  FROM r
 WHERE r.x->'expectation_config'->'meta'->'lakehouse'->>'expectation'
       IN ('a_between', 'g_not_null', 'i_mean', 'i_sum_no_values', 'l_columns_bad', 'm_rows',
           'c_compound')
 ORDER BY 1;

-- a run's checks: one document per table the run checked
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "id"}', name => 'n_id');
INSERT INTO ge_src.items VALUES ('6', 'z', 'q', '1', 'AD', NULL, '2024-01-06');
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline('ge') AS s;
SELECT v.suite_name, v.document->'statistics'->'evaluated_expectations' AS evaluated,
       v.document->'meta'->'lakehouse'->>'mode' AS mode
  FROM lakehouse.lh_validation_result(
         (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ge')) v;
SELECT * FROM lakehouse.lh_validation_result(999999999);
SELECT * FROM lakehouse.lh_validation_result();
SELECT * FROM lakehouse.lh_validation_result(table_name => 'silver.nope');

-- ---------------------------------------------------------------
-- Refused at declaration
-- ---------------------------------------------------------------
-- min > max (column_values_between.py: "min_value cannot be greater than max_value";
-- ExpectTableRowCountToBeBetween._root_validate), for every *_between, both names
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 5, "max_value": 1}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'between',
       '{"column": "updated_at", "min": "2024-02-01", "max": "2024-01-01"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_table_row_count_to_be_between',
       '{"min_value": 10, "max_value": 1}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_value_lengths_to_be_between',
       '{"column": "code", "min_value": 3, "max_value": 2}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'column_mean_between',
       '{"column": "amount", "min": 10, "max": 1}');
-- equal bounds are fine
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 1, "max_value": 1}', name => 'o_equal');
-- lakehouse's argument names with a GE name, and GE's arguments GE does not have there
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min": 1}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_unique',
       '{"column": "grp", "ignore_row_if": "never"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_in_set',
       '{"column": "code", "value_set": ["AA"], "result_format": "COMPLETE"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_compound_columns_to_be_unique',
       '{"column_list": ["grp", "sub"], "ignore_row_if": "sometimes"}');
-- row_condition needs a condition_parser GE's SQL engine knows
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "grp", "row_condition": "id > 1"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "grp", "row_condition": "df[\"id\"] > 1", "condition_parser": "pandas"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "grp", "row_condition": "col(\"id\") > 1 and 1", "condition_parser": "great_expectations"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "grp", "condition_parser": "sql"}');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_not_be_null',
       '{"column": "grp", "row_condition": "id > 1", "condition_parser": "sql"}', "where" => 'id > 2');
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_values_to_be_between',
       '{"column": "amount", "min_value": 1, "mostly": 0.5}', mostly => 0.9);
-- mostly on lakehouse's unique now (GE allows it on unique)
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'unique', '"grp"', mostly => 0.5,
       name => 'p_unique_mostly');
-- mostly still refused where GE has none (aggregates)
SELECT lakehouse.lh_add_expectation('silver.ge_items', 'expect_column_max_to_be_between',
       '{"column": "amount", "max_value": 1, "mostly": 0.5}');

-- ---------------------------------------------------------------
-- YAML (the expectations list of lh_set_expectations): GE's names as they are
-- ---------------------------------------------------------------
SELECT lakehouse.lh_set_expectations('silver.ge_items', '[
  {"expect": "expect_column_values_to_not_be_null", "column": "id"},
  {"expect": "expect_column_values_to_be_between", "name": "y_amount",
   "column": "amount", "min_value": 0, "max_value": 5, "mostly": 0.5},
  {"expect": "expect_compound_columns_to_be_unique", "column_list": ["grp", "sub"],
   "ignore_row_if": "any_value_is_missing"}]');
SELECT name, kind, args, mostly FROM lakehouse.dq_expectations
 WHERE origin = 'yaml' ORDER BY name;

SELECT lakehouse.lh_drop_pipeline('ge', drop_tables => true);
DROP SCHEMA ge_src CASCADE;
DROP FUNCTION ge_show(text);
DROP FUNCTION ge_sorted(jsonb);

--
-- metrics: lh_metrics() in the Prometheus text exposition format
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA me_src;
CREATE TABLE me_src.t (id bigint, v text, ts timestamptz);
INSERT INTO me_src.t SELECT g, 'v' || g, '2024-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 20) g;
-- a name that needs escaping in label values: quote and backslash
SELECT lakehouse.lh_create_pipeline('me "q"\x') > 0 AS ok;
SELECT lakehouse.lh_add_source('me "q"\x', 'me_t', 'table', '{"table": "me_src.t", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('me "q"\x', 'silver.me_t', 'me_t',
       '[{"name": "id", "type": "bigint"}, {"name": "v", "type": "int"}]', '{id}') > 0 AS ok;
SELECT lakehouse.lh_add_expectation('silver.me_t', 'not_null', '"v"') IS NOT NULL AS ok;
SELECT (lakehouse.lh_run_pipeline('me "q"\x'))->>'status' AS status;
SELECT lakehouse.lh_define_gold('me "q"\x', 'gold.me_g', 'SELECT 1 / 0 AS x') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('me "q"\x'))->>'status' AS status;

-- every family has HELP and TYPE, in this order
SELECT line FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE '# TYPE %';
SELECT count(*) FILTER (WHERE line LIKE '# HELP %') AS help_lines,
       count(*) FILTER (WHERE line LIKE '# TYPE %') AS type_lines,
       count(*) FILTER (WHERE line = '') AS empty_lines
  FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line;

-- this pipeline's series (labels escaped; timings vary, so only counts):
-- stages are labelled by the layer and the table they write, the table
-- named without its layer's schema (as the lineage job me "q"\x.silver.me_t)
SELECT line FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE '%me \\"q\\"\\\\x%'
   AND line !~ '^lakehouse_(pipeline_run|stage)_duration_seconds_(sum|bucket\{.*le="[0-9])'
   AND line !~ '^lakehouse_(last_success|pipeline_last_success|pipeline_created)_timestamp_seconds'
 ORDER BY line COLLATE "C";
SELECT substring(line from '^[a-z_]+') AS metric,
       line ~ '\{pipeline="me \\"q\\"\\\\x"\} [0-9]{10}(\.[0-9]+)?$' AS unix_time
  FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line ~ '^lakehouse_(last_success|pipeline_last_success|pipeline_created)_timestamp_seconds\{pipeline="me'
 ORDER BY 1;
-- a pipeline that never succeeded still has a staleness series: its
-- creation time, where staleness starts until it first succeeds
SELECT lakehouse.lh_create_pipeline('me_never') > 0 AS ok;
SELECT lakehouse.lh_define_gold('me_never', 'gold.me_never', 'SELECT 1 / 0 AS x') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('me_never'))->>'status' AS status;
SELECT substring(line from '^[a-z_]+') AS metric,
       split_part(line, ' ', 2)::float8 = (SELECT extract(epoch FROM created_at)
                                             FROM lakehouse.pipelines WHERE name = 'me_never') AS created_at
  FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE 'lakehouse_%_timestamp_seconds{pipeline="me_never"}%' ORDER BY 1;
-- a label means one thing in every family: no "stage" label, "status" is
-- a run's status (HTTP status codes are "code"), "table" comes with "layer"
WITH s AS (SELECT substring(line from '^([a-z_]+?)(_bucket|_sum|_count)?\{') AS family,
                  substring(line from '\{(.*)\}') AS labels
             FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
            WHERE line LIKE 'lakehouse_%{%')
SELECT count(*) FILTER (WHERE labels ~ '(^|,)stage=') AS with_stage_label,
       bool_and(labels ~ '(^|,)layer=') FILTER (WHERE labels ~ '(^|,)table=') AS table_has_layer,
       bool_and(family = 'lakehouse_pipeline_runs_total') FILTER (WHERE labels ~ '(^|,)status=') AS status_is_run_status
  FROM s;
WITH s AS (SELECT substring(line from '^([a-z_]+?)(_bucket|_sum|_count)?\{') AS family,
                  substring(line from '\{(.*)\}') AS labels
             FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
            WHERE line LIKE 'lakehouse_%{pipeline="me \\"q\\"\\\\x"%')
SELECT family, string_agg(DISTINCT m[1], ',') AS labels
  FROM s, regexp_matches(labels, '(?:^|,)([a-z_]+)="', 'g') AS m
 WHERE m[1] <> 'le' GROUP BY family ORDER BY family;
-- histogram buckets are cumulative: never decreasing, +Inf equals _count
WITH l AS (SELECT line, ord FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n')
                  WITH ORDINALITY AS t(line, ord)
            WHERE line LIKE 'lakehouse_stage_duration_seconds_bucket{pipeline="me%layer="silver"%'),
     v AS (SELECT ord, substring(line from '\} (.*)$')::float8 AS n FROM l)
SELECT bool_and(n >= coalesce(prev, 0)) AS cumulative, max(n) AS inf
  FROM (SELECT n, lag(n) OVER (ORDER BY ord) AS prev FROM v) x;
-- data quality of the silver table
SELECT line FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE 'lakehouse_dq_%{pipeline="me%",layer="silver",table="me_t"}%';
-- lineage outbox backlog counts the undelivered events of this database
SELECT split_part(line, ' ', 2)::bigint = (SELECT count(*) FROM lakehouse.event_outbox
                                            WHERE delivered_at IS NULL) AS backlog_matches
  FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE 'lakehouse_lineage_outbox_pending_events %';

-- a dropped pipeline leaves no staleness series behind (its alerts stop)
SELECT lakehouse.lh_drop_pipeline('me_never', drop_tables => true);
SELECT count(*) AS series FROM regexp_split_to_table(lakehouse.lh_metrics(), E'\n') AS line
 WHERE line LIKE 'lakehouse_%_timestamp_seconds{pipeline="me_never"}%';

SELECT lakehouse.lh_drop_pipeline('me "q"\x', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name IN ('me "q"\x', 'me_never');
DELETE FROM lakehouse.event_outbox WHERE pipeline_name IN ('me "q"\x', 'me_never');
DELETE FROM lakehouse.dq_results WHERE table_name = 'silver.me_t';
DROP SCHEMA me_src CASCADE;

--
-- lineage: OpenLineage events in the outbox, lineage_graph, FAIL events,
-- job names, statistics per input, quality checks as runs of their own,
-- data source URIs, parents of upstream runs, column lineage through CTEs
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET lakehouse.openlineage_dataset_namespace = 'postgres://db.example:5432';
SET lakehouse.openlineage_namespace = 'lh_test';
CREATE SCHEMA ol_src;
CREATE TABLE ol_src.orders (id bigint, doc jsonb, ts timestamptz);
INSERT INTO ol_src.orders
SELECT g, jsonb_build_object('customer', jsonb_build_object('name', '  Cust' || (g % 3) || ' '),
                             'amount', g * 10),
       '2024-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 12) g;
-- a row whose amount is no number: read from bronze, quarantined by silver
INSERT INTO ol_src.orders VALUES
  (13, '{"customer": {"name": "Cust1"}, "amount": "many"}', '2024-01-01 01:00');

SELECT lakehouse.lh_create_pipeline('ol "p"') > 0 AS ok;
SELECT lakehouse.lh_add_source('ol "p"', 'ol_orders', 'table',
       '{"table": "ol_src.orders", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('ol "p"', 'silver.ol_orders', 'ol_orders',
       '[{"name": "id", "type": "bigint", "path": "id"},
         {"name": "customer", "type": "text", "path": "doc.customer.name", "transforms": ["trim", "lower"]},
         {"name": "amount", "type": "numeric", "path": "doc.amount"}]', '{id}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ol "p"', 'gold.ol_totals',
       'SELECT o.customer, sum(o.amount) AS total, o.customer AS who
          FROM silver.ol_orders o WHERE o.amount > 0 GROUP BY o.customer') > 0 AS ok;
SELECT lakehouse.lh_add_expectation('silver.ol_orders', 'not_null', '"customer"') IS NOT NULL AS ok;
SELECT lakehouse.lh_add_expectation('silver.ol_orders', 'between', '{"column": "amount", "max": 50}') IS NOT NULL AS ok;

SELECT (lakehouse.lh_run_pipeline('ol "p"'))->>'status' AS status;

-- every event: type, job, parent job, processing type, datasets
SELECT e.event_type, e.job_name,
       e.payload->'run'->'facets'->'parent'->'job'->>'name' AS parent_job,
       e.payload->'job'->'facets'->'jobType'->>'processingType' AS processing,
       (SELECT string_agg(i->>'namespace' || ' ' || (i->>'name'), ', ')
          FROM jsonb_array_elements(e.payload->'inputs') i) AS inputs,
       (SELECT string_agg(o->>'namespace' || ' ' || (o->>'name'), ', ')
          FROM jsonb_array_elements(e.payload->'outputs') o) AS outputs,
       e.payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount' AS rows
  FROM lakehouse.event_outbox e
 WHERE e.pipeline_name = 'ol "p"' ORDER BY e.event_id;

-- the envelope of every event
SELECT count(*) AS events,
       bool_and(payload->>'producer' LIKE 'https://%') AS producer,
       bool_and(payload->>'schemaURL' = 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent') AS schema_url,
       bool_and(payload->>'eventTime' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$') AS event_time,
       bool_and(payload->'run'->>'runId' = run_uuid::text) AS run_id,
       bool_and(run_uuid::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$') AS uuid_v7,
       bool_and(payload->'job'->>'namespace' = 'lh_test') AS job_namespace,
       bool_and(payload->'run'->'facets'->'processing_engine'->>'version' IS NOT NULL) AS engine
  FROM lakehouse.event_outbox WHERE pipeline_name = 'ol "p"';

-- one START and one COMPLETE or FAIL per run id; stages point at the pipeline run
SELECT job_name, string_agg(event_type, ',' ORDER BY event_id) AS events
  FROM lakehouse.event_outbox WHERE pipeline_name = 'ol "p"'
 GROUP BY run_uuid, job_name ORDER BY min(event_id);
SELECT count(DISTINCT e.payload->'run'->'facets'->'parent'->'run'->>'runId') AS parents,
       bool_and(e.payload->'run'->'facets'->'parent'->'run'->>'runId' = p.run_uuid::text) AS parent_is_pipeline_run
  FROM lakehouse.event_outbox e
  JOIN lakehouse.event_outbox p ON p.pipeline_name = e.pipeline_name AND p.job_name = 'ol "p"'
       AND p.event_type = 'START'
 WHERE e.pipeline_name = 'ol "p"' AND e.payload->'job'->'facets'->'jobType'->>'jobType' = 'TASK';
-- the pipeline run is the root of its stages; it has no parent itself
SELECT bool_and(e.payload->'run'->'facets'->'parent'->'root'->'run'->>'runId' = p.run_uuid::text) AS root_is_pipeline_run,
       bool_and(e.payload->'run'->'facets'->'parent'->'root'->'job'->>'name' = 'ol "p"') AS root_job,
       bool_and(NOT p.payload->'run'->'facets' ? 'parent') AS pipeline_run_has_no_parent
  FROM lakehouse.event_outbox e
  JOIN lakehouse.event_outbox p ON p.pipeline_name = e.pipeline_name AND p.job_name = 'ol "p"'
 WHERE e.pipeline_name = 'ol "p"' AND e.job_name <> 'ol "p"';

-- output statistics equal the rows in the tables
SELECT e.job_name,
       (e.payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount')::bigint AS row_count,
       CASE e.job_name WHEN 'ol "p".bronze.ol_orders' THEN (SELECT count(*) FROM bronze.ol_orders)
                       WHEN 'ol "p".silver.ol_orders' THEN (SELECT count(*) FROM silver.ol_orders)
                       ELSE (SELECT count(*) FROM gold.ol_totals) END AS actual
  FROM lakehouse.event_outbox e
 WHERE e.pipeline_name = 'ol "p"' AND e.event_type = 'COMPLETE'
   AND e.payload->'job'->'facets'->'jobType'->>'jobType' = 'TASK'
 ORDER BY e.event_id;
-- input statistics count the rows read from the input: 13 source rows
-- into bronze, 13 bronze rows read by silver (which wrote 12, quarantined
-- 1); the gold query's reads of its input are unknown: no facet
SELECT e.job_name, i->>'name' AS input,
       i->'inputFacets'->'inputStatistics'->>'rowCount' AS rows_read,
       e.payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount' AS rows_written,
       i ? 'inputFacets' AS has_input_facets
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'inputs') i
 WHERE e.pipeline_name = 'ol "p"' AND e.event_type = 'COMPLETE'
   AND e.payload->'job'->'facets'->'jobType'->>'jobType' = 'TASK'
 ORDER BY e.event_id;
SELECT count(*) AS bronze_rows, (SELECT count(*) FROM silver.ol_orders) AS silver_rows,
       (SELECT count(*) FROM lakehouse.quarantine WHERE target_table = 'silver.ol_orders') AS quarantined
  FROM bronze.ol_orders;
-- a START never has statistics
SELECT count(*) AS starts_with_statistics FROM lakehouse.event_outbox e
 WHERE e.pipeline_name = 'ol "p"' AND e.event_type = 'START'
   AND (jsonb_path_exists(e.payload, '$.inputs[*].inputFacets')
        OR jsonb_path_exists(e.payload, '$.outputs[*].outputFacets'));

-- schema and dataSource facets
SELECT (SELECT string_agg((f->>'ordinal_position') || ':' || (f->>'name') || ' ' || (f->>'type'), ', ')
          FROM jsonb_array_elements(o->'facets'->'schema'->'fields') f) AS silver_schema,
       o->'facets'->'dataSource'->>'name' AS data_source,
       o->'facets'->'dataSource'->>'uri' AS data_source_uri
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'outputs') o
 WHERE e.job_name = 'ol "p".silver.ol_orders' AND e.event_type = 'COMPLETE';

-- column lineage: silver from payload paths, gold from the analysed SQL
SELECT k AS column_name, f->>'name' AS input, f->>'field' AS field,
       f->'transformations'->0->>'type' AS type, f->'transformations'->0->>'subtype' AS subtype,
       f->'transformations'->0->>'description' AS description
  FROM lakehouse.event_outbox e,
       jsonb_each(e.payload->'outputs'->0->'facets'->'columnLineage'->'fields') AS c(k, v),
       jsonb_array_elements(v->'inputFields') f
 WHERE e.pipeline_name = 'ol "p"' AND e.event_type = 'COMPLETE'
 ORDER BY e.event_id, k;
SELECT f->>'name' AS input, f->>'field' AS field, f->'transformations'->0->>'type' AS type,
       f->'transformations'->0->>'subtype' AS subtype
  FROM lakehouse.event_outbox e,
       jsonb_array_elements(e.payload->'outputs'->0->'facets'->'columnLineage'->'dataset') f
 WHERE e.job_name = 'ol "p".gold.ol_totals' AND e.event_type = 'COMPLETE';

-- the gold job carries its SQL
SELECT e.payload->'job'->'facets'->'sql'->>'query' LIKE 'SELECT o.customer%' AS sql_facet,
       e.payload->'job'->'facets'->'sql'->>'dialect' AS dialect
  FROM lakehouse.event_outbox e
 WHERE e.job_name = 'ol "p".gold.ol_totals' AND e.event_type = 'START';

-- the quality check of silver.ol_orders is a run of its own (jobType TEST,
-- a child of the stage run): the checked table is its input, the results
-- its dataQualityAssertions input facet (an InputDatasetFacet); the stage's
-- output carries none
SELECT c.event_type, c.payload->'job'->'facets'->'jobType'->>'jobType' AS job_type,
       c.payload->'run'->'facets'->'parent'->'run'->>'runId' = s.run_uuid::text AS parent_is_stage,
       c.payload->'run'->'facets'->'parent'->'job'->>'name' AS parent_job,
       c.payload->'run'->'facets'->'parent'->'root'->'run'->>'runId' = p.run_uuid::text AS root_is_pipeline_run,
       jsonb_array_length(c.payload->'inputs') AS inputs,
       c.payload->'inputs'->0->>'name' AS input,
       jsonb_array_length(c.payload->'outputs') AS outputs,
       c.payload->'inputs'->0->'inputFacets' ? 'dataQualityAssertions' AS has_assertions,
       c.event_time BETWEEN s.event_time AND s2.event_time AS within_stage
  FROM lakehouse.event_outbox c
  JOIN lakehouse.event_outbox s ON s.job_name = 'ol "p".silver.ol_orders' AND s.event_type = 'START'
  JOIN lakehouse.event_outbox s2 ON s2.run_uuid = s.run_uuid AND s2.event_type = 'COMPLETE'
  JOIN lakehouse.event_outbox p ON p.job_name = 'ol "p"' AND p.event_type = 'START'
 WHERE c.job_name = 'ol "p".silver.ol_orders.check'
 ORDER BY c.event_id;
SELECT a->>'assertion' AS assertion, a->>'name' AS name, a->>'column' AS column_name,
       a->>'success' AS success, a->>'severity' AS severity, a->'params' AS params
  FROM lakehouse.event_outbox e,
       jsonb_array_elements(e.payload->'inputs'->0->'inputFacets'->'dataQualityAssertions'->'assertions') a
 WHERE e.job_name = 'ol "p".silver.ol_orders.check' AND e.event_type = 'COMPLETE'
 ORDER BY 2;
SELECT count(*) AS assertions_elsewhere FROM lakehouse.event_outbox e
 WHERE e.pipeline_name = 'ol "p"'
   AND (jsonb_path_exists(e.payload, '$.outputs[*].facets.dataQualityAssertions')
        OR jsonb_path_exists(e.payload, '$.inputs[*].facets.dataQualityAssertions'));
-- a check job has no output, so no lineage_graph edge

-- the lineage graph
SELECT input_name, job_name, output_name, runs, failed_runs
  FROM lakehouse.lineage_graph WHERE pipeline = 'ol "p"' ORDER BY 2, 1;

-- a failing stage: its FAIL event survives the rolled-back stage
SELECT lakehouse.lh_define_gold('ol "p"', 'gold.ol_totals',
       'SELECT o.customer, sum(o.amount) / 0 AS total, o.customer AS who
          FROM silver.ol_orders o GROUP BY o.customer', replace => true) > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('ol "p"'))->>'status' AS status;
SELECT e.event_type, e.job_name,
       e.payload->'run'->'facets'->'errorMessage'->>'message' AS error
  FROM lakehouse.event_outbox e
 WHERE e.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ol "p"')
 ORDER BY e.event_id;
SELECT input_name, job_name, output_name, runs, failed_runs
  FROM lakehouse.lineage_graph WHERE pipeline = 'ol "p"' AND job_name LIKE '%gold%';

-- data sources: the namespace is the data source; its uri only when the
-- namespace is a URI (lakehouse.openlineage_dataset_namespace is free text)
SET lakehouse.openlineage_dataset_namespace = 'warehouse one';
SELECT (lakehouse.lh_run_pipeline('ol "p"', full_refresh => true))->>'status' AS status;
SELECT DISTINCT (o->'facets'->'dataSource') - '_producer' - '_schemaURL' AS data_source
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'outputs') o
 WHERE e.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ol "p"');
SET lakehouse.openlineage_dataset_namespace = 'postgres://db.example:5432';

-- a silver stage that fails its gate rolls back: its FAIL event has no
-- input statistics (its counts went with the rollback), and its check run
-- completes with the failed assertion
SELECT lakehouse.lh_add_expectation('silver.ol_orders', 'between', '{"column": "amount", "max": 1000}',
       severity => 'fail', name => 'amount_cap') IS NOT NULL AS ok;
INSERT INTO ol_src.orders VALUES
  (14, '{"customer": {"name": "Cust2"}, "amount": 5000}', '2024-01-01 02:00');
SELECT (lakehouse.lh_run_pipeline('ol "p"'))->>'status' AS status;
SELECT e.job_name, e.event_type,
       e.payload->'inputs'->0->'inputFacets'->'inputStatistics'->>'rowCount' AS rows_read,
       e.payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount' AS rows_written,
       (SELECT string_agg((a->>'name') || '=' || (a->>'success'), ', ' ORDER BY a->>'name')
          FROM jsonb_array_elements(e.payload->'inputs'->0->'inputFacets'->'dataQualityAssertions'->'assertions') a) AS assertions
  FROM lakehouse.event_outbox e
 WHERE e.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ol "p"')
   AND e.event_type <> 'START'
 ORDER BY e.event_id;
SELECT lakehouse.lh_drop_expectation('silver.ol_orders', 'amount_cap');
DELETE FROM ol_src.orders WHERE id = 14;

-- a file source: namespace "file", the absolute path (or pattern) as the
-- name, and as data source URI the file:// URL of the path, percent-encoded
CREATE FUNCTION pg_temp.write_text(path text, content text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo oid;
BEGIN
    lo := lo_from_bytea(0, convert_to(content, 'UTF8'));
    PERFORM lo_export(lo, path);
    PERFORM lo_unlink(lo);
END
$$;
SELECT pg_temp.write_text('/tmp/lh_regress ol #1 100% é.csv', E'id,name\n1,kim\n2,lee\n');
SELECT lakehouse.lh_create_pipeline('ol_file') > 0 AS ok;
SELECT lakehouse.lh_add_source('ol_file', 'ol_files', 'file',
       '{"path": "/tmp/lh_regress ol #1 100% *.csv", "format": "csv"}') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('ol_file'))->>'status' AS status;
SELECT e.job_name, i->>'namespace' AS namespace, i->>'name' AS name,
       i->'facets'->'dataSource'->>'name' AS data_source,
       i->'facets'->'dataSource'->>'uri' AS data_source_uri,
       i->'inputFacets'->'inputStatistics'->>'rowCount' AS rows_read
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'inputs') i
 WHERE e.pipeline_name = 'ol_file' AND e.event_type = 'COMPLETE';

-- upstream runs: running ol_top runs ol_up and ol_mid first; their runs
-- name the ol_top run as their parent (and root), and their stages name
-- their own pipeline run as parent and the ol_top run as root
SELECT lakehouse.lh_create_pipeline('ol_up') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ol_up', 'gold.ol_up', 'SELECT 1 AS one') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('ol_mid', depends_on => '{ol_up}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ol_mid', 'gold.ol_mid', 'SELECT one + 1 AS two FROM gold.ol_up') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('ol_top', depends_on => '{ol_mid}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ol_top', 'gold.ol_top', 'SELECT two + 1 AS three FROM gold.ol_mid') > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('ol_top'))->>'status' AS status;
SELECT e.job_name, e.event_type,
       e.payload->'run'->'facets'->'parent'->'job'->>'name' AS parent_job,
       e.payload->'run'->'facets'->'parent'->'run'->>'runId' = t.run_uuid::text AS parent_is_top_run,
       e.payload->'run'->'facets'->'parent'->'root'->'job'->>'name' AS root_job,
       e.payload->'run'->'facets'->'parent'->'root'->'run'->>'runId' = t.run_uuid::text AS root_is_top_run
  FROM lakehouse.event_outbox e
  JOIN lakehouse.event_outbox t ON t.job_name = 'ol_top' AND t.event_type = 'START'
 WHERE e.pipeline_name IN ('ol_up', 'ol_mid', 'ol_top')
 ORDER BY e.event_id;
-- the stages of an upstream run point at that run
SELECT e.job_name,
       e.payload->'run'->'facets'->'parent'->'run'->>'runId' = u.run_uuid::text AS parent_is_its_pipeline_run
  FROM lakehouse.event_outbox e
  JOIN lakehouse.event_outbox u ON u.job_name = e.pipeline_name AND u.event_type = 'START'
 WHERE e.pipeline_name IN ('ol_up', 'ol_mid') AND e.job_name <> e.pipeline_name AND e.event_type = 'START'
 ORDER BY e.event_id;
-- the ledger agrees: the upstream runs' parent is the ol_top run
SELECT r.pipeline_name, p.pipeline_name AS parent
  FROM lakehouse.runs r JOIN lakehouse.runs p ON p.run_id = r.parent_run_id
 WHERE r.pipeline_name IN ('ol_up', 'ol_mid') ORDER BY r.run_id;
-- without upstream runs, a run has no parent
SELECT (lakehouse.lh_run_pipeline('ol_mid', upstream => false))->>'status' AS status;
SELECT count(*) FILTER (WHERE payload->'run'->'facets' ? 'parent') AS with_parent, count(*) AS events
  FROM lakehouse.event_outbox
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ol_mid')
   AND job_name = 'ol_mid';

-- column lineage through CTEs (chained, recursive), set operations and
-- sublinks; the filters, joins and groupings inside the CTEs are INDIRECT
CREATE TABLE ol_src.people (name text, country text);
SELECT lakehouse.lh_create_pipeline('ol_cte') > 0 AS ok;
SELECT lakehouse.lh_define_gold('ol_cte', 'gold.ol_cte', $$
WITH recent AS (SELECT o.customer, o.amount FROM silver.ol_orders o WHERE o.id > 2),
     per AS (SELECT customer, sum(amount) AS total FROM recent GROUP BY customer),
     everyone AS (SELECT customer AS who FROM silver.ol_orders
                  UNION SELECT name FROM ol_src.people WHERE country = 'fr')
SELECT per.customer, per.total, upper(per.customer) AS shout, e.who,
       (SELECT max(o2.amount) FROM silver.ol_orders o2) AS top_amount,
       42 AS answer
  FROM per JOIN everyone e ON e.who = per.customer
$$) > 0 AS ok;
SELECT lakehouse.lh_define_gold('ol_cte', 'gold.ol_rec', $$
WITH RECURSIVE chain(customer, depth) AS (
    SELECT customer, 1 FROM silver.ol_orders WHERE id = 1
    UNION ALL
    SELECT c.customer, c.depth + 1 FROM chain c WHERE c.depth < 3)
SELECT customer, max(depth) AS depth FROM chain GROUP BY customer
$$) > 0 AS ok;
SELECT (lakehouse.lh_run_pipeline('ol_cte', upstream => false))->>'status' AS status;
SELECT e.job_name, k AS column_name, f->>'name' AS input, f->>'field' AS field,
       f->'transformations'->0->>'subtype' AS subtype
  FROM lakehouse.event_outbox e,
       jsonb_each(e.payload->'outputs'->0->'facets'->'columnLineage'->'fields') AS c(k, v),
       jsonb_array_elements(v->'inputFields') f
 WHERE e.pipeline_name = 'ol_cte' AND e.event_type = 'COMPLETE'
 ORDER BY e.event_id, k, 3, 4;
SELECT e.job_name, f->>'name' AS input, f->>'field' AS field,
       f->'transformations'->0->>'subtype' AS subtype
  FROM lakehouse.event_outbox e,
       jsonb_array_elements(e.payload->'outputs'->0->'facets'->'columnLineage'->'dataset') f
 WHERE e.pipeline_name = 'ol_cte' AND e.event_type = 'COMPLETE'
 ORDER BY e.event_id, 4, 2, 3;
SELECT e.job_name, string_agg(i->>'name', ', ' ORDER BY i->>'name') AS inputs
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'inputs') i
 WHERE e.pipeline_name = 'ol_cte' AND e.event_type = 'COMPLETE'
 GROUP BY e.event_id, e.job_name ORDER BY e.event_id;

-- events can be turned off
SET lakehouse.emit_events = off;
SELECT (lakehouse.lh_run_pipeline('ol "p"'))->>'status' AS status;
SELECT count(*) AS events FROM lakehouse.event_outbox
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ol "p"');
RESET lakehouse.emit_events;

-- no URL: events stay pending, nobody delivers
SHOW lakehouse.openlineage_url;
SELECT count(*) FILTER (WHERE delivered_at IS NULL) = count(*) AS all_pending,
       max(attempts) AS attempts
  FROM lakehouse.event_outbox WHERE pipeline_name = 'ol "p"';

SELECT lakehouse.lh_drop_pipeline(p, drop_tables => true)
  FROM unnest(ARRAY['ol_cte', 'ol_top', 'ol_mid', 'ol_up', 'ol_file', 'ol "p"']) p;
DELETE FROM lakehouse.runs
 WHERE pipeline_name IN ('ol "p"', 'ol_file', 'ol_up', 'ol_mid', 'ol_top', 'ol_cte');
DELETE FROM lakehouse.event_outbox
 WHERE pipeline_name IN ('ol "p"', 'ol_file', 'ol_up', 'ol_mid', 'ol_top', 'ol_cte');
DELETE FROM lakehouse.dq_results WHERE table_name = 'silver.ol_orders';
DELETE FROM lakehouse.quarantine WHERE target_table = 'silver.ol_orders';
DROP SCHEMA ol_src CASCADE;
RESET lakehouse.openlineage_dataset_namespace;
RESET lakehouse.openlineage_namespace;

--
-- lineage: OpenLineage events in the outbox, lineage_graph, FAIL events
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
 WHERE e.pipeline_name = 'ol "p"' AND e.job_name <> 'ol "p"';

-- output statistics equal the rows in the tables
SELECT e.job_name,
       (e.payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount')::bigint AS row_count,
       CASE e.job_name WHEN 'ol "p".ingest.bronze.ol_orders' THEN (SELECT count(*) FROM bronze.ol_orders)
                       WHEN 'ol "p".silver.silver.ol_orders' THEN (SELECT count(*) FROM silver.ol_orders)
                       ELSE (SELECT count(*) FROM gold.ol_totals) END AS actual
  FROM lakehouse.event_outbox e
 WHERE e.pipeline_name = 'ol "p"' AND e.event_type = 'COMPLETE' AND e.job_name <> 'ol "p"'
 ORDER BY e.event_id;

-- schema and dataSource facets
SELECT (SELECT string_agg((f->>'ordinal_position') || ':' || (f->>'name') || ' ' || (f->>'type'), ', ')
          FROM jsonb_array_elements(o->'facets'->'schema'->'fields') f) AS silver_schema,
       o->'facets'->'dataSource'->>'uri' AS data_source
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'outputs') o
 WHERE e.job_name = 'ol "p".silver.silver.ol_orders' AND e.event_type = 'COMPLETE';

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
 WHERE e.job_name = 'ol "p".gold.gold.ol_totals' AND e.event_type = 'COMPLETE';

-- the gold job carries its SQL; quality results of the silver stage
SELECT e.payload->'job'->'facets'->'sql'->>'query' LIKE 'SELECT o.customer%' AS sql_facet,
       e.payload->'job'->'facets'->'sql'->>'dialect' AS dialect
  FROM lakehouse.event_outbox e
 WHERE e.job_name = 'ol "p".gold.gold.ol_totals' AND e.event_type = 'START';
SELECT a->>'assertion' AS assertion, a->>'name' AS name, a->>'column' AS column_name,
       a->>'success' AS success
  FROM lakehouse.event_outbox e,
       jsonb_array_elements(e.payload->'outputs'->0->'facets'->'dataQualityAssertions'->'assertions') a
 WHERE e.job_name = 'ol "p".silver.silver.ol_orders' AND e.event_type = 'COMPLETE'
 ORDER BY 2;

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

SELECT lakehouse.lh_drop_pipeline('ol "p"', drop_tables => true);
DELETE FROM lakehouse.runs WHERE pipeline_name = 'ol "p"';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name = 'ol "p"';
DELETE FROM lakehouse.dq_results WHERE table_name = 'silver.ol_orders';
DROP SCHEMA ol_src CASCADE;
RESET lakehouse.openlineage_dataset_namespace;
RESET lakehouse.openlineage_namespace;

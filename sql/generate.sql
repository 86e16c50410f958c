--
-- generate: the smallest source kind (src/sources/generate.c), added the
-- way every kind is (a SourceRoutine and one line in registry.c):
-- numbered payloads {"n": k}, "rows" per ingest, up to "total"
--
SELECT lakehouse.lh_create_pipeline('gen') > 0 AS created;
SELECT lakehouse.lh_add_source('gen', 'gen_src', 'generate', '{"rows": 3, "total": 7}') > 0 AS added;
SELECT source, kind, bronze_table, enabled FROM lakehouse.source_status WHERE source = 'gen_src';

-- each ingest lands the next three numbers, in order
SELECT r->>'status' AS status, r->>'rows_written' AS written FROM lakehouse.lh_ingest('gen_src') r;
SELECT array_agg((payload->>'n')::int ORDER BY _lh_id) AS n,
       array_agg(_lh_position ORDER BY _lh_id) AS positions FROM bronze.gen_src;
SELECT marks FROM lakehouse.source_status WHERE source = 'gen_src';

-- the mark moves in the ingest's transaction: rolled back, the same
-- numbers land again, never twice
BEGIN;
SELECT r->>'rows_written' AS written FROM lakehouse.lh_ingest('gen_src') r;
ROLLBACK;
SELECT r->>'rows_written' AS written FROM lakehouse.lh_ingest('gen_src') r;
-- the last one stops at total; then there is nothing left
SELECT r->>'rows_written' AS written FROM lakehouse.lh_ingest('gen_src') r;
SELECT r->>'status' AS status, r->>'rows_written' AS written FROM lakehouse.lh_ingest('gen_src') r;
SELECT count(*) AS rows, count(DISTINCT payload->>'n') AS distinct_n,
       min((payload->>'n')::int), max((payload->>'n')::int) FROM bronze.gen_src;

-- silver and gold over it, like any source
SELECT lakehouse.lh_define_silver('gen', 'silver.gen_n', 'gen_src',
       '[{"name": "n", "type": "integer", "required": true}]', keys => ARRAY['n']) > 0 AS defined;
SELECT lakehouse.lh_define_gold('gen', 'gold.gen_sum', 'SELECT count(*) AS n, sum(n) AS total FROM silver.gen_n') > 0 AS defined;
SELECT r->>'status' AS status FROM lakehouse.lh_run_pipeline('gen') r;
SELECT * FROM gold.gen_sum;

-- redeclared with a larger total: it goes on from its mark
SELECT lakehouse.lh_add_source('gen', 'gen_src', 'generate', '{"rows": 5, "total": 9}', replace => true) > 0 AS replaced;
SELECT r->>'status' AS status FROM lakehouse.lh_run_pipeline('gen') r;
SELECT * FROM gold.gen_sum;

-- its lineage dataset: namespace "generate", named after the source; the
-- namespace is no URI, so its data source has none
SELECT DISTINCT d->>'namespace' AS namespace, d->>'name' AS name,
       d->'facets'->'dataSource'->>'name' AS data_source,
       d->'facets'->'dataSource' ? 'uri' AS has_uri
  FROM lakehouse.event_outbox e, jsonb_array_elements(e.payload->'inputs') d
 WHERE e.payload->'job'->>'name' = 'gen.bronze.gen_src';

-- invalid options are refused, naming the option
SELECT lakehouse.lh_add_source('gen', 'gen_bad', 'generate', '{"rows": 0}');
SELECT lakehouse.lh_add_source('gen', 'gen_bad', 'generate', '{"total": -1}');
SELECT lakehouse.lh_add_source('gen', 'gen_bad', 'generate', '{"rows": "many"}');
SELECT lakehouse.lh_add_source('gen', 'gen_bad', 'generate', '{"rows": 1, "colour": "red"}');
-- an unknown kind: the error lists the kinds of the registry
SELECT lakehouse.lh_add_source('gen', 'gen_bad', 'nosuchkind', '{}');
SELECT count(*) AS bad_sources FROM lakehouse.sources WHERE name = 'gen_bad';

SELECT lakehouse.lh_drop_pipeline('gen', drop_tables => true);

--
-- diagram: lh_lineage_diagram() draws the pipeline DAG and the lineage
-- graph as Mermaid, Graphviz DOT and SVG; every name is escaped for its
-- syntax (quotes, markup, entities, backslashes, unicode)
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA dg_src;
CREATE TABLE dg_src.t (id bigint, v text, ts timestamptz);
INSERT INTO dg_src.t SELECT g, 'v' || (g % 3), '2024-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 9) g;
CREATE TABLE dg_src.dim (v text PRIMARY KEY, label text);
INSERT INTO dg_src.dim VALUES ('v0', 'zero'), ('v1', 'one'), ('v2', 'two');

-- an ordinary pipeline: table source -> bronze -> silver -> gold, a gold
-- table reading another one and a table outside the pipelines
SELECT lakehouse.lh_create_pipeline('dg_shop') > 0 AS ok;
SELECT lakehouse.lh_add_source('dg_shop', 'dg_t', 'table', '{"table": "dg_src.t", "watermark": "ts"}') > 0 AS ok;
SELECT lakehouse.lh_define_silver('dg_shop', 'silver.dg_t', 'dg_t',
       '[{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}]', '{id}') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dg_shop', 'gold.dg_by_v',
       'SELECT s.v, d.label, count(*) AS n FROM silver.dg_t s JOIN dg_src.dim d USING (v) GROUP BY 1, 2') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dg_shop', 'gold.dg_top',
       'SELECT v, n FROM gold.dg_by_v ORDER BY n DESC LIMIT 2') > 0 AS ok;

-- a hostile pipeline: markup, quotes, an entity, a backslash, unicode
SELECT lakehouse.lh_create_pipeline($$dg <script>alert("x")</script> & 'q' #35; \N ü$$) > 0 AS ok;
SELECT lakehouse.lh_add_dependency($$dg <script>alert("x")</script> & 'q' #35; \N ü$$, 'dg_shop');
SELECT lakehouse.lh_add_source($$dg <script>alert("x")</script> & 'q' #35; \N ü$$,
       $$dg src "q" <b>`x`</b>$$, 'table', '{"table": "dg_src.t", "watermark": "ts"}',
       'bronze."dg ""raw"" <i>"') > 0 AS ok;
SELECT lakehouse.lh_define_silver($$dg <script>alert("x")</script> & 'q' #35; \N ü$$,
       'silver."dg ""q"" {x}: ü"', $$dg src "q" <b>`x`</b>$$,
       '[{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}]', '{id}') > 0 AS ok;
SELECT lakehouse.lh_define_gold($$dg <script>alert("x")</script> & 'q' #35; \N ü$$, 'gold."dg; --\"',
       'SELECT q.id, t.n FROM silver."dg ""q"" {x}: ü" q CROSS JOIN gold.dg_top t') > 0 AS ok;
-- a gold table that fails, and one that reads itself (a cycle)
SELECT lakehouse.lh_define_gold($$dg <script>alert("x")</script> & 'q' #35; \N ü$$, 'gold.dg_bad',
       'SELECT 1 / (id - id) AS x FROM silver."dg ""q"" {x}: ü"') > 0 AS ok;
SELECT lakehouse.lh_define_gold('dg_shop', 'gold.dg_self', 'SELECT 1 AS x', 'append') > 0 AS ok;

SELECT (lakehouse.lh_run_pipeline('dg_shop'))->>'status' AS status;
SELECT (lakehouse.lh_run_pipeline($$dg <script>alert("x")</script> & 'q' #35; \N ü$$))->>'status' AS status;
SELECT lakehouse.lh_define_gold('dg_shop', 'gold.dg_self', 'SELECT x + 1 AS x FROM gold.dg_self',
       'append', replace => true) > 0 AS ok;

-- Mermaid: the shop pipeline, its neighbours (the hostile pipeline reads
-- its gold table and depends on it), failed marks, classes
SELECT lakehouse.lh_lineage_diagram('mermaid', 'dg_shop');
-- every label is one quoted string: a line has no quote or exactly two
SELECT count(*) AS lines_with_stray_quotes
  FROM regexp_split_to_table(lakehouse.lh_lineage_diagram('mermaid'), E'\n') AS line
 WHERE length(line) - length(replace(line, '"', '')) NOT IN (0, 2);
-- decoded (#<code>; is Mermaid's escape), the labels give the names back
CREATE FUNCTION pg_temp.mermaid_decode(s text) RETURNS text LANGUAGE sql AS $f$
  SELECT string_agg(CASE WHEN m[1] IS NOT NULL THEN chr(m[1]::int) ELSE m[2] END, '' ORDER BY ord)
    FROM regexp_matches(s, '#([0-9]+);|([^#]+|#)', 'g') WITH ORDINALITY AS t(m, ord)
$f$;
SELECT pg_temp.mermaid_decode(m[1]) AS label
  FROM regexp_matches(lakehouse.lh_lineage_diagram('mermaid', 'dg_shop'), '"([^"]*)"', 'g') AS m
 ORDER BY 1;

-- DOT: the hostile pipeline and its neighbours
SELECT lakehouse.lh_lineage_diagram('dot', $$dg <script>alert("x")</script> & 'q' #35; \N ü$$);
-- unescaped (\" and \\; \n separates name and kind), the labels give the names back
SELECT regexp_replace(replace(m[1], '\n', ' | '), '\\(.)', '\1', 'g') AS label
  FROM regexp_matches(lakehouse.lh_lineage_diagram('dot', 'dg_shop'),
                      'label="((?:[^"\\]|\\.)*)"', 'g') AS m
 ORDER BY 1;

-- SVG: a well-formed XML document whose texts are the names, escaped
SELECT xml_is_well_formed_document(lakehouse.lh_lineage_diagram('svg')) AS well_formed;
SELECT lakehouse.lh_lineage_diagram('svg', 'dg_shop') = lakehouse.lh_lineage_diagram('svg', 'dg_shop')
       AS deterministic;
SELECT t::text AS texts
  FROM unnest(xpath('//s:svg[@id="lh-lineage"]//s:text/text()',
                    lakehouse.lh_lineage_diagram('svg', 'dg_shop')::xml,
                    ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS t
 ORDER BY t::text COLLATE "C";
-- no name became markup
SELECT (xpath('count(//*[local-name() = "script" or local-name() = "b" or local-name() = "i"])',
              lakehouse.lh_lineage_diagram('svg')::xml))[1]::text AS markup_elements;
-- the full names are the tooltips
SELECT t::text AS tooltips
  FROM unnest(xpath('//s:svg[@id="lh-lineage"]//s:g/s:title/text()',
                    lakehouse.lh_lineage_diagram('svg', 'dg_shop')::xml,
                    ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS t
 ORDER BY t::text COLLATE "C";
-- columns by layer: source, bronze, silver, gold, gold reading gold
SELECT (xpath('/s:g/s:title/text()', g, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))[1]::text AS node,
       (xpath('/s:g/s:rect/@x', g, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]))[1]::text::int AS x
  FROM unnest(xpath('//s:svg[@id="lh-lineage"]//s:g',
                    lakehouse.lh_lineage_diagram('svg', 'dg_shop')::xml,
                    ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS g
 ORDER BY 2, 1;
-- edges: one path each, the self-reading gold table as a loop
SELECT count(*) AS paths
  FROM unnest(xpath('//s:svg[@id="lh-lineage"]/s:path',
                    lakehouse.lh_lineage_diagram('svg', 'dg_shop')::xml,
                    ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']]));
-- the pipeline DAG: an arrow from dg_shop to the pipeline depending on it
SELECT t::text AS dag_texts
  FROM unnest(xpath('//s:svg[@id="lh-dag"]//s:text/text()',
                    lakehouse.lh_lineage_diagram('svg')::xml,
                    ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) AS t
 WHERE t::text LIKE 'dg%' ORDER BY t::text COLLATE "C";

-- an analyst may draw it, and sees the same picture
DO $$ BEGIN
  SET LOCAL client_min_messages = error;
  PERFORM lakehouse.lh_create_roles();
END $$;
CREATE ROLE dg_analyst IN ROLE lakehouse_analyst;
SELECT has_function_privilege('dg_analyst', 'lakehouse.lh_lineage_diagram(text, text)', 'EXECUTE')
       AS analyst_may;
SELECT count(*) AS public_grants
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'lakehouse.lh_lineage_diagram(text, text)'::regprocedure AND a.grantee = 0;
CREATE TEMP TABLE dg_as_owner AS SELECT lakehouse.lh_lineage_diagram('dot', 'dg_shop') AS d;
GRANT SELECT ON dg_as_owner TO dg_analyst;
SET ROLE dg_analyst;
SELECT lakehouse.lh_lineage_diagram('dot', 'dg_shop') = (SELECT d FROM dg_as_owner) AS same_picture;
RESET ROLE;

-- errors
SELECT lakehouse.lh_lineage_diagram('png');
SELECT lakehouse.lh_lineage_diagram('Mermaid');
SELECT lakehouse.lh_lineage_diagram(NULL);
SELECT lakehouse.lh_lineage_diagram('dot', 'dg_nope');

-- a dropped input: the gold query no longer analyses, so it has no input
-- edges; the picture still comes
DROP TABLE dg_src.dim;
SELECT line FROM regexp_split_to_table(lakehouse.lh_lineage_diagram('dot', 'dg_shop'), E'\n') AS line
 WHERE line LIKE '%->%' ORDER BY 1;

SELECT lakehouse.lh_drop_pipeline($$dg <script>alert("x")</script> & 'q' #35; \N ü$$, drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('dg_shop', drop_tables => true);
-- without the pipelines nothing of them is drawn
SELECT position('dg_' IN lakehouse.lh_lineage_diagram('mermaid')) AS mentions_dg;
-- without any pipeline, each format still gives a valid document
BEGIN;
DELETE FROM lakehouse.pipelines;
SELECT lakehouse.lh_lineage_diagram('mermaid') AS no_pipelines;
SELECT lakehouse.lh_lineage_diagram('dot') AS no_pipelines;
SELECT xml_is_well_formed_document(lakehouse.lh_lineage_diagram('svg')) AS well_formed,
       lakehouse.lh_lineage_diagram('svg') LIKE '%>no pipelines yet</text>%' AS says_so;
ROLLBACK;
DELETE FROM lakehouse.runs WHERE pipeline_name LIKE 'dg%';
DELETE FROM lakehouse.event_outbox WHERE pipeline_name LIKE 'dg%';
DELETE FROM lakehouse.quarantine WHERE target_table LIKE '%dg%';
DROP TABLE dg_as_owner;
DROP ROLE dg_analyst;
DROP SCHEMA dg_src CASCADE;

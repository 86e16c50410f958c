--
-- setup: the extension installs, its settings exist, its catalog is dumped
--
CREATE EXTENSION IF NOT EXISTS lakehouse;

SELECT e.extname, e.extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'lakehouse';

-- every catalog table (and its sequence) is kept by pg_dump
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS cfg(oid)
  JOIN pg_class c ON c.oid = cfg.oid
 WHERE e.extname = 'lakehouse'
 ORDER BY 1;

SHOW lakehouse.batch_size;
SHOW lakehouse.max_quarantine_buffer;
SET lakehouse.batch_size = 0;
SET lakehouse.batch_size = 500;
SHOW lakehouse.batch_size;
RESET lakehouse.batch_size;
-- the prefix is reserved: a typo is an error, not a silently accepted variable
SET lakehouse.bacth_size = 10;

-- no run outside a run
SELECT lakehouse.lh_current_run_id();

-- the internal projection refuses to run outside the silver stage
SELECT * FROM lakehouse.lh_silver_project('{}'::jsonb, 1, 'x', NULL::int, 1);

--
-- security: roles and privileges, secrets, audit log, PII masking,
-- erasure and retention
--
SET client_min_messages = error;
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';
-- earlier tests left audit records: look only at this test's
SELECT coalesce(max(audit_id), 0) AS audit_start FROM lakehouse.audit_log \gset

-- ---------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_create_roles();
SELECT lakehouse.lh_create_roles();          -- again: nothing new

-- ---------------------------------------------------------------------
-- Nothing in schema lakehouse is for PUBLIC (the install script revokes
-- it; lh_create_roles again, for objects added since)
-- ---------------------------------------------------------------------
SELECT p.oid::regprocedure AS public_function
  FROM pg_proc p
 WHERE p.pronamespace = 'lakehouse'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT c.relname AS public_relation
  FROM pg_class c
 WHERE c.relnamespace = 'lakehouse'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'p')
   AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
        OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE'));
-- every SECURITY DEFINER function pins search_path
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'lakehouse'::regnamespace AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

SELECT r.rolname, r.rolcanlogin,
       array(SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.roleid
              WHERE a.member = r.oid ORDER BY 1) AS member_of
  FROM pg_roles r WHERE r.rolname LIKE 'lakehouse\_%' ORDER BY 1;

CREATE ROLE regress_sec_admin LOGIN IN ROLE lakehouse_admin;
CREATE ROLE regress_sec_eng LOGIN IN ROLE lakehouse_engineer;
CREATE ROLE regress_sec_op LOGIN IN ROLE lakehouse_operator;
CREATE ROLE regress_sec_analyst LOGIN IN ROLE lakehouse_analyst;
CREATE ROLE regress_sec_pii LOGIN IN ROLE lakehouse_pii_reader, lakehouse_analyst;
CREATE ROLE regress_sec_nobody LOGIN;

-- the source system the pipeline reads (owned by the superuser)
CREATE SCHEMA sec_src;
CREATE TABLE sec_src.customers (doc jsonb, updated_at timestamptz);
INSERT INTO sec_src.customers VALUES
    ('{"id": 1, "email": "ann@example.com", "phone": "+44 20 7946 0001", "ssn": "111-11-1111", "country": "UK"}', '2024-01-01'),
    ('{"id": 2, "email": "bob@example.com", "phone": "+44 20 7946 0002", "ssn": "222-22-2222", "country": "FR"}', '2024-01-02'),
    ('{"id": 3, "email": "cy@example.com", "phone": "+44 20 7946 0003", "ssn": "333-33-3333", "country": "UK"}', '2024-01-03'),
    ('{"id": "two", "email": "bob@example.com", "phone": "x", "ssn": "x", "country": "FR"}', '2024-01-04');
CREATE VIEW sec_src.customer_feed AS
    SELECT doc->'id' AS id, doc->>'email' AS email, doc->>'phone' AS phone,
           doc->>'ssn' AS ssn, doc->>'country' AS country, updated_at FROM sec_src.customers;
-- the pipeline's owner reads the source (runs read as the owner, whoever starts them)
GRANT USAGE ON SCHEMA sec_src TO lakehouse_engineer;
GRANT SELECT ON sec_src.customer_feed TO lakehouse_engineer;

-- ---------------------------------------------------------------------
-- An engineer defines (as lakehouse_engineer, so the tables belong to the
-- role and the default privileges apply)
-- ---------------------------------------------------------------------
SET ROLE regress_sec_eng;
SET ROLE lakehouse_engineer;
SELECT lakehouse.lh_create_pipeline('sec_p', 'customers') > 0 AS created;
SELECT lakehouse.lh_add_source('sec_p', 'sec_customers', 'table',
       '{"table": "sec_src.customer_feed", "watermark": "updated_at"}') > 0 AS added;
SELECT lakehouse.lh_define_silver('sec_p', 'silver.sec_customers', 'sec_customers',
       '[{"name": "customer_id", "path": "id", "type": "integer", "required": true},
         {"name": "email", "type": "text", "classification": "pii"},
         {"name": "phone", "type": "text", "classification": "pii", "masking": "partial"},
         {"name": "ssn", "type": "text", "classification": "sensitive"},
         {"name": "country", "type": "text", "classification": "public"}]',
       keys => ARRAY['customer_id']) > 0 AS defined;
SELECT lakehouse.lh_define_gold('sec_p', 'gold.sec_customers',
       'SELECT customer_id, email, phone, ssn, country FROM silver.sec_customers') > 0 AS defined;
-- invalid classifications are refused
SELECT lakehouse.lh_define_silver('sec_p', 'silver.sec_bad', 'sec_customers',
       '[{"name": "a", "type": "text", "classification": "secret"}]');
SELECT lakehouse.lh_define_silver('sec_p', 'silver.sec_bad', 'sec_customers',
       '[{"name": "a", "type": "text", "masking": "hash"}]');
SELECT lakehouse.lh_define_silver('sec_p', 'silver.sec_bad', 'sec_customers',
       '[{"name": "a", "type": "text", "classification": "pii", "masking": 1}]');
-- the first run creates the gold table (as its owner)
SELECT r->>'status' AS status FROM lakehouse.lh_run_pipeline('sec_p') r;
SELECT lakehouse.lh_classify('gold.sec_customers', 'email', 'pii');
SELECT lakehouse.lh_classify('gold.sec_customers', 'phone', 'pii', 'partial');
SELECT lakehouse.lh_classify('gold.sec_customers', 'ssn', 'sensitive');
SELECT lakehouse.lh_classify('gold.sec_customers', 'nope', 'pii');
SELECT lakehouse.lh_classify('gold.sec_customers', 'ssn', 'secret');
SELECT lakehouse.lh_classify('gold.sec_customers', 'ssn', 'pii', 'scramble');
SELECT lakehouse.lh_classify('gold.no_such', 'ssn', 'pii');
SELECT lakehouse.lh_apply_masking('gold.sec_customers');
SELECT lakehouse.lh_apply_masking('silver.sec_customers');
-- an engineer may keep secrets of its own, but not read the secrets table
-- or the audit log, or erase
SELECT lakehouse.lh_set_secret('sec_eng', 'x');
SELECT name, owner FROM lakehouse.secret_list WHERE name = 'sec_eng';
SELECT lakehouse.lh_drop_secret('sec_eng');
SELECT count(*) FROM lakehouse.secrets;
SELECT count(*) FROM lakehouse.audit_log;
SELECT * FROM lakehouse.lh_forget('email', 'ann@example.com');
RESET ROLE;

SELECT schema_name, table_name, column_name, classification, masking
  FROM lakehouse.column_masking
 WHERE table_name = 'sec_customers' ORDER BY schema_name, attnum;

-- ---------------------------------------------------------------------
-- An operator runs, but cannot define or alter
-- ---------------------------------------------------------------------
INSERT INTO sec_src.customers VALUES
    ('{"id": 4, "email": "dee@example.com", "phone": "+44 20 7946 0004", "ssn": "444-44-4444", "country": "DE"}', '2024-01-05');
SET ROLE regress_sec_op;
SELECT r->>'status' AS status, r->>'error' AS error FROM lakehouse.lh_run_pipeline('sec_p') r;
SELECT pipeline, last_status FROM lakehouse.pipeline_status WHERE pipeline = 'sec_p';
SELECT lakehouse.lh_create_pipeline('sec_op_p');
SELECT lakehouse.lh_drop_pipeline('sec_p');
UPDATE lakehouse.pipelines SET description = 'mine' WHERE name = 'sec_p';
DELETE FROM lakehouse.sources;
SELECT lakehouse.lh_set_secret('sec_pw', 'x');
SELECT count(*) FROM lakehouse.secrets;
INSERT INTO lakehouse.audit_log (current_user_name, action, object_kind) VALUES ('x', 'forged', 'x');
RESET ROLE;

-- ---------------------------------------------------------------------
-- Readers: analysts see masked data, PII readers the table
-- ---------------------------------------------------------------------
SET ROLE regress_sec_analyst;
SELECT customer_id, length(email) AS email_hash_len, email ~ '^[0-9a-f]{64}$' AS hashed,
       phone, ssn, country
  FROM lakehouse_masked.gold__sec_customers ORDER BY customer_id;
-- equal values hash equally (joins and counts still work)
SELECT count(DISTINCT email) AS distinct_hashes FROM lakehouse_masked.gold__sec_customers;
SELECT * FROM gold.sec_customers;
SELECT * FROM silver.sec_customers;
SELECT count(*) FROM lakehouse.quarantine;
SELECT count(*) > 0 AS sees_runs FROM lakehouse.recent_runs;
SELECT count(*) > 0 AS sees_pipelines FROM lakehouse.pipeline_status;
SELECT count(*) FROM lakehouse.secret_list;
SELECT lakehouse.lh_run_pipeline('sec_p');
RESET ROLE;
SET ROLE regress_sec_pii;
SELECT customer_id, email, phone, ssn FROM gold.sec_customers ORDER BY customer_id;
SELECT customer_id, email FROM silver.sec_customers ORDER BY customer_id;
RESET ROLE;
SET ROLE regress_sec_nobody;
SELECT * FROM lakehouse.pipeline_status;
SELECT lakehouse.lh_run_pipeline('sec_p');
SELECT lakehouse.lh_check_secret('sec_pw');
RESET ROLE;

-- ---------------------------------------------------------------------
-- Secrets: encrypted at rest, names only in views, references
-- ---------------------------------------------------------------------
SET ROLE regress_sec_admin;
SELECT lakehouse.lh_set_secret('sec_pw', 's3cr3t-Value;''$$');
SELECT lakehouse.lh_set_secret('sec_pw2', 's3cr3t-Value;''$$');
SELECT lakehouse.lh_check_secret('sec_pw');
SELECT name, kind, reference FROM lakehouse.secret_list ORDER BY name;
-- not even an administrator reads the table; references need pg_read_server_files
SELECT * FROM lakehouse.secrets;
SELECT lakehouse.lh_set_secret_reference('sec_env', 'env:HOME');
SELECT lakehouse.lh_set_secret_from_file('sec_file', '/etc/hostname');
SELECT lakehouse.lh_check_secret('no_such_secret');
SELECT lakehouse.lh_set_secret('', 'x');
SELECT lakehouse.lh_set_secret(repeat('n', 201), 'x');
SELECT lakehouse.lh_set_secret('sec_null', NULL);
RESET ROLE;
-- ciphertext: no plaintext, a fresh IV per write, bound to the name
SELECT name, value LIKE 'lh1:%' AS encrypted, position('s3cr3t' IN value) = 0 AS no_plaintext,
       reference
  FROM lakehouse.secrets ORDER BY name;
SELECT count(DISTINCT value) AS distinct_ciphertexts FROM lakehouse.secrets WHERE name IN ('sec_pw', 'sec_pw2');
UPDATE lakehouse.secrets SET value = (SELECT value FROM lakehouse.secrets WHERE name = 'sec_pw')
 WHERE name = 'sec_pw2';
SELECT lakehouse.lh_check_secret('sec_pw2');
UPDATE lakehouse.secrets SET value = 'plaintext' WHERE name = 'sec_pw2';
SELECT lakehouse.lh_check_secret('sec_pw2');
-- references (superuser): environment variables and files, resolved at use
SELECT lakehouse.lh_set_secret_reference('sec_env', 'env:PATH');
SELECT lakehouse.lh_check_secret('sec_env');
SELECT lakehouse.lh_set_secret_reference('sec_env_missing', 'env:LH_REGRESS_NO_SUCH_VARIABLE');
SELECT lakehouse.lh_check_secret('sec_env_missing');
SELECT lakehouse.lh_set_secret_reference('sec_bad', 'env:A-B');
SELECT lakehouse.lh_set_secret_reference('sec_bad', 'file:relative/path');
SELECT lakehouse.lh_set_secret_reference('sec_bad', 'vault:x');
COPY (SELECT 'from-a-file') TO '/tmp/lh_regress_secret.txt';
SELECT lakehouse.lh_set_secret_reference('sec_file', 'file:/tmp/lh_regress_secret.txt');
SELECT lakehouse.lh_check_secret('sec_file');
SELECT lakehouse.lh_set_secret_reference('sec_file_missing', 'file:/tmp/lh_regress_no_such_file');
SELECT lakehouse.lh_check_secret('sec_file_missing');
SELECT lakehouse.lh_set_secret_from_file('sec_from_file', '/tmp/lh_regress_secret.txt');
SELECT lakehouse.lh_check_secret('sec_from_file');
SELECT lakehouse.lh_set_secret_from_file('sec_from_file', '/tmp/lh_regress_no_such_file');
SELECT name, kind, reference FROM lakehouse.secret_list ORDER BY name;
-- the key file is only named by superusers
SET ROLE regress_sec_admin;
SHOW lakehouse.secret_key_file;
RESET ROLE;
SELECT lakehouse.lh_rotate_secret_key('/tmp/lh_regress_no_such_key');
SELECT lakehouse.lh_drop_secret('sec_pw'), lakehouse.lh_drop_secret('sec_pw');
SELECT lakehouse.lh_drop_secret(name) FROM lakehouse.secrets ORDER BY name;

-- ---------------------------------------------------------------------
-- Erasure: bronze payloads, silver, gold, quarantine, dead letters
-- ---------------------------------------------------------------------
INSERT INTO lakehouse.dead_letters (source_id, source_name, raw, reason)
SELECT source_id, name, convert_to('{"email": "bob@example.com", broken', 'UTF8'), 'invalid JSON'
  FROM lakehouse.sources WHERE name = 'sec_customers';
SELECT 'bronze' AS layer, count(*) FROM bronze.sec_customers WHERE payload->>'email' = 'bob@example.com'
UNION ALL SELECT 'silver', count(*) FROM silver.sec_customers WHERE email = 'bob@example.com'
UNION ALL SELECT 'gold', count(*) FROM gold.sec_customers WHERE email = 'bob@example.com'
UNION ALL SELECT 'quarantine', count(*) FROM lakehouse.quarantine WHERE payload->>'email' = 'bob@example.com';
SET ROLE regress_sec_admin;
SELECT * FROM lakehouse.lh_forget('email', 'bob@example.com', 'sec_p');
SELECT * FROM lakehouse.lh_forget('email', 'bob@example.com', 'no_such_pipeline');
SELECT * FROM lakehouse.lh_forget('email', NULL);
RESET ROLE;
SELECT 'bronze' AS layer, count(*) FROM bronze.sec_customers WHERE payload::text LIKE '%bob@%'
UNION ALL SELECT 'silver', count(*) FROM silver.sec_customers WHERE email = 'bob@example.com'
UNION ALL SELECT 'gold', count(*) FROM gold.sec_customers WHERE email = 'bob@example.com'
UNION ALL SELECT 'quarantine', count(*) FROM lakehouse.quarantine WHERE payload::text LIKE '%bob@%'
UNION ALL SELECT 'dead_letters', count(*) FROM lakehouse.dead_letters WHERE position('bob@' IN convert_from(raw, 'UTF8')) > 0;
-- the others stay
SELECT customer_id FROM gold.sec_customers ORDER BY 1;
-- by the mapped path (silver column customer_id is payload "id"); hostile column names are quoted
SELECT * FROM lakehouse.lh_forget('customer_id', '3', 'sec_p') WHERE rows_deleted > 0;
SELECT * FROM lakehouse.lh_forget('x"; DROP TABLE gold.sec_customers; --', '1', 'sec_p') WHERE rows_deleted > 0;
SELECT customer_id FROM gold.sec_customers ORDER BY 1;

-- ---------------------------------------------------------------------
-- Retention: only rows the silver stage has processed, only old ones
-- ---------------------------------------------------------------------
SET ROLE regress_sec_admin;
SELECT lakehouse.lh_set_retention('sec_customers', '30 days');
SELECT lakehouse.lh_set_retention('sec_customers', '-1 day');
SELECT lakehouse.lh_set_retention('no_such_source', '1 day');
RESET ROLE;
INSERT INTO sec_src.customers VALUES
    ('{"id": 5, "email": "eve@example.com", "phone": "1", "ssn": "5", "country": "ES"}', '2024-01-06');
SELECT r->>'status' AS status FROM lakehouse.lh_ingest('sec_customers') r;
UPDATE bronze.sec_customers SET _lh_ingested_at = now() - interval '90 days';
SELECT count(*) AS bronze_rows FROM bronze.sec_customers;
SET ROLE regress_sec_admin;
SELECT * FROM lakehouse.lh_apply_retention();
RESET ROLE;
-- the row silver has not read yet is still there
SELECT payload->>'email' AS kept FROM bronze.sec_customers ORDER BY _lh_id;
SELECT r->>'status' AS status FROM lakehouse.lh_run_pipeline('sec_p') r;
UPDATE bronze.sec_customers SET _lh_ingested_at = now() - interval '90 days';
SELECT * FROM lakehouse.lh_apply_retention();
SELECT count(*) AS bronze_rows FROM bronze.sec_customers;
SELECT lakehouse.lh_set_retention('sec_customers', NULL);

-- ---------------------------------------------------------------------
-- Hostile names and values: quoted or refused, never executed
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_set_secret(n, 'v') FROM (VALUES ('a''; DROP TABLE lakehouse.pipelines; --'),
       ('$$ x $$'), ('Mixed Case;'), (repeat('é', 100))) v(n);
SELECT name FROM lakehouse.secret_list ORDER BY name COLLATE "C";
SELECT lakehouse.lh_drop_secret(name) FROM lakehouse.secret_list;
CREATE TABLE gold."We;ird ""Table""" ("E-mail" text, "x$$y" int);
INSERT INTO gold."We;ird ""Table""" VALUES ('a@b.c', 1);
SELECT lakehouse.lh_classify('gold."We;ird ""Table"""', 'E-mail', 'pii', 'partial');
SELECT lakehouse.lh_classify('gold."We;ird ""Table"""', 'x$$y', 'confidential');
SELECT lakehouse.lh_apply_masking('gold."We;ird ""Table"""');
SELECT * FROM lakehouse_masked."gold__We;ird ""Table""";
CREATE TABLE gold.t_ (a text);
SELECT lakehouse.lh_classify('gold.t_', 'a', 'pii');
CREATE TABLE gold.long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (a text);
SELECT lakehouse.lh_classify('gold.long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'a', 'pii');
SELECT lakehouse.lh_apply_masking('gold.long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
SELECT lakehouse.lh_apply_masking('gold.t_; DROP TABLE gold.t_');
SELECT lakehouse.lh_set_retention('x''; DELETE FROM lakehouse.sources; --', '1 day');
SELECT count(*) AS sources_left FROM lakehouse.sources WHERE name = 'sec_customers';
-- a whole pipeline of hostile names: masking, erasure and retention quote them
CREATE TABLE sec_src."Feed; --" ("Cust ""Id""" int, "E-Mail'; DROP TABLE x; --" text, "$$Ts$$" timestamptz);
INSERT INTO sec_src."Feed; --" VALUES (1, 'a@x.io', '2024-01-01'), (2, 'b@x.io', '2024-01-02');
SELECT lakehouse.lh_create_pipeline($$P'; DROP SCHEMA gold; --$$) > 0 AS ok;
SELECT lakehouse.lh_add_source($$P'; DROP SCHEMA gold; --$$, 'Src "Q"', 'table',
       '{"table": "sec_src.\"Feed; --\"", "watermark": "$$Ts$$"}', 'bronze."Raw; ""x"""') > 0 AS ok;
SELECT lakehouse.lh_define_silver($$P'; DROP SCHEMA gold; --$$, 'silver."Cust; ""S"""', 'Src "Q"',
       '[{"name": "Cust \"Id\"", "type": "int"},
         {"name": "E-Mail''; DROP TABLE x; --", "type": "text", "classification": "pii", "masking": "partial"}]') > 0 AS ok;
SELECT s->>'status' AS status FROM lakehouse.lh_run_pipeline($$P'; DROP SCHEMA gold; --$$) s;
SELECT lakehouse.lh_apply_masking('silver."Cust; ""S"""');
SELECT "Cust ""Id""", "E-Mail'; DROP TABLE x; --" FROM lakehouse_masked."silver__Cust; ""S""" ORDER BY 1;
SELECT * FROM lakehouse.lh_forget('E-Mail''; DROP TABLE x; --', 'a@x.io', $$P'; DROP SCHEMA gold; --$$);
SELECT "Cust ""Id""" FROM silver."Cust; ""S""";
SELECT lakehouse.lh_set_retention('Src "Q"', '1 day');
UPDATE bronze."Raw; ""x""" SET _lh_ingested_at = now() - interval '2 days';
SELECT * FROM lakehouse.lh_apply_retention();
SELECT count(*) AS bronze_left FROM bronze."Raw; ""x""";
DROP VIEW lakehouse_masked."silver__Cust; ""S""";
SELECT lakehouse.lh_drop_pipeline($$P'; DROP SCHEMA gold; --$$, drop_tables => true);
SELECT to_regnamespace('gold') IS NOT NULL AS gold_still_there;

-- ---------------------------------------------------------------------
-- YAML mappings classify too; a breaking evolution and an altered
-- definition are audited
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_apply_config($$
pipeline: sec_yaml
sources:
  - {name: sec_yaml_src, kind: table, options: {table: sec_src.customer_feed, watermark: updated_at}}
silver:
  - table: silver.sec_yaml
    source: sec_yaml_src
    columns:
      - {name: id, type: text}
      - {name: email, type: text, classification: pii, masking: partial}
      - {name: ssn, type: text, classification: restricted}
$$) IS NOT NULL AS applied;
SELECT column_name, classification, masking, origin FROM lakehouse.column_classifications
 WHERE table_name = 'sec_yaml' ORDER BY column_name;
SELECT lakehouse.lh_apply_config($$
pipeline: sec_yaml
sources:
  - {name: sec_yaml_src, kind: table, options: {table: sec_src.customer_feed, watermark: updated_at}}
silver:
  - table: silver.sec_yaml
    source: sec_yaml_src
    columns:
      - {name: id, type: text}
      - {name: email, type: text, classification: secret}
$$);
SELECT lakehouse.lh_create_pipeline('sec_yaml', 'now described', replace => true) > 0 AS replaced;
SELECT (lakehouse.lh_evolve('silver.sec_yaml', 'ALTER TABLE silver.sec_yaml ALTER COLUMN id TYPE integer USING id::integer',
                            allow_breaking => true, reason => 'ids are numbers')) IS NOT NULL AS evolved;
SELECT current_user_name, action, object_kind, object_name, details
  FROM lakehouse.audit_log
 WHERE audit_id > :audit_start AND object_name LIKE '%sec_yaml%' AND action IN ('alter', 'evolve')
 ORDER BY audit_id;
SELECT lakehouse.lh_drop_pipeline('sec_yaml', drop_tables => true);
-- dropping a table forgets its classifications
SELECT count(*) AS classifications_left FROM lakehouse.column_classifications WHERE table_name = 'sec_yaml';

-- ---------------------------------------------------------------------
-- The audit log: who did what, names only
-- ---------------------------------------------------------------------
SELECT session_user_name = current_user AS session_ok, current_user_name, action, object_kind, object_name,
       details - 'value_hash' - 'run_id' AS details,
       details->>'value_hash' ~ '^[0-9a-f]{64}$' AS value_hashed
  FROM lakehouse.audit_log
 WHERE audit_id > :audit_start AND (object_name IS NULL OR object_name NOT LIKE 'gold.long%')
 ORDER BY audit_id;
SELECT count(*) AS audit_rows_with_secret_values
  FROM lakehouse.audit_log WHERE details::text LIKE '%s3cr3t%' OR details::text LIKE '%bob@%';
SET ROLE regress_sec_admin;
SELECT count(*) > 0 AS admin_reads_audit FROM lakehouse.audit_log;
DELETE FROM lakehouse.audit_log;
RESET ROLE;

-- ---------------------------------------------------------------------
-- An engineer's own pipeline (owned by the login role): readers get what
-- lh_create_roles promises on the tables it creates; an operator runs it,
-- another engineer cannot even run it
-- ---------------------------------------------------------------------
SET ROLE regress_sec_eng;
SELECT lakehouse.lh_create_pipeline('sec_own') > 0 AS created;
SELECT lakehouse.lh_add_source('sec_own', 'sec_own_src', 'table',
       '{"table": "sec_src.customer_feed", "watermark": "updated_at"}') > 0 AS added;
SELECT lakehouse.lh_define_gold('sec_own', 'gold.sec_own',
       'SELECT count(*) AS n FROM bronze.sec_own_src') > 0 AS defined;
SELECT r->>'status' AS status FROM lakehouse.lh_run_pipeline('sec_own') r;
RESET ROLE;
SELECT owner FROM lakehouse.pipeline_status WHERE pipeline = 'sec_own';
SELECT has_table_privilege('regress_sec_pii', 'bronze.sec_own_src', 'SELECT') AS pii_bronze,
       has_table_privilege('regress_sec_analyst', 'bronze.sec_own_src', 'SELECT') AS analyst_bronze,
       has_table_privilege('regress_sec_analyst', 'gold.sec_own', 'SELECT') AS analyst_gold,
       has_table_privilege('regress_sec_op', 'bronze.sec_own_src', 'SELECT') AS operator_bronze;
SET ROLE regress_sec_op;
SELECT r->>'status' AS status FROM lakehouse.lh_run_pipeline('sec_own') r;
RESET ROLE;
CREATE ROLE regress_sec_eng2 LOGIN IN ROLE lakehouse_engineer;
SET ROLE regress_sec_eng2;
SELECT lakehouse.lh_run_pipeline('sec_own');
SELECT lakehouse.lh_disable_source('sec_own_src');
RESET ROLE;
SELECT lakehouse.lh_drop_pipeline('sec_own', drop_tables => true);
DROP ROLE regress_sec_eng2;

-- ---------------------------------------------------------------------
-- Clean up
-- ---------------------------------------------------------------------
-- masked views depend on their tables: drop them first
SELECT lakehouse.lh_drop_pipeline('sec_p', drop_tables => true);
DROP SCHEMA lakehouse_masked CASCADE;
SELECT lakehouse.lh_drop_pipeline('sec_p', drop_tables => true);
DROP TABLE gold."We;ird ""Table""", gold.t_,
    gold.long_name_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa CASCADE;
DROP SCHEMA sec_src CASCADE;
DELETE FROM lakehouse.column_classifications;
DELETE FROM lakehouse.audit_log;
DELETE FROM lakehouse.dead_letters;
DROP ROLE regress_sec_admin, regress_sec_eng, regress_sec_op, regress_sec_analyst,
    regress_sec_pii, regress_sec_nobody;
DROP OWNED BY lakehouse_admin;
DROP OWNED BY lakehouse_engineer;
DROP OWNED BY lakehouse_operator;
DROP OWNED BY lakehouse_analyst;
DROP OWNED BY lakehouse_pii_reader;
DROP ROLE lakehouse_admin, lakehouse_engineer, lakehouse_operator, lakehouse_analyst,
    lakehouse_pii_reader;

/* sql/lakehouse--0.1--0.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lakehouse UPDATE TO '0.2'" to load this file. \quit

/*
 * lakehouse 0.1 -> 0.2.  Every catalog change of 0.2 is made here, so that
 * an updated database has the catalog of a fresh 0.2 install (the upgrade
 * test, test/t/018_upgrade.pl, compares the two).
 */

/* ---- ownership: a pipeline (with its sources and tables) has an owner ---- */
ALTER TABLE lakehouse.pipelines ADD COLUMN owner name;
UPDATE lakehouse.pipelines p
   SET owner = CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p.created_by)
                    THEN p.created_by
                    ELSE (SELECT r.rolname FROM pg_catalog.pg_extension e
                            JOIN pg_catalog.pg_roles r ON r.oid = e.extowner
                           WHERE e.extname = 'lakehouse') END;
ALTER TABLE lakehouse.pipelines ALTER COLUMN owner SET NOT NULL;
COMMENT ON COLUMN lakehouse.pipelines.owner IS 'The role that owns the pipeline, its sources and tables: their code runs as this role.';

/* ---- sources: kinds come from the registry; why lakehouse disabled one ---- */
ALTER TABLE lakehouse.sources ADD COLUMN disabled_reason text;
ALTER TABLE lakehouse.sources DROP CONSTRAINT sources_kind_check;
COMMENT ON COLUMN lakehouse.sources.kind IS 'The source kind (src/sources/registry.c lists them; the SQL API checks it).';
COMMENT ON COLUMN lakehouse.sources.disabled_reason IS 'Why lakehouse disabled the source itself (its worker crashed lakehouse.max_worker_crashes times in a row); NULL when a user did.';

/* ---- gold kinds come from the registry too ---- */
ALTER TABLE lakehouse.tables DROP CONSTRAINT tables_gold_kind_check;
ALTER TABLE lakehouse.tables ADD CONSTRAINT tables_gold_kind_check CHECK (
        (layer = 'gold' AND gold_kind IS NOT NULL AND sql IS NOT NULL)
        OR (layer = 'silver' AND gold_kind IS NULL));
COMMENT ON COLUMN lakehouse.tables.gold_kind IS 'How a gold table is written (src/transform/gold_kinds.c lists the kinds; the SQL API checks it).';

/* ---- secrets have owners and grants ---- */
ALTER TABLE lakehouse.secrets ADD COLUMN owner name;
UPDATE lakehouse.secrets
   SET owner = (SELECT r.rolname FROM pg_catalog.pg_extension e
                  JOIN pg_catalog.pg_roles r ON r.oid = e.extowner
                 WHERE e.extname = 'lakehouse');
ALTER TABLE lakehouse.secrets ALTER COLUMN owner SET NOT NULL;

/*
 * Who may use a secret besides its owner (lh_grant_secret): the pipelines
 * owned by the grantee and by roles with its privileges.  Not dumped, like
 * the secrets themselves.
 */
CREATE TABLE lakehouse.secret_grants (
    secret_name     text NOT NULL REFERENCES lakehouse.secrets ON DELETE CASCADE ON UPDATE CASCADE,
    grantee         name NOT NULL,
    granted_by      name NOT NULL,
    granted_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (secret_name, grantee)
);
REVOKE ALL ON TABLE lakehouse.secret_grants FROM PUBLIC;
COMMENT ON TABLE lakehouse.secret_grants IS 'Roles that may use a secret besides its owner (lh_grant_secret).';

CREATE FUNCTION lakehouse.lh_grant_secret(secret text, role text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_grant_secret'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_revoke_secret(secret text, role text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_revoke_secret'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * The sources of 0.1 used secrets that administrators set: their pipelines'
 * owners keep that use.
 */
INSERT INTO lakehouse.secret_grants (secret_name, grantee, granted_by)
SELECT DISTINCT v.secret, p.owner, s.owner
  FROM lakehouse.sources src
  JOIN lakehouse.pipelines p USING (pipeline_id)
 CROSS JOIN LATERAL (
        SELECT src.options #>> '{auth,token_secret}' UNION ALL
        SELECT src.options #>> '{auth,password_secret}' UNION ALL
        SELECT src.options #>> '{auth,secret}' UNION ALL
        SELECT src.options #>> '{auth,client_secret_secret}' UNION ALL
        SELECT e.value FROM jsonb_each_text(CASE WHEN jsonb_typeof(src.options->'secret_properties') = 'object'
                                                 THEN src.options->'secret_properties' ELSE '{}' END) e
       ) AS v(secret)
  JOIN lakehouse.secrets s ON s.name = v.secret
 WHERE v.secret IS NOT NULL AND p.owner <> s.owner
ON CONFLICT DO NOTHING;

/* ---- the declaration API ---- */
/* Give a pipeline (its sources and tables) to another role: its code runs as that role. */
CREATE FUNCTION lakehouse.lh_set_pipeline_owner(pipeline text, owner text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_pipeline_owner'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* ---- security functions now in C: they run user-table statements as the owner ---- */
CREATE OR REPLACE FUNCTION lakehouse.lh_classify(table_name text, column_name text,
                                      classification text, masking text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_classify'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE OR REPLACE FUNCTION lakehouse.lh_forget(subject_key_column text, value text,
                                    pipeline text DEFAULT NULL)
RETURNS TABLE(layer text, table_name text, rows_deleted bigint)
AS 'MODULE_PATHNAME', 'lh_forget'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE OR REPLACE FUNCTION lakehouse.lh_set_retention(source text, keep interval)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_retention'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
CREATE OR REPLACE FUNCTION lakehouse.lh_apply_retention()
RETURNS TABLE(source text, bronze_table text, rows_deleted bigint)
AS 'MODULE_PATHNAME', 'lh_apply_retention'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * lh_create_roles(): the lakehouse roles (NOLOGIN; grant them to login
 * roles) and their privileges.  Not run by CREATE EXTENSION: an
 * administrator calls it (needs CREATEROLE and ownership of the catalog,
 * in practice a superuser), and again after upgrades.  Nobody but the
 * catalog owner may write a catalog table: the roles read them, and change
 * them through the SQL API, which checks ownership.  See
 * contrib-docs/security.md for the model.
 */
CREATE OR REPLACE FUNCTION lakehouse.lh_create_roles()
RETURNS text[]
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
    created text[] := '{}';
    sch text;
    define_fns text[] := ARRAY[
        'lh_create_pipeline(text,text,text[],boolean)', 'lh_drop_pipeline(text,boolean)',
        'lh_add_dependency(text,text)',
        'lh_add_source(text,text,text,jsonb,text,boolean)', 'lh_drop_source(text)',
        'lh_define_silver(text,text,text,jsonb,text[],text,boolean,text,boolean)',
        'lh_define_gold(text,text,text,text,text[],boolean,jsonb)',
        'lh_drop_table(text,boolean)', 'lh_apply_config(text)',
        'lh_apply_quality_config(text)',
        'lh_set_pipeline_owner(text,text)',
        'lh_set_schema_policy(text,text)', 'lh_evolve(text,text,boolean,text)',
        'lh_attach_contract(text,text,text)', 'lh_detach_contract(text,boolean)',
        'lh_add_expectation(text,text,jsonb,text,numeric,text,text,boolean)',
        'lh_drop_expectation(text,text,boolean)', 'lh_set_expectations(text,jsonb)',
        'lh_add_dbt_test(text,jsonb,text,boolean)',
        'lh_schedule(text,text)', 'lh_unschedule(text)', 'lh_schedule_repair()',
        'lh_classify(text,text,text,text)', 'lh_apply_masking(text)',
        'lh_reset_source(text,text,integer)', 'lh_replay_dead_letters(text,bigint[])',
        'lh_discard_dead_letters(text,bigint[])', 'lh_set_retention(text,interval)',
        'lh_replay_quarantine(text,bigint[])', 'lh_discard_quarantine(text,bigint[])',
        'lh_set_secret(text,text)', 'lh_drop_secret(text)', 'lh_check_secret(text)',
        'lh_grant_secret(text,text)', 'lh_revoke_secret(text,text)'];
    run_fns text[] := ARRAY[
        'lh_run_pipeline(text,boolean,boolean,boolean)', 'lh_ingest(text)',
        'lh_current_run_id()', 'lh_check(text,text,bigint)', 'lh_contract_diff(text)',
        'lh_export_contract(text)',
        'lh_enable_source(text)', 'lh_disable_source(text)', 'lh_restart_source(text)',
        'lh_site_check()',
        'lh_silver_project(jsonb,bigint,text,anyelement,integer)',
        'lh_dq_sample_trans(internal,jsonb)', 'lh_dq_sample_final(internal)',
        'lh_dq_count_final(internal)', 'lh_dq_sample(jsonb)', 'lh_dq_count(jsonb)',
        'lh_scd2_merge(text,text,text[],jsonb)',
        'lh_changes(text,bigint)', 'lh_changes(anyelement,bigint)',
        'lh_change_images(integer,bigint,bigint)'];
    read_fns text[] := ARRAY['lh_worker_status()', 'lh_partition_stats()',
                             'lh_mask_hash(text)', 'lh_mask_partial(text)',
                             'lh_metrics()', 'lh_observe_workers()', 'lh_run_progress()',
                             'lh_lineage_diagram(text,text)', 'lh_schedule_state()',
                             'lh_dr_node()', 'lh_validation_result(bigint,text)'];
    admin_fns text[] := ARRAY[
        'lh_set_secret_from_file(text,text)', 'lh_set_secret_reference(text,text)',
        'lh_audit(text,text,text,jsonb)', 'lh_forget(text,text,text)',
        'lh_apply_retention()'];
    definition_tables text := 'lakehouse.pipelines, lakehouse.pipeline_deps, lakehouse.sources, '
        'lakehouse.tables, lakehouse.silver_columns, lakehouse.silver_schemas, '
        'lakehouse.silver_schema_columns, lakehouse.contracts, lakehouse.contract_columns, '
        'lakehouse.dq_config_checks, '
        'lakehouse.dq_expectations, lakehouse.column_classifications, lakehouse.retention, '
        'lakehouse.site';
    runtime_tables text := 'lakehouse.source_marks, lakehouse.stage_marks, lakehouse.runs, '
        'lakehouse.run_stages, lakehouse.quarantine, lakehouse.dead_letters, lakehouse.http_state, '
        'lakehouse.event_outbox, lakehouse.dq_results, lakehouse.contract_violations, '
        'lakehouse.silver_drift, lakehouse.schema_history, lakehouse.http_request_counts, '
        'lakehouse.change_log_horizon, lakehouse.change_marks';
    views text := 'lakehouse.pipeline_status, lakehouse.recent_runs, lakehouse.run_stage_details, '
        'lakehouse.source_status, lakehouse.http_status, lakehouse.dq_summary, '
        'lakehouse.lineage_graph, lakehouse.run_progress, lakehouse.dr_status';
    f text;
BEGIN
    -- as at the end of the install script, for objects added since
    REVOKE ALL ON ALL TABLES IN SCHEMA lakehouse FROM PUBLIC;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA lakehouse FROM PUBLIC;
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lakehouse FROM PUBLIC;
    FOREACH r IN ARRAY ARRAY['lakehouse_admin', 'lakehouse_engineer', 'lakehouse_operator',
                             'lakehouse_analyst', 'lakehouse_pii_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            created := created || r;
        END IF;
        -- start from nothing, so that what earlier versions granted and
        -- this one does not is gone (nobody but the catalog owner writes
        -- the catalog; no role needs its sequences)
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA lakehouse FROM %I', r);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA lakehouse FROM %I', r);
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lakehouse FROM %I', r);
        EXECUTE format('GRANT USAGE ON SCHEMA lakehouse TO %I', r);
    END LOOP;
    -- an engineer operates its own pipelines (as their owner), not others'
    -- (0.1 made every engineer an operator).  Memberships and schemas are
    -- looked at first: a call that finds everything in place says nothing
    -- (REVOKE and GRANT would warn or notice about each one).
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members
                WHERE roleid = 'lakehouse_operator'::regrole
                  AND member = 'lakehouse_engineer'::regrole) THEN
        REVOKE lakehouse_operator FROM lakehouse_engineer;
    END IF;
    FOREACH r IN ARRAY ARRAY['lakehouse_analyst TO lakehouse_operator',
                             'lakehouse_analyst TO lakehouse_engineer',
                             'lakehouse_engineer TO lakehouse_admin',
                             'lakehouse_operator TO lakehouse_admin',
                             'lakehouse_pii_reader TO lakehouse_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members
                        WHERE roleid = split_part(r, ' TO ', 1)::regrole
                          AND member = split_part(r, ' TO ', 2)::regrole) THEN
            EXECUTE 'GRANT ' || r;
        END IF;
    END LOOP;

    FOREACH sch IN ARRAY ARRAY['bronze', 'silver', 'gold'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = sch) THEN
            EXECUTE format('CREATE SCHEMA %I', sch);
        END IF;
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO lakehouse_engineer', sch);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO lakehouse_operator, lakehouse_pii_reader', sch);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO lakehouse_pii_reader', sch);
        -- runs write the data tables as their pipeline's owner: operators
        -- need no privilege on them (0.1 gave them every one by default)
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM lakehouse_operator', sch);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM lakehouse_operator', sch);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA %I'
                       ' REVOKE ALL ON TABLES FROM lakehouse_operator', sch);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA %I'
                       ' REVOKE ALL ON SEQUENCES FROM lakehouse_operator', sch);
        -- tables of pipelines owned by the engineer role itself; the
        -- extension grants the same on every table a pipeline creates
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA %I'
                       ' GRANT SELECT ON TABLES TO lakehouse_pii_reader', sch);
    END LOOP;
    GRANT USAGE ON SCHEMA gold TO lakehouse_analyst;
    GRANT SELECT ON ALL TABLES IN SCHEMA gold TO lakehouse_analyst;
    -- masked views (lh_apply_masking, run by a table's owner)
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'lakehouse_masked') THEN
        CREATE SCHEMA lakehouse_masked;
    END IF;
    GRANT USAGE, CREATE ON SCHEMA lakehouse_masked TO lakehouse_engineer;
    GRANT USAGE ON SCHEMA lakehouse_masked TO lakehouse_analyst, lakehouse_pii_reader;
    ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA gold
        GRANT SELECT ON TABLES TO lakehouse_analyst;

    FOREACH f IN ARRAY define_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_engineer', f);
    END LOOP;
    FOREACH f IN ARRAY run_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_operator, lakehouse_engineer', f);
    END LOOP;
    FOREACH f IN ARRAY read_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_analyst', f);
    END LOOP;
    FOREACH f IN ARRAY admin_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_admin', f);
    END LOOP;

    EXECUTE format('GRANT SELECT ON %s TO lakehouse_operator, lakehouse_engineer', definition_tables);
    EXECUTE format('GRANT SELECT ON %s TO lakehouse_operator, lakehouse_engineer', runtime_tables);
    EXECUTE format('GRANT SELECT ON %s TO lakehouse_analyst', views);
    GRANT SELECT ON lakehouse.quarantine_summary, lakehouse.schema_drift, lakehouse.column_masking
        TO lakehouse_pii_reader, lakehouse_operator, lakehouse_engineer;
    GRANT SELECT ON lakehouse.secret_list TO lakehouse_engineer;
    GRANT SELECT ON lakehouse.audit_log TO lakehouse_admin;
    PERFORM lakehouse.lh_audit('create_roles', 'role', NULL, jsonb_build_object('created', to_jsonb(created)));
    RETURN created;
END
$$;

/* ---- views ---- */
CREATE OR REPLACE VIEW lakehouse.source_status AS
WITH w AS (SELECT * FROM lakehouse.lh_worker_status()),
     ps AS (SELECT * FROM lakehouse.lh_partition_stats()),
     stored AS (
        SELECT m.source_id,
               substr(m.mark_key, 11)::integer AS "partition",
               m.mark_value::bigint AS stored_offset
          FROM lakehouse.source_marks m
          JOIN lakehouse.sources s USING (source_id)
         WHERE s.kind = 'kafka' AND m.mark_key ~ '^partition:[0-9]+$'
           AND m.mark_value ~ '^[0-9]+$'),
     parts AS (
        SELECT source_id, "partition" FROM stored
        UNION
        SELECT source_id, "partition" FROM ps)
SELECT s.name AS source,
       p.name AS pipeline,
       s.kind,
       format('%I.%I', s.bronze_schema, s.bronze_table) AS bronze_table,
       s.enabled,
       pt."partition",
       st.stored_offset,
       ps.high_watermark,
       greatest(ps.high_watermark - coalesce(st.stored_offset, 0), 0) AS lag,
       ps.last_message_at,
       round(ps.messages_per_sec::numeric, 1) AS messages_per_sec,
       (SELECT jsonb_object_agg(m.mark_key, m.mark_value) FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id) AS marks,
       (SELECT max(m.updated_at) FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id) AS last_landed_at,
       (SELECT count(*) FROM lakehouse.dead_letters d WHERE d.source_id = s.source_id) AS dead_letters,
       w.worker_pid,
       w.worker_state,
       w.last_error,
       s.disabled_reason,
       p.owner
  FROM lakehouse.sources s
  JOIN lakehouse.pipelines p USING (pipeline_id)
  LEFT JOIN parts pt ON pt.source_id = s.source_id
  LEFT JOIN stored st ON st.source_id = pt.source_id AND st."partition" = pt."partition"
  LEFT JOIN ps ON ps.source_id = pt.source_id AND ps."partition" = pt."partition"
  LEFT JOIN w ON w.source_id = s.source_id;
CREATE OR REPLACE VIEW lakehouse.secret_list WITH (security_barrier) AS
SELECT s.name,
       CASE WHEN s.value IS NOT NULL THEN 'encrypted'
            WHEN s.reference LIKE 'env:%' THEN 'env' ELSE 'file' END AS kind,
       s.reference,
       s.created_at,
       s.updated_at,
       s.owner,
       (SELECT array_agg(g.grantee ORDER BY g.grantee) FROM lakehouse.secret_grants g
         WHERE g.secret_name = s.name) AS granted_to
  FROM lakehouse.secrets s
 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                WHERE r.rolname IN ('lakehouse_admin', s.owner)
                  AND pg_catalog.pg_has_role(r.oid, 'USAGE'))
    OR EXISTS (SELECT 1 FROM lakehouse.secret_grants g JOIN pg_catalog.pg_roles r
                 ON r.rolname = g.grantee
                WHERE g.secret_name = s.name AND pg_catalog.pg_has_role(r.oid, 'USAGE'));

/* ---- the catalog guard ---- */
CREATE FUNCTION lakehouse.lh_catalog_guard()
RETURNS trigger
AS 'MODULE_PATHNAME', 'lh_catalog_guard'
LANGUAGE C;

DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_catalog.pg_class c
              WHERE c.relnamespace = 'lakehouse'::regnamespace AND c.relkind = 'r'
              ORDER BY c.relname LOOP
        EXECUTE format('CREATE TRIGGER lh_catalog_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE'
                       ' ON lakehouse.%I FOR EACH STATEMENT EXECUTE FUNCTION lakehouse.lh_catalog_guard()', t);
    END LOOP;
END
$$;

/*
 * Nothing new for PUBLIC.  Only the objects this script creates: a REVOKE
 * on objects that exist would record their current grants (to the roles of
 * lh_create_roles) as the extension's initial privileges, and pg_dump
 * would then leave those grants out.
 */
REVOKE ALL ON FUNCTION lakehouse.lh_grant_secret(text, text),
    lakehouse.lh_revoke_secret(text, text),
    lakehouse.lh_set_pipeline_owner(text, text),
    lakehouse.lh_catalog_guard() FROM PUBLIC;

/*
 * ---- messages that do not mislead (issue 19, item 5) ----
 *
 * lh_reset_source returns the offset each partition will start from (a
 * new return type: dropped and created again; lh_create_roles grants it
 * again, and nothing is for PUBLIC, below).  dq_results records the rows
 * a drop expectation sent to quarantine, and dq_summary counts those
 * expectations as dropped rather than failed.
 */
DROP FUNCTION lakehouse.lh_reset_source(text, text, integer);
/*
 * The offset each partition will start from (partition_no: the partition;
 * the IN parameter has the name "partition"), when the position could be
 * resolved with the brokers now; no rows when it is left to the worker.
 */
CREATE FUNCTION lakehouse.lh_reset_source(name text,
                                          "position" text DEFAULT 'earliest',
                                          "partition" integer DEFAULT NULL)
RETURNS TABLE(partition_no integer, next_offset bigint)
AS 'MODULE_PATHNAME', 'lh_reset_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_reset_source(text, text, integer) FROM PUBLIC;

ALTER TABLE lakehouse.dq_results ADD COLUMN rows_dropped bigint;

/*
 * Quality score per table, from its latest check: the weighted share of
 * the expectations that passed or dropped their failing rows (weights:
 * fail 3, drop 2, warn 1), the score of the check before it, and the
 * trend.  A drop expectation that the silver stage applied (rows_dropped
 * set) and that sent rows to quarantine did its job: it counts as dropped,
 * not failed, and does not lower the score; passed + failed + dropped =
 * expectations.
 */
CREATE OR REPLACE VIEW lakehouse.dq_summary AS
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

/*
 * ---- quarantine you can triage (issue 19, item 2) ----
 *
 * A quarantined row keeps every rule it breaks (violations), and its rule
 * names the kind of rule without the value, so that quarantine_summary
 * groups by table, column and rule.  Rows belong to their table's
 * registration (a foreign key) and go when their table is dropped
 * (lh_quarantine_sql_drop).  lh_replay_quarantine and lh_discard_quarantine
 * triage them.  See contrib-docs/catalog.md, "Quarantine".
 */

/*
 * Rows 0.1 kept for tables that are gone: tables unregistered or registered
 * again (their new registration quarantined the rows again), and tables no
 * pipeline declares that were dropped.
 */
DELETE FROM lakehouse.quarantine q
 WHERE (q.table_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM lakehouse.tables t WHERE t.table_id = q.table_id))
    OR (q.table_id IS NULL AND pg_catalog.to_regclass(q.target_table) IS NULL);

/*
 * Gold tables whose every write offers all their rows again (rebuild,
 * merge, scd2): 0.1 quarantined a row their contract refused once per run.
 * Keep the rows of the last run whose gold stage wrote the table.
 */
DELETE FROM lakehouse.quarantine q
 USING lakehouse.tables t
 WHERE t.table_id = q.table_id AND t.layer = 'gold'
   AND t.gold_kind IN ('rebuild', 'merge', 'scd2')
   AND q.run_id < (SELECT max(s.run_id) FROM lakehouse.run_stages s
                    WHERE s.stage = 'gold' AND s.status = 'succeeded'
                      AND s.target = pg_catalog.format('%I.%I', t.schema_name, t.table_name));

/*
 * The rule of each row, read from the reasons 0.1 wrote: a contract's rule
 * was stored already; a silver row's reason names a required field, a
 * bound or drop expectations (as JSON strings), and any other silver reason
 * with a value was a type error.  A reason that cannot be read is "legacy".
 */
ALTER TABLE lakehouse.quarantine ADD COLUMN violations jsonb;
UPDATE lakehouse.quarantine q
   SET rule = x.rule,
       violations = pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
           'column', q.column_name, 'rule', x.rule, 'value', q.value, 'reason', q.reason))
  FROM (SELECT q2.quarantine_id,
               CASE
                 WHEN q2.rule IS NOT NULL THEN 'contract:' || q2.rule
                 WHEN q2.reason ~ '^required field ".*" is (null|missing)$' THEN 'required'
                 WHEN q2.reason ~ '^value is below the minimum .* of column ".*"$' THEN 'min'
                 WHEN q2.reason ~ '^value is above the maximum .* of column ".*"$' THEN 'max'
                 WHEN q2.reason ~ ('^failed data-quality expectation ' || r.s || ' \(.*\)$')
                   THEN 'expectation:'
                        || (substring(q2.reason from '^failed data-quality expectation (' || r.s || ')')::jsonb #>> '{}')
                 WHEN q2.reason ~ ('^failed data-quality expectations ' || r.s || '(, ' || r.s || ')*$')
                   THEN 'expectation:'
                        || (substring(q2.reason from '^failed data-quality expectations (' || r.s || ')')::jsonb #>> '{}')
                 WHEN q2.reason ~ '^(required field |value is (below|above) |failed data-quality expectation)'
                   THEN 'legacy'
                 WHEN q2.bronze_table IS NOT NULL AND q2.value IS NOT NULL THEN 'type'
                 ELSE 'legacy'
               END AS rule
          FROM lakehouse.quarantine q2,
               (SELECT '"(?:[^"\\]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'::text AS s) r) x
 WHERE x.quarantine_id = q.quarantine_id;

/* a row that failed several drop expectations: one violation each */
UPDATE lakehouse.quarantine q
   SET violations = v.violations,
       reason = v.violations->0->>'reason'
  FROM (SELECT q2.quarantine_id,
               pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'column', CASE WHEN n.i = 1 THEN q2.column_name ELSE e.args->>'column' END,
                   'rule', 'expectation:' || n.name,
                   'value', CASE WHEN n.i = 1 THEN q2.value END,
                   'reason', 'failed data-quality expectation ' || pg_catalog.to_jsonb(n.name)::text
                             || coalesce(' (' || e.kind || ')', ''))
                 ORDER BY n.i) AS violations
          FROM lakehouse.quarantine q2
         CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(
                  CASE WHEN q2.rule LIKE 'expectation:%'
                        AND q2.reason LIKE 'failed data-quality expectations %'
                       THEN ('[' || substring(q2.reason from '^failed data-quality expectations (.*)$')
                             || ']')::jsonb
                       ELSE '[]' END)
                  WITH ORDINALITY AS n(name, i)
          LEFT JOIN lakehouse.dq_expectations e ON e.table_id = q2.table_id AND e.name = n.name
         WHERE q2.rule LIKE 'expectation:%'
           AND q2.reason LIKE 'failed data-quality expectations %'
         GROUP BY q2.quarantine_id) v
 WHERE v.quarantine_id = q.quarantine_id;

ALTER TABLE lakehouse.quarantine
    ALTER COLUMN rule SET NOT NULL,
    ALTER COLUMN violations SET NOT NULL,
    ADD CONSTRAINT quarantine_violations_check CHECK (jsonb_typeof(violations) = 'array'),
    ADD CONSTRAINT quarantine_table_id_fkey FOREIGN KEY (table_id)
        REFERENCES lakehouse.tables ON DELETE CASCADE;
COMMENT ON TABLE lakehouse.quarantine IS 'Bronze rows that could not be projected into silver, and rows diverted by a gold data contract, with every rule each breaks.';
COMMENT ON COLUMN lakehouse.quarantine.rule IS 'The first rule the row breaks, without the value: type, required, min, max, expectation:<name>, contract:<rule>, or legacy (a 0.1 reason that could not be read).';
COMMENT ON COLUMN lakehouse.quarantine.violations IS 'Every rule the row breaks, in order: an array of {"column", "rule", "value", "reason"} objects; column_name, value, reason and rule repeat the first.';

/*
 * One line per table, column and rule: rows counts the quarantined rows
 * that break the rule (a row breaking two rules counts on both lines);
 * reason and example_value are those of the group's first row.
 */
CREATE OR REPLACE VIEW lakehouse.quarantine_summary AS
SELECT p.name AS pipeline,
       q.target_table,
       v."column" AS column_name,
       (array_agg(v.reason ORDER BY q.quarantine_id))[1] AS reason,
       count(*) AS rows,
       min(q.quarantined_at) AS first_seen,
       max(q.quarantined_at) AS last_seen,
       (array_agg(v.value ORDER BY q.quarantine_id))[1] AS example_value,
       v.rule,
       count(DISTINCT v.value) AS distinct_values
  FROM lakehouse.quarantine q
 CROSS JOIN LATERAL jsonb_to_recordset(q.violations)
         AS v("column" text, rule text, value text, reason text)
  LEFT JOIN lakehouse.pipelines p ON p.pipeline_id = q.pipeline_id
 GROUP BY p.name, q.target_table, v."column", v.rule;

/*
 * The quarantined rows of a table dropped with DROP TABLE, DROP SCHEMA or
 * DROP OWNED go with it (src/catalog/quarantine.c).
 */
CREATE FUNCTION lakehouse.lh_quarantine_sql_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'lh_quarantine_sql_drop'
LANGUAGE C;

CREATE EVENT TRIGGER lh_quarantine_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION lakehouse.lh_quarantine_sql_drop();

/*
 * Triage of quarantined rows (src/transform/quarantine_ops.c): project a
 * silver table's quarantined rows again after a mapping fix (all, or those
 * quarantine ids), and delete a table's quarantined rows.
 */
CREATE FUNCTION lakehouse.lh_replay_quarantine(table_name text,
                                               ids bigint[] DEFAULT NULL,
                                               OUT replayed bigint,
                                               OUT still_quarantined bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lh_replay_quarantine'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_discard_quarantine(table_name text,
                                                ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_discard_quarantine'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* nothing new for PUBLIC (see the block above) */
REVOKE ALL ON FUNCTION lakehouse.lh_quarantine_sql_drop(),
    lakehouse.lh_replay_quarantine(text, bigint[]),
    lakehouse.lh_discard_quarantine(text, bigint[]) FROM PUBLIC;

/*
 * ---- issue 19: runs in flight, cancelled runs, drops that cannot surprise ----
 *
 * lakehouse.run_progress (lh_run_progress(), shared memory: runs in flight),
 * pipeline_status's run_state, current_run_id and current_stage (the view
 * is replaced once, with every 0.2 column, in the schedules section), the run
 * status "cancelled" (src/worker/progress.c), and the event trigger that
 * refuses plain drops of registered tables (src/declare/drop_guard.c).
 */
ALTER TABLE lakehouse.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE lakehouse.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'cancelled'));
COMMENT ON COLUMN lakehouse.runs.status IS 'running (only inside the run''s own transaction), succeeded, failed, skipped, or cancelled: the run''s transaction was cancelled or terminated and rolled back, and the database launcher wrote this row afterwards.';

CREATE FUNCTION lakehouse.lh_run_progress(OUT pid integer,
                                          OUT pipeline_id integer,
                                          OUT pipeline text,
                                          OUT run_id bigint,
                                          OUT stage text,
                                          OUT target text,
                                          OUT stage_no integer,
                                          OUT stages integer,
                                          OUT rows_done bigint,
                                          OUT rows_total bigint,
                                          OUT bytes_done bigint,
                                          OUT bytes_total bigint,
                                          OUT step text,
                                          OUT run_started_at timestamptz,
                                          OUT stage_started_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_run_progress'
LANGUAGE C VOLATILE;

CREATE VIEW lakehouse.run_progress AS
SELECT coalesce(p.name, g.pipeline) AS pipeline,
       g.run_id,
       g.stage,
       g.target,
       g.stage_no,
       g.stages,
       g.rows_done,
       g.rows_total,
       g.bytes_done,
       g.bytes_total,
       round(CASE WHEN g.bytes_total > 0 THEN least(100, 100 * g.bytes_done::numeric / g.bytes_total)
                  WHEN g.rows_total > 0 THEN least(100, 100 * g.rows_done::numeric / g.rows_total) END, 1)
         AS percent_done,
       g.step,
       date_trunc('second', clock_timestamp() - g.run_started_at) AS elapsed,
       date_trunc('second', clock_timestamp() - g.stage_started_at) AS stage_elapsed,
       g.run_started_at AS started_at,
       g.pid
  FROM lakehouse.lh_run_progress() g
  LEFT JOIN lakehouse.pipelines p USING (pipeline_id);
COMMENT ON VIEW lakehouse.run_progress IS 'Runs in flight in this database, from any session: stage, target, rows and bytes done, totals when known, elapsed time, backend pid.';


CREATE FUNCTION lakehouse.lh_drop_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'lh_drop_guard'
LANGUAGE C;

CREATE EVENT TRIGGER lh_drop_guard ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION lakehouse.lh_drop_guard();

REVOKE ALL ON FUNCTION lakehouse.lh_run_progress(),
    lakehouse.lh_drop_guard() FROM PUBLIC;
REVOKE ALL ON lakehouse.run_progress FROM PUBLIC;

/* ---- issue 19, pictures: lh_lineage_diagram (src/observe/diagram.c) ---- */
/*
 * The pipeline DAG and the lineage graph as a picture (src/observe/diagram.c):
 * Mermaid, Graphviz DOT or SVG; all pipelines, or one and its neighbours.
 * lh_create_roles (above) grants it to lakehouse_analyst.
 */
CREATE FUNCTION lakehouse.lh_lineage_diagram(format text DEFAULT 'mermaid',
                                             pipeline text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_lineage_diagram'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_lineage_diagram(text, text) IS 'The pipelines and their dependencies, and the lineage of their sources, bronze, silver and gold tables, as a Mermaid flowchart, a Graphviz DOT digraph or an SVG picture.';
REVOKE ALL ON FUNCTION lakehouse.lh_lineage_diagram(text, text) FROM PUBLIC;

/* ---- issue 20, site identity and restore safety (src/worker/site.c) ---- */
/*
 * Where this database runs: one row, written when the first pipeline or
 * source is declared, and here for the database being updated.  A copy (a
 * restored dump, a basebackup clone, a point-in-time recovery) finds
 * another cluster, database, timeline or node here, and its sources start
 * paused (lakehouse.after_restore).  lh_create_roles (above) grants SELECT
 * to lakehouse_operator and lakehouse_engineer, and lh_site_check to both.
 */
CREATE TABLE lakehouse.site (
    system_identifier bigint NOT NULL,
    database_oid      oid NOT NULL,
    database_name     name NOT NULL,
    timeline          integer NOT NULL,
    node              text NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    how               text NOT NULL
);
COMMENT ON TABLE lakehouse.site IS 'Where this database runs: cluster, database, timeline and node when recorded. A copy finds another one here, and its sources start paused (lakehouse.after_restore).';
COMMENT ON COLUMN lakehouse.site.system_identifier IS 'The cluster''s system identifier, as pg_control_system() shows it.';
COMMENT ON COLUMN lakehouse.site.timeline IS 'The WAL timeline when the row was recorded.';
COMMENT ON COLUMN lakehouse.site.node IS 'The host name and data directory: <hostname>:<data_directory>.';
COMMENT ON COLUMN lakehouse.site.how IS 'created | upgraded | promoted | adopted: <reason> (sources paused) | resumed: <reason> (lakehouse.after_restore = resume).';
SELECT pg_catalog.pg_extension_config_dump('lakehouse.site', '');
CREATE TRIGGER lh_catalog_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lakehouse.site FOR EACH STATEMENT EXECUTE FUNCTION lakehouse.lh_catalog_guard();

CREATE FUNCTION lakehouse.lh_site_check()
RETURNS text
AS 'MODULE_PATHNAME', 'lh_site_check'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_site_check() IS 'Checks that this database runs where lakehouse.site says; returns why it is a copy (and pauses its sources, unless lakehouse.after_restore = resume), or NULL.';

CREATE FUNCTION lakehouse.lh_site_here(OUT system_identifier bigint,
                                       OUT database_oid oid,
                                       OUT database_name name,
                                       OUT timeline integer,
                                       OUT node text)
RETURNS record
AS 'MODULE_PATHNAME', 'lh_site_here'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_site_here() IS 'Where this database runs now (cluster, database, timeline, node), as lakehouse.site records it.';

REVOKE ALL ON lakehouse.site FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_site_check(), lakehouse.lh_site_here() FROM PUBLIC;

/* the database being updated runs here */
INSERT INTO lakehouse.site (system_identifier, database_oid, database_name, timeline, node, how)
SELECT h.system_identifier, h.database_oid, h.database_name, h.timeline, h.node, 'upgraded'
  FROM lakehouse.lh_site_here() h;

/* ---- issue 20, schedules: pipeline_status.schedule_state, lh_schedule_repair (src/pipeline/schedule.c) ---- */
/*
 * Whether each scheduled pipeline's pg_cron job is in place (C:
 * src/pipeline/schedule.c): 'scheduled', 'missing: <why>' (pg_cron not
 * installed here, the job deleted, another job under its id, the job
 * another database's), 'inactive: ..' or 'differs: ..'.  A function, so
 * that no view names cron.* and pipeline_status works without pg_cron.
 */
CREATE FUNCTION lakehouse.lh_schedule_state(OUT pipeline_id integer,
                                            OUT schedule_state text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_schedule_state'
LANGUAGE C VOLATILE;

/* 0.1's view, with what 0.2 adds at its end: owner (issue 15), run_state,
 * current_run_id, current_stage (issue 19) and schedule_state */
CREATE OR REPLACE VIEW lakehouse.pipeline_status AS
SELECT p.name AS pipeline,
       p.description,
       p.schedule,
       (SELECT array_agg(u.name ORDER BY u.name)
          FROM lakehouse.pipeline_deps d
          JOIN lakehouse.pipelines u ON u.pipeline_id = d.upstream_id
         WHERE d.pipeline_id = p.pipeline_id) AS depends_on,
       (SELECT count(*) FROM lakehouse.sources s WHERE s.pipeline_id = p.pipeline_id) AS sources,
       (SELECT count(*) FROM lakehouse.tables t WHERE t.pipeline_id = p.pipeline_id AND t.layer = 'silver') AS silver_tables,
       (SELECT count(*) FROM lakehouse.tables t WHERE t.pipeline_id = p.pipeline_id AND t.layer = 'gold') AS gold_tables,
       r.run_id AS last_run_id,
       r.status AS last_status,
       r.started_at AS last_started_at,
       r.finished_at - r.started_at AS last_duration,
       r.failed_stage AS last_failed_stage,
       r.error_message AS last_error,
       (SELECT max(ok.finished_at) FROM lakehouse.runs ok
         WHERE ok.pipeline_id = p.pipeline_id AND ok.status = 'succeeded') AS last_success_at,
       p.owner,
       CASE WHEN g.run_id IS NOT NULL THEN 'running' ELSE 'idle' END AS run_state,
       g.run_id AS current_run_id,
       CASE WHEN g.target IS NOT NULL THEN g.stage || ' ' || g.target ELSE g.stage END AS current_stage,
       c.schedule_state
  FROM lakehouse.pipelines p
  LEFT JOIN LATERAL (SELECT * FROM lakehouse.runs x
                      WHERE x.pipeline_id = p.pipeline_id AND x.status <> 'skipped'
                      ORDER BY x.run_id DESC LIMIT 1) r ON true
  LEFT JOIN LATERAL (SELECT * FROM lakehouse.lh_run_progress() y
                      WHERE y.pipeline_id = p.pipeline_id
                      ORDER BY y.run_started_at DESC LIMIT 1) g ON true
  LEFT JOIN lakehouse.lh_schedule_state() c ON c.pipeline_id = p.pipeline_id;

CREATE FUNCTION lakehouse.lh_schedule_repair()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'lh_schedule_repair'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_schedule_repair() IS 'Makes the pg_cron job of every scheduled pipeline whose job is missing (pipeline_status.schedule_state), as the caller, on the recorded schedule; returns the pipelines repaired.';

/* lh_create_roles (above) grants them */
REVOKE ALL ON FUNCTION lakehouse.lh_schedule_state(),
    lakehouse.lh_schedule_repair() FROM PUBLIC;

/* ---- issue 20, observability: lakehouse.dr_status, lh_dr_node (src/observe/dr.c) ---- */
/*
 * Disaster recovery (src/observe/dr.c, contrib-docs/operations.md): this
 * node's role, timeline and replication, its WAL archive, and per pipeline
 * the last successful run, with the recovery point each implies.
 */
CREATE FUNCTION lakehouse.lh_dr_node(OUT role text,
                                     OUT timeline integer,
                                     OUT wal_receiver text,
                                     OUT receive_lsn pg_lsn,
                                     OUT replay_lsn pg_lsn,
                                     OUT last_replay_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'lh_dr_node'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_dr_node() IS 'This node''s role (primary or standby), WAL timeline, and on a standby the WAL receiver''s state, the WAL received and replayed and the commit time of the last transaction replayed.';

CREATE VIEW lakehouse.dr_status AS
WITH node AS (
    SELECT n.*,
           CASE WHEN n.role = 'standby' THEN
                CASE WHEN n.receive_lsn IS NOT NULL AND n.replay_lsn >= n.receive_lsn THEN interval '0'
                     ELSE now() - n.last_replay_at END
           END AS replay_lag,
           pg_catalog.current_setting('archive_mode') AS archive_mode,
           a.last_archived_wal,
           a.last_archived_time,
           a.failed_count,
           a.last_failed_time
      FROM lakehouse.lh_dr_node() n, pg_catalog.pg_stat_archiver a
)
SELECT n.role,
       n.timeline,
       n.wal_receiver,
       n.receive_lsn,
       n.replay_lsn,
       n.last_replay_at,
       n.replay_lag,
       n.archive_mode,
       n.last_archived_wal,
       n.last_archived_time AS last_archived_at,
       n.failed_count AS archive_failed_count,
       n.last_failed_time AS last_archive_failed_at,
       CASE WHEN n.role = 'standby' THEN n.replay_lag
            WHEN n.archive_mode <> 'off' THEN now() - n.last_archived_time
       END AS node_rpo,
       CASE WHEN n.role = 'standby' AND n.replay_lag IS NULL
            THEN 'unknown: no transaction replayed since this standby started'
            WHEN n.role = 'standby'
            THEN CASE WHEN n.replay_lag = interval '0'
                      THEN 'replay lag: all WAL received is replayed'
                      ELSE 'replay lag: WAL received but not replayed yet' END ||
                 CASE WHEN n.wal_receiver <> 'streaming'
                      THEN '; the WAL receiver is ' || n.wal_receiver || ', so what the primary wrote since is not counted'
                      ELSE '' END
            WHEN n.archive_mode = 'off'
            THEN 'unknown: archive_mode is off, there is no WAL archive to restore from'
            WHEN n.last_archived_time IS NULL
            THEN 'unknown: no WAL archived yet'
            ELSE 'age of the last archived WAL: a restore from the archive ends there' ||
                 CASE WHEN n.last_failed_time > n.last_archived_time
                      THEN '; archiving has failed since ' || n.last_failed_time
                      ELSE '' END
       END AS node_rpo_basis,
       CASE WHEN n.role = 'standby'
            THEN 'promote with SELECT pg_promote(): sources start within about a second and resume from their committed marks'
            ELSE 'failover: promote a standby with SELECT pg_promote(); restore: recovery, then lakehouse.lh_enable_source() for each source a restored copy paused'
       END AS rto_note,
       p.name AS pipeline,
       s.last_success_at,
       now() - s.last_success_at AS pipeline_rpo,
       site.how AS site_how,
       site.recorded_at AS site_recorded_at
  FROM node n
  LEFT JOIN LATERAL (SELECT t.how, t.recorded_at FROM lakehouse.site t
                      ORDER BY t.recorded_at DESC LIMIT 1) site ON true
  LEFT JOIN lakehouse.pipelines p ON true
  LEFT JOIN LATERAL (SELECT max(r.finished_at) AS last_success_at FROM lakehouse.runs r
                      WHERE r.pipeline_id = p.pipeline_id AND r.status = 'succeeded') s ON true;
COMMENT ON VIEW lakehouse.dr_status IS 'Disaster recovery: this node''s role, timeline, replication and WAL archive, and per pipeline the last successful run, with the recovery point (RPO) each implies; see contrib-docs/operations.md.';
/* lh_create_roles grants them to lakehouse_analyst */
REVOKE ALL ON lakehouse.dr_status FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_dr_node() FROM PUBLIC;

/* ---- issue 21: dq-config ---- */
/*
 * The dq.yaml quality files (src/quality/dqconfig.c): a third origin of
 * expectations, the table of what their checks have beyond it, and
 * lh_apply_quality_config[_file].  lh_create_roles (above) grants the
 * first function to engineers and the table to readers of definitions.
 */
ALTER TABLE lakehouse.dq_expectations DROP CONSTRAINT dq_expectations_origin_check;
ALTER TABLE lakehouse.dq_expectations ADD CONSTRAINT dq_expectations_origin_check
    CHECK (origin IN ('sql', 'yaml', 'quality_config'));

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
CREATE TRIGGER lh_catalog_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lakehouse.dq_config_checks FOR EACH STATEMENT EXECUTE FUNCTION lakehouse.lh_catalog_guard();
REVOKE ALL ON lakehouse.dq_config_checks FROM PUBLIC;

CREATE FUNCTION lakehouse.lh_apply_quality_config(doc text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_apply_quality_config'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_apply_quality_config(text) FROM PUBLIC;

CREATE FUNCTION lakehouse.lh_apply_quality_config_file(path text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_apply_quality_config_file'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_apply_quality_config_file(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lakehouse.lh_apply_quality_config_file(text) TO pg_read_server_files;

/*
 * Updates of a dq.yaml check (action, category, position) are audited: its
 * expectation's trigger records only its creation and removal.
 */
CREATE OR REPLACE FUNCTION lakehouse.lh_audit_describe(kind text, op text, old_row jsonb, new_row jsonb,
                                            OUT object_name text, OUT details jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb := coalesce(new_row, old_row);
BEGIN
    object_name := CASE kind
        WHEN 'table' THEN format('%I.%I', r->>'schema_name', r->>'table_name')
        WHEN 'contract' THEN format('%I.%I', r->>'schema_name', r->>'table_name')
        WHEN 'expectation' THEN (SELECT format('%I.%I', t.schema_name, t.table_name)
                                   FROM lakehouse.tables t
                                  WHERE t.table_id = (r->>'table_id')::integer)
                                || ':' || (r->>'name')
        WHEN 'schema_policy' THEN (SELECT format('%I.%I', t.schema_name, t.table_name)
                                     FROM lakehouse.tables t
                                    WHERE t.table_id = (r->>'table_id')::integer)
        WHEN 'quality_check' THEN (SELECT format('%I.%I', t.schema_name, t.table_name)
                                          || ':' || e.name
                                     FROM lakehouse.dq_expectations e
                                     JOIN lakehouse.tables t USING (table_id)
                                    WHERE e.expectation_id = (r->>'expectation_id')::integer)
        WHEN 'evolution' THEN r->>'table_name'
        WHEN 'run' THEN r->>'pipeline_name'
        WHEN 'retention' THEN (SELECT s.name FROM lakehouse.sources s
                                WHERE s.source_id = (r->>'source_id')::integer)
        WHEN 'classification' THEN format('%I.%I.%I', r->>'schema_name', r->>'table_name',
                                          r->>'column_name')
        ELSE r->>'name' END;
    details := '{}';
    IF op = 'UPDATE' THEN
        details := jsonb_build_object('changed', (
            SELECT coalesce(jsonb_agg(n.key ORDER BY n.key), '[]')
              FROM jsonb_each(new_row) n
              JOIN jsonb_each(old_row) o USING (key)
             WHERE n.value IS DISTINCT FROM o.value
               AND n.key NOT IN ('updated_at', 'snapshot_at', 'last_applied_at')));
        IF details->'changed' = '[]' THEN
            details := NULL;            -- nothing worth recording
            RETURN;
        END IF;
    END IF;
    IF kind = 'schema_policy' THEN
        details := details || jsonb_build_object('policy', r->>'policy');
    ELSIF kind = 'evolution' THEN
        details := jsonb_build_object('change_kind', r->>'change_kind',
                                      'column', r->>'column_name',
                                      'via', r->>'via', 'breaking', (r->>'breaking')::boolean);
    ELSIF kind = 'run' THEN
        details := jsonb_build_object('run_id', (r->>'run_id')::bigint,
                                      'application', r->>'application',
                                      'full_refresh', (r->>'full_refresh')::boolean);
    ELSIF kind = 'source' THEN
        details := details || jsonb_build_object('kind', r->>'kind');
    ELSIF kind = 'retention' THEN
        details := details || jsonb_build_object('keep', r->>'keep');
    ELSIF kind = 'quality_check' THEN
        details := details || jsonb_build_object('action', r->>'action',
                                                 'category', r->>'category');
    ELSIF kind = 'classification' THEN
        details := details || jsonb_build_object('classification', r->>'classification',
                                                 'masking', r->>'masking', 'origin', r->>'origin');
    END IF;
END
$$;
CREATE TRIGGER lh_audit AFTER UPDATE ON lakehouse.dq_config_checks
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('quality_check');

/* ---- issue 21: dbt-tests ---- */

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
/* the install script revokes every function from PUBLIC; lh_create_roles grants it */
REVOKE ALL ON FUNCTION lakehouse.lh_add_dbt_test(text, jsonb, text, boolean) FROM PUBLIC;

/* ---- issue 21: export-contract ---- */
/*
 * lh_export_contract (src/contract/contract_export.c): the ODCS document in
 * force for a table.  lh_attach_contract's mode defaults to NULL, which
 * keeps the mode of the contract replaced ('fail' for a new one), so that
 * attaching an exported contract again changes nothing.  lh_create_roles
 * (above) grants lh_export_contract with lh_contract_diff.
 */
CREATE OR REPLACE FUNCTION lakehouse.lh_attach_contract(table_name text,
                                                        contract text,
                                                        on_violation text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_attach_contract'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_export_contract(table_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_export_contract'
LANGUAGE C CALLED ON NULL INPUT STABLE;
REVOKE ALL ON FUNCTION lakehouse.lh_export_contract(text) FROM PUBLIC;

/* ---- issue 21: ge-parity ---- */
/*
 * Great Expectations' result shares (missing_percent,
 * unexpected_percent_total, unexpected_percent_nonmissing) and each
 * result's expectation as a GE ExpectationConfiguration, appended to
 * dq_results; lh_check returns the shares too (appended OUT columns, so it
 * is dropped and created again); lh_validation_result returns checks as GE
 * validation results.
 */
ALTER TABLE lakehouse.dq_results
    ADD COLUMN missing_percent double precision,
    ADD COLUMN unexpected_percent_total double precision,
    ADD COLUMN unexpected_percent_nonmissing double precision,
    ADD COLUMN expectation_config jsonb;

DROP FUNCTION lakehouse.lh_check(text, text, bigint);
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
                                   OUT duration interval,
                                   OUT missing_percent double precision,
                                   OUT unexpected_percent_total double precision,
                                   OUT unexpected_percent_nonmissing double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_check'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * lh_validation_result(run_id, table_name): recorded results as Great
 * Expectations validation results -- one ExpectationSuiteValidationResult
 * document (GE 1.x, to_json_dict of core/expectation_validation_result.py)
 * per check: the suite is the table's expectations, the batch the rows the
 * check read.  With run_id, every check of that run (one per table it
 * checked, in check order), filtered by table_name if given; with only
 * table_name (as dq_results.table_name spells it), the table's latest
 * check, pipeline gate or lh_check.  Each result is built from its
 * dq_results row in the shape GE gives its kind: map expectations
 * (_format_map_output) element_count, unexpected_count, unexpected_percent,
 * partial_unexpected_list and, where values can be missing, missing_count,
 * missing_percent, unexpected_percent_total, unexpected_percent_nonmissing;
 * aggregates observed_value; UnexpectedRowsExpectation "N unexpected rows"
 * and details.unexpected_rows; expect_table_columns_to_match_set the
 * table's columns and details.mismatched.
 */
CREATE FUNCTION lakehouse.lh_validation_result(run_id bigint DEFAULT NULL,
                                               table_name text DEFAULT NULL)
RETURNS TABLE(suite_name text, check_id bigint, document jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    want_run bigint := lh_validation_result.run_id;
    want_table text := lh_validation_result.table_name;
    latest bigint;
BEGIN
    IF want_run IS NULL AND want_table IS NULL THEN
        RAISE EXCEPTION 'run id and table name must not both be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass run_id => ... for the results of a run, or table_name => ... for the latest check of a table.';
    END IF;
    IF want_run IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM lakehouse.runs x WHERE x.run_id = want_run) THEN
        RAISE EXCEPTION 'run % does not exist', want_run
            USING ERRCODE = 'undefined_object',
                  HINT = 'lakehouse.recent_runs lists the runs.';
    END IF;
    IF want_run IS NULL THEN
        SELECT max(x.check_id) INTO latest FROM lakehouse.dq_results x
         WHERE x.table_name = want_table;
        IF latest IS NULL THEN
            RAISE EXCEPTION 'no data-quality check of table % is recorded', want_table
                USING ERRCODE = 'undefined_object',
                      HINT = 'Give the table as lakehouse.dq_results.table_name spells it (schema.table), or run lakehouse.lh_check first.';
        END IF;
    END IF;
    RETURN QUERY
    SELECT r.table_name, r.check_id,
           jsonb_build_object(
               'success', bool_and(r.success),
               'results', jsonb_agg(jsonb_build_object(
                   'success', r.success,
                   'expectation_config', coalesce(r.expectation_config,
                       jsonb_build_object('type', r.kind, 'kwargs', '{}'::jsonb,
                                          'meta', jsonb_build_object('lakehouse',
                                              jsonb_build_object('expectation', r.expectation,
                                                                 'kind', r.kind,
                                                                 'severity', r.severity)),
                                          'id', NULL)),
                   'result', res.result,
                   'meta', '{}'::jsonb,
                   'exception_info', jsonb_build_object('raised_exception', false,
                                                        'exception_traceback', NULL,
                                                        'exception_message', NULL))
                   ORDER BY r.result_id),
               'suite_name', r.table_name,
               'suite_parameters', '{}'::jsonb,
               'statistics', jsonb_build_object(
                   'evaluated_expectations', count(*),
                   'successful_expectations', count(*) FILTER (WHERE r.success),
                   'unsuccessful_expectations', count(*) FILTER (WHERE NOT r.success),
                   'success_percent', (100.0 * count(*) FILTER (WHERE r.success) / count(*))::float8),
               'meta', jsonb_build_object(
                   'expectation_suite_name', r.table_name,
                   'run_id', jsonb_build_object(
                       'run_name', CASE WHEN r.run_id IS NULL THEN 'lh_check'
                                        ELSE 'lakehouse run ' || r.run_id END,
                       'run_time', min(r.checked_at)),
                   'validation_time', to_char(min(r.checked_at) AT TIME ZONE 'UTC',
                                              'YYYYMMDD"T"HH24MISS.US"Z"'),
                   'active_batch_definition', jsonb_build_object(
                       'datasource_name', 'lakehouse',
                       'data_asset_name', r.table_name,
                       'batch_identifiers', jsonb_build_object('mode', max(r.mode))),
                   'lakehouse', jsonb_build_object('run_id', r.run_id, 'check_id', r.check_id,
                                                   'mode', max(r.mode))),
               'id', NULL)
      FROM lakehouse.dq_results r
      CROSS JOIN LATERAL (
          SELECT CASE
              WHEN r.kind IN ('custom_query', 'unexpected_rows_expectation') THEN
                  jsonb_build_object(
                      'observed_value', r.unexpected_count ||
                          CASE WHEN r.unexpected_count = 1 THEN ' unexpected row'
                               ELSE ' unexpected rows' END,
                      'details', jsonb_build_object('unexpected_rows',
                                                    coalesce(r.partial_unexpected_list, '[]')))
              WHEN r.kind IN ('columns_match_set', 'expect_table_columns_to_match_set') THEN
                  CASE WHEN r.unexpected_count = 0
                       THEN jsonb_build_object('observed_value', r.observed_value -> 'columns')
                       ELSE jsonb_build_object(
                           'observed_value', (SELECT coalesce(jsonb_agg(c ORDER BY c COLLATE "C"), '[]')
                                                FROM jsonb_array_elements_text(r.observed_value -> 'columns') c),
                           'details', jsonb_build_object('mismatched', jsonb_strip_nulls(jsonb_build_object(
                               'unexpected', (SELECT jsonb_agg(c ORDER BY c COLLATE "C")
                                                FROM jsonb_array_elements_text(r.observed_value -> 'unexpected') c),
                               'missing', (SELECT jsonb_agg(c ORDER BY c COLLATE "C")
                                             FROM jsonb_array_elements_text(r.observed_value -> 'missing') c)))))
                  END
              WHEN r.element_count IS NOT NULL AND r.unexpected_count IS NOT NULL THEN
                  jsonb_build_object(
                      'element_count', r.element_count,
                      'unexpected_count', r.unexpected_count,
                      'unexpected_percent', r.unexpected_percent,
                      'partial_unexpected_list', coalesce(r.partial_unexpected_list, '[]'))
                  || CASE WHEN r.missing_count IS NULL THEN '{}'::jsonb
                          ELSE jsonb_build_object(
                              'missing_count', r.missing_count,
                              'missing_percent', r.missing_percent,
                              'unexpected_percent_total', r.unexpected_percent_total,
                              'unexpected_percent_nonmissing', r.unexpected_percent_nonmissing) END
                  || CASE WHEN r.observed_value IS NULL THEN '{}'::jsonb
                          ELSE jsonb_build_object('details', r.observed_value) END
              WHEN jsonb_typeof(r.observed_value) = 'number'
                   AND r.kind IN ('column_mean_between', 'expect_column_mean_to_be_between') THEN
                  /* GE's column.mean is a float */
                  jsonb_build_object('observed_value', to_jsonb((r.observed_value #>> '{}')::float8))
              ELSE jsonb_build_object('observed_value', r.observed_value)
          END AS result) res
     WHERE (want_run IS NULL OR r.run_id = want_run)
       AND (want_table IS NULL OR r.table_name = want_table)
       AND (want_run IS NOT NULL OR r.check_id = latest)
     GROUP BY r.check_id, r.table_name, r.run_id
     ORDER BY r.check_id;
END
$$;
/* lh_create_roles grants them */
REVOKE ALL ON FUNCTION lakehouse.lh_check(text, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_validation_result(bigint, text) FROM PUBLIC;

/* ---- issue 18: ivm-capture ---- */
/*
 * Change capture (src/transform/changes.c): the change log, its horizon
 * and reader marks; capture triggers are installed on existing silver
 * tables by their next run (or definition), and their readers then build
 * fully once.  run_stages records how each gold stage refreshed.
 */
ALTER TABLE lakehouse.run_stages ADD COLUMN refresh text;
ALTER TABLE lakehouse.run_stages ADD COLUMN refresh_reason text;
COMMENT ON COLUMN lakehouse.run_stages.refresh IS 'Gold stages of kinds rebuild and merge: incremental, partial or full (contrib-docs/incremental.md); NULL otherwise and for skipped stages.';
COMMENT ON COLUMN lakehouse.run_stages.refresh_reason IS 'Why the refresh was not incremental (NULL when it was).';

/*
 * Change capture (src/transform/changes.c; contrib-docs/incremental.md).
 * Statement-level AFTER triggers with transition tables on every silver
 * table, and on every gold table another gold table reads, write signed
 * row images here in the writer's transaction: an INSERT an 'I' image of
 * the new row, a DELETE a 'D' image of the old row, an UPDATE both.  Gold
 * stages read the images past their mark (change_marks) and move the mark
 * in the transaction of their write; what every reader passed is pruned
 * (change_log_horizon says how far).
 */
CREATE TABLE lakehouse.change_log (
    change_id       bigserial PRIMARY KEY,
    table_id        integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    run_id          bigint,
    op              "char" NOT NULL,
    img             jsonb NOT NULL,
    CONSTRAINT change_log_op_check CHECK (op IN ('I', 'D'))
);
CREATE INDEX change_log_table_idx ON lakehouse.change_log (table_id, change_id);
COMMENT ON TABLE lakehouse.change_log IS 'Captured changes of silver tables and of gold tables other gold tables read: one signed row image per row inserted (I) or deleted (D); an update is both.';
COMMENT ON COLUMN lakehouse.change_log.run_id IS 'The run whose stage wrote the change; NULL for a write outside a run (lh_forget, a hand-written statement).';
COMMENT ON COLUMN lakehouse.change_log.img IS 'to_jsonb of the whole row, _lh_* columns included.';

CREATE TABLE lakehouse.change_log_horizon (
    table_id        integer PRIMARY KEY REFERENCES lakehouse.tables ON DELETE CASCADE,
    pruned_through  bigint NOT NULL,
    cause           text NOT NULL DEFAULT 'pruned',
    CONSTRAINT change_log_horizon_cause_check
        CHECK (cause IN ('pruned', 'invalidated', 'rewritten', 'unread', 'erased'))
);
COMMENT ON TABLE lakehouse.change_log_horizon IS 'How far the change log of a table was pruned (or invalidated by a TRUNCATE, by capture that was missing, by a full rewrite or a write no reader needed, none of which logs images, or by lh_forget erasing images): a reader whose mark is older refreshes fully.';
COMMENT ON COLUMN lakehouse.change_log_horizon.cause IS 'Why the horizon last moved: pruned (every reader passed), invalidated (TRUNCATE, capture installed late), rewritten (a full write of the table, not logged), unread (a write while no reader held a mark, not logged), erased (lh_forget deleted images of an erased subject).';

CREATE TABLE lakehouse.change_marks (
    reader_table_id integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    input_table_id  integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    change_id       bigint NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (reader_table_id, input_table_id)
);
CREATE INDEX change_marks_input_idx ON lakehouse.change_marks (input_table_id);
COMMENT ON TABLE lakehouse.change_marks IS 'How far each gold table (reader) has consumed the change log of each table it reads, moved in the transaction of its write.';

SELECT pg_catalog.pg_extension_config_dump('lakehouse.change_log', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.change_log_change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.change_log_horizon', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.change_marks', '');

/* The capture trigger function (INSERT, UPDATE, DELETE and TRUNCATE). */
CREATE FUNCTION lakehouse.lh_change_capture()
RETURNS trigger
AS 'MODULE_PATHNAME', 'lh_change_capture'
LANGUAGE C;

/*
 * lh_changes(table_name): the net change per key of a captured table since
 * the calling gold stage's mark (or since since_change_id, outside a
 * stage); lh_changes(NULL::silver.t) gives the rows typed.
 */
CREATE FUNCTION lakehouse.lh_changes(table_name text,
                                     since_change_id bigint DEFAULT NULL,
                                     OUT _lh_op text,
                                     OUT _lh_change_id bigint,
                                     OUT _lh_run_id bigint,
                                     OUT "row" jsonb,
                                     OUT old_row jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_changes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_changes(row_type anyelement,
                                     since_change_id bigint DEFAULT NULL,
                                     OUT _lh_op text,
                                     OUT _lh_change_id bigint,
                                     OUT _lh_run_id bigint,
                                     OUT new anyelement,
                                     OUT old anyelement)
RETURNS SETOF record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT c._lh_op, c._lh_change_id, c._lh_run_id,
       CASE WHEN c."row" IS NOT NULL THEN jsonb_populate_record(row_type, c."row") END,
       CASE WHEN c.old_row IS NOT NULL THEN jsonb_populate_record(row_type, c.old_row) END
  FROM lakehouse.lh_changes(pg_typeof(row_type)::text, since_change_id) c
$$;

/*
 * The images of a captured table in (lo, hi], for the SQL of
 * changes_delta_sql: the caller must be able to read the table.
 */
CREATE FUNCTION lakehouse.lh_change_images(table_id integer, lo bigint, hi bigint,
                                           OUT change_id bigint,
                                           OUT op "char",
                                           OUT img jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_change_images'
LANGUAGE C STRICT VOLATILE;

CREATE TRIGGER lh_catalog_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lakehouse.change_log FOR EACH STATEMENT EXECUTE FUNCTION lakehouse.lh_catalog_guard();
CREATE TRIGGER lh_catalog_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lakehouse.change_log_horizon FOR EACH STATEMENT EXECUTE FUNCTION lakehouse.lh_catalog_guard();
CREATE TRIGGER lh_catalog_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON lakehouse.change_marks FOR EACH STATEMENT EXECUTE FUNCTION lakehouse.lh_catalog_guard();
/* lh_create_roles grants them */
REVOKE ALL ON lakehouse.change_log, lakehouse.change_log_horizon, lakehouse.change_marks FROM PUBLIC;
REVOKE ALL ON SEQUENCE lakehouse.change_log_change_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_change_capture() FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_changes(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_changes(anyelement, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_change_images(integer, bigint, bigint) FROM PUBLIC;

/* ---- issue 18: ivm-engine ---- */

/*
 * The hidden per-group state of incremental aggregate gold tables
 * (src/transform/incremental_apply.c): lakehouse_ivm.t<table_id>, created
 * by the extension, owned by the gold table's owner, dropped with the gold
 * table.  Nobody else creates anything here.
 */
CREATE SCHEMA lakehouse_ivm;
COMMENT ON SCHEMA lakehouse_ivm IS 'Per-group state of incremental gold aggregates (one table per gold table, t<table_id>); maintained by lakehouse.';
REVOKE ALL ON SCHEMA lakehouse_ivm FROM PUBLIC;
GRANT USAGE ON SCHEMA lakehouse_ivm TO PUBLIC;

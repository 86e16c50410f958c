/*
 * src/security/security.sql
 *	  Security: secrets, audit, classification, masking, erasure, retention, roles.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/*
 * Secrets that sources reference by name (Kafka secret_properties, HTTP
 * auth).  value is AES-256-GCM ciphertext (src/security/secrets.c), or
 * reference is "env:NAME" / "file:/path", resolved when a source needs it.
 * Nobody but the extension's owner can read the table; it is not dumped by
 * pg_dump (see contrib-docs/security.md for backing secrets up).
 */
CREATE TABLE lakehouse.secrets (
    name            text PRIMARY KEY,
    value           text,
    reference       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    owner           name NOT NULL,
    CONSTRAINT secrets_name_check CHECK (name <> '' AND length(name) <= 200),
    CONSTRAINT secrets_value_check CHECK ((value IS NULL) <> (reference IS NULL))
);
REVOKE ALL ON TABLE lakehouse.secrets FROM PUBLIC;
COMMENT ON TABLE lakehouse.secrets IS 'Credentials referenced by name from source options: encrypted values or env:/file: references; readable only by the extension owner.';

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

/* Secrets (src/security/secrets.c): a secret belongs to the role that set it. */
CREATE FUNCTION lakehouse.lh_set_secret(name text, value text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_secret'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_set_secret(text, text) FROM PUBLIC;

CREATE FUNCTION lakehouse.lh_drop_secret(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_drop_secret'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_drop_secret(text) FROM PUBLIC;

/* ==== security (src/security/) ==== */

/*
 * Audit log: definition changes (row triggers on the definition tables,
 * below), manual runs, breaking evolutions, secrets, erasures, retention.
 * Names and counts only: never secret values or personal data.  Only the
 * extension owner writes it; lakehouse_admin reads it.
 */
CREATE TABLE lakehouse.audit_log (
    audit_id          bigserial PRIMARY KEY,
    logged_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    session_user_name name NOT NULL DEFAULT session_user,
    current_user_name name NOT NULL,
    action            text NOT NULL,
    object_kind       text NOT NULL,
    object_name       text,
    details           jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_object_idx ON lakehouse.audit_log (object_kind, object_name, audit_id);
REVOKE ALL ON TABLE lakehouse.audit_log FROM PUBLIC;
/*
 * Not registered with pg_extension_config_dump: restoring the definition
 * tables fires the audit triggers, whose rows would collide with dumped
 * audit ids.  A restore therefore starts a new log (recording the restored
 * definitions); contrib-docs/security.md says how to keep the old one.
 */
COMMENT ON TABLE lakehouse.audit_log IS 'Who changed which definition, ran a pipeline by hand, forced a breaking evolution, set a secret or erased a subject, and when (names only).';

/* Classifications of columns declared in silver mappings or with lh_classify. */
CREATE TABLE lakehouse.column_classifications (
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    column_name     text NOT NULL,
    classification  text NOT NULL,
    masking         text,
    origin          text NOT NULL DEFAULT 'sql',
    PRIMARY KEY (schema_name, table_name, column_name),
    CONSTRAINT column_classifications_class_check CHECK (classification IN
        ('pii', 'sensitive', 'confidential', 'restricted', 'internal', 'public')),
    CONSTRAINT column_classifications_masking_check CHECK (masking IN ('hash', 'partial', 'full', 'none')),
    CONSTRAINT column_classifications_origin_check CHECK (origin IN ('sql', 'mapping'))
);
REVOKE ALL ON TABLE lakehouse.column_classifications FROM PUBLIC;
COMMENT ON TABLE lakehouse.column_classifications IS 'Column classifications from silver mappings and lh_classify; contracts carry theirs in contract_columns.';

/*
 * Classifications of a dropped table go with it (a new table of the same
 * name starts unclassified).  SECURITY DEFINER: whoever drops a table may
 * not write the catalog.
 */
CREATE FUNCTION lakehouse.lh_classification_sql_drop()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM lakehouse.column_classifications c
     USING pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.object_type = 'table' AND o.original
       AND c.schema_name = o.schema_name AND c.table_name = o.object_name;
END
$$;

CREATE EVENT TRIGGER lh_classification_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION lakehouse.lh_classification_sql_drop();

/* Bronze retention per source (lh_set_retention, lh_apply_retention). */
CREATE TABLE lakehouse.retention (
    source_id       integer PRIMARY KEY REFERENCES lakehouse.sources ON DELETE CASCADE,
    keep            interval NOT NULL,
    last_applied_at timestamptz,
    CONSTRAINT retention_keep_check CHECK (keep > interval '0')
);
REVOKE ALL ON TABLE lakehouse.retention FROM PUBLIC;
COMMENT ON TABLE lakehouse.retention IS 'How long each source keeps bronze rows that its silver tables have processed.';

/* Salt of the masking hash: created once per database, readable by the owner only. */
CREATE TABLE lakehouse.masking_salt (
    salt            bytea NOT NULL DEFAULT gen_random_uuid()::text::bytea || gen_random_uuid()::text::bytea,
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);
INSERT INTO lakehouse.masking_salt DEFAULT VALUES;
REVOKE ALL ON TABLE lakehouse.masking_salt FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('lakehouse.column_classifications', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.retention', '');

CREATE FUNCTION lakehouse.lh_set_secret_from_file(name text, path text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_secret_from_file'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_set_secret_reference(name text, reference text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_secret_reference'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_rotate_secret_key(old_key_file text)
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_rotate_secret_key'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_check_secret(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_check_secret'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_audit(action text, object_kind text,
                                   object_name text DEFAULT NULL,
                                   details jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'lh_audit'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * Secrets without their values: all of them for administrators, one's own
 * and those granted to one's roles for everybody else.
 */
CREATE VIEW lakehouse.secret_list WITH (security_barrier) AS
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

/*
 * Audit triggers (C, src/security/audit.c): the trigger records the real
 * current_user and writes as the extension owner; lh_audit_describe (run
 * as the owner) turns the row into the object's name and the list of
 * changed columns, never values.
 */
CREATE FUNCTION lakehouse.lh_audit_describe(kind text, op text, old_row jsonb, new_row jsonb,
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
REVOKE ALL ON FUNCTION lakehouse.lh_audit_describe(text, text, jsonb, jsonb) FROM PUBLIC;

CREATE FUNCTION lakehouse.lh_audit_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'lh_audit_trigger'
LANGUAGE C;

CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.pipelines
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('pipeline');
CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.sources
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('source');
CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.tables
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('table');
CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.contracts
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('contract');
CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.dq_expectations
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('expectation');
CREATE TRIGGER lh_audit AFTER UPDATE OF policy ON lakehouse.silver_schemas
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('schema_policy');
CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.retention
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('retention');
/*
 * A dq.yaml check (src/quality/quality.sql): its expectation's trigger
 * records its creation and removal; this one what only the check itself
 * holds (action, category, position), which a re-applied file may change.
 */
CREATE TRIGGER lh_audit AFTER UPDATE ON lakehouse.dq_config_checks
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('quality_check');
CREATE TRIGGER lh_audit AFTER INSERT OR UPDATE OR DELETE ON lakehouse.column_classifications
    FOR EACH ROW EXECUTE FUNCTION lakehouse.lh_audit_trigger('classification');
/* breaking evolutions forced with allow_breaking */
CREATE TRIGGER lh_audit AFTER INSERT ON lakehouse.schema_history
    FOR EACH ROW WHEN (NEW.allow_breaking AND NEW.breaking)
    EXECUTE FUNCTION lakehouse.lh_audit_trigger('evolution');
/* one record per top-level run, not per stage or row (restored history: none) */
CREATE TRIGGER lh_audit AFTER INSERT ON lakehouse.runs
    FOR EACH ROW WHEN (NEW.parent_run_id IS NULL AND NEW.status = 'running')
    EXECUTE FUNCTION lakehouse.lh_audit_trigger('run');

/*
 * Masking.  lh_mask_hash is a salted SHA-256 (hex; the salt is per
 * database and readable only by the owner, so equal values still join but
 * cannot be looked up in a dictionary); lh_mask_partial keeps the last four
 * characters.  Full redaction is a NULL of the column's type.
 */
CREATE FUNCTION lakehouse.lh_mask_hash(value text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT encode(sha256((SELECT salt FROM lakehouse.masking_salt) || convert_to(value, 'UTF8')), 'hex')
$$;

CREATE FUNCTION lakehouse.lh_mask_partial(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT repeat('*', greatest(length(value) - 4, 0)) || right(value, 4)
$$;

/* Classify a column of any table one owns (silver mappings can also say it). */
CREATE FUNCTION lakehouse.lh_classify(table_name text, column_name text,
                                      classification text, masking text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_classify'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * Each column of a table with the masking its readers without unmask
 * rights get: 'none' for unclassified, public and internal columns;
 * otherwise the declared masking, by default hash for pii and full for the
 * rest.  A contract's classification counts as well as a mapping's or
 * lh_classify's (those win when both exist).
 */
CREATE VIEW lakehouse.column_masking AS
SELECT n.nspname::text AS schema_name,
       c.relname::text AS table_name,
       a.attname::text AS column_name,
       a.attnum,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS column_type,
       coalesce(k.classification, lower(cc.classification)) AS classification,
       CASE WHEN coalesce(k.classification, lower(cc.classification)) IS NULL
              OR coalesce(k.classification, lower(cc.classification)) IN ('public', 'internal')
            THEN 'none'
            WHEN k.masking IS NOT NULL THEN k.masking
            WHEN coalesce(k.classification, lower(cc.classification)) = 'pii' THEN 'hash'
            ELSE 'full' END AS masking
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN lakehouse.column_classifications k
         ON k.schema_name = n.nspname AND k.table_name = c.relname AND k.column_name = a.attname
  LEFT JOIN lakehouse.contract_columns cc
         ON cc.schema_name = n.nspname AND cc.table_name = c.relname AND cc.column_name = a.attname
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND (EXISTS (SELECT 1 FROM lakehouse.column_classifications x
                 WHERE x.schema_name = n.nspname AND x.table_name = c.relname)
        OR EXISTS (SELECT 1 FROM lakehouse.contract_columns x
                    WHERE x.schema_name = n.nspname AND x.table_name = c.relname
                      AND x.classification IS NOT NULL));

/*
 * lh_apply_masking(table): (re)create lakehouse_masked.<schema>__<table>,
 * a view with every classified column masked, grant it to
 * lakehouse_analyst and take the table itself away from lakehouse_analyst
 * (lakehouse_pii_reader keeps reading the table).  Run it again after
 * changing classifications or the table's columns.
 */
CREATE FUNCTION lakehouse.lh_apply_masking(table_name text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    nsp text;
    rname text;
    vname text;
    cols text;
BEGIN
    IF table_name IS NULL THEN
        RAISE EXCEPTION 'table name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    rel := pg_catalog.to_regclass(table_name);
    IF rel IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', table_name USING ERRCODE = 'undefined_table';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rname
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel;
    vname := nsp || '__' || rname;
    IF octet_length(vname) >= 64 THEN
        RAISE EXCEPTION 'masked view name for % is too long', table_name
              USING ERRCODE = 'name_too_long',
                    DETAIL = format('The view would be named lakehouse_masked.%I, over 63 bytes.', vname);
    END IF;
    SELECT string_agg(CASE m.masking
                          WHEN 'none' THEN format('%I', m.column_name)
                          WHEN 'hash' THEN format('lakehouse.lh_mask_hash(%I::text) AS %I', m.column_name, m.column_name)
                          WHEN 'partial' THEN format('lakehouse.lh_mask_partial(%I::text) AS %I', m.column_name, m.column_name)
                          ELSE format('NULL::%s AS %I', m.column_type, m.column_name) END,
                      ', ' ORDER BY m.attnum)
      INTO cols
      FROM lakehouse.column_masking m
     WHERE m.schema_name = nsp AND m.table_name = rname;
    IF cols IS NULL THEN
        RAISE EXCEPTION 'table % has no classified columns', table_name
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Classify columns in its contract, its silver mapping or with lakehouse.lh_classify.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'lakehouse_masked') THEN
        EXECUTE 'CREATE SCHEMA lakehouse_masked';
    END IF;
    EXECUTE format('DROP VIEW IF EXISTS lakehouse_masked.%I', vname);
    EXECUTE format('CREATE VIEW lakehouse_masked.%I WITH (security_barrier) AS SELECT %s FROM %I.%I',
                   vname, cols, nsp, rname);
    -- schema usage comes from lh_create_roles; here only the two relations
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'lakehouse_analyst') THEN
        EXECUTE format('GRANT SELECT ON lakehouse_masked.%I TO lakehouse_analyst', vname);
        EXECUTE format('REVOKE ALL ON %I.%I FROM lakehouse_analyst', nsp, rname);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'lakehouse_pii_reader') THEN
        EXECUTE format('GRANT SELECT ON lakehouse_masked.%I TO lakehouse_pii_reader', vname);
        EXECUTE format('GRANT SELECT ON %I.%I TO lakehouse_pii_reader', nsp, rname);
    END IF;
    RETURN format('lakehouse_masked.%I', vname);
END
$$;

/*
 * lh_forget(subject_key_column, value, pipeline): GDPR/CCPA erasure.
 * Deletes the subject's rows from every bronze (payload key at top level
 * or at the path a silver column of that name maps), silver and gold table
 * of the pipeline (all pipelines when NULL) that has the column, and from
 * quarantine and dead letters; one set-based DELETE per table, each as
 * its pipeline's owner (src/security/erase.c).  The audit record keeps a
 * salted hash of the value, never the value.  Returns the count per table.
 */
CREATE FUNCTION lakehouse.lh_forget(subject_key_column text, value text,
                                    pipeline text DEFAULT NULL)
RETURNS TABLE(layer text, table_name text, rows_deleted bigint)
AS 'MODULE_PATHNAME', 'lh_forget'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* Bronze retention: keep bronze rows of a source for this long (NULL: forever). */
CREATE FUNCTION lakehouse.lh_set_retention(source text, keep interval)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_retention'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * lh_apply_retention(): for each source with a retention, delete bronze
 * rows ingested before now() - keep that every silver table reading the
 * source has already processed (_lh_id at or below its bronze_id mark; a
 * silver table that never ran keeps everything).  One DELETE per source;
 * meant for pg_cron.
 */
CREATE FUNCTION lakehouse.lh_apply_retention()
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
CREATE FUNCTION lakehouse.lh_create_roles()
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

/*
 * Only the catalog owner (the extension's functions, through catalog_exec)
 * and superusers write the catalog: a statement trigger on every catalog
 * table refuses everybody else, whatever was granted (src/catalog/catalog.c).
 * Keep this after the last CREATE TABLE.
 */
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
 * Nothing in schema lakehouse is for PUBLIC: no table or view grants
 * (PostgreSQL gives none by default), and no EXECUTE on any function.
 * lh_create_roles grants what each role needs.  Keep this block last.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA lakehouse FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lakehouse FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lakehouse FROM PUBLIC;

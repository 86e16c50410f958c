/*
 * src/evolution/evolution.sql
 *	  Schema evolution of silver tables.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/* ==== schema evolution of silver tables (src/evolution/evolution.c) ==== */

/*
 * Each registered silver table has a schema-evolution policy and a snapshot
 * of its columns (taken by lh_define_silver, updated after each allowed
 * change).  An event trigger compares a silver table with its snapshot
 * after every ALTER TABLE and refuses what the policy does not allow;
 * lh_evolve is the explicit migration.  See contrib-docs/evolution.md.
 */
CREATE TABLE lakehouse.silver_schemas (
    table_id        integer PRIMARY KEY REFERENCES lakehouse.tables ON DELETE CASCADE,
    policy          text NOT NULL DEFAULT 'additive',
    snapshot_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT silver_schemas_policy_check CHECK (policy IN ('strict', 'additive', 'permissive'))
);
COMMENT ON TABLE lakehouse.silver_schemas IS 'Schema-evolution policy of each silver table (strict, additive, permissive).';

CREATE TABLE lakehouse.silver_schema_columns (
    table_id        integer NOT NULL REFERENCES lakehouse.silver_schemas ON DELETE CASCADE,
    attnum          smallint NOT NULL,
    column_name     text NOT NULL,
    type_oid        oid NOT NULL,
    typmod          integer NOT NULL,
    type_name       text NOT NULL,
    not_null        boolean NOT NULL,
    default_expr    text,
    pk_position     smallint,
    PRIMARY KEY (table_id, column_name)
);
COMMENT ON TABLE lakehouse.silver_schema_columns IS 'The registered schema of each silver table: what its schema-evolution policy compares DDL against.';

CREATE TABLE lakehouse.schema_history (
    change_id       bigserial PRIMARY KEY,
    table_id        integer REFERENCES lakehouse.tables ON DELETE SET NULL,
    table_name      text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    changed_by      name NOT NULL,
    session_user_name name NOT NULL DEFAULT session_user,
    via             text NOT NULL,
    policy          text NOT NULL,
    change_kind     text NOT NULL,
    column_name     text,
    old_definition  text,
    new_definition  text,
    breaking        boolean NOT NULL,
    allow_breaking  boolean NOT NULL DEFAULT false,
    reason          text,
    statement       text,
    CONSTRAINT schema_history_via_check CHECK (via IN ('ddl', 'lh_evolve', 'config', 'policy')),
    CONSTRAINT schema_history_kind_check CHECK (change_kind IN (
        'add_column', 'drop_column', 'rename_column', 'widen_type', 'change_type',
        'drop_not_null', 'set_not_null', 'change_primary_key', 'set_policy'))
);
CREATE INDEX schema_history_table_idx ON lakehouse.schema_history (table_id, change_id);
COMMENT ON TABLE lakehouse.schema_history IS 'Audit trail of schema changes to silver tables: who, when, how, what changed, under which policy, and why.';

CREATE TABLE lakehouse.silver_drift (
    table_id        integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    field_path      text NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    seen_count      bigint NOT NULL,
    example_value   text,
    PRIMARY KEY (table_id, field_path)
);
COMMENT ON TABLE lakehouse.silver_drift IS 'Bronze payload fields a silver stage saw but no column maps (see the schema_drift view).';

SELECT pg_catalog.pg_extension_config_dump('lakehouse.silver_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.silver_schema_columns', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.schema_history', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.schema_history_change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.silver_drift', '');

CREATE FUNCTION lakehouse.lh_set_schema_policy(table_name text, policy text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_schema_policy'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_evolve(table_name text,
                                    ddl text,
                                    allow_breaking boolean DEFAULT false,
                                    reason text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_evolve'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_silver_schema_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'lh_silver_schema_guard'
LANGUAGE C;

CREATE EVENT TRIGGER lh_silver_schema_guard ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION lakehouse.lh_silver_schema_guard();

/*
 * Fields seen in bronze payloads that no silver column maps.  A path that
 * a mapping covers later (the field itself, or an object or array above it)
 * disappears from the view.
 */
CREATE VIEW lakehouse.schema_drift AS
SELECT p.name AS pipeline,
       format('%I.%I', t.schema_name, t.table_name) AS silver_table,
       d.field_path,
       d.first_seen,
       d.last_seen,
       d.seen_count,
       d.example_value
  FROM lakehouse.silver_drift d
  JOIN lakehouse.tables t USING (table_id)
  JOIN lakehouse.pipelines p USING (pipeline_id)
 WHERE NOT EXISTS (
        SELECT 1
          FROM lakehouse.silver_columns c,
               LATERAL (SELECT regexp_replace(string_agg(
                                   CASE WHEN e ~ '^[0-9]+$' THEN '[]' ELSE '.' || e END,
                                   '' ORDER BY o), '^\.', '') AS path
                          FROM unnest(c.json_path) WITH ORDINALITY AS u(e, o)) m
         WHERE c.table_id = d.table_id
           AND (d.field_path = m.path
                OR starts_with(d.field_path, m.path || '.')
                OR starts_with(d.field_path, m.path || '[]')));

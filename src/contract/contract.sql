/*
 * src/contract/contract.sql
 *	  Gold data contracts (ODCS v3.1).
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/* ==== gold data contracts (src/contract/contract*.c) ==== */

/*
 * One ODCS v3.1 data contract per table: the document as given, the rules
 * compiled from it, and what to do with a row that breaks them.  Rows of
 * lakehouse.quarantine diverted by a contract have bronze_table NULL, the
 * rule in "rule" and the row as jsonb in "payload".
 */
CREATE TABLE lakehouse.contracts (
    schema_name      text NOT NULL,
    table_name       text NOT NULL,
    contract_id      text NOT NULL,
    contract_name    text NOT NULL,
    contract_version text NOT NULL,
    document         jsonb NOT NULL,
    compiled         jsonb NOT NULL,
    on_violation     text NOT NULL DEFAULT 'fail',
    attached_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name),
    CONSTRAINT contracts_on_violation_check CHECK (on_violation IN ('fail', 'quarantine'))
);
COMMENT ON TABLE lakehouse.contracts IS 'Data contracts (ODCS v3.1) attached to gold tables: document, compiled rules, violation mode.';

CREATE TABLE lakehouse.contract_columns (
    schema_name          text NOT NULL,
    table_name           text NOT NULL,
    ordinal              integer NOT NULL,
    column_name          text NOT NULL,
    logical_type         text,
    required             boolean NOT NULL,
    primary_key_position integer,
    classification       text,
    PRIMARY KEY (schema_name, table_name, column_name),
    FOREIGN KEY (schema_name, table_name) REFERENCES lakehouse.contracts ON DELETE CASCADE
);
COMMENT ON TABLE lakehouse.contract_columns IS 'The columns a data contract describes, with their classification.';

CREATE TABLE lakehouse.contract_violations (
    violation_id    bigserial PRIMARY KEY,
    run_id          bigint NOT NULL,
    table_id        integer,
    target_table    text NOT NULL,
    contract_name   text,
    rule            text NOT NULL,
    column_name     text,
    violations      bigint NOT NULL,
    sample          text,
    action          text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contract_violations_action_check CHECK (action IN ('failed', 'quarantined'))
);
CREATE INDEX contract_violations_run_idx ON lakehouse.contract_violations (run_id);
COMMENT ON TABLE lakehouse.contract_violations IS 'Data contract violations of each pipeline run, per table, rule and column.';

SELECT pg_catalog.pg_extension_config_dump('lakehouse.contracts', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.contract_columns', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.contract_violations', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.contract_violations_violation_id_seq', '');

/*
 * on_violation NULL keeps the mode of the contract replaced ('fail' for a
 * new one), so that attaching an exported contract again changes nothing.
 */
CREATE FUNCTION lakehouse.lh_attach_contract(table_name text,
                                             contract text,
                                             on_violation text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_attach_contract'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_detach_contract(table_name text,
                                             missing_ok boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_detach_contract'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_contract_diff(table_name text)
RETURNS TABLE(column_name text, issue text, contract text, actual text)
AS 'MODULE_PATHNAME', 'lh_contract_diff'
LANGUAGE C CALLED ON NULL INPUT STABLE;

/*
 * The ODCS document in force: the attached one with the classifications
 * recorded since.  lh_create_roles grants it with lh_contract_diff.
 */
CREATE FUNCTION lakehouse.lh_export_contract(table_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_export_contract'
LANGUAGE C CALLED ON NULL INPUT STABLE;
REVOKE ALL ON FUNCTION lakehouse.lh_export_contract(text) FROM PUBLIC;

CREATE FUNCTION lakehouse.lh_contract_row_check()
RETURNS trigger
AS 'MODULE_PATHNAME', 'lh_contract_row_check'
LANGUAGE C;

CREATE FUNCTION lakehouse.lh_contract_statement_end()
RETURNS trigger
AS 'MODULE_PATHNAME', 'lh_contract_statement_end'
LANGUAGE C;

CREATE FUNCTION lakehouse.lh_contract_ddl_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'lh_contract_ddl_guard'
LANGUAGE C;

CREATE FUNCTION lakehouse.lh_contract_sql_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'lh_contract_sql_drop'
LANGUAGE C;

CREATE EVENT TRIGGER lh_contract_ddl_guard ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION lakehouse.lh_contract_ddl_guard();

CREATE EVENT TRIGGER lh_contract_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION lakehouse.lh_contract_sql_drop();

/*
 * src/declare/declare.sql
 *	  Declaring pipelines in SQL and YAML.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/*
 * Declaring pipelines (src/declare/declare.c).  The "replace" flags give
 * CREATE OR REPLACE semantics; lh_apply_config uses them so that applying
 * the same YAML document twice changes nothing.
 */

CREATE FUNCTION lakehouse.lh_create_pipeline(name text,
                                             description text DEFAULT NULL,
                                             depends_on text[] DEFAULT '{}',
                                             replace boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_create_pipeline'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_drop_pipeline(name text,
                                           drop_tables boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_drop_pipeline'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_add_dependency(pipeline text, upstream text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_add_dependency'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_add_source(pipeline text,
                                        name text,
                                        kind text,
                                        options jsonb DEFAULT '{}',
                                        bronze_table text DEFAULT NULL,
                                        replace boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_add_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_drop_source(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_drop_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_define_silver(pipeline text,
                                           table_name text,
                                           source text,
                                           columns jsonb,
                                           keys text[] DEFAULT NULL,
                                           order_by text DEFAULT NULL,
                                           replace boolean DEFAULT false,
                                           schema_policy text DEFAULT NULL,
                                           allow_breaking boolean DEFAULT false)
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_define_silver'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_define_gold(pipeline text,
                                         table_name text,
                                         sql text,
                                         kind text DEFAULT 'rebuild',
                                         keys text[] DEFAULT NULL,
                                         replace boolean DEFAULT false,
                                         options jsonb DEFAULT '{}')
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_define_gold'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_drop_table(table_name text,
                                        drop_data boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_drop_table'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_apply_config(config text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_apply_config'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION lakehouse.lh_apply_config_file(path text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_apply_config_file'
LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION lakehouse.lh_apply_config_file(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lakehouse.lh_apply_config_file(text) TO pg_read_server_files;

/* Give a pipeline (its sources and tables) to another role: its code runs as that role. */
CREATE FUNCTION lakehouse.lh_set_pipeline_owner(pipeline text, owner text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_set_pipeline_owner'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/*
 * Registered silver and gold tables are dropped with lh_drop_table (or
 * lh_drop_pipeline(..., drop_tables => true)); a plain DROP TABLE, DROP
 * SCHEMA ... CASCADE or DROP OWNED that would drop one is refused, unless
 * a superuser sets lakehouse.allow_drop_table (src/declare/drop_guard.c).
 */
CREATE FUNCTION lakehouse.lh_drop_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'lh_drop_guard'
LANGUAGE C;

CREATE EVENT TRIGGER lh_drop_guard ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION lakehouse.lh_drop_guard();

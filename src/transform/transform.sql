/*
 * src/transform/transform.sql
 *	  Silver projection and SCD2.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/*
 * Internal: the silver stage's per-row projection.  It raises an error unless
 * the silver stage of lh_run_pipeline is executing.  It returns at most one
 * row per call (ROWS 1 keeps the planner's estimates, and JIT, sane).
 */
CREATE FUNCTION lakehouse.lh_silver_project(payload jsonb,
                                            bronze_id bigint,
                                            source_position text,
                                            row_type anyelement,
                                            table_id integer)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'lh_silver_project'
LANGUAGE C VOLATILE ROWS 1;

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

/*
 * SCD type 2 (src/transform/scd2.c).  lh_scd2_merge keeps the history of a
 * dimension: source is a table or view name, or a query; keys identify a
 * row; options are described in contrib-docs/scd2.md.  Returns the counts
 * inserted, closed, unchanged, deleted, late and rejected.
 */

CREATE FUNCTION lakehouse.lh_scd2_merge(target text,
                                        source text,
                                        keys text[],
                                        options jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_scd2_merge'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

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

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

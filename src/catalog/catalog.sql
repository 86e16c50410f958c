/*
 * src/catalog/catalog.sql
 *	  The catalog: pipelines, sources, tables, marks, runs, quarantine, dead
 *	  letters, and the site where the database runs.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

/*
 * Catalog.  Every table below holds user definitions or history and is
 * registered with pg_extension_config_dump so that pg_dump keeps it.
 * The data tables themselves (bronze.*, silver.*, gold.*) belong to the
 * user, not to the extension: DROP EXTENSION never drops user data.
 */

CREATE TABLE lakehouse.pipelines (
    pipeline_id     serial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    description     text,
    schedule        text,
    cron_job_id     bigint,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    owner           name NOT NULL,
    CONSTRAINT pipelines_name_check CHECK (name <> '' AND length(name) <= 200)
);
COMMENT ON TABLE lakehouse.pipelines IS 'Declared pipelines: sources, silver and gold tables hang off one of these.';
COMMENT ON COLUMN lakehouse.pipelines.owner IS 'The role that owns the pipeline, its sources and tables: their code runs as this role.';

CREATE TABLE lakehouse.pipeline_deps (
    pipeline_id     integer NOT NULL REFERENCES lakehouse.pipelines ON DELETE CASCADE,
    upstream_id     integer NOT NULL REFERENCES lakehouse.pipelines ON DELETE CASCADE,
    PRIMARY KEY (pipeline_id, upstream_id),
    CONSTRAINT pipeline_deps_self_check CHECK (pipeline_id <> upstream_id)
);
COMMENT ON TABLE lakehouse.pipeline_deps IS 'Pipeline dependencies: upstream pipelines run first.';

CREATE TABLE lakehouse.sources (
    source_id       serial PRIMARY KEY,
    pipeline_id     integer NOT NULL REFERENCES lakehouse.pipelines ON DELETE CASCADE,
    name            text NOT NULL UNIQUE,
    kind            text NOT NULL,
    options         jsonb NOT NULL DEFAULT '{}',
    bronze_schema   text NOT NULL,
    bronze_table    text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    position        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    disabled_reason text,
    UNIQUE (bronze_schema, bronze_table),
    CONSTRAINT sources_name_check CHECK (name <> '' AND length(name) <= 200)
);
COMMENT ON TABLE lakehouse.sources IS 'Sources: each lands in one bronze table.';
COMMENT ON COLUMN lakehouse.sources.kind IS 'The source kind (src/sources/registry.c lists them; the SQL API checks it).';
COMMENT ON COLUMN lakehouse.sources.disabled_reason IS 'Why lakehouse disabled the source itself (its worker crashed lakehouse.max_worker_crashes times in a row); NULL when a user did.';

CREATE TABLE lakehouse.source_marks (
    source_id       integer NOT NULL REFERENCES lakehouse.sources ON DELETE CASCADE,
    mark_key        text NOT NULL,
    mark_value      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, mark_key)
);
COMMENT ON TABLE lakehouse.source_marks IS 'Per-source positions (watermark, file offset, Kafka offset, HTTP cursor), written in the transaction that lands the rows.';

CREATE TABLE lakehouse.tables (
    table_id        serial PRIMARY KEY,
    pipeline_id     integer NOT NULL REFERENCES lakehouse.pipelines ON DELETE CASCADE,
    layer           text NOT NULL,
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    source_id       integer REFERENCES lakehouse.sources ON DELETE SET NULL,
    keys            text[],
    order_by        text,
    gold_kind       text,
    sql             text,
    options         jsonb NOT NULL DEFAULT '{}',
    position        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schema_name, table_name),
    CONSTRAINT tables_layer_check CHECK (layer IN ('silver', 'gold')),
    CONSTRAINT tables_gold_kind_check CHECK (
        (layer = 'gold' AND gold_kind IS NOT NULL AND sql IS NOT NULL)
        OR (layer = 'silver' AND gold_kind IS NULL))
);
COMMENT ON TABLE lakehouse.tables IS 'Silver and gold tables managed by a pipeline.';
COMMENT ON COLUMN lakehouse.tables.gold_kind IS 'How a gold table is written (src/transform/gold_kinds.c lists the kinds; the SQL API checks it).';

CREATE TABLE lakehouse.silver_columns (
    table_id        integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    ordinal         integer NOT NULL,
    column_name     text NOT NULL,
    json_path       text[] NOT NULL,
    type_name       text NOT NULL,
    required        boolean NOT NULL DEFAULT false,
    transforms      text[] NOT NULL DEFAULT '{}',
    default_value   text,
    min_value       text,
    max_value       text,
    PRIMARY KEY (table_id, column_name)
);
COMMENT ON TABLE lakehouse.silver_columns IS 'Silver column mappings: JSON path in the bronze payload to a typed column.';

CREATE TABLE lakehouse.stage_marks (
    table_id        integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    mark_key        text NOT NULL,
    mark_value      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_id, mark_key)
);
COMMENT ON TABLE lakehouse.stage_marks IS 'Stage watermarks (last bronze row id projected into silver, definition built into gold).';

CREATE TABLE lakehouse.runs (
    run_id          bigserial PRIMARY KEY,
    pipeline_id     integer REFERENCES lakehouse.pipelines ON DELETE SET NULL,
    pipeline_name   text NOT NULL,
    status          text NOT NULL,
    run_by          name NOT NULL DEFAULT current_user,
    application     text,
    parent_run_id   bigint,
    full_refresh    boolean NOT NULL DEFAULT false,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_written    bigint NOT NULL DEFAULT 0,
    rows_quarantined bigint NOT NULL DEFAULT 0,
    failed_stage    text,
    error_sqlstate  text,
    error_message   text,
    summary         jsonb,
    CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'cancelled'))
);
CREATE INDEX runs_pipeline_idx ON lakehouse.runs (pipeline_id, run_id DESC);
COMMENT ON TABLE lakehouse.runs IS 'Run ledger: one row per pipeline run, kept even when a stage fails.';
COMMENT ON COLUMN lakehouse.runs.status IS 'running (only inside the run''s own transaction), succeeded, failed, skipped, or cancelled: the run''s transaction was cancelled or terminated and rolled back, and the database launcher wrote this row afterwards.';

CREATE TABLE lakehouse.run_stages (
    run_id          bigint NOT NULL REFERENCES lakehouse.runs ON DELETE CASCADE,
    stage_no        integer NOT NULL,
    stage           text NOT NULL,
    target          text NOT NULL,
    status          text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_written    bigint NOT NULL DEFAULT 0,
    rows_quarantined bigint NOT NULL DEFAULT 0,
    rows_skipped    bigint NOT NULL DEFAULT 0,
    error_sqlstate  text,
    error_message   text,
    error_detail    text,
    error_hint      text,
    error_context   text,
    refresh         text,
    refresh_reason  text,
    PRIMARY KEY (run_id, stage_no),
    CONSTRAINT run_stages_stage_check CHECK (stage IN ('ingest', 'silver', 'gold')),
    CONSTRAINT run_stages_status_check CHECK (status IN ('succeeded', 'failed', 'skipped', 'not run'))
);
COMMENT ON TABLE lakehouse.run_stages IS 'One row per stage of a run: timings, row counts, error with SQLSTATE.';
COMMENT ON COLUMN lakehouse.run_stages.refresh IS 'Gold stages of kinds rebuild and merge: incremental, partial or full (contrib-docs/incremental.md); NULL otherwise and for skipped stages.';
COMMENT ON COLUMN lakehouse.run_stages.refresh_reason IS 'Why the refresh was not incremental (NULL when it was).';

/*
 * One row per refused input row, with every rule it breaks (violations);
 * column_name, value, reason and rule repeat the first of them.  A row
 * belongs to its table's registration (rows of a table no pipeline
 * declares, diverted by its data contract, have table_id NULL and are kept
 * by target_table): unregistering the table removes them, and so does
 * dropping the table (lh_quarantine_sql_drop).
 */
CREATE TABLE lakehouse.quarantine (
    quarantine_id   bigserial PRIMARY KEY,
    run_id          bigint,
    pipeline_id     integer,
    table_id        integer REFERENCES lakehouse.tables ON DELETE CASCADE,
    target_table    text NOT NULL,
    bronze_table    text,
    bronze_id       bigint,
    source_position text,
    column_name     text,
    value           text,
    reason          text NOT NULL,
    rule            text NOT NULL,
    payload         jsonb,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    violations      jsonb NOT NULL,
    CONSTRAINT quarantine_violations_check CHECK (jsonb_typeof(violations) = 'array')
);
CREATE INDEX quarantine_table_idx ON lakehouse.quarantine (table_id, quarantine_id);
COMMENT ON TABLE lakehouse.quarantine IS 'Bronze rows that could not be projected into silver, and rows diverted by a gold data contract, with every rule each breaks.';
COMMENT ON COLUMN lakehouse.quarantine.rule IS 'The first rule the row breaks, without the value: type, required, min, max, expectation:<name>, contract:<rule>, or legacy (a 0.1 reason that could not be read).';
COMMENT ON COLUMN lakehouse.quarantine.violations IS 'Every rule the row breaks, in order: an array of {"column", "rule", "value", "reason"} objects; column_name, value, reason and rule repeat the first.';

CREATE TABLE lakehouse.dead_letters (
    dead_letter_id  bigserial PRIMARY KEY,
    run_id          bigint,
    source_id       integer,
    source_name     text NOT NULL,
    source_position text,
    raw             bytea,
    reason          text NOT NULL,
    error_sqlstate  text,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_source_idx ON lakehouse.dead_letters (source_id, dead_letter_id);
COMMENT ON TABLE lakehouse.dead_letters IS 'Source records that could not land in bronze (invalid JSON or UTF-8, oversize, malformed CSV), with the raw bytes, reason and (Kafka) topic, partition, offset, key, headers and timestamp.';

/*
 * Where this database runs (src/worker/site.c): one row, written when the
 * first pipeline or source is declared, and rewritten after a promotion or
 * when lakehouse adopted a copy.  A copy (a restored dump, a basebackup
 * clone, a point-in-time recovery) finds another cluster, database,
 * timeline or node here, and its sources start paused.
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

SELECT pg_catalog.pg_extension_config_dump('lakehouse.pipelines', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.pipelines_pipeline_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.pipeline_deps', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.sources', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.sources_source_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.source_marks', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.tables', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.tables_table_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.silver_columns', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.stage_marks', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.runs', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.run_stages', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.quarantine_quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dead_letters_dead_letter_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.site', '');

/*
 * Views for people in psql.
 */

/*
 * The runs in flight in this database, from shared memory (C:
 * src/worker/progress.c; needs shared_preload_libraries).
 */
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

CREATE VIEW lakehouse.pipeline_status AS
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

CREATE VIEW lakehouse.recent_runs AS
SELECT r.run_id,
       r.pipeline_name AS pipeline,
       r.status,
       r.run_by,
       r.started_at,
       r.finished_at - r.started_at AS duration,
       r.rows_read,
       r.rows_written,
       r.rows_quarantined,
       r.failed_stage,
       r.error_sqlstate,
       r.error_message
  FROM lakehouse.runs r
 ORDER BY r.run_id DESC
 LIMIT 100;

CREATE VIEW lakehouse.run_stage_details AS
SELECT s.run_id,
       r.pipeline_name AS pipeline,
       s.stage_no,
       s.stage,
       s.target,
       s.status,
       s.finished_at - s.started_at AS duration,
       s.rows_read,
       s.rows_written,
       s.rows_quarantined,
       s.rows_skipped,
       s.error_sqlstate,
       s.error_message
  FROM lakehouse.run_stages s
  JOIN lakehouse.runs r USING (run_id);

/*
 * One line per table, column and rule: rows counts the quarantined rows
 * that break the rule (a row breaking two rules counts on both lines);
 * reason and example_value are those of the group's first row.
 */
CREATE VIEW lakehouse.quarantine_summary AS
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

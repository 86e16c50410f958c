/* lakehouse--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lakehouse" to load this file. \quit

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
    CONSTRAINT pipelines_name_check CHECK (name <> '' AND length(name) <= 200)
);
COMMENT ON TABLE lakehouse.pipelines IS 'Declared pipelines: sources, silver and gold tables hang off one of these.';

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
    UNIQUE (bronze_schema, bronze_table),
    CONSTRAINT sources_kind_check CHECK (kind IN ('table', 'file', 'kafka', 'http')),
    CONSTRAINT sources_name_check CHECK (name <> '' AND length(name) <= 200)
);
COMMENT ON TABLE lakehouse.sources IS 'Sources: each lands in one bronze table.';

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
        (layer = 'gold' AND gold_kind IN ('rebuild', 'append', 'merge', 'scd2') AND sql IS NOT NULL)
        OR (layer = 'silver' AND gold_kind IS NULL))
);
COMMENT ON TABLE lakehouse.tables IS 'Silver and gold tables managed by a pipeline.';

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
    CONSTRAINT runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'skipped'))
);
CREATE INDEX runs_pipeline_idx ON lakehouse.runs (pipeline_id, run_id DESC);
COMMENT ON TABLE lakehouse.runs IS 'Run ledger: one row per pipeline run, kept even when a stage fails.';

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
    PRIMARY KEY (run_id, stage_no),
    CONSTRAINT run_stages_stage_check CHECK (stage IN ('ingest', 'silver', 'gold')),
    CONSTRAINT run_stages_status_check CHECK (status IN ('succeeded', 'failed', 'skipped', 'not run'))
);
COMMENT ON TABLE lakehouse.run_stages IS 'One row per stage of a run: timings, row counts, error with SQLSTATE.';

CREATE TABLE lakehouse.quarantine (
    quarantine_id   bigserial PRIMARY KEY,
    run_id          bigint,
    pipeline_id     integer,
    table_id        integer,
    target_table    text NOT NULL,
    bronze_table    text,
    bronze_id       bigint,
    source_position text,
    column_name     text,
    value           text,
    reason          text NOT NULL,
    rule            text,
    payload         jsonb,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_table_idx ON lakehouse.quarantine (table_id, quarantine_id);
COMMENT ON TABLE lakehouse.quarantine IS 'Bronze rows that could not be projected into silver, and rows diverted by a gold data contract, with the column, value and reason.';

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

CREATE TABLE lakehouse.http_state (
    source_id        integer PRIMARY KEY REFERENCES lakehouse.sources ON DELETE CASCADE,
    last_request_at  timestamptz,
    last_url         text,
    last_http_status integer,
    last_run_pages   integer,
    last_run_records bigint,
    last_run_retries integer,
    last_error       text
);
COMMENT ON TABLE lakehouse.http_state IS 'HTTP sources: what the last ingest did (URLs without secrets).';

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
    CONSTRAINT secrets_name_check CHECK (name <> '' AND length(name) <= 200),
    CONSTRAINT secrets_value_check CHECK ((value IS NULL) <> (reference IS NULL))
);
REVOKE ALL ON TABLE lakehouse.secrets FROM PUBLIC;
COMMENT ON TABLE lakehouse.secrets IS 'Credentials referenced by name from source options: encrypted values or env:/file: references; readable only by the extension owner.';

CREATE TABLE lakehouse.event_outbox (
    event_id        bigserial PRIMARY KEY,
    run_id          bigint,
    pipeline_name   text,
    run_uuid        uuid NOT NULL,
    job_name        text NOT NULL,
    event_type      text NOT NULL,
    event_time      timestamptz NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    CONSTRAINT event_outbox_type_check CHECK (event_type IN ('START', 'COMPLETE', 'FAIL'))
);
CREATE INDEX event_outbox_pending_idx ON lakehouse.event_outbox (run_uuid, event_id)
    WHERE delivered_at IS NULL;
CREATE INDEX event_outbox_run_idx ON lakehouse.event_outbox (run_id);
COMMENT ON TABLE lakehouse.event_outbox IS 'OpenLineage RunEvents of pipeline runs and stages, written in the run''s own transaction; the lineage worker delivers them (src/observe/).';

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
SELECT pg_catalog.pg_extension_config_dump('lakehouse.event_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.http_state', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.event_outbox_event_id_seq', '');

/*
 * Declaring pipelines (src/config/api.c).  The "replace" flags give
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

/*
 * Operating sources (src/ingest/kafka_api.c, src/worker/shmem.c).  Kafka
 * sources are streamed by background workers when lakehouse is in
 * shared_preload_libraries; these functions change the catalog in the
 * caller's transaction and wake the workers when it commits.
 */

CREATE FUNCTION lakehouse.lh_enable_source(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_enable_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_disable_source(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_disable_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_restart_source(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_restart_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_reset_source(name text,
                                          "position" text DEFAULT 'earliest',
                                          "partition" integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_reset_source'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_replay_dead_letters(source text,
                                                 ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_replay_dead_letters'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_discard_dead_letters(source text,
                                                  ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_discard_dead_letters'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* Secrets (src/security/secrets.c): callers must be lakehouse administrators. */
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

/* What the workers report, for source_status (src/worker/shmem.c). */
CREATE FUNCTION lakehouse.lh_worker_status(OUT source_id integer,
                                           OUT worker_pid integer,
                                           OUT worker_state text,
                                           OUT last_error text,
                                           OUT last_error_at timestamptz,
                                           OUT started_at timestamptz,
                                           OUT failed_starts integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_worker_status'
LANGUAGE C VOLATILE;

CREATE FUNCTION lakehouse.lh_partition_stats(OUT source_id integer,
                                             OUT "partition" integer,
                                             OUT next_offset bigint,
                                             OUT high_watermark bigint,
                                             OUT last_message_at timestamptz,
                                             OUT messages_per_sec double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_partition_stats'
LANGUAGE C VOLATILE;

/*
 * Running (src/pipeline/).
 */

CREATE FUNCTION lakehouse.lh_run_pipeline(name text,
                                          wait boolean DEFAULT false,
                                          upstream boolean DEFAULT true,
                                          full_refresh boolean DEFAULT false)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_run_pipeline'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_ingest(source text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_ingest'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_current_run_id()
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_current_run_id'
LANGUAGE C VOLATILE;

CREATE FUNCTION lakehouse.lh_schedule(pipeline text, schedule text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_schedule'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_unschedule(pipeline text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'lh_unschedule'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

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
 * Views for people in psql.
 */

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
         WHERE ok.pipeline_id = p.pipeline_id AND ok.status = 'succeeded') AS last_success_at
  FROM lakehouse.pipelines p
  LEFT JOIN LATERAL (SELECT * FROM lakehouse.runs x
                      WHERE x.pipeline_id = p.pipeline_id AND x.status <> 'skipped'
                      ORDER BY x.run_id DESC LIMIT 1) r ON true;

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

CREATE VIEW lakehouse.quarantine_summary AS
SELECT p.name AS pipeline,
       q.target_table,
       q.column_name,
       q.reason,
       count(*) AS rows,
       min(q.quarantined_at) AS first_seen,
       max(q.quarantined_at) AS last_seen,
       (array_agg(q.value ORDER BY q.quarantine_id))[1] AS example_value
  FROM lakehouse.quarantine q
  LEFT JOIN lakehouse.pipelines p ON p.pipeline_id = q.pipeline_id
 GROUP BY p.name, q.target_table, q.column_name, q.reason;

/*
 * One row per source, and for Kafka sources one per partition: stored
 * offset, broker high watermark and lag (from the worker), last message
 * time and recent rate, the worker's pid, state and last error.
 */
CREATE VIEW lakehouse.source_status AS
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
       w.last_error
  FROM lakehouse.sources s
  JOIN lakehouse.pipelines p USING (pipeline_id)
  LEFT JOIN parts pt ON pt.source_id = s.source_id
  LEFT JOIN stored st ON st.source_id = pt.source_id AND st."partition" = pt."partition"
  LEFT JOIN ps ON ps.source_id = pt.source_id AND ps."partition" = pt."partition"
  LEFT JOIN w ON w.source_id = s.source_id;

/* HTTP sources: the last ingest of each, and where the next one starts. */
CREATE VIEW lakehouse.http_status AS
SELECT s.name AS source,
       p.name AS pipeline,
       s.enabled,
       h.last_request_at,
       h.last_url,
       h.last_http_status,
       h.last_run_pages,
       h.last_run_records,
       h.last_run_retries,
       (SELECT m.mark_value FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id AND m.mark_key = 'watermark') AS watermark,
       (SELECT m.mark_value::jsonb FROM lakehouse.source_marks m
         WHERE m.source_id = s.source_id AND m.mark_key = 'resume') AS resume,
       h.last_error
  FROM lakehouse.sources s
  JOIN lakehouse.pipelines p USING (pipeline_id)
  LEFT JOIN lakehouse.http_state h USING (source_id)
 WHERE s.kind = 'http';

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

/* ==== schema evolution of silver tables (src/contract/evolution.c) ==== */

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

CREATE FUNCTION lakehouse.lh_attach_contract(table_name text,
                                             contract text,
                                             on_violation text DEFAULT 'fail')
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

/* ==== data quality (src/quality/) ==== */

/*
 * Expectations declared on silver and gold tables (lh_add_expectation, or
 * the expectations list of a table in YAML).  kind and args are checked by
 * the functions that write them; origin says who owns the row, so that
 * applying YAML replaces only what YAML declared.
 */
CREATE TABLE lakehouse.dq_expectations (
    expectation_id  serial PRIMARY KEY,
    table_id        integer NOT NULL REFERENCES lakehouse.tables ON DELETE CASCADE,
    name            text NOT NULL,
    kind            text NOT NULL,
    args            jsonb NOT NULL DEFAULT '{}',
    severity        text NOT NULL DEFAULT 'warn',
    mostly          numeric NOT NULL DEFAULT 1,
    row_filter      text,
    origin          text NOT NULL DEFAULT 'sql',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_id, name),
    CONSTRAINT dq_expectations_name_check CHECK (name <> '' AND length(name) <= 200),
    CONSTRAINT dq_expectations_severity_check CHECK (severity IN ('warn', 'drop', 'fail')),
    CONSTRAINT dq_expectations_mostly_check CHECK (mostly >= 0 AND mostly <= 1),
    CONSTRAINT dq_expectations_origin_check CHECK (origin IN ('sql', 'yaml'))
);
COMMENT ON TABLE lakehouse.dq_expectations IS 'Data-quality expectations of silver and gold tables, evaluated by lh_check and by pipeline runs.';

/*
 * One row per expectation per check.  check_id groups the rows of one
 * evaluation of one table (a pipeline stage's gate or one lh_check call);
 * run_id is the run, NULL for lh_check outside a run.
 */
CREATE SEQUENCE lakehouse.dq_check_id_seq;
CREATE TABLE lakehouse.dq_results (
    result_id       bigserial PRIMARY KEY,
    check_id        bigint NOT NULL,
    run_id          bigint,
    table_id        integer,
    table_name      text NOT NULL,
    expectation     text NOT NULL,
    kind            text NOT NULL,
    mode            text NOT NULL,
    severity        text NOT NULL,
    success         boolean NOT NULL,
    element_count   bigint,
    unexpected_count bigint,
    unexpected_percent double precision,
    missing_count   bigint,
    mostly          numeric,
    observed_value  jsonb,
    partial_unexpected_list jsonb,
    duration        interval,
    checked_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT dq_results_mode_check CHECK (mode IN ('full', 'incremental'))
);
CREATE INDEX dq_results_table_idx ON lakehouse.dq_results (table_name, check_id);
CREATE INDEX dq_results_run_idx ON lakehouse.dq_results (run_id);
COMMENT ON TABLE lakehouse.dq_results IS 'Data-quality results: one row per expectation per check (run gate or lh_check), with counts, observed value and up to 20 unexpected values.';

SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_expectations', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_expectations_expectation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_results', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_results_result_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.dq_check_id_seq', '');

CREATE FUNCTION lakehouse.lh_add_expectation(table_name text,
                                             expectation text,
                                             args jsonb DEFAULT '{}',
                                             severity text DEFAULT 'warn',
                                             mostly numeric DEFAULT 1,
                                             "where" text DEFAULT NULL,
                                             name text DEFAULT NULL,
                                             replace boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_add_expectation'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

CREATE FUNCTION lakehouse.lh_drop_expectation(table_name text,
                                              name text,
                                              missing_ok boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'lh_drop_expectation'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* Replace a table's YAML-declared expectations (lh_apply_config uses it). */
CREATE FUNCTION lakehouse.lh_set_expectations(table_name text,
                                              expectations jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'lh_set_expectations'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

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
                                   OUT duration interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_check'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;

/* Internal: keeps the first 20 values it sees (partial_unexpected_list). */
CREATE FUNCTION lakehouse.lh_dq_sample_trans(internal, jsonb)
RETURNS internal
AS 'MODULE_PATHNAME', 'lh_dq_sample_trans'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE FUNCTION lakehouse.lh_dq_sample_final(internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'lh_dq_sample_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE AGGREGATE lakehouse.lh_dq_sample(jsonb) (
    SFUNC = lakehouse.lh_dq_sample_trans,
    STYPE = internal,
    FINALFUNC = lakehouse.lh_dq_sample_final
);
/* Internal: how many values lh_dq_sample saw (shares its state in a query). */
CREATE FUNCTION lakehouse.lh_dq_count_final(internal)
RETURNS bigint
AS 'MODULE_PATHNAME', 'lh_dq_count_final'
LANGUAGE C CALLED ON NULL INPUT IMMUTABLE;
CREATE AGGREGATE lakehouse.lh_dq_count(jsonb) (
    SFUNC = lakehouse.lh_dq_sample_trans,
    STYPE = internal,
    FINALFUNC = lakehouse.lh_dq_count_final
);

/*
 * Quality score per table: the weighted share of passed expectations of
 * its latest check (weights: fail 3, drop 2, warn 1), the score of the
 * check before it, and the trend.
 */
CREATE VIEW lakehouse.dq_summary AS
WITH checks AS (
    SELECT r.table_name,
           r.check_id,
           max(r.run_id) AS run_id,
           max(r.mode) AS mode,
           min(r.checked_at) AS checked_at,
           count(*) AS expectations,
           count(*) FILTER (WHERE r.success) AS passed,
           count(*) FILTER (WHERE NOT r.success) AS failed,
           count(*) FILTER (WHERE NOT r.success AND r.severity = 'fail') AS failed_fail,
           round(100.0 * sum(w.weight) FILTER (WHERE r.success) / sum(w.weight), 1) AS score,
           row_number() OVER (PARTITION BY r.table_name ORDER BY r.check_id DESC) AS age
      FROM lakehouse.dq_results r
      CROSS JOIN LATERAL (SELECT CASE r.severity WHEN 'fail' THEN 3
                                                 WHEN 'drop' THEN 2 ELSE 1 END AS weight) w
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
            ELSE 'stable' END AS trend
  FROM checks l
  LEFT JOIN checks p ON p.table_name = l.table_name AND p.age = 2
 WHERE l.age = 1;

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

/* Secrets without their values: for administrators. */
CREATE VIEW lakehouse.secret_list AS
SELECT s.name,
       CASE WHEN s.value IS NOT NULL THEN 'encrypted'
            WHEN s.reference LIKE 'env:%' THEN 'env' ELSE 'file' END AS kind,
       s.reference,
       s.created_at,
       s.updated_at
  FROM lakehouse.secrets s;

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

/* Classify a column of any table (silver mappings can also say it). */
CREATE FUNCTION lakehouse.lh_classify(table_name text, column_name text,
                                      classification text, masking text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    nsp text;
    rname text;
BEGIN
    IF table_name IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'table name and column name must not be null'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    rel := pg_catalog.to_regclass(table_name);
    IF rel IS NULL THEN
        RAISE EXCEPTION 'relation "%" does not exist', table_name
              USING ERRCODE = 'undefined_table';
    END IF;
    -- classifying a column is part of defining the table: its owner does it
    IF NOT pg_catalog.pg_has_role(current_user, (SELECT relowner FROM pg_catalog.pg_class WHERE oid = rel), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', table_name
              USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT n.nspname, c.relname INTO nsp, rname
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel
                      AND a.attname = column_name AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', column_name, table_name
              USING ERRCODE = 'undefined_column';
    END IF;
    IF classification IS NULL THEN
        DELETE FROM lakehouse.column_classifications k
         WHERE k.schema_name = nsp AND k.table_name = rname AND k.column_name = lh_classify.column_name;
        RETURN;
    END IF;
    IF classification NOT IN ('pii', 'sensitive', 'confidential', 'restricted', 'internal', 'public') THEN
        RAISE EXCEPTION 'invalid classification "%"', classification
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Use pii, sensitive, confidential, restricted, internal or public.';
    END IF;
    IF masking IS NOT NULL AND masking NOT IN ('hash', 'partial', 'full', 'none') THEN
        RAISE EXCEPTION 'invalid masking "%"', masking
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Use hash, partial, full or none.';
    END IF;
    INSERT INTO lakehouse.column_classifications AS k
           (schema_name, table_name, column_name, classification, masking, origin)
    VALUES (nsp, rname, column_name, classification, masking, 'sql')
    ON CONFLICT ON CONSTRAINT column_classifications_pkey
    DO UPDATE SET classification = excluded.classification, masking = excluded.masking, origin = 'sql';
END
$$;

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
 * quarantine and dead letters; one set-based DELETE per table, with the
 * caller's privileges.  The audit record keeps a salted hash of the value,
 * never the value.  Returns the count per table.
 */
CREATE FUNCTION lakehouse.lh_forget(subject_key_column text, value text,
                                    pipeline text DEFAULT NULL)
RETURNS TABLE(layer text, table_name text, rows_deleted bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pids integer[];
    t record;
    n bigint;
    counts jsonb := '{}';
    paths jsonb;
BEGIN
    IF subject_key_column IS NULL OR subject_key_column = '' OR value IS NULL THEN
        RAISE EXCEPTION 'subject key column and value must not be null or empty'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pipeline IS NULL THEN
        SELECT array_agg(p.pipeline_id) INTO pids FROM lakehouse.pipelines p;
    ELSE
        SELECT array_agg(p.pipeline_id) INTO pids FROM lakehouse.pipelines p WHERE p.name = pipeline;
        IF pids IS NULL THEN
            RAISE EXCEPTION 'pipeline "%" does not exist', pipeline USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    pids := coalesce(pids, '{}');

    -- bronze: jsonb payloads, by top-level key or by the mapped paths
    FOR t IN
        SELECT s.source_id, s.bronze_schema, s.bronze_table,
               (SELECT coalesce(jsonb_agg(DISTINCT to_jsonb(c.json_path)), '[]')
                  FROM lakehouse.tables st JOIN lakehouse.silver_columns c USING (table_id)
                 WHERE st.source_id = s.source_id AND c.column_name = subject_key_column) AS paths
          FROM lakehouse.sources s
         WHERE s.pipeline_id = ANY (pids)
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = pg_catalog.to_regclass(format('%I.%I', s.bronze_schema, s.bronze_table))
                          AND a.attname = 'payload' AND a.atttypid = 'jsonb'::regtype)
         ORDER BY s.source_id
    LOOP
        EXECUTE format('DELETE FROM %I.%I b WHERE b.payload->>$1 = $2'
                       ' OR EXISTS (SELECT 1 FROM jsonb_array_elements($3) p'
                       '             WHERE b.payload #>> ARRAY(SELECT jsonb_array_elements_text(p)) = $2)',
                       t.bronze_schema, t.bronze_table)
            USING subject_key_column, value, t.paths;
        GET DIAGNOSTICS n = ROW_COUNT;
        layer := 'bronze'; table_name := format('%I.%I', t.bronze_schema, t.bronze_table); rows_deleted := n;
        counts := counts || jsonb_build_object(table_name, n);
        RETURN NEXT;
    END LOOP;

    -- silver and gold tables with a column of that name
    FOR t IN
        SELECT lt.layer, lt.schema_name, lt.table_name
          FROM lakehouse.tables lt
         WHERE lt.pipeline_id = ANY (pids)
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = pg_catalog.to_regclass(format('%I.%I', lt.schema_name, lt.table_name))
                          AND a.attname = subject_key_column AND a.attnum > 0 AND NOT a.attisdropped)
         ORDER BY lt.layer DESC, lt.position, lt.table_id
    LOOP
        EXECUTE format('DELETE FROM %I.%I WHERE %I::text = $1', t.schema_name, t.table_name, subject_key_column)
            USING value;
        GET DIAGNOSTICS n = ROW_COUNT;
        layer := t.layer; table_name := format('%I.%I', t.schema_name, t.table_name); rows_deleted := n;
        counts := counts || jsonb_build_object(table_name, n);
        RETURN NEXT;
    END LOOP;

    -- quarantine: the payload of silver rejects, the row of contract rejects
    SELECT coalesce(jsonb_agg(DISTINCT to_jsonb(c.json_path)), '[]') INTO paths
      FROM lakehouse.tables st JOIN lakehouse.silver_columns c USING (table_id)
     WHERE st.pipeline_id = ANY (pids) AND c.column_name = subject_key_column;
    DELETE FROM lakehouse.quarantine q
     WHERE (q.pipeline_id = ANY (pids) OR q.table_id IN (SELECT lt.table_id FROM lakehouse.tables lt
                                                        WHERE lt.pipeline_id = ANY (pids))
            OR (pipeline IS NULL AND q.pipeline_id IS NULL))
       AND (q.payload->>subject_key_column = lh_forget.value
            OR (q.column_name = subject_key_column AND q.value = lh_forget.value)
            OR EXISTS (SELECT 1 FROM jsonb_array_elements(paths) p
                        WHERE q.payload #>> ARRAY(SELECT jsonb_array_elements_text(p)) = lh_forget.value));
    GET DIAGNOSTICS n = ROW_COUNT;
    layer := 'quarantine'; table_name := 'lakehouse.quarantine'; rows_deleted := n;
    counts := counts || jsonb_build_object(table_name, n);
    RETURN NEXT;

    -- dead letters: records that never parsed; match the value in the raw bytes
    DELETE FROM lakehouse.dead_letters d
     WHERE d.source_id IN (SELECT s.source_id FROM lakehouse.sources s WHERE s.pipeline_id = ANY (pids))
       AND position(convert_to(value, 'UTF8') IN d.raw) > 0;
    GET DIAGNOSTICS n = ROW_COUNT;
    layer := 'dead_letters'; table_name := 'lakehouse.dead_letters'; rows_deleted := n;
    counts := counts || jsonb_build_object(table_name, n);
    RETURN NEXT;

    PERFORM lakehouse.lh_audit('erase', 'subject', subject_key_column,
                               jsonb_build_object('value_hash', lakehouse.lh_mask_hash(value),
                                                  'pipeline', pipeline, 'rows', counts));
END
$$;

/* Bronze retention: keep bronze rows of a source for this long (NULL: forever). */
CREATE FUNCTION lakehouse.lh_set_retention(source text, keep interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sid integer;
BEGIN
    SELECT s.source_id INTO sid FROM lakehouse.sources s WHERE s.name = source;
    IF sid IS NULL THEN
        RAISE EXCEPTION 'source "%" does not exist', source USING ERRCODE = 'undefined_object';
    END IF;
    IF keep IS NULL THEN
        DELETE FROM lakehouse.retention r WHERE r.source_id = sid;
    ELSIF keep <= interval '0' THEN
        RAISE EXCEPTION 'invalid retention "%"', keep
              USING ERRCODE = 'invalid_parameter_value', HINT = 'A retention is a positive interval.';
    ELSE
        INSERT INTO lakehouse.retention AS r (source_id, keep) VALUES (sid, keep)
        ON CONFLICT (source_id) DO UPDATE SET keep = excluded.keep;
    END IF;
END
$$;

/*
 * lh_apply_retention(): for each source with a retention, delete bronze
 * rows ingested before now() - keep that every silver table reading the
 * source has already processed (_lh_id at or below its bronze_id mark; a
 * silver table that never ran keeps everything).  One DELETE per source;
 * meant for pg_cron.
 */
CREATE FUNCTION lakehouse.lh_apply_retention()
RETURNS TABLE(source text, bronze_table text, rows_deleted bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    n bigint;
    counts jsonb := '{}';
BEGIN
    FOR t IN
        SELECT s.source_id, s.name, s.bronze_schema, s.bronze_table, r.keep,
               (SELECT min(coalesce(m.mark_value::bigint, -1))
                  FROM lakehouse.tables st
                  LEFT JOIN lakehouse.stage_marks m
                         ON m.table_id = st.table_id AND m.mark_key = 'bronze_id'
                 WHERE st.source_id = s.source_id AND st.layer = 'silver') AS processed,
               EXISTS (SELECT 1 FROM lakehouse.tables st
                        WHERE st.source_id = s.source_id AND st.layer = 'silver') AS has_silver
          FROM lakehouse.retention r JOIN lakehouse.sources s USING (source_id)
         WHERE pg_catalog.to_regclass(format('%I.%I', s.bronze_schema, s.bronze_table)) IS NOT NULL
         ORDER BY s.name
    LOOP
        EXECUTE format('DELETE FROM %I.%I WHERE _lh_ingested_at < now() - $1'
                       ' AND ($2 OR _lh_id <= $3)', t.bronze_schema, t.bronze_table)
            USING t.keep, NOT t.has_silver, coalesce(t.processed, -1);
        GET DIAGNOSTICS n = ROW_COUNT;
        UPDATE lakehouse.retention r SET last_applied_at = now() WHERE r.source_id = t.source_id;
        source := t.name; bronze_table := format('%I.%I', t.bronze_schema, t.bronze_table); rows_deleted := n;
        counts := counts || jsonb_build_object(t.name, n);
        RETURN NEXT;
    END LOOP;
    IF counts <> '{}' THEN
        PERFORM lakehouse.lh_audit('retention', 'bronze', NULL, jsonb_build_object('rows', counts));
    END IF;
END
$$;

/*
 * lh_create_roles(): the lakehouse roles (NOLOGIN; grant them to login
 * roles) and their privileges.  Not run by CREATE EXTENSION: an
 * administrator calls it (needs CREATEROLE and ownership of the catalog,
 * in practice a superuser), and again after upgrades.  See
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
        'lh_set_schema_policy(text,text)', 'lh_evolve(text,text,boolean,text)',
        'lh_attach_contract(text,text,text)', 'lh_detach_contract(text,boolean)',
        'lh_add_expectation(text,text,jsonb,text,numeric,text,text,boolean)',
        'lh_drop_expectation(text,text,boolean)', 'lh_set_expectations(text,jsonb)',
        'lh_schedule(text,text)', 'lh_unschedule(text)',
        'lh_classify(text,text,text,text)', 'lh_apply_masking(text)'];
    run_fns text[] := ARRAY[
        'lh_run_pipeline(text,boolean,boolean,boolean)', 'lh_ingest(text)',
        'lh_current_run_id()', 'lh_check(text,text,bigint)', 'lh_contract_diff(text)',
        'lh_enable_source(text)', 'lh_disable_source(text)', 'lh_restart_source(text)',
        'lh_reset_source(text,text,integer)', 'lh_replay_dead_letters(text,bigint[])',
        'lh_discard_dead_letters(text,bigint[])',
        'lh_silver_project(jsonb,bigint,text,anyelement,integer)',
        'lh_dq_sample_trans(internal,jsonb)', 'lh_dq_sample_final(internal)',
        'lh_dq_count_final(internal)', 'lh_dq_sample(jsonb)', 'lh_dq_count(jsonb)',
        'lh_scd2_merge(text,text,text[],jsonb)'];
    read_fns text[] := ARRAY['lh_worker_status()', 'lh_partition_stats()',
                             'lh_mask_hash(text)', 'lh_mask_partial(text)',
                             'lh_metrics()', 'lh_observe_workers()'];
    admin_fns text[] := ARRAY[
        'lh_set_secret(text,text)', 'lh_drop_secret(text)',
        'lh_set_secret_from_file(text,text)', 'lh_set_secret_reference(text,text)',
        'lh_check_secret(text)',
        'lh_audit(text,text,text,jsonb)', 'lh_forget(text,text,text)',
        'lh_set_retention(text,interval)', 'lh_apply_retention()'];
    definition_tables text := 'lakehouse.pipelines, lakehouse.pipeline_deps, lakehouse.sources, '
        'lakehouse.tables, lakehouse.silver_columns, lakehouse.silver_schemas, '
        'lakehouse.silver_schema_columns, lakehouse.contracts, lakehouse.contract_columns, '
        'lakehouse.dq_expectations, lakehouse.column_classifications';
    runtime_tables text := 'lakehouse.source_marks, lakehouse.stage_marks, lakehouse.runs, '
        'lakehouse.run_stages, lakehouse.quarantine, lakehouse.dead_letters, lakehouse.http_state, '
        'lakehouse.event_outbox, lakehouse.dq_results, lakehouse.contract_violations, '
        'lakehouse.silver_drift, lakehouse.schema_history, lakehouse.http_request_counts';
    views text := 'lakehouse.pipeline_status, lakehouse.recent_runs, lakehouse.run_stage_details, '
        'lakehouse.source_status, lakehouse.http_status, lakehouse.dq_summary, '
        'lakehouse.lineage_graph';
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
        EXECUTE format('GRANT USAGE ON SCHEMA lakehouse TO %I', r);
    END LOOP;
    GRANT lakehouse_analyst TO lakehouse_operator;
    GRANT lakehouse_operator TO lakehouse_engineer;
    GRANT lakehouse_engineer, lakehouse_pii_reader TO lakehouse_admin;

    FOREACH sch IN ARRAY ARRAY['bronze', 'silver', 'gold'] LOOP
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', sch);
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO lakehouse_engineer', sch);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO lakehouse_operator, lakehouse_pii_reader', sch);
        EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO lakehouse_pii_reader', sch);
        -- tables the engineer role creates: operators load them, PII readers read them
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA %I'
                       ' GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO lakehouse_operator', sch);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA %I'
                       ' GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO lakehouse_operator', sch);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA %I'
                       ' GRANT SELECT ON TABLES TO lakehouse_pii_reader', sch);
    END LOOP;
    GRANT USAGE ON SCHEMA gold TO lakehouse_analyst;
    GRANT SELECT ON ALL TABLES IN SCHEMA gold TO lakehouse_analyst;
    -- masked views (lh_apply_masking, run by a table's owner)
    CREATE SCHEMA IF NOT EXISTS lakehouse_masked;
    GRANT USAGE, CREATE ON SCHEMA lakehouse_masked TO lakehouse_engineer;
    GRANT USAGE ON SCHEMA lakehouse_masked TO lakehouse_analyst, lakehouse_pii_reader;
    ALTER DEFAULT PRIVILEGES FOR ROLE lakehouse_engineer IN SCHEMA gold
        GRANT SELECT ON TABLES TO lakehouse_analyst;

    FOREACH f IN ARRAY define_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_engineer', f);
    END LOOP;
    FOREACH f IN ARRAY run_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_operator', f);
    END LOOP;
    FOREACH f IN ARRAY read_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_analyst', f);
    END LOOP;
    FOREACH f IN ARRAY admin_fns LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION lakehouse.%s TO lakehouse_admin', f);
    END LOOP;

    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO lakehouse_engineer', definition_tables);
    EXECUTE format('GRANT SELECT ON %s TO lakehouse_operator', definition_tables);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO lakehouse_operator', runtime_tables);
    -- ingest locks its source row; operators enable and disable sources
    GRANT UPDATE (enabled, updated_at) ON lakehouse.sources TO lakehouse_operator;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA lakehouse TO lakehouse_operator;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA lakehouse TO lakehouse_engineer;
    EXECUTE format('GRANT SELECT ON %s TO lakehouse_analyst', views);
    GRANT SELECT ON lakehouse.quarantine_summary, lakehouse.schema_drift, lakehouse.column_masking
        TO lakehouse_pii_reader, lakehouse_operator;
    GRANT SELECT ON lakehouse.audit_log, lakehouse.secret_list TO lakehouse_admin;
    GRANT DELETE ON lakehouse.quarantine, lakehouse.dead_letters TO lakehouse_admin;
    GRANT SELECT, INSERT, UPDATE, DELETE ON lakehouse.retention TO lakehouse_admin;
    PERFORM lakehouse.lh_audit('create_roles', 'role', NULL, jsonb_build_object('created', to_jsonb(created)));
    RETURN created;
END
$$;

/* ==== observability (src/observe/) ==== */

/*
 * Dataset -> job -> dataset edges seen in the OpenLineage events of the
 * outbox (the last completed or failed event of each stage job is kept
 * when delivered events are pruned, so the graph outlives the retention).
 */
CREATE VIEW lakehouse.lineage_graph AS
SELECT e.pipeline_name AS pipeline,
       i.value->>'namespace' AS input_namespace,
       i.value->>'name' AS input_name,
       e.payload->'job'->>'namespace' AS job_namespace,
       e.job_name,
       o.value->>'namespace' AS output_namespace,
       o.value->>'name' AS output_name,
       count(*) AS runs,
       count(*) FILTER (WHERE e.event_type = 'FAIL') AS failed_runs,
       max(e.event_time) AS last_run_at
  FROM lakehouse.event_outbox e
 CROSS JOIN LATERAL jsonb_array_elements(e.payload->'inputs') i
 CROSS JOIN LATERAL jsonb_array_elements(e.payload->'outputs') o
 WHERE e.event_type IN ('COMPLETE', 'FAIL')
 GROUP BY 1, 2, 3, 4, 5, 6, 7;
COMMENT ON VIEW lakehouse.lineage_graph IS 'Lineage edges (input dataset, job, output dataset) from the OpenLineage events in lakehouse.event_outbox.';

/* Prometheus text exposition of this database's lakehouse metrics. */
CREATE FUNCTION lakehouse.lh_metrics()
RETURNS text
AS 'MODULE_PATHNAME', 'lh_metrics'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_metrics() IS 'Lakehouse metrics in the Prometheus text exposition format (what GET /metrics on lakehouse.metrics_port serves).';

/* The observability workers in shared memory (src/observe/metrics.c). */
CREATE FUNCTION lakehouse.lh_observe_workers(OUT worker text,
                                             OUT worker_pid integer,
                                             OUT worker_state text,
                                             OUT last_error text,
                                             OUT starts bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lh_observe_workers'
LANGUAGE C VOLATILE;

/* HTTP requests made by each HTTP source, by status (0: no answer), for lh_metrics. */
CREATE TABLE lakehouse.http_request_counts (
    source_id       integer NOT NULL REFERENCES lakehouse.sources ON DELETE CASCADE,
    http_status     integer NOT NULL,
    requests        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, http_status)
);
COMMENT ON TABLE lakehouse.http_request_counts IS 'HTTP requests made by HTTP sources, by HTTP status (0: no answer); lakehouse_http_requests_total.';
SELECT pg_catalog.pg_extension_config_dump('lakehouse.http_request_counts', '');

/* like their neighbours: nothing for PUBLIC (the security roles grant them) */
REVOKE ALL ON TABLE lakehouse.http_request_counts, lakehouse.lineage_graph FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_metrics(), lakehouse.lh_observe_workers() FROM PUBLIC;

/*
 * How a record's bytes become a jsonb payload (src/common/jsonfast.c):
 * 'fast' when the one-pass converter made it and its bytes equal
 * jsonb_in's, 'full' when the converter declined and jsonb_in accepted,
 * 'full: <reason>' when the record would be dead-lettered.  An ERROR
 * (XX000) if the converter ever disagreed with jsonb_in.  A diagnostic
 * for a payload that lands slower than expected, and the regression
 * tests' oracle.
 */
CREATE FUNCTION lakehouse.lh_json_fastpath_check(record bytea)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_json_fastpath_check'
LANGUAGE C STRICT VOLATILE;

/*
 * Nothing in schema lakehouse is for PUBLIC: no table or view grants
 * (PostgreSQL gives none by default), and no EXECUTE on any function.
 * lh_create_roles grants what each role needs.  Keep this block last.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA lakehouse FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA lakehouse FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA lakehouse FROM PUBLIC;

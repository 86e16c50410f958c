/*
 * src/observe/observe.sql
 *	  Observability: OpenLineage outbox, lineage graph, metrics.
 *
 * Part of the install script: the Makefile joins the parts in the order
 * of SQL_PARTS into sql/lakehouse--$(EXTVERSION).sql.
 */

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
SELECT pg_catalog.pg_extension_config_dump('lakehouse.event_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('lakehouse.event_outbox_event_id_seq', '');

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

/*
 * The pipeline DAG and the lineage graph as a picture (src/observe/diagram.c):
 * Mermaid, Graphviz DOT or SVG; all pipelines, or one and its neighbours.
 */
CREATE FUNCTION lakehouse.lh_lineage_diagram(format text DEFAULT 'mermaid',
                                             pipeline text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'lh_lineage_diagram'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION lakehouse.lh_lineage_diagram(text, text) IS 'The pipelines and their dependencies, and the lineage of their sources, bronze, silver and gold tables, as a Mermaid flowchart, a Graphviz DOT digraph or an SVG picture.';

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

/* like their neighbours: nothing for PUBLIC (the security roles grant them) */
REVOKE ALL ON TABLE lakehouse.http_request_counts, lakehouse.lineage_graph FROM PUBLIC;
REVOKE ALL ON FUNCTION lakehouse.lh_metrics(), lakehouse.lh_observe_workers(),
    lakehouse.lh_lineage_diagram(text, text) FROM PUBLIC;

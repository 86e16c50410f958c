-- bench/sql/scd2_dbt.sql: the SQL a dbt snapshot (timestamp strategy,
-- invalidate_hard_deletes) runs on PostgreSQL, for bench.scd2_dbt: a
-- temporary staging table of insertions, updates and deletes, then UPDATE,
-- then INSERT, in one transaction.  Meta columns as lh_scd2_merge writes them.
BEGIN;
CREATE TEMPORARY TABLE scd2_staging ON COMMIT DROP AS
WITH snapshot_query AS (
    SELECT * FROM bench.scd2_snap2
), snapshotted_data AS (
    SELECT *, id AS dbt_unique_key FROM bench.scd2_dbt WHERE is_current
), insertions_source_data AS (
    SELECT *, id AS dbt_unique_key, updated_at AS dbt_updated_at,
           updated_at AS dbt_valid_from, NULL::timestamptz AS dbt_valid_to
      FROM snapshot_query
), updates_source_data AS (
    SELECT *, id AS dbt_unique_key, updated_at AS dbt_updated_at,
           updated_at AS dbt_valid_from, updated_at AS dbt_valid_to
      FROM snapshot_query
), deletes_source_data AS (
    SELECT *, id AS dbt_unique_key FROM snapshot_query
), insertions AS (
    SELECT 'insert' AS dbt_change_type, source_data.*
      FROM insertions_source_data AS source_data
      LEFT OUTER JOIN snapshotted_data ON snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
     WHERE snapshotted_data.dbt_unique_key IS NULL
        OR (snapshotted_data.dbt_unique_key IS NOT NULL
            AND snapshotted_data.valid_from < source_data.updated_at)
), updates AS (
    SELECT 'update' AS dbt_change_type, source_data.*, snapshotted_data.version_id AS dbt_scd_id
      FROM updates_source_data AS source_data
      JOIN snapshotted_data ON snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
     WHERE snapshotted_data.valid_from < source_data.updated_at
), deletes AS (
    SELECT 'delete' AS dbt_change_type, snapshotted_data.version_id AS dbt_scd_id,
           timestamptz '2024-03-02 00:00:00+00' AS dbt_valid_to
      FROM snapshotted_data
      LEFT JOIN deletes_source_data AS source_data
        ON snapshotted_data.dbt_unique_key = source_data.dbt_unique_key
     WHERE source_data.dbt_unique_key IS NULL
)
SELECT dbt_change_type, id, name, email, city, segment, credit, updated_at,
       dbt_valid_from, dbt_valid_to, dbt_updated_at, NULL::text AS dbt_scd_id
  FROM insertions
UNION ALL
SELECT dbt_change_type, id, name, email, city, segment, credit, updated_at,
       dbt_valid_from, dbt_valid_to, dbt_updated_at, dbt_scd_id
  FROM updates
UNION ALL
SELECT dbt_change_type, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, dbt_valid_to, NULL, dbt_scd_id
  FROM deletes;

UPDATE bench.scd2_dbt AS t
   SET valid_to = s.dbt_valid_to, is_current = false
  FROM scd2_staging AS s
 WHERE s.dbt_scd_id = t.version_id
   AND s.dbt_change_type IN ('update', 'delete')
   AND t.valid_to IS NULL;

INSERT INTO bench.scd2_dbt
SELECT id, name, email, city, segment, credit, updated_at,
       dbt_valid_from, NULL, true,
       md5(ROW(id, extract(epoch FROM dbt_valid_from))::text),
       dbt_updated_at, false,
       md5(ROW(name, email, city, segment, credit, updated_at)::text)
  FROM scd2_staging
 WHERE dbt_change_type = 'insert';
COMMIT;

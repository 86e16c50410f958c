-- bench/sql/scd2_cte.sql: a hand-written single statement with data-
-- modifying CTEs for bench.scd2_cte, written for this table (plain
-- equality on a NOT NULL key, no duplicate check, no counts).  The UPDATE
-- returns the changed rows so that each new version is inserted after the
-- row it replaces is closed (the unique index on current rows).
WITH cur AS (
    SELECT ctid AS tid, id, valid_from FROM bench.scd2_cte WHERE is_current
), j AS (
    SELECT s.*, c.tid, s.id IS NULL AS gone
      FROM bench.scd2_snap2 s
      FULL JOIN cur c ON c.id = s.id
     WHERE s.id IS NULL OR c.id IS NULL OR s.updated_at > c.valid_from
), closed AS (
    UPDATE bench.scd2_cte t
       SET valid_to = CASE WHEN j.gone THEN timestamptz '2024-03-02 00:00:00+00'
                           ELSE j.updated_at END,
           is_current = false
      FROM j
     WHERE t.ctid = j.tid
    RETURNING j.*
)
INSERT INTO bench.scd2_cte
SELECT id, name, email, city, segment, credit, updated_at,
       updated_at, NULL, true, md5(ROW(id, extract(epoch FROM updated_at))::text),
       updated_at, false, md5(ROW(name, email, city, segment, credit, updated_at)::text)
  FROM (SELECT * FROM j WHERE j.tid IS NULL
        UNION ALL
        SELECT * FROM closed WHERE NOT closed.gone) x;

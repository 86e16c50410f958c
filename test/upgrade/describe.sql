-- test/upgrade/describe.sql: every object of the lakehouse extension, one
-- line each, in a stable order, so that the catalog of an updated database
-- can be compared with that of a fresh install (test/t/018_upgrade.pl).
-- Columns are listed in their logical order (dropped ones left out), as
-- pg_dump sees them.
WITH ext AS (
    SELECT oid FROM pg_extension WHERE extname = 'lakehouse'
), members AS (
    SELECT d.classid, d.objid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
    SELECT c.oid, c.relname, c.relkind, c.relacl, c.reloptions
      FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
)
SELECT line FROM (
    SELECT 'relation ' || r.relname || ' kind ' || r.relkind::text
           || ' acl ' || coalesce(r.relacl::text, '-')
           || ' options ' || coalesce(r.reloptions::text, '-')
           || ' comment ' || coalesce(obj_description(r.oid, 'pg_class'), '-') AS line
      FROM rels r
    UNION ALL
    SELECT 'column ' || r.relname || '.' || lpad((row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum))::text, 3, '0')
           || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || coalesce(' acl ' || a.attacl::text, '')
           || coalesce(' comment ' || col_description(a.attrelid, a.attnum), '')
      FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE r.relkind IN ('r', 'v', 'p')
    UNION ALL
    SELECT 'constraint ' || r.relname || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid)
      FROM rels r JOIN pg_constraint c ON c.conrelid = r.oid
    UNION ALL
    SELECT 'index ' || r.relname || ' ' || pg_get_indexdef(i.indexrelid)
      FROM rels r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT 'trigger ' || r.relname || ' ' || pg_get_triggerdef(t.oid)
      FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'view ' || r.relname || ' ' || pg_get_viewdef(r.oid)
      FROM rels r WHERE r.relkind = 'v'
    UNION ALL
    SELECT 'sequence ' || r.relname || ' ' || s.seqtypid::regtype || ' ' || s.seqstart || ' ' || s.seqincrement
      FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' acl ' || coalesce(p.proacl::text, '-')
           || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
           || E'\n' || pg_get_functiondef(p.oid)
      FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
     WHERE p.prokind <> 'a'
    UNION ALL
    SELECT 'aggregate ' || p.oid::regprocedure || ' ' || a.aggtransfn::regproc || ' ' || a.aggfinalfn::regproc
      FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
      JOIN pg_aggregate a ON a.aggfnoid = p.oid
    UNION ALL
    SELECT 'event trigger ' || e.evtname || ' ' || e.evtevent || ' ' || e.evtfoid::regproc
           || ' ' || coalesce(e.evttags::text, '-') || ' ' || e.evtenabled::text
      FROM pg_event_trigger e JOIN members m ON m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid
    UNION ALL
    SELECT 'type ' || t.oid::regtype
      FROM pg_type t JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
    UNION ALL
    SELECT 'config ' || c.relname || ' ' || coalesce(e.extcondition[array_position(e.extconfig, c.oid)], '')
      FROM pg_extension e JOIN pg_class c ON c.oid = ANY (e.extconfig)
     WHERE e.extname = 'lakehouse'
    UNION ALL
    SELECT 'init_priv ' || i.classoid::regclass || ' '
           || CASE i.classoid WHEN 'pg_class'::regclass THEN i.objoid::regclass::text
                              WHEN 'pg_proc'::regclass THEN i.objoid::regprocedure::text
                              ELSE pg_describe_object(i.classoid, i.objoid, 0) END
           || ' ' || i.objsubid || ' ' || i.privtype::text || ' ' || i.initprivs::text
      FROM pg_init_privs i JOIN members m ON m.classid = i.classoid AND m.objid = i.objoid
) all_lines
ORDER BY line;

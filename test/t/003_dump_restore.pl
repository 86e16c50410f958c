
# Copyright (c) lakehouse authors

# pg_dump keeps user definitions: the catalog tables are registered with
# pg_extension_config_dump, so a dump restored into a fresh database has
# the same pipelines, sources, mappings, marks and run history, and the
# restored pipeline continues incrementally from its marks once its
# sources, paused because the database is a copy, are enabled again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lakehouse'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src_db');
$node->safe_psql(
	'src_db', q{
CREATE EXTENSION lakehouse;
CREATE TABLE public.items (id int, name text, ts timestamptz);
INSERT INTO public.items
  SELECT g, 'item ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 20) g;
SELECT lakehouse.lh_create_pipeline('dumped', 'kept by pg_dump');
SELECT lakehouse.lh_add_source('dumped', 'items_src', 'table',
  '{"table": "public.items", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('dumped', 'silver.items', 'items_src',
  '[{"name": "id", "type": "integer"}, {"name": "name", "type": "text", "transforms": ["upper"]}]',
  keys => ARRAY['id']);
SELECT lakehouse.lh_define_gold('dumped', 'gold.item_count',
  'SELECT count(*) AS n FROM silver.items');
SELECT lakehouse.lh_run_pipeline('dumped');
});

my $catalog_query = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'pipeline ' || name || ' ' || coalesce(description, '') AS x FROM lakehouse.pipelines
  UNION ALL SELECT 'source ' || name || ' ' || kind || ' ' || options::text FROM lakehouse.sources
  UNION ALL SELECT 'table ' || layer || ' ' || schema_name || '.' || table_name FROM lakehouse.tables
  UNION ALL SELECT 'column ' || column_name || ' ' || type_name || ' ' || transforms::text FROM lakehouse.silver_columns
  UNION ALL SELECT 'mark ' || mark_key || ' ' || mark_value FROM lakehouse.source_marks
  UNION ALL SELECT 'runs ' || count(*) FROM lakehouse.runs
) s};
my $before = $node->safe_psql('src_db', $catalog_query);
like($before, qr/pipeline dumped kept by pg_dump/, 'catalog has the pipeline');

my $dump = $node->basedir . '/lakehouse.dump';
command_ok(
	[ 'pg_dump', '-Fc', '-d', $node->connstr('src_db'), '-f', $dump ],
	'pg_dump of a database with lakehouse');
$node->safe_psql('postgres', 'CREATE DATABASE dst_db');
command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_db'), $dump ],
	'pg_restore into a fresh database');

is($node->safe_psql('dst_db', $catalog_query),
	$before, 'restored catalog equals the original');
is($node->safe_psql('dst_db', 'SELECT count(*) FROM silver.items'),
	'20', 'silver data restored');

# the restored database is a copy (another database OID in lakehouse.site,
# which the dump carries): its source is paused, with the reason, and a run
# consumes nothing until it is enabled
# (the check, unless the database launcher made it first)
$node->safe_psql('dst_db', q{SELECT lakehouse.lh_site_check()});
is( $node->safe_psql('dst_db', q{SELECT how ~ '^adopted: another database: ' FROM lakehouse.site}),
	't', 'the restored database knows it is a copy, and adopted it');
like(
	$node->safe_psql('dst_db',
		q{SELECT enabled || ' ' || disabled_reason FROM lakehouse.source_status WHERE source = 'items_src'}),
	qr/^false paused: this database is a copy \(another database: "src_db" \(OID \d+\) was recorded, this is "dst_db" \(OID \d+\)\); nothing is consumed until SELECT lakehouse.lh_enable_source\('items_src'\)$/,
	'its source is paused, with the reason and how to resume');
is($node->safe_psql('src_db', q{SELECT enabled FROM lakehouse.sources WHERE name = 'items_src'}),
	't', 'the original is untouched');
$node->safe_psql('dst_db', q{SELECT lakehouse.lh_enable_source('items_src')});

# the restored pipeline continues from its marks: nothing new, then one row
is( $node->safe_psql(
		'dst_db',
		q{SELECT lakehouse.lh_run_pipeline('dumped') -> 'stages' -> 0 ->> 'rows_read'}),
	'0',
	'restored pipeline reads nothing already landed');
$node->safe_psql('dst_db',
	q{INSERT INTO public.items VALUES (21, 'item 21', '2024-02-01 00:00:00+00')});
is( $node->safe_psql(
		'dst_db',
		q{SELECT lakehouse.lh_run_pipeline('dumped') ->> 'rows_written'}),
	'3',
	'restored pipeline lands, projects and rebuilds only the new row');
is( $node->safe_psql(
		'dst_db', q{SELECT n FROM gold.item_count}),
	'21', 'gold rebuilt after restore');
# new runs get fresh ids after the restored history (sequences are dumped)
is( $node->safe_psql(
		'dst_db',
		q{SELECT count(DISTINCT run_id) = count(*) FROM lakehouse.runs}),
	't', 'run ids stay unique after restore');

$node->stop;
done_testing();

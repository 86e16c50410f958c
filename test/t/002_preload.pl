
# Copyright (c) lakehouse authors

# lakehouse without shared_preload_libraries: CREATE EXTENSION and a pipeline
# run must work in a server that did not preload the library, and loading it
# into a running backend must not define postmaster-only settings (that would
# be "FATAL: cannot create PGC_POSTMASTER variables after startup").

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'', 'lakehouse is not preloaded');

# LOAD in a fresh backend defines the lakehouse.* settings.
my $batch = $node->safe_psql(
	'postgres', q{
LOAD 'lakehouse';
SHOW lakehouse.batch_size;
});
like($batch, qr/^\d+$/, 'SHOW lakehouse.batch_size works after LOAD');

$node->safe_psql('postgres', 'CREATE EXTENSION lakehouse');
is( $node->safe_psql(
		'postgres',
		q{SELECT extversion FROM pg_extension WHERE extname = 'lakehouse'}),
	'0.2',
	'CREATE EXTENSION lakehouse works without preloading');

# A tiny pipeline: a local table source and one silver table.
$node->safe_psql(
	'postgres', q{
CREATE TABLE public.src (id int, ts timestamptz);
INSERT INTO public.src
  SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 5) g;
SELECT lakehouse.lh_create_pipeline('p');
SELECT lakehouse.lh_add_source('p', 'p_src', 'table',
  '{"table": "public.src", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('p', 'silver.p_items', 'p_src',
  '[{"name": "id", "type": "integer", "required": true},
    {"name": "ts", "type": "timestamptz"}]',
  keys => ARRAY['id']);
});

# Run it in a new backend, where the library is loaded on first call.
is( $node->safe_psql(
		'postgres', q{SELECT lakehouse.lh_run_pipeline('p') ->> 'status'}),
	'succeeded',
	'the pipeline runs without preloading');
is( $node->safe_psql(
		'postgres', 'SELECT count(*), sum(id) FROM silver.p_items'),
	'5|15',
	'the run filled the silver table');
is( $node->safe_psql(
		'postgres',
		q{SELECT status FROM lakehouse.runs WHERE pipeline_name = 'p'}),
	'succeeded',
	'the run is in the ledger');

# A second run finds nothing new.
is( $node->safe_psql(
		'postgres',
		q{SELECT (lakehouse.lh_run_pipeline('p') ->> 'rows_written')::bigint}),
	'0',
	'a second run writes nothing');

# No backend died while loading the library.
my $log = slurp_file($node->logfile);
unlike($log, qr/PGC_POSTMASTER|server process .* was terminated/,
	'no backend failed while loading lakehouse');

$node->stop;
done_testing();


# Copyright (c) lakehouse authors

# A mark moves with its data: a server killed with SIGKILL in the middle of
# a run loses the whole run (rows, marks and ledger row together), and the
# next run after recovery lands every row exactly once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lakehouse'");
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION lakehouse;
CREATE TABLE public.events (id bigint, ts timestamptz);
INSERT INTO public.events
  SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 1000) g;
SELECT lakehouse.lh_create_pipeline('crashy');
SELECT lakehouse.lh_add_source('crashy', 'events_src', 'table',
  '{"table": "public.events", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('crashy', 'silver.events', 'events_src',
  '[{"name": "id", "type": "bigint"}]', keys => ARRAY['id']);
SELECT lakehouse.lh_run_pipeline('crashy');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM silver.events'),
	'1000', 'first run landed everything');

# New rows, then a run that is stuck after its stages (a gold stage that
# sleeps) when the server is killed.
$node->safe_psql(
	'postgres', q{
INSERT INTO public.events
  SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1001, 1500) g;
SELECT lakehouse.lh_define_gold('crashy', 'gold.slow',
  'SELECT count(*) AS n, pg_sleep(600) IS NULL AS slept FROM silver.events');
});
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, q{
\echo started
SELECT lakehouse.lh_run_pipeline('crashy');
});
ok( $node->poll_query_until(
		'postgres',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'}),
	'the run is inside its gold stage');

$node->kill9;
eval { $bg->quit; };
# The killed postmaster's backends notice its death on their own; until they
# are gone the old shared memory is in use, so retry the start (bounded).
my $started = 0;
for (1 .. 120)
{
	if ($node->start(fail_ok => 1))
	{
		$started = 1;
		last;
	}
	usleep(500_000);
}
ok($started, 'server restarted after SIGKILL');

is($node->safe_psql('postgres', 'SELECT count(*) FROM bronze.events_src'),
	'1000', 'the killed run left no bronze rows');
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM lakehouse.runs WHERE status = 'running'}),
	'0', 'the killed run left no ledger row');

$node->safe_psql('postgres', q{SELECT lakehouse.lh_drop_table('gold.slow', true)});
is( $node->safe_psql(
		'postgres', q{SELECT lakehouse.lh_run_pipeline('crashy') ->> 'status'}),
	'succeeded', 'the next run succeeds');
is( $node->safe_psql(
		'postgres',
		'SELECT count(*), count(DISTINCT (payload->>\'id\')) FROM bronze.events_src'),
	'1500|1500', 'every source row landed exactly once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM silver.events'),
	'1500', 'silver has every row once');

$node->stop;
done_testing();

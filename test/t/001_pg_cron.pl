
# Copyright (c) lakehouse authors

# Scheduling through pg_cron: lh_schedule() creates a pg_cron job that runs
# the pipeline, lh_unschedule() removes it.  pg_cron 1.4 fires at the next
# minute boundary, so the wait below can take up to two minutes.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron,lakehouse'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 32
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE EXTENSION lakehouse');

# A tiny pipeline: a local table source and one silver table.
$node->safe_psql(
	'postgres', q{
CREATE TABLE public.src (id int, ts timestamptz);
INSERT INTO public.src
  SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 3) g;
SELECT lakehouse.lh_create_pipeline('p');
SELECT lakehouse.lh_add_source('p', 'p_src', 'table',
  '{"table": "public.src", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('p', 'silver.p_items', 'p_src',
  '[{"name": "id", "type": "integer", "required": true},
    {"name": "ts", "type": "timestamptz"}]',
  keys => ARRAY['id']);
});

# Scheduling an unknown pipeline is an error, and schedules nothing.
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT lakehouse.lh_schedule('no_such_pipeline', '* * * * *')});
isnt($ret, 0, 'lh_schedule on an unknown pipeline fails');
like($stderr, qr/ERROR:.*no_such_pipeline/,
	'the error names the unknown pipeline');

# So is an invalid schedule.
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SELECT lakehouse.lh_schedule('p', 'every now and then')});
isnt($ret, 0, 'lh_schedule with an invalid schedule fails');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'),
	'0', 'failed lh_schedule calls leave no pg_cron job');

# Schedule the pipeline every minute.
my $jobid = $node->safe_psql('postgres',
	q{SELECT lakehouse.lh_schedule('p', '* * * * *')});
like($jobid, qr/^\d+$/, 'lh_schedule returns the pg_cron job id');
is( $node->safe_psql(
		'postgres', qq{
SELECT jobname || ' | ' || schedule || ' | ' || command
FROM cron.job WHERE jobid = $jobid}),
	"lakehouse: p | * * * * * | SELECT lakehouse.lh_run_pipeline('p')",
	'the pg_cron job has the documented name, schedule and command');

# Nothing has run the pipeline by hand: a succeeded run can only come from
# pg_cron.  Allow for the next minute boundary plus a slow start.
{
	local $PostgreSQL::Test::Utils::timeout_default =
	  $PostgreSQL::Test::Utils::timeout_default < 180
	  ? 180
	  : $PostgreSQL::Test::Utils::timeout_default;

	ok( $node->poll_query_until(
			'postgres', qq{
SELECT EXISTS (SELECT 1 FROM lakehouse.runs
               WHERE pipeline_name = 'p' AND status = 'succeeded')
   AND EXISTS (SELECT 1 FROM cron.job_run_details
               WHERE jobid = $jobid AND status = 'succeeded')}),
		'pg_cron ran the pipeline and the run succeeded');
}

diag(
	'run from pg_cron: '
	  . $node->safe_psql(
		'postgres', q{
SELECT format('run_by=%s application=%s', run_by, coalesce(application, '(null)'))
FROM lakehouse.runs WHERE pipeline_name = 'p' AND status = 'succeeded'
ORDER BY run_id LIMIT 1}));

is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'}),
	'0',
	'no pg_cron run failed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM silver.p_items'),
	'3', 'the scheduled run filled the silver table');

# Unschedule: the pg_cron job goes away.
is($node->safe_psql('postgres', q{SELECT lakehouse.lh_unschedule('p')}),
	't', 'lh_unschedule returns true for a scheduled pipeline');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'),
	'0', 'lh_unschedule removed the pg_cron job');

$node->stop;
done_testing();

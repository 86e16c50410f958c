
# Copyright (c) lakehouse authors

# A promotion is recorded in lakehouse.site at once in a database whose
# sources have no background worker (a table source), not only when the
# database launcher's naptime comes round (issue 20).
#
# The database launcher of a database with sources waits on the standby
# and looks every second whether the server was promoted; its first pass
# on the primary rewrites lakehouse.site (how = 'promoted').  With a long
# lakehouse.launcher_naptime (60 s) only that waiting launcher can record
# the promotion within seconds.  The test then restarts the promoted
# server right away: the promotion, recorded before the restart, is not
# taken for a point-in-time recovery (which it would be once the server no
# longer remembers that it ran as a standby), so the source stays enabled
# and a run still ingests it.  A database without any source keeps no
# launcher waiting on the standby.  On the standby, a run is refused with
# a message that says so.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $conf = <<'EOC';
timezone = 'UTC'
lc_messages = 'C'
max_worker_processes = 16
hot_standby = on
shared_preload_libraries = 'lakehouse'
lakehouse.launcher_naptime = '60s'
EOC

my $P = PostgreSQL::Test::Cluster->new('pnw_primary');
$P->init(allows_streaming => 1);
$P->append_conf('postgresql.conf', $conf);
$P->start;
$P->safe_psql('postgres', q{
CREATE EXTENSION lakehouse;
CREATE TABLE public.items (id int PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO public.items SELECT g, timestamptz '2026-01-01' + g * interval '1 minute'
  FROM generate_series(1, 10) g;
SELECT lakehouse.lh_create_pipeline('tp');
SELECT lakehouse.lh_add_source('tp', 'items_src', 'table',
  '{"table": "public.items", "watermark": "ts"}');
SELECT lakehouse.lh_run_pipeline('tp');
});
$P->safe_psql('postgres', 'CREATE DATABASE empty_db');
$P->safe_psql('empty_db', 'CREATE EXTENSION lakehouse');
is($P->safe_psql('postgres', 'SELECT how FROM lakehouse.site'),
	'created', 'the primary recorded its site when the source was declared');

$P->backup('b');
my $S = PostgreSQL::Test::Cluster->new('pnw_standby');
$S->init_from_backup($P, 'b', has_streaming => 1);
$S->start;
$P->safe_psql('postgres', q{
INSERT INTO public.items SELECT g, timestamptz '2026-01-01' + g * interval '1 minute'
  FROM generate_series(11, 15) g});
$P->wait_for_catchup($S);

# On the standby: a database launcher waits in the database with a source,
# none in the database without.
ok( $S->poll_query_until(
		'postgres', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE backend_type = 'lakehouse db launcher' AND datname = 'postgres'}),
	'a database launcher waits on the standby in the database with a table source');
is( $S->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'lakehouse db launcher' AND datname = 'empty_db'}),
	'0', 'and none in the database without sources');

# A run on the standby is refused with a clear message, not the first
# write's "read-only transaction" error.
my ($rc, $out, $err) = $S->psql('postgres', q{SELECT lakehouse.lh_run_pipeline('tp')});
like($err, qr/ERROR:  cannot run pipeline "tp" on a standby/,
	'lh_run_pipeline on the standby says it is a standby');
like($err, qr/HINT:  Run it on the primary/, 'and where to run it');
($rc, $out, $err) = $S->psql('postgres', q{SELECT lakehouse.lh_ingest('items_src')});
like($err, qr/ERROR:  cannot run source "items_src" on a standby/,
	'so does lh_ingest');

$P->stop('immediate');
my $t0 = time;
$S->safe_psql('postgres', 'SELECT pg_promote()');
my $promoted = $S->poll_query_until(
	'postgres', q{
SELECT how = 'promoted'
       AND timeline = ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  FROM lakehouse.site}, 't');
my $took = time - $t0;
ok($promoted, 'lakehouse.site says promoted, on the new timeline');
cmp_ok($took, '<', 30,
	'recorded by the waiting database launcher, long before the 60 s naptime');
note(sprintf('promotion recorded %.2f s after pg_promote', $took));

# Restart at once: the promotion is recorded, so this is no copy.
$S->restart;
is( $S->safe_psql(
		'postgres',
		q{SELECT lakehouse.lh_site_check() IS NULL AND (SELECT enabled FROM lakehouse.sources WHERE name = 'items_src')}
	),
	't',
	'after a restart the promoted database is not taken for a copy; its source stays enabled');
$S->safe_psql('postgres', 'SELECT lakehouse.lh_run_pipeline(\'tp\')');
is($S->safe_psql('postgres', 'SELECT count(*) FROM bronze.items_src'),
	'15', 'a run on the promoted server ingests the rows the standby replayed, each once');
unlike(slurp_file($S->logfile), qr/WARNING:  lakehouse paused/,
	'no source was paused');

$S->stop;
done_testing();

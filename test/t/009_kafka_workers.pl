
# Copyright (c) lakehouse authors

# The life of Kafka workers:
# - lh_disable_source stops the worker (no backend of that name after a
#   bounded wait) and nothing lands while disabled; lh_enable_source starts
#   it again and it lands what came meanwhile; lh_restart_source replaces
#   it; a worker ended by pg_terminate_backend comes back; lh_drop_source
#   stops it;
# - a changed setting reaches a running worker with a reload (SIGHUP):
#   lowering lakehouse.max_message_bytes makes the next big message a dead
#   letter, without a new worker;
# - lh_disable_source while the worker's batch waits for a lock on its
#   bronze table returns at once, and the worker stops;
# - a second database with an awkward name gets its own worker;
# - invalid options are refused by lh_add_source (22023);
# - lakehouse.max_workers = 1 and two enabled sources: one runs, the other
#   waits, and gets the slot when the first is disabled;
# - without shared_preload_libraries, no worker: lh_ingest and
#   lh_run_pipeline land what is there.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use LakehouseKafka;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $mock = kafka_mock_start(name => '009', topics => [ 'life:2', 'shared:1' ]);
my $addr = $mock->{addr};

my %next = (0 => 0, 1 => 0);
sub produce_life
{
	my ($n) = @_;
	for my $p (0, 1)
	{
		kafka_produce($addr, 'life', $p,
			[ map { qq({"p": $p, "i": $_}) } $next{$p} .. $next{$p} + $n - 1 ]);
		$next{$p} += $n;
	}
	return 2 * $n;
}

sub no_worker
{
	my ($node, $source) = @_;
	return 'SELECT (' . lh_worker_count($source) . ') = 0';
}

sub one_worker
{
	my ($node, $source) = @_;
	return 'SELECT (' . lh_worker_count($source) . ') = 1';
}

# --- disable, enable, restart, reload, drop ---------------------------------

my $node = lh_kafka_node('kworkers');
my $total = produce_life(10);
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('life');
SELECT lakehouse.lh_add_source('life', 'life_src', 'kafka',
  '{"brokers": "$addr", "topic": "life"}');
});
lh_poll($node, 'SELECT count(*) FROM bronze.life_src', $total, 'the worker landed the first messages');
lh_poll($node, one_worker($node, 'life_src'), 't', 'one worker for life_src');

$node->safe_psql('postgres', q{SELECT lakehouse.lh_disable_source('life_src')});
lh_poll($node, no_worker($node, 'life_src'), 't', 'lh_disable_source stops the worker');
lh_poll(
	$node, q{
SELECT string_agg(DISTINCT worker_state, ',') || ':' || bool_and(NOT enabled)
  FROM lakehouse.source_status WHERE source = 'life_src'},
	'stopped:true', 'source_status: disabled, worker_state stopped');
$total += produce_life(5);
ok( !lh_wait($node, "SELECT count(*) > $total - 10 FROM bronze.life_src", 't', timeout => 3),
	'nothing lands while the source is disabled (3 launcher naptimes)');
ok(lh_wait($node, no_worker($node, 'life_src'), 't', timeout => 1),
	'and no worker came back');

$node->safe_psql('postgres', q{SELECT lakehouse.lh_enable_source('life_src')});
lh_poll($node, 'SELECT count(*) FROM bronze.life_src', $total,
	'lh_enable_source: a worker lands what came meanwhile');
lh_poll($node, one_worker($node, 'life_src'), 't', 'one worker again');

my $pid = lh_worker_pid($node, 'life_src');
is($node->safe_psql('postgres', q{SELECT lakehouse.lh_restart_source('life_src')}),
	't', 'lh_restart_source signals the worker');
ok( lh_wait(
		$node,
		'SELECT (' . lh_worker_count('life_src') . " AND pid <> $pid) = 1"
		  . ' AND (' . lh_worker_count('life_src') . " AND pid = $pid) = 0",
		't', timeout => 60),
	'a new worker replaced the old one');
$total += produce_life(5);
lh_poll($node, 'SELECT count(*) FROM bronze.life_src', $total,
	'the new worker lands');

# A worker ended with pg_terminate_backend comes back and goes on.
$pid = lh_worker_pid($node, 'life_src');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( lh_wait(
		$node,
		'SELECT (' . lh_worker_count('life_src') . " AND pid <> $pid) = 1",
		't', timeout => 60),
	'a worker ended by pg_terminate_backend is started again');
$total += produce_life(2);
lh_poll($node, 'SELECT count(*) FROM bronze.life_src', $total,
	'and it lands what comes next');

# A reload reaches the running worker.
$pid = lh_worker_pid($node, 'life_src');
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET lakehouse.max_message_bytes = '1kB'; SELECT pg_reload_conf();});
lh_poll($node, 'SHOW lakehouse.max_message_bytes', '1kB', 'the reload is done');
kafka_produce($addr, 'life', 0, [ '{"big": "' . ('y' x 2000) . '"}' ]);
kafka_produce($addr, 'life', 0, ['{"small": 1}']);
$next{0} += 2;
lh_poll(
	$node, q{
SELECT (SELECT count(*) FROM lakehouse.dead_letters WHERE source_name = 'life_src')
       || ':' || (SELECT count(*) FROM bronze.life_src WHERE payload ? 'small')},
	'1:1',
	'after the reload the worker dead-letters a 2000-byte message and lands the next one');
$total += 1;
is(lh_worker_pid($node, 'life_src'), $pid, 'the same worker (no restart needed)');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET lakehouse.max_message_bytes; SELECT pg_reload_conf();});

$node->safe_psql('postgres', q{SELECT lakehouse.lh_disable_source('life_src')});
lh_poll($node, no_worker($node, 'life_src'), 't', 'stopped again');
is($node->safe_psql('postgres', q{SELECT lakehouse.lh_restart_source('life_src')}),
	'f', 'lh_restart_source on a disabled source signals nothing');
$node->safe_psql('postgres', q{SELECT lakehouse.lh_enable_source('life_src')});
lh_poll($node, one_worker($node, 'life_src'), 't', 'enabled again');

# A worker whose batch waits for a lock on its bronze table (held by a
# session that went idle in its transaction): lh_disable_source should still
# stop it within a bounded time.
my $locker = $node->background_psql('postgres', on_error_stop => 0);
$locker->query_safe('BEGIN; LOCK TABLE bronze.life_src IN ACCESS EXCLUSIVE MODE;');
$total += produce_life(2);
lh_poll(
	$node,
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = '}
	  . lh_worker_name('life_src')
	  . q{' AND wait_event_type = 'Lock'},
	't', 'the worker waits for the lock on its bronze table');
my ($dret, $dout, $derr) = $node->psql('postgres',
	q{SET statement_timeout = '10s'; SELECT lakehouse.lh_disable_source('life_src');});
is($dret, 0, 'lh_disable_source returns while the worker waits for a lock');
ok(lh_wait($node, no_worker($node, 'life_src'), 't', timeout => 10),
	'and the worker stops although its lock wait has not ended');
note "lh_disable_source under the lock: exit $dret $derr";
$locker->query_safe('COMMIT');
$locker->quit;
$node->safe_psql('postgres', q{SELECT lakehouse.lh_enable_source('life_src')});
lh_poll($node, 'SELECT count(*) FROM bronze.life_src', $total,
	'once the lock is released (and the source enabled) nothing is lost');
lh_poll($node, one_worker($node, 'life_src'), 't', 'one worker again');

$node->safe_psql('postgres', q{SELECT lakehouse.lh_drop_source('life_src')});
lh_poll($node, no_worker($node, 'life_src'), 't', 'lh_drop_source stops the worker');

# A second database, with an awkward name: its own worker, named after it.
my $db2 = 'odd "db"';
$node->safe_psql('postgres', q{CREATE DATABASE "odd ""db"""});
$node->safe_psql(
	$db2, qq{
CREATE EXTENSION lakehouse;
SELECT lakehouse.lh_create_pipeline('life');
SELECT lakehouse.lh_add_source('life', 'life_src', 'kafka', '{"brokers": "$addr", "topic": "life"}');
});
lh_poll($node, 'SELECT (' . lh_worker_count('life_src', $db2) . ') = 1', 't',
	'a worker "' . lh_worker_name('life_src', $db2) . '" for the other database');
my $in_life = $next{0} + $next{1};
my $n2;
for (1 .. 300)
{
	$n2 = $node->safe_psql($db2, 'SELECT count(*) + (SELECT count(*) FROM lakehouse.dead_letters) FROM bronze.life_src');
	last if $n2 == $in_life;
	usleep(100_000);
}
is($n2, $in_life, 'it lands the whole topic there (rows and dead letters)');

# Options are checked when the source is declared.
for my $case (
	[ '{"properties": {"no.such.property": "1"}}', 'an unknown librdkafka property' ],
	[ '{"properties": {"fetch.max.bytes": "abc"}}', 'an invalid property value' ],
	[ '{"properties": {"group.id": "mine"}}', 'a property lakehouse sets (group.id)' ],
	[ '{"properties": {"enable.auto.commit": "true"}}', 'a property lakehouse sets (enable.auto.commit)' ],
	[ '{"properties": {"bootstrap.servers": "elsewhere:9092"}}', 'a property lakehouse sets (bootstrap.servers)' ],
	[ '{"format": "xml"}', 'an invalid format' ],
	[ '{"start": "middle"}', 'an invalid start' ])
{
	my ($opt, $what) = @$case;
	my $json = qq({"brokers": "$addr", "topic": "life", ) . substr($opt, 1);
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT lakehouse.lh_add_source('life', 'bad_src', 'kafka', '$json')");
	like($err, qr/ERROR:  22023:/, "lh_add_source refuses $what (22023)");
}

my $log = slurp_file($node->logfile);
unlike($log, qr/server process .* was terminated|PANIC/, 'no backend crashed');
$node->stop;

# --- lakehouse.max_workers exhausted -----------------------------------------

kafka_produce($addr, 'shared', 0, [ map { qq({"i": $_}) } 0 .. 49 ]);
my $nodeb = lh_kafka_node('kmaxw', conf => "lakehouse.max_workers = 1\n");
$nodeb->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('mw');
SELECT lakehouse.lh_add_source('mw', 'mw_a', 'kafka', '{"brokers": "$addr", "topic": "shared"}');
SELECT lakehouse.lh_add_source('mw', 'mw_b', 'kafka', '{"brokers": "$addr", "topic": "shared"}');
});
lh_poll(
	$nodeb, q{
SELECT count(DISTINCT source) FILTER (WHERE worker_state = 'running') || ','
       || count(DISTINCT source) FILTER (WHERE worker_state LIKE 'waiting%')
  FROM lakehouse.source_status WHERE source IN ('mw_a', 'mw_b')},
	'1,1',
	'max_workers = 1: one source runs, the other waits');
my ($running, $waiting) = split /\|/, $nodeb->safe_psql(
	'postgres', q{
SELECT (SELECT min(source) FROM lakehouse.source_status WHERE worker_state = 'running'),
       (SELECT min(source) FROM lakehouse.source_status WHERE worker_state LIKE 'waiting%')});
is( $nodeb->safe_psql(
		'postgres',
		"SELECT DISTINCT worker_state FROM lakehouse.source_status WHERE source = '$waiting'"),
	'waiting: lakehouse.max_workers (1) reached',
	'the waiting source says why');
is( $nodeb->safe_psql(
		'postgres',
		lh_worker_count('')),
	'1', 'only one Kafka worker runs');
lh_poll($nodeb, "SELECT count(*) FROM bronze.$running", '50', "$running landed everything");

$nodeb->safe_psql('postgres', "SELECT lakehouse.lh_disable_source('$running')");
lh_poll($nodeb, "SELECT count(*) FROM bronze.$waiting", '50',
	"$running disabled: $waiting got the slot and landed everything");
lh_poll(
	$nodeb,
	"SELECT DISTINCT worker_state FROM lakehouse.source_status WHERE source = '$waiting'",
	'running', "$waiting is running");
$nodeb->stop;

# --- no shared_preload_libraries: lh_ingest and lh_run_pipeline --------------

my $nodec = lh_kafka_node('knopreload', preload => 0);
$nodec->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('np');
SELECT lakehouse.lh_add_source('np', 'np_src', 'kafka', '{"brokers": "$addr", "topic": "life"}');
});
is( $nodec->safe_psql(
		'postgres',
		q{SELECT DISTINCT worker_state FROM lakehouse.source_status WHERE source = 'np_src'}),
	'not running (lakehouse is not in shared_preload_libraries)',
	'source_status says why there is no worker');
my $in_topic = $next{0} + $next{1};
is( $nodec->safe_psql(
		'postgres', q{SELECT lakehouse.lh_ingest('np_src') ->> 'status'}),
	'succeeded', 'lh_ingest succeeds');
# the 2000-byte message is under the default max_message_bytes here
is( $nodec->safe_psql(
		'postgres', q{
SELECT count(*) || ':' || count(DISTINCT _lh_position) || ':' || count(_lh_run_id)
  FROM bronze.np_src}),
	"$in_topic:$in_topic:$in_topic",
	'lh_ingest landed every message in the topic once, with its run id');
is( $nodec->safe_psql(
		'postgres', q{SELECT (lakehouse.lh_ingest('np_src') ->> 'rows_written')::int}),
	'0', 'a second lh_ingest lands nothing');
produce_life(3);
kafka_produce($addr, 'life', 1, ['not json']);
$next{1}++;
is( $nodec->safe_psql(
		'postgres', q{SELECT lakehouse.lh_run_pipeline('np') ->> 'status'}),
	'succeeded', 'lh_run_pipeline ingests the source when no worker serves it');
is( $nodec->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) FROM bronze.np_src) || ':'
    || (SELECT string_agg(source_position, ',') FROM lakehouse.dead_letters WHERE source_name = 'np_src')}),
	($in_topic + 6) . ":1:" . ($next{1} - 1),
	'lh_run_pipeline landed the new messages and dead-lettered the invalid one');
$nodec->stop;

done_testing();

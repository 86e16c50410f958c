
# Copyright (c) lakehouse authors

# A Kafka worker survives its brokers:
# - broker unavailable at start: the source points at a port where nothing
#   listens yet (connection refused); source_status shows the error while
#   the worker retries; once a cluster listens there (lh_kafka_mock --port,
#   which forwards that port to its broker), everything produced lands;
# - brokers vanishing mid-stream: during an ingest every broker goes down
#   (SIGUSR1 to the mock: connections closed, new ones refused after
#   accept); the error shows, and when they are back (SIGUSR2) the ingest
#   resumes: nothing lost, nothing duplicated;
# - messages the broker deleted before they were read (the mock keeps ~5 MiB
#   per partition): the worker goes on from the oldest message still there,
#   lands everything from it, and says which offsets it could not read.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use LakehouseKafka;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = lh_kafka_node('kdown');

# check: each partition's offsets 0..n-1 exactly once
sub exact
{
	my ($table, %count) = @_;
	is( $node->safe_psql(
			'postgres', qq{
SELECT _lh_partition, count(*), count(DISTINCT _lh_offset), min(_lh_offset), max(_lh_offset),
       count(*) FILTER (WHERE (payload->>'i')::bigint <> _lh_offset)
  FROM $table GROUP BY 1 ORDER BY 1}),
		join("\n",
			map { "$_|$count{$_}|$count{$_}|0|" . ($count{$_} - 1) . '|0' }
			  sort keys %count),
		"$table: every offset once, nothing lost or duplicated");
	return;
}

# --- broker unavailable at start -------------------------------------------

my $port = PostgreSQL::Test::Cluster::get_free_port();
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('down');
SELECT lakehouse.lh_add_source('down', 'late_src', 'kafka',
  '{"brokers": "127.0.0.1:$port", "topic": "late"}');
});
lh_poll(
	$node, q{
SELECT bool_or(worker_state = 'error' OR last_error IS NOT NULL)
  FROM lakehouse.source_status WHERE source = 'late_src'},
	't',
	'nothing listens at the broker address: source_status shows the error');
note 'source_status: '
  . $node->safe_psql('postgres',
	q{SELECT DISTINCT worker_state || ': ' || coalesce(last_error, '') FROM lakehouse.source_status WHERE source = 'late_src'});
ok(lh_worker_pid($node, 'late_src') =~ /^\d+$/
	  || $node->safe_psql('postgres',
		q{SELECT bool_or(worker_state = 'error' OR worker_state LIKE 'backoff%') FROM lakehouse.source_status WHERE source = 'late_src'}) eq 't',
	'the worker is still there (or in its restart backoff)');

my $mock = kafka_mock_start(
	name => '008',
	port => $port,
	topics => [ 'late:2', 'flaky:2', 'gone:1' ]);
is($mock->{addr}, "127.0.0.1:$port", 'the cluster now listens at the source\'s address');
my $addr = $mock->{addr};
for my $p (0, 1)
{
	kafka_produce($addr, 'late', $p, [ map { qq({"i": $_}) } 0 .. 99 ]);
}
lh_poll($node, 'SELECT count(*) FROM bronze.late_src', '200',
	'once the broker is there, everything produced lands');
lh_poll(
	$node, q{
SELECT bool_and(worker_state = 'running' AND lag = 0) FROM lakehouse.source_status WHERE source = 'late_src'},
	't', 'the worker is running, without lag');
exact('bronze.late_src', 0 => 100, 1 => 100);

# --- brokers vanishing mid-stream -------------------------------------------

my $n1 = 20_000;
for my $p (0, 1)
{
	kafka_produce($addr, 'flaky', $p, [ map { qq({"i": $_, "pad": "abcdefghij"}) } 0 .. $n1 - 1 ]);
}
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_add_source('down', 'flaky_src', 'kafka',
  '{"brokers": "$addr", "topic": "flaky", "batch_size": 500}');
});
lh_poll($node, 'SELECT count(*) > 0 FROM bronze.flaky_src', 't',
	'the ingest of flaky started');
kafka_mock_signal($mock, 'USR1');
my $at = $node->safe_psql('postgres', 'SELECT count(*) FROM bronze.flaky_src');
note "brokers down with $at of " . 2 * $n1 . ' rows landed';
lh_poll(
	$node, q{
SELECT bool_or(worker_state = 'error' OR last_error IS NOT NULL)
  FROM lakehouse.source_status WHERE source = 'flaky_src'},
	't',
	'the brokers are down: source_status shows the error');
note 'source_status: '
  . $node->safe_psql('postgres',
	q{SELECT DISTINCT worker_state || ': ' || coalesce(last_error, '') FROM lakehouse.source_status WHERE source = 'flaky_src'});

kafka_mock_signal($mock, 'USR2');
for my $p (0, 1)
{
	kafka_produce($addr, 'flaky', $p, [ map { qq({"i": $_}) } $n1 .. $n1 + 99 ]);
}
lh_poll($node, 'SELECT count(*) FROM bronze.flaky_src', 2 * ($n1 + 100),
	'the brokers are back: the ingest resumed and everything landed',
	timeout => 120);
lh_poll(
	$node, q{
SELECT bool_and(worker_state = 'running' AND lag = 0) FROM lakehouse.source_status WHERE source = 'flaky_src'},
	't', 'flaky_src: running again, without lag');
exact('bronze.flaky_src', 0 => $n1 + 100, 1 => $n1 + 100);

# --- messages deleted by the broker before they were read ---------------------

kafka_produce($addr, 'gone', 0, [ map { qq({"i": $_}) } 0 .. 99 ]);
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_add_source('down', 'gone_src', 'kafka', '{"brokers": "$addr", "topic": "gone"}');
});
lh_poll($node, 'SELECT count(*) FROM bronze.gone_src', '100', 'gone_src: the first 100 landed');
$node->safe_psql('postgres', q{SELECT lakehouse.lh_disable_source('gone_src')});
lh_poll($node, 'SELECT (' . lh_worker_count('gone_src') . ') = 0', 't', 'gone_src: disabled');
# 30,000 messages of ~330 bytes: ~10 MB, twice what the mock keeps
my $pad = 'p' x 300;
for my $c (0 .. 5)
{
	my $from = 100 + $c * 5000;
	kafka_produce($addr, 'gone', 0,
		[ map { qq({"i": $_, "pad": "$pad"}) } $from .. $from + 4999 ]);
}
my $low = kafka_offset_for_time($addr, 'gone', 0, -2);
my $high = kafka_offset_for_time($addr, 'gone', 0, -1);
note "the broker now keeps offsets $low to " . ($high - 1);
cmp_ok($low, '>', 100, 'the broker deleted messages the source had not read');
$node->safe_psql('postgres', q{SELECT lakehouse.lh_enable_source('gone_src')});
lh_poll(
	$node, q{
SELECT count(*) || ':' || min(_lh_offset) || ':' || max(_lh_offset)
  FROM bronze.gone_src WHERE _lh_offset >= 100},
	($high - $low) . ":$low:" . ($high - 1),
	'gone_src: everything from the oldest message still there landed');
exact_range();
lh_poll(
	$node, q{
SELECT bool_and(lag = 0 AND stored_offset = high_watermark) AND bool_or(last_error IS NOT NULL)
  FROM lakehouse.source_status WHERE source = 'gone_src'},
	't', 'gone_src: caught up, and last_error says offsets were missing');
note 'gone_src: '
  . $node->safe_psql('postgres',
	q{SELECT DISTINCT worker_state || ': ' || coalesce(last_error, '') FROM lakehouse.source_status WHERE source = 'gone_src'});

sub exact_range
{
	is( $node->safe_psql(
			'postgres', q{
SELECT count(*) - count(DISTINCT _lh_offset) FROM bronze.gone_src}),
		'0', 'gone_src: no offset twice');
	return;
}

my $log = slurp_file($node->logfile);
unlike($log, qr/server process .* was terminated|PANIC/, 'no backend crashed');

$node->stop;
kafka_mock_stop($mock);
done_testing();

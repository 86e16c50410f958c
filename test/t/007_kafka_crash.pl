
# Copyright (c) lakehouse authors

# Exactly once across crashes: 200,000 small messages over 8 partitions
# (every 997th one invalid JSON, a dead letter) are produced in 20 chunks;
# during each chunk's ingest, at a random moment,
# the Kafka worker is killed with SIGKILL (the postmaster then restarts
# every process), or the postmaster itself is killed with SIGKILL, or the
# server is stopped in immediate mode.  After the last restart and the
# catch-up, each (partition, offset) is exactly once in bronze or in
# lakehouse.dead_letters: nothing lost, nothing duplicated, payloads
# matching their offsets.
#
# The worker lands ~100,000 messages a second, so a chunk would mostly be in
# bronze before a kill: the bronze table gets a CHECK constraint that sleeps
# 5 ms on every 100th row, and the worker spends most of its time inside its
# batch transactions, where a crash matters most.  The kill moments still
# vary: the test log notes, for each kill of the worker, what it was doing.
#
# The mock keeps about 5 MiB per partition; 25,000 messages of ~60 bytes
# per partition stay well below that.  LH_TEST_SEED repeats a run's random
# choices (the seed is in the test log).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use LakehouseKafka;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $seed = $ENV{LH_TEST_SEED} // int(time() * 1000) % 1_000_000;
srand($seed);
note "random seed: $seed (LH_TEST_SEED=$seed repeats the choices)";

my $NPART = 8;
my $PER_PART = 25_000;
my $NCHUNK = 20;
my $TOTAL = $NPART * $PER_PART;
my $BAD_EVERY = 997;
my $BAD_PER_PART = int(($PER_PART - 1) / $BAD_EVERY) + 1;
my $BAD = $NPART * $BAD_PER_PART;
my $GOOD = $TOTAL - $BAD;

my $mock = kafka_mock_start(name => '007', topics => ["crash:$NPART"]);
my $addr = $mock->{addr};
# (PostgreSQL::Test::Cluster turns restart_after_crash off)
my $node = lh_kafka_node('kcrash', conf => "restart_after_crash = on\n");

$node->safe_psql(
	'postgres', qq{
CREATE FUNCTION public.slow_row(payload jsonb) RETURNS boolean
LANGUAGE plpgsql AS \$\$
BEGIN
    IF (payload->>'i')::bigint % 100 = 0 THEN
        PERFORM pg_sleep(0.005);
    END IF;
    RETURN true;
END
\$\$;
BEGIN;
SELECT lakehouse.lh_create_pipeline('crash');
SELECT lakehouse.lh_add_source('crash', 'crash_src', 'kafka',
  '{"brokers": "$addr", "topic": "crash", "batch_size": 1000}');
ALTER TABLE bronze.crash_src ADD CONSTRAINT slow CHECK (public.slow_row(payload));
COMMIT;
});

my @next = (0) x $NPART;    # next offset (= payload i) per partition
my $pad = 'x' x 30;

sub produce_chunk
{
	my ($size) = @_;
	for my $p (0 .. $NPART - 1)
	{
		kafka_produce($addr, 'crash', $p,
			[
				map {
					$_ % $BAD_EVERY == 0
					  ? "not json $p $_"
					  : qq({"p":$p,"i":$_,"pad":"$pad"})
				} $next[$p] .. $next[$p] + $size - 1
			]);
		$next[$p] += $size;
	}
	return;
}

sub landed
{
	my ($ret, $out) =
	  eval { $node->psql('postgres', 'SELECT count(*) FROM bronze.crash_src') };
	return defined $ret && $ret == 0 ? $out : undef;
}

# Start after a SIGKILL: until the killed server's processes are gone, its
# shared memory is in use and pg_ctl start fails; retry (bounded).
sub restart
{
	for (1 .. 120)
	{
		return 1 if $node->start(fail_ok => 1);
		usleep(500_000);
	}
	return 0;
}

my %kills;
my @methods = ('worker', 'postmaster', 'worker', 'immediate');
my $chunk = int($PER_PART / $NCHUNK);
for my $c (1 .. $NCHUNK)
{
	my $size = $c < $NCHUNK ? $chunk : $PER_PART - $chunk * ($NCHUNK - 1);
	my $before = landed() // 0;
	produce_chunk($size);

	# Mostly wait until this chunk is being landed; sometimes strike
	# during the worker's start-up instead.  Then a random delay.
	if (rand() < 0.75)
	{
		lh_wait($node,
			"SELECT count(*) > $before FROM bronze.crash_src", 't',
			timeout => 60)
		  or BAIL_OUT("chunk $c: nothing landed within 60 s; see the server log");
	}
	usleep(int(rand(250_000)));

	my $method = $methods[ ($c - 1) % @methods ];
	my $at = landed() // '?';
	if ($method eq 'worker')
	{
		my $pid;
		lh_wait($node, 'SELECT (' . lh_worker_count('crash_src') . ') = 1',
			't', timeout => 60)
		  or BAIL_OUT("chunk $c: no worker to kill within 60 s");
		$pid = lh_worker_pid($node, 'crash_src');
		my $doing = $node->safe_psql('postgres',
			"SELECT concat_ws(' ', state, wait_event, query) FROM pg_stat_activity WHERE pid = $pid");
		note "chunk $c: SIGKILL to the worker (pid $pid: $doing) with $at rows landed";
		kill('KILL', $pid);
		# the postmaster restarts everything; wait until it is back
		lh_wait($node, 'SELECT 1', '1', timeout => 60)
		  or BAIL_OUT("chunk $c: the server did not come back after the worker was killed");
	}
	elsif ($method eq 'postmaster')
	{
		note "chunk $c: SIGKILL to the postmaster with $at rows landed";
		$node->kill9;
		restart() or BAIL_OUT("chunk $c: the server did not restart after SIGKILL");
	}
	else
	{
		note "chunk $c: stop -m immediate with $at rows landed";
		$node->stop('immediate');
		restart() or BAIL_OUT("chunk $c: the server did not restart after an immediate stop");
	}
	$kills{$method}++;
}
is($next[0], $PER_PART, "$TOTAL messages produced");
cmp_ok($kills{worker} + $kills{postmaster} + $kills{immediate},
	'>=', 10, 'at least 10 crashes during the ingest ('
	  . join(', ', map { "$_: $kills{$_}" } sort keys %kills) . ')');

# Catch up after the last restart.
lh_poll(
	$node, q{
SELECT (SELECT count(DISTINCT (_lh_partition, _lh_offset)) FROM bronze.crash_src)
     + (SELECT count(DISTINCT source_position) FROM lakehouse.dead_letters WHERE source_name = 'crash_src')},
	$TOTAL, "all $TOTAL positions landed or dead-lettered after the last restart",
	timeout => 120);
lh_poll(
	$node, q{
SELECT bool_and(lag = 0 AND stored_offset = high_watermark) AND count(*) = 8
  FROM lakehouse.source_status WHERE source = 'crash_src'},
	't', 'the worker caught up on every partition');

is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) FROM bronze.crash_src) || ':'
    || (SELECT count(*) FROM lakehouse.dead_letters WHERE source_name = 'crash_src')}),
	"$GOOD:$BAD", "exactly $GOOD rows and $BAD dead letters: nothing duplicated");
is( $node->safe_psql(
		'postgres', q{
SELECT p, count(*), count(DISTINCT o), min(o), max(o), count(*) FILTER (WHERE bad)
  FROM (SELECT _lh_partition AS p, _lh_offset AS o,
               (payload->>'p')::int <> _lh_partition OR (payload->>'i')::bigint <> _lh_offset
               OR _lh_position <> _lh_partition || ':' || _lh_offset OR _lh_offset % 997 = 0 AS bad
          FROM bronze.crash_src
        UNION ALL
        SELECT split_part(source_position, ':', 1)::int, split_part(source_position, ':', 2)::bigint,
               split_part(source_position, ':', 2)::bigint % 997 <> 0
          FROM lakehouse.dead_letters WHERE source_name = 'crash_src') x
 GROUP BY 1 ORDER BY 1}),
	join("\n",
		map { "$_|$PER_PART|$PER_PART|0|" . ($PER_PART - 1) . '|0' } 0 .. $NPART - 1),
	'per partition: offsets 0..24999 once each (bronze or dead letter), each where it belongs, payloads matching their offsets');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(mark_value, ',' ORDER BY mark_key)
  FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'crash_src' AND mark_key LIKE 'partition:%'}),
	join(',', ($PER_PART) x $NPART),
	'every stored offset is 25000');

# The kills hit: the postmaster saw a worker die of SIGKILL each time.
my $log = slurp_file($node->logfile);
my $seen = () = $log =~ /lakehouse kafka[^\n]*\(PID \d+\) was terminated by signal 9/g;
cmp_ok($seen, '>=', $kills{worker}, 'the server log shows each killed worker');

$node->stop;
done_testing();

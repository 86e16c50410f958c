
# Copyright (c) lakehouse authors

# Replaying a Kafka source: lh_reset_source to 'earliest' (all partitions
# and one), to an offset, to 'latest', and to a timestamp between two
# batches (which needs ListOffsets by time from the cluster: librdkafka
# 2.0.2's mock answers every timestamp with the end of the partition, so
# that part is skipped, saying so, when the cluster cannot do it).  Also the
# source options "start" ({"offsets": ...}) and "partitions".  Last,
# pointing a source at another topic (lh_add_source ..., replace => true):
# the old topic's offsets mean nothing there, so the new topic is read from
# the source's start position, every message of it.
#
# A reset lands again what is after the new position; rows already in
# bronze stay, so replayed positions appear once more.  lh_reset_source
# resolves the position with the cluster at once and returns (and says in
# a NOTICE) the offset each partition starts from.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use LakehouseKafka;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $mock = kafka_mock_start(name => '006', topics => [ 'replay:2', 'other:2' ]);
my $addr = $mock->{addr};
my $node = lh_kafka_node('reset');

sub batch
{
	my ($name, $p, $from, $n) = @_;
	kafka_produce($addr, 'replay', $p,
		[ map { qq({"batch": "$name", "p": $p, "i": $_}) } $from .. $from + $n - 1 ]);
	return;
}

# "p:off=count,..." over every position in bronze: how often each landed
sub landings
{
	return $node->safe_psql(
		'postgres', q{
SELECT string_agg(pos || '=' || n, ',' ORDER BY p, o)
  FROM (SELECT _lh_position AS pos, _lh_partition AS p, _lh_offset AS o, count(*) AS n
          FROM bronze.replay_src GROUP BY 1, 2, 3) x});
}

# the same, expected: $want->{p}[off] = count
sub expect
{
	my ($want) = @_;
	my @out;
	for my $p (sort keys %$want)
	{
		my $offs = $want->{$p};
		push @out, "$p:$_=$offs->[$_]" for 0 .. $#$offs;
	}
	return join(',', @out);
}

# lh_reset_source(args): "partition:offset" lines of its result, and its
# messages
sub reset_source
{
	my ($args) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT partition_no || ':' || next_offset FROM lakehouse.lh_reset_source($args) ORDER BY 1"
	);
	die "lh_reset_source($args) failed: $err" if $ret != 0;
	return ($out, $err);
}

# wait until the worker applied every reset request and caught up
sub settled
{
	my ($what, $total) = @_;
	lh_poll(
		$node, q{
SELECT count(*) = 0 FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'replay_src' AND m.mark_key LIKE 'reset:%'},
		't', "$what: the reset request was applied");
	lh_poll(
		$node, q{
SELECT bool_and(lag = 0 AND stored_offset = high_watermark)
  FROM lakehouse.source_status WHERE source = 'replay_src'},
		't', "$what: caught up");
	lh_poll($node, 'SELECT count(*) FROM bronze.replay_src', $total,
		"$what: $total rows in bronze");
	return;
}

# Batch A, landed.
batch('A', 0, 0, 10);
batch('A', 1, 0, 10);
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('replay');
SELECT lakehouse.lh_add_source('replay', 'replay_src', 'kafka',
  '{"brokers": "$addr", "topic": "replay"}');
});
lh_poll($node, 'SELECT count(*) FROM bronze.replay_src', '20', 'batch A landed');

# Batch B, produced strictly after A's last timestamp.
my $a_max = $node->safe_psql('postgres',
	q{SELECT (extract(epoch FROM max(_lh_timestamp)) * 1000)::bigint FROM bronze.replay_src});
usleep(5_000) while int(time() * 1000) <= $a_max + 1;
batch('B', 0, 10, 10);
batch('B', 1, 10, 10);
settled('batch B', 40);
my %want = (0 => [ (1) x 20 ], 1 => [ (1) x 20 ]);
is(landings(), expect(\%want), 'A and B landed once each');

# 'earliest', all partitions
my ($resolved, $msgs) = reset_source(q{'replay_src'});
is($resolved, "0:0\n1:0", 'reset to earliest returns where each partition starts');
like(
	$msgs,
	qr/NOTICE:  source "replay_src" will read partition 0 from offset 0, partition 1 from offset 0/,
	'... and says so');
settled('reset to earliest', 80);
$_++ for @{ $want{0} }, @{ $want{1} };
is(landings(), expect(\%want), 'reset to earliest: every position landed once more');

# an offset, one partition
($resolved) = reset_source(q{'replay_src', '15', 0});
is($resolved, '0:15', 'reset partition 0 to offset 15 returns it');
settled('reset partition 0 to offset 15', 85);
$want{0}[$_]++ for 15 .. 19;
is(landings(), expect(\%want), 'reset to offset 15 in partition 0: offsets 15..19 of partition 0 again');
like(
	slurp_file($node->logfile),
	qr/LOG:  Kafka source "replay_src" reads partition 0 again from offset 15/,
	'the worker logs where it applied the reset');

# 'earliest', one partition
($resolved) = reset_source(q{'replay_src', 'earliest', 1});
is($resolved, '1:0', 'reset partition 1 to earliest returns its first offset');
settled('reset partition 1 to earliest', 105);
$want{1}[$_]++ for 0 .. 19;
is(landings(), expect(\%want), 'reset partition 1 to earliest: only partition 1 again');

# a timestamp between A and B: B again, not A
my $mid_ms = $a_max + 1;
my $mid = $node->safe_psql('postgres',
	"SELECT to_char((timestamptz 'epoch' + $mid_ms * interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') || '+00'");
my $broker_off = kafka_offset_for_time($addr, 'replay', 0, $mid_ms);
note "timestamp between the batches: $mid ($mid_ms ms); the cluster resolves it to offset "
  . ($broker_off // 'nothing') . ' in partition 0';
($resolved, $msgs) = reset_source("'replay_src', '$mid'");
# what the cluster answers for that time (the end when it has no answer)
my $want_off = defined $broker_off && $broker_off >= 0 ? $broker_off : 20;
like($resolved, qr/^0:$want_off\n1:\d+$/,
	"reset to a timestamp returns the offsets the cluster resolved it to (partition 0: $want_off)");
like($msgs, qr/NOTICE:  source "replay_src" will read partition 0 from offset $want_off, partition 1 from offset \d+/,
	'... and says which');
SKIP:
{
	if (!defined $broker_off || $broker_off != 10)
	{
		# What we can check: the request is accepted and applied, and the
		# worker goes on (with the mock, the position is the partitions' end).
		settled('reset to a timestamp (cluster without time lookup)', 105);
		skip 'the Kafka cluster does not resolve timestamps (librdkafka 2.0.2 mock: '
		  . 'ListOffsets by time answers the end of the partition)', 1;
	}
	settled('reset to a timestamp between the batches', 125);
	for my $p (0, 1) { $want{$p}[$_]++ for 10 .. 19 }
	is(landings(), expect(\%want), 'reset to a timestamp: exactly batch B again');
}
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM bronze.replay_src');

# 'latest': nothing again; what comes next lands once
($resolved) = reset_source(q{'replay_src', 'latest'});
is($resolved, "0:20\n1:20", 'reset to latest returns the ends of the partitions');
settled('reset to latest', $rows);
batch('C', 1, 20, 5);
settled('batch C after reset to latest', $rows + 5);
push @{ $want{1} }, (1) x 5;
is(landings(), expect(\%want), 'reset to latest: nothing again, batch C once');

# an offset beyond the log is clamped to its end (as Kafka's reset tool
# does), so messages that arrive later are not skipped
($resolved, $msgs) = reset_source(q{'replay_src', '500', 0});
is($resolved, '0:20', 'reset to offset 500 of a partition that holds 0..19 returns 20');
like(
	$msgs,
	qr/WARNING:  Kafka source "replay_src": offset 500 is outside partition 0 of topic "replay" \(0 to 20\); starting at 20/,
	'and says so in a WARNING');
settled('reset partition 0 to offset 500', $rows + 5);
is( $node->safe_psql(
		'postgres',
		q{SELECT stored_offset FROM lakehouse.source_status WHERE source = 'replay_src' AND partition = 0}),
	'20',
	'the worker stores 20');
batch('D', 0, 20, 3);
settled('batch D after the clamped reset', $rows + 8);
push @{ $want{0} }, (1) x 3;
is(landings(), expect(\%want), 'the clamped reset skipped nothing: batch D once');

# refused requests
my ($ret, $out, $err) =
  $node->psql('postgres', q{SELECT lakehouse.lh_reset_source('replay_src', 'bogus')});
isnt($ret, 0, 'lh_reset_source refuses an invalid position');
like($err, qr/ERROR/, '... with an error');
($ret, $out, $err) =
  $node->psql('postgres', q{SELECT lakehouse.lh_reset_source('replay_src', '-3')});
isnt($ret, 0, 'lh_reset_source refuses a negative offset');
($ret, $out, $err) =
  $node->psql('postgres', q{SELECT lakehouse.lh_reset_source('no_such_source')});
isnt($ret, 0, 'lh_reset_source refuses an unknown source');
($ret, $out, $err) =
  $node->psql('postgres', q{SELECT lakehouse.lh_reset_source('replay_src', 'earliest', 7)});
isnt($ret, 0, 'lh_reset_source refuses a partition the topic does not have');
like($err, qr/ERROR:  Kafka topic of source "replay_src" has no partition 7/, '... saying so');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'replay_src' AND m.mark_key LIKE 'reset:%'}),
	'0',
	'... and records no request');

# start offsets and a partition subset: new sources on the same topic
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_add_source('replay', 'replay_from', 'kafka',
  '{"brokers": "$addr", "topic": "replay", "start": {"offsets": {"0": 5, "1": 8}}}');
SELECT lakehouse.lh_add_source('replay', 'replay_p1', 'kafka',
  '{"brokers": "$addr", "topic": "replay", "partitions": [1]}');
});
lh_poll(
	$node, q{
SELECT _lh_partition || ':' || count(*) || ':' || min(_lh_offset) || '-' || max(_lh_offset)
  FROM bronze.replay_from GROUP BY _lh_partition ORDER BY 1},
	"0:18:5-22\n1:17:8-24",
	'start {"offsets": {"0": 5, "1": 8}}: partition 0 from 5, partition 1 from 8');
lh_poll(
	$node, q{
SELECT string_agg(DISTINCT _lh_partition::text, ',') || ':' || count(*) FROM bronze.replay_p1},
	'1:25',
	'"partitions": [1]: only partition 1');
is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(DISTINCT partition::text, ',') FROM lakehouse.source_status WHERE source = 'replay_p1'}),
	'1',
	'source_status of a partition subset shows only that partition');

# Another topic for replay_from (offsets stored: 20 and 25).
kafka_produce($addr, 'other', 0, [ map { qq({"other": $_}) } 0 .. 4 ]);
kafka_produce($addr, 'other', 1, [ map { qq({"other": $_}) } 0 .. 2 ]);
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_add_source('replay', 'replay_from', 'kafka',
  '{"brokers": "$addr", "topic": "other"}', replace => true);
});
lh_poll(
	$node, q{
SELECT string_agg(_lh_partition || ':' || _lh_offset, ',' ORDER BY _lh_partition, _lh_offset)
  FROM bronze.replay_from WHERE _lh_topic = 'other'},
	'0:0,0:1,0:2,0:3,0:4,1:0,1:1,1:2',
	'after replace => true with another topic, every message of the new topic lands',
	timeout => 20);
note 'source_status of replay_from: '
  . $node->safe_psql('postgres',
	q{SELECT string_agg(concat_ws('|', partition, stored_offset, high_watermark, lag), ', ') FROM lakehouse.source_status WHERE source = 'replay_from'});

$node->stop;
done_testing();

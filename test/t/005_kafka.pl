
# Copyright (c) lakehouse authors

# Kafka sources, landed by the background worker, against librdkafka's mock
# cluster (test/kafka/lh_kafka_mock):
# - the happy path over several partitions: every produced message lands
#   once, in partition order, offsets 0..n-1 without gaps, payloads equal to
#   what was produced, the metadata columns filled, the offsets committed
#   to the broker too; a second round lands from the stored offsets, in
#   later transactions (_lh_ingested_at, last_landed_at);
# - a poison corpus read by three sources (json, text, bytes) of one topic:
#   each message that cannot land is a dead letter with its raw bytes, its
#   position and a reason; landed + dead letters = produced, exactly; the
#   options group_id and commit_to_broker;
# - lh_replay_dead_letters after raising lakehouse.max_message_bytes, and
#   lh_discard_dead_letters;
# - a session holding the source row and then bronze while messages arrive:
#   the worker yields the row (no deadlock), and lands them afterwards.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;

use LakehouseKafka;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $mock = kafka_mock_start(
	name => '005',
	topics => [ 'clicks:4', 'poison:1' ]);
my $addr = $mock->{addr};

my $node = lh_kafka_node('kafka',
	conf => "lakehouse.max_message_bytes = '256kB'\n");

# ---------------------------------------------------------------------------
# Happy path
# ---------------------------------------------------------------------------

# Partition p gets 300 + 37p messages; partitions 0-2 with a key and two
# headers, partition 3 with neither.  Payloads carry UTF-8, JSON escapes,
# numbers of several kinds.
my @rows;    # (partition, offset, line, key)
my %count;
my $t0 = time();
for my $p (0 .. 3)
{
	my @lines;
	my $n = 300 + 37 * $p;
	for my $i (0 .. $n - 1)
	{
		push @lines,
		    qq({"p": $p, "i": $i, "s": "caf\xc3\xa9 \\u2713 \\"q\\" )
		  . ('x' x ($i % 7))
		  . qq(", "f": ) . ($i * 1.5)
		  . qq(, "nested": {"a": [1, null, true, "\\\\"]}});
	}
	my %opts = $p < 3 ? (key => "key-$p", headers => [ 'src=test', "part=$p" ]) : ();
	kafka_produce($addr, 'clicks', $p, \@lines, %opts);
	push @rows, [ $p, $_, $lines[$_], $p < 3 ? "key-$p" : undef ] for 0 .. $n - 1;
	$count{$p} = $n;
}
my $t1 = time();
my $total = scalar @rows;

# Per partition, the landing order (_lh_id) is the offset order, without gaps.
sub in_offset_order
{
	my ($table, $what) = @_;
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM (
  SELECT _lh_offset - lag(_lh_offset) OVER (PARTITION BY _lh_partition ORDER BY _lh_id) AS step
    FROM $table) s
 WHERE step <> 1}),
		'0', $what);
	return;
}

$node->safe_psql('postgres',
	'CREATE TABLE expected (part int, off bigint, line text, key text)');
copy_rows($node, 'expected', \@rows);

$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('clicks');
SELECT lakehouse.lh_add_source('clicks', 'clicks_src', 'kafka',
  '{"brokers": "$addr", "topic": "clicks"}');
});

lh_poll($node, 'SELECT count(*) FROM bronze.clicks_src', $total,
	"the worker landed all $total messages");
ok(lh_worker_pid($node, 'clicks_src') =~ /^\d+$/,
	'one worker named "' . lh_worker_name('clicks_src') . '" runs');

is( $node->safe_psql(
		'postgres', q{
SELECT _lh_partition, count(*), count(DISTINCT _lh_offset), min(_lh_offset), max(_lh_offset)
  FROM bronze.clicks_src GROUP BY 1 ORDER BY 1}),
	join("\n",
		map { "$_|$count{$_}|$count{$_}|0|" . ($count{$_} - 1) } 0 .. 3),
	'per partition: offsets 0..n-1, each once (no gap, no duplicate)');

in_offset_order('bronze.clicks_src',
	'per partition, landing order (_lh_id) is offset order');

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM expected e
  FULL JOIN bronze.clicks_src b ON b._lh_partition = e.part AND b._lh_offset = e.off
 WHERE b.payload IS DISTINCT FROM e.line::jsonb
    OR convert_from(b._lh_key, 'UTF8') IS DISTINCT FROM e.key}),
	'0',
	'every payload and key is what was produced');

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM bronze.clicks_src
 WHERE _lh_source <> 'clicks_src' OR _lh_run_id IS NOT NULL
    OR _lh_position IS DISTINCT FROM _lh_partition || ':' || _lh_offset
    OR _lh_topic IS DISTINCT FROM 'clicks' OR _lh_ingested_at IS NULL}),
	'0',
	'_lh_source, _lh_run_id (NULL), _lh_position, _lh_topic, _lh_ingested_at');

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM bronze.clicks_src
 WHERE CASE WHEN _lh_partition < 3
            THEN _lh_headers IS DISTINCT FROM jsonb_build_array(
                   jsonb_build_object('key', 'src', 'value', 'test'),
                   jsonb_build_object('key', 'part', 'value', _lh_partition::text))
            ELSE coalesce(_lh_headers, '[]') <> '[]' END}),
	'0',
	'_lh_headers: the headers in order, as {"key", "value"} objects');

my ($lo, $hi) = ($t0 - 1, $t1 + 1);
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM bronze.clicks_src
 WHERE _lh_timestamp IS NULL
    OR _lh_timestamp NOT BETWEEN to_timestamp($lo) AND to_timestamp($hi)}),
	'0',
	'_lh_timestamp: the producer time of each message');

is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(mark_key || '=' || mark_value, ',' ORDER BY mark_key)
  FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'clicks_src' AND mark_key LIKE 'partition:%'}),
	join(',', map { "partition:$_=$count{$_}" } 0 .. 3),
	'source_marks: partition:<n> = next offset to read');

lh_poll(
	$node, q{
SELECT string_agg(concat_ws('|', partition, stored_offset, high_watermark, lag,
                            worker_state, worker_pid IS NOT NULL), ',' ORDER BY partition)
  FROM lakehouse.source_status WHERE source = 'clicks_src'},
	join(',', map { "$_|$count{$_}|$count{$_}|0|running|t" } 0 .. 3),
	'source_status: one row per partition, stored offset = high watermark, lag 0, running');

# The offsets are also committed to the broker (commit_to_broker defaults
# to true), for the consumer group lakehouse.<database>.<source>.
sub committed_is
{
	my ($group, $topic, $nparts, $want, $what) = @_;
	my $got;
	for (1 .. 100)
	{
		$got = kafka_committed($addr, $group, $topic, $nparts);
		last if $got eq $want;
		usleep(100_000);
	}
	is($got, $want, $what);
	return;
}
committed_is('lakehouse.postgres.clicks_src', 'clicks', 4,
	join(',', map { "$_:$count{$_}" } 0 .. 3),
	'the offsets are committed to the broker for group lakehouse.postgres.clicks_src');

# A second round on two partitions lands from the stored offsets, in later
# transactions: _lh_ingested_at is the start of the landing transaction.
my $t2 = time();
my @more = map { qq({"p": 1, "i": $_, "round": 2}) } $count{1} .. $count{1} + 49;
kafka_produce($addr, 'clicks', 1, \@more);
kafka_produce($addr, 'clicks', 2, [ map { qq({"p": 2, "i": $_, "round": 2}) }
	  $count{2} .. $count{2} + 9 ]);
$count{1} += 50;
$count{2} += 10;
$total += 60;
lh_poll($node, 'SELECT count(*) FROM bronze.clicks_src', $total,
	'a second round lands');
is( $node->safe_psql(
		'postgres', q{
SELECT _lh_partition, count(*), count(DISTINCT _lh_offset), max(_lh_offset),
       count(*) FILTER (WHERE (payload->>'i')::bigint <> _lh_offset OR (payload->>'p')::int <> _lh_partition)
  FROM bronze.clicks_src GROUP BY 1 ORDER BY 1}),
	join("\n", map { "$_|$count{$_}|$count{$_}|" . ($count{$_} - 1) . '|0' } 0 .. 3),
	'after the second round: still each offset once, and the right payloads');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM bronze.clicks_src
 WHERE (payload->>'round') = '2' AND _lh_ingested_at < to_timestamp($t2)}),
	'0',
	'_lh_ingested_at of the second round: after it was produced (the landing transaction\'s start)');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM lakehouse.source_status
 WHERE source = 'clicks_src' AND partition IN (1, 2) AND last_landed_at < to_timestamp($t2)}),
	'0',
	'source_status.last_landed_at moved with the second round');

# ---------------------------------------------------------------------------
# Poison corpus
# ---------------------------------------------------------------------------

# lakehouse.max_message_bytes is 256kB on this node.  Each message, its
# kind, and where it must end up for a json, a text and a bytes source
# (L: landed, D: dead letter).
my $deep = ('[' x 100000) . (']' x 100000);    # 200 kB; jsonb: stack depth
my $big = '{"big": "' . ('x' x 300000) . '"}';   # 300 kB, valid JSON
my @corpus = (
	[ '{"ok": 1}', 'good', 'LLL' ],
	[ '{"a":', 'invalid JSON', 'DLL', key => 'badkey', headers => ['h=v'] ],
	[ '{"ok": 2}', 'good', 'LLL' ],
	[ "{\"a\": \"\xff\xfe\"}", 'invalid UTF-8', 'DDL' ],
	[ $big, 'over max_message_bytes', 'DDD' ],
	[ '', 'empty', 'DLL', send => 'empty' ],
	[ undef, 'tombstone', 'DDD', send => 'null', key => 'tomb' ],
	[ "\x00\x01\x02\xff\x80", 'binary', 'DDL' ],
	[ '{"a": "\u0000"}', 'JSON with \u0000', 'DLL' ],
	[ $deep, '100000 nested arrays', 'DLL' ],
	[ "{\"ok\": 3, \"s\": \"caf\xc3\xa9\"}", 'good', 'LLL' ],
);
for my $m (@corpus)
{
	my ($msg, $what, $fate, %o) = @$m;
	if ($o{send})
	{
		kafka_send($addr, 'poison', 0, $o{send}, $o{key});
	}
	else
	{
		kafka_produce($addr, 'poison', 0, [$msg],
			(defined $o{key} ? (key => $o{key}) : ()),
			(headers => $o{headers} // []));
	}
}
my $n = scalar @corpus;
my @formats = ('json', 'text', 'bytes');

$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('poison');
SELECT lakehouse.lh_add_source('poison', 'poison_json', 'kafka',
  '{"brokers": "$addr", "topic": "poison"}');
SELECT lakehouse.lh_add_source('poison', 'poison_text', 'kafka',
  '{"brokers": "$addr", "topic": "poison", "format": "text", "group_id": "poison.text"}');
SELECT lakehouse.lh_add_source('poison', 'poison_bytes', 'kafka',
  '{"brokers": "$addr", "topic": "poison", "format": "bytes", "commit_to_broker": false}');
CREATE TABLE corpus (off bigint, what text, raw_hex text, fate_json text, fate_text text, fate_bytes text);
});
copy_rows(
	$node, 'corpus',
	[
		map {
			my ($msg, $what, $fate) = @{ $corpus[$_] };
			[
				$_, $what, defined $msg ? unpack('H*', $msg) : undef,
				split(//, $fate)
			]
		} 0 .. $n - 1
	]);

for my $f (@formats)
{
	lh_poll(
		$node, qq{
SELECT (SELECT count(*) FROM bronze.poison_$f)
     + (SELECT count(*) FROM lakehouse.dead_letters WHERE source_name = 'poison_$f')},
		$n, "poison_$f: every message landed or dead-lettered");
	lh_poll(
		$node, qq{
SELECT string_agg(concat_ws('|', stored_offset, lag), ',')
  FROM lakehouse.source_status WHERE source = 'poison_$f'},
		"$n|0", "poison_$f: the offset moved past every message");
}

for my $i (0 .. 2)
{
	my $f = $formats[$i];
	my $col = "fate_$f";
	# the fate of each offset: landed, dead letter, or both/neither (wrong)
	is( $node->safe_psql(
			'postgres', qq{
SELECT string_agg(c.off || ':' || c.what || ':'
                  || CASE WHEN b.n = 1 AND d.n = 0 THEN 'L'
                          WHEN b.n = 0 AND d.n = 1 THEN 'D'
                          ELSE 'landed ' || b.n || ' times, ' || d.n || ' dead letters' END,
                  ', ' ORDER BY c.off)
  FROM corpus c,
       LATERAL (SELECT count(*) AS n FROM bronze.poison_$f x
                 WHERE x._lh_position = '0:' || c.off) b,
       LATERAL (SELECT count(*) AS n FROM lakehouse.dead_letters x
                 WHERE x.source_name = 'poison_$f' AND x.source_position = '0:' || c.off) d}),
		join(', ',
			map { "$_:$corpus[$_][1]:" . substr($corpus[$_][2], $i, 1) }
			  0 .. $n - 1),
		"poison_$f: each message landed or is a dead letter, as expected, exactly once");
}

is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM lakehouse.dead_letters d
  JOIN corpus c ON d.source_position = '0:' || c.off
 WHERE d.source_name LIKE 'poison_%'
   AND (encode(d.raw, 'hex') IS DISTINCT FROM c.raw_hex
        OR coalesce(d.reason, '') = ''
        OR d.metadata->>'topic' IS DISTINCT FROM 'poison'
        OR (d.metadata->>'partition')::int IS DISTINCT FROM 0
        OR (d.metadata->>'offset')::bigint IS DISTINCT FROM c.off
        OR NOT d.metadata ?& ARRAY['key', 'headers', 'timestamp']
        OR d.source_id IS NULL)}),
	'0',
	'dead letters: the raw bytes (NULL for the tombstone), a reason, metadata with topic/partition/offset/key/headers/timestamp');

note "dead letter reasons:\n"
  . $node->safe_psql(
	'postgres', q{
SELECT source_name || ' ' || source_position || ' [' || coalesce(error_sqlstate, '') || '] ' || reason
  FROM lakehouse.dead_letters WHERE source_name LIKE 'poison_%' ORDER BY source_name, dead_letter_id});

committed_is('poison.text', 'poison', 1, "0:$n",
	'"group_id": the offsets are committed for that group');
committed_is('lakehouse.postgres.poison_text', 'poison', 1, '0:-1001',
	'... and not for the default group');
committed_is('lakehouse.postgres.poison_bytes', 'poison', 1, '0:-1001',
	'"commit_to_broker": false: no offsets committed to the broker');

# The landed payloads are the messages.
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(_lh_offset || '=' || payload::text, ' ' ORDER BY _lh_offset) FROM bronze.poison_json}),
	qq(0={"ok": 1} 2={"ok": 2} 10={"s": "caf\xc3\xa9", "ok": 3}),
	'poison_json: the good messages landed as they were');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM bronze.poison_text b JOIN corpus c ON b._lh_offset = c.off
 WHERE convert_to(b.payload, 'UTF8') IS DISTINCT FROM decode(c.raw_hex, 'hex')}),
	'0',
	'poison_text: landed payloads are the messages as text (the empty one as an empty string)');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM bronze.poison_bytes b JOIN corpus c ON b._lh_offset = c.off
 WHERE b.payload IS DISTINCT FROM decode(c.raw_hex, 'hex')}),
	'0',
	'poison_bytes: landed payloads are the messages, byte for byte');

# ---------------------------------------------------------------------------
# Replay and discard
# ---------------------------------------------------------------------------

$node->safe_psql('postgres',
	q{ALTER SYSTEM SET lakehouse.max_message_bytes = '1MB'; SELECT pg_reload_conf();});
lh_poll($node, 'SHOW lakehouse.max_message_bytes', '1MB',
	'max_message_bytes raised to 1MB');

is($node->safe_psql('postgres', q{SELECT lakehouse.lh_replay_dead_letters('poison_json')}),
	'1', 'lh_replay_dead_letters(poison_json): only the big message decodes now');
is( $node->safe_psql(
		'postgres', q{
SELECT length(payload->>'big'), _lh_partition, _lh_offset, _lh_topic
  FROM bronze.poison_json WHERE _lh_position = '0:4'}),
	'300000|0|4|poison',
	'the big message landed in bronze with its metadata');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(source_position, ',' ORDER BY dead_letter_id)
  FROM lakehouse.dead_letters WHERE source_name = 'poison_json'}),
	'0:1,0:3,0:5,0:6,0:7,0:8,0:9',
	'it left dead_letters, the others stayed');

my $tomb_id = $node->safe_psql('postgres',
	q{SELECT dead_letter_id FROM lakehouse.dead_letters WHERE source_name = 'poison_bytes' AND source_position = '0:6'});
my $big_id = $node->safe_psql('postgres',
	q{SELECT dead_letter_id FROM lakehouse.dead_letters WHERE source_name = 'poison_bytes' AND source_position = '0:4'});
is( $node->safe_psql(
		'postgres',
		"SELECT lakehouse.lh_replay_dead_letters('poison_bytes', ARRAY[$tomb_id]::bigint[])"),
	'0',
	'replaying the tombstone alone lands nothing');
is( $node->safe_psql(
		'postgres',
		"SELECT lakehouse.lh_replay_dead_letters('poison_bytes', ARRAY[$big_id]::bigint[])"),
	'1',
	'replaying one id of poison_bytes lands it');
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) FROM bronze.poison_bytes),
       (SELECT string_agg(source_position, ',') FROM lakehouse.dead_letters WHERE source_name = 'poison_bytes')}),
	"10|0:6",
	'poison_bytes: 10 landed, the tombstone is still a dead letter');

# Discard: by id, then all; ids of another source are not touched.
my $text_id = $node->safe_psql('postgres',
	q{SELECT min(dead_letter_id) FROM lakehouse.dead_letters WHERE source_name = 'poison_text'});
my $json_bad = $node->safe_psql('postgres',
	q{SELECT dead_letter_id FROM lakehouse.dead_letters WHERE source_name = 'poison_json' AND source_position = '0:1'});
is( $node->safe_psql(
		'postgres',
		"SELECT lakehouse.lh_discard_dead_letters('poison_json', ARRAY[$text_id]::bigint[])"),
	'0',
	'lh_discard_dead_letters ignores the ids of another source');
is( $node->safe_psql(
		'postgres',
		"SELECT lakehouse.lh_discard_dead_letters('poison_json', ARRAY[$json_bad]::bigint[])"),
	'1',
	'lh_discard_dead_letters by id');
is($node->safe_psql('postgres', q{SELECT lakehouse.lh_discard_dead_letters('poison_json')}),
	'6', 'lh_discard_dead_letters without ids discards the rest');
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(source_name || ':' || n, ',' ORDER BY source_name)
  FROM (SELECT source_name, count(*) AS n FROM lakehouse.dead_letters GROUP BY 1) x}),
	'poison_bytes:1,poison_text:4',
	'the other sources keep their dead letters');
is( $node->safe_psql(
		'postgres', q{
SELECT dead_letters FROM lakehouse.source_status WHERE source = 'poison_json' LIMIT 1}),
	'0', 'source_status counts no dead letter for poison_json');

# Nothing landed twice: replay does not move offsets, and the workers did
# not take anything again.
is( $node->safe_psql(
		'postgres', q{
SELECT (SELECT count(*) - count(DISTINCT _lh_offset) FROM bronze.poison_json)
     + (SELECT count(*) - count(DISTINCT _lh_offset) FROM bronze.poison_text)
     + (SELECT count(*) - count(DISTINCT _lh_offset) FROM bronze.poison_bytes)}),
	'0',
	'no offset landed twice in any poison source');

# --- a tiny prefetch queue ------------------------------------------------
#
# librdkafka stops fetching while its queue is over queued.min.messages, and
# before 2.1 looks again only a second later; the worker then seeks the
# drained partitions to where they stand (kafka_nudge_fetchers).  With a
# queue of 10 messages and fetches of a few messages, that happens about 150
# times for this topic: without the seek the ingest would take over two
# minutes, with a wrong seek it would lose or repeat messages.
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();});
$node->safe_psql(
	'postgres', qq{
SELECT lakehouse.lh_create_pipeline('tiny');
SELECT lakehouse.lh_add_source('tiny', 'tiny_src', 'kafka',
  '{"brokers": "$addr", "topic": "clicks", "batch_size": 50,
    "properties": {"queued.min.messages": "10", "message.max.bytes": "1000",
                   "fetch.max.bytes": "2048", "max.partition.fetch.bytes": "1024"}}');
});
lh_poll($node, 'SELECT count(*) FROM bronze.tiny_src', $total,
	"a 10-message prefetch queue: the worker landed all $total messages");
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM bronze.tiny_src t
  FULL JOIN bronze.clicks_src c USING (_lh_partition, _lh_offset)
 WHERE t.payload IS DISTINCT FROM c.payload}),
	'0',
	'a 10-message prefetch queue: the same messages, each once');
in_offset_order('bronze.tiny_src',
	'a 10-message prefetch queue: per partition in offset order, no gap');
$node->safe_psql('postgres',
	q{ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();});
my $nudges = () = slurp_file($node->logfile) =~
  /Kafka source "tiny_src": prefetch queue drained/g;
ok($nudges > 0, "the worker made librdkafka fetch again ($nudges times)");

# --- a session holding the source row, then bronze ------------------------
#
# A one-shot ingest or lh_reset_source locks the source row and may then
# lock bronze (a run's silver stage takes SHARE on it).  The worker locks
# bronze before the source row; were it to wait for the row while holding
# bronze, the two would deadlock.  It only tries the row: a batch that
# finds it held goes back to the broker and is fetched again once the
# session ends.  The messages are produced while the session holds the row.
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM bronze.clicks_src');
my $hold = q{BEGIN;
SELECT 1 FROM lakehouse.sources WHERE name = 'clicks_src' FOR NO KEY UPDATE;
SELECT 'landed ' || count(*) FROM bronze.clicks_src;
SELECT pg_sleep(3);
SELECT 'landed ' || count(*) FROM bronze.clicks_src;
LOCK TABLE bronze.clicks_src IN SHARE MODE;
COMMIT;
};
my $hold_file = PostgreSQL::Test::Utils::tempdir() . '/hold.sql';
PostgreSQL::Test::Utils::append_to_file($hold_file, $hold);
my ($hold_out, $hold_err) = ('', '');
my $holder = IPC::Run::start(
	[
		'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $hold_file,
		'-d', $node->connstr('postgres') . ' application_name=row_holder'
	],
	'<', \undef, '>', \$hold_out, '2>', \$hold_err);
lh_poll(
	$node, q{SELECT count(*) FROM pg_stat_activity
 WHERE application_name = 'row_holder' AND wait_event = 'PgSleep'}, '1',
	'a session holds the source row');
kafka_produce($addr, 'clicks', 0, [ map { qq({"p": 0, "i": $_, "round": 3}) } 1 .. 100 ]);
$holder->finish;
is($?, 0, 'the session holding the row, then bronze, ends without a deadlock');
is($hold_err, '', 'and without an error');
my @held = $hold_out =~ /^landed (\d+)$/mg;
is(scalar(@held), 2, 'the session counted bronze twice');
is($held[0], $held[1],
	'nothing landed while the session held the source row');
lh_poll($node, 'SELECT count(*) FROM bronze.clicks_src', $before + 100,
	'the messages produced meanwhile land once the row is free');
in_offset_order('bronze.clicks_src',
	'after the wait: per partition in offset order, no gap, no repeat');

my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'no deadlock between the worker and a session');
unlike($log, qr/no longer on the broker/,
	'no worker ever found offsets missing');
unlike($log, qr/server process .* was terminated|PANIC/,
	'no backend crashed');

$node->stop;
done_testing();

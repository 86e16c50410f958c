
# Copyright (c) lakehouse authors

# Point-in-time recovery in the middle of a Kafka stream (issue 20).
#
# A primary archives its WAL; after a base backup, a Kafka source consumes
# a continuous stream of numbered messages ({"n": 1}, {"n": 2}, ... produced
# by one kcat process fed at ~200 messages a second), a silver table keyed
# by the number and a gold aggregate are run along the way.  In the middle
# of the stream a named restore point is created while bronze is locked
# against the worker's commits (LOCK ... IN SHARE MODE), so the number of
# rows landed at that point is known exactly.  The stream goes on, the WAL
# is switched and archived, the primary stops.
#
# The base backup is restored twice with recovery_target_name = the restore
# point and recovery_target_action = 'promote' (a new timeline, 2):
# 1. with the default lakehouse.after_restore = paused: bronze is exactly the
#    prefix up to the restore point (1..K, no gap), the silver and gold of
#    the last run before it; the source comes up PAUSED with the timeline
#    history reason (point-in-time recovery to timeline 2, at restore point
#    "..."), no source worker ever starts (pg_stat_activity sampled every
#    20 ms from the start, and the postmaster's DEBUG1 "starting background
#    worker" lines) and nothing is consumed for several seconds while the
#    producer goes on; lh_enable_source resumes it, and the stream lands
#    through its end with no gap and no repeat; silver and gold agree with
#    bronze after a run;
# 2. with lakehouse.after_restore = resume: the source keeps running without
#    lh_enable_source (a WARNING says so), and lands the same stream through
#    its end, each number exactly once.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use LakehouseKafka;
use LakehouseWatch;
use LakehouseProc;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $t_start = time();
my $RP = 'lh_pitr_mid';    # the restore point

my $mock = kafka_mock_start(name => '023', topics => ['stream:1']);
my $addr = $mock->{addr};

# ---------------------------------------------------------------------------
# The producer: a child that feeds one kcat process (acks=all) with
# {"n": <n>, "v": "m<n>"}, n = 1, 2, ..., 10 messages every 50 ms, until
# SIGTERM; it then closes kcat's input (kcat delivers what is left and
# exits) and writes how many messages it produced to a file.  The child
# leaves through POSIX::_exit: the END blocks of the test (which stop the
# nodes and the mock) are the parent's.
# ---------------------------------------------------------------------------

my $prod_dir = PostgreSQL::Test::Utils::tempdir();
my $prod_file = "$prod_dir/produced";
my $prod_log = "$PostgreSQL::Test::Utils::log_path/producer_023.log";
my $prod_pid;

sub producer_start
{
	$prod_pid = fork();
	die "fork failed: $!" unless defined $prod_pid;
	return if $prod_pid;

	# the child
	my $stop = 0;
	$SIG{TERM} = sub { $stop = 1 };
	$SIG{INT} = $SIG{HUP} = 'DEFAULT';
	$SIG{PIPE} = 'IGNORE';
	open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
	open(STDOUT, '>>', $prod_log) or POSIX::_exit(126);
	open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
	my $kcat;
	my $kpid = open($kcat, '|-', 'kcat', '-b', $addr, '-P', '-t', 'stream',
		'-p', '0', '-X', 'acks=all', '-X', 'linger.ms=5', '-m', '30');
	POSIX::_exit(125) unless $kpid;
	$kcat->autoflush(1);
	my $n = 0;
	my $failed = 0;
	while (!$stop)
	{
		my $buf = '';
		for (1 .. 10)
		{
			$n++;
			$buf .= qq({"n": $n, "v": "m$n"}\n);
		}
		if (!print $kcat $buf)
		{
			print "the producer could not write to kcat: $!\n";
			$n -= 10;
			$failed = 1;
			last;
		}
		usleep(50_000);
	}
	close($kcat);
	my $rc = $?;
	print "the producer wrote $n messages; kcat exited with $rc\n";
	if (open(my $fh, '>', "$prod_file.tmp"))
	{
		print $fh "$n\n";
		close $fh;
		rename("$prod_file.tmp", $prod_file);
	}
	POSIX::_exit($rc == 0 && !$failed ? 0 : 1);
}

# Stops the producer; returns how many messages it produced (all
# delivered: kcat waits for every delivery report), or dies.
sub producer_stop
{
	my $pid = $prod_pid;
	$prod_pid = undef;
	kill('TERM', $pid);
	my $deadline = time() + 60;
	while (waitpid($pid, POSIX::WNOHANG()) != $pid)
	{
		if (time() > $deadline)
		{
			kill('KILL', $pid);
			waitpid($pid, 0);
			die "the producer did not stop within 60 s";
		}
		usleep(20_000);
	}
	my $rc = $?;
	die "the producer failed (status $rc): " . slurp_file($prod_log)
	  unless $rc == 0 && -s $prod_file;
	my $n = slurp_file($prod_file);
	chomp $n;
	return $n;
}

END
{
	my $rc = $?;
	stop_child($prod_pid) if $prod_pid;
	$? = $rc;
}

# The topic's end (next offset) now, or undef.
sub high_watermark
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'kcat', '-b', $addr, '-Q', '-t', 'stream:0:-1' ],
		'>', \$out, '2>', \$err);
	return $1 if $out =~ /\boffset (-?\d+)/;
	return undef;
}

# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------

my $common_conf = <<'EOC';
shared_preload_libraries = 'lakehouse'
lakehouse.launcher_naptime = '1s'
synchronous_commit = off
timezone = 'UTC'
lc_messages = 'C'
max_worker_processes = 24
max_connections = 40
shared_buffers = '32MB'
log_line_prefix = '%m [%p] %q%b %a '
log_statement = none
EOC

# lh_poll / lh_wait on a database other than postgres are not needed:
# everything here lives in database postgres.
sub sql
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(has_archiving => 1, allows_streaming => 1);
$primary->append_conf('postgresql.conf', $common_conf);
$primary->start;
sql($primary, 'CREATE EXTENSION lakehouse');

$primary->backup('base');
note 'base backup taken';

sql($primary, qq{
SELECT lakehouse.lh_create_pipeline('stream', 'numbered messages');
SELECT lakehouse.lh_add_source('stream', 'stream_src', 'kafka',
  '{"brokers": "$addr", "topic": "stream", "batch_size": 50, "max_wait_ms": 20}');
SELECT lakehouse.lh_define_silver('stream', 'silver.stream', 'stream_src',
  '[{"name": "n", "type": "bigint", "required": true},
    {"name": "v", "type": "text"}]',
  keys => ARRAY['n']);
SELECT lakehouse.lh_define_gold('stream', 'gold.stream_totals',
  'SELECT count(*) AS n_rows, sum(n) AS total, min(n) AS lo, max(n) AS hi FROM silver.stream');
});

producer_start();

sub bronze_count
{
	my ($node) = @_;
	return sql($node, 'SELECT count(*) FROM bronze.stream_src');
}

sub run_ok
{
	my ($node, $what) = @_;
	my $run = sql($node, q{SELECT lakehouse.lh_run_pipeline('stream') ->> 'status'});
	is($run, 'succeeded', $what);
	return;
}

lh_poll($primary, 'SELECT count(*) >= 300 FROM bronze.stream_src', 't',
	'the worker lands the stream on the primary');
run_ok($primary, 'a run on the primary');
lh_poll($primary, 'SELECT count(*) >= 800 FROM bronze.stream_src', 't',
	'the stream goes on');
run_ok($primary, 'a second run on the primary');
my $S2 = sql($primary, 'SELECT count(*) FROM silver.stream');
lh_poll($primary, 'SELECT count(*) >= ' . ($S2 + 200) . ' FROM bronze.stream_src', 't',
	'the stream goes on after the run');

# The point: bronze locked against the worker's commits (SHARE conflicts
# with the worker's ROW EXCLUSIVE), its rows counted, the restore point
# written, then the lock released.  No run is in flight (runs are this
# test's own, synchronous).
my $point = sql(
	$primary, qq{
BEGIN;
LOCK TABLE bronze.stream_src IN SHARE MODE;
SELECT concat_ws('|',
  (SELECT count(*) FROM bronze.stream_src),
  (SELECT count(DISTINCT (payload->>'n')::bigint) FROM bronze.stream_src),
  (SELECT max((payload->>'n')::bigint) FROM bronze.stream_src),
  (SELECT m.mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
    WHERE s.name = 'stream_src' AND m.mark_key = 'partition:0'),
  (SELECT count(*) FROM silver.stream),
  (SELECT concat_ws(':', n_rows, total, lo, hi) FROM gold.stream_totals),
  now(),
  pg_create_restore_point('$RP'));
COMMIT;
});
my ($K, $K_distinct, $K_max, $K_mark, $S, $G, $point_time, $point_lsn) =
  split /\|/, $point;
note "restore point $RP at $point_time (LSN $point_lsn): bronze $K rows, "
  . "silver $S, gold $G";
is("$K_distinct|$K_max|$K_mark", "$K|$K|$K",
	'at the restore point, bronze holds 1..K, and the stored offset is K');
cmp_ok($S, '>', 0, 'at the restore point, silver has rows of an earlier run');
cmp_ok($S, '<', $K, '... fewer than bronze: the stream went on after that run');

# The stream goes on after the point, and a run too: none of it may be in
# the restored nodes.
lh_poll($primary, 'SELECT count(*) >= ' . ($K + 500) . ' FROM bronze.stream_src',
	't', 'the stream goes on after the restore point');
run_ok($primary, 'a run on the primary after the restore point');
my $primary_rows = bronze_count($primary);

my $walfile = sql($primary, 'SELECT pg_walfile_name(pg_switch_wal())');
ok( $primary->poll_query_until(
		'postgres',
		"SELECT '$walfile' <= last_archived_wal FROM pg_stat_archiver"),
	"the WAL holding the restore point is archived ($walfile)");
$primary->stop;
note "primary stopped with $primary_rows rows in bronze";

# ---------------------------------------------------------------------------
# Restores
# ---------------------------------------------------------------------------

# A node restored from the base backup up to the restore point, promoted
# at it.  It archives nothing (its timeline 2 must not reach the archive
# the other restore reads).  DEBUG1: the postmaster logs each background
# worker it starts.
sub restored_node
{
	my ($name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($primary, 'base', has_restoring => 1, standby => 0);
	$node->append_conf(
		'postgresql.conf', qq{
recovery_target_name = '$RP'
recovery_target_action = 'promote'
archive_mode = off
log_min_messages = debug1
} . ($extra // ''));
	return $node;
}

my $worker_start_re = qr/starting background worker process "lakehouse kafka postgres stream_src"/;

# --- 1. after_restore = paused (the default) -------------------------------

my $r1 = restored_node('pitr_paused');
my $t_r1 = time();
$r1->start;
my $w1 = watcher_start($r1, 8);
ok($r1->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'the restored node reached the restore point and was promoted');
my $t_promoted = time();
lh_poll($r1, q{SELECT enabled FROM lakehouse.sources WHERE name = 'stream_src'},
	'f', 'the restored source comes up paused', timeout => 30);
note sprintf('restored node: started, promoted after %.1f s, paused after %.1f s',
	$t_promoted - $t_r1, time() - $t_r1);

is(sql($r1, q{SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int}), '2',
	'the restored node is on timeline 2');
like(
	slurp_file($r1->data_dir . '/pg_wal/00000002.history'),
	qr/at restore point "$RP"/,
	'the timeline history file says where the recovery stopped');

my $reason = sql($r1,
	q{SELECT disabled_reason FROM lakehouse.source_status WHERE source = 'stream_src' LIMIT 1});
note "disabled_reason: $reason";
like(
	$reason,
	qr/^paused: this database is a copy \(.+\); nothing is consumed until SELECT lakehouse\.lh_enable_source\('stream_src'\)$/,
	'source_status.disabled_reason: paused, a copy, and how to resume');
like($reason, qr/point-in-time recovery to timeline 2/,
	'the reason: a point-in-time recovery to timeline 2');
like($reason, qr/at restore point "$RP"/,
	'the reason quotes the timeline history file');
is(sql($r1, q{SELECT bool_or(enabled) FROM lakehouse.source_status WHERE source = 'stream_src'}),
	'f', 'source_status.enabled is false');

is( sql(
		$r1, q{
SELECT concat_ws('|', count(*), count(DISTINCT (payload->>'n')::bigint),
                 min((payload->>'n')::bigint), max((payload->>'n')::bigint),
                 count(*) FILTER (WHERE (payload->>'n')::bigint <> _lh_offset + 1))
  FROM bronze.stream_src}),
	"$K|$K|1|$K|0",
	"bronze is exactly the prefix 1..$K of the stream at the restore point");
is( sql(
		$r1, q{
SELECT m.mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'stream_src' AND m.mark_key = 'partition:0'}),
	$K, "the stored offset is $K, as at the restore point");
is( sql(
		$r1, q{
SELECT concat_ws('|', (SELECT count(*) FROM silver.stream),
                 (SELECT concat_ws(':', n_rows, total, lo, hi) FROM gold.stream_totals))}),
	"$S|$G",
	'silver and gold are those of the last run before the restore point');
is( sql(
		$r1, q{
SELECT count(*) FROM silver.stream s
 WHERE NOT EXISTS (SELECT 1 FROM bronze.stream_src b WHERE (b.payload->>'n')::bigint = s.n)}),
	'0', 'every silver row is in the restored bronze');

like(sql($r1, q{SELECT string_agg(how || ' ' || timeline, ',') FROM lakehouse.site}),
	qr/^adopted: [^,]* 2$/,
	'lakehouse.site: one row, adopted by this node on timeline 2');
my @paused_warnings = slurp_file($r1->logfile) =~
  /WARNING:\s+lakehouse paused the sources of database "postgres"/g;
is(scalar(@paused_warnings), 1, 'one WARNING in the log says the sources were paused');
is(sql($r1, 'SELECT lakehouse.lh_site_check() IS NULL'),
	't', 'lh_site_check(): this is now the recorded site');
is(sql($r1, q{SELECT string_agg(DISTINCT role || ' ' || timeline, ',') FROM lakehouse.dr_status}),
	'primary 2', 'dr_status: a primary on timeline 2');

# Nothing consumed while paused: the producer goes on (the topic's end
# moves), bronze and the stored offset do not.
my $hw0 = high_watermark();
sleep(5);
my $hw1 = high_watermark();
ok(defined $hw0 && defined $hw1 && $hw1 > $hw0 && $hw0 > $K,
	'the producer goes on while the source is paused (topic end '
	  . ($hw0 // '?') . ' -> ' . ($hw1 // '?') . ')');
is( sql(
		$r1, q{
SELECT concat_ws('|', (SELECT count(*) FROM bronze.stream_src),
                 (SELECT m.mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
                   WHERE s.name = 'stream_src' AND m.mark_key = 'partition:0'))}),
	"$K|$K", 'nothing consumed while paused: bronze and the stored offset unchanged');

# A run while paused: silver and gold catch up with the restored bronze,
# the run does not ingest the paused source.
run_ok($r1, 'a run on the paused copy succeeds');
is( sql(
		$r1, q{
SELECT concat_ws('|', (SELECT count(*) FROM bronze.stream_src), (SELECT count(*) FROM silver.stream),
                 (SELECT concat_ws(':', n_rows, total, lo, hi) FROM gold.stream_totals))}),
	"$K|$K|$K:" . ($K * ($K + 1) / 2) . ":1:$K",
	'the run skipped the paused source; silver and gold = bronze');

is(watcher_finish($w1), '',
	'no source worker in pg_stat_activity from the start until now (sampled every 20 ms)');
is(sql($r1, lh_worker_count()), '0', 'no source worker now');
unlike(slurp_file($r1->logfile), $worker_start_re,
	'the postmaster never started a source worker in the copy');

# Resume.
my $t_enable = time();
sql($r1, q{SELECT lakehouse.lh_enable_source('stream_src')});
lh_poll($r1, "SELECT count(*) > $K FROM bronze.stream_src", 't',
	'lh_enable_source: the stream lands again', timeout => 30);
my $resume_secs = time() - $t_enable;
note sprintf('from lh_enable_source to the first landed batch: %.2f s', $resume_secs);
is(sql($r1, q{SELECT concat_ws('|', coalesce(disabled_reason, ''), enabled) FROM lakehouse.sources WHERE name = 'stream_src'}),
	'|t', 'the source is enabled and its reason cleared');
like(slurp_file($r1->logfile), $worker_start_re,
	'the worker started after lh_enable_source');

# --- 2. after_restore = resume ---------------------------------------------

my $r2 = restored_node('pitr_resume', "lakehouse.after_restore = 'resume'\n");
$r2->start;
ok($r2->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'after_restore = resume: the second restore was promoted');
lh_poll($r2, "SELECT count(*) > $K FROM bronze.stream_src", 't',
	'after_restore = resume: the source keeps running without lh_enable_source',
	timeout => 30);
is(sql($r2, q{SELECT concat_ws('|', coalesce(disabled_reason, ''), enabled) FROM lakehouse.sources WHERE name = 'stream_src'}),
	'|t', 'after_restore = resume: the source was not paused');
like(sql($r2, q{SELECT string_agg(how, ',') FROM lakehouse.site}),
	qr/^resumed: .*point-in-time recovery to timeline 2/,
	'after_restore = resume: lakehouse.site says resumed, and why');
like(slurp_file($r2->logfile),
	qr/WARNING:\s+database "postgres" is a copy; its lakehouse sources keep running/,
	'after_restore = resume: a WARNING in the log says the sources keep running');

# --- the end of the stream ---------------------------------------------------

lh_poll($r1, 'SELECT count(*) >= ' . ($K + 500) . ' FROM bronze.stream_src', 't',
	'the resumed stream goes on');
my $T = producer_stop();
note "the producer produced $T messages";
is(high_watermark(), $T, "the topic holds the $T messages produced");
cmp_ok($T, '>', $primary_rows, 'the stream went on after the primary stopped');

for my $node ($r1, $r2)
{
	my $name = $node->name;
	lh_poll($node, "SELECT count(*) >= $T FROM bronze.stream_src", 't',
		"$name: the stream landed through its end", timeout => 60);
	is( sql(
			$node, q{
SELECT concat_ws('|', count(*), count(DISTINCT (payload->>'n')::bigint),
                 min((payload->>'n')::bigint), max((payload->>'n')::bigint),
                 count(*) FILTER (WHERE (payload->>'n')::bigint <> _lh_offset + 1))
  FROM bronze.stream_src}),
		"$T|$T|1|$T|0",
		"$name: every number 1..$T exactly once in bronze (no gap, no repeat)");
	is( sql(
			$node, q{
SELECT m.mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = 'stream_src' AND m.mark_key = 'partition:0'}),
		$T, "$name: the stored offset is the end of the topic");
	run_ok($node, "$name: a run after the end of the stream");
	is( sql(
			$node, q{
SELECT concat_ws('|', (SELECT count(*) FROM silver.stream), (SELECT count(DISTINCT n) FROM silver.stream),
                 (SELECT concat_ws(':', n_rows, total, lo, hi) FROM gold.stream_totals))}),
		"$T|$T|$T:" . ($T * ($T + 1) / 2) . ":1:$T",
		"$name: silver and gold consistent with bronze");
	unlike(slurp_file($node->logfile),
		qr/server process .* was terminated|PANIC/,
		"$name: no backend crashed");
}

note sprintf(
	'figures: restore point %s at %s (LSN %s); rows at the point %d; '
	  . 'primary stopped with %d; produced %d; from lh_enable_source to the '
	  . 'first landed batch %.2f s; test %.0f s',
	$RP, $point_time, $point_lsn, $K, $primary_rows, $T, $resume_secs,
	time() - $t_start);

$r1->stop;
$r2->stop;
done_testing();

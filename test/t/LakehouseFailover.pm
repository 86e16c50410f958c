
# Copyright (c) lakehouse authors

=pod

LakehouseFailover: what the failover TAP tests (021_failover_kafka.pl,
022_failover_http.pl) share.  Not a test itself: prove runs only
test/t/*.pl.

- fo_primary($name, mode => 'sync' | 'async'): a node that allows
  streaming, lakehouse preloaded (launcher_naptime 1 s), hot_standby on,
  CREATE EXTENSION done in database postgres.  The mode sets the commit
  settings the node (and every standby cloned from it) runs with:
    sync:  synchronous_commit = on and lakehouse.kafka_synchronous_commit
           = on (a Kafka batch's commit waits like any other);
           synchronous_standby_names is set by fo_sync_on once a standby
           streams;
    async: synchronous_commit = off (lakehouse.kafka_synchronous_commit
           stays off, its default): asynchronous replication and
           asynchronous commit, the configuration that loses the most in a
           failover.
- fo_standby($primary, $name): a fresh streaming standby from a new base
  backup of $primary, started and caught up.  It never has
  synchronous_standby_names of its own (postgresql.auto.conf), so that,
  once promoted, it does not wait for a standby it does not have.
- fo_sync_on($primary): synchronous_standby_names = '*', and wait until a
  standby is 'sync'.
- fo_crash($node): SIGKILL to every process of the server at once, like a
  machine that dies.  A SIGKILL to the postmaster alone ($node->kill9)
  leaves the walsender and the workers running until they notice: a Kafka
  worker then still commits batches, and the walsender still sends them.
  Returns the time (epoch seconds) just before the signal.
- fo_wait_replayed($standby): wait until the standby's walreceiver is gone
  and everything received is replayed.
- fo_promote($standby): SELECT pg_promote() (waits); returns the times
  before and after; notes where the standby's log stood.
- fo_wait / fo_poll: bounded polling (no test result / one test result).
- fo_standby_checks($standby, $source, $what): on a standby,
  source_status answers with worker_state 'standby' for the source, and no
  lakehouse worker but the launchers and the metrics worker runs (test
  results).
- fo_promoted_checks($node, $source, $what): after a promotion, the
  lakehouse.site row says 'promoted' with the new timeline, the source is
  still enabled, and the log says so (test results).
- fo_check_standby_logs(): for every node fo_standby made, no ERROR/FATAL
  in its log while it was a standby (up to its fo_promote), and none in
  its whole log but the FATAL of a normal shutdown terminating background
  workers (test results).
- fo_log_problems($node, upto => $bytes, allow => [qr/.../]): the
  ERROR/FATAL/PANIC lines of a node's log (its first $bytes only, with
  upto), except a walreceiver losing or not reaching its primary (expected
  once the primary is killed) and those matching allow.
- fo_child($name, $code): fork a helper process that runs $code->($file)
  and exits (never running the test's END blocks); fo_child_stop($child):
  SIGTERM, wait (bounded) and return what the child wrote to $file;
  fo_child_stop_all() stops every child still running, as an END block
  does.
- fo_kafka_producer($addr, $topic, $from, $rate): a child producing
  {"n": <number>} messages from $from at $rate messages a second through
  one kcat process, until stopped; fo_child_stop returns "<next n> <ok>".
- fo_http_feeder($srv, $from, $rate): a child that grows the HTTP test
  server's record count from $from at $rate records a second;
  fo_child_stop returns the final count.
- fo_check_layers($node, $what, pipeline => p, silver => 'silver.t',
  key => 'k', lo => first, hi => last, gold => 'SELECT row(...)::text FROM
  gold.g', gold_of_silver => 'SELECT row(...)::text FROM silver.t'):
  lh_run_pipeline, then silver holds each key lo..hi once, and gold is
  what its aggregate of silver gives (test results).
- fo_figures($title, @lines): diag, and append to
  $PostgreSQL::Test::Utils::log_path/failover_figures.txt.
- fo_tally(\%acc, repeat => r, unit => 'messages', new => n, total => n,
  landed => n, lost => n, dup => n, acked => n, had => n,
  lost_failover => n, again => n, promote_s => s, rto => s, rpo_s => s):
  adds one failover's figures to %acc and returns them as a line;
  fo_summary($mode, \%acc) the line that sums them up.

=cut

package LakehouseFailover;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use File::Path qw(rmtree);
use HTTP::Tiny;
use IO::Handle;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(max min sum0);
use Time::HiRes qw(time usleep);

use lib dirname(abs_path(__FILE__));
use LakehouseProc;

our @EXPORT = qw(
  fo_primary fo_standby fo_sync_on fo_crash fo_wait_replayed fo_promote
  fo_wait fo_poll fo_log_problems fo_standby_checks fo_promoted_checks
  fo_check_standby_logs
  fo_child fo_child_stop fo_child_stop_all
  fo_kafka_producer fo_http_feeder fo_figures fo_tally fo_summary
  fo_check_layers
);

my @children;
my @standbys;        # every node fo_standby made
my %promoted_log;    # node name => size of its log when promoted

sub _base_conf
{
	my ($mode) = @_;
	die "mode must be sync or async" unless $mode =~ /^(sync|async)$/;
	my $conf = <<'EOC';
timezone = 'UTC'
lc_messages = 'C'
max_worker_processes = 24
max_connections = 30
shared_buffers = 16MB
full_page_writes = off
hot_standby = on
log_line_prefix = '%m [%p] %q%b %a '
shared_preload_libraries = 'lakehouse'
lakehouse.launcher_naptime = '1s'
EOC
	$conf .= $mode eq 'sync'
	  ? "synchronous_commit = on\nlakehouse.kafka_synchronous_commit = on\n"
	  : "synchronous_commit = off\nlakehouse.kafka_synchronous_commit = off\n";
	return $conf;
}

sub fo_primary
{
	my ($name, %p) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 1);
	$node->append_conf('postgresql.conf',
		_base_conf($p{mode}) . ($p{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lakehouse');
	return $node;
}

sub fo_standby
{
	my ($primary, $name) = @_;
	my $backup = "for_$name";
	$primary->backup($backup);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($primary, $backup, has_streaming => 1);
	rmtree($primary->backup_dir . "/$backup");
	# (ALTER SYSTEM on the primary may have put it in postgresql.auto.conf)
	$node->append_conf('postgresql.auto.conf',
		"synchronous_standby_names = ''\n");
	$node->start;
	$primary->wait_for_catchup($node);
	push @standbys, $node;
	return $node;
}

sub fo_sync_on
{
	my ($primary) = @_;
	$primary->safe_psql('postgres',
		"ALTER SYSTEM SET synchronous_standby_names = '*'; SELECT pg_reload_conf();");
	fo_wait($primary,
		"SELECT count(*) > 0 FROM pg_stat_replication WHERE sync_state = 'sync'",
		't', timeout => 30)
	  or die('no synchronous standby after 30 s');
	return;
}

# The process group of a process, or undef.
sub _pgrp
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return undef;
	my $stat = <$fh>;
	close $fh;
	return undef unless defined $stat && $stat =~ /\)\s+(\S)\s+(\d+)\s+(\d+)/;
	return undef if $1 eq 'Z';
	return $3;
}

# The descendants of a process (by parent pid).
sub _children_of
{
	my ($parent) = @_;
	my @pids;
	opendir(my $d, '/proc') or return ();
	for my $pid (grep { /^\d+$/ } readdir($d))
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh>;
		close $fh;
		push @pids, $pid
		  if defined $stat && $stat =~ /\)\s+\S\s+(\d+)/ && $1 == $parent;
	}
	closedir $d;
	return @pids;
}

sub fo_crash
{
	my ($node) = @_;
	my $pid = $node->{_pid};
	die('fo_crash: the node ' . $node->name . ' is not running')
	  unless $pid;
	# Every child of the postmaster is a session leader of its own
	# (InitPostmasterChild calls setsid), so the postmaster's process group
	# does not hold them.  Stop the postmaster so that it forks no more,
	# list its children, and kill them all, each with its process group
	# (anything it started), in one go.
	kill('STOP', $pid);
	my @kids = _children_of($pid);
	my $t = time();
	kill('KILL', $pid, @kids);
	kill('KILL', map { -$_ } grep { (_pgrp($_) // 0) == $_ } $pid, @kids);
	note sprintf('SIGKILL to the postmaster of %s (%d) and its %d children at %.3f',
		$node->name, $pid, scalar(@kids), $t);
	$node->{_pid} = undef;
	my $deadline = time() + 10;
	while (grep { defined _pgrp($_) } $pid, @kids)
	{
		die('fo_crash: processes of ' . $node->name . ' still alive after 10 s')
		  if time() > $deadline;
		usleep(5_000);
	}
	return $t;
}

sub fo_wait_replayed
{
	my ($standby) = @_;
	# What was received may end in the middle of a record, which is never
	# replayed: wait until no walreceiver streams and the startup process
	# has replayed what it has (it waits for more WAL) with the replay
	# position unchanged over three polls.
	my $deadline = time() + 30;
	my ($last, $same) = ('', 0);
	while (1)
	{
		my $now = $standby->safe_psql(
			'postgres', q{
SELECT pg_last_wal_replay_lsn() || ' '
    || (NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'))::text
    || ' ' || coalesce((SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'startup'), '')});
		my ($lsn, $no_receiver, $wait) = split / /, $now;
		$same = ($now eq $last) ? $same + 1 : 0;
		$last = $now;
		return $lsn
		  if $no_receiver eq 'true'
		  && ($wait // '') ne ''
		  && $same >= 2;
		die("the standby did not finish replaying within 30 s ($now)")
		  if time() > $deadline;
		usleep(100_000);
	}
}

sub fo_promote
{
	my ($standby) = @_;
	$promoted_log{ $standby->name } = -s $standby->logfile;
	my $t0 = time();
	my $out = $standby->safe_psql('postgres', 'SELECT pg_promote()');
	my $t1 = time();
	die("pg_promote() returned $out") unless $out eq 't';
	return ($t0, $t1);
}

sub fo_wait
{
	my ($node, $query, $expected, %p) = @_;
	$expected //= 't';
	my $deadline = time() + ($p{timeout} // 60);
	my ($ret, $out, $err);
	while (1)
	{
		($ret, $out, $err) = eval { $node->psql('postgres', $query) };
		($ret, $out, $err) = (-1, undef, $@) unless defined $ret;
		return wantarray ? (1, $out, $err) : 1
		  if $ret == 0 && defined $out && $out eq $expected;
		last if time() > $deadline;
		usleep($p{interval_us} // 50_000);
	}
	return wantarray ? (0, $out, $err) : 0;
}

sub fo_poll
{
	my ($node, $query, $expected, $what, %p) = @_;
	$expected //= 't';
	my ($ok, $out, $err) = fo_wait($node, $query, $expected, %p);
	ok($ok, $what);
	diag("after " . ($p{timeout} // 60) . " s, the query\n$query\nreturned\n"
		  . ($out // '') . "\n(expected: $expected)"
		  . ($err ? "\nstderr: $err" : ''))
	  unless $ok;
	return $ok;
}

sub fo_log_problems
{
	my ($node, %p) = @_;
	my $log = -f $node->logfile ? slurp_file($node->logfile) : '';
	$log = substr($log, 0, $p{upto}) if defined $p{upto};
	my @allow = (
		qr/could not receive data from WAL stream/,
		qr/could not connect to the primary server/,
		qr/terminating walreceiver (process )?due to/,
		@{ $p{allow} // [] });
	return grep {
		my $line = $_;
		$line =~ /\b(ERROR|FATAL|PANIC):/ && !grep { $line =~ $_ } @allow
	} split /\n/, $log;
}

sub fo_standby_checks
{
	my ($S, $source, $what) = @_;
	fo_poll(
		$S, qq{
SELECT count(*) > 0 AND bool_and(worker_state IS NOT DISTINCT FROM 'standby')
  FROM lakehouse.source_status WHERE source = '$source'},
		't', "$what: source_status says worker_state 'standby'",
		timeout => 10);
	# only the launchers and the metrics worker run on a standby
	is( $S->safe_psql(
			'postgres', q{
SELECT coalesce(string_agg(backend_type, ', '), '') FROM pg_stat_activity
 WHERE backend_type LIKE 'lakehouse %'
   AND backend_type NOT IN ('lakehouse launcher', 'lakehouse db launcher', 'lakehouse metrics')}),
		'', "$what: no source (or lineage) worker runs");
	return;
}

sub fo_promoted_checks
{
	my ($S, $source, $what) = @_;
	fo_poll(
		$S, qq{
SELECT (SELECT string_agg(how || ' ' || timeline, ',') FROM lakehouse.site)
       = 'promoted ' || ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
   AND (SELECT enabled FROM lakehouse.sources WHERE name = '$source')},
		't', "$what: lakehouse.site says promoted, on the new timeline, and the source stays enabled",
		timeout => 10);
	like(slurp_file($S->logfile),
		qr/LOG:  database "postgres" was promoted to timeline \d+: its lakehouse sources continue/,
		"$what: the log says the database was promoted and its sources continue");
	return;
}

sub fo_check_standby_logs
{
	for my $s (@standbys)
	{
		my $name = $s->name;
		my @bad = fo_log_problems($s, upto => $promoted_log{$name});
		is(scalar(@bad), 0, "no ERROR/FATAL in the log of $name while it was a standby")
		  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
		@bad = fo_log_problems($s,
			allow => [qr/terminating background worker "[^"]+" due to administrator command/]);
		is(scalar(@bad), 0, "no ERROR/FATAL in the whole log of $name")
		  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
	}
	return;
}

sub fo_child
{
	my ($name, $code) = @_;
	my $file = PostgreSQL::Test::Utils::tempdir() . "/$name.out";
	my $log = "$PostgreSQL::Test::Utils::log_path/child_$name.log";
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		# never run the test's END blocks (they stop the nodes)
		my $rc = 1;
		eval {
			open(STDIN, '<', '/dev/null');
			open(STDOUT, '>>', $log);
			open(STDERR, '>&', \*STDOUT);
			STDOUT->autoflush(1);
			$SIG{$_} = 'DEFAULT' for qw(INT HUP);
			$rc = $code->($file) ? 0 : 1;
			1;
		} or print STDERR "child $name failed: $@\n";
		POSIX::_exit($rc);
	}
	my $child = { pid => $pid, name => $name, file => $file, log => $log };
	push @children, $child;
	return $child;
}

sub fo_child_stop
{
	my ($child) = @_;
	return undef unless $child->{pid};
	kill('TERM', $child->{pid});
	my $deadline = time() + 30;
	my $status;
	while (1)
	{
		my $w = waitpid($child->{pid}, WNOHANG);
		if ($w == $child->{pid}) { $status = $?; last; }
		if (time() > $deadline)
		{
			kill('KILL', $child->{pid});
			waitpid($child->{pid}, 0);
			$status = -1;
			last;
		}
		usleep(10_000);
	}
	$child->{pid} = undef;
	$child->{status} = $status;
	my $out = -f $child->{file} ? slurp_file($child->{file}) : undef;
	chomp $out if defined $out;
	diag("child $child->{name} exited with status $status: "
		  . (-f $child->{log} ? slurp_file($child->{log}) : ''))
	  if $status != 0;
	return $out;
}

sub fo_child_stop_all
{
	for my $c (@children)
	{
		next unless $c->{pid};
		stop_child($c->{pid});
		$c->{pid} = undef;
	}
	return;
}

END
{
	my $rc = $?;
	fo_child_stop_all();
	$? = $rc;
}

sub fo_kafka_producer
{
	my ($addr, $topic, $from, $rate) = @_;
	return fo_child(
		"producer_${topic}_$from",
		sub {
			my ($file) = @_;
			my $stop = 0;
			$SIG{TERM} = sub { $stop = 1; };
			$SIG{PIPE} = 'IGNORE';
			open(my $k, '|-', 'kcat', '-b', $addr, '-P', '-t', $topic,
				'-X', 'acks=all', '-X', 'linger.ms=5')
			  or die "cannot start kcat: $!";
			$k->autoflush(1);
			my $n = $from;
			my $t0 = time();
			my $pad = 'x' x 40;
			while (!$stop)
			{
				my $due = $from + int((time() - $t0) * $rate);
				my $buf = '';
				while ($n < $due)
				{
					$buf .= qq({"n": $n, "pad": "$pad"}\n);
					$n++;
				}
				if ($buf ne '')
				{
					print $k $buf or die "writing to kcat failed: $!";
				}
				usleep(5_000);
			}
			my $ok = close($k) ? 1 : 0;
			open(my $o, '>', "$file.tmp") or die;
			print $o "$n $ok\n";
			close $o;
			rename("$file.tmp", $file) or die;
			return $ok;
		});
}

sub fo_http_feeder
{
	my ($srv, $from, $rate) = @_;
	my $base = $srv->{base};
	return fo_child(
		"feeder_$from",
		sub {
			my ($file) = @_;
			my $stop = 0;
			$SIG{TERM} = sub { $stop = 1; };
			my $ua = HTTP::Tiny->new(timeout => 10, proxy => undef,
				http_proxy => undef, https_proxy => undef);
			my $json = JSON::PP->new;
			my $n = $from;
			my $t0 = time();
			while (!$stop)
			{
				my $due = $from + int((time() - $t0) * $rate);
				if ($due > $n)
				{
					my $r = $ua->post("$base/_control",
						{ content => $json->encode({ records => $due }),
						  headers => { 'Content-Type' => 'application/json' } });
					die "POST /_control: $r->{status} $r->{content}"
					  unless $r->{success};
					$n = $due;
				}
				usleep(20_000);
			}
			open(my $o, '>', "$file.tmp") or die;
			print $o "$n\n";
			close $o;
			rename("$file.tmp", $file) or die;
			return 1;
		});
}

sub fo_figures
{
	my ($title, @lines) = @_;
	my $figures_file = "$PostgreSQL::Test::Utils::log_path/failover_figures.txt";
	my $text = join("\n", "== $title", map { "   $_" } @lines) . "\n";
	diag($text);
	open(my $fh, '>>', $figures_file) or die "cannot write $figures_file: $!";
	print $fh $text;
	close $fh;
	return;
}

sub fo_tally
{
	my ($acc, %f) = @_;
	push @{ $acc->{$_} }, $f{$_} for keys %f;
	return sprintf(
		'#%d: %d new %s (total %d), landed %d, lost %d, duplicated %d; '
		  . 'at the kill: landed on the old primary %d, the standby had %d, '
		  . 'the failover lost %d, landed again %d; pg_promote %.2f s, '
		  . 'promotion -> first landed batch %.2f s, RPO %d %s / %.3f s',
		$f{repeat}, $f{new}, $f{unit}, $f{total}, $f{landed}, $f{lost},
		$f{dup}, $f{acked}, $f{had}, $f{lost_failover}, $f{again},
		$f{promote_s}, $f{rto}, $f{lost_failover}, $f{unit}, $f{rpo_s});
}

sub fo_summary
{
	my ($mode, $acc) = @_;
	my $last = $#{ $acc->{total} };
	return sprintf(
		'%s: %d failovers, %d %s, landed %d, lost %d, duplicated %d; '
		  . 'the failovers lost %d (at most %d in one), landed again %d; '
		  . 'promotion -> first landed batch min %.2f / max %.2f s; '
		  . 'pg_promote max %.2f s; RPO at most %d %s / %.3f s',
		$mode, scalar(@{ $acc->{total} }), $acc->{total}[$last],
		$acc->{unit}[0], $acc->{landed}[$last], sum0(@{ $acc->{lost} }),
		sum0(@{ $acc->{dup} }), sum0(@{ $acc->{lost_failover} }),
		max(@{ $acc->{lost_failover} }), sum0(@{ $acc->{again} }),
		min(@{ $acc->{rto} }), max(@{ $acc->{rto} }),
		max(@{ $acc->{promote_s} }), max(@{ $acc->{lost_failover} }),
		$acc->{unit}[0], max(@{ $acc->{rpo_s} }));
}

sub fo_check_layers
{
	my ($node, $what, %p) = @_;
	$node->safe_psql('postgres', "SELECT lakehouse.lh_run_pipeline('$p{pipeline}')");
	my $n = $p{hi} - $p{lo} + 1;
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || '|' || count(DISTINCT $p{key}) || '|' || min($p{key}) || '|' || max($p{key}) FROM $p{silver}"),
		"$n|$n|$p{lo}|$p{hi}",
		"$what: silver holds each of $p{key} $p{lo}..$p{hi} once (no duplicate, no gap)");
	is($node->safe_psql('postgres', "SELECT ($p{gold}) = ($p{gold_of_silver})"),
		't', "$what: gold is the aggregate of silver");
	return;
}

1;

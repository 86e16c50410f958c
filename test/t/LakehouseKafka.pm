
# Copyright (c) lakehouse authors

# What the Kafka TAP tests (test/t/0*_kafka*.pl) share: the mock cluster
# (test/kafka/lh_kafka_mock, built here with `make kafka-mock` when
# missing), producing with kcat, a lakehouse node with the worker settings,
# bounded polling, and the worker's pid.  Not a test itself: prove runs
# only test/t/*.pl.
#
# Every mock started here is stopped (SIGTERM, then SIGKILL) in an END
# block, whatever happens to the test.

package LakehouseKafka;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use File::Temp qw(tempfile);
use IPC::Run;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use LakehouseProc;

our @EXPORT = qw(
  kafka_mock_start kafka_mock_signal kafka_mock_stop
  kafka_produce kafka_send kafka_offset_for_time kafka_committed
  lh_kafka_node lh_poll lh_wait lh_worker_pid lh_worker_name lh_worker_count
  copy_rows
);

# The source tree: this file is test/t/LakehouseKafka.pm.
my $srcdir = abs_path(dirname(__FILE__) . '/../..');
my $mock_bin = "$srcdir/test/kafka/lh_kafka_mock";
my @mocks;

# The mock helper, built when missing (the tree is writable by the test).
sub _mock_bin
{
	return $mock_bin if -x $mock_bin;
	note "building $mock_bin (make kafka-mock)";
	# a make that runs us (make installcheck) must not pass its jobserver
	# and flags down to this one
	local %ENV = %ENV;
	delete @ENV{qw(MAKEFLAGS MAKELEVEL MFLAGS MAKEOVERRIDES)};
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'make', '-C', $srcdir, 'kafka-mock' ],
		'>', \$out, '2>', \$err);
	BAIL_OUT("the Kafka mock helper $mock_bin is missing and `make kafka-mock` "
		  . "failed (librdkafka-dev installed?): $out$err")
	  unless -x $mock_bin;
	return $mock_bin;
}

my $kcat_checked = 0;

# kcat, checked once.
sub _kcat
{
	if (!$kcat_checked)
	{
		my ($out, $err) = ('', '');
		my $ok =
		  eval { IPC::Run::run([ 'kcat', '-V' ], '>', \$out, '2>', \$err) };
		BAIL_OUT('kcat is not installed (apt-get install kcat)') unless $ok;
		$kcat_checked = 1;
	}
	return 'kcat';
}

=pod

kafka_mock_start(name => 'm', topics => ['t:4', ...], brokers => 1,
				 port => undef, down => 0)

Starts test/kafka/lh_kafka_mock and waits (bounded) for its address file.
Returns a hash: pid, addr (the bootstrap address), log (its output file).

=cut

sub kafka_mock_start
{
	my (%p) = @_;
	my $name = $p{name} // 'kafka';
	my $bin = _mock_bin();
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $addr_file = "$dir/addr";
	my $log = "$PostgreSQL::Test::Utils::log_path/mock_$name.log";
	my @cmd = ($bin, '--exit-with-parent', '--addr-file', $addr_file);
	push @cmd, '--brokers', $p{brokers} if $p{brokers};
	push @cmd, '--port', $p{port} if defined $p{port};
	push @cmd, '--down' if $p{down};
	push @cmd, map { ('--topic', $_) } @{ $p{topics} // [] };

	note "starting the Kafka mock: @cmd";
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
		open(STDOUT, '>>', $log) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	my $mock = { pid => $pid, log => $log, name => $name };
	push @mocks, $mock;

	my $deadline = time() + 30;
	while (!-s $addr_file)
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			$mock->{pid} = undef;
			BAIL_OUT("the Kafka mock exited with status $?: "
				  . slurp_file($log));
		}
		BAIL_OUT("the Kafka mock wrote no address within 30 s")
		  if time() > $deadline;
		usleep(20_000);
	}
	my $addr = slurp_file($addr_file);
	chomp $addr;
	$mock->{addr} = $addr;
	note "Kafka mock $name (pid $pid) at $addr";
	return $mock;
}

# Send a signal to the mock: 'USR1' takes every broker down, 'USR2' brings
# them up again.
sub kafka_mock_signal
{
	my ($mock, $sig) = @_;
	die "the Kafka mock is not running" unless $mock->{pid};
	kill($sig, $mock->{pid}) or die "could not signal the Kafka mock: $!";
	return;
}

sub kafka_mock_stop
{
	my ($mock) = @_;
	stop_child($mock->{pid});
	$mock->{pid} = undef;
	return;
}

END
{
	my $rc = $?;
	kafka_mock_stop($_) for @mocks;
	$? = $rc;
}

=pod

kafka_produce($addr, $topic, $partition, \@messages, key => 'k',
			  headers => ['a=b', ...])

Produces each element of @messages as one message to one partition, in
order, with kcat (acks=all; kcat waits for every delivery report and fails
if one fails).  Messages may hold any bytes except the delimiter used
("\n", or "\x1e\x1d\x1c" when a message contains a newline); an empty
element would be skipped by kcat, so it is refused here (use kafka_send).

=cut

sub kafka_produce
{
	my ($addr, $topic, $partition, $messages, %p) = @_;
	my $kcat = _kcat();
	my $delim = "\n";
	my $delim_arg = '\n';
	if (grep { index($_, "\n") >= 0 } @$messages)
	{
		$delim = "\x1e\x1d\x1c";
		$delim_arg = '\x1e\x1d\x1c';
	}
	for my $m (@$messages)
	{
		die "kafka_produce: empty message (kcat skips those; use kafka_send)"
		  if $m eq '';
		die "kafka_produce: a message contains the delimiter"
		  if $delim ne "\n" && index($m, $delim) >= 0;
	}
	my ($fh, $file) = tempfile(DIR => PostgreSQL::Test::Utils::tempdir());
	binmode $fh;
	print $fh join($delim, @$messages), $delim;
	close $fh;

	my @cmd = ($kcat, '-b', $addr, '-P', '-t', $topic, '-p', $partition,
		'-D', $delim_arg, '-X', 'acks=all', '-m', '30');
	push @cmd, '-k', $p{key} if defined $p{key};
	push @cmd, map { ('-H', $_) } @{ $p{headers} // [] };
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(\@cmd, '<', $file, '>', \$out, '2>', \$err);
	unlink $file;
	die "kcat failed to produce to $topic [$partition]: $err" unless $ok;
	return scalar(@$messages);
}

# One message whose value is NULL ('null', a tombstone) or empty ('empty'),
# with an optional key: lh_kafka_mock --send.
sub kafka_send
{
	my ($addr, $topic, $partition, $kind, $key) = @_;
	my @cmd = (_mock_bin(), '--send', $addr, $topic, $partition, $kind);
	push @cmd, $key if defined $key;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err)
	  or die "lh_kafka_mock --send failed: $err";
	return;
}

# The offsets a consumer group committed: "partition:offset,..." for
# partitions 0..n-1 (-1001: none).
sub kafka_committed
{
	my ($addr, $group, $topic, $nparts) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ _mock_bin(), '--committed', $addr, $group, $topic, $nparts ],
		'>', \$out, '2>', \$err)
	  or die "lh_kafka_mock --committed failed: $err";
	return join(',', map { join(':', split / /) } split /\n/, $out);
}

# The offset the cluster gives for a timestamp (ms since the epoch) in one
# partition (kcat -Q, i.e. ListOffsets by time), or undef.
sub kafka_offset_for_time
{
	my ($addr, $topic, $partition, $ms) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ _kcat(), '-b', $addr, '-Q', '-t', "$topic:$partition:$ms" ],
		'>', \$out, '2>', \$err);
	return $1 if $out =~ /\boffset (-?\d+)/;
	return undef;
}

=pod

lh_kafka_node($name, preload => 1, conf => "...")

A started node with CREATE EXTENSION lakehouse done in database postgres.
With preload (the default): shared_preload_libraries = 'lakehouse' and
lakehouse.launcher_naptime = '1s'.  Always: fsync off, UTC, C messages,
and enough worker processes.

=cut

sub lh_kafka_node
{
	my ($name, %p) = @_;
	my $preload = $p{preload} // 1;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = <<'EOC';
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
lc_messages = 'C'
max_worker_processes = 24
log_line_prefix = '%m [%p] %q%b %a '
EOC
	$conf .= "shared_preload_libraries = 'lakehouse'\n"
	  . "lakehouse.launcher_naptime = '1s'\n"
	  if $preload;
	$conf .= $p{conf} if defined $p{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lakehouse');
	return $node;
}

=pod

lh_wait($node, $query, $expected, timeout => 60)

Runs $query until it returns $expected (default 't'), at most timeout
seconds.  Returns true when it did, else false; in list context also the
last output and stderr.  No test result.

=cut

sub lh_wait
{
	my ($node, $query, $expected, %p) = @_;
	$expected //= 't';
	my $timeout = $p{timeout} // 60;
	my $deadline = time() + $timeout;
	my ($ret, $out, $err);
	while (1)
	{
		# (psql can die writing its input to a server that went away)
		($ret, $out, $err) =
		  eval { $node->psql('postgres', $query) };
		($ret, $out, $err) = (-1, undef, $@) unless defined $ret;
		return wantarray ? (1, $out, $err) : 1
		  if defined $out && $out eq $expected && $ret == 0;
		last if time() > $deadline;
		usleep(100_000);
	}
	return wantarray ? (0, $out, $err) : 0;
}

=pod

lh_poll($node, $query, $expected, $what, timeout => 60)

lh_wait as one test result, named $what.  On failure the last output is in
the test's diagnostics.

=cut

sub lh_poll
{
	my ($node, $query, $expected, $what, %p) = @_;
	$expected //= 't';
	my $timeout = $p{timeout} // 60;
	my ($ok, $out, $err) = lh_wait($node, $query, $expected, %p);
	ok($ok, $what);
	diag("after $timeout s, the query\n$query\nreturned\n"
		  . ($out // '') . "\n(expected: $expected)"
		  . ($err ? "\nstderr: $err" : ''))
	  unless $ok;
	return $ok;
}

# The application_name of the worker of a source (its backend_type is
# 'lakehouse kafka').
sub lh_worker_name
{
	my ($source, $db) = @_;
	return 'lakehouse kafka ' . ($db // 'postgres') . ' ' . $source;
}

# The pid of a source's worker, or '' when there is none.
sub lh_worker_pid
{
	my ($node, $source, $db) = @_;
	my $name = lh_worker_name($source, $db);
	$name =~ s/'/''/g;
	return $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',') FROM pg_stat_activity "
		  . "WHERE backend_type LIKE 'lakehouse kafka%' AND application_name = '$name'");
}

# A query: how many workers serve a source ('' = any source).
sub lh_worker_count
{
	my ($source, $db) = @_;
	my $cond = '';
	if (defined $source && $source ne '')
	{
		my $name = lh_worker_name($source, $db);
		$name =~ s/'/''/g;
		$cond = " AND application_name = '$name'";
	}
	return "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'lakehouse kafka%'$cond";
}

=pod

copy_rows($node, $table, \@rows)

Loads rows (array refs of column values; undef is NULL) into an existing
table with COPY ... FROM STDIN in one psql session.

=cut

sub copy_rows
{
	my ($node, $table, $rows) = @_;
	my $data = '';
	for my $r (@$rows)
	{
		$data .= join(
			"\t",
			map {
				my $v = $_;
				if (!defined $v) { '\N' }
				else
				{
					$v =~ s/\\/\\\\/g;
					$v =~ s/\t/\\t/g;
					$v =~ s/\n/\\n/g;
					$v =~ s/\r/\\r/g;
					$v;
				}
			} @$r) . "\n";
	}
	$node->safe_psql('postgres', "COPY $table FROM STDIN;\n$data\\.\n");
	return;
}

1;

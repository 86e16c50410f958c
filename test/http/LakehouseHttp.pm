
# Copyright (c) lakehouse authors

# What the HTTP-source TAP tests (test/t/0*_http*.pl) share: the test API
# server (test/http/lh_http_server.py, Debian's /usr/bin/python3), its
# control and statistics endpoints, a lakehouse node, psql calls whose
# output is kept for the secrets check, secrets set without being logged,
# and the secrets check itself.  Not a test: prove runs only test/t/*.pl.
#
# Every server started here is stopped (SIGTERM, then SIGKILL) in an END
# block, whatever happens to the test.

package LakehouseHttp;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use lib dirname(abs_path(__FILE__)) . "/../t";
use LakehouseProc;

our @EXPORT = qw(
  http_server_start http_server_stop http_control http_stats http_reset
  http_requests http_query_hash
  lh_http_node lh_sql lh_psql lh_secret lh_captured lh_capture
  lh_check_secrets lh_check_request_log lh_mask lh_add_secret_value
  epoch_of iso_of
);

my $python = '/usr/bin/python3';
my $server_py = abs_path(dirname(__FILE__)) . '/lh_http_server.py';
my @servers;
my @captured;    # every psql stdout/stderr seen through lh_sql / lh_psql
my %secrets;     # secret name => value, set through lh_secret

my $json = JSON::PP->new->utf8->canonical;
# no proxy from the environment: the server is on 127.0.0.1
my $ua = HTTP::Tiny->new(timeout => 30, http_proxy => undef,
	https_proxy => undef, proxy => undef, keep_alive => 0);

# The data the server serves: record i was created at epoch_of(i).
sub epoch_of { return 1700000000 + 60 * $_[0]; }

sub iso_of
{
	my @t = gmtime(epoch_of($_[0]));
	return sprintf('%04d-%02d-%02dT%02d:%02d:%02dZ',
		$t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0]);
}

=pod

http_server_start(name => 'h', records => 250)

Starts the test server on an ephemeral port of 127.0.0.1 and waits (at
most 30 s) for its port file.  Returns a hash: pid, port, base
("http://127.0.0.1:PORT"), log (the request log: every request line,
header and body received), out (its stderr).

=cut

sub http_server_start
{
	my (%p) = @_;
	my $name = $p{name} // 'http';
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $port_file = "$dir/port";
	my $log = "$PostgreSQL::Test::Utils::log_path/http_${name}_requests.log";
	my $out = "$PostgreSQL::Test::Utils::log_path/http_${name}_server.log";
	my @cmd = ($python, $server_py, '--port', 0, '--port-file', $port_file,
		'--log', $log, '--records', $p{records} // 250);

	note "starting the HTTP test server: @cmd";
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
		open(STDOUT, '>>', $out) or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	my $srv = { pid => $pid, log => $log, out => $out, name => $name };
	push @servers, $srv;

	my $deadline = time() + 30;
	while (!-s $port_file)
	{
		if (waitpid($pid, WNOHANG) == $pid)
		{
			$srv->{pid} = undef;
			BAIL_OUT("the HTTP test server exited with status $?: "
				  . (-f $out ? slurp_file($out) : ''));
		}
		BAIL_OUT('the HTTP test server wrote no port within 30 s')
		  if time() > $deadline;
		usleep(20_000);
	}
	my $port = slurp_file($port_file);
	chomp $port;
	$srv->{port} = $port;
	$srv->{base} = "http://127.0.0.1:$port";
	note "HTTP test server $name (pid $pid) at $srv->{base}";
	return $srv;
}

sub http_server_stop
{
	my ($srv) = @_;
	stop_child($srv->{pid});
	$srv->{pid} = undef;
	return;
}

END
{
	my $rc = $?;
	http_server_stop($_) for @servers;
	$? = $rc;
}

=pod

http_control($srv, {...}): POST /_control (see lh_http_server.py); returns
the server's configuration.  Dies unless the server answers 200.

http_reset($srv, {...}): the same, with "reset" and "clear_faults" first.

http_stats($srv): GET /_stats, decoded.

=cut

sub http_control
{
	my ($srv, $cmd) = @_;
	my $r = $ua->post("$srv->{base}/_control",
		{ content => $json->encode($cmd),
		  headers => { 'Content-Type' => 'application/json' } });
	die "POST /_control failed: $r->{status} $r->{content}"
	  unless $r->{success};
	return $json->decode($r->{content});
}

sub http_reset
{
	my ($srv, $cmd) = @_;
	return http_control($srv, { %{ $cmd // {} }, reset => JSON::PP::true,
		clear_faults => JSON::PP::true });
}

sub http_stats
{
	my ($srv) = @_;
	my $r = $ua->get("$srv->{base}/_stats");
	die "GET /_stats failed: $r->{status} $r->{content}" unless $r->{success};
	return $json->decode($r->{content});
}

# The requests the server saw since its last reset whose path starts with
# $prefix (all when undef), in arrival order.
sub http_requests
{
	my ($srv, $prefix) = @_;
	my $st = http_stats($srv);
	return [ grep { !defined $prefix || index($_->{path}, $prefix) == 0 }
		  @{ $st->{requests} } ];
}

# A query string as a hash (values URL-decoded).
sub http_query_hash
{
	my ($qs) = @_;
	my %h;
	for my $kv (split /&/, $qs // '')
	{
		next if $kv eq '';
		my ($k, $v) = split /=/, $kv, 2;
		for ($k, $v)
		{
			next unless defined;
			tr/+/ /;
			s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
		}
		$h{$k} = $v // '';
	}
	return \%h;
}

=pod

lh_http_node($name, conf => "...")

A started node, lakehouse preloaded, lakehouse.launcher_naptime = '1s',
CREATE EXTENSION done in database postgres.  The node keeps the test
framework's log_statement = all: every statement a client sends is in the
server log, which the secrets check reads.

=cut

sub lh_http_node
{
	my ($name, %p) = @_;
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
log_min_messages = debug1
shared_preload_libraries = 'lakehouse'
lakehouse.launcher_naptime = '1s'
EOC
	$conf .= $p{conf} if defined $p{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	lh_sql($node, 'CREATE EXTENSION lakehouse');
	return $node;
}

=pod

lh_psql($node, $sql, timeout => 120): run $sql in one psql session with
ON_ERROR_STOP and VERBOSITY verbose (errors carry their SQLSTATE).  Returns
(exit status, stdout, stderr); both outputs are kept for lh_check_secrets.

lh_sql($node, $sql): the same, dies on an error; returns stdout.

=cut

sub lh_psql
{
	my ($node, $sql, %p) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		timeout => $p{timeout} // 120);
	push @captured, $out, $err;
	return ($ret, $out, $err);
}

sub lh_sql
{
	my ($node, $sql, %p) = @_;
	my ($ret, $out, $err) = lh_psql($node, $sql, %p);
	die "SQL failed (psql exit status $ret): $err\nSQL: $sql" if $ret != 0;
	return $out;
}

# Everything captured from psql so far.
sub lh_captured { return join("\n", @captured); }

# Keep more output (e.g. a background psql's) for lh_check_secrets.
sub lh_capture { push @captured, grep { defined } @_; return; }

=pod

lh_secret($node, $name, $value, role => 'r'): lakehouse.lh_set_secret in a
session that first turns log_statement off, so that the test's own
statement does not put the value in the server log (the check is about
what the extension writes).  With role, the session then does SET ROLE to
it (that role owns the secret).  The value is remembered for
lh_check_secrets.

=cut

sub lh_secret
{
	my ($node, $name, $value, %p) = @_;
	(my $n = $name) =~ s/'/''/g;
	(my $v = $value) =~ s/'/''/g;
	my ($out, $err) = ('', '');
	my $as = defined $p{role} ? "SET ROLE \"$p{role}\";\n" : '';
	my $ret = $node->psql('postgres',
		"SET log_statement = 'none';\n${as}SELECT lakehouse.lh_set_secret('$n', '$v');",
		stdout => \$out, stderr => \$err);
	die "lh_set_secret('$name') failed" if $ret != 0;
	$secrets{$name} = $value;
	return;
}

=pod

lh_add_secret_value(@values): more values to look for (e.g. OAuth2 access
tokens), in lh_check_secrets and lh_mask.

lh_mask($text): $text with every secret value, plain or URL-encoded (either
case of percent escapes), replaced by "<LEAKED SECRET>": what a test
compares and prints when the text might contain a secret, so that a
failure's diagnostics do not copy the secret into the test log.

=cut

my @extra_values;

sub lh_add_secret_value { push @extra_values, grep { defined && length >= 4 } @_; return; }

sub _secret_patterns
{
	my @pats;
	for my $v (values %secrets, @extra_values)
	{
		next unless defined $v && length $v >= 4;
		push @pats, quotemeta($v);
		(my $enc = $v) =~ s{([^A-Za-z0-9._~-])}{sprintf('%%%02X', ord($1))}ge;
		# percent escapes in either case
		(my $re = quotemeta($enc)) =~ s{\\%([0-9A-F])([0-9A-F])}{'%' . "[$1\L$1\E][$2\L$2\E]"}ge;
		push @pats, $re if $enc ne $v;
	}
	return sort { length($b) <=> length($a) } @pats;
}

sub lh_mask
{
	my ($text) = @_;
	return $text unless defined $text;
	for my $p (_secret_patterns())
	{
		$text =~ s/$p/<LEAKED SECRET>/g;
	}
	return $text;
}

=pod

lh_check_secrets($node, extra => [ texts ], values => [ more secret values ])

One test result per place: no secret value (those set with lh_secret, and
the extra values, e.g. OAuth2 access tokens) appears in the node's server
log, in any psql output captured by lh_psql/lh_sql, in the test's own log,
or in the catalog tables and views a user can read (runs, run_stages,
dead_letters, source_marks, sources, event_outbox, source_status,
http_status, pg_stat_activity).

=cut

sub lh_check_secrets
{
	my ($node, %p) = @_;
	my @values = (values %secrets, @extra_values, @{ $p{values} // [] });
	@values = grep { defined && length >= 4 } @values;
	ok(scalar(@values) > 0, 'there are secret values to look for');

	my $catalog = '';
	for my $rel (
		qw(runs run_stages dead_letters source_marks sources event_outbox
		source_status http_status recent_runs run_stage_details))
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"SELECT t::text FROM lakehouse.$rel t");
		$catalog .= "$out\n$err\n";
	}
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"SELECT row(a.*)::text FROM pg_stat_activity a");
		$catalog .= "$out\n";
	}
	my %places = (
		'the server log' => slurp_file($node->logfile),
		'psql output' => lh_captured() . join("\n", @{ $p{extra} // [] }),
		'the catalog and views' => $catalog,
		'the test log' => -f $PostgreSQL::Test::Utils::test_logfile
		? slurp_file($PostgreSQL::Test::Utils::test_logfile)
		: '');
	for my $place (sort keys %places)
	{
		my @found;
		for my $v (@values)
		{
			push @found, $v if index($places{$place}, $v) >= 0;
		}
		is(join(', ', map { _masked($_) } @found), '',
			"no secret value appears in $place");
	}
	return;
}

# A secret, masked for a test diagnostic.
sub _masked
{
	my ($v) = @_;
	return substr($v, 0, 2) . '...' . '(' . length($v) . ' chars)';
}

=pod

lh_check_request_log($srv, { label => { match => qr/value/,
										allowed => [ qr/allowed line/, ... ] } })

Reads the server's request log (request line, headers, body of every
request) and checks that each value (a pattern, e.g. qr/\Q$secret\E/, or
case-insensitive for a URL-encoded one) appears only in lines matching one
of its allowed patterns, and at least once (it was sent) unless it has no
allowed pattern (then it must not appear at all).  One test result per
label; labels are shown in test names, so they must not be secrets.

=cut

sub lh_check_request_log
{
	my ($srv, $rules) = @_;
	my @lines = split /\n/, slurp_file($srv->{log});
	for my $label (sort keys %$rules)
	{
		my $re = $rules->{$label}{match};
		my @allowed = @{ $rules->{$label}{allowed} };
		my ($seen, @bad) = (0);
		for my $line (@lines)
		{
			next unless $line =~ $re;
			$seen++;
			push @bad, $line unless grep { $line =~ $_ } @allowed;
		}
		ok((@allowed ? $seen > 0 : 1) && !@bad,
			"the request log has $label "
			  . (@allowed ? "only where it is sent ($seen lines)" : 'nowhere'));
		if (@bad)
		{
			(my $l = $bad[0]) =~ s/$re/<SECRET>/g;
			diag("found elsewhere, e.g.: $l");
		}
	}
	return;
}

1;


# Copyright (c) lakehouse authors

=pod

LakehouseProc: what the TAP helpers of the Kafka (LakehouseKafka.pm) and
HTTP (test/http/LakehouseHttp.pm) tests share about the peer processes they
start.

stop_child($pid): SIGTERM, then wait (bounded: 10 s) and reap it; SIGKILL
if it has not exited by then.

Loading this module also makes SIGTERM, SIGINT and SIGHUP end a test
through exit(1), so its END blocks (the helpers', which stop their peers,
and PostgreSQL::Test::Cluster's, which stop the nodes) still run.

=cut

package LakehouseProc;

use strict;
use warnings;

use Exporter 'import';
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(stop_child);

sub stop_child
{
	my ($pid) = @_;
	return unless $pid;
	kill('TERM', $pid);
	my $deadline = time() + 10;
	while (waitpid($pid, WNOHANG) != $pid)
	{
		if (time() > $deadline)
		{
			kill('KILL', $pid);
			waitpid($pid, 0);
			last;
		}
		usleep(20_000);
	}
	return;
}

$SIG{$_} = sub { diag("killed by SIG$_[0]"); exit(1); } for qw(TERM INT HUP);

1;


# Copyright (c) lakehouse authors

=pod

LakehouseWatch: watching a node for source workers that must not run (the
restore-safety tests test/t/023_pitr.pl and test/t/024_restore_safety.pl).

watcher_start($node, $secs, @dbs): starts one psql session that samples
pg_stat_activity every 20 ms for $secs seconds and notes each source worker
(backend_type 'lakehouse kafka' or 'lakehouse http') it sees, in the
databases @dbs (all when none is given).  It only reads, so it also works
on a node in recovery.  Returns a handle.

watcher_finish($handle): waits for the session; returns what it saw,
"<pid> <application_name> in <database>;" per worker, or '' when it saw
none.  Dies if the session failed.

A session still running when the test ends is killed by IPC::Run.

=cut

package LakehouseWatch;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;

our @EXPORT = qw(watcher_start watcher_finish);

sub watcher_start
{
	my ($node, $secs, @dbs) = @_;
	my $dbcond =
	  @dbs ? 'AND datname IN (' . join(', ', map { "'$_'" } @dbs) . ')' : '';
	my $sql = qq{
DO \$\$
DECLARE
  seen text := '';
  t0 timestamptz := clock_timestamp();
  r record;
BEGIN
  WHILE clock_timestamp() < t0 + interval '$secs seconds' LOOP
    PERFORM pg_stat_clear_snapshot();
    FOR r IN SELECT pid, datname, application_name FROM pg_stat_activity
              WHERE backend_type IN ('lakehouse kafka', 'lakehouse http') $dbcond LOOP
      IF position(' ' || r.pid || ' ' IN seen) = 0 THEN
        seen := seen || ' ' || r.pid || ' ' || r.application_name || ' in ' || r.datname || ';';
      END IF;
    END LOOP;
    PERFORM pg_sleep(0.02);
  END LOOP;
  RAISE NOTICE 'watched: [%]', seen;
END
\$\$;
};
	my %w = (out => '', err => '');
	$w{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$w{out}, '2>', \$w{err});
	return \%w;
}

sub watcher_finish
{
	my ($w) = @_;
	$w->{h}->finish;
	return $1 if $w->{err} =~ /watched: \[(.*)\]/;
	die "the watcher failed: $w->{err}";
}

1;

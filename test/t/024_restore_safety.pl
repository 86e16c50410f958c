
# Copyright (c) lakehouse authors

# Restore safety (issue 20): a copy of a lakehouse database consumes
# nothing until told to.
#
# Cluster A runs pg_cron and lakehouse in database "lake" (a Kafka source
# with its worker, silver, gold, a pg_cron schedule).  Then:
# (a) pg_dump -Fc of "lake", restored into new databases of the same cluster,
#     which have no pg_cron:
#     - with the runbook's filtered list (pg_restore -l | grep -v -E
#       ' (EXTENSION - pg_cron |COMMENT - EXTENSION pg_cron |TABLE DATA cron
#       |SEQUENCE SET cron )' > list; pg_restore -L list --exit-on-error):
#       no error at all;
#     - unfiltered: exactly pg_cron's entries fail, each error names
#       cron/pg_cron, as many as the filter removes;
#     - in the copy: the source is paused (another database), nothing is
#       consumed (bronze, stored offsets, the copy's consumer group on the
#       broker, no worker), pipeline_status.schedule_state says missing;
#       lh_enable_source then consumes;
#     - the original database keeps running, its source not paused;
#     - restored into the cron database of cluster B: paused (another
#       cluster), the schedule missing (its pg_cron job is another
#       database's), lh_schedule_repair() re-creates it: scheduled;
# (b) a pg_basebackup clone of A started as its own primary: paused with the
#     "copy of the data directory" reason, nothing consumed;
# (c) the same clone with lakehouse.after_restore = resume: the source keeps
#     running, a WARNING says so;
# (d) in every paused copy no source worker ever starts: pg_stat_activity
#     sampled every 20 ms from right after the start (or the restore), and
#     the postmaster's DEBUG1 "starting background worker" lines.  A
#     database launcher runs its passes while pg_restore loads the catalog,
#     so the dump is restored 16 more times to give a pass that would start
#     a worker before its check the chance to (each restore ~0.5 s).
#
# The reason of a dump restored into another database is "another
# database: ...", or "restored from a dump: lakehouse.site is empty but
# sources exist" when the launcher's pass fell inside pg_restore after the
# sources and before lakehouse.site came back: both are accepted.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use LakehouseKafka;
use LakehouseWatch;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $t_start = time();

my $mock = kafka_mock_start(name => '024', topics => ['orders:2']);
my $addr = $mock->{addr};

my $common_conf = <<'EOC';
shared_preload_libraries = 'pg_cron,lakehouse'
cron.use_background_workers = on
lakehouse.launcher_naptime = '1s'
synchronous_commit = off
timezone = 'UTC'
lc_messages = 'C'
max_worker_processes = 32
max_connections = 40
shared_buffers = '32MB'
log_line_prefix = '%m [%p] %q%b %a '
log_statement = none
EOC

sub sql
{
	my ($node, $db, $query) = @_;
	return $node->safe_psql($db, $query);
}

# lh_wait on any database: true when $query returned $expected within
# $timeout seconds; in list context also the last output and stderr.  No
# test result.
sub lh_wait_db
{
	my ($node, $db, $query, $expected, $timeout) = @_;
	my $deadline = time() + $timeout;
	my ($ret, $out, $err);
	while (1)
	{
		($ret, $out, $err) = eval { $node->psql($db, $query) };
		($ret, $out, $err) = (-1, undef, $@) unless defined $ret;
		return wantarray ? (1, $out, $err) : 1
		  if $ret == 0 && defined $out && $out eq $expected;
		return wantarray ? (0, $out, $err) : 0 if time() > $deadline;
		usleep(100_000);
	}
}

# lh_poll on any database.
sub poll_db
{
	my ($node, $db, $query, $expected, $what, %p) = @_;
	my $timeout = $p{timeout} // 60;
	my ($ok, $out, $err) = lh_wait_db($node, $db, $query, $expected, $timeout);
	ok($ok, $what);
	diag("after $timeout s, the query\n$query\nin $db returned\n"
		  . ($out // '') . "\n(expected: $expected)"
		  . ($err ? "\nstderr: $err" : ''))
	  unless $ok;
	return $ok;
}

# The DEBUG1 line of the postmaster when it starts the source's worker in $db.
sub worker_start_re
{
	my ($db) = @_;
	return qr/starting background worker process "lakehouse kafka \Q$db\E orders_src"/;
}

sub pause_re
{
	return
	  qr/^paused: this database is a copy \((.+)\); nothing is consumed until SELECT lakehouse\.lh_enable_source\('orders_src'\)$/;
}

my $bronze_state_q = q{
SELECT concat_ws('|', (SELECT count(*) FROM bronze.orders_src),
  (SELECT string_agg(m.mark_key || '=' || m.mark_value, ',' ORDER BY m.mark_key)
     FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
    WHERE s.name = 'orders_src' AND m.mark_key LIKE 'partition:%'))};
my $source_q = q{
SELECT concat_ws('|', enabled, coalesce(disabled_reason, '')) FROM lakehouse.sources WHERE name = 'orders_src'};

# ---------------------------------------------------------------------------
# Cluster A: pg_cron and lakehouse in database "lake"
# ---------------------------------------------------------------------------

my $na = PostgreSQL::Test::Cluster->new('prod');
$na->init(allows_streaming => 1);
$na->append_conf('postgresql.conf', $common_conf);
$na->start;
sql($na, 'postgres', 'CREATE DATABASE lake');
# pg_cron's launcher connects to its database at start: create it first
$na->append_conf('postgresql.conf', "cron.database_name = 'lake'\n");
$na->restart;

sql($na, 'lake', qq{
CREATE EXTENSION pg_cron;
CREATE EXTENSION lakehouse;
SELECT lakehouse.lh_create_pipeline('orders', 'orders from Kafka');
SELECT lakehouse.lh_add_source('orders', 'orders_src', 'kafka',
  '{"brokers": "$addr", "topic": "orders"}');
SELECT lakehouse.lh_define_silver('orders', 'silver.orders', 'orders_src',
  '[{"name": "id", "type": "bigint", "required": true}, {"name": "p", "type": "integer"}]',
  keys => ARRAY['id']);
SELECT lakehouse.lh_define_gold('orders', 'gold.order_count',
  'SELECT count(*) AS n, sum(id) AS total FROM silver.orders');
});
# a schedule that does not fire during the test
my $jobid = sql($na, 'lake', q{SELECT lakehouse.lh_schedule('orders', '0 0 1 1 *')});
like($jobid, qr/^\d+$/, "the pipeline is scheduled (pg_cron job $jobid)");

my $id = 0;
sub produce
{
	my ($per_part) = @_;
	for my $p (0, 1)
	{
		kafka_produce($addr, 'orders', $p,
			[ map { $id++; qq({"id": $id, "p": $p}) } 1 .. $per_part ]);
	}
	return;
}

produce(50);
poll_db($na, 'lake', $bronze_state_q, '100|partition:0=50,partition:1=50',
	'the original lands the first 100 messages');
like(sql($na, 'lake', q{SELECT lakehouse.lh_run_pipeline('orders') ->> 'status'}),
	qr/^succeeded$/, 'a run in the original');
is(sql($na, 'lake', q{SELECT schedule_state FROM lakehouse.pipeline_status WHERE pipeline = 'orders'}),
	'scheduled', 'the original: schedule_state = scheduled');
my $lake_oid = sql($na, 'postgres', q{SELECT oid FROM pg_database WHERE datname = 'lake'});
my $site_before = sql($na, 'lake',
	q{SELECT string_agg(concat_ws('|', system_identifier, database_oid, database_name, timeline, node, how), ',') FROM lakehouse.site});
like($site_before, qr/^\d+\|$lake_oid\|lake\|1\|[^|]+\|created$/,
	'the original: lakehouse.site records this cluster and database');

# The clone's backup, and the dump, with the first 100 messages landed.
$na->backup('bk');
my $dump = $na->basedir . '/lake.dump';
command_ok([ 'pg_dump', '-Fc', '-d', $na->connstr('lake'), '-f', $dump ],
	'pg_dump -Fc of the database with lakehouse and pg_cron');

# 50 more messages: a worker started in a copy would have something to take.
produce(25);
poll_db($na, 'lake', $bronze_state_q, '150|partition:0=75,partition:1=75',
	'the original lands the next 50');

# ---------------------------------------------------------------------------
# (a) restores into databases of the same cluster, without pg_cron
# ---------------------------------------------------------------------------

sql($na, 'postgres', q{ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();});
my $a_log_offset = -s $na->logfile;
my $wa = watcher_start($na, 15, 'copy', 'copy_plain');

# The runbook's filtered restore.
sql($na, 'postgres', 'CREATE DATABASE copy');
my $list = $na->basedir . '/lake.list';
# pg_cron's 6 entries, and nothing else (not a user object named "cron")
my $cron_filter =
  ' (EXTENSION - pg_cron |COMMENT - EXTENSION pg_cron |TABLE DATA cron |SEQUENCE SET cron )';
my ($out, $err) = ('', '');
IPC::Run::run([ 'bash', '-c',
		"set -o pipefail; pg_restore -l '$dump' | grep -v -E '$cron_filter' > '$list'" ],
	'>', \$out, '2>', \$err);
ok(-s $list, "pg_restore -l | grep -v -E '$cron_filter' > list");
my $full_list = '';
IPC::Run::run([ 'pg_restore', '-l', $dump ], '>', \$full_list, '2>', \$err);
my @cron_entries = grep { !/^;/ && /$cron_filter/ } split /\n/, $full_list;
note "pg_cron's entries in the dump:\n" . join("\n", @cron_entries);
($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[ 'pg_restore', '-L', $list, '--exit-on-error', '-d', $na->connstr('copy'), $dump ],
	'>', \$out, '2>', \$err);
ok($ok, 'pg_restore -L list --exit-on-error into a database without pg_cron succeeds');
is($err, '', '... with nothing on stderr');

# The plain restore: only pg_cron's entries fail.
sql($na, 'postgres', 'CREATE DATABASE copy_plain');
($out, $err) = ('', '');
IPC::Run::run([ 'pg_restore', '-d', $na->connstr('copy_plain'), $dump ],
	'>', \$out, '2>', \$err);
my @errors = grep { /\S/ } split /^pg_restore: error: /m, $err;
shift @errors if @errors && $errors[0] !~ /ERROR/;    # text before the first error
my ($ignored) = $err =~ /errors ignored on restore: (\d+)/;
my @not_cron = grep { !/\b(pg_cron|cron)\b/ } @errors;
note 'an unfiltered restore: ' . scalar(@errors) . " errors:\n$err";
is(scalar(@errors), $ignored // -1,
	'an unfiltered restore: pg_restore counts as many errors as it prints');
is(scalar(@errors), scalar(@cron_entries),
	'an unfiltered restore: as many errors (' . scalar(@errors)
	  . ') as pg_cron has entries in the dump');
is(scalar(@errors), 6, 'an unfiltered restore: the 6 errors of the issue');
is(join("\n---\n", @not_cron), '', 'every error names cron or pg_cron');

# In the copies: paused, nothing consumed.
for my $db ('copy', 'copy_plain')
{
	poll_db($na, $db, q{SELECT enabled FROM lakehouse.sources WHERE name = 'orders_src'},
		'f', "$db: the source comes up paused", timeout => 30);
	my $reason = sql($na, $db,
		q{SELECT disabled_reason FROM lakehouse.source_status WHERE source = 'orders_src' LIMIT 1});
	note "$db: disabled_reason: $reason";
	like($reason, pause_re(), "$db: source_status.disabled_reason: paused, a copy, how to resume");
	# The launcher's pass may fall in the middle of pg_restore, after the
	# sources and before lakehouse.site came back: then the reason is the
	# empty site; after it, the other database.
	like(
		$reason,
		qr/\(another database: "lake" \(OID $lake_oid\) was recorded, this is "$db" \(OID \d+\)\)|\(restored from a dump: lakehouse\.site is empty but sources exist\)/,
		"$db: the reason: restored into another database (or from a dump)");
	is(sql($na, $db, $bronze_state_q), '100|partition:0=50,partition:1=50',
		"$db: bronze and the stored offsets are the dump's");
	like(sql($na, $db, q{SELECT schedule_state FROM lakehouse.pipeline_status WHERE pipeline = 'orders'}),
		qr/^missing: pg_cron is not installed in this database/,
		"$db: pipeline_status.schedule_state says missing (no pg_cron here)");
}
my $copy_oid = sql($na, 'postgres', q{SELECT oid FROM pg_database WHERE datname = 'copy'});
like(sql($na, 'copy', q{SELECT count(*) || '|' || string_agg(database_oid || '|' || database_name || '|' || how, ',') FROM lakehouse.site}),
	qr/^1\|$copy_oid\|copy\|adopted: /, 'copy: lakehouse.site now records this database, adopted');
is(sql($na, 'copy', 'SELECT lakehouse.lh_site_check() IS NULL'),
	't', 'copy: lh_site_check(): this is now the recorded site');

is(watcher_finish($wa), '',
	'no source worker in pg_stat_activity for the copies during 15 s from the restore on');
is(sql($na, 'postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE datname IN ('copy', 'copy_plain') AND backend_type IN ('lakehouse kafka', 'lakehouse http')}),
	'0', 'no source worker for the copies now');
for my $db ('copy', 'copy_plain')
{
	is(sql($na, $db, $bronze_state_q), '100|partition:0=50,partition:1=50',
		"$db: still nothing consumed");
	unlike(slurp_file($na->logfile, $a_log_offset), worker_start_re($db),
		"$db: the postmaster never started a source worker for it");
	my @warnings = slurp_file($na->logfile, $a_log_offset) =~
	  /WARNING:\s+lakehouse paused the sources of database "$db"/g;
	is(scalar(@warnings), 1, "$db: one WARNING says its sources were paused");
}
is(kafka_committed($addr, 'lakehouse.copy.orders_src', 'orders', 2),
	'0:-1001,1:-1001', "copy: its consumer group committed nothing on the broker");

# The launcher of a database being restored runs its passes while
# pg_restore loads the catalog: restore the dump again, several times, so
# that a pass that could start a worker before the check has its chance.
# (Each restore takes about half a second.)
my $NREP = 16;
my @rep = map { "copy_r$_" } 1 .. $NREP;
my $rep_log_offset = -s $na->logfile;
for my $db (@rep)
{
	sql($na, 'postgres', "CREATE DATABASE $db");
	($out, $err) = ('', '');
	IPC::Run::run(
		[ 'pg_restore', '-L', $list, '--exit-on-error', '-d', $na->connstr($db), $dump ],
		'>', \$out, '2>', \$err)
	  or diag("pg_restore into $db failed: $err");
}
for my $db (@rep)
{
	lh_wait_db($na, $db, q{SELECT enabled FROM lakehouse.sources WHERE name = 'orders_src'}, 'f', 30);
}
is( join(',',
		map { sql($na, $_, q{SELECT concat_ws('|', enabled, (SELECT count(*) FROM bronze.orders_src))
                               FROM lakehouse.sources WHERE name = 'orders_src'}) } @rep),
	join(',', ('f|100') x $NREP),
	"$NREP more restores: each paused, nothing consumed");
is( join(',',
		map { kafka_committed($addr, "lakehouse.$_.orders_src", 'orders', 2) } @rep),
	join(',', ('0:-1001,1:-1001') x $NREP),
	"$NREP more restores: their consumer groups committed nothing");
my @early = slurp_file($na->logfile, $rep_log_offset) =~
  /starting background worker process "(lakehouse kafka copy_r\d+ orders_src)"/g;
is(join(', ', @early), '',
	"$NREP more restores: the postmaster never started a source worker for them");
sql($na, 'postgres', "DROP DATABASE $_ WITH (FORCE)") for @rep;

# The original keeps running.
is(sql($na, 'lake', $source_q), 't|', 'the original: its source is not paused');
is(sql($na, 'lake', 'SELECT lakehouse.lh_site_check() IS NULL'), 't',
	'the original: lh_site_check() finds the recorded site');
is( sql($na, 'lake',
		q{SELECT string_agg(concat_ws('|', system_identifier, database_oid, database_name, timeline, node, how), ',') FROM lakehouse.site}),
	$site_before,
	'the original: lakehouse.site unchanged');
is(sql($na, 'lake', 'SELECT (' . lh_worker_count('orders_src', 'lake') . ')'),
	'1', 'the original: its worker runs');
produce(10);
poll_db($na, 'lake', $bronze_state_q, '170|partition:0=85,partition:1=85',
	'the original: consumes what comes next');
is(kafka_committed($addr, 'lakehouse.lake.orders_src', 'orders', 2),
	'0:85,1:85', 'the original: its consumer group committed the end of the topic');

# lh_enable_source in the copy: it consumes.
sql($na, 'copy', q{SELECT lakehouse.lh_enable_source('orders_src')});
poll_db($na, 'copy', $bronze_state_q, '170|partition:0=85,partition:1=85',
	'copy: after lh_enable_source it consumes the rest of the topic', timeout => 30);
is(sql($na, 'copy', $source_q), 't|', 'copy: enabled, no reason left');
is(sql($na, 'copy', q{SELECT count(DISTINCT payload->>'id') || '|' || min((payload->>'id')::int) || '|' || max((payload->>'id')::int) FROM bronze.orders_src}),
	'170|1|170', 'copy: every message once');
like(slurp_file($na->logfile, $a_log_offset), worker_start_re('copy'),
	'copy: the postmaster started its worker after lh_enable_source');
like(sql($na, 'copy', q{SELECT lakehouse.lh_run_pipeline('orders') ->> 'status'}),
	qr/^succeeded$/, 'copy: a run');
is(sql($na, 'copy', 'SELECT n || \'|\' || total FROM gold.order_count'),
	'170|' . (170 * 171 / 2), 'copy: gold consistent with bronze');
is(sql($na, 'copy_plain', $source_q) =~ /^f\|paused: / ? 1 : 0, 1,
	'copy_plain: still paused');

sql($na, 'postgres', q{ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();});

# ---------------------------------------------------------------------------
# (a) restored into the cron database of another cluster: schedule repair
# ---------------------------------------------------------------------------

my $nb = PostgreSQL::Test::Cluster->new('other');
$nb->init;
$nb->append_conf('postgresql.conf', $common_conf . "log_min_messages = debug1\n");
$nb->start;
sql($nb, 'postgres', 'CREATE DATABASE staging');
$nb->append_conf('postgresql.conf', "cron.database_name = 'staging'\n");
$nb->restart;
my $wb = watcher_start($nb, 8, 'staging');
($out, $err) = ('', '');
$ok = IPC::Run::run(
	[ 'pg_restore', '--exit-on-error', '-d', $nb->connstr('staging'), $dump ],
	'>', \$out, '2>', \$err);
ok($ok, 'cluster B: the full dump restores into its cron database without error');
is($err, '', '... with nothing on stderr');
poll_db($nb, 'staging', q{SELECT enabled FROM lakehouse.sources WHERE name = 'orders_src'},
	'f', 'cluster B: the source comes up paused', timeout => 30);
my $reason_b = sql($nb, 'staging',
	q{SELECT disabled_reason FROM lakehouse.source_status WHERE source = 'orders_src' LIMIT 1});
note "cluster B: disabled_reason: $reason_b";
like($reason_b, pause_re(), 'cluster B: paused, a copy, how to resume');
my $sysid_a = sql($na, 'postgres', 'SELECT system_identifier FROM pg_control_system()');
my $sysid_b = sql($nb, 'postgres', 'SELECT system_identifier FROM pg_control_system()');
like(
	$reason_b,
	qr/\(another cluster: system identifier $sysid_a was recorded, this cluster is $sysid_b\)|\(restored from a dump: lakehouse\.site is empty but sources exist\)/,
	'cluster B: the reason: another cluster (or from a dump)');
like(sql($nb, 'staging', q{SELECT count(*) || '|' || string_agg(system_identifier || '|' || how, ',') FROM lakehouse.site}),
	qr/^1\|$sysid_b\|adopted: /, 'cluster B: lakehouse.site now records this cluster, adopted');
is(sql($nb, 'staging', $bronze_state_q), '100|partition:0=50,partition:1=50',
	'cluster B: nothing consumed');
my $state_b = sql($nb, 'staging',
	q{SELECT schedule_state FROM lakehouse.pipeline_status WHERE pipeline = 'orders'});
note "cluster B: schedule_state: $state_b";
like($state_b, qr/^missing: pg_cron job $jobid runs in database lake/,
	'cluster B: schedule_state says missing (the restored pg_cron job is database lake\'s)');
is(sql($nb, 'staging', 'SELECT string_agg(p, \',\') FROM lakehouse.lh_schedule_repair() p'),
	'orders', 'cluster B: lh_schedule_repair() repairs the pipeline');
is(sql($nb, 'staging', q{SELECT schedule_state FROM lakehouse.pipeline_status WHERE pipeline = 'orders'}),
	'scheduled', 'cluster B: schedule_state = scheduled');
is( sql($nb, 'staging', q{
SELECT j.database || '|' || j.schedule || '|' || j.command
  FROM cron.job j JOIN lakehouse.pipelines p ON p.cron_job_id = j.jobid
 WHERE p.name = 'orders'}),
	"staging|0 0 1 1 *|SELECT lakehouse.lh_run_pipeline('orders')",
	'cluster B: the pipeline\'s pg_cron job runs it in this database, on the same schedule');
is( sql($nb, 'staging', q{
SELECT count(*) FROM cron.job WHERE command = 'SELECT lakehouse.lh_run_pipeline(''orders'')'}),
	'1', 'cluster B: one pg_cron job runs the pipeline (the one of database lake is gone)');
is(sql($nb, 'staging', 'SELECT string_agg(p, \',\') FROM lakehouse.lh_schedule_repair() p'),
	'', 'cluster B: a second lh_schedule_repair() has nothing to repair');
is(watcher_finish($wb), '', 'cluster B: no source worker seen');
unlike(slurp_file($nb->logfile), worker_start_re('staging'),
	'cluster B: the postmaster never started a source worker');
$nb->stop;

# ---------------------------------------------------------------------------
# (b), (c): pg_basebackup clones of A started as their own primaries
# ---------------------------------------------------------------------------

sub clone
{
	my ($name, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($na, 'bk');
	$node->append_conf('postgresql.conf', "log_min_messages = debug1\n" . ($extra // ''));
	return $node;
}

my $c1 = clone('clone_paused');
$c1->start;
my $wc = watcher_start($c1, 8, 'lake');
poll_db($c1, 'lake', q{SELECT enabled FROM lakehouse.sources WHERE name = 'orders_src'},
	'f', 'clone: the source comes up paused', timeout => 30);
my $reason_c = sql($c1, 'lake',
	q{SELECT disabled_reason FROM lakehouse.source_status WHERE source = 'orders_src' LIMIT 1});
note "clone: disabled_reason: $reason_c";
like($reason_c, pause_re(), 'clone: paused, a copy, how to resume');
like($reason_c, qr/copy of the data directory/, 'clone: the reason: a copy of the data directory');
my ($dir_a, $dir_c1) = ($na->data_dir, $c1->data_dir);
like($reason_c, qr/:\Q$dir_a\E\b.*:\Q$dir_c1\E\b/,
	'clone: the reason names the recorded data directory and this one');
like(sql($c1, 'lake', q{SELECT count(*) || '|' || string_agg(how, ',') FROM lakehouse.site}),
	qr/^1\|adopted: .*copy of the data directory/, 'clone: lakehouse.site adopted');
is(watcher_finish($wc), '', 'clone: no source worker seen from the start on (8 s)');
is(sql($c1, 'lake', $bronze_state_q), '100|partition:0=50,partition:1=50',
	'clone: nothing consumed (the backup\'s 100 rows and offsets)');
unlike(slurp_file($c1->logfile), worker_start_re('lake'),
	'clone: the postmaster never started a source worker');
$c1->stop;

my $c2 = clone('clone_resume', "lakehouse.after_restore = 'resume'\n");
$c2->start;
poll_db($c2, 'lake', $bronze_state_q, '170|partition:0=85,partition:1=85',
	'after_restore = resume: the clone keeps consuming without lh_enable_source',
	timeout => 30);
is(sql($c2, 'lake', $source_q), 't|', 'after_restore = resume: not paused');
like(sql($c2, 'lake', q{SELECT count(*) || '|' || string_agg(how, ',') FROM lakehouse.site}),
	qr/^1\|resumed: .*copy of the data directory/,
	'after_restore = resume: lakehouse.site says resumed, and why');
like(slurp_file($c2->logfile),
	qr/WARNING:\s+database "lake" is a copy; its lakehouse sources keep running/,
	'after_restore = resume: a WARNING in the log says the sources keep running');
$c2->stop;

# Nothing crashed anywhere.
for my $node ($na, $nb, $c1, $c2)
{
	unlike(slurp_file($node->logfile), qr/server process .* was terminated|PANIC/,
		$node->name . ': no backend crashed');
}

note sprintf('test %.0f s', time() - $t_start);
$na->stop;
done_testing();

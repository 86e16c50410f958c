
# Copyright (c) lakehouse authors

# Runs in flight are visible from any session, and a cancelled run leaves
# a ledger row:
# - a run of a generated CSV file (ingest, a silver stage, a gold stage) is
#   watched from other sessions while it works: lakehouse.run_progress
#   shows its pid, run id, stage, target, totals (the file's bytes, the
#   bronze rows above the silver mark) and rows done growing, and
#   pipeline_status shows it running with the current stage;
# - with lakehouse.progress_notice_interval the running session gets
#   NOTICE lines saying how far the run is;
# - pg_cancel_backend and pg_terminate_backend in the middle of the silver
#   stage roll the run back, and the database launcher writes its ledger
#   row afterwards, status cancelled, with the run id the view showed;
# - a one-shot ingest of a Kafka topic (librdkafka's mock cluster) shows
#   the topic's lag as its total.
# The run is held at known points so that nothing depends on timing: the
# ingest waits for a lock on its bronze table, the silver stage for
# advisory locks taken by a domain check at rows 1000 and 5000.  Every
# wait is a bounded poll.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use LakehouseKafka;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 20000;

my $node = PostgreSQL::Test::Cluster->new('run_progress');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'lakehouse'\nlakehouse.launcher_naptime = 1");
$node->start;

my $dir = PostgreSQL::Test::Utils::tempdir;
my $csv = "$dir/big.csv";
open(my $fh, '>', $csv) or die "could not write $csv: $!";
print $fh "id,name,amount\n";
print $fh "$_,item $_," . ($_ % 97) . ".50\n" for 1 .. $rows;
close($fh);
my $csv_bytes = -s $csv;

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# The gates: a domain whose check waits for advisory lock 1000 or 5000 when
# it sees that value (shared, so that many runs can pass once it is free).
sql(qq{
CREATE EXTENSION lakehouse;
CREATE FUNCTION public.gate(v integer) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
    IF v IN (1000, 5000) THEN
        PERFORM pg_advisory_xact_lock_shared(v);
    END IF;
    RETURN true;
END
\$\$;
CREATE DOMAIN public.gated_int AS integer CHECK (public.gate(VALUE));
SELECT lakehouse.lh_create_pipeline('big');
SELECT lakehouse.lh_add_source('big', 'big_csv', 'file',
  '{"path": "$csv", "format": "csv"}');
SELECT lakehouse.lh_define_silver('big', 'silver.big', 'big_csv',
  '[{"name": "id", "type": "public.gated_int", "required": true},
    {"name": "name", "type": "text"}, {"name": "amount", "type": "numeric(10,2)"}]',
  keys => ARRAY['id']);
SELECT lakehouse.lh_define_gold('big', 'gold.big_total',
  'SELECT count(*) AS n, sum(amount) AS total FROM silver.big');
});

is(sql(q{SELECT count(*) FROM lakehouse.run_progress}), '0', 'nothing in flight at first');

# The session that holds the gates, and the session that runs.
my $gates = $node->background_psql('postgres');
$gates->query_safe(q{SELECT pg_advisory_lock(1000), pg_advisory_lock(5000)});
$gates->query_safe(q{BEGIN; LOCK TABLE bronze.big_csv IN SHARE MODE;});

my $run = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $run->query_safe(q{SELECT pg_backend_pid()});
$run->query_safe(q{SET lakehouse.progress_notice_interval = 1});
$run->query_until(qr/started/, q{
\echo started
SELECT (lakehouse.lh_run_pipeline('big'))->>'status';
});

# Held where its stage is (a lock), with the progress the view shows then.
sub wait_held
{
	my ($stage, $extra) = @_;
	$extra //= 'true';
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT EXISTS (SELECT 1 FROM lakehouse.run_progress p JOIN pg_stat_activity a USING (pid)
                WHERE p.pipeline = 'big' AND p.stage = '$stage' AND a.wait_event_type = 'Lock'
                  AND $extra)}),
		"the run is held in its $stage stage");
	return;
}

# ---- the ingest stage, waiting for its bronze table ----
wait_held('ingest');
my $run_id = sql(q{SELECT run_id FROM lakehouse.run_progress WHERE pipeline = 'big'});
like($run_id, qr/^\d+$/, 'the view shows the run id');
is( sql(qq{
SELECT concat_ws('|', pid, stage, target, stage_no, stages, rows_done, bytes_done, bytes_total,
                 percent_done, started_at <= clock_timestamp())
  FROM lakehouse.run_progress WHERE pipeline = 'big'}),
	"$pid|ingest|bronze.big_csv|1|3|0|0|$csv_bytes|0.0|t",
	'ingest: pid, stage, target, stage 1 of 3, the file size as the total');
is( sql(q{
SELECT concat_ws('|', run_state, current_run_id, current_stage)
  FROM lakehouse.pipeline_status WHERE pipeline = 'big'}),
	"running|$run_id|ingest bronze.big_csv",
	'pipeline_status shows the run and its current stage');
is( sql(q{SELECT count(*) FROM lakehouse.runs WHERE pipeline_name = 'big'}),
	'0', 'the ledger row is not visible to other sessions while the run works');

# long enough for a NOTICE line at the first report after the lock
ok( $node->poll_query_until(
		'postgres',
		q{SELECT elapsed >= interval '2 s' FROM lakehouse.run_progress WHERE pipeline = 'big'}),
	'two seconds into the run');
$gates->query_safe(q{COMMIT});

# ---- the silver stage, held at row 1000, then at row 5000 ----
wait_held('silver');
my $first = sql(q{
SELECT concat_ws('|', pid, run_id, target, stage_no, stages, rows_done, rows_total,
                 coalesce(bytes_done::text, '-'), percent_done IS NOT NULL, coalesce(step, '-'))
  FROM lakehouse.run_progress WHERE pipeline = 'big'});
my ($p1, $r1, $t1, $n1, $s1, $done1, $total1, $b1, $pct1, $step1) = split /\|/, $first, -1;
is("$p1|$r1|$t1|$n1|$s1", "$pid|$run_id|silver.big|2|3",
	'silver: same pid and run, stage 2 of 3 on the silver table');
is($total1, $rows, 'silver: the total is the bronze rows above the mark');
ok($done1 > 0 && $done1 < $rows, "silver: $done1 rows done of $rows");
is($b1, '-', 'silver: no bytes measured');
is($step1, "run the silver stage's statement", 'silver: the step is the stage statement');
is( sql(q{SELECT current_stage FROM lakehouse.pipeline_status WHERE pipeline = 'big'}),
	'silver silver.big', 'pipeline_status follows the stage');

ok( $node->poll_query_until(
		'postgres',
		q{SELECT stage_elapsed >= interval '2 s' FROM lakehouse.run_progress WHERE pipeline = 'big'}),
	'two seconds into the silver stage');
$gates->query_safe(q{SELECT pg_advisory_unlock(1000)});
wait_held('silver', "p.rows_done > $done1");
my $done2 = sql(q{SELECT rows_done FROM lakehouse.run_progress WHERE pipeline = 'big'});
ok($done2 > $done1 && $done2 < $rows, "silver: rows done grew from $done1 to $done2");

# the sample for the record
my $sample = $node->safe_psql('postgres',
	q{SELECT * FROM lakehouse.run_progress WHERE pipeline = 'big'},
	extra_params => ['-x']);
note "run_progress sample taken mid-run:\n$sample";
like($sample, qr/stage\s*\|\s*silver/, 'the sample shows the silver stage');

$gates->query_safe(q{SELECT pg_advisory_unlock(5000)});
my ($out) = $run->query(q{SELECT 'done'});
like($out, qr/^succeeded\ndone$/m, 'the run succeeded');
is(sql(q{SELECT count(*) FROM lakehouse.run_progress}), '0', 'nothing in flight afterwards');
is( sql(q{
SELECT concat_ws('|', run_state, coalesce(current_run_id::text, '-'), coalesce(current_stage, '-'),
                 last_run_id, last_status)
  FROM lakehouse.pipeline_status WHERE pipeline = 'big'}),
	"idle|-|-|$run_id|succeeded",
	'pipeline_status: idle, the run is the last one');
is(sql(q{SELECT n FROM gold.big_total}), $rows, 'every row went through');

# the NOTICE lines the running session saw
my $notices = $run->{stderr};
note "NOTICE lines:\n$notices";
like(
	$notices,
	qr/NOTICE:  pipeline "big" run $run_id, \d+ s: stage 1 of 3, ingest bronze\.big_csv: \d+ rows, \d+ (?:bytes|kB) of \d+ kB \(\d+\.\d%\)/,
	'a NOTICE line during the ingest: rows, bytes of the total, percent');
like(
	$notices,
	qr/NOTICE:  pipeline "big" run $run_id, \d+ s: stage 2 of 3, silver silver\.big: \d+ of $rows rows \(\d+\.\d%\)/,
	'a NOTICE line during the silver stage: rows of the total, percent');
$run->{stderr} = '';
$run->query_safe(q{RESET lakehouse.progress_notice_interval});

# ---- pg_cancel_backend in the middle of the silver stage ----
$gates->query_safe(q{SELECT pg_advisory_lock(1000)});
$run->query_until(qr/started/, q{
\echo started
SELECT (lakehouse.lh_run_pipeline('big', full_refresh => true))->>'status';
});
wait_held('silver');
my $cancelled_id = sql(q{SELECT run_id FROM lakehouse.run_progress WHERE pipeline = 'big'});
ok($cancelled_id > $run_id, 'a new run is in flight');
my $cancelled_done = sql(q{SELECT rows_done FROM lakehouse.run_progress WHERE pipeline = 'big'});
is(sql(qq{SELECT pg_cancel_backend($pid)}), 't', 'cancel the running backend');
$run->query(q{SELECT 'after cancel'});
like($run->{stderr}, qr/ERROR:  canceling statement due to user request/,
	'the running session got the cancel');

ok( $node->poll_query_until(
		'postgres',
		qq{SELECT EXISTS (SELECT 1 FROM lakehouse.runs WHERE run_id = $cancelled_id)}),
	'the cancelled run has a ledger row');
is( sql(qq{
SELECT concat_ws('|', pipeline_name, status, failed_stage, error_sqlstate, error_message, rows_read,
                 rows_written, full_refresh, run_by = current_user, finished_at > started_at,
                 summary->>'status', summary->'progress'->>'rows_total',
                 summary->'progress'->>'rows_done')
  FROM lakehouse.runs WHERE run_id = $cancelled_id}),
	"big|cancelled|silver silver.big|57014|canceling statement due to user request|0|0|t|t|t|cancelled|$rows|$cancelled_done",
	'the row says cancelled, in which stage, and how far it got');
is( sql(q{
SELECT concat_ws('|', run_state, last_run_id, last_status, last_failed_stage)
  FROM lakehouse.pipeline_status WHERE pipeline = 'big'}),
	"idle|$cancelled_id|cancelled|silver silver.big",
	'pipeline_status shows the cancelled run as the last one');
is(sql(q{SELECT count(*) FROM lakehouse.run_progress}), '0', 'the cancelled run left the view');
is(sql(qq{SELECT count(*) FROM lakehouse.runs WHERE pipeline_name = 'big'}),
	'2', 'one row per run');

# ---- pg_terminate_backend: the session ends in the middle of the run ----
my $run2 = $node->background_psql('postgres', on_error_stop => 0);
my $pid2 = $run2->query_safe(q{SELECT pg_backend_pid()});
$run2->query_until(qr/started/, q{
\echo started
SELECT (lakehouse.lh_run_pipeline('big', full_refresh => true))->>'status';
});
wait_held('silver');
my $terminated_id = sql(q{SELECT run_id FROM lakehouse.run_progress WHERE pipeline = 'big'});
is(sql(q{SELECT pid FROM lakehouse.run_progress WHERE pipeline = 'big'}),
	$pid2, 'the run of the other session is in flight');
is(sql(qq{SELECT pg_terminate_backend($pid2)}), 't', 'terminate the running backend');
ok( $node->poll_query_until(
		'postgres',
		qq{SELECT EXISTS (SELECT 1 FROM lakehouse.runs WHERE run_id = $terminated_id)}),
	'the terminated run has a ledger row');
is( sql(qq{
SELECT concat_ws('|', status, failed_stage, coalesce(error_sqlstate, '-'), error_message)
  FROM lakehouse.runs WHERE run_id = $terminated_id}),
	'cancelled|silver silver.big|-|the session running the run ended before the run finished',
	'the row says the session ended in the silver stage');
eval { $run2->quit; };

# the rolled back runs changed nothing; the gates open, the next run works
is(sql(q{SELECT count(*) FROM silver.big}), $rows, 'silver is as the first run left it');
$gates->query_safe(q{SELECT pg_advisory_unlock_all()});
is(sql(q{SELECT (lakehouse.lh_run_pipeline('big'))->>'status'}),
	'succeeded', 'the next run succeeds');
is( sql(q{SELECT string_agg(status, ',' ORDER BY run_id) FROM lakehouse.runs WHERE pipeline_name = 'big'}),
	'succeeded,cancelled,cancelled,succeeded',
	'the ledger: every run, the cancelled ones included');

# ---- a one-shot Kafka ingest: the lag is the total ----
# (a disabled source has no worker: lh_ingest consumes up to the high
# watermarks itself)
my $mock = kafka_mock_start(name => '019', topics => ['events:2']);
kafka_produce($mock->{addr}, 'events', 0, [ map { qq({"i": $_}) } 1 .. 300 ]);
kafka_produce($mock->{addr}, 'events', 1, [ map { qq({"i": $_}) } 1 .. 200 ]);
sql(qq{
BEGIN;
SELECT lakehouse.lh_create_pipeline('stream');
SELECT lakehouse.lh_add_source('stream', 'events_src', 'kafka',
  '{"brokers": "$mock->{addr}", "topic": "events"}');
SELECT lakehouse.lh_disable_source('events_src');
COMMIT;
});
$gates->query_safe(q{BEGIN; LOCK TABLE bronze.events_src IN SHARE MODE;});
$run->query_until(qr/started/, q{
\echo started
SELECT (lakehouse.lh_ingest('events_src'))->>'rows_written';
});
ok( $node->poll_query_until(
		'postgres', q{
SELECT EXISTS (SELECT 1 FROM lakehouse.run_progress p JOIN pg_stat_activity a USING (pid)
                WHERE p.pipeline = 'stream' AND a.wait_event_type = 'Lock')}),
	'the Kafka ingest is held at its bronze table');
is( sql(q{
SELECT concat_ws('|', pid, stage, target, stage_no, stages, rows_done, rows_total, percent_done)
  FROM lakehouse.run_progress WHERE pipeline = 'stream'}),
	"$pid|ingest|bronze.events_src|1|1|0|500|0.0",
	'Kafka: the lag of both partitions is the total');
$gates->query_safe(q{COMMIT});
($out) = $run->query(q{SELECT 'done'});
like($out, qr/^500\ndone$/m, 'the ingest landed the lag');
is(sql(q{SELECT count(*) FROM lakehouse.run_progress}), '0', 'nothing in flight at the end');

$run->quit;
$gates->quit;
$node->stop;
done_testing();

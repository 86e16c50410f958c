
# Copyright (c) lakehouse authors

# Failover of a Kafka source: a primary and a streaming hot standby, a
# producer writing numbered messages ({"n": 0, 1, 2, ...}) to the Kafka mock
# cluster (outside both nodes) at a steady rate, the primary's worker
# landing them; then every process of the primary is killed with SIGKILL
# mid-stream, the standby is promoted, the producer goes on for a while and
# stops, and the new primary catches up.  In both modes, repeated
# (LH_FAILOVER_REPEATS, default 5) with a fresh standby cloned from the
# current primary each time:
#
# - sync: synchronous_standby_names = '*', synchronous_commit = on and
#   lakehouse.kafka_synchronous_commit = on.  Nothing acknowledged is lost:
#   every message whose offset the old primary had committed before the
#   kill (its committed offsets at the broker, and what a session saw
#   landed on it just before) is in the new primary, landed by the old one;
# - async: no synchronous standby, synchronous_commit = off (the worker's
#   default anyway).  Batches the old primary committed are lost in the
#   failover (the count landed on the old primary exceeds what the standby
#   had) and consumed again from Kafka, because their offsets rolled back
#   with them.
#
# Each time: every produced message exactly once in the new primary's
# bronze (0 lost, 0 duplicated, by its number and by its position), the
# worker resumed on the new primary (a new pid, 'lakehouse kafka' in
# pg_stat_activity), silver (keyed by the number) and gold consistent with
# bronze after lh_run_pipeline.  While a node is a standby: source_status
# answers with worker_state 'standby', no source worker runs, and its log
# has no ERROR/FATAL for the whole test (its walreceiver losing the killed
# primary aside).  The figures (produced, landed, lost, duplicated, rows
# the failover lost and re-consumed, promotion to first landed batch, RPO)
# are printed and written to failover_figures.txt in the test's log
# directory.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use LakehouseFailover;
use LakehouseKafka;
use List::Util qw(max min sum0);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $seed = $ENV{LH_TEST_SEED} // int(time() * 1000) % 1_000_000;
srand($seed);
note "random seed: $seed (LH_TEST_SEED=$seed repeats the choices)";

my $NPART = 4;
my $RATE = 2000;    # messages a second
my $REPEATS = $ENV{LH_FAILOVER_REPEATS} // 5;
my $SRC = 'fo_src';
my $GROUP = "lakehouse.postgres.$SRC";
my $t_start = time();

my $mock = kafka_mock_start(
	name => '021',
	topics => [ "fo_sync:$NPART", "fo_async:$NPART" ]);
my $addr = $mock->{addr};


# Queries ------------------------------------------------------------------

my $marks_q = qq{
SELECT coalesce(string_agg(substr(m.mark_key, 11) || ':' || m.mark_value, ',' ORDER BY m.mark_key), '')
  FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = '$SRC' AND m.mark_key LIKE 'partition:%'};
my $landed_q = qq{
SELECT coalesce(sum(m.mark_value::bigint), 0)
  FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
 WHERE s.name = '$SRC' AND m.mark_key LIKE 'partition:%'};
my $workers_q = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'lakehouse kafka%'};
my $worker_pid_q = qq{
SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity
 WHERE backend_type LIKE 'lakehouse kafka%' AND application_name = 'lakehouse kafka postgres $SRC'};

# "p:next,p:next" -> { p => next }
sub parse_marks
{
	my ($s) = @_;
	return { map { split /:/ } grep { $_ ne '' } split /,/, ($s // '') };
}

sub psql_value
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# One mode -----------------------------------------------------------------

sub run_mode
{
	my ($mode) = @_;
	my $topic = "fo_$mode";
	my $P = fo_primary("k${mode}0", mode => $mode);
	$P->safe_psql(
		'postgres', qq{
SELECT lakehouse.lh_create_pipeline('fo');
SELECT lakehouse.lh_add_source('fo', '$SRC', 'kafka',
  '{"brokers": "$addr", "topic": "$topic", "max_wait_ms": 50}');
SELECT lakehouse.lh_define_silver('fo', 'silver.fo_events', '$SRC',
  '[{"name": "n", "type": "bigint", "required": true}]', keys => ARRAY['n']);
SELECT lakehouse.lh_define_gold('fo', 'gold.fo_totals',
  'SELECT count(*) AS n, sum(n) AS total, min(n) AS lo, max(n) AS hi FROM silver.fo_events');
-- Waits until more than "after" messages are landed (committed, seen by
-- this session) and returns the stored offsets then, or NULL after 30 s.
CREATE FUNCTION public.fo_wait_landed(after bigint) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    n bigint;
    marks text;
BEGIN
    LOOP
        SELECT coalesce(sum(m.mark_value::bigint), 0),
               string_agg(substr(m.mark_key, 11) || ':' || m.mark_value, ',' ORDER BY m.mark_key)
          INTO n, marks
          FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
         WHERE s.name = '$SRC' AND m.mark_key LIKE 'partition:%';
        IF n > after THEN
            RETURN marks;
        END IF;
        IF clock_timestamp() > t0 + interval '30 s' THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(0.002);
    END LOOP;
END
\$\$;
});
	fo_poll($P, "SELECT ($worker_pid_q) <> ''", 't',
		"$mode: the worker runs on the first primary")
	  or die("$mode: no worker on the first primary");

	my $produced = 0;
	my @fig;
	my %acc;

	for my $r (1 .. $REPEATS)
	{
		my $tag = "$mode #$r";
		my $S = fo_standby($P, "k${mode}$r");
		fo_sync_on($P) if $mode eq 'sync';

		# On the standby: status answers, says 'standby', no worker.
		fo_standby_checks($S, $SRC, "$tag: on the standby");

		my $old_pid;
		fo_wait($P, "SELECT ($worker_pid_q) ~ '^[0-9]+\$'", 't', timeout => 30)
		  or die("$tag: no worker on the primary");
		$old_pid = psql_value($P, $worker_pid_q);

		# The stream.
		my $from = $produced;
		my $prod = fo_kafka_producer($addr, $topic, $from, $RATE);
		fo_wait($P, "SELECT ($landed_q) >= $from + $RATE", 't', timeout => 60)
		  or die("$tag: the primary landed nothing of the stream in 60 s");
		# silver and gold run on the primary mid-stream, and replicate
		$P->safe_psql('postgres', q{SELECT lakehouse.lh_run_pipeline('fo')});
		my $now = psql_value($P, $landed_q);
		$now = max($now, $from + int(1.5 * $RATE));
		# kill right after a batch became visible, or a moment later
		my $seen = psql_value($P, "SELECT public.fo_wait_landed($now)");
		die("$tag: no batch landed within 30 s") if $seen eq '';
		usleep(int(rand(300_000))) if $r % 2 == 0;
		is(psql_value($S, $workers_q), '0', "$tag: still no source worker on the standby");

		my $t_kill = fo_crash($P);
		my $broker = kafka_committed($addr, $GROUP, $topic, $NPART);

		fo_wait_replayed($S);
		fo_standby_checks($S, $SRC, "$tag: after the primary died, before its promotion");
		my $standby_marks = parse_marks(psql_value($S, $marks_q));
		# the rows the new primary will land have larger ids
		my $max_id = psql_value($S, "SELECT coalesce(max(_lh_id), 0) FROM bronze.$SRC");

		note "$tag: the standby's worker crash counts (copied by the base backup): "
		  . join(', ', map { s{.*/}{}r . '=' . (slurp_file($_) =~ s/\s+//gr) }
			  glob($S->data_dir . '/pg_lakehouse/crash.*'));
		my ($t_prom, $t_prom_done) = fo_promote($S);

		# the first batch landed by the new primary
		my $first_q = qq{
SELECT extract(epoch FROM min(_lh_ingested_at)) FROM bronze.$SRC WHERE _lh_id > $max_id};
		# (a source the new primary disabled lands nothing: no need to wait)
		fo_wait($S, "SELECT ($first_q) IS NOT NULL OR NOT (SELECT enabled FROM lakehouse.sources WHERE name = '$SRC')",
			't', timeout => 60)
		  && psql_value($S, "SELECT ($first_q) IS NOT NULL") eq 't'
		  or die("$tag: the new primary landed nothing after its promotion; source_status: "
			  . psql_value($S, qq{SELECT row(enabled, disabled_reason, worker_state, last_error)::text FROM lakehouse.source_status WHERE source = '$SRC' LIMIT 1}));
		my $first = psql_value($S, $first_q);
		my $rto = $first - $t_prom;

		fo_poll($S, "SELECT ($worker_pid_q) ~ '^[0-9]+\$'", 't',
			"$tag: the worker resumed on the new primary ('lakehouse kafka' in pg_stat_activity)",
			timeout => 30);
		fo_promoted_checks($S, $SRC, $tag);
		my $new_pid = psql_value($S, $worker_pid_q);
		isnt($new_pid, $old_pid, "$tag: a new worker pid ($old_pid -> $new_pid)");
		fo_poll(
			$S, qq{
SELECT bool_and(worker_state = 'running') FROM lakehouse.source_status WHERE source = '$SRC'},
			't', "$tag: source_status on the new primary: running", timeout => 30);

		# the producer keeps going a second longer than the first batch
		my $at_first = psql_value($S, $landed_q);
		fo_wait($S, "SELECT ($landed_q) >= $at_first + $RATE", 't', timeout => 60)
		  or die("$tag: the new primary does not keep up with the stream");
		my $res = fo_child_stop($prod);
		my ($next, $ok) = split / /, ($res // '');
		ok(defined $ok && $ok == 1 && $next > $from,
			"$tag: the producer produced and every delivery succeeded (" . ($res // 'nothing') . ')');
		$produced = $next // $produced;

		# catch-up
		fo_poll($S, "SELECT ($landed_q) = $produced", 't',
			"$tag: the new primary caught up ($produced messages)", timeout => 60);

		# Exactly once.
		my ($count, $distinct, $lo, $hi, $positions) = split /\|/, psql_value(
			$S, qq{
SELECT count(*), count(DISTINCT (payload->>'n')::bigint), min((payload->>'n')::bigint),
       max((payload->>'n')::bigint), count(DISTINCT (_lh_partition, _lh_offset))
  FROM bronze.$SRC});
		my $lost = $produced - $distinct;
		my $dup = $count - $distinct;
		is("$count|$distinct|$lo|$hi|$positions",
			"$produced|$produced|0|" . ($produced - 1) . "|$produced",
			"$tag: every one of the $produced messages exactly once in bronze (lost $lost, duplicated $dup)");
		is( psql_value(
				$S, qq{
SELECT count(*) FROM (
  SELECT _lh_partition, _lh_offset - lag(_lh_offset) OVER w AS step, _lh_offset, row_number() OVER w AS rn
    FROM bronze.$SRC WINDOW w AS (PARTITION BY _lh_partition ORDER BY _lh_offset)) x
 WHERE step <> 1 OR (rn = 1 AND _lh_offset <> 0)}),
			'0', "$tag: per partition, offsets 0..n-1 without gap or repeat");

		# What the failover lost.
		my $acked_marks = parse_marks($seen);
		my $broker_marks = { map { split /:/ } split /,/, $broker };
		my %acked;
		my %had = %$standby_marks;
		for my $p (0 .. $NPART - 1)
		{
			$acked{$p} = max($acked_marks->{$p} // 0, $broker_marks->{$p} // 0);
			$had{$p} //= 0;
		}
		my $acked_sum = sum0(values %acked);
		my $had_sum = sum0(values %had);
		is( psql_value(
				$S, qq{
SELECT coalesce(string_agg(p || ':' || n, ',' ORDER BY p), '') FROM (
  SELECT _lh_partition AS p, max(_lh_offset) + 1 AS n, count(*) AS c FROM bronze.$SRC
   WHERE _lh_id <= $max_id GROUP BY 1 HAVING count(*) = max(_lh_offset) + 1) x}),
			join(',', map { "$_:$had{$_}" } grep { $had{$_} > 0 } sort keys %had),
			"$tag: the standby's rows and stored offsets agree ($had_sum)");
		my $lost_failover = sum0(map { max(0, $acked{$_} - $had{$_}) } keys %acked);
		my $cond = join(' OR ',
			map { "(_lh_partition = $_ AND _lh_offset < $acked{$_})" } sort keys %acked);
		my ($reconsumed, $oldest) = split /\|/, psql_value(
			$S, qq{
SELECT count(*), coalesce(extract(epoch FROM min(_lh_timestamp)), 0) FROM bronze.$SRC
 WHERE _lh_id > $max_id AND ($cond)});
		is($reconsumed, $lost_failover,
			"$tag: the $lost_failover acknowledged messages the failover lost were consumed again");
		if ($mode eq 'sync')
		{
			is($lost_failover, 0,
				"$tag: synchronous: nothing acknowledged was lost (acked $acked_sum <= standby $had_sum"
				  . ", offsets committed at the broker: $broker)");
		}
		my $rpo_s = $lost_failover ? max(0, $t_kill - $oldest) : 0;

		# Silver and gold after a run on the new primary.
		fo_check_layers(
			$S, $tag,
			pipeline => 'fo',
			silver => 'silver.fo_events',
			key => 'n',
			lo => 0,
			hi => $produced - 1,
			gold => 'SELECT row(n, total, lo, hi)::text FROM gold.fo_totals',
			gold_of_silver =>
			  'SELECT row(count(*), sum(n), min(n), max(n))::text FROM silver.fo_events');

		push @fig,
		  fo_tally(\%acc,
			repeat => $r, unit => 'messages', new => $produced - $from,
			total => $produced, landed => $distinct, lost => $lost, dup => $dup,
			acked => $acked_sum, had => $had_sum, lost_failover => $lost_failover,
			again => $reconsumed, promote_s => $t_prom_done - $t_prom,
			rto => $rto, rpo_s => $rpo_s);

		$P = $S;
	}

	push @fig, fo_summary($mode, \%acc);
	fo_figures("Kafka failover, $mode", @fig);
	if ($mode eq 'async')
	{
		cmp_ok(sum0(@{ $acc{lost_failover} }), '>', 0,
			'async: the failovers lost acknowledged batches, consumed again (re-consumption exercised)');
	}
	$P->stop;
	return;
}

# A mode that cannot go on (a die) fails, and the other mode still runs.
for my $mode (qw(sync async))
{
	eval { run_mode($mode); 1 } or do { fail("$mode: $@"); fo_child_stop_all(); };
}

fo_check_standby_logs();

note sprintf('021 ran %.0f s', time() - $t_start);
done_testing();

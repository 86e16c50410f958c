
# Copyright (c) lakehouse authors

# Failover of an HTTP source: a primary and a streaming hot standby, the
# test API server (test/http/lh_http_server.py, outside both nodes) whose
# records keep growing at a steady rate, a polled HTTP source (incremental
# on "created", page pagination, poll_interval 1 s: each poll is one
# transaction that lands its pages and moves the cursor) landed by its
# worker on the primary.  Right after a poll became visible on the
# primary, every process of the primary is killed with SIGKILL; the standby
# is promoted, the records keep growing a while, stop, and the new primary
# catches up.  Both modes (as in 021_failover_kafka.pl), repeated
# (LH_FAILOVER_REPEATS_HTTP, default 2) with a fresh standby each time:
#
# - sync: nothing a session saw landed on the old primary is lost;
# - async (synchronous_commit = off): the last polls may be lost with
#   their cursor; the new primary's worker then starts from the cursor the
#   standby replayed (its first request asks for created_gt = that
#   watermark), so their pages are fetched again.
#
# Each time: every record exactly once in bronze (the cursor rolls back
# with the rows, so not even bronze holds a record twice) and in silver
# (keyed by the record id), no gap (ids 1..N); gold is the aggregate of
# silver; the worker resumed (a new pid, 'lakehouse http' in
# pg_stat_activity).  While a node is a standby: source_status says
# worker_state 'standby', no source worker runs, its log has no
# ERROR/FATAL.  Figures go to failover_figures.txt.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use lib "$FindBin::RealBin/../http";

use JSON::PP;
use LakehouseFailover;
use LakehouseHttp;
use List::Util qw(max min sum0);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $RATE = 40;    # new records a second
my $REPEATS = $ENV{LH_FAILOVER_REPEATS_HTTP} // 2;
my $SRC = 'hp_src';
my $t_start = time();

my $srv = http_server_start(name => '022', records => 10);
my $B = $srv->{base};
my $records = 10;

my $count_q = "SELECT count(*) FROM bronze.$SRC";
my $worker_pid_q = qq{
SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity
 WHERE backend_type = 'lakehouse http' AND application_name = 'lakehouse http postgres $SRC'};
my $watermark_q = qq{
SELECT coalesce((SELECT m.mark_value FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
                  WHERE s.name = '$SRC' AND m.mark_key = 'watermark'), '')};

sub psql_value
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

sub run_mode
{
	my ($mode) = @_;
	my $P = fo_primary("h${mode}0", mode => $mode);
	my $opts = JSON::PP->new->canonical->encode(
		{
			url => "$B/pages/items",
			id_field => 'id',
			incremental => { field => 'created', param => 'created_gt' },
			pagination => {
				style => 'page',
				param => 'page',
				page_size_param => 'per_page',
				page_size => 25
			},
			poll_interval => '1s',
		});
	$P->safe_psql(
		'postgres', qq{
SELECT lakehouse.lh_create_pipeline('hp');
SELECT lakehouse.lh_add_source('hp', '$SRC', 'http', \$j\$$opts\$j\$);
SELECT lakehouse.lh_define_silver('hp', 'silver.hp_items', '$SRC',
  '[{"name": "id", "type": "integer", "required": true}, {"name": "amount", "type": "integer"}]',
  keys => ARRAY['id']);
SELECT lakehouse.lh_define_gold('hp', 'gold.hp_totals',
  'SELECT count(*) AS n, sum(amount) AS amount, min(id) AS lo, max(id) AS hi FROM silver.hp_items');
-- Waits until bronze holds more than "after" records (a poll committed,
-- seen by this session) and returns "count:max id" then, or NULL after 30 s.
CREATE FUNCTION public.fo_wait_polled(after bigint) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    n bigint;
    hi bigint;
BEGIN
    LOOP
        SELECT count(*), max((payload->>'id')::bigint) INTO n, hi FROM bronze.$SRC;
        IF n > after THEN
            RETURN n || ':' || hi;
        END IF;
        IF clock_timestamp() > t0 + interval '30 s' THEN
            RETURN NULL;
        END IF;
        PERFORM pg_sleep(0.002);
    END LOOP;
END
\$\$;
});
	fo_poll($P, "SELECT ($count_q) = $records", 't',
		"$mode: the first primary's worker landed the first $records records")
	  or die("$mode: nothing landed on the first primary");

	my @fig;
	my %acc;

	for my $r (1 .. $REPEATS)
	{
		my $tag = "$mode #$r";
		my $S = fo_standby($P, "h${mode}$r");
		fo_sync_on($P) if $mode eq 'sync';
		fo_standby_checks($S, $SRC, "$tag: on the standby");

		fo_wait($P, "SELECT ($worker_pid_q) ~ '^[0-9]+\$'", 't', timeout => 30)
		  or die("$tag: no worker on the primary");
		my $old_pid = psql_value($P, $worker_pid_q);

		# The records grow; the worker polls every second.
		my $from = $records;
		my $feeder = fo_http_feeder($srv, $from, $RATE);
		fo_wait($P, "SELECT ($count_q) >= $from + $RATE", 't', timeout => 60)
		  or die("$tag: the primary landed no new record in 60 s");
		$P->safe_psql('postgres', q{SELECT lakehouse.lh_run_pipeline('hp')});
		my $now = psql_value($P, $count_q);
		# kill right after the next poll became visible
		my $seen = psql_value($P, "SELECT public.fo_wait_polled($now)");
		die("$tag: no poll landed within 30 s") if $seen eq '';
		my $t_kill = fo_crash($P);
		my ($acked, $acked_max) = split /:/, $seen;

		fo_wait_replayed($S);
		fo_standby_checks($S, $SRC, "$tag: after the primary died, before its promotion");
		my ($had, $had_max, $max_id, $newest) = split /\|/, psql_value(
			$S, qq{
SELECT count(*), coalesce(max((payload->>'id')::bigint), 0), coalesce(max(_lh_id), 0),
       coalesce(extract(epoch FROM max(_lh_ingested_at)), 0)
  FROM bronze.$SRC});
		my $standby_watermark = psql_value($S, $watermark_q);
		is($had, $had_max, "$tag: the standby holds records 1..$had_max");

		my ($t_prom, $t_prom_done) = fo_promote($S);

		my $first_q = qq{
SELECT extract(epoch FROM min(_lh_ingested_at)) FROM bronze.$SRC WHERE _lh_id > $max_id};
		# (a source the new primary disabled lands nothing: no need to wait)
		fo_wait($S, "SELECT ($first_q) IS NOT NULL OR NOT (SELECT enabled FROM lakehouse.sources WHERE name = '$SRC')",
			't', timeout => 60)
		  && psql_value($S, "SELECT ($first_q) IS NOT NULL") eq 't'
		  or die("$tag: the new primary landed nothing after its promotion; source_status: "
			  . psql_value($S, qq{SELECT row(enabled, disabled_reason, worker_state, last_error)::text FROM lakehouse.source_status WHERE source = '$SRC' LIMIT 1}));
		my $rto = psql_value($S, $first_q) - $t_prom;

		fo_poll($S, "SELECT ($worker_pid_q) ~ '^[0-9]+\$'", 't',
			"$tag: the worker resumed on the new primary ('lakehouse http' in pg_stat_activity)",
			timeout => 30);
		fo_promoted_checks($S, $SRC, $tag);
		my $new_pid = psql_value($S, $worker_pid_q);
		isnt($new_pid, $old_pid, "$tag: a new worker pid ($old_pid -> $new_pid)");
		fo_poll(
			$S, qq{
SELECT worker_state FROM lakehouse.source_status WHERE source = '$SRC'},
			'running', "$tag: source_status on the new primary: running", timeout => 30);

		# The new primary's first request starts from the replayed cursor.
		my ($first_req) =
		  grep { $_->{time} >= $t_prom } @{ http_requests($srv, '/pages/items') };
		my $asked = $first_req ? http_query_hash($first_req->{query})->{created_gt} : undef;
		is($asked, $standby_watermark,
			"$tag: the new primary's first request asks for created_gt = the watermark the standby replayed");

		# the records keep growing a little longer, then stop
		my $at_first = psql_value($S, $count_q);
		fo_wait($S, "SELECT ($count_q) >= $at_first + $RATE", 't', timeout => 60)
		  or die("$tag: the new primary does not keep up");
		my $n = fo_child_stop($feeder);
		ok(defined $n && $n > $from, "$tag: the API grew from $from to " . ($n // '?') . ' records');
		$records = $n // $records;
		fo_poll($S, "SELECT ($count_q) >= $records", 't',
			"$tag: the new primary caught up ($records records)", timeout => 60);

		my ($count, $distinct, $lo, $hi) = split /\|/, psql_value(
			$S, qq{
SELECT count(*), count(DISTINCT (payload->>'id')::bigint), min((payload->>'id')::bigint),
       max((payload->>'id')::bigint) FROM bronze.$SRC});
		my $lost = $records - $distinct;
		my $dup = $count - $distinct;
		is("$count|$distinct|$lo|$hi", "$records|$records|1|$records",
			"$tag: bronze holds records 1..$records once each (lost $lost, duplicated $dup)");

		my $lost_failover = max(0, $acked - $had);
		my $refetched = psql_value($S,
			"SELECT count(*) FROM bronze.$SRC WHERE _lh_id > $max_id AND (payload->>'id')::bigint <= $acked_max");
		is($refetched, $lost_failover,
			"$tag: the $lost_failover records the failover lost were fetched again");
		if ($mode eq 'sync')
		{
			is($lost_failover, 0,
				"$tag: synchronous: nothing a session saw landed was lost ($acked seen, standby $had)");
		}
		my $rpo_s = $lost_failover ? max(0, $t_kill - $newest) : 0;

		fo_check_layers(
			$S, $tag,
			pipeline => 'hp',
			silver => 'silver.hp_items',
			key => 'id',
			lo => 1,
			hi => $records,
			gold => 'SELECT row(n, amount, lo, hi)::text FROM gold.hp_totals',
			gold_of_silver =>
			  'SELECT row(count(*), sum(amount), min(id), max(id))::text FROM silver.hp_items');

		push @fig,
		  fo_tally(\%acc,
			repeat => $r, unit => 'records', new => $records - $from,
			total => $records, landed => $distinct, lost => $lost, dup => $dup,
			acked => $acked, had => $had, lost_failover => $lost_failover,
			again => $refetched, promote_s => $t_prom_done - $t_prom,
			rto => $rto, rpo_s => $rpo_s);
		$P = $S;
	}
	push @fig, fo_summary($mode, \%acc);
	fo_figures("HTTP failover, $mode", @fig);
	$P->stop;
	return;
}

# A mode that cannot go on (a die) fails, and the other mode still runs.
for my $mode (qw(sync async))
{
	eval { run_mode($mode); 1 } or do { fail("$mode: $@"); fo_child_stop_all(); };
}

fo_check_standby_logs();

note sprintf('022 ran %.0f s', time() - $t_start);
done_testing();

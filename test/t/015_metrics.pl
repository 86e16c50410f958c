# Copyright (c) lakehouse authors

# The Prometheus endpoint ("lakehouse metrics <db> metrics" worker on
# lakehouse.metrics_port, 127.0.0.1):
# - lh_metrics() and GET /metrics pass `promtool check metrics`;
# - the disaster-recovery series: lakehouse_standby 0 on a primary, no
#   replay lag series there, the age of the last archived WAL once the
#   (here: on) archiver archived one, a pipeline's last success;
# - a real Prometheus server (Debian package), started here on its own
#   port and data directory, scrapes the endpoint, and its HTTP API
#   (/api/v1/query) returns the expected series and values, labels
#   meaning one thing (layer and table, HTTP status as code);
# - a pipeline that never succeeded has a staleness series; the alerting
#   rule of observability.md passes `promtool check rules` and `promtool
#   test rules` and evaluates cleanly in the real Prometheus;
# - the Grafana dashboard uses only exported metrics, $__rate_interval in
#   every rate(), and each of its queries runs in the real Prometheus;
# - malformed requests (garbage, half a request then silence, a huge
#   header, many connections) are answered 400 or dropped, never disturb
#   the worker, and a slow client does not hold up another one; 404 for
#   other paths, 405 for other methods (GET /, the status page, is
#   test/t/020_status_page.pl's).
# Every wait is bounded.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";

use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use LakehouseHttp;
use LakehouseProc;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $promtool = '/usr/bin/promtool';
my $prometheus = '/usr/bin/prometheus';
plan skip_all => 'prometheus is not installed (scripts/install-deps.sh)'
  unless -x $promtool && -x $prometheus;

my $dir = PostgreSQL::Test::Utils::tempdir();
my $mport = PostgreSQL::Test::Cluster::get_free_port();
my $srv = http_server_start(name => '015', records => 20);
# a WAL archive, for lakehouse_last_archived_wal_age_seconds
mkdir("$dir/archive") or die "mkdir: $!";
my $node = lh_http_node('metrics', conf => <<"EOC");
lakehouse.metrics_port = $mport
lakehouse.metrics_database = 'postgres'
wal_level = replica
archive_mode = on
archive_command = 'cp "%p" "$dir/archive/%f"'
EOC
my $ua = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef, keep_alive => 0);
my $base = "http://127.0.0.1:$mport";

my $B = $srv->{base};
lh_sql($node, <<"EOS");
CREATE SCHEMA src;
CREATE TABLE src.t (id bigint, v text, ts timestamptz);
INSERT INTO src.t SELECT g, 'v' || g, '2024-01-01'::timestamptz + g * interval '1 s'
  FROM generate_series(1, 25) g;
SELECT lakehouse.lh_create_pipeline('shop');
SELECT lakehouse.lh_add_source('shop', 't', 'table', '{"table": "src.t", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('shop', 'silver.t', 't',
       '[{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}]', '{id}');
SELECT lakehouse.lh_add_expectation('silver.t', 'not_null', '"v"');
SELECT lakehouse.lh_run_pipeline('shop');
SELECT lakehouse.lh_create_pipeline('api');
SELECT lakehouse.lh_add_source('api', 'items', 'http',
       '{"url": "$B/pages/items", "id_field": "id", "retries": 0,
         "pagination": {"style": "page", "param": "page", "page_size_param": "per_page", "page_size": 10}}');
SELECT lakehouse.lh_run_pipeline('api');
SELECT lakehouse.lh_define_gold('shop', 'gold.bad', 'SELECT 1 / 0 AS x');
SELECT lakehouse.lh_run_pipeline('shop');
SELECT lakehouse.lh_create_pipeline('never');
SELECT lakehouse.lh_define_gold('never', 'gold.never', 'SELECT 1 / 0 AS x');
SELECT lakehouse.lh_run_pipeline('never');
EOS

# --- the endpoint comes up
my $deadline = time() + 60;
my $r;
while (time() < $deadline)
{
	$r = $ua->get("$base/metrics");
	last if $r->{status} == 200;
	usleep(200_000);
}
is($r->{status}, 200, 'GET /metrics answers 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'exposition content type');
like($r->{content}, qr/^lakehouse_pipeline_runs_total\{pipeline="shop",status="succeeded"\} 1$/m,
	'the runs counter is served');
like($r->{content}, qr/^lakehouse_http_requests_total\{pipeline="api",source="items",code="200"\} [1-9]/m,
	'HTTP requests are counted by source and status code');
like($r->{content}, qr/^lakehouse_worker_up\{worker="metrics"\} 1$/m,
	'the metrics worker reports itself up (no source label: it has no source)');
like($r->{content}, qr/^lakehouse_pipeline_created_timestamp_seconds\{pipeline="never"\} \d+/m,
	'a pipeline that never succeeded has a creation timestamp');
unlike($r->{content}, qr/^lakehouse_last_success_timestamp_seconds\{pipeline="never"\}/m,
	'and no last success');
unlike($r->{content}, qr/[{,]stage="/, 'no series has a stage label');

# --- disaster recovery: role, replay lag, WAL archive, last success
like($r->{content}, qr/^lakehouse_pipeline_last_success_timestamp_seconds\{pipeline="shop"\} \d{10}/m,
	'the last success of a pipeline is served');
unlike($r->{content}, qr/^lakehouse_pipeline_last_success_timestamp_seconds\{pipeline="never"\}/m,
	'and none for a pipeline that never succeeded');
like($r->{content}, qr/^lakehouse_standby 0$/m, 'a primary is no standby');
like($r->{content}, qr/^# TYPE lakehouse_replay_lag_seconds gauge$/m,
	'the replay lag family is described');
unlike($r->{content}, qr/^lakehouse_replay_lag_seconds /m,
	'but a primary has no replay lag series');
lh_sql($node, q{SELECT pg_switch_wal()});
ok( $node->poll_query_until(
		'postgres', q{SELECT last_archived_wal IS NOT NULL FROM pg_stat_archiver}),
	'a WAL file is archived');
$r = $ua->get("$base/metrics");
like($r->{content}, qr/^lakehouse_last_archived_wal_age_seconds \d+(\.\d+)?(e[-+]\d+)?$/m,
	'with archiving on, the age of the last archived WAL is served');
is( lh_sql($node, q{SELECT role || ' ' || archive_mode || ' ' || (node_rpo IS NOT NULL)
                      FROM lakehouse.dr_status LIMIT 1}) =~ s/\s+\z//r,
	'primary on true', 'dr_status: a primary with a WAL archive has a node RPO');

# --- promtool on both outputs
sub promtool_ok
{
	my ($text, $name) = @_;
	my $file = "$dir/metrics.txt";
	open(my $fh, '>', $file) or die;
	print $fh $text;
	close $fh;
	my $out = `$promtool check metrics < $file 2>&1`;
	is($? >> 8, 0, $name) or diag($out);
	return;
}
promtool_ok($r->{content}, 'promtool check metrics passes on GET /metrics');
# (psql drops the value's final newline, which the format requires)
promtool_ok(lh_sql($node, q{SELECT lakehouse.lh_metrics()}) =~ s/\n*\z/\n/r,
	'promtool check metrics passes on lh_metrics()');

# --- the Grafana dashboard uses only metric names the endpoint exports
{
	my $dash = slurp_file("$FindBin::RealBin/../../contrib-docs/grafana-dashboard.json");
	JSON::PP->new->decode($dash);    # valid JSON, or the test dies
	my %families = map { $_ => 1 } ($r->{content} =~ /^# TYPE (\S+)/mg);
	my %used = map { s/_(bucket|sum|count)$//r => 1 } ($dash =~ /\b(lakehouse_\w+)/g);
	my @unknown = grep { !$families{$_} } sort keys %used;
	is("@unknown", '', 'every metric of the Grafana dashboard is exported');
	ok(keys(%used) >= 10, 'the dashboard uses the metrics');
}

# --- the dashboard's rates use $__rate_interval; a fixed window only where
# --- a stat panel says it shows the last hour
my $dashboard = JSON::PP->new->decode(
	slurp_file("$FindBin::RealBin/../../contrib-docs/grafana-dashboard.json"));
my @dash_queries;
{
	my @bad;
	for my $panel (@{ $dashboard->{panels} })
	{
		for my $t (@{ $panel->{targets} })
		{
			push @dash_queries, [ $panel->{title}, $t->{expr} ];
			for my $range ($t->{expr} =~ /\[([^\]]*)\]/g)
			{
				next if $range eq '$__rate_interval';
				next if $range eq '1h' && $panel->{type} eq 'stat'
				  && $panel->{title} =~ /\(last hour\)/;
				push @bad, "$panel->{title}: [$range]";
			}
		}
	}
	is("@bad", '', 'every range of the dashboard is $__rate_interval (or a stat panel\'s last hour)');
	ok((grep { $_->[1] =~ /rate\(.*\[\$__rate_interval\]/ } @dash_queries) >= 8,
		'the dashboard\'s rates use $__rate_interval');
}

# --- the alerting rule of observability.md
my ($rules_yaml) = slurp_file("$FindBin::RealBin/../../contrib-docs/observability.md")
  =~ /```yaml\n(groups:\n.*?)```/s;
ok(defined $rules_yaml, 'observability.md has an alerting rule');
{
	open(my $fh, '>', "$dir/rules.yml") or die;
	print $fh $rules_yaml;
	close $fh;
	my $out = `$promtool check rules $dir/rules.yml 2>&1`;
	is($? >> 8, 0, 'promtool check rules accepts it') or diag($out);
	# a pipeline created at 0 that never succeeded, one that succeeds every
	# minute: after 7 h only the first is stale; after 5 h neither
	open($fh, '>', "$dir/rules_test.yml") or die;
	print $fh <<'EOT';
rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'lakehouse_pipeline_created_timestamp_seconds{pipeline="never"}'
        values: '0x600'
      - series: 'lakehouse_pipeline_created_timestamp_seconds{pipeline="fresh"}'
        values: '0x600'
      - series: 'lakehouse_last_success_timestamp_seconds{pipeline="fresh"}'
        values: '0+60x600'
    alert_rule_test:
      - eval_time: 5h
        alertname: LakehousePipelineStale
        exp_alerts: []
      - eval_time: 7h
        alertname: LakehousePipelineStale
        exp_alerts:
          - exp_labels:
              severity: warning
              pipeline: never
            exp_annotations:
              summary: 'Pipeline never has not succeeded for 7h 0m 0s'
EOT
	close $fh;
	$out = `cd $dir && $promtool test rules rules_test.yml 2>&1`;
	is($? >> 8, 0, 'promtool test rules: a never-succeeded pipeline gets stale, a succeeding one does not')
	  or diag($out);
}

# --- status codes
is($ua->get("$base/nope")->{status}, 404, 'GET /nope answers 404 (/ is the status page: 020)');
is($ua->get("$base/metrics/x")->{status}, 404, 'another path answers 404');
is($ua->request('POST', "$base/metrics")->{status}, 405, 'POST answers 405');
is($ua->get("$base/metrics?x=1")->{status}, 200, 'a query string is ignored');

sub raw
{
	my ($payload) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mport,
		Proto => 'tcp', Timeout => 5) or die "connect: $!";
	$s->send($payload) if defined $payload;
	return $s;
}

sub answer
{
	my ($s) = @_;
	my $buf = '';
	$s->recv($buf, 100);
	return $buf;
}

like(answer(raw("\x01\x02garbage\r\n\r\n")), qr{^HTTP/1\.1 400}, 'garbage answers 400');
like(answer(raw("GET /metrics\r\n\r\n")), qr{^HTTP/1\.1 400}, 'a request line without version answers 400');
like(answer(raw("GET /metrics HTTP/1.1\r\nX: " . ('a' x 20000) . "\r\n\r\n")),
	qr{^HTTP/1\.1 400}, 'a huge header answers 400');

# --- a slow client (half a request, then silence) does not block another
my $slow = raw("GET /metrics HTTP/1.1\r\nHost: x\r\n");
my $t0 = time();
$r = $ua->get("$base/metrics");
is($r->{status}, 200, 'another client is served while a slow one waits');
ok(time() - $t0 < 4, 'without waiting for the slow client');
# the slow client is dropped at its deadline
my $buf;
$slow->recv($buf, 100);
is($buf, '', 'the slow client is disconnected at its deadline');

# --- many connections at once, then a normal request
my @many = map { raw(undef) } 1 .. 60;
$r = $ua->get("$base/metrics");
ok($r->{status} == 200 || $r->{status} == 503, 'with many idle connections open a request gets an answer');
close($_) for @many;
$deadline = time() + 30;
do { $r = $ua->get("$base/metrics"); usleep(100_000) if $r->{status} != 200 }
  while ($r->{status} != 200 && time() < $deadline);
is($r->{status}, 200, 'the worker answers normally after many connections');
is(lh_sql($node, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lakehouse metrics'}),
	"1", 'the same single metrics worker runs');
is(lh_sql($node, q{SELECT starts FROM lakehouse.lh_observe_workers() WHERE worker = 'metrics'}),
	"1", 'it was never restarted');

# --- a real Prometheus scrapes the endpoint
my $pport = PostgreSQL::Test::Cluster::get_free_port();
open(my $cf, '>', "$dir/prometheus.yml") or die;
print $cf <<"EOC";
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $dir/rules.yml
scrape_configs:
  - job_name: lakehouse
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOC
close $cf;
my $ppid = fork();
die "fork failed: $!" unless defined $ppid;
if ($ppid == 0)
{
	open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
	open(STDOUT, '>>', "$PostgreSQL::Test::Utils::log_path/prometheus.log") or POSIX::_exit(126);
	open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
	exec($prometheus, "--config.file=$dir/prometheus.yml", "--storage.tsdb.path=$dir/prometheus-data",
		"--web.listen-address=127.0.0.1:$pport") or POSIX::_exit(127);
}
END
{
	my $rc = $?;
	stop_child($ppid) if $ppid;
	$? = $rc;
}

my $json = JSON::PP->new;

# the API's whole answer to an instant query (undef if it did not answer)
sub prom_answer
{
	my ($q) = @_;
	my $res = $ua->get("http://127.0.0.1:$pport/api/v1/query?query=" . uri_escape($q));
	return undef unless $res->{content} && $res->{content} =~ /^\{/;
	return $json->decode($res->{content});
}

sub prom_query
{
	my ($q) = @_;
	my $d = prom_answer($q);
	return undef unless $d && $d->{status} eq 'success';
	return $d->{data}{result};
}

sub uri_escape
{
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9\-_.~])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

sub prom_value
{
	my ($q) = @_;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my $res = prom_query($q);
		return $res->[0]{value}[1] if $res && @$res;
		usleep(250_000);
	}
	return undef;
}

is(prom_value('up{job="lakehouse"}'), '1', 'Prometheus scrapes the endpoint (up = 1)');
is(prom_value('lakehouse_pipeline_runs_total{pipeline="shop",status="succeeded"}'), '1',
	'Prometheus has the succeeded runs of shop');
is(prom_value('lakehouse_pipeline_runs_total{pipeline="shop",status="failed"}'), '1',
	'Prometheus has the failed runs of shop');
is(prom_value('lakehouse_rows_written_total{pipeline="shop",layer="silver"}'), '25',
	'rows written by the silver stage');
is(prom_value('lakehouse_rows_read_total{pipeline="api",layer="bronze",source="items"}'), '20',
	'rows read by the HTTP source');
is(prom_value('lakehouse_pipeline_run_duration_seconds_count{pipeline="shop"}'), '2',
	'the run duration histogram counts both runs');
is(prom_value('histogram_quantile(1, sum by (le) (rate(lakehouse_stage_duration_seconds_bucket[1m]))) >= 0 or vector(0)') // '', '0',
	'the stage histogram is usable by histogram_quantile');
is(prom_value('lakehouse_dq_score_ratio{pipeline="shop",layer="silver",table="t"}'), '1',
	'the quality score of silver.t, labelled by layer and table as its lineage job shop.silver.t');
is(prom_value('lakehouse_rows_written_total{pipeline="shop",layer="silver",table="t"}'), '25',
	'rows written, by the same labels');
ok((prom_value('sum(lakehouse_http_requests_total{pipeline="api",source="items",code="200"})') // 0) > 0,
	'HTTP requests by status code');

# --- staleness: the never-succeeded pipeline has a series, and alerts on it can fire
my $stale = prom_value(q{time() - max by (pipeline) (lakehouse_last_success_timestamp_seconds{pipeline="never"}
                                                     or lakehouse_pipeline_created_timestamp_seconds{pipeline="never"})});
ok(defined $stale && $stale >= 0 && $stale < 3600,
	'the never-succeeded pipeline is stale since its creation') or diag($stale // 'no series');
{
	my $deadline = time() + 60;
	my $rule;
	while (time() < $deadline)
	{
		my $res = $ua->get("http://127.0.0.1:$pport/api/v1/rules");
		($rule) = map { @{ $_->{rules} } } @{ $json->decode($res->{content})->{data}{groups} }
		  if $res->{success};
		last if $rule && $rule->{lastEvaluation} && $rule->{lastEvaluation} !~ /^0001/;
		usleep(250_000);
	}
	is($rule ? "$rule->{name} $rule->{health}" : '', 'LakehousePipelineStale ok',
		'Prometheus loaded and evaluated the alerting rule without error')
	  or diag($rule ? $rule->{lastError} : 'no rule');
}

# --- every query of the dashboard runs in Prometheus; the staleness panel
# --- shows the never-succeeded pipeline
{
	my @failed;
	for my $q (@dash_queries)
	{
		(my $expr = $q->[1]) =~ s/\$__rate_interval/1m/g;
		$expr =~ s/\$pipeline/.*/g;
		my $d = prom_answer($expr);
		push @failed, "$q->[0]: " . ($d ? $d->{error} : 'no answer')
		  unless $d && $d->{status} eq 'success';
	}
	is("@failed", '', 'every dashboard query runs in Prometheus');
	my ($since) = grep { $_->[0] eq 'Time since last success' } @dash_queries;
	(my $expr = $since->[1]) =~ s/\$pipeline/.*/g;
	my $deadline = time() + 30;
	my %pipelines;
	while (time() < $deadline)
	{
		%pipelines = map { $_->{metric}{pipeline} => 1 } @{ prom_query($expr) // [] };
		last if $pipelines{never};
		usleep(250_000);
	}
	ok($pipelines{never} && $pipelines{shop}, 'the time-since-last-success panel shows never and shop');
}
my $pending = lh_sql($node, q{SELECT count(*) FROM lakehouse.event_outbox WHERE delivered_at IS NULL});
chomp $pending;
is(prom_value('lakehouse_lineage_outbox_pending_events'), $pending, 'the lineage backlog');

stop_child($ppid);
$ppid = undef;

# --- metrics_port = 0 stops the endpoint
$node->append_conf('postgresql.conf', "lakehouse.metrics_port = 0\n");
$node->reload;
ok($node->poll_query_until('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lakehouse metrics'}, '0'),
	'the metrics worker stops when the port is set to 0');

$node->stop;
done_testing();

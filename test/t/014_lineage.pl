# Copyright (c) lakehouse authors

# OpenLineage delivery by the lineage worker ("lakehouse lineage <db>
# lineage") to a local receiver (test/lineage/receiver.py):
# - while the receiver answers 500, and while it is down, nothing is
#   delivered: every attempt is counted with its error and retried with
#   backoff, and only the first event of each run is tried (order);
# - once it answers again, every event arrives, each run's START before
#   its COMPLETE or FAIL, nothing lost across the receiver's restart;
# - every event received (and every event in the outbox, including the
#   STREAMING runs of a polled HTTP source's worker, the check runs that
#   carry the data-quality assertions on their input, an upstream run
#   with its parent facet and a file source whose path needs
#   percent-encoding in its file:// data source URI) validates against the
#   official OpenLineage schemas (facets in their places, formats such as
#   uri checked), START and COMPLETE/FAIL pair up per runId, and the
#   output statistics equal the rows in the tables; the validator itself
#   rejects misplaced facets and a non-URI data source;
# - delivered events are pruned after lakehouse.openlineage_retention,
#   keeping the last one of each job for lineage_graph;
# - clearing lakehouse.openlineage_url stops the worker; events stay.
# Every wait is a bounded poll.

use strict;
use warnings;

use Cwd qw(abs_path);
use FindBin;
use lib "$FindBin::RealBin/../http";
use lib "$FindBin::RealBin";

use JSON::PP;
use LakehouseHttp;
use LakehouseKafka qw(kafka_mock_start kafka_produce);
use LakehouseProc;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $root = abs_path("$FindBin::RealBin/../..");
my $receiver_py = "$root/test/lineage/receiver.py";
my $validate = "$root/test/lineage/validate.js";
my $have_node = system('node --version >/dev/null 2>&1') == 0
  && -f "$root/test/node_modules/ajv/dist/2020.js";

my $dir = PostgreSQL::Test::Utils::tempdir();
my $events_file = "$dir/received.jsonl";
my $receiver_port;
my $receiver_pid;

sub receiver_start
{
	my ($mode) = @_;
	my $port_file = "$dir/port";
	unlink $port_file;
	my @cmd = ('/usr/bin/python3', $receiver_py, '--port', $receiver_port // 0,
		'--port-file', $port_file, '--events', $events_file, '--mode', $mode);
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null') or POSIX::_exit(126);
		open(STDOUT, '>>', "$PostgreSQL::Test::Utils::log_path/receiver.log")
		  or POSIX::_exit(126);
		open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
		exec(@cmd) or POSIX::_exit(127);
	}
	my $deadline = time() + 30;
	while (!-s $port_file)
	{
		BAIL_OUT('the receiver exited') if waitpid($pid, WNOHANG) == $pid;
		BAIL_OUT('the receiver wrote no port within 30 s') if time() > $deadline;
		usleep(20_000);
	}
	$receiver_port = slurp_file($port_file);
	chomp $receiver_port;
	$receiver_pid = $pid;
	return;
}

sub receiver_stop
{
	stop_child($receiver_pid) if $receiver_pid;
	$receiver_pid = undef;
	return;
}

END
{
	my $rc = $?;
	receiver_stop();
	$? = $rc;
}

my $ua = HTTP::Tiny->new(timeout => 10, proxy => undef, http_proxy => undef);

sub receiver_mode
{
	my $r = $ua->post("http://127.0.0.1:$receiver_port/_mode/$_[0]");
	die "could not set the receiver mode" unless $r->{success};
	return;
}

sub poll_is
{
	my ($node, $sql, $expected, $name) = @_;
	ok($node->poll_query_until('postgres', $sql, $expected), $name);
	return;
}

# the receiver starts failing every request
receiver_start('fail');
my $srv = http_server_start(name => '014', records => 30);
my $url = "http://127.0.0.1:$receiver_port/api/v1/lineage";

my $node = lh_http_node('lineage', conf => <<"EOC");
lakehouse.openlineage_url = '$url'
lakehouse.openlineage_max_backoff = '1s'
lakehouse.openlineage_timeout = '2s'
lakehouse.openlineage_stream_interval = '2s'
lakehouse.openlineage_dataset_namespace = 'postgres://127.0.0.1:5432'
logging_collector = on
log_destination = 'stderr,jsonlog'
EOC

lh_sql($node, <<'EOS');
CREATE SCHEMA src;
CREATE TABLE src.orders (id bigint, amount numeric, ts timestamptz);
INSERT INTO src.orders SELECT g, g, '2024-01-01'::timestamptz + g * interval '1 s'
  FROM generate_series(1, 40) g;
SELECT lakehouse.lh_create_pipeline('shop');
SELECT lakehouse.lh_add_source('shop', 'orders', 'table', '{"table": "src.orders", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('shop', 'silver.orders', 'orders',
       '[{"name": "id", "type": "bigint"}, {"name": "amount", "type": "numeric"}]', '{id}');
SELECT lakehouse.lh_define_gold('shop', 'gold.totals',
       'SELECT count(*) AS n, sum(amount) AS amount FROM silver.orders');
SELECT lakehouse.lh_add_expectation('silver.orders', 'not_null', '"amount"');
SELECT lakehouse.lh_run_pipeline('shop');
EOS

# an upstream run: running "report" runs "shop" first, which names the
# report run as its parent
lh_sql($node, <<'EOS');
SELECT lakehouse.lh_create_pipeline('report', depends_on => '{shop}');
SELECT lakehouse.lh_define_gold('report', 'gold.report', 'SELECT n FROM gold.totals');
SELECT lakehouse.lh_run_pipeline('report');
EOS
is(lh_sql($node, q{
	SELECT u.payload->'run'->'facets'->'parent'->'run'->>'runId' = r.run_uuid::text
	       AND u.payload->'run'->'facets'->'parent'->'job'->>'name' = 'report'
	       AND u.payload->'run'->'facets'->'parent'->'root'->'run'->>'runId' = r.run_uuid::text
	  FROM lakehouse.event_outbox u, lakehouse.event_outbox r
	 WHERE u.job_name = 'shop' AND u.event_type = 'START'
	   AND u.run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'shop')
	   AND r.job_name = 'report' AND r.event_type = 'START'}),
	't', 'the upstream run of shop names the report run as its parent and root');

# a file source whose path needs percent-encoding in its file:// URI
my $files_dir = "$dir/in box #1 100%";
mkdir $files_dir or die "mkdir: $!";
chmod 0755, $files_dir;
{
	open(my $fh, '>', "$files_dir/orders \xc3\xa9.csv") or die;
	print $fh "id,amount\n1,10\n2,20\n3,30\n";
	close $fh;
}
lh_sql($node, qq{SELECT lakehouse.lh_create_pipeline('files');
SELECT lakehouse.lh_add_source('files', 'file_orders', 'file',
       '{"path": "$files_dir/orders *.csv", "format": "csv"}');
SELECT lakehouse.lh_run_pipeline('files')});
(my $files_uri = "$files_dir/orders *.csv") =~ s{([^A-Za-z0-9\-._~/])}{sprintf('%%%02X', ord($1))}ge;
is(lh_sql($node, q{SELECT DISTINCT (payload->'inputs'->0->>'namespace') || ' '
                          || (payload->'inputs'->0->'facets'->'dataSource'->>'uri') || ' '
                          || (payload->'inputs'->0->'inputFacets'->'inputStatistics'->>'rowCount')
                     FROM lakehouse.event_outbox
                    WHERE job_name = 'files.bronze.file_orders' AND event_type = 'COMPLETE'}),
	"file file://$files_uri 3", 'a file source: namespace file, the percent-encoded file:// URL as data source URI');

# an HTTP source run by hand (batch) and one polled by its worker (streaming)
my $B = $srv->{base};
lh_sql($node, <<"EOS");
SELECT lakehouse.lh_create_pipeline('api');
SELECT lakehouse.lh_add_source('api', 'items', 'http',
       '{"url": "$B/pages/items", "id_field": "id", "retries": 0,
         "pagination": {"style": "page", "param": "page", "page_size_param": "per_page", "page_size": 10}}');
SELECT lakehouse.lh_run_pipeline('api');
SELECT lakehouse.lh_create_pipeline('feed');
SELECT lakehouse.lh_add_source('feed', 'feed_items', 'http',
       '{"url": "$B/pages/items", "id_field": "id", "retries": 0, "poll_interval": "1s",
         "pagination": {"style": "page", "param": "page", "page_size_param": "per_page", "page_size": 10}}');
EOS
poll_is($node, q{SELECT count(*) > 0 FROM lakehouse.event_outbox
                  WHERE pipeline_name = 'feed' AND event_type = 'COMPLETE'
                    AND payload->'job'->'facets'->'jobType'->>'processingType' = 'STREAMING'},
	't', 'the polled source\'s worker runs emit STREAMING events');
lh_sql($node, q{SELECT lakehouse.lh_disable_source('feed_items')});

# a Kafka source's worker: each landed batch is a STREAMING run, the topic
# an input dataset in namespace kafka://broker:port
my $mock = kafka_mock_start(name => '014', topics => ['orders:1']);
kafka_produce($mock->{addr}, 'orders', 0, [ map { qq({"i": $_}) } 1 .. 5 ]);
lh_sql($node, qq{SELECT lakehouse.lh_create_pipeline('stream');
SELECT lakehouse.lh_add_source('stream', 'k_orders', 'kafka',
       '{"brokers": "$mock->{addr}", "topic": "orders"}')});
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM bronze.k_orders}, '5'),
	'the Kafka worker landed the messages');
poll_is($node, q{SELECT sum((payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount')::int)
                   FROM lakehouse.event_outbox
                  WHERE job_name = 'stream.bronze.k_orders' AND event_type = 'COMPLETE'},
	'5', 'the Kafka worker\'s batches are OpenLineage runs with their row counts');
is(lh_sql($node, qq{SELECT DISTINCT (payload->'inputs'->0->>'namespace') || ' ' || (payload->'inputs'->0->>'name')
                      || ' ' || (payload->'job'->'facets'->'jobType'->>'processingType')
                      FROM lakehouse.event_outbox WHERE job_name = 'stream.bronze.k_orders'}),
	"kafka://$mock->{addr} orders STREAMING", 'the topic is a kafka:// dataset, the job STREAMING');
# batches are grouped into windows of at least openlineage_stream_interval;
# a quiet topic's window is reported without waiting for more messages
kafka_produce($mock->{addr}, 'orders', 0, [ map { qq({"i": $_}) } 6 .. 8 ]);
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM bronze.k_orders}, '8'),
	'the Kafka worker landed three more messages');
poll_is($node, q{SELECT sum((payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount')::int)
                   FROM lakehouse.event_outbox
                  WHERE job_name = 'stream.bronze.k_orders' AND event_type = 'COMPLETE'},
	'8', 'the next window reports the three rows once the topic is quiet');
is(lh_sql($node, q{SELECT count(*) FILTER (WHERE event_type = 'START') || ' '
                          || count(*) FILTER (WHERE event_type = 'COMPLETE') || ' '
                          || count(DISTINCT run_uuid)
                     FROM lakehouse.event_outbox WHERE job_name = 'stream.bronze.k_orders'}),
	'2 2 2', 'two windows: two STREAMING runs, each a START and a COMPLETE');
is(lh_sql($node, q{SELECT count(*) FROM lakehouse.source_marks
                    WHERE mark_key = 'lineage_window'}),
	'0', 'no window is left open');
lh_sql($node, q{SELECT lakehouse.lh_disable_source('k_orders')});

# a failing run
lh_sql($node, q{SELECT lakehouse.lh_define_gold('shop', 'gold.totals',
                  'SELECT count(*) / 0 AS n FROM silver.orders', replace => true)});
lh_sql($node, q{SELECT lakehouse.lh_run_pipeline('shop')});

# --- log correlation: what a stage logs names the pipeline, stage and run (jsonlog)
lh_sql($node, <<'EOS');
CREATE FUNCTION public.stage_says_hello() RETURNS int LANGUAGE plpgsql AS
$$BEGIN RAISE LOG 'hello from inside a stage'; RETURN 1; END$$;
SELECT lakehouse.lh_create_pipeline('logged');
SELECT lakehouse.lh_define_gold('logged', 'gold.logged', 'SELECT public.stage_says_hello() AS n');
SELECT lakehouse.lh_run_pipeline('logged');
EOS
my $logged_run = lh_sql($node, q{SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'logged'});
chomp $logged_run;
{
	my $found;
	my $deadline = time() + 30;
	while (!$found && time() < $deadline)
	{
		for my $f (glob($node->data_dir . '/log/*.json'))
		{
			for my $line (split /\n/, slurp_file($f))
			{
				next unless $line =~ /hello from inside a stage/;
				$found = JSON::PP->new->decode($line);
			}
		}
		usleep(100_000) unless $found;
	}
	like($found ? $found->{context} : '',
		qr/^PL\/pgSQL function stage_says_hello\(\) line 1 at RAISE\n.*\npipeline "logged", stage gold gold\.logged, run $logged_run\z/s,
		'a jsonlog line written during a stage carries pipeline, stage and run');
}

# --- the receiver answers 500: attempts counted, nothing delivered, order kept
poll_is($node, q{SELECT count(*) > 0 FROM lakehouse.event_outbox
                  WHERE attempts >= 2 AND last_error LIKE '%HTTP 500%'},
	't', 'failed deliveries are retried with the error recorded');
is(lh_sql($node, q{SELECT count(*) FROM lakehouse.event_outbox WHERE delivered_at IS NOT NULL}),
	"0", 'nothing is delivered while the receiver answers 500');
is(lh_sql($node, q{SELECT count(*) FROM lakehouse.event_outbox e WHERE e.attempts > 0
                    AND EXISTS (SELECT 1 FROM lakehouse.event_outbox f
                                 WHERE f.run_uuid = e.run_uuid AND f.event_id < e.event_id)}),
	"0", 'only the first event of each run was tried');
like(lh_sql($node, q{SELECT worker_state || ' ' || coalesce(last_error, '')
                     FROM lakehouse.lh_observe_workers() WHERE worker = 'lineage'}),
	qr/retrying the endpoint answered HTTP 500/, 'the worker shows the delivery error');

# --- the receiver is down
receiver_stop();
poll_is($node, q{SELECT count(*) > 0 FROM lakehouse.event_outbox
                  WHERE last_error LIKE 'could not send the event%'},
	't', 'connection failures are recorded while the receiver is down');

# --- it comes back (same port, same events file), answering 201
receiver_start('ok');
poll_is($node, q{SELECT count(*) FROM lakehouse.event_outbox WHERE delivered_at IS NULL},
	'0', 'every event is delivered once the receiver is back');
my $outbox = lh_sql($node, q{SELECT count(*) FROM lakehouse.event_outbox});
chomp $outbox;

# what the receiver stored: every event, each run in order
my @received = grep { /\S/ } split /\n/, slurp_file($events_file);
my $json = JSON::PP->new;
my %seen;
my $order_ok = 1;
for my $line (@received)
{
	my $ev = $json->decode($line);
	my $id = $ev->{run}{runId};
	$order_ok = 0 if $ev->{eventType} eq 'START' && exists $seen{$id};
	$order_ok = 0 if $ev->{eventType} ne 'START' && !exists $seen{$id};
	$seen{$id}++;
}
is(scalar(@received), $outbox, 'the receiver has every event of the outbox, no more');
ok($order_ok, 'each run\'s START arrived before its COMPLETE or FAIL');
my $attempts = lh_sql($node,
	q{SELECT min(attempts) >= 1 AND bool_or(attempts > 1) FROM lakehouse.event_outbox});
is($attempts, "t", 'attempt counts include the failed attempts');
is(lh_sql($node, q{SELECT count(*) FROM lakehouse.event_outbox WHERE last_error IS NOT NULL}),
	"0", 'a delivered event keeps no error');

# statistics: rows read from the input (none for the gold query, whose
# reads are unknown) / rows written, which equal the rows of the tables
is(lh_sql($node, q{
	SELECT string_agg(job_name || '='
	                  || coalesce(payload->'inputs'->0->'inputFacets'->'inputStatistics'->>'rowCount', '-') || '/'
	                  || (payload->'outputs'->0->'outputFacets'->'outputStatistics'->>'rowCount'),
	                  ' ' ORDER BY job_name)
	  FROM lakehouse.event_outbox
	 WHERE pipeline_name = 'shop' AND event_type = 'COMPLETE'
	   AND payload->'job'->'facets'->'jobType'->>'jobType' = 'TASK'
	   AND run_id = (SELECT min(run_id) FROM lakehouse.runs WHERE pipeline_name = 'shop')}),
	"shop.bronze.orders=40/40 shop.gold.totals=-/1 shop.silver.orders=40/40",
	'statistics: rows read from each input (not for the gold query) and rows written');
is(lh_sql($node, q{
	SELECT string_agg(a->>'name' || '=' || (a->>'success'), ' ')
	  FROM lakehouse.event_outbox,
	       jsonb_array_elements(payload->'inputs'->0->'inputFacets'->'dataQualityAssertions'->'assertions') a
	 WHERE job_name = 'shop.silver.orders.check' AND event_type = 'COMPLETE'
	   AND run_id = (SELECT min(run_id) FROM lakehouse.runs WHERE pipeline_name = 'shop')}),
	"not_null_amount=true", 'the check run carries the assertions on its input');
is(lh_sql($node, q{SELECT (SELECT count(*) FROM bronze.orders) || ' ' || (SELECT count(*) FROM silver.orders)}),
	"40 40", 'the tables hold those rows');
# HTTP sources are input datasets of their own namespace, named by path
is(lh_sql($node, q{
	SELECT DISTINCT payload->'inputs'->0->>'namespace' = 'http://127.0.0.1:' || split_part(split_part(payload->'inputs'->0->>'namespace', '//', 2), ':', 2)
	       AND payload->'inputs'->0->>'name' = '/pages/items'
	  FROM lakehouse.event_outbox WHERE job_name = 'api.bronze.items'}),
	"t", 'an HTTP source is named scheme://host:port with the path as name');

SKIP:
{
	skip 'node or ajv is not installed (scripts/install-deps.sh)', 6 unless $have_node;
	my $out = `node $validate --pairs $events_file 2>&1`;
	is($? >> 8, 0, 'every received event validates against the OpenLineage schemas, paired')
	  or diag($out);
	my $all = "$dir/outbox.jsonl";
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		q{SELECT payload FROM lakehouse.event_outbox ORDER BY event_id});
	open(my $fh, '>', $all) or die;
	print $fh $stdout;
	close $fh;
	$out = `node $validate --pairs $all 2>&1`;
	is($? >> 8, 0, 'every outbox event validates (batch and streaming runs)') or diag($out);
	my ($checked) = $out =~ /^(\d+) events/m;
	is($checked, $outbox, 'it validated every event of the outbox');

	# the validator rejects what this test must catch: an input facet among
	# an output's facets, and a data source uri that is no URI
	my $bad = "$dir/bad.jsonl";
	my (undef, $one) = $node->psql('postgres', q{
		WITH c AS (SELECT payload->'inputs'->0->'inputFacets'->'dataQualityAssertions' AS a
		             FROM lakehouse.event_outbox
		            WHERE job_name = 'shop.silver.orders.check' AND event_type = 'COMPLETE' LIMIT 1),
		     s AS (SELECT payload FROM lakehouse.event_outbox
		            WHERE job_name = 'shop.silver.orders' AND event_type = 'COMPLETE' LIMIT 1)
		SELECT jsonb_set(jsonb_set(s.payload, '{outputs,0,facets,dataQualityAssertions}', c.a),
		                 '{outputs,0,facets,dataSource,uri}', '"file"')
		  FROM s, c});
	open($fh, '>', $bad) or die;
	print $fh "$one\n";
	close $fh;
	$out = `node $validate $bad 2>&1`;
	is($? >> 8, 1, 'the validator rejects a misplaced facet and a non-URI data source');
	like($out, qr/"dataQualityAssertions" is a InputDatasetFacet, not allowed here/,
		'it names the input facet among the output facets');
	like($out, qr{dataSource: /dataSource/uri must match format "uri"},
		'it names the data source uri that is no URI');
}

# --- retention: delivered events are pruned, the last of each job stays
$node->append_conf('postgresql.conf', "lakehouse.openlineage_retention = 0\n");
$node->reload;
poll_is($node, q{SELECT count(*) = count(DISTINCT job_name) FROM lakehouse.event_outbox},
	't', 'delivered events are pruned after the retention period');
is(lh_sql($node, q{SELECT count(*) FROM lakehouse.lineage_graph WHERE pipeline = 'shop'}),
	"3", 'lineage_graph still shows every edge');

# --- no URL: the worker stops, new events stay in the outbox
$node->append_conf('postgresql.conf', "lakehouse.openlineage_url = ''\n");
$node->reload;
poll_is($node, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lakehouse lineage'},
	'0', 'the lineage worker stops when the URL is cleared');
lh_sql($node, q{SELECT lakehouse.lh_run_pipeline('shop')});
is(lh_sql($node, q{SELECT count(*) > 0 FROM lakehouse.event_outbox WHERE delivered_at IS NULL}),
	"t", 'without a URL events stay queryable and undelivered');
poll_is($node, q{SELECT count(*) = count(DISTINCT job_name) FROM lakehouse.event_outbox},
	't', 'without a URL the database launcher prunes events older than the retention');

$node->stop;
done_testing();

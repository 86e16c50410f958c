
# Copyright (c) lakehouse authors

# HTTP sources with a poll_interval, landed by their background worker
# ("lakehouse http <db> <source>") with no call from a user:
# - the worker lands the API's records, then the new ones as they appear,
#   each once (incremental, strict);
# - a source whose API fails shows worker_state 'error' with the error,
#   keeps polling, recovers when the API does, and never holds up another
#   polled source;
# - lh_disable_source stops the polling (the server sees no more requests
#   while the other source's worker polls on), lh_enable_source resumes it;
# - no secret value in the worker's log lines, errors, status or activity.
# Every wait is a bounded poll.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";

use JSON::PP;
use LakehouseHttp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $srv = http_server_start(name => '011', records => 100);
my $B = $srv->{base};
my $node = lh_http_node('http_worker');
my $json = JSON::PP->new->canonical;

my $token = 'sk_poll_0badc0ffee123456';
lh_secret($node, 'poll_token', $token);
http_control($srv, { auth => { '/a/bearer' => { type => 'bearer', token => $token } } });

lh_sql($node, q{SELECT lakehouse.lh_create_pipeline('polled')});
lh_sql($node, q{SELECT lakehouse.lh_create_pipeline('polled_bad')});

sub add_source
{
	my ($pipeline, $name, $opts) = @_;
	my $j = $json->encode($opts);
	return lh_sql($node,
		"SELECT lakehouse.lh_add_source('$pipeline', '$name', 'http', \$j\$$j\$j\$)");
}

# What the activity of the server's processes shows is kept for the
# secrets check.
my @activity;

sub sample_activity
{
	my ($ret, $out, $err) = $node->psql('postgres',
		q{SELECT row(a.*)::text FROM pg_stat_activity a});
	push @activity, $out;
	return;
}

# Poll a query until it returns $expected (bounded); one test result.
sub poll_is
{
	my ($sql, $expected, $what) = @_;
	my $deadline = time() + 90;
	my $got;
	while (1)
	{
		$got = lh_mask(lh_sql($node, $sql));
		last if $got eq $expected || time() > $deadline;
		sample_activity();
		usleep(100_000);
	}
	is($got, $expected, $what);
	return;
}

# Wait (bounded) until a Perl condition holds; true if it did.
sub wait_until
{
	my ($cond) = @_;
	my $deadline = time() + 90;
	while (!$cond->())
	{
		return 0 if time() > $deadline;
		sample_activity();
		usleep(100_000);
	}
	return 1;
}

sub worker_count
{
	my ($source) = @_;
	return qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lakehouse http' AND application_name = 'lakehouse http postgres $source'};
}

sub requests_to { return scalar(@{ http_requests($srv, $_[0]) }); }

# ---------------------------------------------------------------------------
# A polled source
# ---------------------------------------------------------------------------

my %common = (
	id_field => 'id',
	incremental => { field => 'created', param => 'created_gt' },
	auth => { type => 'bearer', token_secret => 'poll_token' },
	retries => 0,
	retry_backoff_ms => 10,
	poll_interval => '1s',);
add_source(
	'polled', 'feed',
	{
		url => "$B/a/bearer/pages/items",
		pagination => {
			style => 'page',
			param => 'page',
			page_size_param => 'per_page',
			page_size => 25
		},
		%common
	});

poll_is(q{SELECT count(*) FROM bronze.feed}, '100', 'the worker landed the 100 records on its own');
poll_is(worker_count('feed'), '1', 'one worker "lakehouse http postgres feed" runs');
is( lh_sql($node, q{SELECT count(*), count(DISTINCT payload->>'id') FROM bronze.feed}),
	'100|100', 'each record once');
poll_is(
	q{SELECT concat_ws('|', worker_state, worker_pid IS NOT NULL) FROM lakehouse.source_status WHERE source = 'feed'},
	'running|t', 'source_status: the worker is running');
ok(lh_sql($node, q{SELECT count(*) FROM lakehouse.runs WHERE pipeline_name = 'polled' AND status = 'succeeded'}) >= 1,
	'its polls are runs in the ledger');

http_control($srv, { records => 130 });
poll_is(q{SELECT count(*), count(DISTINCT payload->>'id'), max((payload->>'id')::int) FROM bronze.feed},
	'130|130|130', 'new records land by themselves, each once');
poll_is(q{SELECT watermark FROM lakehouse.http_status WHERE source = 'feed'},
	epoch_of(130), 'the watermark follows');
my $first = http_query_hash(
	(grep { $_->{query} =~ /created_gt=/ } @{ http_requests($srv, '/a/bearer/pages') })[0]{query});
ok(defined $first->{created_gt}, 'later polls send created_gt');

# ---------------------------------------------------------------------------
# A failing source does not hold up the other one
# ---------------------------------------------------------------------------

http_control($srv,
	{ faults => [ { kind => 'status', status => 500, times => -1, path => '/a/bearer/offset' } ] });
add_source(
	'polled_bad', 'broken',
	{
		url => "$B/a/bearer/offset/items",
		records_path => 'items',
		pagination => {
			style => 'offset',
			param => 'offset',
			page_size_param => 'limit',
			page_size => 25
		},
		%common
	});
poll_is(
	q{SELECT concat_ws('|', worker_state, last_error LIKE 'HTTP request to "%/a/bearer/offset/items?%" failed: %500%') FROM lakehouse.source_status WHERE source = 'broken'},
	'error|t', 'the failing source: worker_state error, with the HTTP error');
poll_is(worker_count('broken'), '1', 'the failing source\'s worker keeps running');
http_control($srv, { records => 160 });
poll_is(q{SELECT count(*), count(DISTINCT payload->>'id')  FROM bronze.feed},
	'160|160', 'meanwhile the other source lands its new records');
my $n = requests_to('/a/bearer/offset');
ok(wait_until(sub { requests_to('/a/bearer/offset') >= $n + 2 }),
	'the failing source is polled again and again');

http_control($srv, { clear_faults => JSON::PP::true });
poll_is(q{SELECT count(*), count(DISTINCT payload->>'id') FROM bronze.broken}, '160|160',
	'the failing source recovers when the API does: every record once');
poll_is(q{SELECT worker_state FROM lakehouse.source_status WHERE source = 'broken'},
	'running', 'and its worker_state is running again');

# ---------------------------------------------------------------------------
# Disable and enable
# ---------------------------------------------------------------------------

lh_sql($node, q{SELECT lakehouse.lh_disable_source('feed')});
poll_is(worker_count('feed'), '0', 'lh_disable_source: the worker is gone');
my $feed_requests = requests_to('/a/bearer/pages');
my $bad_runs = lh_sql($node, q{SELECT count(*) FROM lakehouse.runs WHERE pipeline_name = 'polled_bad'});
# three polls of the other source: at least two intervals went by
poll_is(qq{SELECT count(*) >= $bad_runs + 3 FROM lakehouse.runs WHERE pipeline_name = 'polled_bad'},
	't', 'the other source polls on');
is(requests_to('/a/bearer/pages'), $feed_requests, 'the disabled source made no request meanwhile');

http_control($srv, { records => 170 });
lh_sql($node, q{SELECT lakehouse.lh_enable_source('feed')});
poll_is(q{SELECT count(*), count(DISTINCT payload->>'id') FROM bronze.feed}, '170|170',
	'lh_enable_source: polling resumes and lands the new records once');

# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------

lh_sql($node, q{SELECT lakehouse.lh_disable_source('feed'), lakehouse.lh_disable_source('broken')});
poll_is(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lakehouse http'}, '0',
	'both workers stopped');
lh_check_secrets($node, extra => \@activity);
lh_check_request_log(
	$srv,
	{
		'the bearer token' => {
			match => qr/\Q$token\E/,
			allowed => [qr/^Authorization: Bearer \Q$token\E$/]
		},
	});

$node->stop;
done_testing();

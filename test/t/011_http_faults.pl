
# Copyright (c) lakehouse authors

# HTTP sources when the API misbehaves (test/http/lh_http_server.py faults):
# - retried: 500 then success, 429 and 503 with Retry-After (seconds, HTTP
#   date; honoured, and capped by max_retry_wait_ms), a connection closed
#   without an answer; 500 for ever gives up after `retries`;
# - not retried: 404, a redirect loop (max_redirects), a non-JSON or empty
#   body, a body without the records array, a body over max_response_bytes;
# - a request that hangs past timeout_ms; a truncated body; TLS spoken to a
#   plain HTTP server; a port nobody listens on: each an error that names
#   the URL (and quotes the first bytes of a bad body);
# - a failure in the middle of a pagination (page number, Stripe cursor,
#   Salesforce next URL, Link header): the pages before it stay, with their
#   watermark and a resume mark; the next ingest continues from there with
#   the incremental value of the interrupted one: every record lands once;
# - a cancel interrupts a hanging request at once, and while a request
#   hangs, other sources ingest and bronze stays readable;
# - no secret value in any error, log line, mark or view.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";

use IO::Socket::INET;
use JSON::PP;
use LakehouseHttp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $srv = http_server_start(name => '010', records => 250);
my $B = $srv->{base};
my $node = lh_http_node('http_faults');
my $json = JSON::PP->new->canonical;

my %sec = (
	bearer => 'sk_fault_5e6f7a8b9c0d1e2f',
	qkey => 'qk2-7777-abcdef-0123',);
lh_secret($node, 'fault_token', $sec{bearer});
lh_secret($node, 'fault_qkey', $sec{qkey});
http_control(
	$srv,
	{
		auth => {
			'/a/bearer' => { type => 'bearer', token => $sec{bearer} },
			'/a/qkey' => { type => 'api_key_query', name => 'api_key', value => $sec{qkey} },
		}
	});

lh_sql($node, q{SELECT lakehouse.lh_create_pipeline('faults')});
lh_sql($node, q{SELECT lakehouse.lh_create_pipeline('other')});

sub add_source
{
	my ($name, $opts, $pipeline) = @_;
	my $j = $json->encode($opts);
	return lh_sql($node,
		"SELECT lakehouse.lh_add_source('" . ($pipeline // 'faults')
		  . "', '$name', 'http', \$j\$$j\$j\$)");
}

# A page-number source on /a/bearer/pages/items, 50 a page (250 records:
# 5 full pages and an empty one), fast backoff; %o overrides.
sub pages_source
{
	my ($name, %o) = @_;
	my $pagination = delete $o{pagination} // {};
	add_source(
		$name,
		{
			url => "$B/a/bearer/pages/items",
			id_field => 'id',
			pagination => {
				style => 'page',
				param => 'page',
				page_size_param => 'per_page',
				page_size => 50,
				%$pagination
			},
			auth => { type => 'bearer', token_secret => 'fault_token' },
			retry_backoff_ms => 10,
			%o
		});
	return;
}

# lh_ingest: (summary, stderr), errors masked for secrets
sub ingest
{
	my ($name, %p) = @_;
	my ($ret, $out, $err) =
	  lh_psql($node, "SELECT lakehouse.lh_ingest('$name')", %p);
	die "lh_ingest('$name') did not return: " . lh_mask($err) if $ret != 0;
	my $sum = decode_json($out);
	$sum->{error} = lh_mask($sum->{error});
	return ($sum, lh_mask($err));
}

sub q1 { return lh_sql($node, $_[0]); }

# "sqlstate|message|detail" of the failed stage of a run (masked)
sub stage_error
{
	my ($run_id) = @_;
	return lh_mask(
		q1(
			qq{SELECT concat_ws('|', error_sqlstate, error_message, error_detail) FROM lakehouse.run_stages WHERE run_id = $run_id AND status = 'failed'}
		));
}

sub bronze_ids
{
	my ($table) = @_;
	return q1(
		"SELECT count(*), count(DISTINCT payload->>'id'), min((payload->>'id')::int), max((payload->>'id')::int) FROM bronze.$table"
	);
}

sub marks
{
	my ($source) = @_;
	return lh_mask(
		q1(
			qq{SELECT coalesce(string_agg(mark_key || '=' || mark_value, ' ' ORDER BY mark_key), '')
  FROM lakehouse.source_marks JOIN lakehouse.sources USING (source_id) WHERE name = '$source'}
		));
}

sub reqs { return http_requests($srv, $_[0] // '/a/'); }

sub statuses
{
	return join(',', map { $_->{status} } @{ reqs($_[0]) });
}

# seconds between the first two requests under a path
sub gap
{
	my $r = reqs($_[0]);
	return @$r >= 2 ? $r->[1]{time} - $r->[0]{time} : -1;
}

# ---------------------------------------------------------------------------
# Retried
# ---------------------------------------------------------------------------

pages_source('r500');
http_reset($srv, { faults => [ { kind => 'status', status => 500, times => 2 } ] });
my ($s) = ingest('r500');
is($s->{status}, 'succeeded', '500 twice then 200: the ingest succeeds');
is(statuses(), '500,500,200,200,200,200,200,200',
	'500 twice then 200: page 1 was asked three times, pages 2-6 once');
is(bronze_ids('r500'), '250|250|1|250', '500 twice then 200: every record once');
is( q1(q{SELECT concat_ws('|', last_run_retries, last_run_pages, last_run_records, last_http_status) FROM lakehouse.http_status WHERE source = 'r500'}),
	'2|6|250|200', '500 twice then 200: http_status counts 2 retries, 6 pages, 250 records');

pages_source('r500ever', retries => 3);
http_reset($srv, { faults => [ { kind => 'status', status => 500, times => -1 } ] });
($s) = ingest('r500ever');
is($s->{status}, 'failed', '500 for ever: the ingest fails');
is(statuses(), '500,500,500,500', '500 for ever: 1 request + 3 retries');
like(
	stage_error($s->{run_id}),
	qr/^08006\|HTTP request to "\Q$B\E\/a\/bearer\/pages\/items\?[^"|]*" failed: [^|]*500/,
	'500 for ever: 08006, the error names the URL and the status');
is(q1(q{SELECT count(*) FROM bronze.r500ever}), '0', '500 for ever: nothing landed');
is(marks('r500ever'), '', '500 for ever: no marks');
is( lh_mask(q1(q{SELECT concat_ws('|', last_run_retries, last_run_pages, last_http_status, last_error IS NOT NULL) FROM lakehouse.http_status WHERE source = 'r500ever'})),
	'3|0|500|t', '500 for ever: http_status has 3 retries, no page, status 500, the error');

pages_source('r429');
http_reset($srv, { faults => [ { kind => 'status', status => 429, retry_after => 1 } ] });
($s) = ingest('r429');
is($s->{status}, 'succeeded', '429 with Retry-After: 1: the ingest succeeds');
is(statuses(), '429,200,200,200,200,200,200', '429: page 1 asked again');
cmp_ok(gap(), '>=', 0.9, '429: the retry came after Retry-After (1 s), not after the 10 ms backoff');
is(bronze_ids('r429'), '250|250|1|250', '429: every record once');

pages_source('r503');
http_reset($srv,
	{ faults => [ { kind => 'status', status => 503, retry_after => 'date', seconds => 2 } ] });
($s) = ingest('r503');
is($s->{status}, 'succeeded', '503 with Retry-After as an HTTP date: the ingest succeeds');
is(statuses(), '503,200,200,200,200,200,200', '503: page 1 asked again');
cmp_ok(gap(), '>=', 0.5, '503: the retry waited for the date (1-2 s ahead, second resolution)');

# Retry-After: 3600 with max_retry_wait_ms 200: the wait is capped (an
# uncapped wait would outlast the psql timeout).
pages_source('rcap', max_retry_wait_ms => 200);
http_reset($srv, { faults => [ { kind => 'status', status => 429, retry_after => 3600 } ] });
($s) = ingest('rcap', timeout => 60);
is($s->{status}, 'succeeded', 'Retry-After: 3600 is capped by max_retry_wait_ms');
is(statuses(), '429,200,200,200,200,200,200', 'capped Retry-After: page 1 asked again');

pages_source('rdrop');
http_reset($srv, { faults => [ { kind => 'drop' } ] });
($s) = ingest('rdrop');
is($s->{status}, 'succeeded', 'a connection closed without an answer is retried');
is(statuses(), 'dropped,200,200,200,200,200,200', 'dropped: page 1 asked again');

# ---------------------------------------------------------------------------
# Not retried
# ---------------------------------------------------------------------------

pages_source('r404');
http_reset($srv, { faults => [ { kind => 'status', status => 404, times => -1, body => 'no such collection' } ] });
($s) = ingest('r404');
is($s->{status}, 'failed', '404: the ingest fails');
is(statuses(), '404', '404: not retried');
like(
	stage_error($s->{run_id}),
	qr/^08006\|HTTP request to "\Q$B\E\/a\/bearer\/pages\/items\?[^"|]*" returned status 404\|.*no such collection/,
	'404: 08006, URL and status, the detail quotes the body');

pages_source('rloop', max_redirects => 3);
http_reset($srv, { faults => [ { kind => 'redirect_loop', path => '/a/bearer' } ] });
($s) = ingest('rloop');
is($s->{status}, 'failed', 'redirect loop: the ingest fails');
like($s->{error}, qr/^HTTP request to "\Q$B\E\/a\/bearer\/pages\/items\?[^"]*" failed: more than 3 redirects$/,
	'redirect loop: "more than 3 redirects", with the URL');
is(statuses(), '302,302,302,302', 'redirect loop: the request and 3 redirects, not retried');

pages_source('rredir');
http_reset($srv, { faults => [ { kind => 'redirect', path => '/a/bearer' } ] });
($s) = ingest('rredir');
is($s->{status}, 'succeeded', 'one redirect is followed');
is(statuses(), '302,200,200,200,200,200,200', 'one redirect: 302 then the page');
is(bronze_ids('rredir'), '250|250|1|250', 'one redirect: every record once');

pages_source('rhtml');
http_reset($srv, { faults => [ { kind => 'invalid_json', times => -1 } ] });
($s) = ingest('rhtml');
is($s->{status}, 'failed', 'invalid JSON: the ingest fails');
like(
	stage_error($s->{run_id}),
	qr/^22P02\|HTTP response from "\Q$B\E\/a\/bearer\/pages\/items\?[^"|]*" is not JSON[^|]*\|.*<html><body><h1>502 Bad Gateway<\/h1>upstream sent garbage/,
	'invalid JSON: 22P02, the URL, and the first bytes of the body');
is(statuses(), '200', 'invalid JSON: not retried');

pages_source('rempty');
http_reset($srv, { faults => [ { kind => 'empty', times => -1 } ] });
($s) = ingest('rempty');
is($s->{status}, 'failed', 'empty body: the ingest fails');
like($s->{error}, qr/^HTTP response from "\Q$B\E\/a\/bearer\/pages\/items\?[^"]*" is not JSON/,
	'empty body: "is not JSON", with the URL');

pages_source('rshape', records_path => 'data');
http_reset($srv);
($s) = ingest('rshape');
is($s->{status}, 'failed', 'no records array: the ingest fails');
like(
	stage_error($s->{run_id}),
	qr/^22P02\|HTTP response from "\Q$B\E\/a\/bearer\/pages\/items\?[^"|]*" has no array of records at "data"/,
	'no records array: 22P02, the URL and the path');

pages_source('rbig', max_response_bytes => 20000);
http_reset($srv, { pad_bytes => 1000 });
($s) = ingest('rbig');
is($s->{status}, 'failed', 'body over max_response_bytes: the ingest fails');
like(
	stage_error($s->{run_id}),
	qr/^54000\|HTTP response from "\Q$B\E\/a\/bearer\/pages\/items\?[^"|]*" is larger than max_response_bytes \(20000\)/,
	'body over max_response_bytes: 54000 and the limit');
http_control($srv, { pad_bytes => 0 });

# ---------------------------------------------------------------------------
# Timeouts, truncation, TLS, refused connections
# ---------------------------------------------------------------------------

pages_source('rhang', timeout_ms => 1000, retries => 1);
http_reset($srv, { faults => [ { kind => 'hang', seconds => 15, times => 2 } ] });
my $t0 = time();
($s) = ingest('rhang');
my $took = time() - $t0;
is($s->{status}, 'failed', 'hang past timeout_ms: the ingest fails');
like($s->{error}, qr/^HTTP request to "\Q$B\E\/a\/bearer\/pages\/items\?[^"]*" failed: .*tim(ed|e)\s?out/i,
	'hang: the error says the request timed out, with the URL');
is(scalar(@{ reqs() }), 2, 'hang: the request and one retry');
cmp_ok($took, '<', 14, 'hang: the ingest did not wait for the server (15 s)');

pages_source('rtrunc', retries => 1);
http_reset($srv, { faults => [ { kind => 'truncate', times => -1, bytes => 300 } ] });
($s) = ingest('rtrunc');
is($s->{status}, 'failed', 'truncated body: the ingest fails');
like(
	stage_error($s->{run_id}),
	qr/^08006\|HTTP request to "\Q$B\E\/a\/bearer\/pages\/items\?[^"|]*" failed: the response was truncated after 300 bytes; it begins: .*\[\{"id":1,"created":1700000060/,
	'truncated body: the URL, the bytes received, and the first bytes');
note 'truncated body: requests ' . statuses();

my $port_closed = do
{
	my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
	  or die "socket: $!";
	my $p = $sock->sockport;
	close $sock;
	$p;
};
add_source('refused',
	{ url => "http://127.0.0.1:$port_closed/items", retries => 2, retry_backoff_ms => 10 });
($s) = ingest('refused');
is($s->{status}, 'failed', 'connection refused: the ingest fails');
like(
	stage_error($s->{run_id}),
	qr/^08006\|HTTP request to "http:\/\/127\.0\.0\.1:$port_closed\/items" failed: .*(connect|refused).*\|Gave up after 2 retries\./i,
	'connection refused: 08006, the URL, and the retries given up');

add_source('tls', { url => "https://127.0.0.1:$srv->{port}/all/items", retries => 0 });
($s) = ingest('tls');
is($s->{status}, 'failed', 'TLS to a plain HTTP server: the ingest fails');
like($s->{error}, qr/^HTTP request to "https:\/\/127\.0\.0\.1:$srv->{port}\/all\/items" failed: /,
	'TLS to a plain HTTP server: the error names the URL');

# ---------------------------------------------------------------------------
# A failure in the middle of a pagination
# ---------------------------------------------------------------------------

# Page numbers, incremental by created (strict): 250 records, 25 a page.
pages_source(
	'mid',
	url => "$B/a/bearer/pages/items",
	retries => 1,
	incremental => { field => 'created', param => 'created_gt' },
	pagination => { page_size => 25 });
http_reset($srv, { records => 250, faults => [ { kind => 'status', status => 500, page => 4, times => -1 } ] });
($s) = ingest('mid');
is($s->{status}, 'failed', 'mid-pagination: the ingest fails at page 4');
is(bronze_ids('mid'), '75|75|1|75', 'mid-pagination: pages 1-3 stayed (records 1-75)');
is( q1(
		qq{SELECT concat_ws('|', r.status, s.status, s.rows_written) FROM lakehouse.runs r JOIN lakehouse.run_stages s USING (run_id) WHERE run_id = $s->{run_id}}
	),
	'failed|failed|75',
	'mid-pagination: the run and its stage are failed, the stage counts the 75 rows kept');
is( q1(
		q{SELECT concat_ws('|', watermark, resume->>'page', coalesce(resume->>'since', 'null')) FROM lakehouse.http_status WHERE source = 'mid'}
	),
	epoch_of(75) . '|4|null',
	'mid-pagination: watermark = record 75, resume at page 4 with the (absent) incremental value of the run');
like(lh_mask(q1(q{SELECT last_error FROM lakehouse.http_status WHERE source = 'mid'})),
	qr/HTTP request to .*page=4.* failed/, 'mid-pagination: http_status.last_error is the page 4 error');

http_reset($srv);
($s) = ingest('mid');
is($s->{status}, 'succeeded', 'mid-pagination: the next ingest succeeds');
is_deeply(
	[ map { http_query_hash($_->{query}) } @{ reqs() } ],
	[ map { { page => $_, per_page => 25 } } 4 .. 11 ],
	'mid-pagination: it continued at page 4, without created_gt (as the interrupted run)');
is(bronze_ids('mid'), '250|250|1|250', 'mid-pagination: every record landed once');
is(marks('mid'), 'watermark=' . epoch_of(250), 'mid-pagination: watermark of record 250, no resume');

# New records; the second page of the next pagination fails.  The resumed
# ingest must send the same created_gt as the interrupted one, not the
# watermark that moved meanwhile.
http_reset($srv, { records => 400, faults => [ { kind => 'status', status => 500, page => 2, times => -1 } ] });
($s) = ingest('mid');
is($s->{status}, 'failed', 'mid-pagination, incremental: fails at page 2');
is(bronze_ids('mid'), '275|275|1|275', 'mid-pagination, incremental: page 1 (251-275) stayed');
is( q1(
		q{SELECT concat_ws('|', watermark, resume->>'page', resume->>'since') FROM lakehouse.http_status WHERE source = 'mid'}
	),
	epoch_of(275) . '|2|' . epoch_of(250),
	'mid-pagination, incremental: watermark moved to 275, resume at page 2 with since = 250');
http_reset($srv);
($s) = ingest('mid');
is($s->{status}, 'succeeded', 'mid-pagination, incremental: the next ingest succeeds');
is_deeply(
	http_query_hash(reqs()->[0]{query}),
	{ page => 2, per_page => 25, created_gt => epoch_of(250) },
	'mid-pagination, incremental: resumed at page 2 with created_gt of the interrupted run');
is(bronze_ids('mid'), '400|400|1|400', 'mid-pagination, incremental: every record once');
is(marks('mid'), 'watermark=' . epoch_of(400), 'mid-pagination, incremental: final watermark, no resume');

# Stripe cursor: the connection drops on page 3 (every time).
add_source(
	'mid_stripe',
	{
		url => "$B/a/bearer/stripe/v1/charges",
		records_path => 'data',
		id_field => 'id',
		retries => 1,
		retry_backoff_ms => 10,
		incremental => { field => 'created', param => 'created_gt' },
		pagination => {
			style => 'cursor',
			cursor_from => 'last_id',
			param => 'starting_after',
			has_more_path => 'has_more',
			page_size_param => 'limit',
			page_size => 50
		},
		auth => { type => 'bearer', token_secret => 'fault_token' }
	});
http_reset($srv, { records => 250, faults => [ { kind => 'drop', page => 3, times => -1 } ] });
($s) = ingest('mid_stripe');
is($s->{status}, 'failed', 'mid-pagination, stripe: fails at page 3');
is( q1(q{SELECT count(*), count(DISTINCT payload->>'id'), max(payload->>'id') FROM bronze.mid_stripe}),
	'100|100|ch_000100', 'mid-pagination, stripe: pages 1-2 stayed');
is(q1(q{SELECT resume->>'cursor' FROM lakehouse.http_status WHERE source = 'mid_stripe'}),
	'ch_000100', 'mid-pagination, stripe: resume cursor = the last id landed');
http_reset($srv);
($s) = ingest('mid_stripe');
is_deeply(
	http_query_hash(reqs()->[0]{query}),
	{ limit => 50, starting_after => 'ch_000100' },
	'mid-pagination, stripe: resumed with starting_after=ch_000100');
is( q1(q{SELECT count(*), count(DISTINCT payload->>'id'), max(payload->>'id') FROM bronze.mid_stripe}),
	'250|250|ch_000250', 'mid-pagination, stripe: every charge once');

# Salesforce next URL: page 2 is not JSON (every time).
add_source(
	'mid_sf',
	{
		url => "$B/a/bearer/sf/query",
		query => { batch_size => '100' },
		records_path => 'records',
		id_field => 'id',
		retries => 0,
		pagination => { style => 'next_url', next_url_path => 'nextRecordsUrl' },
		auth => { type => 'bearer', token_secret => 'fault_token' }
	});
http_reset($srv, { faults => [ { kind => 'invalid_json', page => 2, times => -1 } ] });
($s) = ingest('mid_sf');
is($s->{status}, 'failed', 'mid-pagination, next URL: fails at page 2');
is(bronze_ids('mid_sf'), '100|100|1|100', 'mid-pagination, next URL: page 1 stayed');
is(q1(q{SELECT resume->>'next_url' FROM lakehouse.http_status WHERE source = 'mid_sf'}),
	"$B/a/bearer/sf/query/next-2?batch_size=100",
	'mid-pagination, next URL: resume = the next URL, resolved against the source URL');
http_reset($srv);
($s) = ingest('mid_sf');
is(join(' ', map { "$_->{path}?$_->{query}" } @{ reqs() }),
	'/a/bearer/sf/query/next-2?batch_size=100 /a/bearer/sf/query/next-3?batch_size=100',
	'mid-pagination, next URL: resumed at the stored next URL');
is(bronze_ids('mid_sf'), '250|250|1|250', 'mid-pagination, next URL: every record once');

# Link header with the API key in the query: the server's next links repeat
# the query (api_key included).  The resume mark must not hold the key,
# and each request must carry it once.
add_source(
	'mid_link',
	{
		url => "$B/a/qkey/link/items",
		query => { per_page => '50' },
		id_field => 'id',
		retries => 0,
		pagination => { style => 'link_header' },
		auth => { type => 'api_key', in => 'query', name => 'api_key', secret => 'fault_qkey' }
	});
http_reset($srv, { faults => [ { kind => 'status', status => 502, page => 3, times => -1 } ] });
($s) = ingest('mid_link');
is($s->{status}, 'failed', 'mid-pagination, link header: fails at page 3');
is(bronze_ids('mid_link'), '100|100|1|100', 'mid-pagination, link header: pages 1-2 stayed');
my $resume = lh_mask(q1(q{SELECT resume::text FROM lakehouse.http_status WHERE source = 'mid_link'}));
like($resume, qr/page=3/, 'mid-pagination, link header: resume holds the next link');
unlike($resume, qr/LEAKED SECRET/, 'mid-pagination, link header: the resume mark does not hold the API key');
http_reset($srv);
($s) = ingest('mid_link');
is($s->{status}, 'succeeded', 'mid-pagination, link header: the next ingest succeeds');
is( join(',', map { my $q = $_->{query}; my $n = () = $q =~ /(^|&)api_key=/g; "$_->{status}:$n" } @{ reqs('/a/qkey') }),
	'200:1,200:1,200:1',
	'mid-pagination, link header: pages 3-5, each with the API key once');
is(bronze_ids('mid_link'), '250|250|1|250', 'mid-pagination, link header: every record once');

# ---------------------------------------------------------------------------
# A hanging request: cancel, and other work meanwhile
# ---------------------------------------------------------------------------

pages_source('stuck', timeout_ms => 600000, retries => 0);
add_source('quick', { url => "$B/all/items", id_field => 'id' }, 'other');
http_reset($srv, { faults => [ { kind => 'hang', seconds => 300, path => '/a/bearer' } ] });
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, "\\echo started\nSELECT lakehouse.lh_ingest('stuck');\n");
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%lh_ingest(''stuck'')%' AND state = 'active'}),
	'hang: the ingest is running');
for (1 .. 300)
{
	last if http_stats($srv)->{in_flight} >= 1;
	usleep(100_000);
}
is(http_stats($srv)->{in_flight}, 1, 'hang: the server holds the request');

($s) = ingest('quick', timeout => 60);
is($s->{status}, 'succeeded', 'hang: another pipeline\'s source ingests meanwhile');
is(q1(q{SELECT count(*) FROM bronze.quick}), '250', 'hang: and lands its records');
is(q1(q{SELECT count(*) FROM bronze.stuck}), '0', 'hang: the hanging source\'s bronze table is readable');
is(lh_mask(q1(q{SELECT count(*) FROM lakehouse.http_status})) > 0 ? 1 : 0, 1,
	'hang: http_status is readable');

$t0 = time();
q1(q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%lh_ingest(''stuck'')%' AND state = 'active' AND pid <> pg_backend_pid()});
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE query LIKE '%lh_ingest(''stuck'')%' AND state = 'active'}),
	'cancel: the hanging ingest stopped');
cmp_ok(time() - $t0, '<', 60, 'cancel: at once, not after the request (300 s)');
$bg->query('SELECT 1');
like($bg->{stderr}, qr/canceling statement due to user request/, 'cancel: the ingest was canceled');
lh_capture($bg->{stdout}, $bg->{stderr});
$bg->quit;
http_reset($srv);

# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------

lh_check_secrets($node);
lh_check_request_log(
	$srv,
	{
		'the bearer token' => {
			match => qr/\Q$sec{bearer}\E/,
			allowed => [qr/^Authorization: Bearer \Q$sec{bearer}\E$/]
		},
		'the API key' => {
			match => qr/\Q$sec{qkey}\E/,
			allowed => [qr{^GET /a/qkey/\S*[?&]api_key=\Q$sec{qkey}\E(&|\s)}]
		},
	});

$node->stop;
done_testing();


# Copyright (c) lakehouse authors

# HTTP sources against the local test API (test/http/lh_http_server.py):
# - each pagination style with each kind of authentication: Stripe-style
#   cursor (last id) + bearer, Salesforce-style next URL + OAuth2 client
#   credentials, Link header + basic, page number + API key header,
#   offset + API key in the query, cursor from a body path, none, POST
#   with a body and headers;
# - exactly the records of the API land, once each, with their positions;
#   the stored watermark, the requests the server saw (query parameters,
#   credentials accepted), http_status;
# - the incremental parameter on the next run (numbers and ISO text);
# - OAuth2: the token is cached across ingests of one session, fetched
#   again once after a 401, and after the server expired it;
# - credentials are not sent to another host after a redirect;
# - a record without its id is a dead letter; max_pages and the resume
#   mark; invalid options are refused with 22023 naming the option;
# - no secret value appears in the server log, psql output, the catalog
#   or the test log, and the API saw each secret only where it is sent.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";

use JSON::PP;
use LakehouseHttp;
use MIME::Base64 qw(encode_base64 encode_base64url);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $srv = http_server_start(name => '009', records => 250);
my $B = $srv->{base};
my $node = lh_http_node('http');
my $json = JSON::PP->new->canonical;

# Secret values: characters that need quoting in SQL, URLs and headers.
my %sec = (
	stripe_key => 'sk_test_9f8e7d6c5b4a3921',
	basic_pw => "pa:ss w0rd/%s'x",
	hkey => 'hk-4242-abcd-ef01',
	qkey => 'qk/5151+xyz=end',
	oauth_cs => 'cs-0a1b2c3d4e5f6789',);
lh_secret($node, $_, $sec{$_}) for sort keys %sec;

http_control(
	$srv,
	{
		auth => {
			'/a/bearer' => { type => 'bearer', token => $sec{stripe_key} },
			'/a/basic' => {
				type => 'basic',
				username => 'lh_user',
				password => $sec{basic_pw}
			},
			'/a/hkey' => {
				type => 'api_key_header',
				name => 'X-Api-Key',
				value => $sec{hkey}
			},
			'/a/qkey' => {
				type => 'api_key_query',
				name => 'api_key',
				value => $sec{qkey}
			},
			'/a/oauth' => { type => 'oauth2' },
		},
		oauth => {
			client_id => 'lh-client',
			client_secret => $sec{oauth_cs},
			scope => 'records.read'
		},
	});

lh_sql($node, q{SELECT lakehouse.lh_create_pipeline('api')});

sub add_source
{
	my ($name, $opts, $pipeline) = @_;
	my $j = $json->encode($opts);
	return lh_sql($node,
		"SELECT lakehouse.lh_add_source('" . ($pipeline // 'api')
		  . "', '$name', 'http', \$j\$$j\$j\$)");
}

# lh_ingest: (summary as a hash, psql stderr)
sub ingest
{
	my ($name) = @_;
	my ($ret, $out, $err) =
	  lh_psql($node, "SELECT lakehouse.lh_ingest('$name')");
	die "lh_ingest('$name') did not return: " . lh_mask($err) if $ret != 0;
	my $sum = decode_json($out);
	# what a test compares and may print: with any leaked secret masked
	$sum->{error} = lh_mask($sum->{error});
	return ($sum, lh_mask($err));
}

sub q1 { return lh_sql($node, $_[0]); }

# "count|distinct ids|min id|max id" of a bronze table (ids as numbers)
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
	return q1(
		qq{SELECT coalesce(string_agg(mark_key || '=' || mark_value, ' ' ORDER BY mark_key), '')
  FROM lakehouse.source_marks JOIN lakehouse.sources USING (source_id) WHERE name = '$source'}
	);
}

# the query strings of the requests under a path, as hashes
sub queries
{
	my ($prefix) = @_;
	return [ map { http_query_hash($_->{query}) }
		  @{ http_requests($srv, $prefix) } ];
}

sub statuses
{
	my ($prefix) = @_;
	return join(',', map { $_->{status} } @{ http_requests($srv, $prefix) });
}

# ---------------------------------------------------------------------------
# Stripe style: cursor from the last id, has_more, bearer token
# ---------------------------------------------------------------------------

add_source(
	'charges',
	{
		url => "$B/a/bearer/stripe/v1/charges",
		records_path => 'data',
		id_field => 'id',
		incremental => { field => 'created', param => 'created_gte' },
		pagination => {
			style => 'cursor',
			cursor_from => 'last_id',
			param => 'starting_after',
			has_more_path => 'has_more',
			page_size_param => 'limit',
			page_size => 100
		},
		auth => { type => 'bearer', token_secret => 'stripe_key' }
	});
http_reset($srv);
my ($s) = ingest('charges');
is($s->{status}, 'succeeded', 'stripe: the ingest succeeded');
is($s->{stages}[0]{rows_written}, 250, 'stripe: summary says 250 rows written');
is( q1(
		q{SELECT count(*), count(DISTINCT payload->>'id'), min(payload->>'id'), max(payload->>'id') FROM bronze.charges}
	),
	'250|250|ch_000001|ch_000250',
	'stripe: the 250 charges landed once each');
is( q1(
		qq{SELECT count(*) FROM bronze.charges
 WHERE _lh_position <> ((substr(payload->>'id', 4)::int - 1) / 100 + 1) || ':' || ((substr(payload->>'id', 4)::int - 1) % 100 + 1)
    OR _lh_source <> 'charges' OR _lh_run_id <> $s->{run_id}
    OR payload->>'object' <> 'charge' OR (payload->>'created')::bigint <> 1700000000 + 60 * substr(payload->>'id', 4)::int}
	),
	'0',
	'stripe: _lh_position is <page>:<index from 1>, _lh_source and _lh_run_id set, payloads as served');
is(marks('charges'), 'watermark=' . epoch_of(250),
	'stripe: the watermark is the largest created, no resume mark');
is_deeply(
	queries('/a/bearer/stripe'),
	[
		{ limit => 100 },
		{ limit => 100, starting_after => 'ch_000100' },
		{ limit => 100, starting_after => 'ch_000200' }
	],
	'stripe: three requests: limit, then starting_after the last id of each page');
is( join(',', map { $_->{auth} } @{ http_requests($srv, '/a/bearer') }),
	'ok,ok,ok', 'stripe: the bearer token was accepted on every request');
is( q1(
		q{SELECT concat_ws('|', last_http_status, last_run_pages, last_run_records, last_run_retries, watermark, resume IS NULL, last_error IS NULL, last_request_at IS NOT NULL, enabled, pipeline) FROM lakehouse.http_status WHERE source = 'charges'}
	),
	'200|3|250|0|' . epoch_of(250) . '|t|t|t|t|api',
	'stripe: http_status: status 200, 3 pages, 250 records, no retries, watermark, no resume, no error');
like(
	q1(q{SELECT last_url FROM lakehouse.http_status WHERE source = 'charges'}),
	qr{^\Q$B\E/a/bearer/stripe/v1/charges\?.*starting_after=ch_000200},
	'stripe: http_status.last_url is the last page requested');

# New charges: the next ingest sends created_gte=<watermark>; the API
# returns the boundary charge again (>=), which lands again.
http_reset($srv, { records => 260 });
($s) = ingest('charges');
is($s->{stages}[0]{rows_written}, 11,
	'stripe, second ingest: the boundary charge and the 10 new ones');
is_deeply(
	queries('/a/bearer/stripe'),
	[ { limit => 100, created_gte => epoch_of(250) } ],
	'stripe, second ingest: one request, created_gte = the stored watermark');
is( q1(
		q{SELECT count(*), count(DISTINCT payload->>'id'), count(*) FILTER (WHERE payload->>'id' = 'ch_000250') FROM bronze.charges}
	),
	'261|260|2',
	'stripe, second ingest: 260 distinct charges, only the boundary one twice');
is(marks('charges'), 'watermark=' . epoch_of(260),
	'stripe, second ingest: the watermark moved');

# A redirect to another host name: the bearer token is not sent there.
http_reset($srv,
	{ faults => [ { kind => 'redirect', path => '/a/bearer', location =>
		"http://localhost:$srv->{port}/a/bearer/stripe/v1/charges?limit=100" } ] });
my $err;
($s, $err) = ingest('charges');
is($s->{status}, 'failed',
	'bearer: a redirect to another host fails (the token is not sent there)');
like( join(',', map { "$_->{status}/" . ($_->{auth} // '') } @{ http_requests($srv, '/a/bearer') }),
	qr{^302/ok(,401/missing)?$},
	'bearer: the redirected request (if made) reached the other host without credentials');
like($s->{error}, qr/returned status 401|redirect/, 'bearer: the error is the 401 (or the refused redirect)');

# ---------------------------------------------------------------------------
# Salesforce style: next URL from the body, OAuth2 client credentials
# ---------------------------------------------------------------------------

add_source(
	'accounts',
	{
		url => "$B/a/oauth/sf/query",
		query => { batch_size => '100' },
		records_path => 'records',
		id_field => 'id',
		incremental => { field => 'updated_at', param => 'updated_gt' },
		pagination => { style => 'next_url', next_url_path => 'nextRecordsUrl' },
		auth => {
			type => 'oauth2_client_credentials',
			token_url => "$B/oauth/token",
			client_id => 'lh-client',
			client_secret_secret => 'oauth_cs',
			scope => 'records.read'
		}
	});

# The second page is refused once with 401: the token is fetched again
# and the page retried.
http_reset($srv,
	{ records => 260, faults => [ { kind => 'unauthorized', path => '/a/oauth/sf', page => 2 } ] });
($s) = ingest('accounts');
is($s->{status}, 'succeeded', 'salesforce: the ingest succeeded');
is(bronze_ids('accounts'), '260|260|1|260', 'salesforce: the 260 records landed once each');
my $reqs = http_requests($srv);
is( join(' ', map { $_->{path} . ($_->{query} ? "?$_->{query}" : '') . " $_->{status}" } @$reqs),
	join(' ',
		'/oauth/token 200',
		'/a/oauth/sf/query?batch_size=100 200',
		'/a/oauth/sf/query/next-2?batch_size=100 401',
		'/oauth/token 200',
		'/a/oauth/sf/query/next-2?batch_size=100 200',
		'/a/oauth/sf/query/next-3?batch_size=100 200'),
	'salesforce: token, page 1, page 2 refused (401), new token, page 2 again, page 3 (the next URLs followed)');
is( join(',', map { $_->{token_no} // '-' } grep { $_->{path} =~ m{^/a/oauth} } @$reqs),
	'1,1,2,2',
	'salesforce: the first token until the 401, the second one after it');
my $tok_req = (grep { $_->{path} eq '/oauth/token' } @$reqs)[0];
my $form = http_query_hash($tok_req->{body});
$form->{client_secret} = 'the secret' if ($form->{client_secret} // '') eq $sec{oauth_cs};
is_deeply(
	$form,
	{
		grant_type => 'client_credentials',
		client_id => 'lh-client',
		client_secret => 'the secret',
		scope => 'records.read'
	},
	'oauth2: the token request is a form with grant_type, client_id, client_secret and scope');
is(marks('accounts'), 'watermark="' . iso_of(260) . '"',
	'salesforce: the watermark is the largest updated_at, as JSON text');

# One session: the token is cached between ingests, and fetched again when
# the server says it expired.
my $bg = $node->background_psql('postgres');
http_reset($srv, { records => 270 });
is($bg->query_safe(q{SELECT lakehouse.lh_ingest('accounts')->>'status'}),
	'succeeded', 'oauth2 session, ingest 1 succeeded');
is(http_stats($srv)->{oauth}{requests}, 1, 'oauth2 session, ingest 1 fetched a token');
is_deeply(
	queries('/a/oauth'),
	[ { batch_size => 100, updated_gt => iso_of(260) } ],
	'salesforce: the next ingest sends updated_gt = the watermark (text, without JSON quotes)');
http_reset($srv, { records => 280 });
is($bg->query_safe(q{SELECT lakehouse.lh_ingest('accounts')->>'status'}),
	'succeeded', 'oauth2 session, ingest 2 succeeded');
is(http_stats($srv)->{oauth}{requests}, 0, 'oauth2 session, ingest 2 used the cached token');
http_reset($srv, { records => 290, expire_tokens => JSON::PP::true });
is($bg->query_safe(q{SELECT lakehouse.lh_ingest('accounts')->>'status'}),
	'succeeded', 'oauth2 session, ingest 3 (token expired on the server) succeeded');
like( join(',', map { "$_->{path} $_->{status}" . ($_->{auth} ? " $_->{auth}" : '') } @{ http_requests($srv) }),
	qr{^(/a/oauth/sf/query 401 expired,)?/oauth/token 200 issued,/a/oauth/sf/query 200 ok$},
	'oauth2 session, ingest 3: a new token (after a 401 for the expired one, when it was cached)');
lh_capture($bg->{stdout}, $bg->{stderr});
$bg->quit;

# The token expires between two pages of one ingest: page 2 is refused as
# expired, a new token is fetched once, page 2 is fetched again.
http_reset($srv,
	{ records => 500, faults => [ { kind => 'expire_tokens', path => '/a/oauth/sf', page => 2 } ] });
($s) = ingest('accounts');
is($s->{status}, 'succeeded', 'oauth2, token expired between pages: the ingest succeeded');
is( join(',', map { "$_->{path} $_->{status}" . ($_->{auth} ? " $_->{auth}" : '') } @{ http_requests($srv) }),
	join(',',
		'/oauth/token 200 issued',
		'/a/oauth/sf/query 200 ok',
		'/a/oauth/sf/query/next-2 401 expired',
		'/oauth/token 200 issued',
		'/a/oauth/sf/query/next-2 200 ok',
		'/a/oauth/sf/query/next-3 200 ok'),
	'oauth2, token expired between pages: 401 (expired), one new token, page 2 again, page 3');
is(bronze_ids('accounts'), '500|500|1|500',
	'salesforce: after five ingests, the 500 records once each (updated_gt is strict)');
is(marks('accounts'), 'watermark="' . iso_of(500) . '"', 'salesforce: the watermark of record 500');

# A wrong client secret: the token request is refused, the ingest fails
# with 28000, nothing lands.
lh_secret($node, 'oauth_wrong', 'cs-wrong-0000-1111');
add_source(
	'accounts_bad',
	{
		url => "$B/a/oauth/sf/query",
		records_path => 'records',
		id_field => 'id',
		pagination => { style => 'next_url', next_url_path => 'nextRecordsUrl' },
		auth => {
			type => 'oauth2_client_credentials',
			token_url => "$B/oauth/token",
			client_id => 'lh-client',
			client_secret_secret => 'oauth_wrong',
			scope => 'records.read'
		}
	});
http_reset($srv, { records => 250 });
($s) = ingest('accounts_bad');
is($s->{status}, 'failed', 'oauth2 with a wrong client secret: the ingest fails');
like($s->{error}, qr/^OAuth2 token request to "\Q$B\E\/oauth\/token" returned status 401/,
	'oauth2 with a wrong client secret: the error names the token URL and the status');
is( q1(q{SELECT error_sqlstate FROM lakehouse.run_stages WHERE run_id = } . $s->{run_id}),
	'28000', 'oauth2 with a wrong client secret: SQLSTATE 28000');
is(statuses('/a/oauth'), '', 'oauth2 with a wrong client secret: no API request was made');
is(q1(q{SELECT count(*) FROM bronze.accounts_bad}), '0', 'nothing landed');

# ---------------------------------------------------------------------------
# Link header pagination, basic authentication
# ---------------------------------------------------------------------------

add_source(
	'linked',
	{
		url => "$B/a/basic/link/items",
		query => { per_page => '100' },
		id_field => 'id',
		pagination => { style => 'link_header' },
		auth => { type => 'basic', username => 'lh_user', password_secret => 'basic_pw' }
	});
http_reset($srv, { records => 250 });
($s) = ingest('linked');
is($s->{status}, 'succeeded', 'link header: the ingest succeeded');
is(bronze_ids('linked'), '250|250|1|250', 'link header: the 250 records landed once each');
is_deeply(
	queries('/a/basic'),
	[ { per_page => 100 }, { page => 2, per_page => 100 }, { page => 3, per_page => 100 } ],
	'link header: rel="next" followed (among first/prev/last), no further request after the last page');
is( join(',', map { $_->{auth} } @{ http_requests($srv, '/a/basic') }),
	'ok,ok,ok', 'basic: the credentials were accepted on every request');
is(marks('linked'), '', 'link header without incremental: no marks left');

# basic credentials are not sent on to another host after a redirect
http_reset($srv,
	{ faults => [ { kind => 'redirect', path => '/a/basic', location =>
		"http://localhost:$srv->{port}/a/basic/link/items?per_page=100" } ] });
($s) = ingest('linked');
is($s->{status}, 'failed', 'basic: a redirect to another host fails');
like( join(',', map { "$_->{status}/" . ($_->{auth} // '') } @{ http_requests($srv, '/a/basic') }),
	qr{^302/ok(,401/missing)?$},
	'basic: the redirected request (if made) reached the other host without credentials');
like($s->{error}, qr/returned status 401|redirect/, 'basic: the error is the 401 (or the refused redirect)');
is(q1(q{SELECT count(*) FROM bronze.linked}), '250', 'basic: nothing more landed');

# ---------------------------------------------------------------------------
# Page number, API key in a header
# ---------------------------------------------------------------------------

add_source(
	'paged',
	{
		url => "$B/a/hkey/pages/items",
		id_field => 'id',
		pagination => {
			style => 'page',
			param => 'page',
			start => 1,
			page_size_param => 'per_page',
			page_size => 100
		},
		auth => { type => 'api_key', in => 'header', name => 'X-Api-Key', secret => 'hkey' }
	});
http_reset($srv);
($s) = ingest('paged');
is(bronze_ids('paged'), '250|250|1|250', 'page number: the 250 records landed once each');
is_deeply(
	queries('/a/hkey'),
	[ map { { page => $_, per_page => 100 } } 1 .. 3 ],
	'page number: pages 1, 2, 3; the short last page ends the pagination');
is( join(',', map { $_->{auth} } @{ http_requests($srv, '/a/hkey') }),
	'ok,ok,ok', 'API key header: accepted on every request');

# ---------------------------------------------------------------------------
# Offset/limit, API key in the query
# ---------------------------------------------------------------------------

add_source(
	'offsets',
	{
		url => "$B/a/qkey/offset/items",
		records_path => 'items',
		id_field => 'id',
		pagination => {
			style => 'offset',
			param => 'offset',
			page_size_param => 'limit',
			page_size => 50
		},
		auth => { type => 'api_key', in => 'query', name => 'api_key', secret => 'qkey' }
	});
http_reset($srv);
($s) = ingest('offsets');
is(bronze_ids('offsets'), '250|250|1|250', 'offset: the 250 records landed once each');
# (the key's value is replaced before comparing: a failure would print it)
sub key_masked
{
	return [ map { $_->{api_key} = 'the key' if ($_->{api_key} // '') eq $sec{qkey}; $_ } @{ $_[0] } ];
}
is_deeply(
	key_masked(queries('/a/qkey')),
	[ map { { offset => 50 * $_, limit => 50, api_key => 'the key' } } 0 .. 5 ],
	'offset: offsets 0..250 by 50, the empty page ends it; the API key (URL-encoded) on every request');
my $last_url = lh_mask(q1(q{SELECT last_url FROM lakehouse.http_status WHERE source = 'offsets'}));
like($last_url, qr/[?&]api_key=\*\*\*(&|$)/, 'offset: http_status.last_url shows the API key as ***');
unlike($last_url, qr/LEAKED|qk(?:%2f|\/)5151/i, 'offset: and nothing of its value');

# A 404 whose body quotes the request line (API key included): the error
# shows neither.
http_reset($srv, { faults => [ { kind => 'status', status => 404, echo => 1, path => '/a/qkey' } ] });
($s, $err) = ingest('offsets');
is($s->{status}, 'failed', 'offset: a 404 fails the ingest');
like(
	$s->{error},
	qr/^HTTP request to "\Q$B\E\/a\/qkey\/offset\/items\?[^"]*api_key=\*\*\*[^"]*" returned status 404$/,
	'offset: the 404 error names the URL with the API key as ***');
is(statuses('/a/qkey'), '404', 'offset: a 404 is not retried');
my $detail = lh_mask(q1(q{SELECT error_detail FROM lakehouse.run_stages WHERE run_id = } . $s->{run_id}));
like($detail, qr/injected 404/, 'offset: the detail quotes the response body');
unlike($detail, qr/LEAKED|qk(?:%2f|\/)5151/i, 'offset: the quoted body (which echoed the request) shows no API key');

# ---------------------------------------------------------------------------
# Cursor from a body path (nested), no authentication
# ---------------------------------------------------------------------------

add_source(
	'cursored',
	{
		url => "$B/cursor/nested",
		records_path => 'result.items',
		id_field => 'id',
		pagination => {
			style => 'cursor',
			cursor_path => 'paging.next.cursor',
			param => 'cursor',
			page_size_param => 'limit',
			page_size => 100
		}
	});
http_reset($srv);
($s) = ingest('cursored');
is(bronze_ids('cursored'), '250|250|1|250', 'cursor path: the 250 records landed once each');
my $cur = sub { my $c = encode_base64url(qq({"o": $_[0]})); $c =~ s/=+$//; $c };
is_deeply(
	queries('/cursor'),
	[
		{ limit => 100 },
		{ limit => 100, cursor => $cur->(101) },
		{ limit => 100, cursor => $cur->(201) }
	],
	'cursor path: the cursor from paging.next.cursor; a null cursor ends it');

# ---------------------------------------------------------------------------
# No pagination, the body is the array
# ---------------------------------------------------------------------------

add_source('everything', { url => "$B/all/items", id_field => 'id' });
http_reset($srv);
($s) = ingest('everything');
is(bronze_ids('everything'), '250|250|1|250', 'none: one array of 250 records landed');
is(statuses('/all'), '200', 'none: one request');

# ---------------------------------------------------------------------------
# POST with a JSON body, headers and query parameters
# ---------------------------------------------------------------------------

my $post_body = { filter => { status => 'paid' }, expand => ['customer'] };
add_source(
	'posted',
	{
		url => "$B/post/items",
		method => 'POST',
		body => $post_body,
		headers => { 'X-Trace' => 'trace-009' },
		query => { view => 'full' },
		records_path => 'data',
		id_field => 'id',
		pagination => {
			style => 'page',
			param => 'page',
			page_size_param => 'per_page',
			page_size => 100
		}
	});
http_reset($srv);
($s) = ingest('posted');
is(bronze_ids('posted'), '250|250|1|250', 'POST: the 250 records landed once each');
$reqs = http_requests($srv, '/post');
is(join(',', map { $_->{method} } @$reqs), 'POST,POST,POST', 'POST: three POST requests');
is_deeply(
	[ map { decode_json($_->{body}) } @$reqs ],
	[ ($post_body) x 3 ],
	'POST: each carried the JSON body');
is_deeply(
	[ map { http_query_hash($_->{query}) } @$reqs ],
	[ map { { view => 'full', page => $_, per_page => 100 } } 1 .. 3 ],
	'POST: the query parameters on every page request');
my $rlog = slurp_file($srv->{log});
my @post_blocks = grep { /^POST \/post\/items/ } split /\n\n+/, $rlog;
is(scalar(grep { /^X-Trace: trace-009$/m && /^Content-Type: application\/json/mi } @post_blocks),
	3, 'POST: every request had the X-Trace header and Content-Type application/json');

# ---------------------------------------------------------------------------
# A record without its id is a dead letter
# ---------------------------------------------------------------------------

add_source(
	'holes',
	{
		url => "$B/pages/items",
		id_field => 'id',
		pagination => {
			style => 'page',
			param => 'page',
			page_size_param => 'per_page',
			page_size => 10
		}
	});
http_reset($srv, { records => 30, drop_id => [5], null_id => [7] });
($s) = ingest('holes');
is($s->{status}, 'succeeded', 'dead letters: the ingest succeeds');
is( q1(q{SELECT count(*), string_agg(DISTINCT payload->>'name', ',') FILTER (WHERE payload->>'name' IN ('customer 5', 'customer 7')) FROM bronze.holes}),
	'28|', 'dead letters: 28 records landed, not the two without an id');
is( q1(
		q{SELECT string_agg(concat_ws('|', source_position, reason, convert_from(raw, 'UTF8')::jsonb->>'name', run_id IS NOT NULL), ',' ORDER BY source_position)
  FROM lakehouse.dead_letters WHERE source_name = 'holes'}
	),
	'1:5|record has no id field "id"|customer 5|t,1:7|record has no id field "id"|customer 7|t',
	'dead letters: records 5 (no id) and 7 (null id), with position, reason and the raw record');
is_deeply(
	queries('/pages'),
	[ map { { page => $_, per_page => 10 } } 1 .. 4 ],
	'dead letters: a page with dead letters is still a full page (page 4, empty, ends it)');
is(q1(q{SELECT dead_letters FROM lakehouse.source_status WHERE source = 'holes'}),
	'2', 'dead letters: source_status counts them');
http_control($srv, { drop_id => [], null_id => [] });

# ---------------------------------------------------------------------------
# max_pages: an ingest stops after max_pages, the next one continues
# ---------------------------------------------------------------------------

add_source(
	'capped',
	{
		url => "$B/pages/items",
		id_field => 'id',
		pagination => {
			style => 'page',
			param => 'page',
			page_size_param => 'per_page',
			page_size => 10,
			max_pages => 3
		}
	});
http_reset($srv, { records => 250 });
($s) = ingest('capped');
is(bronze_ids('capped'), '30|30|1|30', 'max_pages: the first ingest lands 3 pages');
is( q1(q{SELECT (resume->>'page')::int FROM lakehouse.http_status WHERE source = 'capped'}),
	'4', 'max_pages: the resume mark says page 4');
($s) = ingest('capped');
is(bronze_ids('capped'), '60|60|1|60', 'max_pages: the second ingest continues with pages 4-6');
is_deeply(
	[ map { $_->{page} } @{ queries('/pages') } ],
	[ 1 .. 6 ],
	'max_pages: pages 1-3, then 4-6');

# ---------------------------------------------------------------------------
# Invalid options: 22023, naming the option
# ---------------------------------------------------------------------------

my @bad = (
	[ {}, 'url', 'no url' ],
	[ { url => 'ftp://127.0.0.1/x' }, 'url', 'an ftp URL' ],
	[ { url => "$B/all/items", records_paht => 'data' }, 'records_paht', 'an unknown option' ],
	[ { url => "$B/all/items", pagination => { style => 'bogus' } }, 'bogus', 'an unknown pagination style' ],
	[ { url => "$B/all/items", pagination => { style => 'cursor', param => 'c' } }, 'cursor', 'a cursor without cursor_path or cursor_from' ],
	[ { url => "$B/all/items", auth => { type => 'bearer' } }, 'token_secret', 'bearer without token_secret' ],
	[ { url => "$B/all/items", auth => { type => 'kerberos' } }, 'kerberos', 'an unknown auth type' ],
	[ { url => "$B/all/items", retries => -1 }, 'retries', 'negative retries' ],
	[ { url => "$B/all/items", timeout_ms => 'soon' }, 'timeout_ms', 'a non-numeric timeout' ],
	[ { url => "$B/all/items", method => 'PATCH' }, 'method', 'an unsupported method' ],
	[ { url => "$B/all/items", poll_interval => '0s' }, 'poll_interval', 'a zero poll interval' ],
	[ { url => "$B/all/items", incremental => { field => 'created' } }, 'param', 'incremental without param' ],);
for my $b (@bad)
{
	my ($opts, $word, $what) = @$b;
	my $j = $json->encode($opts);
	my ($ret, $out, $e) = lh_psql($node,
		"SELECT lakehouse.lh_add_source('api', 'bad_src', 'http', \$j\$$j\$j\$)");
	like($e, qr/ERROR:  22023: [^\n]*\Q$word\E/, "invalid options refused with 22023 naming \"$word\": $what");
}
is(q1(q{SELECT count(*) FROM lakehouse.sources WHERE name = 'bad_src'}), '0',
	'no invalid source was created');

# A secret that does not exist: the ingest fails and names it.
add_source(
	'nosecret',
	{ url => "$B/a/bearer/all/items", auth => { type => 'bearer', token_secret => 'no_such_secret' } });
http_reset($srv);
($s) = ingest('nosecret');
is($s->{status}, 'failed', 'a missing secret fails the ingest');
like($s->{error}, qr/secret "no_such_secret" does not exist/, 'and the error names the secret');
is(statuses('/a/bearer'), '', 'no request was made without the secret');

# ---------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------

my $stats = http_stats($srv);
my @tokens = @{ $stats->{oauth}{tokens} };
ok(@tokens >= 3, 'three OAuth2 tokens or more were issued');
(my $qkey_enc = $sec{qkey}) =~ s{([^A-Za-z0-9._~-])}{sprintf('%%%02X', ord($1))}ge;
my $basic_b64 = encode_base64("lh_user:$sec{basic_pw}", '');
# the URL-encoded API key: percent escapes in either case
lh_check_secrets($node, values => [ @tokens, $qkey_enc, lc($qkey_enc), $basic_b64 ]);

my $bearer = qr/^Authorization: Bearer at\d+-[0-9a-f]+$/;
lh_check_request_log(
	$srv,
	{
		'the bearer token' => {
			match => qr/\Q$sec{stripe_key}\E/,
			allowed => [qr/^Authorization: Bearer \Q$sec{stripe_key}\E$/]
		},
		'the basic credentials (base64)' => {
			match => qr/\Q$basic_b64\E/,
			allowed => [qr/^Authorization: Basic \Q$basic_b64\E$/]
		},
		'the basic password (plain)' => { match => qr/\Q$sec{basic_pw}\E/, allowed => [] },
		'the API key (header)' => {
			match => qr/\Q$sec{hkey}\E/,
			allowed => [qr/^X-Api-Key: \Q$sec{hkey}\E$/]
		},
		'the API key (query, URL-encoded)' => {
			match => qr/\Q$qkey_enc\E/i,
			allowed => [qr{^GET /a/qkey/\S*[?&]api_key=\Q$qkey_enc\E(&|\s)}i]
		},
		'the API key (query, not encoded)' => { match => qr/\Q$sec{qkey}\E/, allowed => [] },
		'the OAuth2 client secret' => {
			match => qr/\Q$sec{oauth_cs}\E/,
			allowed => [qr/^(.*&)?client_secret=\Q$sec{oauth_cs}\E(&.*)?$/]
		},
		'the wrong OAuth2 client secret' => {
			match => qr/cs-wrong-0000-1111/,
			allowed => [qr/^(.*&)?client_secret=cs-wrong-0000-1111(&.*)?$/]
		},
		'the OAuth2 access tokens' => {
			match => qr/@{[ join('|', map { quotemeta } @tokens) ]}/,
			allowed => [$bearer]
		},
	});

$node->stop;
done_testing();

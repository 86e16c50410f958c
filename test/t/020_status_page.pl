# Copyright (c) lakehouse authors

# The status page at / of the metrics worker (lakehouse.metrics_port):
# - GET / is one self-contained HTML page (Content-Type, a
#   Content-Security-Policy that lets it load nothing and run nothing) with
#   pipelines and their last runs, runs in flight, source lag, quality
#   scores, quarantine counts and the lineage as inline SVG;
# - every value is escaped: a pipeline, source and tables named with
#   <script>, quotes, & and unicode appear as text, never as markup, and
#   no quarantined value is shown;
# - it loads nothing: no src, no external href, no url() but the SVG's own
#   markers;
# - it is bounded: at most 50 rows a section, and it says how many it left
#   out; at most 200 boxes in the lineage;
# - other paths answer 404, other methods 405, and /metrics answers as it
#   did (same head, same body as lh_metrics());
# - lh_lineage_diagram('dot') is valid Graphviz: dot -Tsvg draws it, with
#   the hostile names as its texts;
# - headless Chromium (Debian package chromium) renders the page: the
#   screenshot (kept as tmp_check/log/020_status_page.png) is a PNG of the
#   window's size whose pixels show the page's colours, the diagram's box
#   fills among them, and the DOM it dumps has the pipeline names and the
#   SVG, and no script element.
# Every wait is bounded.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";

use Compress::Zlib ();
use Encode ();
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run ();
use LakehouseHttp;
use LakehouseProc;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $dir = PostgreSQL::Test::Utils::tempdir();
my $logdir = $PostgreSQL::Test::Utils::log_path;
my $mport = PostgreSQL::Test::Cluster::get_free_port();
my $node = lh_http_node('status', conf => <<"EOC");
lakehouse.metrics_port = $mport
lakehouse.metrics_database = 'postgres'
EOC
my $ua = HTTP::Tiny->new(timeout => 30, proxy => undef, http_proxy => undef, keep_alive => 0);
my $base = "http://127.0.0.1:$mport";

# the hostile names (UTF-8 bytes, as in the SQL and in the page)
my $evil = q{evil <script>alert("pwned")</script> "q" & 'x' ü};
my $evil_src = q{src <img src=x onerror=alert(1)> "s"};
my $secret_value = 'SECRET-VALUE-4711';

sub html_escape
{
	my ($s) = @_;
	$s =~ s/&/&amp;/g;
	$s =~ s/</&lt;/g;
	$s =~ s/>/&gt;/g;
	$s =~ s/"/&quot;/g;
	$s =~ s/'/&#39;/g;
	return $s;
}

sub sql_literal
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

my $e = sql_literal($evil);
my $es = sql_literal($evil_src);
lh_sql($node, <<"EOS");
CREATE SCHEMA src;
CREATE TABLE src.t (id bigint, v text, n text, ts timestamptz);
INSERT INTO src.t SELECT g, 'v' || (g % 3), CASE WHEN g % 4 = 0 THEN '$secret_value' ELSE g::text END,
       '2024-01-01'::timestamptz + g * interval '1 s'
  FROM generate_series(1, 20) g;
SELECT lakehouse.lh_create_pipeline('shop');
SELECT lakehouse.lh_add_source('shop', 'shop_t', 'table', '{"table": "src.t", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('shop', 'silver.shop_t', 'shop_t',
       '[{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}, {"name": "n", "type": "int"}]',
       '{id}');
SELECT lakehouse.lh_add_expectation('silver.shop_t', 'not_null', '"v"');
SELECT lakehouse.lh_add_expectation('silver.shop_t', 'accepted_values', '{"column": "v", "values": ["v0", "v1"]}');
SELECT lakehouse.lh_define_gold('shop', 'gold.shop_by_v', 'SELECT v, count(*) AS n FROM silver.shop_t GROUP BY v');
SELECT lakehouse.lh_run_pipeline('shop');

SELECT lakehouse.lh_create_pipeline($e);
SELECT lakehouse.lh_add_dependency($e, 'shop');
SELECT lakehouse.lh_add_source($e, $es, 'table', '{"table": "src.t", "watermark": "ts"}',
       'bronze."evil <b>raw</b>"');
SELECT lakehouse.lh_define_silver($e, 'silver."evil ""<i>q</i>"" ü"', $es,
       '[{"name": "id", "type": "bigint"}]', '{id}');
SELECT lakehouse.lh_define_gold($e, 'gold."evil</svg><script>x</script>"',
       'SELECT e.id, s.n FROM silver."evil ""<i>q</i>"" ü" e CROSS JOIN gold.shop_by_v s');
SELECT lakehouse.lh_define_gold($e, 'gold.evil_bad', 'SELECT 1 / 0 AS x');
SELECT lakehouse.lh_run_pipeline($e);
EOS

# A run in flight: the shop pipeline's ingest waits for a lock on its
# source table, held by another session until the end of the test.
my $gates = $node->background_psql('postgres');
$gates->query_safe(q{BEGIN; LOCK TABLE src.t IN ACCESS EXCLUSIVE MODE;});
my $runner = $node->background_psql('postgres', on_error_stop => 0);
$runner->query_until(qr/started/, q{
\echo started
SELECT (lakehouse.lh_run_pipeline('shop'))->>'status';
});
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM lakehouse.run_progress WHERE pipeline = 'shop' AND stage = 'ingest'}),
	'the shop run is in flight, held in its ingest');
my $inflight_run = lh_sql($node, q{SELECT run_id FROM lakehouse.run_progress WHERE pipeline = 'shop'});
chomp $inflight_run;
my $quarantined = lh_sql($node, q{SELECT count(*) FROM lakehouse.quarantine WHERE target_table = 'silver.shop_t'});
chomp $quarantined;
ok($quarantined > 0, "the shop run quarantined rows ($quarantined)");

# --- the page comes up
my $deadline = time() + 60;
my $r;
while (time() < $deadline)
{
	$r = $ua->get("$base/");
	last if $r->{status} == 200;
	usleep(200_000);
}
is($r->{status}, 200, 'GET / answers 200');
is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'HTML, in UTF-8');
is($r->{headers}{'content-security-policy'},
	q{default-src 'none'; style-src 'unsafe-inline'; img-src data:},
	'a Content-Security-Policy that lets the page load nothing and run no script');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'X-Content-Type-Options: nosniff');
is($r->{headers}{'content-length'}, length($r->{content}), 'Content-Length is the body length in bytes');
my $html = $r->{content};
open(my $hf, '>', "$logdir/020_status_page.html") or die;
print $hf $html;
close $hf;
ok(eval { my $copy = $html; Encode::decode('UTF-8', $copy, Encode::FB_CROAK); 1 }, 'the body is valid UTF-8');
like($html, qr/^<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">/, 'an HTML5 document');

# --- escaping: names are text, never markup
unlike($html, qr/<script/i, 'no script element anywhere');
unlike($html, qr/<img|<iframe|<object|<embed|<link|<base|<form/i, 'no element that loads or submits');
my @tags = ($html =~ /(<[A-Za-z][^<>]*>)/g);
is(join(' ', grep { /\son[a-z]+\s*=/i } @tags), '', 'no tag has an event handler attribute');
my $evil_html = html_escape($evil);
ok(index($html, "<td>$evil_html</td>") >= 0, 'the hostile pipeline name is escaped text in the pipelines table')
  or diag("looked for <td>$evil_html</td>");
ok(index($html, html_escape($evil_src)) >= 0, 'the hostile source name is escaped text');
ok(index($html, html_escape(q{silver."evil ""<i>q</i>"" ü"})) >= 0,
	'the hostile silver table is escaped text in the diagram');
ok(index($html, html_escape(q{gold."evil</svg><script>x</script>"})) >= 0,
	'a table name that closes the SVG stays text');
unlike($html, qr/\Q$secret_value\E/, 'no quarantined value is shown');

# --- it loads nothing
my @refs = ($html =~ /\b(?:src|href|xlink:href|action)\s*=\s*"([^"]*)"/gi);
my @outside = grep { !/^#[A-Za-z0-9-]+$/ && $_ ne '/metrics' } @refs;
is("@outside", '', 'every link stays in the page (or is /metrics)');
my @urls = ($html =~ /url\(([^)]*)\)/g);
my @bad_urls = grep { !/^#lh-(?:dag|lineage)-arrow$/ } @urls;
is("@bad_urls", '', 'url() only names the arrow markers of the inline SVG');
my @http = grep { $_ ne 'http://www.w3.org/2000/svg' } ($html =~ m{(https?://[^"\s<)]*)}g);
is("@http", '', 'no absolute URL but the SVG namespace');

# --- the sections
for my $id (qw(pipelines in-flight sources quality quarantine lineage))
{
	like($html, qr/<section id="$id">/, "section $id");
}
sub section
{
	my ($id) = @_;
	return $html =~ m{<section id="\Q$id\E">(.*?)</section>}s ? $1 : '';
}
like(section('pipelines'), qr{<td>shop</td><td><span class="badge ok">running</span>},
	'shop: its last run is the one in flight');
like(section('pipelines'), qr{<td>\Q$evil_html\E</td><td><span class="badge bad">failed</span>},
	'the hostile pipeline: its last run failed');
like(section('pipelines'), qr{division by zero}, 'with its error');
like(section('in-flight'),
	qr{<td class="n">$inflight_run</td><td>shop</td><td>1 of 3: ingest</td><td class="c">bronze.shop_t</td>},
	'the run in flight (lakehouse.run_progress): run id, pipeline, stage, target');
like(section('sources'), qr{<td>shop_t</td><td>shop</td><td>table</td><td><span class="badge ok">enabled</span>},
	'source lag: the shop source');
like(section('quality'), qr{<td>silver.shop_t</td><td><span class="bar"><span style="width:(\d+)%"></span></span>},
	'quality: a score bar for silver.shop_t');
my ($score) = section('quality') =~ m{<td>silver.shop_t</td><td><span class="bar"><span style="width:(\d+)%"};
my $sql_score = lh_sql($node, q{SELECT floor(score)::int FROM lakehouse.dq_summary WHERE table_name = 'silver.shop_t'});
chomp $sql_score;
is($score, $sql_score, 'the bar is the score of lakehouse.dq_summary');
like(section('quarantine'), qr{<td>shop</td><td>silver.shop_t</td><td>n</td><td>type</td><td class="n">$quarantined</td>},
	'quarantine: the rows of silver.shop_t, column n, rule type');
like($html, qr{<a class="tile" href="#in-flight"><b>1</b>runs in flight</a>}, 'the tile counts the run in flight');

# the run goes on once its source is free
$gates->query_safe(q{COMMIT});
my ($status) = $runner->query(q{SELECT 'done'});
like($status, qr/^succeeded\ndone$/m, 'the run held in flight succeeded');
$gates->quit;
$runner->quit;
like($html, qr{<a class="tile alert" href="#quarantine"><b>$quarantined</b>rows in quarantine</a>},
	'the quarantine tile');

# --- the lineage as inline SVG
my $lineage = section('lineage');
like($lineage, qr{<svg xmlns="http://www.w3.org/2000/svg" id="lh-dag"}, 'the pipeline DAG is an inline SVG');
like($lineage, qr{<svg xmlns="http://www.w3.org/2000/svg" id="lh-lineage"}, 'the lineage is an inline SVG');
for my $name ('shop_t', 'bronze.shop_t', 'silver.shop_t', 'gold.shop_by_v', html_escape('pipeline shop'))
{
	like($lineage, qr{>\Q$name\E</text>}, "the lineage draws $name");
}
like($lineage, qr{<g class="lh-node lh-gold lh-failed"><title>gold.evil_bad \(gold, rebuild\): failed in the last run</title>},
	'the failed gold table is marked');

# --- other paths, other methods, and /metrics as it was
is($ua->get("$base/nope")->{status}, 404, 'another path answers 404');
is($ua->get("$base/index.html")->{status}, 404, '/index.html answers 404');
is($ua->get("$base//")->{status}, 404, '// answers 404');
is($ua->request('POST', "$base/")->{status}, 405, 'POST / answers 405');
is($ua->request('HEAD', "$base/")->{status}, 405, 'HEAD / answers 405');
is($ua->get("$base/?refresh=1")->{status}, 200, 'a query string is ignored');

sub raw_get
{
	my ($path) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mport,
		Proto => 'tcp', Timeout => 10) or die "connect: $!";
	$s->send("GET $path HTTP/1.1\r\nHost: x\r\n\r\n");
	my $all = '';
	my $buf;
	my $until = time() + 30;
	while (time() < $until && defined($s->recv($buf, 65536)) && length($buf))
	{
		$all .= $buf;
	}
	close $s;
	return $all;
}
my $m = raw_get('/metrics');
my ($head, $body) = split(/\r\n\r\n/, $m, 2);
is($head, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	  . "Content-Length: " . length($body) . "\r\nConnection: close",
	'/metrics answers with the same head as before');
# (psql drops the final newline; the age of the oldest pending event moves)
my $sql_metrics = lh_sql($node, q{SELECT lakehouse.lh_metrics()});
$sql_metrics =~ s/\n*\z/\n/;
s/^(lakehouse_lineage_outbox_oldest_pending_age_seconds) \S+$/$1 X/m for ($body, $sql_metrics);
is($body, $sql_metrics, '/metrics serves lh_metrics()');
like(raw_get('/nope'), qr{^HTTP/1\.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n.*\r\n\r\nnot found; try / or /metrics\n\z}s,
	'the 404 names both paths');

# --- Graphviz draws lh_lineage_diagram('dot'), with the names as texts
SKIP:
{
	skip 'graphviz (dot) is not installed (scripts/install-deps.sh installs it)', 3
	  unless -x '/usr/bin/dot';
	my $dot = lh_sql($node, q{SELECT lakehouse.lh_lineage_diagram('dot')});
	open(my $df, '>', "$logdir/020_lineage.dot") or die;
	print $df $dot;
	close $df;
	my ($svg, $err) = ('', '');
	my $ok = IPC::Run::run(['/usr/bin/dot', '-Tsvg', "$logdir/020_lineage.dot"],
		'>', \$svg, '2>', \$err, IPC::Run::timeout(60));
	ok($ok, 'dot -Tsvg accepts the DOT output') or diag($err);
	my %texts;
	while ($svg =~ m{<text[^>]*>([^<]*)</text>}g)
	{
		my $t = $1;
		$t =~ s/&lt;/</g;
		$t =~ s/&gt;/>/g;
		$t =~ s/&quot;/"/g;
		$t =~ s/&#39;/'/g;
		$t =~ s/&#45;/-/g;
		$t =~ s/&amp;/&/g;
		$texts{$t} = 1;
	}
	ok($texts{"pipeline $evil"}, 'Graphviz shows the hostile pipeline name as it is')
	  or diag(join("\n", sort keys %texts));
	ok($texts{q{gold."evil</svg><script>x</script>"}},
		'and the table name that closes the SVG');
}

# --- headless Chromium: a screenshot and the DOM
my $chromium = '/usr/bin/chromium';

sub run_chromium
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run(['env', "HOME=$dir/home", $chromium, '--headless', '--no-sandbox', '--disable-gpu',
			"--user-data-dir=$dir/chromium", '--no-first-run', '--hide-scrollbars', @args],
			'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	};
	return ($ok, $out, $err . ($@ // ''));
}

SKIP:
{
	my ($runs, $version) = (0, '');
	if (-x $chromium)
	{
		my ($ok, $out, $err) = run_chromium('--version');
		($runs, $version) = ($ok, $out);
		diag("chromium cannot run: $err") unless $ok;
	}
	skip "chromium cannot run here (not installed, or it fails to start; scripts/install-deps.sh installs it)", 15
	  unless $runs;
	note("using $version");
	mkdir("$dir/home");

	my $png = "$logdir/020_status_page.png";
	unlink $png;
	my ($ok, $out, $err) = run_chromium("--screenshot=$png", '--window-size=1280,2000', "$base/");
	ok($ok && -s $png, "Chromium took a screenshot of the page ($png)") or diag($err);
	my $img = png_decode($png);
	is($img->{error}, undef, 'the screenshot is a PNG Chromium could write and we can read');
	is("$img->{width}x$img->{height}", '1280x2000', 'of the window size');
	ok(-s $png > 20_000, 'of non-trivial size (' . (-s $png) . ' bytes)');
	ok(keys(%{ $img->{colors} }) > 20, 'with many colours (' . keys(%{ $img->{colors} }) . '), not a blank page');
	my %want = (header => '263238', source => 'e3ecfa', bronze => 'f6e5d6', silver => 'eceff1',
		gold => 'fff3c4');
	for my $what (sort keys %want)
	{
		ok(has_color($img, $want{$what}), "the $what colour (#$want{$what}) is on the screenshot");
	}

	($ok, my $dom, $err) = run_chromium('--dump-dom', "$base/");
	ok($ok, 'Chromium dumped the DOM') or diag($err);
	open(my $domf, '>', "$logdir/020_status_page.dom.html") or die;
	print $domf $dom;
	close $domf;
	ok(index($dom, q{evil &lt;script&gt;alert("pwned")&lt;/script&gt; "q" &amp; 'x' ü}) >= 0
		  && index($dom, '<td>shop</td>') >= 0,
		'the DOM has the pipeline names, as text')
	  or diag(substr($dom, 0, 2000));
	ok($dom =~ /<svg[^>]* id="lh-lineage"/ && $dom =~ /<svg[^>]* id="lh-dag"/ && $dom !~ /<script/i,
		'the DOM has both SVG pictures and no script element');

	# Optional: Mermaid itself renders lh_lineage_diagram('mermaid') and
	# gives the names back (LH_MERMAID_JS: a mermaid.min.js, from the npm
	# package mermaid; not a dependency of the tests, it is large).
	my $mermaid_js = $ENV{LH_MERMAID_JS} // '';
	skip 'set LH_MERMAID_JS to a mermaid.min.js to render the Mermaid output too', 2
	  unless $mermaid_js ne '' && -r $mermaid_js;
	my $mmd = lh_sql($node, q{SELECT lakehouse.lh_lineage_diagram('mermaid')});
	open(my $mf, '>', "$dir/mermaid.html") or die;
	print $mf '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre class="mermaid">'
	  . html_escape($mmd) . qq{</pre><script src="file://$mermaid_js"></script><script>}
	  . q{mermaid.initialize({startOnLoad: false, securityLevel: 'strict'});}
	  . q{mermaid.run({querySelector: '.mermaid'})}
	  . q{.then(() => document.body.setAttribute('data-rendered', 'yes'))}
	  . q{.catch(e => document.body.setAttribute('data-rendered', 'error: ' + e));}
	  . '</script></body></html>';
	close $mf;
	($ok, my $mdom, $err) = run_chromium('--allow-file-access-from-files', '--virtual-time-budget=15000',
		'--dump-dom', "file://$dir/mermaid.html");
	like($mdom, qr/data-rendered="yes"/, 'Mermaid parses and renders the flowchart')
	  or diag($err . substr($mdom, 0, 3000));
	my $evil_dom = $evil;
	$evil_dom =~ s/&/&amp;/g;
	$evil_dom =~ s/</&lt;/g;
	$evil_dom =~ s/>/&gt;/g;
	ok(index($mdom, "<p>$evil_dom</p>") >= 0, 'and shows the hostile pipeline name as it is');
}

# --- bounded: more pipelines than a section shows
lh_sql($node, <<'EOS');
SELECT lakehouse.lh_create_pipeline(format('bulk_%s', lpad(g::text, 3, '0'))) FROM generate_series(1, 58) g;
SELECT lakehouse.lh_add_source(format('bulk_%s', lpad(g::text, 3, '0')), format('bulk_src_%s_%s', g, k),
       'table', '{"table": "src.t", "watermark": "ts"}')
  FROM generate_series(1, 58) g, generate_series(1, 2) k;
EOS
$r = $ua->get("$base/");
is($r->{status}, 200, 'the page with 60 pipelines');
$html = $r->{content};
open($hf, '>', "$logdir/020_status_page_bounded.html") or die;
print $hf $html;
close $hf;
my @rows = (section('pipelines') =~ m{<tr><td>}g);
is(scalar(@rows), 50, 'the pipelines section shows 50 rows');
like(section('pipelines'), qr{<p class="more">10 more not shown \(this page shows at most 50 rows per section\)\.</p>},
	'and says how many it left out');
like(section('sources'), qr{<p class="more">\d+ more not shown}, 'so does source lag');
my ($lineage_svg) = section('lineage') =~ m{(<svg[^>]* id="lh-lineage".*?</svg>)}s;
my @boxes = ($lineage_svg =~ m{<g class="lh-node}g);
# (by name: bulk_001 to bulk_050, 4 boxes each, fill the 200)
is(scalar(@boxes), 200, 'the lineage draws at most 200 boxes, whole pipelines');
like(section('lineage'), qr{<p class="more">10 more pipelines not drawn \(this page draws at most 200 boxes a picture\)},
	'and says how many pipelines it left out');
my ($dag_svg) = section('lineage') =~ m{(<svg[^>]* id="lh-dag".*?</svg>)}s;
my @pipeline_boxes = ($dag_svg =~ m{<g class="lh-node lh-pipeline}g);
is(scalar(@pipeline_boxes), 60, 'the DAG draws the 60 pipelines');
ok(length($html) < 2_000_000, 'the page stays small (' . length($html) . ' bytes)');


$node->stop;
done_testing();

# ---------- a PNG reader: enough for Chromium's screenshots ----------

# Decode an 8-bit, non-interlaced RGB or RGBA PNG: {width, height, colors
# (a hash of "rrggbb" => pixels)} or {error}.
sub png_decode
{
	my ($file) = @_;
	open(my $fh, '<:raw', $file) or return { error => "cannot open $file: $!" };
	local $/;
	my $data = <$fh>;
	close $fh;
	return { error => 'not a PNG signature' } unless substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n";
	my ($pos, $idat, %ihdr) = (8, '');
	while ($pos + 8 <= length($data))
	{
		my ($len, $type) = unpack('N a4', substr($data, $pos, 8));
		my $chunk = substr($data, $pos + 8, $len);
		if ($type eq 'IHDR')
		{
			@ihdr{qw(width height depth ctype comp filter interlace)} = unpack('N N C C C C C', $chunk);
		}
		$idat .= $chunk if $type eq 'IDAT';
		last if $type eq 'IEND';
		$pos += 12 + $len;
	}
	return { error => 'no IHDR' } unless $ihdr{width};
	return { error => "unsupported PNG: depth $ihdr{depth}, colour type $ihdr{ctype}, interlace $ihdr{interlace}" }
	  unless $ihdr{depth} == 8 && ($ihdr{ctype} == 2 || $ihdr{ctype} == 6) && !$ihdr{interlace};
	my $raw = Compress::Zlib::uncompress($idat);
	return { error => 'IDAT does not inflate' } unless defined $raw;
	my $bpp = $ihdr{ctype} == 6 ? 4 : 3;
	my $stride = $ihdr{width} * $bpp;
	return { error => 'IDAT has the wrong size' } unless length($raw) == ($stride + 1) * $ihdr{height};
	my @prev = (0) x $stride;
	my %colors;
	for my $y (0 .. $ihdr{height} - 1)
	{
		my $ft = ord(substr($raw, $y * ($stride + 1), 1));
		my @cur = unpack('C*', substr($raw, $y * ($stride + 1) + 1, $stride));
		if ($ft == 1)
		{
			$cur[$_] = ($cur[$_] + $cur[$_ - $bpp]) & 255 for $bpp .. $stride - 1;
		}
		elsif ($ft == 2)
		{
			$cur[$_] = ($cur[$_] + $prev[$_]) & 255 for 0 .. $stride - 1;
		}
		elsif ($ft == 3)
		{
			for my $i (0 .. $stride - 1)
			{
				my $a = $i >= $bpp ? $cur[$i - $bpp] : 0;
				$cur[$i] = ($cur[$i] + (($a + $prev[$i]) >> 1)) & 255;
			}
		}
		elsif ($ft == 4)
		{
			for my $i (0 .. $stride - 1)
			{
				my $a = $i >= $bpp ? $cur[$i - $bpp] : 0;
				my $c = $i >= $bpp ? $prev[$i - $bpp] : 0;
				my $b = $prev[$i];
				my $p = $a + $b - $c;
				my ($pa, $pb, $pc) = (abs($p - $a), abs($p - $b), abs($p - $c));
				my $pred = ($pa <= $pb && $pa <= $pc) ? $a : ($pb <= $pc) ? $b : $c;
				$cur[$i] = ($cur[$i] + $pred) & 255;
			}
		}
		elsif ($ft != 0)
		{
			return { error => "invalid filter type $ft in row $y" };
		}
		for (my $i = 0; $i < $stride; $i += $bpp)
		{
			$colors{ sprintf('%02x%02x%02x', @cur[$i .. $i + 2]) }++;
		}
		@prev = @cur;
	}
	return { width => $ihdr{width}, height => $ihdr{height}, colors => \%colors };
}

# Whether a colour (rrggbb) covers at least 100 pixels, give or take 2 per channel.
sub has_color
{
	my ($img, $hex) = @_;
	my @want = map { hex } ($hex =~ /(..)(..)(..)/);
	my $n = 0;
	for my $c (keys %{ $img->{colors} })
	{
		my @got = map { hex } ($c =~ /(..)(..)(..)/);
		$n += $img->{colors}{$c}
		  if abs($got[0] - $want[0]) <= 2 && abs($got[1] - $want[1]) <= 2 && abs($got[2] - $want[2]) <= 2;
	}
	return $n >= 100;
}

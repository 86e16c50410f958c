
# Copyright (c) lakehouse authors

# Secrets at rest and in use (src/security/secrets.c), with every statement
# logged (log_statement = all, log_min_error_statement = debug5):
# - the key file named by lakehouse.secret_key_file must be private (0600,
#   owned by the server's user) and hold 64 hex digits;
# - a value from a server file (lh_set_secret_from_file), an environment
#   variable (env:) and a file reference (file:) each authenticate an HTTP
#   source against the local test API;
# - the table holds ciphertext only; pg_dump has neither values nor
#   ciphertext; a file reference with group access is refused at use with
#   an error naming the file, not the value;
# - key rotation: after switching the key file the old ciphertext does not
#   decrypt, lh_rotate_secret_key re-encrypts it, sources work again;
# - with no key file configured, the first secret creates
#   lakehouse_secret.key (mode 0600) in the data directory, and the LOG line
#   saying so does not log the statement that holds the value;
# - no secret value appears in the server log, psql output, the catalog,
#   pg_stat_activity or the test log.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";

use JSON::PP;
use LakehouseHttp;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $srv = http_server_start(name => '016', records => 20);
my $B = $srv->{base};
my $dir = PostgreSQL::Test::Utils::tempdir();
my $json = JSON::PP->new->canonical;

my %tok = (
	from_file => 'tok-ff-7c1e9a44b2d0',
	env => 'tok-env-31f0c2d9e8aa',
	file_ref => 'tok-ref-5be7d6a10c93',);

sub write_file
{
	my ($path, $content, $mode) = @_;
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh $content;
	close($fh);
	chmod($mode, $path) or die "chmod $path: $!";
	return;
}

my $key1 = "$dir/key1";
my $key2 = "$dir/key2";
write_file($key1, ('a1' x 32) . "\n", 0644);
write_file($key2, ('5c' x 32) . "\n", 0600);
write_file("$dir/tok_ff", "$tok{from_file}\n", 0600);
write_file("$dir/tok_ref", "$tok{file_ref}\n", 0600);

# the server inherits the environment variable
$ENV{LH_TEST_API_TOKEN} = $tok{env};
my $node = lh_http_node(
	'secrets',
	conf => "lakehouse.secret_key_file = '$key1'\n"
	  . "log_statement = all\nlog_min_error_statement = debug5\n"
	  . "log_error_verbosity = verbose\n");
delete $ENV{LH_TEST_API_TOKEN};
lh_add_secret_value(values %tok);

sub q1 { return lh_sql($node, $_[0]); }

sub try_sql
{
	my ($sql) = @_;
	my ($ret, $out, $err) = lh_psql($node, $sql);
	return ($ret, lh_mask($err));
}

# ---------------------------------------------------------------------------
# The key file must be private and well-formed
# ---------------------------------------------------------------------------
my ($ret, $err) =
  try_sql("SELECT lakehouse.lh_set_secret_from_file('api_ff', '$dir/tok_ff')");
isnt($ret, 0, 'a key file with group or world access is refused');
like($err, qr/secret key file ".*key1" has group or world access/,
	'the error names the key file');
chmod(0600, $key1);
write_file($key1, "not hex\n", 0600);
($ret, $err) =
  try_sql("SELECT lakehouse.lh_set_secret_from_file('api_ff', '$dir/tok_ff')");
like($err, qr/invalid secret key file/, 'a key file without 64 hex digits is refused');
write_file($key1, ('a1' x 32) . "\n", 0600);

# ---------------------------------------------------------------------------
# Three ways in, none in a statement
# ---------------------------------------------------------------------------
q1("SELECT lakehouse.lh_set_secret_from_file('api_ff', '$dir/tok_ff')");
q1("SELECT lakehouse.lh_set_secret_reference('api_env', 'env:LH_TEST_API_TOKEN')");
q1("SELECT lakehouse.lh_set_secret_reference('api_ref', 'file:$dir/tok_ref')");
is(q1("SELECT string_agg(name || ':' || kind, ',' ORDER BY name) FROM lakehouse.secret_list"),
	'api_env:env,api_ff:encrypted,api_ref:file',
	'secret_list shows names and kinds');
is(q1("SELECT value LIKE 'lh1:%' FROM lakehouse.secrets WHERE name = 'api_ff'"),
	't', 'the stored value is ciphertext');

http_control(
	$srv,
	{
		auth => {
			'/a/ff' => { type => 'bearer', token => $tok{from_file} },
			'/a/env' => { type => 'bearer', token => $tok{env} },
			'/a/ref' => { type => 'bearer', token => $tok{file_ref} },
		}
	});
q1("SELECT lakehouse.lh_create_pipeline('sec_api')");
for my $s (['ff', 'api_ff'], ['env', 'api_env'], ['ref', 'api_ref'])
{
	my $opts = $json->encode(
		{
			url => "$B/a/$s->[0]/stripe/v1/charges",
			records_path => 'data',
			id_field => 'id',
			auth => { type => 'bearer', token_secret => $s->[1] }
		});
	q1("SELECT lakehouse.lh_add_source('sec_api', 'src_$s->[0]', 'http', \$j\$$opts\$j\$)");
}

sub ingest
{
	my ($name) = @_;
	my ($r, $out, $e) = lh_psql($node, "SELECT lakehouse.lh_ingest('$name')");
	die "lh_ingest('$name') did not return: " . lh_mask($e) if $r != 0;
	my $sum = decode_json($out);
	$sum->{error} = lh_mask($sum->{error});
	return $sum;
}

for my $s (qw(ff env ref))
{
	my $sum = ingest("src_$s");
	is($sum->{status}, 'succeeded', "$s: the ingest succeeded");
	is(q1("SELECT count(*) FROM bronze.src_$s"), '10', "$s: the first page (10 records) landed");
}
is( join(',', map { $_->{auth} } @{ http_requests($srv, '/a/') }),
	'ok,ok,ok', 'the API accepted each token');

# a file reference that others can read is refused at use, naming the file
chmod(0644, "$dir/tok_ref");
my $sum = ingest('src_ref');
is($sum->{status}, 'failed', 'a group-readable secret file fails the ingest');
like($sum->{error}, qr/secret file ".*tok_ref" has group or world access/,
	'the error names the file');
chmod(0600, "$dir/tok_ref");

# ---------------------------------------------------------------------------
# pg_dump: no values, no ciphertext
# ---------------------------------------------------------------------------
my $dump = "$dir/dump.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ],
	'pg_dump succeeds');
my $dumped = slurp_file($dump);
unlike($dumped, qr/lh1:/, 'the dump holds no ciphertext');
like($dumped, qr/src_ff/, 'the dump holds the sources');

# ---------------------------------------------------------------------------
# Key rotation
# ---------------------------------------------------------------------------
q1("ALTER SYSTEM SET lakehouse.secret_key_file = '$key2'");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('lakehouse.secret_key_file') = '$key2'")
  or die 'the new key file was not picked up';
($ret, $err) = try_sql("SELECT lakehouse.lh_check_secret('api_ff')");
like($err, qr/could not decrypt secret "api_ff".*\n.*different key/,
	'under a new key the old ciphertext is named as such');
is(q1("SELECT lakehouse.lh_rotate_secret_key('$key1')"),
	'1', 'lh_rotate_secret_key re-encrypts the one encrypted secret');
is(q1("SELECT lakehouse.lh_check_secret('api_ff')"), 't', 'it decrypts under the new key');
$sum = ingest('src_ff');
is($sum->{status}, 'succeeded', 'the source works after the rotation');

# ---------------------------------------------------------------------------
# No key file configured: one is created in the data directory
# ---------------------------------------------------------------------------
q1("ALTER SYSTEM SET lakehouse.secret_key_file = ''");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('lakehouse.secret_key_file') = ''")
  or die 'the key file setting was not reset';
my $default_key = $node->data_dir . '/lakehouse_secret.key';
ok(!-e $default_key, 'no default key file yet');
# A literal value, with statement logging off for the session but
# log_min_error_statement at its default: the LOG line about the new key
# file must not bring the statement (and the value) with it.
my $literal = 'tok-lit-9d2c4b7e61f0';
lh_add_secret_value($literal);
q1("SET log_statement = 'none'; SET log_min_error_statement = 'error';\n"
	  . "SELECT lakehouse.lh_set_secret('api_lit', '$literal')");
ok(-f $default_key, 'the first secret created lakehouse_secret.key');
is(sprintf('%04o', (stat($default_key))[2] & 07777), '0600', 'with mode 0600');
like(slurp_file($node->logfile), qr/created secret key file/, 'the server log says so');
is(q1("SELECT lakehouse.lh_check_secret('api_lit')"), 't', 'and the secret decrypts');

# ---------------------------------------------------------------------------
# Nowhere else
# ---------------------------------------------------------------------------
is(q1("SELECT count(*) FROM lakehouse.secrets WHERE value LIKE '%tok-%'"),
	'0', 'no plaintext in lakehouse.secrets');
lh_check_secrets($node, values => [ values %tok, $literal ], extra => [$dumped]);

$node->stop;
http_server_stop($srv);
done_testing();

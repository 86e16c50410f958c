
# Copyright (c) lakehouse authors

# Data contracts against the official ODCS v3.1.0 JSON schema (ajv): the
# contracts we ship (samples/contracts/) are valid, so are the documents the
# extension stores for them and exports from its catalog (after attaching
# them through SQL and through lh_apply_config_file with a relative contract
# path), lh_export_contract's documents with classifications recorded later
# are valid and attaching them again changes nothing, and invalid documents
# are rejected by both ajv and the extension.
# YAML contracts are validated in the JSON form the extension stores: that
# is the conversion users depend on.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $validate = "$root/test/contracts/validate.js";

plan skip_all => 'node is not installed'
  unless system('node --version >/dev/null 2>&1') == 0;
plan skip_all => 'ajv is not installed in test/node_modules (scripts/install-deps.sh)'
  unless -f "$root/test/node_modules/ajv/dist/2019.js";

my $tmp = PostgreSQL::Test::Utils::tempdir;

sub slurp
{
	my ($file) = @_;
	open my $fh, '<', $file or die "could not open $file: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

sub spew
{
	my ($file, $text) = @_;
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $text;
	close $fh;
}

# Run validate.js; returns (exit code, output).
sub ajv
{
	my @args = @_;
	my $out = `node $validate @args 2>&1`;
	return ($? >> 8, $out);
}

my @samples = sort glob("$root/samples/contracts/*.yaml $root/samples/contracts/*.json");
ok(scalar(@samples) >= 2, 'samples/contracts holds contracts');
my @json_samples = grep { /\.json$/ } @samples;
my ($rc, $out) = ajv(@json_samples);
is($rc, 0, 'shipped JSON contracts are valid ODCS v3.1.0') or diag($out);

my @invalid = sort glob("$root/test/contracts/invalid/*.json");
($rc, $out) = ajv('--invalid', @invalid);
is($rc, 0, 'ajv rejects every invalid document') or diag($out);

my $node = PostgreSQL::Test::Cluster->new('contracts');
$node->init;
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION lakehouse;
CREATE SCHEMA gold;
CREATE TABLE gold.daily_revenue (day date PRIMARY KEY, orders bigint NOT NULL,
                                 revenue numeric(14,2) NOT NULL, units bigint NOT NULL);
CREATE TABLE gold.fact_sales (order_id bigint, order_ts timestamptz, order_date date,
    status text, customer_id bigint, customer_name text, country text, sku text,
    product_id bigint, product_name text, category text, quantity int,
    unit_price numeric(12,2), amount numeric(14,2));
});

# Attach every shipped contract to the demo table it describes, export the
# stored document and validate it.
foreach my $file (@samples)
{
	my ($table) = $file =~ m{/([a-z_]+)\.(?:yaml|json)$};
	my $text = slurp($file);
	$node->safe_psql('postgres',
		"SELECT lakehouse.lh_attach_contract('gold.$table', \$odcs\$$text\$odcs\$)");
	my $doc = $node->safe_psql('postgres',
		"SELECT document FROM lakehouse.contracts WHERE table_name = '$table'");
	spew("$tmp/exported_$table.json", $doc);
	($rc, $out) = ajv("$tmp/exported_$table.json");
	is($rc, 0, "document exported after attaching $table is valid ODCS")
	  or diag($out);
}
is( $node->safe_psql(
		'postgres',
		q{SELECT count(*) FROM lakehouse.lh_contract_diff('gold.daily_revenue')}),
	'0',
	'daily_revenue agrees with its contract');

# lh_export_contract: the document in force, with classifications recorded
# after attaching (lh_classify).  ODCS v3.1 makes "classification" a string
# key of each property (SchemaBaseProperty in the official schema; "Can be
# anything, like confidential, restricted, and public", docs/schema.md of
# bitol-io/open-data-contract-standard): the export must stay valid with it.
$node->safe_psql(
	'postgres', q{
SELECT lakehouse.lh_classify('gold.daily_revenue', 'revenue', 'confidential');
SELECT lakehouse.lh_classify('gold.fact_sales', 'customer_name', 'pii');
SELECT lakehouse.lh_classify('gold.fact_sales', 'country', 'public');
});
foreach my $table ('daily_revenue', 'fact_sales')
{
	my $export = $node->safe_psql('postgres',
		"SELECT lakehouse.lh_export_contract('gold.$table')");
	spew("$tmp/export_$table.json", $export);
	($rc, $out) = ajv("$tmp/export_$table.json");
	is($rc, 0, "lh_export_contract of $table with later classifications is valid ODCS")
	  or diag($out);

	# attaching the export again changes nothing: same row version, same
	# attached_at, same document, same triggers, no audit record
	my $state = qq{SELECT c.xmin::text || ' ' || c.attached_at || ' ' || md5(c.document::text)
	                      || ' ' || c.on_violation || ' '
	                      || (SELECT string_agg(t.oid::text, ',' ORDER BY t.tgname)
	                            FROM pg_trigger t WHERE t.tgrelid = 'gold.$table'::regclass)
	                      || ' ' || (SELECT count(*) FROM lakehouse.audit_log)
	                 FROM lakehouse.contracts c WHERE c.table_name = '$table'};
	my $before = $node->safe_psql('postgres', $state);
	$node->safe_psql('postgres',
		"SELECT lakehouse.lh_attach_contract('gold.$table', \$odcs\$$export\$odcs\$)");
	is($node->safe_psql('postgres', $state),
		$before, "attaching the export of $table again changes nothing");
	is( $node->safe_psql(
			'postgres', "SELECT lakehouse.lh_export_contract('gold.$table')"),
		$export,
		"the export of $table is the same after attaching it again");
}
is( $node->safe_psql(
		'postgres',
		q{SELECT jsonb_path_query_first(lakehouse.lh_export_contract('gold.fact_sales'),
		     '$.schema[0].properties[*] ? (@.name == "customer_name").classification') #>> '{}'}),
	'pii',
	'the export carries the classification recorded later');

# The extension refuses what ajv refuses.
foreach my $file (@invalid)
{
	my $text = slurp($file);
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SELECT lakehouse.lh_attach_contract('gold.daily_revenue', \$odcs\$$text\$odcs\$)");
	isnt($ret, 0, "extension rejects $file");
	like($stderr, qr/invalid data contract/, "rejection of $file names the problem");
}

# A pipeline whose gold table takes its contract from a file next to the
# configuration (lh_apply_config_file, relative path).
$node->safe_psql('postgres', 'DROP TABLE gold.daily_revenue');
mkdir "$tmp/conf";
copy("$root/samples/contracts/daily_revenue.yaml", "$tmp/conf/daily_revenue.yaml")
  or die "copy failed: $!";
spew(
	"$tmp/conf/pipeline.yaml", q{
pipeline: revenue
gold:
  - table: gold.daily_revenue
    sql: |
      SELECT d::date AS day, 2::bigint AS orders, 19.90::numeric(14,2) AS revenue,
             3::bigint AS units
        FROM generate_series(date '2024-01-01', date '2024-01-31', interval '1 day') AS d
    on_violation: quarantine
    contract: daily_revenue.yaml
});
$node->safe_psql('postgres',
	"SELECT lakehouse.lh_apply_config_file('$tmp/conf/pipeline.yaml')");
is( $node->safe_psql(
		'postgres', q{SELECT lakehouse.lh_run_pipeline('revenue') ->> 'status'}),
	'succeeded',
	'the pipeline with a file contract runs');
is( $node->safe_psql(
		'postgres',
		q{SELECT on_violation || ' ' || contract_id FROM lakehouse.contracts
           WHERE table_name = 'daily_revenue'}),
	'quarantine daily-revenue',
	'the contract from the file is attached with its mode');
my $doc = $node->safe_psql('postgres',
	q{SELECT document FROM lakehouse.contracts WHERE table_name = 'daily_revenue'});
spew("$tmp/exported_pipeline.json", $doc);
($rc, $out) = ajv("$tmp/exported_pipeline.json");
is($rc, 0, 'document attached from the pipeline file is valid ODCS') or diag($out);

# applying the same configuration again leaves its contract alone: the
# contract in force is attached again, which is a no-op
my $attached = $node->safe_psql('postgres',
	q{SELECT xmin::text || ' ' || attached_at FROM lakehouse.contracts WHERE table_name = 'daily_revenue'});
$node->safe_psql('postgres',
	"SELECT lakehouse.lh_apply_config_file('$tmp/conf/pipeline.yaml')");
is( $node->safe_psql(
		'postgres',
		q{SELECT xmin::text || ' ' || attached_at FROM lakehouse.contracts WHERE table_name = 'daily_revenue'}),
	$attached,
	'applying the pipeline again does not attach its contract anew');

# pg_dump keeps contracts: the catalog rows (config tables) and the
# triggers (with their table); the restored table enforces its contract.
my $dump = "$tmp/dump.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ],
	'pg_dump of a database with contracts');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'),
	  '-f', $dump ],
	'restore of the dump');
is( $node->safe_psql(
		'restored',
		q{SELECT count(*) FROM lakehouse.contracts WHERE table_name = 'daily_revenue'}),
	'1',
	'the restored catalog holds the contract');
my ($ret, $stdout, $stderr) = $node->psql('restored',
	q{INSERT INTO gold.daily_revenue VALUES ('2024-02-01', 0, 1.00, 1)});
is($ret, 0, 'quarantine mode: the broken row does not fail the insert');
is( $node->safe_psql(
		'restored',
		q{SELECT rule || ' ' || column_name FROM lakehouse.quarantine
           WHERE target_table = 'gold.daily_revenue'}),
	'contract:minimum orders',
	'the restored contract quarantines the row that breaks it');

$node->stop;
done_testing();


# Copyright (c) lakehouse authors

# The 0.1 -> 0.2 upgrade, as an installation goes through it.
#
# One node runs from a private copy of the PostgreSQL installation
# (test/upgrade/build-old.sh mirror) into which "the package" of lakehouse
# 0.1 is installed: the released tree, built from git by scripts/run-tests.sh
# (LH_OLD_STAGE; without git history the test fails, it is not skipped).
# On 0.1 the sample pipelines run for real: "orders" (CSV and JSON-lines file
# sources, a table source, silver tables with quarantine and expectations,
# rebuild and merge gold with a data contract, a pg_cron schedule) plus an
# SCD2 gold table, "returns" (depends on "orders"), a pipeline of another
# role with a table source, a disabled HTTP source of that role using an
# encrypted secret, and a pipeline whose creator was dropped since.  Then the
# node stops, the package of the current build (the system installation)
# replaces 0.1's, and the node starts again.  The test proves:
# - before ALTER EXTENSION UPDATE the 0.2 library refuses to run a pipeline,
#   saying to run ALTER EXTENSION lakehouse UPDATE, and changes nothing;
# - ALTER EXTENSION lakehouse UPDATE reaches 0.2 and keeps every definition,
#   row, mark, run and quarantine record and the secret's ciphertext; it
#   fills what 0.2 adds (pipeline owners from their creators or else the
#   extension owner, secret owners, secret_grants for the secrets that other
#   owners' sources use, sources.disabled_reason, the catalog guard);
# - new input lands incrementally (only the new rows reach bronze, the marks
#   advance) and gold is right after the next runs;
# - the updated catalog is the one a fresh CREATE EXTENSION makes
#   (test/upgrade/describe.sql prints the same), and after
#   lh_create_roles() (which the docs say to run after an update) the
#   privileges and what pg_dump dumps of the lakehouse objects and schemas
#   are the same too -- also in a database where 0.1's lh_create_roles()
#   had granted 0.1's privileges.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Copy qw(copy);
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::RecursiveCopy;
use PostgreSQL::Test::Utils;
use Test::More;

my $build_old = "$FindBin::RealBin/../upgrade/build-old.sh";
my $describe_sql = "$FindBin::RealBin/../upgrade/describe.sql";
my $samples_src = "$FindBin::RealBin/../../samples";

# ---------------------------------------------------------------------------
# lakehouse 0.1, built by scripts/run-tests.sh

my $stage = $ENV{LH_OLD_STAGE};
my $syslib = `pg_config --pkglibdir`;
chomp $syslib;
unless (defined $stage && -f "$stage$syslib/lakehouse.so")
{
	fail('lakehouse 0.1 is available for the upgrade test');
	diag(
		$ENV{LH_OLD_ERROR}
		  || (defined $stage
			? "LH_OLD_STAGE=$stage holds no $syslib/lakehouse.so"
			: 'LH_OLD_STAGE is not set')
		  . ': run the tests with scripts/run-tests.sh from a git clone'
		  . ' (it builds the tag v0.1 with test/upgrade/build-old.sh build OUT),'
		  . ' or set LH_OLD_STAGE to OUT/stage of such a build');
	done_testing();
	exit;
}
my $old_commit = slurp_file("$stage/COMMIT");
chomp $old_commit;
note "lakehouse 0.1 from commit $old_commit, staged in $stage";

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $inst = "$tmp/inst";
my $bindir = `pg_config --bindir`;
chomp $bindir;
ok(run_log([ 'bash', $build_old, 'mirror', $inst ]),
	'a private copy of the PostgreSQL installation');
ok(run_log([ 'bash', $build_old, 'package', $inst, $stage ]),
	'the lakehouse 0.1 package installed into it');
my $install_path = dirname("$inst$bindir");
is(`$inst$bindir/pg_config --sharedir`,
	"$inst" . `pg_config --sharedir`,
	'its pg_config finds its own share directory');

# the samples, in a directory of the test's own: the test adds input files
my $samples = "$tmp/samples";
PostgreSQL::Test::RecursiveCopy::copypath($samples_src, $samples,
	filterfn => sub { $_[0] !~ /\.py$/ });

my $node = PostgreSQL::Test::Cluster->new('upgrade',
	install_path => $install_path);
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron,lakehouse'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 32
lc_messages = 'C'
timezone = 'UTC'
jit = off
synchronous_commit = off
});
$node->start;

sub q1
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'postgres', $sql);
}

# compare_text(NAME, GOT, EXPECTED): equal, or the first lines of a diff
my $ncmp = 0;
sub compare_text
{
	my ($name, $got, $expected) = @_;
	$ncmp++;
	my ($fa, $fb) = ("$tmp/cmp$ncmp.expected", "$tmp/cmp$ncmp.got");
	PostgreSQL::Test::Utils::append_to_file($fa, "$expected\n");
	PostgreSQL::Test::Utils::append_to_file($fb, "$got\n");
	my ($out, $err);
	IPC::Run::run([ 'diff', '-u', $fa, $fb ], '>', \$out, '2>', \$err);
	my @lines = split /\n/, $out;
	ok($out eq '', $name) or diag(
		join("\n", @lines > 80 ? @lines[ 0 .. 79 ] : @lines)
		  . (@lines > 80 ? "\n... (the whole diff: diff -u $fa $fb)" : ''));
	return;
}

is(q1(q{CREATE EXTENSION pg_cron; CREATE EXTENSION lakehouse;
SELECT extversion FROM pg_extension WHERE extname = 'lakehouse'}),
	'0.1', 'CREATE EXTENSION lakehouse installs 0.1');
is( q1(
		q{SELECT string_agg(version, ',' ORDER BY version) FROM pg_available_extension_versions WHERE name = 'lakehouse'}
	),
	'0.1',
	'only 0.1 is installed in the private copy');

# ---------------------------------------------------------------------------
# 0.1: real pipelines, run

note 'declaring and running pipelines on 0.1';
q1(
	qq{
CREATE ROLE alice SUPERUSER;
CREATE ROLE ghost SUPERUSER;
CREATE SCHEMA prod;
CREATE TABLE prod.products (
    product_id  bigint PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    category    text,
    list_price  numeric(12,2) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COPY prod.products FROM '$samples/data/products.csv' WITH (FORMAT csv, HEADER true);
SELECT lakehouse.lh_set_secret('api_token', 'tok-upgrade-9d41c7e2');
SELECT lakehouse.lh_apply_config_file('$samples/orders.yaml');
SELECT lakehouse.lh_apply_config_file('$samples/returns.yaml');
SELECT lakehouse.lh_define_gold('orders', 'gold.dim_products',
  'SELECT product_id, sku, name, category, list_price, updated_at FROM silver.products',
  'scd2', '{product_id}', options => '{"updated_at": "updated_at"}');
-- another role's pipelines: a table source, and an HTTP API with a secret
SET ROLE alice;
CREATE TABLE public.events (id int, kind text, ts timestamptz);
INSERT INTO public.events
  SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'click' END,
         timestamptz '2024-03-01 00:00+00' + g * interval '1 minute'
    FROM generate_series(1, 40) g;
SELECT lakehouse.lh_create_pipeline('alice_events', 'events of alice');
SELECT lakehouse.lh_add_source('alice_events', 'events_raw', 'table',
  '{"table": "public.events", "watermark": "ts"}');
SELECT lakehouse.lh_define_silver('alice_events', 'silver.events', 'events_raw',
  '[{"name": "id", "type": "integer", "required": true},
    {"name": "kind", "type": "text", "required": true},
    {"name": "ts", "type": "timestamptz"}]', keys => ARRAY['id']);
SELECT lakehouse.lh_define_gold('alice_events', 'gold.events_per_kind',
  'SELECT kind, count(*) AS n FROM silver.events GROUP BY kind');
SELECT lakehouse.lh_create_pipeline('alice_api', 'an API of alice');
SELECT lakehouse.lh_add_source('alice_api', 'api_raw', 'http',
  '{"url": "http://127.0.0.1:9/items", "records_path": "items",
    "auth": {"type": "bearer", "token_secret": "api_token"}}');
SELECT lakehouse.lh_disable_source('api_raw');
RESET ROLE;
-- a pipeline whose creator is gone by the time of the upgrade
SET ROLE ghost;
SELECT lakehouse.lh_create_pipeline('ghost_p', 'made by a dropped role');
RESET ROLE;
DROP ROLE ghost;
});

my $run1 = q1(q{SELECT lakehouse.lh_run_pipeline('returns')});
like($run1, qr/"status": "succeeded"/, '0.1: returns (and orders) ran');
q1(q{SET ROLE alice; SELECT lakehouse.lh_run_pipeline('alice_events')});
is( q1(
		q{SELECT string_agg(pipeline_name || ':' || status, ',' ORDER BY run_id) FROM lakehouse.runs}
	),
	'orders:succeeded,returns:succeeded,alice_events:succeeded',
	'0.1: three runs succeeded');

# a database where an administrator ran 0.1's lh_create_roles()
q1(q{CREATE DATABASE roles01});
q1(q{CREATE EXTENSION lakehouse; SELECT lakehouse.lh_create_roles()}, 'roles01');

# Everything 0.1 knows, as text: definitions, rows per table, marks, runs,
# quarantine, dead letters, quality results, the secret's ciphertext and the
# pg_cron job.
my $state_sql = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'pipeline ' || concat_ws(' | ', name, description, schedule, created_by, cron_job_id) AS x
    FROM lakehouse.pipelines
  UNION ALL SELECT 'dep ' || p.name || ' <- ' || u.name FROM lakehouse.pipeline_deps d
    JOIN lakehouse.pipelines p USING (pipeline_id) JOIN lakehouse.pipelines u ON u.pipeline_id = d.upstream_id
  UNION ALL SELECT 'source ' || concat_ws(' | ', name, kind, options, bronze_schema || '.' || bronze_table, enabled)
    FROM lakehouse.sources
  UNION ALL SELECT 'table ' || concat_ws(' | ', layer, schema_name || '.' || table_name, keys, order_by, gold_kind,
                                       md5(sql), options)
    FROM lakehouse.tables
  UNION ALL SELECT 'silver column ' || concat_ws(' | ', t.table_name, c.ordinal, c.column_name, c.json_path, c.type_name,
                                               c.required, c.transforms, c.default_value)
    FROM lakehouse.silver_columns c JOIN lakehouse.tables t USING (table_id)
  UNION ALL SELECT 'mark ' || concat_ws(' | ', s.name, m.mark_key, m.mark_value)
    FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)
  UNION ALL SELECT 'stage mark ' || concat_ws(' | ', t.table_name, m.mark_key, m.mark_value)
    FROM lakehouse.stage_marks m JOIN lakehouse.tables t USING (table_id)
  UNION ALL SELECT 'run ' || concat_ws(' | ', run_id, pipeline_name, status, run_by, rows_read, rows_written,
                                     rows_quarantined)
    FROM lakehouse.runs
  UNION ALL SELECT 'run stages ' || count(*) FROM lakehouse.run_stages
  UNION ALL SELECT 'quarantine ' || concat_ws(' | ', coalesce(t.table_name, '-'), count(*))
    FROM lakehouse.quarantine q LEFT JOIN lakehouse.tables t USING (table_id) GROUP BY t.table_name
  UNION ALL SELECT 'dead letters ' || count(*) FROM lakehouse.dead_letters
  UNION ALL SELECT 'expectation ' || concat_ws(' | ', table_id, name, severity) FROM lakehouse.dq_expectations
  UNION ALL SELECT 'dq results ' || count(*) FROM lakehouse.dq_results
  UNION ALL SELECT 'contract ' || concat_ws(' | ', schema_name, table_name, contract_id, md5(document::text),
                                          on_violation) FROM lakehouse.contracts
  UNION ALL SELECT 'contract violations ' || count(*) FROM lakehouse.contract_violations
  UNION ALL SELECT 'schema history ' || count(*) FROM lakehouse.schema_history
  UNION ALL SELECT 'outbox ' || count(*) FROM lakehouse.event_outbox
  UNION ALL SELECT 'secret ' || concat_ws(' | ', name, md5(value), reference, created_at) FROM lakehouse.secrets
  UNION ALL SELECT 'cron ' || concat_ws(' | ', jobid, jobname, schedule, command) FROM cron.job
  UNION ALL SELECT 'rows ' || n.nspname || '.' || c.relname || ' '
                   || (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                                                                    n.nspname, c.relname), false, true, '')))[1]::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname IN ('bronze', 'silver', 'gold') AND c.relkind IN ('r', 'p')
) s};
my $state01 = q1($state_sql);
like($state01, qr/^rows bronze\.orders_raw \d+$/m, '0.1 state recorded');
like($state01, qr/^quarantine orders \| \d+$/m,
	'0.1 quarantined order rows');
note 'state of 0.1: ' . ($state01 =~ tr/\n//) . ' lines';

# ---------------------------------------------------------------------------
# the package of 0.2 replaces 0.1's

note 'stopping, installing the 0.2 package, starting';
$node->stop;
ok(run_log([ 'bash', $build_old, 'package', $inst, '/' ]),
	'the lakehouse 0.2 package (the system installation) installed');
$node->start;
is( q1(
		q{SELECT e.extversion || ' ' || a.default_version FROM pg_extension e
  JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'lakehouse'}),
	'0.1 0.2',
	'the database still has 0.1, the installed default is 0.2');

# the library refuses to work on the old catalog
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', q{SELECT lakehouse.lh_run_pipeline('orders')});
isnt($ret, 0, 'before ALTER EXTENSION UPDATE, running a pipeline fails');
like($stderr, qr/ERROR:.*ALTER EXTENSION lakehouse UPDATE/s,
	'the error says to run ALTER EXTENSION lakehouse UPDATE')
  or diag("stderr: $stderr");
($ret, $stdout, $stderr) =
  $node->psql('postgres', q{SELECT lakehouse.lh_create_pipeline('too_early')});
like($stderr, qr/ERROR:.*ALTER EXTENSION lakehouse UPDATE/s,
	'declaring a pipeline is refused the same way')
  or diag("stderr: $stderr");
compare_text('the refused calls changed nothing', q1($state_sql), $state01);

# ---------------------------------------------------------------------------
# ALTER EXTENSION lakehouse UPDATE

note 'ALTER EXTENSION lakehouse UPDATE';
is(q1(q{ALTER EXTENSION lakehouse UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lakehouse'}),
	'0.2', 'ALTER EXTENSION lakehouse UPDATE reaches 0.2');
is(q1(q{ALTER EXTENSION lakehouse UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lakehouse'}, 'roles01'),
	'0.2', 'and in the database with 0.1 roles');
compare_text('every definition, row, mark, run and quarantine record kept',
	q1($state_sql), $state01);

# PostgreSQL records the whole ACL of an extension member that an extension
# script GRANTs or REVOKEs on as its initial privileges (pg_init_privs), and
# pg_dump dumps only the differences from those.  Grants an administrator
# made after CREATE EXTENSION (0.1's lh_create_roles) must not become
# initial privileges, or pg_dump stops dumping them.  (The install scripts
# themselves grant to PUBLIC and pg_read_server_files only.)
my $init_privs_sql = q{
SELECT coalesce(string_agg(DISTINCT a.grantee::regrole::text, ','), '')
  FROM pg_init_privs i, aclexplode(i.initprivs) a
 WHERE i.privtype = 'e' AND a.grantee <> 0 AND a.grantee::regrole::text LIKE 'lakehouse\_%'};
for my $db (qw(postgres roles01))
{
	is(q1($init_privs_sql, $db), '',
		"$db: the lakehouse roles have no initial privileges (pg_init_privs) after the update");
}

is( q1(
		q{SELECT string_agg(name || '=' || owner, ',' ORDER BY name) FROM lakehouse.pipelines}
	),
	'alice_api=alice,alice_events=alice,ghost_p=postgres,orders=postgres,returns=postgres',
	'pipelines.owner: the creator, or the extension owner for a dropped creator');
is( q1(
		q{SELECT string_agg(owner::text, ',') FROM lakehouse.secrets}),
	'postgres',
	'secrets.owner: the extension owner');
is( q1(
		q{SELECT string_agg(concat_ws(' ', secret_name, grantee, granted_by), ',')
  FROM lakehouse.secret_grants}),
	'api_token alice postgres',
	'secret_grants: the owner of the pipeline whose source uses the secret');
is( q1(
		q{SELECT count(*) FILTER (WHERE disabled_reason IS NULL) || '/' || count(*)
  || ' ' || string_agg(name, ',' ORDER BY name) FILTER (WHERE NOT enabled) FROM lakehouse.sources}),
	'6/6 api_raw',
	'sources.disabled_reason is NULL; the disabled source stays disabled');
is( q1(
		q{SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'lakehouse'::regnamespace
   AND c.relkind = 'r' AND NOT EXISTS (
       SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'lh_catalog_guard')}),
	'0',
	'every catalog table has the catalog guard');
is( q1(
		q{SELECT string_agg(conname, ',') FROM pg_constraint
  WHERE conname IN ('sources_kind_check', 'tables_gold_kind_check')}),
	'tables_gold_kind_check',
	'the kind checks: source kinds left to the registry, gold kinds checked as in 0.2');
is(q1(q{SELECT lakehouse.lh_check_secret('api_token')}),
	't', "0.1's ciphertext decrypts under 0.2");
is( q1(
		q{SELECT string_agg(concat_ws(' ', name, owner, granted_to), ',') FROM lakehouse.secret_list}),
	'api_token postgres {alice}',
	'secret_list shows the owner and the grant');
is( q1(
		q{SELECT string_agg(pipeline || ' ' || owner, ',' ORDER BY pipeline) FROM lakehouse.pipeline_status}
	),
	'alice_api alice,alice_events alice,ghost_p postgres,orders postgres,returns postgres',
	'pipeline_status shows the owners');
is( q1(
		q{SELECT jobname || ' | ' || schedule || ' | ' || command FROM cron.job
  WHERE jobid = (SELECT cron_job_id FROM lakehouse.pipelines WHERE name = 'orders')}),
	"lakehouse: orders | */15 * * * * | SELECT lakehouse.lh_run_pipeline('orders')",
	'the pg_cron job of the schedule is still there');

# ---------------------------------------------------------------------------
# new input: incremental runs on 0.2

note 'new input, incremental runs on 0.2';
my $count = sub { q1("SELECT count(*) FROM $_[0]") };
my %before = map { $_ => $count->($_) } qw(bronze.orders_raw bronze.customers_raw
  bronze.products_raw bronze.returns_raw bronze.events_raw silver.orders
  silver.customers silver.products silver.events lakehouse.quarantine lakehouse.runs);
my $marks_sql = q{SELECT string_agg(s.name || ' ' || m.mark_key || ' ' || m.mark_value, E'\n'
  ORDER BY s.name, m.mark_key)
  FROM lakehouse.source_marks m JOIN lakehouse.sources s USING (source_id)};
my $marks01 = q1($marks_sql);

# orders: a new quarterly file with three new orders, a status change of an
# old one and a row with text in quantity (quarantined)
PostgreSQL::Test::Utils::append_to_file(
	"$samples/data/orders_2024_q3.csv", <<'EOF');
order_id,customer_id,sku,quantity,unit_price,order_ts,status,updated_at
103001,18,SKU-01104,2,95.99,2024-07-10 09:00:00+00,placed,2024-07-10 09:00:00+00
103002,159,SKU-01198,1,28.99,2024-07-10 10:00:00+00,placed,2024-07-10 10:00:00+00
103003,5,SKU-01113,3,18.99,2024-07-11 11:00:00+00,placed,2024-07-11 11:00:00+00
100001,18,SKU-01104,2,95.99,2024-01-01 03:30:26+00,shipped,2024-07-11 12:00:00+00
103004,7,SKU-01113,many,18.99,2024-07-11 13:00:00+00,placed,2024-07-11 13:00:00+00
EOF
# customers: two appended lines
PostgreSQL::Test::Utils::append_to_file(
	"$samples/data/customers.jsonl", <<'EOF');
{"customer_id": 9001, "name": "Ada New", "email": "ada@example.org", "country": "fr", "address": {"city": "Lyon"}, "signup_date": "2024-07-01", "marketing_opt_in": true}
{"customer_id": 9002, "name": "Bo New", "email": "bo@example.org", "country": "se", "address": {"city": "Malmo"}, "signup_date": "2024-07-02"}
EOF
my $q3_size = -s "$samples/data/orders_2024_q3.csv";
my $cust_size = -s "$samples/data/customers.jsonl";
# products: one price change and one new product
q1(
	q{UPDATE prod.products SET list_price = 149.99, updated_at = '2024-07-05 00:00+00' WHERE product_id = 1;
INSERT INTO prod.products VALUES (201, 'SKU-09201', 'Upgrade mug', 'home', 12.50, '2024-07-05 00:01+00');
INSERT INTO public.events VALUES (41, 'click', '2024-03-02 00:00+00'), (42, 'view', '2024-03-02 00:01+00');
});

my $run2 = q1(q{SELECT lakehouse.lh_run_pipeline('returns')});
like($run2, qr/"status": "succeeded"/, '0.2: returns (and orders) ran');
q1(q{SELECT lakehouse.lh_run_pipeline('alice_events')});
is( q1(
		qq{SELECT string_agg(pipeline_name || ':' || status, ',' ORDER BY run_id) FROM lakehouse.runs
  WHERE run_id > (SELECT max(run_id) FROM lakehouse.runs) - 3}),
	'orders:succeeded,returns:succeeded,alice_events:succeeded',
	'0.2: the three runs succeeded');

my %grow = (
	'bronze.orders_raw' => 5,
	'bronze.customers_raw' => 2,
	'bronze.products_raw' => 2,
	'bronze.returns_raw' => 0,
	'bronze.events_raw' => 2,
	'silver.orders' => 3,
	'silver.customers' => 2,
	'silver.products' => 1,
	'silver.events' => 2,
	'lakehouse.quarantine' => 1,
	'lakehouse.runs' => 3);
for my $t (sort keys %grow)
{
	is($count->($t) - $before{$t}, $grow{$t}, "$t: $grow{$t} new rows");
}

# marks: the old ones moved only where input was added
my $marks02 = q1($marks_sql);
my %m1 = map { /^(\S+ \S+) (.*)$/ ? ($1 => $2) : () } split /\n/, $marks01;
my %m2 = map { /^(\S+ \S+) (.*)$/ ? ($1 => $2) : () } split /\n/, $marks02;
my $q1_file = "$samples/data/orders_2024_q1.csv";
my $q3_file = "$samples/data/orders_2024_q3.csv";
my $cust_file = "$samples/data/customers.jsonl";
is($m2{"orders_raw $q1_file"}, $m1{"orders_raw $q1_file"},
	'the mark of an unchanged file did not move');
like($m2{"orders_raw $q3_file"} // '', qr/^$q3_size(:\d+)?$/,
	'the new file has a mark at its end');
like($m1{"customers_raw $cust_file"} // '', qr/^\d+/, 'customers had a mark on 0.1');
like($m2{"customers_raw $cust_file"} // '', qr/^$cust_size(:\d+)?$/,
	'the appended file\'s mark moved to its new end');
isnt(
	join(',', map { "$_=$m2{$_}" } grep { /^products_raw / } sort keys %m2),
	join(',', map { "$_=$m1{$_}" } grep { /^products_raw / } sort keys %m1),
	'the table source\'s watermark advanced');
note "marks after the 0.2 run:\n$marks02";

is( q1(q{SELECT status FROM silver.orders WHERE order_id = 100001}),
	'shipped', 'silver: the status change of an old order applied');
is( q1(
		q{SELECT count(*) FROM lakehouse.quarantine q JOIN lakehouse.tables t USING (table_id)
  WHERE t.table_name = 'orders' AND q.payload->>'order_id' = '103004'}),
	'1',
	'the bad new row is in quarantine');
is( q1(
		q{SELECT (SELECT count(*) FROM gold.fact_sales) = (SELECT count(*) FROM silver.orders)}),
	't',
	'gold.fact_sales rebuilt from all of silver.orders');
is( q1(
		q{SELECT count(*) FROM (
  (SELECT day, orders, revenue FROM gold.daily_revenue
   EXCEPT SELECT order_date, count(*), sum(amount)::numeric(14,2) FROM gold.fact_sales
           WHERE status IS DISTINCT FROM 'cancelled' GROUP BY order_date)
  UNION ALL
  (SELECT order_date, count(*), sum(amount)::numeric(14,2) FROM gold.fact_sales
    WHERE status IS DISTINCT FROM 'cancelled' GROUP BY order_date
   EXCEPT SELECT day, orders, revenue FROM gold.daily_revenue)) d}),
	'0',
	'gold.daily_revenue (merge) agrees with fact_sales, new days included');
is(q1(q{SELECT orders FROM gold.daily_revenue WHERE day = '2024-07-10'}),
	'2', 'gold.daily_revenue has the new day');
is( q1(
		q{SELECT string_agg(product_id || ':' || list_price || ':' || is_current, ',' ORDER BY product_id, valid_from)
  FROM gold.dim_products WHERE product_id IN (1, 201)}),
	'1:135.99:false,1:149.99:true,201:12.50:true',
	'gold.dim_products (SCD2): a new version for the price change, the new product');
is( q1(
		q{SELECT (SELECT count(*) FROM gold.dim_products WHERE is_current)
       = (SELECT count(*) FROM silver.products)}),
	't',
	'gold.dim_products: one current version per product');
is(q1(q{SELECT n FROM gold.events_per_kind WHERE kind = 'view'}),
	'1', "alice's gold table updated by a run of her pipeline");

# ---------------------------------------------------------------------------
# the updated catalog is a fresh 0.2 catalog

note 'comparing with a fresh 0.2 database';
q1(q{CREATE DATABASE fresh});
is(q1(q{CREATE EXTENSION lakehouse;
SELECT extversion FROM pg_extension WHERE extname = 'lakehouse'}, 'fresh'),
	'0.2', 'a fresh database gets 0.2');

my $describe = slurp_file($describe_sql);
sub describe_db { return q1($describe, $_[0]); }
my $fresh_desc = describe_db('fresh');
like($fresh_desc, qr/^relation secret_grants /m, 'describe.sql describes 0.2');
compare_text('describe.sql: the updated database equals a fresh 0.2 install',
	describe_db('postgres'), $fresh_desc);

# after lh_create_roles(), in all three
note 'lh_create_roles() in the updated, the 0.1-roles and the fresh database';
for my $db (qw(postgres roles01 fresh))
{
	q1(q{SELECT lakehouse.lh_create_roles()}, $db);
}

# privileges of every lakehouse role and PUBLIC on the lakehouse objects,
# the schemas and their default privileges
my $acl_sql = q{
WITH roles(r) AS (VALUES ('lakehouse_admin'), ('lakehouse_engineer'), ('lakehouse_operator'),
                         ('lakehouse_analyst'), ('lakehouse_pii_reader'), ('public')),
ext AS (SELECT objid, classid FROM pg_depend
         WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
           AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'lakehouse'))
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
  SELECT 'rel ' || c.oid::regclass || ' ' || roles.r || ' '
         || concat_ws(',', CASE WHEN c.relkind = 'S' THEN
                                  concat_ws(',', CASE WHEN has_sequence_privilege(roles.r, c.oid, 'USAGE') THEN 'USAGE' END,
                                                 CASE WHEN has_sequence_privilege(roles.r, c.oid, 'SELECT') THEN 'SELECT' END,
                                                 CASE WHEN has_sequence_privilege(roles.r, c.oid, 'UPDATE') THEN 'UPDATE' END)
                             ELSE
                                  concat_ws(',', CASE WHEN has_table_privilege(roles.r, c.oid, 'SELECT') THEN 'SELECT' END,
                                                 CASE WHEN has_table_privilege(roles.r, c.oid, 'INSERT') THEN 'INSERT' END,
                                                 CASE WHEN has_table_privilege(roles.r, c.oid, 'UPDATE') THEN 'UPDATE' END,
                                                 CASE WHEN has_table_privilege(roles.r, c.oid, 'DELETE') THEN 'DELETE' END,
                                                 CASE WHEN has_table_privilege(roles.r, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                                                 CASE WHEN has_table_privilege(roles.r, c.oid, 'REFERENCES') THEN 'REFERENCES' END,
                                                 CASE WHEN has_table_privilege(roles.r, c.oid, 'TRIGGER') THEN 'TRIGGER' END,
                                                 CASE WHEN has_any_column_privilege(roles.r, c.oid, 'UPDATE') THEN 'UPDATE(column)' END)
                             END) AS line
    FROM pg_class c JOIN ext ON ext.classid = 'pg_class'::regclass AND ext.objid = c.oid, roles
   WHERE c.relkind IN ('r', 'v', 'S', 'p')
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure || ' ' || roles.r || ' '
         || CASE WHEN has_function_privilege(roles.r, p.oid, 'EXECUTE') THEN 'EXECUTE' ELSE '' END
    FROM pg_proc p JOIN ext ON ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid, roles
  UNION ALL
  SELECT 'schema ' || n.nspname || ' owner ' || n.nspowner::regrole || ' ' || roles.r || ' '
         || concat_ws(',', CASE WHEN has_schema_privilege(roles.r, n.oid, 'USAGE') THEN 'USAGE' END,
                           CASE WHEN has_schema_privilege(roles.r, n.oid, 'CREATE') THEN 'CREATE' END)
    FROM pg_namespace n, roles
   WHERE n.nspname IN ('lakehouse', 'bronze', 'silver', 'gold', 'lakehouse_masked')
  UNION ALL
  SELECT 'default acl ' || concat_ws(' ', d.defaclrole::regrole, d.defaclnamespace::regnamespace,
                                      d.defaclobjtype, d.defaclacl)
    FROM pg_default_acl d
) s};
my $fresh_acl = q1($acl_sql, 'fresh');
like($fresh_acl, qr/^function lakehouse\.lh_run_pipeline\(.*\) lakehouse_operator EXECUTE$/m,
	'the fresh database has the 0.2 privileges');
$fresh_desc = describe_db('fresh');

# pg_dump of the lakehouse schemas: the extension's members are not dumped,
# but their privileges (where they differ from the install script's), the
# schemas, their privileges and default privileges are.  User tables are left
# out: only the updated database has data.
my @dump_opts = (
	'--schema-only', '--extension=lakehouse',
	(map { ("--schema=$_") } qw(lakehouse bronze silver gold lakehouse_masked)),
	(map { ("--exclude-table=$_.*") } qw(bronze silver gold lakehouse_masked)));
sub dump_db
{
	my ($db) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run(
		[ $node->installed_command('pg_dump'), @dump_opts, '-d', $node->connstr($db) ],
		'>', \$out, '2>', \$err);
	ok($ok, "pg_dump of $db") or diag($err);
	# the random key of psql's \restrict (pg_dump 15.14 and later)
	$out =~ s/^\\(un|)restrict \S+$/\\$1restrict KEY/mg;
	return $out;
}
my $fresh_dump = dump_db('fresh');
like($fresh_dump, qr/GRANT ALL ON FUNCTION lakehouse\.lh_run_pipeline\(.*\) TO lakehouse_operator;/,
	'the dump has the privileges of the lakehouse functions');

for my $db (qw(postgres roles01))
{
	my $what = $db eq 'postgres' ? 'updated database' : 'updated database with 0.1 roles';
	compare_text("after lh_create_roles: describe.sql of the $what equals the fresh one",
		describe_db($db), $fresh_desc);
	compare_text("after lh_create_roles: privileges in the $what equal the fresh ones",
		q1($acl_sql, $db), $fresh_acl);
	compare_text("after lh_create_roles: pg_dump of the lakehouse schemas of the $what equals the fresh one",
		dump_db($db), $fresh_dump);
}

# a copy of the database with 0.1 roles, restored from its dump, has the
# same privileges
{
	my $dump = "$tmp/roles01.dump";
	ok( run_log(
			[ $node->installed_command('pg_dump'), '-Fc', '-f', $dump, '-d', $node->connstr('roles01') ]),
		'pg_dump -Fc of the database with 0.1 roles');
	q1(q{CREATE DATABASE roles01_copy});
	ok( run_log(
			[ $node->installed_command('pg_restore'), '--exit-on-error', '-d', $node->connstr('roles01_copy'), $dump ]),
		'pg_restore into a new database');
	compare_text('the restored copy has the privileges of the database with 0.1 roles',
		q1($acl_sql, 'roles01_copy'), q1($acl_sql, 'roles01'));
}

# the 0.2 library did not crash on the 0.1 catalog (before the update)
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|PANIC:/,
	'no server process crashed during the test');

$node->stop;
done_testing();


# Copyright (c) lakehouse authors

# security_escalation: attacks as a login role granted only
# lakehouse_engineer (alice, and bob against alice), and as one granted only
# lakehouse_operator (olga), on the eight classes of issue "Security".  Each
# class has at least two variants, and each asserts the refusal or the
# harmless outcome, never only "no error":
#
#  1. shell commands through librdkafka's kinit (sasl.kerberos.principal,
#     sasl.kerberos.kinit.cmd, GSSAPI, through YAML too): refused, and no
#     marker file.  A superuser's source shows the attack is real (the
#     marker appears) and that the check runs again at every connect: given
#     to alice, the same source runs no command.
#  2. loading a library (plugin.library.paths, ssl.engine.location,
#     ssl.providers): refused; a superuser's source really loads the test
#     library (its constructor writes a marker); given to alice, it is not
#     loaded again.
#  3. becoming superuser through user code that the extension runs: a
#     column DEFAULT and a CHECK on a Kafka bronze table (the worker lands
#     messages), a trigger on a bronze table (an operator runs the
#     pipeline), an HTTP worker's bronze trigger, gold SQL calling a
#     function (run by a superuser, and by pg_cron in a job a superuser
#     scheduled), an index expression, an expectation.  The function tries
#     ALTER ROLE ... SUPERUSER and COPY ... TO PROGRAM, and records who it
#     ran as: always alice, under SECURITY_RESTRICTED_OPERATION, never
#     escalated, no marker, rolsuper unchanged.
#  4. reading another role's secret: over HTTP (token_secret) and Kafka SASL
#     (secret_properties), directly and through YAML: refused; granted then
#     revoked: the next use fails and the secret is never sent.
#  5. crash loops: alice cannot declare the crashing OAUTHBEARER setup; a
#     superuser's (librdkafka 2.0.2 segfaults) and a worker killed with
#     SIGSEGV are disabled after lakehouse.max_worker_crashes crashes, with
#     the reason in source_status, and the cluster then stays up.
#  6. parser bounds: deep YAML (flow and block), an oversized document and
#     a deep contract are refused at once (before statement_timeout).
#  7. encoded credentials echoed by an API (base64 of user:password,
#     URL-encoded, JSON-escaped) never reach run_stages, runs, views or logs.
#  8. another engineer's pipeline: bob cannot redeclare, alter, disable, drop,
#     give away or write the catalog; olga can run, disable and enable only;
#     an admin acts only for owners it covers.
#
# Until the crash-loop section, one session stays connected: the cluster
# was never reset by any attack.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../http";
use lib $FindBin::RealBin;

use IPC::Run;
use JSON::PP;
use LakehouseHttp;
use LakehouseKafka;
use MIME::Base64 qw(encode_base64);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $json = JSON::PP->new->canonical;

my $kafka = kafka_mock_start(name => 'esc', topics => [ 'esc_k:1', 'esc_s:1' ]);
my $K = $kafka->{addr};
my $srv = http_server_start(name => 'esc', records => 20);
my $B = $srv->{base};

my $node = lh_http_node(
	'esc', conf => <<'EOC');
shared_preload_libraries = 'pg_cron,lakehouse'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 32
lakehouse.max_worker_crashes = 2
restart_after_crash = on
EOC

# Files the attacks would create: none may exist at the end.
my $dir = PostgreSQL::Test::Utils::tempdir();
chmod 0777, $dir;
my %marker = map { $_ => "$dir/marker_$_" }
  qw(principal kinit yaml_kinit given_kinit plugin engine given_plugin program);

# A library whose constructor writes a marker: loaded, it ran as postgres.
my $evil_c = "$dir/evil.c";
my $evil_so = "$dir/evil.so";
{
	open my $fh, '>', $evil_c or die "could not write $evil_c: $!";
	print $fh <<"EOC";
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
__attribute__((constructor)) static void
lh_test_evil(void)
{
	int fd = open(MARKER, O_CREAT | O_WRONLY | O_APPEND, 0644);

	if (fd >= 0)
		close(fd);
}

/* what librdkafka looks for in a plugin: accept, do nothing */
int
conf_init(void *conf, void **plug_opaquep, char *errstr, size_t errstr_size)
{
	return 0;
}
EOC
	close $fh;
}

sub build_evil
{
	my ($marker, $out) = @_;
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'cc', '-shared', '-fPIC', "-DMARKER=\"$marker\"", '-o', $out, $evil_c ],
		'>', \$o, '2>', \$e)
	  or BAIL_OUT("could not build the test library: $e");
	return $out;
}
build_evil($marker{plugin}, $evil_so);
my $given_so = build_evil($marker{given_plugin}, "$dir/evil_given.so");

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

# Run SQL as a login role (ON_ERROR_STOP); kept for the secrets check.
sub psql_as
{
	my ($role, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ret = $node->psql(
		'postgres', $sql,
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1,
		extra_params => [ '-U', $role ]);
	lh_capture($out, $err);
	return ($ret, $out, $err);
}

# One test: the SQL succeeds as $role; returns its output.
sub ok_as
{
	my ($role, $sql, $what) = @_;
	my ($ret, $out, $err) = psql_as($role, $sql);
	is($ret, 0, $what) or diag(lh_mask($err));
	return $out;
}

# One test: the SQL fails as $role with an error matching $re.
sub refused_as
{
	my ($role, $sql, $re, $what) = @_;
	my ($ret, $out, $err) = psql_as($role, $sql);
	ok($ret != 0 && $err =~ $re, "$what: refused")
	  or diag("exit status $ret, stderr: " . lh_mask($err));
	return $err;
}

sub su { return $node->safe_psql('postgres', $_[0]); }

sub jsonq { (my $j = $json->encode($_[0])) =~ s/'/''/g; return "'$j'"; }

sub kafka_source_sql
{
	my ($pipeline, $name, $topic, %opt) = @_;
	return "SELECT lakehouse.lh_add_source('$pipeline', '$name', 'kafka', "
	  . jsonq({ brokers => $K, topic => $topic, %opt }) . ')';
}

sub no_marker
{
	my ($m, $what) = @_;
	ok(!-e $marker{$m}, "$what: no marker file");
	return;
}

# Wait (bounded) until a Perl condition holds; true if it did.
sub wait_for
{
	my ($cond, $seconds) = @_;
	my $deadline = time() + ($seconds // 60);
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	return $cond->();
}

sub rolsuper
{
	return su(q{SELECT string_agg(rolname || '=' || CASE WHEN rolsuper THEN 't' ELSE 'f' END, ',' ORDER BY rolname)
  FROM pg_roles WHERE rolname IN ('alice', 'bob', 'olga', 'adm')});
}

# ---------------------------------------------------------------------------
# Roles and the attacker's code
# ---------------------------------------------------------------------------

su(q{
CREATE EXTENSION pg_cron;
SELECT lakehouse.lh_create_roles();
CREATE ROLE alice LOGIN IN ROLE lakehouse_engineer;
CREATE ROLE bob LOGIN IN ROLE lakehouse_engineer;
CREATE ROLE olga LOGIN IN ROLE lakehouse_operator;
CREATE ROLE adm LOGIN IN ROLE lakehouse_admin;
CREATE SCHEMA alice_code AUTHORIZATION alice;
CREATE TABLE public.feed (id int, tag text, ts timestamptz);
GRANT SELECT ON public.feed TO alice;
INSERT INTO public.feed VALUES (1, 'first', '2024-01-01'), (2, 'first', '2024-01-02');
});
my $roles_before = rolsuper();
is($roles_before, 'adm=f,alice=f,bob=f,olga=f', 'nobody of the test is superuser');

my $watch = $node->background_psql('postgres', on_error_stop => 0);
my $watch_pid = $watch->query_safe('SELECT pg_backend_pid()');
my $start_time = su('SELECT pg_postmaster_start_time()');

# What every escalation attempt runs: become superuser, run a program, and
# (to show the restriction) create a temporary table; record who it ran as.
ok_as('alice', qq{
CREATE TABLE alice_code.esc_log (at timestamptz DEFAULT clock_timestamp(), tag text,
  cur name, sess name, btype text, alter_result text, program_result text, sro_result text);
CREATE FUNCTION alice_code.esc(tag text) RETURNS text LANGUAGE plpgsql AS \$f\$
DECLARE r1 text; r2 text; r3 text;
BEGIN
  BEGIN EXECUTE 'ALTER ROLE alice SUPERUSER'; r1 := 'ESCALATED';
  EXCEPTION WHEN others THEN r1 := SQLERRM; END;
  BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch $marker{program}'''; r2 := 'RAN A PROGRAM';
  EXCEPTION WHEN others THEN r2 := SQLERRM; END;
  BEGIN EXECUTE format('CREATE TEMP TABLE esc_probe_%s_%s (x int)', pg_backend_pid(), (random() * 1e9)::bigint);
    r3 := 'not restricted';
  EXCEPTION WHEN others THEN r3 := SQLERRM; END;
  INSERT INTO alice_code.esc_log (tag, cur, sess, btype, alter_result, program_result, sro_result)
    SELECT tag, current_user, session_user, a.backend_type, r1, r2, r3
      FROM pg_stat_activity a WHERE a.pid = pg_backend_pid();
  RETURN tag;
END \$f\$;
CREATE FUNCTION alice_code.esc_trg() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN PERFORM alice_code.esc(TG_ARGV[0]); RETURN NEW; END \$f\$;
CREATE FUNCTION alice_code.esc_imm(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS \$f\$
BEGIN PERFORM alice_code.esc(t); RETURN t; END \$f\$;
}, 'alice creates the escalation functions');

# Every call of the escalation function with this tag: ran, as alice,
# restricted, without escalating.  $sess: the session it must have run in.
sub escalation_contained
{
	my ($tag, $sess, $what) = @_;
	my $rows = su(qq{
SELECT count(*) || '|' || count(*) FILTER (WHERE cur <> 'alice') || '|' ||
       count(*) FILTER (WHERE alter_result = 'ESCALATED' OR program_result = 'RAN A PROGRAM') || '|' ||
       count(*) FILTER (WHERE sro_result !~ 'security-restricted operation') || '|' ||
       coalesce(string_agg(DISTINCT sess::text, ','), '')
  FROM alice_code.esc_log WHERE tag = '$tag'});
	my ($n, $other, $esc, $unrestricted, $sessions) = split /\|/, $rows;
	ok($n > 0, "$what: the attacker's function ran ($n times)");
	is($other, 0, "$what: it ran as alice, the owner");
	is($esc, 0, "$what: ALTER ROLE and COPY TO PROGRAM failed");
	is($unrestricted, 0, "$what: under SECURITY_RESTRICTED_OPERATION");
	is($sessions, $sess, "$what: in the session of $sess") if defined $sess;
	return;
}

# ===========================================================================
# 3. Becoming superuser
# ===========================================================================

# pg_cron: a job the superuser schedules runs alice's pipeline (at the next
# minute); checked at the end.
ok_as('alice', q{
SELECT lakehouse.lh_create_pipeline('alice_t') > 0;
SELECT lakehouse.lh_add_source('alice_t', 'alice_t_src', 'table',
  '{"table": "public.feed", "watermark": "ts"}') > 0;
SELECT lakehouse.lh_define_silver('alice_t', 'silver.alice_s', 'alice_t_src',
  '[{"name": "id", "type": "integer", "required": true}, {"name": "tag", "type": "text"}]',
  keys => ARRAY['id']) > 0;
SELECT lakehouse.lh_define_gold('alice_t', 'gold.alice_g',
  'SELECT alice_code.esc(''gold'') AS probe, count(*) AS n FROM silver.alice_s') > 0;
}, 'alice declares a pipeline whose gold SQL calls her function');
is(su(q{SELECT owner FROM lakehouse.pipeline_status WHERE pipeline = 'alice_t'}),
	'alice', 'the pipeline is owned by alice');
ok_as('alice', q{CREATE TRIGGER esc BEFORE INSERT ON bronze.alice_t_src
  FOR EACH ROW EXECUTE FUNCTION alice_code.esc_trg('op-trigger')},
	'alice puts a trigger on her bronze table');

# an operator runs it: the trigger runs as alice
ok_as('olga', q{SELECT lakehouse.lh_run_pipeline('alice_t')->>'status'},
	'olga runs alice\'s pipeline');
is(su(q{SELECT count(*) FROM gold.alice_g}), '1', 'the run built gold');
escalation_contained('op-trigger', 'olga', 'trigger on bronze, run by an operator');

# a superuser runs it: gold SQL, and an index expression on silver
ok_as('alice', q{CREATE INDEX alice_s_esc ON silver.alice_s ((alice_code.esc_imm(tag)))},
	'alice puts an index expression on her silver table');
su(q{INSERT INTO public.feed VALUES (3, 'idx-su', '2024-01-03')});
is(su(q{SELECT lakehouse.lh_run_pipeline('alice_t')->>'status'}), 'succeeded',
	'a superuser runs alice\'s pipeline');
escalation_contained('gold', undef, 'gold SQL calling a function');
is(su(q{SELECT count(*) FROM alice_code.esc_log WHERE tag = 'gold' AND sess = 'postgres'}) > 0,
	1, 'gold SQL: it ran in the superuser\'s session');
escalation_contained('idx-su', 'postgres', 'index expression, run by a superuser');

# an expectation, checked by a superuser
ok_as('alice', q{SELECT lakehouse.lh_add_expectation('silver.alice_s', 'row_condition',
  '{"condition": "alice_code.esc(''expect'') IS NOT NULL"}')},
	'alice adds an expectation calling her function');
su(q{SELECT count(*) FROM lakehouse.lh_check('silver.alice_s')});
escalation_contained('expect', 'postgres', 'expectation checked by a superuser');

su(q{SELECT lakehouse.lh_schedule('alice_t', '* * * * *')});
su(q{INSERT INTO public.feed VALUES (4, 'cron', '2024-01-04')});

# The Kafka worker lands messages into a table with alice's DEFAULT and CHECK.
ok_as('alice', q{
SELECT lakehouse.lh_create_pipeline('alice_k') > 0;
} . kafka_source_sql('alice_k', 'alice_k_src', 'esc_k') . q{ > 0;
ALTER TABLE bronze.alice_k_src ADD COLUMN probe text DEFAULT alice_code.esc('kafka-default');
ALTER TABLE bronze.alice_k_src ADD CONSTRAINT esc CHECK (alice_code.esc('kafka-check') IS NOT NULL);
}, 'alice declares a Kafka source and puts a DEFAULT and a CHECK on its bronze table');
kafka_produce($K, 'esc_k', 0, [ '{"n": 1}', '{"n": 2}' ]);
lh_poll($node, 'SELECT count(*) FROM bronze.alice_k_src', '2',
	'the Kafka worker landed both messages');
escalation_contained('kafka-default', 'alice', 'DEFAULT on bronze, Kafka worker');
escalation_contained('kafka-check', 'alice', 'CHECK on bronze, Kafka worker');
is(su(q{SELECT string_agg(DISTINCT probe, ',') FROM bronze.alice_k_src}), 'kafka-default',
	'the DEFAULT was applied');

# The HTTP worker: bronze tables are written in bulk, so a trigger there is
# refused (no code runs); a DEFAULT runs as alice.
ok_as('alice', q{
SELECT lakehouse.lh_create_pipeline('alice_h') > 0;
CREATE TABLE bronze.alice_h_src (_lh_id bigint GENERATED ALWAYS AS IDENTITY, _lh_source text NOT NULL,
  _lh_run_id bigint, _lh_position text, _lh_ingested_at timestamptz NOT NULL DEFAULT now(),
  payload jsonb NOT NULL);
CREATE TRIGGER esc BEFORE INSERT ON bronze.alice_h_src
  FOR EACH ROW EXECUTE FUNCTION alice_code.esc_trg('http-trigger');
SELECT lakehouse.lh_add_source('alice_h', 'alice_h_src', 'http', } . jsonq({ url => "$B/all/items", poll_interval => '1s' }) . q{) > 0;
}, 'alice declares a polled HTTP source into her bronze table with a trigger');
lh_poll($node, q{SELECT last_error ~ 'it has INSERT triggers' FROM lakehouse.source_status
  WHERE source = 'alice_h_src'}, 't', 'the HTTP worker refuses to land into a table with triggers');
is(su(q{SELECT count(*) FROM alice_code.esc_log WHERE tag = 'http-trigger'}), '0',
	'class 3: the trigger never ran');
ok_as('alice', q{
DROP TRIGGER esc ON bronze.alice_h_src;
ALTER TABLE bronze.alice_h_src ADD COLUMN probe text DEFAULT alice_code.esc('http-default');
}, 'alice swaps the trigger for a DEFAULT');
lh_poll($node, 'SELECT count(*) FROM bronze.alice_h_src', '20',
	'the HTTP worker landed the records');
escalation_contained('http-default', 'alice', 'DEFAULT on bronze, HTTP worker');
su(q{SELECT lakehouse.lh_disable_source('alice_h_src')});

is(rolsuper(), $roles_before, 'class 3: rolsuper unchanged');
no_marker('program', 'class 3: COPY TO PROGRAM');

# ===========================================================================
# 1. Shell commands, 2. libraries
# ===========================================================================

# (librdkafka renders its kinit command only with a keytab)
my %kinit_props = (
	'security.protocol' => 'sasl_plaintext',
	'sasl.mechanism' => 'GSSAPI',
	'sasl.kerberos.keytab' => "$dir/none.keytab");

refused_as('alice', kafka_source_sql('alice_k', 'k_principal', 'esc_s',
		properties => { %kinit_props, 'sasl.kerberos.principal' => "x; touch $marker{principal} #" }),
	qr/permission denied|not allowed|GSSAPI/, 'class 1: a principal with a shell command');
refused_as('alice', kafka_source_sql('alice_k', 'k_kinit', 'esc_s',
		properties => { %kinit_props, 'sasl.kerberos.kinit.cmd' => "touch $marker{kinit}" }),
	qr/permission denied|not allowed/, 'class 1: sasl.kerberos.kinit.cmd');
refused_as('alice', kafka_source_sql('alice_k', 'k_gss', 'esc_s',
		properties => { 'security.protocol' => 'sasl_plaintext', 'sasl.mechanisms' => 'GSSAPI' }),
	qr/GSSAPI/, 'class 1: the GSSAPI mechanism (its default kinit command)');
refused_as('alice', <<"EOY" =~ s/^/SELECT lakehouse.lh_apply_config(\$y\$/r . '$y$)',
pipeline: alice_yaml
sources:
  - name: y_kinit
    kind: kafka
    options:
      brokers: "$K"
      topic: esc_s
      properties:
        security.protocol: sasl_plaintext
        sasl.mechanism: GSSAPI
        sasl.kerberos.kinit.cmd: "touch $marker{yaml_kinit}"
EOY
	qr/permission denied|not allowed/, 'class 1: the same through YAML');
refused_as('alice', kafka_source_sql('alice_k', 'k_plugin', 'esc_s',
		properties => { 'plugin.library.paths' => $evil_so }),
	qr/permission denied|not allowed/, 'class 2: plugin.library.paths');
refused_as('alice', kafka_source_sql('alice_k', 'k_engine', 'esc_s',
		properties => { 'security.protocol' => 'ssl', 'ssl.engine.location' => $evil_so }),
	qr/permission denied|not allowed/, 'class 2: ssl.engine.location');
refused_as('alice', kafka_source_sql('alice_k', 'k_providers', 'esc_s',
		properties => { 'security.protocol' => 'ssl', 'ssl.providers' => 'legacy,default' }),
	qr/permission denied|not allowed/, 'class 2: ssl.providers');
refused_as('alice', kafka_source_sql('alice_k', 'k_keystore', 'esc_s',
		properties => { 'security.protocol' => 'ssl', 'ssl.keystore.location' => '/etc/ssl/private/x.p12' }),
	qr/permission denied|pg_read_server_files/, 'class 2: a file property without pg_read_server_files');
refused_as('alice', kafka_source_sql('alice_k', 'k_unknown', 'esc_s',
		properties => { 'interceptor.library' => $evil_so }),
	qr/is not allowed/, 'class 2: a property not on the allow-list');
refused_as('alice', kafka_source_sql('alice_k', 'k_cb', 'esc_s',
		properties => { 'oauthbearer_token_refresh_cb' => 'system' }),
	qr/is set by lakehouse/, 'class 2: a callback');
is(su(q{SELECT count(*) FROM lakehouse.sources WHERE name LIKE 'k\_%' OR name LIKE 'y\_%'}),
	'0', 'classes 1-2: no refused source was created');

# The attacks are real: a superuser's sources run the command and load the
# library.  Then given to alice, their workers start again as alice and
# refuse them at connect.
su(q{SELECT lakehouse.lh_create_pipeline('su_given')});
su(kafka_source_sql('su_given', 'su_kinit', 'esc_s',
		properties => { %kinit_props, 'sasl.kerberos.principal' => "x; touch $marker{given_kinit} #" }));
su(kafka_source_sql('su_given', 'su_plugin', 'esc_s',
		properties => { 'plugin.library.paths' => $given_so }));
ok(wait_for(sub { -e $marker{given_kinit} }, 60),
	'control: a superuser\'s principal with a shell command runs it (the marker appears)');
ok(wait_for(sub { -e $marker{given_plugin} }, 60),
	'control: a superuser\'s plugin.library.paths loads the library (its constructor ran)');
su(q{SELECT lakehouse.lh_set_pipeline_owner('su_given', 'alice')});
lh_poll($node, q{SELECT count(*) FROM lakehouse.source_status
  WHERE pipeline = 'su_given' AND last_error ~ 'permission denied'}, '2',
	'given to alice, both workers refuse their properties at connect');
unlink $marker{given_kinit}, $marker{given_plugin};
ok_as('alice', q{SELECT lakehouse.lh_restart_source('su_kinit'), lakehouse.lh_restart_source('su_plugin')},
	'alice restarts them');
lh_poll($node, q{SELECT count(*) FROM lakehouse.source_status
  WHERE pipeline = 'su_given' AND worker_state ~ 'error|backoff' AND last_error ~ 'permission denied'},
	'2', 'they fail again at connect');
no_marker('given_kinit', 'class 1: the given source');
no_marker('given_plugin', 'class 2: the given source');
ok_as('alice', q{SELECT lakehouse.lh_drop_pipeline('su_given')}, 'alice drops what she was given');
no_marker($_, "classes 1-2: $_") for qw(principal kinit yaml_kinit plugin engine);

# ===========================================================================
# 4. Secrets of another role
# ===========================================================================

my $adm_token = 'adm-bearer-7f3c91e2a0';
my $adm_token2 = 'adm-bearer-granted-55d1';
my $adm_kpw = 'adm-kafka-pw-0c6b2f';
lh_secret($node, 'adm_token', $adm_token, role => 'adm');
lh_secret($node, 'adm_token2', $adm_token2, role => 'adm');
lh_secret($node, 'adm_kpw', $adm_kpw, role => 'adm');
http_control($srv, { auth => {
	'/a/bearer' => { type => 'bearer', token => $adm_token },
	'/a/bearer2' => { type => 'bearer', token => $adm_token2 } } });

ok_as('alice', q{SELECT lakehouse.lh_create_pipeline('alice_sec') > 0}, 'alice makes a pipeline');
refused_as('alice', q{SELECT lakehouse.lh_add_source('alice_sec', 's_http', 'http', }
	  . jsonq({ url => "$B/a/bearer/all/items", auth => { type => 'bearer', token_secret => 'adm_token' } }) . ')',
	qr/permission denied for secret "adm_token"/, 'class 4: an admin\'s secret as an HTTP token');
refused_as('alice', kafka_source_sql('alice_sec', 's_kafka', 'esc_s',
		properties => { 'security.protocol' => 'sasl_plaintext', 'sasl.mechanism' => 'PLAIN',
			'sasl.username' => 'alice' },
		secret_properties => { 'sasl.password' => 'adm_kpw' }),
	qr/permission denied for secret "adm_kpw"/, 'class 4: an admin\'s secret as a Kafka SASL password');
refused_as('alice', <<"EOY" =~ s/^/SELECT lakehouse.lh_apply_config(\$y\$/r . '$y$)',
pipeline: alice_sec
sources:
  - name: s_yaml
    kind: http
    options:
      url: "$B/a/bearer/all/items"
      auth: {type: bearer, token_secret: adm_token}
EOY
	qr/permission denied for secret "adm_token"/, 'class 4: the same through YAML');
refused_as('alice', q{SELECT lakehouse.lh_grant_secret('adm_token', 'alice')},
	qr/permission denied|must be the owner|owner/, 'class 4: granting herself the secret');
refused_as('alice', q{SELECT lakehouse.lh_set_pipeline_owner('alice_sec', 'adm')},
	qr/permission denied/, 'class 4: giving her pipeline to the secret\'s owner');
refused_as('alice', q{SELECT count(*) FROM lakehouse.secrets}, qr/permission denied/,
	'class 4: reading the secrets table');
is(ok_as('alice', q{SELECT count(*) FROM lakehouse.secret_list WHERE owner = 'adm'}, 'alice lists secrets'),
	'0', 'class 4: alice does not even see the admin\'s secret names');

# granted, used, revoked: the next use fails before any request
psql_as('adm', q{SELECT lakehouse.lh_grant_secret('adm_token2', 'alice')});
psql_as('adm', q{SELECT lakehouse.lh_grant_secret('adm_kpw', 'alice')});
ok_as('alice', q{SELECT lakehouse.lh_add_source('alice_sec', 's_granted', 'http', }
	  . jsonq({ url => "$B/a/bearer2/all/items", auth => { type => 'bearer', token_secret => 'adm_token2' } }) . ') > 0',
	'a granted secret may be used');
is(ok_as('alice', q{SELECT lakehouse.lh_ingest('s_granted')->>'status'}, 'alice ingests'),
	'succeeded', 'with the grant, the ingest succeeds');
ok_as('alice', kafka_source_sql('alice_sec', 's_sasl', 'esc_s',
		properties => { 'security.protocol' => 'sasl_plaintext', 'sasl.mechanism' => 'PLAIN',
			'sasl.username' => 'alice' },
		secret_properties => { 'sasl.password' => 'adm_kpw' }) . ' > 0',
	'a granted secret may be a SASL password');
my $requests = scalar(grep { m{/a/bearer2} } split /\n/, slurp_file($srv->{log}));
psql_as('adm', q{SELECT lakehouse.lh_revoke_secret('adm_token2', 'alice')});
psql_as('adm', q{SELECT lakehouse.lh_revoke_secret('adm_kpw', 'alice')});
my $r = ok_as('alice', q{SELECT lakehouse.lh_ingest('s_granted')->>'error'}, 'alice ingests after the revoke');
like($r, qr/permission denied for secret "adm_token2"/, 'class 4: revoked: the ingest fails on the secret');
is(scalar(grep { m{/a/bearer2} } split /\n/, slurp_file($srv->{log})), $requests,
	'class 4: revoked: no request was sent');
ok_as('alice', q{SELECT lakehouse.lh_restart_source('s_sasl')}, 'alice restarts the SASL source');
lh_poll($node, q{SELECT last_error ~ 'permission denied for secret "adm_kpw"'
  FROM lakehouse.source_status WHERE source = 's_sasl'}, 't',
	'class 4: revoked: the Kafka worker refuses the SASL password at connect');
lh_check_request_log($srv, { 'the admin\'s first token' => { match => qr/\Q$adm_token\E/, allowed => [] } });
ok_as('alice', q{SELECT lakehouse.lh_drop_pipeline('alice_sec')}, 'alice drops the pipeline');

# ===========================================================================
# 6. Parser bounds
# ===========================================================================

sub fast_refusal
{
	my ($sql, $re, $what) = @_;
	my ($ret, $out, $err) = psql_as('alice', "SET statement_timeout = '10s';\n$sql");
	ok($ret != 0 && $err =~ $re && $err !~ /statement timeout/, "class 6: $what: refused at once")
	  or diag(substr($err, 0, 500));
	return;
}

my $deep_flow = 'pipeline: deep' . "\n" . 'x: ' . ('[' x 100_000) . (']' x 100_000) . "\n";
fast_refusal(q{SELECT lakehouse.lh_apply_config($y$} . $deep_flow . q{$y$)},
	qr/nests too deeply/, '100k nested flow sequences');
my $deep_block = "pipeline: deep\n";
$deep_block .= (' ' x $_) . "k$_:\n" for 0 .. 999;
$deep_block .= (' ' x 1000) . "v\n";
fast_refusal(q{SELECT lakehouse.lh_apply_config($y$} . $deep_block . q{$y$)},
	qr/nests too deeply/, '1000 nested block mappings');
my $big = "pipeline: big\ndescription: \"" . ('x' x (2 * 1024 * 1024)) . "\"\n";
fast_refusal(q{SELECT lakehouse.lh_apply_config($y$} . $big . q{$y$)},
	qr/too large/, 'a 2 MiB document');
ok_as('alice', q{SELECT lakehouse.lh_define_silver('alice_t', 'silver.alice_s2', 'alice_t_src',
  '[{"name": "id", "type": "integer"}]') > 0}, 'alice defines a table for a contract');
my $deep_contract = "apiVersion: v3.0.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nx: "
  . ('[' x 50_000) . (']' x 50_000) . "\n";
fast_refusal(q{SELECT lakehouse.lh_attach_contract('silver.alice_s2', $y$} . $deep_contract . q{$y$)},
	qr/too deep|nests too deeply|depth/, 'a deeply nested contract');

# ===========================================================================
# 7. Encoded credentials echoed by an API
# ===========================================================================

my $basic_pw = 'pw:"with\\quote/7Q';
my $api_key = 'qk+/=&key 9';
my $bearer = 'tok"en\\with/slash_4411';
lh_secret($node, 'alice_basic', $basic_pw, role => 'alice');
lh_secret($node, 'alice_key', $api_key, role => 'alice');
lh_secret($node, 'alice_bearer', $bearer, role => 'alice');
# (a 4xx is not retried, a 5xx is: both errors quote the body)
http_control($srv, { faults => [
	{ kind => 'status', status => 500, echo => 'headers', path => '/a/basic', times => -1 },
	{ kind => 'status', status => 400, echo => 'headers', path => '/a/key', times => -1 },
	{ kind => 'status', status => 403, echo => 'headers', path => '/a/tok', times => -1 } ] });
ok_as('alice', q{
SELECT lakehouse.lh_create_pipeline('alice_leak') > 0;
SELECT lakehouse.lh_add_source('alice_leak', 'l_basic', 'http', }
	  . jsonq({ url => "$B/a/basic/all/items", retries => 0,
		auth => { type => 'basic', username => 'lh_user', password_secret => 'alice_basic' } }) . q{) > 0;
SELECT lakehouse.lh_add_source('alice_leak', 'l_key', 'http', }
	  . jsonq({ url => "$B/a/key/all/items", retries => 0,
		auth => { type => 'api_key', in => 'query', name => 'api_key', secret => 'alice_key' } }) . q{) > 0;
SELECT lakehouse.lh_add_source('alice_leak', 'l_tok', 'http', }
	  . jsonq({ url => "$B/a/tok/all/items", retries => 0,
		auth => { type => 'bearer', token_secret => 'alice_bearer' } }) . q{) > 0;
}, 'alice declares three sources against an API that echoes requests');
my %redacted = (
	l_basic => qr/"Authorization":"Basic \*\*\*"/,
	l_key => qr/api_key=\*\*\*/,
	l_tok => qr/"Authorization":"Bearer \*\*\*"/);
for my $s (sort keys %redacted)
{
	my $run = ok_as('alice', "SELECT lakehouse.lh_ingest('$s')->>'run_id'", "alice ingests $s");
	my $error = su("SELECT concat_ws(' ', error_message, error_detail) FROM lakehouse.run_stages WHERE run_id = $run");
	like($error, qr/injected \d+/, "class 7: $s: the error quotes the API's body");
	like($error, $redacted{$s}, "class 7: $s: with the echoed credential redacted");
}
ok_as('alice', q{SELECT lakehouse.lh_run_pipeline('alice_leak')->>'status'}, 'alice runs the pipeline too');
my $b64 = encode_base64("lh_user:$basic_pw", '');
(my $json_basic = $basic_pw) =~ s/(["\\])/\\$1/g;
(my $json_bearer = $bearer) =~ s/(["\\])/\\$1/g;
(my $url_key = $api_key) =~ s{([^A-Za-z0-9._~-])}{sprintf('%%%02X', ord($1))}ge;
(my $form_key = $url_key) =~ s/%20/+/g;
lh_check_secrets($node,
	values => [ $b64, $json_basic, $json_bearer, $url_key, lc($url_key), $form_key,
		encode_base64($bearer, '') ]);
lh_check_request_log($srv, {
	'the basic credential was sent' => { match => qr/\Q$b64\E/, allowed => [ qr/^Authorization: Basic / ] } });
http_control($srv, { clear_faults => JSON::PP::true });

# ===========================================================================
# 8. Another engineer's pipeline; the operator's limits; the admin's
# ===========================================================================

my $gold_sql = su(q{SELECT sql FROM lakehouse.tables WHERE table_name = 'alice_g'});
refused_as('bob', q{SELECT lakehouse.lh_define_gold('alice_t', 'gold.alice_g', 'SELECT 1 AS probe, 2 AS n', replace => true)},
	qr/permission denied/, 'class 8: bob redeclares alice\'s gold');
refused_as('bob', q{SELECT lakehouse.lh_add_source('alice_t', 'bob_src', 'table', '{"table": "public.feed"}')},
	qr/permission denied/, 'class 8: bob adds a source to alice\'s pipeline');
refused_as('bob', q{SELECT lakehouse.lh_disable_source('alice_k_src')},
	qr/permission denied/, 'class 8: bob disables alice\'s source');
refused_as('bob', q{SELECT lakehouse.lh_run_pipeline('alice_t')},
	qr/permission denied/, 'class 8: bob runs alice\'s pipeline (he is not an operator)');
refused_as('bob', q{SELECT lakehouse.lh_drop_pipeline('alice_t')},
	qr/permission denied/, 'class 8: bob drops alice\'s pipeline');
refused_as('bob', q{SELECT lakehouse.lh_set_expectations('silver.alice_s', '[]')},
	qr/permission denied/, 'class 8: bob replaces alice\'s expectations');
refused_as('bob', q{SELECT lakehouse.lh_set_pipeline_owner('alice_t', 'bob')},
	qr/permission denied/, 'class 8: bob takes alice\'s pipeline');
refused_as('bob', q{SELECT lakehouse.lh_apply_config($y$
pipeline: alice_t
sources: []
$y$)}, qr/permission denied/, 'class 8: bob redeclares alice\'s pipeline through YAML');
refused_as('bob', q{UPDATE lakehouse.tables SET sql = 'SELECT 1' WHERE table_name = 'alice_g'},
	qr/permission denied/, 'class 8: bob updates the catalog directly');
refused_as('bob', q{INSERT INTO lakehouse.pipelines (name, owner) VALUES ('bob_x', 'bob')},
	qr/permission denied/, 'class 8: bob inserts into the catalog directly');
is(su(q{SELECT sql FROM lakehouse.tables WHERE table_name = 'alice_g'}), $gold_sql,
	'class 8: alice\'s gold SQL is unchanged');

# the operator: run, disable, enable; nothing more
ok_as('olga', q{SELECT lakehouse.lh_disable_source('alice_k_src')}, 'olga disables a source');
ok_as('olga', q{SELECT lakehouse.lh_enable_source('alice_k_src')}, 'olga enables it again');
refused_as('olga', q{SELECT lakehouse.lh_define_gold('alice_t', 'gold.alice_g', 'SELECT 1 AS probe, 2 AS n', replace => true)},
	qr/permission denied/, 'class 8: olga redeclares gold');
refused_as('olga', q{SELECT lakehouse.lh_drop_pipeline('alice_t')}, qr/permission denied/,
	'class 8: olga drops a pipeline');
refused_as('olga', q{SELECT lakehouse.lh_create_pipeline('olga_p')}, qr/permission denied/,
	'class 8: olga creates a pipeline');
refused_as('olga', q{SELECT lakehouse.lh_set_expectations('silver.alice_s', '[]')},
	qr/permission denied/, 'class 8: olga replaces expectations');

# the admin: covers alice, not a superuser's pipeline
ok_as('adm', q{SELECT lakehouse.lh_disable_source('alice_h_src'), lakehouse.lh_set_retention('alice_t_src', '30 days')},
	'the admin acts on alice\'s pipeline');
su(q{SELECT lakehouse.lh_create_pipeline('su_p')});
refused_as('adm', q{SELECT lakehouse.lh_drop_pipeline('su_p')}, qr/permission denied/,
	'class 8: the admin drops a superuser\'s pipeline');
refused_as('adm', q{SELECT lakehouse.lh_set_pipeline_owner('alice_t', 'postgres')}, qr/permission denied/,
	'class 8: the admin gives alice\'s pipeline to a superuser');

# ===========================================================================
# 3 (end). pg_cron ran alice's pipeline, as alice
# ===========================================================================

# (the row tagged 'cron' is read by the first run after the schedule: the
# job's; its index expression and gold SQL log)
lh_poll($node, q{SELECT count(*) > 0 FROM alice_code.esc_log WHERE tag = 'cron'},
	't', 'pg_cron ran the pipeline', timeout => 90)
  or diag(su(q{SELECT string_agg(concat_ws(' ', tag, cur, sess, btype), E'\n') FROM alice_code.esc_log})
	  . "\n" . su(q{SELECT string_agg(concat_ws(' ', status, return_message), E'\n') FROM cron.job_run_details}));
escalation_contained('cron', 'postgres', 'index expression, run by a superuser\'s pg_cron job');
lh_poll($node, q{SELECT count(*) FROM alice_code.esc_log WHERE tag = 'gold' AND sess = 'postgres'
  AND at > (SELECT min(at) FROM alice_code.esc_log WHERE tag = 'cron')}, '1',
	'the job ran the gold SQL too');
escalation_contained('gold', undef, 'gold SQL, run by a superuser\'s pg_cron job');
is(su(q{SELECT string_agg(DISTINCT status, ',') FROM cron.job_run_details}), 'succeeded',
	'the pg_cron job succeeded');
su(q{SELECT lakehouse.lh_unschedule('alice_t')});
is(rolsuper(), $roles_before, 'class 3: rolsuper still unchanged');
no_marker('program', 'class 3: COPY TO PROGRAM, after pg_cron');

# ===========================================================================
# 5. Crash loops
# ===========================================================================

my %oauth_props = (
	'security.protocol' => 'sasl_plaintext',
	'sasl.mechanism' => 'OAUTHBEARER',
	'enable.sasl.oauthbearer.unsecure.jwt' => 'true',
	'sasl.oauthbearer.config' => 'garbage');
refused_as('alice', kafka_source_sql('alice_k', 'k_oauth', 'esc_s', properties => \%oauth_props),
	qr/permission denied/, 'class 5: alice declares the crashing OAUTHBEARER configuration');
refused_as('alice', kafka_source_sql('alice_k', 'k_oauth2', 'esc_s',
		properties => { 'security.protocol' => 'sasl_plaintext', 'sasl.mechanism' => 'OAUTHBEARER' }),
	qr/OAUTHBEARER/, 'class 5: OAUTHBEARER without OIDC');

# Nothing so far reset the cluster.
is($watch->query_safe('SELECT pg_backend_pid()'), $watch_pid,
	'classes 1-8: the session opened at the start survived every attack');
is(su('SELECT pg_postmaster_start_time()'), $start_time, 'the postmaster never restarted');
$watch->quit;

sub crashes_in_log
{
	my $log = slurp_file($node->logfile);
	my $n = () = $log =~ /was terminated by signal 11/g;
	return $n;
}
my $crashes0 = crashes_in_log();

# librdkafka 2.0.2 segfaults on this configuration: a superuser's source
# (superusers may use it) crashes its worker twice, then is disabled.
su(q{SELECT lakehouse.lh_create_pipeline('su_crash')});
su(kafka_source_sql('su_crash', 'su_oauth', 'esc_s', properties => \%oauth_props));
lh_poll($node, q{SELECT CASE WHEN enabled THEN 'on' ELSE 'off' END || '|' || coalesce(disabled_reason, '')
  FROM lakehouse.source_status WHERE source = 'su_oauth'}, 'off|its worker crashed 2 times in a row (lakehouse.max_worker_crashes); fix the cause, then run lakehouse.lh_enable_source()',
	'class 5: the crashing source is disabled after 2 crashes, with the reason',
	timeout => 120);
is(crashes_in_log() - $crashes0, 2, 'class 5: it crashed exactly twice');

# alice's Kafka worker, killed with SIGSEGV twice
my $crashes1 = crashes_in_log();
for my $i (1 .. 2)
{
	my $pid;
	# (the server may still be restarting after the last crash)
	ok(wait_for(sub { $pid = eval { lh_worker_pid($node, 'alice_k_src') } // ''; $pid =~ /^\d+$/ }, 60),
		"class 5: alice's worker runs ($i)");
	kill 'SEGV', $pid;
	ok(wait_for(sub { crashes_in_log() >= $crashes1 + $i }, 60), "class 5: it crashed ($i)");
}
lh_poll($node, q{SELECT CASE WHEN enabled THEN 'on' ELSE 'off' END || '|' || (disabled_reason ~ 'crashed 2 times')
  FROM lakehouse.source_status WHERE source = 'alice_k_src'}, 'off|true', 'class 5: alice\'s source is disabled after 2 crashes',
	timeout => 60);

# and then the cluster stays up: no crash, the same session, for longer
# than the crashing worker took to crash
my $calm = $node->background_psql('postgres', on_error_stop => 0);
my $calm_pid = $calm->query_safe('SELECT pg_backend_pid()');
my $crashes2 = crashes_in_log();
sleep 15;
is($calm->query_safe('SELECT pg_backend_pid()'), $calm_pid,
	'class 5: after the disabling, a session stays connected for 15 s');
is(crashes_in_log(), $crashes2, 'class 5: no worker crashed since');
$calm->quit;
is(rolsuper(), $roles_before, 'at the end: rolsuper unchanged');

$node->stop;
done_testing();

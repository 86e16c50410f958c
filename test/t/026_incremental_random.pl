
# Copyright (c) lakehouse authors

# Incremental gold is exact (issue 18): a randomized test.
#
# One pipeline reads three production tables (prod.orders, prod.customers,
# prod.products) through table sources (watermark updated_at) into silver
# tables keyed by id, and builds four gold tables shaped like the sample's:
#   gold.daily        merge by day: count, sum, avg, min, max of a numeric
#   gold.by_customer  rebuild: count(distinct product_id), bool_or, NULL group
#   gold.fact_sales   rebuild: orders JOIN products LEFT JOIN customers
#   gold.customer_360 rebuild over gold.fact_sales (gold reading gold):
#                     RFM-style max/count/sum, CASE segments and HAVING
# Then 200 runs.  Before each run, random operations on the production
# tables: inserts, updates (amounts, status, and key and group moves: an
# order changes customer, day or product; customers and products change),
# deletes (lakehouse.lh_forget of an order, now and then of a customer or
# a product), late rows (an old order_ts with a current updated_at, the
# way the table source sees late data), rows that reference customers or
# products that do not exist yet, and runs with nothing to do.
#
# After each run every gold table must equal its query run directly, the
# same SQL text (EXCEPT ALL both ways is empty), and the run must succeed.
# The refresh of each gold stage (run_stages.refresh) is recorded; at the
# end, for each table, not every refresh may have been full, and of the
# runs whose batch erased nothing most must have been incremental or
# partial (an erasure makes the next refresh full by design).
#
# The random operations come from a seeded PRNG: LH_SEED=<n> replays a
# run; the seed is printed at the start and in every failure.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $seed = defined $ENV{LH_SEED} && $ENV{LH_SEED} ne '' ? int($ENV{LH_SEED}) : (time() * 1000) % 2147483647;
$seed = int($seed);
srand($seed);
note "LH_SEED=$seed (set LH_SEED to replay these operations)";

my $runs = $ENV{LH_RUNS} || 200;
my $t0 = time();

my $node = PostgreSQL::Test::Cluster->new('incremental_random');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'lakehouse'\nlakehouse.launcher_naptime = 3600\nfsync = off");
$node->start;

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# ------------------------------------------------------------------
# production tables with a deterministic start: 150 customers (orders also
# name customers 151..160, which do not exist yet), 40 products (orders
# also name 41..45), 1500 orders over 90 days, some without a customer
# ------------------------------------------------------------------
my $n_customers = 150;
my $n_products  = 40;
my $n_orders    = 1500;

sql(qq{
CREATE EXTENSION lakehouse;
CREATE SCHEMA prod;
CREATE TABLE prod.customers (
    customer_id bigint PRIMARY KEY,
    name text,
    country text,
    updated_at timestamptz NOT NULL);
CREATE TABLE prod.products (
    product_id bigint PRIMARY KEY,
    name text,
    category text,
    list_price numeric(12,2),
    updated_at timestamptz NOT NULL);
CREATE TABLE prod.orders (
    order_id bigint PRIMARY KEY,
    customer_id bigint,
    product_id bigint NOT NULL,
    quantity int NOT NULL,
    amount numeric(12,2) NOT NULL,
    order_ts timestamptz NOT NULL,
    status text,
    updated_at timestamptz NOT NULL);
INSERT INTO prod.customers
SELECT i, 'customer ' || i, (ARRAY['DE','FR','US','NL','JP'])[1 + i % 5],
       timestamptz '2024-12-31 00:00:00+00'
  FROM generate_series(1, $n_customers) i;
INSERT INTO prod.products
SELECT i, 'product ' || i, (ARRAY['books','games','tools','food'])[1 + i % 4],
       ((i * 713) % 9000) / 100.0 + 0.99, timestamptz '2024-12-31 00:00:00+00'
  FROM generate_series(1, $n_products) i;
INSERT INTO prod.orders
SELECT i,
       CASE WHEN i % 53 = 0 THEN NULL ELSE 1 + (i * 7919) % 160 END,
       1 + (i * 31) % 45,
       1 + i % 4,
       ((i * 3137) % 6000) / 100.0 + 0.10,
       timestamptz '2024-01-01 00:00:00+00' + ((i * 13) % 90) * interval '1 day'
         + (i % 86400) * interval '1 second',
       (ARRAY['placed','shipped','delivered','cancelled'])[1 + (i * 7) % 4],
       timestamptz '2024-12-31 00:00:00+00'
  FROM generate_series(1, $n_orders) i;
});

# the Perl mirror of the production tables (ids only, for picking targets)
my (%order_cust, %order_prod, %customers, %products);
for my $i (1 .. $n_orders)
{
	$order_cust{$i} = $i % 53 == 0 ? undef : 1 + ($i * 7919) % 160;
	$order_prod{$i} = 1 + ($i * 31) % 45;
}
$customers{$_} = 1 for 1 .. $n_customers;
$products{$_}  = 1 for 1 .. $n_products;
my $next_order    = $n_orders + 1;
my $next_customer = $n_customers + 1;
my $next_product  = $n_products + 1;

# ------------------------------------------------------------------
# the pipeline
# ------------------------------------------------------------------
my %gold_sql = (
	'gold.daily' => q{SELECT (o.order_ts AT TIME ZONE 'UTC')::date AS day,
       count(*) AS orders,
       sum(o.amount) AS revenue,
       avg(o.amount) AS avg_amount,
       min(o.amount) AS min_amount,
       max(o.amount) AS max_amount,
       sum(o.quantity) AS units
  FROM silver.orders o
 WHERE o.status IS DISTINCT FROM 'cancelled'
 GROUP BY (o.order_ts AT TIME ZONE 'UTC')::date},
	'gold.by_customer' => q{SELECT o.customer_id,
       count(*) AS orders,
       count(DISTINCT o.product_id) AS products,
       sum(o.amount) AS total,
       bool_or(o.status = 'cancelled') AS any_cancelled
  FROM silver.orders o
 GROUP BY o.customer_id},
	'gold.fact_sales' => q{SELECT o.order_id,
       o.order_ts,
       (o.order_ts AT TIME ZONE 'UTC')::date AS order_date,
       o.status,
       o.customer_id,
       c.name AS customer_name,
       c.country,
       o.product_id,
       p.name AS product_name,
       p.category,
       o.quantity,
       o.amount,
       (o.quantity * p.list_price)::numeric(14,2) AS list_amount
  FROM silver.orders o
  JOIN silver.products p ON p.product_id = o.product_id
  LEFT JOIN silver.customers c ON c.customer_id = o.customer_id},
	'gold.customer_360' => q{SELECT f.customer_id,
       min(f.customer_name) AS customer_name,
       max(f.order_ts) AS last_order_ts,
       count(*) AS frequency,
       sum(f.amount) AS monetary,
       CASE WHEN count(*) >= 12 THEN 'champion'
            WHEN sum(f.amount) >= 300 THEN 'big spender'
            WHEN max(f.order_ts) < timestamptz '2024-02-01 00:00:00+00' THEN 'hibernating'
            ELSE 'regular' END AS segment
  FROM gold.fact_sales f
 WHERE f.status IS DISTINCT FROM 'cancelled'
 GROUP BY f.customer_id
HAVING count(*) >= 2});
# declaration order: customer_360 reads fact_sales, so it comes after it
my @gold = ('gold.daily', 'gold.by_customer', 'gold.fact_sales', 'gold.customer_360');

sub lit { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }

sql(q{
SELECT lakehouse.lh_create_pipeline('ivr', 'issue 18: randomized incremental gold');
SELECT lakehouse.lh_add_source('ivr', 'ivr_orders', 'table',
  '{"table": "prod.orders", "watermark": "updated_at"}');
SELECT lakehouse.lh_add_source('ivr', 'ivr_customers', 'table',
  '{"table": "prod.customers", "watermark": "updated_at"}');
SELECT lakehouse.lh_add_source('ivr', 'ivr_products', 'table',
  '{"table": "prod.products", "watermark": "updated_at"}');
SELECT lakehouse.lh_define_silver('ivr', 'silver.orders', 'ivr_orders',
  '[{"name": "order_id", "type": "bigint", "required": true},
    {"name": "customer_id", "type": "bigint"},
    {"name": "product_id", "type": "bigint", "required": true},
    {"name": "quantity", "type": "integer", "required": true},
    {"name": "amount", "type": "numeric(12,2)", "required": true},
    {"name": "order_ts", "type": "timestamptz", "required": true},
    {"name": "status", "type": "text"},
    {"name": "updated_at", "type": "timestamptz", "required": true}]',
  keys => ARRAY['order_id'], order_by => 'updated_at');
SELECT lakehouse.lh_define_silver('ivr', 'silver.customers', 'ivr_customers',
  '[{"name": "customer_id", "type": "bigint", "required": true},
    {"name": "name", "type": "text"},
    {"name": "country", "type": "text"},
    {"name": "updated_at", "type": "timestamptz", "required": true}]',
  keys => ARRAY['customer_id'], order_by => 'updated_at');
SELECT lakehouse.lh_define_silver('ivr', 'silver.products', 'ivr_products',
  '[{"name": "product_id", "type": "bigint", "required": true},
    {"name": "name", "type": "text"},
    {"name": "category", "type": "text"},
    {"name": "list_price", "type": "numeric(12,2)"},
    {"name": "updated_at", "type": "timestamptz", "required": true}]',
  keys => ARRAY['product_id'], order_by => 'updated_at');
});
for my $t (@gold)
{
	my $kind = $t eq 'gold.daily' ? q{'merge', ARRAY['day']} : q{'rebuild'};
	sql("SET client_min_messages = warning; SELECT lakehouse.lh_define_gold('ivr', "
		  . lit($t) . ', ' . lit($gold_sql{$t}) . ", $kind)");
}

# ------------------------------------------------------------------
# random operations
# ------------------------------------------------------------------
my $clock = 0;    # seconds after 2025-01-01: every write gets a newer watermark

sub now_ts
{
	$clock++;
	return "timestamptz '2025-01-01 00:00:00+00' + interval '$clock seconds'";
}

sub pick
{
	my ($h) = @_;
	my @k = sort { $a <=> $b } keys %$h;
	return undef unless @k;
	return $k[ int(rand(@k)) ];
}

# an amount with cents, often of the 0.1 + 0.2 kind
sub amount
{
	return sprintf('%.2f', (1 + int(rand(3))) / 10) if rand() < 0.3;
	return sprintf('%.2f', int(rand(20000)) / 100);
}

sub order_ts
{
	my ($late) = @_;
	my $sec = int(rand(86400));
	return "timestamptz '2023-06-01 00:00:00+00' + interval '"
	  . int(rand(200)) . " days $sec seconds'"
	  if $late;
	return "timestamptz '2024-01-01 00:00:00+00' + interval '"
	  . int(rand(90)) . " days $sec seconds'";
}

sub a_customer
{
	my $r = rand();
	return 'NULL' if $r < 0.05;
	return 151 + int(rand(10)) if $r < 0.10;    # maybe not there (yet)
	return pick(\%customers) // 'NULL';
}

sub a_product
{
	return 41 + int(rand(5)) if rand() < 0.05;    # maybe not there (yet)
	return pick(\%products) // 1;
}

sub a_status { return (qw(placed shipped delivered cancelled))[ int(rand(4)) ]; }

my %op_count;

sub one_op
{
	my $r = rand();
	my $ts;
	if ($r < 0.22)
	{
		# a new order; one in ten is late
		my $id   = $next_order++;
		my $late = rand() < 0.1;
		my $c    = a_customer();
		my $p    = a_product();
		$order_cust{$id} = $c eq 'NULL' ? undef : $c;
		$order_prod{$id} = $p;
		$op_count{ $late ? 'insert late order' : 'insert order' }++;
		return "INSERT INTO prod.orders VALUES ($id, $c, $p, "
		  . (1 + int(rand(5))) . ', ' . amount() . ', ' . order_ts($late) . ', '
		  . lit(a_status()) . ', ' . now_ts() . ');';
	}
	if ($r < 0.50)
	{
		# an update of one order: amount, status, or a key/group move
		my $id = pick(\%order_cust) // return '';
		my @set;
		my $what = int(rand(7));
		if ($what == 0) { push @set, 'amount = ' . amount(); }
		elsif ($what == 1) { push @set, 'status = ' . lit(a_status()); }
		elsif ($what == 2)
		{
			my $c = a_customer();
			$order_cust{$id} = $c eq 'NULL' ? undef : $c;
			push @set, "customer_id = $c";
		}
		elsif ($what == 3) { push @set, 'order_ts = ' . order_ts(rand() < 0.2); }
		elsif ($what == 4)
		{
			my $p = a_product();
			$order_prod{$id} = $p;
			push @set, "product_id = $p";
		}
		elsif ($what == 5)
		{
			# several at once
			my $c = a_customer();
			$order_cust{$id} = $c eq 'NULL' ? undef : $c;
			push @set, "customer_id = $c", 'order_ts = ' . order_ts(0),
			  'amount = amount + ' . amount(), 'quantity = ' . (1 + int(rand(5)));
		}
		else { push @set, 'quantity = quantity'; }    # same values, newer watermark
		$op_count{"update order ($what)"}++;
		return 'UPDATE prod.orders SET ' . join(', ', @set, 'updated_at = ' . now_ts())
		  . " WHERE order_id = $id;";
	}
	if ($r < 0.55)
	{
		# a few orders move to one customer and day in one statement
		my @ids = grep { defined } map { pick(\%order_cust) } 1 .. (2 + int(rand(4)));
		return '' unless @ids;
		my $c = a_customer();
		$order_cust{$_} = $c eq 'NULL' ? undef : $c for @ids;
		$op_count{'move several orders'}++;
		return "UPDATE prod.orders SET customer_id = $c, order_ts = " . order_ts(0)
		  . ' + order_id * interval \'1 second\', updated_at = ' . now_ts()
		  . ' WHERE order_id IN (' . join(', ', @ids) . ');';
	}
	if ($r < 0.63)
	{
		# an order is erased
		my $id = pick(\%order_cust) // return '';
		delete $order_cust{$id};
		delete $order_prod{$id};
		$op_count{'forget order'}++;
		return "SELECT count(*) FROM lakehouse.lh_forget('order_id', '$id', 'ivr');"
		  . " DELETE FROM prod.orders WHERE order_id = $id;";
	}
	if ($r < 0.72)
	{
		my $c = pick(\%customers) // return '';
		$op_count{'update customer'}++;
		return 'UPDATE prod.customers SET '
		  . (rand() < 0.5 ? "name = 'customer $c v" . int(rand(1000)) . "'"
			: "country = (ARRAY['DE','FR','US','NL','JP',NULL])[" . (1 + int(rand(6))) . ']')
		  . ', updated_at = ' . now_ts() . " WHERE customer_id = $c;";
	}
	if ($r < 0.745)
	{
		my $c = $next_customer++;
		$customers{$c} = 1;
		$op_count{'insert customer'}++;
		return "INSERT INTO prod.customers VALUES ($c, 'new customer $c', 'US', " . now_ts() . ');';
	}
	if ($r < 0.755)
	{
		# a customer is erased, with all of their orders
		my $c = pick(\%customers) // return '';
		delete $customers{$c};
		for my $id (keys %order_cust)
		{
			next unless defined $order_cust{$id} && $order_cust{$id} == $c;
			delete $order_cust{$id};
			delete $order_prod{$id};
		}
		$op_count{'forget customer'}++;
		return "SELECT count(*) FROM lakehouse.lh_forget('customer_id', '$c', 'ivr');"
		  . " DELETE FROM prod.orders WHERE customer_id = $c;"
		  . " DELETE FROM prod.customers WHERE customer_id = $c;";
	}
	if ($r < 0.85)
	{
		my $p    = pick(\%products) // return '';
		my $what = int(rand(3));
		$op_count{'update product'}++;
		return 'UPDATE prod.products SET '
		  . (
			  $what == 0 ? "name = 'product $p v" . int(rand(1000)) . "'"
			: $what == 1 ? "category = (ARRAY['books','games','tools','food',NULL])[" . (1 + int(rand(5))) . ']'
			: 'list_price = ' . amount())
		  . ', updated_at = ' . now_ts() . " WHERE product_id = $p;";
	}
	if ($r < 0.87)
	{
		my $p = $next_product++;
		$products{$p} = 1;
		$op_count{'insert product'}++;
		return "INSERT INTO prod.products VALUES ($p, 'new product $p', 'games', " . amount() . ', '
		  . now_ts() . ');';
	}
	if ($r < 0.875)
	{
		# a product is erased, with its orders
		my $p = pick(\%products) // return '';
		delete $products{$p};
		for my $id (keys %order_prod)
		{
			next unless $order_prod{$id} == $p;
			delete $order_cust{$id};
			delete $order_prod{$id};
		}
		$op_count{'forget product'}++;
		return "SELECT count(*) FROM lakehouse.lh_forget('product_id', '$p', 'ivr');"
		  . " DELETE FROM prod.orders WHERE product_id = $p;"
		  . " DELETE FROM prod.products WHERE product_id = $p;";
	}
	# a late order for a day far in the past (a new group), or a
	# status change that moves an order out of or into the filters
	if ($r < 0.94)
	{
		my $id = $next_order++;
		my $c  = a_customer();
		my $p  = a_product();
		$order_cust{$id} = $c eq 'NULL' ? undef : $c;
		$order_prod{$id} = $p;
		$op_count{'insert very late order'}++;
		return "INSERT INTO prod.orders VALUES ($id, $c, $p, 1, " . amount()
		  . ", timestamptz '2022-01-01 00:00:00+00' + interval '" . int(rand(300)) . " days', 'placed', "
		  . now_ts() . ');';
	}
	my $id = pick(\%order_cust) // return '';
	$op_count{'cancel or revive order'}++;
	return "UPDATE prod.orders SET status = CASE WHEN status = 'cancelled' THEN NULL ELSE 'cancelled' END,"
	  . ' updated_at = ' . now_ts() . " WHERE order_id = $id;";
}

# the check of one gold table: rows only in the table, rows only in the query
sub check_sql
{
	my ($t) = @_;
	my $q = $gold_sql{$t};
	return "SELECT 'check|$t|' || (SELECT count(*) FROM (TABLE $t EXCEPT ALL ($q)) x)"
	  . " || '|' || (SELECT count(*) FROM (($q) EXCEPT ALL TABLE $t) y);\n";
}

sub diff_of
{
	my ($t) = @_;
	my $q = $gold_sql{$t};
	return sql("SELECT '  only in $t:      ' || x::text FROM (TABLE $t EXCEPT ALL ($q)) x ORDER BY 1 LIMIT 10;"
		  . "SELECT '  only in a rebuild: ' || y::text FROM (($q) EXCEPT ALL TABLE $t) y ORDER BY 1 LIMIT 10;");
}

# ------------------------------------------------------------------
# the runs
# ------------------------------------------------------------------
my %refresh;         # table => refresh => count
my %refresh_noerase; # the same, for runs whose batch erased nothing
my %reasons;         # table => reason => count
my %failed_tables;   # table => number of runs where it differed
my $run_failed = 0;
my $checks_ok  = 0;
my $runs_done  = 0;

for my $run (1 .. $runs)
{
	my @ops;
	if ($run > 1)
	{
		my $r = rand();
		my $n =
		    $r < 0.04 ? 0    # nothing to do: stages are skipped
		  : $r < 0.10 ? 40 + int(rand(80))    # a bigger batch
		  :             1 + int(rand(12));
		push @ops, one_op() for 1 .. $n;
		# now and then a run whose only change is an erasure
		if (rand() < 0.03)
		{
			my $id = pick(\%order_cust);
			if (defined $id)
			{
				delete $order_cust{$id};
				delete $order_prod{$id};
				@ops = ("SELECT count(*) FROM lakehouse.lh_forget('order_id', '$id', 'ivr');"
					  . " DELETE FROM prod.orders WHERE order_id = $id;");
				$op_count{'forget-only run'}++;
			}
		}
	}
	my $ops = join("\n", grep { $_ ne '' } @ops);
	my $script =
	    "SET client_min_messages = warning;\n\\o /dev/null\n$ops\n\\o\n"
	  . "SELECT 'run|' || (r->>'run_id') || '|' || (r->>'status') || '|' || coalesce(replace(r->>'error', E'\\n', ' '), '')"
	  . " FROM lakehouse.lh_run_pipeline('ivr') r;\n"
	  . "SELECT 'stage|' || target || '|' || status || '|' || coalesce(refresh, '') || '|'"
	  . " || coalesce(replace(refresh_reason, E'\\n', ' '), '')"
	  . " FROM lakehouse.run_stages WHERE stage = 'gold'"
	  . " AND run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ivr') ORDER BY stage_no;\n"
	  . join('', map { check_sql($_) } @gold);
	my $out = sql($script);
	$runs_done++;

	my ($status, $error) = ('', '');
	my %diff;
	for my $line (split /\n/, $out)
	{
		my @f = split /\|/, $line, -1;
		if ($f[0] eq 'run') { ($status, $error) = ($f[2], $f[3]); }
		elsif ($f[0] eq 'stage')
		{
			my ($t, $st, $how, $why) = @f[ 1 .. 4 ];
			my $k =
			    $st ne 'succeeded' ? $st
			  : $how eq ''         ? '(none)'
			  :                      $how;
			$refresh{$t}{$k}++;
			$refresh_noerase{$t}{$k}++ if $ops !~ /lh_forget/;
			$reasons{$t}{$why}++ if $st eq 'succeeded' && $how ne 'incremental' && $run > 1;
		}
		elsif ($f[0] eq 'check')
		{
			$diff{ $f[1] } = [ $f[2], $f[3] ];
		}
	}
	if ($status ne 'succeeded')
	{
		$run_failed++;
		fail("run $run succeeds (LH_SEED=$seed)");
		diag("LH_SEED=$seed run $run: status '$status', error: $error\noperations before it:\n$ops");
		last;
	}
	for my $t (@gold)
	{
		my ($extra, $missing) = @{ $diff{$t} // [ '?', '?' ] };
		if ($extra eq '0' && $missing eq '0')
		{
			$checks_ok++;
			next;
		}
		$failed_tables{$t}++;
		# the first difference of each table is told in full
		next if $failed_tables{$t} > 1;
		my $stages = sql("SELECT target || ': ' || status || ' ' || coalesce(refresh, '-') || ' '"
			  . " || coalesce(refresh_reason, '') FROM lakehouse.run_stages WHERE stage = 'gold'"
			  . " AND run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ivr') ORDER BY stage_no");
		fail("$t equals a rebuild after run $run (LH_SEED=$seed)");
		diag("LH_SEED=$seed run $run: $t has $extra rows a rebuild does not give and misses $missing rows"
			  . "\ngold stages of this run:\n$stages\ndifference:\n" . diff_of($t)
			  . "\noperations before this run:\n$ops");
	}
}

my $elapsed = time() - $t0;
note sprintf('LH_SEED=%d: %d runs in %.1f s; operations: %s', $seed, $runs_done, $elapsed,
	join(', ', map { "$_ $op_count{$_}" } sort keys %op_count));

is($run_failed, 0, "every run succeeded (LH_SEED=$seed)");
for my $t (@gold)
{
	is($failed_tables{$t} // 0, 0,
		"$t equals a rebuild after each of the $runs runs (LH_SEED=$seed)");
}

# refresh per stage.  An erasure (lh_forget) takes the subject's images
# out of the change log, so the readers' next refresh is full by design
# (src/transform/changes.c, changes_forget_subject): over all runs a table
# must not always be rebuilt, and of the runs that erased nothing most must
# be incremental or partial.
for my $t (@gold)
{
	my $h = $refresh{$t} // {};
	note "$t: " . join(', ', map { "$_ $h->{$_}" } sort keys %$h);
	my $r = $reasons{$t} // {};
	note "$t reasons when not incremental: "
	  . join('; ', map { "$_ ($r->{$_})" } sort { $r->{$b} <=> $r->{$a} } keys %$r);
	my $written = 0;
	$written += $h->{$_} // 0 for qw(incremental partial full);
	my $inc = ($h->{incremental} // 0) + ($h->{partial} // 0);
	ok($inc > 0, "$t: not every refresh was full ($inc of $written incremental or partial; LH_SEED=$seed)");
	my $g = $refresh_noerase{$t} // {};
	my $written_g = 0;
	$written_g += $g->{$_} // 0 for qw(incremental partial full);
	my $inc_g = ($g->{incremental} // 0) + ($g->{partial} // 0);
	ok($written_g > 0 && $inc_g * 2 > $written_g,
		"$t: most refreshes of runs without an erasure were incremental or partial ($inc_g of $written_g; LH_SEED=$seed)");
	is($h->{'(none)'} // 0, 0, "$t: every gold stage that ran says how it refreshed");
}

# the first build is full, and says why
is( sql(q{SELECT refresh || ' ' || (coalesce(refresh_reason, '') <> '') FROM lakehouse.run_stages
  WHERE run_id = (SELECT min(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ivr')
    AND stage = 'gold' GROUP BY 1}),
	'full true',
	'the first build of every gold table is full, with a reason');

# the change log is pruned: no image is left that every reader has passed
is( sql(q{SELECT count(*) FROM lakehouse.change_log l
  WHERE l.change_id <= (SELECT min(m.change_id) FROM lakehouse.change_marks m
                         WHERE m.input_table_id = l.table_id)}),
	'0', 'the change log keeps no image every reader has consumed');

$node->stop;
done_testing();

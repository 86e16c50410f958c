#!/usr/bin/env bash
#
# bench/quality.sh: the data-quality benchmark (bench/run.sh calls it; it also
# runs alone).  See bench/README.md, "8. Data-quality suite".
#
# A 1,000,000-row silver table (silver.dq_orders, declared with
# lh_define_silver, filled directly as if run 1 had written it) with ten
# expectations: not_null on order_id, customer_id and email, unique order_id,
# between amount 0..10000, accepted_values status, match_regex email,
# amount > 0 (between with an open max), freshness of created_at, and
# relationships customer_id -> dq_customers.customer_id (10,000 rows).
# Sides, each timed with clock_timestamp() around it in one psql session:
#   suite    SELECT ... FROM lakehouse.lh_check('silver.dq_orders')  (full:
#            one scan for the row-level checks, one GROUP BY for unique,
#            results recorded in lakehouse.dq_results)
#   dbt      the ten queries dbt generates for the same tests (not_null,
#            unique, accepted_values, relationships, dbt_utils
#            accepted_range and expression_is_true, dbt_expectations
#            match_regex, source freshness), each wrapped as dbt runs it:
#            select count(*) as failures ... from (<test>) dbt_internal_test
#   incr     lh_check(..., mode => 'incremental', run_id => 2) after a run 2
#            wrote 10,000 more rows (half new keys, half updates)
# A warm-up, then LH_BENCH_REPS repetitions, rotating which of suite and dbt
# goes first, a CHECKPOINT before each side; the best repetition counts.
# The two sides must agree on which tests fail.
#
# Its own throwaway cluster, the settings of bench/run.sh.  Environment:
#   LH_BENCH_QUALITY_ROWS=1000000  rows of the silver table
#   LH_BENCH_REPS=5                timed repetitions per side
#   LH_BENCH_QUALITY_PORT=54397    port of the throwaway cluster
#   LH_BENCH_KEEP=1                keep the temporary directory
#   LH_SKIP_BUILD=1                skip make / make install
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_init quality QUALITY 54397 20000
bench_traps
bench_build

SETUP=$(mktemp /tmp/lakehouse-quality-setup.XXXXXX.sql)
# set +e: under set -e, "(exit $rc)" with rc != 0 would end the trap before
# bench_cleanup stops the cluster
trap 'rc=$?; set +e; rm -f "$SETUP"; (exit $rc); bench_cleanup' EXIT
cat >"$SETUP" <<'EOF'
-- bench/quality.sh setup: the silver table, its suite, run 2's rows
SET client_min_messages = warning;
CREATE EXTENSION lakehouse;
CREATE SCHEMA bench;
CREATE TABLE bench.src (id bigint, payload jsonb);
CREATE TABLE public.dq_customers (customer_id bigint PRIMARY KEY, name text);
INSERT INTO public.dq_customers SELECT g, 'customer ' || g FROM generate_series(1, 10000) g;
SELECT lakehouse.lh_create_pipeline('dqb') > 0 AS ok \gset
SELECT lakehouse.lh_add_source('dqb', 'dqb_src', 'table',
       '{"table": "bench.src", "watermark": "id"}') > 0 AS ok \gset
SELECT lakehouse.lh_define_silver('dqb', 'silver.dq_orders', 'dqb_src',
       '[{"name": "order_id", "type": "bigint"}, {"name": "customer_id", "type": "bigint"},
         {"name": "status", "type": "text"}, {"name": "amount", "type": "numeric(12,2)"},
         {"name": "email", "type": "text"}, {"name": "created_at", "type": "timestamptz"}]',
       keys => '{order_id}') > 0 AS ok \gset
-- run 1: :rows rows, 0.1% without email, 0.05% unknown customer, 0.02% bad status
INSERT INTO silver.dq_orders (order_id, customer_id, status, amount, email, created_at,
                              _lh_bronze_id, _lh_run_id)
SELECT g,
       CASE WHEN g % 2000 = 7 THEN 10000 + g ELSE 1 + g % 10000 END,
       CASE WHEN g % 5000 = 3 THEN 'lost' ELSE (ARRAY['new', 'paid', 'shipped', 'cancelled'])[1 + g % 4] END,
       round((1 + (g::bigint * 7919) % 100000) / 100.0, 2),
       CASE WHEN g % 1000 = 5 THEN NULL ELSE 'user' || g || '@example.com' END,
       now() - (g % 86400) * interval '1 second',
       g, 1
  FROM generate_series(1, :rows) g;
-- run 2: 10,000 rows, half new keys, half newer versions of old ones
UPDATE silver.dq_orders SET amount = amount + 1, _lh_run_id = 2
 WHERE order_id % (:rows / 5000) = 0;
INSERT INTO silver.dq_orders (order_id, customer_id, status, amount, email, created_at,
                              _lh_bronze_id, _lh_run_id)
SELECT :rows + g, 1 + g % 10000, 'new', 12.50, 'new' || g || '@example.com', now(), :rows + g, 2
  FROM generate_series(1, 5000) g;
VACUUM ANALYZE silver.dq_orders;
VACUUM ANALYZE public.dq_customers;

SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"order_id"') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"customer_id"') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'not_null', '"email"') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'unique', '"order_id"') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between',
       '{"column": "amount", "min": 0, "max": 10000}') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'accepted_values',
       '{"column": "status", "values": ["new", "paid", "shipped", "cancelled"]}') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'match_regex',
       '{"column": "email", "regex": "^[^@]+@[^@]+\\.[a-z]+$"}') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'between',
       '{"column": "amount", "min": 0, "strict_min": true}', name => 'amount_positive') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'freshness',
       '{"column": "created_at", "max_age": "2 days"}') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_add_expectation('silver.dq_orders', 'relationships',
       '{"column": "customer_id", "to": "public.dq_customers", "field": "customer_id"}') IS NOT NULL AS ok \gset

CREATE TABLE bench.timings (side text, rep int, warmup boolean, seconds float8, failing text);

-- the ten dbt tests, as dbt compiles and wraps them; returns the failing ones
CREATE TABLE bench.dbt_failing (test text);
EOF
bench_cluster bench-quality "$SETUP"
mkdir -p "$OUT"

say "generating the $ROWS-row silver table and run 2 (10,000 rows)"
psql_bench -v rows="$ROWS" -f "sql/$(basename "$SETUP")" >/dev/null || die "setup failed"

# One dbt test: its compiled SQL wrapped as dbt's test materialization does.
dbt_test()
{
	local name=$1 sql=$2
	cat <<EOF
select count(*) as failures, count(*) != 0 as should_warn, count(*) != 0 as should_error
from (
$sql
) dbt_internal_test \\gset
INSERT INTO bench.dbt_failing SELECT '$name' WHERE :failures > 0;
EOF
}

dbt_side()
{
	echo "TRUNCATE bench.dbt_failing;"
	for c in order_id customer_id email; do
		dbt_test "not_null_$c" "select $c from silver.dq_orders where $c is null"
	done
	dbt_test unique_order_id "select order_id as unique_field, count(*) as n_records
from silver.dq_orders where order_id is not null group by order_id having count(*) > 1"
	dbt_test accepted_range_amount "with meet_condition as (select * from silver.dq_orders where 1=1),
validation_errors as (select * from meet_condition where 1=2 or not amount >= 0 or not amount <= 10000)
select * from validation_errors"
	dbt_test accepted_values_status "with all_values as (select status as value_field, count(*) as n_records
from silver.dq_orders group by status)
select * from all_values where value_field not in ('new','paid','shipped','cancelled')"
	dbt_test match_regex_email "with grouped_expression as (select (email ~ '^[^@]+@[^@]+\\.[a-z]+\$') as expression
from silver.dq_orders where email is not null),
validation_errors as (select * from grouped_expression where not(expression = true))
select * from validation_errors"
	dbt_test amount_positive "select * from silver.dq_orders where not(amount > 0)"
	dbt_test freshness_created_at "select max_loaded_at from (select max(created_at) as max_loaded_at,
now() as snapshotted_at from silver.dq_orders) f where max_loaded_at < snapshotted_at - interval '2 days'"
	dbt_test relationships_customer_id "with child as (select customer_id as from_field from silver.dq_orders
where customer_id is not null),
parent as (select customer_id as to_field from public.dq_customers)
select from_field from child left join parent on child.from_field = parent.to_field
where parent.to_field is null"
}

side()
{
	local name=$1 rep=$2 warm=$3
	echo "CHECKPOINT;"
	echo "SELECT clock_timestamp() AS t0 \\gset"
	case $name in
		suite)
			echo "SELECT coalesce(string_agg(expectation, ',' ORDER BY expectation) FILTER (WHERE NOT success), '') AS failing FROM lakehouse.lh_check('silver.dq_orders') \\gset" ;;
		incr)
			echo "SELECT coalesce(string_agg(expectation, ',' ORDER BY expectation) FILTER (WHERE NOT success), '') AS failing FROM lakehouse.lh_check('silver.dq_orders', mode => 'incremental', run_id => 2) \\gset" ;;
		dbt)
			dbt_side
			echo "SELECT coalesce(string_agg(test, ',' ORDER BY test), '') AS failing FROM bench.dbt_failing \\gset" ;;
	esac
	echo "SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset"
	echo "INSERT INTO bench.timings VALUES ('$name', $rep, $warm, :secs, :'failing');"
}

{
	echo "SET client_min_messages = warning;"
	sides=(suite dbt)
	for rep in $(seq 0 "$REPS"); do
		warm=false
		[ "$rep" -eq 0 ] && warm=true
		echo "\\echo '  quality: repetition $rep$([ "$rep" -eq 0 ] && echo ' (warm-up)')'"
		for i in 0 1; do
			side "${sides[$(( (rep + i) % 2 ))]}" "$rep" "$warm"
		done
		side incr "$rep" "$warm"
	done
	# both sides find the same number of failing tests (3 of 10 fail by construction)
	cat <<'EOF'
SELECT count(DISTINCT failing) AS n FROM bench.timings WHERE side = 'suite' \gset
SELECT (SELECT failing FROM bench.timings WHERE side = 'suite' LIMIT 1) AS s,
       (SELECT failing FROM bench.timings WHERE side = 'dbt' LIMIT 1) AS d \gset
\echo '  quality: failing expectations (suite):' :s
\echo '  quality: failing tests (dbt):' :d
SELECT CASE WHEN :n = 1 AND array_length(string_to_array(:'s', ','), 1)
                          = array_length(string_to_array(:'d', ','), 1)
            THEN 1 ELSE 1 / 0 END AS ok \gset
EOF
} >"$WORK/run.sql"
chown "$PGUSER_OS": "$WORK/run.sql"

say "suite, dbt-style queries and the incremental check: warm-up + $REPS repetitions each"
psql_bench -f run.sql || die "quality benchmark failed (or the sides disagree)"

cat >"$WORK/report.sql" <<'EOF'
WITH best AS (
    SELECT side, min(seconds) AS secs FROM bench.timings WHERE NOT warmup GROUP BY side
)
SELECT '8. quality suite (10 expectations, full) vs 10 dbt tests' AS benchmark,
       to_char(o.secs, 'FM990.000') || ' s' AS ours,
       to_char(d.secs, 'FM990.000') || ' s' AS other,
       to_char(d.secs / o.secs, 'FM990.00') || 'x' AS ratio,
       '>= 1.30x' AS goal,
       CASE WHEN d.secs / o.secs >= 1.3 THEN 'yes' ELSE 'NO' END AS met
  FROM best o, best d WHERE o.side = 'suite' AND d.side = 'dbt'
UNION ALL
SELECT '   incremental check of a 10,000-row run vs full suite',
       to_char(i.secs, 'FM990.000') || ' s',
       to_char(o.secs, 'FM990.000') || ' s',
       to_char(100 * i.secs / o.secs, 'FM990.0') || '%',
       '<= 5%',
       CASE WHEN i.secs / o.secs <= 0.05 THEN 'yes' ELSE 'NO' END
  FROM best o, best i WHERE o.side = 'suite' AND i.side = 'incr';
SELECT side, rep, CASE WHEN warmup THEN 'warm-up' ELSE '' END AS note,
       to_char(seconds, 'FM990.000') AS seconds
  FROM bench.timings ORDER BY side DESC, rep;
EOF
chown "$PGUSER_OS": "$WORK/report.sql"

RESULTS=$OUT/quality.txt
{
	echo "lakehouse data-quality benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
	echo "silver table: $ROWS rows + 10,000 of run 2; 10 expectations; best of $REPS after a warm-up"
	psql_bench -P footer=off -f report.sql
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

#!/usr/bin/env bash
#
# bench/incremental.sh: the incremental gold benchmark (issue 18).  See
# bench/README.md, "9. Incremental gold".  Not part of bench/run.sh's default
# set (it takes ~30 minutes at 10M rows); run it alone.
#
# prod.orders (BENCH_ROWS orders, default 10,000,000; customers = rows / 20,
# products = rows / 1000 capped at 10,000; three years of days) with
# prod.customers and prod.products, loaded by the pipeline "shop" (table
# sources -> silver.* -> four gold tables) in its first run, which is timed
# and printed.  Gold queries (bench/sql/incremental_setup.sql):
#   daily_sales        merge by day: count, sum (status filter)
#   customer_products  rebuild: per customer count, count(DISTINCT product_id), sum
#   fact_orders        rebuild: orders LEFT JOIN products
#   customer_360       rebuild: RFM features over gold.fact_orders (ntile scores)
# Then four change levels, 0.01%, 0.1%, 1% and 10% of the orders (half new
# orders on random days, half updates of random orders), each measured
# three ways against the same data state, one after the other:
#   (a) incremental  lh_run_pipeline('shop'): ingest + silver + the gold
#                    stages with refresh: auto
#   (b) rebuild      lh_run_pipeline('shop_full', upstream => false): the
#                    same four queries into gold_full.*, refresh: full
#   (c) dbt-style    bench/sql/incremental_dbt.sql: hand-written
#                    delete+insert incremental models into bench.dbt_*
# Each level ends with the check that (a), (b) and (c) hold the same rows
# (EXCEPT ALL both ways; the script fails otherwise) and a VACUUM ANALYZE
# (untimed; autovacuum is off in the benchmark clusters).  Stage times come
# from lakehouse.run_stages, run times from clock_timestamp().  The report
# prints per level and query the three times, the ratio, the refresh mode
# and reason, the whole run vs its silver stage, and PASS/MISS per goal
# (a MISS does not fail the script).
#
# Its own throwaway cluster, the settings of bench/run.sh with more memory
# (BENCH_EXTRA_CONF below).  Environment:
#   BENCH_ROWS=10000000          orders (or LH_BENCH_INCR_ROWS)
#   LH_BENCH_INCR_LEVELS="0.01 0.1 1 10"   change levels, % of the orders
#   LH_BENCH_INCR_PORT=54400     port of the throwaway cluster
#   LH_BENCH_KEEP=1              keep the temporary directory
#   LH_SKIP_BUILD=1              skip make / make install (install with
#                                lh-locked-test and hold /tmp/lh-install.lock
#                                around the run: see bench/README.md)
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

export LH_BENCH_INCR_ROWS=${LH_BENCH_INCR_ROWS:-${BENCH_ROWS:-10000000}}
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_init incremental INCR 54400 10000
LEVELS=${LH_BENCH_INCR_LEVELS:-0.01 0.1 1 10}
for l in $LEVELS; do
	case $l in
		'' | *[!0-9.]* | *.*.*) die "LH_BENCH_INCR_LEVELS: '$l' is not a percentage" ;;
	esac
done
CUSTOMERS=$(( ROWS / 20 ))
PRODUCTS=$(( ROWS / 1000 > 10000 ? 10000 : (ROWS / 1000 < 100 ? 100 : ROWS / 1000) ))

# Memory for 10M orders on a 2-core, 24 GiB machine: the working set (bronze,
# silver, three fact tables, indexes) is ~15 GB at 10M rows and stays in the
# OS cache; 4 GB of shared buffers hold silver and the gold tables being
# written; work_mem lets the per-customer aggregates (500k groups, count
# DISTINCT) and the rebuilds' hash joins run without spilling; max_wal_size
# keeps a 10M-row rebuild (DELETE + INSERT) from forcing checkpoints inside a
# timed statement.  fsync and synchronous_commit stay on (a run is one
# transaction: the commit flush is a few ms).
export BENCH_EXTRA_CONF="# bench/incremental.sh
shared_buffers = 4GB
work_mem = 256MB
maintenance_work_mem = 1GB
max_wal_size = 32GB
min_wal_size = 2GB"

bench_traps
bench_build
bench_cluster bench-incremental "$BENCH"/sql/incremental_*.sql
mkdir -p "$OUT"

T_START=$(date +%s)
say "generating $ROWS orders, $CUSTOMERS customers, $PRODUCTS products in prod.*; declaring the pipelines"
psql_bench -v rows="$ROWS" -v customers="$CUSTOMERS" -v products="$PRODUCTS" \
	-f sql/incremental_setup.sql >/dev/null || die "setup failed"
HAS_IVM=$(psql_bench -At -c "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'lakehouse.run_stages'::regclass AND attname = 'refresh' AND NOT attisdropped)")
[ "$HAS_IVM" = t ] || say "WARNING: this build has no incremental engine (no run_stages.refresh): every side rebuilds"
say "data ready in $(( $(date +%s) - T_START )) s"

# run_pipeline SIDE PIPELINE ARGS: psql lines timing one lh_run_pipeline call
# and recording its stages; sets :run_ms and :run_id.
run_pipeline()
{
	local side=$1 pipeline=$2 args=$3 schema=$4
	cat <<EOF
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
SELECT lakehouse.lh_run_pipeline('$pipeline'$args) AS summary \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000 AS run_ms \\gset
SELECT bench.check(s->>'status' = 'succeeded', '$pipeline run: ' || left(s::text, 2000)),
       (s->>'run_id')::bigint AS run_id
  FROM (SELECT :'summary'::jsonb AS s) x \\gset
SELECT bench.record_run(:'level', '$side', :run_id, '$schema') \\gset rr_
EOF
}

# dbt_side INCREMENTAL: psql lines running the dbt-style models; sets :dbt_ms.
dbt_side()
{
	cat <<EOF
CHECKPOINT;
SELECT clock_timestamp() AS t_dbt \\gset
\\set is_incremental $1
\\i sql/incremental_dbt.sql
SELECT extract(epoch FROM clock_timestamp() - :'t_dbt'::timestamptz) * 1000 AS dbt_ms \\gset
EOF
}

# level_sql LABEL ORD PCT: one change level (ORD 0 = the first load).
level_sql()
{
	local label=$1 ord=$2 pct=$3
	echo "SET client_min_messages = warning;"
	echo "SET timezone = 'UTC';"
	echo "\\set level '$label'"
	echo "SET bench.level = '$label';"
	if [ "$ord" -gt 0 ]; then
		# warm this session's caches (a new session per level): a run of
		# each pipeline that finds nothing new
		cat <<'EOF'
SELECT lakehouse.lh_run_pipeline('shop') IS NOT NULL AS ok \gset
SELECT lakehouse.lh_run_pipeline('shop_full', upstream => false) IS NOT NULL AS ok \gset
EOF
		local n_ins upd_pct
		n_ins=$(awk -v r="$ROWS" -v p="$pct" 'BEGIN { n = int(r * p / 200 + 0.5); print (n < 1 ? 1 : n) }')
		upd_pct=$(awk -v p="$pct" 'BEGIN { printf "%.6f", p / 2 }')
		cat <<EOF
\\set n_ins $n_ins
\\set upd_pct $upd_pct
\\set seed $ord
\\set customers $CUSTOMERS
\\set products $PRODUCTS
\\set stamp '$(date -u -d "2026-01-01 + $ord days" '+%Y-%m-%d')T00:00:00+00'
\\i sql/incremental_change.sql
EOF
	else
		echo "\\set inserted $ROWS"
		echo "\\set updated 0"
	fi
	run_pipeline incremental shop "" gold
	echo "\\set shop_run_id :run_id"
	echo "\\set shop_ms :run_ms"
	if [ "$ord" -gt 0 ]; then
		run_pipeline rebuild shop_full ", upstream => false" gold_full
		echo "\\set full_ms :run_ms"
		echo "SET bench.compare_rebuild = on;"
	else
		# shop_full always rebuilds: its first run would be the same rebuild
		# as its run at the first level, so the load skips it (and the
		# comparison with it)
		echo "\\set full_ms NULL"
		echo "SET bench.compare_rebuild = off;"
	fi
	if [ "$ord" -gt 0 ]; then dbt_side true; else dbt_side false; fi
	cat <<EOF
INSERT INTO bench.levels (level, ord, pct, inserted, updated, run_ms, silver_ms, ingest_ms, full_run_ms, dbt_ms)
SELECT :'level', $ord, $pct, :inserted, :updated, :shop_ms,
       (SELECT sum(ms) FROM bench.timings WHERE level = :'level' AND side = 'incremental' AND query LIKE 'silver %'),
       (SELECT sum(ms) FROM bench.timings WHERE level = :'level' AND side = 'incremental' AND query LIKE 'ingest %'),
       :full_ms, :dbt_ms;
SET client_min_messages = notice;
SELECT clock_timestamp() AS t0 \\gset
\\i sql/incremental_verify.sql
SET client_min_messages = warning;
UPDATE bench.levels SET verify_ms = extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000
 WHERE level = :'level';
SELECT clock_timestamp() AS t0 \\gset
VACUUM ANALYZE;
UPDATE bench.levels SET vacuum_ms = extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000
 WHERE level = :'level';
SELECT format('  %s: %s inserted, %s updated; run %s ms (silver %s ms), rebuild run %s ms, dbt-style %s ms',
              level, inserted, updated, round(run_ms::numeric), round(silver_ms::numeric),
              round(full_run_ms::numeric), round(dbt_ms::numeric)) AS line
  FROM bench.levels WHERE level = :'level' \\gset
\\echo :line
EOF
}

ord=0
level_sql load 0 100 >"$WORK/level0.sql"
for l in $LEVELS; do
	ord=$(( ord + 1 ))
	level_sql "$l%" "$ord" "$l" >"$WORK/level$ord.sql"
done
chown "$PGUSER_OS": "$WORK"/level*.sql

say "first load: pipeline shop (ingest + silver + 4 gold first builds), dbt-style full build"
T0=$(date +%s)
psql_bench -f level0.sql || die "first load failed (or the sides differ)"
say "first load done in $(( $(date +%s) - T0 )) s"
i=0
for l in $LEVELS; do
	i=$(( i + 1 ))
	say "change $l% of the orders: incremental run, rebuild run, dbt-style models, compare, vacuum"
	T0=$(date +%s)
	psql_bench -f "level$i.sql" || die "level $l% failed (or the sides differ)"
	say "level $l% done in $(( $(date +%s) - T0 )) s"
done

RESULTS=$OUT/incremental.txt
{
	echo "lakehouse incremental gold benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
	echo "$("$PGBIN/postgres" --version); git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); engine: $([ "$HAS_IVM" = t ] && echo present || echo ABSENT)"
	echo "orders: $ROWS, customers: $CUSTOMERS, products: $PRODUCTS; levels: $LEVELS (% of the orders, half inserted, half updated)"
	echo "first load (pipeline shop's first run, in ms per stage):"
	psql_bench -At -F ' ' -c "SELECT '  ' || rpad(query, 34) || to_char(ms, 'FM9999990') || ' ms  ' || coalesce(refresh, '') || coalesce(' (' || reason || ')', '') FROM bench.timings WHERE level = 'load' AND side = 'incremental' ORDER BY ms DESC"
	psql_bench -f sql/incremental_report.sql
	echo
	echo "total time of the benchmark: $(( $(date +%s) - T_START )) s"
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

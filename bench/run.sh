#!/usr/bin/env bash
#
# bench/run.sh: lakehouse performance benchmarks, each against a
# hand-written PostgreSQL baseline in the same run (`make bench` runs
# scripts/install-deps.sh, then this).  See bench/README.md.
#
# 1. silver     the silver stage on N bronze JSON rows (typing, trim/lower,
#               non_negative, dedupe by order_id / newest updated_at,
#               quarantine) vs a hand-written INSERT ... SELECT DISTINCT ON
#               ... ON CONFLICT that filters dirty rows with regexes
# 2. file       landing the same rows from a JSON-lines file with a file
#               source (lh_ingest) vs COPY t(payload) FROM 'file'
# 3. noop       an incremental lh_run_pipeline with nothing new, per call;
#               3b the same right after a landing, before any VACUUM
# 4. scd2       lh_scd2_merge vs dbt-snapshot-style SQL and a hand-written
#               CTE (bench/scd2.sh, its own cluster; LH_BENCH_SCD2=0 skips)
# 5. kafka      a Kafka source's worker landing 1,000,000 messages vs
#               kcat | psql COPY and COPY FROM file, its memory, and the
#               end-to-end latency (bench/kafka.sh, its own cluster and mock
#               Kafka cluster; LH_BENCH_KAFKA=0 skips)
# 6. http       an HTTP source pulling 100,000 records in 1,000 pages from the
#               local test API vs a curl loop | psql COPY (bench/http.sh, its
#               own cluster and API server; LH_BENCH_HTTP=0 skips)
# 7. contract   1,000,000 inserted rows checked by a data contract of eight
#               column rules (C trigger) vs no trigger and vs the same checks
#               in PL/pgSQL (bench/contract.sh, its own cluster;
#               LH_BENCH_CONTRACT=0 skips)
# 8. quality    a data-quality suite of ten expectations on a 1,000,000-row
#               silver table (lh_check) vs the ten queries dbt generates, and
#               an incremental check of a 10,000-row run (bench/quality.sh,
#               its own cluster; LH_BENCH_QUALITY=0 skips)
# Benchmarks 1 and 2 also time a reference (information, no goal): the
# silver statement with the dirty rows known in advance (no validation), and
# COPY into a table of the bronze shape.
#
# How: as root, build and install the extension; create a postgres-owned
# temporary directory; initdb a throwaway cluster there (own port and socket
# directory, the same settings for every side); generate the data
# deterministically (bench/sql/setup.sql); run a warm-up and LH_BENCH_REPS
# timed repetitions of each side, rotating which side goes first, with a
# CHECKPOINT before each timed statement; keep the best repetition; print
# the table (bench/sql/report.sql) and write it to bench/out/results.txt.
# Times are wall-clock times measured in one psql session (clock_timestamp()
# before and after the statement, which runs in autocommit mode, so its
# commit is included on every side).  The cluster is stopped and the
# directory removed on exit, whatever happens.
#
# Environment:
#   LH_BENCH_ROWS=1000000    bronze rows
#   LH_BENCH_REPS=5          timed repetitions per side (after one warm-up)
#   LH_BENCH_NOOP_CALLS=50   timed calls of each no-op benchmark
#   LH_BENCH_PORT=54395      port of the throwaway cluster
#   LH_BENCH_KEEP=1          keep the temporary directory (data, server log)
#   LH_SKIP_BUILD=1          skip make / make install
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out

ROWS=${LH_BENCH_ROWS:-1000000}
REPS=${LH_BENCH_REPS:-5}
NOOP_CALLS=${LH_BENCH_NOOP_CALLS:-50}
PORT=${LH_BENCH_PORT:-54395}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGUSER_OS=postgres
DB=lakehouse_bench

say() { printf 'bench: %s\n' "$*"; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

case "$ROWS$REPS$NOOP_CALLS$PORT" in
	*[!0-9]*) die "LH_BENCH_ROWS, LH_BENCH_REPS, LH_BENCH_NOOP_CALLS and LH_BENCH_PORT must be integers" ;;
esac
[ "$ROWS" -ge 10000 ] || die "LH_BENCH_ROWS must be at least 10000"
if [ "$REPS" -lt 1 ] || [ "$NOOP_CALLS" -lt 1 ]; then
	die "LH_BENCH_REPS and LH_BENCH_NOOP_CALLS must be positive"
fi
[ "$(id -u)" -eq 0 ] || die "run as root (make install; the server runs as '$PGUSER_OS' through runuser)"
command -v "$PG_CONFIG" >/dev/null 2>&1 || die "pg_config not found: run scripts/install-deps.sh first"
id "$PGUSER_OS" >/dev/null 2>&1 || die "no '$PGUSER_OS' user (is postgresql-15 installed?)"
PGBIN=$("$PG_CONFIG" --bindir)

WORK=
DATA=
CHILD=

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_traps
bench_build
bench_cluster bench "$BENCH"/sql/*.sql
mkdir -p "$OUT"

# --- data ----------------------------------------------------------------------

JSONL=$WORK/orders.jsonl
say "generating $ROWS bronze rows and $JSONL"
T0=$(date +%s)
psql_bench -v rows="$ROWS" -v jsonl="$JSONL" -f sql/setup.sql || die "setup failed"
say "data ready in $(( $(date +%s) - T0 )) s; file: $(du -m "$JSONL" | cut -f1) MB"

# --- repetition scripts ----------------------------------------------------------

# Each *_ours / *_baseline function prints the psql lines of one repetition:
# reset the target, CHECKPOINT, time the statement (clock_timestamp() before
# and after; the statement runs in autocommit mode, so its commit counts),
# check the result and record it in bench.timings.

silver_ours()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE silver.bench_orders;
DELETE FROM lakehouse.stage_marks WHERE table_id = :tid;
DELETE FROM lakehouse.quarantine WHERE table_id = :tid;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
SELECT lakehouse.lh_run_pipeline('bench_orders') AS summary \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT bench.check(s->>'status' = 'succeeded' AND (s->'stages'->1->>'rows_read')::bigint = $ROWS,
                   'silver run: ' || s::text)
  FROM (SELECT :'summary'::jsonb AS s) x \\gset chk_
INSERT INTO bench.timings
SELECT 'silver', 'ours', $rep, $warm, :secs, $ROWS,
       format('silver stage %s ms inside the run; %s written, %s quarantined, %s superseded',
              st->>'ms', st->>'rows_written', st->>'rows_quarantined', st->>'rows_skipped')
  FROM (SELECT :'summary'::jsonb->'stages'->1 AS st) x;
EOF
}

silver_baseline()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bench.silver_baseline;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
\\i sql/silver_baseline.sql
\\set written :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
INSERT INTO bench.timings
SELECT 'silver', 'baseline', $rep, $warm, :secs, $ROWS,
       format('%s written; dirty rows filtered out by regexes in WHERE (not quarantined)', :written);
EOF
}

silver_reference()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bench.silver_reference;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
\\i sql/silver_reference.sql
\\set written :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
INSERT INTO bench.timings
SELECT 'silver', 'reference', $rep, $warm, :secs, $ROWS,
       format('%s written; dirty rows known in advance (anti-join), no validation', :written);
EOF
}

file_ours()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bronze.bench_file;
DELETE FROM lakehouse.source_marks WHERE source_id = :sid;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
SELECT lakehouse.lh_ingest('bench_file') AS summary \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT bench.check(s->>'status' = 'succeeded' AND (s->>'rows_written')::bigint = $ROWS,
                   'file ingest: ' || s::text)
  FROM (SELECT :'summary'::jsonb AS s) x \\gset chk_
INSERT INTO bench.timings
SELECT 'file', 'ours', $rep, $warm, :secs, $ROWS,
       format('%s landed in bronze (6 columns, identity, BRIN); ingest stage %s ms inside the run',
              st->>'rows_written', st->>'ms')
  FROM (SELECT :'summary'::jsonb->'stages'->0 AS st) x;
EOF
}

file_baseline()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bench.copy_baseline;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
COPY bench.copy_baseline (payload) FROM :'jsonl';
\\set copied :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT bench.check(:copied = $ROWS, 'COPY loaded ' || :copied || ' rows') \\gset chk_
INSERT INTO bench.timings
SELECT 'file', 'baseline', $rep, $warm, :secs, $ROWS,
       format('%s copied into a table with one jsonb column', :copied);
EOF
}

file_reference()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bench.copy_reference;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
COPY bench.copy_reference (payload) FROM :'jsonl';
\\set copied :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT bench.check(:copied = $ROWS, 'COPY loaded ' || :copied || ' rows') \\gset chk_
INSERT INTO bench.timings
SELECT 'file', 'reference', $rep, $warm, :secs, $ROWS,
       format('%s copied into a table of the bronze shape (identity, defaults, BRIN)', :copied);
EOF
}

# reps NAME: a warm-up plus REPS timed repetitions of ours, the baseline and
# the reference, rotating which one goes first.
reps()
{
	local name=$1 rep i
	local sides=(ours baseline reference)
	for rep in $(seq 0 "$REPS"); do
		local warm=false
		[ "$rep" -eq 0 ] && warm=true
		printf '\\echo %s\n' "'  $name: repetition $rep$([ "$rep" -eq 0 ] && echo ' (warm-up)')'"
		for i in 0 1 2; do
			"${name}_${sides[$(( (rep + i) % 3 ))]}" "$rep" "$warm"
		done
	done
}

{
	echo "SET timezone = 'UTC';"
	echo "SELECT table_id AS tid FROM lakehouse.tables WHERE schema_name = 'silver' AND table_name = 'bench_orders' \\gset"
	reps silver
	# all three built the same table; the dirty rows are all in quarantine
	cat <<'EOF'
SELECT bench.check(bench.diff_rows('silver.bench_orders', 'bench.silver_baseline') = 0,
                   'silver.bench_orders and bench.silver_baseline differ') \gset chk_
SELECT bench.check(bench.diff_rows('silver.bench_orders', 'bench.silver_reference') = 0,
                   'silver.bench_orders and bench.silver_reference differ') \gset chk_
SELECT (SELECT count(*) FROM silver.bench_orders) AS silver_rows,
       (SELECT count(*) FROM lakehouse.quarantine WHERE table_id = :tid) AS quarantined \gset
SELECT bench.check(:quarantined = (SELECT count(*) FROM bench.dirty_ids),
                   'quarantined ' || :quarantined || ' rows') \gset chk_
\echo '  silver: ours, baseline and reference hold the same' :silver_rows 'rows; ours quarantined' :quarantined 'rows'
EOF
} >"$WORK/silver.sql"

{
	echo "SELECT source_id AS sid FROM lakehouse.sources WHERE name = 'bench_file' \\gset"
	reps file
	echo "SELECT bench.check(count(*) = $ROWS, 'bronze.bench_file has ' || count(*) || ' rows') FROM bronze.bench_file \\gset chk_"
} >"$WORK/file.sql"

# noop_calls BENCH PIPELINE: a few warm-up calls, then NOOP_CALLS timed
# calls of a run that finds nothing new, in one session, each its own
# transaction (as pg_cron would run it).
noop_calls()
{
	local bench=$1 pipeline=$2 i warm
	for i in $(seq -4 "$NOOP_CALLS"); do
		warm=false
		[ "$i" -le 0 ] && warm=true
		cat <<EOF
SELECT clock_timestamp() AS t0 \\gset
SELECT lakehouse.lh_run_pipeline('$pipeline') AS summary \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
INSERT INTO bench.timings VALUES ('$bench', 'ours', $i, $warm, :secs, 0, NULL);
SELECT bench.check(s->>'status' = 'succeeded' AND (s->>'rows_read')::bigint = 0,
                   'no-op run: ' || s::text)
  FROM (SELECT :'summary'::jsonb AS s) x \\gset chk_
EOF
	done
}

# 3: pipeline bench_orders after benchmark 1 (its bronze table was vacuumed
# before anything was timed).
noop_calls noop bench_orders >"$WORK/noop.sql"

# 3b: pipeline bench_files, whose bronze table the last repetition of
# benchmark 2 has just filled: one run projects the rows into silver, then
# the no-op runs, all before any VACUUM (autovacuum is off here; in
# production it comes by only after 20% of the table is new).
{
	cat <<'EOF'
SELECT lakehouse.lh_run_pipeline('bench_files') AS summary \gset
SELECT bench.check(s->>'status' = 'succeeded' AND (s->'stages'->1->>'rows_written')::bigint > 0,
                   'bench_files run: ' || s::text)
  FROM (SELECT :'summary'::jsonb AS s) x \gset chk_
EOF
	noop_calls noop_fresh bench_files
} >"$WORK/noop_fresh.sql"
chown "$PGUSER_OS": "$WORK"/*.sql

# --- benchmarks ----------------------------------------------------------------

say "1. silver stage: $ROWS bronze rows, warm-up + $REPS repetitions per side"
psql_bench -f silver.sql || die "silver benchmark failed"

say "2. file landing: $ROWS JSON lines, warm-up + $REPS repetitions per side"
psql_bench -v jsonl="$JSONL" -f file.sql || die "file benchmark failed"

say "3. no-op incremental run: $NOOP_CALLS calls in one session"
psql_bench -f noop.sql || die "no-op benchmark failed"

say "3b. no-op run right after landing $ROWS rows (before VACUUM): $NOOP_CALLS calls"
psql_bench -f noop_fresh.sql || die "no-op benchmark (fresh bronze) failed"

# --- results -------------------------------------------------------------------

RESULTS=$OUT/results.txt
{
	echo "lakehouse benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
	echo "$("$PGBIN/postgres" --version); git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
	echo "rows: $ROWS bronze rows; best of $REPS repetitions after a warm-up; same cluster and settings for both sides"
	echo
	psql_bench -P footer=off -f sql/report.sql
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

# 4. SCD2 merge: its own script and cluster (bench/scd2.sh, bench/README.md)
if [ "${LH_BENCH_SCD2:-1}" = 1 ]; then
	bench_stop_cluster
	say "4. SCD2 merge (bench/scd2.sh)"
	LH_SKIP_BUILD=1 bash "$BENCH/scd2.sh" || die "SCD2 benchmark failed"
fi

# 5. Kafka landing: its own script, cluster and mock Kafka cluster
# (bench/kafka.sh, bench/README.md)
if [ "${LH_BENCH_KAFKA:-1}" = 1 ]; then
	bench_stop_cluster
	say "5. Kafka landing (bench/kafka.sh)"
	LH_SKIP_BUILD=1 bash "$BENCH/kafka.sh" || die "Kafka benchmark failed"
fi

# 6. HTTP pulls: its own script, cluster and test API server (bench/http.sh,
# bench/README.md)
if [ "${LH_BENCH_HTTP:-1}" = 1 ]; then
	bench_stop_cluster
	say "6. HTTP pulls (bench/http.sh)"
	LH_SKIP_BUILD=1 bash "$BENCH/http.sh" || die "HTTP benchmark failed"
fi

# 7. data contract enforcement: its own script and cluster (bench/contract.sh,
# bench/README.md)
if [ "${LH_BENCH_CONTRACT:-1}" = 1 ]; then
	bench_stop_cluster
	say "7. data contract enforcement (bench/contract.sh)"
	LH_SKIP_BUILD=1 bash "$BENCH/contract.sh" || die "contract benchmark failed"
fi

# 8. Data-quality suite: its own script and cluster (bench/quality.sh,
# bench/README.md)
if [ "${LH_BENCH_QUALITY:-1}" = 1 ]; then
	bench_stop_cluster
	say "8. data-quality suite (bench/quality.sh)"
	LH_SKIP_BUILD=1 bash "$BENCH/quality.sh" || die "quality benchmark failed"
fi

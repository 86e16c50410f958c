#!/usr/bin/env bash
#
# bench/scd2.sh: the SCD2 benchmark (bench/run.sh calls it last; it also runs
# alone).  See bench/README.md, "4. SCD2 merge".
#
# A 1,000,000-row customer dimension (history after snapshot 1) receives
# snapshot 2: 10% of the rows changed, 1% new keys, 0.5% deleted (timestamp
# strategy, hard deletes invalidated).  Three sides, each into its own copy
# of the same history table with the same unique index on current rows:
#   ours      lakehouse.lh_scd2_merge (sql/scd2_ours.sql)
#   dbt       the SQL a dbt snapshot runs on PostgreSQL: temporary staging
#             table, UPDATE, INSERT, one transaction (sql/scd2_dbt.sql)
#   cte       a hand-written single statement with data-modifying CTEs
#             (sql/scd2_cte.sql)
# Each repetition resets the side's table from the template (untimed),
# VACUUMs it, runs CHECKPOINT, and times the side with clock_timestamp()
# around it in one psql session.  A warm-up, then LH_BENCH_REPS repetitions,
# rotating which side goes first; the best repetition counts.  After the
# last repetition the three tables must be identical (EXCEPT ALL both ways).
#
# Its own throwaway cluster, the settings of bench/run.sh.  Environment:
#   LH_BENCH_SCD2_ROWS=1000000  rows of the dimension
#   LH_BENCH_REPS=5             timed repetitions per side
#   LH_BENCH_SCD2_PORT=54396    port of the throwaway cluster
#   LH_BENCH_KEEP=1             keep the temporary directory
#   LH_SKIP_BUILD=1             skip make / make install
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_init scd2 SCD2 54396 10000
bench_traps
bench_build
bench_cluster bench-scd2 "$BENCH"/sql/scd2_*.sql
mkdir -p "$OUT"

say "generating the $ROWS-row dimension and the next snapshot"
psql_bench -v rows="$ROWS" -f sql/scd2_setup.sql >/dev/null || die "setup failed"

# one repetition of one side
side()
{
	local name=$1 rep=$2 warm=$3
	cat <<EOF
SELECT bench.scd2_reset('scd2_$name') AS reset \\gset
VACUUM bench.scd2_$name;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
\\i sql/scd2_$name.sql
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
INSERT INTO bench.scd2_timings VALUES ('$name', $rep, $warm, :secs, NULL);
EOF
	if [ "$name" = ours ]; then
		echo "UPDATE bench.scd2_timings SET detail = :'counts' WHERE side = 'ours' AND rep = $rep;"
	fi
}

{
	echo "SET timezone = 'UTC';"
	echo "SET datestyle = 'ISO, YMD';"
	echo "SET client_min_messages = warning;"
	sides=(ours dbt cte)
	for rep in $(seq 0 "$REPS"); do
		warm=false
		[ "$rep" -eq 0 ] && warm=true
		echo "\\echo '  scd2: repetition $rep$([ "$rep" -eq 0 ] && echo ' (warm-up)')'"
		for i in 0 1 2; do
			side "${sides[$(( (rep + i) % 3 ))]}" "$rep" "$warm"
		done
	done
	# the last repetition of every side left its table: all three identical
	cat <<'EOF'
SELECT bench.scd2_diff('scd2_ours', 'scd2_dbt') AS d1, bench.scd2_diff('scd2_ours', 'scd2_cte') AS d2,
       (SELECT count(*) FROM bench.scd2_ours) AS n \gset
SELECT CASE WHEN :d1 = 0 AND :d2 = 0 THEN 'identical' ELSE 'DIFFERENT' END AS same \gset
\echo '  scd2: final tables (' :n 'rows each):' :same '(EXCEPT ALL both ways, ours vs dbt-style and ours vs CTE)'
SELECT CASE WHEN :'same' = 'identical' THEN 1 ELSE 1 / 0 END AS ok \gset
EOF
} >"$WORK/run.sql"
chown "$PGUSER_OS": "$WORK/run.sql"

say "ours, dbt-style and CTE: warm-up + $REPS repetitions each"
psql_bench -f run.sql || die "SCD2 benchmark failed (or the three tables differ)"

# (psql runs in the background, where stdin is /dev/null: the report is a file)
cat >"$WORK/report.sql" <<'EOF'
WITH best AS (
    SELECT side, min(seconds) AS secs FROM bench.scd2_timings WHERE NOT warmup GROUP BY side
)
SELECT CASE x.side WHEN 'dbt' THEN '4. SCD2 merge vs dbt-snapshot-style SQL'
                   ELSE '   SCD2 merge vs hand-written CTE' END AS benchmark,
       to_char(o.secs, 'FM990.00') || ' s' AS ours,
       to_char(x.secs, 'FM990.00') || ' s' AS other,
       to_char(x.secs / o.secs, 'FM990.00') || 'x' AS speedup,
       CASE x.side WHEN 'dbt' THEN '>= 1.60x' ELSE '>= 1.00x' END AS goal,
       CASE WHEN x.secs / o.secs >= CASE x.side WHEN 'dbt' THEN 1.6 ELSE 1.0 END
            THEN 'yes' ELSE 'NO' END AS met
  FROM best o, best x
 WHERE o.side = 'ours' AND x.side <> 'ours'
 ORDER BY x.side DESC;
SELECT side, rep, CASE WHEN warmup THEN 'warm-up' ELSE '' END AS note,
       to_char(seconds, 'FM990.000') AS seconds, detail
  FROM bench.scd2_timings ORDER BY side DESC, rep;
EOF
chown "$PGUSER_OS": "$WORK/report.sql"

RESULTS=$OUT/scd2.txt
{
	echo "lakehouse SCD2 benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
	echo "dimension: $ROWS rows; snapshot 2: 10% changed, 1% new, 0.5% deleted; best of $REPS after a warm-up"
	psql_bench -P footer=off -f report.sql
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

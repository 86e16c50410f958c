#!/usr/bin/env bash
#
# bench/contract.sh: the data contract benchmark (bench/run.sh calls it; it
# also runs alone).  See bench/README.md, "7. Data contract enforcement".
#
# INSERT ... SELECT of LH_BENCH_CONTRACT_ROWS valid rows (8 columns) into
# three tables of the same shape:
#   none      no trigger (the baseline)
#   ours      a data contract of eight column rules (required x2, maxLength,
#             minimum/maximum, minimum, allowed values, pattern), enforced by
#             the C trigger lakehouse.lh_contract_row_check
#   plpgsql   the same eight checks in a PL/pgSQL BEFORE trigger
#   empty     our trigger with a contract that checks nothing: the cost of
#             firing any row trigger (PostgreSQL forms each tuple once more)
# Each repetition TRUNCATEs the side's table (untimed), runs CHECKPOINT and
# times the INSERT with clock_timestamp() in one psql session.  A warm-up,
# then LH_BENCH_REPS repetitions, rotating which side goes first; the best
# repetition counts.  Reports the overhead of each trigger over "none".
#
# Its own throwaway cluster, the settings of bench/run.sh.  Environment:
#   LH_BENCH_CONTRACT_ROWS=1000000  rows inserted per repetition
#   LH_BENCH_REPS=5                 timed repetitions per side
#   LH_BENCH_CONTRACT_PORT=54399    port of the throwaway cluster
#   LH_BENCH_KEEP=1                 keep the temporary directory
#   LH_SKIP_BUILD=1                 skip make / make install
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_init contract CONTRACT 54399 10000
bench_traps
bench_build
bench_cluster bench-contract "$BENCH"/sql/contract_*.sql
mkdir -p "$OUT"

say "generating $ROWS rows and the three tables"
psql_bench -v rows="$ROWS" -f sql/contract_setup.sql >/dev/null || die "setup failed"

side()
{
	local name=$1 rep=$2 warm=$3
	cat <<SQL
TRUNCATE bench.ct_$name;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
INSERT INTO bench.ct_$name SELECT * FROM bench.ct_src;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
INSERT INTO bench.ct_timings VALUES ('$name', $rep, $warm, :secs);
SQL
}

{
	echo "SET client_min_messages = warning;"
	sides=(none ours plpgsql empty)
	for rep in $(seq 0 "$REPS"); do
		warm=false
		[ "$rep" -eq 0 ] && warm=true
		echo "\\echo '  contract: repetition $rep$([ "$rep" -eq 0 ] && echo ' (warm-up)')'"
		for i in 0 1 2 3; do
			side "${sides[$(( (rep + i) % 4 ))]}" "$rep" "$warm"
		done
	done
	# every side landed every row
	cat <<'SQL'
SELECT (SELECT count(*) FROM bench.ct_none) AS a, (SELECT count(*) FROM bench.ct_ours) AS b,
       (SELECT count(*) FROM bench.ct_plpgsql) AS c \gset
SELECT CASE WHEN :a = :b AND :b = :c THEN 1 ELSE 1 / 0 END AS ok \gset
SQL
} >"$WORK/run.sql"
chown "$PGUSER_OS": "$WORK/run.sql"

say "none, ours, plpgsql and empty: warm-up + $REPS repetitions each"
psql_bench -f run.sql || die "contract benchmark failed"

cat >"$WORK/report.sql" <<'SQL'
WITH best AS (
    SELECT side, min(seconds) AS secs FROM bench.ct_timings WHERE NOT warmup GROUP BY side
)
SELECT CASE x.side WHEN 'ours' THEN '7. contract trigger (C, 8 rules)'
                   WHEN 'empty' THEN '   contract trigger, no rules'
                   ELSE '   PL/pgSQL trigger (same 8 checks)' END AS benchmark,
       to_char(n.secs, 'FM990.00') || ' s' AS no_trigger,
       to_char(x.secs, 'FM990.00') || ' s' AS with_trigger,
       to_char(100 * (x.secs / n.secs - 1), 'FM990.0') || '%' AS overhead,
       CASE x.side WHEN 'ours' THEN '<= 5%' ELSE '' END AS goal,
       CASE WHEN x.side <> 'ours' THEN ''
            WHEN x.secs / n.secs <= 1.05 THEN 'yes' ELSE 'NO' END AS met
  FROM best n, best x
 WHERE n.side = 'none' AND x.side <> 'none'
 ORDER BY x.side = 'ours' DESC, x.side = 'plpgsql' DESC;
WITH best AS (
    SELECT side, min(seconds) AS secs FROM bench.ct_timings WHERE NOT warmup GROUP BY side
)
SELECT to_char((p.secs - n.secs) / nullif(o.secs - n.secs, 0), 'FM990.0') || 'x'
       AS plpgsql_overhead_over_ours
  FROM best n, best o, best p
 WHERE n.side = 'none' AND o.side = 'ours' AND p.side = 'plpgsql';
SELECT side, rep, CASE WHEN warmup THEN 'warm-up' ELSE '' END AS note,
       to_char(seconds, 'FM990.000') AS seconds
  FROM bench.ct_timings ORDER BY side, rep;
SQL
chown "$PGUSER_OS": "$WORK/report.sql"

RESULTS=$OUT/contract.txt
{
	echo "lakehouse data contract benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
	echo "INSERT ... SELECT of $ROWS rows (8 columns); best of $REPS after a warm-up"
	psql_bench -P footer=off -f report.sql
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

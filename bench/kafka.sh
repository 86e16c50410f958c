#!/usr/bin/env bash
#
# bench/kafka.sh: the Kafka benchmark (bench/run.sh calls it last; it also
# runs alone).  See bench/README.md, "5. Kafka landing".
#
# 1,000,000 JSON messages (~220 bytes, the lines of the file benchmark) are
# produced with kcat into librdkafka's mock cluster (test/kafka/lh_kafka_mock,
# a real Kafka wire-protocol broker in memory on 127.0.0.1), over 64
# partitions so that no partition holds more than the ~5 MiB the mock
# keeps.  Then, in one run, on one throwaway cluster (bench/lib.sh's
# settings), rotating which side goes first, LH_BENCH_REPS repetitions after
# a warm-up:
#   (a) ours      the source's background worker lands the topic in bronze:
#                 timed from lh_enable_source to the moment its committed
#                 offsets (lakehouse.source_marks) account for every
#                 message, polled every 10 ms by one session; worker start,
#                 broker connection and every commit included;
#   (b) kcat      kcat -C -e ... -f '%s\n' | psql -c "COPY t (payload) FROM STDIN"
#                 into a table with one jsonb column (wall clock of the pipe);
#   (c) copy      COPY t (payload) FROM 'file' of the same lines, into the
#                 same kind of table (clock_timestamp() around it).
# Each repetition empties its target (and, for ours, the source's marks)
# and runs CHECKPOINT first; every repetition checks the row count.
#
# While (a) runs, /proc/<worker pid>/status is sampled every 100 ms:
# VmHWM (peak resident set, which counts the shared buffers the worker
# touched), RssAnon (its own memory; the peak of the samples) and RssShmem.
#
# (d) latency: with track_commit_timestamp switched on (a restart, after
# the throughput runs), the latency source's worker (its own topic, one
# partition) is started and warmed up by one message; then
# LH_BENCH_KAFKA_LATENCY_MSGS messages are produced one at a time, 20 ms
# apart, each carrying the time it was handed to the producer
# ($EPOCHREALTIME, written to `lh_kafka_mock --produce`, which produces each
# line as it reads it, with linger.ms=0; kcat -P would wait for the end of
# its input).  Latency = commit time of the bronze row's
# inserting transaction (pg_xact_commit_timestamp(xmin): the moment it became
# visible) - that time.  Reported: p50, p95, max.
#
# Environment:
#   LH_BENCH_KAFKA_MSGS=1000000        messages
#   LH_BENCH_KAFKA_PARTITIONS=64       partitions of the topic
#   LH_BENCH_KAFKA_LATENCY_MSGS=200    messages of the latency measurement
#   LH_BENCH_KAFKA_OPTIONS='{}'        more options of the measured source
#                                      (e.g. '{"batch_size": 50000}'), for
#                                      tuning; the report shows them
#   LH_BENCH_REPS=3                    timed repetitions per side (or
#                                      LH_BENCH_KAFKA_REPS)
#   LH_BENCH_KAFKA_PORT=54397          port of the throwaway cluster
#   LH_BENCH_KEEP=1                    keep the temporary directory
#   LH_SKIP_BUILD=1                    skip make / make install
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out
MSGS=${LH_BENCH_KAFKA_MSGS:-1000000}
PARTS=${LH_BENCH_KAFKA_PARTITIONS:-64}
LAT_MSGS=${LH_BENCH_KAFKA_LATENCY_MSGS:-200}
OPTIONS=${LH_BENCH_KAFKA_OPTIONS:-'{}'}
REPS=${LH_BENCH_KAFKA_REPS:-${LH_BENCH_REPS:-3}}
PORT=${LH_BENCH_KAFKA_PORT:-54397}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGUSER_OS=postgres
DB=lakehouse_bench
export LC_NUMERIC=C	# $EPOCHREALTIME with a decimal point
MOCK=$ROOT/test/kafka/lh_kafka_mock

say() { printf 'bench kafka: %s\n' "$*"; }
die() { printf 'bench kafka: ERROR: %s\n' "$*" >&2; exit 1; }

case "$MSGS$PARTS$LAT_MSGS$REPS$PORT" in
	*[!0-9]*) die "LH_BENCH_KAFKA_MSGS, LH_BENCH_KAFKA_PARTITIONS, LH_BENCH_KAFKA_LATENCY_MSGS, LH_BENCH_REPS and LH_BENCH_KAFKA_PORT must be integers" ;;
esac
[ "$MSGS" -ge 10000 ] || die "LH_BENCH_KAFKA_MSGS must be at least 10000"
[ "$PARTS" -ge 1 ] || die "LH_BENCH_KAFKA_PARTITIONS must be positive"
[ "$REPS" -ge 1 ] || die "LH_BENCH_REPS must be positive"
[ "$LAT_MSGS" -ge 20 ] || die "LH_BENCH_KAFKA_LATENCY_MSGS must be at least 20"
# The mock keeps ~5 MiB per partition and silently drops older messages:
# stay below 4 MiB of ~260-byte records (payload and record overhead).
[ $(( MSGS / PARTS * 260 )) -le $(( 4 * 1024 * 1024 )) ] ||
	die "$MSGS messages over $PARTS partitions exceed what the mock keeps per partition (~5 MiB): raise LH_BENCH_KAFKA_PARTITIONS"
[ "$(id -u)" -eq 0 ] || die "run as root (the server runs as '$PGUSER_OS' through runuser)"
command -v kcat >/dev/null 2>&1 || die "kcat not found: run scripts/install-deps.sh first"
PGBIN=$("$PG_CONFIG" --bindir)

WORK=
DATA=
CHILD=
MOCK_PID=
SAMPLER_PID=

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# lib.sh's cleanup, after stopping what this script started itself.
kafka_cleanup()
{
	local rc=$?
	set +e
	if [ -n "$SAMPLER_PID" ]; then
		kill "$SAMPLER_PID" 2>/dev/null || true
		wait "$SAMPLER_PID" 2>/dev/null || true
	fi
	if [ -n "$MOCK_PID" ]; then
		kill -TERM "$MOCK_PID" 2>/dev/null || true
		wait "$MOCK_PID" 2>/dev/null || true
	fi
	(exit "$rc")
	bench_cleanup
}
bench_traps
trap kafka_cleanup EXIT

bench_build
# (a no-op when the helper is up to date, so also with LH_SKIP_BUILD=1)
make -C "$ROOT" -s kafka-mock >/dev/null || die "could not build $MOCK (make kafka-mock)"
bench_cluster bench-kafka "$BENCH/sql/kafka_setup.sql"
mkdir -p "$OUT"

# --- the mock cluster and the messages --------------------------------------

"$MOCK" --exit-with-parent --topic "bench:$PARTS" --topic latency:1 --addr-file "$WORK/mock.addr" \
	>"$WORK/mock.log" 2>&1 </dev/null &
MOCK_PID=$!
for _ in $(seq 300); do
	[ -s "$WORK/mock.addr" ] && break
	kill -0 "$MOCK_PID" 2>/dev/null || { cat "$WORK/mock.log" >&2; die "the mock cluster exited"; }
	sleep 0.1
done
[ -s "$WORK/mock.addr" ] || die "the mock cluster wrote no address within 30 s"
BROKERS=$(cat "$WORK/mock.addr")
say "mock cluster at $BROKERS (topic bench: $PARTS partitions)"

JSONL=$WORK/kafka.jsonl
say "generating $MSGS messages"
psql_bench -v rows="$MSGS" -v jsonl="$JSONL" -v brokers="$BROKERS" -v options="$OPTIONS" \
	-f sql/kafka_setup.sql >/dev/null || die "setup failed"
say "file: $(du -m "$JSONL" | cut -f1) MB, $(( $(wc -c <"$JSONL") / MSGS )) bytes per message on average"

say "producing them with kcat"
split -n "l/$PARTS" -d -a 4 "$JSONL" "$WORK/part."
T0=$(date +%s.%N)
p=0
for f in "$WORK"/part.*; do
	kcat -P -b "$BROKERS" -t bench -p "$p" -X acks=all <"$f" ||
		die "kcat could not produce $f to partition $p"
	p=$((p + 1))
done
rm -f "$WORK"/part.*
say "produced in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"

# Every partition must still start at offset 0 and the ends must add up.
query=()
for p in $(seq 0 $((PARTS - 1))); do query+=(-t "bench:$p:-2"); done
lows=$(kcat -Q -b "$BROKERS" "${query[@]}" | awk '/offset/ {s += $NF; n++} END {print n ":" s}')
query=()
for p in $(seq 0 $((PARTS - 1))); do query+=(-t "bench:$p:-1"); done
highs=$(kcat -Q -b "$BROKERS" "${query[@]}" | awk '/offset/ {s += $NF; n++} END {print n ":" s}')
[ "$lows" = "$PARTS:0" ] && [ "$highs" = "$PARTS:$MSGS" ] ||
	die "the topic does not hold the $MSGS messages from offset 0 (starts $lows, ends $highs)"

# --- repetitions -----------------------------------------------------------------

WORKER_APP="lakehouse kafka $DB bench_kafka"
SID=$(runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -X -A -t -h "$WORK/socket" -p "$PORT" -U postgres -d "$DB" \
	-c "SELECT source_id FROM lakehouse.sources WHERE name = 'bench_kafka'") || die "no source bench_kafka"

# The worker of bench_kafka is gone (after lh_disable_source).
wait_no_worker()
{
	cat <<EOF
DO \$\$
BEGIN
    WHILE EXISTS (SELECT FROM pg_stat_activity WHERE application_name = '$WORKER_APP') LOOP
        PERFORM pg_sleep(0.05);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
END
\$\$;
EOF
}

# One repetition of ours: the worker starts at t0 and lands everything; the
# source is disabled again afterwards (untimed), so that the next
# repetition, and the memory sampler, find no worker left over.
ours()
{
	local rep=$1 warm=$2 name=${3:-ours}
	cat <<EOF
TRUNCATE bronze.bench_kafka;
DELETE FROM lakehouse.source_marks WHERE source_id = $SID;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
SELECT lakehouse.lh_enable_source('bench_kafka') \\gset
DO \$\$
BEGIN
    WHILE coalesce((SELECT sum(mark_value::bigint) FROM lakehouse.source_marks
                     WHERE source_id = $SID AND mark_key LIKE 'partition:%'), 0) < $MSGS LOOP
        PERFORM pg_sleep(0.01);
    END LOOP;
END
\$\$;
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT lakehouse.lh_disable_source('bench_kafka') \\gset
EOF
	wait_no_worker
	cat <<EOF
SELECT count(*) AS n, extract(epoch FROM min(_lh_ingested_at) - :'t0'::timestamptz) AS first,
       count(DISTINCT _lh_ingested_at) AS batches
  FROM bronze.bench_kafka \\gset
SELECT bench.check(:n = $MSGS, 'bronze.bench_kafka has ' || :n || ' rows') \\gset chk_
INSERT INTO bench.timings VALUES ('$name', $rep, $warm, :secs, $MSGS,
    format('worker: first batch began %s s after lh_enable_source; %s batches; into bronze (metadata columns, identity, BRIN)',
           round(:first::numeric, 2), :batches));
EOF
}

copy_file()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bench.file_copy;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
COPY bench.file_copy (payload) FROM '$JSONL';
\\set copied :ROW_COUNT
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT bench.check(:copied = $MSGS, 'COPY loaded ' || :copied || ' rows') \\gset chk_
INSERT INTO bench.timings VALUES ('copy', $rep, $warm, :secs, $MSGS,
    'COPY FROM file into a table with one jsonb column');
EOF
}

# The worker's memory while it lands: one line per 100 ms sample
# ("VmHWM RssAnon RssShmem", kB) until the worker is gone or we are told to
# stop.  The pid comes from the process list (no query during the run).
sample_worker()
{
	local out=$1 pid=
	for _ in $(seq 600); do
		pid=$(pgrep -f "^postgres: .*lakehouse kafka $DB bench_kafka" | head -n 1 || true)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	[ -n "$pid" ] || return 0
	while [ -r "/proc/$pid/status" ]; do
		{
			awk '/^VmHWM:/ {h = $2} /^RssAnon:/ {a = $2} /^RssShmem:/ {s = $2}
			     END {if (h != "") printf "%s %s %s ", h, a, s}' "/proc/$pid/status"
			# utime + stime, in clock ticks (after the command, which has no spaces)
			sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'
		} >>"$out" 2>/dev/null || true
		sleep 0.1
	done
}

# CPU time of a process in clock ticks
cpu_ticks()
{
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'
}

# check and record one repetition of the kcat side
kcat_check()
{
	local rep=$1 warm=$2 secs=$3
	cat <<EOF
SELECT count(*) AS n FROM bench.kcat_copy \\gset
SELECT bench.check(:n = $MSGS, 'kcat | COPY loaded ' || :n || ' rows') \\gset chk_
INSERT INTO bench.timings VALUES ('kcat', $rep, $warm, $secs, $MSGS,
    'kcat -C | psql COPY FROM STDIN into a table with one jsonb column');
EOF
}

side()
{
	local name=$1 rep=$2 warm=$3
	case "$name" in
		ours | ours_sync)
			local mem=$WORK/mem.$rep
			[ "$name" = ours ] || mem=$WORK/mem_sync.$rep
			: >"$mem"
			sample_worker "$mem" &
			SAMPLER_PID=$!
			ours "$rep" "$warm" "$name" >"$WORK/ours.sql"
			chown "$PGUSER_OS": "$WORK/ours.sql"
			local m0
			m0=$(cpu_ticks "$MOCK_PID")
			psql_bench -f ours.sql || die "ours (repetition $rep) failed"
			if [ "$name" = ours ]; then
				echo $(( $(cpu_ticks "$MOCK_PID") - m0 )) >"$WORK/mockcpu.$rep"
			fi
			kill "$SAMPLER_PID" 2>/dev/null || true
			wait "$SAMPLER_PID" 2>/dev/null || true
			SAMPLER_PID=
			;;
		kcat)
			psql_bench -c 'TRUNCATE bench.kcat_copy' -c 'CHECKPOINT' || die "kcat reset failed"
			local t0 t1
			t0=$(date +%s.%N)
			as_pg bash -c "set -o pipefail; kcat -C -e -q -b '$BROKERS' -t bench -f '%s\\n' |
				'$PGBIN/psql' -X -q -v ON_ERROR_STOP=1 -h '$WORK/socket' -p '$PORT' -U postgres -d '$DB' \
					-c 'COPY bench.kcat_copy (payload) FROM STDIN'" ||
				die "kcat | psql COPY (repetition $rep) failed"
			t1=$(date +%s.%N)
			kcat_check "$rep" "$warm" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')" \
				>"$WORK/kcat.sql"
			chown "$PGUSER_OS": "$WORK/kcat.sql"
			psql_bench -f kcat.sql || die "kcat check (repetition $rep) failed"
			;;
		copy)
			copy_file "$rep" "$warm" >"$WORK/copy.sql"
			chown "$PGUSER_OS": "$WORK/copy.sql"
			psql_bench -f copy.sql || die "COPY (repetition $rep) failed"
			;;
	esac
}

sides=(ours kcat copy)
for rep in $(seq 0 "$REPS"); do
	warm=false
	[ "$rep" -eq 0 ] && warm=true
	say "repetition $rep$([ "$rep" -eq 0 ] && echo ' (warm-up)')"
	for i in 0 1 2; do
		side "${sides[$(( (rep + i) % 3 ))]}" "$rep" "$warm"
	done
done
# Information: the same with lakehouse.kafka_synchronous_commit = on, every
# batch waiting for its WAL flush (the default, off, is safe because the
# broker keeps the messages: see contrib-docs/kafka.md#exactly-once).
say "ours with lakehouse.kafka_synchronous_commit = on ($REPS repetitions, information)"
psql_bench -c 'ALTER SYSTEM SET lakehouse.kafka_synchronous_commit = on' \
	-c 'SELECT pg_reload_conf()' >/dev/null || die "ALTER SYSTEM failed"
for rep in $(seq 1 "$REPS"); do
	side ours_sync "$rep" false
done
psql_bench -c 'ALTER SYSTEM RESET lakehouse.kafka_synchronous_commit' \
	-c 'SELECT pg_reload_conf()' >/dev/null || die "ALTER SYSTEM failed"

# peak memory over the timed repetitions (kB); CPU seconds of the worker
# and of the mock cluster in the best timed repetition
cat "$WORK"/mem.[1-9]* 2>/dev/null | awk '
	$1 > h {h = $1} $2 > a {a = $2} $3 > s {s = $3} {n++}
	END {printf "%d %d %d %d\n", h, a, s, n}' >"$WORK/mem.peak"
read -r HWM ANON SHMEM SAMPLES <"$WORK/mem.peak"
BEST=$(runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -X -A -t -h "$WORK/socket" -p "$PORT" -U postgres -d "$DB" \
	-c "SELECT rep FROM bench.timings WHERE side = 'ours' AND NOT warmup ORDER BY seconds LIMIT 1")
TCK=$(getconf CLK_TCK)
WORKER_CPU=$(awk -v t="$TCK" 'NF == 4 && $4 > c {c = $4} END {printf "%.2f", c / t}' "$WORK/mem.$BEST" 2>/dev/null)
MOCK_CPU=$(awk -v t="$TCK" '{printf "%.2f", $1 / t}' "$WORK/mockcpu.$BEST" 2>/dev/null)

# --- (d) latency ---------------------------------------------------------------

say "latency: restarting with track_commit_timestamp = on"
psql_bench -c 'ALTER SYSTEM SET track_commit_timestamp = on' || die "ALTER SYSTEM failed"
as_pg "$PGBIN/pg_ctl" restart -D "$DATA" -m fast -l "$WORK/server.log" -w -t 120 >/dev/null ||
	die "the cluster did not restart"

psql_bench -c "SELECT lakehouse.lh_enable_source('bench_latency')" >/dev/null
printf '{"warmup": true}\n' | kcat -P -b "$BROKERS" -t latency -p 0 || die "kcat could not produce"
for _ in $(seq 600); do
	n=$(runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -X -A -t -h "$WORK/socket" -p "$PORT" -U postgres \
		-d "$DB" -c 'SELECT count(*) FROM bronze.bench_latency' 2>/dev/null || echo 0)
	[ "$n" = 1 ] && break
	sleep 0.1
done
[ "$n" = 1 ] || die "the latency source's worker landed nothing within 60 s"

say "latency: $LAT_MSGS messages, one every 20 ms"
for i in $(seq 1 "$LAT_MSGS"); do
	printf '{"seq": %d, "sent": %s}\n' "$i" "$EPOCHREALTIME"
	sleep 0.02
done | "$MOCK" --produce "$BROKERS" latency 0 || die "could not produce the latency messages"
for _ in $(seq 600); do
	n=$(runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -X -A -t -h "$WORK/socket" -p "$PORT" -U postgres \
		-d "$DB" -c "SELECT count(*) FROM bronze.bench_latency WHERE payload ? 'seq'" 2>/dev/null || echo 0)
	[ "$n" = "$LAT_MSGS" ] && break
	sleep 0.1
done
[ "$n" = "$LAT_MSGS" ] || die "only $n of $LAT_MSGS latency messages landed within 60 s"

# --- report ----------------------------------------------------------------------

cat >"$WORK/report.sql" <<EOF
\\pset null ''
SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) AS settings
  FROM unnest(ARRAY['shared_buffers', 'max_wal_size', 'fsync', 'synchronous_commit',
                    'lakehouse.max_message_bytes', 'lakehouse.kafka_synchronous_commit']) AS name \\gset
\\echo 'settings (every side):' :settings
\\echo
WITH best AS (
    SELECT side, min(seconds) AS secs, max(rows) AS rows
      FROM bench.timings WHERE NOT warmup AND side <> 'ours_sync' GROUP BY side
), o AS (SELECT * FROM best WHERE side = 'ours')
SELECT CASE x.side WHEN 'ours' THEN '(a) lakehouse worker -> bronze'
                   WHEN 'kcat' THEN '(b) kcat -C | psql COPY'
                   ELSE '(c) COPY FROM file' END AS side,
       to_char(x.rows / x.secs, 'FM9,999,999') || ' msg/s (' || to_char(x.secs, 'FM990.00') || ' s)' AS throughput,
       CASE x.side WHEN 'ours' THEN '' ELSE to_char((o.rows / o.secs) / (x.rows / x.secs), 'FM0.00') END AS "a/x",
       CASE x.side WHEN 'kcat' THEN '>= 1.00' WHEN 'copy' THEN '>= 0.80' ELSE '' END AS goal,
       CASE x.side WHEN 'ours' THEN ''
            WHEN 'kcat' THEN CASE WHEN o.secs <= x.secs THEN 'yes' ELSE 'NO' END
            ELSE CASE WHEN (o.rows / o.secs) / (x.rows / x.secs) >= 0.8 THEN 'yes' ELSE 'NO' END END AS met
  FROM best x, o
 ORDER BY x.side = 'ours' DESC, x.side DESC;

WITH best AS (
    SELECT side, min(seconds) AS secs, max(rows) AS rows
      FROM bench.timings WHERE NOT warmup GROUP BY side
)
SELECT '(a'') worker, lakehouse.kafka_synchronous_commit = on (information): '
       || to_char(s.rows / s.secs, 'FM9,999,999') || ' msg/s ('
       || to_char(s.secs, 'FM990.00') || ' s), '
       || to_char(k.secs / s.secs, 'FM0.00') || 'x kcat, '
       || to_char(c.secs / s.secs, 'FM0.00') || 'x COPY' AS " "
  FROM best s, best k, best c
 WHERE s.side = 'ours_sync' AND k.side = 'kcat' AND c.side = 'copy';

WITH l AS (
    SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)
                              - to_timestamp((payload->>'sent')::float8)) * 1000 AS ms,
           extract(epoch FROM _lh_timestamp - to_timestamp((payload->>'sent')::float8)) * 1000 AS to_kafka_ms
      FROM bronze.bench_latency WHERE payload ? 'seq'
)
SELECT '(d) end-to-end latency, ' || count(*) || ' msgs at 50/s' AS measure,
       'p50 ' || to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), 'FM9990.0') || ' ms, p95 '
       || to_char(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms), 'FM9990.0') || ' ms, max '
       || to_char(max(ms), 'FM9990.0') || ' ms' AS value,
       'p50 <= 200 ms' AS goal,
       CASE WHEN percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) <= 200 THEN 'yes' ELSE 'NO' END AS met,
       'handed to the producer -> Kafka message timestamp: p50 '
       || to_char(percentile_cont(0.5) WITHIN GROUP (ORDER BY to_kafka_ms), 'FM9990.0') || ' ms' AS detail
  FROM l;
SELECT side, rep, CASE WHEN warmup THEN 'warm-up' ELSE '' END AS note,
       to_char(seconds, 'FM990.000') AS seconds,
       to_char(rows / seconds, 'FM9,999,999') AS "msg/s", detail
  FROM bench.timings ORDER BY side DESC, rep;
EOF
chown "$PGUSER_OS": "$WORK/report.sql"

mem_line()
{
	local goal=yes
	[ "$ANON" -le $((100 * 1024)) ] || goal=NO
	printf '(a) worker memory, %d samples: VmHWM %d MB (peak resident set, counting %d MB of shared buffers it touched: RssShmem), peak RssAnon %d MB (its own memory); goal RssAnon <= 100 MB: %s\n' \
		"$SAMPLES" $((HWM / 1024)) $((SHMEM / 1024)) $((ANON / 1024)) "$goal"
	printf '(a) CPU in the best repetition (%s): worker %s s, mock cluster %s s\n' \
		"$BEST" "${WORKER_CPU:-?}" "${MOCK_CPU:-?}"
}

RESULTS=$OUT/kafka.txt
{
	echo "lakehouse Kafka benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
	echo "$MSGS messages of ~$(( $(wc -c <"$JSONL") / MSGS )) bytes over $PARTS partitions (librdkafka $(kcat -V 2>&1 | sed -n 's/.*librdkafka \([0-9.]*\).*/\1/p' | head -n 1) mock cluster); best of $REPS after a warm-up"
	echo "source options: $(runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -X -A -t -h "$WORK/socket" -p "$PORT" -U postgres -d "$DB" \
		-c "SELECT options - 'brokers' FROM lakehouse.sources WHERE name = 'bench_kafka'") (other options: their defaults)"
	psql_bench -P footer=off -f report.sql
	echo
	mem_line
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

#!/usr/bin/env bash
#
# bench/http.sh: the HTTP-source benchmark (bench/run.sh calls it last; it
# also runs alone).  See bench/README.md, "6. HTTP pulls".
#
# The test API server (test/http/lh_http_server.py, Debian's /usr/bin/python3,
# on 127.0.0.1, --cache: each page is built once, so every side pays the same
# small server cost) serves LH_BENCH_HTTP_RECORDS records (~140 bytes of JSON
# each) as page-number pages of LH_BENCH_HTTP_PAGE: 1,000 pages of 100 by
# default, /pages/items?page=N&per_page=100.  Three sides fetch the same
# pages and land every record as one jsonb row, on one throwaway cluster
# (bench/lib.sh's settings), rotating which side goes first, LH_BENCH_REPS
# timed repetitions after a warm-up:
#   ours   lakehouse.lh_ingest of an http source (page style, max_pages =
#          the page count) into its bronze table: one libcurl handle, a
#          subtransaction and the marks per page; timed with
#          clock_timestamp() around the statement (autocommit, commit
#          included);
#   loop   the shell loop one would write: `for p in 1..N: curl -sf URL; echo`
#          | python3 (one process: each page's array to one JSON per line)
#          | psql -c "COPY t (payload) FROM STDIN", into a table with one
#          jsonb column; wall clock of the pipe (bash $EPOCHREALTIME);
#   glob   the same pipe with one curl process fetching every page over one
#          kept-alive connection (URL globbing, page=[1-N]): information,
#          the fastest client-side pipe.
# Each repetition empties its target (and, for ours, the source's marks)
# and runs CHECKPOINT first; each checks the row count; after the last
# repetition the three tables must hold the same payloads (EXCEPT ALL both
# ways).  Reported: pages/s, records/s, and ours / loop (goal >= 1.0).
#
# Environment:
#   LH_BENCH_HTTP_RECORDS=100000   records served
#   LH_BENCH_HTTP_PAGE=100         records per page
#   LH_BENCH_REPS=3                timed repetitions per side (or
#                                  LH_BENCH_HTTP_REPS)
#   LH_BENCH_HTTP_PORT=54398       port of the throwaway cluster
#   LH_BENCH_KEEP=1                keep the temporary directory
#   LH_SKIP_BUILD=1                skip make / make install
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out
RECORDS=${LH_BENCH_HTTP_RECORDS:-100000}
PAGE=${LH_BENCH_HTTP_PAGE:-100}
REPS=${LH_BENCH_HTTP_REPS:-${LH_BENCH_REPS:-3}}
PORT=${LH_BENCH_HTTP_PORT:-54398}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGUSER_OS=postgres
DB=lakehouse_bench
PYTHON=/usr/bin/python3
SERVER=$ROOT/test/http/lh_http_server.py
export LC_NUMERIC=C	# $EPOCHREALTIME with a decimal point

say() { printf 'bench http: %s\n' "$*"; }
die() { printf 'bench http: ERROR: %s\n' "$*" >&2; exit 1; }

case "$RECORDS$PAGE$REPS$PORT" in
	*[!0-9]*) die "LH_BENCH_HTTP_RECORDS, LH_BENCH_HTTP_PAGE, LH_BENCH_REPS and LH_BENCH_HTTP_PORT must be integers" ;;
esac
[ "$PAGE" -ge 1 ] && [ "$PAGE" -le 1000 ] || die "LH_BENCH_HTTP_PAGE must be between 1 and 1000"
[ "$RECORDS" -ge "$PAGE" ] && [ $(( RECORDS % PAGE )) -eq 0 ] ||
	die "LH_BENCH_HTTP_RECORDS must be a positive multiple of LH_BENCH_HTTP_PAGE"
PAGES=$(( RECORDS / PAGE ))
[ "$PAGES" -le 100000 ] || die "at most 100000 pages"
[ "$REPS" -ge 1 ] || die "LH_BENCH_REPS must be positive"
[ "$(id -u)" -eq 0 ] || die "run as root (the server runs as '$PGUSER_OS' through runuser)"
[ -x "$PYTHON" ] || die "$PYTHON not found: run scripts/install-deps.sh first"
command -v curl >/dev/null 2>&1 || die "curl not found: run scripts/install-deps.sh first"
PGBIN=$("$PG_CONFIG" --bindir)

WORK=
DATA=
CHILD=
HTTP_PID=

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

# lib.sh's cleanup, after stopping the API server.
http_cleanup()
{
	local rc=$?
	set +e
	if [ -n "$HTTP_PID" ]; then
		kill -TERM "$HTTP_PID" 2>/dev/null || true
		wait "$HTTP_PID" 2>/dev/null || true
	fi
	(exit "$rc")
	bench_cleanup
}
bench_traps
trap http_cleanup EXIT

bench_build
# the setup script (psql variables url, page, pages), copied into $WORK/sql
SETUP_DIR=$(mktemp -d)
cat >"$SETUP_DIR/http_setup.sql" <<'EOF'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lakehouse;
CREATE SCHEMA bench;
CREATE TABLE bench.timings (side text, rep int, warmup boolean, seconds float8,
                            records bigint, pages int, detail text);
CREATE TABLE bench.http_loop (payload jsonb);
CREATE TABLE bench.http_glob (payload jsonb);
CREATE FUNCTION bench.check(ok boolean, msg text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ok THEN
        RAISE EXCEPTION 'check failed: %', msg;
    END IF;
    RETURN true;
END
$$;
SELECT lakehouse.lh_create_pipeline('bench_http');
SELECT lakehouse.lh_add_source('bench_http', 'bench_http', 'http', jsonb_build_object(
    'url', :'url',
    'id_field', 'id',
    'retries', 0,
    'pagination', jsonb_build_object('style', 'page', 'param', 'page', 'start', 1,
                                     'page_size_param', 'per_page', 'page_size', :page,
                                     'max_pages', :pages)));
EOF
bench_cluster bench-http "$SETUP_DIR/http_setup.sql"
rm -rf "$SETUP_DIR"
mkdir -p "$OUT"

# --- the API server ------------------------------------------------------------

"$PYTHON" "$SERVER" --port 0 --port-file "$WORK/http.port" --records "$RECORDS" --cache \
	>"$WORK/http.log" 2>&1 </dev/null &
HTTP_PID=$!
for _ in $(seq 300); do
	[ -s "$WORK/http.port" ] && break
	kill -0 "$HTTP_PID" 2>/dev/null || { cat "$WORK/http.log" >&2; die "the API server exited"; }
	sleep 0.1
done
[ -s "$WORK/http.port" ] || die "the API server wrote no port within 30 s"
API="http://127.0.0.1:$(cat "$WORK/http.port")"
URL="$API/pages/items"
say "API server at $API: $RECORDS records, $PAGES pages of $PAGE"

# --- setup -----------------------------------------------------------------------

psql_bench -v url="$URL" -v page="$PAGE" -v pages="$PAGES" -f sql/http_setup.sql >/dev/null ||
	die "setup failed"
SID=$(runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -X -A -t -h "$WORK/socket" -p "$PORT" -U postgres -d "$DB" \
	-c "SELECT source_id FROM lakehouse.sources WHERE name = 'bench_http'") || die "no source bench_http"

# One JSON array per line in, one record per line out, as COPY text (a
# backslash doubled; the JSON holds no tab or newline).
EXTRACT='
import json, sys
out = sys.stdout
for line in sys.stdin:
    if line.strip():
        for r in json.loads(line):
            out.write(json.dumps(r, separators=(",", ":")).replace("\\", "\\\\") + "\n")
'
printf '%s' "$EXTRACT" >"$WORK/extract.py"
chown "$PGUSER_OS": "$WORK/extract.py"

# --- repetitions -----------------------------------------------------------------

ours()
{
	local rep=$1 warm=$2
	cat <<EOF
TRUNCATE bronze.bench_http;
DELETE FROM lakehouse.source_marks WHERE source_id = $SID;
CHECKPOINT;
SELECT clock_timestamp() AS t0 \\gset
SELECT lakehouse.lh_ingest('bench_http') AS summary \\gset
SELECT extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) AS secs \\gset
SELECT bench.check(s->>'status' = 'succeeded' AND (s->>'rows_written')::bigint = $RECORDS,
                   'lh_ingest: ' || s::text)
  FROM (SELECT :'summary'::jsonb AS s) x \\gset chk_
SELECT last_run_pages AS pages, last_run_retries AS retries FROM lakehouse.http_status
 WHERE source = 'bench_http' \\gset
SELECT bench.check(:pages = $PAGES AND :retries = 0,
                   :pages || ' pages, ' || :retries || ' retries') \\gset chk_
INSERT INTO bench.timings VALUES ('ours', $rep, $warm, :secs, $RECORDS, :pages,
    'lh_ingest: one libcurl handle (kept-alive connection), a subtransaction + marks per page, into bronze (metadata columns, identity, BRIN)');
EOF
}

# check and record one repetition of a curl pipe
pipe_check()
{
	local side=$1 rep=$2 warm=$3 secs=$4 detail=$5
	cat <<EOF
SELECT count(*) AS n FROM bench.http_$side \\gset
SELECT bench.check(:n = $RECORDS, '$side: ' || :n || ' rows') \\gset chk_
INSERT INTO bench.timings VALUES ('$side', $rep, $warm, $secs, $RECORDS, $PAGES, '$detail');
EOF
}

# side NAME REP WARM
side()
{
	local name=$1 rep=$2 warm=$3 fetch detail t0 t1
	case "$name" in
		ours)
			ours "$rep" "$warm" >"$WORK/ours.sql"
			chown "$PGUSER_OS": "$WORK/ours.sql"
			psql_bench -f ours.sql || die "ours (repetition $rep) failed"
			return
			;;
		loop)
			fetch="for p in \$(seq 1 $PAGES); do curl -sf '$URL?page='\$p'&per_page=$PAGE' || exit 1; echo; done"
			detail="for p: curl -sf URL; echo | python3 (JSON lines) | psql COPY FROM STDIN, one jsonb column"
			;;
		glob)
			fetch="curl -sf -w '\\n' '$URL?page=[1-$PAGES]&per_page=$PAGE'"
			detail="one curl, page=[1-N] over one connection | python3 (JSON lines) | psql COPY FROM STDIN, one jsonb column"
			;;
	esac
	psql_bench -c "TRUNCATE bench.http_$name" -c 'CHECKPOINT' || die "$name reset failed"
	t0=$EPOCHREALTIME
	as_pg bash -c "set -o pipefail; { $fetch; } | '$PYTHON' '$WORK/extract.py' |
		'$PGBIN/psql' -X -q -v ON_ERROR_STOP=1 -h '$WORK/socket' -p '$PORT' -U postgres -d '$DB' \
			-c 'COPY bench.http_$name (payload) FROM STDIN'" ||
		die "$name (repetition $rep) failed"
	t1=$EPOCHREALTIME
	pipe_check "$name" "$rep" "$warm" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f", b - a}')" \
		"$detail" >"$WORK/$name.sql"
	chown "$PGUSER_OS": "$WORK/$name.sql"
	psql_bench -f "$name.sql" || die "$name check (repetition $rep) failed"
}

sides=(ours loop glob)
for rep in $(seq 0 "$REPS"); do
	warm=false
	[ "$rep" -eq 0 ] && warm=true
	say "repetition $rep$([ "$rep" -eq 0 ] && echo ' (warm-up)')"
	for i in 0 1 2; do
		side "${sides[$(( (rep + i) % 3 ))]}" "$rep" "$warm"
	done
done

# the three sides landed the same records
cat >"$WORK/same.sql" <<'EOF'
SELECT (SELECT count(*) FROM (SELECT payload FROM bronze.bench_http EXCEPT ALL SELECT payload FROM bench.http_loop) a)
     + (SELECT count(*) FROM (SELECT payload FROM bench.http_loop EXCEPT ALL SELECT payload FROM bronze.bench_http) b)
     + (SELECT count(*) FROM (SELECT payload FROM bronze.bench_http EXCEPT ALL SELECT payload FROM bench.http_glob) c)
     + (SELECT count(*) FROM (SELECT payload FROM bench.http_glob EXCEPT ALL SELECT payload FROM bronze.bench_http) d)
       AS diff \gset
SELECT bench.check(:diff = 0, :diff || ' payloads differ between the sides') \gset chk_
\echo '  http: ours, loop and glob landed the same payloads'
EOF
chown "$PGUSER_OS": "$WORK/same.sql"
psql_bench -f same.sql || die "the sides landed different records"

# --- report ----------------------------------------------------------------------

cat >"$WORK/report.sql" <<'EOF'
\pset null ''
WITH best AS (
    SELECT side, min(seconds) AS secs, max(records) AS records, max(pages) AS pages
      FROM bench.timings WHERE NOT warmup GROUP BY side
), o AS (SELECT * FROM best WHERE side = 'ours')
SELECT CASE x.side WHEN 'ours' THEN '6. lakehouse lh_ingest -> bronze'
                   WHEN 'loop' THEN '   curl loop | python3 | psql COPY'
                   ELSE '   one curl (globbing) | python3 | psql COPY' END AS side,
       to_char(x.secs, 'FM990.00') || ' s' AS seconds,
       to_char(x.pages / x.secs, 'FM9,999,990') || ' pages/s' AS pages,
       to_char(x.records / x.secs, 'FM9,999,990') || ' records/s' AS records,
       CASE x.side WHEN 'ours' THEN '' ELSE to_char(x.secs / o.secs, 'FM990.00') || 'x' END AS "ours/x",
       CASE x.side WHEN 'loop' THEN '>= 1.00x' WHEN 'glob' THEN '(info)' ELSE '' END AS goal,
       CASE x.side WHEN 'loop' THEN CASE WHEN x.secs / o.secs >= 1.0 THEN 'yes' ELSE 'NO' END
            ELSE '' END AS met
  FROM best x, o
 ORDER BY x.side = 'ours' DESC, x.side = 'loop' DESC;
SELECT side, rep, CASE WHEN warmup THEN 'warm-up' ELSE '' END AS note,
       to_char(seconds, 'FM990.000') AS seconds, detail
  FROM bench.timings ORDER BY side DESC, rep;
EOF
chown "$PGUSER_OS": "$WORK/report.sql"

RESULTS=$OUT/http.txt
{
	echo "lakehouse HTTP benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
	echo "$RECORDS records in $PAGES pages of $PAGE from the local test API (python3, cached pages); best of $REPS after a warm-up"
	echo "ours/x = the other side's seconds / ours (goal: >= 1.00x against the curl loop)"
	echo
	psql_bench -P footer=off -f report.sql
} | tee "$RESULTS"
chown -R --reference="$ROOT" "$OUT" 2>/dev/null || true
say "results written to $RESULTS"

#!/usr/bin/env bash
#
# scripts/run-tests.sh: build, install and test lakehouse (`make test` runs
# scripts/install-deps.sh --test, then this).
#
# 1. `make` and `make install` as root in the work tree.
# 2. PostgreSQL refuses to run as root, and the clone may live where the
#    postgres user cannot go (/root/...), so the tree is copied into a fresh
#    postgres-owned `mktemp -d` directory and every suite runs there as
#    postgres, through PGXS's `make installcheck` (Debian's binaries and the
#    installed extension):
#      a. pg_regress: REGRESS (sql/, expected/) on a throwaway instance
#         (--temp-instance, --temp-config=test/regress.conf);
#      b. pg_isolation_regress: ISOLATION (test/isolation/specs, expected) on
#         another throwaway instance with the same configuration;
#      c. TAP: prove test/t/*.pl (PostgreSQL::Test::Cluster starts its own
#         nodes under tmp_check/).  When the list includes the upgrade test
#         (test/t/018_upgrade.pl), the released 0.1 is built first, as root,
#         from the git history of this work tree (test/upgrade/build-old.sh
#         build: tag v0.1, make with_llvm=no, staged with DESTDIR under the
#         temporary directory) and LH_OLD_STAGE names the staged tree for the
#         test.  This happens with LH_SKIP_BUILD=1 too: it is part of the TAP
#         suite, not of the build.  Without git history (a tarball, a shallow
#         clone) it fails, and the test fails with the reason (LH_OLD_ERROR)
#         instead of being skipped;
#      d. fuzz: `make fuzz-short`, a few seconds of each fuzz target
#         (test/fuzz/run.sh short), printing executions and crashes.
#    Each suite is its own make run with the others switched off, so one
#    failing suite does not hide the others.
# 3. Results, diffs and TAP logs are copied back into the work tree
#    (results/, regression.diffs, test/isolation/output_iso/, tmp_check/log/);
#    on failure their heads/tails are printed.  The last line is
#    `N passed, N failed` (pg_regress tests + isolation specs + TAP files).
#
# Every server started is stopped: make runs in its own session in the
# background while this script `wait`s, so the EXIT/INT/TERM trap can kill
# the session and then stop any postmaster left under the temporary
# directory (pg_ctl detaches TAP nodes from our session).  Each suite runs
# under `tini -s`, a subreaper: a postmaster that a TAP test kills -9 is
# orphaned (pg_ctl has exited) and must be reaped at once, or its zombie
# keeps postmaster.pid "in use" and the restart fails.
#
# Environment:
#   LH_SUITES="regress isolation tap fuzz"  which suites to run
#   LH_TAP_TESTS="test/t/010_http.pl"  only these TAP files
#   LH_REGRESS="setup silver"          only these pg_regress tests
#   LH_SUITE_TIMEOUT=600               seconds before one suite is killed
#   LH_KEEP_TMP=1                      keep the temporary directory
#   LH_SKIP_BUILD=1                    skip make / make install
#   LH_FUZZ_SECONDS=5                  seconds per fuzz target
#   LH_OLD_STAGE=/dir                  an existing `build-old.sh build` stage
#                                      (OUT/stage, readable by postgres) for the
#                                      upgrade test, instead of building 0.1
#
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

SUITES=${LH_SUITES:-regress isolation tap fuzz}
SUITE_TIMEOUT=${LH_SUITE_TIMEOUT:-600}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGUSER_OS=postgres

say() { printf '\n=== %s ===\n' "$*"; }
die() { printf 'run-tests: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (make install, then the suites run as '$PGUSER_OS' via runuser)"
command -v "$PG_CONFIG" >/dev/null 2>&1 || die "pg_config not found: run scripts/install-deps.sh first"
id "$PGUSER_OS" >/dev/null 2>&1 || die "no '$PGUSER_OS' user (is postgresql-15 installed?)"
PGBIN=$("$PG_CONFIG" --bindir)
command -v tini >/dev/null 2>&1 || die "tini not found: run scripts/install-deps.sh --test first"

WORK=
CHILD=
TAILPID=

# Stop every postmaster whose data directory is under $WORK.  Only a pid
# whose working directory is that data directory is signalled, so a stale
# postmaster.pid can never make us kill someone else's process.
stop_servers()
{
	[ -n "$WORK" ] && [ -d "$WORK" ] || return 0
	local pidfile datadir pid
	while IFS= read -r pidfile; do
		datadir=$(dirname "$pidfile")
		pid=$(head -n 1 "$pidfile" 2>/dev/null || true)
		[ -n "$pid" ] || continue
		[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$datadir" ] || continue
		echo "run-tests: stopping server in $datadir (pid $pid)"
		runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" stop -D "$datadir" \
			-m immediate -w -t 30 >/dev/null 2>&1 || true
		if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$datadir" ]; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done < <(find "$WORK" -name postmaster.pid -type f 2>/dev/null)
}

# Kill the running suite and the log follower.  The suite is a session of
# its own (setsid), but runuser puts its child in a new process group, so
# every process of that session is signalled, by session id.
stop_child()
{
	if [ -n "$CHILD" ]; then
		kill -TERM -- "-$CHILD" 2>/dev/null || true
		pkill -TERM -s "$CHILD" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			pgrep -s "$CHILD" >/dev/null 2>&1 || break
			sleep 0.5
		done
		pkill -KILL -s "$CHILD" 2>/dev/null || true
		CHILD=
	fi
	if [ -n "$TAILPID" ]; then
		kill "$TAILPID" 2>/dev/null || true
		TAILPID=
	fi
}

cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	stop_child
	stop_servers
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "${LH_KEEP_TMP:-0}" = 1 ]; then
			echo "run-tests: keeping $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "run-tests: interrupted" >&2; exit 130' INT
trap 'echo "run-tests: terminated" >&2; exit 143' TERM

# Print a Makefile variable (after PGXS is read).
make_var()
{
	make -s --no-print-directory -f Makefile -f - "print-$1" <<'EOF'
print-%:
	@echo $($*)
EOF
}

# A port nobody listens on (TCP or a Unix socket in the usual places).
free_port()
{
	local port tries=0
	while [ "$tries" -lt 200 ]; do
		port=$((50000 + RANDOM % 10000))
		tries=$((tries + 1))
		[ -e "/tmp/.s.PGSQL.$port" ] && continue
		[ -e "/var/run/postgresql/.s.PGSQL.$port" ] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	die "no free port found"
}

# run_suite LOG ARGS...: run `make ARGS` as postgres in the copied tree, in a
# session of its own, in the background; follow its output; return its
# exit status.
run_suite()
{
	local log=$1 rc
	shift
	: >"$log"
	(
		cd "$TREE" || exit 1
		exec setsid timeout -k 20 "$SUITE_TIMEOUT" \
			tini -s -- \
			runuser -u "$PGUSER_OS" -- \
			env -u PGHOST -u PGHOSTADDR -u PGPORT -u PGDATABASE -u PGUSER \
			-u PGSERVICE -u PGOPTIONS -u PGDATA \
			HOME="$WORK/home" TMPDIR="$WORK/tmp" \
			LANG=C.UTF-8 LC_ALL=C.UTF-8 \
			"${SUITE_ENV[@]}" \
			PATH="$PGBIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			make --no-print-directory "$@"
	) >"$log" 2>&1 </dev/null &
	CHILD=$!
	tail -n +1 -f --pid="$CHILD" "$log" &
	TAILPID=$!
	wait "$CHILD"
	rc=$?
	CHILD=
	wait "$TAILPID" 2>/dev/null
	TAILPID=
	[ "$rc" -eq 124 ] && echo "run-tests: suite timed out after ${SUITE_TIMEOUT}s"
	stop_servers
	return "$rc"
}

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()
# extra VAR=value settings for the suites' environment
SUITE_ENV=()

# count_pg_regress NAME LOG RC MISSING...: count pg_regress-style results.
count_pg_regress()
{
	local name=$1 log=$2 rc=$3 ok failed
	shift 3
	ok=$(grep -cE '\.\.\. ok|\.\.\. failed \(ignored\)' "$log" 2>/dev/null || true)
	failed=$(grep -cE '\.\.\. FAILED' "$log" 2>/dev/null || true)
	ok=${ok:-0}
	failed=${failed:-0}
	local note=""
	if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		failed=1
		note=" (exit status $rc without a failed test: see the log above)"
	fi
	if [ "$#" -gt 0 ]; then
		failed=$((failed + $#))
		note="$note (not run, files missing: $*)"
	fi
	TOTAL_PASS=$((TOTAL_PASS + ok))
	TOTAL_FAIL=$((TOTAL_FAIL + failed))
	SUMMARY+=("$(printf '%-11s %3d ok, %3d failing%s' "$name" "$ok" "$failed" "$note")")
}

# --- 1. build and install ----------------------------------------------------

if [ "${LH_SKIP_BUILD:-0}" != 1 ]; then
	say "build"
	if ! make -j"$(nproc)"; then
		echo "run-tests: ERROR: build failed (see the compiler output above)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	if ! make install; then
		echo "run-tests: ERROR: make install failed" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	# the Kafka mock cluster of the TAP tests (they build it themselves
	# when it is missing, e.g. with LH_SKIP_BUILD=1)
	if ! make kafka-mock; then
		echo "run-tests: ERROR: make kafka-mock failed" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

REGRESS_ALL=${LH_REGRESS:-$(make_var REGRESS)}
ISOLATION_ALL=$(make_var ISOLATION)

# --- 2. copy the tree where postgres can work ---------------------------------

WORK=$(mktemp -d /tmp/lakehouse-test.XXXXXX) || die "mktemp failed"
chmod 755 "$WORK"
TREE=$WORK/tree
mkdir -p "$TREE" "$WORK/tmp" "$WORK/home" "$WORK/logs"
tar -C "$ROOT" \
	--exclude=./.git --exclude=./tmp_check --exclude=./tmp_inst \
	--exclude=./tmp_inst_iso --exclude=./results --exclude=./log \
	--exclude=./regression.diffs --exclude=./regression.out \
	--exclude=./test/isolation/output_iso --exclude=./bench/out --exclude=./.demo \
	-cf - . | tar -C "$TREE" -xf - || die "could not copy the tree to $TREE"
chown -R "$PGUSER_OS": "$WORK"
echo "run-tests: testing in $TREE"

# Stale results in the work tree would be confusing: they are replaced below.
rm -rf "$ROOT/results" "$ROOT/regression.diffs" "$ROOT/regression.out" \
	"$ROOT/test/isolation/output_iso" "$ROOT/tmp_check/log"

# --- 3a. pg_regress ------------------------------------------------------------

REGRESS_RC=0
if [[ " $SUITES " == *" regress "* ]] && [ -n "$REGRESS_ALL" ]; then
	say "pg_regress: $REGRESS_ALL"
	run_list=()
	missing=()
	placeholders=()
	for t in $REGRESS_ALL; do
		if [ ! -f "sql/$t.sql" ]; then
			echo "run-tests: MISSING sql/$t.sql: test $t not run, counted as failed"
			missing+=("sql/$t.sql")
			continue
		fi
		if ! compgen -G "expected/$t.out" >/dev/null &&
		   ! compgen -G "expected/${t}_[0-9].out" >/dev/null; then
			# pg_regress aborts the whole run on a missing expected file:
			# give the copy an empty one, so the test runs, fails, and
			# leaves results/$t.out for its author to review.
			echo "run-tests: MISSING expected/$t.out: test $t runs against an empty expected file and fails;"
			echo "run-tests:   review results/$t.out, then copy it to expected/$t.out"
			mkdir -p "$TREE/expected"
			: >"$TREE/expected/$t.out"
			chown "$PGUSER_OS": "$TREE/expected/$t.out"
			placeholders+=("$t")
		fi
		run_list+=("$t")
	done
	if [ "${#run_list[@]}" -gt 0 ]; then
		run_suite "$WORK/logs/regress.log" installcheck ISOLATION= TAP_TESTS= \
			REGRESS="${run_list[*]}" \
			EXTRA_REGRESS_OPTS="--temp-instance=$TREE/tmp_inst --port=$(free_port)"
		REGRESS_RC=$?
	else
		: >"$WORK/logs/regress.log"
	fi
	count_pg_regress "pg_regress" "$WORK/logs/regress.log" "$REGRESS_RC" "${missing[@]}"
	[ "${#missing[@]}" -gt 0 ] && REGRESS_RC=1
	[ "${#placeholders[@]}" -gt 0 ] &&
		SUMMARY+=("            no expected output yet: ${placeholders[*]}")
	[ -d "$TREE/results" ] && cp -a "$TREE/results" "$ROOT/"
	for f in regression.diffs regression.out; do
		[ -f "$TREE/$f" ] && cp "$TREE/$f" "$ROOT/"
	done
	# Print the diffs of real failures; those of tests without expected
	# output would only repeat their whole output.
	if [ -s "$TREE/regression.diffs" ]; then
		say "pg_regress: regression.diffs (first 150 lines; all of it in $ROOT/regression.diffs)"
		awk -v skip=" ${placeholders[*]} " '
			/^diff / {
				n = split($0, w, " ")
				f = w[n]; sub(/.*\//, "", f); sub(/\.out$/, "", f)
				hide = index(skip, " " f " ") > 0
				if (hide) print "(diff of " f " left out: no expected output yet)"
			}
			!hide' "$TREE/regression.diffs" | head -n 150
	fi
fi

# --- 3b. isolation ---------------------------------------------------------------

ISO_RC=0
if [[ " $SUITES " == *" isolation "* ]] && [ -n "$ISOLATION_ALL" ]; then
	say "isolation: $ISOLATION_ALL"
	run_list=()
	missing=()
	for t in $ISOLATION_ALL; do
		if [ ! -f "test/isolation/specs/$t.spec" ]; then
			echo "run-tests: MISSING test/isolation/specs/$t.spec: spec $t not run, counted as failed"
			missing+=("test/isolation/specs/$t.spec")
			continue
		fi
		if [ ! -f "test/isolation/expected/$t.out" ]; then
			echo "run-tests: MISSING test/isolation/expected/$t.out: spec $t runs against an empty expected file and fails;"
			echo "run-tests:   review test/isolation/output_iso/results/$t.out, then copy it to test/isolation/expected/"
			mkdir -p "$TREE/test/isolation/expected"
			: >"$TREE/test/isolation/expected/$t.out"
			chown "$PGUSER_OS": "$TREE/test/isolation/expected/$t.out"
		fi
		run_list+=("$t")
	done
	if [ "${#run_list[@]}" -gt 0 ]; then
		run_suite "$WORK/logs/isolation.log" installcheck REGRESS= TAP_TESTS= \
			ISOLATION="${run_list[*]}" \
			EXTRA_REGRESS_OPTS="--temp-instance=$TREE/tmp_inst_iso --port=$(free_port)"
		ISO_RC=$?
	else
		: >"$WORK/logs/isolation.log"
	fi
	count_pg_regress "isolation" "$WORK/logs/isolation.log" "$ISO_RC" "${missing[@]}"
	[ "${#missing[@]}" -gt 0 ] && ISO_RC=1
	if [ -d "$TREE/test/isolation/output_iso" ]; then
		cp -a "$TREE/test/isolation/output_iso" "$ROOT/test/isolation/"
	fi
	if [ -s "$TREE/test/isolation/output_iso/regression.diffs" ]; then
		say "isolation: regression.diffs (first 150 lines)"
		head -n 150 "$TREE/test/isolation/output_iso/regression.diffs"
	fi
fi

# --- 3c. TAP ---------------------------------------------------------------------

TAP_RC=0
if [[ " $SUITES " == *" tap "* ]]; then
	tap_tests=${LH_TAP_TESTS:-$(make_var PROVE_TESTS)}
	# The upgrade test needs the released 0.1 (see the top of this file).
	need_old=0
	for f in $tap_tests; do
		case $f in *_upgrade.pl) need_old=1 ;; esac
	done
	if [ "$need_old" = 1 ]; then
		if [ -n "${LH_OLD_STAGE:-}" ]; then
			say "upgrade test: lakehouse 0.1 from LH_OLD_STAGE=$LH_OLD_STAGE"
			SUITE_ENV+=("LH_OLD_STAGE=$LH_OLD_STAGE")
		else
			say "upgrade test: build lakehouse 0.1 (test/upgrade/build-old.sh build)"
			mkdir -p "$WORK/old"
			if bash "$ROOT/test/upgrade/build-old.sh" build "$WORK/old" 2>"$WORK/old/error"; then
				SUITE_ENV+=("LH_OLD_STAGE=$WORK/old/stage")
			else
				cat "$WORK/old/error" >&2
				echo "run-tests: the upgrade test will fail: lakehouse 0.1 could not be built"
				SUITE_ENV+=("LH_OLD_ERROR=$(grep 'build-old: ERROR' "$WORK/old/error" | tail -n 1)")
			fi
			chmod -R a+rX "$WORK/old"
		fi
	fi
	say "TAP: prove $tap_tests"
	run_suite "$WORK/logs/tap.log" installcheck REGRESS= ISOLATION= \
		PROVE_FLAGS="--timer" PROVE_TESTS="$tap_tests"
	TAP_RC=$?
	# prove: "Files=N, Tests=M, ..." and one "file (Wstat: ...)" line per
	# failed file in its "Test Summary Report".
	files=$(sed -n 's/^Files=\([0-9][0-9]*\),.*/\1/p' "$WORK/logs/tap.log" | tail -n 1)
	tfailed=$(grep -cE '^[^ ]+\.pl +\(Wstat' "$WORK/logs/tap.log" || true)
	files=${files:-0}
	tfailed=${tfailed:-0}
	tpassed=$((files - tfailed))
	[ "$tpassed" -lt 0 ] && tpassed=0
	note=""
	if [ "$TAP_RC" -ne 0 ] && [ "$tfailed" -eq 0 ]; then
		tfailed=1
		note=" (exit status $TAP_RC without a failed file: see the log above)"
	fi
	TOTAL_PASS=$((TOTAL_PASS + tpassed))
	TOTAL_FAIL=$((TOTAL_FAIL + tfailed))
	SUMMARY+=("$(printf '%-11s %3d ok, %3d failing (test files)%s' "TAP" "$tpassed" "$tfailed" "$note")")
	if [ -d "$TREE/tmp_check/log" ]; then
		mkdir -p "$ROOT/tmp_check"
		cp -a "$TREE/tmp_check/log" "$ROOT/tmp_check/"
		if [ "$TAP_RC" -ne 0 ]; then
			for f in "$TREE"/tmp_check/log/regress_log_*; do
				[ -f "$f" ] || continue
				say "TAP log $(basename "$f") (last 80 lines)"
				tail -n 80 "$f"
			done
			for f in "$TREE"/tmp_check/log/*.log; do
				[ -f "$f" ] || continue
				say "server log $(basename "$f") (last 30 lines)"
				tail -n 30 "$f"
			done
			echo "run-tests: all TAP logs are in $ROOT/tmp_check/log/"
		fi
	fi
fi

# --- 3d. fuzz --------------------------------------------------------------------
# A short run of every fuzz target (test/fuzz/run.sh short; LH_FUZZ_SECONDS
# each, default 5): executions and crashes per target.

FUZZ_RC=0
if [[ " $SUITES " == *" fuzz "* ]]; then
	say "fuzz: test/fuzz/run.sh short ${LH_FUZZ_SECONDS:-5}"
	run_suite "$WORK/logs/fuzz.log" fuzz-short FUZZ_SECONDS="${LH_FUZZ_SECONDS:-5}"
	FUZZ_RC=$?
	fok=$(grep -c '^fuzz: .* 0 crashes$' "$WORK/logs/fuzz.log" || true)
	ffail=$(grep -c '^fuzz: .* 1 crash ' "$WORK/logs/fuzz.log" || true)
	fok=${fok:-0}
	ffail=${ffail:-0}
	note=""
	if [ "$FUZZ_RC" -ne 0 ] && [ "$ffail" -eq 0 ]; then
		ffail=1
		note=" (exit status $FUZZ_RC without a crash: see the log above)"
	fi
	TOTAL_PASS=$((TOTAL_PASS + fok))
	TOTAL_FAIL=$((TOTAL_FAIL + ffail))
	SUMMARY+=("$(printf '%-11s %3d ok, %3d failing (targets)%s' "fuzz" "$fok" "$ffail" "$note")")
	while IFS= read -r line; do
		SUMMARY+=("  $line")
	done < <(grep '^fuzz: ' "$WORK/logs/fuzz.log")
fi

# --- summary ---------------------------------------------------------------------

say "summary"
for line in "${SUMMARY[@]}"; do
	echo "  $line"
done
[ "$REGRESS_RC" -ne 0 ] && echo "  pg_regress output: $ROOT/results/, diffs: $ROOT/regression.diffs"
[ "$ISO_RC" -ne 0 ] && echo "  isolation output: $ROOT/test/isolation/output_iso/"
[ "$TAP_RC" -ne 0 ] && echo "  TAP logs: $ROOT/tmp_check/log/"
[ "$FUZZ_RC" -ne 0 ] && echo "  fuzz log: see the fuzz section above"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"

[ "$TOTAL_FAIL" -eq 0 ] && [ "$REGRESS_RC" -eq 0 ] && [ "$ISO_RC" -eq 0 ] && [ "$TAP_RC" -eq 0 ] \
	&& [ "$FUZZ_RC" -eq 0 ]

# bench/lib.sh: what the benchmark scripts in bench/ share (sourced, not run).
#
# The caller sets ROOT, PGBIN, PGUSER_OS, PORT, DB, and defines say and die;
# WORK, DATA and CHILD start empty.  bench_cluster creates WORK (a
# postgres-owned temporary directory), initdb's a throwaway cluster in it
# with the one configuration every side of every benchmark runs with, starts
# it and creates DB.  The EXIT trap installed by bench_traps stops that
# cluster and removes WORK, whatever happens (LH_BENCH_KEEP=1 keeps it).

bench_stop_cluster()
{
	[ -n "$DATA" ] && [ -f "$DATA/postmaster.pid" ] || return 0
	runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null 2>&1 ||
		runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 >/dev/null 2>&1 ||
		true
}

bench_cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$CHILD" ]; then
		kill -TERM "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	bench_stop_cluster
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "${LH_BENCH_KEEP:-0}" = 1 ]; then
			say "kept $WORK (server log: $WORK/server.log)"
		else
			if [ "$rc" -ne 0 ] && [ -f "$WORK/server.log" ]; then
				echo "bench: last lines of the server log:" >&2
				tail -n 20 "$WORK/server.log" >&2 || true
			fi
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}

bench_traps()
{
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Run a command as the postgres user from the work directory; in the
# background, so that a signal reaches our trap while it runs.
as_pg()
{
	(cd "$WORK" && exec runuser -u "$PGUSER_OS" -- "$@") &
	CHILD=$!
	local rc=0
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

psql_bench()
{
	as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK/socket" -p "$PORT" \
		-U postgres -d "$DB" "$@"
}

bench_build()
{
	if [ "${LH_SKIP_BUILD:-0}" != 1 ]; then
		say "building and installing the extension"
		make -C "$ROOT" -s >/dev/null || die "build failed"
		make -C "$ROOT" -s install >/dev/null || die "make install failed"
	fi
}

# bench_cluster NAME SQLFILE...: the throwaway cluster, with SQLFILEs copied
# into $WORK/sql.  One configuration for ours and every baseline, sized for
# a 2-core, 24 GiB machine; fsync and synchronous_commit stay on; autovacuum
# is off so that no background vacuum runs during a timed statement (the
# scripts vacuum what they need themselves).  BENCH_EXTRA_CONF, when set,
# is appended to postgresql.conf (bench/incremental.sh sizes memory for 10M
# rows with it).
bench_cluster()
{
	local name=$1
	shift
	WORK=$(mktemp -d "/tmp/lakehouse-$name.XXXXXX")
	DATA=$WORK/data
	mkdir -p "$WORK/socket" "$WORK/sql"
	cp "$@" "$WORK/sql/"
	chown -R "$PGUSER_OS": "$WORK"
	chmod 755 "$WORK"

	say "initdb in $DATA (port $PORT)"
	as_pg env LANG=C.UTF-8 LC_ALL=C.UTF-8 "$PGBIN/initdb" -D "$DATA" -U postgres \
		--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }
	cat >>"$DATA/postgresql.conf" <<CONF

# lakehouse benchmark ($name)
port = $PORT
listen_addresses = ''
unix_socket_directories = '$WORK/socket'
shared_preload_libraries = 'lakehouse'
shared_buffers = 2GB
effective_cache_size = 16GB
work_mem = 64MB
maintenance_work_mem = 1GB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 30min
autovacuum = off
log_checkpoints = on
timezone = 'UTC'
CONF
	# a benchmark may override settings (later lines win): BENCH_EXTRA_CONF
	[ -n "${BENCH_EXTRA_CONF:-}" ] && printf '\n%s\n' "$BENCH_EXTRA_CONF" >>"$DATA/postgresql.conf"
	as_pg "$PGBIN/pg_ctl" start -D "$DATA" -l "$WORK/server.log" -w -t 60 >/dev/null ||
		{ tail -n 30 "$WORK/server.log" >&2; die "the cluster did not start"; }
	as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK/socket" -p "$PORT" -U postgres \
		-d postgres -c "CREATE DATABASE $DB" || die "could not create database $DB"
}

# bench_init NAME VAR DEFAULT_PORT MIN_ROWS: the common start of a benchmark
# of one table size (bench/scd2.sh, contract.sh, quality.sh).  Defines say
# and die ("bench NAME: ..."), reads LH_BENCH_<VAR>_ROWS (default 1000000),
# LH_BENCH_REPS (default 5) and LH_BENCH_<VAR>_PORT into ROWS, REPS and
# PORT, checks them, and sets OUT, PG_CONFIG, PGUSER_OS, DB and PGBIN.  The
# caller has set ROOT and BENCH.
bench_init()
{
	BENCH_NAME=$1
	local var=$2 default_port=$3 min_rows=$4
	local rows_var="LH_BENCH_${var}_ROWS" port_var="LH_BENCH_${var}_PORT"

	say() { printf 'bench %s: %s\n' "$BENCH_NAME" "$*"; }
	die() { printf 'bench %s: ERROR: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

	OUT=$BENCH/out
	ROWS=${!rows_var:-1000000}
	REPS=${LH_BENCH_REPS:-5}
	PORT=${!port_var:-$default_port}
	PG_CONFIG=${PG_CONFIG:-pg_config}
	PGUSER_OS=postgres
	DB=lakehouse_bench
	case "$ROWS$REPS$PORT" in
		*[!0-9]*) die "$rows_var, LH_BENCH_REPS and $port_var must be integers" ;;
	esac
	[ "$ROWS" -ge "$min_rows" ] || die "$rows_var must be at least $min_rows"
	[ "$REPS" -ge 1 ] || die "LH_BENCH_REPS must be positive"
	[ "$(id -u)" -eq 0 ] || die "run as root (the server runs as '$PGUSER_OS' through runuser)"
	PGBIN=$("$PG_CONFIG" --bindir)
	WORK=
	DATA=
	CHILD=
}


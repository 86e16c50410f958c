#!/usr/bin/env bash
#
# scripts/demo.sh: a throwaway PostgreSQL cluster with lakehouse and the
# sample pipelines (`make demo`; `make demo-stop` runs `scripts/demo.sh stop`).
#
#   scripts/demo.sh [start]   build and install the extension (as root), then
#                             (re)create the demo cluster, load samples/ and
#                             run samples/demo.sql
#   scripts/demo.sh stop      stop the demo cluster and remove its directory
#   scripts/demo.sh status    say whether it runs and how to connect
#
# The cluster lives in a postgres-owned directory (default
# /var/tmp/lakehouse-demo: data/, socket/, samples/, server.log), listens
# only on a Unix socket in its own directory on its own port (default
# 55432), and is recorded in .demo/dir in the work tree so that `stop` finds
# it.  Starting again while one runs stops and recreates it.
#
# Environment: LH_DEMO_DIR, LH_DEMO_PORT, LH_DEMO_DB (default lakehouse_demo).
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=$ROOT/.demo
STATE_FILE=$STATE_DIR/dir
MARKER=.lakehouse-demo

DEMO_DIR=${LH_DEMO_DIR:-/var/tmp/lakehouse-demo}
PORT=${LH_DEMO_PORT:-55432}
DB=${LH_DEMO_DB:-lakehouse_demo}
PGUSER_OS=postgres
PG_CONFIG=${PG_CONFIG:-pg_config}

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

need_root()
{
	[ "$(id -u)" -eq 0 ] || die "run as root (the server runs as '$PGUSER_OS' through runuser)"
	command -v "$PG_CONFIG" >/dev/null 2>&1 || die "pg_config not found: run 'make deps' first"
	id "$PGUSER_OS" >/dev/null 2>&1 || die "no '$PGUSER_OS' user (is postgresql-15 installed?)"
	PGBIN=$("$PG_CONFIG" --bindir)
}

as_pg()
{
	(cd "$DEMO_DIR" 2>/dev/null || cd /; exec runuser -u "$PGUSER_OS" -- "$@")
}

# The directory of the demo that was started last (the recorded one wins).
recorded_dir()
{
	if [ -f "$STATE_FILE" ]; then
		cat "$STATE_FILE"
	else
		echo "$DEMO_DIR"
	fi
}

# stop_demo DIR: stop the cluster in DIR (if any) and remove DIR, but only if
# it carries our marker file.
stop_demo()
{
	local dir=$1
	if [ ! -e "$dir" ]; then
		return 0
	fi
	[ -f "$dir/$MARKER" ] || die "$dir does not look like a lakehouse demo directory; not touching it"
	if [ -f "$dir/data/postmaster.pid" ]; then
		say "stopping the demo cluster in $dir"
		runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null ||
			runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null ||
			true
	fi
	rm -rf "$dir"
}

connect_help()
{
	local dir=$1 port=$2 db=$3
	cat <<EOF

The lakehouse demo is running.
  connect:  runuser -u postgres -- psql -h $dir/socket -p $port $db
       or:  psql -h $dir/socket -p $port -U postgres $db
  try:      SELECT * FROM lakehouse.pipeline_status;
            SELECT * FROM lakehouse.recent_runs;
  log:      $dir/server.log
  stop:     make demo-stop
EOF
}

cmd_stop()
{
	need_root
	local dir
	dir=$(recorded_dir)
	if [ -e "$dir" ]; then
		stop_demo "$dir"
		say "stopped and removed $dir"
	else
		say "no demo cluster found (looked for $dir)"
	fi
	rm -rf "$STATE_DIR"
}

cmd_status()
{
	need_root
	local dir
	dir=$(recorded_dir)
	if [ -f "$dir/data/postmaster.pid" ] &&
	   runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
		connect_help "$dir" "$(cat "$dir/port")" "$(cat "$dir/database")"
	else
		say "no demo cluster running"
		return 3
	fi
}

cmd_start()
{
	need_root
	[ -f "$ROOT/samples/demo.sql" ] ||
		die "samples/demo.sql not found: the sample content is not written yet, so there is nothing to demo"
	case "$DEMO_DIR" in
		/*) ;;
		*) die "LH_DEMO_DIR must be an absolute path" ;;
	esac

	say "building and installing the extension"
	make -C "$ROOT" -s -j"$(nproc)" || die "build failed"
	make -C "$ROOT" -s install >/dev/null || die "make install failed"

	# Re-running replaces the previous demo (wherever it was recorded).
	local old
	old=$(recorded_dir)
	stop_demo "$old"
	[ "$old" = "$DEMO_DIR" ] || stop_demo "$DEMO_DIR"

	mkdir -p "$DEMO_DIR"
	touch "$DEMO_DIR/$MARKER"
	mkdir -p "$STATE_DIR"
	echo "$DEMO_DIR" >"$STATE_FILE"
	mkdir -p "$DEMO_DIR/socket"
	cp -a "$ROOT/samples" "$DEMO_DIR/samples"
	echo "$PORT" >"$DEMO_DIR/port"
	echo "$DB" >"$DEMO_DIR/database"
	chown -R "$PGUSER_OS": "$DEMO_DIR"
	chmod 755 "$DEMO_DIR"

	# An interrupted setup leaves nothing behind.
	trap 'echo "demo: interrupted, removing $DEMO_DIR" >&2; stop_demo "$DEMO_DIR"; rm -rf "$STATE_DIR"; exit 130' INT TERM

	say "creating the cluster in $DEMO_DIR/data (port $PORT)"
	as_pg env LANG=C.UTF-8 LC_ALL=C.UTF-8 "$PGBIN/initdb" -D "$DEMO_DIR/data" -U postgres \
		--auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$DEMO_DIR/initdb.log" 2>&1 ||
		{ cat "$DEMO_DIR/initdb.log" >&2; die "initdb failed"; }
	cat >>"$DEMO_DIR/data/postgresql.conf" <<EOF

# lakehouse demo (scripts/demo.sh)
port = $PORT
listen_addresses = ''
unix_socket_directories = '$DEMO_DIR/socket'
shared_preload_libraries = 'pg_cron,lakehouse'
cron.database_name = '$DB'
cron.use_background_workers = on
max_worker_processes = 32
timezone = 'UTC'
EOF
	as_pg "$PGBIN/pg_ctl" start -D "$DEMO_DIR/data" -l "$DEMO_DIR/server.log" -w -t 60 >/dev/null ||
		{ tail -n 30 "$DEMO_DIR/server.log" >&2; die "the demo cluster did not start"; }

	local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR/socket" -p "$PORT" -U postgres)
	as_pg "${psql[@]}" -d postgres -c "CREATE DATABASE \"$DB\"" || die "could not create database $DB"
	as_pg "${psql[@]}" -d "$DB" \
		-c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION lakehouse' ||
		die "could not create the extensions"

	trap - INT TERM
	say "running samples/demo.sql"
	if ! as_pg env PGAPPNAME=lakehouse-demo "$PGBIN/psql" -X -v ON_ERROR_STOP=1 \
		-h "$DEMO_DIR/socket" -p "$PORT" -U postgres -d "$DB" \
		-v samples_dir="$DEMO_DIR/samples" -f "$DEMO_DIR/samples/demo.sql"; then
		echo "demo: ERROR: samples/demo.sql failed; the cluster is left running for a look" >&2
		connect_help "$DEMO_DIR" "$PORT" "$DB" >&2
		exit 1
	fi

	connect_help "$DEMO_DIR" "$PORT" "$DB"
}

case "${1:-start}" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	*) die "usage: $0 [start|stop|status]" ;;
esac

#!/usr/bin/env bash
#
# scripts/demo.sh: a throwaway PostgreSQL cluster with lakehouse and the
# sample pipelines (`make demo`; `make demo-stop` runs `scripts/demo.sh stop`).
#
#   scripts/demo.sh [start]   build and install the extension and the Kafka
#                             mock (as root), then (re)create the demo
#                             cluster and Kafka broker, load samples/, run
#                             samples/demo.sql, produce the user_events topic
#                             and run samples/kafka_demo.sql
#   scripts/demo.sh stop      stop the demo cluster and Kafka broker and
#                             remove their directory
#   scripts/demo.sh status    say whether they run and how to connect
#
# The cluster lives in a postgres-owned directory (default
# /var/tmp/lakehouse-demo: data/, socket/, samples/, server.log, kafka/),
# listens only on a Unix socket in its own directory on its own port
# (default 55432), and is recorded in .demo/dir in the work tree so that
# `stop` finds it.  Starting again while one runs stops and recreates it.
# Its metrics worker serves the status page and /metrics on
# http://127.0.0.1:<LH_DEMO_HTTP_PORT>/ (default 55480).
#
# The Kafka broker is librdkafka's mock cluster (test/kafka/lh_kafka_mock,
# built by `make kafka-mock` and copied to kafka/), running as postgres on an
# ephemeral port of 127.0.0.1; kafka/mock.pid and kafka/addr record it, and
# `stop` ends that process (and only it).  The messages come from
# `samples/generate.py --kafka-out kafka/` and are produced with kcat.
#
# Environment: LH_DEMO_DIR, LH_DEMO_PORT, LH_DEMO_DB (default lakehouse_demo),
# LH_DEMO_HTTP_PORT (default 55480).
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=$ROOT/.demo
STATE_FILE=$STATE_DIR/dir
MARKER=.lakehouse-demo

DEMO_DIR=${LH_DEMO_DIR:-/var/tmp/lakehouse-demo}
PORT=${LH_DEMO_PORT:-55432}
DB=${LH_DEMO_DB:-lakehouse_demo}
HTTP_PORT=${LH_DEMO_HTTP_PORT:-55480}
PGUSER_OS=postgres
PG_CONFIG=${PG_CONFIG:-pg_config}
PYTHON=/usr/bin/python3		# Debian's (postgresql-server-dev-15 pulls it in)

KAFKA_TOPIC=user_events
KAFKA_PARTITIONS=3
# Set by start_kafka and produce_kafka.
KAFKA_ADDR=
KAFKA_MESSAGES=

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

# kafka_mock_pid DIR: print the pid of the Kafka mock of the demo in DIR and
# succeed, if it runs.  Only a process whose command is the copy of the mock
# in DIR counts, so a recycled pid is never taken for it.
kafka_mock_pid()
{
	local dir=$1 pid
	[ -f "$dir/kafka/mock.pid" ] || return 1
	pid=$(cat "$dir/kafka/mock.pid" 2>/dev/null) || return 1
	case "$pid" in
		'' | *[!0-9]*) return 1 ;;
	esac
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -F -- "$dir/kafka/lh_kafka_mock " || return 1
	echo "$pid"
}

# stop_kafka_mock DIR: end the demo's Kafka mock (SIGTERM, then SIGKILL after
# 10 s).
stop_kafka_mock()
{
	local dir=$1 pid
	pid=$(kafka_mock_pid "$dir") || return 0
	say "stopping the Kafka mock (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kafka_mock_pid "$dir" >/dev/null || return 0
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# stop_demo DIR: stop the cluster and the Kafka mock in DIR (if any) and
# remove DIR, but only if it carries our marker file.
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
	# After the cluster: its Kafka workers leave before their broker does.
	stop_kafka_mock "$dir"
	rm -rf "$dir"
}

# A failure once the cluster runs: say so and how to clean up.
die_running()
{
	printf 'demo: ERROR: %s\n' "$*" >&2
	# shellcheck disable=SC2016  # backquotes meant literally
	printf 'demo: the demo cluster (and Kafka mock) in %s are left for a look; `make demo-stop` removes them\n' \
		"$DEMO_DIR" >&2
	exit 1
}

connect_help()
{
	local dir=$1 port=$2 db=$3
	local pid addr http_port
	http_port=$(cat "$dir/http_port" 2>/dev/null || echo "$HTTP_PORT")
	cat <<EOF

The lakehouse demo is running.
  connect:  runuser -u postgres -- psql -h $dir/socket -p $port $db
       or:  psql -h $dir/socket -p $port -U postgres $db
  status:   http://127.0.0.1:$http_port/  (pipelines, runs, lag, quality, quarantine, lineage)
  metrics:  http://127.0.0.1:$http_port/metrics
  try:      SELECT * FROM lakehouse.pipeline_status;
            SELECT * FROM lakehouse.recent_runs;
            SELECT * FROM lakehouse.source_status WHERE kind = 'kafka';
            SELECT lakehouse.lh_lineage_diagram('mermaid');
  log:      $dir/server.log
EOF
	if pid=$(kafka_mock_pid "$dir"); then
		addr=$(cat "$dir/kafka/addr" 2>/dev/null || echo '?')
		cat <<EOF
  kafka:    broker $addr (librdkafka mock, pid $pid; log $dir/kafka/mock.log),
            topic $KAFKA_TOPIC, $KAFKA_PARTITIONS partitions, streamed by pipeline "events"
  produce:  echo '{"event_id": 5001, "user_id": 1, "type": "login", "ts": "2024-07-01T12:00:00Z"}' |
              kcat -b $addr -P -t $KAFKA_TOPIC -p 1
EOF
	else
		echo "  kafka:    the demo's Kafka mock is not running"
	fi
	cat <<EOF
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
		local pid
		if pid=$(kafka_mock_pid "$dir"); then
			say "but its Kafka mock runs (pid $pid, broker $(cat "$dir/kafka/addr" 2>/dev/null || echo '?')): make demo-stop ends it"
		fi
		return 3
	fi
}

# start_kafka: start the demo's Kafka mock (as postgres, in its own session,
# detached from our output) and wait (at most 10 s) for its address.
start_kafka()
{
	local kdir=$DEMO_DIR/kafka pid
	say "starting a Kafka broker (librdkafka's mock cluster): topic $KAFKA_TOPIC, $KAFKA_PARTITIONS partitions"
	# sh records its own pid, then becomes the mock (exec keeps the pid).
	# shellcheck disable=SC2016  # $$ and $1.. are the inner shell's
	as_pg setsid -f sh -c 'echo $$ >"$1" && exec "$2" --topic "$3" --addr-file "$4" </dev/null >>"$5" 2>&1' \
		lh_kafka_mock "$kdir/mock.pid" "$kdir/lh_kafka_mock" "$KAFKA_TOPIC:$KAFKA_PARTITIONS" \
		"$kdir/addr" "$kdir/mock.log" ||
		die_running "could not start the Kafka mock"
	for _ in $(seq 1 100); do
		[ -s "$kdir/addr" ] && break
		sleep 0.1
	done
	if [ ! -s "$kdir/addr" ] || ! pid=$(kafka_mock_pid "$DEMO_DIR"); then
		tail -n 20 "$kdir/mock.log" >&2 2>/dev/null || true
		die_running "the Kafka mock did not start within 10 s (log: $kdir/mock.log)"
	fi
	KAFKA_ADDR=$(cat "$kdir/addr")
	say "Kafka broker at $KAFKA_ADDR (pid $pid)"
}

# produce_kafka: generate the user_events messages (samples/generate.py
# --kafka-out, deterministic) and produce them, one file per partition, plus
# one tombstone; sets KAFKA_MESSAGES to the number of messages in the topic.
produce_kafka()
{
	local kdir=$DEMO_DIR/kafka p f n total=0
	as_pg "$PYTHON" "$DEMO_DIR/samples/generate.py" --kafka-out "$kdir" >"$kdir/generate.log" 2>&1 ||
		{ cat "$kdir/generate.log" >&2; die_running "samples/generate.py --kafka-out failed"; }
	for p in $(seq 0 $((KAFKA_PARTITIONS - 1))); do
		f=$kdir/$KAFKA_TOPIC.p$p.kcat
		[ -s "$f" ] || die_running "samples/generate.py wrote no $f"
		n=$(wc -l <"$f")
		# acks=all: kcat exits non-zero unless the broker acknowledged every message.
		as_pg timeout 60 kcat -b "$KAFKA_ADDR" -P -t "$KAFKA_TOPIC" -p "$p" -K '\t' \
			-X acks=all -X message.timeout.ms=30000 -m 30 <"$f" >"$kdir/kcat.log" 2>&1 ||
			{ cat "$kdir/kcat.log" >&2; die_running "kcat could not produce $f to $KAFKA_TOPIC [$p]"; }
		total=$((total + n))
	done
	# A tombstone (a message without a value: "forget user 42"); kcat cannot
	# send one, the mock's --send can.
	as_pg timeout 60 "$kdir/lh_kafka_mock" --send "$KAFKA_ADDR" "$KAFKA_TOPIC" 0 null user-0042 \
		>"$kdir/kcat.log" 2>&1 ||
		{ cat "$kdir/kcat.log" >&2; die_running "could not send the tombstone to $KAFKA_TOPIC [0]"; }
	total=$((total + 1))
	KAFKA_MESSAGES=$total
	say "produced $total messages to $KAFKA_TOPIC with kcat (a few of them poison messages)"
}

# run_sql FILE [psql options]: run samples/FILE in the demo database (at most
# 5 minutes); on failure leave the cluster running for a look and exit 1.
run_sql()
{
	local file=$1
	shift
	say "running samples/$file"
	if ! as_pg env PGAPPNAME=lakehouse-demo timeout --foreground 300 "$PGBIN/psql" -X -v ON_ERROR_STOP=1 \
		-h "$DEMO_DIR/socket" -p "$PORT" -U postgres -d "$DB" "$@" -f "$DEMO_DIR/samples/$file"; then
		echo "demo: ERROR: samples/$file failed; the cluster is left running for a look" >&2
		connect_help "$DEMO_DIR" "$PORT" "$DB" >&2
		exit 1
	fi
}

cmd_start()
{
	need_root
	[ -f "$ROOT/samples/demo.sql" ] ||
		die "samples/demo.sql not found: the sample content is not written yet, so there is nothing to demo"
	command -v kcat >/dev/null 2>&1 || die "kcat not found: run 'make deps' first"
	[ -x "$PYTHON" ] || die "$PYTHON not found: run 'make deps' first"
	case "$DEMO_DIR" in
		/*) ;;
		*) die "LH_DEMO_DIR must be an absolute path" ;;
	esac

	say "building and installing the extension"
	make -C "$ROOT" -s -j"$(nproc)" || die "build failed"
	make -C "$ROOT" -s install >/dev/null || die "make install failed"
	say "building the Kafka mock (make kafka-mock)"
	make -C "$ROOT" -s kafka-mock || die "make kafka-mock failed"

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
	echo "$HTTP_PORT" >"$DEMO_DIR/http_port"
	mkdir -p "$DEMO_DIR/kafka"
	cp "$ROOT/test/kafka/lh_kafka_mock" "$DEMO_DIR/kafka/lh_kafka_mock"
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
lakehouse.launcher_naptime = 1s
lakehouse.metrics_port = $HTTP_PORT
lakehouse.metrics_database = '$DB'
timezone = 'UTC'
EOF
	as_pg "$PGBIN/pg_ctl" start -D "$DEMO_DIR/data" -l "$DEMO_DIR/server.log" -w -t 60 >/dev/null ||
		{ tail -n 30 "$DEMO_DIR/server.log" >&2; die "the demo cluster did not start"; }

	local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR/socket" -p "$PORT" -U postgres)
	as_pg "${psql[@]}" -d postgres -c "CREATE DATABASE \"$DB\"" || die "could not create database $DB"
	as_pg "${psql[@]}" -d "$DB" \
		-c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION lakehouse' ||
		die "could not create the extensions"

	start_kafka
	produce_kafka

	trap - INT TERM
	run_sql demo.sql -v samples_dir="$DEMO_DIR/samples"
	run_sql kafka_demo.sql -v kafka_brokers="$KAFKA_ADDR" -v kafka_messages="$KAFKA_MESSAGES"
	wait_status_page

	connect_help "$DEMO_DIR" "$PORT" "$DB"
}

# wait_status_page: wait (at most 30 s) for the status page of the metrics
# worker to answer; say so if it does not (the port may be taken).
wait_status_page()
{
	local url=http://127.0.0.1:$HTTP_PORT/
	for _ in $(seq 1 60); do
		if curl -s -f -o /dev/null --max-time 5 "$url"; then
			say "status page at $url"
			return 0
		fi
		sleep 0.5
	done
	echo "demo: WARNING: the status page at $url does not answer (is port $HTTP_PORT taken? LH_DEMO_HTTP_PORT picks another; see $DEMO_DIR/server.log)" >&2
}

case "${1:-start}" in
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	*) die "usage: $0 [start|stop|status]" ;;
esac

#!/usr/bin/env bash
#
# test/fuzz/run.sh: build the fuzz targets and run them.
#
#   test/fuzz/run.sh [TARGET] [seconds]       fuzz TARGET for that long (default 60)
#   test/fuzz/run.sh [TARGET] build           build only
#   test/fuzz/run.sh [TARGET] replay FILE...  run TARGET on given inputs
#   test/fuzz/run.sh short [seconds]          every target for that long each
#                                             (default 5), one summary line each
#
# TARGET is yaml (the default, so "run.sh 60" still fuzzes the YAML loader),
# payload or contract:
#
#   yaml      src/declare/yaml_parse.c and cron.c (compiled as is, with the server's
#             headers) with yaml_fuzz.c supplying the few backend functions
#             the parse step calls; seeds: corpus/ and samples/*.yaml.
#   payload   src/common/payload.c (UTF-8 and JSON-depth checks every source
#             makes on a raw record) against independent oracles; seeds:
#             corpus_payload/.
#   contract  the data contract parser (contract_odcs.c), which needs the
#             server's jsonb and catalog: contract_fuzz.c sends each input
#             to lakehouse.lh_attach_contract over libpq.  The server is the
#             one LH_FUZZ_CONNINFO names (extension installed), else a
#             throwaway cluster this script starts (not as root) and stops.
#             Seeds: corpus_contract/.
#
# Everything is built with clang-14 -fsanitize=fuzzer,address,undefined.
# New inputs go to a scratch corpus under $TMPDIR, never into the tree.
# Exits non-zero when libFuzzer finds a crash, a leak or an ASan/UBSan
# report (or, for contract, a lost connection or an internal error); the
# reproducer is left in the scratch directory.
#
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
CC=${CC:-clang-14}
OUT=${LH_FUZZ_OUT:-${TMPDIR:-/tmp}/lakehouse-fuzz}
CFLAGS=(-g -O1 -fno-omit-frame-pointer -Wall -Wno-ignored-attributes
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
PGINC=(-I"$ROOT/src" -I"$("$PG_CONFIG" --includedir-server)"
	-I"$("$PG_CONFIG" --includedir)/internal")
PGLIB=(-L"$("$PG_CONFIG" --pkglibdir)" -L"$("$PG_CONFIG" --libdir)")

build()
{
	local target=$1
	mkdir -p "$OUT"
	case "$target" in
		yaml)
			"$CC" "${CFLAGS[@]}" "${PGINC[@]}" \
				"$HERE/yaml_fuzz.c" "$ROOT/src/declare/yaml_parse.c" \
				"$ROOT/src/declare/yaml_read.c" "$ROOT/src/declare/cron.c" \
				"${PGLIB[@]}" -lpgcommon -lpgport -lyaml -o "$OUT/yaml_fuzz"
			;;
		payload)
			"$CC" "${CFLAGS[@]}" "${PGINC[@]}" \
				"$HERE/payload_fuzz.c" "$ROOT/src/common/payload.c" \
				"${PGLIB[@]}" -lpgcommon -lpgport -o "$OUT/payload_fuzz"
			;;
		contract)
			"$CC" "${CFLAGS[@]}" -I"$("$PG_CONFIG" --includedir)" \
				"$HERE/contract_fuzz.c" "${PGLIB[@]}" -lpq -o "$OUT/contract_fuzz"
			;;
		*)
			echo "run.sh: unrecognized target \"$target\" (yaml, payload, contract)" >&2
			exit 2
			;;
	esac
	echo "built $OUT/${target}_fuzz"
}

SERVER_DIR=
stop_server()
{
	if [ -n "$SERVER_DIR" ] && [ -f "$SERVER_DIR/data/postmaster.pid" ]; then
		"$("$PG_CONFIG" --bindir)/pg_ctl" stop -D "$SERVER_DIR/data" -m fast -w >/dev/null 2>&1 || true
	fi
}

# Start a throwaway cluster for the contract target unless one is named.
ensure_server()
{
	[ -n "${LH_FUZZ_CONNINFO:-}" ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		echo "run.sh: the contract target starts a server: run as a non-root user, or set LH_FUZZ_CONNINFO" >&2
		exit 2
	fi
	local bindir port
	bindir=$("$PG_CONFIG" --bindir)
	SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lakehouse-fuzz-pg.XXXXXX")
	trap 'stop_server; rm -rf "$SERVER_DIR"' EXIT
	port=$((20000 + RANDOM % 20000))
	"$bindir/initdb" -D "$SERVER_DIR/data" -A trust --no-sync >"$SERVER_DIR/initdb.log" 2>&1
	cat >>"$SERVER_DIR/data/postgresql.conf" <<EOC
listen_addresses = ''
unix_socket_directories = '$SERVER_DIR'
port = $port
fsync = off
log_min_messages = warning
EOC
	"$bindir/pg_ctl" start -D "$SERVER_DIR/data" -l "$SERVER_DIR/server.log" -w >/dev/null
	export LH_FUZZ_CONNINFO="host=$SERVER_DIR port=$port dbname=postgres"
}

# fuzz TARGET SECONDS: run libFuzzer; print "fuzz: TARGET: N executions, C crashes".
fuzz()
{
	local target=$1 secs=$2 seeds dict=() rc log
	build "$target" >/dev/null
	mkdir -p "$OUT/corpus_$target"
	case "$target" in
		yaml)
			seeds=("$HERE"/corpus/* "$ROOT"/samples/*.yaml)
			dict=(-dict="$HERE/yaml.dict")
			;;
		payload) seeds=("$HERE"/corpus_payload/*) ;;
		contract)
			seeds=("$HERE"/corpus_contract/*)
			dict=(-dict="$HERE/contract.dict")
			ensure_server
			;;
	esac
	cp "${seeds[@]}" "$OUT/corpus_$target/" 2>/dev/null || true
	log="$OUT/${target}.log"
	set +e
	(cd "$OUT" && "$OUT/${target}_fuzz" -max_total_time="$secs" -max_len=65536 \
		-timeout=10 -rss_limit_mb=2048 "${dict[@]}" -print_final_stats=1 \
		"$OUT/corpus_$target") >"$log" 2>&1
	rc=$?
	set -e
	local execs
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz: $target: ${execs:-0} executions in ${secs}s, 0 crashes"
	else
		tail -n 40 "$log"
		echo "fuzz: $target: ${execs:-?} executions, 1 crash (exit status $rc; log $log, reproducer in $OUT)"
	fi
	return "$rc"
}

target=yaml
case "${1:-}" in
	yaml|payload|contract) target=$1; shift ;;
	short)
		secs=${2:-5}
		status=0
		for t in yaml payload contract; do
			fuzz "$t" "$secs" || status=1
		done
		exit "$status"
		;;
esac

case "${1:-60}" in
	build)
		build "$target"
		;;
	replay)
		shift
		build "$target"
		[ "$target" = contract ] && ensure_server
		"$OUT/${target}_fuzz" "$@"
		;;
	*)
		fuzz "$target" "${1:-60}"
		;;
esac

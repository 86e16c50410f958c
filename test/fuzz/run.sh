#!/usr/bin/env bash
#
# test/fuzz/run.sh: build the YAML fuzz target and run it.
#
#   test/fuzz/run.sh [seconds]        fuzz for that long (default 60)
#   test/fuzz/run.sh build            build only
#   test/fuzz/run.sh replay FILE...   run the target on given inputs
#
# Builds with clang-14 -fsanitize=fuzzer,address,undefined against the
# parse step, src/config/yaml_parse.c (compiled as is, with the server's
# headers), libyaml and PostgreSQL's frontend libraries (libpgcommon and
# libpgport, for StringInfo and the JSON checker); yaml_fuzz.c supplies the
# few backend functions the parse step calls.  The seed corpus is
# test/fuzz/corpus plus samples/*.yaml; new inputs go to a scratch corpus
# under $TMPDIR, never into the tree.
# Exits non-zero when libFuzzer finds a crash, a leak or an ASan/UBSan
# report; the reproducer is left in the scratch directory.
#
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
CC=${CC:-clang-14}
OUT=${LH_FUZZ_OUT:-${TMPDIR:-/tmp}/lakehouse-fuzz}
BIN="$OUT/yaml_fuzz"

build()
{
	mkdir -p "$OUT"
	"$CC" -g -O1 -fno-omit-frame-pointer -Wall -Wno-ignored-attributes \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$ROOT/src" -I"$("$PG_CONFIG" --includedir-server)" \
		-I"$("$PG_CONFIG" --includedir)/internal" \
		"$HERE/yaml_fuzz.c" "$ROOT/src/config/yaml_parse.c" \
		-L"$("$PG_CONFIG" --pkglibdir)" -L"$("$PG_CONFIG" --libdir)" \
		-lpgcommon -lpgport -lyaml \
		-o "$BIN"
	echo "built $BIN"
}

case "${1:-60}" in
	build)
		build
		;;
	replay)
		shift
		build
		"$BIN" "$@"
		;;
	*)
		secs=${1:-60}
		build
		mkdir -p "$OUT/corpus"
		cp "$HERE"/corpus/* "$ROOT"/samples/*.yaml "$OUT/corpus/" 2>/dev/null || true
		cd "$OUT"
		"$BIN" -max_total_time="$secs" -max_len=65536 -timeout=10 \
			-rss_limit_mb=2048 -dict="$HERE/yaml.dict" -print_final_stats=1 \
			"$OUT/corpus"
		;;
esac

#!/usr/bin/env bash
#
# scripts/install-deps.sh: install everything lakehouse needs to build and
# demo on Debian 12 (`make deps`; `make demo` and `make bench` run it
# first), and with --test what only the tests need as well (`make test`).
#
# Idempotent and quick when everything is present: one dpkg-query decides
# whether apt is needed at all, and `apt-get update` runs only when some
# package is missing.  It must not need pg_config: on a fresh machine that
# only appears once postgresql-server-dev-15 is installed.
#
# With --test: the Debian packages only the test suites use, and the JSON
# Schema validator of the TAP tests (ajv + ajv-formats, with node and npm),
# which goes into a repo-local test/node_modules, from test/package.json.
#
# Usage: scripts/install-deps.sh [--test]
#
# Environment:
#   LH_SKIP_NPM=1   with --test, do not install the npm packages
#
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

TEST_DEPS=0
for arg in "$@"; do
	case "$arg" in
		--test) TEST_DEPS=1 ;;
		*) printf 'install-deps: unrecognized argument "%s" (usage: %s [--test])\n' "$arg" "$0" >&2; exit 2 ;;
	esac
done

APT_PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-contrib
	librdkafka-dev
	libcurl4-openssl-dev
	libyaml-dev
	libssl-dev	# OpenSSL EVP: secrets encrypted at rest (src/security/secrets.c)
	postgresql-15-cron
	kcat		# the demo and the benchmarks produce Kafka messages with it
	clang-14
	llvm-14
	make
	gcc
	procps		# pgrep/pkill: run-tests.sh and the benchmarks find their processes
	python3		# the HTTP test server (test/http) and the sample data generator
	curl		# the HTTP benchmark's baseline
)

# Only the test suites use these (--test).
TEST_APT_PACKAGES=(
	libpq-dev	# libpq: the contract fuzz driver (test/fuzz/contract_fuzz.c)
	postgresql-15-pgtap
	libipc-run-perl	# PostgreSQL::Test::Cluster, the TAP tests
	prometheus	# prometheus and promtool: the metrics tests (test/t/015_metrics.pl)
	# scripts/run-tests.sh runs each suite under `tini -s`: a subreaper
	# that reaps postmasters killed by TAP crash tests at once (PID 1 on
	# some machines reaps orphans late, and a zombie postmaster blocks the
	# restart with "lock file postmaster.pid already exists").
	tini
	# the status page test (test/t/020_status_page.pl) renders the page in
	# headless Chromium and draws lh_lineage_diagram('dot') with Graphviz;
	# the extension itself runs neither
	chromium
	graphviz
)
if [ "$TEST_DEPS" -eq 1 ]; then
	APT_PACKAGES+=("${TEST_APT_PACKAGES[@]}")
fi

log() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root()
{
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# Print the packages from the arguments that are not installed.
missing_packages()
{
	local pkg status
	for pkg in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
		case "$status" in
			ii*) ;;
			*) printf '%s\n' "$pkg" ;;
		esac
	done
}

APT_UPDATED=0
apt_install()
{
	[ "$#" -gt 0 ] || return 0
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script supports Debian 12"
	if [ "$APT_UPDATED" -eq 0 ]; then
		log "apt-get update"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
			|| die "apt-get update failed"
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"$@" || die "apt-get install $* failed"
}

# --- Debian packages --------------------------------------------------------

mapfile -t MISSING < <(missing_packages "${APT_PACKAGES[@]}")
if [ "${#MISSING[@]}" -gt 0 ]; then
	apt_install "${MISSING[@]}"
	mapfile -t STILL < <(missing_packages "${APT_PACKAGES[@]}")
	[ "${#STILL[@]}" -eq 0 ] || die "still missing after install: ${STILL[*]}"
fi

command -v pg_config >/dev/null 2>&1 || die "pg_config not found after installing postgresql-server-dev-15"
PGBIN=$(pg_config --bindir)
[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (postgresql-15 not installed?)"
PGLIB=$(pg_config --pkglibdir)
[ -f "$PGLIB/pg_cron.so" ] || die "pg_cron.so not found in $PGLIB (postgresql-15-cron)"

# --- node / npm: JSON Schema validation in the TAP tests (--test only) --------

if [ "$TEST_DEPS" -eq 1 ] && [ "${LH_SKIP_NPM:-0}" != 1 ]; then
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		# A node from elsewhere (e.g. a nodejs package that bundles npm) is
		# used as it is; only a machine without either gets Debian's.
		apt_install nodejs npm
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found after installing nodejs/npm"

	if [ -f "$ROOT/test/node_modules/ajv/package.json" ] &&
	   [ -f "$ROOT/test/node_modules/ajv-formats/package.json" ]; then
		:
	else
		log "npm install (ajv, ajv-formats) into test/node_modules"
		(cd "$ROOT/test" &&
		 npm install --no-audit --no-fund --loglevel=error) \
			|| die "npm install in test/ failed"
		[ -f "$ROOT/test/node_modules/ajv/package.json" ] \
			|| die "npm install did not produce test/node_modules/ajv"
	fi
fi

if [ "$TEST_DEPS" -eq 1 ]; then
	log "all dependencies present, those of the tests included"
else
	log "all dependencies present (the tests need more: scripts/install-deps.sh --test, as make test runs it)"
fi

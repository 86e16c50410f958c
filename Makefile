# lakehouse: a medallion lakehouse inside PostgreSQL 15
#
# `make demo` and `make test` work on a fresh Debian 12 machine: they run
# scripts/install-deps.sh first, so pg_config and the libraries exist before
# PGXS is read; only `make test` asks it for what the tests alone need
# (--test: the TAP harness, Prometheus, npm packages).  Every other target
# needs pg_config already (run `scripts/install-deps.sh` once by hand, or
# `make deps`).

MODULE_big = lakehouse
# every C file of src/ (a new source or gold kind is a new file plus one
# registry line, nothing here)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard $(srcdir)/src/*.c $(srcdir)/src/*/*.c)))

EXTENSION = lakehouse
EXTVERSION = 0.2

# The install script of the current version is assembled from the parts
# that live beside the C code they declare (src/<folder>/<folder>.sql), in
# this order (later parts use what earlier ones create); the scripts of
# released versions and the upgrade scripts are kept as released, in sql/.
SQL_PARTS = \
	src/lakehouse.sql \
	src/catalog/catalog.sql \
	src/declare/declare.sql \
	src/worker/worker.sql \
	src/sources/sources.sql \
	src/pipeline/pipeline.sql \
	src/transform/transform.sql \
	src/evolution/evolution.sql \
	src/contract/contract.sql \
	src/quality/quality.sql \
	src/observe/observe.sql \
	src/security/security.sql
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = sql/$(EXTENSION)--0.1.sql $(wildcard sql/$(EXTENSION)--*--*.sql)
PGFILEDESC = "lakehouse - medallion lakehouse inside PostgreSQL"

REGRESS = setup api yaml jsonfast ingest_file ingest_table kafka http generate silver gold scd2 quality quality_gate contract evolution run lineage metrics deps errors hostile drop_guard run_progress security site messages quarantine diagram schedule dr_status dq_config dbt_tests contract_export scd2_dbt ge_parity changes incremental incremental_shapes
# `make installcheck` against a server started with test/regress.conf
# (or a temporary instance: EXTRA_REGRESS_OPTS=--temp-instance=...)
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf

ISOLATION = concurrent_runs scd2_concurrent bronze_vs_silver contract_invalidation quarantine_replay changes_concurrent
# Specs in test/isolation/specs, expected output in test/isolation/expected;
# results and diffs go to test/isolation/output_iso.
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=test/isolation/output_iso

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src -DLH_EXTVERSION='"$(EXTVERSION)"' -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lyaml -lrdkafka -lcurl -lcrypto

EXTRA_CLEAN = results regression.diffs regression.out tmp_inst tmp_inst_iso \
	test/isolation/output_iso tmp_check log test/kafka/lh_kafka_mock

PG_CONFIG ?= pg_config
# postgresql-common installs a pg_config wrapper even without the server
# development files, so test for PGXS itself, not for pg_config.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
HAVE_PGXS := $(wildcard $(PGXS))

# Our own targets come first so that `make` alone still means `all`.
.PHONY: default deps test demo demo-stop bench kafka-mock fuzz-short
default: all

# The test and benchmark helper that runs librdkafka's mock cluster (a real
# Kafka wire-protocol broker on 127.0.0.1); not part of the extension.
kafka-mock: test/kafka/lh_kafka_mock

test/kafka/lh_kafka_mock: test/kafka/lh_kafka_mock.c
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lrdkafka -lpthread

deps:
	bash scripts/install-deps.sh

# A short run of every fuzz target (test/fuzz/run.sh; scripts/run-tests.sh
# runs it as the "fuzz" suite).  Not as root: the contract target starts a
# throwaway server.
FUZZ_SECONDS ?= 5
fuzz-short:
	bash test/fuzz/run.sh short $(FUZZ_SECONDS)

test:
	bash scripts/install-deps.sh --test
	bash scripts/run-tests.sh

demo:
	bash scripts/install-deps.sh
	bash scripts/demo.sh

demo-stop:
	bash scripts/demo.sh stop

bench:
	bash scripts/install-deps.sh
	bash bench/run.sh

ifneq ($(HAVE_PGXS),)
include $(PGXS)

$(DATA_built): $(SQL_PARTS) Makefile
	cat $(SQL_PARTS) > $@
else
all install installcheck clean:
	@echo "PGXS not found (postgresql-server-dev-15 is missing): run 'make deps' (or 'make test' / 'make demo', which install it) first" >&2
	@exit 1
endif

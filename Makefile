# pgrac_storage — top-level Makefile
#
#   make            build PostgreSQL 17 with the patchset (into build/postgres)
#                   and the extension against it
#   make install    install the extension and pgrac_image into that PostgreSQL
#   make run        the main job: a server with the extension, a short
#                   pgbench run, the fsync report (see README.md)
#   make stop       stop the main job's server
#   make check      the whole test suite (what .ci/run runs)
#   make soak       the long counts: 200 power cuts, 20 kill -9 points per
#                   configuration, long fuzzing, stock's results re-run
#   make refresh-stock  rewrite the checked-in results of stock PostgreSQL's
#                   suites that make check compares against
#
# make PG_CONFIG=/path/to/pg_config builds against a PostgreSQL 17 you
# built yourself with patches/pg17/ applied; nothing is fetched then.

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

ifeq ($(origin PG_CONFIG), undefined)
PG_CONFIG := $(ROOT)/build/postgres/bin/pg_config
BUILD_POSTGRES := yes
endif

# the pure library (src/pure.mk), compiled once into build/pure for both
PURE_BUILD := $(ROOT)/build/pure
EXT_BUILD := $(ROOT)/build/extension
EXT_MAKE = $(MAKE) --no-print-directory -C $(EXT_BUILD) -f $(ROOT)/src/extension.mk PG_CONFIG=$(PG_CONFIG) PURE_DIR=$(PURE_BUILD)
TOOLS_BUILD := $(ROOT)/build/tools
TOOLS_MAKE = $(MAKE) --no-print-directory -C $(TOOLS_BUILD) -f $(ROOT)/src/tools/pgrac_image.mk PG_CONFIG=$(PG_CONFIG) PURE_DIR=$(PURE_BUILD)

.PHONY: all postgres extension install run stop check soak refresh-stock check-patchset clean distclean

all: extension

postgres:
ifeq ($(BUILD_POSTGRES),yes)
	@$(ROOT)/src/build/postgres.sh
else
	@test -x "$(PG_CONFIG)" || { echo "error: PG_CONFIG=$(PG_CONFIG) is not executable" >&2; exit 1; }
endif

extension: postgres
	@mkdir -p $(EXT_BUILD) $(TOOLS_BUILD)
	@$(EXT_MAKE)
	@$(TOOLS_MAKE)

install: extension
	@$(EXT_MAKE) install
	@$(TOOLS_MAKE) install

run: install
	@PG_CONFIG=$(PG_CONFIG) $(ROOT)/src/build/main-job.sh start

stop:
	@PG_CONFIG=$(PG_CONFIG) $(ROOT)/src/build/main-job.sh stop

check: install
	@PG_CONFIG=$(PG_CONFIG) $(ROOT)/test/run-tests.sh

soak: install
	@PG_CONFIG=$(PG_CONFIG) $(ROOT)/test/soak.sh

refresh-stock: install
	@PG_CONFIG=$(PG_CONFIG) $(ROOT)/test/refresh-stock.sh

check-patchset:
	@$(ROOT)/test/patchset/check-series.sh

clean:
	rm -rf $(PURE_BUILD) $(ROOT)/build/pure-instrumented $(EXT_BUILD) $(TOOLS_BUILD) $(ROOT)/build/test-modules $(ROOT)/build/test-results $(ROOT)/build/unit

distclean: clean
	rm -rf $(ROOT)/build

#!/usr/bin/env bash
# make soak: the long counts that make check runs short, through the same
# suites (test/run-tests.sh), with the same time table at the end:
#
#   tap        007 and 008: 20 kill -9 points each (make check: 6);
#              010: 200 simulated power cuts (make check: 12, in the same
#              four classes: random and aimed at a checkpoint's metadata
#              window, each with and without write-behind)
#   fuzz       FUZZ_SECONDS (default 300) per target (make check: 30)
#   peer       stock PostgreSQL's regression and isolation results, run
#              and compared with the checked-in ones that make check
#              compares every configuration against (test/peer/stock)
#   recovery   likewise for the recovery suite (test/recovery/stock-outcomes.txt)
#
# Every count can be set as for make check (PGRAC_POWERLOSS_ROUNDS,
# PGRAC_KILL9_ROUNDS, FUZZ_SECONDS, ...).
set -euo pipefail
export PGRAC_TEST_SUITES=${PGRAC_TEST_SUITES:-tap fuzz peer recovery}
export PGRAC_TAP_TESTS=${PGRAC_TAP_TESTS:-007 008 010}
export PGRAC_POWERLOSS_ROUNDS=${PGRAC_POWERLOSS_ROUNDS:-200}
export PGRAC_KILL9_ROUNDS=${PGRAC_KILL9_ROUNDS:-20}
export FUZZ_SECONDS=${FUZZ_SECONDS:-300}
export PEER_STOCK=${PEER_STOCK:-run} PEER_CONFIGS=${PEER_CONFIGS:-none}
export RECOVERY_CONFIGS=${RECOVERY_CONFIGS:-stock}
exec "$(dirname "$0")/run-tests.sh"

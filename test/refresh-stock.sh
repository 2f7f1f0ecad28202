#!/usr/bin/env bash
# make refresh-stock: run stock PostgreSQL (the patched build, no library
# loaded) through its regression, isolation and recovery suites and write
# the results that make check compares every configuration with
# (test/peer/stock/*.outcomes, test/recovery/stock-outcomes.txt).  Needed
# when the pinned PostgreSQL or its test schedules change; make check says
# so when the checked-in header does not match the build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PEER_STOCK=refresh PEER_CONFIGS=none "$here/peer/run-peer-suites.sh"
RECOVERY_CONFIGS=stock RECOVERY_STOCK=refresh "$here/recovery/run-recovery-suite.sh"

#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine lacks, starts the private Postgres,
# builds with no warnings allowed, checks that the runner sees every test, and runs them all
# (Swift Testing, real Postgres, real processes).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
prepare_machine
prepare_python
"$REPO/ops/postgres-selftest.sh"
build_without_warnings
check_test_discovery
run_tests_with_watchdog "$@"

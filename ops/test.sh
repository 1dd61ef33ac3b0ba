#!/usr/bin/env bash
# The test command: installs what a fresh Debian machine lacks, starts the private Postgres,
# builds with no warnings allowed, and runs every test (Swift Testing, real Postgres).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
prepare_machine
build_without_warnings
echo "ops: running tests"
swift test --skip-build "$@"

#!/usr/bin/env bash
# The demo: private Postgres, migrations, the plan's §17 user, and the committed 2011-03-16
# SPY minute bars replayed against their dip rule, printing when and why it fires.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
prepare_machine
echo "ops: building the hybridhub executable"
swift build --product hybridhub 2>&1 | grep -E "error:|warning:|Build complete" || true
BIN="$(swift build --show-bin-path)/hybridhub"
[[ -x "$BIN" ]] || { echo "ops: build failed" >&2; exit 1; }
"$BIN" migrate
LOG_LEVEL="${LOG_LEVEL:-warning}" "$BIN" demo "$@"

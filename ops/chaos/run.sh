#!/usr/bin/env bash
# The chaos runner (issue 8): the simulator with faults on, two schedulers, four workers (two of
# them exit right after an Alpaca POST one time in five), two API processes, users signing up
# and answering through the API; for a bounded time random workers and the leading scheduler
# are SIGKILLed and restarted; then the farm drains and `hybridhub-chaos` asserts: jobs lost 0,
# jobs left non-terminal 0, orders per client_order_id at the simulator exactly 1, guardrail
# breaches 0, questions delivered = created; it prints kills, jobs, orders and rescue times.
#   ops/chaos/run.sh [seconds]      (default 600; as root, from the repository)
# Knobs: CHAOS_ARGS="--workers 6 --kill-every 2 …" (see hybridhub-chaos --help),
#        CHAOS_CONFIGURATION=release|debug (default release, in .build-release; debug in .build),
#        CHAOS_SCRATCH=DIR (another --scratch-path),
#        CHAOS_NO_RESULTS=1 (do not write ops/chaos/results/<UTC>.md). Exit status 1 if an assertion fails.
set -euo pipefail
HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -P "$HERE/../.." && pwd)"
cd "$REPO"
export PATH="/opt/swift/usr/bin:$PATH"

DURATION="${1:-600}"
CONFIGURATION="${CHAOS_CONFIGURATION:-release}"
if [ "$CONFIGURATION" = release ]; then SCRATCH="$REPO/.build-release"; else SCRATCH="$REPO/.build"; fi
SCRATCH="${CHAOS_SCRATCH:-$SCRATCH}"
CHAOS_DB=hh_chaos
PGBIN=/usr/lib/postgresql/15/bin
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/hh-chaos.XXXXXX)"
progress() { printf '[chaos %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { progress "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (ops/postgres.sh needs it)"
progress "work directory (logs): $WORK"
"$REPO/ops/postgres.sh" start >&2
eval "$("$REPO/ops/postgres.sh" env)"
export PGHOST=127.0.0.1 PGPORT="$HYBRIDHUB_PG_PORT" PGUSER=hybridhub
PGPASSWORD="$(cat "$DATABASE_PASSWORD_FILE")"; export PGPASSWORD
export DATABASE_URL="postgres://hybridhub@127.0.0.1:$HYBRIDHUB_PG_PORT/$CHAOS_DB"
export HYBRIDHUB_MIGRATIONS_DIR="$REPO/migrations" LOG_LEVEL=warning

for product in hybridhub alpaca-sim hybridhub-chaos; do
  progress "building $product ($CONFIGURATION, --scratch-path ${SCRATCH#"$REPO/"}; a cold build takes several minutes)"
  swift build -c "$CONFIGURATION" --package-path "$REPO" --scratch-path "$SCRATCH" --product "$product" >"$WORK/build-$product.log" 2>&1 \
    || { tail -n 30 "$WORK/build-$product.log" >&2; die "build of $product failed"; }
done
BIN="$(swift build -c "$CONFIGURATION" --package-path "$REPO" --scratch-path "$SCRATCH" --show-bin-path)"

"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d hybridhub -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $CHAOS_DB WITH (FORCE)" -c "CREATE DATABASE $CHAOS_DB"
"$BIN/hybridhub" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
progress "running $DURATION s of chaos (then the drain); figures at the end"
set +e
# shellcheck disable=SC2086
"$BIN/hybridhub-chaos" --seconds "$DURATION" --bin "$BIN" --logs "$WORK/logs" --json "$WORK/summary.json" ${CHAOS_ARGS:-} >"$WORK/report.md"
STATUS=$?
set -e
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
[ -s "$WORK/report.md" ] || die "hybridhub-chaos produced no report (status $STATUS); logs in $WORK"

REPORT="# Chaos run — $STAMP

| Machine | |
|---|---|
| Commit | \`$(git -C "$REPO" rev-parse --short HEAD)\`$(git -C "$REPO" diff --quiet HEAD -- Sources Package.swift || echo ' (with uncommitted changes)'; true) |
| nproc | $(nproc) |
| Load average (1/5/15 min) start → end | $LOAD_START → $LOAD_END |
| PostgreSQL | $("$PGBIN/psql" -X -At -d "$CHAOS_DB" -c 'SHOW server_version') |
| Build | $CONFIGURATION |
| Result | $(if [ "$STATUS" -eq 0 ]; then echo 'every assertion holds'; else echo "**FAILED** (exit status $STATUS)"; fi) |

$(cat "$WORK/report.md")

Reproduce: \`ops/chaos/run.sh $DURATION\`$(if [ -n "${CHAOS_ARGS:-}" ]; then echo " with CHAOS_ARGS=\"$CHAOS_ARGS\""; fi). Logs: $WORK.
"
printf '%s\n' "$REPORT"
if [ "${CHAOS_NO_RESULTS:-0}" != 1 ]; then
  mkdir -p "$HERE/results"
  printf '%s\n' "$REPORT" > "$HERE/results/$STAMP.md"
  progress "written: ops/chaos/results/$STAMP.md"
fi
exit "$STATUS"

#!/usr/bin/env bash
# Pipeline benchmark (issue 6): one scheduler tick for many users, two worker processes, the
# simulator with 30 symbols; then approval latency. See ops/bench/pipeline/README.md.
#   ops/bench/pipeline/run.sh            (as root, from the repository; a fresh clone works)
# Knobs: BENCH_USERS=10000 BENCH_SYMBOLS=30 BENCH_APPROVALS=200 BENCH_WORKERS=2
#        BENCH_CONCURRENCY=16 BENCH_EXECUTOR=global|event-loop BENCH_REBUILD=1 BENCH_NO_RESULTS=1
set -euo pipefail
HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -P "$HERE/../../.." && pwd)"
cd "$REPO"
export PATH="/opt/swift/usr/bin:$PATH"

USERS="${BENCH_USERS:-10000}"
SYMBOLS="${BENCH_SYMBOLS:-30}"
APPROVALS="${BENCH_APPROVALS:-200}"
WORKERS="${BENCH_WORKERS:-2}"
CONCURRENCY="${BENCH_CONCURRENCY:-16}"
EXECUTOR="${BENCH_EXECUTOR:-global}"
PORT="${BENCH_SIM_PORT:-54381}"
SCRATCH="$REPO/.build-release"
BIN="$SCRATCH/release"
BENCH_DB=hh_bench_pipeline
PGBIN=/usr/lib/postgresql/15/bin
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/hh-pipeline-bench.XXXXXX)"
PIDS=()
progress() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { progress "error: $*"; exit 1; }
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

[ "$(id -u)" -eq 0 ] || die "run as root (ops/postgres.sh needs it)"
progress "work directory (logs): $WORK"
"$REPO/ops/postgres.sh" start >&2
eval "$("$REPO/ops/postgres.sh" env)"
export PGHOST=127.0.0.1 PGPORT="$HYBRIDHUB_PG_PORT" PGUSER=hybridhub
PGPASSWORD="$(cat "$DATABASE_PASSWORD_FILE")"; export PGPASSWORD
export DATABASE_URL="postgres://hybridhub@127.0.0.1:$HYBRIDHUB_PG_PORT/$BENCH_DB"
export HYBRIDHUB_MIGRATIONS_DIR="$REPO/migrations" LOG_LEVEL=warning
export TRADING_ENABLED=true QUESTION_PIPELINE_TEST_MODE=true ALPACA_SIMULATOR_URL="http://127.0.0.1:$PORT"
export ALPACA_API_KEY_ID=bench-key ALPACA_API_SECRET_KEY=bench-secret
# The simulator has no rate limit; the farm's Alpaca budget (200/min in production) would
# otherwise pace the approvals section, which measures the pipeline, not the budget.
export ALPACA_RATE_LIMIT_PER_MINUTE=1000000 ALPACA_RATE_BURST=10000

for product in hybridhub alpaca-sim hybridhub-pipeline-bench; do
  if [ ! -x "$BIN/$product" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
    progress "building $product (release, --scratch-path .build-release; a cold build takes several minutes)"
    swift build -c release --package-path "$REPO" --scratch-path "$SCRATCH" --product "$product" >"$WORK/build-$product.log" 2>&1 \
      || { tail -n 30 "$WORK/build-$product.log" >&2; die "build of $product failed"; }
  fi
done

"$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d hybridhub -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
"$BIN/hybridhub" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }

# 13:39:50 ET on 2011-03-16, stepped: SPY (and every SYNnn, scaled alike) is 1.56 % below the
# previous close, so the users whose first rule is the -1.5 % dip get a question.
"$BIN/alpaca-sim" --port "$PORT" --start 2011-03-16T17:39:50Z --speed 0 --keys bench-key:bench-secret \
  --synthetic-symbols $((SYMBOLS - 1)) >"$WORK/alpaca-sim.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$ALPACA_SIMULATOR_URL/_sim/health" 2>/dev/null && break
  sleep 0.1
done
for n in $(seq 1 "$WORKERS"); do
  "$BIN/hybridhub" worker --id "bench-worker-$n" --concurrency "$CONCURRENCY" --executor "$EXECUTOR" >"$WORK/worker-$n.log" 2>&1 & PIDS+=($!)
done
sleep 1
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
progress "running: $USERS users, $SYMBOLS symbols, $WORKERS workers × concurrency $CONCURRENCY per queue (evaluate: 4 ×)"
TABLE="$("$BIN/hybridhub-pipeline-bench" --users "$USERS" --symbols "$SYMBOLS" --approvals "$APPROVALS")"
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

REPORT="# Pipeline benchmark — $STAMP

| Machine | |
|---|---|
| Commit | \`$(git -C "$REPO" rev-parse --short HEAD)\` |
| nproc | $(nproc) |
| Load average (1/5/15 min) start → end | $LOAD_START → $LOAD_END |
| PostgreSQL | $("$PGBIN/psql" -X -At -d "$BENCH_DB" -c 'SHOW server_version') |
| Setup | $USERS users × 3 rules over $SYMBOLS symbols (SPY + synthetic), $WORKERS \`hybridhub worker\` processes (concurrency $CONCURRENCY per queue, the evaluate queue 4 × that, its jobs evaluated in batches; executor $EXECUTOR), \`alpaca-sim\` stepped at 2011-03-16 13:39:50 ET, release build |

$TABLE

Reproduce: \`ops/bench/pipeline/run.sh\` (see ops/bench/pipeline/README.md). Logs: $WORK.
"
printf '%s\n' "$REPORT"
if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
  printf '%s\n' "$REPORT" > "$HERE/results/$STAMP.md"
  progress "written: ops/bench/pipeline/results/$STAMP.md"
fi

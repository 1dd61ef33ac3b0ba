#!/usr/bin/env bash
# Books benchmark (issue 16): the per-user book for 10,000 users with 10 positions each. Time per
# fill recorded (OrderStore.recordBroker, which books the fill in the same transaction) against
# the same UPDATE of trade_orders alone; then GET /v1/me/trading/positions under 100 concurrent
# clients against GET /v1/me/trading/orders (trade_orders alone). See ops/bench/books/README.md.
#   ops/bench/books/run.sh            (as root, from the repository; a fresh clone works)
# Knobs: BENCH_USERS=10000 BENCH_SYMBOLS=10 BENCH_CONCURRENCY=16 BENCH_SAMPLE=0 (orders timed; 0 = all)
#        BENCH_PRICE_MINUTES=390 BENCH_CHECK=1000 BENCH_CLIENTS=100 BENCH_SECONDS=30 BENCH_WARMUP=5
#        BENCH_APIS=2 BENCH_API_POOL=10 BENCH_PORT_BASE=54401 BENCH_REBUILD=1 BENCH_NO_RESULTS=1
#        HYBRIDHUB_PG_PORT (the private Postgres, as ops/postgres.sh)
set -euo pipefail
HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -P "$HERE/../../.." && pwd)"
cd "$REPO"
export PATH="/opt/swift/usr/bin:$PATH"
ulimit -n 65536 2>/dev/null || true

USERS="${BENCH_USERS:-10000}"
SYMBOLS="${BENCH_SYMBOLS:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-16}"
SAMPLE="${BENCH_SAMPLE:-0}"
PRICE_MINUTES="${BENCH_PRICE_MINUTES:-390}"
CHECK="${BENCH_CHECK:-1000}"
CLIENTS="${BENCH_CLIENTS:-100}"
SECONDS_PER_ROUTE="${BENCH_SECONDS:-30}"
WARMUP="${BENCH_WARMUP:-5}"
APIS="${BENCH_APIS:-2}"
API_POOL="${BENCH_API_POOL:-10}"
PORT_BASE="${BENCH_PORT_BASE:-54401}"
if [ "$SAMPLE" = 0 ]; then SAMPLE_TEXT="every order"; else SAMPLE_TEXT="$SAMPLE orders"; fi
ISSUER_PORT="$PORT_BASE"
SCRATCH="$REPO/.build-release"
BIN="$SCRATCH/release"
BENCH_DB=hh_bench_books
PGBIN=/usr/lib/postgresql/15/bin
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/hh-books-bench.XXXXXX)"
PIDS=()
progress() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { progress "error: $*"; exit 1; }
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" || true; done
  } 2>/dev/null
  if [ "$rc" -ne 0 ]; then progress "failed (exit $rc); logs kept in $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] || die "run as root (ops/postgres.sh needs it)"
T_START=$SECONDS
progress "work directory (logs): $WORK"
"$REPO/ops/postgres.sh" start >&2
eval "$("$REPO/ops/postgres.sh" env)"
export PGHOST=127.0.0.1 PGPORT="$HYBRIDHUB_PG_PORT" PGUSER=hybridhub
PGPASSWORD="$(cat "$DATABASE_PASSWORD_FILE")"; export PGPASSWORD
export DATABASE_URL="postgres://hybridhub@127.0.0.1:$HYBRIDHUB_PG_PORT/$BENCH_DB"
export HYBRIDHUB_MIGRATIONS_DIR="$REPO/migrations" LOG_LEVEL=warning
# No simulator: the API's trading clock is the wall clock, and trading stays off in the API role.
export FIREBASE_PROJECT_ID=hybridhub-bench FIREBASE_JWKS_URL="http://127.0.0.1:$ISSUER_PORT/jwks.json"
export TRADING_ENABLED=false QUESTION_PIPELINE_TEST_MODE=false

for product in hybridhub hybridhub-books-bench; do
  if [ ! -x "$BIN/$product" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
    progress "building $product (release, --scratch-path .build-release; a cold build takes several minutes)"
    swift build -c release --package-path "$REPO" --scratch-path "$SCRATCH" --product "$product" >"$WORK/build-$product.log" 2>&1 \
      || { tail -n 30 "$WORK/build-$product.log" >&2; die "build of $product failed"; }
  fi
done

psql_db() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
psql_db hybridhub -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
"$BIN/hybridhub" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }

# 1. Fills: seeded, recorded through the real path, timed against the UPDATE alone, verified.
LOAD_FILLS_START="$(cut -d' ' -f1-3 /proc/loadavg)"
T_FILLS=$SECONDS
progress "fills: $USERS users × $SYMBOLS symbols, $CONCURRENCY concurrent recorders (timed: $SAMPLE_TEXT)"
FILLS="$("$BIN/hybridhub-books-bench" fills --users "$USERS" --symbols "$SYMBOLS" --concurrency "$CONCURRENCY" --sample "$SAMPLE" \
  --price-minutes "$PRICE_MINUTES" --check "$CHECK" 2> >(tee "$WORK/fills.log" >&2))"
FILLS_S=$((SECONDS - T_FILLS))
LOAD_FILLS_END="$(cut -d' ' -f1-3 /proc/loadavg)"
psql_db "$BENCH_DB" -c "SET client_min_messages = error" -c "VACUUM ANALYZE"  # the steady state autovacuum would reach

# 2. The read: a token issuer and API processes on the same database, no simulator.
wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "$1 did not answer within $2 s"
    sleep 0.1
  done
}
"$BIN/hybridhub" local-issuer --port "$ISSUER_PORT" >"$WORK/issuer.log" 2>&1 & PIDS+=($!)
API_URLS=() API_PIDS=()
for n in $(seq 1 "$APIS"); do
  port=$((PORT_BASE + n))
  DATABASE_POOL_SIZE="$API_POOL" "$BIN/hybridhub" api --port "$port" >"$WORK/api-$n.log" 2>&1 & PIDS+=($!); API_PIDS+=($!)
  API_URLS+=("http://127.0.0.1:$port")
done
wait_http "$FIREBASE_JWKS_URL" 30
for url in "${API_URLS[@]}"; do wait_http "$url/ready" 30; done
progress "minting $USERS tokens at the local issuer"
"$BIN/hybridhub-books-bench" tokens --issuer "http://127.0.0.1:$ISSUER_PORT" --users "$USERS" --out "$WORK/tokens.txt"

LOAD_READ_START="$(cut -d' ' -f1-3 /proc/loadavg)"
progress "read: $CLIENTS clients over $APIS API processes, ${WARMUP} s warm-up + ${SECONDS_PER_ROUTE} s per route"
READ="$("$BIN/hybridhub-books-bench" read --api "$(IFS=,; echo "${API_URLS[*]}")" --tokens "$WORK/tokens.txt" --clients "$CLIENTS" \
  --seconds "$SECONDS_PER_ROUTE" --warmup "$WARMUP" --positions "$SYMBOLS" \
  --api-pids "$(IFS=,; echo "${API_PIDS[*]}")" 2> >(tee "$WORK/read.log" >&2))"
LOAD_READ_END="$(cut -d' ' -f1-3 /proc/loadavg)"
TOTAL_S=$((SECONDS - T_START))

REPORT="# Books benchmark — $STAMP

| Machine | |
|---|---|
| Commit | \`$(git -C "$REPO" rev-parse --short HEAD)$( [ -z "$(git -C "$REPO" status --porcelain -- Sources Package.swift ops/bench/books)" ] || echo ' (uncommitted changes)')\` |
| nproc | $(nproc) |
| CPU | $(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1) |
| Load average (1/5/15 min) fills start → end; read start → end | $LOAD_FILLS_START → $LOAD_FILLS_END; $LOAD_READ_START → $LOAD_READ_END |
| PostgreSQL | $(psql_db "$BENCH_DB" -c 'SHOW server_version') (synchronous_commit $(psql_db "$BENCH_DB" -c 'SHOW synchronous_commit'), shared_buffers $(psql_db "$BENCH_DB" -c 'SHOW shared_buffers')) |
| Setup | $USERS users × $SYMBOLS symbols (SPY, SYN01…), one bought order each, filled in two reports (5 then 10 shares); $PRICE_MINUTES minutes of last trades per symbol and a previous close; release builds |
| Fills | $CONCURRENCY concurrent recorders, one transaction per fill (\`client.transaction\`), timed: $SAMPLE_TEXT; ${FILLS_S} s with seeding and verification |
| Read | $CLIENTS concurrent clients (AsyncHTTPClient, one request in flight each) over $APIS \`hybridhub api\` processes (DATABASE_POOL_SIZE $API_POOL each, TRADING_ENABLED false, wall clock), tokens from \`hybridhub local-issuer\`; ${WARMUP} s warm-up + ${SECONDS_PER_ROUTE} s per route |

## Time per fill recorded

$FILLS

## \`/positions\` under $CLIENTS concurrent clients

$READ

Whole run ${TOTAL_S} s. Reproduce: \`ops/bench/books/run.sh\` (see ops/bench/books/README.md). Logs: $WORK.
"
printf '%s\n' "$REPORT"
if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
  mkdir -p "$HERE/results"
  printf '%s\n' "$REPORT" > "$HERE/results/$STAMP.md"
  progress "written: ops/bench/books/results/$STAMP.md"
fi

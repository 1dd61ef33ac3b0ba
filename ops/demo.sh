#!/usr/bin/env bash
# The demo: the whole trading flow on this machine, no Alpaca account, no internet.
# Private Postgres, migrations, the project's Alpaca simulator replaying 2011-03-16 fast, a
# scheduler, two worker processes, the plan's §17 user, an approval by a scripted client, and
# the printed timeline: snapshot → rule fired → question → answer → order → fill.
# Alongside: a local token issuer and an API process, and the approval page's address with a
# sign-in token for the §17 user, so a person can watch the question arrive and approve it.
#   DEMO_SPEED          simulated seconds per second (default 30)
#   DEMO_PORT           the simulator's port (default 54380)
#   DEMO_API_PORT       the API's port: the approval page, the hub, /v1 (default 54382)
#   DEMO_ISSUER_PORT    the local token issuer's port (default 54383)
#   DEMO_APPROVE_AFTER  seconds the scripted client waits before approving, so a person on the
#                       approval page can answer first (default 10)
#   DEMO_INTERACTIVE=1  no scripted approval: wait (up to 10 minutes) for a person on the page
#   DEMO_SCRATCH_PATH   the build folder (default .build)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
prepare_machine
echo "ops: building hybridhub and alpaca-sim"
SCRATCH="${DEMO_SCRATCH_PATH:-$REPO/.build}"
swift build --scratch-path "$SCRATCH" --product hybridhub 2>&1 | grep -E "error:|Build complete" || true
swift build --scratch-path "$SCRATCH" --product alpaca-sim 2>&1 | grep -E "error:|Build complete" || true
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)"
[[ -x "$BIN/hybridhub" && -x "$BIN/alpaca-sim" ]] || { echo "ops: build failed" >&2; exit 1; }

PORT="${DEMO_PORT:-54380}"
SPEED="${DEMO_SPEED:-30}"
API_PORT="${DEMO_API_PORT:-54382}"
ISSUER_PORT="${DEMO_ISSUER_PORT:-54383}"
LOGS="$(mktemp -d /tmp/hybridhub-demo.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

export TRADING_ENABLED=true QUESTION_WORKER_ENABLED=true QUESTION_WORKER_INTERVAL_SECONDS=1
export QUESTION_PIPELINE_TEST_MODE=true ALPACA_SIMULATOR_URL="http://127.0.0.1:$PORT"
export ALPACA_API_KEY_ID=demo-key ALPACA_API_SECRET_KEY=demo-secret TRADING_EVALUATE_DELAY_SECONDS=0
export LOG_LEVEL="${LOG_LEVEL:-info}"
# Sign-in: the API trusts the local issuer's keys (made at its start, never written down).
export FIREBASE_PROJECT_ID=hybridhub-demo FIREBASE_JWKS_URL="http://127.0.0.1:$ISSUER_PORT/jwks.json"

"$BIN/hybridhub" migrate
# The previous demo's §17 user starts clean; nothing else is touched.
"$REPO/ops/postgres.sh" psql -q -c "DELETE FROM answers WHERE firebase_uid = 'plan17-user-u';
  DELETE FROM trade_orders WHERE firebase_uid = 'plan17-user-u'; DELETE FROM questions WHERE firebase_uid = 'plan17-user-u';
  DELETE FROM user_trading_state WHERE firebase_uid = 'plan17-user-u';
  DELETE FROM market_data_snapshots WHERE as_of >= '2011-03-15' AND as_of < '2011-03-17';" >/dev/null

# 13:30 ET, nine minutes before SPY crosses -1.5 % vs the previous close.
"$BIN/alpaca-sim" --port "$PORT" --start 2011-03-16T17:30:00Z --speed "$SPEED" --keys demo-key:demo-secret \
  >"$LOGS/alpaca-sim.log" 2>&1 & PIDS+=($!)
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1"; }
for _ in $(seq 1 100); do fetch "http://127.0.0.1:$PORT/_sim/health" >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN/hybridhub" local-issuer --port "$ISSUER_PORT" >"$LOGS/local-issuer.log" 2>&1 & PIDS+=($!)
"$BIN/hybridhub" api --port "$API_PORT" >"$LOGS/api.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do fetch "$FIREBASE_JWKS_URL" >/dev/null 2>&1 && fetch "http://127.0.0.1:$API_PORT/ready" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN="$(python3 -c 'import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], data=json.dumps({"uid": "plan17-user-u", "lifetime_seconds": 3600}).encode(),
                                 headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=5))["token"])' "http://127.0.0.1:$ISSUER_PORT/token")" \
  || { echo "ops: the local issuer did not mint a token (log: $LOGS/local-issuer.log)" >&2; exit 1; }
"$BIN/hybridhub" scheduler --id demo-scheduler >"$LOGS/scheduler.log" 2>&1 & PIDS+=($!)
"$BIN/hybridhub" worker --id demo-worker-1 --concurrency 4 >"$LOGS/worker-1.log" 2>&1 & PIDS+=($!)
"$BIN/hybridhub" worker --id demo-worker-2 --concurrency 4 >"$LOGS/worker-2.log" 2>&1 & PIDS+=($!)
STREAMS=""
if [ "${DEMO_STREAMS:-0}" = 1 ]; then
  # The farm's market-data and trade-update streams: SPY's trades arrive by WebSocket and the
  # tick stops polling it while the stream is healthy.
  "$BIN/hybridhub" streams --id demo-streams >"$LOGS/streams.log" 2>&1 & PIDS+=($!)
  STREAMS=", streams"
fi
echo "ops: simulator http://127.0.0.1:$PORT (2011-03-16 from 13:30 ET at ${SPEED}x), scheduler, 2 workers$STREAMS, local issuer, API; logs in $LOGS"
echo "ops: approval page (signed in as the §17 user for an hour; open it to watch and approve):"
echo "      http://127.0.0.1:$API_PORT/approve#token=$TOKEN"

DEMO_ARGS=(--approve-after "${DEMO_APPROVE_AFTER:-10}")
[ "${DEMO_INTERACTIVE:-0}" = 1 ] && DEMO_ARGS=(--human)
LOG_LEVEL=warning "$BIN/hybridhub" demo "${DEMO_ARGS[@]}" "$@"
echo "ops: the simulator's ledger: $(fetch "http://127.0.0.1:$PORT/_sim/ledger" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(len(d["orders"]), "order(s); orders per client_order_id:", d["orders_per_client_order_id"])')"

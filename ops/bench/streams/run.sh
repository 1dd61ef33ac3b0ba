#!/usr/bin/env bash
# Streams benchmark (issue 9): 1,000 users over 30 symbols, each with a dip rule that the replay
# crosses at a known instant, each connected to the hub. Latency from the replayed trade that
# crosses a user's threshold to ReceiveQuestion at that user's client, with streaming
# (`hybridhub streams`) and with polling (the tick alone); REST requests per minute at the
# simulator, per API, against the budget. See ops/bench/streams/README.md.
#   ops/bench/streams/run.sh            (as root, from the repository; a fresh clone works)
# Knobs: BENCH_USERS=1000 BENCH_SPEED=30 BENCH_MODES="stream poll" BENCH_POLL_INTERVAL=1
#        BENCH_WORKERS=2 BENCH_START=2011-03-16T17:00:00Z BENCH_MINUTES=85 BENCH_PORT_BASE=54371
#        BENCH_CLIENT_PROCS=2 BENCH_WORKER_ARGS="--concurrency 16" BENCH_REBUILD=1 BENCH_NO_RESULTS=1 HYBRIDHUB_PG_PORT
set -euo pipefail
HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -P "$HERE/../../.." && pwd)"
cd "$REPO"
export PATH="/opt/swift/usr/bin:$PATH"
ulimit -n 65536 2>/dev/null || true

USERS="${BENCH_USERS:-1000}"
SPEED="${BENCH_SPEED:-30}"
MODES="${BENCH_MODES:-stream poll}"
POLL="${BENCH_POLL_INTERVAL:-1}"
WORKERS="${BENCH_WORKERS:-2}"
START="${BENCH_START:-2011-03-16T17:00:00Z}"
MINUTES="${BENCH_MINUTES:-85}"
CLIENT_PROCS="${BENCH_CLIENT_PROCS:-2}"
PORT_BASE="${BENCH_PORT_BASE:-54371}"
SIM_PORT="$PORT_BASE"; ISSUER_PORT="$((PORT_BASE + 1))"; API_PORTS=("$((PORT_BASE + 2))" "$((PORT_BASE + 3))")
BUDGET=200
GOAL_P99_MS=1000
SCRATCH="$REPO/.build-release"
BIN="$SCRATCH/release"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
BENCH_DB=hh_bench_streams
PGBIN=/usr/lib/postgresql/15/bin
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/hh-streams-bench.XXXXXX)"
PIDS=()
progress() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { progress "error: $*"; exit 1; }
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [ "$rc" -ne 0 ]; then progress "failed (exit $rc); logs kept in $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ "$(id -u)" -eq 0 ] || die "run as root (ops/postgres.sh needs it)"
progress "work directory (logs): $WORK"
"$REPO/ops/postgres.sh" start >&2
eval "$("$REPO/ops/postgres.sh" env)"
export PGHOST=127.0.0.1 PGPORT="$HYBRIDHUB_PG_PORT" PGUSER=hybridhub
PGPASSWORD="$(cat "$DATABASE_PASSWORD_FILE")"; export PGPASSWORD
export DATABASE_URL="postgres://hybridhub@127.0.0.1:$HYBRIDHUB_PG_PORT/$BENCH_DB"
export HYBRIDHUB_MIGRATIONS_DIR="$REPO/migrations" LOG_LEVEL=warning
export FIREBASE_PROJECT_ID=hybridhub-bench FIREBASE_JWKS_URL="http://127.0.0.1:$ISSUER_PORT/jwks.json"
export TRADING_ENABLED=true QUESTION_PIPELINE_TEST_MODE=true ALPACA_SIMULATOR_URL="http://127.0.0.1:$SIM_PORT"
export ALPACA_API_KEY_ID=bench-key ALPACA_API_SECRET_KEY=bench-secret ALPACA_RATE_LIMIT_PER_MINUTE="$BUDGET"
export TRADING_QUESTION_TTL_SECONDS=3600

progress "Python venv in .venv (pinned: ops/bench/hub/requirements.txt)"
[ -x "$PY" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO/ops/bench/hub/requirements.txt" >&2

if [ ! -x "$BIN/hybridhub" ] || [ ! -x "$BIN/alpaca-sim" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
  progress "building hybridhub and alpaca-sim (release, --scratch-path .build-release; a cold build takes several minutes)"
  for product in hybridhub alpaca-sim; do
    swift build -c release --package-path "$REPO" --scratch-path "$SCRATCH" --product "$product" >"$WORK/build-$product.log" 2>&1 \
      || { tail -n 30 "$WORK/build-$product.log" >&2; die "build of $product failed"; }
  done
fi

psql_db() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "$1 did not answer within $2 s"
    sleep 0.1
  done
}
END="$(python3 -c "import sys; from datetime import datetime, timedelta; s = datetime.fromisoformat(sys.argv[1].replace('Z', '+00:00')); print((s + timedelta(minutes=int(sys.argv[2]))).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$START" "$MINUTES")"
WALL_SECONDS=$(( MINUTES * 60 / SPEED + 5 ))

run_mode() { # MODE → $WORK/<mode>/result.json
  local mode="$1" dir="$WORK/$1" n k interval
  mkdir -p "$dir"
  progress "[$mode] fresh database, $USERS users over 30 symbols"
  psql_db hybridhub -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
  "$BIN/hybridhub" migrate >"$dir/migrate.log" 2>&1 || { cat "$dir/migrate.log" >&2; die "migrate failed"; }
  interval=$([ "$mode" = poll ] && echo "$POLL" || echo 60)
  "$PY" "$HERE/bench.py" seed --users "$USERS" --poll "$interval" | psql_db "$BENCH_DB" >/dev/null

  "$BIN/alpaca-sim" --port "$SIM_PORT" --start "$START" --speed 0 --synthetic-symbols 29 --keys bench-key:bench-secret \
    --data "$REPO/data/market" >"$dir/sim.log" 2>&1 & PIDS+=($!)
  wait_http "http://127.0.0.1:$SIM_PORT/_sim/health" 30
  "$BIN/hybridhub" local-issuer --port "$ISSUER_PORT" >"$dir/issuer.log" 2>&1 & PIDS+=($!)
  for n in 0 1; do
    "$BIN/hybridhub" api --port "${API_PORTS[$n]}" >"$dir/api-$n.log" 2>&1 & PIDS+=($!)
  done
  for n in $(seq 1 "$WORKERS"); do
    # shellcheck disable=SC2086  # BENCH_WORKER_ARGS is a list of options
    QUESTION_WORKER_INTERVAL_SECONDS="$interval" TRADING_EVALUATE_DELAY_SECONDS=1 \
      "$BIN/hybridhub" worker --id "bench-worker-$n" ${BENCH_WORKER_ARGS:-} >"$dir/worker-$n.log" 2>&1 & PIDS+=($!)
  done
  QUESTION_WORKER_INTERVAL_SECONDS="$interval" TRADING_EVALUATE_DELAY_SECONDS=1 \
    "$BIN/hybridhub" scheduler --id bench-scheduler >"$dir/scheduler.log" 2>&1 & PIDS+=($!)
  if [ "$mode" = stream ]; then
    MARKET_STREAM_EVALUATE_SECONDS=1 "$BIN/hybridhub" streams --id bench-streams >"$dir/streams.log" 2>&1 & PIDS+=($!)
  fi
  wait_http "$FIREBASE_JWKS_URL" 30
  for port in "${API_PORTS[@]}"; do wait_http "http://127.0.0.1:$port/ready" 30; done
  "$PY" "$REPO/ops/bench/hub/bench.py" tokens --issuer "http://127.0.0.1:$ISSUER_PORT" --users "$USERS" --out "$dir/tokens.txt"
  local per=$(( (USERS + CLIENT_PROCS - 1) / CLIENT_PROCS )) first count client_pids=()
  for k in $(seq 0 $((CLIENT_PROCS - 1))); do
    first=$((k * per)); count=$per
    (( first + count > USERS )) && count=$((USERS - first))
    (( count > 0 )) || continue
    "$PY" "$REPO/ops/bench/hub/bench.py" clients --apis "http://127.0.0.1:${API_PORTS[0]},http://127.0.0.1:${API_PORTS[1]}" \
      --tokens "$dir/tokens.txt" --first "$first" --count "$count" --out "$dir/receives-$k.txt" --ready "$dir/ready-$k.txt" \
      >"$dir/clients-$k.log" 2>&1 & PIDS+=($!); client_pids+=($!)
  done
  local deadline=$((SECONDS + 300))
  while [ "$(cat "$dir"/ready-*.txt 2>/dev/null | wc -l)" -lt "${#client_pids[@]}" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "clients did not connect within 300 s (see $dir/clients-*.log)"
    sleep 0.5
  done
  local opened; opened=$(awk '{ s += $1 } END { print s }' "$dir"/ready-*.txt)
  [ "$opened" -eq "$USERS" ] || die "[$mode] $opened of $USERS clients connected"
  if [ "$mode" = stream ]; then
    deadline=$((SECONDS + 60))
    until [ "$(psql_db "$BENCH_DB" -c "SELECT count(*) FROM market_streams WHERE healthy_until > now() AND cardinality(symbols) = 30")" = 1 ]; do
      [ "$SECONDS" -lt "$deadline" ] || die "the stream did not subscribe the 30 symbols (see $dir/streams.log)"
      sleep 0.2
    done
  fi
  progress "[$mode] $opened clients connected; settling 5 s, then the replay runs at ${SPEED}x for $MINUTES minutes (${WALL_SECONDS} s)"
  sleep 5
  local before; before="$(python3 -c 'import json, sys, urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1]))))' "http://127.0.0.1:$SIM_PORT/_sim/stats")"
  LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "http://127.0.0.1:$SIM_PORT/_sim/clock" "$SPEED" "$dir/clock.txt" <<'EOF'
import json, sys, time, urllib.request
request = urllib.request.Request(sys.argv[1], data=json.dumps({"speed": float(sys.argv[2])}).encode(),
                                 headers={"Content-Type": "application/json"})
sent = time.time()
with urllib.request.urlopen(request, timeout=10) as response:
    state = json.load(response)
received = time.time()
# The clock started at `now` somewhere between sending and receiving: take the middle.
open(sys.argv[3], "w").write("%s %.6f %s\n" % (state["now"], (sent + received) / 2, state["speed"]))
EOF
  sleep "$WALL_SECONDS"
  LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
  python3 -c 'import json, sys, urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1]))))' \
    "http://127.0.0.1:$SIM_PORT/_sim/stats" >"$dir/stats-after.json"
  echo "$before" >"$dir/stats-before.json"
  for k in "${client_pids[@]}"; do kill -TERM "$k" 2>/dev/null || true; done
  for k in "${client_pids[@]}"; do wait "$k" 2>/dev/null || true; done
  psql_db "$BENCH_DB" -c "SELECT id, firebase_uid FROM questions" | tr '|' ' ' >"$dir/questions.txt"
  "$PY" "$HERE/bench.py" crossings --sim "http://127.0.0.1:$SIM_PORT" --start "$START" --end "$END" --users "$USERS" --out "$dir/crossings.txt"
  "$PY" "$HERE/bench.py" latency --crossings "$dir/crossings.txt" --questions "$dir/questions.txt" --receives "$dir"/receives-*.txt \
    --clock "$dir/clock.txt" >"$dir/latency.json"
  python3 - "$dir" "$WALL_SECONDS" "$LOAD_START" "$LOAD_END" >"$dir/result.json" <<'EOF'
import json, sys
d, seconds = sys.argv[1], float(sys.argv[2])
before, after = json.load(open(d + "/stats-before.json")), json.load(open(d + "/stats-after.json"))
def total(stats, key): return stats.get(key, {}).get("total", 0)
rest = {api: total(after, "bench-key|" + api) - total(before, "bench-key|" + api) for api in ("market_data", "trading")}
busiest = {api: after.get("bench-key|" + api, {}).get("max_per_minute", 0) for api in ("market_data", "trading")}
print(json.dumps({"latency": json.load(open(d + "/latency.json")), "rest": rest, "busiest_minute": busiest,
                  "per_minute": {api: n / seconds * 60 for api, n in rest.items()}, "seconds": seconds,
                  "load": [sys.argv[3], sys.argv[4]]}))
EOF
  stop_all
  progress "[$mode] $(cat "$dir/result.json")"
}

for mode in $MODES; do run_mode "$mode"; done

TABLE="$(WORK="$WORK" MODES="$MODES" GOAL="$GOAL_P99_MS" BUDGET="$BUDGET" python3 - <<'EOF'
import json, os
work, goal, budget = os.environ["WORK"], float(os.environ["GOAL"]), int(os.environ["BUDGET"])
results = {m: json.load(open("%s/%s/result.json" % (work, m))) for m in os.environ["MODES"].split()}
f = lambda v: "%.0f" % v
print("| Crossing trade → ReceiveQuestion (ms) | p50 | p90 | p99 | max | min | questions / users crossed | early |")
print("|---|---|---|---|---|---|---|---|")
for mode, r in results.items():
    l = r["latency"]
    print("| %s | %s | %s | **%s** | %s | %s | %d / %d | %d |" % (mode, f(l["p50"]), f(l["p90"]), f(l["p99"]), f(l["max"]), f(l["min"]),
                                                          l["received"], l["expected"], l["early"]))
print()
if "stream" in results:
    p99 = results["stream"]["latency"]["p99"]
    print("**Streaming p99 %.0f ms against the goal of %d ms: %.2f × the goal (%s).**" % (p99, goal, p99 / goal, "met" if p99 < goal else "missed"))
if "stream" in results and "poll" in results:
    print("Polling p99 / streaming p99 = %.1f." % (results["poll"]["latency"]["p99"] / results["stream"]["latency"]["p99"]))
print()
print("| REST requests at the simulator | market data | trading | busiest minute (market data / trading) | budget per API and minute |")
print("|---|---|---|---|---|")
for mode, r in results.items():
    print("| %s (%.0f s) | %d (%.1f/min) | %d (%.1f/min) | %d / %d | %d |" % (mode, r["seconds"], r["rest"]["market_data"], r["per_minute"]["market_data"],
          r["rest"]["trading"], r["per_minute"]["trading"], r["busiest_minute"]["market_data"], r["busiest_minute"]["trading"], budget))
worst = max(max(r["busiest_minute"].values()) for r in results.values())
print()
print("**Busiest minute %d requests against the budget of %d per API: %.2f × the budget (%s).**" % (worst, budget, worst / budget, "within" if worst <= budget else "over"))
print()
for mode, r in results.items():
    print("Load average (1/5/15 min) during %s: %s → %s." % (mode, r["load"][0], r["load"][1]))
EOF
)"

REPORT="# Streams benchmark — $STAMP

| Machine | |
|---|---|
| Commit | \`$(git -C "$REPO" rev-parse --short HEAD)$( [ -z "$(git -C "$REPO" status --porcelain -- Sources Package.swift ops/bench/streams)" ] || echo ' (uncommitted changes)')\` |
| nproc | $(nproc) |
| CPU | $(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1) |
| Setup | release builds; \`alpaca-sim\` replaying 2011-03-16 from $START at ${SPEED}× (SPY and 29 synthetic symbols scaled from it); $USERS users (30 symbols, two per user; one dip rule each, thresholds −1.25 % … −2.24 %), each with one hub connection across 2 \`hybridhub api\` processes; $WORKERS workers, 1 scheduler; stream mode adds 1 \`hybridhub streams\` (tick every 60 s, stream-triggered evaluations at most 1/s per user); poll mode ticks every $POLL s (ingest + evaluate, TRADING_EVALUATE_DELAY_SECONDS=1) |
| Measure | from the wall-clock instant at which the replay reaches the first trade at or below a user's threshold (the simulator's clock: start instant and speed) to that user's first ReceiveQuestion (client's clock, same machine) |

$TABLE

Reproduce: \`ops/bench/streams/run.sh\` (see ops/bench/streams/README.md). Logs: $WORK.
"
printf '%s\n' "$REPORT"
if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
  mkdir -p "$HERE/results"
  printf '%s\n' "$REPORT" > "$HERE/results/$STAMP.md"
  progress "written: ops/bench/streams/results/$STAMP.md"
fi

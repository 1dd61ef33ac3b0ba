#!/usr/bin/env bash
# Load on the Alpaca simulator from wrk on loopback: order submits/s and market-data requests/s.
# Goals (issue): >= 5,000 order submits/s and >= 20,000 market-data requests/s on this 2-core
# machine, so the simulator is never the bottleneck of the farm's own benchmarks.
# Usage: ops/bench/simulator/run.sh [seconds per run, default 10]
set -euo pipefail
REPO="$(cd -P "$(dirname "$0")/../../.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
cd "$REPO"
SECONDS_PER_RUN="${1:-10}"
PORT="${SIM_BENCH_PORT:-18790}"
command -v wrk >/dev/null || { echo "bench: installing wrk"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
echo "bench: building alpaca-sim (release, .build-release)"
swift build -c release --scratch-path .build-release --product alpaca-sim 2>&1 | grep -E "error:|Build complete" || true
BIN=.build-release/release/alpaca-sim
[[ -x "$BIN" ]] || { echo "bench: build failed" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
# Market open on 2011-03-16, clock stepped: every market order fills at once.
"$BIN" --port "$PORT" --speed 0 --start 2011-03-16T14:00:00Z --keys sim-key:sim-secret > "$WORK/sim.log" 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_sim/health" >/dev/null && break; sleep 0.1; done
H=(-H "APCA-API-KEY-ID: sim-key" -H "APCA-API-SECRET-KEY: sim-secret")
cat > "$WORK/orders.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"symbol":"SPY","notional":1,"side":"buy","type":"market","time_in_force":"day"}'
  return wrk.format(nil, nil, nil, body)
end
LUA
run() { # label, goal, wrk args…
  local label="$1" goal="$2"; shift 2
  local out; out="$(wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" --latency "${H[@]}" "$@")"
  local rps; rps="$(awk '/Requests\/sec/ { print $2 }' <<<"$out")"
  local p99; p99="$(awk '$1 == "99%" { print $2 }' <<<"$out")"
  local errors; errors="$(awk '/Non-2xx or 3xx responses/ { print $NF }' <<<"$out")"
  local socket; socket="$(awk '/Socket errors/ { print $0 }' <<<"$out")"
  local ratio; ratio="$(awk -v r="$rps" -v g="$goal" 'BEGIN { printf "%.2f", r / g }')"
  printf '| %s | %s | %s | %s | %s%s |\n' "$label" "$rps" "$ratio" "$p99" "${errors:-0}" "${socket:+ ($socket)}"
}
URL="http://127.0.0.1:$PORT"
{
  echo "# Alpaca simulator load — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "wrk -t2 -c32 -d${SECONDS_PER_RUN}s on loopback, simulator release build, $(nproc) cores (wrk shares them), load average before the runs $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)."
  echo
  echo "| route | requests/s | ÷ goal | p99 latency | non-2xx |"
  echo "|---|---:|---:|---:|---:|"
  run "GET /v2/stocks/trades/latest?symbols=SPY" 20000 "$URL/v2/stocks/trades/latest?symbols=SPY&feed=iex"
  run "GET /v2/stocks/quotes/latest?symbols=SPY" 20000 "$URL/v2/stocks/quotes/latest?symbols=SPY&feed=iex"
  run "GET /v2/stocks/bars/latest?symbols=SPY" 20000 "$URL/v2/stocks/bars/latest?symbols=SPY&feed=iex"
  run "GET /v2/stocks/snapshots?symbols=SPY" 20000 "$URL/v2/stocks/snapshots?symbols=SPY&feed=iex"
  run "GET /v2/stocks/bars (1Min, limit 100)" 20000 "$URL/v2/stocks/bars?symbols=SPY&timeframe=1Min&start=2011-03-16T13:30:00Z&limit=100"
  run "POST /v2/orders (notional market, fills)" 5000 -s "$WORK/orders.lua" "$URL/v2/orders"
  echo
  echo "Goals: market data >= 20,000 requests/s; order submits >= 5,000/s (÷ goal >= 1 meets it)."
} | tee "$WORK/result.md"
mkdir -p ops/bench/simulator/results
cp "$WORK/result.md" "ops/bench/simulator/results/$(date -u +%Y-%m-%dT%H%M%SZ).md"

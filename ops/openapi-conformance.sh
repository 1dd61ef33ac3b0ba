#!/usr/bin/env bash
# Validates the Alpaca simulator's live answers against Alpaca's official OpenAPI documents:
# the Market Data document committed in Tests/openapi (CC BY-SA 4.0) and, when a local copy
# exists, the Trading document in ../shared/reference/alpaca-openapi/ (it has no licence, so it
# is never copied into the repository). The test suite runs the market-data half on every run
# (AlpacaSimulatorTests.OpenAPIConformanceTests); this script adds the trading half and records
# the result in ops/conformance/last-run.md (committed).
# Usage: ops/openapi-conformance.sh [path/to/trading-api.json]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
TRADING_SPEC="${1:-$REPO/../shared/reference/alpaca-openapi/trading-api.json}"
PORT="${SIM_CONFORMANCE_PORT:-18795}"
prepare_python
echo "conformance: building alpaca-sim"
SCRATCH="${SWIFT_SCRATCH_PATH:-$REPO/.build}"   # the test build's folder by default
swift build --scratch-path "$SCRATCH" --product alpaca-sim 2>&1 | grep -E "error:|Build complete" || true
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)/alpaca-sim"
[[ -x "$BIN" ]] || { echo "conformance: build failed" >&2; exit 1; }
WORK="$(mktemp -d)"
"$BIN" --port "$PORT" --speed 0 --start 2011-03-16T17:39:00Z --keys sim-key:sim-secret > "$WORK/sim.log" 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_sim/health" >/dev/null && break; sleep 0.1; done
ARGS=("http://127.0.0.1:$PORT" --market-data-spec "$REPO/Tests/openapi/market-data-api.json")
if [[ -f "$TRADING_SPEC" ]]; then
  ARGS+=(--trading-spec "$TRADING_SPEC")
  TRADING_NOTE="Trading API document: \`$(realpath --relative-to="$REPO" "$TRADING_SPEC")\` (sha256 \`$(sha256sum "$TRADING_SPEC" | cut -c1-16)…\`)."
else
  TRADING_NOTE="Trading API document: not found at $TRADING_SPEC; trading answers checked against the script's own shapes only."
fi
set +e
"$REPO/.venv-test/bin/python" "$REPO/Tests/python/openapi_conformance.py" "${ARGS[@]}" > "$WORK/out.txt" 2>&1
STATUS=$?
set -e
{
  echo "# OpenAPI conformance of the Alpaca simulator — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Tests || echo ' (with uncommitted changes)'); simulator clock 2011-03-16T17:39:00Z, stepped."
  echo "Market Data API document: \`Tests/openapi/market-data-api.json\` (sha256 \`$(sha256sum Tests/openapi/market-data-api.json | cut -c1-16)…\`)."
  echo "$TRADING_NOTE"
  echo
  echo "Result: $([[ $STATUS -eq 0 ]] && echo "**every answer conforms**" || echo "**violations found** (exit $STATUS)")"
  echo
  echo '```'
  cat "$WORK/out.txt"
  echo '```'
} > "$WORK/report.md"
cp "$WORK/report.md" "$REPO/ops/conformance/last-run.md"
tail -n 3 "$WORK/out.txt"
echo "conformance: report written to ops/conformance/last-run.md"
exit "$STATUS"

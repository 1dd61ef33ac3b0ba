#!/usr/bin/env bash
# Hub benchmark (issue 7): 1,000 SignalR connections across two `hybridhub api` processes;
# questions committed at a steady rate through the real path (INSERT + pg_notify in one
# transaction, as deliver-question does); latency from the commit to ReceiveQuestion at the
# client, p50/p99/max; memory per connection. See ops/bench/hub/README.md.
#   ops/bench/hub/run.sh            (as root, from the repository; a fresh clone works)
# Knobs: BENCH_CONNECTIONS=1000 BENCH_CONNS_PER_USER=1 BENCH_RATE=50 BENCH_QUESTIONS=3000
#        BENCH_WARMUP=50 BENCH_CLIENT_PROCS=4 BENCH_PORT_BASE=54391 BENCH_REBUILD=1 BENCH_NO_RESULTS=1
#        HYBRIDHUB_PG_PORT (the private Postgres, as ops/postgres.sh)
set -euo pipefail
HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -P "$HERE/../../.." && pwd)"
cd "$REPO"
export PATH="/opt/swift/usr/bin:$PATH"
ulimit -n 65536 2>/dev/null || true  # 1,000 sockets in the API and client processes

CONNECTIONS="${BENCH_CONNECTIONS:-1000}"
PER_USER="${BENCH_CONNS_PER_USER:-1}"
RATE="${BENCH_RATE:-50}"
QUESTIONS="${BENCH_QUESTIONS:-3000}"
WARMUP="${BENCH_WARMUP:-50}"
CLIENT_PROCS="${BENCH_CLIENT_PROCS:-4}"
PORT_BASE="${BENCH_PORT_BASE:-54391}"
API_PORTS=("$PORT_BASE" "$((PORT_BASE + 1))")
ISSUER_PORT="$((PORT_BASE + 2))"
GOAL_P99_MS=50
SCRATCH="$REPO/.build-release"
BIN="$SCRATCH/release"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
BENCH_DB=hh_bench_hub
PGBIN=/usr/lib/postgresql/15/bin
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/hh-hub-bench.XXXXXX)"
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

(( CONNECTIONS % PER_USER == 0 )) || die "BENCH_CONNECTIONS must be a multiple of BENCH_CONNS_PER_USER"
USERS=$((CONNECTIONS / PER_USER))
[ "$(id -u)" -eq 0 ] || die "run as root (ops/postgres.sh needs it)"
progress "work directory (logs): $WORK"
"$REPO/ops/postgres.sh" start >&2
eval "$("$REPO/ops/postgres.sh" env)"
export PGHOST=127.0.0.1 PGPORT="$HYBRIDHUB_PG_PORT" PGUSER=hybridhub
PGPASSWORD="$(cat "$DATABASE_PASSWORD_FILE")"; export PGPASSWORD
export DATABASE_URL="postgres://hybridhub@127.0.0.1:$HYBRIDHUB_PG_PORT/$BENCH_DB"
export HYBRIDHUB_MIGRATIONS_DIR="$REPO/migrations" LOG_LEVEL=warning
export FIREBASE_PROJECT_ID=hybridhub-bench FIREBASE_JWKS_URL="http://127.0.0.1:$ISSUER_PORT/jwks.json"

progress "Python venv in .venv (pinned: ops/bench/hub/requirements.txt)"
[ -x "$PY" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2

if [ ! -x "$BIN/hybridhub" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
  progress "building hybridhub (release, --scratch-path .build-release; a cold build takes several minutes)"
  swift build -c release --package-path "$REPO" --scratch-path "$SCRATCH" --product hybridhub >"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log" >&2; die "build failed"; }
fi

psql_db() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
psql_db hybridhub -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
"$BIN/hybridhub" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
psql_db "$BENCH_DB" -c "INSERT INTO users (firebase_uid, display_name)
  SELECT 'bench-user-' || lpad(n::text, 5, '0'), 'bench' FROM generate_series(0, $USERS - 1) AS n"

wait_http() { # URL SECONDS
  local deadline=$((SECONDS + $2))
  until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "$1 did not answer within $2 s"
    sleep 0.1
  done
}
"$BIN/hybridhub" local-issuer --port "$ISSUER_PORT" >"$WORK/issuer.log" 2>&1 & PIDS+=($!)
API_PIDS=()
for n in 0 1; do
  "$BIN/hybridhub" api --port "${API_PORTS[$n]}" >"$WORK/api-$n.log" 2>&1 & PIDS+=($!); API_PIDS+=($!)
done
wait_http "$FIREBASE_JWKS_URL" 30
for port in "${API_PORTS[@]}"; do wait_http "http://127.0.0.1:$port/ready" 30; done
APIS="http://127.0.0.1:${API_PORTS[0]},http://127.0.0.1:${API_PORTS[1]}"

progress "minting $USERS tokens at the local issuer"
"$PY" "$HERE/bench.py" tokens --issuer "http://127.0.0.1:$ISSUER_PORT" --users "$USERS" --out "$WORK/tokens.txt"

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
sum_rss() { local s=0 p; for p in "${API_PIDS[@]}"; do s=$((s + $(rss_kb "$p"))); done; echo "$s"; }
RSS_BEFORE=("$(rss_kb "${API_PIDS[0]}")" "$(rss_kb "${API_PIDS[1]}")")

progress "connecting $CONNECTIONS clients ($USERS users × $PER_USER) in $CLIENT_PROCS client processes"
per_proc=$(( (CONNECTIONS + CLIENT_PROCS - 1) / CLIENT_PROCS ))
CLIENT_PIDS=()
T_CONNECT=$SECONDS
for k in $(seq 0 $((CLIENT_PROCS - 1))); do
  first=$((k * per_proc)); count=$per_proc
  (( first + count > CONNECTIONS )) && count=$((CONNECTIONS - first))
  (( count > 0 )) || continue
  "$PY" "$HERE/bench.py" clients --apis "$APIS" --tokens "$WORK/tokens.txt" --first "$first" --count "$count" \
    --conns-per-user "$PER_USER" --out "$WORK/receives-$k.txt" --ready "$WORK/ready-$k.txt" >"$WORK/clients-$k.log" 2>&1 &
  PIDS+=($!); CLIENT_PIDS+=($!)
done
deadline=$((SECONDS + 300))
while [ "$(cat "$WORK"/ready-*.txt 2>/dev/null | wc -l)" -lt "${#CLIENT_PIDS[@]}" ]; do
  [ "$SECONDS" -lt "$deadline" ] || die "clients did not connect within 300 s (see $WORK/clients-*.log)"
  sleep 0.5
done
OPENED=$(awk '{ s += $1 } END { print s }' "$WORK"/ready-*.txt)
FAILED=$(awk '{ s += $2 } END { print s }' "$WORK"/ready-*.txt)
CONNECT_S=$((SECONDS - T_CONNECT))
[ "$OPENED" -eq "$CONNECTIONS" ] || die "$OPENED of $CONNECTIONS connections opened ($FAILED failed; see $WORK/clients-*.log)"
progress "$OPENED connections open in ${CONNECT_S} s; settling 5 s"
sleep 5
RSS_CONNECTED=("$(rss_kb "${API_PIDS[0]}")" "$(rss_kb "${API_PIDS[1]}")")
CPU_START=("$(cpu_s "${API_PIDS[0]}")" "$(cpu_s "${API_PIDS[1]}")")

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
progress "committing $QUESTIONS questions at $RATE/s (first $WARMUP not counted)"
COMMIT_LINE="$("$PY" "$HERE/bench.py" commit --users "$USERS" --rate "$RATE" --count "$QUESTIONS" --out "$WORK/commits.txt")"
progress "$COMMIT_LINE"
sleep 2
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
CPU_END=("$(cpu_s "${API_PIDS[0]}")" "$(cpu_s "${API_PIDS[1]}")")
RSS_END=("$(rss_kb "${API_PIDS[0]}")" "$(rss_kb "${API_PIDS[1]}")")
for pid in "${CLIENT_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${CLIENT_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
STATS="$("$PY" "$HERE/bench.py" stats --commits "$WORK/commits.txt" --receives "$WORK"/receives-*.txt --skip "$WARMUP" \
  --conns-per-user "$PER_USER")"
echo "$STATS" >"$WORK/stats.json"

TABLE="$(STATS="$STATS" CONNECTIONS="$CONNECTIONS" GOAL="$GOAL_P99_MS" \
  RSS="${RSS_BEFORE[*]} ${RSS_CONNECTED[*]} ${RSS_END[*]}" CPU="${CPU_START[*]} ${CPU_END[*]}" python3 - <<'EOF'
import json, os
s = json.loads(os.environ["STATS"])
n = int(os.environ["CONNECTIONS"]); goal = float(os.environ["GOAL"])
b0, b1, c0, c1, e0, e1 = (int(x) for x in os.environ["RSS"].split())
cpu = [float(x) for x in os.environ["CPU"].split()]
a, pre, commit = s["after_commit"], s["before_commit"], s["commit"]
f = lambda v: "%.2f" % v
print("| Commit → ReceiveQuestion (ms) | p50 | p90 | p99 | max | min | n |")
print("|---|---|---|---|---|---|---|")
print("| from COMMIT's return (committer's wall clock) | %s | %s | **%s** | %s | %s | %d |" % (f(a["p50"]), f(a["p90"]), f(a["p99"]), f(a["max"]), f(a["min"]), s["deliveries"]))
print("| from clock_timestamp() just before COMMIT (includes the commit itself) | %s | %s | %s | %s | %s | %d |" % (f(pre["p50"]), f(pre["p90"]), f(pre["p99"]), f(pre["max"]), f(pre["min"]), s["deliveries"]))
print("| reference: the COMMIT alone (clock_timestamp() → COMMIT returned) | %s | %s | %s | %s | %s | %d |" % (f(commit["p50"]), f(commit["p90"]), f(commit["p99"]), f(commit["max"]), f(commit["min"]), s["questions"]))
print()
print("**p99 %.2f ms against the goal of %d ms: %.2f × the goal** (%s). Deliveries %d of %d expected (%d missing)." % (
    a["p99"], goal, a["p99"] / goal, "met" if a["p99"] < goal else "missed", s["deliveries"], s["expected_deliveries"], s["missing"]))
print()
print("| Memory (VmRSS, MiB) | API 1 | API 2 | both |")
print("|---|---|---|---|")
m = lambda kb: "%.1f" % (kb / 1024)
print("| before the clients | %s | %s | %s |" % (m(b0), m(b1), m(b0 + b1)))
print("| %d connections open (after 5 s) | %s | %s | %s |" % (n, m(c0), m(c1), m(c0 + c1)))
print("| after the questions | %s | %s | %s |" % (m(e0), m(e1), m(e0 + e1)))
print()
print("**Memory per connection: %.1f KiB** (RSS growth of both API processes from before the clients to all connected, / %d); "
      "%.1f KiB per connection counting the growth to the end of the run." % ((c0 + c1 - b0 - b1) / n, n, (e0 + e1 - b0 - b1) / n))
print()
print("API CPU during the questions: %.2f s and %.2f s (user + system)." % (cpu[2] - cpu[0], cpu[3] - cpu[1]))
EOF
)"

REPORT="# Hub benchmark — $STAMP

| Machine | |
|---|---|
| Commit | \`$(git -C "$REPO" rev-parse --short HEAD)$( [ -z "$(git -C "$REPO" status --porcelain -- Sources Package.swift ops/bench/hub)" ] || echo ' (uncommitted changes)')\` |
| nproc | $(nproc) |
| CPU | $(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1) |
| Load average (1/5/15 min) start → end of the questions | $LOAD_START → $LOAD_END |
| PostgreSQL | $(psql_db "$BENCH_DB" -c 'SHOW server_version') (synchronous_commit $(psql_db "$BENCH_DB" -c 'SHOW synchronous_commit')) |
| Setup | 2 \`hybridhub api\` processes (release build), $CONNECTIONS WebSocket connections = $USERS users × $PER_USER, alternating between the two processes, held by $CLIENT_PROCS Python asyncio processes (\`websockets\`, SignalR JSON protocol, negotiate v1 + access_token); connected in $CONNECT_S s |
| Load | $QUESTIONS questions at $RATE/s, each for a random user, committed one per transaction (INSERT + pg_notify, as deliver-question); the first $WARMUP not counted |

$TABLE

$COMMIT_LINE. Reproduce: \`ops/bench/hub/run.sh\` (see ops/bench/hub/README.md). Logs: $WORK.
"
printf '%s\n' "$REPORT"
if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
  mkdir -p "$HERE/results"
  printf '%s\n' "$REPORT" > "$HERE/results/$STAMP.md"
  progress "written: ops/bench/hub/results/$STAMP.md"
fi

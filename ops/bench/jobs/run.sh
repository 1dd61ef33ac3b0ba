#!/usr/bin/env bash
# Job-engine benchmark: our engine vs the raw SQL limit (pgbench) vs PgQueuer, on the private
# Postgres, in one run. See ops/bench/jobs/README.md. Usage (as root, from a fresh clone too):
#   ops/bench/jobs/run.sh
# Knobs (defaults are the published configuration; anything else is noted in the report):
#   BENCH_SECTIONS="1 2 3 4"  BENCH_DRAIN_JOBS=100000  BENCH_ENQ1_JOBS=5000  BENCH_ENQ100_JOBS=100000
#   BENCH_LAT_JOBS=2000  BENCH_RESCUE_TRIALS=5  BENCH_REBUILD=1 (rebuild the release binaries)
#   BENCH_BATCH=50 BENCH_CONCURRENCY=100: our claim batch and per-process concurrency for the goal
#     rows (drain, latency); the raw limit runs at the same batch. The batch-10 pair (ours at
#     --concurrency 10 --batch 10 vs raw at 10) is measured too, for comparison with PgQueuer's 10.
#   BENCH_DRAIN_CONTENDERS="ours10 raw10 ours raw pgq" (a subset for quick trials)
#   BENCH_WORKER_ARGS="--executor global" (extra arguments for our drain and latency workers; trials only)
#   BENCH_SYNC_COMMIT=off (diagnostic: ALTER DATABASE hh_bench SET synchronous_commit = off, for
#     every contender alike; takes the disk's fsync rate out of the figures; noted in the report)
#   BENCH_NO_RESULTS=1 (do not write results/<date>.md)  BENCH_SKIP_FSYNC=1 (skip pg_test_fsync)
set -euo pipefail

HERE="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -P "$HERE/../../.." && pwd)"
cd "$REPO"
export PATH="/opt/swift/usr/bin:$PATH"
export LOG_LEVEL=warning

SECTIONS="${BENCH_SECTIONS:-1 2 3 4}"
DRAIN_JOBS="${BENCH_DRAIN_JOBS:-100000}"
ENQ1_JOBS="${BENCH_ENQ1_JOBS:-5000}"
ENQ100_JOBS="${BENCH_ENQ100_JOBS:-100000}"
LAT_JOBS="${BENCH_LAT_JOBS:-2000}"
RESCUE_TRIALS="${BENCH_RESCUE_TRIALS:-5}"
LAT_RATE=100
PGQ_BATCH=10      # PgQueuer's batch_size (pinned by the issue), and the comparison pair's batch
BATCH="${BENCH_BATCH:-50}"                  # our claim batch for the goal rows; raw runs at it too
CONCURRENCY="${BENCH_CONCURRENCY:-100}"     # per worker process (ours) for the goal rows
DRAIN_CONTENDERS="${BENCH_DRAIN_CONTENDERS:-ours10 raw10 ours raw pgq}"

PGBIN=/usr/lib/postgresql/15/bin
SCRATCH="$REPO/.build-release"
LAB="$SCRATCH/release/hybridhub-jobs-lab"
HH="$SCRATCH/release/hybridhub"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
BENCH_DB=hh_bench
STAMP="$(date -u +%Y-%m-%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/hh-jobs-bench.XXXXXX)"
RESULTS="$WORK/results.env"
NOTES=()
PIDS=()

# Progress goes to the original stderr (fd 3), also from blocks whose stderr is silenced.
exec 3>&2
progress() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&3; }
die() { progress "error: $*"; exit 1; }
record() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }
note() { NOTES+=("$*"); progress "note: $*"; }
now() { date +%s.%N; }
# awk arithmetic on decimal strings: calc '<expr with $1, $2 …>' args…
calc() { local expr=$1; shift; awk -v OFMT='%.6f' "BEGIN { \$0 = \"$*\"; print ($expr) }"; }

# --- Processes: every background process is tracked and ended on exit ---------------------------

LAST_PID=
start_bg() { # start_bg NAME CMD... (output to $WORK/NAME.log)
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
stop_pid() { # stop_pid PID [SIGNAL] [TIMEOUT]: signal, wait up to TIMEOUT s, then SIGKILL; reap.
  # stderr silenced: bash's own "Killed" job notices would otherwise clutter the output.
  local pid=$1 sig=${2:-TERM} timeout=${3:-30} deadline
  {
    kill -s "$sig" "$pid" || true
    deadline=$((SECONDS + timeout))
    while kill -0 "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    if kill -0 "$pid"; then
      note "process $pid did not stop within ${timeout}s of SIG$sig; killed"
      kill -KILL "$pid" || true
    fi
    wait "$pid" || true
  } 2>/dev/null
  forget_pid "$pid"
}
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" || true; done
    local deadline=$((SECONDS + 5))
    for pid in "${PIDS[@]}"; do
      while kill -0 "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
      kill -KILL "$pid" || true
      wait "$pid" || true
    done
  } 2>/dev/null
  if [ "$rc" -ne 0 ]; then progress "failed (exit $rc); logs kept in $WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Prerequisites --------------------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || die "run as root (ops/postgres.sh needs it)"
command -v swift >/dev/null || die "swift not found (expected at /opt/swift/usr/bin)"
progress "work directory (logs): $WORK"

progress "starting the private Postgres"
"$REPO/ops/postgres.sh" start >&2
eval "$("$REPO/ops/postgres.sh" env)"
[ -x "$PGBIN/pgbench" ] || die "$PGBIN/pgbench missing (package postgresql-client-15 / postgresql-15)"
export PGHOST=127.0.0.1 PGPORT="$HYBRIDHUB_PG_PORT" PGUSER=hybridhub
PGPASSWORD="$(cat "$DATABASE_PASSWORD_FILE")"; export PGPASSWORD
export DATABASE_URL="postgres://hybridhub@127.0.0.1:$HYBRIDHUB_PG_PORT/$BENCH_DB"
export HYBRIDHUB_MIGRATIONS_DIR="$REPO/migrations"

progress "Python venv in .venv (pinned: ops/bench/jobs/requirements.txt)"
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  progress "installing python3-venv"; apt-get install -y -q python3-venv >&2
fi
[ -x "$PY" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2

for product in hybridhub-jobs-lab hybridhub; do
  if [ ! -x "$SCRATCH/release/$product" ] || [ "${BENCH_REBUILD:-0}" = 1 ]; then
    progress "building $product (release, --scratch-path .build-release; a cold build takes several minutes)"
    if ! swift build -c release --package-path "$REPO" --scratch-path "$SCRATCH" --product "$product" \
        >"$WORK/build-$product.log" 2>&1; then
      tail -n 30 "$WORK/build-$product.log" >&2; die "build of $product failed"
    fi
  fi
done

psql_db() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
sql() { psql_db "$BENCH_DB" -c "$1"; }
super_sql() { (cd / && runuser -u postgres -- "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
  -h "$HYBRIDHUB_PG_SOCKET_DIR" -p "$HYBRIDHUB_PG_PORT" -U postgres -d "$BENCH_DB" -c "$1"); }
bench_py() { "$PY" "$HERE/bench.py" "$@"; }
lab() { "$LAB" "$@"; }
pgbench_run() { "$PGBIN/pgbench" -n -M extended "$@" "$BENCH_DB"; }

fresh_db() { # a new hh_bench with our migrations, the lab table and PgQueuer's schema
  psql_db hybridhub -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB"
  if [ -n "${BENCH_SYNC_COMMIT:-}" ]; then
    psql_db hybridhub -c "ALTER DATABASE $BENCH_DB SET synchronous_commit = '$BENCH_SYNC_COMMIT'"
  fi
  "$HH" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
  lab setup
  bench_py pgq-install
}
settle() { # after a bulk enqueue, before a timed run (every contender alike)
  sql "VACUUM ANALYZE $1"
  super_sql "CHECKPOINT" >/dev/null
}
# Parse "enqueued N in X s (Y jobs/s)" into jobs/s.
enqueue_rate() { sed -nE 's/^enqueued ([0-9]+) in ([0-9.]+) s.*/\1 \2/p' | awk '{ printf "%.1f", $1 / $2 }'; }

# Drained-probes: cheap (an ordered LIMIT 1 on each partial index, in one snapshot), then
# confirmed with the exact count (which, over 100k rows every 50 ms, would load the machine).
OURS_PENDING_NONE="SELECT (SELECT id FROM jobs WHERE state = 'available' ORDER BY queue, priority, run_at, id LIMIT 1) IS NULL
  AND (SELECT id FROM jobs WHERE state = 'running' ORDER BY lease_expires_at LIMIT 1) IS NULL
  AND (SELECT id FROM jobs WHERE state IN ('scheduled', 'retryable') ORDER BY run_at LIMIT 1) IS NULL"
OURS_DRAINED="SELECT count(*) FILTER (WHERE state <> 'completed') = 0 FROM jobs"
PGQ_EMPTY_PROBE="SELECT (SELECT id FROM pgqueuer ORDER BY id LIMIT 1) IS NULL"
PGQ_EMPTY="SELECT count(*) = 0 FROM pgqueuer"

# Jobs per claim and per complete statement after a drain: a statement's rows share now()
# (attempted_at, finalized_at), so distinct values count statements (to the microsecond).
statement_sizes() {
  local sizes
  sizes=$(sql "SELECT round(count(*)::numeric / count(DISTINCT attempted_at), 2) || ' ' ||
                      round(count(*)::numeric / count(DISTINCT finalized_at), 2) FROM jobs WHERE state = 'completed'")
  record "drain_$1_per_claim" "${sizes% *}"; record "drain_$1_per_complete" "${sizes#* }"
  progress "1/4 drain, $1: ${sizes% *} jobs per claim statement, ${sizes#* } per complete statement"
}

start_ours_worker() { # NAME ID [extra args]
  local name=$1 id=$2; shift 2
  start_bg "$name" "$LAB" worker --id "$id" --queue lab "$@"
}

# --- 0. Machine ---------------------------------------------------------------------------------

RUN_T0=$SECONDS
: >"$RESULTS"
record date "$STAMP"
record commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -z "$(git status --porcelain 2>/dev/null)" ] || echo ' (working tree has uncommitted changes)')"
record nproc "$(nproc)"
record load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
record cpu "$(lscpu 2>/dev/null | sed -nE 's/^Model name:[[:space:]]+//p' | head -n1)"
record swift "$(swift --version 2>&1 | head -n1)"
record pgq_version "$("$PY" -c 'import importlib.metadata as m; print(" / ".join(m.version(p) for p in ("pgqueuer", "asyncpg", "uvloop")))')"

if [ "${BENCH_SKIP_FSYNC:-0}" = 1 ]; then
  note "pg_test_fsync skipped (BENCH_SKIP_FSYNC=1)"; : >"$WORK/pg_test_fsync.log"
else
  progress "pg_test_fsync -s 2 on the cluster's disk (about 40 s)"
  CLUSTER_ROOT="$(cat "$REPO/.pg/location")"
  FSYNC_FILE="$CLUSTER_ROOT/pg_test_fsync.bench.$$"
  "$PGBIN/pg_test_fsync" -s 2 -f "$FSYNC_FILE" >"$WORK/pg_test_fsync.log" 2>&1 || true
  rm -f "$FSYNC_FILE"
fi
FSYNC_OPS="$(awk '/using one 8kB write/ { s = 1 } s && $1 == "fdatasync" { print $2; exit }' "$WORK/pg_test_fsync.log")"
record fsync_ops "${FSYNC_OPS:-n/a}"
progress "fdatasync: ${FSYNC_OPS:-n/a} ops/s"

fresh_db
record pg_version "$(sql "SHOW server_version")"
record sync_commit "$(sql "SHOW synchronous_commit")$( [ -z "${BENCH_SYNC_COMMIT:-}" ] || echo " (BENCH_SYNC_COMMIT: set on $BENCH_DB only, a diagnostic run)")"
[ -z "${BENCH_SYNC_COMMIT:-}" ] || note "synchronous_commit = $BENCH_SYNC_COMMIT for $BENCH_DB (diagnostic run: commits do not wait for the WAL flush)"

section_on() { [[ " $SECTIONS " == *" $1 "* ]]; }

# --- 1. Drain -------------------------------------------------------------------------------------

cpu_seconds() { # user + system CPU seconds used so far by the given processes, summed
  local ticks; ticks=$(getconf CLK_TCK)
  for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0; done \
    | awk -v t="$ticks" '{ s += $1 } END { printf "%.2f", s / t }'
}

drain_ours() { # KEY BATCH CONCURRENCY: two worker processes drain DRAIN_JOBS pre-enqueued jobs
  local key=$1 batch=$2 conc=$3 t0 t1 s w1 w2 done_n cpu
  progress "1/4 drain, $key: enqueue $DRAIN_JOBS"
  fresh_db
  lab enqueue --count "$DRAIN_JOBS" --batch 1000 >/dev/null
  settle jobs
  progress "1/4 drain, $key: 2 workers (--concurrency $conc --batch $batch)"
  t0=$(now)
  # shellcheck disable=SC2086 # BENCH_WORKER_ARGS is a list of words
  start_ours_worker "drain-$key-w1" bench-w1 --concurrency "$conc" --batch "$batch" ${BENCH_WORKER_ARGS:-}; w1=$LAST_PID
  # shellcheck disable=SC2086
  start_ours_worker "drain-$key-w2" bench-w2 --concurrency "$conc" --batch "$batch" ${BENCH_WORKER_ARGS:-}; w2=$LAST_PID
  t1=$(bench_py wait-sql --sql "$OURS_PENDING_NONE" --confirm "$OURS_DRAINED" --timeout 900)
  cpu=$(cpu_seconds "$w1" "$w2")
  stop_pid "$w1"; stop_pid "$w2"
  s=$(calc '$2 - $1' "$t0" "$t1")
  record "drain_${key}_s" "$s"; record "drain_${key}_jps" "$(calc '$1 / $2' "$DRAIN_JOBS" "$s")"
  record "drain_${key}_batch" "$batch"; record "drain_${key}_concurrency" "$conc"
  record "drain_${key}_worker_cpu_s" "$cpu"
  done_n=$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")
  [ "$done_n" = "$DRAIN_JOBS" ] || note "drain, $key: $done_n of $DRAIN_JOBS completed"
  statement_sizes "$key"
  progress "1/4 drain, $key: $s s ($(calc '$1 / $2' "$DRAIN_JOBS" "$s" | cut -d. -f1) jobs/s), worker CPU $cpu s"
}

drain_raw() { # KEY BATCH: pgbench -c 2 runs the claim (LIMIT BATCH) and complete statements
  local key=$1 batch=$2 t0 t1 s done_n
  progress "1/4 drain, $key (pgbench -c 2 -j 2, claim + complete, batch $batch): enqueue $DRAIN_JOBS"
  fresh_db
  lab enqueue --count "$DRAIN_JOBS" --batch 1000 >/dev/null
  settle jobs
  progress "1/4 drain, $key: pgbench"
  t0=$(now)
  pgbench_run -c 2 -j 2 -t $((DRAIN_JOBS / (2 * batch))) -D batch="$batch" -f "$HERE/sql/claim-complete.sql" \
    >"$WORK/pgbench-drain-$key.log" 2>&1 || { cat "$WORK/pgbench-drain-$key.log" >&2; die "pgbench (drain) failed"; }
  t1=$(now)
  s=$(calc '$2 - $1' "$t0" "$t1")
  record "drain_${key}_s" "$s"; record "drain_${key}_jps" "$(calc '$1 / $2' "$DRAIN_JOBS" "$s")"
  record "drain_${key}_batch" "$batch"
  done_n=$(sql "SELECT count(*) FROM jobs WHERE state = 'completed'")
  [ "$done_n" = "$DRAIN_JOBS" ] || note "drain, $key: pgbench completed $done_n of $DRAIN_JOBS jobs (empty claims near the end)"
  statement_sizes "$key"
  progress "1/4 drain, $key: $s s ($(calc '$1 / $2' "$DRAIN_JOBS" "$s" | cut -d. -f1) jobs/s)"
}

drain_pgq() {
  local t0 t1 s c1 c2 done_n cpu
  progress "1/4 drain, PgQueuer: enqueue $DRAIN_JOBS"
  fresh_db
  bench_py pgq-enqueue --count "$DRAIN_JOBS" --batch 1000 >/dev/null
  settle pgqueuer
  progress "1/4 drain, PgQueuer: 2 consumers (batch_size $PGQ_BATCH)"
  t0=$(now)
  start_bg pgq-drain-c1 "$PY" "$HERE/bench.py" pgq-consume --batch "$PGQ_BATCH"; c1=$LAST_PID
  start_bg pgq-drain-c2 "$PY" "$HERE/bench.py" pgq-consume --batch "$PGQ_BATCH"; c2=$LAST_PID
  t1=$(bench_py wait-sql --sql "$PGQ_EMPTY_PROBE" --confirm "$PGQ_EMPTY" --timeout 900)
  cpu=$(cpu_seconds "$c1" "$c2")
  stop_pid "$c1"; stop_pid "$c2"
  s=$(calc '$2 - $1' "$t0" "$t1")
  record drain_pgq_s "$s"; record drain_pgq_jps "$(calc '$1 / $2' "$DRAIN_JOBS" "$s")"; record drain_pgq_worker_cpu_s "$cpu"
  done_n=$(sql "SELECT count(DISTINCT job_id) FROM pgqueuer_log WHERE status = 'successful'")
  [ "$done_n" = "$DRAIN_JOBS" ] || note "drain, PgQueuer: $done_n of $DRAIN_JOBS logged successful"
  progress "1/4 drain, PgQueuer: $s s ($(calc '$1 / $2' "$DRAIN_JOBS" "$s" | cut -d. -f1) jobs/s)"
}

contender_on() { [[ " $DRAIN_CONTENDERS " == *" $1 "* ]]; }

if section_on 1; then
  for b in "$PGQ_BATCH" "$BATCH"; do
    (( DRAIN_JOBS % (2 * b) == 0 )) || die "BENCH_DRAIN_JOBS must be a multiple of $((2 * b))"
  done
  record drain_jobs "$DRAIN_JOBS"; record drain_batch "$BATCH"; record drain_concurrency "$CONCURRENCY"; record drain_pgq_batch "$PGQ_BATCH"
  # The goal rows: ours at the chosen batch and the raw limit at that same batch.
  contender_on ours && drain_ours ours "$BATCH" "$CONCURRENCY"
  contender_on raw && drain_raw raw "$BATCH"
  # The like-for-like pair at PgQueuer's batch size (skipped when the chosen batch is that one).
  if [ "$BATCH" != "$PGQ_BATCH" ]; then
    contender_on ours10 && drain_ours ours10 "$PGQ_BATCH" "$PGQ_BATCH"
    contender_on raw10 && drain_raw raw10 "$PGQ_BATCH"
  fi
  contender_on pgq && drain_pgq
fi

# --- 2. Enqueue throughput ----------------------------------------------------------------------

if section_on 2; then
  fresh_db
  reset_tables() { sql "TRUNCATE jobs RESTART IDENTITY; TRUNCATE pgqueuer RESTART IDENTITY"; super_sql "CHECKPOINT" >/dev/null; }
  for per_call in 1 100; do
    if [ "$per_call" = 1 ]; then n=$ENQ1_JOBS; else n=$ENQ100_JOBS; fi
    (( n % per_call == 0 )) || die "job count $n is not a multiple of $per_call"

    progress "2/4 enqueue $n, $per_call per call: ours"
    reset_tables
    record "enq${per_call}_ours" "$(lab enqueue --count "$n" --batch "$per_call" | enqueue_rate)"

    progress "2/4 enqueue $n, $per_call per call: raw INSERT (pgbench -c 1)"
    reset_tables
    t0=$(now)
    pgbench_run -c 1 -j 1 -t $((n / per_call)) -f "$HERE/sql/insert-$per_call.sql" >"$WORK/pgbench-insert-$per_call.log" 2>&1 \
      || { cat "$WORK/pgbench-insert-$per_call.log" >&2; die "pgbench (insert) failed"; }
    t1=$(now)
    record "enq${per_call}_raw" "$(calc '$1 / ($3 - $2)' "$n" "$t0" "$t1")"

    progress "2/4 enqueue $n, $per_call per call: PgQueuer"
    reset_tables
    record "enq${per_call}_pgq" "$(bench_py pgq-enqueue --count "$n" --batch "$per_call" | enqueue_rate)"
  done
fi

# --- 3. Latency -----------------------------------------------------------------------------------

if section_on 3; then
  # What any enqueue-to-start figure contains: created_at is now() at the enqueue's transaction
  # start, and the job is visible only once that transaction's commit (WAL flush) is done.
  # Reference: the duration of the same single-row INSERT transactions, paced alike (pgbench
  # -R, per-transaction log; its "time" counts from the scheduled start, so the lag is taken off).
  progress "3/4 latency, reference: $LAT_JOBS single-row INSERT transactions at $LAT_RATE/s (pgbench -R)"
  fresh_db
  pgbench_run -c 1 -j 1 -R "$LAT_RATE" -t "$LAT_JOBS" -l --log-prefix="$WORK/commit-ref" -f "$HERE/sql/insert-1.sql" \
    >"$WORK/pgbench-commit-ref.log" 2>&1 || { cat "$WORK/pgbench-commit-ref.log" >&2; die "pgbench (commit reference) failed"; }
  cat "$WORK"/commit-ref.* | awk '{ print ($3 - $7) / 1e6 }' >"$WORK/lat-commit-ref.txt"
  read -r n p50 p99 mx < <(bench_py stats "$WORK/lat-commit-ref.txt")
  record lat_commit_n "$n"; record lat_commit_p50 "$p50"; record lat_commit_p99 "$p99"; record lat_commit_max "$mx"
  progress "3/4 latency, reference INSERT transaction: p50 $p50 ms, p99 $p99 ms, max $mx ms"

  progress "3/4 latency, ours: 2 idle workers, $LAT_JOBS jobs at $LAT_RATE/s"
  fresh_db
  # shellcheck disable=SC2086
  start_ours_worker lat-w1 bench-lat-1 --concurrency "$CONCURRENCY" --batch "$BATCH" --latency-out "$WORK/lat-ours-1.txt" ${BENCH_WORKER_ARGS:-}; w1=$LAST_PID
  # shellcheck disable=SC2086
  start_ours_worker lat-w2 bench-lat-2 --concurrency "$CONCURRENCY" --batch "$BATCH" --latency-out "$WORK/lat-ours-2.txt" ${BENCH_WORKER_ARGS:-}; w2=$LAST_PID
  bench_py wait-sql --sql "SELECT count(*) = 2 FROM job_workers" --timeout 30 >/dev/null
  sleep 2
  lab enqueue --count "$LAT_JOBS" --rate "$LAT_RATE" >/dev/null
  bench_py wait-sql --sql "SELECT count(*) FILTER (WHERE state = 'completed') = $LAT_JOBS FROM jobs" --timeout 120 >/dev/null
  stop_pid "$w1"; stop_pid "$w2"
  read -r n p50 p99 mx < <(bench_py stats "$WORK/lat-ours-1.txt" "$WORK/lat-ours-2.txt")
  record lat_ours_n "$n"; record lat_ours_p50 "$p50"; record lat_ours_p99 "$p99"; record lat_ours_max "$mx"
  progress "3/4 latency, ours: p50 $p50 ms, p99 $p99 ms, max $mx ms ($n samples)"

  progress "3/4 latency, PgQueuer: 2 idle consumers, $LAT_JOBS jobs at $LAT_RATE/s"
  fresh_db
  start_bg lat-c1 "$PY" "$HERE/bench.py" pgq-consume --batch "$PGQ_BATCH" --latency-out "$WORK/lat-pgq-1.txt"; c1=$LAST_PID
  start_bg lat-c2 "$PY" "$HERE/bench.py" pgq-consume --batch "$PGQ_BATCH" --latency-out "$WORK/lat-pgq-2.txt"; c2=$LAST_PID
  # Both consumers connected (their one connection each), then time to LISTEN and settle.
  bench_py wait-sql --timeout 30 --sql "SELECT count(*) >= 2 FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'" >/dev/null
  sleep 3
  bench_py pgq-enqueue --count "$LAT_JOBS" --rate "$LAT_RATE" >/dev/null
  bench_py wait-sql --sql "$PGQ_EMPTY" --timeout 120 >/dev/null
  stop_pid "$c1"; stop_pid "$c2"
  read -r n p50 p99 mx < <(bench_py stats "$WORK/lat-pgq-1.txt" "$WORK/lat-pgq-2.txt")
  record lat_pgq_n "$n"; record lat_pgq_p50 "$p50"; record lat_pgq_p99 "$p99"; record lat_pgq_max "$mx"
  progress "3/4 latency, PgQueuer: p50 $p50 ms, p99 $p99 ms, max $mx ms ($n samples)"
fi

# --- 4. Rescue ------------------------------------------------------------------------------------

if section_on 4; then
  fresh_db
  trials=()
  for trial in $(seq 1 "$RESCUE_TRIALS"); do
    sql "TRUNCATE jobs RESTART IDENTITY; TRUNCATE job_workers"
    lab enqueue --count 4 --batch 4 --sleep-ms 30000 >/dev/null
    start_ours_worker "rescue-$trial-A" rescue-A --concurrency 4; a=$LAST_PID
    bench_py wait-sql --timeout 30 \
      --sql "SELECT count(*) = 4 FROM jobs WHERE state = 'running' AND lease_owner = 'rescue-A'" >/dev/null
    start_ours_worker "rescue-$trial-B" rescue-B --concurrency 4; b=$LAST_PID
    { kill -KILL "$a"; t0=$(now); wait "$a" || true; } 2>/dev/null
    forget_pid "$a"
    t1=$(bench_py wait-sql --timeout 60 \
      --sql "SELECT count(*) = 4 FROM jobs WHERE lease_epoch = 2 AND state = 'running' AND lease_owner = 'rescue-B'")
    s=$(calc '$2 - $1' "$t0" "$t1")
    trials+=("$s")
    # B holds four 30 s jobs; a graceful stop would wait out its grace period, so kill it too.
    stop_pid "$b" KILL 10
    progress "4/4 rescue trial $trial/$RESCUE_TRIALS: $(printf '%.2f' "$s") s"
  done
  printf '%s\n' "${trials[@]}" >"$WORK/rescue.txt"
  read -r _ p50 _ mx < <(bench_py stats --scale 1 "$WORK/rescue.txt")
  record rescue_p50 "$p50"; record rescue_max "$mx"
  record rescue_trials "$(printf '%.2f, ' "${trials[@]}" | sed 's/, $//')"
fi

# --- Report ---------------------------------------------------------------------------------------

[ "$DRAIN_JOBS" = 100000 ] && [ "$ENQ1_JOBS" = 5000 ] && [ "$ENQ100_JOBS" = 100000 ] && [ "$LAT_JOBS" = 2000 ] \
  && [ "$RESCUE_TRIALS" = 5 ] && [ "$SECTIONS" = "1 2 3 4" ] && [ "$DRAIN_CONTENDERS" = "ours10 raw10 ours raw pgq" ] \
  && [ -z "${BENCH_WORKER_ARGS:-}" ] \
  || note "non-default parameters: sections '$SECTIONS', drain $DRAIN_JOBS ($DRAIN_CONTENDERS, worker args '${BENCH_WORKER_ARGS:-}'), enqueue $ENQ1_JOBS/$ENQ100_JOBS, latency $LAT_JOBS, rescue trials $RESCUE_TRIALS"
record run_seconds "$((SECONDS - RUN_T0))"
record load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${#NOTES[@]}" -gt 0 ]; then
  joined=""; for n in "${NOTES[@]}"; do joined+="${joined:+ | }$n"; done
  record notes "$joined"
fi

OUT=()
if [ "${BENCH_NO_RESULTS:-0}" != 1 ]; then
  mkdir -p "$HERE/results"
  OUT=(--out "$HERE/results/$STAMP${BENCH_SYNC_COMMIT:+-synchronous_commit-$BENCH_SYNC_COMMIT}.md")
fi
echo
bench_py report --results "$RESULTS" "${OUT[@]}"
[ "${#OUT[@]}" -eq 0 ] || progress "written to ${OUT[1]#"$REPO/"}"

#!/usr/bin/env bash
# Checks ops/postgres.sh's promises on a throwaway copy (another folder, another port):
# start from nothing, start again (reuse), survive a kill -9 of the postmaster, stop, destroy.
set -euo pipefail
REPO="$(cd -P "$(dirname "$0")/.." && pwd)"
PORT="${HYBRIDHUB_PG_SELFTEST_PORT:-54397}"
WORK="$(mktemp -d /tmp/hh-pg-selftest.XXXXXX)"
chmod 755 "$WORK"
mkdir -p "$WORK/repo" && cp -r "$REPO/ops" "$WORK/repo/"
PG="$WORK/repo/ops/postgres.sh"
export HYBRIDHUB_PG_PORT="$PORT"
cleanup() { "$PG" destroy >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "postgres-selftest: FAIL: $*" >&2; exit 1; }
query() { PGPASSWORD="$(cat "$WORK/repo/.pg/password")" psql -h 127.0.0.1 -p "$PORT" -U hybridhub -d hybridhub -tAqc "$1"; }

"$PG" start >/dev/null || fail "first start"
[[ "$(query 'select 1')" == 1 ]] || fail "no connection after start"
query "create table survivor (v int); insert into survivor values (42)"
"$PG" start | grep -q "already running" || fail "a second start did not reuse the running cluster"
root="$(cat "$WORK/repo/.pg/location")"
kill -9 "$(head -1 "$root/data/postmaster.pid")"
for _ in $(seq 50); do "$PG" status >/dev/null 2>&1 || break; sleep 0.1; done
"$PG" status >/dev/null 2>&1 && fail "status says running after kill -9"
"$PG" start >/dev/null || fail "start after kill -9"
[[ "$(query 'select v from survivor')" == 42 ]] || fail "data lost across the crash"
PGPASSWORD=wrong psql -h 127.0.0.1 -p "$PORT" -U hybridhub -d hybridhub -tAqc 'select 1' >/dev/null 2>&1 && fail "a wrong password was accepted"
"$PG" stop >/dev/null
"$PG" status >/dev/null 2>&1 && fail "status says running after stop"
echo "postgres-selftest: start, reuse, crash recovery, password auth and stop all behave"

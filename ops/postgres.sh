#!/usr/bin/env bash
# Private PostgreSQL 15 cluster for dev/tests/demo (never the system one on 5432).
# Usage: ops/postgres.sh start|stop|status|env|psql [args...]|destroy
# Runs as root; the server itself runs as the `postgres` OS user (it refuses root).
set -euo pipefail

REPO="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBIN=/usr/lib/postgresql/15/bin
PORT="${HYBRIDHUB_PG_PORT:-54329}"
META="$REPO/.pg"
PWFILE="$META/password"
LOCFILE="$META/location"
DBUSER=hybridhub
DBNAME=hybridhub

die() { echo "postgres: error: $*" >&2; exit 1; }
usage() { echo "usage: $0 start|stop|status|env|psql [args...]|destroy" >&2; exit 2; }

[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1024 ] && [ "$PORT" -le 65535 ] || die "invalid port '$PORT'"
[ "$PORT" != 5432 ] || die "refusing port 5432 (reserved for the system cluster); pick another HYBRIDHUB_PG_PORT"
[ "$(id -u)" -eq 0 ] || die "must run as root (it uses runuser to act as the postgres user)"

# Run as the postgres user from / (its cwd may be an untraversable /root).
aspg() { (cd / && runuser -u postgres -- "$@"); }

# The two places a cluster for this repo may live; anything else in
# .pg/location (e.g. a copied .pg/ from another checkout) is ignored.
PREFERRED="$META/cluster"
FALLBACK="/tmp/hybridhub-pg-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"

pick_root() {
  mkdir -p "$META" && chmod 755 "$META"
  if [ -s "$LOCFILE" ]; then
    local r; r="$(cat "$LOCFILE")"
    if { [ "$r" = "$PREFERRED" ] || [ "$r" = "$FALLBACK" ]; } && [ -d "$r" ]; then ROOT="$r"; return; fi
  fi
  local sock="$PREFERRED/sock/.s.PGSQL.$PORT"
  # postgres must traverse every ancestor (CI may clone under mode-700 /root),
  # and unix socket paths are limited to ~107 bytes.
  if [ "${#sock}" -le 100 ] && id postgres >/dev/null 2>&1 && runuser -u postgres -- test -x "$META" 2>/dev/null; then
    ROOT="$PREFERRED"
  else
    ROOT="$FALLBACK"
  fi
  printf '%s\n' "$ROOT" >"$LOCFILE"
}

ensure_password() {
  if [ ! -s "$PWFILE" ]; then
    (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$PWFILE.tmp") && mv "$PWFILE.tmp" "$PWFILE"
  fi
  chmod 600 "$PWFILE"
}

pick_root
DATA="$ROOT/data"; SOCK="$ROOT/sock"; LOG="$ROOT/postgres.log"
case "$ROOT" in *"'"*) die "cluster path must not contain a single quote: $ROOT" ;; esac

# A PID is "ours" only if it is a live postgres whose cwd is our data dir: after
# a reboot the PID in postmaster.pid may belong to anything (even the system
# cluster), and pg_ctl alone would then believe (and signal!) the wrong process.
ours() { [ -n "$1" ] && [ "$(ps -o comm= -p "$1" 2>/dev/null)" = postgres ] && [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$DATA" ]; }
pidof_pm() { head -n1 "$DATA/postmaster.pid" 2>/dev/null | tr -dc 0-9; }
running()   { [ -f "$DATA/postmaster.pid" ] && ours "$(pidof_pm)" && aspg "$PGBIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }
accepting() { "$PGBIN/pg_isready" -q -h "$SOCK" -p "$PORT" -U postgres -d postgres && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$DBUSER" -d "$DBNAME"; }
# Any postgres-owned process whose cwd is the data dir is a leftover of this cluster.
orphans() { local p; for p in $(ps -u postgres -o pid=); do [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" = "$DATA" ] && echo "$p"; done; return 0; }

# After kill -9 / reboot, a stale postmaster.pid (whose PID may since have been
# reused by another program) or socket lock can block startup. Remove them
# only when no process of the old server is alive; WAL replay does the rest.
clear_stale_locks() {
  local pidf="$DATA/postmaster.pid" lock="$SOCK/.s.PGSQL.$PORT.lock" pid
  if [ -f "$pidf" ]; then
    pid="$(pidof_pm)"
    ours "$pid" && die "postmaster $pid is alive but not answering; check $LOG"
    local deadline=$((SECONDS + 10))   # children exit soon after postmaster death
    while [ -n "$(orphans)" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
    [ -z "$(orphans)" ] || die "old server processes still alive: $(orphans | tr '\n' ' ')"
    echo "postgres: removing stale postmaster.pid (pid ${pid:-?} is not a live postgres of this cluster)"
    rm -f "$pidf"
  fi
  if [ -f "$lock" ]; then
    pid="$(head -n1 "$lock" | tr -dc 0-9)"
    ours "$pid" && die "socket lock $lock is held by live postgres $pid"
    rm -f "$lock" "$SOCK/.s.PGSQL.$PORT"
  fi
}

# Idempotent: create role/db if absent, (re)set the password from the file.
# The password travels on stdin (never argv), so it does not show up in ps.
ensure_role_db() {
  aspg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres >/dev/null <<SQL
\\set pw '$(cat "$PWFILE")'
SELECT 'CREATE ROLE $DBUSER LOGIN CREATEDB' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DBUSER') \\gexec
ALTER ROLE $DBUSER WITH LOGIN CREATEDB PASSWORD :'pw';
SELECT 'CREATE DATABASE $DBNAME OWNER $DBUSER' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DBNAME') \\gexec
SQL
}

init_cluster() {
  echo "postgres: initialising cluster in $DATA"
  install -d -o postgres -g postgres -m 700 "$DATA"
  local opts=(-D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8)
  if ! aspg "$PGBIN/initdb" "${opts[@]}" --locale=C.UTF-8 >"$ROOT/initdb.log" 2>&1; then
    echo "postgres: initdb with C.UTF-8 failed, retrying with --locale=C"
    find "$DATA" -mindepth 1 -delete
    aspg "$PGBIN/initdb" "${opts[@]}" --locale=C >"$ROOT/initdb.log" 2>&1 \
      || { tail -n 30 "$ROOT/initdb.log" >&2; die "initdb failed"; }
  fi
  # Test-cluster tuning; fsync stays on on purpose (durability matters).
  cat >>"$DATA/postgresql.conf" <<'CONF'

# --- hybridhub dev/test cluster (ops/postgres.sh) ---
max_connections = 300
shared_buffers = 256MB
log_min_messages = warning
CONF
}

cmd_start() {
  if [ ! -x "$PGBIN/pg_ctl" ]; then
    echo "postgres: PostgreSQL 15 not installed, running ops/setup-debian.sh"
    "$REPO/ops/setup-debian.sh"
    [ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl still missing after setup"
  fi
  ensure_password
  install -d -o postgres -g postgres -m 700 "$ROOT" "$SOCK"
  [ -f "$DATA/PG_VERSION" ] || init_cluster
  if running; then
    local deadline=$((SECONDS + 10))   # it may still be starting up
    until accepting || [ "$SECONDS" -ge "$deadline" ]; do sleep 0.5; done
    accepting || die "a server is running on $DATA but not accepting on port $PORT (other port?); run stop first"
    ensure_role_db
    echo "postgres: already running on 127.0.0.1:$PORT"; return 0
  fi
  clear_stale_locks
  echo "postgres: starting on 127.0.0.1:$PORT (waiting up to 60s)"
  local out ok=0
  out="$(aspg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PORT -k '$SOCK' -c listen_addresses=127.0.0.1" start 2>&1)" && ok=1
  if [ "$ok" = 1 ]; then
    local deadline=$((SECONDS + 60)); ok=0
    while [ "$SECONDS" -lt "$deadline" ]; do accepting && { ok=1; break; }; sleep 0.5; done
  fi
  if [ "$ok" != 1 ]; then
    echo "$out" >&2
    echo "postgres: failed to start; last 30 lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  ensure_role_db
  echo "postgres: ready on 127.0.0.1:$PORT (cluster $ROOT)"
}

cmd_stop() {
  if [ -x "$PGBIN/pg_ctl" ] && running; then
    aspg "$PGBIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 >/dev/null
    echo "postgres: stopped (cluster $ROOT)"
  else
    echo "postgres: not running"
  fi
}

cmd_status() {
  if [ -x "$PGBIN/pg_ctl" ] && running; then
    echo "postgres: running on 127.0.0.1:$PORT (cluster $ROOT)"
  else
    echo "postgres: not running (port $PORT, cluster $ROOT)"; exit 3
  fi
}

cmd_env() {
  echo "export DATABASE_URL='postgres://$DBUSER@127.0.0.1:$PORT/$DBNAME'"
  echo "export DATABASE_PASSWORD_FILE='$PWFILE'"
  echo "export HYBRIDHUB_PG_SOCKET_DIR='$SOCK'"
  echo "export HYBRIDHUB_PG_PORT='$PORT'"
}

cmd_psql() {
  [ -s "$PWFILE" ] || die "no password file yet; run '$0 start' first"
  PGPASSWORD="$(cat "$PWFILE")"; export PGPASSWORD
  exec "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U "$DBUSER" -d "$DBNAME" "$@"
}

cmd_destroy() {
  cmd_stop
  rm -rf -- "$ROOT" "$META"
  echo "postgres: destroyed cluster $ROOT and $META"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  psql) shift; cmd_psql "$@" ;;
  destroy) cmd_destroy ;;
  *) usage ;;
esac

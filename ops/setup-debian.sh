#!/usr/bin/env bash
# Installs the Debian 12 packages this project needs (PostgreSQL 15 for the
# private dev/test cluster, plus the C headers the Swift build links against, and
# chromium, which the approval-page test drives through Playwright).
# Idempotent: only missing packages are installed, and `apt-get update` runs
# only when there is something to install.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PKGS=(postgresql postgresql-contrib libpq-dev libcurl4-openssl-dev zlib1g-dev python3-venv chromium)

# `dpkg -s` also succeeds for removed-but-not-purged packages, so look at the
# Status line rather than just the exit code.
installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

# A working venv module (with ensurepip, which Debian splits out into
# python3-venv) makes the package unnecessary, e.g. on a non-Debian python3.
venv_works() {
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' >/dev/null 2>&1
}

missing=()
for p in "${PKGS[@]}"; do
  if installed "$p"; then continue; fi
  if [ "$p" = python3-venv ] && venv_works; then continue; fi
  missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all Debian packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: error: missing packages (${missing[*]}) and not running as root; re-run with sudo" >&2
  exit 1
fi

echo "setup: apt-get update"
apt-get update -qq
for p in "${missing[@]}"; do echo "setup: installing $p"; done
apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: done"

#!/usr/bin/env bash
# Install everything chainscan's tests need on a fresh Debian machine, then run the whole suite (pytest).
# Debian packages, installed here when run as root (without them their tests skip with a message):
# chromium + chromium-driver for the browser tests; postgresql for the PostgreSQL storage tests (a
# throwaway server in a temporary folder for the session; or set CHAINSCAN_TEST_PG_URL to use your own).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {  # as root: apt-get update (once), then install the given Debian packages
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq || return 1; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
have_pg() { command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install chromium chromium-driver \
    || echo "note: could not install chromium (not root, or apt-get failed); the browser tests will be skipped"
fi
if ! have_pg; then
  apt_install postgresql \
    || echo "note: could not install postgresql (not root, or apt-get failed); the PostgreSQL tests will be skipped"
fi
if have_pg; then
  # the server binaries are here: a PostgreSQL test that cannot start its server fails instead of skipping
  export CHAINSCAN_TEST_PG_REQUIRED="${CHAINSCAN_TEST_PG_REQUIRED:-1}"
fi
# what the run had to work with (helps read a failure on another machine)
pg_server="$( (command -v postgres || ls /usr/lib/postgresql/*/bin/postgres | sort -V | tail -1) 2>/dev/null || true)"
echo "machine: $(nproc) cores; $(df -h . | awk 'NR==2 {print $4 " free on " $6}'); $(chromium --version 2>/dev/null \
  || echo 'no chromium'); $( ([ -n "$pg_server" ] && "$pg_server" --version) 2>/dev/null || echo 'no PostgreSQL server')"
python3 -m venv .venv
.venv/bin/pip install -q -e ".[dev]"
.venv/bin/pytest "$@"

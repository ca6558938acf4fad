#!/usr/bin/env bash
# Install everything chainscan's tests need on a fresh Debian machine, then run the whole suite (pytest).
# Debian's chromium + chromium-driver are needed by the browser tests (installed here when run as root;
# without them those tests skip with a message). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
      || echo "note: could not install chromium; the browser tests will be skipped"
  else
    echo "note: chromium/chromedriver are missing and this is not root; the browser tests will be skipped"
  fi
fi
# what the run had to work with (helps read a failure on another machine)
echo "machine: $(nproc) cores; $(df -h . | awk 'NR==2 {print $4 " free on " $6}'); $(chromium --version 2>/dev/null || echo 'no chromium')"
python3 -m venv .venv
.venv/bin/pip install -q -e ".[dev]"
.venv/bin/pytest "$@"

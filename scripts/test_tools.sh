#!/usr/bin/env bash
# Tools the tests need beyond scripts/bootstrap.sh: Debian's chromium package, for the browser
# test of the run report (tests/test_run_report_browser.py). `make test` runs this; `make demo`
# does not need it. Idempotent: a no-op when chromium is on PATH.
# As root on Debian it installs the package with apt-get; anywhere else it stops with one line.
set -euo pipefail

log() { echo "[test-tools] $*" >&2; }

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's chromium package for the browser test (a minute or two)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
  command -v chromium >/dev/null 2>&1 || { echo "test-tools: apt-get installed chromium but it is not on PATH" >&2; exit 1; }
  exit 0
fi
echo "test-tools: the browser test needs Debian's chromium package; install it (as root: apt-get install chromium) and run make test again" >&2
exit 1

#!/usr/bin/env bash
# Make sure what MATF needs from the system is here: a Chromium (always) and
# redis-server (with --for-tests). On Debian/Ubuntu as root, install what is
# missing from the distribution's packages; elsewhere, stop with the exact
# command to run. Playwright's own Chromium counts when it is installed.
set -euo pipefail

want_redis=0
[ "${1:-}" = "--for-tests" ] && want_redis=1
venv_python="${VENV_PYTHON:-.venv/bin/python}"

have_chromium() {
  if [ -n "${MATF_CHROMIUM_PATH:-}" ] && [ -x "${MATF_CHROMIUM_PATH}" ]; then return 0; fi
  "$venv_python" - <<'PY' >/dev/null 2>&1
import sys
from matf.browser.launch import system_chromium
if system_chromium():
    sys.exit(0)
from playwright.sync_api import sync_playwright
import os
with sync_playwright() as p:
    sys.exit(0 if os.access(p.chromium.executable_path, os.X_OK) else 1)
PY
}

missing=()
have_chromium || missing+=(chromium)
if [ "$want_redis" = 1 ] && ! command -v redis-server >/dev/null 2>&1; then
  missing+=(redis-server)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
  cmd="sudo apt-get install -y ${missing[*]}"
elif command -v brew >/dev/null 2>&1; then
  pkgs=("${missing[@]/chromium/--cask chromium}"); pkgs=("${pkgs[@]/redis-server/redis}")
  cmd="brew install ${pkgs[*]}"
else
  cmd="install: ${missing[*]} (or run '.venv/bin/playwright install chromium' where the network allows)"
fi
echo "MATF needs ${missing[*]}, which is not installed. Run: $cmd" >&2
exit 1

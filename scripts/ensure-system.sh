#!/usr/bin/env bash
# Make sure what MATF needs from the system is here: a Chromium (always) and
# redis-server (with --for-tests). On Debian/Ubuntu as root, install what is
# missing from the distribution's packages; elsewhere, stop with the exact
# command to run. Playwright's own Chromium counts when it is installed.
#
# With --for-tests it also installs, when it can, the operations tools the
# deployment checks run for real (Prometheus, Alertmanager, the Redis and node
# exporters, docker-compose, PostgreSQL). They are optional: where they cannot
# be installed, those tests skip with a message naming the package.
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

# package -> a program it installs (PostgreSQL's live outside PATH on Debian)
ops_tools=(
  "prometheus:promtool"
  "prometheus-alertmanager:amtool"
  "prometheus-redis-exporter:prometheus-redis-exporter"
  "prometheus-node-exporter:prometheus-node-exporter"
  "docker-compose:docker-compose"
  "postgresql:initdb"
)
has_program() {
  command -v "$1" >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/$1" >/dev/null
}
optional=()
if [ "$want_redis" = 1 ]; then
  for entry in "${ops_tools[@]}"; do
    has_program "${entry#*:}" || optional+=("${entry%%:*}")
  done
fi

[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} ${optional[*]} from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for package in "${optional[@]}"; do  # one at a time: one that is missing stops no other
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
      || echo "could not install $package: the tests that need it will skip"
  done
  exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "optional for the deployment tests (they skip without them): ${optional[*]}" >&2
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
